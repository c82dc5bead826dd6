package gsat2r.bench;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.CublasLt;
import gsat2r.gpu.cuda.CudaEvent;
import gsat2r.gpu.cuda.MatmulShape;
import gsat2r.gpu.ops.AdamW;
import gsat2r.gpu.ops.Convert;
import gsat2r.gpu.ops.CrossEntropy;
import gsat2r.gpu.ops.Embedding;
import gsat2r.gpu.ops.KlDivergence;
import gsat2r.gpu.ops.Matmul;
import gsat2r.gpu.ops.RmsNorm;
import gsat2r.gpu.ops.ShortConv;
import gsat2r.gpu.ops.SwiGlu;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * The engine's ceilings and the first kernels' speed, measured with CUDA events after warm-up
 * (median of many runs, random data, never zeros): memory bandwidth of a copy kernel, cuBLASLt at
 * 8192^3 and at the tiny-llama training shapes (16 x 512 tokens), and the elementwise and loss
 * kernels at those shapes. Prints a table last. Run on the GPU machine (scripts/device/gpu-suite.sh).
 */
public final class GpuBench {
    private record Row(String name, double millis, double rate, String unit, String note) {}

    private final Gpu gpu;
    private final List<Row> rows = new ArrayList<>();
    private final SplittableRandom random = new SplittableRandom(17);

    private GpuBench(Gpu gpu) {
        this.gpu = gpu;
    }

    public static void main(String[] args) {
        try (Gpu gpu = Gpu.open()) {
            GpuBench b = new GpuBench(gpu);
            System.out.println("device: " + gpu.info() + ", cuBLASLt " + CublasLt.version());
            b.launchOverhead();
            b.bandwidth();
            b.bigMatmuls();
            b.tinyLlamaMatmuls();
            b.kernels();
            b.print();
        }
    }

    private float[] randomFloats(long n, double scale) {
        float[] a = new float[Math.toIntExact(n)];
        for (int i = 0; i < a.length; i++) a[i] = (float) ((random.nextDouble() * 2 - 1) * scale);
        return a;
    }

    private DeviceBuffer randomBuffer(ElementType t, long n, double scale) {
        return gpu.upload(randomFloats(n, scale), t);
    }

