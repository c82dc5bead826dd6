package gsat2r.gpu.ops;

import static org.junit.jupiter.api.Assertions.assertTrue;

import gsat2r.core.config.RopeParameters;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.GpuTestSupport;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Embedding, RMSNorm, RoPE, SwiGLU and SiLU kernels against core's CPU ops ({@code gsat2r.core.cpu}) on the
 * values the device stores, fp32 and bf16 storage. The references are fp32, within a few ulps of the exact
 * values: far below the fp32 tolerance (1e-5 relative L2), so what the checks measure is the kernels' error.
 */
class LayerOpsGpuTest extends GpuTestSupport {
    private static final Random RNG = new Random(7);

    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"F32", "BF16"})
    void embedding(ElementType t) {
        Gpu g = gpu();
        for (int dim : new int[] {384, 97}) {  // vector path and element path
            int vocab = 1001, n = 777, bad = 5;
            float[] table = stored(randn(RNG, vocab * dim, 1), t);
            int[] ids = RNG.ints(n, 0, vocab).toArray();
            ids[bad] = vocab;  // out of range: a NaN row, ignored by the backward pass
            ids[9] = ids[10];  // repeated ids add up in the backward pass
            try (DeviceBuffer tb = upload(table, t); DeviceBuffer ib = g.upload(ids); DeviceBuffer out = poisoned(t, (long) n * dim)) {
                Embedding.forward(g, out, ib, tb, n, dim, vocab);
                float[] got = out.toFloatArray();
                for (int i = 0; i < dim; i++) assertTrue(Float.isNaN(got[bad * dim + i]), "bad id gives NaN");
                int[] valid = ids.clone();
                valid[bad] = 0;
                float[] ref = new float[n * dim];
                gsat2r.core.cpu.Embedding.forward(ref, 0, valid, 0, n, table, 0, vocab, dim);
                Arrays.fill(ref, bad * dim, (bad + 1) * dim, 0f);
                Arrays.fill(got, bad * dim, (bad + 1) * dim, 0f);
                check("embedding_fwd." + t + ".d" + dim, got, ref, 0);

                float[] dout = stored(randn(RNG, n * dim, 1), t);
                Embedding.SortedIds sorted = Embedding.SortedIds.of(ids, vocab);  // the bad id left out
                try (DeviceBuffer db = upload(dout, t); DeviceBuffer dtable = g.f32((long) vocab * dim);
                     DeviceBuffer order = g.upload(sorted.order()); DeviceBuffer starts = g.upload(sorted.starts());
                     DeviceBuffer distinct = g.upload(sorted.ids())) {
                    dtable.zero();
                    for (int pass = 0; pass < 2; pass++) {  // accumulates
                        Embedding.backwardSorted(g, dtable, order, starts, distinct, sorted.distinct(), db, n, dim, vocab);
                    }
                    // Core's scatter-add takes ids in range only: the tokens on either side of the bad one, twice.
                    float[] refG = new float[vocab * dim];
                    for (int pass = 0; pass < 2; pass++) {
                        gsat2r.core.cpu.Embedding.backward(refG, 0, ids, 0, bad, dout, 0, dim);
                        gsat2r.core.cpu.Embedding.backward(refG, 0, ids, bad + 1, n - bad - 1, dout, (bad + 1) * dim, dim);
                    }
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
            float[] ref = new float[rows * dim], rstdRef = new float[rows];
            gsat2r.core.cpu.RmsNorm.forward(ref, 0, x, 0, w, 0, rstdRef, 0, rows, dim, eps);
            try (DeviceBuffer xb = upload(x, t); DeviceBuffer wb = upload(w, t); DeviceBuffer out = poisoned(t, (long) rows * dim);
                 DeviceBuffer rstd = poisoned(ElementType.F32, rows)) {
                RmsNorm.forward(g, out, rstd, xb, wb, rows, dim, eps);
                check("rmsnorm_fwd." + t + ".d" + dim, out.toFloatArray(), ref, tol(t));
                check("rmsnorm_fwd.rstd." + t + ".d" + dim, rstd.toFloatArray(), rstdRef, F32_TOL);

                float[] dout = stored(randn(RNG, rows * dim, 1), t);
                float[] dx0 = stored(randn(RNG, rows * dim, 1), t);
                float[] dw0 = randn(RNG, dim, 1);
                // Core's backward adds into dx and dw: from zero it is the overwriting kernel, from dx0 the accumulating one.
                float[] dxRef = new float[rows * dim], dxAcc = dx0.clone(), dwRef = dw0.clone();
                gsat2r.core.cpu.RmsNorm.backward(dxRef, 0, dwRef, 0, dout, 0, x, 0, w, 0, rstdRef, 0, rows, dim);
                gsat2r.core.cpu.RmsNorm.backward(dxAcc, 0, null, 0, dout, 0, x, 0, w, 0, rstdRef, 0, rows, dim);
                try (DeviceBuffer db = upload(dout, t); DeviceBuffer dx = poisoned(t, (long) rows * dim);
                     DeviceBuffer dw = g.upload(dw0, ElementType.F32)) {
                    RmsNorm.backwardDeterministic(g, dx, dw, db, xb, wb, rstd, rows, dim, false);
                    check("rmsnorm_bwd.dx." + t + ".d" + dim, dx.toFloatArray(), dxRef, tol(t));
                    check("rmsnorm_bwd.dw." + t + ".d" + dim, dw.toFloatArray(), dwRef, F32_TOL);
                    dx.copyFrom(dx0);
                    RmsNorm.backwardDeterministic(g, dx, dw, db, xb, wb, rstd, rows, dim, true);
                    check("rmsnorm_bwd.dx_accumulate." + t + ".d" + dim, dx.toFloatArray(), dxAcc, tol(t));
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
        int headDim = 64, half = headDim / 2, maxPos = 4096, nTokens = 100;
        // The tables as the models make them (core's rope, as transformers builds them).
        float[] invFreq = gsat2r.core.cpu.Rope.inverseFrequencies(RopeParameters.defaults(500000), headDim);
        float[] cosT = new float[maxPos * half], sinT = new float[maxPos * half];
        gsat2r.core.cpu.Rope.tables(invFreq, 0, maxPos, cosT, sinT);
        int[] pos = RNG.ints(nTokens, 0, maxPos).toArray();
        try (DeviceBuffer cos = g.upload(cosT, ElementType.F32); DeviceBuffer sin = g.upload(sinT, ElementType.F32);
             DeviceBuffer pb = g.upload(pos)) {
            // Dense q [nTokens, 6, 64].
            int heads = 6, stride = heads * headDim;
            float[] q = stored(randn(RNG, nTokens * stride, 1), t);
            try (DeviceBuffer qb = upload(q, t); DeviceBuffer out = poisoned(t, (long) nTokens * stride)) {
                Rope.forward(g, out, qb, cos, sin, pb, nTokens, heads, headDim, stride, maxPos);
                check("rope_fwd." + t, out.toFloatArray(), coreRope(q, 0, cosT, sinT, pos, heads, headDim, stride, false), tol(t));
                Rope.backward(g, out, qb, cos, sin, pb, nTokens, heads, headDim, stride, maxPos);
                check("rope_bwd." + t, out.toFloatArray(), coreRope(q, 0, cosT, sinT, pos, heads, headDim, stride, true), tol(t));
            }
            // In place on the k part of a fused qkv buffer [nTokens, (6 + 2 + 2) * 64]: q and v stay untouched.
            int qkv = (6 + 2 + 2) * headDim;
            float[] fused = stored(randn(RNG, nTokens * qkv, 1), t);
            try (DeviceBuffer fb = upload(fused, t)) {
                DeviceBuffer k = fb.view(6 * headDim, (long) (nTokens - 1) * qkv + 2 * headDim);
                Rope.forward(g, k, k, cos, sin, pb, nTokens, 2, headDim, qkv, maxPos);
                float[] ref = coreRope(fused, 6 * headDim, cosT, sinT, pos, 2, headDim, qkv, false);
                check("rope_fwd.fused_inplace." + t, fb.toFloatArray(), ref, tol(t));
            }
            // A position outside the table gives NaN, not a wrong rotation.
            try (DeviceBuffer badPos = g.upload(new int[] {maxPos}); DeviceBuffer x = upload(new float[headDim], t);
                 DeviceBuffer o = g.allocate(t, headDim)) {
                o.zero();
                Rope.forward(g, o, x, cos, sin, badPos, 1, 1, headDim, headDim, maxPos);
                for (float v : o.toFloatArray()) assertTrue(Float.isNaN(v));
            }
        }
    }

    /**
     * Core's rotation (or, {@code transpose}, its gradient {@code Rᵀ dy}) of token t's {@code heads} at
     * {@code off + t·stride}, at position {@code pos[t]}: one row of core's op per token. Elements outside
     * those heads are copied.
     */
    private static float[] coreRope(float[] x, int off, float[] cos, float[] sin, int[] pos, int heads, int headDim, int stride,
                                    boolean transpose) {
        float[] y = x.clone();
        for (int t = 0; t < pos.length; t++) {
            int at = off + t * stride;
            if (transpose) {
                Arrays.fill(y, at, at + heads * headDim, 0f);  // core's backward adds into dx
                gsat2r.core.cpu.Rope.backward(y, at, x, at, cos, sin, pos[t], 1, heads, headDim);
            } else {
                gsat2r.core.cpu.Rope.forward(y, at, x, at, cos, sin, pos[t], 1, heads, headDim);
            }
        }
        return y;
    }

    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"F32", "BF16"})
    void swigluAndSilu(ElementType t) {
        Gpu g = gpu();
        int n = 8192 * 3 + 5;  // a tail after the 16-byte packs
        float[] gate = stored(randn(RNG, n, 2), t), up = stored(randn(RNG, n, 1), t), dout = stored(randn(RNG, n, 1), t);
        float[] ref = new float[n], dgRef = new float[n], duRef = new float[n];
        gsat2r.core.cpu.SwiGlu.forward(ref, 0, gate, 0, up, 0, n);
        gsat2r.core.cpu.SwiGlu.backward(dgRef, 0, duRef, 0, dout, 0, gate, 0, up, 0, n);
        try (DeviceBuffer gb = upload(gate, t); DeviceBuffer ub = upload(up, t); DeviceBuffer db = upload(dout, t);
             DeviceBuffer out = poisoned(t, n); DeviceBuffer dg = poisoned(t, n); DeviceBuffer du = poisoned(t, n)) {
            SwiGlu.forward(g, out, gb, ub, n);
            check("swiglu_fwd." + t, out.toFloatArray(), ref, tol(t));
            SwiGlu.backward(g, dg, du, db, gb, ub, n);
            check("swiglu_bwd.dgate." + t, dg.toFloatArray(), dgRef, tol(t));
            check("swiglu_bwd.dup." + t, du.toFloatArray(), duRef, tol(t));
            // Misaligned views take the element path.
            int m = n - 1;
            try (DeviceBuffer o2 = poisoned(t, n)) {
                SwiGlu.forward(g, o2.view(1, m), gb.view(1, m), ub.view(1, m), m);
                float[] got = o2.toFloatArray();
                assertTrue(Float.isNaN(got[0]));
                check("swiglu_fwd.unaligned." + t, Arrays.copyOfRange(got, 1, n), Arrays.copyOfRange(ref, 1, n), tol(t));
            }
            // In place: dgate over gate, dup over up.
            SwiGlu.backward(g, gb, ub, db, gb, ub, n);
            check("swiglu_bwd.inplace." + t, gb.toFloatArray(), dgRef, tol(t));

            float[] x = stored(randn(RNG, n, 2), t), prior = stored(randn(RNG, n, 1), t);
            float[] s = new float[n], ds = new float[n], dsAcc = prior.clone();
            gsat2r.core.cpu.Silu.forward(s, 0, x, 0, n);
            gsat2r.core.cpu.Silu.backward(ds, 0, dout, 0, x, 0, n);
            gsat2r.core.cpu.Silu.backward(dsAcc, 0, dout, 0, x, 0, n);
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
