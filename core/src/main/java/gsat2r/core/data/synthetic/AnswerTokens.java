package gsat2r.core.data.synthetic;

import gsat2r.core.tokenizer.Tokenizer;

import java.nio.charset.StandardCharsets;

/**
 * Which tokens of an encoded document are its recall targets ({@link Doc#answers}): a token is one when its
 * first byte other than white space lies in an answer's characters. The tokens' bytes ({@link
 * Tokenizer#tokenBytes}, specials left out) spell the text's UTF-8, so the walk is exact; a tokenizer that
 * changes the text on its way (a normalizer, a SentencePiece space) is caught by the lengths not agreeing.
 */
public final class AnswerTokens {
    private AnswerTokens() {}

    /**
     * Per token of {@code encoded.tokens()}, whether it is an answer token; null when the tokens do not spell the
     * document's text byte for byte (the caller marks nothing then).
     */
    public static boolean[] of(Tokenizer tokenizer, Doc.Encoded encoded) {
        String text = encoded.doc().text();
        int[] tokens = encoded.tokens();
        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
        boolean[] marked = new boolean[tokens.length];
        long[] spans = byteSpans(text, encoded.doc());
        int at = 0, span = 0;
        for (int i = 0; i < tokens.length; i++) {
            if (tokenizer.isSpecial(tokens[i])) continue;
            byte[] b = tokenizer.tokenBytes(tokens[i]);
            int first = -1;
            for (int j = 0; j < b.length; j++) {
                if (at + j >= utf8.length || utf8[at + j] != b[j]) return null;
                if (first < 0 && !Character.isWhitespace(b[j] & 0xff)) first = at + j;
            }
            at += b.length;
            if (first < 0) continue;
            while (span < spans.length && (int) spans[span] <= first) span++;       // spans[span]: the first whose end is past it
            marked[i] = span < spans.length && (int) (spans[span] >>> 32) <= first;
        }
        return at == utf8.length ? marked : null;
    }

    /** The answers' byte ranges in the text's UTF-8, each as start << 32 | end, in order. */
    private static long[] byteSpans(String text, Doc doc) {
        long[] out = new long[doc.answers().size()];
        for (int i = 0; i < out.length; i++) {
            Doc.Span s = doc.answers().get(i);
            long start = utf8Length(text, s.start()), end = utf8Length(text, s.end());
            out[i] = start << 32 | end;
        }
        return out;
    }

    private static int utf8Length(String text, int chars) {
        return text.substring(0, chars).getBytes(StandardCharsets.UTF_8).length;
    }
}
