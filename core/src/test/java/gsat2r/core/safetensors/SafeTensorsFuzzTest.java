package gsat2r.core.safetensors;

import gsat2r.core.T2rException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Deterministic random mutations of valid files (bit flips, truncations, length-field changes,
 * JSON splices, number edits, byte insertions): whatever {@link SafeTensors#open} makes of them,
 * the only exception allowed out is a one-line {@link T2rException} naming the file, and every file
 * it accepts reads back in full without error.
 *
 * <p>{@code -Dsafetensors.fuzz.iterations=N} (default 12000) and {@code -Dsafetensors.fuzz.seed=S}
 * for longer or different runs; a failure prints the iteration's own seed and mutation.
 */
class SafeTensorsFuzzTest {

    static final int ITERATIONS = Integer.getInteger("safetensors.fuzz.iterations", 12_000);
    static final long SEED = Long.getLong("safetensors.fuzz.seed", 20_240_601L);

    @TempDir
    static Path tmp;

    static final List<byte[]> SEEDS = new ArrayList<>();

    private static final String[] TOKENS = {
            "\"", "{", "}", "[", "]", ",", ":", " ", "null", "true", "-1", "0", "1e400", "1.5", "-0", "08",
            "18446744073709551616", "9223372036854775807", "4294967296", "\"F32\"", "\"BF16\"", "\"BOOL\"",
            "\"F8_E4M3\"", "\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "[0,0]", "[]", "{}",
            "\"\\ud800\"", "\"\\u0000\"", "ü", "\\", "\"a\":{}", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    };

    @BeforeAll
    static void seeds() throws IOException {
        SplittableRandom rnd = new SplittableRandom(1);
        Map<String, HeapTensor> mixed = new LinkedHashMap<>();
        for (DType t : DType.values()) mixed.put("m." + t, SafeTensorsWriterTest.randomTensor(rnd, t, 2, 3));
        mixed.put("scalar", SafeTensorsWriterTest.randomTensor(rnd, DType.F32));
        mixed.put("empty", SafeTensorsWriterTest.randomTensor(rnd, DType.BF16, 0, 4));
        SEEDS.add(seedFile("mixed", mixed, Map.of("k", "v", "ünï", "✓")));
        SEEDS.add(seedFile("one", Map.of("w", HeapTensor.f32(new float[]{1, 2, 3, 4}, 2, 2)), Map.of()));
        SEEDS.add(seedFile("none", Map.of(), Map.of("only", "metadata")));
        Map<String, HeapTensor> many = new LinkedHashMap<>();
        for (int i = 0; i < 20; i++) many.put("layers." + i + ".weight", SafeTensorsWriterTest.randomTensor(rnd, DType.BF16, i % 3, 3));
        SEEDS.add(seedFile("many", many, Map.of()));
        try (InputStream in = SafeTensorsFuzzTest.class.getResourceAsStream("python/numpy-writer.safetensors")) {
            SEEDS.add(in.readAllBytes());
        }
    }

    private static byte[] seedFile(String name, Map<String, HeapTensor> tensors, Map<String, String> metadata) throws IOException {
        Path p = tmp.resolve(name + ".seed.safetensors");
        SafeTensorsWriter.write(p, tensors, metadata);
        return Files.readAllBytes(p);
    }

    @Test
    void openEitherAcceptsAndReadsBackOrRefusesWithT2rException() throws IOException {
        Path file = tmp.resolve("fuzz.safetensors");
        SplittableRandom master = new SplittableRandom(SEED);
        int accepted = 0, rejected = 0;
        for (int i = 0; i < ITERATIONS; i++) {
            long seed = master.nextLong();
            SplittableRandom r = new SplittableRandom(seed);
            byte[] base = SEEDS.get(r.nextInt(SEEDS.size()));
            StringBuilder what = new StringBuilder();
            byte[] mutated = mutate(base, r, what);
            if (r.nextInt(4) == 0) mutated = mutate(mutated, r, what.append(" + "));
            Files.write(file, mutated);
            try {
                if (openAndReadAll(file)) accepted++;
            } catch (T2rException e) {
                rejected++;
                String m = e.getMessage();
                if (!m.contains(file.toString()) || m.lines().count() != 1) {
                    fail("iteration " + i + " (seed " + seed + ", " + what + "): message must be one line naming the file: " + m);
                }
            } catch (Throwable t) {
                throw new AssertionError("iteration " + i + " (seed " + seed + ", " + what + "): " + t, t);
            }
        }
        System.out.printf("safetensors fuzz: %d iterations, %d accepted, %d rejected%n", ITERATIONS, accepted, rejected);
        assertEquals(ITERATIONS, accepted + rejected);
        assertTrue(accepted > ITERATIONS / 50, "some mutants must stay valid (data-area flips), got " + accepted);
        assertTrue(rejected > ITERATIONS / 2, "most mutants must be refused, got " + rejected);
    }

    /** The same for the index of a sharded checkpoint: mutated index text. */
    @Test
    void mutatedIndexFilesOnlyGiveT2rException() throws IOException {
        Path dir = tmp.resolve("sharded");
        Map<String, HeapTensor> tensors = new LinkedHashMap<>();
        for (int i = 0; i < 4; i++) tensors.put("t" + i, HeapTensor.f32(new float[]{i, i}, 2));
        ShardedSafeTensorsWriter.write(dir, tensors, 16);
        Path index = dir.resolve(SafeTensors.INDEX_FILE);
        byte[] good = Files.readAllBytes(index);
        SplittableRandom master = new SplittableRandom(SEED ^ 0x5eed);
        int n = Math.max(200, ITERATIONS / 10);
        for (int i = 0; i < n; i++) {
            long seed = master.nextLong();
            SplittableRandom r = new SplittableRandom(seed);
            StringBuilder what = new StringBuilder();
            byte[] mutated = r.nextBoolean() ? splice(good, 0, good.length, r, what) : flipBits(good, 0, good.length, r, what);
            Files.write(index, mutated);
            try {
                openAndReadAll(dir);
            } catch (T2rException e) {
                assertEquals(1, e.getMessage().lines().count(), e.getMessage());
                assertTrue(e.getMessage().contains(dir.toString()), e.getMessage());
            } catch (Throwable t) {
                throw new AssertionError("index iteration " + i + " (seed " + seed + ", " + what + "): " + t, t);
            }
        }
    }

    /** Opens and reads every tensor in full (raw bytes and values); true when it all worked. */
    private static boolean openAndReadAll(Path path) {
        try (SafeTensors st = SafeTensors.open(path)) {
            for (TensorInfo t : st.tensors().values()) {
                byte[] raw = st.bytes(t.name()).toArray(ValueLayout.JAVA_BYTE);
                assertEquals(t.byteSize(), raw.length);
                if (t.dtype().isFloating()) {
                    assertEquals(t.numel(), st.floats(t.name()).length);
                } else if (t.dtype() != DType.U64) {
                    assertEquals(t.numel(), st.longs(t.name()).length);
                }
            }
            st.metadata().forEach((k, v) -> assertTrue(k != null && v != null));
            return true;
        }
    }

    // ---------------------------------------------------------------- mutations

    private static byte[] mutate(byte[] in, SplittableRandom r, StringBuilder what) {
        int headerEnd = in.length >= 8 ? (int) Math.min(in.length, 8 + Math.max(0, Math.min(in.length, le(in)))) : in.length;
        return switch (r.nextInt(7)) {
            case 0 -> flipBits(in, 0, headerEnd, r, what);
            case 1 -> flipBits(in, 0, in.length, r, what);
            case 2 -> {
                int len = r.nextInt(in.length + 1);
                what.append("truncate to ").append(len);
                yield Arrays.copyOf(in, len);
            }
            case 3 -> lengthField(in, r, what);
            case 4 -> in.length > 8 ? withHeader(splice(in, 8, headerEnd, r, what), in, headerEnd, r) : in;
            case 5 -> editNumber(in, headerEnd, r, what);
            default -> {
                int at = r.nextInt(in.length + 1);
                byte[] extra = new byte[1 + r.nextInt(16)];
                r.nextBytes(extra);
                what.append("insert ").append(extra.length).append(" bytes at ").append(at);
                byte[] out = new byte[in.length + extra.length];
                System.arraycopy(in, 0, out, 0, at);
                System.arraycopy(extra, 0, out, at, extra.length);
                System.arraycopy(in, at, out, at + extra.length, in.length - at);
                yield out;
            }
        };
    }

    private static byte[] flipBits(byte[] in, int from, int to, SplittableRandom r, StringBuilder what) {
        byte[] out = in.clone();
        if (to <= from) return out;
        int flips = 1 + r.nextInt(8);
        what.append(flips).append(" bit flips in [").append(from).append(',').append(to).append(')');
        for (int k = 0; k < flips; k++) {
            int at = from + r.nextInt(to - from);
            out[at] ^= (byte) (1 << r.nextInt(8));
        }
        return out;
    }

    private static byte[] lengthField(byte[] in, SplittableRandom r, StringBuilder what) {
        if (in.length < 8) return in;
        long n = le(in);
        long v = switch (r.nextInt(5)) {
            case 0 -> n + r.nextInt(-16, 17);
            case 1 -> r.nextLong(in.length + 100);
            case 2 -> r.nextLong();
            case 3 -> n + 8 * r.nextInt(-3, 4);
            default -> in.length - 8 + r.nextInt(-2, 3);
        };
        what.append("length field ").append(n).append(" -> ").append(Long.toUnsignedString(v));
        byte[] out = in.clone();
        ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putLong(0, v);
        return out;
    }

    /** Replaces a random stretch of [from, to) with a JSON-ish token or random bytes. */
    private static byte[] splice(byte[] in, int from, int to, SplittableRandom r, StringBuilder what) {
        if (to <= from) return in;
        int a = from + r.nextInt(to - from);
        int b = Math.min(to, a + r.nextInt(12));
        byte[] token;
        if (r.nextInt(6) == 0) {
            token = new byte[1 + r.nextInt(4)];
            r.nextBytes(token);
        } else {
            token = TOKENS[r.nextInt(TOKENS.length)].getBytes(StandardCharsets.UTF_8);
        }
        what.append("splice [").append(a).append(',').append(b).append(") <- ").append(Arrays.toString(token));
        byte[] out = new byte[in.length - (b - a) + token.length];
        System.arraycopy(in, 0, out, 0, a);
        System.arraycopy(token, 0, out, a, token.length);
        System.arraycopy(in, b, out, a + token.length, in.length - b);
        return out;
    }

    /**
     * After a splice inside the header, usually fix the length field so the parser reaches the JSON
     * (otherwise nearly every splice would only test the length check).
     */
    private static byte[] withHeader(byte[] spliced, byte[] original, int oldHeaderEnd, SplittableRandom r) {
        if (r.nextInt(5) == 0) return spliced;
        long newLength = (oldHeaderEnd - 8) + (spliced.length - original.length);
        ByteBuffer.wrap(spliced).order(ByteOrder.LITTLE_ENDIAN).putLong(0, newLength);
        return spliced;
    }

    /** Changes one number in the header (a shape dimension or an offset) and keeps the length field right. */
    private static byte[] editNumber(byte[] in, int headerEnd, SplittableRandom r, StringBuilder what) {
        List<int[]> numbers = new ArrayList<>();
        for (int i = 8; i < headerEnd; i++) {
            if (Character.isDigit(in[i]) && !Character.isDigit(in[i - 1])) {
                int j = i;
                while (j < headerEnd && Character.isDigit(in[j])) j++;
                numbers.add(new int[]{i, j});
            }
        }
        if (numbers.isEmpty()) return flipBits(in, 0, in.length, r, what);
        int[] span = numbers.get(r.nextInt(numbers.size()));
        long old = Long.parseLong(new String(in, span[0], Math.min(18, span[1] - span[0]), StandardCharsets.US_ASCII));
        long v = switch (r.nextInt(4)) {
            case 0 -> old + r.nextInt(-9, 10);
            case 1 -> r.nextLong(64);
            case 2 -> old * 2;
            default -> r.nextLong() >>> r.nextInt(64);
        };
        byte[] digits = Long.toString(v).getBytes(StandardCharsets.US_ASCII);
        what.append("number at ").append(span[0]).append(": ").append(old).append(" -> ").append(v);
        byte[] out = new byte[in.length - (span[1] - span[0]) + digits.length];
        System.arraycopy(in, 0, out, 0, span[0]);
        System.arraycopy(digits, 0, out, span[0], digits.length);
        System.arraycopy(in, span[1], out, span[0] + digits.length, in.length - span[1]);
        ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putLong(0, (headerEnd - 8) + (out.length - in.length));
        return out;
    }

    private static long le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
    }
}
