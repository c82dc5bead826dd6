package gsat2r.bench;

import gsat2r.core.model.Precision;
import gsat2r.converter.ConvertOptions;
import gsat2r.converter.Converter;
import gsat2r.converter.GateInit;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.config.LlamaConfig;
import gsat2r.core.data.SplitMix64;
import gsat2r.bench.RandomCheckpoint;
import gsat2r.training.AdamWStep;
import gsat2r.training.BackendRequest;
import gsat2r.training.Objective;
import gsat2r.training.TokenBatch;
import gsat2r.training.TrainableSet;
import gsat2r.gpumodels.CudaGsaBackend;
import gsat2r.core.model.ModelDirectory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Times one distillation training step on the GPU, as the trainer runs it: teacher forward, student
 * forward and backward, KL at τ = 1 (the tiny-llama recipe's distill stage), gradient norm and AdamW on
 * every student parameter (micro-batch = batch). Prints per shape the median step time, tokens/s and the
 * model FLOP utilisation (MFU) against the H100's dense bf16 peak, plus an evaluation-only step
 * (no backward) and an attention-transfer step, then a table.
 *
 * <pre>
 * java -cp ... gsat2r.bench.DistillBench --work DIR --preset tiny-llama --shapes 16x512,32x512
 *     [--preset llama-3.2-1b --shapes 8x512] [--teacher DIR --student DIR] [--steps 20] [--warmup 3] [--peak-tflops 989]
 * </pre>
 * With {@code --preset}, a random teacher of that shape ({@link RandomCheckpoint}, bf16) and its GSA student
 * (64 slots, random gates) are written under {@code --work} first (kept for the next run).
 */
public final class DistillBench {
    /** The arithmetic of the benchmark: {@code -Dgsat2r.bench.precision=bf16|fp32} (bf16 by default). */
    public static final gsat2r.core.model.Precision PRECISION = gsat2r.core.model.Precision.parse(System.getProperty("gsat2r.bench.precision", "bf16"), "-Dgsat2r.bench.precision");

    private DistillBench() {}

    record Row(String model, String shape, double stepMs, double tokensPerSec, double mfu, double evalMs, double atMs,
               long peakBytes) {}

    public static void main(String[] args) {
        Path work = Path.of("bench-work"), teacher = null, student = null;
        List<String> presets = new ArrayList<>();
        List<String> shapes = new ArrayList<>();
        int steps = 20, warmup = 3;
        double peak = 989;   // H100 SXM, dense bf16 TFLOP/s
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--work" -> work = Path.of(args[++i]);
                case "--preset" -> presets.add(args[++i]);
                case "--shapes" -> shapes.add(args[++i]);
                case "--teacher" -> teacher = Path.of(args[++i]);
                case "--student" -> student = Path.of(args[++i]);
                case "--steps" -> steps = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--peak-tflops" -> peak = Double.parseDouble(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        List<Row> rows = new ArrayList<>();
        if (teacher != null) {
            rows.addAll(run(teacher.getFileName().toString(), teacher, student, shapes.isEmpty() ? "16x512" : shapes.getFirst(), steps, warmup, peak));
        }
        for (int p = 0; p < presets.size(); p++) {
            String preset = presets.get(p);
            Path t = work.resolve(preset + "-teacher"), s = work.resolve(preset + "-student");
            prepare(preset, t, s);
            rows.addAll(run(preset, t, s, p < shapes.size() ? shapes.get(p) : "16x512", steps, warmup, peak));
        }
        System.out.println();
        System.out.println("| model | B x T | distill step (ms) | tokens/s | MFU | eval step (ms) | attention-transfer step (ms) | peak device memory |");
        System.out.println("|---|---|---:|---:|---:|---:|---:|---:|");
        for (Row r : rows) {
            System.out.printf(Locale.ROOT, "| %s | %s | %.2f | %,.0f | %.1f%% | %.2f | %.2f | %.2f GiB |%n", r.model(), r.shape(), r.stepMs(),
                    r.tokensPerSec(), 100 * r.mfu(), r.evalMs(), r.atMs(), r.peakBytes() / (double) (1L << 30));
        }
    }

    /** A random teacher of {@code preset}'s shape in {@code teacher} and its GSA student (64 slots) in {@code student}, unless there already. */
    static void prepare(String preset, Path teacher, Path student) {
        if (!Files.isDirectory(teacher)) {
            System.out.println("== writing a random " + preset + " teacher into " + teacher);
            RandomCheckpoint.write(teacher, RandomCheckpoint.LlamaShape.preset(preset), RandomCheckpoint.Options.defaults(), false);
        }
        if (!Files.isDirectory(student)) {
            System.out.println("== converting it into a GSA student in " + student);
            Converter.convert(teacher, student, new ConvertOptions(64, 8, GateInit.RANDOM, 0, null, List.of()), false);
        }
    }

    static List<Row> run(String name, Path teacher, Path student, String shapeList, int steps, int warmup, double peakTflops) {
        List<Row> rows = new ArrayList<>();
        for (String shape : shapeList.split(",")) {
            String[] bt = shape.split("x");
            int B = Integer.parseInt(bt[0]), T = Integer.parseInt(bt[1]);
            System.out.println("== " + name + " B=" + B + " T=" + T);
            try (CudaGsaBackend backend = CudaGsaBackend.open(BackendRequest.single(ModelDirectory.open(teacher), ModelDirectory.open(student),
                    PRECISION, B, T, false))) {
                System.out.println("   " + backend.description());
                int vocab = backend.vocabSize();
                backend.setTrainable(new TrainableSet.All(), 0);
                Objective kl = new Objective.Distill(1.0, 0.0);
                double[] stepMs = new double[steps], evalMs = new double[Math.max(3, steps / 4)], atMs = new double[Math.max(3, steps / 4)];
                SplitMix64 rng = new SplitMix64(1);
                for (int s = 1; s <= warmup + steps; s++) {
                    TokenBatch batch = batch(rng, vocab, B, T);
                    long t0 = System.nanoTime();
                    backend.forwardBackward(kl, batch, 1.0 / batch.positions(), true);
                    double norm = backend.gradientNorm();
                    backend.optimizerStep(new AdamWStep(s, 3e-4, 0.9, 0.95, 1e-8, 0.0, Math.min(1, 1.0 / (norm + 1e-6))));
                    double ms = (System.nanoTime() - t0) / 1e6;
                    if (s > warmup) stepMs[s - warmup - 1] = ms;
                }
                for (int i = 0; i < evalMs.length + 1; i++) {
                    TokenBatch batch = batch(rng, vocab, B, T);
                    long t0 = System.nanoTime();
                    backend.evaluate(kl, batch);
                    if (i > 0) evalMs[i - 1] = (System.nanoTime() - t0) / 1e6;
                }
                backend.setTrainable(new TrainableSet.Attention(), 0);
                for (int i = 0; i < atMs.length + 1; i++) {
                    TokenBatch batch = batch(rng, vocab, B, T);
                    long t0 = System.nanoTime();
                    backend.forwardBackward(new Objective.AttentionTransfer(), batch, 1.0 / batch.positions(), true);
                    backend.optimizerStep(new AdamWStep(i + 1, 1e-3, 0.9, 0.95, 1e-8, 0.0, 1.0));
                    if (i > 0) atMs[i - 1] = (System.nanoTime() - t0) / 1e6;
                }
                double med = median(stepMs);
                double tokens = (double) B * T;
                double flops = stepFlops(teacher, student, B, T);
                double mfu = flops / (med / 1e3) / (peakTflops * 1e12);
                long peak = backend.memoryStats().get("peak_in_use_bytes");
                System.out.printf(Locale.ROOT, "   distill step: median %.2f ms (min %.2f, max %.2f) = %,.0f tokens/s, %.1f TFLOP/s model FLOPs, MFU %.1f%%%n",
                        med, Arrays.stream(stepMs).min().orElse(0), Arrays.stream(stepMs).max().orElse(0), tokens / (med / 1e3),
                        flops / (med / 1e3) / 1e12, 100 * mfu);
                rows.add(new Row(name, B + " x " + T, med, tokens / (med / 1e3), mfu, median(evalMs), median(atMs), peak));
            }
        }
        return rows;
    }

    /**
     * Model FLOPs of one distill step over B×T tokens: the teacher's forward (2 per weight of every
     * projection and the head, plus causal attention 2·2·H·D·T/2 per token and layer) and the student's
     * forward and backward (3× its forward: 2 per weight, plus GSA's chunked state and output products,
     * about 8·K·M per token and head for dk = dv = K). Embedding lookups, norms and elementwise ops are not
     * counted (the usual MFU convention).
     */
    static double stepFlops(Path teacherDir, Path studentDir, int B, int T) {
        GsaConfig s = GsaConfig.load(studentDir);
        double tokens = (double) B * T;
        long sd = s.hiddenSize();
        double studentWeights = s.numHiddenLayers() * (sd * s.keyDim() + sd * s.kvKeyDim() + sd * s.kvValueDim()
                + (double) sd * s.numKvHeads() * s.numSlots() + (double) sd * s.valueDim() + 3.0 * sd * s.intermediateSize())
                + (double) sd * s.vocabSize();
        double gsa = s.gsaLayerCount() * 8.0 * s.numHeads() * s.headKDim() * s.numSlots();
        return teacherForwardFlops(LlamaConfig.load(teacherDir), B, T) + tokens * 3 * (2 * studentWeights + gsa);
    }

    /**
     * Model FLOPs of the teacher's forward over B×T tokens: 2 per weight of every projection and the head,
     * plus causal attention, 2·2·H·D·T/2 per token and layer.
     */
    public static double teacherForwardFlops(LlamaConfig t, int B, int T) {
        long d = t.hiddenSize();
        double weights = t.numHiddenLayers() * (d * t.queryDim() * 2.0 + d * t.keyValueDim() * 2.0 + 3.0 * d * t.intermediateSize())
                + (double) d * t.vocabSize();
        double attention = t.numHiddenLayers() * 2.0 * t.numAttentionHeads() * t.headDim() * T;   // per token: QKᵀ and PV, causal half
        return (double) B * T * (2 * weights + attention);
    }

    static TokenBatch batch(SplitMix64 rng, int vocab, int B, int T) {
        int[] tokens = new int[B * (T + 1)];
        for (int i = 0; i < tokens.length; i++) tokens[i] = rng.nextInt(vocab);
        return new TokenBatch(B, T, tokens);
    }

    public static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
