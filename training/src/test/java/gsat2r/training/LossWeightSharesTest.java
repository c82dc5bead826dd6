package gsat2r.training;

import gsat2r.core.data.synthetic.SyntheticKind;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class LossWeightSharesTest {

    @Test
    void theSharesCountTargetsAndTheirWeightsByWhatTheyAre() {
        // row "a b c a b c d e": the target of position 4 is a copy; marks at the targets of positions 3 (kv-recall),
        // 4 (needles: a copy too) and 6 (needles)
        byte kv = SyntheticKind.answerMark("kv-recall"), needles = SyntheticKind.answerMark("needles");
        TokenBatch batch = new TokenBatch(1, 7, new int[] {1, 2, 3, 1, 2, 3, 4, 5}, new byte[] {0, 0, 0, 0, kv, needles, 0, needles});
        // weights: 1 1 1 3 (kv) 2·10 (copy, needles) 1 10 (needles) = 37
        LossWeightShares s = LossWeightShares.of(new Objective.Distill(1, 0, 2, 3, Map.of("needles", 10.0)), batch);
        assertEquals(7, s.positions());
        assertEquals(1, s.copies());
        assertArrayEquals(new long[] {4, 1, 2, 0, 0}, s.answers());
        assertEquals(37, s.weight(), 1e-9);
        assertEquals(20, s.copyWeight(), 1e-9);
        assertArrayEquals(new double[] {4, 3, 30, 0, 0}, s.answerWeight(), 1e-9);
        assertEquals("targets: copies 14.3%, kv-recall answers 14.3%, needles answers 28.6%; "
                + "loss weight: copies 54.1%, kv-recall answers 8.1%, needles answers 81.1% (5.29 per target)", s.describe());
        LossWeightShares plain = LossWeightShares.of(new Objective.Distill(1, 0, 2), new TokenBatch(1, 7, batch.tokens()));
        assertEquals("targets: copies 14.3%; loss weight: copies 25.0% (1.14 per target)", plain.describe(), "no marks: copies alone");
    }

    @Test
    void smallSharesKeepTwoDigits() {
        assertEquals("0.11%", LossWeightShares.percent(0.0011));
        assertEquals("1.4%", LossWeightShares.percent(0.014));
        assertEquals("0.011%", LossWeightShares.percent(0.00011));
        assertEquals("27.8%", LossWeightShares.percent(0.278));
        assertEquals("0%", LossWeightShares.percent(0));
    }
}
