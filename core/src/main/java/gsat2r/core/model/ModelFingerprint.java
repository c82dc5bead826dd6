package gsat2r.core.model;

import gsat2r.core.T2rException;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * What identifies a model, its config and weights, so that a saved decoding state is only ever continued by
 * the model that made it (on any device and in any precision: the GPU models have the fingerprint of the CPU
 * model of their directory, {@link DirectoryFingerprint}): the model kind, the SHA-256 of its configuration (the settings
 * that change the arithmetic, not provenance or the storage dtype) and the SHA-256 of its weights as
 * they are computed with (fp32, little-endian, tensor after tensor in a fixed order). Hashing the
 * weights, not the safetensors headers, tells a finetuned student from the one it was converted from
 * (same names, shapes and offsets); it costs about 0.1 s per 100 MB of fp32 weights.
 *
 * @param kind          {@code "gsa"} or {@code "llama"} (Llama and Mistral teachers)
 * @param configSha256  64 hex digits
 * @param weightsSha256 64 hex digits
 */
public record ModelFingerprint(String kind, String configSha256, String weightsSha256) {

    /** Short form for messages: kind and the first 12 hex digits of each hash. */
    public String shortForm() {
        return kind + " config " + configSha256.substring(0, 12) + " weights " + weightsSha256.substring(0, 12);
    }

    /** SHA-256 of a text (UTF-8), as 64 hex digits. */
    public static String sha256(String text) {
        MessageDigest md = sha256();
        return HexFormat.of().formatHex(md.digest(text.getBytes(StandardCharsets.UTF_8)));
    }

    /** Accumulates fp32 arrays, little-endian, into one SHA-256. */
    public static final class WeightHasher {
        private final MessageDigest md = sha256();
        private final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

        public WeightHasher add(float[] values) {
            return add(values, 0, values == null ? 0 : values.length);
        }

        /** Adds {@code count} floats from {@code offset}; a null array adds nothing (an absent bias). */
        public WeightHasher add(float[] values, int offset, int count) {
            if (values == null) return this;
            int i = offset, end = offset + count;
            while (i < end) {
                int n = Math.min(end - i, buf.capacity() / 4);
                buf.clear();
                buf.asFloatBuffer().put(values, i, n);
                md.update(buf.array(), 0, 4 * n);
                i += n;
            }
            return this;
        }

        public String hex() {
            return HexFormat.of().formatHex(md.digest());
        }
    }

    /**
     * SHA-256 of a model directory's weight files as stored: per tensor, in name order, the SHA-256 of its
     * name, dtype, shape and bytes (hashed in parallel), then the SHA-256 of those digests. What a training
     * checkpoint records of the student it started from (the frozen base it does not store), so that a
     * resume can tell that the base is the same; any change of a stored byte changes it. Reads the files
     * once (memory-mapped), at the speed of the disk or of SHA-256 on every core.
     */
    public static String ofWeightFiles(ModelDirectory dir) {
        try (gsat2r.core.safetensors.SafeTensors st = dir.openWeights()) {
            java.util.List<String> names = new java.util.ArrayList<>(st.tensors().keySet());
            java.util.Collections.sort(names);
            byte[][] digests = new byte[names.size()][];
            java.util.stream.IntStream.range(0, names.size()).parallel().forEach(i -> digests[i] = tensorDigest(st, names.get(i)));
            MessageDigest all = sha256();
            for (byte[] d : digests) all.update(d);
            return HexFormat.of().formatHex(all.digest());
        }
    }

    private static byte[] tensorDigest(gsat2r.core.safetensors.SafeTensors st, String name) {
        var info = st.info(name);
        MessageDigest md = sha256();
        md.update((name + "\0" + info.dtype().headerName() + "\0" + java.util.Arrays.toString(info.shape()) + "\0")
                .getBytes(StandardCharsets.UTF_8));
        java.lang.foreign.MemorySegment bytes = st.bytes(name);
        long chunk = 1L << 26;
        for (long off = 0; off < bytes.byteSize(); off += chunk) {
            md.update(bytes.asSlice(off, Math.min(chunk, bytes.byteSize() - off)).asByteBuffer());
        }
        return md.digest();
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new T2rException("this Java runtime has no SHA-256", e);
        }
    }
}
