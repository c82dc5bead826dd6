package gsat2r.gpu.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import gsat2r.core.cpu.Attention;
import gsat2r.core.cpu.Linear;
import gsat2r.core.cpu.RmsNorm;
import gsat2r.core.cpu.Rope;
import gsat2r.core.cpu.Silu;
import gsat2r.core.cpu.SwiGlu;
import gsat2r.core.gsa.GsaRecurrent;
import gsat2r.core.gsa.GsaState;
import gsat2r.core.model.ContinuationScorer;
import gsat2r.core.model.Continuations;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.GpuTestSupport;
import gsat2r.gpu.cuda.CudaGraph;
import gsat2r.gpu.memory.Bf16;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The decode-step kernels against core's CPU ops (the project's one reference): the small-batch linear layers
 * ({@link DecodeLinear}) against {@link RmsNorm}, {@link Silu}, {@link SwiGlu} and {@link Linear} on the same bf16
 * operands, rounded where the kernels round (and a row alone against the same row in a batch of 16, bit for bit); the batched GSA step ({@link GsaDecode}) against {@link GsaRecurrent#step(GsaState[], int, float[],
 * float[], float[], float[], float[], float)} with the layer's activations; split-KV attention
 * ({@link AttentionDecode}) against {@link Rope} and {@link Attention#decode} over the rings, several splits, windows, twice in a row (the
 * merge counters reset); the continuation scores ({@link Scoring}) against {@link ContinuationScorer}; and a CUDA
 * graph of these kernels (with and without programmatic dependent launch) against the same launches made one by
 * one, bit for bit. Tolerances: fp32 1e-5, bf16 1e-2.
 */
class DecodeKernelsGpuTest extends GpuTestSupport {
    private static final Random RNG = new Random(1234);

    /** A device table of 64-bit addresses (two ints each), as the decode kernels read per-row pointers. */
    static DeviceBuffer addresses(Gpu gpu, List<DeviceBuffer> buffers) {
        int[] t = new int[2 * buffers.size()];
        for (int i = 0; i < buffers.size(); i++) {
            long a = buffers.get(i).address();
            t[2 * i] = (int) a;
            t[2 * i + 1] = (int) (a >>> 32);
        }
        return gpu.upload(t);
    }

    static float[] bf(float[] a) {
        return Bf16.round(a);
    }

    // ------------------------------------------------------------------ DecodeLinear

    /** bf16(RMSNorm(x)·w) per row (of silu(x) for the output gate's prologue): the prologue's input to the product. */
    static float[] normed(float[] x, float[] w, int B, int K, float eps, boolean gate) {
        float[] in = x;
        if (gate) {
            in = new float[x.length];
            Silu.forward(in, 0, x, 0, x.length);
        }
        float[] out = new float[x.length];
        RmsNorm.forward(out, 0, in, 0, w, 0, null, 0, B, K, eps);
        return Bf16.round(out);
    }

    /** {@code x Wᵀ} for B rows of K, W [N, K] (core's {@link Linear}, fp32 sums). */
    static float[] product(float[] x, float[] w, int B, int K, int N) {
        float[] y = new float[B * N];
        Linear.forward(y, 0, x, 0, w, 0, null, 0, B, K, N);
        return y;
    }

