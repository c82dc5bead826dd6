package gsat2r.core.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import gsat2r.core.T2rException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

public class SafeTensorsWriterTest {

    @TempDir
    Path tmp;

    /** Random raw bytes of the right size for every dtype, incl. empty tensors and scalars, read back bit for bit. */
    @Test
    void everyDtypeRoundTripsBitForBit() {
        SplittableRandom rnd = new SplittableRandom(11);
        Map<String, HeapTensor> tensors = new LinkedHashMap<>();
        for (DType t : DType.values()) {
            tensors.put(t + ".matrix", randomTensor(rnd, t, 3, 5));
            tensors.put(t + ".scalar", randomTensor(rnd, t));
            tensors.put(t + ".empty", randomTensor(rnd, t, 0));
            tensors.put(t + ".empty3d", randomTensor(rnd, t, 2, 0, 4));
        }
        Path file = tmp.resolve("all.safetensors");
        SafeTensorsWriter.write(file, tensors, Map.of("note", "ünïcödé ✓", "format", "pt"));
        try (SafeTensors st = SafeTensors.open(file)) {
            assertEquals(tensors.keySet(), st.tensors().keySet());
            for (var e : tensors.entrySet()) {
                TensorInfo info = st.info(e.getKey());
                assertEquals(e.getValue().dtype(), info.dtype(), e.getKey());
                assertArrayEquals(e.getValue().shape(), info.shape(), e.getKey());
                assertArrayEquals(e.getValue().toByteArray(), st.bytes(e.getKey()).toArray(ValueLayout.JAVA_BYTE), e.getKey());
            }
            assertEquals(Map.of("note", "ünïcödé ✓", "format", "pt"), st.metadata());
            assertEquals(0, st.info("F32.scalar").rank());
            assertEquals(1, st.info("F32.scalar").numel());
            assertEquals(0, st.info("BF16.empty3d").numel());
        }
    }

    @Test
    void valuesRoundTripThroughTheTypedWriters() {
        float[] f = {0f, -0f, 1.5f, -2.75f, Float.MIN_VALUE, Float.MAX_VALUE, Float.NaN, Float.NEGATIVE_INFINITY};
        double[] d = {Math.PI, -1e300, Double.MIN_VALUE, Double.NaN};
        long[] ids = {0, 1, -1, Long.MAX_VALUE, Long.MIN_VALUE, 128000};
        Map<String, HeapTensor> tensors = new LinkedHashMap<>();
        tensors.put("f64", HeapTensor.of(DType.F64, d, 2, 2));
        tensors.put("f32", HeapTensor.of(DType.F32, f, 2, 4));
        tensors.put("bf16", HeapTensor.of(DType.BF16, f, 8));
        tensors.put("f16", HeapTensor.of(DType.F16, f, 4, 2));
        tensors.put("i64", HeapTensor.of(DType.I64, ids, 6));
        tensors.put("i32", HeapTensor.of(DType.I32, new long[]{Integer.MIN_VALUE, Integer.MAX_VALUE}, 2));
        tensors.put("u8", HeapTensor.of(DType.U8, new long[]{0, 200, 255}, 3));
        tensors.put("bool", HeapTensor.of(DType.BOOL, new long[]{1, 0, 1, 1}, 2, 2));
        tensors.put("scalar", HeapTensor.of(DType.F32, new float[]{42f}));
        Path file = tmp.resolve("typed.safetensors");
        SafeTensorsWriter.write(file, tensors);
        try (SafeTensors st = SafeTensors.open(file)) {
            assertArrayEquals(d, st.doubles("f64"));
            assertArrayEquals(f, st.floats("f32"));
            float[] bf = st.floats("bf16");
            float[] h = st.floats("f16");
            for (int i = 0; i < f.length; i++) {
                assertEquals(Floats.fromBF16(Floats.toBF16(f[i])), bf[i], 0f, "bf16 " + i);
                assertEquals(Floats.fromF16(Floats.toF16(f[i])), h[i], 0f, "f16 " + i);
            }
            assertArrayEquals(ids, st.longs("i64"));
            assertArrayEquals(new long[]{Integer.MIN_VALUE, Integer.MAX_VALUE}, st.longs("i32"));
            assertArrayEquals(new long[]{0, 200, 255}, st.longs("u8"));
            assertArrayEquals(new long[]{1, 0, 1, 1}, st.longs("bool"));
            assertArrayEquals(new float[]{42f}, st.floats("scalar"));
            assertThrows(T2rException.class, () -> st.longs("f32"));
            assertThrows(T2rException.class, () -> st.floats("i64"));
        }
    }

