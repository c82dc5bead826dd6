package gsat2r.eval;

import gsat2r.core.T2rException;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * RULER-style retrieval (Hsieh et al., "RULER: What's the Real Context Size of Your Long-Context Language
 * Models?", 2024), generated here from the task descriptions, with the base-model answer prefixes:
 * <ul>
 * <li>{@code niah_single}: one needle "One of the special magic numbers for {key} is: {value}." in the
 *     haystack; asked for that key.</li>
 * <li>{@code niah_multikey}: four needles of four keys; asked for one of them.</li>
 * <li>{@code niah_multivalue}: four needles of one key; all four values asked, in the order they appear.</li>
 * <li>{@code vt}: variable tracking, a chain of five assignments "VAR ABCDE = 12345", "VAR FGHIJ = VAR ABCDE", …;
 *     asked for every variable that holds the number, in chain order.</li>
 * </ul>
 * Keys are one-token words ({@link WordPool}), values seven-digit numbers, variables five upper-case letters.
 * The haystack is the {@code --data} documents' text (RULER's essays) when given, else RULER's noise
 * sentences repeated; needles go in between its sentences at random depths. Lengths are 1,024, 2,048, …
 * up to the context (and the context itself; just the context when shorter than 1,024), prompt and answer
 * together. Scoring is passkey's: the prompt through the incremental decoder, the answer teacher-forced; a
 * value counts when each of its tokens is the greedy choice, a prompt when all its values do.
 */
final class NeedleTask {
    private NeedleTask() {}

    static final List<String> NAMES = List.of("niah_single", "niah_multikey", "niah_multivalue", "vt");
    static final int MIN_LENGTH = 1024;
    static final String NOISE = PasskeyTask.FILLER;
    static final String NIAH_INTRO = "Some special magic numbers are hidden within the following text. Make sure to memorize it. "
            + "I will quiz you about the numbers afterwards.\n";
    static final String VT_INTRO = "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n";

    /** One task's prompt, before the haystack is sized: the facts (in order) and the question, and the expected values. */
    record Question(String intro, List<String> facts, String question, List<String> values, String separator) {
        String answer() {
            return " " + String.join(separator, values);
        }
    }

    static Question question(String task, WordPool pool, SplittableRandom rnd) {
        return switch (task) {
            case "niah_single" -> niah(pool, rnd, 1, 1);
            case "niah_multikey" -> niah(pool, rnd, 4, 1);
            case "niah_multivalue" -> niah(pool, rnd, 1, 4);
            case "vt" -> variables(rnd);
            default -> throw new IllegalArgumentException(task);
        };
    }

    /** {@code keys} keys with {@code values} values each; the first key is asked for. */
    static Question niah(WordPool pool, SplittableRandom rnd, int keys, int values) {
        int[] picked = RecallTask.sample(pool.size(), keys, rnd);
        List<String> facts = new ArrayList<>(), asked = new ArrayList<>();
        for (int k = 0; k < keys; k++) {
            for (int v = 0; v < values; v++) {
                String value = Integer.toString(1_000_000 + rnd.nextInt(9_000_000));
                facts.add(" One of the special magic numbers for " + pool.words()[picked[k]] + " is: " + value + ".");
                if (k == 0) asked.add(value);
            }
        }
        String key = pool.words()[picked[0]];
        return new Question(NIAH_INTRO, facts, "\nWhat are all the special magic numbers for " + key
                + " mentioned in the provided text? The special magic numbers for " + key + " mentioned in the provided text are",
                asked, ", ");
    }

