package gsat2r.cli;

import gsat2r.core.io.Json;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code t2r inspect DIR}: a model's architecture, size and files, without loading its weights. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = {"Describe a model directory (architecture, sizes, files, tokenizer) without loading its weights.",
                "Or a decoding-state file written by 'generate --save-state' (model fingerprint, tokens, layers)."})
final class InspectCommand implements Callable<Integer> {

    enum Format { text, json }

    @ParentCommand
    T2r t2r;

    @Parameters(index = "0", paramLabel = "DIR|FILE",
            description = "A model directory, 'demo' for the model inside t2r, or a state file of 'generate --save-state'.")
    String model;

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "text",
            description = "text (default) or json.")
    Format format;

    @Override
    public Integer call() throws Exception {
        if (!ModelDirs.DEMO.equals(model) && Files.isRegularFile(Path.of(model))) return inspectState(Path.of(model));
        Path dir = t2r.modelDir(model);
        ModelSummary s = ModelSummary.read(dir);
        PrintWriter out = t2r.spec.commandLine().getOut();
        if (format == Format.json) {
            out.println(Json.PRETTY.writeValueAsString(s));
        } else {
            print(s, out);
        }
        out.flush();
        return 0;
    }

    /** A decoding-state file of {@code t2r generate --save-state}. */
    private int inspectState(Path file) throws Exception {
        StateSummary s = StateSummary.read(file);
        PrintWriter out = t2r.spec.commandLine().getOut();
        if (format == Format.json) {
            out.println(Json.PRETTY.writeValueAsString(s));
        } else {
            s.print(out);
        }
        out.flush();
        return 0;
    }

    static void print(ModelSummary s, PrintWriter out) {
        boolean gsa = s.gsaSlots() != null;
        row(out, "model", s.dir());
        row(out, "architecture", s.architecture() + " (model_type " + s.modelType() + ")");
        row(out, "layers", Integer.toString(s.layers()));
        row(out, "hidden size", Integer.toString(s.hidden()));
        row(out, "heads", s.heads() + " query, " + s.kvHeads() + " key-value"
                + (s.heads() != s.kvHeads() ? " (GQA, " + s.heads() / s.kvHeads() + " per group)" : ""));
        row(out, "head dim", Integer.toString(s.headDim()));
        if (gsa) {
            row(out, "layer plan", s.layerPlan());
            row(out, "GSA slots", Integer.toString(s.gsaSlots()));
            row(out, "gate normalizer", number(s.gateNormalizer()));
        }
        row(out, "intermediate", Integer.toString(s.intermediate()));
        row(out, "vocab", Integer.toString(s.vocab()));
        if (s.maxPositions() != null) row(out, "max positions", Integer.toString(s.maxPositions()));
        if (!gsa) {
            row(out, "RoPE", "theta " + number(s.ropeTheta()) + ", scaling " + s.ropeScaling());
            row(out, "sliding window", s.slidingWindow() == null ? "none" : s.slidingWindow() + " tokens");
        }
        row(out, "tied embeddings", s.tiedEmbeddings() ? "yes" : "no");
        row(out, "parameters", grouped(s.parameters()) + " (" + shortCount(s.parameters()) + ")");
        StringBuilder dtypes = new StringBuilder();
        for (Map.Entry<String, Long> e : s.parametersByDtype().entrySet()) {
            if (!dtypes.isEmpty()) dtypes.append(", ");
            dtypes.append(e.getKey()).append(" (").append(grouped(e.getValue())).append(')');
        }
        row(out, "dtypes", dtypes + (s.configDtype() != null ? "; config says " + s.configDtype() : ""));
        long total = s.shards().stream().mapToLong(ModelSummary.Shard::bytes).sum();
        row(out, "weights", s.shards().size() + (s.shards().size() == 1 ? " file, " : " files, ") + bytes(total));
        for (ModelSummary.Shard sh : s.shards()) {
            row(out, "", sh.file() + "  " + bytes(sh.bytes()) + ", " + sh.tensors() + " tensors");
        }
        row(out, "tokenizer", s.tokenizer());
        if (gsa) {
            row(out, "recurrent state", grouped(s.recurrentStateBytes()) + " bytes per sequence, any length (fp32)");
            if (s.kvCacheBytesPerToken() > 0) {
                row(out, "KV cache", grouped(s.kvCacheBytesPerToken()) + " bytes per token in the attention layers ("
                        + s.kvDtype() + "; a window caps the tokens kept)");
            }
            row(out, "fla 0.5.2", s.flaCompatibility() == null ? "loads and computes it as is"
                    : "cannot build it as is: " + s.flaCompatibility());
        } else {
            row(out, "KV cache", grouped(s.kvCacheBytesPerToken()) + " bytes per token (2 x " + s.layers() + " layers x "
                    + s.kvHeads() + " kv heads x " + s.headDim() + " x " + s.kvDtype() + ")");
        }
    }

    private static void row(PrintWriter out, String key, String value) {
        out.printf(Locale.ROOT, "%-16s %s%n", key, value);
    }

    private static String grouped(long n) {
        return String.format(Locale.ROOT, "%,d", n);
    }

    static String number(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }

    private static String shortCount(long n) {
        if (n >= 1_000_000_000L) return String.format(Locale.ROOT, "%.2fB", n / 1e9);
        if (n >= 1_000_000L) return String.format(Locale.ROOT, "%.1fM", n / 1e6);
        if (n >= 1_000L) return String.format(Locale.ROOT, "%.1fK", n / 1e3);
        return Long.toString(n);
    }

    private static String bytes(long n) {
        if (n >= 1L << 30) return String.format(Locale.ROOT, "%.2f GiB", n / (double) (1L << 30));
        if (n >= 1L << 20) return String.format(Locale.ROOT, "%.1f MiB", n / (double) (1L << 20));
        if (n >= 1L << 10) return String.format(Locale.ROOT, "%.1f KiB", n / 1024.0);
        return n + " bytes";
    }
}
