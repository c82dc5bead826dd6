package gsat2r.finetune.toy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import gsat2r.core.T2rException;
import gsat2r.core.data.SplitMix64;
import gsat2r.core.io.AtomicFiles;
import gsat2r.core.safetensors.HeapTensor;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.SafeTensorsWriter;
import gsat2r.training.ParameterInfo;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small but real trainable language model for the trainer's tests ({@code model_type "toy-lm"}),
 * shaped like the GSA student where it matters to the trainer: token embeddings, L layers of a gated
 * recurrent "attention" with the same parameter names and roles (q/o projections, data-dependent gates
 * f_proj, an output gain g_norm), a residual stream, and an LM head. Per layer, on its input rows n_t:
 * <pre>
 * q_t = Wq n_t            z_t = Wf n_t,  f_t = σ(z_t)
 * c_t = f_t ⊙ c_{t−1} + (1 − f_t) ⊙ q_t        c_{−1} = 0        (a gated recurrence over positions)
 * u_t = g ⊙ tanh(c_t)     a_t = Wo u_t                            (a_t: the layer's "attention output")
 * h ← h + a
 * </pre>
 * {@code logits_t = H h_t}. Weights are fp32 in one contiguous buffer with named views; the forward and
 * the hand-written backward run in float64 (so finite differences check them to ~1e-6). LoRA adapters
 * on q_proj and o_proj: {@code W x + s·B(A x)}.
 */
public final class ToyModel {

    public static final String MODEL_TYPE = "toy-lm";
    static final JsonMapper JSON = JsonMapper.builder().build();

    /** A named view into a buffer: {@code [offset, offset + rows·cols)}, row-major. */
    public record View(String name, int offset, int rows, int cols) {
        int size() {
            return rows * cols;
        }

        long[] shape() {
            return rows == 1 && !name.contains("proj") && !name.endsWith("lora_A.weight") && !name.endsWith("lora_B.weight")
                    ? new long[] {cols} : new long[] {rows, cols};
        }

        ParameterInfo info() {
            return new ParameterInfo(name, shape());
        }
    }

    final int vocab, dim, layers;
    final float[] w;
    final Map<String, View> views = new LinkedHashMap<>();
    // LoRA (null without adapters)
    float[] lora;
    final Map<String, View> loraViews = new LinkedHashMap<>();
    int loraRank;
    double loraScale;

    ToyModel(int vocab, int dim, int layers) {
        this.vocab = vocab;
        this.dim = dim;
        this.layers = layers;
        int off = 0;
        off = add(views, "model.embeddings.weight", off, vocab, dim);
        for (int l = 0; l < layers; l++) {
            String p = "model.layers." + l + ".attn.";
            off = add(views, p + "q_proj.weight", off, dim, dim);
            off = add(views, p + "f_proj.weight", off, dim, dim);
            off = add(views, p + "g_norm.weight", off, 1, dim);
            off = add(views, p + "o_proj.weight", off, dim, dim);
        }
        off = add(views, "lm_head.weight", off, vocab, dim);
        this.w = new float[off];
    }

    private static int add(Map<String, View> m, String name, int off, int rows, int cols) {
        m.put(name, new View(name, off, rows, cols));
        return off + rows * cols;
    }

    static String layer(int l, String what) {
        return "model.layers." + l + ".attn." + what;
    }

    View view(String name) {
        View v = views.get(name);
        if (v == null) v = loraViews.get(name);
        if (v == null) throw new IllegalArgumentException("no parameter " + name);
        return v;
    }

    float[] bufferOf(String name) {
        return views.containsKey(name) ? w : lora;
    }

    List<ParameterInfo> parameters() {
        return views.values().stream().map(View::info).toList();
    }

    // ------------------------------------------------------------------ LoRA

    void addLora(int rank, double scale, long seed) {
        if (lora != null) throw new IllegalStateException("LoRA adapters are already present; merge them first");
        loraViews.clear();
        int off = 0;
        for (int l = 0; l < layers; l++) {
            for (String proj : List.of("q_proj", "o_proj")) {
                off = add(loraViews, layer(l, proj + ".lora_A.weight"), off, rank, dim);
                off = add(loraViews, layer(l, proj + ".lora_B.weight"), off, dim, rank);
            }
        }
        lora = new float[off];
        SplitMix64 rng = new SplitMix64(seed);
        double std = 1.0 / Math.sqrt(dim);
        for (View v : loraViews.values()) {
            if (v.name().endsWith("lora_A.weight")) for (int i = 0; i < v.size(); i++) lora[v.offset() + i] = (float) (std * rng.nextGaussian());
        }
        loraRank = rank;
        loraScale = scale;
    }

    void mergeLora() {
        if (lora == null) return;
        for (int l = 0; l < layers; l++) {
            for (String proj : List.of("q_proj", "o_proj")) {
                View W = views.get(layer(l, proj + ".weight"));
                View A = loraViews.get(layer(l, proj + ".lora_A.weight")), B = loraViews.get(layer(l, proj + ".lora_B.weight"));
                for (int i = 0; i < dim; i++) {
                    for (int j = 0; j < dim; j++) {
                        double s = 0;
                        for (int r = 0; r < loraRank; r++) s += (double) lora[B.offset() + i * loraRank + r] * lora[A.offset() + r * dim + j];
                        w[W.offset() + i * dim + j] = (float) (w[W.offset() + i * dim + j] + loraScale * s);
                    }
                }
            }
        }
        lora = null;
        loraViews.clear();
    }

    // ------------------------------------------------------------------ forward and backward of one layer

    /** What one layer keeps for its backward, for T positions. */
    static final class LayerCache {
        double[][] n, q, f, c, u, a, rq, ru;
    }

    /** y = W x (+ s·B(A x) with the adapter pair of {@code proj}); {@code r} receives A x. */
    private double[] project(String weight, int l, String proj, double[] x, double[][] rOut, int t) {
        View W = views.get(weight);
        double[] y = new double[dim];
        for (int i = 0; i < dim; i++) {
            double s = 0;
            for (int j = 0; j < dim; j++) s += w[W.offset() + i * dim + j] * x[j];
            y[i] = s;
        }
        if (lora != null && proj != null) {
            View A = loraViews.get(layer(l, proj + ".lora_A.weight")), B = loraViews.get(layer(l, proj + ".lora_B.weight"));
            double[] r = new double[loraRank];
            for (int k = 0; k < loraRank; k++) {
                double s = 0;
                for (int j = 0; j < dim; j++) s += lora[A.offset() + k * dim + j] * x[j];
                r[k] = s;
            }
            for (int i = 0; i < dim; i++) {
                double s = 0;
                for (int k = 0; k < loraRank; k++) s += lora[B.offset() + i * loraRank + k] * r[k];
                y[i] += loraScale * s;
            }
            rOut[t] = r;
        }
        return y;
    }

    LayerCache layerForward(int l, double[][] n) {
        int T = n.length;
        LayerCache c = new LayerCache();
        c.n = n;
        c.q = new double[T][];
        c.f = new double[T][dim];
        c.c = new double[T][dim];
        c.u = new double[T][dim];
        c.a = new double[T][];
        c.rq = new double[T][];
        c.ru = new double[T][];
        View F = views.get(layer(l, "f_proj.weight"));
        View G = views.get(layer(l, "g_norm.weight"));
        double[] prev = new double[dim];
        for (int t = 0; t < T; t++) {
            c.q[t] = project(layer(l, "q_proj.weight"), l, "q_proj", n[t], c.rq, t);
            for (int i = 0; i < dim; i++) {
                double z = 0;
                for (int j = 0; j < dim; j++) z += w[F.offset() + i * dim + j] * n[t][j];
                double f = 1.0 / (1.0 + StrictMath.exp(-z));
                c.f[t][i] = f;
                c.c[t][i] = f * prev[i] + (1 - f) * c.q[t][i];
                c.u[t][i] = w[G.offset() + i] * StrictMath.tanh(c.c[t][i]);
            }
            prev = c.c[t];
            c.a[t] = project(layer(l, "o_proj.weight"), l, "o_proj", c.u[t], c.ru, t);
        }
        return c;
    }

    /** dy = W x (+ LoRA) backward: accumulates dW (and adapter grads), returns dx. */
    private double[] projectBackward(String weight, int l, String proj, double[] x, double[] r, double[] dy,
                                     double[] gw, double[] gl) {
        View W = views.get(weight);
        double[] dx = new double[dim];
        for (int i = 0; i < dim; i++) {
            double d = dy[i];
            for (int j = 0; j < dim; j++) {
                gw[W.offset() + i * dim + j] += d * x[j];
                dx[j] += w[W.offset() + i * dim + j] * d;
            }
        }
        if (lora != null && proj != null) {
            View A = loraViews.get(layer(l, proj + ".lora_A.weight")), B = loraViews.get(layer(l, proj + ".lora_B.weight"));
            double[] dr = new double[loraRank];
            for (int i = 0; i < dim; i++) {
                for (int k = 0; k < loraRank; k++) {
                    gl[B.offset() + i * loraRank + k] += loraScale * dy[i] * r[k];
                    dr[k] += loraScale * lora[B.offset() + i * loraRank + k] * dy[i];
                }
            }
            for (int k = 0; k < loraRank; k++) {
                for (int j = 0; j < dim; j++) {
                    gl[A.offset() + k * dim + j] += dr[k] * x[j];
                    dx[j] += lora[A.offset() + k * dim + j] * dr[k];
                }
            }
        }
        return dx;
    }

    /** Backward of one layer from da (the gradient of its output a); accumulates into gw / gl, returns dn. */
    double[][] layerBackward(int l, LayerCache c, double[][] da, double[] gw, double[] gl) {
        int T = da.length;
        View F = views.get(layer(l, "f_proj.weight"));
        View G = views.get(layer(l, "g_norm.weight"));
        double[][] dcLocal = new double[T][dim];
        for (int t = 0; t < T; t++) {
            double[] du = projectBackward(layer(l, "o_proj.weight"), l, "o_proj", c.u[t], c.ru[t], da[t], gw, gl);
            for (int i = 0; i < dim; i++) {
                double th = StrictMath.tanh(c.c[t][i]);
                gw[G.offset() + i] += du[i] * th;
                dcLocal[t][i] = du[i] * w[G.offset() + i] * (1 - th * th);
            }
        }
        double[][] dn = new double[T][];
        double[] carry = new double[dim];
        for (int t = T - 1; t >= 0; t--) {
            double[] dq = new double[dim], dz = new double[dim];
            for (int i = 0; i < dim; i++) {
                double dc = dcLocal[t][i] + carry[i];
                double f = c.f[t][i];
                double prev = t > 0 ? c.c[t - 1][i] : 0;
                double df = dc * (prev - c.q[t][i]);
                dq[i] = dc * (1 - f);
                carry[i] = dc * f;
                dz[i] = df * f * (1 - f);
            }
            double[] d = projectBackward(layer(l, "q_proj.weight"), l, "q_proj", c.n[t], c.rq[t], dq, gw, gl);
            for (int i = 0; i < dim; i++) {
                for (int j = 0; j < dim; j++) {
                    gw[F.offset() + i * dim + j] += dz[i] * c.n[t][j];
                    d[j] += w[F.offset() + i * dim + j] * dz[i];
                }
            }
            dn[t] = d;
        }
        return dn;
    }

    // ------------------------------------------------------------------ the whole model

    /** The forward of one sequence: residuals h[l] (entering layer l; h[L] leaving the last), layer caches, logits. */
    static final class Trace {
        double[][][] h;
        LayerCache[] layer;
        double[][] logits;
    }

    Trace forward(int[] ids) {
        int T = ids.length;
        Trace tr = new Trace();
        tr.h = new double[layers + 1][T][dim];
        tr.layer = new LayerCache[layers];
        View E = views.get("model.embeddings.weight");
        for (int t = 0; t < T; t++) for (int j = 0; j < dim; j++) tr.h[0][t][j] = w[E.offset() + ids[t] * dim + j];
        for (int l = 0; l < layers; l++) {
            tr.layer[l] = layerForward(l, tr.h[l]);
            for (int t = 0; t < T; t++) for (int j = 0; j < dim; j++) tr.h[l + 1][t][j] = tr.h[l][t][j] + tr.layer[l].a[t][j];
        }
        View H = views.get("lm_head.weight");
        tr.logits = new double[T][vocab];
        for (int t = 0; t < T; t++) {
            for (int v = 0; v < vocab; v++) {
                double s = 0;
                for (int j = 0; j < dim; j++) s += w[H.offset() + v * dim + j] * tr.h[layers][t][j];
                tr.logits[t][v] = s;
            }
        }
        return tr;
    }

    void backward(int[] ids, Trace tr, double[][] dlogits, double[] gw, double[] gl) {
        int T = ids.length;
        View H = views.get("lm_head.weight");
        double[][] dh = new double[T][dim];
        for (int t = 0; t < T; t++) {
            for (int v = 0; v < vocab; v++) {
                double d = dlogits[t][v];
                if (d == 0) continue;
                for (int j = 0; j < dim; j++) {
                    gw[H.offset() + v * dim + j] += d * tr.h[layers][t][j];
                    dh[t][j] += w[H.offset() + v * dim + j] * d;
                }
            }
        }
        for (int l = layers - 1; l >= 0; l--) {
            double[][] dn = layerBackward(l, tr.layer[l], dh, gw, gl);
            for (int t = 0; t < T; t++) for (int j = 0; j < dim; j++) dh[t][j] += dn[t][j];
        }
        View E = views.get("model.embeddings.weight");
        for (int t = 0; t < T; t++) for (int j = 0; j < dim; j++) gw[E.offset() + ids[t] * dim + j] += dh[t][j];
    }

    // ------------------------------------------------------------------ files

    static ToyModel load(Path dir) {
        JsonNode c;
        try {
            c = JSON.readTree(dir.resolve("config.json").toFile());
        } catch (IOException e) {
            throw new T2rException(dir.resolve("config.json") + ": cannot read", e);
        }
        if (!MODEL_TYPE.equals(c.path("model_type").asText())) throw new T2rException(dir + ": not a " + MODEL_TYPE + " model");
        ToyModel m = new ToyModel(c.path("vocab_size").asInt(), c.path("hidden_size").asInt(), c.path("num_hidden_layers").asInt());
        try (SafeTensors st = SafeTensors.open(dir.resolve("model.safetensors"))) {
            for (View v : m.views.values()) {
                st.expect(v.name(), v.shape());
                System.arraycopy(st.floats(v.name()), 0, m.w, v.offset(), v.size());
            }
        }
        return m;
    }

    void save(Path dir) {
        AtomicFiles.writeString(dir.resolve("config.json"), JSON.createObjectNode().put("model_type", MODEL_TYPE)
                .put("vocab_size", vocab).put("hidden_size", dim).put("num_hidden_layers", layers).toString() + "\n");
        Map<String, HeapTensor> tensors = new LinkedHashMap<>();
        for (View v : views.values()) {
            float[] values = new float[v.size()];
            System.arraycopy(w, v.offset(), values, 0, v.size());
            tensors.put(v.name(), HeapTensor.f32(values, v.shape()));
        }
        SafeTensorsWriter.write(dir.resolve("model.safetensors"), tensors);
    }

    /** Fills the view with N(0, std²) draws. */
    void fill(String name, double std, SplitMix64 rng) {
        View v = view(name);
        for (int i = 0; i < v.size(); i++) w[v.offset() + i] = (float) (std * rng.nextGaussian());
    }

    void fillConstant(String name, float value) {
        View v = view(name);
        java.util.Arrays.fill(w, v.offset(), v.offset() + v.size(), value);
    }

    List<String> names() {
        return new ArrayList<>(views.keySet());
    }
}