    @Test
    void decodeLinearMatchesCoreOpsAndIsTheSameAloneOrInABatch() {
        Gpu gpu = gpu();
        int K = 2048, I = 1024;
        int[] widths = {512, 128, 128, 64};   // q | k | v | f
        int N = Arrays.stream(widths).sum();
        float eps = 1e-5f;
        for (int B : new int[] {1, 5, 16}) {
            float[] h = bf(randn(RNG, B * K, 1)), nw = bf(uniform(RNG, K, 0.5, 1.5));
            List<float[]> ws = new ArrayList<>();
            List<DeviceBuffer> dws = new ArrayList<>();
            for (int width : widths) {
                float[] w = bf(randn(RNG, width * K, 0.03));
                ws.add(w);
                dws.add(upload(w, ElementType.BF16));
            }
            float[] wAll = new float[N * K];
            int at = 0;
            for (float[] w : ws) {
                System.arraycopy(w, 0, wAll, at, w.length);
                at += w.length;
            }
            float[] gate = bf(randn(RNG, I * K, 0.03)), up = bf(randn(RNG, I * K, 0.03)), down = bf(randn(RNG, K * I, 0.03));
            float[] o = bf(randn(RNG, B * K, 2));
            try (DeviceBuffer dh = upload(h, ElementType.BF16); DeviceBuffer dnw = upload(nw, ElementType.BF16);
                 DeviceBuffer out = poisoned(ElementType.F32, (long) B * (N + 8));
                 DeviceBuffer dgate = upload(gate, ElementType.BF16); DeviceBuffer dup = upload(up, ElementType.BF16);
                 DeviceBuffer ddown = upload(down, ElementType.BF16); DeviceBuffer act = poisoned(ElementType.BF16, (long) B * I);
                 DeviceBuffer dO = upload(o, ElementType.BF16); DeviceBuffer h2 = upload(h, ElementType.BF16)) {
                // q | k | v | f from the normed rows, fp32, rows N + 8 apart.
                DecodeLinear.normProject(gpu, out, N + 8, dh, dnw, eps, dws, B, K);
                float[] y = product(normed(h, nw, B, K, eps, false), wAll, B, K, N);
                float[] got = out.toFloatArray(), rows = new float[B * N];
                for (int b = 0; b < B; b++) System.arraycopy(got, b * (N + 8), rows, b * N, N);
                check("decode_linear.rms_store.B" + B, rows, y, BF16_TOL);
                // SwiGLU of the normed rows.
                DecodeLinear.normSwiGlu(gpu, act, dh, dnw, eps, dgate, dup, B, K);
                float[] xn = normed(h, nw, B, K, eps, false);
                float[] g = Bf16.round(product(xn, gate, B, K, I)), u = Bf16.round(product(xn, up, B, K, I));
                float[] a = new float[B * I];
                SwiGlu.forward(a, 0, g, 0, u, 0, a.length);
                a = Bf16.round(a);
                float[] actHost = act.toFloatArray();
                check("decode_linear.rms_swiglu.B" + B, actHost, a, BF16_TOL);
                // h += down(act), from the kernel's own act.
                DecodeLinear.projectAdd(gpu, dh, act, ddown, B, I);
                float[] d = product(actHost, down, B, I, K), hRef = new float[B * K];
                for (int i = 0; i < hRef.length; i++) hRef[i] = Bf16.round(h[i] + Bf16.round(d[i]));
                check("decode_linear.plain_add.B" + B, dh.toFloatArray(), hRef, BF16_TOL);
                // h += bf16(RMSNorm(silu(o))·w Woᵀ).
                float[] woHost = bf(randn(RNG, K * K, 0.03));
                try (DeviceBuffer wo = upload(woHost, ElementType.BF16)) {
                    DecodeLinear.gateProjectAdd(gpu, h2, dO, dnw, eps, wo, B, K);
                    float[] e = product(normed(o, nw, B, K, eps, true), woHost, B, K, K), ref = new float[B * K];
                    for (int i = 0; i < ref.length; i++) ref[i] = Bf16.round(h[i] + Bf16.round(e[i]));
                    check("decode_linear.gate_add.B" + B, h2.toFloatArray(), ref, BF16_TOL);
                }
                // Row 0 alone gives the same bits as row 0 of the batch.
                if (B > 1) {
                    try (DeviceBuffer h0 = upload(Arrays.copyOf(h, K), ElementType.BF16); DeviceBuffer one = poisoned(ElementType.F32, N + 8)) {
                        DecodeLinear.normProject(gpu, one, N + 8, h0, dnw, eps, dws, 1, K);
                        assertArrayEquals(Arrays.copyOf(got, N), Arrays.copyOf(one.toFloatArray(), N), "row 0 alone against row 0 of " + B);
                    }
                }
            } finally {
                for (DeviceBuffer w : dws) w.close();
            }
        }
    }

