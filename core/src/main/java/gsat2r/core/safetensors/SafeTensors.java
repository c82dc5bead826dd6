package gsat2r.core.safetensors;

import gsat2r.core.io.Json;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import gsat2r.core.T2rException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Read-only view of a safetensors checkpoint: one file, or the shards named by a
 * {@code model.safetensors.index.json}. Files are memory-mapped (no 2 GiB limit, nothing copied
 * into the heap until a tensor is asked for) and every header is validated when opened, so a
 * malformed checkpoint fails early with a one-line message that names the file.
 */
public final class SafeTensors implements AutoCloseable {

    /** The reference implementation refuses headers over 100 MB; so do we (a corrupt length is caught early). */
    public static final long MAX_HEADER_BYTES = 100_000_000L;
    public static final String INDEX_FILE = "model.safetensors.index.json";
    public static final String SINGLE_FILE = "model.safetensors";

    /**
     * Strict JSON as the reference (serde_json) reads it: duplicate keys are refused (serde would
     * silently keep one; we would rather say so) and so is anything but whitespace after the object.
     */
    static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    static {
        JSON.getFactory().setStreamReadConstraints(StreamReadConstraints.builder()
                .maxStringLength(Integer.MAX_VALUE).maxNestingDepth(64).build());
    }

    private final Arena arena;
    private final List<Path> files;
    private final Map<Path, MemorySegment> mapped;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;
    private boolean closed;

