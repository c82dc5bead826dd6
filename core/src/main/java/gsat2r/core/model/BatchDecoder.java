package gsat2r.core.model;

import gsat2r.core.T2rException;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Decodes several sequences of one {@link LanguageModel} together: each step feeds one token to each
 * sequence and returns one row of next-token logits per sequence, as a server's continuous batching
 * needs. A sequence is a {@link LanguageModel.Decoder} of the same model (made by its
 * {@link LanguageModel#newDecoder()}, prefilled, saved and restored as usual); the batch is just the
 * list passed to a step, so sequences join and leave between steps freely and may be of any lengths.
 *
 * <p>Contract, for every implementation (the CPU ones of the student and the teacher, the default
 * {@link #sequential()}, a GPU one):
 * <ul>
 * <li>row i of a step equals what {@code decoders.get(i).next(ids[i])} would have returned, and leaves the
 * decoder in the same state (same position, same state to save);</li>
 * <li>a sequence whose own input is wrong (a token outside the vocabulary, a decoder of another model,
 * a context its model cannot extend) fails alone: its row is null and its failure is set, the others
 * are stepped; a failed decoder must not be used again;</li>
 * <li>an exception thrown by the step itself (a programming error: lists of other sizes, a decoder
 * twice; or the device failing) leaves every decoder of the call in an undefined state;</li>
 * <li>it is called from one thread at a time (a server's scheduler); decoders are not shared between
 * concurrent steps.</li>
 * </ul>
 */
public interface BatchDecoder {

    /**
     * The outcome of a step: {@code logits[i]} (vocabulary-size fp32 row, owned by the caller) for each
     * sequence that was stepped, or {@code failures[i]} for one that failed alone.
     */
    record Step(float[][] logits, RuntimeException[] failures) {
        public Step {
            if (logits.length != failures.length) {
                throw new IllegalArgumentException(logits.length + " logit rows, " + failures.length + " failure slots");
            }
        }

        /** Sized for {@code n} sequences, nothing set yet. */
        public static Step of(int n) {
            return new Step(new float[n][], new RuntimeException[n]);
        }

        public int size() {
            return logits.length;
        }

        public boolean failed(int i) {
            return failures[i] != null;
        }
    }

    /** Feeds {@code ids[i]} to {@code decoders.get(i)} for every i; see the interface's contract. */
    Step next(List<? extends LanguageModel.Decoder> decoders, int[] ids);

    /**
     * Steps each decoder on its own ({@link LanguageModel.Decoder#next}), one after another: the batched
     * decoding of any model, and the reference that batched implementations are tested against.
     */
    static BatchDecoder sequential() {
        return (decoders, ids) -> {
            checkCall(decoders, ids);
            Step step = Step.of(ids.length);
            for (int i = 0; i < ids.length; i++) {
                try {
                    step.logits()[i] = decoders.get(i).next(ids[i]);
                } catch (RuntimeException e) {
                    step.failures()[i] = e;
                }
            }
            return step;
        };
    }

    /** Throws unless there is one id per decoder and no decoder appears twice (before anything is changed). */
    static void checkCall(List<? extends LanguageModel.Decoder> decoders, int[] ids) {
        if (decoders.size() != ids.length) {
            throw new IllegalArgumentException(decoders.size() + " decoders but " + ids.length + " token ids");
        }
        Map<LanguageModel.Decoder, Boolean> seen = new IdentityHashMap<>();
        for (LanguageModel.Decoder d : decoders) {
            if (d == null) throw new IllegalArgumentException("a null decoder in the batch");
            if (seen.put(d, Boolean.TRUE) != null) throw new IllegalArgumentException("a decoder appears twice in the batch");
        }
    }

    /**
     * The calls of a batch that can step, in order: the others get their failure in {@code step}, a decoder that
     * {@code mine} refuses with {@code notMine}, an id outside {@code [0, vocab)} with {@link #checkId}'s.
     */
    static List<Integer> steppable(Step step, List<? extends LanguageModel.Decoder> decoders, int[] ids, int vocab,
                                   Predicate<LanguageModel.Decoder> mine, String notMine) {
        List<Integer> rows = new ArrayList<>();
        for (int i = 0; i < ids.length; i++) {
            RuntimeException wrong = mine.test(decoders.get(i)) ? checkId(ids[i], vocab) : new T2rException(notMine);
            if (wrong != null) step.failures()[i] = wrong;
            else rows.add(i);
        }
        return rows;
    }

    /** The failure of a token id outside {@code [0, vocab)}, or null when it is in range. */
    static T2rException checkId(int id, int vocab) {
        return id >= 0 && id < vocab ? null
                : new T2rException("token id " + id + " is outside the vocabulary (0.." + (vocab - 1) + ")");
    }
}