    static Question variables(SplittableRandom rnd) {
        List<String> names = new ArrayList<>();
        while (names.size() < 5) {
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < 5; i++) sb.append((char) ('A' + rnd.nextInt(26)));
            if (!names.contains(sb.toString())) names.add(sb.toString());
        }
        String value = Integer.toString(10_000 + rnd.nextInt(90_000));
        List<String> facts = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) facts.add(" VAR " + names.get(i) + " = " + (i == 0 ? value : "VAR " + names.get(i - 1)) + ".");
        return new Question(VT_INTRO, facts, "\nQuestion: Find all variables that are assigned the value " + value
                + " in the text above. Answer: According to the chain(s) of variables assignment in the text above, 5 variables are "
                + "assigned the value " + value + ", they are:", names, " ");
    }

    /** A prompt's tokens, the answer's tokens, and where each value's tokens end within the answer. */
    record Prompt(int[] prompt, int[] answer, int[] valueEnds, String text) {
        int length() {
            return prompt.length + answer.length;
        }
    }

    /** The prompt with as many haystack sentences as fit {@code length}; null when even none fit. */
    static Prompt prompt(Tokenizer tokenizer, Question q, List<String> sentences, double[] depths, int length) {
        Prompt fits = build(tokenizer, q, sentences, depths, 0);
        if (fits.length() > length) return null;
        int lo = 0, hi = 1;
        while (hi <= sentences.size() && build(tokenizer, q, sentences, depths, hi).length() <= length) {
            lo = hi;
            hi = Math.min(sentences.size() + 1, hi * 2);
        }
        while (hi - lo > 1) {                                    // the most sentences that still fit
            int mid = (lo + hi) >>> 1;
            if (build(tokenizer, q, sentences, depths, mid).length() <= length) lo = mid;
            else hi = mid;
        }
        return build(tokenizer, q, sentences, depths, lo);
    }

    /** The first {@code n} sentences with the facts at their depths (sorted), the question and the answer. */
    static Prompt build(Tokenizer tokenizer, Question q, List<String> sentences, double[] depths, int n) {
        StringBuilder text = new StringBuilder(q.intro());
        int from = 0;
        for (int i = 0; i < q.facts().size(); i++) {
            int at = Math.max(from, (int) Math.round(depths[i] * n));
            for (int s = from; s < at; s++) text.append(sentences.get(s));
            text.append(q.facts().get(i));
            from = at;
        }
        for (int s = from; s < n; s++) text.append(sentences.get(s));
        String prompt = text.append(q.question()).toString();
        int[][] split = Prompts.split(tokenizer, prompt, q.answer());
        int[] ends = new int[q.values().size()];
        StringBuilder partial = new StringBuilder();
        for (int v = 0; v < ends.length; v++) {
            partial.append(v == 0 ? " " : q.separator()).append(q.values().get(v));
            ends[v] = v == ends.length - 1 ? split[1].length
                    : Math.min(split[1].length, Prompts.split(tokenizer, prompt, partial.toString())[1].length);
        }
        return new Prompt(split[0], split[1], ends, prompt + q.answer());
    }

    /** The haystack's sentences: the data's (split after . ? ! followed by a space), else the noise sentences; enough for {@code tokens}. */
    static List<String> sentences(List<String> texts, int tokensWanted, SplittableRandom rnd) {
        List<String> out = new ArrayList<>();
        long chars = 0, needed = 6L * tokensWanted + 1000;       // a token is at most a few characters of English
        if (texts != null && !texts.isEmpty()) {
            int start = rnd.nextInt(texts.size());
            for (int i = 0; i < texts.size() && chars < needed; i++) {
                for (String s : texts.get((start + i) % texts.size()).replace('\n', ' ').split("(?<=[.?!]) +")) {
                    if (s.isBlank()) continue;
                    out.add(" " + s.strip());
                    chars += s.length() + 1;
                }
            }
            if (chars >= needed) return out;
        }
        out.clear();
        String[] noise = NOISE.strip().split("(?<=\\.) ");
        for (int i = 0; chars < needed; i++, chars += 20) out.add(" " + noise[i % noise.length]);
        return out;
    }

    static List<Integer> lengths(int context) {
        List<Integer> out = new ArrayList<>();
        for (int n = MIN_LENGTH; n < context; n *= 2) out.add(n);
        out.add(context);
        return out;
    }

    static NeedleResult run(String task, LanguageModel teacher, LanguageModel student, Tokenizer tokenizer, WordPool pool,
                            List<String> texts, int context, int samples, long seed, Progress progress) {
        List<Integer> lengths = lengths(context);
        Progress.Task p = progress.start(task, 2L * samples * lengths.size(), "prompts",
                2L * samples * lengths.stream().mapToLong(Integer::longValue).sum());
        List<NeedleResult.Point> points = new ArrayList<>();
        String example = null;
        for (int length : lengths) {
            SplittableRandom rnd = Seeds.random(seed, task, length);
            Tally t = new Tally(), s = new Tally();
            long tokens = 0;
            for (int i = 0; i < samples; i++) {
                Question q = question(task, pool, rnd);
                double[] depths = rnd.doubles(q.facts().size()).sorted().toArray();
                Prompt prompt = prompt(tokenizer, q, sentences(texts, length, rnd), depths, length);
                if (prompt == null) {
                    throw new T2rException(task + ": --context " + context + " is too short for its prompt ("
                            + build(tokenizer, q, List.of(), depths, 0).length() + " tokens without haystack)");
                }
                if (example == null) example = prompt.text();
                tokens += prompt.length();
                t.add(score(teacher, prompt));
                p.advance(1, prompt.length());
                s.add(score(student, prompt));
                p.advance(1, prompt.length());
            }
            points.add(new NeedleResult.Point(length, (double) tokens / samples, samples, t.score(), s.score()));
        }
        p.finish();
        String haystack = texts != null && !texts.isEmpty() ? "data" : "noise";
        return new NeedleResult(task, haystack, samples, example, points);
    }

    /** {@code {values right, values, answer log-prob, answer tokens}}, teacher-forced after the prompt. */
    static double[] score(LanguageModel model, Prompt p) {
        LanguageModel.Decoder decoder = model.newDecoder();
        float[] logits = decoder.prefill(p.prompt());
        boolean[] right = new boolean[p.answer().length];
        double logProb = 0;
        for (int i = 0; i < p.answer().length; i++) {
            int token = p.answer()[i];
            right[i] = TokenMath.argmax(logits) == token;
            logProb += TokenMath.logProb(logits, token);
            if (i + 1 < p.answer().length) logits = decoder.next(token);
        }
        int valuesRight = 0, from = 0;
        for (int end : p.valueEnds()) {
            boolean all = true;
            for (int i = from; i < end; i++) all &= right[i];
            if (all && end > from) valuesRight++;
            from = end;
        }
        return new double[] {valuesRight, p.valueEnds().length, logProb, p.answer().length};
    }

    private static final class Tally {
        double solved, valuesRight, values, logProb, tokens;
        int prompts;

        void add(double[] s) {
            solved += s[0] == s[1] ? 1 : 0;
            valuesRight += s[0];
            values += s[1];
            logProb += s[2];
            tokens += s[3];
            prompts++;
        }

        NeedleResult.Score score() {
            return new NeedleResult.Score(solved / prompts, valuesRight / values, logProb / tokens);
        }
    }

    static String describe(String task) {
        return switch (task) {
            case "niah_single" -> "one needle, its key asked";
            case "niah_multikey" -> "four needles of four keys, one key asked";
            case "niah_multivalue" -> "four values of one key, all asked";
            default -> "a chain of five variable assignments, every variable holding the number asked";
        };
    }
}