    // ------------------------------------------------------------------ GsaDecode

    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"F32", "BF16"})
    void gsaDecodeMatchesTheRecurrentStep(ElementType t) {
        Gpu gpu = gpu();
        int B = 5, H = 8, Hkv = 2, K = 64, V = 64, M = 64, steps = 3;
        float tau = 8f, scale = 1f;
        GsaDecode.Shape shape = new GsaDecode.Shape(H, Hkv, K, V, M);
        int qw = H * K, kw = Hkv * K, vw = Hkv * V, fw = Hkv * M, ld = qw + kw + vw + fw;
        GsaState[] ref = new GsaState[B];
        List<DeviceBuffer> states = new ArrayList<>();
        for (int b = 0; b < B; b++) {
            float[] hk = randn(RNG, Hkv * K * M, 0.3), hv = randn(RNG, Hkv * M * V, 0.3);
            ref[b] = new GsaState(1, Hkv, K, M, V, hk.clone(), hv.clone());
            states.add(upload(hk, ElementType.F32));
            states.add(upload(hv, ElementType.F32));
        }
        try (DeviceBuffer table = addresses(gpu, states)) {
            for (int st = 0; st < steps; st++) {
                float[] proj = randn(RNG, B * ld, 1.5);
                float[] q = new float[B * qw], k = new float[B * kw], v = new float[B * vw], s = new float[B * fw], g = new float[B * fw];
                for (int b = 0; b < B; b++) {
                    for (int i = 0; i < qw; i++) q[b * qw + i] = Silu.apply(proj[b * ld + i]);
                    for (int i = 0; i < kw; i++) k[b * kw + i] = Silu.apply(proj[b * ld + qw + i]);
                    for (int i = 0; i < vw; i++) v[b * vw + i] = Silu.apply(proj[b * ld + qw + kw + i]);
                    for (int i = 0; i < fw; i++) {
                        float f = proj[b * ld + qw + kw + vw + i] * 3;
                        proj[b * ld + qw + kw + vw + i] = f;
                        float ls = (float) (Math.min(f, 0) - Math.log1p(Math.exp(-Math.abs(f))));
                        g[b * fw + i] = ls / tau;
                        s[b * fw + i] = 1f - (float) Math.exp(g[b * fw + i]);
                    }
                }
                float[] oRef = GsaRecurrent.step(ref, H, q, k, v, s, g, scale);
                try (DeviceBuffer dp = upload(proj, ElementType.F32); DeviceBuffer o = poisoned(t, (long) B * H * V)) {
                    Rows all = new Rows(dp, ld);
                    GsaDecode.step(gpu, shape, B, o, table, all.columns(0, qw, B), all.columns(qw, kw, B), all.columns(qw + kw, vw, B),
                            all.columns(qw + kw + vw, fw, B), tau, scale);
                    check("gsa_decode.o." + t + ".step" + st, o.toFloatArray(), oRef, tol(t));
                }
            }
            float[] got = new float[0], want = new float[0];
            for (int b = 0; b < B; b++) {
                got = concat(got, states.get(2 * b).toFloatArray(), states.get(2 * b + 1).toFloatArray());
                want = concat(want, ref[b].hk(), ref[b].hv());
            }
            check("gsa_decode.state." + t, got, want, F32_TOL);
        } finally {
            for (DeviceBuffer b : states) b.close();
        }
    }

    static float[] concat(float[]... parts) {
        int n = 0;
        for (float[] p : parts) n += p.length;
        float[] out = new float[n];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    // ------------------------------------------------------------------ AttentionDecode

    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"F32", "BF16"})
    void attentionDecodeMatchesCoreAttentionOverTheRings(ElementType t) {
        for (int[] c : new int[][] {{64, 0, 0}, {64, 40, 0}, {128, 0, 1}}) attentionCase(t, c[0], c[1], c[2] == 1);
    }

    /** Rows at positions from 0 to 700, rings of their own capacities; two steps. */
    private void attentionCase(ElementType t, int D, int window, boolean mha) {
        Gpu gpu = gpu();
        int B = 4, H = mha ? 4 : 12, Hkv = mha ? 4 : 4, G = H / Hkv, half = D / 2, ropeRows = 1024;
        float scale = (float) (1 / Math.sqrt(D));
        AttentionDecode.Shape shape = new AttentionDecode.Shape(H, Hkv, D, window, scale);
        int[] pos = {0, 37, 300, 700};
        int[] cap = new int[B];
        for (int b = 0; b < B; b++) cap[b] = window > 0 ? window : pos[b] + 8;
        float[] invFreq = new float[half], cos = new float[ropeRows * half], sin = new float[ropeRows * half];
        for (int i = 0; i < half; i++) invFreq[i] = (float) Math.pow(10000, -2.0 * i / D);
        Rope.tables(invFreq, 0, ropeRows, cos, sin);
        int row = Hkv * D;
        float[][] kr = new float[B][], vr = new float[B][];
        List<DeviceBuffer> rings = new ArrayList<>();
        for (int b = 0; b < B; b++) {
            kr[b] = stored(randn(RNG, cap[b] * row, 1), t);
            vr[b] = stored(randn(RNG, cap[b] * row, 1), t);
            rings.add(upload(kr[b], t));
            rings.add(upload(vr[b], t));
        }
        int splits = AttentionDecode.splits(gpu, shape, B);
        try (DeviceBuffer table = addresses(gpu, rings); DeviceBuffer capacity = gpu.upload(cap);
             DeviceBuffer dcos = upload(cos, ElementType.F32); DeviceBuffer dsin = upload(sin, ElementType.F32);
             DeviceBuffer ws = gpu.f32(AttentionDecode.workspaceFloats(shape, B, splits));
             DeviceBuffer counters = gpu.i32(AttentionDecode.counters(shape, B))) {
            counters.zero();
            for (int st = 0; st < 2; st++) {
                int[] p = new int[B];
                for (int b = 0; b < B; b++) p[b] = pos[b] + st;
                int ldq = H * D, ld = ldq + 2 * row;
                float[] proj = randn(RNG, B * ld, 1);
                float[] ref = new float[B * H * D];
                for (int b = 0; b < B; b++) {
                    // The kernel's fused part: RoPE on q and the new key, the key and value stored (in the ring's type) at p % capacity.
                    int pb = p[b], slot = pb % cap[b];
                    float[] q = new float[ldq], k = new float[row];
                    Rope.forward(q, 0, proj, b * ld, cos, sin, pb, 1, H, D);
                    Rope.forward(k, 0, proj, b * ld + ldq, cos, sin, pb, 1, Hkv, D);
                    System.arraycopy(stored(k, t), 0, kr[b], slot * row, row);
                    System.arraycopy(stored(Arrays.copyOfRange(proj, b * ld + ldq + row, b * ld + ldq + 2 * row), t), 0, vr[b], slot * row, row);
                    Attention.decode(ref, b * H * D, q, 0, kr[b], vr[b], cap[b], pb, H, Hkv, D, window, scale);
                }
                try (DeviceBuffer dp = upload(proj, ElementType.F32); DeviceBuffer positions = gpu.upload(p);
                     DeviceBuffer o = poisoned(t, (long) B * H * D)) {
                    Rows all = new Rows(dp, ld);
                    AttentionDecode.decode(gpu, shape, B, splits, o, ws, counters, all.columns(0, ldq, B), all.columns(ldq, row, B),
                            all.columns(ldq + row, row, B), new AttentionDecode.Rings(table, capacity, positions, dcos, dsin, ropeRows));
                    check("attention_decode.D" + D + ".W" + window + "." + t + ".step" + st, o.toFloatArray(), ref, tol(t));
                }
            }
            assertArrayEquals(new int[counters.toIntArray().length], counters.toIntArray(), "merge counters left at zero");
            for (int b = 0; b < B; b++) {
                check("attention_decode.k_ring.D" + D + "." + t, rings.get(2 * b).toFloatArray(), kr[b], 1e-6);
                assertArrayEquals(vr[b], rings.get(2 * b + 1).toFloatArray(), "v ring of row " + b);
            }
        } finally {
            for (DeviceBuffer r : rings) r.close();
        }
    }

    // ------------------------------------------------------------------ Scoring

    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"F32", "BF16"})
    void scoringMatchesContinuationScorer(ElementType t) {
        Gpu gpu = gpu();
        int V = 8192;
        int[] lengths = {30, 1, 29, 30, 7};
        int C = lengths.length, R = Arrays.stream(lengths).sum();
        float[] logits = stored(randn(RNG, R * V, 3), t);
        int[] targets = new int[R], first = new int[C + 1];
        for (int c = 0; c < C; c++) first[c + 1] = first[c] + lengths[c];
        for (int r = 0; r < R; r++) {
            float[] row = Arrays.copyOfRange(logits, r * V, (r + 1) * V);
            boolean greedyRow = r < first[1] || r >= first[3];   // continuations 0, 3, 4 wholly greedy
            targets[r] = greedyRow ? ContinuationScorer.argmax(row) : RNG.nextInt(V);
        }
        try (DeviceBuffer dl = upload(logits, t); DeviceBuffer dt = gpu.upload(targets); DeviceBuffer df = gpu.upload(first)) {
            Continuations.Score[] got = Scoring.continuations(gpu, dl, dt, df, C, R, V);
            float[] sums = new float[C];
            double[] want = new double[C];
            for (int c = 0; c < C; c++) {
                double s = 0;
                boolean greedy = true;
                for (int r = first[c]; r < first[c + 1]; r++) {
                    float[] row = Arrays.copyOfRange(logits, r * V, (r + 1) * V);
                    s += ContinuationScorer.logProb(row, targets[r]);
                    greedy &= ContinuationScorer.argmax(row) == targets[r];
                }
                want[c] = s;
                sums[c] = (float) got[c].logLikelihood();
                assertEquals(greedy, got[c].greedy(), "greedy flag of continuation " + c);
            }
            check("scoring.sums." + t, sums, want, 1e-6);
        }
    }

    // ------------------------------------------------------------------ graphs

    @Test
    void aGraphOfDecodeKernelsReplaysTheirLaunchesBitForBit() {
        Gpu gpu = gpu();
        int B = 3, d = 512, H = 8, Hkv = 2, K = 64, V = 64, M = 32;
        int qw = H * K, kw = Hkv * K, vw = Hkv * V, fw = Hkv * M, ld = qw + kw + vw + fw;
        GsaDecode.Shape shape = new GsaDecode.Shape(H, Hkv, K, V, M);
        float[] h = bf(randn(RNG, B * d, 1)), nw = bf(uniform(RNG, d, 0.5, 1.5)), gn = bf(uniform(RNG, H * V, 0.5, 1.5));
        float[] wq = bf(randn(RNG, qw * d, 0.05)), wk = bf(randn(RNG, kw * d, 0.05)), wv = bf(randn(RNG, vw * d, 0.05)),
                wf = bf(randn(RNG, fw * d, 0.05)), wo = bf(randn(RNG, d * H * V, 0.05));
        float[][] st0 = new float[2 * B][];
        for (int i = 0; i < 2 * B; i++) st0[i] = randn(RNG, i % 2 == 0 ? Hkv * K * M : Hkv * M * V, 0.3);
        List<DeviceBuffer> owned = new ArrayList<>();
        try (DeviceBuffer dh = upload(h, ElementType.BF16); DeviceBuffer dnw = upload(nw, ElementType.BF16);
             DeviceBuffer dgn = upload(gn, ElementType.BF16); DeviceBuffer dwq = upload(wq, ElementType.BF16);
             DeviceBuffer dwk = upload(wk, ElementType.BF16); DeviceBuffer dwv = upload(wv, ElementType.BF16);
             DeviceBuffer dwf = upload(wf, ElementType.BF16); DeviceBuffer dwo = upload(wo, ElementType.BF16);
             DeviceBuffer proj = gpu.f32((long) B * ld); DeviceBuffer o = gpu.bf16((long) B * H * V)) {
            List<DeviceBuffer> states = new ArrayList<>();
            for (float[] s : st0) {
                DeviceBuffer b = upload(s, ElementType.F32);
                states.add(b);
                owned.add(b);
            }
            DeviceBuffer table = addresses(gpu, states);
            owned.add(table);
            Rows all = new Rows(proj, ld);
            Runnable layer = () -> {
                DecodeLinear.normProject(gpu, proj, ld, dh, dnw, 1e-5f, List.of(dwq, dwk, dwv, dwf), B, d);
                GsaDecode.step(gpu, shape, B, o, table, all.columns(0, qw, B), all.columns(qw, kw, B), all.columns(qw + kw, vw, B),
                        all.columns(qw + kw + vw, fw, B), 8f, 1f);
                DecodeLinear.gateProjectAdd(gpu, dh, o, dgn, 1e-5f, dwo, B, H * V);
            };
            Runnable reset = () -> {
                dh.copyFrom(h);
                for (int i = 0; i < 2 * B; i++) states.get(i).copyFrom(st0[i]);
            };
            reset.run();
            layer.run();
            layer.run();
            float[] eager = dh.toFloatArray(), eagerState = states.get(0).toFloatArray();
            for (boolean programmatic : new boolean[] {false, true}) {
                boolean was = gpu.setProgrammaticLaunches(programmatic);
                try (CudaGraph graph = CudaGraph.capture(gpu.stream(), layer)) {
                    reset.run();
                    graph.launch(gpu.stream());
                    graph.launch(gpu.stream());
                    assertArrayEquals(eager, dh.toFloatArray(), "graph replay (programmatic " + programmatic + ") against eager launches");
                    assertArrayEquals(eagerState, states.get(0).toFloatArray(), "state after the replays");
                } finally {
                    gpu.setProgrammaticLaunches(was);
                }
            }
        } finally {
            for (DeviceBuffer b : owned) b.close();
        }
    }
}
