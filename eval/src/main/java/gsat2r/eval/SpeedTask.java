package gsat2r.eval;

import gsat2r.core.model.LanguageModel;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Decoding speed and decoding memory as the context grows. At each context length c of the grid, per
 * model: a fresh decoder prefills c tokens (timed: prefill tokens/s), reports the bytes of state it
 * holds ({@link LanguageModel.Decoder#stateBytes}: the KV cache of attention layers as allocated, the
 * recurrent state of GSA layers), then decodes {@value #DECODE_TOKENS} more tokens one at a time
 * (decode tokens/s = 1 / the median time of one step). The tokens are random ids (speed does not
 * depend on them). Each model first runs a short warm-up so that the JIT has compiled the hot loops.
 *
 * <p>The grid is 512, 1024, … up to the largest length allowed (the context, and a cap that keeps CPU
 * runs short); a model's grid stops early once one point took longer than {@link #TIME_LIMIT_S}
 * seconds, since the next takes at least twice as long. Timings depend on the machine and its load:
 * they are the one part of the report that a re-run does not reproduce.
 */
final class SpeedTask {
    private SpeedTask() {}

    static final int DECODE_TOKENS = 32;
    static final double TIME_LIMIT_S = 60;
    static final int FIRST = 512;

    static List<Integer> grid(int maxContext) {
        List<Integer> out = new ArrayList<>();
        for (int n = FIRST; n <= maxContext; n *= 2) out.add(n);
        if (out.isEmpty() || out.getLast() != maxContext) out.add(maxContext);
        return out;
    }

    static SpeedResult run(LanguageModel teacher, LanguageModel student, int maxContext, long seed, Progress progress) {
        List<Integer> grid = grid(maxContext);
        long total = 2L * grid.stream().mapToLong(n -> n + DECODE_TOKENS).sum();
        Progress.Task task = progress.start("speed", total, "tokens");
        List<SpeedResult.Measurement> t = measure(teacher, grid, seed, task);
        List<SpeedResult.Measurement> s = measure(student, grid, seed, task);
        task.finish();
        List<SpeedResult.Point> points = new ArrayList<>();
        for (int i = 0; i < grid.size(); i++) points.add(new SpeedResult.Point(grid.get(i), t.get(i), s.get(i)));
        return new SpeedResult(DECODE_TOKENS, TIME_LIMIT_S, points);
    }

    /** One model over the grid; null measurements where the time limit stopped it. */
    private static List<SpeedResult.Measurement> measure(LanguageModel model, List<Integer> grid, long seed, Progress.Task task) {
        SplittableRandom rnd = Seeds.random(seed, "speed", 0);
        int[] ids = new int[grid.getLast() + DECODE_TOKENS];
        for (int i = 0; i < ids.length; i++) ids[i] = rnd.nextInt(model.vocabSize());
        warmUp(model, ids);
        List<SpeedResult.Measurement> out = new ArrayList<>();
        boolean stopped = false;
        for (int n : grid) {
            if (stopped) {
                out.add(null);
                task.advance(n + DECODE_TOKENS, 0);
                continue;
            }
            LanguageModel.Decoder decoder = model.newDecoder();
            long t0 = System.nanoTime();
            decoder.prefill(Arrays.copyOf(ids, n));
            long t1 = System.nanoTime();
            long bytes = decoder.stateBytes();
            long[] steps = new long[DECODE_TOKENS];
            for (int i = 0; i < DECODE_TOKENS; i++) {
                long s0 = System.nanoTime();
                decoder.next(ids[n + i]);
                steps[i] = System.nanoTime() - s0;
            }
            long t2 = System.nanoTime();
            Arrays.sort(steps);
            double median = (steps[(DECODE_TOKENS - 1) / 2] + steps[DECODE_TOKENS / 2]) / 2.0;
            out.add(new SpeedResult.Measurement(n / ((t1 - t0) / 1e9), 1e9 / median, bytes < 0 ? null : bytes));
            task.advance(n + DECODE_TOKENS, n + DECODE_TOKENS);
            stopped = (t2 - t0) / 1e9 > TIME_LIMIT_S;
        }
        return out;
    }

    private static void warmUp(LanguageModel model, int[] ids) {
        LanguageModel.Decoder d = model.newDecoder();
        d.prefill(Arrays.copyOf(ids, Math.min(256, ids.length)));
        for (int i = 0; i < DECODE_TOKENS; i++) d.next(ids[i]);
    }
}
