package gsat2r.cli;

import gsat2r.core.data.DataPreparer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code t2r data prepare}: tokenizes JSONL / text files with a model's tokenizer into packed token
 * shards (docs/recipes.md, "Prepared data"), deterministically and atomically, with progress on stderr.
 */
@Command(name = "prepare", mixinStandardHelpOptions = true,
        description = "Tokenize JSONL (.jsonl), text (.txt) or Parquet (.parquet) files, plain or compressed (.gz, .xz, .zst), into packed token shards for t2r finetune.")
final class DataPrepareCommand implements Callable<Integer> {

    @ParentCommand
    DataCommand data;

    @Option(names = "--tokenizer", paramLabel = "DIR", required = true,
            description = "Model directory whose tokenizer.json to use (the teacher's), or 'demo'.")
    String tokenizer;

    @Option(names = "--input", paramLabel = "FILE", required = true, arity = "1..*",
            description = "Training input files: .jsonl (one JSON object a line) or .txt (one document each), plain or with .gz, .xz, .zst, or .parquet (a row each);"
                    + " - reads JSONL (any of those compressions) from standard input.")
    List<Path> inputs;

    @Option(names = "--validation", paramLabel = "FILE", arity = "1..*",
            description = "Validation input files (all of their documents go to the validation split).")
    List<Path> validation = List.of();

    @Option(names = "--out", paramLabel = "DIR", required = true, description = "Output directory (written atomically).")
    Path out;

    @Option(names = "--text-field", paramLabel = "NAME", defaultValue = "text",
            description = "JSONL field or Parquet column holding a document's text (default ${DEFAULT-VALUE}).")
    String textField;

    @Option(names = "--validation-fraction", paramLabel = "F", defaultValue = "0",
            description = "Fraction in [0, 1) of the training documents held out for validation, chosen by a hash of their text (default ${DEFAULT-VALUE}).")
    double validationFraction;

    @Option(names = "--shard-tokens", paramLabel = "N", defaultValue = "268435456",
            description = "Start a new shard once one holds N tokens (default ${DEFAULT-VALUE}).")
    long shardTokens;

    @Option(names = "--force", description = "Replace --out if it holds a prepared dataset (dataset.json; never a directory of other files).")
    boolean force;

    @Override
    public Integer call() {
        T2r t2r = data.t2r;
        PrintWriter err = t2r.spec.commandLine().getErr();
        PrintWriter out = t2r.spec.commandLine().getOut();
        Path tokenizerDir = t2r.modelDir(tokenizer);
        ProgressLine progress = ProgressLine.forStderr(err);
        DataPreparer.Summary s = DataPreparer.prepare(new DataPreparer.Request(tokenizerDir, inputs, validation, textField,
                validationFraction, shardTokens, this.out, force), p -> progress.update(describe(p), p.done()));
        progress.finish();
        out.printf(Locale.ROOT, "wrote %s: train %,d documents, %,d tokens; validation %,d documents, %,d tokens%s%n", s.dir(),
                s.trainDocuments(), s.trainTokens(), s.validationDocuments(), s.validationTokens(),
                s.skippedEmpty() > 0 ? String.format(Locale.ROOT, "; %,d empty documents skipped", s.skippedEmpty()) : "");
        out.flush();
        return 0;
    }

    /** The progress line: "tokenizing FILE: N documents, T tokens so far (...)", then "tokenized ... in S s" at the end. */
    static String describe(DataPreparer.Progress p) {
        double secs = Math.max(p.seconds(), 1e-9);
        String rates = String.format(Locale.ROOT, "%s documents, %s tokens", ProgressLine.count(p.documents()), ProgressLine.count(p.tokens()));
        String speed = String.format(Locale.ROOT, "(%s docs/s, %s tokens/s)", ProgressLine.count(p.documents() / secs),
                ProgressLine.count(p.tokens() / secs));
        if (p.done()) return String.format(Locale.ROOT, "t2r: tokenized %s %s in %.1f s", rates, speed, p.seconds());
        return "t2r: tokenizing" + (p.file() == null ? "" : " " + p.file().getFileName()) + ": " + rates + " so far " + speed;
    }
}
