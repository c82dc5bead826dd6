package gsat2r.core.model.llama;

import gsat2r.core.T2rException;
import gsat2r.core.config.LlamaConfig;
import gsat2r.core.config.LlamaConfig.Family;
import gsat2r.core.config.RopeParameters;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.safetensors.DType;
import gsat2r.core.testing.Numerics;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link LlamaModel} on small random checkpoints written to disk, against {@link NaiveLlama} (float64,
 * written from the definition). Tolerances: logits 1e-5 relative L2 per sequence (fp32 through a few
 * layers); decoding token by token equals the forward (1e-5, in practice bit for bit).
 */
class LlamaModelTest {

    static Stream<Arguments> models() {
        return Stream.of(
                // Llama: tied, GQA ratio 3, llama3 rope scaling with a small context, biases.
                Arguments.of("llama-gqa3-llama3rope-bias", TestCheckpoints.config(Family.LLAMA, 24, 40, 2, 6, 2, 8, 50,
                        null, true, true, true, RopeParameters.llama3(10000, 4, 1, 4, 16), "float32"), 19),
                // Mistral: untied, window 5 < T, head_dim 12 != 32/4, one kv head (ratio 4), linear rope.
                Arguments.of("mistral-window5-kv1", TestCheckpoints.config(Family.MISTRAL, 32, 48, 2, 4, 1, 12, 61,
                        5, false, false, false, RopeParameters.linear(10000, 2), "float32"), 19),
                // Llama: multi-head (ratio 1), default rope, odd sizes.
                Arguments.of("llama-mha-odd", TestCheckpoints.config(Family.LLAMA, 30, 45, 3, 3, 3, 10, 37,
                        null, false, false, false, RopeParameters.defaults(500000), "float32"), 23),
                // Mistral: a window longer than the cache's first allocation (ring buffer grows, then wraps).
                Arguments.of("mistral-window20", TestCheckpoints.config(Family.MISTRAL, 16, 24, 1, 2, 1, 8, 29,
                        20, true, false, false, RopeParameters.defaults(10000), "float32"), 45));
    }

    static int[] randomIds(int n, int vocab, long seed) {
        Random rnd = new Random(seed);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = rnd.nextInt(vocab);
        return ids;
    }

    static double relL2(float[] a, double[] ref) {
        double[] ad = new double[a.length];
        for (int i = 0; i < a.length; i++) ad[i] = a[i];
        return Numerics.relL2(ad, ref);
    }

