package gsat2r.core.model;

import gsat2r.core.T2rException;

import java.util.Arrays;
import java.util.function.Function;

/**
 * A decoder for a model that runs whole sequences but has no incremental step: every call runs the forward pass
 * over every token fed so far and keeps only what it needs. Exact by construction (each row is the forward pass's
 * own), O(T) work a token instead of O(1), and no state to save or restore (the tokens are the state). What the GPU
 * runs students with short convolutions by until their decoding step exists.
 */
public final class RecomputingDecoder implements LanguageModel.Decoder {

    private final Function<int[], float[]> lastLogits;
    private final Function<int[], float[][]> allLogits;
    private int[] ids = new int[64];
    private int length;

    /**
     * @param lastLogits the logits after the last of the given tokens (a model may copy back only that row)
     * @param allLogits  the logits after each of the given tokens ({@link LanguageModel#forward})
     */
    public RecomputingDecoder(Function<int[], float[]> lastLogits, Function<int[], float[][]> allLogits) {
        this.lastLogits = lastLogits;
        this.allLogits = allLogits;
    }

    /** A decoder of {@code model} that takes the last row of its {@link LanguageModel#forward}. */
    public static RecomputingDecoder of(LanguageModel model) {
        return new RecomputingDecoder(ids -> {
            float[][] rows = model.forward(ids);
            return rows[rows.length - 1];
        }, model::forward);
    }

    @Override
    public float[] prefill(int[] prompt) {
        append(prompt);
        return lastLogits.apply(fed());
    }

    @Override
    public float[] next(int id) {
        append(new int[] {id});
        return lastLogits.apply(fed());
    }

    @Override
    public float[][] prefillAll(int[] more) {
        append(more);
        float[][] rows = allLogits.apply(fed());
        return Arrays.copyOfRange(rows, length - more.length, length);
    }

    @Override
    public int position() {
        return length;
    }

    private void append(int[] more) {
        if (more.length == 0) throw new T2rException("no tokens to feed the decoder");
        if (length + more.length > ids.length) ids = Arrays.copyOf(ids, Math.max(2 * ids.length, length + more.length));
        System.arraycopy(more, 0, ids, length, more.length);
        length += more.length;
    }

    private int[] fed() {
        return Arrays.copyOf(ids, length);
    }
}
