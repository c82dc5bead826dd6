package gsat2r.bench;

import gsat2r.core.safetensors.Floats;
import gsat2r.core.safetensors.ShardedSafeTensorsWriter;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.SafeTensorsWriterTest;
import gsat2r.core.safetensors.TensorSpec;
import com.fasterxml.jackson.databind.JsonNode;
import gsat2r.core.T2rException;
import gsat2r.bench.RandomCheckpoint.LlamaShape;
import gsat2r.bench.RandomCheckpoint.Options;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RandomCheckpointTest {

    @TempDir
    Path tmp;

    static final LlamaShape SMALL = new LlamaShape(64, 2, 4, 2, 16, 96, 300, false);

    @Test
    void writesALlamaCheckpointTransformersCanRead() throws IOException {
        Options o = Options.defaults().withDtype(DType.F32).withMaxShardBytes(40_000).withSeed(7);
        Path dir = RandomCheckpoint.write(tmp.resolve("llama"), SMALL, o, false);
        JsonNode c = SafeTensorsWriterTest.json(dir.resolve("config.json"));
        assertEquals("llama", c.get("model_type").asText());
        assertEquals("LlamaForCausalLM", c.at("/architectures/0").asText());
        assertEquals(64, c.get("hidden_size").asInt());
        assertEquals(2, c.get("num_hidden_layers").asInt());
        assertEquals(4, c.get("num_attention_heads").asInt());
        assertEquals(2, c.get("num_key_value_heads").asInt());
        assertEquals(16, c.get("head_dim").asInt());
        assertEquals(96, c.get("intermediate_size").asInt());
        assertEquals(300, c.get("vocab_size").asInt());
        assertFalse(c.get("tie_word_embeddings").asBoolean());
        assertEquals("float32", c.get("dtype").asText());
        assertEquals(500000.0, c.at("/rope_parameters/rope_theta").asDouble());

        List<TensorSpec> specs = RandomCheckpoint.tensorSpecs(SMALL, DType.F32);
        assertEquals(1 + 2 * 9 + 2, specs.size());
        try (SafeTensors st = SafeTensors.open(dir)) {
            assertTrue(st.files().size() > 1, "sharded: " + st.files());
            assertEquals(specs.stream().map(TensorSpec::name).toList(), List.copyOf(st.tensors().keySet()).stream()
                    .sorted((a, b) -> Integer.compare(indexOf(specs, a), indexOf(specs, b))).toList());
            for (TensorSpec s : specs) assertEquals(s, TensorSpec.of(st.info(s.name())));
            st.expect("model.layers.1.self_attn.k_proj.weight", 32, 64);
            st.expect("model.layers.0.self_attn.o_proj.weight", 64, 64);
            st.expect("model.layers.0.mlp.down_proj.weight", 64, 96);
            st.expect("lm_head.weight", 300, 64);
            double sum = 0, sumSq = 0, sum4 = 0;
            long n = 0, within1 = 0;
            for (TensorSpec s : specs) {
                float[] v = st.floats(s.name());
                if (RandomCheckpoint.isNorm(s)) {
                    for (float x : v) assertEquals(1f, x, s.name());
                    continue;
                }
                for (float x : v) {
                    double z = x / 0.02;
                    sum += z;
                    sumSq += z * z;
                    sum4 += z * z * z * z;
                    if (Math.abs(z) < 1) within1++;
                    n++;
                }
            }
            double mean = sum / n, var = sumSq / n - mean * mean;
            // N(0, 1) after scaling: mean 0 ± 4/sqrt(n), variance 1, P(|z| < 1) = 0.6827, E z^4 = 3.
            assertTrue(Math.abs(mean) < 4 / Math.sqrt(n), "mean " + mean + " over " + n);
            assertEquals(1.0, var, 0.02, "variance");
            assertEquals(0.6827, (double) within1 / n, 0.01, "P(|z| < 1)");
            assertEquals(3.0, sum4 / n, 0.1, "fourth moment");
        }
    }

    private static int indexOf(List<TensorSpec> specs, String name) {
        for (int i = 0; i < specs.size(); i++) if (specs.get(i).name().equals(name)) return i;
        return -1;
    }

    /** Element i of a tensor depends only on (seed, name, i): not on shard size, and chunks join seamlessly. */
    @Test
    void deterministicAcrossShardSizesAndChunks() throws IOException {
        LlamaShape wideVocab = new LlamaShape(64, 1, 4, 2, 16, 96, 20_000, true);   // embed: 1.28M elements, 2 chunks
        Path a = RandomCheckpoint.write(tmp.resolve("a"), wideVocab, Options.defaults().withSeed(3), false);
        Path b = RandomCheckpoint.write(tmp.resolve("b"), wideVocab, Options.defaults().withSeed(3).withMaxShardBytes(300_000), false);
        Path c = RandomCheckpoint.write(tmp.resolve("c"), wideVocab, Options.defaults().withSeed(4), false);
        try (SafeTensors sa = SafeTensors.open(a); SafeTensors sb = SafeTensors.open(b); SafeTensors sc = SafeTensors.open(c)) {
            assertEquals(1, sa.files().size());
            assertTrue(sb.files().size() > 1);
            assertFalse(sa.has("lm_head.weight"), "tied: no lm_head");
            String embed = "model.embed_tokens.weight";
            for (String name : sa.tensors().keySet()) {
                assertArrayEquals(sa.bytes(name).toArray(ValueLayout.JAVA_BYTE), sb.bytes(name).toArray(ValueLayout.JAVA_BYTE), name);
            }
            assertFalse(java.util.Arrays.equals(sa.bytes(embed).toArray(ValueLayout.JAVA_BYTE),
                    sc.bytes(embed).toArray(ValueLayout.JAVA_BYTE)), "another seed, other weights");
            // The stored bf16 values are the documented generator's, rounded: chunk 0 then chunk 1.
            long numel = sa.info(embed).numel();
            assertTrue(numel > RandomCheckpoint.CHUNK);
            float[] expected = new float[(int) numel];
            float[] chunk = new float[RandomCheckpoint.CHUNK];
            for (int k = 0; k * (long) RandomCheckpoint.CHUNK < numel; k++) {
                int len = (int) Math.min(RandomCheckpoint.CHUNK, numel - (long) k * RandomCheckpoint.CHUNK);
                RandomCheckpoint.normals(3, embed, k, 0.02, chunk, len);
                System.arraycopy(chunk, 0, expected, k * RandomCheckpoint.CHUNK, len);
            }
            float[] stored = sa.floats(embed);
            for (int i = 0; i < stored.length; i++) {
                assertEquals(Floats.fromBF16(Floats.toBF16(expected[i])), stored[i], 0f, "element " + i);
            }
        }
    }

    @Test
    void commandLine() throws IOException {
        Path out = tmp.resolve("cli");
        RandomCheckpoint.run("--out", out.toString(), "--hidden", "32", "--layers", "1", "--heads", "2",
                "--intermediate", "48", "--vocab", "64", "--tied", "--dtype", "f16", "--seed", "9");
        try (SafeTensors st = SafeTensors.open(out)) {
            assertEquals(DType.F16, st.info("model.layers.0.self_attn.q_proj.weight").dtype());
            st.expect("model.layers.0.self_attn.k_proj.weight", 32, 32);      // kv heads default to heads, head dim to hidden/heads
        }
        T2rException e = assertThrows(T2rException.class, () -> RandomCheckpoint.run("--out", out.toString(),
                "--hidden", "32", "--layers", "1", "--heads", "2", "--intermediate", "48", "--vocab", "64"));
        assertTrue(e.getMessage().contains("not empty (use --force"), e.getMessage());
        assertThrows(RandomCheckpoint.UsageException.class, () -> RandomCheckpoint.run("--hidden", "32"));
        assertThrows(RandomCheckpoint.UsageException.class, () -> RandomCheckpoint.run("--out", "x", "--bogus", "1"));
        assertThrows(RandomCheckpoint.UsageException.class, () -> RandomCheckpoint.run("--out", "x", "--layers", "two"));
        assertThrows(T2rException.class, () -> new LlamaShape(64, 1, 6, 4, 16, 96, 10, true), "6 heads over 4 kv heads");
        assertEquals(1_235_814_400L, LlamaShape.preset("llama-3.2-1b").parameterCount(), "Llama-3.2-1B's published size");
    }

    /**
     * transformers 5.17 saved a LlamaForCausalLM of tiny-llama's shape with max_shard_size=12MB; its
     * config.json and index (test resources, metadata only) are what we write for the same shape.
     */
    @Test
    void tinyLlamaShapeGivesTransformersOwnConfigAndIndex() throws Exception {
        LlamaShape shape = LlamaShape.preset("tiny-llama");
        Options o = Options.defaults().withMaxShardBytes(ShardedSafeTensorsWriter.parseSize("12MB"));
        String config = gsat2r.core.io.PythonJson.dumps(RandomCheckpoint.config(shape, o)) + "\n";
        assertEquals(resource("tiny-llama.config.json"), config);
        try (ShardedSafeTensorsWriter w = ShardedSafeTensorsWriter.create(tmp.resolve("unused"),
                RandomCheckpoint.tensorSpecs(shape, o.dtype()), o.maxShardBytes())) {
            assertEquals(resource("tiny-llama.index.json"), w.indexJson());
        }
    }

    private static String resource(String name) throws Exception {
        try (var in = RandomCheckpointTest.class.getResourceAsStream("transformers/" + name)) {
            return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        }
    }
}
