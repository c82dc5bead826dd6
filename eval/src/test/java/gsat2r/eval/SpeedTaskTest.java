package gsat2r.eval;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The speed grid, and what a measurement holds for a model that reports its state and one that does not. */
class SpeedTaskTest {

    @Test
    void theGridDoublesFrom512AndEndsAtTheCap() {
        assertEquals(List.of(512, 1024, 2048, 4096), SpeedTask.grid(4096));
        assertEquals(List.of(512, 1024, 1500), SpeedTask.grid(1500));
        assertEquals(List.of(100), SpeedTask.grid(100));
    }

    @Test
    void measuresRatesAndTheStateAfterThePrefill() {
        TestModels.Induction reports = new TestModels.Induction(50, 16);
        // The same copier, hiding its state size (the default of Decoder.stateBytes).
        var silent = TestModels.transformed(reports, row -> row);
        SpeedResult r = SpeedTask.run(reports, silent, 1024, 0, Progress.silent());
        assertEquals(List.of(512, 1024), r.points().stream().map(SpeedResult.Point::context).toList());
        for (SpeedResult.Point p : r.points()) {
            assertEquals(4L * p.context(), p.teacher().stateBytes(), "what the decoder held right after the prefill");
            assertNull(p.student().stateBytes(), "not reported");
            assertTrue(p.teacher().decodeTokensPerS() > 0 && p.teacher().prefillTokensPerS() > 0);
        }
        assertEquals(SpeedTask.DECODE_TOKENS, r.decodeTokens());
    }

    @Test
    void aModelStopsAfterAPointOverTheTimeLimit() {
        TestModels.Induction fast = new TestModels.Induction(50, 4);
        var slow = TestModels.transformed(fast, row -> {
            try {
                Thread.sleep(2);                                 // 2 ms a step: 32 decode steps take over 50 ms
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return row;
        });
        SpeedResult r = SpeedTask.run(fast, slow, 2048, 0, Progress.silent(), 0.05);
        assertEquals(List.of(512, 1024, 2048), r.points().stream().map(SpeedResult.Point::context).toList());
        assertTrue(r.points().stream().allMatch(p -> p.teacher() != null), "the fast model runs the whole grid");
        assertTrue(r.points().getFirst().student() != null, "the slow one measures its first point");
        assertNull(r.points().get(1).student(), "and stops there");
        assertNull(r.points().get(2).student());
        assertEquals(0.05, r.timeLimitS());
    }
}