    private SafeTensors(Arena arena, List<Path> files, Map<Path, MemorySegment> mapped,
                        Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.arena = arena;
        this.files = files;
        this.mapped = mapped;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /**
     * Opens a checkpoint. {@code path} may be a {@code .safetensors} file, a
     * {@code model.safetensors.index.json}, or a directory holding either (the index wins).
     */
    public static SafeTensors open(Path path) {
        if (Files.isDirectory(path)) {
            Path index = path.resolve(INDEX_FILE);
            if (Files.isRegularFile(index)) return openIndex(index);
            Path single = path.resolve(SINGLE_FILE);
            if (Files.isRegularFile(single)) return openFiles(List.of(single));
            throw new T2rException(path + ": no " + INDEX_FILE + " or " + SINGLE_FILE + " in this directory");
        }
        if (!Files.exists(path)) throw new T2rException(path + ": no such file");
        if (path.getFileName().toString().endsWith(".json")) return openIndex(path);
        return openFiles(List.of(path));
    }

    private static SafeTensors openIndex(Path index) {
        byte[] text;
        try {
            text = Files.readAllBytes(index);
        } catch (NoSuchFileException e) {
            throw new T2rException(index + ": no such file");
        } catch (IOException e) {
            throw new T2rException(index + ": cannot read (" + oneLine(e) + ")");
        }
        JsonNode root = gsat2r.core.io.Json.parseObject(new String(text, java.nio.charset.StandardCharsets.UTF_8), index.toString());
        if (!root.path("weight_map").isObject()) {
            throw new T2rException(index + ": missing the \"weight_map\" object");
        }
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (var e : root.get("weight_map").properties()) {
            if (!e.getValue().isTextual()) {
                throw new T2rException(index + ": weight_map entry '" + printable(e.getKey()) + "' is not a file name");
            }
            String shard = e.getValue().asText();
            // Shards live beside the index: a path (../x, /etc/x, a\\b) could reach any file, and a
            // control character has no business in a shard name (it would break our messages too).
            if (shard.contains("/") || shard.contains("\\") || shard.equals("..") || shard.equals(".")
                    || shard.isEmpty() || shard.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
                throw new T2rException(index + ": weight_map entry '" + printable(e.getKey()) + "' names '"
                        + printable(shard) + "', which is not a file name in this directory");
            }
            weightMap.put(e.getKey(), shard);
        }
        if (weightMap.isEmpty()) throw new T2rException(index + ": weight_map is empty");
        Path dir = index.toAbsolutePath().getParent();
        List<Path> shards = new ArrayList<>();
        for (String shard : new TreeSet<>(weightMap.values())) {
            Path p;
            try {
                p = dir.resolve(shard);
            } catch (InvalidPathException ex) {
                throw new T2rException(index + ": weight_map names '" + printable(shard) + "', which is not a valid file name");
            }
            if (!Files.isRegularFile(p)) {
                throw new T2rException(p + ": missing shard (listed in " + index.getFileName() + ")");
            }
            shards.add(p);
        }
        SafeTensors st = openFiles(shards);
        // Every tensor the index promises must be in the shard it names. Tensors that a shard holds
        // but the index does not list stay readable: transformers loads them too.
        for (var e : weightMap.entrySet()) {
            TensorInfo info = st.tensors.get(e.getKey());
            if (info == null || !info.file().getFileName().toString().equals(e.getValue())) {
                st.close();
                throw new T2rException(dir.resolve(e.getValue()) + ": tensor '" + printable(e.getKey())
                        + "' listed in " + index.getFileName() + " is not in this shard"
                        + (info == null ? "" : " (it is in " + info.file().getFileName() + ")"));
            }
        }
        return st;
    }

    private static SafeTensors openFiles(List<Path> files) {
        Arena arena = Arena.ofShared();
        try {
            Map<Path, MemorySegment> mapped = new LinkedHashMap<>();
            Map<String, TensorInfo> tensors = new LinkedHashMap<>();
            Map<String, String> metadata = new LinkedHashMap<>();
            for (Path f : files) {
                MemorySegment seg = map(f, arena);
                mapped.put(f, seg);
                Header h = parseHeader(f, seg);
                for (TensorInfo t : h.tensors()) {
                    TensorInfo prev = tensors.putIfAbsent(t.name(), t);
                    if (prev != null) {
                        throw new T2rException(f + ": tensor '" + printable(t.name()) + "' is also in " + prev.file());
                    }
                }
                h.metadata().forEach(metadata::putIfAbsent);
            }
            return new SafeTensors(arena, List.copyOf(files), mapped, Collections.unmodifiableMap(tensors),
                    Collections.unmodifiableMap(metadata));
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static MemorySegment map(Path f, Arena arena) {
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        } catch (NoSuchFileException e) {
            throw new T2rException(f + ": no such file");
        } catch (IOException e) {
            throw new T2rException(f + ": cannot read (" + oneLine(e) + ")");
        }
    }

    /** A parsed and validated header; offsets in its tensors are absolute in the file. */
    public record Header(List<TensorInfo> tensors, Map<String, String> metadata, long dataStart) {}

    /**
     * Parses and validates the header of the safetensors bytes {@code seg} (the whole file).
     * Checks: the length field, UTF-8 JSON object, known dtypes, non-negative integer shapes,
     * {@code [begin, end]} offsets with end - begin = numel × dtype size, every range inside the
     * data area, no overlaps and no holes (as the reference implementation demands).
     */
    public static Header parseHeader(Path file, MemorySegment seg) {
        long size = seg.byteSize();
        if (size < 8) throw new T2rException(file + ": too short for a safetensors file (" + size + " bytes)");
        long n = seg.get(Floats.LE_LONG, 0);
        if (n < 2 || n > MAX_HEADER_BYTES) {
            throw new T2rException(file + ": header length " + Long.toUnsignedString(n) + " is not plausible"
                    + " (must be 2.." + MAX_HEADER_BYTES + " bytes)");
        }
        if (8 + n > size) {
            throw new T2rException(file + ": header length " + n + " runs past the end of the file ("
                    + size + " bytes); the file is truncated or not safetensors");
        }
        byte[] headerBytes = seg.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
        if (headerBytes[0] != '{') {
            throw new T2rException(file + ": header is not a JSON object (it does not start with '{');"
                    + " not a safetensors file?");
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(headerBytes)).toString();
        } catch (CharacterCodingException e) {
            throw new T2rException(file + ": header is not valid UTF-8");
        }
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (IOException e) {
            throw new T2rException(file + ": header is not valid JSON (" + jsonProblem(e) + ")");
        }
        if (root == null || !root.isObject()) throw new T2rException(file + ": header is not a JSON object");
        long dataStart = 8 + n;
        long dataLen = size - dataStart;
        List<TensorInfo> list = new ArrayList<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (var e : root.properties()) {
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals("__metadata__")) {
                if (v.isNull()) continue;                        // the reference reads null as "none"
                if (!v.isObject()) throw new T2rException(file + ": __metadata__ is not an object");
                for (var me : v.properties()) {
                    if (!me.getValue().isTextual()) {
                        throw new T2rException(file + ": __metadata__ value '" + printable(me.getKey())
                                + "' is not a string");
                    }
                    metadata.put(me.getKey(), me.getValue().asText());
                }
                continue;
            }
            list.add(parseEntry(file, name, v, dataStart, dataLen));
        }
        // Ranges must tile the data area exactly: sorted by start, each begins where the last ended.
        List<TensorInfo> sorted = new ArrayList<>(list);
        sorted.sort(Comparator.comparingLong(TensorInfo::dataOffset).thenComparingLong(TensorInfo::byteSize));
        long expect = dataStart;
        TensorInfo prev = null;
        for (TensorInfo t : sorted) {
            if (t.dataOffset() < expect) {
                throw new T2rException(file + ": tensor '" + printable(t.name()) + "' overlaps tensor '"
                        + printable(prev.name()) + "'");
            }
            if (t.dataOffset() > expect) {
                throw new T2rException(file + ": " + (t.dataOffset() - expect) + " unindexed bytes (a hole) before tensor '"
                        + printable(t.name()) + "'");
            }
            expect = t.dataOffset() + t.byteSize();
            prev = t;
        }
        if (expect != size) {
            throw new T2rException(file + ": " + (size - expect) + " bytes after the last tensor are not indexed");
        }
        return new Header(List.copyOf(list), metadata, dataStart);
    }

