package gsat2r.cli;

import com.fasterxml.jackson.databind.JsonNode;
import gsat2r.core.T2rException;
import gsat2r.core.generate.GenerationDefaults;
import gsat2r.core.io.Json;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.tokenizer.Tokenizer;
import gsat2r.serve.ChatFormat;
import gsat2r.serve.OpenAiServer;
import gsat2r.serve.SamplingDefaults;
import gsat2r.serve.ServeOptions;
import gsat2r.serve.TranscriptChatFormat;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code t2r serve}: an OpenAI-compatible HTTP server for a student or a teacher ({@code /v1/completions},
 * {@code /v1/chat/completions}, {@code /v1/models}, {@code /health}); see docs/serve.md. Runs until SIGINT or
 * SIGTERM, then shuts down gracefully: new requests get 503, running ones may finish for {@code --shutdown-grace}
 * seconds. One log line per request goes to stderr.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve a model over HTTP with OpenAI's API (completions, chat completions; streaming; continuous batching).")
final class ServeCommand implements Callable<Integer> {

    @ParentCommand
    T2r t2r;

    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "DIR", defaultValue = ModelDirs.DEMO,
            description = "Model directory (student or teacher), or 'demo' (default) for the model inside t2r.")
    String model;

    @picocli.CommandLine.Mixin
    DeviceOptions deviceOptions = new DeviceOptions();

    @Option(names = "--host", paramLabel = "H", defaultValue = "127.0.0.1",
            description = "Address to listen on (default ${DEFAULT-VALUE}; 0.0.0.0 for every interface).")
    String host;

    @Option(names = "--port", paramLabel = "P", defaultValue = "8000", description = "TCP port (default ${DEFAULT-VALUE}; 0: any free port).")
    int port;

    @Option(names = "--model-name", paramLabel = "NAME",
            description = "The model id clients send and /v1/models lists (default: the directory's name, or 'demo').")
    String modelName;

    @Option(names = "--max-batch", paramLabel = "N", defaultValue = "" + ServeOptions.DEFAULT_MAX_BATCH,
            description = "Sequences decoded together at most (default ${DEFAULT-VALUE}); also the largest n of a request.")
    int maxBatch;

    @Option(names = "--max-queue", paramLabel = "N", defaultValue = "" + ServeOptions.DEFAULT_MAX_QUEUE,
            description = "Requests waiting for a slot at most (default ${DEFAULT-VALUE}); more get 429.")
    int maxQueue;

    @Option(names = "--prefix-cache-bytes", paramLabel = "BYTES", defaultValue = "256M",
            description = "Memory for the states of prompt prefixes (default ${DEFAULT-VALUE}; suffix K, M or G; 0: no cache).")
    String prefixCacheBytes;

    @Option(names = "--max-context", paramLabel = "TOKENS",
            description = "Prompt plus new tokens of a request at most (default: config.json's max_position_embeddings).")
    Integer maxContext;

    @Option(names = "--openai-defaults", description = "Requests that leave out temperature, top_p, top_k or repetition_penalty get"
            + " OpenAI's defaults (1, 1, none, none) even when the model's generation_config.json sets its own (default: the model's,"
            + " as vLLM serves them).")
    boolean openAiDefaults;

    @Option(names = "--plain-chat", description = "Give chat requests as a plain System:/User:/Assistant: transcript even when the"
            + " model has a chat template (default: the model's template when it has one).")
    boolean plainChat;

    @Option(names = "--shutdown-grace", paramLabel = "SECONDS", defaultValue = "30",
            description = "On SIGINT/SIGTERM, how long running requests may finish (default ${DEFAULT-VALUE}).")
    int shutdownGrace;

    @Override
    public Integer call() throws Exception {
        Path dir = t2r.modelDir(model);
        ServeOptions options = options(dir);
        PrintWriter err = spec.commandLine().getErr();
        try (Tokenizer tokenizer = Tokenizer.load(dir); LanguageModel lm = t2r.loadModel(dir, deviceOptions)) {
            ChatFormat chat = plainChat ? TranscriptChatFormat.INSTANCE
                    : ChatTemplate.find(dir).<ChatFormat>map(TemplateChatFormat::new).orElse(TranscriptChatFormat.INSTANCE);
            log(err, "model " + dir + " (" + lm.getClass().getSimpleName() + ", vocabulary " + lm.vocabSize() + ") as '"
                    + options.modelName() + "', context " + options.maxContext() + " tokens, chat format: " + chat.describe());
            log(err, "max batch " + options.maxBatch() + ", max queue " + options.maxQueue() + ", prefix cache "
                    + options.prefixCacheBytes() + " bytes; sampling defaults " + options.sampling().describe());
            OpenAiServer server = OpenAiServer.start(lm, tokenizer, chat, options, line -> log(err, line));
            Thread hook = new Thread(() -> {
                log(err, "shutting down: no new requests; running ones may finish for " + shutdownGrace + " s");
                server.shutdown(shutdownGrace * 1000L);
                log(err, "stopped");
            }, "t2r-serve-shutdown");
            Runtime.getRuntime().addShutdownHook(hook);
            log(err, "listening on " + server.uri() + " (Ctrl-C to stop)");
            server.awaitShutdown();
        }
        return 0;
    }

    private ServeOptions options(Path dir) {
        if (maxBatch < 1) throw usage("--max-batch must be >= 1, got " + maxBatch);
        if (maxQueue < 1) throw usage("--max-queue must be >= 1, got " + maxQueue);
        if (port < 0 || port > 65535) throw usage("--port must be in 0..65535, got " + port);
        if (shutdownGrace < 0) throw usage("--shutdown-grace must be >= 0, got " + shutdownGrace);
        if (maxContext != null && maxContext < 1) throw usage("--max-context must be >= 1, got " + maxContext);
        String name = modelName != null ? modelName
                : ModelDirs.DEMO.equals(model) ? ModelDirs.DEMO : dir.toAbsolutePath().normalize().getFileName().toString();
        int context = maxContext != null ? maxContext : configuredContext(dir);
        return new ServeOptions(host, port, name, maxBatch, maxQueue, bytes(prefixCacheBytes), context,
                ServeOptions.DEFAULT_MAX_BODY_BYTES, openAiDefaults ? SamplingDefaults.OPENAI : samplingDefaults(dir));
    }

    /**
     * The model's generation_config.json sampling as the defaults of requests that leave them out, as vLLM serves it:
     * the keys the file sets ({@code do_sample: false} meaning greedy), OpenAI's for the others.
     */
    static SamplingDefaults samplingDefaults(Path dir) {
        GenerationDefaults g = GenerationDefaults.read(dir);
        double penalty = g.repetitionPenalty() != null ? Math.min(10, g.repetitionPenalty()) : 1;
        if (!g.setsSampling() && penalty == 1) return SamplingDefaults.OPENAI;
        double temperature = Boolean.FALSE.equals(g.doSample()) ? 0 : g.temperature() != null ? Math.min(2, g.temperature()) : 1;
        return new SamplingDefaults(temperature, g.topP() != null ? g.topP() : 1, g.topK() != null ? g.topK() : 0, penalty,
                GenerationDefaults.FILE);
    }

    /** {@code max_position_embeddings} of the model's config.json. */
    private static int configuredContext(Path dir) {
        Path config = dir.resolve("config.json");
        JsonNode n = Json.readObject(config, "a model directory holds config.json, *.safetensors, tokenizer.json").path("max_position_embeddings");
        if (!n.canConvertToInt() || n.asInt() < 1) throw new T2rException(config + ": no max_position_embeddings: give --max-context");
        return n.asInt();
    }

    /** Bytes from "268435456", "256M", "1G", "512K". */
    private long bytes(String text) {
        String s = text.strip().toUpperCase(Locale.ROOT);
        long unit = 1;
        if (s.endsWith("K") || s.endsWith("M") || s.endsWith("G")) {
            unit = switch (s.charAt(s.length() - 1)) {
                case 'K' -> 1L << 10;
                case 'M' -> 1L << 20;
                default -> 1L << 30;
            };
            s = s.substring(0, s.length() - 1);
        }
        try {
            long v = Long.parseLong(s);
            if (v < 0) throw usage("--prefix-cache-bytes must be >= 0, got " + text);
            return Math.multiplyExact(v, unit);
        } catch (NumberFormatException | ArithmeticException e) {
            throw usage("--prefix-cache-bytes must be a number of bytes with an optional K, M or G, got '" + text + "'");
        }
    }

    private static void log(PrintWriter err, String line) {
        synchronized (err) {
            err.println("t2r serve: " + Instant.now().truncatedTo(ChronoUnit.MILLIS) + " " + line);
            err.flush();
        }
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }
}