    /** The directory's fingerprint read tensor by tensor (what GPU models use) is the loaded model's, biases and ties included. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void theDirectorysFingerprintIsTheLoadedModels(String name, LlamaConfig c, int T, @TempDir Path dir) throws Exception {
        Map<String, float[]> tensors = TestCheckpoints.randomTensors(c, name.hashCode());
        for (DType dtype : new DType[] {DType.F32, DType.BF16}) {
            Path d = dir.resolve(dtype.name());
            TestCheckpoints.write(d, c, tensors, dtype);
            gsat2r.core.model.ModelDirectory md = gsat2r.core.model.ModelDirectory.open(d);
            assertEquals(LlamaModel.load(md, null).fingerprint(), LlamaModel.fingerprintOf(md), name + " " + dtype);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void forwardMatchesFloat64Reference(String name, LlamaConfig c, int T, @TempDir Path dir) throws Exception {
        Map<String, float[]> tensors = TestCheckpoints.randomTensors(c, name.hashCode());
        TestCheckpoints.write(dir, c, tensors, DType.F32);
        LlamaModel model = LlamaModel.load(dir);
        assertEquals(c, model.config());
        int[] ids = randomIds(T, c.vocabSize(), 5);
        float[][] logits = model.forward(ids);
        double[][] ref = NaiveLlama.logits(c, tensors, ids);
        double e = relL2(Numerics.flatten(logits), flatten(ref));
        System.out.printf(Locale.ROOT, "%-30s forward vs f64: rel L2 %.2e (tol 1e-5)%n", name, e);
        assertTrue(e <= 1e-5, name + ": " + e);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void decodingEqualsTheForward(String name, LlamaConfig c, int T) {
        Map<String, float[]> tensors = TestCheckpoints.randomTensors(c, name.hashCode());
        LlamaModel model = new LlamaModel(c, TestCheckpoints.weights(c, tensors), DType.F32);
        int[] ids = randomIds(T, c.vocabSize(), 6);
        float[][] all = model.forward(ids);

        // One fresh prefill (batched attention fills the cache), then token by token.
        LanguageModel.Decoder dec = model.newDecoder();
        double worst = relL2(dec.prefill(java.util.Arrays.copyOf(ids, 7)), toDouble(all[6]));
        for (int t = 7; t < T; t++) worst = Math.max(worst, relL2(dec.next(ids[t]), toDouble(all[t])));
        assertEquals(T, dec.position());

        // Prefill in chunks: the second chunk attends row by row from the cache.
        LanguageModel.Decoder chunked = model.newDecoder();
        chunked.prefill(java.util.Arrays.copyOf(ids, 4));
        float[] mid = chunked.prefill(java.util.Arrays.copyOfRange(ids, 4, 13));
        worst = Math.max(worst, relL2(mid, toDouble(all[12])));
        for (int t = 13; t < T; t++) worst = Math.max(worst, relL2(chunked.next(ids[t]), toDouble(all[t])));

        // Token by token from the first token.
        LanguageModel.Decoder single = model.newDecoder();
        for (int t = 0; t < T; t++) worst = Math.max(worst, relL2(single.next(ids[t]), toDouble(all[t])));
        System.out.printf(Locale.ROOT, "%-30s decoder vs forward: max rel L2 %.2e (tol 1e-5)%n", name, worst);
        assertTrue(worst <= 1e-5, name + ": " + worst);
    }

    @Test
    void bf16CheckpointsKeepRopeFrequenciesInBf16(@TempDir Path dir) throws Exception {
        LlamaConfig c = TestCheckpoints.config(Family.LLAMA, 24, 40, 2, 6, 2, 8, 50, null, true, false, false,
                RopeParameters.llama3(10000, 4, 1, 4, 16), "bfloat16");
        Map<String, float[]> tensors = TestCheckpoints.roundToBf16(TestCheckpoints.randomTensors(c, 9));
        TestCheckpoints.write(dir, c, tensors, DType.BF16);
        assertEquals(DType.BF16, LlamaModel.load(dir).ropeFrequencyType(), "transformers' dtype=auto load");
        LlamaModel exact = LlamaModel.load(dir, DType.F32);
        assertArrayEquals(tensors.get("model.layers.1.mlp.down_proj.weight"),
                exact.weights().layers().get(1).wDown(), "bf16 widens exactly");
        int[] ids = randomIds(17, c.vocabSize(), 7);
        double e = relL2(Numerics.flatten(exact.forward(ids)), flatten(NaiveLlama.logits(c, tensors, ids)));
        assertTrue(e <= 1e-5, "bf16 weights, fp32 rope: " + e);
        double rounded = relL2(Numerics.flatten(LlamaModel.load(dir).forward(ids)), flatten(NaiveLlama.logits(c, tensors, ids)));
        assertTrue(rounded > 10 * e, "bf16 inv_freq changes the result measurably: " + rounded + " vs " + e);
    }

    /** Two layers of Mistral, hidden size 32, 4 heads of 12 with one KV head, window 5. */
    private static LlamaConfig smallMistral() {
        return TestCheckpoints.config(Family.MISTRAL, 32, 48, 2, 4, 1, 12, 61, 5, false, false, false,
                RopeParameters.defaults(10000), "float32");
    }

    /** The float64 reference of layer 1's attention output on the residual {@code h} (rows of 32). */
    private static double[][] layerOneAttention(LlamaConfig c, Map<String, float[]> tensors, float[] h) {
        double[][] hd = new double[h.length / 32][32];
        for (int t = 0; t < hd.length; t++) for (int j = 0; j < 32; j++) hd[t][j] = h[t * 32 + j];
        double[][] n = NaiveLlama.norm(hd, tensors.get("model.layers.1.input_layernorm.weight"), c.rmsNormEps());
        return NaiveLlama.attention(c, tensors, "model.layers.1.", n, NaiveLlama.invFreq(c.rope(), 12));
    }

