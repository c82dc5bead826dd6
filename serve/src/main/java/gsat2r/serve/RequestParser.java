package gsat2r.serve;

import com.fasterxml.jackson.databind.JsonNode;
import gsat2r.core.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns the JSON body of {@code /v1/completions} or {@code /v1/chat/completions} into a {@link GenerationRequest},
 * checking every field OpenAI defines that the server reads: a wrong type or value is a 400 naming the field,
 * unknown fields are ignored (as OpenAI does), and features the server does not have (tools, a suffix, best_of) are
 * refused by name rather than silently dropped.
 */
final class RequestParser {
    /** Default max_tokens of a chat completion (OpenAI's is "up to the context"; see docs/serve.md). */
    static final int CHAT_DEFAULT_MAX_TOKENS = 256;
    /** Default max_tokens of a text completion, as OpenAI's. */
    static final int COMPLETION_DEFAULT_MAX_TOKENS = 16;
    static final int MAX_STOPS = 16;
    /** The most alternatives {@code logprobs} / {@code top_logprobs} may ask for (OpenAI's chat limit, vLLM's default). */
    static final int MAX_LOGPROBS = 20;

    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant");

    private final Tokenizer tokenizer;
    private final int vocab, maxContext, maxChoices, maxPrompts;
    private final String modelName;
    private final ChatFormat chatFormat;
    private final SamplingDefaults defaults;

    RequestParser(Tokenizer tokenizer, int vocab, int maxContext, int maxChoices, int maxPrompts, String modelName,
                  ChatFormat chatFormat, SamplingDefaults defaults) {
        this.defaults = defaults;
        this.maxPrompts = maxPrompts;
        this.tokenizer = tokenizer;
        this.vocab = vocab;
        this.maxContext = maxContext;
        this.maxChoices = maxChoices;
        this.modelName = modelName;
        this.chatFormat = chatFormat;
    }

    /** A text completion: one request per prompt (OpenAI's {@code prompt} may hold several), in order. */
    List<GenerationRequest> completion(JsonNode body) {
        requireObject(body);
        checkModel(body);
        refuseUnless(body, "suffix", n -> n.isTextual() && n.asText().isEmpty(), "suffix is not supported");
        // vLLM reads true as 1 (an int field given a boolean); OpenAI's field is an integer.
        int logprobs = body.path("logprobs").isBoolean() ? (body.get("logprobs").asBoolean() ? 1 : -1)
                : integer(body, "logprobs", 0, MAX_LOGPROBS, -1);
        int n = integer(body, "n", 1, maxChoices, 1);
        refuseUnless(body, "best_of", b -> b.isIntegralNumber() && b.asInt() == n, "best_of other than n is not supported");
        boolean echo = bool(body, "echo", false);
        List<PromptInput> prompts = prompts(body.path("prompt"));
        if (prompts.size() > maxPrompts) {
            throw ApiError.invalid("prompt", "a request holds at most " + maxPrompts + " prompts (--max-queue), this one " + prompts.size());
        }
        List<GenerationRequest> out = new ArrayList<>();
        for (PromptInput p : prompts) {
            String echoText = !echo ? null : p.text() != null ? p.text() : tokenizer.decode(p.ids());
            out.add(build(body, false, p.ids(), echoText, "max_tokens", COMPLETION_DEFAULT_MAX_TOKENS, List.of(), n,
                    logprobs, echo && logprobs >= 0));
        }
        return out;
    }

