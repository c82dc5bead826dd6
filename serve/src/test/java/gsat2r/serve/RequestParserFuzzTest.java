package gsat2r.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.tokenizer.Tokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fuzz: valid request bodies with up to three of the fields the parser reads given a value of a random type and size
 * give a request or an {@link ApiError} (400, or 404 for another model) with a one-line message; never another
 * exception.
 */
class RequestParserFuzzTest {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static final List<String> FIELDS = List.of("model", "prompt", "messages", "max_tokens", "max_completion_tokens",
            "temperature", "top_p", "top_k", "n", "seed", "stop", "echo", "logprobs", "top_logprobs", "logit_bias",
            "presence_penalty", "frequency_penalty", "repetition_penalty", "stream", "stream_options", "suffix", "best_of",
            "tools", "functions", "response_format", "add_special_tokens", "return_token_strs", "tokens", "user");

    private static Tokenizer tokenizer;
    private static RequestParser parser;

    @BeforeAll
    static void load() {
        tokenizer = Tokenizer.load(DemoStudent.TEACHER);
        parser = new RequestParser(tokenizer, tokenizer.vocabSize(), 64, 4, 3, "m", TranscriptChatFormat.INSTANCE, SamplingDefaults.OPENAI);
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    private static JsonNode value(SplittableRandom r, int depth) {
        return switch (r.nextInt(depth > 1 ? 9 : 12)) {
            case 0 -> F.nullNode();
            case 1 -> F.booleanNode(r.nextBoolean());
            case 2 -> F.numberNode(List.of(-3, -1, 0, 1, 2, 3, 20, 21, 63, 64, 4095, 4096, 1 << 20).get(r.nextInt(13)));
            case 3 -> F.numberNode(List.of(-100.5, -2.0, 0.0, 0.5, 1.0, 1.5, 2.0, 10.0, 1e300).get(r.nextInt(9)));
            case 4 -> F.numberNode(Long.MAX_VALUE - r.nextInt(3));
            case 5 -> F.textNode(List.of("", "m", "x", "In the beginning", "\u0000", "text", "\uD83D\uDE00", "-1", "user").get(r.nextInt(9)));
            case 6, 7, 8 -> F.textNode("And God said");
            case 9 -> {
                ArrayNode a = F.arrayNode();
                for (int i = r.nextInt(5); i > 0; i--) a.add(value(r, depth + 1));
                yield a;
            }
            case 10 -> {
                ObjectNode o = F.objectNode();
                for (int i = r.nextInt(4); i > 0; i--) {
                    o.set(List.of("role", "content", "type", "text", "include_usage", "1", "99999", "x").get(r.nextInt(8)), value(r, depth + 1));
                }
                yield o;
            }
            default -> messages(r, depth);
        };
    }

    /** A messages array, mostly of the right shape. */
    private static ArrayNode messages(SplittableRandom r, int depth) {
        ArrayNode a = F.arrayNode();
        for (int i = r.nextInt(4); i > 0; i--) {
            ObjectNode m = a.addObject();
            if (r.nextInt(5) > 0) m.put("role", List.of("system", "user", "assistant", "developer", "tool").get(r.nextInt(5)));
            m.set("content", r.nextInt(3) > 0 ? F.textNode("Who made the light?") : value(r, depth + 1));
        }
        return a;
    }

    /** A valid body of every endpoint at once, with up to three fields set to random values. */
    private static ObjectNode body(SplittableRandom r) {
        ObjectNode b = F.objectNode().put("prompt", "In the beginning").put("max_tokens", 4);
        b.putArray("messages").addObject().put("role", "user").put("content", "Who made the light?");
        b.putArray("tokens").add(1).add(2);
        for (int k = r.nextInt(4); k > 0; k--) b.set(FIELDS.get(r.nextInt(FIELDS.size())), value(r, 0));
        return b;
    }

    /** Whether {@code body} parsed; fails the test on anything but a request or a one-line 400 / 404. */
    private static boolean check(Function<JsonNode, Object> parse, JsonNode body) {
        try {
            assertNotNull(parse.apply(body));
            return true;
        } catch (ApiError e) {
            assertTrue(e.status == 400 || e.status == 404, e.status + " for " + body);
            assertNotNull(e.getMessage(), body.toString());
            assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
            return false;
        } catch (RuntimeException e) {
            throw new AssertionError(body + " -> " + e, e);
        }
    }

    @Test
    void randomBodiesGiveARequestOrA400() {
        SplittableRandom r = new SplittableRandom(2026);
        int[] parsed = new int[4];
        for (int i = 0; i < 3000; i++) {
            JsonNode b = body(r);
            if (check(parser::completion, b)) parsed[0]++;
            if (check(parser::chat, b)) parsed[1]++;
            if (check(parser::tokenize, b)) parsed[2]++;
            if (check(parser::detokenize, b)) parsed[3]++;
        }
        for (int k = 0; k < 4; k++) assertTrue(parsed[k] > 30 && parsed[k] < 2970, "both outcomes, endpoint " + k + ": " + java.util.Arrays.toString(parsed));
        for (JsonNode notObject : List.of(F.nullNode(), F.arrayNode(), F.textNode("x"), F.numberNode(1))) {
            check(parser::completion, notObject);
            check(parser::chat, notObject);
            check(parser::tokenize, notObject);
            check(parser::detokenize, notObject);
        }
    }
}
