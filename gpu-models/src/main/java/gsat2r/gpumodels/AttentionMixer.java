package gsat2r.gpumodels;

import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.cpu.Rope;
import gsat2r.core.model.gsa.GsaLayout;
import gsat2r.core.model.gsa.ParameterGroup;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.core.model.gsa.ParameterView.Kind;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.ops.Attention;
import gsat2r.gpu.ops.Matmul;

import java.util.List;

/**
 * The softmax-attention layer of a hybrid student on the GPU, the counterpart of
 * {@code gsat2r.core.model.gsa.AttentionMixer} (fla's {@code Attention}): q, k, v projections, RoPE on
 * q and k (fp32 inv_freq from the spec), causal flash attention with scale {@code head_dim^-0.5} over the
 * spec's window, GQA, then o_proj. Its weights train like any other (set {@code all}).
 */
final class AttentionMixer implements Mixer {
    private final StudentParams params;
    private final int d, heads, kvHeads, headDim, window;
    private final float scale;
    private final DeviceRope rope;
    private final ParameterView wq, wk, wv, wo;

    AttentionMixer(StudentParams params, GsaLayout layout, int layer, java.nio.file.Path where) {
        GsaConfig c = layout.config();
        GsaConfig.AttentionSpec s = c.attentionAt(layer);
        this.params = params;
        this.d = c.hiddenSize();
        this.heads = s.numHeads();
        this.kvHeads = s.numKvHeads();
        this.headDim = s.headDim(d);
        this.window = s.window();
        if (s.qkvBias()) {
            throw new T2rException(where + ": layer " + layer + " is softmax attention with qkv_bias; the CUDA backend has no "
                    + "bias kernels yet: use device cpu");
        }
        if (headDim != 64 && headDim != 128) {
            throw new T2rException(where + ": layer " + layer + " is softmax attention with head_dim " + headDim
                    + "; the CUDA attention kernels take 64 and 128: use device cpu");
        }
        this.scale = gsat2r.core.cpu.Attention.defaultScale(headDim);
        this.rope = new DeviceRope(params.gpu(), Rope.inverseFrequencies(s.rope(), headDim));
        this.wq = layout.get(Kind.Q_PROJ, layer);
        this.wk = layout.get(Kind.K_PROJ, layer);
        this.wv = layout.get(Kind.V_PROJ, layer);
        this.wo = layout.get(Kind.O_PROJ, layer);
    }

    @Override
    public List<ParameterView> views() {
        return List.of(wq, wk, wv, wo);
    }

    /** q, k after RoPE, v, the attention output before o_proj and its log-sum-exp. */
    static final class Pass implements Mixer.Pass {
        final Buffers buffers;
        final Attention.Shape shape;
        final DeviceBuffer x, q, k, v, att, lse, out, positions;

        Pass(Buffers buffers, Attention.Shape shape, DeviceBuffer x, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer att,
             DeviceBuffer lse, DeviceBuffer out, DeviceBuffer positions) {
            this.buffers = buffers;
            this.shape = shape;
            this.x = x;
            this.q = q;
            this.k = k;
            this.v = v;
            this.att = att;
            this.lse = lse;
            this.out = out;
            this.positions = positions;
        }

        @Override
        public DeviceBuffer out() {
            return out;
        }

        @Override
        public void close() {
            buffers.close();
        }
    }

