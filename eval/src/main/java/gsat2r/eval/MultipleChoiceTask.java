package gsat2r.eval;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import gsat2r.core.T2rException;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.tokenizer.Tokenizer;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Multiple-choice tasks from a JSONL file, one item a line:
 * {@code {"context": "...", "choices": ["...", "..."], "label": 0}} (optionally
 * {@code "target_delimiter"}, default {@code " "}). Scored by log-likelihood as lm-evaluation-harness
 * scores its {@code multiple_choice} tasks: each choice's continuation is {@code target_delimiter +
 * choice}; its log-likelihood is the sum of the log-probabilities of its tokens after the context.
 * {@code acc}: the choice with the highest log-likelihood is the label; {@code acc_norm}: the same
 * with each log-likelihood divided by the number of characters of the choice. Tokens as the harness
 * makes them: trailing spaces of the context move to the continuation, the continuation's tokens are
 * those of {@code encode(context + continuation)} after the first {@code len(encode(context))}; and
 * (as the harness with {@code add_bos_token=True}) the tokenizer's BOS goes first. Inputs longer than
 * the context lose their oldest tokens. Standard errors are the harness's {@code sqrt(p(1−p)/(n−1))}.
 */
final class MultipleChoiceTask {
    private MultipleChoiceTask() {}

    private static final ObjectMapper JSON = gsat2r.core.io.Json.COMPACT;

    record Item(int line, String context, List<String> choices, int label, String delimiter) {}

    static List<Item> read(Path file) {
        List<Item> items = new ArrayList<>();
        try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            int lineNo = 0;
            for (String line; (line = in.readLine()) != null; ) {
                lineNo++;
                if (line.isBlank()) continue;
                items.add(item(file, lineNo, line));
            }
        } catch (IOException e) {
            throw new T2rException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
        if (items.isEmpty()) throw new T2rException(file + ": no items (one JSON object a line: context, choices, label)");
        return items;
    }

    private static Item item(Path file, int lineNo, String line) {
        String where = file + ":" + lineNo + ": ";
        JsonNode o;
        try {
            o = JSON.readTree(line);
        } catch (JacksonException e) {
            throw new T2rException(where + "not valid JSON (" + e.getOriginalMessage().lines().findFirst().orElse("") + ")");
        }
        if (o == null || !o.isObject()) throw new T2rException(where + "not a JSON object");
        if (!o.path("context").isTextual()) throw new T2rException(where + "\"context\" must be a string");
        JsonNode choices = o.path("choices");
        if (!choices.isArray() || choices.size() < 2) throw new T2rException(where + "\"choices\" must be a list of at least 2 strings");
        List<String> list = new ArrayList<>();
        for (JsonNode c : choices) {
            if (!c.isTextual() || c.asText().isEmpty()) throw new T2rException(where + "every choice must be a non-empty string");
            list.add(c.asText());
        }
        JsonNode label = o.path("label");
        if (!label.isIntegralNumber() || label.asInt() < 0 || label.asInt() >= list.size()) {
            throw new T2rException(where + "\"label\" must be the index of the right choice, 0.." + (list.size() - 1) + ", not " + label);
        }
        JsonNode delimiter = o.path("target_delimiter");
        if (!delimiter.isMissingNode() && !delimiter.isTextual()) throw new T2rException(where + "\"target_delimiter\" must be a string");
        return new Item(lineNo, o.get("context").asText(), List.copyOf(list), label.asInt(), delimiter.asText(" "));
    }

    /** A choice's tokens: the model's input and which positions' logits score which continuation tokens. */
    record Request(int[] input, int firstScored, int[] continuation) {}

    static Request request(Tokenizer tokenizer, String context, String continuation, int maxLength) {
        int spaces = context.length() - context.stripTrailing().length();
        if (spaces > 0) {
            continuation = context.substring(context.length() - spaces) + continuation;
            context = context.substring(0, context.length() - spaces);
        }
        int[] whole = tokenizer.encode(context + continuation);
        int contextLength = tokenizer.encode(context).length;
        int[] cont = Arrays.copyOfRange(whole, Math.min(contextLength, whole.length), whole.length);
        if (cont.length == 0) throw new T2rException("the continuation '" + continuation + "' adds no tokens to its context");
        if (cont.length > maxLength) {
            throw new T2rException("a continuation of " + cont.length + " tokens does not fit the context of " + maxLength);
        }
        // The input is every token but the last, cut to the newest maxLength tokens.
        int from = Math.max(0, whole.length - 1 - maxLength);
        int[] input = Arrays.copyOfRange(whole, from, whole.length - 1);
        return new Request(input, input.length - cont.length, cont);
    }

    /** Sum of the log-probabilities of the continuation's tokens. */
    static double logLikelihood(LanguageModel model, Request r) {
        float[][] logits = model.forward(r.input());
        double sum = 0;
        for (int i = 0; i < r.continuation().length; i++) sum += TokenMath.logProb(logits[r.firstScored() + i], r.continuation()[i]);
        return sum;
    }

    static McResult run(LanguageModel teacher, LanguageModel student, Tokenizer tokenizer, Path file, int context,
                        Progress progress) {
        List<Item> items = read(file);
        long choices = items.stream().mapToLong(i -> i.choices().size()).sum();
        Progress.Task task = progress.start("mc " + file.getFileName(), 2 * choices, "choices");
        int tAcc = 0, sAcc = 0, tNorm = 0, sNorm = 0, same = 0;
        for (Item item : items) {
            double[] tLl = new double[item.choices().size()], sLl = new double[item.choices().size()];
            double[] chars = new double[item.choices().size()];
            for (int c = 0; c < item.choices().size(); c++) {
                Request r;
                try {
                    r = request(tokenizer, item.context(), item.delimiter() + item.choices().get(c), context);
                } catch (T2rException e) {
                    throw new T2rException(file + ":" + item.line() + ": choice " + c + ": " + e.getMessage(), e);
                }
                tLl[c] = logLikelihood(teacher, r);
                task.advance(1, r.input().length);
                sLl[c] = logLikelihood(student, r);
                task.advance(1, r.input().length);
                chars[c] = item.choices().get(c).length();
            }
            int tPick = argmax(tLl, null), sPick = argmax(sLl, null);
            if (tPick == item.label()) tAcc++;
            if (sPick == item.label()) sAcc++;
            if (argmax(tLl, chars) == item.label()) tNorm++;
            if (argmax(sLl, chars) == item.label()) sNorm++;
            if (tPick == sPick) same++;
        }
        task.finish();
        int n = items.size();
        return new McResult(file.toString(), n, score(tAcc, tNorm, n), score(sAcc, sNorm, n), (double) same / n);
    }

    private static McResult.Score score(int acc, int accNorm, int n) {
        double a = (double) acc / n, b = (double) accNorm / n;
        return new McResult.Score(a, stderr(a, n), b, stderr(b, n));
    }

    static double stderr(double p, int n) {
        return n < 2 ? 0 : Math.sqrt(p * (1 - p) / (n - 1));
    }

    /** The first index of the largest {@code ll[i] / norm[i]} (norm null: 1), as numpy's argmax. */
    static int argmax(double[] ll, double[] norm) {
        int best = 0;
        for (int i = 1; i < ll.length; i++) {
            double v = norm == null ? ll[i] : ll[i] / norm[i], b = norm == null ? ll[best] : ll[best] / norm[best];
            if (v > b) best = i;
        }
        return best;
    }
}
