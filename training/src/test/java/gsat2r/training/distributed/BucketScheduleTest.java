package gsat2r.training.distributed;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** When buckets go out during a backward, and how a buffer offset becomes a tensor index (shared by the host and CUDA backends). */
class BucketScheduleTest {

    // Tensors of 100, 300, 50, 60, 500 floats, alignment 1, cap 400: buckets {4}, {2, 3}, {0, 1} (LayoutPlanningTest's example).
    static final BucketPlan PLAN = BucketPlan.plan(FlatLayout.of(LayoutPlanningTest.tensors(100, 300, 50, 60, 500), 1), 400 * 4);

    @Test
    void bucketsGoOutInPlanOrderOnceTheirLowestTensorIsFinal() {
        List<Integer> launched = new ArrayList<>();
        BucketSchedule s = new BucketSchedule(PLAN, launched::add);
        s.gradientsFinalFrom(5);                    // nothing final yet
        assertEquals(List.of(), launched);
        s.gradientsFinalFrom(3);                    // tensor 4 final: bucket 0; bucket 1 needs tensor 2
        assertEquals(List.of(0), launched);
        s.gradientsFinalFrom(2);
        assertEquals(List.of(0, 1), launched);
        assertArrayEquals(new int[] {3, 2, BucketSchedule.NOT_LAUNCHED}, s.launchWatermarks());
        s.finishBackward();
        s.finishBackward();                         // idempotent
        assertEquals(List.of(0, 1, 2), launched);
        assertArrayEquals(new int[] {3, 2, BucketSchedule.AT_THE_END}, s.launchWatermarks());
        assertEquals(3, s.launched());
        assertTrue(s.backwardOver());
        assertThrows(IllegalStateException.class, () -> s.gradientsFinalFrom(0));
    }

    @Test
    void aBackwardThatReportsNothingSendsEverythingAtTheEnd() {
        List<Integer> launched = new ArrayList<>();
        BucketSchedule s = new BucketSchedule(PLAN, launched::add);
        s.finishBackward();
        assertEquals(List.of(0, 1, 2), launched);
        assertArrayEquals(new int[] {BucketSchedule.AT_THE_END, BucketSchedule.AT_THE_END, BucketSchedule.AT_THE_END}, s.launchWatermarks());
    }

    @Test
    void bufferOffsetsBecomeTheFirstTensorAtOrAboveThem() {
        long[] offsets = {0, 100, 400, 450, 510};  // a backend's trainable tensors in its buffer (gaps allowed)
        assertEquals(0, BucketSchedule.firstTensorAtOrAbove(offsets, 0));
        assertEquals(1, BucketSchedule.firstTensorAtOrAbove(offsets, 1));
        assertEquals(1, BucketSchedule.firstTensorAtOrAbove(offsets, 100));
        assertEquals(4, BucketSchedule.firstTensorAtOrAbove(offsets, 460));
        assertEquals(5, BucketSchedule.firstTensorAtOrAbove(offsets, 511));
        assertEquals(0, BucketSchedule.firstTensorAtOrAbove(new long[0], 7));
    }
}
