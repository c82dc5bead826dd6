package gsat2r.gpu.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class RopeTablesTest {
    @Test
    void matchesTheClosedFormInDoubleToFloatRounding() {
        int d = 64, positions = 4096;
        double theta = 500000.0;
        RopeTables t = RopeTables.llama(d, theta, positions);
        assertEquals(32, t.half());
        for (int p : new int[] {0, 1, 7, 511, 4095}) {
            for (int i = 0; i < 32; i++) {
                double angle = p / Math.pow(theta, 2.0 * i / d);
                // float32 angle: relative error ~1e-7 of an angle up to 4095 rad.
                double tol = 4e-7 * Math.max(1, Math.abs(angle)) + 1e-7;
                assertEquals(Math.cos(angle), t.cos()[p * 32 + i], tol, "cos p=" + p + " i=" + i);
                assertEquals(Math.sin(angle), t.sin()[p * 32 + i], tol, "sin p=" + p + " i=" + i);
            }
        }
        assertEquals(1f, t.cos()[0]);
        assertEquals(0f, t.sin()[5]);
    }

    @Test
    void rejectsOddHeads() {
        assertThrows(IllegalArgumentException.class, () -> RopeTables.llama(63, 10000, 8));
    }
}