    /** The layout the Python library writes and expects: padded compact header, metadata first, contiguous data in order. */
    @Test
    void fileLayoutIsWhatPythonWrites() throws IOException {
        Path file = tmp.resolve("layout.safetensors");
        List<TensorSpec> specs = List.of(TensorSpec.of("b", DType.F32, 2, 3), TensorSpec.of("a", DType.BF16, 3),
                TensorSpec.of("s", DType.I64));
        try (SafeTensorsWriter w = SafeTensorsWriter.create(file, specs)) {
            w.write("b", new float[6]);
            w.write("a", new float[]{1, 2, 3});
            w.write("s", new long[]{7});
            w.commit();
        }
        byte[] bytes = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        assertEquals(0, n % 8, "header length is a multiple of 8");
        String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8);
        String json = "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                + "\"a\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[24,30]},"
                + "\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[30,38]}}";
        assertEquals(json, header.stripTrailing());
        assertTrue(header.substring(json.length()).chars().allMatch(c -> c == ' '), "padding is spaces");
        assertEquals(8 + n + 38, bytes.length);
        assertEquals(Files.size(file), SafeTensorsWriter.header(file, specs, Map.of()).length + 38);
        // bf16 values 1, 2, 3 at offset 24 of the data: 0x3f80, 0x4000, 0x4040.
        ByteBuffer data = ByteBuffer.wrap(bytes, (int) (8 + n), 38).slice().order(ByteOrder.LITTLE_ENDIAN);
        assertEquals((short) 0x3f80, data.getShort(24));
        assertEquals((short) 0x4040, data.getShort(28));
        assertEquals(7L, data.getLong(30));
    }

    @Test
    void streamingInPiecesEqualsWritingWhole() throws IOException {
        SplittableRandom rnd = new SplittableRandom(5);
        float[] big = new float[700_001];                       // more than the 1 MiB staging buffer as F32
        for (int i = 0; i < big.length; i++) big[i] = (float) rnd.nextGaussian();
        List<TensorSpec> specs = List.of(TensorSpec.of("w", DType.F32, 700_001), TensorSpec.of("h", DType.BF16, 700_001));
        Path whole = tmp.resolve("whole.safetensors");
        Path pieces = tmp.resolve("pieces.safetensors");
        try (SafeTensorsWriter w = SafeTensorsWriter.create(whole, specs)) {
            w.write("w", big);
            w.write("h", big);
            w.commit();
        }
        try (SafeTensorsWriter w = SafeTensorsWriter.create(pieces, specs)) {
            w.write("w", sink -> {
                for (int off = 0; off < big.length; off += 99_991) sink.putFloats(big, off, Math.min(99_991, big.length - off));
            });
            try (TensorSink sink = w.stream("h")) {
                MemorySegment all = MemorySegment.ofArray(new byte[big.length * 2]);
                Floats.encode(big, 0, big.length, DType.BF16, all, 0);
                sink.putBytes(all.asSlice(0, 1001));            // odd split: half an element per piece
                sink.putBytes(all.asSlice(1001));
                assertEquals(0, sink.remainingBytes());
            }
            w.commit();
        }
        assertArrayEquals(Files.readAllBytes(whole), Files.readAllBytes(pieces));
    }

    @Test
    void nothingAppearsBeforeCommitAndCloseWithoutCommitLeavesNothing() throws IOException {
        Path file = tmp.resolve("sub/dir/x.safetensors");
        try (SafeTensorsWriter w = SafeTensorsWriter.create(file, List.of(TensorSpec.of("a", DType.F32, 2)))) {
            w.write("a", new float[]{1, 2});
            assertFalse(Files.exists(file), "not before commit");
        }
        assertFalse(Files.exists(file));
        assertEquals(List.of(), listing(file.getParent()), "the temp file is gone");
    }

    @Test
    void commitReplacesAnExistingFile() throws IOException {
        Path file = tmp.resolve("x.safetensors");
        Files.writeString(file, "old");
        SafeTensorsWriter.write(file, Map.of("a", HeapTensor.f32(new float[]{3}, 1)));
        try (SafeTensors st = SafeTensors.open(file)) {
            assertArrayEquals(new float[]{3}, st.floats("a"));
        }
        assertEquals(List.of("x.safetensors"), listing(tmp));
    }

    @Test
    void aWriterWithNoTensorsWritesAValidFile() {
        Path file = tmp.resolve("empty.safetensors");
        SafeTensorsWriter.write(file, Map.of());
        try (SafeTensors st = SafeTensors.open(file)) {
            assertTrue(st.tensors().isEmpty());
            assertEquals("pt", st.metadata().get("format"));
        }
    }

    // ---------------------------------------------------------------- misuse

    @Test
    void wrongByteCountsAreRefusedNamingFileAndTensor() throws IOException {
        Path file = tmp.resolve("bad.safetensors");
        List<TensorSpec> specs = List.of(TensorSpec.of("a", DType.F32, 2, 3), TensorSpec.of("b", DType.BF16, 4));
        expectFailure(file, specs, w -> w.write("a", new float[5]), "tensor 'a'", "needs 24 more bytes", "5 values");
        expectFailure(file, specs, w -> w.write("a", new byte[25]), "tensor 'a'", "25 bytes");
        expectFailure(file, specs, w -> {
            try (TensorSink s = w.stream("a")) {
                s.putFloats(new float[4]);
            }
        }, "tensor 'a'", "closed with 8 of its 24 bytes unwritten");
        expectFailure(file, specs, w -> {
            try (TensorSink s = w.stream("a")) {
                s.putFloats(new float[4]);
                s.putFloats(new float[4]);
            }
        }, "tensor 'a'", "8 bytes past its end");
    }

    @Test
    void orderAndCompletenessAreChecked() {
        Path file = tmp.resolve("bad.safetensors");
        List<TensorSpec> specs = List.of(TensorSpec.of("a", DType.F32, 1), TensorSpec.of("b", DType.F32, 1),
                TensorSpec.of("c", DType.F32, 1));
        expectFailure(file, specs, w -> w.write("b", new float[1]), "'b' written where 'a' comes next", "declared order");
        expectFailure(file, specs, w -> w.write("z", new float[1]), "'z' was not declared");
        expectFailure(file, specs, w -> {
            w.write("a", new float[1]);
            w.commit();
        }, "tensor 'b' and 1 more declared but never written");
        expectFailure(file, specs, w -> {
            TensorSink s = w.stream("a");
            w.stream("b");
            s.close();
        }, "while tensor 'a' is still open");
        expectFailure(file, specs, w -> {
            for (String n : List.of("a", "b", "c", "c")) w.write(n, new float[1]);
        }, "after all 3 declared tensors", "(twice?)");
    }

    @Test
    void valuesMustSuitTheDtype() {
        Path file = tmp.resolve("bad.safetensors");
        expectFailure(file, List.of(TensorSpec.of("ids", DType.I32, 2)), w -> w.write("ids", new float[2]),
                "tensor 'ids' is I32; floats can be written only to");
        expectFailure(file, List.of(TensorSpec.of("w", DType.BF16, 2)), w -> w.write("w", new long[2]),
                "integers can be written only");
        expectFailure(file, List.of(TensorSpec.of("m", DType.U8, 3)), w -> w.write("m", new long[]{1, 256, 3}),
                "value 256 (index 1) does not fit U8");
    }

    @Test
    void badSpecsAreRefusedBeforeAnyFileExists() throws IOException {
        Path file = tmp.resolve("bad.safetensors");
        var e = assertThrows(T2rException.class, () -> SafeTensorsWriter.create(file,
                List.of(TensorSpec.of("a", DType.F32, 1), TensorSpec.of("a", DType.F16, 1))));
        assertTrue(e.getMessage().contains("'a' is declared twice") && e.getMessage().contains(file.toString()), e.getMessage());
        assertThrows(T2rException.class, () -> TensorSpec.of("x", DType.F32, 2, -1));
        assertThrows(T2rException.class, () -> TensorSpec.of("__metadata__", DType.F32, 1));
        assertThrows(T2rException.class, () -> TensorSpec.of("x", DType.F32, Long.MAX_VALUE / 2, 4));
        assertThrows(T2rException.class, () -> TensorSpec.of("bad\uD800", DType.F32, 1));
        Files.createDirectories(tmp.resolve("dir.safetensors"));
        assertThrows(T2rException.class, () -> SafeTensorsWriter.create(tmp.resolve("dir.safetensors"), List.of()));
        assertEquals(List.of("dir.safetensors"), listing(tmp));
    }

    @Test
    void alignedOrderPutsWideTypesFirst() {
        List<TensorSpec> specs = List.of(TensorSpec.of("a", DType.U8, 3), TensorSpec.of("b", DType.F32, 1),
                TensorSpec.of("c", DType.BF16, 1), TensorSpec.of("d", DType.I64, 1), TensorSpec.of("e", DType.F32, 2));
        List<String> order = SafeTensorsWriter.alignedOrder(specs).stream().map(TensorSpec::name).toList();
        assertEquals(List.of("d", "b", "e", "c", "a"), order);
    }

    /** Runs {@code body} on a fresh writer; it must fail with a T2rException naming the file and saying each part. */
    private void expectFailure(Path file, List<TensorSpec> specs, java.util.function.Consumer<SafeTensorsWriter> body,
                               String... parts) {
        T2rException e;
        try (SafeTensorsWriter w = SafeTensorsWriter.create(file, specs)) {
            e = assertThrows(T2rException.class, () -> body.accept(w));
            assertThrows(T2rException.class, w::commit, "a failed writer cannot commit");
        }
        assertTrue(e.getMessage().startsWith(file.toString() + ": "), e.getMessage());
        for (String p : parts) assertTrue(e.getMessage().contains(p), "'" + p + "' not in: " + e.getMessage());
        assertFalse(Files.exists(file), "no file after a failure");
        try {
            assertEquals(List.of(), listing(file.getParent()), "no temp file after a failure");
        } catch (IOException io) {
            throw new AssertionError(io);
        }
    }

    public static HeapTensor randomTensor(SplittableRandom rnd, DType t, long... shape) {
        long n = new TensorSpec("x", t, shape).byteSize();
        byte[] b = new byte[(int) n];
        rnd.nextBytes(b);
        if (t == DType.BOOL) for (int i = 0; i < b.length; i++) b[i] &= 1;
        return HeapTensor.ofBytes(t, b, shape);
    }

    static List<String> listing(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    public static JsonNode json(Path p) throws IOException {
        return SafeTensors.JSON.readTree(p.toFile());
    }

    static List<String> names(List<TensorSpec> specs) {
        List<String> out = new ArrayList<>();
        for (TensorSpec s : specs) out.add(s.name());
        return out;
    }
}
