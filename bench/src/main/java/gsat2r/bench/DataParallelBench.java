package gsat2r.bench;

import gsat2r.core.model.Precision;
import gsat2r.core.data.SplitMix64;
import gsat2r.training.AdamWStep;
import gsat2r.training.BackendRequest;
import gsat2r.training.Objective;
import gsat2r.training.TokenBatch;
import gsat2r.training.TrainableSet;
import gsat2r.training.distributed.DataParallelOptions;
import gsat2r.training.distributed.LocalGroup;
import gsat2r.training.distributed.ProcessGroup;
import gsat2r.gpu.cuda.Cuda;
import gsat2r.gpumodels.CudaGsaBackend;
import gsat2r.core.model.ModelDirectory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Times the data-parallel distill step on 1…N GPUs of this machine: one rank per GPU (threads of this JVM,
 * a {@link LocalGroup}, the transport chosen as in a run: NCCL when it loads), each with micro-batch
 * {@code B × T} (weak scaling: the global batch grows with the GPUs, as {@code t2r finetune --gpus N} with a
 * fixed per-rank micro-batch does). A step is what the trainer runs on every rank: teacher forward, student
 * forward and backward with the gradient buckets summed while it runs, the norm, the sharded AdamW and the
 * parameter all-gather. 1 GPU is the plain backend (no data parallelism). Prints per GPU count the median
 * step time, the tokens/s of all GPUs together and the scaling efficiency
 * {@code tokens/s(N) / (N · tokens/s(1))}, then a table.
 *
 * <pre>
 * java -Xmx… -cp … gsat2r.bench.DataParallelBench --work DIR [--preset llama-3.2-1b] [--shape 8x512]
 *     [--gpus 1,2,4,8] [--steps 10] [--warmup 3] [--bucket-mib 25]
 * </pre>
 * Each rank holds the student's host copy (GsaModel) as well: give the JVM about 6 GiB of heap per GPU for the
 * 1B shape.
 */
public final class DataParallelBench {
    private DataParallelBench() {}

    record Row(int gpus, String transport, int buckets, double stepMs, double tokensPerSec, double efficiency) {}

    public static void main(String[] args) throws Exception {
        Path work = Path.of("bench-work");
        String preset = "llama-3.2-1b", shape = "8x512", gpuList = null;
        int steps = 10, warmup = 3;
        long bucketMiB = DataParallelOptions.DEFAULT_BUCKET_CAP_BYTES >> 20;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--work" -> work = Path.of(args[++i]);
                case "--preset" -> preset = args[++i];
                case "--shape" -> shape = args[++i];
                case "--gpus" -> gpuList = args[++i];
                case "--steps" -> steps = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--bucket-mib" -> bucketMiB = Long.parseLong(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        int visible = Cuda.deviceCount();
        List<Integer> counts = new ArrayList<>();
        if (gpuList == null) {
            for (int n = 1; n <= visible; n *= 2) counts.add(n);
            if (!counts.contains(visible)) counts.add(visible);
        } else {
            for (String x : gpuList.split(",")) counts.add(Integer.parseInt(x.strip()));
        }
        for (int n : counts) {
            if (n < 1 || n > visible) throw new IllegalArgumentException("--gpus " + n + ": " + visible + " GPU(s) visible here");
        }
        Path teacher = work.resolve(preset + "-teacher"), student = work.resolve(preset + "-student");
        DistillBench.prepare(preset, teacher, student);
        String[] bt = shape.split("x");
        int B = Integer.parseInt(bt[0]), T = Integer.parseInt(bt[1]);
        DataParallelOptions options = new DataParallelOptions(bucketMiB << 20, DataParallelOptions.DEFAULT_ALIGNMENT);
        List<Row> rows = new ArrayList<>();
        double single = 0;
        for (int n : counts) {
            System.out.println("== " + preset + ", " + n + " GPU(s), micro-batch " + B + " x " + T + " per GPU");
            Row r = run(teacher, student, n, B, T, steps, warmup, options, single);
            if (n == 1) {
                single = r.tokensPerSec();
                r = new Row(1, r.transport(), r.buckets(), r.stepMs(), r.tokensPerSec(), 1.0);
            }
            System.out.printf(Locale.ROOT, "   %d GPU(s) [%s, %d buckets]: step median %.2f ms = %,.0f tokens/s, scaling efficiency %s%n", n,
                    r.transport(), r.buckets(), r.stepMs(), r.tokensPerSec(), single > 0 ? String.format(Locale.ROOT, "%.1f%%", 100 * r.efficiency()) : "-");
            rows.add(r);
        }
        System.out.println();
        System.out.println("| model | GPUs | micro-batch per GPU | transport | step (ms) | tokens/s (all GPUs) | tokens/s per GPU | scaling efficiency |");
        System.out.println("|---|---:|---|---|---:|---:|---:|---:|");
        for (Row r : rows) {
            System.out.printf(Locale.ROOT, "| %s | %d | %d x %d | %s | %.2f | %,.0f | %,.0f | %s |%n", preset, r.gpus(), B, T, r.transport(), r.stepMs(),
                    r.tokensPerSec(), r.tokensPerSec() / r.gpus(), single > 0 ? String.format(Locale.ROOT, "%.1f%%", 100 * r.efficiency()) : "-");
        }
    }

