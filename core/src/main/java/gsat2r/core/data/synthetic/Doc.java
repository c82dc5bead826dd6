package gsat2r.core.data.synthetic;

/**
 * A synthetic document as text: everything up to its last recall target ({@code prompt}) and that
 * target ({@code answer}, e.g. the value after the last query). Training reads {@code prompt + answer}
 * whole; a probe scores the answer's tokens after the prompt.
 */
public record Doc(String prompt, String answer) {
    public String text() {
        return prompt + answer;
    }

    /** A document and its tokens ({@link SyntheticContext#document} of its text: BOS, the text, EOS). */
    public record Encoded(Doc doc, int[] tokens) {}
}
