package gsat2r.gpumodels;

import gsat2r.core.model.gsa.GsaLayout;
import gsat2r.core.model.gsa.ParameterGroup;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.core.model.gsa.ParameterView.Kind;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.ops.Elementwise;
import gsat2r.gpu.ops.RmsNorm;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One block of the student on the GPU, pre-norm with two residuals as fla's {@code GSABlock}:
 * {@code h += mixer(attn_norm(h)); h += mlp(mlp_norm(h))}. The residual gradient flows through one
 * buffer, updated in place from {@code dL/dh_out} to {@code dL/dh_in}.
 */
final class Block {
    final int layer;
    final Mixer mixer;
    final GatedMlp mlp;
    final ParameterView attnNorm, mlpNorm;
    private final StudentParams params;
    private final int d;
    private final float eps;

    Block(StudentParams params, GsaLayout layout, int layer, Path where) {
        this.params = params;
        this.layer = layer;
        this.d = layout.config().hiddenSize();
        this.eps = (float) layout.config().normEps();
        this.attnNorm = layout.get(Kind.ATTN_NORM, layer);
        this.mlpNorm = layout.get(Kind.MLP_NORM, layer);
        this.mixer = layout.config().isGsaLayer(layer) ? new GsaMixer(params, layout, layer)
                : new AttentionMixer(params, layout, layer, where);
        this.mlp = new GatedMlp(params, layout, layer);
    }

    List<ParameterView> views() {
        List<ParameterView> v = new ArrayList<>();
        v.add(attnNorm);
        v.addAll(mixer.views());
        v.add(mlpNorm);
        v.addAll(mlp.views());
        return v;
    }

    /** What the backward needs; {@link #hOut} is owned by the caller (it outlives the pass). */
    static final class Pass implements AutoCloseable {
        final Buffers buffers;
        final DeviceBuffer hIn, rstd1, n1, hMid, rstd2, n2, hOut;
        final Mixer.Pass mix;
        final GatedMlp.Pass mlp;

        Pass(Buffers buffers, DeviceBuffer hIn, DeviceBuffer rstd1, DeviceBuffer n1, Mixer.Pass mix, DeviceBuffer hMid,
             DeviceBuffer rstd2, DeviceBuffer n2, GatedMlp.Pass mlp, DeviceBuffer hOut) {
            this.buffers = buffers;
            this.hIn = hIn;
            this.rstd1 = rstd1;
            this.n1 = n1;
            this.mix = mix;
            this.hMid = hMid;
            this.rstd2 = rstd2;
            this.n2 = n2;
            this.mlp = mlp;
            this.hOut = hOut;
        }

        /** Releases everything but hOut. */
        @Override
        public void close() {
            if (mlp != null) mlp.close();
            if (mix != null) mix.close();
            buffers.close();
        }
    }

    /** {@code attn_norm(h)} into {@code out} (rows of d), saving rstd when not null. */
    void attnNorm(DeviceBuffer out, DeviceBuffer rstd, DeviceBuffer h, int rows) {
        RmsNorm.forward(params.gpu(), out, rstd, h, params.w(attnNorm), rows, d, eps);
    }

    /**
     * The block over {@code hIn [B·T, d]}, writing its output into {@code hOut}. With {@code keep}, returns
     * the pass for the backward; otherwise releases the activations and returns null.
     */
    Pass forward(DeviceBuffer hIn, DeviceBuffer hOut, DeviceBatch b, boolean keep) {
        Gpu gpu = params.gpu();
        int n = b.tokens;
        Buffers s = params.buffers();
        Mixer.Pass mix = null;
        GatedMlp.Pass m = null;
        try {
            DeviceBuffer rstd1 = s.f32(n), n1 = s.t((long) n * d);
            attnNorm(n1, rstd1, hIn, n);
            mix = mixer.forward(n1, b, keep);
            DeviceBuffer hMid = s.t((long) n * d);
            Elementwise.add(gpu, hMid, hIn, mix.out(), (long) n * d);
            DeviceBuffer rstd2 = s.f32(n), n2 = s.t((long) n * d);
            RmsNorm.forward(gpu, n2, rstd2, hMid, params.w(mlpNorm), n, d, eps);
            m = mlp.forward(n2, n);
            Elementwise.add(gpu, hOut, hMid, m.out(), (long) n * d);
            Pass p = new Pass(s, hIn, rstd1, n1, mix, hMid, rstd2, n2, m, hOut);
            if (keep) return p;
            p.close();
            return null;
        } catch (RuntimeException e) {
            if (m != null) m.close();
            if (mix != null) mix.close();
            s.close();
            throw e;
        }
    }

    /**
     * Backward from {@code dh = dL/d(block output)} (updated in place to {@code dL/d(block input)} when
     * {@code needInput}); adds the gradients of the block's tensors in {@code trainable}.
     */
    void backward(Pass f, DeviceBuffer dh, boolean needInput, ParameterGroup trainable) {
        Gpu gpu = params.gpu();
        int n = (int) (f.hIn.length() / d);
        boolean mixerBranch = needInput || trainable.contains(attnNorm)
                || mixer.views().stream().anyMatch(v -> trainable.contains(v) || params.adapter(v) != null);
        boolean mlpBranch = mixerBranch || trainable.contains(mlpNorm);
        try (Buffers s = params.buffers()) {
            DeviceBuffer dn2 = mlpBranch ? s.t((long) n * d) : null;
            mlp.backward(f.mlp, dh, dn2, trainable);
            if (!mlpBranch) return;
            RmsNorm.backwardDeterministic(gpu, dh, trainable.contains(mlpNorm) ? params.g(mlpNorm) : null, dn2, f.hMid,
                    params.w(mlpNorm), f.rstd2, n, d, true);
            if (!mixerBranch) return;
            boolean normBranch = needInput || trainable.contains(attnNorm);
            DeviceBuffer dn1 = normBranch ? s.t((long) n * d) : null;
            mixer.backward(f.mix, dh, dn1, trainable);
            if (!normBranch) return;
            RmsNorm.backwardDeterministic(gpu, dh, trainable.contains(attnNorm) ? params.g(attnNorm) : null, dn1, f.hIn,
                    params.w(attnNorm), f.rstd1, n, d, true);
        }
    }

    void close() {
        if (mixer instanceof AttentionMixer a) a.close();
    }
}
