package gsat2r.core.gsa;

import gsat2r.core.safetensors.SafeTensors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.stream.Stream;

import static gsat2r.core.testing.Numerics.assertRelL2;
import static gsat2r.core.testing.Numerics.relL2;

/**
 * Both forms of the operator against fla 0.5.2's fp32 {@code naive_recurrent_gsa} and its autograd
 * gradients (fixtures in src/test/resources/fixtures/fla-gsa, see the README there): the output,
 * the final states and every gradient within 1e-5 relative L2.
 */
class GsaFlaFixtureTest {
    static final double TOL = 1e-5;

    /** A fixture file read into the operator's types. */
    record Fixture(String name, GsaInputs inputs, GsaState initial, float[] o, GsaState fin, float[] dO,
                   GsaState dFinal, float[][] grads, GsaState dInitial) {

        static Fixture load(String file) {
            try (SafeTensors st = SafeTensors.open(resource(file))) {
                long[] qs = st.info("q").shape();
                int B = (int) qs[0], T = (int) qs[1], H = (int) qs[2], K = (int) qs[3];
                int Hkv = (int) st.info("k").shape()[2];
                int V = (int) st.info("v").shape()[3], M = (int) st.info("s").shape()[3];
                GsaShape shape = new GsaShape(B, T, H, Hkv, K, V, M);
                GsaInputs in = new GsaInputs(shape, st.floats("q"), st.floats("k"), st.floats("v"),
                        st.floats("s"), st.floats("g"), 1.0f);
                GsaState initial = st.has("hk0") ? state(shape, st.floats("hk0"), st.floats("hv0")) : null;
                GsaState dInitial = st.has("dhk0") ? state(shape, st.floats("dhk0"), st.floats("dhv0")) : null;
                float[][] grads = {st.floats("dq"), st.floats("dk"), st.floats("dv"), st.floats("ds"), st.floats("dg")};
                return new Fixture(file, in, initial, st.floats("o"), state(shape, st.floats("hkT"), st.floats("hvT")),
                        st.floats("do"), state(shape, st.floats("dhkT"), st.floats("dhvT")), grads, dInitial);
            }
        }

        private static GsaState state(GsaShape sh, float[] hk, float[] hv) {
            return new GsaState(sh.batch(), sh.kvHeads(), sh.keyDim(), sh.slots(), sh.valueDim(), hk, hv);
        }

        private static Path resource(String file) {
            try {
                return Path.of(GsaFlaFixtureTest.class.getResource("/fixtures/fla-gsa/" + file).toURI());
            } catch (URISyntaxException e) {
                throw new IllegalStateException(e);
            }
        }

        void check(String form, float[] o, GsaState fin, GsaGradients grads) {
            String at = name + " " + form + ": ";
            assertRelL2(at + "o", o, this.o, TOL);
            assertRelL2(at + "hkT", fin.hk(), this.fin.hk(), TOL);
            assertRelL2(at + "hvT", fin.hv(), this.fin.hv(), TOL);
            String[] names = {"dq", "dk", "dv", "ds", "dg"};
            float[][] got = {grads.dq(), grads.dk(), grads.dv(), grads.ds(), grads.dg()};
            StringBuilder report = new StringBuilder(at).append("o ").append(err(o, this.o))
                    .append(" hkT ").append(err(fin.hk(), this.fin.hk()))
                    .append(" hvT ").append(err(fin.hv(), this.fin.hv()));
            for (int i = 0; i < names.length; i++) {
                assertRelL2(at + names[i], got[i], this.grads[i], TOL);
                report.append(' ').append(names[i]).append(' ').append(err(got[i], this.grads[i]));
            }
            if (dInitial != null) {
                assertRelL2(at + "dhk0", grads.dInitial().hk(), dInitial.hk(), TOL);
                assertRelL2(at + "dhv0", grads.dInitial().hv(), dInitial.hv(), TOL);
                report.append(" dhk0 ").append(err(grads.dInitial().hk(), dInitial.hk()))
                        .append(" dhv0 ").append(err(grads.dInitial().hv(), dInitial.hv()));
            }
            System.out.println(report);
        }

        private static String err(float[] a, float[] ref) {
            return String.format("%.1e", relL2(a, ref));
        }
    }

    static Stream<Arguments> chunkedCases() {
        return Stream.of("gsa-op-small.safetensors", "gsa-op-chunks.safetensors")
                .flatMap(f -> Stream.of(16, 32, 64).map(c -> Arguments.of(f, c)));
    }

    @ParameterizedTest(name = "{0} chunk {1}")
    @MethodSource("chunkedCases")
    void chunkedMatchesFla(String file, int chunk) {
        Fixture fx = Fixture.load(file);
        GsaChunked.Forward fwd = GsaChunked.forward(fx.inputs(), fx.initial(), chunk);
        GsaGradients grads = GsaChunked.backward(fwd, fx.dO(), fx.dFinal());
        fx.check("chunk " + chunk, fwd.o(), fwd.finalState(), grads);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("files")
    void recurrentMatchesFla(String file) {
        Fixture fx = Fixture.load(file);
        GsaState state = fx.initial() == null ? GsaState.zeros(fx.inputs().shape()) : fx.initial().copy();
        float[] o = GsaRecurrent.forward(fx.inputs(), state);
        GsaGradients grads = GsaRecurrent.backward(fx.inputs(), fx.initial(), fx.dO(), fx.dFinal());
        fx.check("recurrent", o, state, grads);
    }

    static Stream<String> files() {
        return Stream.of("gsa-op-small.safetensors", "gsa-op-chunks.safetensors");
    }
}
