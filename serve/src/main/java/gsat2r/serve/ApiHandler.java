package gsat2r.serve;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.tokenizer.Tokenizer;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Blocker;
import org.eclipse.jetty.util.Callback;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;

/**
 * The routes: {@code GET /health}, {@code GET /v1/models}, {@code POST /v1/completions},
 * {@code POST /v1/chat/completions}, and vLLM's {@code POST /tokenize}, {@code POST /detokenize} and
 * {@code GET /tokenizer_info} (through which lm-evaluation-harness tokenizes for the server). Each request runs on its
 * own (virtual) thread, which parses and checks the body, queues a {@link Job} per prompt with the {@link Scheduler}
 * and then writes what the scheduler sends back: the whole response, or server-sent events as they come. Every error
 * is OpenAI's JSON error body. A stream's client that goes away cancels its jobs at the next write (within a second,
 * the keep-alives included), and a whole response's at its job's next event ({@link ClientWatch}), which frees their
 * sequence slots.
 */
final class ApiHandler extends Handler.Abstract {
    private static final ObjectReader READER = Responses.JSON.reader()
            .with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    /** How long a request thread waits for the next event before checking again (the scheduler never loses one). */
    private static final long POLL_MILLIS = 1000;
    /** An SSE comment line: keeps a quiet stream open and shows whether its client is still there. */
    private static final String KEEP_ALIVE = ": keep-alive\n\n";
    /** The status the log gives a request whose client went away (nginx's 499: no response was completed). */
    private static final int CLIENT_GONE = 499;

    private final Scheduler scheduler;
    private final RequestParser parser;
    private final Responses responses;
    private final PrefixCache cache;
    private final ServeOptions options;
    private final Tokenizer tokenizer;
    private final LogprobsJson logprobsJson;
    private final ChatFormat chatFormat;
    private final Consumer<String> log;
    private final long created = System.currentTimeMillis() / 1000;

    ApiHandler(Scheduler scheduler, RequestParser parser, PrefixCache cache, ServeOptions options, Tokenizer tokenizer,
               ChatFormat chatFormat, Consumer<String> log) {
        super(InvocationType.BLOCKING);
        this.scheduler = scheduler;
        this.parser = parser;
        this.responses = new Responses(options.modelName(), tokenizer);
        this.cache = cache;
        this.options = options;
        this.tokenizer = tokenizer;
        this.logprobsJson = new LogprobsJson(tokenizer);
        this.chatFormat = chatFormat;
        this.log = log;
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
        long start = System.nanoTime();
        String route = request.getMethod() + " " + Request.getPathInContext(request);
        Outcome outcome = new Outcome();
        try {
            route(request, response, outcome);
            callback.succeeded();
        } catch (ApiError e) {
            outcome.status = e.status;
            outcome.note = e.getMessage();
            respondError(response, callback, e);
        } catch (Throwable t) {
            if (outcome.status != CLIENT_GONE) {
                outcome.status = response.isCommitted() ? response.getStatus() : 500;
                outcome.note = "failed: " + t;
            }
            // No answer for a client that has gone: an abort closes the connection without writing an error response.
            if (outcome.status == CLIENT_GONE) callback.failed(new Request.Handler.AbortException("the client went away", t));
            else if (response.isCommitted()) callback.failed(t);
            else respondError(response, callback, ApiError.server("internal error: " + t.getMessage()));
        }
        logLine(request, route, outcome, start);
        return true;
    }

    /** What the access log line says about a request. */
    private static final class Outcome {
        int status = 200;
        String note = "";
    }

    private void route(Request request, Response response, Outcome outcome) throws Exception {
        String path = Request.getPathInContext(request), method = request.getMethod();
        switch (path) {
            case "/health" -> {
                requireMethod(method, "GET");
                health(response, outcome);
            }
            case "/v1/models" -> {
                requireMethod(method, "GET");
                writeJson(response, 200, responses.models(created, options.maxContext()));
            }
            case "/v1/completions", "/v1/chat/completions" -> {
                requireMethod(method, "POST");
                generate(request, response, path.endsWith("/chat/completions"), outcome);
            }
            case "/tokenize" -> {
                requireMethod(method, "POST");
                RequestParser.Tokenize t = parser.tokenize(readJson(request));
                writeJson(response, 200, responses.tokens(t.ids(), options.maxContext(), t.withTokenStrings()));
            }
            case "/detokenize" -> {
                requireMethod(method, "POST");
                int[] ids = parser.detokenize(readJson(request));
                writeJson(response, 200, Responses.JSON.createObjectNode().put("prompt", tokenizer.decode(ids, false)));
            }
            case "/tokenizer_info" -> {
                requireMethod(method, "GET");
                writeJson(response, 200, responses.tokenizerInfo(chatFormat, options.maxContext()));
            }
            default -> {
                if (path.startsWith("/v1/models/")) {              // the OpenAI clients' models.retrieve(id)
                    requireMethod(method, "GET");
                    String id = path.substring("/v1/models/".length());
                    if (!id.equals(options.modelName())) {
                        throw ApiError.notFound("model_not_found", "the model '" + id + "' is not served here; this server serves '"
                                + options.modelName() + "'");
                    }
                    writeJson(response, 200, responses.models(created, options.maxContext()).get("data").get(0));
                    return;
                }
                throw new ApiError(404, "invalid_request_error", null, "not_found",
                        "no route " + method + " " + path + " (routes: /v1/completions, /v1/chat/completions, /v1/models, /health, "
                                + "/tokenize, /detokenize, /tokenizer_info)");
            }
        }
    }

