package gsat2r.eval;

import com.fasterxml.jackson.databind.JsonNode;
import gsat2r.core.cpu.Parallel;
import gsat2r.eval.plot.LinePlot;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** {@code report.md}: the numbers that matter, as tables, with the plots and how each was measured. */
final class ReportMarkdown {
    private ReportMarkdown() {}

    static String of(EvalReport r, Map<String, String> plots, Map<String, String> plotErrors) {
        StringBuilder md = new StringBuilder();
        md.append("# t2r eval: ").append(name(r.teacher())).append(" (teacher) vs ").append(name(r.student())).append(" (student)\n\n");
        md.append("| | teacher | student |\n|---|---|---|\n");
        md.append("| model | ").append(describe(r.teacher())).append(" | ").append(describe(r.student())).append(" |\n");
        md.append("| directory | `").append(r.teacher().path()).append("` | `").append(r.student().path()).append("` |\n\n");
        md.append(String.format(Locale.ROOT, "t2r %s, Java %s, %d CPU threads, device %s, seed %d; started %s. ",
                r.settings().toolVersion(), Runtime.version().feature(), Parallel.threads(), r.settings().device(),
                r.settings().seed(), r.started()));
        md.append("Every number is in `report.json`.\n\n");

        summary(md, r);
        if (r.lm() != null) lm(md, r.lm(), plots, plotErrors);
        if (r.recall() != null) recall(md, r.recall(), plots, plotErrors);
        if (r.passkey() != null) passkey(md, r.passkey(), plots, plotErrors);
        if (!r.needles().isEmpty()) needles(md, r.needles(), plots, plotErrors);
        if (!r.mc().isEmpty()) mc(md, r.mc());
        if (r.speed() != null) speed(md, r, plots, plotErrors);
        return md.toString();
    }

    private static void summary(StringBuilder md, EvalReport r) {
        md.append("## Summary\n\n| measure | teacher | student |\n|---|---:|---:|\n");
        if (r.lm() != null) {
            LmResult lm = r.lm();
            row(md, String.format(Locale.ROOT, "perplexity (%,d tokens, windows of %,d)", lm.tokens(), lm.context()),
                    f2(lm.teacherPerplexity()), f2(lm.studentPerplexity()));
            row(md, "KL(teacher ‖ student), nats / token", "", f4(lm.kl()));
            row(md, "top-1 agreement with the teacher", "", pct(lm.top1Agreement()));
        }
        if (r.recall() != null && !r.recall().points().isEmpty()) {
            RecallResult.Point p = r.recall().points().getLast();
            row(md, "associative recall, " + p.pairs() + " pairs", pct(p.teacherAccuracy()), pct(p.studentAccuracy()));
        }
        if (r.passkey() != null && !r.passkey().points().isEmpty()) {
            PasskeyResult.Point p = r.passkey().points().getLast();
            row(md, String.format(Locale.ROOT, "passkey, %,d tokens", p.length()), pct(p.teacher().accuracy()), pct(p.student().accuracy()));
        }
        for (NeedleResult n : r.needles().values()) {
            if (n.points().isEmpty()) continue;
            NeedleResult.Point p = n.points().getLast();
            row(md, String.format(Locale.ROOT, "%s, %,d tokens", n.task(), p.length()), pct(p.teacher().accuracy()), pct(p.student().accuracy()));
        }
        for (McResult m : r.mc()) {
            row(md, "mc `" + fileName(m.file()) + "` acc / acc_norm",
                    pct(m.teacher().acc()) + " / " + pct(m.teacher().accNorm()), pct(m.student().acc()) + " / " + pct(m.student().accNorm()));
        }
        if (r.speed() != null && !r.speed().points().isEmpty()) {
            SpeedResult.Point p = lastMeasured(r.speed());
            if (p != null) {
                row(md, String.format(Locale.ROOT, "decode tokens / s at %,d tokens", p.context()),
                        rate(p.teacher()), rate(p.student()));
                row(md, String.format(Locale.ROOT, "decoding state at %,d tokens", p.context()), state(p.teacher()), state(p.student()));
            }
        }
        md.append('\n');
    }

