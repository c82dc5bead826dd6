package gsat2r.gpu.ops;

import gsat2r.core.model.Continuations;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.Dim3;

/**
 * Continuation scores on the device (scoring.cu; the CPU twin is {@code ContinuationScorer}): for continuation c,
 * rows {@code first[c] .. first[c+1]-1} of {@code logits [R, V]} predict its tokens {@code targets[row]}; each
 * continuation comes back as the sum of {@code log softmax(row)[target]} (double) and whether every target is its
 * row's argmax (first index of the largest logit). Two numbers per continuation cross to the host, not R rows of V.
 */
public final class Scoring {
    private Scoring() {}

    private static final int THREADS = 256;

    /** Scores {@code count} continuations over {@code rows} rows ({@code first[count] = rows}, rows in order). */
    public static Continuations.Score[] continuations(Gpu gpu, DeviceBuffer logits, DeviceBuffer targets, DeviceBuffer first, int count,
                                                      int rows, int vocab) {
        Checks.positive("continuations", count);
        Checks.positive("rows", rows);
        Checks.positive("vocab", vocab);
        ElementType t = Checks.storage("logits", logits);
        Checks.buffer("logits", logits, t, (long) rows * vocab);
        Checks.buffer("first", first, ElementType.I32, count + 1L);
        Checks.buffer("targets", targets, ElementType.I32, rows);
        try (DeviceBuffer sums = gpu.i32(2L * count); DeviceBuffer greedy = gpu.i32(count)) {   // sums: doubles, two ints each
            gpu.kernel("score_continuations", t).launch(gpu.stream(), Dim3.of(count), Dim3.of(THREADS), 0, sums, greedy, logits, targets,
                    first, vocab);
            int[] s = sums.toIntArray(), g = greedy.toIntArray();
            Continuations.Score[] out = new Continuations.Score[count];
            for (int c = 0; c < count; c++) {
                long bits = ((long) s[2 * c + 1] << 32) | (s[2 * c] & 0xffffffffL);
                out[c] = new Continuations.Score(Double.longBitsToDouble(bits), g[c] != 0);
            }
            return out;
        }
    }
}