    GenerationRequest chat(JsonNode body) {
        requireObject(body);
        checkModel(body);
        boolean logprobs = bool(body, "logprobs", false);
        int top = integer(body, "top_logprobs", 0, MAX_LOGPROBS, 0);
        if (present(body, "top_logprobs") && !logprobs) {
            throw ApiError.invalid("top_logprobs", "top_logprobs needs \"logprobs\": true");
        }
        refuseUnless(body, "tools", t -> t.isArray() && t.isEmpty(), "tools are not supported by this server");
        refuseUnless(body, "functions", t -> t.isArray() && t.isEmpty(), "functions are not supported by this server");
        refuseUnless(body, "response_format", f -> "text".equals(f.path("type").asText()), "only response_format {\"type\": \"text\"} is supported");
        int n = integer(body, "n", 1, maxChoices, 1);
        ChatFormat.Prompt prompt = render(body);
        int[] ids = idsOf(prompt);
        if (ids.length == 0) throw ApiError.invalid("messages", "the conversation encodes to no tokens");
        String budget = present(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        return build(body, true, ids, null, budget, CHAT_DEFAULT_MAX_TOKENS, prompt.stops(), n, logprobs ? top : -1, false);
    }

    /** The conversation of {@code messages} as the chat format renders it; a conversation it refuses is a 400. */
    private ChatFormat.Prompt render(JsonNode body) {
        try {
            return chatFormat.render(messages(body.path("messages")));
        } catch (IllegalArgumentException e) {
            throw ApiError.invalid("messages", e.getMessage());
        }
    }

    /** The ids a rendered conversation is fed as. */
    private int[] idsOf(ChatFormat.Prompt prompt) {
        return prompt.addSpecialTokens() ? tokenizer.encode(prompt.text()) : tokenizer.encodePlain(prompt.text());
    }

    /** What {@code POST /tokenize} asks: the ids, and whether the answer lists the token strings too. */
    record Tokenize(int[] ids, boolean withTokenStrings) {}

    /**
     * {@code POST /tokenize} (vLLM's): the ids of {@code prompt}, with the tokenizer's special tokens unless
     * {@code add_special_tokens} is false, or of {@code messages} exactly as a chat request with them is fed (ready for
     * the assistant's reply; vLLM's {@code add_generation_prompt} and {@code continue_final_message} are not read).
     */
    Tokenize tokenize(JsonNode body) {
        requireObject(body);
        checkModel(body);
        boolean strings = bool(body, "return_token_strs", false);
        if (present(body, "messages")) return new Tokenize(idsOf(render(body)), strings);
        JsonNode prompt = body.path("prompt");
        if (!prompt.isTextual()) throw ApiError.invalid("prompt", "prompt (a string) or messages is required");
        boolean special = bool(body, "add_special_tokens", true);
        return new Tokenize(special ? tokenizer.encode(prompt.asText()) : tokenizer.encodePlain(prompt.asText()), strings);
    }

    /** {@code POST /detokenize} (vLLM's): the checked ids of {@code tokens}. */
    int[] detokenize(JsonNode body) {
        requireObject(body);
        checkModel(body);
        JsonNode tokens = body.path("tokens");
        if (!tokens.isArray()) throw ApiError.invalid("tokens", "tokens (an array of token ids) is required");
        return ids("tokens", "tokens", tokens);
    }

    private GenerationRequest build(JsonNode body, boolean chat, int[] ids, String echoText, String budgetField,
                                    int defaultBudget, List<String> formatStops, int n, int logprobs, boolean promptLogprobs) {
        if (ids.length > maxContext) {
            throw ApiError.invalid(chat ? "messages" : "prompt", "context_length_exceeded", "the prompt has " + ids.length
                    + " tokens, more than the server's context of " + maxContext + " tokens (--max-context)");
        }
        int room = maxContext - ids.length;
        int maxTokens;
        if (present(body, budgetField)) {
            maxTokens = integer(body, budgetField, 0, Integer.MAX_VALUE, 0);
            if (maxTokens > room) {
                throw ApiError.invalid(budgetField, "context_length_exceeded", "the context is " + maxContext
                        + " tokens: the prompt has " + ids.length + " and " + budgetField + " asks for " + maxTokens
                        + " more; at most " + room + " fit");
            }
        } else {
            maxTokens = Math.min(defaultBudget, room);
        }
        double temperature = number(body, "temperature", 0, 2, defaults.temperature());
        double topP = number(body, "top_p", 0, 1, defaults.topP());
        Long seed = present(body, "seed") ? longInteger(body, "seed") : null;
        double presence = number(body, "presence_penalty", -2, 2, 0);
        double frequency = number(body, "frequency_penalty", -2, 2, 0);
        int topK = Math.max(0, integer(body, "top_k", -1, Integer.MAX_VALUE, defaults.topK()));    // vLLM's: -1 (or 0) keeps every token
        double repetition = number(body, "repetition_penalty", 0, 10, defaults.repetitionPenalty());
        if (repetition == 0) throw ApiError.invalid("repetition_penalty", "repetition_penalty must be > 0 (1 is none), got 0");
        Sampling sampling = new Sampling(temperature, topP, topK, seed, presence, frequency, logitBias(body), repetition);
        List<String> stops = new ArrayList<>(stops(body));
        stops.addAll(formatStops);
        boolean stream = bool(body, "stream", false);
        boolean usage = false;
        if (present(body, "stream_options")) {
            JsonNode options = body.get("stream_options");
            if (!options.isObject()) throw ApiError.invalid("stream_options", "stream_options must be an object");
            if (!stream) throw ApiError.invalid("stream_options", "stream_options is only allowed with \"stream\": true");
            JsonNode include = options.path("include_usage");
            if (!include.isMissingNode() && !include.isNull() && !include.isBoolean()) {
                throw ApiError.invalid("stream_options.include_usage", "stream_options.include_usage must be true or false, got " + include);
            }
            usage = include.asBoolean(false);
        }
        return new GenerationRequest(chat, ids, echoText, maxTokens, n, sampling, stops, stream, usage, logprobs, promptLogprobs);
    }

    // ------------------------------------------------------------------ fields

    private void checkModel(JsonNode body) {
        if (!present(body, "model")) return;
        JsonNode m = body.get("model");
        if (!m.isTextual()) throw ApiError.invalid("model", "model must be a string");
        if (!m.asText().equals(modelName)) {
            throw ApiError.notFound("model_not_found", "the model '" + m.asText() + "' does not exist: this server serves '"
                    + modelName + "'");
        }
    }

    /** One prompt: its ids, and its text when it was given as text (null for ids). */
    private record PromptInput(int[] ids, String text) {}

    /**
     * OpenAI's four forms of {@code prompt}: a string, an array of token ids, an array of strings, an array of arrays
     * of token ids (the last two: several prompts).
     */
    private List<PromptInput> prompts(JsonNode prompt) {
        if (prompt.isMissingNode() || prompt.isNull()) throw ApiError.invalid("prompt", "prompt is required");
        if (prompt.isTextual()) return List.of(prompt("prompt", prompt));
        if (!prompt.isArray()) throw ApiError.invalid("prompt", "prompt must be a string, an array of token ids, or an array of those");
        if (prompt.isEmpty() || !(prompt.get(0).isTextual() || prompt.get(0).isArray())) return List.of(prompt("prompt", prompt));
        List<PromptInput> out = new ArrayList<>(prompt.size());
        for (int i = 0; i < prompt.size(); i++) {
            JsonNode p = prompt.get(i);
            if (!p.isTextual() && !p.isArray()) {
                throw ApiError.invalid("prompt", "prompt[" + i + "] must be a string or an array of token ids, got " + p);
            }
            out.add(prompt(prompt.size() == 1 ? "prompt" : "prompt[" + i + "]", p));
        }
        return out;
    }

    private PromptInput prompt(String where, JsonNode p) {
        PromptInput in = p.isTextual() ? new PromptInput(tokenizer.encode(p.asText()), p.asText()) : new PromptInput(ids("prompt", where, p), null);
        if (in.ids().length == 0) throw ApiError.invalid("prompt", where + " is empty: there is no token to start from");
        return in;
    }

    private int[] ids(String field, String where, JsonNode array) {
        int[] ids = new int[array.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode t = array.get(i);
            if (!t.isIntegralNumber() || !t.canConvertToInt()) {
                throw ApiError.invalid(field, where + " token " + i + " is not an integer: " + t);
            }
            ids[i] = t.asInt();
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw ApiError.invalid(field, where + " token id " + ids[i] + " is outside the vocabulary (0.." + (vocab - 1) + ")");
            }
        }
        return ids;
    }

