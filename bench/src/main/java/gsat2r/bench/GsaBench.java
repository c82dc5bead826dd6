package gsat2r.bench;

import gsat2r.core.gsa.GsaShape;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.CudaEvent;
import gsat2r.gpu.ops.Attention;
import gsat2r.gpu.ops.Gsa;
import gsat2r.gpu.ops.KernelTimes;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Speed of the GSA chunk kernels and of flash attention, bf16, at the shapes of issue 4 (the ones
 * scripts/bench/fla_bench.py times for fla's chunk_gsa and PyTorch's scaled_dot_product_attention),
 * with CUDA events after warm-up (median of batches, random data with realistic gates). Prints
 * {@code BENCH-JSON} lines that scripts/bench/compare.py joins with fla's, and a table last.
 *
 * <p>FLOPs: the matrix products of the chunked algorithm (chunk C = 64, full C x C blocks, as fla
 * computes them), per (sequence, query head, chunk): pass 1 {@code 4CKM + 2C²K + 2C²M}, pass 2
 * {@code 4CMV + 2C²M + 2C²V}; forward + backward counted as 3 x forward (the usual convention).
 * Attention: {@code 4·B·H·T²·D / 2} (causal half) forward, 3.5 x that for forward + backward.
 *
 *   java ... gsat2r.bench.GsaBench [gsa|attention|all]
 */
public final class GsaBench {
    private record Row(String name, double millis, double tflops) {}

    private final Gpu gpu;
    private final SplittableRandom random = new SplittableRandom(4);
    private final List<Row> rows = new ArrayList<>();

    private GsaBench(Gpu gpu) {
        this.gpu = gpu;
    }

    public static void main(String[] args) {
        String what = args.length > 0 ? args[0] : "all";
        try (Gpu gpu = Gpu.open()) {
            System.out.println("device: " + gpu.info());
            GsaBench b = new GsaBench(gpu);
            if (what.equals("gsa") || what.equals("all")) {
                for (String kernel : new String[] {"gsa_fwd_states", "gsa_fwd_out", "gsa_bwd_dp", "gsa_bwd_states", "gsa_bwd_chunk"}) {
                    System.out.printf(Locale.ROOT, "OCCUPANCY %s_m64_bf16 %d CTAs per SM (%d bytes of shared memory, %d registers)%n",
                            kernel, Gsa.ctasPerSm(gpu, kernel, 64, ElementType.BF16), Gsa.sharedBytes(gpu, kernel, 64, ElementType.BF16),
                            gpu.kernel(kernel + "_m64", ElementType.BF16).registers());
                }
                b.gsa("gsa B4 T2048 H32 K128 V128 M64", new GsaShape(4, 2048, 32, 32, 128, 128, 64));
                b.gsa("gsa B8 T2048 H4 K512 V512 M64", new GsaShape(8, 2048, 4, 4, 512, 512, 64));
                b.gsa("gsa B16 T512 H6 K64 V64 M64", new GsaShape(16, 512, 6, 6, 64, 64, 64));
            }
            if (what.equals("attention") || what.equals("all")) {
                for (String kernel : new String[] {"attn_fwd", "attn_bwd_dq", "attn_bwd_dkdv"}) {
                    System.out.printf(Locale.ROOT, "OCCUPANCY %s_d64_bf16 %d CTAs per SM (%d bytes of shared memory, %d registers)%n",
                            kernel, Attention.ctasPerSm(gpu, kernel, 64, ElementType.BF16),
                            Attention.sharedBytes(kernel, 64, ElementType.BF16), gpu.kernel(kernel + "_d64", ElementType.BF16).registers());
                }
                b.attention("attn tiny-llama B16 T512 H6/2 D64", new Attention.Shape(16, 512, 6, 2, 64, 0, 0.125f));
                b.attention("attn llama-3.2-1b B4 T2048 H32/8 D64", new Attention.Shape(4, 2048, 32, 8, 64, 0, 0.125f));
                b.attention("attn llama-3.2-1b B4 T2048 H32/8 D64 W512", new Attention.Shape(4, 2048, 32, 8, 64, 512, 0.125f));
            }
            b.print();
        }
    }

    private DeviceBuffer random(long n, double lo, double hi) {
        float[] a = new float[Math.toIntExact(n)];
        for (int i = 0; i < a.length; i++) a[i] = (float) (lo + (hi - lo) * random.nextDouble());
        return gpu.upload(a, ElementType.BF16);
    }

