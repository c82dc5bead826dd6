package gsat2r.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.io.Json;
import gsat2r.core.tokenizer.Tokenizer;


/** The JSON bodies of the API, in OpenAI's shapes (field order as OpenAI writes them). */
final class Responses {
    static final JsonMapper JSON = Json.COMPACT;

    private final String model;
    private final Tokenizer tokenizer;

    /** Bodies naming {@code model}; {@code tokenizer} for the tokenizer routes. */
    Responses(String model, Tokenizer tokenizer) {
        this.model = model;
        this.tokenizer = tokenizer;
    }

    /** One choice of a whole response: its text, finish reason, and its tokens' log-probabilities (null: none asked for). */
    record Choice(String text, String reason, JsonNode logprobs) {}

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
            choice.set("logprobs", choices[c].logprobs() == null ? JSON.nullNode() : choices[c].logprobs());
            choice.put("finish_reason", choices[c].reason());
        }
        root.set("usage", usage(done));
        return root;
    }

    /**
     * A streamed chunk for choice {@code choice}: new text (may be null) and/or the finish reason (null while it goes
     * on), with the log-probabilities of its tokens (null: none).
     */
    ObjectNode chunk(Job job, int choice, String text, String reason, boolean roleFirst, JsonNode logprobs) {
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
        c.set("logprobs", logprobs == null ? JSON.nullNode() : logprobs);
        c.put("finish_reason", reason);
        if (job.request.includeUsage()) root.putNull("usage");
        return root;
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
        root.put("bos_token", tokenizer.bosToken());
        root.put("eos_token", tokenizer.eosToken());
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