    private static void lm(StringBuilder md, LmResult lm, Map<String, String> plots, Map<String, String> errors) {
        md.append("## Language modelling\n\n");
        md.append(String.format(Locale.ROOT,
                "%,d tokens predicted in %d documents of the data%s. Documents never cross: each is scored on its own, "
                        + "and a document longer than the context of %,d tokens is cut into windows of %,d tokens that "
                        + "overlap by one token, so that every token after a document's first is predicted exactly once "
                        + "(%d of %d documents were cut; %,d windows in all). Perplexity is exp of the mean negative "
                        + "log-likelihood; KL is KL(teacher ‖ student) of the next-token distributions, averaged over "
                        + "the predicted tokens; agreement is how often both models' most likely token is the same.\n\n",
                lm.tokens(), lm.documents(), lm.truncated() ? " (--max-tokens left the rest out)" : "",
                lm.context(), lm.context(), lm.documentsWindowed(), lm.documents(), lm.windows()));
        md.append("| | teacher | student |\n|---|---:|---:|\n");
        row(md, "NLL (nats / token)", f4(lm.teacherNll()), f4(lm.studentNll()));
        row(md, "perplexity", f2(lm.teacherPerplexity()), f2(lm.studentPerplexity()));
        md.append('\n');
        image(md, "lm_kl_by_position", "KL by position", plots, errors);
        image(md, "lm_nll_by_position", "loss by position", plots, errors);
        md.append("By position in the window (tokens of the window read before the prediction):\n\n");
        md.append("| context read | tokens | KL | top-1 agreement | teacher NLL | student NLL |\n|---|---:|---:|---:|---:|---:|\n");
        for (LmResult.PositionBucket b : lm.byPosition()) {
            String range = b.contextFrom() == b.contextTo() ? Integer.toString(b.contextFrom()) : b.contextFrom() + "–" + b.contextTo();
            md.append(String.format(Locale.ROOT, "| %s | %,d | %s | %s | %s | %s |%n", range, b.tokens(), f4(b.kl()),
                    pct(b.top1Agreement()), f4(b.teacherNll()), f4(b.studentNll())));
        }
        md.append('\n');
    }

    private static void recall(StringBuilder md, RecallResult r, Map<String, String> plots, Map<String, String> errors) {
        md.append("## Associative recall\n\n");
        md.append(String.format(Locale.ROOT,
                "Multi-query associative recall: n key-value pairs of words, then every key again in a random order, "
                        + "each followed by its value; a query is right when the model's most likely token after the key "
                        + "is its value (`top-1`). Softer measures for models that rarely get it: how often the value "
                        + "outranks the prompt's other values (`among values`, chance 1/pairs), and the value's mean "
                        + "log-probability. Keys and values: %,d %s; %d prompts per point. The start of the first prompt:%n%n> %s%n%n",
                r.wordPool(), r.wordSource(), r.samples(), abbreviate(r.example(), 240)));
        image(md, "recall", "recall accuracy", plots, errors);
        image(md, "recall_among_values", "recall among values", plots, errors);
        md.append("| pairs | prompt tokens | queries | teacher top-1 | student top-1 | teacher among values | "
                + "student among values | value log-prob (teacher, student) |\n|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for (RecallResult.Point p : r.points()) {
            md.append(String.format(Locale.ROOT, "| %d | %,d | %,d | %s | %s | %s | %s | %s, %s |%n", p.pairs(), p.length(), p.queries(),
                    pct(p.teacherAccuracy()), pct(p.studentAccuracy()), pct(p.teacherAmongValues()), pct(p.studentAmongValues()),
                    f2(p.teacherValueLogProb()), f2(p.studentValueLogProb())));
        }
        md.append('\n');
    }

    private static void needles(StringBuilder md, Map<String, NeedleResult> results, Map<String, String> plots, Map<String, String> errors) {
        md.append("## Needles and variable tracking (RULER-style)\n\n");
        md.append("RULER's retrieval tasks, generated here: needles \"One of the special magic numbers for {key} is: {value}.\" "
                + "(seven-digit values, one-token word keys) hidden between the haystack's sentences at random depths, asked for "
                + "with RULER's answer prefix; variable tracking follows a chain of five `VAR X = …` assignments. A value counts "
                + "when greedy decoding reproduces its tokens (teacher-forced), a prompt when all its values do.\n\n");
        md.append("| task | length | teacher | student | teacher values | student values | answer log-prob / token (teacher, student) |\n"
                + "|---|---:|---:|---:|---:|---:|---|\n");
        for (NeedleResult n : results.values()) {
            for (NeedleResult.Point p : n.points()) {
                md.append(String.format(Locale.ROOT, "| %s | %,d | %s | %s | %s | %s | %s, %s |%n", n.task(), p.length(),
                        pct(p.teacher().accuracy()), pct(p.student().accuracy()), pct(p.teacher().valueRecall()),
                        pct(p.student().valueRecall()), f2(p.teacher().answerLogProb()), f2(p.student().answerLogProb())));
            }
        }
        md.append('\n');
        for (NeedleResult n : results.values()) {
            image(md, n.task(), n.task() + " accuracy", plots, errors);
            md.append(String.format(Locale.ROOT, "%s (%s; haystack: %s, %d prompts per length). The start and end of the first prompt:%n%n> %s%n%n",
                    n.task(), NeedleTask.describe(n.task()), n.haystack(), n.samples(), headAndTail(n.example(), 160, 240)));
        }
    }

