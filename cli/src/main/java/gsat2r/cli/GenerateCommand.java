package gsat2r.cli;

import gsat2r.core.io.Json;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import gsat2r.api.Session;
import gsat2r.api.T2rModel;
import gsat2r.core.T2rException;
import gsat2r.core.generate.Generator;
import gsat2r.core.generate.Sampler;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.tokenizer.Tokenizer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * {@code t2r generate}: continues a prompt. Text format echoes the prompt and streams the new text as
 * it is generated; json prints {@code {"ids": [prompt and new ids], "text": new text}} at the end.
 *
 * <p>{@code --save-state FILE} writes the decoding state after the prompt (before the first new token:
 * what caching a system prompt needs; with {@code --max-new-tokens 0} nothing is generated);
 * {@code --load-state FILE} starts from such a state, the prompt (optional then) being appended after
 * the saved tokens as plain text (no BOS). Runs through the embedding API's {@link Session}, so a
 * restored state gives the tokens one uninterrupted run would (greedy, or the same --seed).
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Continue a prompt with a model, streaming the text as it is generated.")
final class GenerateCommand implements Callable<Integer> {

    enum Format { text, json }

    static final double DEFAULT_TEMPERATURE = 0.8;
    static final double DEFAULT_TOP_P = 0.95;

    @ParentCommand
    T2r t2r;

    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "DIR", defaultValue = ModelDirs.DEMO,
            description = "Model directory, or 'demo' (default) for the model inside t2r.")
    String model;

    static final class Input {
        @Option(names = "--prompt", paramLabel = "TEXT", required = true,
                description = "Prompt text, encoded with the model's tokenizer.json (BOS included).")
        String prompt;

        @Option(names = "--ids", paramLabel = "IDS", required = true, converter = TokenIds.Converter.class,
                description = "Prompt token ids, comma-separated: 1,2,3.")
        TokenIds ids;
    }

    @ArgGroup(exclusive = true, multiplicity = "0..1")
    Input input;

    @Option(names = "--save-state", paramLabel = "FILE",
            description = "Write the decoding state after the prompt to FILE (atomically), e.g. to cache a system prompt.")
    Path saveState;

    @Option(names = "--load-state", paramLabel = "FILE",
            description = "Continue from a state saved by --save-state with the same model; --prompt/--ids are appended after it.")
    Path loadState;

    @Option(names = "--max-new-tokens", paramLabel = "N", defaultValue = "64",
            description = "At most this many new tokens (default ${DEFAULT-VALUE}); generation also stops at EOS.")
    int maxNewTokens;

    @Option(names = "--greedy", description = "Always take the most likely token (deterministic).")
    boolean greedy;

    @Option(names = "--temperature", paramLabel = "T",
            description = "Sampling temperature > 0 (default " + DEFAULT_TEMPERATURE + "); 0 means greedy.")
    Double temperature;

    @Option(names = "--top-p", paramLabel = "P",
            description = "Nucleus sampling: draw from the most likely tokens that make up P of the probability (default "
                    + DEFAULT_TOP_P + ").")
    Double topP;

    @Option(names = "--seed", paramLabel = "S", description = "Random seed; the same seed gives the same text (default: random).")
    Long seed;

    @picocli.CommandLine.Mixin
    DeviceOptions deviceOptions = new DeviceOptions();

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "text", description = "text (default, streamed) or json.")
    Format format;

    @Override
    public Integer call() throws JsonProcessingException {
        Sampler sampler = sampler();
        if (input == null && loadState == null) {
            throw usage("give --prompt or --ids, or --load-state FILE to continue a saved state");
        }
        Path dir = t2r.modelDir(model);
        PrintWriter out = t2r.spec.commandLine().getOut();
        try (Tokenizer tokenizer = Tokenizer.load(dir); LanguageModel lm = t2r.loadModel(dir, deviceOptions)) {
            T2rModel m = T2rModel.of(lm, tokenizer);
            Session session = loadState != null ? m.restore(loadState) : m.newSession();
            if (loadState != null) t2r.note("continuing " + session.length() + " tokens from " + loadState);
            int[] promptIds = new int[0];
            if (input != null) {
                promptIds = input.ids != null ? input.ids.ids()
                        : session.length() == 0 ? m.encode(input.prompt) : m.encodeContinuation(input.prompt);
                LogitsCommand.checkIds(promptIds, m.vocabSize());
                if (promptIds.length == 0 && session.length() == 0) {
                    throw new T2rException("the prompt is empty: there is no token to start from");
                }
                if (promptIds.length > 0) session.append(promptIds);
            }
            if (saveState != null) {
                session.save(saveState);
                t2r.note("saved the state after " + session.length() + " tokens to " + saveState);
            }
            Generator.Result result;
            if (format == Format.text) {
                if (input != null) out.print(input.prompt != null ? input.prompt : m.decode(promptIds));
                out.flush();
                result = session.generate(maxNewTokens, sampler, piece -> {
                    out.print(piece);
                    out.flush();
                });
                out.println();
            } else {
                result = session.generate(maxNewTokens, sampler, piece -> { });
                out.println(Json.COMPACT.writeValueAsString(new Output(result.allIds(), result.text())));
            }
            t2r.note(result.newIds().length + " new tokens, stopped at " + (result.stop() == Generator.Stop.EOS ? "EOS" : "--max-new-tokens"));
        }
        out.flush();
        return 0;
    }

    /** The JSON output, keys in this order. */
    record Output(int[] ids, String text) {}

    private Sampler sampler() {
        if (maxNewTokens < 0) throw usage("--max-new-tokens must be >= 0, got " + maxNewTokens);
        if (greedy && (temperature != null || topP != null)) {
            throw usage("--greedy cannot be combined with --temperature or --top-p");
        }
        double t = temperature == null ? DEFAULT_TEMPERATURE : temperature;
        double p = topP == null ? DEFAULT_TOP_P : topP;
        if (!(t >= 0) || Double.isInfinite(t)) throw usage("--temperature must be a finite number >= 0, got " + t);
        if (!(p > 0 && p <= 1)) throw usage("--top-p must be in (0, 1], got " + p);
        if (greedy || t == 0) return Sampler.greedy();
        long s = seed != null ? seed : new SplittableRandom().nextLong();
        if (seed == null) t2r.note("seed " + s + " (pass --seed " + s + " to repeat this text)");
        return Sampler.sampling(t, p, s);
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }
}
