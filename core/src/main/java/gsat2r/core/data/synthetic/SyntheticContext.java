package gsat2r.core.data.synthetic;

import gsat2r.core.T2rException;
import gsat2r.core.data.PreparedDataset;
import gsat2r.core.data.SplitMix64;
import gsat2r.core.tokenizer.Tokenizer;

import java.util.Arrays;

/**
 * What synthetic documents are made from: the teacher's tokenizer (documents are written as text and
 * encoded once, whole, so that their tokens are exactly what the tokenizer makes of that text: the
 * teacher never sees a tokenization it was not trained on), the corpus (the haystack around needles,
 * the spans that repeat) and the {@link Lexicon}.
 */
public final class SyntheticContext {

    private final Tokenizer tokenizer;
    private final PreparedDataset.Split corpus;
    private final Lexicon lexicon;
    private final Integer eos;

    public SyntheticContext(Tokenizer tokenizer, PreparedDataset.Split corpus, Lexicon lexicon) {
        if (corpus.tokens() < 2) throw new T2rException("synthetic data: the " + corpus.name() + " split has no text to take haystacks from");
        this.tokenizer = tokenizer;
        this.corpus = corpus;
        this.lexicon = lexicon;
        int[] e = tokenizer.eosIds();
        this.eos = e.length > 0 ? e[0] : null;
    }

    public static SyntheticContext of(Tokenizer tokenizer, PreparedDataset.Split corpus) {
        return new SyntheticContext(tokenizer, corpus, Lexicon.of(tokenizer));
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public Lexicon lexicon() {
        return lexicon;
    }

    public PreparedDataset.Split corpus() {
        return corpus;
    }

    /** A document's tokens as {@code t2r data prepare} makes them: {@code encode(text)} (BOS first) and EOS. */
    public int[] document(String text) {
        int[] ids = tokenizer.encode(text);
        if (eos == null || (ids.length > 0 && ids[ids.length - 1] == eos)) return ids;
        int[] out = Arrays.copyOf(ids, ids.length + 1);
        out[ids.length] = eos;
        return out;
    }

    /** Tokens of {@code text} alone (no BOS or EOS). */
    public int count(String text) {
        return tokenizer.encodePlain(text).length;
    }

    /**
     * Corpus text of about {@code tokens} tokens from a random place: the span's special tokens (the
     * BOS and EOS between documents) are dropped and the documents' texts joined by a blank line, so
     * that nothing inside a haystack tells the teacher that a new document began.
     */
    public String haystack(SplitMix64 rng, int tokens) {
        if (tokens <= 0) return "";
        int n = (int) Math.min(tokens, corpus.tokens());
        long start = corpus.tokens() == n ? 0 : (long) (rng.nextDouble() * (corpus.tokens() - n));
        int[] ids = new int[n];
        corpus.read(start, ids, 0, n);
        StringBuilder text = new StringBuilder();
        int from = 0;
        for (int i = 0; i <= n; i++) {
            if (i < n && !tokenizer.isSpecial(ids[i])) continue;
            if (i > from) {
                String piece = tokenizer.decode(Arrays.copyOfRange(ids, from, i), true);
                if (!piece.isBlank()) {
                    if (!text.isEmpty()) text.append("\n\n");
                    text.append(piece.strip());
                }
            }
            from = i + 1;
        }
        return text.toString();
    }

    /** Corpus tokens {@code [start, start + count)} of a random place, specials included: filler after the last document of a window. */
    public void fill(SplitMix64 rng, int[] dst, int off, int count) {
        if (count <= 0) return;
        int n = (int) Math.min(count, corpus.tokens());
        long start = corpus.tokens() == n ? 0 : (long) (rng.nextDouble() * (corpus.tokens() - n));
        corpus.read(start, dst, off, n);
        for (int i = n; i < count; i++) dst[off + i] = dst[off + i % n];      // a corpus shorter than a window: repeat it
    }
}
