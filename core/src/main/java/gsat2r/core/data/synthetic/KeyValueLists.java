package gsat2r.core.data.synthetic;

import gsat2r.core.T2rException;
import gsat2r.core.data.SplitMix64;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Associative recall ({@code kv-recall}): a list of key-value pairs in one of several formats, then
 * the keys again in another order, each followed by its value, which only the list can tell:
 * <pre>
 *   Table of pairs:\nharbor: 4821\nvelvet: 77\n…\nLookups:\nvelvet: 77\nharbor: 4821
 *   Codes follow. Tamoru -> QKTR; Bivel -> ZAXN; … Once more: Bivel -> ZAXN; Tamoru -> QKTR
 * </pre>
 * Between list and lookups there is sometimes a stretch of corpus text (the value must survive it). A
 * share of the lists ({@code bare_share}) is written with nothing between key and value but a space:
 * <pre>
 *   Pairs: harbor ribbon; velvet castle; … Again: velvet castle; harbor ribbon
 *    harbor ribbon | velvet castle | … | velvet castle | harbor ribbon
 * </pre>
 * A share of the lists ({@code fact_share}) is written as facts in sentences, each lookup a question and
 * its answer, the question ending with the words that preceded the value; their values are mostly
 * numbers of several tokens, which the answer must copy token by token:
 * <pre>
 *   The harbor code is 482131. The velvet code is 77. … What is the velvet code? The velvet code is 77.
 * </pre>
 * A share of the fact lists ({@code decoy_share}) stands among decoys: a few sentences of the same shape
 * without a number ({@code The lamp is red. The door is open.}), said again before every fact and before
 * the questions, so that the word before "is" decides the answer and the most frequent continuation of
 * "is" does not:
 * <pre>
 *   The lamp is red. The door is open. The harbor code is 482131. The lamp is red. The door is open. The velvet …
 * </pre>
 * Keys and values are words (one token each, from the vocabulary), names, made-up words, numbers or
 * codes, drawn anew for every document; pairs are log-uniform in {@code [minPairs, maxPairs]} and fewer
 * when the budget is short. The last lookup's value is the document's answer.
 *
 * @param gapShare  share of documents with corpus text between the list and the lookups
 * @param bareShare share of lists in a format without a separator between key and value ({@link #BARE_FORMATS})
 * @param factShare share of lists written as facts and questions ({@link #FACT_FORMATS})
 * @param decoyShare share of the fact lists whose facts stand among repeated decoy sentences
 */
public record KeyValueLists(int minPairs, int maxPairs, double gapShare, double bareShare, double factShare, double decoyShare)
        implements SyntheticKind {

    public static final KeyValueLists DEFAULTS = new KeyValueLists(4, 64, 0.3, 0, 0, 0);

    public KeyValueLists(int minPairs, int maxPairs, double gapShare, double bareShare) {
        this(minPairs, maxPairs, gapShare, bareShare, 0, 0);
    }

    public KeyValueLists(int minPairs, int maxPairs, double gapShare, double bareShare, double factShare) {
        this(minPairs, maxPairs, gapShare, bareShare, factShare, 0);
    }

    public KeyValueLists {
        if (minPairs < 1 || maxPairs < minPairs) {
            throw new T2rException("kv-recall: need 1 <= min_pairs <= max_pairs (got " + minPairs + ", " + maxPairs + ")");
        }
        if (!(gapShare >= 0 && gapShare <= 1)) throw new T2rException("kv-recall: gap_share must be in [0, 1] (got " + gapShare + ")");
        if (!(bareShare >= 0 && bareShare <= 1)) throw new T2rException("kv-recall: bare_share must be in [0, 1] (got " + bareShare + ")");
        if (!(factShare >= 0 && factShare <= 1)) throw new T2rException("kv-recall: fact_share must be in [0, 1] (got " + factShare + ")");
        if (bareShare + factShare > 1 + 1e-9) {
            throw new T2rException("kv-recall: bare_share and fact_share add up to " + (bareShare + factShare) + ", more than 1");
        }
        if (!(decoyShare >= 0 && decoyShare <= 1)) throw new T2rException("kv-recall: decoy_share must be in [0, 1] (got " + decoyShare + ")");
    }

    /**
     * One list format: the list's header, a pair, the lookups' header. {@code sep} goes between key and value;
     * {@code ask}, with {@code {k}} for the key, goes before each lookup (empty but for facts).
     */
    record Format(String header, String before, String sep, String after, String lookups, String ask) {
        Format(String header, String before, String sep, String after, String lookups) {
            this(header, before, sep, after, lookups, "");
        }

        String pair(String k, String v) {
            return before + k + sep + v + after;
        }

        String lookup(String k, String v) {
            return ask(k) + pair(k, v);
        }

        String ask(String k) {
            return ask.replace("{k}", k);
        }
    }

    /**
     * The formats. A 15.7M-parameter teacher recalls in a few formats only (measured on recall-llama, 16
     * pairs of one-token words, first token of the value right: "k: v" lines 91%, "k = v" lines 80%,
     * "k:v" lines 70%, " k = v," 95%, " k: v;" 61%; but " k -> v;" 0%, "The k is v." 0%, "k=v" 5%, JSON
     * 0%, "- k / v" 0%): distillation can only pass on recall where the teacher shows it, so these are
     * the formats kept (docs/recall.md). t2r eval's " k v," list is left out on purpose.
     */
    static final List<Format> FORMATS = List.of(
            new Format("Table of pairs:\n", "", ": ", "\n", "Lookups:\n"),
            new Format("", "", ": ", "\n", "\n"),
            new Format("Settings\n", "", " = ", "\n", "\nAgain\n"),
            new Format("", "", ":", "\n", "\n"),
            new Format("Values:", " ", " = ", ",", " Check:"),
            new Format("List:", " ", ": ", ";", " Lookups:"));

    /**
     * Formats with only a space between key and value. The teacher hardly recalls in them (measured on
     * recall-llama as above: "k v" lines 13%, " k v;" 0%, " k v |" 0%; only t2r eval's " k v," reaches 75%), so
     * what its logits pass on there is weak: these lists are for recipes that add the true next token's
     * cross-entropy ({@code ce_weight}), and they teach that a value may follow its key directly. Two of them
     * go from list to lookups without a header, as a plain run of pairs.
     */
    static final List<Format> BARE_FORMATS = List.of(
            new Format("Pairs:", " ", " ", ";", " Again:"),
            new Format("", " ", " ", ";", ""),
            new Format("", " ", " ", " |", ""),
            new Format("Index\n", "", " ", "\n", "\nLookups\n"));

    /**
     * Facts in sentences, asked as questions that end with the words before the value: the shape in which
     * the teacher retrieves a hidden fact (the needles' measurements), written as a list of many. The
     * wordings are this project's own; the passkey's "pass key" is left out on purpose.
     */
    static final List<Format> FACT_FORMATS = List.of(
            new Format("", " The ", " code is ", ".", "\n\n", " What is the {k} code?"),
            new Format("Write these down.", " The ", " number is ", ".", " Now the questions.", " What is the {k} number?"),
            new Format("", " My ", " pin is ", ".", "\n", " What is my {k} pin?"),
            new Format("Notes:", " The ", " id is ", ".", " Questions:", " Which is the {k} id?"));

    @Override
    public String name() {
        return "kv-recall";
    }

    @Override
    public int minTokens() {
        return 16 + 10 * minPairs;
    }

    @Override
    public Map<String, Object> settings() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("min_pairs", minPairs);
        m.put("max_pairs", maxPairs);
        m.put("gap_share", gapShare);
        if (bareShare > 0) m.put("bare_share", bareShare);           // absent at 0: the settings of runs made before it existed
        if (factShare > 0) m.put("fact_share", factShare);
        if (decoyShare > 0) m.put("decoy_share", decoyShare);
        return m;
    }

    @Override
    public Doc.Encoded document(SyntheticContext context, SplitMix64 rng, int budget) {
        if (budget < minTokens()) return null;
        double u = rng.nextDouble();
        int pairs = (int) Math.round(Math.exp(Math.log(minPairs) + u * (Math.log(maxPairs) - Math.log(minPairs))));
        boolean gap = rng.nextDouble() < gapShare;
        int gapTokens = gap ? 16 + rng.nextInt(Math.max(1, budget / 3)) : 0;
        int fits = Math.max(minPairs, (budget - 16 - Math.min(gapTokens, budget / 3)) / 9);    // about 9 tokens a pair: listed, then asked
        return Fit.fit(context, rng, budget, Math.max(minPairs, Math.min(pairs, fits)), minPairs,
                (r, n) -> build(context, r, n, Math.min(gapTokens, budget / 3)));
    }

    /**
     * A list of {@code n} pairs, {@code gapTokens} of corpus text, and the lookups; in a bare format with
     * probability {@code bareShare}, as facts with probability {@code factShare} (no draw when both are 0, so
     * that lists without them stay as they were; one draw for both, so that bare lists stay as they were
     * without facts).
     */
    Doc build(SyntheticContext context, SplitMix64 rng, int n, int gapTokens) {
        Lexicon lex = context.lexicon();
        double u = bareShare > 0 || factShare > 0 ? rng.nextDouble() : 1;
        boolean bare = u < bareShare, fact = !bare && u < bareShare + factShare;
        List<Format> formats = bare ? BARE_FORMATS : fact ? FACT_FORMATS : FORMATS;
        Format f = formats.get(rng.nextInt(formats.size()));
        // keys are mostly one-token words: the teacher matches those best (names 55%, made-up words 28%, codes 17%)
        Function<SplitMix64, String> key = fact ? lex::word : strings(lex, rng.nextInt(10) < 7 ? 0 : 1 + rng.nextInt(3));
        // a fact's value is mostly a number of several tokens: what a hidden fact's answer copies
        Function<SplitMix64, String> value = fact && rng.nextInt(5) != 0 ? r -> lex.number(r, 3, 7) : strings(lex, rng.nextInt(5));
        List<String> keys = Lexicon.distinct(n, rng, key), values = Lexicon.distinct(n, rng, value);
        String decoys = fact && decoyShare > 0 && rng.nextDouble() < decoyShare ? decoys(lex, rng) : "";
        Doc.Writer text = new Doc.Writer().append(f.header());
        for (int i = 0; i < n; i++) text.append(decoys).append(f.pair(keys.get(i), values.get(i)));
        if (gapTokens > 0) text.append("\n\n").append(context.haystack(rng, gapTokens)).append("\n\n");
        text.append(decoys).append(f.lookups());
        List<Integer> order = permutation(n, rng);
        int asked = Math.max(1, n / 2 + rng.nextInt(n - n / 2 + 1));       // at least half the keys, in a new order
        for (int q = 0; q < asked - 1; q++) {
            String k = keys.get(order.get(q));
            text.append(f.ask(k)).append(f.before()).append(k).append(f.sep()).answer(values.get(order.get(q))).append(f.after());
        }
        int last = order.get(asked - 1);
        text.append(f.ask(keys.get(last))).append(f.before()).append(keys.get(last)).append(f.sep().stripTrailing());
        int answerStart = text.length();
        return text.append(f.sep().substring(f.sep().stripTrailing().length())).answer(values.get(last)).doc(answerStart);
    }

    /** Two to four sentences {@code " The w is x."} of vocabulary words, each word drawn once. */
    static String decoys(Lexicon lex, SplitMix64 rng) {
        int sentences = 2 + rng.nextInt(3);
        List<String> words = Lexicon.distinct(2 * sentences, rng, lex::word);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < sentences; i++) sb.append(" The ").append(words.get(2 * i)).append(" is ").append(words.get(2 * i + 1)).append('.');
        return sb.toString();
    }

    /** The kinds of key and value strings: words, names, made-up words, codes, numbers. */
    static Function<SplitMix64, String> strings(Lexicon lex, int kind) {
        return switch (kind) {
            case 0 -> lex::word;
            case 1 -> lex::name;
            case 2 -> lex::nonce;
            case 3 -> r -> lex.code(r, 3 + r.nextInt(2));
            default -> r -> lex.number(r, 1, 4);
        };
    }

    static List<Integer> permutation(int n, SplitMix64 rng) {
        List<Integer> p = new ArrayList<>();
        for (int i = 0; i < n; i++) p.add(i);
        for (int i = n - 1; i > 0; i--) java.util.Collections.swap(p, i, rng.nextInt(i + 1));
        return p;
    }
}