    private DeviceBuffer gaussian(long n) {
        float[] a = new float[Math.toIntExact(n)];
        for (int i = 0; i < a.length; i++) {
            double u = random.nextDouble(), v = random.nextDouble();
            a[i] = (float) (Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * v));
        }
        return gpu.upload(a, ElementType.BF16);
    }

    /** Median milliseconds of one run, timed in batches of at least ~5 ms between two events after warm-up. */
    private double time(int warmup, int reps, Runnable work) {
        for (int i = 0; i < warmup; i++) work.run();
        gpu.synchronize();
        try (CudaEvent start = gpu.newEvent(); CudaEvent stop = gpu.newEvent()) {
            int inner = 1;
            while (true) {
                start.record(gpu.stream());
                for (int i = 0; i < inner; i++) work.run();
                stop.record(gpu.stream());
                if (stop.elapsedMillisSince(start) >= 5.0 || inner >= 256) break;
                inner *= 2;
            }
            double[] ms = new double[reps];
            for (int r = 0; r < reps; r++) {
                start.record(gpu.stream());
                for (int i = 0; i < inner; i++) work.run();
                stop.record(gpu.stream());
                ms[r] = stop.elapsedMillisSince(start) / inner;
            }
            Arrays.sort(ms);
            return ms[reps / 2];
        }
    }

    static double gsaForwardFlops(GsaShape s) {
        double C = Gsa.CHUNK, K = s.keyDim(), V = s.valueDim(), M = s.slots();
        double perChunk = (4 * C * K * M + 2 * C * C * K + 2 * C * C * M) + (4 * C * M * V + 2 * C * C * M + 2 * C * C * V);
        return perChunk * s.batch() * s.heads() * Gsa.chunks(s);
    }

    private void gsa(String name, GsaShape s) {
        float scale = 1f;  // the GSA layer's scale, and fla's numbers in shared/README.md
        try (DeviceBuffer q = gaussian(s.qSize()); DeviceBuffer k = gaussian(s.kSize()); DeviceBuffer v = gaussian(s.vSize());
             DeviceBuffer g = random(s.slotSize(), -0.6, -0.001); DeviceBuffer sl = random(s.slotSize(), 0.001, 0.45);
             DeviceBuffer o = gpu.bf16(s.oSize()); DeviceBuffer dO = gaussian(s.oSize());
             DeviceBuffer dq = gpu.bf16(s.qSize()); DeviceBuffer dk = gpu.bf16(s.kSize()); DeviceBuffer dv = gpu.bf16(s.vSize());
             DeviceBuffer ds = gpu.bf16(s.slotSize()); DeviceBuffer dg = gpu.bf16(s.slotSize())) {
            Gsa.Inputs in = new Gsa.Inputs(q, k, v, sl, g);
            Gsa.Gradients grads = new Gsa.Gradients(dq, dk, dv, ds, dg);
            double flops = gsaForwardFlops(s);
            double fwd = time(3, 15, () -> Gsa.forward(gpu, s, scale, in, o, null, null, false));
            add(name + " fwd", fwd, flops);
            double fwdSave = time(3, 15, () -> {
                try (Gsa.Saved saved = Gsa.forward(gpu, s, scale, in, o, null, null, true)) {
                    // forward of a training step: keeps the chunk states, ok and p
                }
            });
            add(name + " fwd (training, saves)", fwdSave, flops);
            double fwdBwd = time(3, 15, () -> {
                try (Gsa.Saved saved = Gsa.forward(gpu, s, scale, in, o, null, null, true)) {
                    Gsa.backward(gpu, saved, in, dO, null, grads, null);
                }
            });
            add(name + " fwd+bwd", fwdBwd, 3 * flops);
            breakdown(name, () -> {
                try (Gsa.Saved saved = Gsa.forward(gpu, s, scale, in, o, null, null, true)) {
                    Gsa.backward(gpu, saved, in, dO, null, grads, null);
                }
            });
        }
    }

    /** Milliseconds per kernel (each launch bracketed by events and waited for), averaged over 5 runs of {@code work}. */
    private void breakdown(String name, Runnable work) {
        work.run();
        gpu.synchronize();
        KernelTimes.drain();
        KernelTimes.enable(true);
        try {
            for (int i = 0; i < 5; i++) work.run();
        } finally {
            KernelTimes.enable(false);
        }
        KernelTimes.drain().forEach((kernel, t) -> System.out.printf(Locale.ROOT, "BREAKDOWN %-44s %-16s %8.4f ms%n", name, kernel,
                t[0] / 5));
    }

    private void attention(String name, Attention.Shape s) {
        try (DeviceBuffer q = gaussian(s.qSize()); DeviceBuffer k = gaussian(s.kvSize()); DeviceBuffer v = gaussian(s.kvSize());
             DeviceBuffer o = gpu.bf16(s.qSize()); DeviceBuffer lse = gpu.f32(s.rows()); DeviceBuffer dO = gaussian(s.qSize());
             DeviceBuffer dq = gpu.bf16(s.qSize()); DeviceBuffer dk = gpu.bf16(s.kvSize()); DeviceBuffer dv = gpu.bf16(s.kvSize())) {
            double T = s.seqLen();
            double keys = s.window() > 0 ? Math.min(T, s.window()) : T;
            // causal: each query sees (on average) about half of T keys, or the window
            double pairs = s.window() > 0 ? T * keys - keys * keys / 2 : T * T / 2;
            double flops = 4.0 * s.batch() * s.heads() * pairs * s.headDim();
            double fwd = time(5, 15, () -> Attention.forward(gpu, s, o, lse, q, k, v));
            add(name + " fwd", fwd, flops);
            double both = time(5, 15, () -> {
                Attention.forward(gpu, s, o, lse, q, k, v);
                Attention.backward(gpu, s, dq, dk, dv, dO, q, k, v, o, lse);
            });
            add(name + " fwd+bwd", both, 3.5 * flops);
            breakdown(name, () -> {
                Attention.forward(gpu, s, o, lse, q, k, v);
                Attention.backward(gpu, s, dq, dk, dv, dO, q, k, v, o, lse);
            });
        }
    }

    private void add(String name, double ms, double flops) {
        double tf = flops / (ms * 1e-3) / 1e12;
        rows.add(new Row(name, ms, tf));
        System.out.printf(Locale.ROOT, "BENCH-JSON {\"impl\": \"ours\", \"name\": \"%s\", \"ms\": %.5f, \"tflops\": %.2f}%n", name, ms, tf);
    }

    private void print() {
        System.out.println();
        System.out.println("| measurement (ours, bf16) | median ms | TFLOP/s |");
        System.out.println("|---|---:|---:|");
        for (Row r : rows) System.out.printf(Locale.ROOT, "| %s | %.3f | %.1f |%n", r.name(), r.millis(), r.tflops());
    }
}