    /**
     * Median milliseconds of one run of {@code work}: after warm-up (JIT and clocks), runs are timed
     * in batches back to back between two events, each batch at least ~2 ms of GPU time, so that
     * the host's launch cost hides behind the queue; the median over {@code reps} batches, divided
     * by the batch size.
     */
    private double time(int warmup, int reps, Runnable work) {
        for (int i = 0; i < warmup; i++) work.run();
        gpu.synchronize();
        try (CudaEvent start = gpu.newEvent(); CudaEvent stop = gpu.newEvent()) {
            int inner = 1;
            while (true) {
                start.record(gpu.stream());
                for (int i = 0; i < inner; i++) work.run();
                stop.record(gpu.stream());
                if (stop.elapsedMillisSince(start) >= 2.0 || inner >= 4096) break;
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

    /** Host cost of one kernel launch from Java (argument checks, marshalling, cuLaunchKernel), and the back-to-back rate. */
    private void launchOverhead() {
        try (DeviceBuffer x = gpu.f32(256)) {
            for (int i = 0; i < 30_000; i++) Convert.fill(gpu, x, i);
            gpu.synchronize();
            int n = 500;  // fewer than the driver's queue holds, so the host does not wait for the GPU
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) Convert.fill(gpu, x, i);
            long t1 = System.nanoTime();
            gpu.synchronize();
            add("launch from Java, host side (fill 256 floats)", (t1 - t0) / 1e6 / n, 1e9 / ((t1 - t0) / (double) n) / 1e6, "M launches/s",
                    "checks + FFM + cuLaunchKernel");
            int m = 20_000;
            long t2 = System.nanoTime();
            for (int i = 0; i < m; i++) Convert.fill(gpu, x, i);
            gpu.synchronize();
            long t3 = System.nanoTime();
            add("tiny kernels back to back (fill 256 floats)", (t3 - t2) / 1e6 / m, 1e9 / ((t3 - t2) / (double) m) / 1e6, "M launches/s",
                    "host or GPU bound, whichever is slower");
        }
    }

    private void add(String name, double ms, double rate, String unit, String note) {
        rows.add(new Row(name, ms, rate, unit, note));
        System.out.printf(Locale.ROOT, "BENCH %-44s %9.4f ms %9.1f %s %s%n", name, ms, rate, unit, note);
    }

    private void bandwidth() {
        long bytes = 1L << 30;
        try (DeviceBuffer src = randomBuffer(ElementType.F32, bytes / 4, 1); DeviceBuffer dst = gpu.f32(bytes / 4)) {
            double ms = time(20, 15, () -> Convert.copy16(gpu, dst, src));
            add("copy kernel 1 GiB (read + write)", ms, 2.0 * bytes / (ms * 1e-3) / 1e9, "GB/s", "16-byte loads/stores");
            double ms2 = time(20, 15, () -> dst.copyFrom(src));
            add("cuMemcpyDtoDAsync 1 GiB (read + write)", ms2, 2.0 * bytes / (ms2 * 1e-3) / 1e9, "GB/s", "driver copy");
        }
    }

    private void matmul(String name, MatmulShape s, ElementType ab, ElementType c, int sets, int reps, String note) {
        long aLen = s.extentA(), bLen = s.extentB(), cLen = s.extentC();
        DeviceBuffer[] as = new DeviceBuffer[sets];
        try (DeviceBuffer b = randomBuffer(ab, bLen, 1); DeviceBuffer out = gpu.allocate(c, cLen)) {
            for (int i = 0; i < sets; i++) as[i] = randomBuffer(ab, aLen, 1);
            int[] next = {0};
            double ms = time(5, reps, () -> Matmul.run(gpu, s, as[next[0]++ % sets], b, out, 1f, 0f));
            add(name, ms, s.flops() / (ms * 1e-3) / 1e12, "TFLOP/s", note);
        } finally {
            for (DeviceBuffer a : as) if (a != null) a.close();
        }
    }

    private void bigMatmuls() {
        int n = 8192;
        matmul("matmul 8192^3 bf16 -> bf16", MatmulShape.of(false, true, n, n, n, CublasLt.DataType.BF16, CublasLt.DataType.BF16),
                ElementType.BF16, ElementType.BF16, 1, 20, "fp32 accumulate");
        matmul("matmul 8192^3 bf16 -> fp32", MatmulShape.of(false, true, n, n, n, CublasLt.DataType.BF16, CublasLt.DataType.F32),
                ElementType.BF16, ElementType.F32, 1, 20, "fp32 accumulate");
        matmul("matmul 8192^3 fp32 (TF32)", MatmulShape.of(false, true, n, n, n, CublasLt.DataType.F32, CublasLt.DataType.F32)
                .withCompute(CublasLt.Compute.F32_FAST_TF32), ElementType.F32, ElementType.F32, 1, 10, "");
        matmul("matmul 8192^3 fp32 (strict)", MatmulShape.of(false, true, n, n, n, CublasLt.DataType.F32, CublasLt.DataType.F32),
                ElementType.F32, ElementType.F32, 1, 5, "");
    }

    /** tiny-llama: d 384, 6 heads / 2 kv heads of 64, MLP 1024, vocab 8192; a batch of 16 x 512 tokens. */
    private void tinyLlamaMatmuls() {
        int tokens = 16 * 512;
        int[][] linears = {{384, 384}, {384, 128}, {384, 1024}, {1024, 384}, {384, 8192}};
        String[] names = {"q/o 384->384", "k/v 384->128", "gate/up 384->1024", "down 1024->384", "lm_head 384->8192"};
        var bf = CublasLt.DataType.BF16;
        var f32 = CublasLt.DataType.F32;
        for (int i = 0; i < linears.length; i++) {
            int in = linears[i][0], out = linears[i][1];
            String note = "8192 tokens, 4 input sets";
            matmul("tiny fwd  " + names[i], MatmulShape.of(false, true, tokens, out, in, bf, bf), ElementType.BF16, ElementType.BF16, 4, 50, note);
            matmul("tiny dX   " + names[i], MatmulShape.of(false, false, tokens, in, out, bf, bf), ElementType.BF16, ElementType.BF16, 4, 50, note);
            matmul("tiny dW   " + names[i], MatmulShape.of(true, false, out, in, tokens, bf, f32), ElementType.BF16, ElementType.F32, 4, 50, note);
        }
    }

    private void kernels() {
        int tokens = 16 * 512, d = 384, f = 1024, vocab = 8192;
        try (DeviceBuffer x = randomBuffer(ElementType.BF16, (long) tokens * d, 2); DeviceBuffer w = randomBuffer(ElementType.BF16, d, 1);
             DeviceBuffer y = gpu.bf16((long) tokens * d); DeviceBuffer rstd = gpu.f32(tokens); DeviceBuffer dw = gpu.f32(d)) {
            double ms = time(20, 15, () -> RmsNorm.forward(gpu, y, rstd, x, w, tokens, d, 1e-5f));
            add("rmsnorm fwd 8192x384 bf16", ms, (2.0 * tokens * d * 2 + tokens * 4) / (ms * 1e-3) / 1e9, "GB/s", "");
            dw.zero();
            double ms2 = time(20, 15, () -> RmsNorm.backwardDeterministic(gpu, y, dw, x, x, w, rstd, tokens, d, false));
            add("rmsnorm bwd 8192x384 bf16", ms2, (3.0 * tokens * d * 2) / (ms2 * 1e-3) / 1e9, "GB/s", "");
        }
        try (DeviceBuffer table = randomBuffer(ElementType.BF16, (long) vocab * d, 1); DeviceBuffer out = gpu.bf16((long) tokens * d);
             DeviceBuffer ids = gpu.upload(random.ints(tokens, 0, vocab).toArray())) {
            double ms = time(20, 15, () -> Embedding.forward(gpu, out, ids, table, tokens, d, vocab));
            add("embedding fwd 8192x384 bf16", ms, (2.0 * tokens * d * 2) / (ms * 1e-3) / 1e9, "GB/s", "");
        }
        long n = (long) tokens * f;
        try (DeviceBuffer g = randomBuffer(ElementType.BF16, n, 3); DeviceBuffer u = randomBuffer(ElementType.BF16, n, 1);
             DeviceBuffer o = gpu.bf16(n); DeviceBuffer dg = gpu.bf16(n); DeviceBuffer du = gpu.bf16(n)) {
            double ms = time(20, 15, () -> SwiGlu.forward(gpu, o, g, u, n));
            add("swiglu fwd 8192x1024 bf16", ms, 3.0 * n * 2 / (ms * 1e-3) / 1e9, "GB/s", "");
            double ms2 = time(20, 15, () -> SwiGlu.backward(gpu, dg, du, o, g, u, n));
            add("swiglu bwd 8192x1024 bf16", ms2, 5.0 * n * 2 / (ms2 * 1e-3) / 1e9, "GB/s", "");
        }
        long logits = (long) tokens * vocab;
        try (DeviceBuffer s = randomBuffer(ElementType.BF16, logits, 4); DeviceBuffer t = randomBuffer(ElementType.BF16, logits, 4);
             DeviceBuffer ds = gpu.bf16(logits); DeviceBuffer loss = gpu.f32(tokens);
             DeviceBuffer targets = gpu.upload(random.ints(tokens, 0, vocab).toArray())) {
            double ms = time(20, 15, () -> CrossEntropy.forwardBackward(gpu, loss, ds, s, targets, tokens, vocab, 1f / tokens));
            add("cross-entropy + dlogits 8192x8192 bf16", ms, 2.0 * logits * 2 / (ms * 1e-3) / 1e9, "GB/s", "read + write once");
            double ms2 = time(20, 15, () -> KlDivergence.forwardBackward(gpu, loss, ds, s, t, null, tokens, vocab, 2f, 4f / tokens));
            add("KL(T=2) + dstudent 8192x8192 bf16", ms2, 3.0 * logits * 2 / (ms2 * 1e-3) / 1e9, "GB/s", "read 2 + write once");
        }
        shortConv(16, 1024, 384, 4);              // recall-llama's q projection at its recipe's 16 x 1024 tokens
        shortConv(16, 1024, 128, 4);              // its k and v (2 kv heads of 64)
        long params = 15_700_000;
        try (DeviceBuffer p = randomBuffer(ElementType.F32, params, 0.05); DeviceBuffer pb = gpu.bf16(params);
             DeviceBuffer gr = randomBuffer(ElementType.F32, params, 0.01); DeviceBuffer m = gpu.f32(params); DeviceBuffer v = gpu.f32(params)) {
            m.zero();
            v.zero();
            long[] step = {1};
            AdamW.Hyper h = new AdamW.Hyper(1e-4f, 0.9f, 0.999f, 1e-8f, 0.1f);
            double ms = time(20, 15, () -> AdamW.step(gpu, h, step[0]++, p, pb, gr, m, v, null));
            add("AdamW 15.7M params (+bf16 copy)", ms, (4.0 * 4 + 3 * 4 + 2) * params / (ms * 1e-3) / 1e9, "GB/s", "");
        }
    }

    /** The short convolution's forward and backward (dx and the weight gradient) on batch x seqLen rows of channels, bf16. */
    private void shortConv(int batch, int seqLen, int channels, int taps) {
        long n = (long) batch * seqLen * channels;
        try (DeviceBuffer x = randomBuffer(ElementType.BF16, n, 1); DeviceBuffer w = randomBuffer(ElementType.BF16, (long) channels * taps, 0.5);
             DeviceBuffer y = gpu.bf16(n); DeviceBuffer dx = gpu.bf16(n); DeviceBuffer dw = gpu.f32((long) channels * taps)) {
            dw.zero();
            String shape = batch + "x" + seqLen + "x" + channels + " K" + taps + " bf16";
            double ms = time(20, 15, () -> ShortConv.forward(gpu, y, x, w, batch, seqLen, channels, taps));
            add("short conv fwd " + shape, ms, 2.0 * n * 2 / (ms * 1e-3) / 1e9, "GB/s", "read + write once");
            double ms2 = time(20, 15, () -> ShortConv.backward(gpu, dx, dw, y, x, w, batch, seqLen, channels, taps, false));
            add("short conv bwd (dx, dw) " + shape, ms2, 4.0 * n * 2 / (ms2 * 1e-3) / 1e9, "GB/s", "read dy twice, x once, write dx");
        }
    }

    private void print() {
        System.out.println();
        System.out.println("| measurement | median ms | rate | note |");
        System.out.println("|---|---:|---:|---|");
        for (Row r : rows) {
            System.out.printf(Locale.ROOT, "| %s | %.4f | %.1f %s | %s |%n", r.name(), r.millis(), r.rate(), r.unit(), r.note());
        }
    }
}
