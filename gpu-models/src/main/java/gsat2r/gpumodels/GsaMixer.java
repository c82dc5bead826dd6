package gsat2r.gpumodels;

import gsat2r.core.config.GsaConfig;
import gsat2r.core.gsa.GsaState;
import gsat2r.core.model.DecoderState;
import gsat2r.core.model.gsa.GsaLayerWeights;
import gsat2r.core.model.gsa.GsaLayout;
import gsat2r.core.model.gsa.ParameterGroup;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.ops.Gsa;
import gsat2r.gpu.ops.GsaGates;
import gsat2r.gpu.ops.Matmul;
import gsat2r.gpu.ops.ShortConv;
import gsat2r.gpu.ops.Silu;

/**
 * The Gated Slot Attention layer on the GPU, the counterpart of {@code gsat2r.core.model.gsa.GsaMixer}
 * (fla's {@code GatedSlotAttention}, swish feature map), on normed inputs {@code x [N, d]}:
 * <pre>
 *   q = silu(x Wqᵀ)  k = silu(x Wkᵀ)  v = silu(x Wvᵀ)      g = logsigmoid(x Wfᵀ)/τ,  s = 1 − exp(g)
 *   o = GSA(q, k, v, s, g)          (Gsa: chunked forward/backward, scale 1)
 *   out = (RMSNorm_1e-5(silu(o)) ⊙ g_norm) Woᵀ
 * </pre>
 * With short convolutions (fla's {@code use_short_conv}) each projection goes through {@link ShortConv} and its
 * SiLU before the feature map: {@code q = silu(silu(conv_q(x Wqᵀ)))}, and so for k and v. Decoding such a student
 * carries the convolutions' last K − 1 projections in its state ({@link #newConvRows}), as the CPU decoder does.
 * Forward and backward side by side; the backward is the chain rule through the same steps.
 */
final class GsaMixer extends GsaLayerWeights implements Mixer {
    private final StudentParams params;

    GsaMixer(StudentParams params, GsaLayout layout, int layer) {
        super(layout, layer);
        this.params = params;
    }

    /**
     * The projections before their activations, their convolutions (null without short convolutions), the
     * operator's inputs, output and saved state, the gate's output.
     */
    static final class Pass implements Mixer.Pass {
        final Buffers buffers;
        final int batch, seqLen;
        final DeviceBuffer x, qPre, kPre, vPre, qConv, kConv, vConv, fPre, q, k, v, g, s, o, rstd, y, out;
        final Gsa.Saved saved;

        Pass(Buffers buffers, int batch, int seqLen, DeviceBuffer x, DeviceBuffer[] pre, DeviceBuffer[] conv,
             DeviceBuffer fPre, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer g, DeviceBuffer s, DeviceBuffer o,
             Gsa.Saved saved, DeviceBuffer rstd, DeviceBuffer y, DeviceBuffer out) {
            this.buffers = buffers;
            this.batch = batch;
            this.seqLen = seqLen;
            this.x = x;
            this.qPre = pre[0];
            this.kPre = pre[1];
            this.vPre = pre[2];
            this.qConv = conv[0];
            this.kConv = conv[1];
            this.vConv = conv[2];
            this.fPre = fPre;
            this.q = q;
            this.k = k;
            this.v = v;
            this.g = g;
            this.s = s;
            this.o = o;
            this.saved = saved;
            this.rstd = rstd;
            this.y = y;
            this.out = out;
        }

        @Override
        public DeviceBuffer out() {
            return out;
        }

        @Override
        public void close() {
            if (saved != null) saved.close();
            buffers.close();
        }
    }

