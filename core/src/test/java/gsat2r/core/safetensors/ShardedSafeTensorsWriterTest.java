package gsat2r.core.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import gsat2r.core.T2rException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ShardedSafeTensorsWriterTest {

    @TempDir
    Path tmp;

    /** huggingface_hub's own test case: sizes [6, 10, 30, 2, 2], limit 10 → [1], [3], [2], [4, 5]. */
    @Test
    void shardPlanMatchesHuggingfaceHub() {
        List<TensorSpec> specs = List.of(TensorSpec.of("layer_1", DType.U8, 6), TensorSpec.of("layer_2", DType.U8, 10),
                TensorSpec.of("layer_3", DType.U8, 30), TensorSpec.of("layer_4", DType.U8, 2), TensorSpec.of("layer_5", DType.U8, 2));
        List<List<String>> plan = ShardedSafeTensorsWriter.planShards(specs, 10).stream()
                .map(SafeTensorsWriterTest::names).toList();
        assertEquals(List.of(List.of("layer_1"), List.of("layer_3"), List.of("layer_2"), List.of("layer_4", "layer_5")), plan);
        assertEquals(1, ShardedSafeTensorsWriter.planShards(specs, 100).size(), "all fit in one");
        assertThrows(T2rException.class, () -> ShardedSafeTensorsWriter.planShards(specs, 0));
    }

    @Test
    void shardedRoundTripWithIndex() throws IOException {
        SplittableRandom rnd = new SplittableRandom(2);
        Map<String, HeapTensor> tensors = new LinkedHashMap<>();
        tensors.put("embed", SafeTensorsWriterTest.randomTensor(rnd, DType.BF16, 10, 4));      // 80 bytes > 40: own shard
        tensors.put("a", SafeTensorsWriterTest.randomTensor(rnd, DType.F32, 5));               // 20
        tensors.put("b", SafeTensorsWriterTest.randomTensor(rnd, DType.F32, 6));               // 24: 44 > 40, new shard
        tensors.put("ids", SafeTensorsWriterTest.randomTensor(rnd, DType.I64, 2));             // 16: 40 fits
        tensors.put("scalar", SafeTensorsWriterTest.randomTensor(rnd, DType.F64));             // 8: new shard
        tensors.put("empty", SafeTensorsWriterTest.randomTensor(rnd, DType.F16, 0, 3));        // 0
        Path dir = tmp.resolve("ckpt");
        ShardedSafeTensorsWriter.write(dir, tensors, 40);
        assertEquals(List.of("model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
                "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors", "model.safetensors.index.json"),
                SafeTensorsWriterTest.listing(dir));
        JsonNode index = SafeTensorsWriterTest.json(dir.resolve(SafeTensors.INDEX_FILE));
        assertEquals(80 + 20 + 24 + 16 + 8, index.at("/metadata/total_size").asLong());
        assertEquals(40 + 5 + 6 + 2 + 1, index.at("/metadata/total_parameters").asLong());
        Map<String, Integer> shardOf = Map.of("embed", 1, "a", 2, "b", 3, "ids", 3, "scalar", 4, "empty", 4);
        shardOf.forEach((name, k) -> assertEquals("model-0000" + k + "-of-00004.safetensors",
                index.at("/weight_map/" + name).asText(), name));
        for (Path open : List.of(dir, dir.resolve(SafeTensors.INDEX_FILE))) {
            try (SafeTensors st = SafeTensors.open(open)) {
                assertEquals(tensors.keySet(), st.tensors().keySet());
                assertEquals(4, st.files().size());
                for (var e : tensors.entrySet()) {
                    assertArrayEquals(e.getValue().toByteArray(), st.bytes(e.getKey()).toArray(ValueLayout.JAVA_BYTE), e.getKey());
                    assertArrayEquals(e.getValue().shape(), st.info(e.getKey()).shape());
                }
                assertEquals("pt", st.metadata().get("format"));
            }
        }
    }

    @Test
    void aCheckpointThatFitsOneShardIsASingleFileWithoutIndex() throws IOException {
        Path dir = tmp.resolve("single");
        ShardedSafeTensorsWriter.write(dir, Map.of("w", HeapTensor.f32(new float[]{1, 2}, 2)), 1000);
        assertEquals(List.of("model.safetensors"), SafeTensorsWriterTest.listing(dir));
        try (SafeTensors st = SafeTensors.open(dir)) {
            assertArrayEquals(new float[]{1, 2}, st.floats("w"));
        }
    }

    /** Byte for byte what Python's json.dumps(index, indent=2, sort_keys=True) + "\n" gives (keys by code point, ASCII escapes). */
    @Test
    void indexTextIsPythonJsonDumps() {
        List<TensorSpec> specs = List.of(TensorSpec.of("z", DType.F32, 4), TensorSpec.of("é\"\n", DType.F32, 4),
                TensorSpec.of("a", DType.BF16, 2, 2), TensorSpec.of("\uD83D\uDE00", DType.U8, 1), TensorSpec.of("\uFFFD", DType.U8, 1));
        try (ShardedSafeTensorsWriter w = ShardedSafeTensorsWriter.create(tmp.resolve("idx"), specs, 16)) {
            String expected = """
                    {
                      "metadata": {
                        "total_parameters": 14,
                        "total_size": 42
                      },
                      "weight_map": {
                        "a": "model-00003-of-00003.safetensors",
                        "z": "model-00001-of-00003.safetensors",
                        "\\u00e9\\"\\n": "model-00002-of-00003.safetensors",
                        "\\ufffd": "model-00003-of-00003.safetensors",
                        "\\ud83d\\ude00": "model-00003-of-00003.safetensors"
                      }
                    }
                    """;
            assertEquals(expected, w.indexJson());
        }
    }

    @Test
    void abortingDeletesShardsAlreadyFinished() throws IOException {
        Path dir = tmp.resolve("abort");
        List<TensorSpec> specs = List.of(TensorSpec.of("a", DType.F32, 4), TensorSpec.of("b", DType.F32, 4), TensorSpec.of("c", DType.F32, 4));
        try (ShardedSafeTensorsWriter w = ShardedSafeTensorsWriter.create(dir, specs, 16)) {
            w.write("a", new float[4]);
            w.write("b", new float[4]);
            assertTrue(Files.exists(dir.resolve("model-00001-of-00003.safetensors")), "shard 1 is committed once complete");
            T2rException e = assertThrows(T2rException.class, () -> w.write("c", new float[3]));
            assertTrue(e.getMessage().contains("model-00003-of-00003.safetensors") && e.getMessage().contains("tensor 'c'"), e.getMessage());
            assertThrows(T2rException.class, w::commit);
        }
        assertEquals(List.of(), SafeTensorsWriterTest.listing(dir));
    }

    @Test
    void orderAndCompletenessAreChecked() {
        List<TensorSpec> specs = List.of(TensorSpec.of("a", DType.F32, 4), TensorSpec.of("b", DType.F32, 4));
        try (ShardedSafeTensorsWriter w = ShardedSafeTensorsWriter.create(tmp.resolve("o"), specs, 16)) {
            T2rException e = assertThrows(T2rException.class, () -> w.write("b", new float[4]));
            assertTrue(e.getMessage().contains("'b' written where 'a' comes next"), e.getMessage());
        }
        try (ShardedSafeTensorsWriter w = ShardedSafeTensorsWriter.create(tmp.resolve("c"), specs, 16)) {
            w.write("a", new float[4]);
            T2rException e = assertThrows(T2rException.class, w::commit);
            assertTrue(e.getMessage().contains("tensor 'b' declared but never written"), e.getMessage());
        }
        assertThrows(T2rException.class, () -> ShardedSafeTensorsWriter.create(tmp.resolve("none"), List.of(), 16));
    }

    @Test
    void sizesParseAsTransformersDoes() {
        assertEquals(5_000_000_000L, ShardedSafeTensorsWriter.parseSize("5GB"));
        assertEquals(500_000_000L, ShardedSafeTensorsWriter.parseSize("500MB"));
        assertEquals(2L << 30, ShardedSafeTensorsWriter.parseSize("2GiB"));
        assertEquals(1_500_000L, ShardedSafeTensorsWriter.parseSize("1.5mb"));
        assertEquals(12345, ShardedSafeTensorsWriter.parseSize("12345"));
        assertThrows(T2rException.class, () -> ShardedSafeTensorsWriter.parseSize("lots"));
        assertThrows(T2rException.class, () -> ShardedSafeTensorsWriter.parseSize("-1GB"));
    }
}