    private static void passkey(StringBuilder md, PasskeyResult r, Map<String, String> plots, Map<String, String> errors) {
        md.append("## Passkey retrieval\n\n");
        md.append(String.format(Locale.ROOT,
                "A five-digit passkey hidden in repeated filler text at depths %s of the filler, asked for at the end. A "
                        + "prompt is solved when greedy decoding reproduces the passkey's tokens (checked teacher-forced, "
                        + "which is the same thing); %d prompts per length. The shortest prompt:%n%n> %s%n%n",
                r.depths(), r.samples(), abbreviate(r.example(), 400)));
        image(md, "passkey", "passkey accuracy", plots, errors);
        md.append("| length | teacher | student | teacher by depth | student by depth | passkey log-prob / token (teacher, student) "
                + "| first token (teacher, student) | later tokens (teacher, student) |\n");
        md.append("|---:|---:|---:|---|---|---|---|---|\n");
        for (PasskeyResult.Point p : r.points()) {
            md.append(String.format(Locale.ROOT, "| %,d | %s | %s | %s | %s | %s, %s | %s, %s | %s, %s |%n", p.length(), pct(p.teacher().accuracy()),
                    pct(p.student().accuracy()), byDepth(p.teacher()), byDepth(p.student()),
                    f2(p.teacher().answerLogProb()), f2(p.student().answerLogProb()),
                    pct(p.teacher().firstTokenAccuracy()), pct(p.student().firstTokenAccuracy()),
                    pctOrDash(p.teacher().laterTokenAccuracy()), pctOrDash(p.student().laterTokenAccuracy())));
        }
        md.append("\nFirst token: how often the passkey's first token is the model's first choice after the question (whether "
                + "it finds the passkey); later tokens: how often each later token is, with the right ones before it (whether "
                + "it copies on once started).\n");
        md.append('\n');
        PasskeyResult.Point longest = r.points().getLast();
        if (longest.answers() == null || longest.answers().isEmpty()) return;
        md.append(String.format(Locale.ROOT, "What each model answered at %,d tokens: its first choice at each of the passkey's "
                + "tokens, with the right tokens before it (teacher-forced), token by token:%n%n", longest.length()));
        md.append("| depth | passkey | teacher | student |\n|---:|---:|---|---|\n");
        for (PasskeyResult.Answer a : longest.answers()) {
            md.append(String.format(Locale.ROOT, "| %s | %d | %s | %s |%n", a.depth(), a.passkey(), picks(a.teacher()), picks(a.student())));
        }
        md.append('\n');
    }

    /** Tokens as code spans, one each, with table pipes escaped: `␣1` `6` ... */
    static String picks(List<String> tokens) {
        StringBuilder b = new StringBuilder();
        for (String t : tokens) {
            String shown = t.replace(' ', '␣').replace("\n", "\\n").replace("`", "'").replace("|", "\\|");
            b.append(b.isEmpty() ? "" : " ").append('`').append(shown).append('`');
        }
        return b.toString();
    }

    private static void mc(StringBuilder md, List<McResult> mc) {
        md.append("## Multiple choice\n\n");
        md.append("Scored by log-likelihood as lm-evaluation-harness does: `acc` picks the choice of highest log-likelihood, "
                + "`acc_norm` divides each by the choice's length in characters. ± is the standard error.\n\n");
        md.append("| task | items | teacher acc | teacher acc_norm | student acc | student acc_norm | same pick |\n");
        md.append("|---|---:|---:|---:|---:|---:|---:|\n");
        for (McResult m : mc) {
            md.append(String.format(Locale.ROOT, "| `%s` | %,d | %s ± %s | %s ± %s | %s ± %s | %s ± %s | %s |%n", fileName(m.file()), m.items(),
                    pct(m.teacher().acc()), pct(m.teacher().accStderr()), pct(m.teacher().accNorm()), pct(m.teacher().accNormStderr()),
                    pct(m.student().acc()), pct(m.student().accStderr()), pct(m.student().accNorm()), pct(m.student().accNormStderr()),
                    pct(m.agreement())));
        }
        md.append('\n');
    }