    /** Median step over {@code steps} timed steps on rank 0, after {@code warmup}; tokens/s of all ranks together. */
    static Row run(Path teacher, Path student, int gpus, int B, int T, int steps, int warmup, DataParallelOptions options, double single)
            throws Exception {
        List<ProcessGroup> groups = LocalGroup.create(gpus, Duration.ofMinutes(10));
        ExecutorService pool = Executors.newFixedThreadPool(gpus);
        try {
            List<Future<Row>> futures = new ArrayList<>();
            for (ProcessGroup g : groups) futures.add(pool.submit(() -> rank(g, teacher, student, B, T, steps, warmup, options, single)));
            Row first = null;
            for (Future<Row> f : futures) {
                try {
                    Row r = f.get();
                    if (first == null) first = r;
                } catch (ExecutionException e) {
                    for (ProcessGroup g : groups) g.abort(String.valueOf(e.getCause()));
                    throw e;
                }
            }
            return first;
        } finally {
            pool.shutdownNow();
            for (ProcessGroup g : groups) g.close();
        }
    }

    static Row rank(ProcessGroup g, Path teacher, Path student, int B, int T, int steps, int warmup, DataParallelOptions options, double single) {
        int world = g.worldSize();
        try (CudaGsaBackend backend = CudaGsaBackend.open(new BackendRequest(ModelDirectory.open(teacher), ModelDirectory.open(student),
                DistillBench.PRECISION, B, T, false, g, options, g.rank()))) {
            if (g.rank() == 0) System.out.println("   rank 0: " + backend.description());
            boolean parallel = world > 1;
            backend.setTrainable(new TrainableSet.All(), 0);
            int vocab = backend.vocabSize();
            Objective kl = new Objective.Distill(1.0, 0.0);
            SplitMix64 rng = new SplitMix64(1 + g.rank());
            double[] stepMs = new double[steps];
            double scale = 1.0 / ((double) world * B * T);
            for (int s = 1; s <= warmup + steps; s++) {
                TokenBatch batch = DistillBench.batch(rng, vocab, B, T);
                long t0 = System.nanoTime();
                backend.forwardBackward(kl, batch, scale, true);
                double norm = backend.gradientNorm();
                backend.optimizerStep(new AdamWStep(s, 3e-4, 0.9, 0.95, 1e-8, 0.0, Math.min(1, 1.0 / (norm + 1e-6))));
                if (s > warmup) stepMs[s - warmup - 1] = (System.nanoTime() - t0) / 1e6;
            }
            double med = DistillBench.median(stepMs);
            if (g.rank() == 0) {
                System.out.printf(Locale.ROOT, "   rank 0 steps (ms): %s%n", Arrays.toString(Arrays.stream(stepMs).map(x -> Math.round(x * 10) / 10.0).toArray()));
            }
            double tokensPerSec = (double) world * B * T / (med / 1e3);
            String transport = parallel ? backend.dataParallelTransport() : "none";
            int buckets = parallel ? backend.dataParallelBuckets() : 0;
            return new Row(world, transport, buckets, med, tokensPerSec, single > 0 ? tokensPerSec / (world * single) : 0);
        }
    }
}
