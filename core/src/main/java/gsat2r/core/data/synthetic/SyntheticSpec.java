package gsat2r.core.data.synthetic;

/** One entry of a recipe's {@code data.synthetic}: a kind of document and its share of the training sequences. */
public record SyntheticSpec(SyntheticKind kind, double share) {
    public SyntheticSpec {
        SyntheticMix.countOf(share);                 // a multiple of 1/BLOCK in [0, 1], or a one-line error
    }
}
