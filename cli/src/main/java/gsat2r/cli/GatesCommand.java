package gsat2r.cli;

import gsat2r.core.io.InputFiles;
import gsat2r.core.T2rException;
import gsat2r.core.io.Json;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.gsa.SlotMemory;
import gsat2r.core.tokenizer.Tokenizer;
import gsat2r.eval.Documents;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code t2r gates}: how long a student's GSA slots keep what a token writes, measured from its gates on windows of
 * text ({@link SlotMemory}): each layer's slot half-lives, slots written a token, and the share of a slot a token still
 * holds 1 to 4,096 tokens later. On the CPU.
 */
@Command(name = "gates", mixinStandardHelpOptions = true,
        description = "Measure how long a GSA student's slots keep what a token writes: per GSA layer, the slots' half-lives, "
                + "the slots written a token, and the share of a slot a token still holds 1, 16, 64, ... tokens later (its reach), "
                + "from the gates on windows of text. Runs on the CPU.")
final class GatesCommand implements Callable<Integer> {

    enum Format { text, json }

    @ParentCommand
    T2r t2r;

    @Option(names = "--student", paramLabel = "DIR", required = true, description = "A GSA student (t2r convert, t2r finetune's final/).")
    String student;

    @Option(names = "--data", paramLabel = "FILE", required = true,
            description = "Text to measure on: JSONL with a \"text\" field a line, Parquet with a \"text\" column, or text (plain, .gz, .xz, .zst); any other file whole.")
    Path data;

    @Option(names = "--context", paramLabel = "T", defaultValue = "1024", description = "Tokens a window (default 1024).")
    int context;

    @Option(names = "--windows", paramLabel = "N", defaultValue = "8",
            description = "Windows measured (default 8): the first N windows of T tokens of the documents, one after the other.")
    int windows;

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "text", description = "text (default) or json.")
    Format format;

    @Override
    public Integer call() throws Exception {
        if (context < 2) throw new T2rException("--context must be at least 2, got " + context);
        if (windows < 1) throw new T2rException("--windows must be at least 1, got " + windows);
        InputFiles.requireRegularFile(data, "a text file (JSONL, .txt)");
        Path dir = t2r.modelDir(student);
        List<int[]> ids;
        try (Tokenizer tokenizer = Tokenizer.load(dir)) {
            ids = windows(Documents.read(data), tokenizer);
        }
        SlotMemory.Report report;
        try (LanguageModel m = t2r.loadModel(dir)) {
            if (!(m instanceof GsaModel gsa)) throw new T2rException(dir + ": not a GSA student; t2r gates measures a student's slots");
            if (gsa.config().gsaLayerCount() == 0) throw new T2rException(dir + ": every layer is softmax attention; there are no slots to measure");
            report = SlotMemory.measure(gsa, ids);
        }
        PrintWriter out = t2r.spec.commandLine().getOut();
        if (format == Format.json) {
            out.println(Json.PRETTY.writeValueAsString(json(report, dir, data)));
        } else {
            print(report, dir, out);
        }
        out.flush();
        return 0;
    }

    /** The first {@link #windows} windows of {@link #context} tokens of the documents' tokens, one document after the other. */
    private List<int[]> windows(List<String> documents, Tokenizer tokenizer) {
        List<int[]> result = new ArrayList<>();
        int[] window = new int[context];
        int filled = 0;
        long tokens = 0;
        for (String doc : documents) {
            for (int id : tokenizer.encode(doc)) {
                tokens++;
                window[filled++] = id;
                if (filled == context) {
                    result.add(window);
                    if (result.size() == windows) return result;
                    window = new int[context];
                    filled = 0;
                }
            }
        }
        if (result.isEmpty()) {
            throw new T2rException(data + ": " + tokens + " tokens, fewer than one window of --context " + context);
        }
        t2r.note(data + ": " + result.size() + " windows of " + context + " tokens, fewer than --windows " + windows);
        return result;
    }

    /** The measurement as JSON, in the snake_case of the project's reports. */
    static Map<String, Object> json(SlotMemory.Report r, Path dir, Path data) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("student", dir.toString());
        json.put("data", data.toString());
        json.put("windows", r.windows());
        json.put("tokens_per_window", r.tokens());
        json.put("slots_per_kv_head", r.slots());
        json.put("gate_normalizer", r.gateNormalizer());
        json.put("distances", r.distances());
        List<Map<String, Object>> layers = new ArrayList<>();
        for (SlotMemory.Layer l : r.layers()) {
            Map<String, Object> layer = new LinkedHashMap<>();
            layer.put("layer", l.layer());
            layer.put("half_life", Map.of("min", l.halfLifeMin(), "median", l.halfLifeMedian(), "max", l.halfLifeMax()));
            layer.put("slots_written_per_token", l.slotsWrittenPerToken());
            layer.put("reach", l.reach());
            layers.add(layer);
        }
        json.put("layers", layers);
        return json;
    }

    static void print(SlotMemory.Report r, Path dir, PrintWriter out) {
        out.printf(Locale.ROOT, "slot memory of %s: %d window%s of %d tokens; %d slots a kv head, gate normalizer %s%n", dir,
                r.windows(), r.windows() == 1 ? "" : "s", r.tokens(), r.slots(), InspectCommand.number(r.gateNormalizer()));
        StringBuilder head = new StringBuilder(String.format(Locale.ROOT, "%5s  %24s  %9s", "layer", "half-life (tokens)", "slots"));
        StringBuilder sub = new StringBuilder(String.format(Locale.ROOT, "%5s  %24s  %9s", "", "min / median / max", "written"));
        head.append("  reach after");
        for (int d : r.distances()) sub.append(String.format(Locale.ROOT, " %9s", d + (d == 1 ? " token" : "")));
        out.println(head);
        out.println(sub);
        for (SlotMemory.Layer l : r.layers()) {
            StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "%5d  %24s  %9.2f", l.layer(),
                    tokens(l.halfLifeMin()) + " / " + tokens(l.halfLifeMedian()) + " / " + tokens(l.halfLifeMax()),
                    l.slotsWrittenPerToken()));
            for (double share : l.reach()) row.append(String.format(Locale.ROOT, " %9.2g", share));
            out.println(row);
        }
        out.println("half-life: tokens until a write keeps half its weight; slots written: the sum of write strengths a token,");
        out.println("of " + r.slots() + " a kv head; reach: the median share of a slot a token still holds that many tokens later.");
    }

    private static String tokens(double halfLife) {
        return halfLife >= 1e6 ? String.format(Locale.ROOT, "%.1e", halfLife) : String.format(Locale.ROOT, "%.1f", halfLife);
    }
}
