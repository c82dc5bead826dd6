package gsat2r.serve;

import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.io.Json;

/** The JSON bodies of the API, in OpenAI's shapes (field order as OpenAI writes them). */
final class Responses {
    static final JsonMapper JSON = Json.COMPACT;

    private final String model;

    Responses(String model) {
        this.model = model;
    }

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
    ObjectNode whole(Job job, String[] texts, String[] reasons, Event.Done done) {
        boolean chat = job.request.chat();
        ObjectNode root = head(job, chat ? "chat.completion" : "text_completion");
        ArrayNode choices = root.putArray("choices");
        for (int c = 0; c < texts.length; c++) {
            ObjectNode choice = choices.addObject().put("index", c);
            if (chat) {
                choice.putObject("message").put("role", "assistant").put("content", texts[c]);
            } else {
                choice.put("text", texts[c]);
            }
            choice.putNull("logprobs");
            choice.put("finish_reason", reasons[c]);
        }
        root.set("usage", usage(done));
        return root;
    }

    /** A streamed chunk for choice {@code choice}: new text (may be null) and/or the finish reason (null while it goes on). */
    ObjectNode chunk(Job job, int choice, String text, String reason, boolean roleFirst) {
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
        c.putNull("logprobs");
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