    private static void speed(StringBuilder md, EvalReport r, Map<String, String> plots, Map<String, String> errors) {
        SpeedResult s = r.speed();
        md.append("## Speed and memory\n\n");
        md.append(String.format(Locale.ROOT,
                "Per context length: a fresh decoder prefills that many tokens, reports the bytes of state it holds "
                        + "(a KV cache grows with the context, a recurrent state does not), then decodes %d tokens one at "
                        + "a time; the decode rate is 1 / the median step. Device %s, %d CPU threads. Timings depend on the "
                        + "machine and its load; a model's grid stops after a point that took over %.0f s.%n%n",
                s.decodeTokens(), r.settings().device(), Parallel.threads(), s.timeLimitS()));
        image(md, "speed_decode", "decode speed", plots, errors);
        image(md, "speed_memory", "decoding state", plots, errors);
        md.append("| context | teacher decode tok/s | student decode tok/s | teacher prefill tok/s | student prefill tok/s | teacher state | student state |\n");
        md.append("|---:|---:|---:|---:|---:|---:|---:|\n");
        for (SpeedResult.Point p : s.points()) {
            md.append(String.format(Locale.ROOT, "| %,d | %s | %s | %s | %s | %s | %s |%n", p.context(), rate(p.teacher()), rate(p.student()),
                    p.teacher() == null ? "—" : f0(p.teacher().prefillTokensPerS()),
                    p.student() == null ? "—" : f0(p.student().prefillTokensPerS()), state(p.teacher()), state(p.student())));
        }
        md.append('\n');
    }

    // ---------------------------------------------------------------- pieces

    private static void image(StringBuilder md, String plot, String alt, Map<String, String> plots, Map<String, String> errors) {
        if (plots.containsKey(plot)) md.append("![").append(alt).append("](").append(plots.get(plot)).append(")\n\n");
        else if (errors.containsKey(plot)) md.append("(plot not drawn: ").append(errors.get(plot)).append(")\n\n");
    }

    private static void row(StringBuilder md, String what, String teacher, String student) {
        md.append("| ").append(what).append(" | ").append(teacher).append(" | ").append(student).append(" |\n");
    }

    private static SpeedResult.Point lastMeasured(SpeedResult s) {
        for (int i = s.points().size() - 1; i >= 0; i--) {
            SpeedResult.Point p = s.points().get(i);
            if (p.teacher() != null && p.student() != null) return p;
        }
        return null;
    }

    private static String byDepth(PasskeyResult.Score s) {
        StringBuilder b = new StringBuilder();
        for (Double d : s.accuracyByDepth()) b.append(b.isEmpty() ? "" : " ").append(d == null ? "—" : pct(d));
        return b.toString();
    }

    private static String rate(SpeedResult.Measurement m) {
        return m == null ? "—" : f0(m.decodeTokensPerS());
    }

    private static String state(SpeedResult.Measurement m) {
        return m == null ? "—" : m.stateBytes() == null ? "not reported" : LinePlot.bytes(m.stateBytes());
    }

    private static String name(EvalReport.Model m) {
        return m.path() == null ? m.role() : "`" + fileName(m.path()) + "`";
    }

    private static String fileName(String path) {
        Path p = Path.of(path).getFileName();
        return p == null ? path : p.toString();
    }

    /** "LlamaForCausalLM, 4 layers, hidden 256, 4.2M parameters" from the summary the caller gave. */
    static String describe(EvalReport.Model m) {
        StringBuilder b = new StringBuilder();
        JsonNode arch = ReportWriter.field(m, "architecture"), layers = ReportWriter.field(m, "layers"),
                hidden = ReportWriter.field(m, "hidden"), slots = ReportWriter.field(m, "gsa_slots"),
                params = ReportWriter.field(m, "parameters"), plan = ReportWriter.field(m, "layer_plan");
        if (arch != null) b.append(arch.asText());
        if (layers != null) b.append(b.isEmpty() ? "" : ", ").append(layers.asInt()).append(" layers");
        if (hidden != null) b.append(", hidden ").append(hidden.asInt());
        if (slots != null) b.append(", ").append(slots.asInt()).append(" slots");
        if (plan != null) b.append(" (").append(plan.asText()).append(')');
        if (params != null) b.append(String.format(Locale.ROOT, ", %.1fM parameters", params.asLong() / 1e6));
        if (b.isEmpty()) b.append("vocabulary ").append(m.vocabSize());
        return b.toString();
    }

    /** The first {@code head} and last {@code tail} characters on one line, " … " between. */
    static String headAndTail(String s, int head, int tail) {
        String one = s.replace('\n', ' ').strip();
        return one.length() <= head + tail ? one : one.substring(0, head) + " … " + one.substring(one.length() - tail);
    }

    static String abbreviate(String s, int max) {
        String one = s.replace('\n', ' ').strip();
        return one.length() <= max ? one : one.substring(0, max) + " …";
    }

    private static String pct(double v) {
        return String.format(Locale.ROOT, "%.1f%%", 100 * v);
    }

    private static String pctOrDash(Double v) {
        return v == null ? "–" : pct(v);
    }

    private static String f0(double v) {
        return String.format(Locale.ROOT, "%,.0f", v);
    }

    private static String f2(double v) {
        return String.format(Locale.ROOT, "%.2f", v);
    }

    private static String f4(double v) {
        return String.format(Locale.ROOT, "%.4f", v);
    }
}