    @Override
    public Pass forward(DeviceBuffer x, DeviceBatch b, boolean forBackward) {
        Gpu gpu = params.gpu();
        int n = b.tokens, qw = heads * headDim, kw = kvHeads * headDim;
        rope.ensure(b.seqLen);
        Attention.Shape shape = new Attention.Shape(b.batch, b.seqLen, heads, kvHeads, headDim, window, scale);
        Buffers s = params.buffers();
        try {
            DeviceBuffer q = s.t((long) n * qw), k = s.t((long) n * kw), v = s.t((long) n * kw);
            Matmul.linearForward(gpu, q, x, params.w(wq), n, d, qw);
            Matmul.linearForward(gpu, k, x, params.w(wk), n, d, kw);
            Matmul.linearForward(gpu, v, x, params.w(wv), n, d, kw);
            gsat2r.gpu.ops.Rope.forward(gpu, q, q, rope.cos(), rope.sin(), b.positions, n, heads, headDim, qw, rope.positions());
            gsat2r.gpu.ops.Rope.forward(gpu, k, k, rope.cos(), rope.sin(), b.positions, n, kvHeads, headDim, kw, rope.positions());
            DeviceBuffer att = s.t((long) n * qw), lse = forBackward ? s.f32((long) n * heads) : null, out = s.t((long) n * d);
            Attention.forward(gpu, shape, att, lse, q, k, v);
            Matmul.linearForward(gpu, out, att, params.w(wo), n, qw, d);
            return new Pass(s, shape, x, q, k, v, att, lse, out, b.positions);
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
    }

    @Override
    public void backward(Mixer.Pass mixerPass, DeviceBuffer dOut, DeviceBuffer dx, ParameterGroup trainable) {
        Pass f = (Pass) mixerPass;
        Gpu gpu = params.gpu();
        int n = f.shape.batch() * f.shape.seqLen(), qw = heads * headDim, kw = kvHeads * headDim;
        if (trainable.contains(wo)) Matmul.linearBackwardWeight(gpu, params.g(wo), dOut, f.att, n, qw, d, true);
        boolean below = dx != null || trainable.contains(wq) || trainable.contains(wk) || trainable.contains(wv);
        if (!below) return;
        try (Buffers s = params.buffers()) {
            DeviceBuffer dAtt = s.t((long) n * qw), dq = s.t((long) n * qw), dk = s.t((long) n * kw), dv = s.t((long) n * kw);
            Matmul.linearBackwardInput(gpu, dAtt, dOut, params.w(wo), n, qw, d, false);
            Attention.backward(gpu, f.shape, dq, dk, dv, dAtt, f.q, f.k, f.v, f.att, f.lse);
            gsat2r.gpu.ops.Rope.backward(gpu, dq, dq, rope.cos(), rope.sin(), f.positions, n, heads, headDim, qw, rope.positions());
            gsat2r.gpu.ops.Rope.backward(gpu, dk, dk, rope.cos(), rope.sin(), f.positions, n, kvHeads, headDim, kw, rope.positions());
            project(wq, dq, f.x, dx, n, qw, false, trainable);
            project(wk, dk, f.x, dx, n, kw, true, trainable);
            project(wv, dv, f.x, dx, n, kw, true, trainable);
        }
    }

    /** A KV ring for decoding one sequence through this layer. */
    KvRing newCache(int initialCapacity) {
        return new KvRing(params.gpu(), params.type(), kvHeads * headDim, window, initialCapacity);
    }

    /** Decoding one sequence: T new normed tokens {@code x [T, d]} at positions {@code pos0 ..}; returns the output {@code [T, d]} (in {@code s}). */
    DeviceBuffer decode(Buffers s, DeviceBuffer x, int T, int pos0, KvRing cache) {
        Gpu gpu = params.gpu();
        int qw = heads * headDim, kw = kvHeads * headDim;
        rope.ensure(pos0 + T);
        int[] pos = new int[T];
        for (int i = 0; i < T; i++) pos[i] = pos0 + i;
        DeviceBuffer positions = s.own(gpu.upload(pos));
        DeviceBuffer q = s.t((long) T * qw), k = s.t((long) T * kw), v = s.t((long) T * kw), att = s.t((long) T * qw), out = s.t((long) T * d);
        Matmul.linearForward(gpu, q, x, params.w(wq), T, d, qw);
        Matmul.linearForward(gpu, k, x, params.w(wk), T, d, kw);
        Matmul.linearForward(gpu, v, x, params.w(wv), T, d, kw);
        gsat2r.gpu.ops.Rope.forward(gpu, q, q, rope.cos(), rope.sin(), positions, T, heads, headDim, qw, rope.positions());
        gsat2r.gpu.ops.Rope.forward(gpu, k, k, rope.cos(), rope.sin(), positions, T, kvHeads, headDim, kw, rope.positions());
        cache.attend(heads, kvHeads, headDim, scale, q, k, v, att, T, pos0);
        Matmul.linearForward(gpu, out, att, params.w(wo), T, qw, d);
        return out;
    }

    private void project(ParameterView w, DeviceBuffer dy, DeviceBuffer x, DeviceBuffer dx, int n, int out, boolean accumulate,
                         ParameterGroup trainable) {
        Gpu gpu = params.gpu();
        if (trainable.contains(w)) Matmul.linearBackwardWeight(gpu, params.g(w), dy, x, n, d, out, true);
        if (dx != null) Matmul.linearBackwardInput(gpu, dx, dy, params.w(w), n, d, out, accumulate);
    }

    void close() {
        rope.close();
    }
}
