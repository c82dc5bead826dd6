package gsat2r.cli;

import gsat2r.core.T2rException;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.tokenizer.Tokenizer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code t2r logits}: the model's next-token logits for a text or ids, as one JSON object
 * {@code {"ids": [...], "logits": [[...], ...]}} on stdout (the last position, or every position).
 */
@Command(name = "logits", mixinStandardHelpOptions = true,
        description = "Print a model's logits for a text or token ids as JSON: {\"ids\": [...], \"logits\": [[...], ...]}.")
final class LogitsCommand implements Callable<Integer> {

    enum Format { json }

    @ParentCommand
    T2r t2r;

    @Option(names = "--model", paramLabel = "DIR", defaultValue = ModelDirs.DEMO,
            description = "Model directory, or 'demo' (default) for the model inside t2r.")
    String model;

    static final class Input {
        @Option(names = "--text", paramLabel = "TEXT", required = true,
                description = "Text, encoded with the model's tokenizer.json (special tokens such as BOS included).")
        String text;

        @Option(names = "--ids", paramLabel = "IDS", required = true, converter = TokenIds.Converter.class,
                description = "Token ids, comma-separated: 1,2,3.")
        TokenIds ids;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    @Option(names = "--all-positions", description = "One row of logits per position instead of the last position only.")
    boolean allPositions;

    @picocli.CommandLine.Mixin
    DeviceOptions deviceOptions = new DeviceOptions();

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "json", description = "json (the only format).")
    Format format;

    @Override
    public Integer call() {
        Path dir = t2r.modelDir(model);
        int[] ids;
        if (input.ids != null) {
            ids = input.ids.ids();
        } else {
            try (Tokenizer tokenizer = Tokenizer.load(dir)) {
                ids = tokenizer.encode(input.text);
            }
        }
        if (ids.length == 0) throw new T2rException("--text: the text encodes to no tokens; there is nothing to score");
        float[][] logits;
        try (LanguageModel m = t2r.loadModel(dir, deviceOptions)) {
            checkIds(ids, m.vocabSize());
            logits = m.forward(ids);
            if (logits.length != ids.length) {
                throw new IllegalStateException("the model returned " + logits.length + " rows of logits for " + ids.length + " ids");
            }
            for (float[] row : logits) {
                if (row.length != m.vocabSize()) {
                    throw new IllegalStateException("the model returned a row of " + row.length + " logits, vocab is " + m.vocabSize());
                }
            }
        }
        PrintWriter out = t2r.spec.commandLine().getOut();
        JsonWriter.logits(out, ids, logits, allPositions ? 0 : logits.length - 1);
        out.flush();
        return 0;
    }

    static void checkIds(int[] ids, int vocab) {
        for (int id : ids) {
            if (id < 0 || id >= vocab) {
                throw new T2rException("--ids: token id " + id + " is outside the model's vocabulary (0.." + (vocab - 1) + ")");
            }
        }
    }
}
