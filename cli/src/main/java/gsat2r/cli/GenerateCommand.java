package gsat2r.cli;

import gsat2r.core.io.Json;
import com.fasterxml.jackson.core.JsonProcessingException;
import gsat2r.api.Session;
import gsat2r.api.T2rModel;
import gsat2r.core.T2rException;
import gsat2r.core.generate.GenerationDefaults;
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
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
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
 *
 * <p>Sampling settings, each from the first that gives it: the command line; the model's
 * generation_config.json when it says how to sample (do_sample, temperature, top_p, top_k; the others
 * then take transformers' defaults: greedy unless do_sample, temperature 1, top-p 1, top-k 50);
 * t2r's defaults (temperature 0.8, top-p 0.95). repetition_penalty, max_new_tokens and max_length are
 * taken from the file whenever they are in it ({@link GenerationDefaults}).
 *
 * <p>{@code --chat} renders {@code --system} and {@code --prompt} as a conversation with the model's
 * chat template ({@link ChatTemplate}), ending where the assistant answers, and prints only the answer.
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Continue a prompt with a model, streaming the text as it is generated.")
final class GenerateCommand implements Callable<Integer> {

    enum Format { text, json }

    static final double DEFAULT_TEMPERATURE = 0.8;
    static final double DEFAULT_TOP_P = 0.95;
    static final int DEFAULT_MAX_NEW_TOKENS = 64;
    /** transformers' GenerationConfig defaults, for the keys a generation_config.json that sets sampling leaves out. */
    static final double HF_TEMPERATURE = 1.0, HF_TOP_P = 1.0;
    static final int HF_TOP_K = 50;

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
            description = "Write the decoding state after the prompt to FILE (atomically; an earlier state file is replaced, any other file refused), e.g. to cache a system prompt.")
    Path saveState;

    @Option(names = "--load-state", paramLabel = "FILE",
            description = "Continue from a state saved by --save-state with the same model; --prompt/--ids are appended after it.")
    Path loadState;

    @Option(names = "--chat", description = "Apply the model's chat template: --prompt is the user's message (and --system the"
            + " system's); print the assistant's answer.")
    boolean chat;

    @Option(names = "--system", paramLabel = "TEXT", description = "With --chat: a system message before the user's.")
    String system;

    @Option(names = "--max-new-tokens", paramLabel = "N",
            description = "At most this many new tokens (default: generation_config.json's max_new_tokens or max_length, else "
                    + DEFAULT_MAX_NEW_TOKENS + "); generation also stops at EOS.")
    Integer maxNewTokens;

    @Option(names = "--stop", paramLabel = "TEXT",
            description = "Stop where the new text reaches TEXT (left out of the output); repeatable, the first one found wins.")
    List<String> stops = new ArrayList<>();

    @Option(names = "--greedy", description = "Always take the most likely token (deterministic).")
    boolean greedy;

    @Option(names = "--temperature", paramLabel = "T",
            description = "Sampling temperature > 0 (default: generation_config.json's, else " + DEFAULT_TEMPERATURE + "); 0 means greedy.")
    Double temperature;

    @Option(names = "--top-p", paramLabel = "P",
            description = "Nucleus sampling: draw from the most likely tokens that make up P of the probability (default: "
                    + "generation_config.json's, else " + DEFAULT_TOP_P + ").")
    Double topP;

    @Option(names = "--top-k", paramLabel = "K",
            description = "Draw from the K most likely tokens only; 0: no limit (default: generation_config.json's, else 0).")
    Integer topK;

    @Option(names = "--repetition-penalty", paramLabel = "R",
            description = "Penalize tokens already in the context (transformers' repetition_penalty; 1: none; default: "
                    + "generation_config.json's, else 1).")
    Double repetitionPenalty;

    @Option(names = "--seed", paramLabel = "S", description = "Random seed; the same seed gives the same text (default: random).")
    Long seed;

    @picocli.CommandLine.Mixin
    DeviceOptions deviceOptions = new DeviceOptions();

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "text", description = "text (default, streamed) or json.")
    Format format;

    @Override
    public Integer call() throws JsonProcessingException {
        checkOptions();
        if (input == null && loadState == null) {
            throw usage("give --prompt or --ids, or --load-state FILE to continue a saved state");
        }
        Path dir = t2r.modelDir(model);
        GenerationDefaults defaults = GenerationDefaults.read(dir);
        Sampler sampler = sampler(defaults);
        ChatTemplate template = chat ? ChatTemplate.load(dir) : null;
        PrintWriter out = t2r.spec.commandLine().getOut();
        try (Tokenizer tokenizer = Tokenizer.load(dir); LanguageModel lm = t2r.loadModel(dir, deviceOptions)) {
            T2rModel m = T2rModel.of(lm, tokenizer);
            Session session = loadState != null ? m.restore(loadState) : m.newSession();
            if (loadState != null) t2r.note("continuing " + session.length() + " tokens from " + loadState);
            int[] promptIds = new int[0];
            if (input != null) {
                promptIds = input.ids != null ? input.ids.ids()
                        : template != null ? tokenizer.encodePlain(conversation(template))      // the template writes BOS itself
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
            int budget = maxNewTokens != null ? maxNewTokens
                    : Objects.requireNonNullElse(defaults.maxNewTokens(session.length()), DEFAULT_MAX_NEW_TOKENS);
            Generator.Result result;
            if (format == Format.text) {
                if (input != null && !chat) out.print(input.prompt != null ? input.prompt : m.decode(promptIds));
                out.flush();
                result = session.generate(budget, sampler, stops, piece -> {
                    out.print(piece);
                    out.flush();
                });
                out.println();
            } else {
                result = session.generate(budget, sampler, stops, piece -> { });
                out.println(Json.COMPACT.writeValueAsString(new Output(result.allIds(), result.text())));
            }
            t2r.note(result.newIds().length + " new tokens, stopped at " + switch (result.stop()) {
                case EOS -> "EOS";
                case STOP_STRING -> "a --stop string";
                case MAX_NEW_TOKENS -> "--max-new-tokens";
                case INTERRUPTED -> "an interrupt";
            });
        }
        out.flush();
        return 0;
    }

    /** The JSON output, keys in this order. */
    record Output(int[] ids, String text) {}

    /** The conversation of --system and --prompt in the model's chat format, ready for the assistant's answer. */
    private String conversation(ChatTemplate template) {
        List<ChatTemplate.Message> messages = new ArrayList<>();
        if (system != null) messages.add(new ChatTemplate.Message("system", system));
        messages.add(new ChatTemplate.Message("user", input.prompt));
        String text = template.render(messages, true);
        t2r.note("chat template of " + template.source() + ":\n" + text);
        return text;
    }

    private void checkOptions() {
        if (maxNewTokens != null && maxNewTokens < 0) throw usage("--max-new-tokens must be >= 0, got " + maxNewTokens);
        if (greedy && (temperature != null || topP != null || topK != null)) {
            throw usage("--greedy cannot be combined with --temperature, --top-p or --top-k");
        }
        if (temperature != null && (!(temperature >= 0) || Double.isInfinite(temperature))) {
            throw usage("--temperature must be a finite number >= 0, got " + temperature);
        }
        if (topP != null && !(topP > 0 && topP <= 1)) throw usage("--top-p must be in (0, 1], got " + topP);
        if (topK != null && topK < 0) throw usage("--top-k must be >= 0, got " + topK);
        if (stops.stream().anyMatch(String::isEmpty)) throw usage("--stop must not be empty");
        if (repetitionPenalty != null && (!(repetitionPenalty > 0) || Double.isInfinite(repetitionPenalty))) {
            throw usage("--repetition-penalty must be a finite number > 0, got " + repetitionPenalty);
        }
        if (system != null && !chat) throw usage("--system goes with --chat");
        if (chat && (input == null || input.prompt == null)) throw usage("--chat needs --prompt (the user's message)");
        if (chat && loadState != null) throw usage("--chat cannot be combined with --load-state");
    }

    /** The sampler the options and the model's generation_config.json ask for (see the class comment). */
    private Sampler sampler(GenerationDefaults g) {
        Settings s = settings(g, greedy, temperature, topP, topK, repetitionPenalty);
        if (g.file() != null) {
            t2r.note(g.file() + (g.setsSampling() ? ": sampling defaults " + g.doSample() + "/" + g.temperature() + "/" + g.topP() + "/"
                    + g.topK() + " (do_sample/temperature/top_p/top_k)" : ": no sampling settings (t2r's defaults apply)")
                    + (g.ignored().isEmpty() ? "" : "; not supported, ignored: " + String.join(", ", g.ignored())));
        }
        if (s.greedy()) {
            t2r.note("greedy decoding" + (s.repetitionPenalty() != 1 ? ", repetition penalty " + s.repetitionPenalty() : ""));
            return Sampler.greedy(s.repetitionPenalty());
        }
        long seedValue = seed != null ? seed : new SplittableRandom().nextLong();
        t2r.note("sampling: temperature " + s.temperature() + ", top-p " + s.topP() + ", top-k " + s.topK() + ", repetition penalty "
                + s.repetitionPenalty() + "; seed " + seedValue + (seed == null ? " (pass --seed " + seedValue + " to repeat this text)" : ""));
        return Sampler.sampling(s.temperature(), s.topP(), s.topK(), s.repetitionPenalty(), seedValue);
    }

    /** Resolved sampling settings. */
    record Settings(boolean greedy, double temperature, double topP, int topK, double repetitionPenalty) {}

    /** Each setting from the command line, else the model's generation_config.json, else t2r's defaults. */
    static Settings settings(GenerationDefaults g, boolean greedy, Double temperature, Double topP, Integer topK, Double penalty) {
        boolean file = g.setsSampling();
        boolean sampleFlags = temperature != null || topP != null || topK != null;
        double t = temperature != null ? temperature : file ? Objects.requireNonNullElse(g.temperature(), HF_TEMPERATURE) : DEFAULT_TEMPERATURE;
        double p = topP != null ? topP : file ? Objects.requireNonNullElse(g.topP(), HF_TOP_P) : DEFAULT_TOP_P;
        int k = topK != null ? topK : file ? Objects.requireNonNullElse(g.topK(), HF_TOP_K) : 0;
        double r = penalty != null ? penalty : Objects.requireNonNullElse(g.repetitionPenalty(), 1.0);
        boolean sample = !greedy && t > 0 && (sampleFlags || !file || Boolean.TRUE.equals(g.doSample()));
        return new Settings(!sample, t, p, k, r);
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }
}
