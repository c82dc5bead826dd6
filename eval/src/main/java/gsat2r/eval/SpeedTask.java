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
        return run(teacher, student, maxContext, seed, progress, TIME_LIMIT_S);
    }

    static SpeedResult run(LanguageModel teacher, LanguageModel student, int maxContext, long seed, Progress progress,
                           double timeLimitS) {
        List<Integer> grid = grid(maxContext);
        long total = 2L * grid.stream().mapToLong(n -> n + DECODE_TOKENS).sum();
        Progress.Task task = progress.start("speed", total, "tokens");
        int[] ids = new int[grid.getLast() + DECODE_TOKENS];
        SplittableRandom rnd = Seeds.random(seed, "speed", 0);
        for (int i = 0; i < ids.length; i++) ids[i] = rnd.nextInt(Math.min(teacher.vocabSize(), student.vocabSize()));
        warmUp(teacher, ids);
        warmUp(student, ids);
        // The two models take turns at each point, so that a change in the machine's load hits both alike.
        List<SpeedResult.Point> points = new ArrayList<>();
        boolean teacherStopped = false, studentStopped = false;
        for (int n : grid) {
            Timed t = teacherStopped ? null : measure(teacher, ids, n);
            task.advance(n + DECODE_TOKENS, t == null ? 0 : n + DECODE_TOKENS);
            Timed s = studentStopped ? null : measure(student, ids, n);
            task.advance(n + DECODE_TOKENS, s == null ? 0 : n + DECODE_TOKENS);
            teacherStopped |= t == null || t.seconds() > timeLimitS;
            studentStopped |= s == null || s.seconds() > timeLimitS;
            points.add(new SpeedResult.Point(n, t == null ? null : t.measurement(), s == null ? null : s.measurement()));
        }
        task.finish();
        return new SpeedResult(DECODE_TOKENS, timeLimitS, points);
    }

    private record Timed(SpeedResult.Measurement measurement, double seconds) {}

    /** Prefill {@code n} tokens, then decode {@value #DECODE_TOKENS} one at a time. */
    private static Timed measure(LanguageModel model, int[] ids, int n) {
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
        return new Timed(new SpeedResult.Measurement(n / ((t1 - t0) / 1e9), 1e9 / median, bytes < 0 ? null : bytes),
                (t2 - t0) / 1e9);
    }

    private static void warmUp(LanguageModel model, int[] ids) {
        LanguageModel.Decoder d = model.newDecoder();
        d.prefill(Arrays.copyOf(ids, Math.min(256, ids.length)));
        for (int i = 0; i < DECODE_TOKENS; i++) d.next(ids[i]);
    }
}
