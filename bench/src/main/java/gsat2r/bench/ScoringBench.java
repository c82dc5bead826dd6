package gsat2r.bench;

import gsat2r.core.model.Continuations;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.ModelDirectory;
import gsat2r.training.Device;
import gsat2r.training.Devices;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Multiple-choice scoring throughput of a model through {@link LanguageModel#scoreContinuations}: items of a
 * context of {@code contextTokens} random ids and four choices of {@code choiceTokens}, in batches of
 * {@code batchItems}; prints items per second (median of the timed batches after warm-up). The target on one
 * H200 for a 1B-shaped model is 200 four-choice items/s at ~100 context and 30 choice tokens.
 * <pre>{@code
 * java -cp ... gsat2r.bench.ScoringBench MODEL_DIR [cpu|cuda] [items] [batchItems] [contextTokens] [choiceTokens]
 * }</pre>
 * The model is loaded by the device plug-in of that name, in its default precision, as {@code t2r eval --device} does.
 */
public final class ScoringBench {
    private ScoringBench() {}

    public static void main(String[] args) {
        java.nio.file.Path dir = java.nio.file.Path.of(args[0]);
        String device = args.length > 1 ? args[1] : "cpu";
        int items = args.length > 2 ? Integer.parseInt(args[2]) : 256, batch = args.length > 3 ? Integer.parseInt(args[3]) : 32;
        int context = args.length > 4 ? Integer.parseInt(args[4]) : 100, choice = args.length > 5 ? Integer.parseInt(args[5]) : 30;
        Device d = Devices.discover().get(device);
        try (LanguageModel model = d.load(ModelDirectory.open(dir), d.defaultPrecision(), 0)) {
            Random r = new Random(0);
            List<Continuations> all = new ArrayList<>();
            for (int i = 0; i < items; i++) {
                List<int[]> choices = new ArrayList<>();
                for (int c = 0; c < 4; c++) choices.add(ids(r, model.vocabSize(), choice));
                all.add(new Continuations(ids(r, model.vocabSize(), context), choices));
            }
            model.scoreContinuations(all.subList(0, Math.min(batch, items)));                 // warm-up
            List<Double> rates = new ArrayList<>();
            for (int from = 0; from + batch <= items; from += batch) {
                long t0 = System.nanoTime();
                model.scoreContinuations(all.subList(from, from + batch));
                rates.add(batch / ((System.nanoTime() - t0) / 1e9));
            }
            rates.sort(null);
            System.out.printf("scoring %s on %s: %d items of 4 x %d tokens after %d, batches of %d: median %.1f items/s%n",
                    dir, device, items, choice, context, batch, rates.get(rates.size() / 2));
        }
    }

    private static int[] ids(Random r, int vocab, int n) {
        int[] x = new int[n];
        for (int i = 0; i < n; i++) x[i] = 1 + r.nextInt(vocab - 1);
        return x;
    }
}
