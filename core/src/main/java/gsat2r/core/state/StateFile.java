package gsat2r.core.state;

import gsat2r.core.io.InputFiles;
import gsat2r.core.io.Json;
import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.T2rException;
import gsat2r.core.gsa.GsaState;
import gsat2r.core.io.AtomicFiles;
import gsat2r.core.model.DecoderState;
import gsat2r.core.model.ModelFingerprint;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * A saved decoding state: the file behind {@code t2r generate --save-state / --load-state} and
 * {@code Session.save / T2rModel.restore}. Layout (all numbers little-endian):
 *
 * <pre>
 * offset 0      8 bytes   magic "T2RSTATE"
 *        8      u32       format version (1)
 *        12     u32       header length H (the payload starts at 16 + H, a multiple of 8)
 *        16     H bytes   header: UTF-8 JSON, padded with spaces (see below)
 *        16+H   payload   int32 tokens[position]           the token ids consumed, in order
 *                         fp32  logits[vocab_size]          the next-token logits after the last token (absent at position 0)
 *                         per layer, in layer order:
 *                           "gsa": fp32 hk[kv_heads, key_dim, slots], then hv[kv_heads, slots, value_dim],
 *                                  then conv[conv_floats] (the short convolutions' last rows; absent when 0)
 *                           "kv":  fp32 keys[rows, row_width], then values[rows, row_width]  (positions position-rows .. position-1)
 *        end-4  u32       CRC32C of every byte before it
 * </pre>
 *
 * The header: {@code {"model": {"kind", "config_sha256", "weights_sha256"}, "position", "vocab_size",
 * "layers": [{"type": "gsa", "kv_heads", "key_dim", "slots", "value_dim"[, "conv_floats"]} | {"type": "kv", "rows",
 * "row_width"}], "created_by"}}. The payload's size follows from the header alone, so a reader checks
 * the file's length and checksum before it trusts any number, and a state is only continued by a model
 * with the same {@link ModelFingerprint}. Written atomically (temp sibling, then rename).
 */
public final class StateFile {
    public static final String MAGIC = "T2RSTATE";
    public static final int VERSION = 1;
    private static final int PREFIX = 16, TRAILER = 4;
    private static final ObjectMapper JSON = Json.STRICT;

    private StateFile() {}

    /**
     * What a state file holds.
     *
     * @param model     the fingerprint of the model that made it
     * @param tokens    the token ids consumed ({@code state.position()} of them)
     * @param logits    the next-token logits after the last token ({@code [vocabSize]}), or null at position 0
     * @param vocabSize the model's vocabulary size
     * @param state     every layer's state
     * @param createdBy what wrote it (e.g. {@code "t2r 0.1.0"}), informative
     */
    public record Contents(ModelFingerprint model, int[] tokens, float[] logits, int vocabSize, DecoderState state,
                           String createdBy) {
        public Contents {
            if (tokens.length != state.position()) {
                throw new IllegalArgumentException(tokens.length + " token ids for a state at position " + state.position());
            }
            if (state.position() > 0 ? logits == null || logits.length != vocabSize : logits != null) {
                throw new IllegalArgumentException("a state at position " + state.position() + " needs "
                        + (state.position() > 0 ? vocabSize + " logits" : "no logits") + ", got "
                        + (logits == null ? "none" : logits.length));
            }
        }

        /**
         * Throws, naming {@code file}, unless {@code current} (the model about to continue this state)
         * is the model that saved it.
         */
        public void requireModel(ModelFingerprint current, Path file) {
            if (!model.equals(current)) {
                String what = !model.kind().equals(current.kind()) ? "a " + model.kind() + " model, this is a " + current.kind()
                        : !model.configSha256().equals(current.configSha256()) ? "a model with another configuration"
                        : "a model with other weights";
                throw new T2rException(file + ": saved by " + what + " (state: " + model.shortForm() + "; model: "
                        + current.shortForm() + ")");
            }
        }
    }

    // ------------------------------------------------------------------ writing

    private static void refuseToOverwriteOtherFiles(Path file) {
        if (java.nio.file.Files.isDirectory(file)) throw new T2rException(file + ": is a directory; give the state file's name");
        if (!java.nio.file.Files.exists(file)) return;
        byte[] start = new byte[MAGIC.length()];
        int n;
        try (var in = java.nio.file.Files.newInputStream(file)) {
            n = in.readNBytes(start, 0, start.length);
        } catch (java.io.IOException e) {
            throw new T2rException(file + ": cannot read what is there (" + e.getMessage() + ")", e);
        }
        if (!startsWithMagic(start, n)) {
            throw new T2rException(file + ": exists and is not a t2r state file; not overwriting it");
        }
    }

    /**
     * Writes {@code c} to {@code file} atomically, replacing an earlier state file there; any other file (a mistyped
     * path onto a checkpoint, a directory) is refused and left as it is.
     */
    public static void write(Path file, Contents c) {
        refuseToOverwriteOtherFiles(file);
        byte[] header = header(c);
        long payload = payloadBytes(c.state().position(), c.vocabSize(), c.state().layers());
        long total = PREFIX + header.length + payload + TRAILER;
        if (total > Integer.MAX_VALUE - 16) {
            throw new T2rException(file + ": the state is " + total + " bytes; state files are limited to 2 GiB");
        }
        ByteBuffer b = ByteBuffer.allocate((int) total).order(ByteOrder.LITTLE_ENDIAN);
        b.put(MAGIC.getBytes(StandardCharsets.US_ASCII)).putInt(VERSION).putInt(header.length).put(header);
        for (int t : c.tokens()) b.putInt(t);
        if (c.logits() != null) putFloats(b, c.logits());
        for (DecoderState.LayerState s : c.state().layers()) {
            switch (s) {
                case DecoderState.Recurrent r -> {
                    putFloats(b, r.state().hk());
                    putFloats(b, r.state().hv());
                    putFloats(b, r.convRows());
                }
                case DecoderState.KeyValue kv -> {
                    putFloats(b, kv.keys());
                    putFloats(b, kv.values());
                }
            }
        }
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue());
        AtomicFiles.write(file, b.array());
    }

    private static byte[] header(Contents c) {
        ObjectNode h = JSON.createObjectNode();
        ObjectNode m = h.putObject("model");
        m.put("kind", c.model().kind());
        m.put("config_sha256", c.model().configSha256());
        m.put("weights_sha256", c.model().weightsSha256());
        h.put("position", c.state().position());
        h.put("vocab_size", c.vocabSize());
        ArrayNode layers = h.putArray("layers");
        for (DecoderState.LayerState s : c.state().layers()) {
            ObjectNode o = layers.addObject();
            switch (s) {
                case DecoderState.Recurrent r -> {
                    GsaState g = r.state();
                    o.put("type", "gsa").put("kv_heads", g.kvHeads()).put("key_dim", g.keyDim()).put("slots", g.slots())
                            .put("value_dim", g.valueDim());
                    if (r.convRows().length > 0) o.put("conv_floats", r.convRows().length);
                }
                case DecoderState.KeyValue kv -> o.put("type", "kv").put("rows", kv.rows()).put("row_width", kv.rowWidth());
            }
        }
        if (c.createdBy() != null) h.put("created_by", c.createdBy());
        byte[] text = h.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (text.length + PREFIX + 7) / 8 * 8 - PREFIX;
        byte[] out = Arrays.copyOf(text, padded);
        Arrays.fill(out, text.length, padded, (byte) ' ');
        return out;
    }

    private static long payloadBytes(int position, int vocab, List<DecoderState.LayerState> layers) {
        long bytes = 4L * position + (position > 0 ? 4L * vocab : 0);
        for (DecoderState.LayerState s : layers) bytes += s.bytes();
        return bytes;
    }

    /** A layer as the header describes it: a GSA state's sizes, or a count of key/value rows. */
    private record Shape(boolean gsa, int kvHeads, int keyDim, int slots, int valueDim, int convFloats, int rows, int rowWidth) {
        long floats() {
            return gsa ? (long) kvHeads * slots * (keyDim + valueDim) + convFloats : 2L * rows * rowWidth;
        }
    }

    /** Whether the first {@code n} bytes of {@code bytes} start with {@link #MAGIC}. */
    private static boolean startsWithMagic(byte[] bytes, int n) {
        return n >= MAGIC.length() && MAGIC.equals(new String(bytes, 0, MAGIC.length(), StandardCharsets.ISO_8859_1));
    }

    private static void putFloats(ByteBuffer b, float[] values) {
        b.asFloatBuffer().put(values);
        b.position(b.position() + 4 * values.length);
    }

    // ------------------------------------------------------------------ reading

    /** Reads and checks {@code file} (magic, version, sizes, checksum); errors name the file and the problem. */
    public static Contents read(Path file) {
        InputFiles.requireFile(file, "a state file (t2r generate --save-state)");
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new T2rException(file + ": no such file");
        } catch (IOException | OutOfMemoryError e) {
            throw new T2rException(file + ": cannot read (" + AtomicFiles.oneLine(e) + ")", e);
        }
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length < PREFIX + TRAILER || !startsWithMagic(bytes, bytes.length)) {
            throw new T2rException(file + ": not a t2r state file (it does not start with \"" + MAGIC + "\")");
        }
        int version = b.getInt(8);
        if (version != VERSION) {
            throw new T2rException(file + ": state file format version " + Integer.toUnsignedString(version)
                    + (Integer.compareUnsigned(version, VERSION) > 0 ? " is newer than this t2r reads (" + VERSION + ")"
                    : " is not one this t2r reads (" + VERSION + ")"));
        }
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, bytes.length - TRAILER);
        int stored = b.getInt(bytes.length - TRAILER);
        if (stored != (int) crc.getValue()) {
            throw new T2rException(file + ": corrupt (CRC32C " + hex(stored) + " stored, " + hex((int) crc.getValue())
                    + " computed over its " + bytes.length + " bytes): truncated or damaged");
        }
        long headerLength = Integer.toUnsignedLong(b.getInt(12));
        if (headerLength > bytes.length - PREFIX - TRAILER) {
            throw new T2rException(file + ": corrupt: header length " + headerLength + " exceeds the file");
        }
        JsonNode h;
        try {
            h = JSON.readTree(new String(bytes, PREFIX, (int) headerLength, StandardCharsets.UTF_8));
        } catch (JacksonException e) {
            throw new T2rException(file + ": corrupt: the header is not JSON (" + e.getOriginalMessage() + ")");
        }
        Header header = Header.parse(h, file);
        long payload = 4L * header.position + (header.position > 0 ? 4L * header.vocab : 0);
        for (Shape shape : header.layerShapes()) payload += 4 * shape.floats();
        long expected = PREFIX + headerLength + payload + TRAILER;
        if (expected != bytes.length) {
            throw new T2rException(file + ": corrupt: the header describes " + expected + " bytes, the file has " + bytes.length);
        }
        b.position(PREFIX + (int) headerLength);
        int[] tokens = new int[header.position];
        for (int i = 0; i < tokens.length; i++) tokens[i] = b.getInt();
        float[] logits = header.position > 0 ? getFloats(b, header.vocab) : null;
        List<DecoderState.LayerState> layers = new ArrayList<>();
        for (Shape s : header.layerShapes()) {
            int l = layers.size();
            if (s.gsa()) {
                float[] hk = getFloats(b, s.kvHeads() * s.keyDim() * s.slots());
                float[] hv = getFloats(b, s.kvHeads() * s.slots() * s.valueDim());
                float[] conv = getFloats(b, s.convFloats());
                layers.add(new DecoderState.Recurrent(l, new GsaState(1, s.kvHeads(), s.keyDim(), s.slots(), s.valueDim(), hk, hv), conv));
            } else {
                float[] k = getFloats(b, s.rows() * s.rowWidth()), v = getFloats(b, s.rows() * s.rowWidth());
                layers.add(new DecoderState.KeyValue(l, s.rowWidth(), s.rows(), k, v));
            }
        }
        return new Contents(header.model, tokens, logits, header.vocab, new DecoderState(header.position, layers),
                header.createdBy);
    }

    private static float[] getFloats(ByteBuffer b, int n) {
        float[] out = new float[n];
        b.asFloatBuffer().get(out);
        b.position(b.position() + 4 * n);
        return out;
    }

    private static String hex(int v) {
        return String.format("%08x", v);
    }

    /** The header's numbers, checked. */
    private record Header(ModelFingerprint model, int position, int vocab, List<Shape> layerShapes,
                          String createdBy) {
        static Header parse(JsonNode h, Path file) {
            JsonNode m = h.path("model");
            ModelFingerprint model = new ModelFingerprint(text(m, "kind", file), text(m, "config_sha256", file),
                    text(m, "weights_sha256", file));
            int position = count(h, "position", file, 0);
            int vocab = count(h, "vocab_size", file, 1);
            List<Shape> shapes = new ArrayList<>();
            JsonNode layers = h.path("layers");
            if (!layers.isArray()) throw bad(file, "\"layers\" is not a list");
            long floats = 0;
            for (JsonNode l : layers) {
                int index = shapes.size();
                String type = text(l, "type", file);
                switch (type) {
                    case "gsa" -> {
                        int kvh = count(l, "kv_heads", file, 1), dk = count(l, "key_dim", file, 1);
                        int slots = count(l, "slots", file, 1), dv = count(l, "value_dim", file, 1);
                        int conv = l.has("conv_floats") ? count(l, "conv_floats", file, 1) : 0;
                        shapes.add(new Shape(true, kvh, dk, slots, dv, conv, 0, 0));
                    }
                    case "kv" -> {
                        int rows = count(l, "rows", file, 0), width = count(l, "row_width", file, 1);
                        if (rows > position) throw bad(file, "layer " + index + " keeps " + rows + " rows after " + position + " tokens");
                        shapes.add(new Shape(false, 0, 0, 0, 0, 0, rows, width));
                    }
                    default -> throw bad(file, "layer " + index + " has the unknown type \"" + type + "\"");
                }
                floats += shapes.getLast().floats();
                if (floats > Integer.MAX_VALUE / 4) throw bad(file, "its layers are larger than a state file can be");
            }
            String createdBy = h.path("created_by").isTextual() ? h.path("created_by").asText() : null;
            return new Header(model, position, vocab, shapes, createdBy);
        }

        private static String text(JsonNode n, String key, Path file) {
            if (!n.path(key).isTextual()) throw bad(file, "missing \"" + key + "\"");
            return n.path(key).asText();
        }

        private static int count(JsonNode n, String key, Path file, int min) {
            JsonNode v = n.path(key);
            // Sizes are at most 2^24 each, so that products of three of them cannot overflow a long.
            if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < min || (min > 0 && v.asInt() > 1 << 24)) {
                throw bad(file, "\"" + key + "\" must be an integer in [" + min + ", " + (min > 0 ? "2^24" : "2^31") + "), not " + v);
            }
            return v.asInt();
        }

        private static T2rException bad(Path file, String what) {
            return new T2rException(file + ": corrupt header: " + what);
        }
    }
}
