package gsat2r.serve;

import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.io.Json;
import gsat2r.core.tokenizer.Tokenizer;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** The JSON bodies of the API, in OpenAI's shapes (field order as OpenAI writes them). */
final class Responses {
    static final JsonMapper JSON = Json.COMPACT;

    /** What OpenAI writes for a log-probability too small for a double (JSON has no -Infinity). */
    static final double SMALLEST_LOGPROB = -9999.0;

    private final String model;
    private final Tokenizer tokenizer;

    Responses(String model, Tokenizer tokenizer) {
        this.model = model;
        this.tokenizer = tokenizer;
    }

    /** One choice of a whole response: its text, finish reason, and its tokens' log-probabilities (null: not asked for). */
    record Choice(String text, String reason, List<TokenLogprob> logprobs) {}

    /** {@code {"error": {"message", "type", "param", "code"}}}. */
    static ObjectNode error(ApiError e) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode err = root.putObject("error");
        err.put("message", e.getMessage());
        err.put("type", e.type);
        err.put("param", e.param);
        err.put("code", e.code);
        return root;
    }

    /** A whole (non-streamed) completion or chat completion. */
    ObjectNode whole(Job job, Choice[] choices, Event.Done done) {
        boolean chat = job.request.chat();
        ObjectNode root = head(job, chat ? "chat.completion" : "text_completion");
        ArrayNode array = root.putArray("choices");
        for (int c = 0; c < choices.length; c++) {
            ObjectNode choice = array.addObject().put("index", c);
            if (chat) {
                choice.putObject("message").put("role", "assistant").put("content", choices[c].text());
            } else {
                choice.put("text", choices[c].text());
            }
            choice.set("logprobs", logprobs(chat, choices[c].logprobs(), 0));
            choice.put("finish_reason", choices[c].reason());
        }
        root.set("usage", usage(done));
        return root;
    }

    /**
     * A streamed chunk for choice {@code choice}: new text (may be null) and/or the finish reason (null while it goes
     * on), with the log-probabilities of its tokens (null or empty: none), whose text offsets start at {@code offset}.
     */
    ObjectNode chunk(Job job, int choice, String text, String reason, boolean roleFirst, List<TokenLogprob> logprobs, int offset) {
        boolean chat = job.request.chat();
        ObjectNode root = head(job, chat ? "chat.completion.chunk" : "text_completion");
        ObjectNode c = root.putArray("choices").addObject().put("index", choice);
        if (chat) {
            ObjectNode delta = c.putObject("delta");
            if (roleFirst) delta.put("role", "assistant");
            if (text != null) delta.put("content", text);
        } else {
            c.put("text", text == null ? "" : text);
        }
        c.set("logprobs", logprobs(chat, logprobs == null || logprobs.isEmpty() ? null : logprobs, offset));
        c.put("finish_reason", reason);
        if (job.request.includeUsage()) root.putNull("usage");
        return root;
    }

    /**
     * The {@code logprobs} of a choice or chunk (JSON null for none). Chat: {@code {"content": [{"token", "logprob",
     * "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}], "refusal": null}}. Completions (OpenAI's legacy
     * form): {@code {"tokens", "token_logprobs", "top_logprobs", "text_offset"}}, where each {@code top_logprobs}
     * entry maps the most likely tokens' texts, and the token's own, to their log-probabilities, and a prompt's first
     * token has null for both; {@code text_offset}: where each token's text starts, counted in characters (code
     * points) from {@code offset}.
     */
    com.fasterxml.jackson.databind.JsonNode logprobs(boolean chat, List<TokenLogprob> tokens, int offset) {
        if (tokens == null) return JSON.nullNode();
        ObjectNode root = JSON.createObjectNode();
        if (chat) {
            ArrayNode content = root.putArray("content");
            for (TokenLogprob t : tokens) {
                ObjectNode e = tokenEntry(content.addObject(), t.id(), t.logprob());
                ArrayNode top = e.putArray("top_logprobs");
                for (int i = 0; i < t.topIds().length; i++) tokenEntry(top.addObject(), t.topIds()[i], t.topLogprobs()[i]);
            }
            root.putNull("refusal");
            return root;
        }
        ArrayNode texts = root.putArray("tokens"), lps = root.putArray("token_logprobs"), tops = root.putArray("top_logprobs"),
                offsets = root.putArray("text_offset");
        for (TokenLogprob t : tokens) {
            String text = tokenText(t.id());
            texts.add(text);
            offsets.add(offset);
            offset += text.codePointCount(0, text.length());
            if (!t.hasLogprob()) {
                lps.addNull();
                tops.addNull();
                continue;
            }
            lps.add(finite(t.logprob()));
            ObjectNode top = tops.addObject();
            for (int i = 0; i < t.topIds().length; i++) {
                String k = tokenText(t.topIds()[i]);
                if (!top.has(k)) top.put(k, finite(t.topLogprobs()[i]));
            }
            if (!top.has(text)) top.put(text, finite(t.logprob()));       // the token itself, as OpenAI: up to logprobs + 1 entries
        }
        return root;
    }

    /** How many characters {@link #logprobs}' text offsets advance over these tokens. */
    int textLength(List<TokenLogprob> tokens) {
        int n = 0;
        for (TokenLogprob t : tokens) {
            String text = tokenText(t.id());
            n += text.codePointCount(0, text.length());
        }
        return n;
    }

    private ObjectNode tokenEntry(ObjectNode e, int id, double logprob) {
        e.put("token", tokenText(id)).put("logprob", finite(logprob));
        ArrayNode bytes = e.putArray("bytes");
        for (byte b : tokenizer.tokenBytes(id)) bytes.add(b & 0xFF);
        return e;
    }

    /**
     * A token's text: its bytes as UTF-8 when they are whole characters, else OpenAI's {@code "bytes:\xe4\xb8"} (a
     * token that ends inside a character).
     */
    String tokenText(int id) {
        byte[] bytes = tokenizer.tokenBytes(id);
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            StringBuilder s = new StringBuilder("bytes:");
            for (byte b : bytes) s.append(String.format("\\x%02x", b & 0xFF));
            return s.toString();
        }
    }

    private static double finite(double logprob) {
        return logprob >= SMALLEST_LOGPROB ? logprob : SMALLEST_LOGPROB;
    }

    /** The last chunk of a stream with {@code stream_options.include_usage}: no choices, the token counts. */
    ObjectNode usageChunk(Job job, Event.Done done) {
        ObjectNode root = head(job, job.request.chat() ? "chat.completion.chunk" : "text_completion");
        root.putArray("choices");
        root.set("usage", usage(done));
        return root;
    }

    ObjectNode models(long created, int maxContext) {
        ObjectNode root = JSON.createObjectNode().put("object", "list");
        root.putArray("data").addObject().put("id", model).put("object", "model").put("created", created)
                .put("owned_by", "t2r").put("max_model_len", maxContext);
        return root;
    }

    /** {@code /tokenize}'s answer, as vLLM's: {@code {"count", "max_model_len", "tokens", "token_strs"}}. */
    ObjectNode tokens(int[] ids, int maxContext, boolean withTexts) {
        ObjectNode root = JSON.createObjectNode().put("count", ids.length).put("max_model_len", maxContext);
        ArrayNode tokens = root.putArray("tokens");
        for (int id : ids) tokens.add(id);
        if (!withTexts) {
            root.putNull("token_strs");
        } else {
            ArrayNode texts = root.putArray("token_strs");
            for (int id : ids) texts.add(tokenizer.token(id));
        }
        return root;
    }

    /**
     * {@code GET /tokenizer_info}, as vLLM's: the special tokens' texts, the chat template's source (null without
     * one) and the context, which lm-evaluation-harness reads to tokenize through the server.
     */
    ObjectNode tokenizerInfo(ChatFormat chatFormat, int maxContext) {
        ObjectNode root = JSON.createObjectNode().put("tokenizer_class", "PreTrainedTokenizerFast");
        int[] eos = tokenizer.eosIds();
        root.put("bos_token", tokenizer.bosId().isPresent() ? tokenizer.token(tokenizer.bosId().getAsInt()) : null);
        root.put("eos_token", eos.length > 0 ? tokenizer.token(eos[0]) : null);
        root.putNull("pad_token");
        root.put("chat_template", chatFormat.template());
        root.put("model_max_length", maxContext);
        root.put("vocab_size", tokenizer.vocabSize());
        return root;
    }

    private ObjectNode head(Job job, String object) {
        return JSON.createObjectNode().put("id", job.id).put("object", object)
                .put("created", job.createdEpochSeconds).put("model", model);
    }

    private static ObjectNode usage(Event.Done done) {
        ObjectNode u = JSON.createObjectNode().put("prompt_tokens", done.promptTokens())
                .put("completion_tokens", done.completionTokens())
                .put("total_tokens", done.promptTokens() + done.completionTokens());
        u.putObject("prompt_tokens_details").put("cached_tokens", done.cachedTokens());
        return u;
    }
}
