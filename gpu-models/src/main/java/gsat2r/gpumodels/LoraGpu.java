package gsat2r.gpumodels;

import gsat2r.core.data.SplitMix64;
import gsat2r.core.model.gsa.ParameterGroup;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.core.model.gsa.ParameterView.Kind;
import gsat2r.training.ParameterInfo;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.CublasLt;
import gsat2r.gpu.cuda.MatmulShape;
import gsat2r.gpu.ops.Matmul;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * LoRA adapters on {@code q_proj}, {@code k_proj}, {@code v_proj}, {@code o_proj} of every GSA layer, on the
 * GPU, trained through the effective weight exactly as the CPU backend's {@code LoraAdapters}: the master
 * buffer holds {@code W' = W + s·B·A} for each adapted tensor (the base W kept aside), the student's
 * ordinary backward leaves {@code dL/dW'} in the gradient buffer, and {@code dA += s·Bᵀ·dW'},
 * {@code dB += s·dW'·Aᵀ} (W' is linear in A and B). A is drawn on the host from N(0, 1/in) by SplitMix64 with
 * the stage's seed, adapter after adapter in buffer order, row-major (the CPU backend's draws); B is zero.
 * All factors, their gradients and moments live in flat fp32 buffers (one optimizer launch for all of them:
 * every factor is a matrix, so all decay).
 */
final class LoraGpu implements AutoCloseable {

    /** One adapted tensor: its base weight and the offsets of its factors in the flat buffers. */
    static final class Adapter {
        final ParameterView target;
        final int out, in, rank;
        final long offsetA, offsetB;
        final DeviceBuffer base;
        final ParameterInfo infoA, infoB;

        Adapter(ParameterView target, int rank, long offsetA, DeviceBuffer base) {
            this.target = target;
            this.out = (int) target.shape()[0];
            this.in = (int) target.shape()[1];
            this.rank = rank;
            this.offsetA = offsetA;
            this.offsetB = offsetA + (long) rank * in;
            this.base = base;
            String stem = target.name().substring(0, target.name().length() - ".weight".length());
            this.infoA = new ParameterInfo(stem + ".lora_A.weight", new long[] {rank, in});
            this.infoB = new ParameterInfo(stem + ".lora_B.weight", new long[] {out, rank});
        }

        long sizeA() {
            return (long) rank * in;
        }

        long sizeB() {
            return (long) out * rank;
        }
    }

    private final StudentGpu student;
    private final Gpu gpu;
    private final float scale;
    final List<Adapter> adapters = new ArrayList<>();
    private final Map<String, Adapter> byTarget = new LinkedHashMap<>();
    private final ParameterGroup targets;
    /** Factors A then B of each adapter, in order; gradients and AdamW moments in the same layout. */
    final DeviceBuffer values, grads, m, v;
    private boolean dirty = true;

    LoraGpu(StudentGpu student, int rank, double scale, long seed) {
        this.student = student;
        this.gpu = student.gpu();
        this.scale = (float) scale;
        List<ParameterView> adapted = new ArrayList<>();
        long total = 0;
        for (ParameterView t : student.layout.views()) {
            if (!isTarget(student, t)) continue;
            adapted.add(t);
            total += (long) rank * (t.shape()[0] + t.shape()[1]);
        }
        this.targets = new ParameterGroup("lora-targets", adapted);
        values = gpu.f32(total);
        grads = gpu.f32(total);
        m = gpu.f32(total);
        v = gpu.f32(total);
        grads.zero();
        m.zero();
        v.zero();
        values.zero();                                   // B = 0
        SplitMix64 rng = new SplitMix64(seed);
        long at = 0;
        for (ParameterView t : adapted) {
            DeviceBuffer base = gpu.f32(t.size());
            base.copyFrom(student.masterView(t));
            Adapter ad = new Adapter(t, rank, at, base);
            float[] a = new float[(int) ad.sizeA()];
            double std = 1.0 / Math.sqrt(ad.in);
            for (int i = 0; i < a.length; i++) a[i] = (float) (std * rng.nextGaussian());
            valuesA(ad).copyFrom(a);
            adapters.add(ad);
            byTarget.put(t.name(), ad);
            at = ad.offsetB + ad.sizeB();
        }
    }

