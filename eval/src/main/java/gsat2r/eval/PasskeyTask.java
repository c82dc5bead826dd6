package gsat2r.eval;

import gsat2r.core.T2rException;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Passkey retrieval (Mohtashami and Jaggi, "Landmark Attention", 2023): a five-digit number hidden in
 * repeated filler text at some depth, asked for at the end:
 * <pre>
 * There is an important piece of information hidden inside a lot of irrelevant text. Find it and
 * memorize it. I will quiz you about it. The grass is green. The sky is blue. The sun is yellow. Here
 * we go. There and back again. … The pass key is 71432. Remember it. 71432 is the pass key. … The
 * grass is green. … What is the pass key? The pass key is 71432
 * </pre>
 * The filler is repeated as often as fits the length (prompt and answer together at most that many
 * tokens); the passkey sentence goes after {@code round(depth · repeats)} of the repeats.
 *
 * <p><b>Scoring.</b> The prompt is fed to the model's incremental decoder; a prompt counts as solved
 * when greedy decoding reproduces the passkey's tokens (exactly the tokens the tokenizer gives
 * {@code " 71432"} after the prompt). That is checked teacher-forced, which is the same thing: greedy
 * decoding produces those tokens if and only if each is the most likely one after the ones before.
 * Also reported: the share of the passkey's tokens that are right, and their mean log-probability.
 * Lengths are 256, 512, … up to the context (and the context itself); the samples of a length cycle
 * through the depths 0, ¼, ½, ¾, 1.
 */
final class PasskeyTask {
    private PasskeyTask() {}

    static final List<Double> DEPTHS = List.of(0.0, 0.25, 0.5, 0.75, 1.0);
    static final int MIN_LENGTH = 256;

    static final String INTRO = "There is an important piece of information hidden inside a lot of irrelevant text. "
            + "Find it and memorize it. I will quiz you about it.";
    static final String FILLER = " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";
    static final String QUESTION = " What is the pass key? The pass key is";

    static String needle(int key) {
        return " The pass key is " + key + ". Remember it. " + key + " is the pass key.";
    }

    /** A prompt's tokens and the passkey's tokens that should follow. */
    record Prompt(int[] prompt, int[] answer, String text) {
        int length() {
            return prompt.length + answer.length;
        }
    }

    static String text(int key, int repeats, double depth) {
        int before = (int) Math.round(depth * repeats);
        return INTRO + FILLER.repeat(before) + needle(key) + FILLER.repeat(repeats - before) + QUESTION;
    }

    /** The longest prompt of this key and depth whose tokens and answer fit {@code length}; null if none does. */
    static Prompt prompt(Tokenizer tokenizer, int key, double depth, int length) {
        Prompt fits = build(tokenizer, key, depth, 0);
        if (fits.length() > length) return null;
        int perRepeat = Math.max(1, tokenizer.encodePlain(FILLER.repeat(8)).length / 8);
        int repeats = Math.max(1, (length - fits.length()) / perRepeat);
        for (; repeats > 0; repeats--) {                       // the estimate, or fewer until it fits
            Prompt p = build(tokenizer, key, depth, repeats);
            if (p.length() <= length) {
                fits = p;
                break;
            }
        }
        for (int more = repeats + 1; repeats > 0; more++) {      // then as many more as still fit
            Prompt p = build(tokenizer, key, depth, more);
            if (p.length() > length) break;
            fits = p;
        }
        return fits;
    }

    private static Prompt build(Tokenizer tokenizer, int key, double depth, int repeats) {
        String text = text(key, repeats, depth), answer = " " + key;
        int[][] split = Prompts.split(tokenizer, text, answer);
        return new Prompt(split[0], split[1], text + answer);
    }

    /** 256, 512, … below the context, and the context itself; just the context when it is shorter than 256. */
    static List<Integer> lengths(int context) {
        List<Integer> out = new ArrayList<>();
        for (int n = MIN_LENGTH; n < context; n *= 2) out.add(n);
        out.add(context);
        return out;
    }

