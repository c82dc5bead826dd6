package gsat2r.core.gsa;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.stream.Stream;

import static gsat2r.core.testing.Numerics.assertRelL2;
import static gsat2r.core.testing.Numerics.relL2;

/**
 * Both backward passes against central finite differences (step 1e-5) of the independent float64
 * recurrence {@link GsaReference64}, for every input element and both initial states; and both
 * forward passes against its values. Tolerances: forward 1e-5, gradients 1e-4 relative L2 (the
 * fp32 operator is good to a few 1e-7; finite differences in float64 to about 1e-9).
 */
class GsaGradientTest {
    static final double FORWARD_TOL = 1e-5, GRAD_TOL = 1e-4, STEP = 1e-5;

    static Stream<Arguments> cases() {
        return Stream.of(
                // GQA 2, chunk borders at 4 and 8 of 11 tokens, mixed gates, initial state, scale K^-1/2
                Arguments.of("gqa2-mixed-init", GsaCase.random(11, new GsaShape(2, 11, 4, 2, 3, 5, 4),
                        GsaCase.Gates.MIXED, true, true).withScale((float) (1 / Math.sqrt(3))), 4),
                // GQA 3, gates down to −5 per step, no initial state, independent s
                Arguments.of("gqa3-strong", GsaCase.random(12, new GsaShape(1, 9, 3, 1, 4, 2, 3),
                        GsaCase.Gates.STRONG, false, false), 4),
                // no GQA, one long chunk with a partial tail, K ≠ V, initial state
                Arguments.of("mha-mixed-init", GsaCase.random(13, new GsaShape(1, 13, 2, 2, 2, 3, 5),
                        GsaCase.Gates.MIXED, false, true), 8));
    }

    @ParameterizedTest(name = "{0}, chunk {2}")
    @MethodSource("cases")
    void gradientsMatchFiniteDifferences(String name, GsaCase c, int chunk) {
        GsaReference64 ref = new GsaReference64(c);
        GsaReference64.Result exact = ref.run();

        GsaChunked.Forward fwd = GsaChunked.forward(c.inputs(), c.initial(), chunk);
        assertRelL2(name + " chunked o", GsaReference64.wide(fwd.o()), exact.o(), FORWARD_TOL);
        assertRelL2(name + " chunked hkT", GsaReference64.wide(fwd.finalState().hk()), exact.hkT(), FORWARD_TOL);
        assertRelL2(name + " chunked hvT", GsaReference64.wide(fwd.finalState().hv()), exact.hvT(), FORWARD_TOL);
        GsaState state = c.initialOrZeros();
        float[] o = GsaRecurrent.forward(c.inputs(), state);
        assertRelL2(name + " recurrent o", GsaReference64.wide(o), exact.o(), FORWARD_TOL);
        assertRelL2(name + " recurrent hkT", GsaReference64.wide(state.hk()), exact.hkT(), FORWARD_TOL);
        assertRelL2(name + " recurrent hvT", GsaReference64.wide(state.hv()), exact.hvT(), FORWARD_TOL);

        GsaGradients chunked = GsaChunked.backward(fwd, c.dO(), c.dFinal());
        GsaGradients recurrent = GsaRecurrent.backward(c.inputs(), c.initial(), c.dO(), c.dFinal());
        StringBuilder report = new StringBuilder(name).append(" vs finite differences (chunked/recurrent):");
        for (int which = 0; which < GsaReference64.NAMES.length; which++) {
            double[] fd = ref.finiteDifference(c, which, STEP);
            String what = name + " d" + GsaReference64.NAMES[which];
            double[] a = GsaReference64.wide(pick(chunked, which)), b = GsaReference64.wide(pick(recurrent, which));
            assertRelL2(what + " chunked", a, fd, GRAD_TOL);
            assertRelL2(what + " recurrent", b, fd, GRAD_TOL);
            report.append(String.format(" d%s %.1e/%.1e", GsaReference64.NAMES[which], relL2(a, fd), relL2(b, fd)));
        }
        System.out.println(report);
    }

    private static float[] pick(GsaGradients g, int which) {
        return switch (which) {
            case GsaReference64.Q -> g.dq();
            case GsaReference64.KEY -> g.dk();
            case GsaReference64.VAL -> g.dv();
            case GsaReference64.S -> g.ds();
            case GsaReference64.G -> g.dg();
            case GsaReference64.HK0 -> g.dInitial().hk();
            case GsaReference64.HV0 -> g.dInitial().hv();
            default -> throw new IllegalArgumentException("no input " + which);
        };
    }
}
