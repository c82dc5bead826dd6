package gsat2r.eval;

import gsat2r.core.T2rException;
import gsat2r.core.model.LanguageModel;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Multi-query associative recall (MQAR, as in Zoology / Based): n key-value pairs of words, then the
 * n keys again in a random order, each followed by its value. Text and tokens:
 * <pre>
 *   [BOS] " k1 v1, k2 v2, …, kn vn, q1 a1, q2 a2, …, qn an"   (the leading space: see WordPool)
 *   [BOS] k1 v1 , k2 v2 , … kn vn , q1 a1 , … qn an            (one token each: 6n tokens after BOS)
 * </pre>
 * The model reads the whole sequence once; a query is right when the model's most likely next token
 * after the query key is its value (teacher forcing: later queries see the earlier answers, as in
 * MQAR). Keys and values are 2n distinct words drawn from the model's own vocabulary
 * ({@link WordPool}). Accuracy is over all queries of all samples, per number of pairs: 4, 8, 16, …
 * while the prompt fits the context and the vocabulary has the words. Holding n pairs is what a
 * fixed-size recurrent state finds hard and a KV cache does not.
 *
 * <p>Two softer measures come with it, telling models apart where neither gets the value right: how
 * often the value outranks the prompt's other n − 1 values (chance: 1/n), and the mean
 * log-probability of the value.
 */
final class RecallTask {
    private RecallTask() {}

    static final int MIN_PAIRS = 4;

    /** A prompt's tokens, where the queries are (the key's position: its logits predict the value), and the values. */
    record Prompt(int[] ids, int[] queryPositions, int[] answers, String text) {}

    static Prompt prompt(WordPool pool, int[] start, int pairs, SplittableRandom rnd) {
        int[] chosen = sample(pool.size(), 2 * pairs, rnd);
        int[] keys = new int[pairs], values = new int[pairs];
        for (int i = 0; i < pairs; i++) {
            keys[i] = chosen[i];
            values[i] = chosen[pairs + i];
        }
        int[] order = sample(pairs, pairs, rnd);
        int[] ids = new int[start.length + 6 * pairs - 1];
        System.arraycopy(start, 0, ids, 0, start.length);
        int[] queryPositions = new int[pairs], answers = new int[pairs];
        StringBuilder text = new StringBuilder();
        int at = start.length;
        for (int half = 0; half < 2; half++) {
            for (int i = 0; i < pairs; i++) {
                int pair = half == 0 ? i : order[i];
                if (at > start.length) {
                    ids[at++] = pool.commaId();
                    text.append(',');
                }
                if (half == 1) {
                    queryPositions[i] = at;
                    answers[i] = pool.ids()[values[pair]];
                }
                ids[at++] = pool.ids()[keys[pair]];
                ids[at++] = pool.ids()[values[pair]];
                text.append(text.isEmpty() ? pool.lead() : " ").append(pool.words()[keys[pair]])
                        .append(' ').append(pool.words()[values[pair]]);
            }
        }
        return new Prompt(ids, queryPositions, answers, text.toString());
    }

    /** The numbers of pairs measured: powers of two from 4 while 6n tokens (plus the start) fit and 2n words exist. */
    static List<Integer> pairGrid(int context, int startTokens, int poolSize) {
        List<Integer> grid = new ArrayList<>();
        for (int n = MIN_PAIRS; startTokens + 6 * n - 1 <= context && 2 * n <= poolSize; n *= 2) grid.add(n);
        if (grid.isEmpty()) {
            if (2 * MIN_PAIRS > poolSize) {
                throw new T2rException("recall: the tokenizer has only " + poolSize
                        + " words that it writes as one token; the task needs at least " + 2 * MIN_PAIRS);
            }
            throw new T2rException("recall: --context " + context + " is too short; " + MIN_PAIRS + " pairs need "
                    + (startTokens + 6 * MIN_PAIRS - 1) + " tokens");
        }
        return grid;
    }

    static RecallResult run(LanguageModel teacher, LanguageModel student, WordPool pool, int[] start, int context,
                            int samples, long seed, Progress progress) {
        List<Integer> grid = pairGrid(context, start.length, pool.size());
        long tokens = 2L * samples * grid.stream().mapToLong(n -> start.length + 6L * n - 1).sum();
        Progress.Task task = progress.start("recall", 2L * samples * grid.size(), "prompts", tokens);
        List<RecallResult.Point> points = new ArrayList<>();
        String example = null;
        for (int pairs : grid) {
            SplittableRandom rnd = Seeds.random(seed, "recall", pairs);
            Tally t = new Tally(), s = new Tally();
            int length = 0;
            for (int i = 0; i < samples; i++) {
                Prompt p = prompt(pool, start, pairs, rnd);
                if (example == null) example = p.text();
                length = p.ids().length;
                t.add(teacher.forward(p.ids()), p);
                task.advance(1, length);
                s.add(student.forward(p.ids()), p);
                task.advance(1, length);
            }
            points.add(new RecallResult.Point(pairs, length, t.queries, t.accuracy(), s.accuracy(),
                    t.amongValues(), s.amongValues(), t.logProb(), s.logProb()));
        }
        task.finish();
        return new RecallResult(pool.size(), pool.source(), samples, example, points);
    }

    /** One model's answers to the queries of one grid point. */
    private static final class Tally {
        long queries, right, rightAmongValues;
        double logProb;

        void add(float[][] logits, Prompt p) {
            int[] answers = p.answers();
            for (int q = 0; q < answers.length; q++) {
                float[] row = logits[p.queryPositions()[q]];
                if (TokenMath.argmax(row) == answers[q]) right++;
                boolean best = true;                       // the value outranks the prompt's other values
                for (int other : answers) if (other != answers[q] && row[other] >= row[answers[q]]) best = false;
                if (best) rightAmongValues++;
                logProb += TokenMath.logProb(row, answers[q]);
                queries++;
            }
        }

        double accuracy() {
            return (double) right / queries;
        }

        double amongValues() {
            return (double) rightAmongValues / queries;
        }

        double logProb() {
            return logProb / queries;
        }
    }

    /** {@code k} distinct indices of {@code [0, n)} in random order (a partial Fisher-Yates shuffle). */
    static int[] sample(int n, int k, SplittableRandom rnd) {
        int[] all = new int[n];
        for (int i = 0; i < n; i++) all[i] = i;
        for (int i = 0; i < k; i++) {
            int j = i + rnd.nextInt(n - i);
            int t = all[i];
            all[i] = all[j];
            all[j] = t;
        }
        return java.util.Arrays.copyOf(all, k);
    }
}