    private void health(Response response, Outcome outcome) throws IOException {
        PrefixCache.Stats c = cache.stats();
        boolean up = scheduler.accepting();
        ObjectNode root = Responses.JSON.createObjectNode().put("status", up ? "ok" : "shutting_down")
                .put("model", options.modelName()).put("running_sequences", scheduler.activeSequences())
                .put("waiting_requests", scheduler.waitingCount()).put("max_batch", options.maxBatch());
        root.putObject("prefix_cache").put("entries", c.entries()).put("bytes", c.bytes()).put("max_bytes", c.maxBytes())
                .put("hits", c.hits()).put("misses", c.misses()).put("tokens_reused", c.tokensReused());
        outcome.status = up ? 200 : 503;
        writeJson(response, outcome.status, root);
    }

    private void generate(Request request, Response response, boolean chat, Outcome outcome) throws Exception {
        JsonNode body = readJson(request);
        List<GenerationRequest> prompts = chat ? List.of(parser.chat(body)) : parser.completion(body);
        String id = (chat ? "chatcmpl-" : "cmpl-") + HexFormat.of().formatHex(randomBytes());
        List<Job> jobs = scheduler.submit(id, prompts);
        request.addIdleTimeoutListener(timeout -> false);     // a long generation is not an idle connection
        request.addFailureListener(failure -> jobs.forEach(scheduler::cancel));
        List<ChoiceState> choices = new ArrayList<>();
        for (Job job : jobs) {
            for (int c = 0; c < job.request.n(); c++) choices.add(new ChoiceState(job));
        }
        try {
            if (prompts.getFirst().stream()) stream(jobs, choices, response, outcome);
            else whole(request, jobs, choices, response, outcome);
        } finally {
            jobs.forEach(scheduler::cancel);     // no-op for a finished job; frees the slots of an abandoned one
        }
    }

    /** What the HTTP side keeps of one choice: its text, finish reason and log-probabilities so far. */
    private final class ChoiceState {
        final GenerationRequest request;
        final StringBuilder text;
        String reason;
        /** All the choice's log-probabilities (a whole response), null when the request asks for none. */
        final List<TokenLogprob> logprobs;
        /** Where its tokens' texts start (completions with log-probabilities). */
        final LogprobsJson.Offsets offsets;

        ChoiceState(Job job) {
            request = job.request;
            text = new StringBuilder(request.echoText() == null ? "" : request.echoText());
            logprobs = request.logprobs() >= 0 ? new ArrayList<>() : null;
            // The offsets count from the start of the choice's text: the prompt's when it is echoed, else the new text's.
            offsets = logprobs == null || request.chat() ? null
                    : logprobsJson.offsets(request.promptLogprobs() ? new int[0] : request.promptIds());
        }

        /** These tokens' log-probabilities in the request's shape (the next of the choice), or null when it asks for none. */
        JsonNode render(List<TokenLogprob> tokens) {
            if (logprobs == null) return null;
            return request.chat() ? logprobsJson.chat(tokens) : logprobsJson.completion(tokens, offsets.next(tokens));
        }

        /** What a chunk carries: {@link #render}, or null for a chunk without tokens. */
        JsonNode renderChunk(List<TokenLogprob> tokens) {
            return tokens.isEmpty() ? null : render(tokens);
        }
    }

