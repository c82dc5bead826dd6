package gsat2r.eval;

import gsat2r.core.T2rException;
import gsat2r.core.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Words of the model's own vocabulary that the tokenizer writes as one token each, for prompts built
 * from token ids that are also exactly what the tokenizer makes of their text.
 *
 * <p>A vocabulary entry is a word here when its text (decoded alone, spaces stripped) is 3 to 12
 * lowercase ASCII letters, it is neither special nor a byte-fallback piece, and the tokenizer encodes
 * {@code lead + "w, w w"} as {@code [w, ",", w, w]}: the word as one token at the start of the text and
 * after a space, whether a comma or another word follows, and the comma as one token. Those are the
 * only neighbourhoods a recall prompt has. The {@code lead} is a space for byte-level BPE (whose
 * {@code " w"} differs from a text-initial {@code "w"}), nothing for sentencepiece-style tokenizers
 * that put {@code ▁} before the first word themselves: whichever gives more words. The comma is the
 * one most words agree on (words that tokenize it otherwise are left out).
 *
 * <p>A small vocabulary holds many word pieces that pass this test ({@code " belo"} of "beloved"). When
 * text is given (the evaluation's {@code --data}), the pool keeps only the words that occur in it as
 * whole words, provided that leaves at least {@value #ENOUGH_FROM_TEXT}; otherwise the whole pool is
 * used. {@link #source} says which.
 */
record WordPool(int[] ids, String[] words, int commaId, String lead, String source) {

    static final int ENOUGH_FROM_TEXT = 64;
    private static final int TEXT_SCANNED = 4_000_000;        // characters of text looked at, at most
    private static final Pattern WHOLE_WORD = Pattern.compile("(?<![\\p{L}\\p{N}'])[a-z]{3,12}(?![\\p{L}\\p{N}'])");

    /** The pool, narrowed to the whole words of {@code texts} when they hold enough of them. */
    static WordPool of(Tokenizer tokenizer, List<String> texts) {
        WordPool all = of(tokenizer);
        if (texts == null || texts.isEmpty()) return all;
        java.util.Set<String> seen = new java.util.HashSet<>();
        int scanned = 0;
        for (String t : texts) {
            if (scanned >= TEXT_SCANNED) break;
            String part = t.length() > TEXT_SCANNED - scanned ? t.substring(0, TEXT_SCANNED - scanned) : t;
            scanned += part.length();
            java.util.regex.Matcher m = WHOLE_WORD.matcher(part);
            while (m.find()) seen.add(m.group());
        }
        List<Integer> keep = new ArrayList<>();
        for (int i = 0; i < all.size(); i++) if (seen.contains(all.words()[i])) keep.add(i);
        if (keep.size() < ENOUGH_FROM_TEXT) return all;
        int[] ids = keep.stream().mapToInt(i -> all.ids()[i]).toArray();
        String[] words = keep.stream().map(i -> all.words()[i]).toArray(String[]::new);
        return new WordPool(ids, words, all.commaId(), all.lead(), "single-token words of the vocabulary that occur as whole words in the data");
    }

    private static final Pattern WORD = Pattern.compile("[a-z]{3,12}");

    static WordPool of(Tokenizer tokenizer) {
        WordPool spaced = of(tokenizer, " "), bare = of(tokenizer, "");
        return bare.size() > spaced.size() ? bare : spaced;
    }

    /** The pool for prompts whose text starts with {@code lead} before the first word. */
    private static WordPool of(Tokenizer tokenizer, String lead) {
        List<int[]> found = new ArrayList<>();                // {word id, comma id}
        Map<Integer, String> text = new HashMap<>();
        for (int id = 0; id < tokenizer.vocabSize(); id++) {
            if (tokenizer.isSpecial(id) || tokenizer.isByteFallback(id)) continue;
            String w;
            try {
                w = tokenizer.decode(new int[] {id}).strip();
            } catch (T2rException hole) {                     // an id with no token (a gap in the vocabulary)
                continue;
            }
            if (!WORD.matcher(w).matches()) continue;
            int[] ids = tokenizer.encodePlain(lead + w + ", " + w + " " + w);
            if (ids.length == 4 && ids[0] == id && ids[2] == id && ids[3] == id) {
                found.add(new int[] {id, ids[1]});
                text.put(id, w);
            }
        }
        Map<Integer, Integer> commaVotes = new HashMap<>();
        for (int[] f : found) commaVotes.merge(f[1], 1, Integer::sum);
        int comma = commaVotes.entrySet().stream().max(Map.Entry.comparingByValue()).map(Map.Entry::getKey).orElse(-1);
        int[] ids = found.stream().filter(f -> f[1] == comma).mapToInt(f -> f[0]).toArray();
        String[] words = new String[ids.length];
        for (int i = 0; i < ids.length; i++) words[i] = text.get(ids[i]);
        return new WordPool(ids, words, comma, lead, "single-token words of the vocabulary");
    }

    int size() {
        return ids.length;
    }
}
