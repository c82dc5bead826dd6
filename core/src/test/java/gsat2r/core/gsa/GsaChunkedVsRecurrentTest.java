package gsat2r.core.gsa;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.stream.Stream;

import static gsat2r.core.testing.Numerics.assertRelL2;
import static gsat2r.core.testing.Numerics.relL2;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The chunked form against the recurrence (both fp32, each a few 1e-7 from the truth), forward
 * and backward, within 1e-5 relative L2: GQA ratios 1, 3, 4; M = 16, 32, 64; K ≠ V; T not a
 * multiple of the chunk; chunks of 16, 32, 64 so the borders move; gates down to −5 per step;
 * with and without an initial state.
 *
 * <p>The tightest case is gqa4-M64-strong-init: with s = 1 − exp(g) near 1 in every slot, dq is
 * proportional to the variance of s under p and comes out of cancelling terms; both forms are
 * 6.7e-6 from float64 finite differences there and 5.8e-6 from each other. That is the problem's
 * conditioning in fp32, not an error of either form.
 */
class GsaChunkedVsRecurrentTest {
    static final double TOL = 1e-5;

    static Stream<Arguments> cases() {
        return Stream.of(
                Arguments.of("gqa1-M16-mixed-init", GsaCase.random(21, new GsaShape(2, 150, 2, 2, 32, 16, 16),
                        GsaCase.Gates.MIXED, true, true)),
                Arguments.of("gqa3-M32-strong", GsaCase.random(22, new GsaShape(1, 130, 3, 1, 16, 24, 32),
                        GsaCase.Gates.STRONG, false, false)),
                Arguments.of("gqa4-M64-mixed-init", GsaCase.random(23, new GsaShape(1, 100, 4, 1, 24, 32, 64),
                        GsaCase.Gates.MIXED, true, true)),
                Arguments.of("gqa4-M64-strong-init", GsaCase.random(24, new GsaShape(1, 140, 4, 1, 8, 12, 64),
                        GsaCase.Gates.STRONG, true, true)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void chunkedEqualsRecurrent(String name, GsaCase c) {
        GsaState state = c.initialOrZeros();
        float[] o = GsaRecurrent.forward(c.inputs(), state);
        GsaGradients want = GsaRecurrent.backward(c.inputs(), c.initial(), c.dO(), c.dFinal());
        for (int chunk : new int[]{16, 32, 64}) {
            String at = name + " chunk " + chunk + " ";
            GsaChunked.Forward fwd = GsaChunked.forward(c.inputs(), c.initial(), chunk);
            GsaGradients got = GsaChunked.backward(fwd, c.dO(), c.dFinal());
            float[][] pairs = {fwd.o(), o, fwd.finalState().hk(), state.hk(), fwd.finalState().hv(), state.hv(),
                    got.dq(), want.dq(), got.dk(), want.dk(), got.dv(), want.dv(), got.ds(), want.ds(),
                    got.dg(), want.dg(), got.dInitial().hk(), want.dInitial().hk(),
                    got.dInitial().hv(), want.dInitial().hv()};
            String[] names = {"o", "hkT", "hvT", "dq", "dk", "dv", "ds", "dg", "dhk0", "dhv0"};
            StringBuilder report = new StringBuilder(at);
            for (int i = 0; i < names.length; i++) {
                assertRelL2(at + names[i], pairs[2 * i], pairs[2 * i + 1], TOL);
                report.append(String.format(" %s %.1e", names[i], relL2(pairs[2 * i], pairs[2 * i + 1])));
            }
            System.out.println(report);
        }
    }

    /** The strong-gate cases really are past the point where exp(−G) overflows fp32 inside a 64-token chunk. */
    @Test
    void strongGatesWouldOverflowTheNaiveFactorisation() {
        GsaCase c = GsaCase.random(24, new GsaShape(1, 140, 4, 1, 8, 12, 64), GsaCase.Gates.STRONG, true, true);
        GsaShape sh = c.inputs().shape();
        double mostNegative = 0;
        for (int m = 0; m < sh.slots(); m++) {
            double cumulative = 0;
            for (int t = 0; t < 64; t++) cumulative += c.inputs().g()[sh.slot(0, t, 0) + m];
            mostNegative = Math.min(mostNegative, cumulative);
        }
        assertTrue(!Float.isFinite((float) Math.exp(-mostNegative)),
                "cumulative log-gate " + mostNegative + " is not strong enough to overflow exp(−G)");
    }
}