    /**
     * The whole response: every prompt's choices, in order (the scheduler runs the prompts side by side). A client that
     * leaves meanwhile ends the request at its next event, or within a second while none comes.
     */
    private void whole(Request request, List<Job> jobs, List<ChoiceState> choices, Response response, Outcome outcome) throws Exception {
        Event.Done usage = Event.Done.NONE;
        ClientWatch watch = ClientWatch.start(request);
        try {
            for (Job job : jobs) usage = usage.plus(gather(job, choices, watch));
        } catch (ClientGoneException e) {
            outcome.status = CLIENT_GONE;
            outcome.note = jobs.getFirst().id + " client went away";
            throw e;
        } finally {
            watch.stop();
        }
        Responses.Choice[] out = new Responses.Choice[choices.size()];
        for (int c = 0; c < out.length; c++) {
            ChoiceState s = choices.get(c);
            out[c] = new Responses.Choice(s.text.toString(), s.reason, s.logprobs == null ? null : s.render(s.logprobs));
        }
        outcome.note = summary(jobs.getFirst(), usage, choices);
        writeJson(response, 200, responses.whole(jobs.getFirst(), out, usage));
    }

    /** Gathers one job's events into its choices; its usage. */
    private static Event.Done gather(Job job, List<ChoiceState> choices, ClientWatch watch)
            throws InterruptedException, ClientGoneException {
        while (true) {
            switch (nextEvent(job, watch)) {
                case Event.Prompt p -> {
                    for (int c = 0; c < job.request.n(); c++) choices.get(job.firstChoice + c).logprobs.addAll(p.logprobs());
                }
                case Event.Text t -> {
                    ChoiceState s = choices.get(job.firstChoice + t.choice());
                    s.text.append(t.text());
                    if (s.logprobs != null) s.logprobs.addAll(t.logprobs());
                }
                case Event.Finish f -> {
                    ChoiceState s = choices.get(job.firstChoice + f.choice());
                    s.reason = f.reason();
                    if (s.logprobs != null) s.logprobs.addAll(f.logprobs());
                }
                case Event.Failed f -> throw f.error();
                case Event.Done d -> {
                    return d;
                }
            }
        }
    }

    /**
     * Server-sent events: each prompt's chunks in turn (a later prompt's are held until the earlier ones end, while
     * the scheduler runs them side by side), then the usage and {@code [DONE]}.
     */
    private void stream(List<Job> jobs, List<ChoiceState> choices, Response response, Outcome outcome) throws Exception {
        response.setStatus(200);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream; charset=utf-8");
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
        Job first = jobs.getFirst();
        try {
            // The headers go out at once, so that a client sees the stream open while the request waits for a slot.
            write(response, false, KEEP_ALIVE);
            for (Job job : jobs) {
                for (int c = job.firstChoice; c < job.firstChoice + job.request.n(); c++) {
                    if (job.request.chat()) send(response, responses.chunk(job, c, "", null, true, null));
                    else if (job.request.echoText() != null && !job.request.promptLogprobs()) sendPiece(job, c, job.request.echoText(), null, List.of(), choices, response);
                }
            }
            Event.Done usage = Event.Done.NONE;
            for (Job job : jobs) {
                Event.Done d = streamJob(job, choices, response, outcome);
                if (d == null) return;
                usage = usage.plus(d);
            }
            if (first.request.includeUsage()) send(response, responses.usageChunk(first, usage));
            write(response, true, "data: [DONE]\n\n");
            outcome.note = summary(first, usage, choices);
        } catch (IOException e) {
            outcome.status = CLIENT_GONE;
            outcome.note = first.id + " client went away: " + e.getMessage();
            throw e;
        }
    }

    /** Sends one job's events as chunks until it is done (its usage), or fails (null: the stream is over). */
    private Event.Done streamJob(Job job, List<ChoiceState> choices, Response response, Outcome outcome) throws Exception {
        int base = job.firstChoice;
        while (true) {
            switch (nextStreamEvent(job, response)) {
                case Event.Prompt p -> {
                    for (int c = base; c < base + job.request.n(); c++) sendPiece(job, c, job.request.echoText(), null, p.logprobs(), choices, response);
                }
                case Event.Text t -> sendPiece(job, base + t.choice(), t.text(), null, t.logprobs(), choices, response);
                case Event.Finish f -> {
                    choices.get(base + f.choice()).reason = f.reason();
                    sendPiece(job, base + f.choice(), null, f.reason(), f.logprobs(), choices, response);
                }
                case Event.Failed f -> {
                    outcome.status = f.error().status;
                    outcome.note = "failed in the stream: " + f.error().getMessage();
                    send(response, Responses.error(f.error()));
                    write(response, true, "data: [DONE]\n\n");
                    return null;
                }
                case Event.Done d -> {
                    return d;
                }
            }
        }
    }

    private void sendPiece(Job job, int c, String text, String reason, List<TokenLogprob> logprobs, List<ChoiceState> choices,
                           Response response) throws IOException {
        send(response, responses.chunk(job, c, text, reason, false, choices.get(c).renderChunk(logprobs)));
    }

