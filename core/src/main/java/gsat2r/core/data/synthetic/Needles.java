package gsat2r.core.data.synthetic;

import gsat2r.core.T2rException;
import gsat2r.core.data.SplitMix64;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Needles in a haystack ({@code needles}): corpus text with facts hidden at random depths, asked for at
 * the end. Four shapes, equally often: one needle; one needle after an introduction that announces it;
 * several needles with different keys, one or two of them asked; one key with several values, all
 * asked in the order they appear. The haystack is real corpus text (the teacher's own kind of text),
 * never one fixed filler sentence, so that a student cannot learn to ignore that sentence instead of
 * learning to retrieve:
 * <pre>
 *   … and the LORD said unto Moses, The harbor code is 48213. Go in unto Pharaoh …
 *   …\nWhat is the harbor code? The harbor code is 48213
 * </pre>
 * A share of the haystacks ({@code filler_share}) is one short corpus passage said over and over instead:
 * text a long way from the needle that looks the same everywhere, which a recurrent state must read past
 * without overwriting what it holds (a different passage in every document, never a fixed sentence).
 * A share of the documents ({@code decoy_share}) has decoys in its haystack: two to four sentences of the
 * facts' shape without a number ({@code The lamp is red.}), said again at 8 to 24 sentence ends and right
 * before the question, so that "is" recurs all through the text with other continuations and only the
 * words before it tell the fact's value.
 *
 * @param maxNeedles  most needles of the multi-key shape (2 or more)
 * @param maxValues   most values of the multi-value shape (2 or more)
 * @param fillerShare share of haystacks made of one repeated passage
 * @param decoyShare  share of documents whose haystack has decoy sentences said again and again
 */
public record Needles(int maxNeedles, int maxValues, double fillerShare, double decoyShare) implements SyntheticKind {

    public static final Needles DEFAULTS = new Needles(4, 4, 0, 0);
    /** How often a document's decoys are said in its haystack: 8 to 24 times. */
    static final int MIN_DECOYS = 8, MAX_DECOYS = 24;
    static final int MIN_HAYSTACK = 32;
    /** Tokens of corpus text a repeated passage is cut from: 12 to 48. */
    static final int MIN_PASSAGE = 12, MAX_PASSAGE = 48;

    public Needles {
        if (maxNeedles < 2) throw new T2rException("needles: max_needles must be at least 2 (got " + maxNeedles + ")");
        if (maxValues < 2) throw new T2rException("needles: max_values must be at least 2 (got " + maxValues + ")");
        if (!(fillerShare >= 0 && fillerShare <= 1)) throw new T2rException("needles: filler_share must be in [0, 1] (got " + fillerShare + ")");
        if (!(decoyShare >= 0 && decoyShare <= 1)) throw new T2rException("needles: decoy_share must be in [0, 1] (got " + decoyShare + ")");
    }

    /** A fact and its question; {@code {k}} and {@code {v}} are the key and the value; the answer is {@code " " + value}. */
    record Template(String needle, String question) {
        String needle(String k, String v) {
            return needle.replace("{k}", k).replace("{v}", v);
        }

        String question(String k) {
            return question.replace("{k}", k);
        }
    }

    /**
     * The single-needle facts. The teacher retrieves a hidden value only when the question ends with the
     * words that preceded it (measured on recall-llama in corpus text of 700 tokens, 8 prompts each: "The
     * secret number is" 7/8, "The secret code is" 7/8, "The {k} code is" 4/8, "The special code is" 4/8,
     * "The hidden number is" 3/8; a question worded otherwise, 0/8): so every question here does.
     */
    static final List<Template> SINGLE = List.of(
            new Template(" The secret number is {v}.", "\n\nWhat is the secret number? The secret number is"),
            new Template(" The secret code is {v}. Remember it.", " What is the secret code? The secret code is"),
            new Template(" The special code is {v}.", "\nWhat is the special code? The special code is"),
            new Template(" The hidden number is {v}. {v} is the hidden number.", " What is the hidden number? The hidden number is"),
            new Template(" The {k} number is {v}.", "\n\nWhat is the {k} number? The {k} number is"));
    /** Several keys, one value each. */
    static final Template MULTI_KEY = new Template(" The {k} code is {v}.", "\nWhat is the {k} code? The {k} code is");
    /** One key, several values: all are asked, in the order they appear. */
    static final Template MULTI_VALUE = new Template(" One {k} code is {v}.", "\nWhat are the {k} codes? The {k} codes are");
    static final String INTRO = "A few numbers are hidden in the text below. Remember them.\n\n";

    @Override
    public String name() {
        return "needles";
    }

    @Override
    public int minTokens() {
        return 96;
    }

    @Override
    public Map<String, Object> settings() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("max_needles", maxNeedles);
        m.put("max_values", maxValues);
        if (fillerShare > 0) m.put("filler_share", fillerShare);           // absent at 0: the settings of runs made before it existed
        if (decoyShare > 0) m.put("decoy_share", decoyShare);
        return m;
    }

    @Override
    public Doc.Encoded document(SyntheticContext context, SplitMix64 rng, int budget) {
        if (budget < minTokens()) return null;
        return Fit.aroundHaystack(context, rng, budget, MIN_HAYSTACK, (r, haystack) -> build(context, r, haystack));
    }

    /** A placed fact (or decoys, whose value is null): its text and where it goes (a depth in [0, 1] of the haystack). */
    record Placed(String text, String value, double depth) {}

    Doc build(SyntheticContext context, SplitMix64 rng, int haystackTokens) {
        Lexicon lex = context.lexicon();
        int shape = rng.nextInt(4);                 // 0 single, 1 single after an introduction, 2 multi-key, 3 multi-value
        Template t = switch (shape) {
            case 2 -> MULTI_KEY;
            case 3 -> MULTI_VALUE;
            default -> SINGLE.get(rng.nextInt(SINGLE.size()));
        };
        int needles = switch (shape) {
            case 2 -> 2 + rng.nextInt(maxNeedles - 1);
            case 3 -> 2 + rng.nextInt(maxValues - 1);
            default -> 1;
        };
        boolean numbers = rng.nextInt(5) != 0;
        List<String> keys = Lexicon.distinct(shape == 3 ? 1 : needles, rng, lex::word);
        List<String> values = Lexicon.distinct(needles, rng, r -> numbers ? lex.number(r, 3, 7) : lex.word(r));
        List<Placed> placed = new ArrayList<>();
        for (int i = 0; i < needles; i++) placed.add(new Placed(t.needle(keys.get(shape == 3 ? 0 : i), values.get(i)), values.get(i), rng.nextDouble()));
        boolean filler = fillerShare > 0 && rng.nextDouble() < fillerShare;        // no draw at 0: documents stay as they were
        String haystack = filler ? filler(context, rng, haystackTokens) : context.haystack(rng, haystackTokens);
        // no draw at 0, so that documents stay as they were; as many decoys whatever the haystack's size, so that
        // the document without haystack measures them
        String decoys = decoyShare > 0 && rng.nextDouble() < decoyShare ? KeyValueLists.decoys(lex, rng) : "";
        if (!decoys.isEmpty()) {
            int times = MIN_DECOYS + rng.nextInt(MAX_DECOYS - MIN_DECOYS + 1);
            for (int i = 0; i < times; i++) placed.add(new Placed(decoys, null, rng.nextDouble()));
        }
        placed.sort((a, b) -> Double.compare(a.depth(), b.depth()));
        String text = (shape == 1 ? INTRO : "") + insert(haystack, placed) + decoys;
        Doc.Writer doc = new Doc.Writer().append(text);
        if (shape == 3) {                       // every value, in the order the haystack gives them
            List<String> inOrder = placed.stream().map(Placed::value).filter(Objects::nonNull).toList();
            doc.append(t.question(keys.getFirst()));
            return list(doc, inOrder);
        }
        int asked = shape == 2 ? 1 + rng.nextInt(2) : 1;
        List<Integer> order = KeyValueLists.permutation(needles, rng);
        for (int q = 0; q < asked - 1; q++) {
            int i = order.get(q);
            doc.append(t.question(keys.get(i))).append(" ").answer(values.get(i)).append(".");
        }
        int last = order.get(asked - 1);
        int answerStart = doc.append(t.question(keys.get(last))).length();
        return doc.append(" ").answer(values.get(last)).doc(answerStart);
    }

    /** The document whose answer is {@code " a, b, c"}: each item a recall target, the commas not. */
    static Doc list(Doc.Writer doc, List<String> items) {
        int answerStart = doc.length();
        for (int i = 0; i < items.size(); i++) doc.append(i == 0 ? " " : ", ").answer(items.get(i));
        return doc.doc(answerStart);
    }

    /**
     * About {@code tokens} tokens of one corpus passage repeated, each repeat ending a sentence (so that
     * facts can go between repeats): {@code "Passage. Passage. Passage."}.
     */
    static String filler(SyntheticContext context, SplitMix64 rng, int tokens) {
        if (tokens <= 0) return "";
        int passageTokens = MIN_PASSAGE + rng.nextInt(MAX_PASSAGE - MIN_PASSAGE + 1);
        String passage = context.haystack(rng, passageTokens).replaceAll("\\s+", " ").strip();
        if (passage.isEmpty()) return context.haystack(rng, tokens);
        if (!passage.matches("(?s).*[.?!]$")) passage += ".";
        int repeats = Math.max(1, tokens / Math.max(1, context.count(" " + passage)));
        return (passage + " ").repeat(repeats).stripTrailing();
    }

    /**
     * The haystack with the facts inserted at their depths, each right after the end of a sentence
     * (a period, question or exclamation mark followed by white space, or a line break) at or after its
     * depth, else at the end.
     */
    static String insert(String haystack, List<Placed> facts) {
        StringBuilder out = new StringBuilder();
        int from = 0;
        for (Placed p : facts) {
            int at = Math.max(from, boundary(haystack, (int) (p.depth() * haystack.length())));
            out.append(haystack, from, at).append(p.text());
            from = at;
        }
        return out.append(haystack, from, haystack.length()).toString();
    }

    /** The first sentence end at or after {@code i} (the position after its punctuation), or the text's end; 0 stays 0. */
    static int boundary(String s, int i) {
        if (i <= 0) return 0;
        for (int j = Math.max(1, i); j < s.length(); j++) {
            char c = s.charAt(j), prev = s.charAt(j - 1);
            if (Character.isWhitespace(c) && (prev == '.' || prev == '?' || prev == '!' || prev == '\n')) return j;
        }
        return s.length();
    }
}
