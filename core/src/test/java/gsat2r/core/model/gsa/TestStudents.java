package gsat2r.core.model.gsa;

import gsat2r.core.config.GsaConfig;
import gsat2r.core.config.RopeParameters;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/** Small random students for tests: weights with std 1/sqrt(fan_in), norm weights in [0.5, 1.5], embeddings std 1. */
final class TestStudents {
    private TestStudents() {}

    static GsaConfig config(int hidden, int layers, int heads, int kvHeads, int slots, double expand, double tau,
                            int intermediate, int vocab, boolean tied, List<GsaConfig.AttentionSpec> attn) {
        return new GsaConfig(hidden, layers, heads, kvHeads, slots, tau, expand, expand, intermediate, 4, 1e-5, vocab,
                tied, List.of(1), List.of(2), 2048, attn, 0, "float32", null);
    }

    static GsaConfig.AttentionSpec attention(List<Integer> layers, int heads, int kvHeads, boolean bias, Integer window,
                                             Integer headDim, RopeParameters scaling) {
        double theta = scaling == null ? 10000.0 : scaling.theta();
        return new GsaConfig.AttentionSpec(layers, heads, kvHeads, bias, window, theta, headDim, scaling, null);
    }

    static GsaModel random(GsaConfig c, long seed) {
        GsaLayout layout = new GsaLayout(c);
        float[] p = new float[Math.toIntExact(layout.size())];
        Random rnd = new Random(seed);
        for (ParameterView v : layout.views()) {
            long[] shape = v.shape();
            boolean norm = shape.length == 1 && !v.name().endsWith(".bias");
            double std = v.kind() == ParameterView.Kind.EMBEDDINGS ? 1.0 : shape.length == 2 ? 1 / Math.sqrt(shape[1]) : 0.3;
            for (int i = v.arrayOffset(); i < v.end(); i++) {
                p[i] = norm ? (float) (0.5 + rnd.nextDouble()) : (float) (rnd.nextGaussian() * std);
            }
        }
        return new GsaModel(c, p);
    }

    /** Every tensor of the model as float64 values, by checkpoint name. */
    static Map<String, double[]> tensors(GsaModel m) {
        Map<String, double[]> t = new LinkedHashMap<>();
        for (ParameterView v : m.layout().views()) {
            double[] a = new double[v.arraySize()];
            for (int i = 0; i < a.length; i++) a[i] = m.parameters()[v.arrayOffset() + i];
            t.put(v.name(), a);
        }
        return t;
    }

    static int[] randomIds(int n, int vocab, long seed) {
        Random rnd = new Random(seed);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = rnd.nextInt(vocab);
        return ids;
    }
}
