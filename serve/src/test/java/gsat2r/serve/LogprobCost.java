package gsat2r.serve;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * What log-probabilities cost the scheduler thread (docs/benchmarks.md, "t2r serve"): {@link TokenLogprob.Position#of}
 * over one row of a vocabulary, and over the rows of one decode step side by side as the scheduler runs them; medians
 * of 21 runs after 5 of warm-up.
 *
 * <pre>java -cp cli/target/t2r.jar:serve/target/test-classes gsat2r.serve.LogprobCost [VOCAB=128256] [ROWS=32] [TOP=5]</pre>
 */
public final class LogprobCost {
    private LogprobCost() {}

    public static void main(String[] args) {
        int vocab = args.length > 0 ? Integer.parseInt(args[0]) : 128_256;
        int rows = args.length > 1 ? Integer.parseInt(args[1]) : 32;
        int top = args.length > 2 ? Integer.parseInt(args[2]) : 5;
        SplittableRandom r = new SplittableRandom(1);
        float[][] logits = new float[rows][vocab];
        for (float[] row : logits) for (int i = 0; i < vocab; i++) row[i] = (float) (r.nextGaussian() * 3);
        double one = median(() -> TokenLogprob.Position.of(logits[0], top));
        double step = median(() -> java.util.stream.IntStream.range(0, rows).parallel().mapToObj(i -> TokenLogprob.Position.of(logits[i], top)).toList());
        System.out.printf("vocabulary %,d, top %d, %d cores: one row %.3f ms; %d rows side by side %.3f ms (%.3f ms a row)%n",
                vocab, top, Runtime.getRuntime().availableProcessors(), one, rows, step, step / rows);
    }

    private static double median(Runnable work) {
        double[] ms = new double[21];
        for (int i = 0; i < 5; i++) work.run();
        for (int i = 0; i < ms.length; i++) {
            long t = System.nanoTime();
            work.run();
            ms[i] = (System.nanoTime() - t) / 1e6;
        }
        Arrays.sort(ms);
        return ms[ms.length / 2];
    }
}
