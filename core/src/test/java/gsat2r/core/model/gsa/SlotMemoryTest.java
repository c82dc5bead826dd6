package gsat2r.core.model.gsa;

import gsat2r.core.config.GsaConfig;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * {@link SlotMemory} against the slot recurrence run token by token on the gates the student's own forward pass
 * computes ({@link GsaMixer.Pass}'s gate logits), and against the closed form of gates that never move.
 */
class SlotMemoryTest {
    static final int T = 80;

    /** A hybrid (layer 1 softmax attention) with 6 slots per kv head and τ = 4. */
    static GsaConfig hybrid() {
        return TestStudents.config(16, 3, 2, 2, 6, 1.0, 4, 24, 40, true, List.of(
                TestStudents.attention(List.of(1), 2, 2, false, null, null, null)));
    }

    @Test
    void matchesTheSlotRecurrenceOnTheForwardPassGates() {
        GsaModel m = TestStudents.random(hybrid(), 5);
        List<int[]> windows = List.of(TestStudents.randomIds(T, 40, 6), TestStudents.randomIds(T, 40, 7));
        SlotMemory.Report r = SlotMemory.measure(m, windows);
        assertArrayEquals(new int[] {1, 16, 64}, r.distances());
        assertEquals(List.of(0, 2), r.layers().stream().map(SlotMemory.Layer::layer).toList());
        for (SlotMemory.Layer layer : r.layers()) {
            SlotMemory.Layer expected = recurrence(m, layer.layer(), windows, r.distances());
            assertClose(expected.halfLifeMin(), layer.halfLifeMin());
            assertClose(expected.halfLifeMedian(), layer.halfLifeMedian());
            assertClose(expected.halfLifeMax(), layer.halfLifeMax());
            assertClose(expected.slotsWrittenPerToken(), layer.slotsWrittenPerToken());
            for (int i = 0; i < r.distances().length; i++) assertClose(expected.reach()[i], layer.reach()[i]);
        }
    }

    @Test
    void gatesAtZeroHalveEveryWriteEveryτTokens() {
        GsaModel m = TestStudents.random(hybrid(), 8);
        for (int l : new int[] {0, 2}) {
            ParameterView f = m.layout().find("model.layers." + l + ".attn.f_proj.weight");
            Arrays.fill(m.parameters(), f.arrayOffset(), f.arrayOffset() + f.arraySize(), 0f);
        }
        SlotMemory.Report r = SlotMemory.measure(m, List.of(TestStudents.randomIds(T, 40, 9)));
        double tau = 4, write = 1 - Math.pow(2, -1 / tau);
        for (SlotMemory.Layer layer : r.layers()) {
            assertClose(tau, layer.halfLifeMin());
            assertClose(tau, layer.halfLifeMax());
            assertClose(6 * write, layer.slotsWrittenPerToken());
            for (int i = 0; i < r.distances().length; i++) {
                assertClose(write * Math.pow(2, -r.distances()[i] / tau), layer.reach()[i]);
            }
        }
    }

    @Test
    void refusesWindowsItCannotMeasure() {
        GsaModel m = TestStudents.random(hybrid(), 5);
        assertThrows(IllegalArgumentException.class, () -> SlotMemory.measure(m, List.of()));
        assertThrows(IllegalArgumentException.class, () -> SlotMemory.measure(m, List.of(new int[] {1})));
        assertThrows(IllegalArgumentException.class, () -> SlotMemory.measure(m, List.of(new int[] {1, 2, 3}, new int[] {1, 2})));
    }

    /** The measures computed naively: each token's write followed through the slots one token at a time. */
    private static SlotMemory.Layer recurrence(GsaModel m, int l, List<int[]> windows, int[] distances) {
        int slots = m.config().numKvHeads() * m.config().numSlots();
        double tau = m.config().gateLogitNormalizer();
        double[] sumG = new double[slots];
        double written = 0;
        List<List<Double>> shares = new ArrayList<>();
        for (int ignored : distances) shares.add(new ArrayList<>());
        for (int[] ids : windows) {
            float[] residual = m.residuals(ids, 1, T)[l];
            GsaMixer.Pass pass = (GsaMixer.Pass) m.layerForward(l, m.attnNorm(l, residual, T), 1, T);
            double[][] alpha = new double[T][slots];
            for (int t = 0; t < T; t++) {
                for (int j = 0; j < slots; j++) {
                    double g = GsaMixer.logSigmoid(pass.fPre[t * slots + j]) / tau;
                    sumG[j] += g;
                    alpha[t][j] = Math.exp(g);
                    written += 1 - alpha[t][j];
                }
            }
            for (int i = 0; i < distances.length; i++) {
                for (int p = 0; p + distances[i] < T; p++) {
                    double[] weight = new double[slots];
                    for (int j = 0; j < slots; j++) weight[j] = 1 - alpha[p][j];
                    for (int u = p + 1; u <= p + distances[i]; u++) for (int j = 0; j < slots; j++) weight[j] *= alpha[u][j];
                    shares.get(i).add(Arrays.stream(weight).max().orElseThrow());
                }
            }
        }
        long tokens = (long) T * windows.size();
        double[] halfLives = new double[slots];
        for (int j = 0; j < slots; j++) halfLives[j] = Math.log(2) * tokens / -sumG[j];
        Arrays.sort(halfLives);
        return new SlotMemory.Layer(l, halfLives[0], SlotMemory.median(halfLives), halfLives[slots - 1],
                written / tokens / m.config().numKvHeads(), shares.stream().mapToDouble(SlotMemory::median).toArray());
    }

    /** The same fp32 gate logits, the measures summed in another order: far inside 1e-5 relative. */
    private static void assertClose(double expected, double actual) {
        assertEquals(expected, actual, 1e-5 * Math.abs(expected), () -> "expected " + expected + ", got " + actual);
    }
}
