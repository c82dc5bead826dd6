package gsat2r.core.data.synthetic;

import gsat2r.core.tokenizer.Tokenizer;

import java.nio.charset.StandardCharsets;

/**
 * Which tokens of an encoded document are its recall targets ({@link Doc#answers}): a token is one when its
 * first byte other than white space lies in an answer's characters (a token of white space alone, when it
 * lies inside one). The tokens' bytes ({@link
 * Tokenizer#tokenBytes}, specials left out) spell the text's UTF-8 (after the one space a SentencePiece
 * tokenizer puts first), so the walk is exact; a tokenizer that changes the text otherwise (a normalizer) is
 * caught by the bytes not agreeing.
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
        boolean leading = true;
        for (int i = 0; i < tokens.length; i++) {
            if (tokenizer.isSpecial(tokens[i])) continue;
            byte[] b = tokenizer.tokenBytes(tokens[i]);
            if (b == null) return null;
            // SentencePiece's dummy prefix: one space before the text that the text does not have
            int skip = leading && b.length > 0 && b[0] == ' ' && (utf8.length == 0 || utf8[0] != ' ') ? 1 : 0;
            leading = false;
            int first = -1;
            for (int j = skip; j < b.length; j++) {
                int k = at + j - skip;
                if (k >= utf8.length || utf8[k] != b[j]) return null;
                if (first < 0 && !Character.isWhitespace(b[j] & 0xff)) first = k;
            }
            int from = at;
            at += b.length - skip;
            boolean blank = first < 0;                 // white space alone: an answer's only inside one ("42 €")
            int probe = blank ? from : first;
            while (span < spans.length && (int) spans[span] <= probe) span++;       // spans[span]: the first whose end is past it
            int start = span < spans.length ? (int) (spans[span] >>> 32) : Integer.MAX_VALUE;
            marked[i] = blank ? start < probe : start <= probe;
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