    /** Whether LoRA adapts {@code t}: q/k/v/o projections of GSA layers. */
    static boolean isTarget(StudentGpu s, ParameterView t) {
        boolean projection = t.kind() == Kind.Q_PROJ || t.kind() == Kind.K_PROJ || t.kind() == Kind.V_PROJ || t.kind() == Kind.O_PROJ;
        return projection && t.layer() >= 0 && s.config.isGsaLayer(t.layer());
    }

    DeviceBuffer valuesA(Adapter ad) {
        return values.view(ad.offsetA, ad.sizeA());
    }

    DeviceBuffer valuesB(Adapter ad) {
        return values.view(ad.offsetB, ad.sizeB());
    }

    DeviceBuffer gradA(Adapter ad) {
        return grads.view(ad.offsetA, ad.sizeA());
    }

    DeviceBuffer gradB(Adapter ad) {
        return grads.view(ad.offsetB, ad.sizeB());
    }

    /** The adapted tensors: what the student's backward must compute {@code dL/dW'} for. */
    ParameterGroup targets() {
        return targets;
    }

    Adapter adapterOf(String targetName) {
        return byTarget.get(targetName);
    }

    /** The factor or base weight changed: write the effective weights again before the next use. */
    void invalidate() {
        dirty = true;
    }

    /** Writes {@code W' = W + s·(B·A)} of every adapter into the master (and compute) weights, if anything changed since. */
    void materialize() {
        if (!dirty) return;
        for (Adapter ad : adapters) {
            DeviceBuffer w = student.masterView(ad.target);
            w.copyFrom(ad.base);
            Matmul.run(gpu, MatmulShape.of(false, false, ad.out, ad.in, ad.rank, CublasLt.DataType.F32, CublasLt.DataType.F32),
                    valuesB(ad), valuesA(ad), w, scale, 1f);
            student.refreshWork(ad.target);
        }
        dirty = false;
    }

    /** Moves {@code dL/dW'} out of the gradient buffer into the factors' gradients and zeroes it there. */
    void collectGradients() {
        for (Adapter ad : adapters) {
            DeviceBuffer dw = student.g(ad.target);
            // dA[R, in] += s · Bᵀ[R, out] · dW'[out, in]
            Matmul.run(gpu, MatmulShape.of(true, false, ad.rank, ad.in, ad.out, CublasLt.DataType.F32, CublasLt.DataType.F32),
                    valuesB(ad), dw, gradA(ad), scale, 1f);
            // dB[out, R] += s · dW'[out, in] · Aᵀ[in, R]
            Matmul.run(gpu, MatmulShape.of(false, true, ad.out, ad.rank, ad.in, CublasLt.DataType.F32, CublasLt.DataType.F32),
                    dw, valuesA(ad), gradB(ad), scale, 1f);
            dw.zero();
        }
    }

    /** The flat buffers' infos in order (A, B of each adapter). */
    List<ParameterInfo> infos() {
        List<ParameterInfo> out = new ArrayList<>();
        for (Adapter ad : adapters) {
            out.add(ad.infoA);
            out.add(ad.infoB);
        }
        return out;
    }

    /** The flat-buffer view of the factor named {@code name} in {@code buffer} (values, grads, m or v), or null. */
    DeviceBuffer factor(DeviceBuffer buffer, String name) {
        for (Adapter ad : adapters) {
            if (ad.infoA.name().equals(name)) return buffer.view(ad.offsetA, ad.sizeA());
            if (ad.infoB.name().equals(name)) return buffer.view(ad.offsetB, ad.sizeB());
        }
        return null;
    }

    @Override
    public void close() {
        for (Adapter ad : adapters) ad.base.close();
        values.close();
        grads.close();
        m.close();
        v.close();
    }
}
