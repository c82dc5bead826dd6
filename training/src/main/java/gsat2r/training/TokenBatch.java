package gsat2r.training;

/**
 * One micro-batch of training or validation data: {@code sequences} windows of {@code length + 1}
 * token ids each, row-major in {@code tokens}. The inputs of row s are {@code tokens[s·(length+1) + t]}
 * for t in [0, length), the targets the same shifted by one. Every target counts (packed data has no
 * padding), so a batch has {@code sequences · length} target positions. {@code answers}, laid out as
 * {@code tokens} (or null: none known), marks the tokens that are recall targets of synthetic documents with their
 * kind's {@link gsat2r.core.data.synthetic.SyntheticKind#answerMark} (0: no recall target).
 */
public record TokenBatch(int sequences, int length, int[] tokens, byte[] answers) {

    public TokenBatch {
        if (sequences < 1 || length < 1) throw new IllegalArgumentException("empty batch: " + sequences + " x " + length);
        if (tokens.length != (long) sequences * (length + 1)) {
            throw new IllegalArgumentException(tokens.length + " tokens for " + sequences + " sequences of " + (length + 1));
        }
        if (answers != null && answers.length != tokens.length) {
            throw new IllegalArgumentException(answers.length + " answer marks for " + tokens.length + " tokens");
        }
    }

    /** A batch whose recall targets are not known. */
    public TokenBatch(int sequences, int length, int[] tokens) {
        this(sequences, length, tokens, null);
    }

    /** The answer mark of the target of position t of sequence s: 0 when it is no recall target, or none are known. */
    public int answerMark(int s, int t) {
        return answers == null ? 0 : answers[s * (length + 1) + t + 1];
    }

    /** Input token t of sequence s. */
    public int input(int s, int t) {
        return tokens[s * (length + 1) + t];
    }

    /** Target of position t of sequence s (the input at t + 1). */
    public int target(int s, int t) {
        return tokens[s * (length + 1) + t + 1];
    }

    /** The input ids of sequence s ({@code length} of them). */
    public int[] inputs(int s) {
        int[] ids = new int[length];
        System.arraycopy(tokens, s * (length + 1), ids, 0, length);
        return ids;
    }

    /** The target ids of sequence s ({@code length} of them). */
    public int[] targets(int s) {
        int[] ids = new int[length];
        System.arraycopy(tokens, s * (length + 1) + 1, ids, 0, length);
        return ids;
    }

    /** Number of positions that carry a loss: {@code sequences · length}. */
    public long positions() {
        return (long) sequences * length;
    }
}
