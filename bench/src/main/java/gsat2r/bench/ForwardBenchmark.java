package gsat2r.bench;

import gsat2r.api.T2rModel;
import gsat2r.core.cpu.Parallel;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.gsa.GsaModel;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;

/**
 * Times a CPU model: the full forward (all-position logits) at T tokens, and decoding token by token
 * (through the KV cache for a teacher, the recurrent state for a GSA student, whose full forward is the
 * chunked one). Usage: {@code ForwardBenchmark MODEL_DIR [T] [runs]}; the directory is loaded by
 * {@link T2rModel#loadLanguageModel} (a student when its config.json says {@code "model_type": "gsa"}).
 * Prints the median of the runs after two warm-up runs (C2 has compiled the kernels by then).
 */
public final class ForwardBenchmark {
    public static void main(String[] args) {
        Path dir = Path.of(args.length > 0 ? args[0] : "../shared/models/tiny-llama");
        int T = args.length > 1 ? Integer.parseInt(args[1]) : 512;
        int runs = args.length > 2 ? Integer.parseInt(args[2]) : 7;
        LanguageModel model = T2rModel.loadLanguageModel(dir);
        boolean student = model instanceof GsaModel;
        Random rnd = new Random(1);
        int[] ids = new int[T];
        for (int i = 0; i < T; i++) ids[i] = rnd.nextInt(model.vocabSize());
        for (int i = 0; i < 2; i++) model.forward(ids);
        double[] seconds = new double[runs];
        for (int r = 0; r < runs; r++) {
            long t0 = System.nanoTime();
            model.forward(ids);
            seconds[r] = (System.nanoTime() - t0) / 1e9;
        }
        Arrays.sort(seconds);
        double median = seconds[runs / 2];
        System.out.printf(Locale.ROOT, (student ? "student (chunked) " : "teacher ") + "forward T=%d: median %.3f s (min %.3f, max %.3f) over %d runs = %.0f tokens/s, %d threads%n",
                T, median, seconds[0], seconds[runs - 1], runs, T / median, Parallel.threads());

        int steps = 128;
        var dec = model.newDecoder();
        dec.prefill(new int[] {0});
        long t0 = System.nanoTime();
        for (int i = 0; i < steps; i++) dec.next(ids[i]);
        double s = (System.nanoTime() - t0) / 1e9;
        System.out.printf(Locale.ROOT, "decode: %d tokens in %.3f s = %.0f tokens/s%n", steps, s, steps / s);
    }
}