    @Override
    public Pass forward(DeviceBuffer x, DeviceBatch b, boolean forBackward) {
        Gpu gpu = params.gpu();
        int n = b.tokens, qw = heads * dk, kw = kvHeads * dk, vw = kvHeads * dv, fw = kvHeads * slots, ow = heads * dv;
        Buffers s = params.buffers();
        try {
            DeviceBuffer qPre = s.t((long) n * qw), kPre = s.t((long) n * kw), vPre = s.t((long) n * vw), fPre = s.t((long) n * fw);
            linear(s, qPre, x, wq, n, d, qw);
            linear(s, kPre, x, wk, n, d, kw);
            linear(s, vPre, x, wv, n, d, vw);
            linear(s, fPre, x, wf, n, d, fw);
            DeviceBuffer[] pre = {qPre, kPre, vPre};
            DeviceBuffer[] conv = {convolve(s, cq, qPre, b, qw), convolve(s, ck, kPre, b, kw), convolve(s, cv, vPre, b, vw)};
            DeviceBuffer q = s.t((long) n * qw), k = s.t((long) n * kw), v = s.t((long) n * vw);
            features(q, conv[0], (long) n * qw);
            features(k, conv[1], (long) n * kw);
            features(v, conv[2], (long) n * vw);
            DeviceBuffer gg = s.t((long) n * fw), ss = s.t((long) n * fw);
            GsaGates.forward(gpu, gg, ss, fPre, (long) n * fw, tau);
            DeviceBuffer o = s.t((long) n * ow);
            Gsa.Saved saved = Gsa.forward(gpu, shape(b.batch, b.seqLen), 1f, new Gsa.Inputs(q, k, v, ss, gg), o, null, null, forBackward);
            DeviceBuffer rstd = s.f32(n), y = s.t((long) n * ow), out = s.t((long) n * d);
            GsaGates.outputGateForward(gpu, y, rstd, o, params.w(gNorm), n, ow, GsaConfig.G_NORM_EPS);
            linear(s, out, y, wo, n, ow, d);
            return new Pass(s, b.batch, b.seqLen, x, pre, conv, fPre, q, k, v, gg, ss, o, saved, rstd, y, out);
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
    }

    @Override
    public void backward(Mixer.Pass mixerPass, DeviceBuffer dOut, DeviceBuffer dx, ParameterGroup trainable) {
        Pass f = (Pass) mixerPass;
        Gpu gpu = params.gpu();
        int n = f.batch * f.seqLen, qw = heads * dk, kw = kvHeads * dk, vw = kvHeads * dv, fw = kvHeads * slots, ow = heads * dv;
        try (Buffers s = params.buffers()) {
            // out = y Woᵀ (+ the adapter's path)
            if (trainable.contains(wo)) Matmul.linearBackwardWeight(gpu, params.g(wo), dOut, f.y, n, ow, d, true);
            boolean projections = dx != null || trainable.contains(wq) || trainable.contains(wk) || trainable.contains(wv)
                    || trainable.contains(wf) || adapted(wq) || adapted(wk) || adapted(wv)
                    || (taps > 0 && (trainable.contains(cq) || trainable.contains(ck) || trainable.contains(cv)));
            LoraGpu.Adapter outAdapter = params.adapter(wo);
            boolean below = projections || trainable.contains(gNorm);
            if (outAdapter != null) outAdapter.backward(gpu, s, dOut, f.y, null, n);
            if (!below) return;
            DeviceBuffer dO = s.t((long) n * ow);
            Matmul.linearBackwardInput(gpu, dO, dOut, params.w(wo), n, ow, d, false);
            if (outAdapter != null) backwardInputOfAdapter(s, outAdapter, dOut, dO, n);
            // y = RMSNorm(silu(o)) ⊙ g_norm: dO overwrites dy in place
            GsaGates.outputGateBackwardDeterministic(gpu, dO, trainable.contains(gNorm) ? params.g(gNorm) : null, dO, f.o,
                    params.w(gNorm), f.rstd, n, ow, false);
            if (!projections) return;
            // The operator, then its inputs' activations (in place).
            DeviceBuffer dq = s.t((long) n * qw), dk = s.t((long) n * kw), dv = s.t((long) n * vw);
            DeviceBuffer ds = s.t((long) n * fw), dg = s.t((long) n * fw);
            Gsa.backward(gpu, f.saved, new Gsa.Inputs(f.q, f.k, f.v, f.s, f.g), dO, null, new Gsa.Gradients(dq, dk, dv, ds, dg), null);
            dq = featuresBackward(s, dq, f.qPre, f.qConv, cq, f, qw, trainable);
            dk = featuresBackward(s, dk, f.kPre, f.kConv, ck, f, kw, trainable);
            dv = featuresBackward(s, dv, f.vPre, f.vConv, cv, f, vw, trainable);
            GsaGates.backward(gpu, dg, dg, ds, f.fPre, (long) n * fw, tau, false);   // df, in dg's place
            project(wq, dq, f.x, dx, n, qw, false, trainable);
            project(wk, dk, f.x, dx, n, kw, true, trainable);
            project(wv, dv, f.x, dx, n, vw, true, trainable);
            project(wf, dg, f.x, dx, n, fw, true, trainable);
        }
    }

    /** A zero recurrent state (fp32 Hk, Hv per kv head) for one sequence. */
    Gsa.State newState() {
        Gpu gpu = params.gpu();
        DeviceBuffer hk = gpu.f32((long) kvHeads * dk * slots), hv = gpu.f32((long) kvHeads * slots * dv);
        hk.zero();
        hv.zero();
        return new Gsa.State(hk, hv);
    }

    /**
     * Decoding one sequence: T new normed tokens {@code x [T, d]} continue from {@code state[0]}; one token
     * runs the recurrent step in place, more the chunked form into {@code state[1]}, after which the two are
     * swapped. Returns the layer output {@code [T, d]} (in {@code s}).
     */
    DeviceBuffer decode(Buffers s, DeviceBuffer x, int T, Gsa.State[] state, DeviceBuffer[] convRows) {
        if (taps > 1 && convRows == null) throw new IllegalArgumentException("a student with short convolutions decodes with their rows");
        Gpu gpu = params.gpu();
        int qw = heads * dk, kw = kvHeads * dk, vw = kvHeads * dv, fw = kvHeads * slots, ow = heads * dv;
        DeviceBuffer q = s.t((long) T * qw), k = s.t((long) T * kw), v = s.t((long) T * vw), f = s.t((long) T * fw);
        Matmul.linearForward(gpu, q, x, params.w(wq), T, d, qw);
        Matmul.linearForward(gpu, k, x, params.w(wk), T, d, kw);
        Matmul.linearForward(gpu, v, x, params.w(wv), T, d, vw);
        Matmul.linearForward(gpu, f, x, params.w(wf), T, d, fw);
        q = convolveRows(s, cq, q, T, qw, convRows, 0);
        k = convolveRows(s, ck, k, T, kw, convRows, 1);
        v = convolveRows(s, cv, v, T, vw, convRows, 2);
        features(q, q, (long) T * qw);
        features(k, k, (long) T * kw);
        features(v, v, (long) T * vw);
        DeviceBuffer gg = s.t((long) T * fw), ss = s.t((long) T * fw), o = s.t((long) T * ow);
        GsaGates.forward(gpu, gg, ss, f, (long) T * fw, tau);
        Gsa.Inputs in = new Gsa.Inputs(q, k, v, ss, gg);
        if (T == 1) {
            Gsa.step(gpu, shape(1, 1), 1f, in, o, state[0]);
        } else {
            Gsa.forward(gpu, shape(1, T), 1f, in, o, state[0], state[1], false);
            Gsa.State t = state[0];
            state[0] = state[1];
            state[1] = t;
        }
        DeviceBuffer y = s.t((long) T * ow), out = s.t((long) T * d);
        GsaGates.outputGateForward(gpu, y, null, o, params.w(gNorm), T, ow, GsaConfig.G_NORM_EPS);
        Matmul.linearForward(gpu, out, y, params.w(wo), T, ow, d);
        return out;
    }

    /** The short convolution of a projection {@code [N, width]} (in {@code s}), or the projection itself without one. */
    private DeviceBuffer convolve(Buffers s, ParameterView w, DeviceBuffer pre, DeviceBatch b, int width) {
        if (w == null) return pre;
        DeviceBuffer y = s.t((long) b.tokens * width);
        ShortConv.forward(params.gpu(), y, pre, params.w(w), b.batch, b.seqLen, width, taps);
        return y;
    }

    /**
     * The short convolution of {@code T} new projections {@code [T, width]} of one sequence after the last K − 1 ones
     * ({@code rows[which]}, updated to end with these), or the projections themselves without a convolution: the
     * rows and the new projections side by side go through the forward kernel, whose first K − 1 outputs are dropped,
     * so each output sums the same products in the same order as the whole sequence's forward pass.
     */
    private DeviceBuffer convolveRows(Buffers s, ParameterView w, DeviceBuffer pre, int T, int width, DeviceBuffer[] rows, int which) {
        if (w == null) return pre;
        Gpu gpu = params.gpu();
        int history = taps - 1;
        long h = (long) history * width, n = (long) T * width;
        if (history == 0) {
            DeviceBuffer y = s.t(n);
            ShortConv.forward(gpu, y, pre, params.w(w), 1, T, width, taps);
            return y;
        }
        DeviceBuffer ext = s.t(h + n), out = s.t(h + n);
        ext.view(0, h).copyFrom(rows[which]);
        ext.view(h, n).copyFrom(pre);
        ShortConv.forward(gpu, out, ext, params.w(w), 1, history + T, width, taps);
        rows[which].copyFrom(ext.view(n, h));
        return out.view(h, n);
    }

    /**
     * A sequence's zero convolution rows for decoding, in one buffer of the compute type: the last K − 1 projections of
     * q ({@code [K − 1, q width]}), then k's, then v's ({@link #convParts}); zeros are what the forward pass reads before
     * a sequence. Null without short convolutions of more than one tap.
     */
    DeviceBuffer newConvRows() {
        if (taps <= 1) return null;
        DeviceBuffer rows = params.gpu().allocate(params.type(), convValues());
        rows.zero();
        return rows;
    }

    /** The q, k and v parts of {@link #newConvRows}'s buffer (views), or null for null. */
    DeviceBuffer[] convParts(DeviceBuffer rows) {
        if (rows == null) return null;
        int[] widths = convWidths();
        DeviceBuffer[] parts = new DeviceBuffer[3];
        for (int i = 0, at = 0; i < 3; at += (taps - 1) * widths[i], i++) parts[i] = rows.view(at, (long) (taps - 1) * widths[i]);
        return parts;
    }

    /**
     * The host form of a sequence's state in this layer ({@link DecoderState.Recurrent}: the convolution rows
     * interleaved as the CPU decoder keeps them, row by row q | k | v, oldest first).
     */
    DecoderState.Recurrent save(int layer, Gsa.State state, DeviceBuffer[] rows) {
        GsaState host = new GsaState(1, kvHeads, dk, slots, dv, state.hk().toFloatArray(), state.hv().toFloatArray());
        if (rows == null) return new DecoderState.Recurrent(layer, host);
        int[] widths = convWidths();
        int width = widths[0] + widths[1] + widths[2];
        float[] interleaved = new float[(taps - 1) * width];
        for (int i = 0, from = 0; i < 3; from += widths[i], i++) {
            float[] r = rows[i].toFloatArray();
            for (int t = 0; t < taps - 1; t++) System.arraycopy(r, t * widths[i], interleaved, t * width + from, widths[i]);
        }
        return new DecoderState.Recurrent(layer, host, interleaved);
    }

    /** What keeps {@code saved} from this layer's state, or null when it fits. */
    String problem(DecoderState.Recurrent saved) {
        GsaState s = saved.state();
        if (s.kvHeads() != kvHeads || s.keyDim() != dk || s.slots() != slots || s.valueDim() != dv) {
            return "the state is " + s + ", this layer has " + kvHeads + " kv heads, K=" + dk + " M=" + slots + " V=" + dv;
        }
        long rows = convValues();
        return saved.convRows().length == rows ? null
                : "the state holds " + saved.convRows().length + " convolution values, this layer keeps " + rows;
    }

    /** Puts {@code saved} (checked by {@link #problem}) into a sequence's state. */
    void restore(DecoderState.Recurrent saved, Gsa.State state, DeviceBuffer[] rows) {
        state.hk().copyFrom(saved.state().hk());
        state.hv().copyFrom(saved.state().hv());
        if (rows == null) return;
        int[] widths = convWidths();
        int width = widths[0] + widths[1] + widths[2];
        for (int i = 0, from = 0; i < 3; from += widths[i], i++) {
            float[] r = new float[(taps - 1) * widths[i]];
            for (int t = 0; t < taps - 1; t++) System.arraycopy(saved.convRows(), t * width + from, r, t * widths[i], widths[i]);
            rows[i].copyFrom(r);
        }
    }

    /** How many values a sequence's convolution rows hold: the last K − 1 projections of q, k and v (0 without). */
    private long convValues() {
        return taps <= 1 ? 0 : (long) (taps - 1) * java.util.Arrays.stream(convWidths()).sum();
    }

    /** The widths of the convolved projections: q, k, v. */
    private int[] convWidths() {
        return new int[] {heads * dk, kvHeads * dk, kvHeads * dv};
    }

    /** The feature map: silu, after the convolution's own silu when there is one. */
    private void features(DeviceBuffer out, DeviceBuffer conv, long n) {
        Silu.forward(params.gpu(), out, conv, n);
        if (taps > 0) Silu.forward(params.gpu(), out, out, n);
    }

    /**
     * The backward of {@link #features} and {@link #convolve}: from the gradient of the features {@code d}
     * (overwritten) to the gradient of the projection (returned; {@code d} itself without convolutions).
     */
    private DeviceBuffer featuresBackward(Buffers s, DeviceBuffer d, DeviceBuffer pre, DeviceBuffer conv, ParameterView w, Pass f,
                                         int width, ParameterGroup trainable) {
        Gpu gpu = params.gpu();
        long n = (long) f.batch * f.seqLen * width;
        if (w == null) {
            Silu.backward(gpu, d, d, pre, n, false);
            return d;
        }
        DeviceBuffer act = s.t(n);
        Silu.forward(gpu, act, conv, n);
        Silu.backward(gpu, d, d, act, n, false);
        Silu.backward(gpu, d, d, conv, n, false);
        DeviceBuffer dPre = s.t(n);
        ShortConv.backward(gpu, dPre, trainable.contains(w) ? params.g(w) : null, d, pre, params.w(w), f.batch, f.seqLen, width,
                taps, false);
        return dPre;
    }

    /** {@code y = x Wᵀ}, plus the LoRA path when W has an adapter. */
    private void linear(Buffers s, DeviceBuffer y, DeviceBuffer x, ParameterView w, int n, int in, int out) {
        Matmul.linearForward(params.gpu(), y, x, params.w(w), n, in, out);
        LoraGpu.Adapter ad = params.adapter(w);
        if (ad != null) ad.forward(params.gpu(), s, y, x, n);
    }

    private boolean adapted(ParameterView w) {
        return params.adapter(w) != null;
    }

    /** {@code dx += s·(dy B) A}: the adapter's share of the input gradient (its factor gradients were taken already). */
    private void backwardInputOfAdapter(Buffers s, LoraGpu.Adapter ad, DeviceBuffer dy, DeviceBuffer dx, int n) {
        Gpu gpu = params.gpu();
        DeviceBuffer u = s.t((long) n * ad.rank);
        Matmul.linearBackwardInput(gpu, u, dy, ad.bw, n, ad.rank, ad.out, false);
        Matmul.linearBackwardInputAdd(gpu, dx, u, ad.aw, n, ad.in, ad.rank, ad.scale);
    }

    /**
     * The backward of {@code y = x Wᵀ (+ s·(x Aᵀ) Bᵀ)}: {@code dW += dyᵀ x} when trainable, the adapter's factor
     * gradients when W has one, {@code dx (+)= dy W (+ s·(dy B) A)} when dx is wanted.
     */
    private void project(ParameterView w, DeviceBuffer dy, DeviceBuffer x, DeviceBuffer dx, int n, int out, boolean accumulate,
                         ParameterGroup trainable) {
        Gpu gpu = params.gpu();
        if (trainable.contains(w)) Matmul.linearBackwardWeight(gpu, params.g(w), dy, x, n, d, out, true);
        if (dx != null) Matmul.linearBackwardInput(gpu, dx, dy, params.w(w), n, d, out, accumulate);
        LoraGpu.Adapter ad = params.adapter(w);
        if (ad != null) {
            try (Buffers s = params.buffers()) {
                ad.backward(gpu, s, dy, x, dx, n);
            }
        }
    }
}
