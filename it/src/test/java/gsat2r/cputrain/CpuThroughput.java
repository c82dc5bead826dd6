package gsat2r.cputrain;

import gsat2r.converter.ConvertOptions;
import gsat2r.converter.Converter;
import gsat2r.core.cpu.Parallel;
import gsat2r.core.data.SplitMix64;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.llama.LlamaModel;
import gsat2r.training.AdamWStep;
import gsat2r.training.BackendRequest;
import gsat2r.training.Objective;
import gsat2r.training.TokenBatch;
import gsat2r.training.TrainableSet;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * CPU training throughput of the GSA student backend (docs/benchmarks.md, CPU section): for a teacher
 * directory, converts a student (64 slots, random gates) into a temp directory, then times optimizer
 * steps of each stage type on random tokens, one micro-batch of B x T per step, after warm-up steps,
 * and prints the median tokens/s; also the teacher's and the student's plain forwards.
 *
 * <pre>
 * java -cp cli/target/t2r.jar:finetune/target/test-classes gsat2r.cputrain.CpuThroughput TEACHER B T STEPS [recompute]
 * </pre>
 */
public final class CpuThroughput {
    private CpuThroughput() {}

    public static void main(String[] args) throws Exception {
        Path teacher = Path.of(args[0]);
        int B = Integer.parseInt(args[1]), T = Integer.parseInt(args[2]), steps = Integer.parseInt(args[3]);
        boolean recompute = args.length > 4 && args[4].equals("recompute");
        int warmup = 2;
        Path tmp = Files.createTempDirectory("cpu-throughput");
        Path student = tmp.resolve("student");
        Converter.convert(teacher, student, ConvertOptions.defaults(), false);
        System.out.printf(Locale.ROOT, "teacher %s, micro-batch %d x %d, %d threads, %s%n", teacher, B, T, Parallel.threads(),
                recompute ? "recompute" : "keep activations");

        LlamaModel t = LlamaModel.load(teacher);
        GsaModel s = GsaModel.load(student);
        int V = t.vocabSize();
        report("teacher forward", B * T, time(warmup, steps, () -> {
            for (int b = 0; b < B; b++) t.logits(batch(V, 1, T, b).inputs(0));
        }));
        report("student forward", B * T, time(warmup, steps, () -> s.forward(ids(batch(V, B, T, 1)), B, T, GsaModel.Memory.RECOMPUTE)));

        try (CpuGsaBackend backend = CpuGsaBackend.open(BackendRequest.single(gsat2r.core.model.ModelDirectory.open(teacher), gsat2r.core.model.ModelDirectory.open(student), gsat2r.core.model.Precision.FP32, B, T, recompute))) {
            record Case(String name, Objective objective, TrainableSet set) {}
            for (Case c : new Case[] {
                    new Case("attention-transfer (attention)", new Objective.AttentionTransfer(), new TrainableSet.Attention()),
                    new Case("distill (attention)", new Objective.Distill(1, 0), new TrainableSet.Attention()),
                    new Case("distill (all)", new Objective.Distill(1, 0), new TrainableSet.All()),
                    new Case("distill (lora:8)", new Objective.Distill(1, 0), new TrainableSet.Lora(8, 16)),
                    new Case("finetune (all)", new Objective.LanguageModeling(), new TrainableSet.All())}) {
                backend.setTrainable(c.set(), 1);
                long[] step = {0};
                report(c.name(), B * T, time(warmup, steps, () -> {
                    step[0]++;
                    backend.forwardBackward(c.objective(), batch(V, B, T, 100 + step[0]), 1.0 / (B * T), true);
                    backend.gradientNorm();
                    backend.optimizerStep(new AdamWStep(step[0], 1e-5, 0.9, 0.95, 1e-8, 0, 1));
                }));
                backend.mergeLora();
            }
        }
    }

    static TokenBatch batch(int vocab, int rows, int T, long seed) {
        SplitMix64 rng = new SplitMix64(seed);
        int[] tokens = new int[rows * (T + 1)];
        for (int i = 0; i < tokens.length; i++) tokens[i] = rng.nextInt(vocab);
        return new TokenBatch(rows, T, tokens);
    }

    static int[] ids(TokenBatch b) {
        int[] ids = new int[b.sequences() * b.length()];
        for (int s = 0; s < b.sequences(); s++) System.arraycopy(b.inputs(s), 0, ids, s * b.length(), b.length());
        return ids;
    }

    /** Seconds of each of {@code steps} timed runs after {@code warmup} untimed ones. */
    static double[] time(int warmup, int steps, Runnable r) {
        for (int i = 0; i < warmup; i++) r.run();
        double[] s = new double[steps];
        for (int i = 0; i < steps; i++) {
            long t0 = System.nanoTime();
            r.run();
            s[i] = (System.nanoTime() - t0) / 1e9;
        }
        return s;
    }

    static void report(String what, int tokens, double[] seconds) {
        double[] sorted = seconds.clone();
        Arrays.sort(sorted);
        double median = sorted[sorted.length / 2];
        System.out.printf(Locale.ROOT, "%-32s %8.0f tokens/s   (median %.3f s per %d tokens, min %.3f, max %.3f)%n", what, tokens / median,
                median, tokens, sorted[0], sorted[sorted.length - 1]);
    }
}
