package gsat2r.core.data.synthetic;

import java.util.ArrayList;
import java.util.List;

/**
 * A synthetic document as text: everything up to its last recall target ({@code prompt}) and that
 * target ({@code answer}, e.g. the value after the last query). Training reads {@code prompt + answer}
 * whole; a probe scores the answer's tokens after the prompt. {@code answers}: where in the text every
 * recall target stands, the last one's included (each value looked up, each asked fact, each name of
 * the answer's list), in order and apart; what a loss that counts answers more weighs ({@link AnswerTokens}).
 */
public record Doc(String prompt, String answer, List<Span> answers) {

    /** The characters {@code [start, end)} of the document's text. */
    public record Span(int start, int end) {
        public Span {
            if (start < 0 || end <= start) throw new IllegalArgumentException("answer span [" + start + ", " + end + ")");
        }
    }

    public Doc {
        answers = List.copyOf(answers);
        int length = prompt.length() + answer.length(), last = 0;
        for (Span s : answers) {
            if (s.start() < last || s.end() > length) {
                throw new IllegalArgumentException("answer spans out of order or past the text's " + length + " characters: " + answers);
            }
            last = s.end();
        }
    }

    /** A document whose only recall target is its answer, all of it. */
    public Doc(String prompt, String answer) {
        this(prompt, answer, answer.isEmpty() ? List.of() : List.of(new Span(prompt.length(), prompt.length() + answer.length())));
    }

    public String text() {
        return prompt + answer;
    }

    /** A document and its tokens ({@link SyntheticContext#document} of its text: BOS, the text, EOS). */
    public record Encoded(Doc doc, int[] tokens) {}

    /** Text written piece by piece, remembering where the recall targets go. */
    static final class Writer {
        private final StringBuilder text = new StringBuilder();
        private final List<Span> answers = new ArrayList<>();

        Writer append(String s) {
            text.append(s);
            return this;
        }

        /** Appends a recall target. */
        Writer answer(String s) {
            if (!s.isEmpty()) answers.add(new Span(text.length(), text.length() + s.length()));
            text.append(s);
            return this;
        }

        int length() {
            return text.length();
        }

        /** The document whose answer is everything written from {@code answerStart} on. */
        Doc doc(int answerStart) {
            return new Doc(text.substring(0, answerStart), text.substring(answerStart), answers);
        }
    }
}