    /**
     * The next event of a stream; while none comes (the request queued, or a long prefill), an SSE comment every
     * {@link #POLL_MILLIS}, which clients ignore and which finds a client that went away (the write fails).
     */
    private static Event nextStreamEvent(Job job, Response response) throws InterruptedException, IOException {
        while (true) {
            Event e = job.next(POLL_MILLIS);
            if (e != null) return e;
            write(response, false, KEEP_ALIVE);
        }
    }

    /** The next event of a whole response's job, unless its client has gone. */
    private static Event nextEvent(Job job, ClientWatch watch) throws InterruptedException, ClientGoneException {
        while (true) {
            if (watch.gone()) throw new ClientGoneException();
            Event e = job.next(POLL_MILLIS);
            if (e != null) return e;
        }
    }

    /** A whole response's client closed the connection: nothing can be answered. */
    private static final class ClientGoneException extends IOException {
        ClientGoneException() {
            super("the client closed the connection", null);
        }
    }

    private static String summary(Job job, Event.Done d, List<ChoiceState> choices) {
        long ttft = job.firstTokenNanos == 0 ? 0 : (job.firstTokenNanos - job.createdNanos) / 1_000_000;
        return job.id + " prompt " + d.promptTokens() + " (cached " + d.cachedTokens() + ") completion "
                + d.completionTokens() + " finish " + String.join(",", choices.stream().map(c -> c.reason).toList())
                + " first token " + ttft + " ms";
    }

    // ------------------------------------------------------------------ I/O

    private JsonNode readJson(Request request) throws IOException {
        long declared = request.getLength();
        if (declared > options.maxBodyBytes()) throw tooLarge();
        byte[] bytes;
        try (InputStream in = Content.Source.asInputStream(request)) {
            bytes = in.readNBytes(options.maxBodyBytes() + 1);
        } catch (IOException e) {
            // The client's fault, not the server's: it closed the connection mid-body, or stalled past the idle timeout.
            boolean stalled = e.getCause() instanceof java.util.concurrent.TimeoutException
                    || String.valueOf(e.getMessage()).contains("timeout");
            throw new ApiError(stalled ? 408 : 400, "invalid_request_error", null, stalled ? "request_timeout" : "incomplete_body",
                    stalled ? "the request body did not arrive in time" : "the request body ended early (the client closed the connection?)");
        }
        if (bytes.length > options.maxBodyBytes()) throw tooLarge();
        if (bytes.length == 0) throw ApiError.invalid(null, "the request body is empty: a JSON object is expected");
        try {
            return READER.readTree(bytes);
        } catch (JacksonException e) {
            throw ApiError.invalid(null, "invalid JSON" + gsat2r.core.io.Json.problem(e));
        }
    }

    private ApiError tooLarge() {
        return new ApiError(413, "invalid_request_error", null, "request_too_large",
                "the request body is larger than " + options.maxBodyBytes() + " bytes");
    }

    private static void requireMethod(String method, String expected) {
        if (!expected.equals(method)) {
            throw ApiError.methodNotAllowed(method, expected);
        }
    }

    private static void respondError(Response response, Callback callback, ApiError e) {
        if (response.isCommitted()) {
            callback.failed(e);
            return;
        }
        try {
            response.reset();
            if (e.status == 429) response.getHeaders().put(HttpHeader.RETRY_AFTER, "1");
            if (e.allow != null) response.getHeaders().put(HttpHeader.ALLOW, e.allow);
            writeJson(response, e.status, Responses.error(e));
            callback.succeeded();
        } catch (Throwable t) {
            callback.failed(t);
        }
    }

    private static void writeJson(Response response, int status, JsonNode body) throws IOException {
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        write(response, true, Responses.JSON.writeValueAsString(body) + "\n");
    }

    private static void send(Response response, JsonNode event) throws IOException {
        write(response, false, "data: " + Responses.JSON.writeValueAsString(event) + "\n\n");
    }

    private static void write(Response response, boolean last, String text) throws IOException {
        try (Blocker.Callback done = Blocker.callback()) {
            response.write(last, ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)), done);
            done.block();
        }
    }

    private void logLine(Request request, String route, Outcome outcome, long start) {
        long ms = (System.nanoTime() - start) / 1_000_000;
        log.accept(Request.getRemoteAddr(request) + " " + route + " " + outcome.status + " " + ms + " ms"
                + (outcome.note.isEmpty() ? "" : " " + outcome.note));
    }

    private static byte[] randomBytes() {
        byte[] b = new byte[12];
        ThreadLocalRandom.current().nextBytes(b);
        return b;
    }
}
