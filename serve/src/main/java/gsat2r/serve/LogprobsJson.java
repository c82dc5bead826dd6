package gsat2r.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.tokenizer.StreamingDecoder;
import gsat2r.core.tokenizer.Tokenizer;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static gsat2r.serve.Responses.JSON;

/** Token log-probabilities in OpenAI's two shapes, with the token texts they show and where those start in the text. */
final class LogprobsJson {
    /** What OpenAI writes for a log-probability too small for a double (JSON has no -Infinity). */
    static final double SMALLEST_LOGPROB = -9999.0;

    private final Tokenizer tokenizer;
    /** Token texts made so far (a race between threads writes the same immutable string twice at worst). */
    private final String[] texts;

    LogprobsJson(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
        this.texts = new String[tokenizer.vocabSize()];
    }

    /**
     * Chat's {@code {"content": [{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}],
     * "refusal": null}}.
     */
    JsonNode chat(List<TokenLogprob> tokens) {
        ObjectNode root = JSON.createObjectNode();
        ArrayNode content = root.putArray("content");
        for (TokenLogprob t : tokens) {
            ArrayNode top = entry(content.addObject(), t.id(), t.logprob()).putArray("top_logprobs");
            for (TokenLogprob.Alternative a : t.top()) entry(top.addObject(), a.id(), a.logprob());
        }
        root.putNull("refusal");
        return root;
    }

    /**
     * Completions' (OpenAI's legacy form) {@code {"tokens", "token_logprobs", "top_logprobs", "text_offset"}}: each
     * {@code top_logprobs} entry maps the most likely tokens' texts, and the token's own, to their log-probabilities (a
     * text shared by two ids keeps the likelier); a prompt's first token has null for both. {@code offsets[i]}: where
     * token i's text starts ({@link Offsets}).
     */
    JsonNode completion(List<TokenLogprob> tokens, int[] offsets) {
        ObjectNode root = JSON.createObjectNode();
        ArrayNode texts = root.putArray("tokens"), lps = root.putArray("token_logprobs"), tops = root.putArray("top_logprobs"),
                at = root.putArray("text_offset");
        for (int i = 0; i < tokens.size(); i++) {
            TokenLogprob t = tokens.get(i);
            texts.add(text(t.id()));
            at.add(offsets[i]);
            if (!t.hasLogprob()) {
                lps.addNull();
                tops.addNull();
                continue;
            }
            lps.add(finite(t.logprob()));
            ObjectNode top = tops.addObject();
            for (TokenLogprob.Alternative a : t.top()) {
                if (!top.has(text(a.id()))) top.put(text(a.id()), finite(a.logprob()));
            }
            if (!top.has(text(t.id()))) top.put(text(t.id()), finite(t.logprob()));    // as OpenAI: up to logprobs + 1 entries
        }
        return root;
    }

    /**
     * A token's text: its bytes as UTF-8 when they are whole characters, else OpenAI's {@code "bytes:\xe4\xb8"} (a token
     * that ends inside a character).
     */
    String text(int id) {
        if (id < texts.length && texts[id] != null) return texts[id];
        byte[] bytes = tokenizer.tokenBytes(id);
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            StringBuilder s = new StringBuilder("bytes:");
            for (byte b : bytes) s.append(String.format("\\x%02x", b & 0xFF));
            text = s.toString();
        }
        if (id < texts.length) texts[id] = text;
        return text;
    }

    /** Offsets of a choice's tokens, which continue {@code context} (empty when the choice's text holds the prompt). */
    Offsets offsets(int[] context) {
        return new Offsets(new StreamingDecoder(tokenizer, context));
    }

    /**
     * Where each token's text starts in a choice's text, in characters (code points, as Python counts them): the tokens
     * are decoded as the text was ({@link StreamingDecoder}), so a special token the text leaves out takes no room, and
     * the pieces of a character split over tokens all start where the character does.
     */
    final class Offsets {
        private final StreamingDecoder decoded;
        private int length;

        private Offsets(StreamingDecoder decoded) {
            this.decoded = decoded;
        }

        /** The offsets of the next tokens of the choice. */
        int[] next(List<TokenLogprob> tokens) {
            int[] out = new int[tokens.size()];
            for (int i = 0; i < out.length; i++) {
                String increment = decoded.push(tokens.get(i).id());
                String own = text(tokens.get(i).id());
                int after = length + increment.codePointCount(0, increment.length());
                // The increment may hold characters of earlier tokens held back until this one: this token's own text
                // is its end, when it is there at all (not a special token, not the inside of a character).
                out[i] = !own.isEmpty() && increment.endsWith(own) ? after - own.codePointCount(0, own.length()) : length;
                length = after;
            }
            return out;
        }
    }

    private ObjectNode entry(ObjectNode e, int id, double logprob) {
        e.put("token", text(id)).put("logprob", finite(logprob));
        ArrayNode bytes = e.putArray("bytes");
        for (byte b : tokenizer.tokenBytes(id)) bytes.add(b & 0xFF);
        return e;
    }

    private static double finite(double logprob) {
        return logprob >= SMALLEST_LOGPROB ? logprob : SMALLEST_LOGPROB;
    }
}
