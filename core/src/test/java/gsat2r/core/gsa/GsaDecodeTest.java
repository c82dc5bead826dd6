package gsat2r.core.gsa;

import org.junit.jupiter.api.Test;

import static gsat2r.core.testing.Numerics.assertRelL2;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * Decoding: token-by-token steps give the sequence forward's outputs and state (bit for bit for
 * the recurrence, within 1e-5 for the chunked form); a chunked prefill continued by steps gives
 * the same as one pass; a snapshot restores the state exactly.
 */
class GsaDecodeTest {
    static final GsaShape SHAPE = new GsaShape(2, 70, 6, 2, 16, 8, 32);

    @Test
    void stepsEqualSequenceForward() {
        GsaCase c = GsaCase.random(31, SHAPE, GsaCase.Gates.MIXED, true, true);
        GsaState whole = c.initialOrZeros();
        float[] oWhole = GsaRecurrent.forward(c.inputs(), whole);

        GsaState stepped = c.initialOrZeros();
        float[] oSteps = new float[SHAPE.oSize()];
        for (int t = 0; t < SHAPE.seqLen(); t++) {
            float[] o = step(c.inputs(), stepped, t);
            scatter(o, oSteps, t, SHAPE.heads() * SHAPE.valueDim());
        }
        assertArrayEquals(oWhole, oSteps, "o");
        assertArrayEquals(whole.hk(), stepped.hk(), "hk");
        assertArrayEquals(whole.hv(), stepped.hv(), "hv");

        GsaChunked.Forward chunked = GsaChunked.forward(c.inputs(), c.initial());
        assertRelL2("chunked o", chunked.o(), oSteps, 1e-5);
        assertRelL2("chunked hk", chunked.finalState().hk(), stepped.hk(), 1e-5);
        assertRelL2("chunked hv", chunked.finalState().hv(), stepped.hv(), 1e-5);
    }

    @Test
    void chunkedPrefillThenStepsEqualsOnePass() {
        GsaCase c = GsaCase.random(32, SHAPE, GsaCase.Gates.STRONG, true, false);
        int prompt = 50;
        GsaChunked.Forward prefill = GsaChunked.forward(slice(c.inputs(), 0, prompt), null, 16);
        GsaState state = prefill.finalState();
        float[] o = new float[SHAPE.oSize()];
        for (int t = prompt; t < SHAPE.seqLen(); t++) {
            scatter(step(c.inputs(), state, t), o, t, SHAPE.heads() * SHAPE.valueDim());
        }
        GsaState whole = GsaState.zeros(SHAPE);
        float[] oWhole = GsaRecurrent.forward(c.inputs(), whole);
        int tail = SHAPE.heads() * SHAPE.valueDim();
        for (int b = 0; b < SHAPE.batch(); b++) {
            float[] got = new float[(SHAPE.seqLen() - prompt) * tail], want = new float[got.length];
            System.arraycopy(o, (b * SHAPE.seqLen() + prompt) * tail, got, 0, got.length);
            System.arraycopy(oWhole, (b * SHAPE.seqLen() + prompt) * tail, want, 0, want.length);
            assertRelL2("decoded o of sequence " + b, got, want, 1e-5);
        }
        assertRelL2("hk", state.hk(), whole.hk(), 1e-5);
        assertRelL2("hv", state.hv(), whole.hv(), 1e-5);
    }

    @Test
    void snapshotRestoresTheState() {
        GsaCase c = GsaCase.random(33, SHAPE, GsaCase.Gates.MIXED, false, true);
        GsaState state = c.initialOrZeros();
        for (int t = 0; t < 20; t++) step(c.inputs(), state, t);
        GsaState snapshot = state.copy();
        float[][] first = new float[10][];
        for (int t = 20; t < 30; t++) first[t - 20] = step(c.inputs(), state, t);
        GsaState after = state.copy();
        state.restore(snapshot);
        for (int t = 20; t < 30; t++) assertArrayEquals(first[t - 20], step(c.inputs(), state, t), "token " + t);
        assertArrayEquals(after.hk(), state.hk());
        assertArrayEquals(after.hv(), state.hv());
    }

    /** Feeds token t of every sequence in {@code in} as one decode step. */
    static float[] step(GsaInputs in, GsaState state, int t) {
        GsaShape sh = in.shape();
        return GsaRecurrent.step(state, sh.heads(),
                row(in.q(), sh, t, sh.heads() * sh.keyDim()), row(in.k(), sh, t, sh.kvHeads() * sh.keyDim()),
                row(in.v(), sh, t, sh.kvHeads() * sh.valueDim()), row(in.s(), sh, t, sh.kvHeads() * sh.slots()),
                row(in.g(), sh, t, sh.kvHeads() * sh.slots()), in.scale());
    }

    /** Token t of a [B,T,width] array as [B,width]. */
    static float[] row(float[] a, GsaShape sh, int t, int width) {
        float[] r = new float[sh.batch() * width];
        for (int b = 0; b < sh.batch(); b++) System.arraycopy(a, (b * sh.seqLen() + t) * width, r, b * width, width);
        return r;
    }

    static void scatter(float[] row, float[] whole, int t, int width) {
        int batch = row.length / width, seqLen = whole.length / (batch * width);
        for (int b = 0; b < batch; b++) System.arraycopy(row, b * width, whole, (b * seqLen + t) * width, width);
    }

    /** Tokens [from, to) of every sequence. */
    static GsaInputs slice(GsaInputs in, int from, int to) {
        GsaShape sh = in.shape(), part = sh.withSeqLen(to - from);
        return new GsaInputs(part, cut(in.q(), sh, from, to, sh.heads() * sh.keyDim()),
                cut(in.k(), sh, from, to, sh.kvHeads() * sh.keyDim()),
                cut(in.v(), sh, from, to, sh.kvHeads() * sh.valueDim()),
                cut(in.s(), sh, from, to, sh.kvHeads() * sh.slots()),
                cut(in.g(), sh, from, to, sh.kvHeads() * sh.slots()), in.scale());
    }

    private static float[] cut(float[] a, GsaShape sh, int from, int to, int width) {
        int n = to - from;
        float[] r = new float[sh.batch() * n * width];
        for (int b = 0; b < sh.batch(); b++) {
            System.arraycopy(a, (b * sh.seqLen() + from) * width, r, b * n * width, n * width);
        }
        return r;
    }
}
