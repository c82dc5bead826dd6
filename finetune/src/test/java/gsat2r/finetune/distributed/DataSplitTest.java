package gsat2r.finetune.distributed;

import gsat2r.core.T2rException;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class DataSplitTest {

    /** The sequences of rank r's micro-batch j: what it reads. */
    static List<Long> sequences(DataSplit s, long stepStart, int j, int r) {
        List<Long> out = new ArrayList<>();
        long first = s.firstSequence(stepStart, j, r);
        for (int i = 0; i < s.microBatch(); i++) out.add(first + i);
        return out;
    }

    @Test
    void nRanksWithMicroBatchBSeeWhatOneProcessWithNTimesBSees() {
        for (int world = 1; world <= 6; world++) {
            for (int b = 1; b <= 4; b++) {
                for (int accum = 1; accum <= 3; accum++) {
                    int batch = world * b * accum;
                    DataSplit dp = DataSplit.of(batch, b, world, "r.json");
                    DataSplit one = DataSplit.of(batch, world * b, 1, "r.json");
                    assertEquals(accum, dp.gradAccum());
                    assertEquals(accum, one.gradAccum());
                    for (long stepStart : new long[] {0, batch, 7L * batch}) {
                        List<Long> all = new ArrayList<>();
                        for (int j = 0; j < accum; j++) {
                            List<Long> union = new ArrayList<>();
                            for (int r = 0; r < world; r++) union.addAll(sequences(dp, stepStart, j, r));
                            assertEquals(sequences(one, stepStart, j, 0), union, "micro-step " + j + ": the ranks' batches, in rank order");
                            all.addAll(union);
                        }
                        List<Long> expected = new ArrayList<>();
                        for (long k = stepStart; k < stepStart + batch; k++) expected.add(k);
                        assertEquals(expected, all, "a step reads its batch exactly once");
                    }
                }
            }
        }
    }

    @Test
    void aBatchThatDoesNotSplitIsRefusedWithTheMicroBatchesThatWould() {
        T2rException e = assertThrows(T2rException.class, () -> DataSplit.of(24, 4, 4, "recipes/x.json"));
        assertEquals("recipes/x.json: batch 24 is not a multiple of micro_batch 4 x 4 ranks = 16; micro_batch values that fit 4 ranks: 1, 2, 3, 6",
                e.getMessage());
        T2rException tooMany = assertThrows(T2rException.class, () -> DataSplit.of(4, 1, 8, "r.json"));
        assertEquals("r.json: batch 4 is not a multiple of micro_batch 1 x 8 ranks = 8; no micro_batch fits 8 ranks: use a number of ranks"
                + " that divides the batch (1, 2, 4)",
                tooMany.getMessage());
    }

    @Test
    void validationWindowsSplitByGroupsOfNTimesB() {
        DataSplit s = DataSplit.of(12, 2, 3, "r.json");
        assertEquals(2, s.evalGroups(7), "7 windows, 6 a group");
        assertArrayEquals(new long[] {0, 2}, s.evalWindows(7, 0, 0));
        assertArrayEquals(new long[] {4, 6}, s.evalWindows(7, 0, 2));
        assertArrayEquals(new long[] {6, 7}, s.evalWindows(7, 1, 0));
        assertArrayEquals(new long[] {7, 7}, s.evalWindows(7, 1, 1), "nothing left for rank 1");
        assertArrayEquals(new long[] {7, 7}, s.evalWindows(7, 1, 2));
    }
}
