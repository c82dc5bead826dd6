package gsat2r.core.data.synthetic;

import gsat2r.core.data.SplitMix64;
import gsat2r.core.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * The strings synthetic documents are made of: lowercase words that the tokenizer writes as one token
 * after a space (found in its own vocabulary, so that a key or value is one prediction, as in MQAR),
 * made-up words of two or three syllables (several tokens: keys and values that no vocabulary entry
 * makes easy), numbers and short upper-case codes.
 *
 * @param words single-token words, without the leading space, in vocabulary order
 */
public record Lexicon(List<String> words) {

    /** Below this many single-token words, made-up words stand in for them. */
    static final int MIN_WORDS = 64;
    private static final Pattern WORD = Pattern.compile(" [a-z]{3,10}");
    private static final String CONSONANTS = "bdfgklmnprstvz", VOWELS = "aeiou", LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ";

    public Lexicon {
        words = List.copyOf(words);
    }

    /** The single-token words of {@code tokenizer}'s vocabulary: {@code " word"} decodes from and encodes to one id. */
    public static Lexicon of(Tokenizer tokenizer) {
        List<String> words = new ArrayList<>();
        for (int id = 0; id < tokenizer.vocabSize(); id++) {
            if (tokenizer.isSpecial(id) || tokenizer.isByteFallback(id)) continue;
            String s = tokenizer.decode(new int[] {id}, false);
            if (!WORD.matcher(s).matches()) continue;
            if (Arrays.equals(tokenizer.encodePlain(s), new int[] {id})) words.add(s.substring(1));
        }
        return new Lexicon(words);
    }

    /** A word: from the vocabulary when it has enough of them, else made up. */
    public String word(SplitMix64 rng) {
        return words.size() >= MIN_WORDS ? words.get(rng.nextInt(words.size())) : nonce(rng);
    }

    /** A made-up word of two or three consonant-vowel syllables, e.g. "tamoru". */
    public String nonce(SplitMix64 rng) {
        StringBuilder sb = new StringBuilder();
        int syllables = 2 + rng.nextInt(2);
        for (int i = 0; i < syllables; i++) {
            sb.append(CONSONANTS.charAt(rng.nextInt(CONSONANTS.length()))).append(VOWELS.charAt(rng.nextInt(VOWELS.length())));
        }
        return sb.toString();
    }

    /** A capitalised word (a vocabulary word or a made-up one), e.g. "Harbor". */
    public String name(SplitMix64 rng) {
        String w = rng.nextInt(3) == 0 ? nonce(rng) : word(rng);
        return w.substring(0, 1).toUpperCase(Locale.ROOT) + w.substring(1);
    }

    /** A number of {@code minDigits} to {@code maxDigits} digits without a leading zero. */
    public String number(SplitMix64 rng, int minDigits, int maxDigits) {
        int digits = minDigits + rng.nextInt(maxDigits - minDigits + 1);
        StringBuilder sb = new StringBuilder().append((char) ('1' + rng.nextInt(9)));
        for (int i = 1; i < digits; i++) sb.append((char) ('0' + rng.nextInt(10)));
        return sb.toString();
    }

    /** An upper-case code of {@code length} letters, e.g. "QKTR". */
    public String code(SplitMix64 rng, int length) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < length; i++) sb.append(LETTERS.charAt(rng.nextInt(LETTERS.length())));
        return sb.toString();
    }

    /** {@code n} distinct strings drawn by {@code draw} (gives up on distinctness after many repeats). */
    static List<String> distinct(int n, SplitMix64 rng, java.util.function.Function<SplitMix64, String> draw) {
        java.util.LinkedHashSet<String> out = new java.util.LinkedHashSet<>();
        for (int tries = 0; out.size() < n && tries < 20 * n + 100; tries++) out.add(draw.apply(rng));
        List<String> list = new ArrayList<>(out);
        while (list.size() < n) list.add(draw.apply(rng));
        return list;
    }
}