    private static TensorInfo parseEntry(Path file, String name, JsonNode v, long dataStart, long dataLen) {
        String where = file + ": tensor '" + printable(name) + "'";
        if (hasLoneSurrogate(name)) throw new T2rException(where + " has a name that is not valid Unicode");
        if (!v.isObject()) throw new T2rException(where + " is not a JSON object");
        JsonNode dt = v.get("dtype");
        if (dt == null || !dt.isTextual()) throw new T2rException(where + " has no dtype");
        DType dtype = DType.fromHeader(dt.asText());
        if (dtype == null) throw new T2rException(where + " has unknown dtype '" + printable(dt.asText()) + "'");
        JsonNode sh = v.get("shape");
        if (sh == null || !sh.isArray()) throw new T2rException(where + " has no shape array");
        long[] shape = new long[sh.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.isIntegralNumber() || !d.canConvertToLong() || d.asLong() < 0) {
                throw new T2rException(where + " has a bad shape " + printable(sh.toString())
                        + " (dimensions must be non-negative integers)");
            }
            shape[i] = d.asLong();
            try {
                numel = Math.multiplyExact(numel, shape[i]);
            } catch (ArithmeticException ex) {
                throw new T2rException(where + " has a shape too large " + sh);
            }
        }
        JsonNode off = v.get("data_offsets");
        if (off == null || !off.isArray() || off.size() != 2
                || !off.get(0).isIntegralNumber() || !off.get(1).isIntegralNumber()
                || !off.get(0).canConvertToLong() || !off.get(1).canConvertToLong()) {
            throw new T2rException(where + " has bad data_offsets " + printable(String.valueOf(off))
                    + " (must be [begin, end], two non-negative integers)");
        }
        long begin = off.get(0).asLong();
        long end = off.get(1).asLong();
        if (begin < 0 || end < begin) {
            throw new T2rException(where + " has bad data_offsets " + off + " (must be 0 <= begin <= end)");
        }
        if (end > dataLen) {
            throw new T2rException(where + " data_offsets " + off + " run past the end of the file (data area "
                    + dataLen + " bytes); the file is truncated");
        }
        long expected;
        try {
            expected = Math.multiplyExact(numel, dtype.byteSize());
        } catch (ArithmeticException ex) {
            throw new T2rException(where + " has a shape too large " + sh);
        }
        if (end - begin != expected) {
            throw new T2rException(where + " shape " + sh + " x " + dtype + " needs " + expected
                    + " bytes but data_offsets " + off + " hold " + (end - begin));
        }
        return new TensorInfo(name, dtype, shape, file, dataStart + begin, expected);
    }

    // ---------------------------------------------------------------- access

    public List<Path> files() {
        return files;
    }

    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    public boolean has(String name) {
        return tensors.containsKey(name);
    }

    public TensorInfo info(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) throw new T2rException(describe() + ": no tensor '" + name + "'");
        return t;
    }

    /** Total bytes of tensor data. */
    public long totalBytes() {
        long n = 0;
        for (TensorInfo t : tensors.values()) n += t.byteSize();
        return n;
    }

    /** The raw little-endian bytes of a tensor, as a read-only mapped slice (valid until {@link #close}). */
    public MemorySegment bytes(String name) {
        TensorInfo t = info(name);
        return mapped.get(t.file()).asSlice(t.dataOffset(), t.byteSize());
    }

    /** A floating tensor as fp32 values (bf16, f16 and f8 widen exactly; f64 rounds to nearest). */
    public float[] floats(String name) {
        TensorInfo t = info(name);
        float[] out = new float[arrayLength(t)];
        toFloats(t.dtype(), bytes(name), out, 0, out.length, t.file() + ": tensor '" + name + "'");
        return out;
    }

    /** A floating tensor as fp64 values, exactly. */
    public double[] doubles(String name) {
        TensorInfo t = info(name);
        if (!t.dtype().isFloating()) {
            throw new T2rException(t.file() + ": tensor '" + name + "' has dtype " + t.dtype() + ", expected a floating type");
        }
        double[] out = new double[arrayLength(t)];
        Floats.decode(t.dtype(), bytes(name), 0, out, 0, out.length);
        return out;
    }

    /** An integer or boolean tensor as {@code long} values (U64 above 2^63-1 is refused). */
    public long[] longs(String name) {
        TensorInfo t = info(name);
        if (!t.dtype().isInteger()) {
            throw new T2rException(t.file() + ": tensor '" + name + "' has dtype " + t.dtype() + ", expected an integer type");
        }
        long[] out = new long[arrayLength(t)];
        Floats.decode(t.dtype(), bytes(name), 0, out, 0, out.length);
        if (t.dtype() == DType.U64) {
            for (long v : out) {
                if (v < 0) {
                    throw new T2rException(t.file() + ": tensor '" + name + "' holds U64 value "
                            + Long.toUnsignedString(v) + ", too large for a signed long");
                }
            }
        }
        return out;
    }

    private static int arrayLength(TensorInfo t) {
        long n = t.numel();
        if (n > Integer.MAX_VALUE - 8) {
            throw new T2rException(t.file() + ": tensor '" + t.name() + "' has " + n + " elements, too many for one array");
        }
        return (int) n;
    }

    /** Checks that a tensor has the given shape, naming the file and tensor when it does not. */
    public TensorInfo expect(String name, long... shape) {
        TensorInfo t = info(name);
        if (!java.util.Arrays.equals(t.shape(), shape)) {
            throw new T2rException(t.file() + ": tensor '" + name + "' has shape " + t.shapeString()
                    + ", expected " + java.util.Arrays.toString(shape));
        }
        return t;
    }

    /** Converts {@code count} elements of {@code src} (little-endian {@code dtype}) into {@code dst[off..]}. */
    public static void toFloats(DType dtype, MemorySegment src, float[] dst, int off, int count, String what) {
        if (!dtype.isFloating()) throw new T2rException(what + " has dtype " + dtype + ", expected a floating type");
        Floats.decode(dtype, src, 0, dst, off, count);
    }

    private String describe() {
        return files.size() == 1 ? files.getFirst().toString()
                : files.getFirst().toAbsolutePath().getParent() + " (" + files.size() + " shards)";
    }

    /** Tensors grouped by file, in file order; handy for streaming copies shard by shard. */
    public Map<Path, List<TensorInfo>> byFile() {
        Map<Path, List<TensorInfo>> m = new TreeMap<>();
        for (TensorInfo t : tensors.values()) m.computeIfAbsent(t.file(), k -> new ArrayList<>()).add(t);
        return m;
    }

    /** Unmaps the files; segments from {@link #bytes} become unusable. Closing twice is harmless. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        arena.close();
    }

    /** The first line of an exception's message, made printable and not too long. */
    static String oneLine(Exception e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        int nl = m.indexOf('\n');
        return printable(nl < 0 ? m : m.substring(0, nl));
    }

    /** Jackson's words for a JSON problem, with its duplicate-key message said plainly. */
    private static String jsonProblem(IOException e) {
        if (!(e instanceof JsonProcessingException jpe)) return oneLine(e);
        String m = printable(firstLine(jpe.getOriginalMessage()));
        if (m.startsWith("Duplicate field ")) return "duplicate key " + m.substring("Duplicate field ".length());
        JsonLocation at = jpe.getLocation();
        long offset = at == null ? -1 : at.getCharOffset() >= 0 ? at.getCharOffset() : at.getByteOffset();
        return offset >= 0 ? m + " at character " + offset : m;
    }

    private static String firstLine(String m) {
        if (m == null) return "malformed";
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }

    /** Text from a file, safe to put in a one-line message: control characters and lone surrogates escaped, at most 200 chars. */
    static String printable(String s) {
        StringBuilder b = new StringBuilder(Math.min(s.length(), 210));
        int i = 0;
        for (; i < s.length() && b.length() < 200; i++) {
            char c = s.charAt(i);
            boolean pair = Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1));
            if (pair) {
                b.append(c).append(s.charAt(++i));
            } else if (c < 0x20 || c == 0x7f || Character.isSurrogate(c)) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        if (i < s.length()) b.append("...");
        return b.toString();
    }

    /** Whether a Java string holds half of a surrogate pair alone (it cannot be written as UTF-8). */
    static boolean hasLoneSurrogate(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c)) {
                if (i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) i++;
                else return true;
            } else if (Character.isLowSurrogate(c)) {
                return true;
            }
        }
        return false;
    }
}