    private List<ChatMessage> messages(JsonNode messages) {
        if (messages.isMissingNode() || messages.isNull()) throw ApiError.invalid("messages", "messages is required");
        if (!messages.isArray() || messages.isEmpty()) throw ApiError.invalid("messages", "messages must be a non-empty array");
        List<ChatMessage> out = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            JsonNode m = messages.get(i);
            String where = "messages[" + i + "]";
            if (!m.isObject()) throw ApiError.invalid(where, where + " must be an object");
            JsonNode role = m.path("role");
            if (!role.isTextual()) throw ApiError.invalid(where + ".role", where + ".role must be a string");
            if (!ROLES.contains(role.asText())) {
                throw ApiError.invalid(where + ".role", where + ".role '" + role.asText()
                        + "' is not supported (system, developer, user or assistant)");
            }
            out.add(new ChatMessage(role.asText(), content(m.path("content"), where + ".content")));
        }
        return out;
    }

    /** A message's text: a string, or an array of {@code {"type": "text", "text": ...}} parts joined. */
    private static String content(JsonNode c, String where) {
        if (c.isTextual()) return c.asText();
        if (!c.isArray()) throw ApiError.invalid(where, where + " must be a string or an array of text parts");
        StringBuilder text = new StringBuilder();
        for (JsonNode part : c) {
            if (!"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
                throw ApiError.invalid(where, where + ": only text parts ({\"type\": \"text\", \"text\": ...}) are supported");
            }
            text.append(part.get("text").asText());
        }
        return text.toString();
    }

    private static List<String> stops(JsonNode body) {
        if (!present(body, "stop")) return List.of();
        JsonNode stop = body.get("stop");
        List<String> out = new ArrayList<>();
        if (stop.isTextual()) {
            out.add(stop.asText());
        } else if (stop.isArray()) {
            for (JsonNode s : stop) {
                if (!s.isTextual()) throw ApiError.invalid("stop", "stop must be a string or an array of strings");
                out.add(s.asText());
            }
        } else {
            throw ApiError.invalid("stop", "stop must be a string or an array of strings");
        }
        if (out.size() > MAX_STOPS) throw ApiError.invalid("stop", "at most " + MAX_STOPS + " stop strings");
        if (out.stream().anyMatch(String::isEmpty)) throw ApiError.invalid("stop", "a stop string is empty");
        return out;
    }

    private Map<Integer, Float> logitBias(JsonNode body) {
        if (!present(body, "logit_bias")) return Map.of();
        JsonNode bias = body.get("logit_bias");
        if (!bias.isObject()) throw ApiError.invalid("logit_bias", "logit_bias must be an object of token id to bias");
        Map<Integer, Float> out = new HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = bias.properties().iterator(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            int id;
            try {
                id = Integer.parseInt(e.getKey());
            } catch (NumberFormatException x) {
                throw ApiError.invalid("logit_bias", "logit_bias key '" + e.getKey() + "' is not a token id");
            }
            if (id < 0 || id >= vocab) throw ApiError.invalid("logit_bias", "logit_bias token id " + id + " is outside the vocabulary");
            JsonNode v = e.getValue();
            if (!v.isNumber() || v.asDouble() < -100 || v.asDouble() > 100) {
                throw ApiError.invalid("logit_bias", "logit_bias values must be numbers in [-100, 100], got " + v);
            }
            out.put(id, (float) v.asDouble());
        }
        return out;
    }

    // ------------------------------------------------------------------ typed getters (null = absent)

    private static boolean present(JsonNode body, String field) {
        JsonNode v = body.get(field);
        return v != null && !v.isNull();
    }

    private static int integer(JsonNode body, String field, int min, int max, int fallback) {
        if (!present(body, field)) return fallback;
        JsonNode v = body.get(field);
        if (!v.isIntegralNumber() || !v.canConvertToLong()) throw ApiError.invalid(field, field + " must be an integer, got " + v);
        long x = v.asLong();
        if (x < min || x > max) {
            throw ApiError.invalid(field, field + " must be " + (max == Integer.MAX_VALUE ? ">= " + min : "in [" + min + ", " + max + "]")
                    + ", got " + x);
        }
        return (int) x;
    }

    private static long longInteger(JsonNode body, String field) {
        JsonNode v = body.get(field);
        if (!v.isIntegralNumber() || !v.canConvertToLong()) throw ApiError.invalid(field, field + " must be an integer, got " + v);
        return v.asLong();
    }

    private static double number(JsonNode body, String field, double min, double max, double fallback) {
        if (!present(body, field)) return fallback;
        JsonNode v = body.get(field);
        if (!v.isNumber()) throw ApiError.invalid(field, field + " must be a number, got " + v);
        double x = v.asDouble();
        if (!(x >= min && x <= max)) throw ApiError.invalid(field, field + " must be in [" + fmt(min) + ", " + fmt(max) + "], got " + v);
        return x;
    }

    private static boolean bool(JsonNode body, String field, boolean fallback) {
        if (!present(body, field)) return fallback;
        JsonNode v = body.get(field);
        if (!v.isBoolean()) throw ApiError.invalid(field, field + " must be true or false, got " + v);
        return v.asBoolean();
    }

    private static void requireObject(JsonNode body) {
        if (body == null || !body.isObject()) throw ApiError.invalid(null, "the request body must be a JSON object");
    }

    /** Throws unless the field is absent, null, or accepted by {@code allowed}. */
    private static void refuseUnless(JsonNode body, String field, java.util.function.Predicate<JsonNode> allowed, String message) {
        if (present(body, field) && !allowed.test(body.get(field))) throw ApiError.invalid(field, message);
    }

    private static String fmt(double x) {
        return x == Math.rint(x) ? String.valueOf((long) x) : String.valueOf(x);
    }
}
