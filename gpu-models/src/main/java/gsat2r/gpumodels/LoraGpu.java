package gsat2r.gpumodels;

import gsat2r.core.data.SplitMix64;
import gsat2r.core.model.gsa.GsaLayout;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.core.model.gsa.ParameterView.Kind;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.CublasLt;
import gsat2r.gpu.cuda.MatmulShape;
import gsat2r.gpu.ops.Convert;
import gsat2r.gpu.ops.Matmul;
import gsat2r.training.ParameterInfo;
import gsat2r.training.StateNames;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * LoRA adapters on {@code q_proj}, {@code k_proj}, {@code v_proj}, {@code o_proj} of every GSA layer, on the
 * GPU, as a low-rank path beside the frozen projection: {@code y = x Wᵀ + s·(x Aᵀ) Bᵀ} with {@code s = α/R},
 * and in the backward {@code u = dy B}, {@code dA += s·uᵀ x}, {@code dB += s·dyᵀ (x Aᵀ)},
 * {@code dx += s·u A} (the product {@code x Aᵀ} is recomputed, not kept). Nothing the size of W is made:
 * the base stays frozen in its compute copy, and only the factors have masters, compute copies, gradients
 * and moments. Merging folds {@code s·B·A} into W's fp32 master. A is drawn on the host from N(0, 1/in) by
 * SplitMix64 with the stage's seed, adapter after adapter in layout order, row-major (the CPU backend's
 * draws); B is zero, so training starts from the unadapted model.
 */
final class LoraGpu implements AutoCloseable {

    /** One adapted projection {@code W [out, in]}: its factors, their compute copies and gradients. */
    static final class Adapter {
        final ParameterView target;
        final int out, in, rank;
        final float scale;
        final DeviceBuffer a, b, aw, bw, gradA, gradB;
        final ParameterInfo infoA, infoB;

        Adapter(Gpu gpu, ElementType type, ParameterView target, int rank, float scale) {
            this.target = target;
            this.out = (int) target.shape()[0];
            this.in = (int) target.shape()[1];
            this.rank = rank;
            this.scale = scale;
            this.a = gpu.f32((long) rank * in);
            this.b = gpu.f32((long) out * rank);
            this.aw = type == ElementType.F32 ? a : gpu.bf16(a.length());
            this.bw = type == ElementType.F32 ? b : gpu.bf16(b.length());
            this.gradA = gpu.f32(a.length());
            this.gradB = gpu.f32(b.length());
            b.zero();
            gradA.zero();
            gradB.zero();
            this.infoA = new ParameterInfo(StateNames.loraA(target.name()), new long[] {rank, in});
            this.infoB = new ParameterInfo(StateNames.loraB(target.name()), new long[] {out, rank});
        }

        /** The compute copies equal to the fp32 factors again. */
        void refresh(Gpu gpu) {
            if (aw != a) Convert.toBf16(gpu, aw, a, a.length());
            if (bw != b) Convert.toBf16(gpu, bw, b, b.length());
        }

        /** {@code y [n, out] += s·(x Aᵀ) Bᵀ}, with {@code x [n, in]}. */
        void forward(Gpu gpu, Buffers s, DeviceBuffer y, DeviceBuffer x, int n) {
            DeviceBuffer t = s.t((long) n * rank);
            Matmul.linearForward(gpu, t, x, aw, n, in, rank);
            Matmul.linearForwardAdd(gpu, y, t, bw, n, rank, out, scale);
        }

        /** The factors' gradients from {@code dy [n, out]} and the input {@code x}; {@code dx += s·(dy B) A} when dx is wanted. */
        void backward(Gpu gpu, Buffers s, DeviceBuffer dy, DeviceBuffer x, DeviceBuffer dx, int n) {
            DeviceBuffer u = s.t((long) n * rank), t = s.t((long) n * rank);
            Matmul.linearBackwardInput(gpu, u, dy, bw, n, rank, out, false);
            Matmul.linearBackwardWeightAdd(gpu, gradA, u, x, n, in, rank, scale);
            Matmul.linearForward(gpu, t, x, aw, n, in, rank);
            Matmul.linearBackwardWeightAdd(gpu, gradB, dy, t, n, rank, out, scale);
            if (dx != null) Matmul.linearBackwardInputAdd(gpu, dx, u, aw, n, in, rank, scale);
        }

        void close() {
            for (DeviceBuffer x : new DeviceBuffer[] {a, b, gradA, gradB}) x.close();
            if (aw != a) aw.close();
            if (bw != b) bw.close();
        }
    }

    private final Gpu gpu;
    final List<Adapter> adapters = new ArrayList<>();
    private final Map<String, Adapter> byTarget = new LinkedHashMap<>();

    LoraGpu(Gpu gpu, ElementType type, GsaLayout layout, int rank, double scale, long seed) {
        this.gpu = gpu;
        SplitMix64 rng = new SplitMix64(seed);
        try {
            for (ParameterView t : layout.views()) {
                if (!isTarget(layout, t)) continue;
                Adapter ad = new Adapter(gpu, type, t, rank, (float) scale);
                adapters.add(ad);
                byTarget.put(t.name(), ad);
                float[] a = new float[Math.toIntExact(ad.a.length())];
                double std = 1.0 / Math.sqrt(ad.in);
                for (int i = 0; i < a.length; i++) a[i] = (float) (std * rng.nextGaussian());
                ad.a.copyFrom(a);
                ad.refresh(gpu);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Whether LoRA adapts {@code t}: q/k/v/o projections of GSA layers. */
    static boolean isTarget(GsaLayout layout, ParameterView t) {
        boolean projection = t.kind() == Kind.Q_PROJ || t.kind() == Kind.K_PROJ || t.kind() == Kind.V_PROJ || t.kind() == Kind.O_PROJ;
        return projection && t.layer() >= 0 && layout.config().isGsaLayer(t.layer());
    }

    Adapter adapterOf(String targetName) {
        return byTarget.get(targetName);
    }

    /** The lowest layer with an adapter (the backward must reach it). */
    int lowestLayer() {
        return adapters.stream().mapToInt(a -> a.target.layer()).min().orElse(Integer.MAX_VALUE);
    }

    /** The compute copies of every factor equal to their masters again (after a restore or an update). */
    void refresh() {
        for (Adapter ad : adapters) ad.refresh(gpu);
    }

    /** Folds {@code s·B·A} into each adapted tensor's fp32 master and refreshes its compute copy. */
    void mergeInto(StudentWeights weights) {
        for (Adapter ad : adapters) {
            DeviceBuffer w = weights.master(ad.target);
            Matmul.run(gpu, MatmulShape.of(false, false, ad.out, ad.in, ad.rank, CublasLt.DataType.F32, CublasLt.DataType.F32),
                    ad.b, ad.a, w, ad.scale, 1f);
            weights.refresh(ad.target);
        }
    }

    /** The factors by adapter name (A then B of each adapter), fp32 on the host. */
    Map<String, float[]> factors() {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (Adapter ad : adapters) {
            out.put(ad.infoA.name(), ad.a.toFloatArray());
            out.put(ad.infoB.name(), ad.b.toFloatArray());
        }
        return out;
    }

    @Override
    public void close() {
        for (Adapter ad : adapters) ad.close();
        adapters.clear();
    }
}