    static PasskeyResult run(LanguageModel teacher, LanguageModel student, Tokenizer tokenizer, int context, int samples,
                             long seed, Progress progress) {
        List<Integer> lengths = lengths(context);
        Progress.Task task = progress.start("passkey", 2L * samples * lengths.size(), "prompts",
                2L * samples * lengths.stream().mapToLong(Integer::longValue).sum());
        List<PasskeyResult.Point> points = new ArrayList<>();
        String example = null;
        for (int length : lengths) {
            SplittableRandom rnd = Seeds.random(seed, "passkey", length);
            Tally t = new Tally(), s = new Tally();
            List<PasskeyResult.Answer> answers = new ArrayList<>();
            long tokens = 0;
            for (int i = 0; i < samples; i++) {
                int depth = i % DEPTHS.size();
                int key = 10000 + rnd.nextInt(90000);
                Prompt p = prompt(tokenizer, key, DEPTHS.get(depth), length);
                if (p == null) {
                    throw new T2rException("passkey: --context " + context + " is too short for the passkey prompt ("
                            + build(tokenizer, key, DEPTHS.get(depth), 0).length() + " tokens without filler)");
                }
                if (example == null) example = p.text();
                tokens += p.length();
                Scored byTeacher = score(teacher, p);
                task.advance(1, p.length());
                Scored byStudent = score(student, p);
                task.advance(1, p.length());
                t.add(depth, byTeacher);
                s.add(depth, byStudent);
                answers.add(new PasskeyResult.Answer(DEPTHS.get(depth), key, tokens(tokenizer, byTeacher.picks()),
                        tokens(tokenizer, byStudent.picks())));
            }
            points.add(new PasskeyResult.Point(length, (double) tokens / samples, samples, t.score(), s.score(), List.copyOf(answers)));
        }
        task.finish();
        return new PasskeyResult(DEPTHS, samples, example, points);
    }

    /** One model's answer to one prompt, teacher-forced: its first choice at each of the passkey's tokens. */
    record Scored(int[] answer, int[] picks, double logProb) {
        int right() {
            int n = 0;
            for (int i = 0; i < answer.length; i++) if (picks[i] == answer[i]) n++;
            return n;
        }

        boolean solved() {
            return right() == answer.length;
        }

        boolean firstRight() {
            return picks[0] == answer[0];
        }
    }

    /** The model's first choices and the log-probability of the passkey's tokens, each after the right ones before it. */
    static Scored score(LanguageModel model, Prompt p) {
        LanguageModel.Decoder decoder = model.newDecoder();
        float[] logits = decoder.prefill(p.prompt());
        int[] picks = new int[p.answer().length];
        double logProb = 0;
        for (int i = 0; i < p.answer().length; i++) {
            int token = p.answer()[i];
            picks[i] = TokenMath.argmax(logits);
            logProb += TokenMath.logProb(logits, token);
            if (i + 1 < p.answer().length) logits = decoder.next(token);
        }
        return new Scored(p.answer(), picks, logProb);
    }

    private static List<String> tokens(Tokenizer tokenizer, int[] ids) {
        List<String> out = new ArrayList<>(ids.length);
        for (int id : ids) out.add(tokenizer.decode(new int[] {id}));
        return List.copyOf(out);
    }

    /** Sums of one model's scores over the prompts of one length. */
    static final class Tally {
        final double[] solvedByDepth = new double[DEPTHS.size()];
        final int[] promptsByDepth = new int[DEPTHS.size()];
        double solved, tokensRight, logProb, answerTokens, firstRight;
        int prompts;

        void add(int depth, Scored score) {
            double solvedOne = score.solved() ? 1 : 0;
            solved += solvedOne;
            tokensRight += score.right();
            firstRight += score.firstRight() ? 1 : 0;
            logProb += score.logProb();
            answerTokens += score.answer().length;
            prompts++;
            solvedByDepth[depth] += solvedOne;
            promptsByDepth[depth]++;
        }

        PasskeyResult.Score score() {
            List<Double> byDepth = new ArrayList<>();
            for (int d = 0; d < DEPTHS.size(); d++) {
                byDepth.add(promptsByDepth[d] == 0 ? null : solvedByDepth[d] / promptsByDepth[d]);
            }
            double laterTokens = answerTokens - prompts;
            return new PasskeyResult.Score(solved / prompts, tokensRight / answerTokens, logProb / answerTokens, byDepth,
                    firstRight / prompts, laterTokens == 0 ? null : (tokensRight - firstRight) / laterTokens);
        }
    }
}