    @Test
    void traceAndAttentionOutputExposeLayerStates() {
        LlamaConfig c = smallMistral();
        Map<String, float[]> tensors = TestCheckpoints.randomTensors(c, 3);
        LlamaModel model = new LlamaModel(c, TestCheckpoints.weights(c, tensors), DType.F32);
        int[] ids = randomIds(11, c.vocabSize(), 8);
        LlamaModel.Trace trace = model.trace(ids);
        assertArrayEquals(model.logits(ids), trace.logits());
        assertEquals(3, trace.residuals().length);
        float[] embed = tensors.get("model.embed_tokens.weight");
        for (int t = 0; t < ids.length; t++) {
            for (int j = 0; j < 32; j++) assertEquals(embed[ids[t] * 32 + j], trace.residuals()[0][t * 32 + j]);
        }
        // Layer 1's attention output against the float64 reference fed with the traced input of layer 1.
        double e = relL2(trace.attentionOutputs()[1], flatten(layerOneAttention(c, tensors, trace.residuals()[1])));
        assertTrue(e <= 1e-5, "attention output of layer 1: " + e);
        // A layer's attention on its own traced residual is the trace's, bit for bit.
        for (int l = 0; l < 2; l++) assertArrayEquals(trace.attentionOutputs()[l], model.attentionOutput(l, trace.residuals()[l]), "layer " + l);
        // On a residual the model never made (another model's hidden state): against the float64 reference.
        Random rng = new Random(6);
        float[] h = new float[ids.length * 32];
        for (int i = 0; i < h.length; i++) h[i] = (float) rng.nextGaussian();
        double foreign = relL2(model.attentionOutput(1, h), flatten(layerOneAttention(c, tensors, h)));
        assertTrue(foreign <= 1e-5, "attention output of layer 1 on a foreign residual: " + foreign);
        assertThrows(IllegalArgumentException.class, () -> model.attentionOutput(2, h));
        assertThrows(IllegalArgumentException.class, () -> model.attentionOutput(0, new float[33]));

        float[][] p = model.attentionProbabilities(ids);             // per layer, per head: a distribution over the keys seen
        int T = ids.length, H = c.numAttentionHeads();
        assertEquals(2, p.length);
        for (float[] layer : p) {
            assertEquals(H * T * T, layer.length);
            for (int row = 0; row < H * T; row++) {
                double sum = 0;
                for (int j = 0; j < T; j++) sum += layer[row * T + j];
                assertEquals(1.0, sum, 1e-5);
                int i = row % T;
                for (int j = i + 1; j < T; j++) assertEquals(0f, layer[row * T + j], "causal");
            }
        }
    }

    @Test
    void checkpointProblemsAreOneLineErrorsNamingFileAndTensor(@TempDir Path root) throws Exception {
        LlamaConfig c = TestCheckpoints.config(Family.LLAMA, 16, 24, 2, 2, 1, 8, 20, null, true, false, false,
                RopeParameters.defaults(10000), "float32");
        Map<String, float[]> good = TestCheckpoints.randomTensors(c, 1);

        Map<String, float[]> missing = new LinkedHashMap<>(good);
        missing.remove("model.layers.1.self_attn.v_proj.weight");
        Path dir = root.resolve("missing");
        TestCheckpoints.write(dir, c, missing, DType.F32);
        assertError(dir, "model.safetensors", "no tensor 'model.layers.1.self_attn.v_proj.weight'");

        dir = root.resolve("misshapen");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), TestCheckpoints.configJson(c));
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (String name : good.keySet()) shapes.put(name, TestCheckpoints.shapeOf(c, name));
        shapes.put("model.layers.0.mlp.up_proj.weight", new long[] {16, 24}); // transposed
        TestCheckpoints.writeSafetensors(dir.resolve("model.safetensors"), good, shapes, DType.F32);
        assertError(dir, "model.safetensors", "tensor 'model.layers.0.mlp.up_proj.weight' has shape [16, 24], expected [24, 16]");

        Map<String, float[]> extra = new LinkedHashMap<>(good);
        extra.put("model.layers.0.self_attn.q_proj.bias", new float[16]);
        dir = root.resolve("extra");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), TestCheckpoints.configJson(c));
        shapes = new LinkedHashMap<>();
        for (String name : good.keySet()) shapes.put(name, TestCheckpoints.shapeOf(c, name));
        shapes.put("model.layers.0.self_attn.q_proj.bias", new long[] {16});
        TestCheckpoints.writeSafetensors(dir.resolve("model.safetensors"), extra, shapes, DType.F32);
        assertError(dir, "model.safetensors", "unexpected tensor 'model.layers.0.self_attn.q_proj.bias'");

        LlamaModel model = new LlamaModel(c, TestCheckpoints.weights(c, good), DType.F32);
        String m = assertThrows(T2rException.class, () -> model.forward(new int[] {3, 20})).getMessage();
        assertTrue(m.contains("token id 20 is outside the vocabulary"), m);
        assertThrows(T2rException.class, () -> model.forward(new int[0]));
    }

    private static void assertError(Path dir, String file, String expected) {
        String m = assertThrows(T2rException.class, () -> LlamaModel.load(dir)).getMessage();
        assertTrue(m.contains(file) && m.contains(expected), m);
        assertFalse(m.contains("\n"), m);
    }

    static double[] flatten(double[][] a) {
        return java.util.Arrays.stream(a).flatMapToDouble(java.util.Arrays::stream).toArray();
    }

    static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i];
        return d;
    }
}
