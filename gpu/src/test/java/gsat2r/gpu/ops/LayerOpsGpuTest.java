package gsat2r.gpu.ops;

import static org.junit.jupiter.api.Assertions.assertTrue;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.GpuTestSupport;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Embedding, RMSNorm, RoPE, SwiGLU and SiLU kernels against the float64 references, fp32 and bf16 storage. */
class LayerOpsGpuTest extends GpuTestSupport {
    private static final Random RNG = new Random(7);

    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"F32", "BF16"})
    void embedding(ElementType t) {
        Gpu g = gpu();
        for (int dim : new int[] {384, 97}) {  // vector path and element path
            int vocab = 1001, n = 777;
            float[] table = stored(randn(RNG, vocab * dim, 1), t);
            int[] ids = RNG.ints(n, 0, vocab).toArray();
            ids[5] = vocab;  // out of range: a NaN row, ignored by the backward pass
            ids[9] = ids[10];  // repeated ids add up in the backward pass
            try (DeviceBuffer tb = upload(table, t); DeviceBuffer ib = g.upload(ids); DeviceBuffer out = poisoned(t, (long) n * dim)) {
                Embedding.forward(g, out, ib, tb, n, dim, vocab);
                float[] got = out.toFloatArray();
                for (int i = 0; i < dim; i++) assertTrue(Float.isNaN(got[5 * dim + i]), "bad id gives NaN");
                int[] valid = ids.clone();
                valid[5] = 0;
                double[] ref = CpuReference.embeddingForward(table, valid, dim);
                for (int i = 0; i < dim; i++) ref[5 * dim + i] = got[5 * dim + i] = 0;
                check("embedding_fwd." + t + ".d" + dim, got, ref, 0);

                float[] dout = stored(randn(RNG, n * dim, 1), t);
                try (DeviceBuffer db = upload(dout, t); DeviceBuffer dtable = g.f32((long) vocab * dim)) {
                    dtable.zero();
                    Embedding.backward(g, dtable, ib, db, n, dim, vocab);
                    Embedding.backward(g, dtable, ib, db, n, dim, vocab);  // accumulates
                    double[] refG = CpuReference.embeddingBackward(dout, ids, dim, vocab);
                    for (int i = 0; i < refG.length; i++) refG[i] *= 2;
                    check("embedding_bwd." + t + ".d" + dim, dtable.toFloatArray(), refG, 1e-6);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"F32", "BF16"})
    void rmsnorm(ElementType t) {
        Gpu g = gpu();
        float eps = 1e-5f;
        for (int dim : new int[] {384, 1000, 67}) {
            int rows = 333;
            float[] x = stored(randn(RNG, rows * dim, 1.5), t), w = stored(uniform(RNG, dim, 0.5, 1.5), t);
            double[] rstdRef = new double[rows];
            double[] ref = CpuReference.rmsnormForward(CpuReference.d(x), CpuReference.d(w), rows, dim, eps, rstdRef);
            try (DeviceBuffer xb = upload(x, t); DeviceBuffer wb = upload(w, t); DeviceBuffer out = poisoned(t, (long) rows * dim);
                 DeviceBuffer rstd = poisoned(ElementType.F32, rows)) {
                RmsNorm.forward(g, out, rstd, xb, wb, rows, dim, eps);
                check("rmsnorm_fwd." + t + ".d" + dim, out.toFloatArray(), ref, tol(t));
                check("rmsnorm_fwd.rstd." + t + ".d" + dim, rstd.toFloatArray(), rstdRef, F32_TOL);

                float[] dout = stored(randn(RNG, rows * dim, 1), t);
                float[] dx0 = stored(randn(RNG, rows * dim, 1), t);
                float[] dw0 = randn(RNG, dim, 1);
                double[] dwRef = CpuReference.d(dw0);
                double[] dxRef = CpuReference.rmsnormBackward(CpuReference.d(dout), CpuReference.d(x), CpuReference.d(w), rows, dim, eps, dwRef);
                try (DeviceBuffer db = upload(dout, t); DeviceBuffer dx = poisoned(t, (long) rows * dim);
                     DeviceBuffer dw = g.upload(dw0, ElementType.F32)) {
                    RmsNorm.backward(g, dx, dw, db, xb, wb, rstd, rows, dim, false);
                    check("rmsnorm_bwd.dx." + t + ".d" + dim, dx.toFloatArray(), dxRef, tol(t));
                    check("rmsnorm_bwd.dw." + t + ".d" + dim, dw.toFloatArray(), dwRef, F32_TOL);
                    dx.copyFrom(dx0);
                    RmsNorm.backward(g, dx, dw, db, xb, wb, rstd, rows, dim, true);
                    double[] acc = new double[dxRef.length];
                    for (int i = 0; i < acc.length; i++) acc[i] = dx0[i] + dxRef[i];
                    check("rmsnorm_bwd.dx_accumulate." + t + ".d" + dim, dx.toFloatArray(), acc, tol(t));
                }
                // In place: out = x.
                RmsNorm.forward(g, xb, null, xb, wb, rows, dim, eps);
                check("rmsnorm_fwd.inplace." + t + ".d" + dim, xb.toFloatArray(), ref, tol(t));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"F32", "BF16"})
    void rope(ElementType t) {
        Gpu g = gpu();
        int headDim = 64, maxPos = 4096, nTokens = 100;
        RopeTables tables = RopeTables.llama(headDim, 500000, maxPos);
        int[] pos = RNG.ints(nTokens, 0, maxPos).toArray();
        try (DeviceBuffer cos = g.upload(tables.cos(), ElementType.F32); DeviceBuffer sin = g.upload(tables.sin(), ElementType.F32);
             DeviceBuffer pb = g.upload(pos)) {
            // Dense q [nTokens, 6, 64].
            int heads = 6, stride = heads * headDim;
            float[] q = stored(randn(RNG, nTokens * stride, 1), t);
            try (DeviceBuffer qb = upload(q, t); DeviceBuffer out = poisoned(t, (long) nTokens * stride)) {
                Rope.forward(g, out, qb, cos, sin, pb, nTokens, heads, headDim, stride, maxPos);
                double[] ref = CpuReference.rope(CpuReference.d(q), tables.cos(), tables.sin(), pos, nTokens, heads, headDim, stride, 1);
                check("rope_fwd." + t, out.toFloatArray(), ref, tol(t));
                Rope.backward(g, out, qb, cos, sin, pb, nTokens, heads, headDim, stride, maxPos);
                double[] refB = CpuReference.rope(CpuReference.d(q), tables.cos(), tables.sin(), pos, nTokens, heads, headDim, stride, -1);
                check("rope_bwd." + t, out.toFloatArray(), refB, tol(t));
            }
            // In place on the k part of a fused qkv buffer [nTokens, (6 + 2 + 2) * 64]: q and v stay untouched.
            int qkv = (6 + 2 + 2) * headDim;
            float[] fused = stored(randn(RNG, nTokens * qkv, 1), t);
            try (DeviceBuffer fb = upload(fused, t)) {
                DeviceBuffer k = fb.view(6 * headDim, (long) (nTokens - 1) * qkv + 2 * headDim);
                Rope.forward(g, k, k, cos, sin, pb, nTokens, 2, headDim, qkv, maxPos);
                double[] all = CpuReference.d(fused);
                double[] kOnly = new double[all.length - 6 * headDim];
                System.arraycopy(all, 6 * headDim, kOnly, 0, kOnly.length);
                double[] rotated = CpuReference.rope(kOnly, tables.cos(), tables.sin(), pos, nTokens, 2, headDim, qkv, 1);
                System.arraycopy(rotated, 0, all, 6 * headDim, rotated.length);
                check("rope_fwd.fused_inplace." + t, fb.toFloatArray(), all, tol(t));
            }
            // A position outside the table gives NaN, not a wrong rotation.
            try (DeviceBuffer bad = g.upload(new int[] {maxPos}); DeviceBuffer x = upload(new float[headDim], t);
                 DeviceBuffer o = g.allocate(t, headDim)) {
                o.zero();
                Rope.forward(g, o, x, cos, sin, bad, 1, 1, headDim, headDim, maxPos);
                for (float v : o.toFloatArray()) assertTrue(Float.isNaN(v));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"F32", "BF16"})
    void swigluAndSilu(ElementType t) {
        Gpu g = gpu();
        int n = 8192 * 3 + 5;  // a tail after the 16-byte packs
        float[] gate = stored(randn(RNG, n, 2), t), up = stored(randn(RNG, n, 1), t), dout = stored(randn(RNG, n, 1), t);
        double[] ref = CpuReference.swigluForward(CpuReference.d(gate), CpuReference.d(up));
        double[][] grads = CpuReference.swigluBackward(CpuReference.d(dout), CpuReference.d(gate), CpuReference.d(up));
        try (DeviceBuffer gb = upload(gate, t); DeviceBuffer ub = upload(up, t); DeviceBuffer db = upload(dout, t);
             DeviceBuffer out = poisoned(t, n); DeviceBuffer dg = poisoned(t, n); DeviceBuffer du = poisoned(t, n)) {
            SwiGlu.forward(g, out, gb, ub, n);
            check("swiglu_fwd." + t, out.toFloatArray(), ref, tol(t));
            SwiGlu.backward(g, dg, du, db, gb, ub, n);
            check("swiglu_bwd.dgate." + t, dg.toFloatArray(), grads[0], tol(t));
            check("swiglu_bwd.dup." + t, du.toFloatArray(), grads[1], tol(t));
            // Misaligned views take the element path.
            int m = n - 1;
            try (DeviceBuffer o2 = poisoned(t, n)) {
                SwiGlu.forward(g, o2.view(1, m), gb.view(1, m), ub.view(1, m), m);
                float[] got = o2.toFloatArray();
                assertTrue(Float.isNaN(got[0]));
                float[] tail = java.util.Arrays.copyOfRange(got, 1, n);
                check("swiglu_fwd.unaligned." + t, tail, java.util.Arrays.copyOfRange(ref, 1, n), tol(t));
            }
            // In place: dgate over gate, dup over up.
            SwiGlu.backward(g, gb, ub, db, gb, ub, n);
            check("swiglu_bwd.inplace." + t, gb.toFloatArray(), grads[0], tol(t));

            float[] x = stored(randn(RNG, n, 2), t);
            double[] s = new double[n], ds = new double[n], dsAcc = new double[n];
            float[] prior = stored(randn(RNG, n, 1), t);
            for (int i = 0; i < n; i++) {
                s[i] = CpuReference.silu(x[i]);
                ds[i] = dout[i] * CpuReference.siluGrad(x[i]);
                dsAcc[i] = prior[i] + ds[i];
            }
            try (DeviceBuffer xb = upload(x, t); DeviceBuffer so = poisoned(t, n); DeviceBuffer dx = upload(prior, t)) {
                Silu.forward(g, so, xb, n);
                check("silu_fwd." + t, so.toFloatArray(), s, tol(t));
                Silu.backward(g, dx, db, xb, n, true);
                check("silu_bwd.accumulate." + t, dx.toFloatArray(), dsAcc, tol(t));
                Silu.backward(g, dx, db, xb, n, false);
                check("silu_bwd." + t, dx.toFloatArray(), ds, tol(t));
            }
        }
    }
}
