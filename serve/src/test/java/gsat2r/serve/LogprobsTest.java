package gsat2r.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.model.ContinuationScorer;
import gsat2r.core.model.Continuations;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Log-probabilities over HTTP, checked against the model's full forward pass, and the requests lm-evaluation-harness's
 * {@code local-completions} sends (several prompts of token ids, echo, logprobs 1, max_tokens 1), scored as its
 * {@code parse_logprobs} does, against the evaluator's own scorer.
 */
class LogprobsTest {
    /** fp32 logits of a chunked prefill against one forward pass, through a log-softmax: absolute, in nats. */
    private static final double TOLERANCE = 1e-4;

    @TempDir
    static Path tmp;

    static DemoStudent demo;
    static OpenAiServer server;
    static Client client;

    @BeforeAll
    static void start() {
        demo = new DemoStudent(tmp);
        server = OpenAiServer.start(demo.model, demo.tokenizer, TranscriptChatFormat.INSTANCE,
                ServeOptions.defaults("kjv-student", 2048), line -> { });
        client = new Client(server.uri());
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
    }

    /** {@code log softmax(logits)} in double: the test's own reference. */
    private static double[] logSoftmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float x : logits) max = Math.max(max, x);
        double sum = 0;
        for (float x : logits) sum += Math.exp(x - max);
        double lse = max + Math.log(sum);
        double[] out = new double[logits.length];
        for (int i = 0; i < out.length; i++) out[i] = logits[i] - lse;
        return out;
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static ArrayNode ids(int[] ids) {
        ArrayNode a = Client.JSON.createArrayNode();
        for (int id : ids) a.add(id);
        return a;
    }

    /** lm-evaluation-harness's parse_logprobs: the continuation's summed log-probability and whether each token was the top one. */
    private static Continuations.Score harnessScore(JsonNode choice, int contextLength) {
        JsonNode lp = choice.get("logprobs");
        JsonNode tokens = lp.get("token_logprobs"), tops = lp.get("top_logprobs");
        double sum = 0;
        boolean greedy = true;
        for (int i = contextLength; i < tokens.size() - 1; i++) {
            sum += tokens.get(i).asDouble();
            double best = Double.NEGATIVE_INFINITY;
            for (Iterator<JsonNode> it = tops.get(i).elements(); it.hasNext(); ) best = Math.max(best, it.next().asDouble());
            greedy &= tokens.get(i).asDouble() == best;
        }
        return new Continuations.Score(sum, greedy);
    }

    @Test
    void theHarnesssLoglikelihoodRequestScoresAsTheEvaluator() {
        List<Continuations> items = new ArrayList<>();
        for (int i = 0; i < DemoStudent.VERSES.size(); i++) {
            String verse = DemoStudent.VERSES.get(i);
            int cut = verse.indexOf(' ', verse.length() / 2);
            items.add(new Continuations(demo.tokenizer.encode(verse.substring(0, cut)),
                    List.of(demo.tokenizer.encodePlain(verse.substring(cut)), demo.tokenizer.encodePlain(" and the light"))));
        }
        ArrayNode prompts = Client.JSON.createArrayNode();
        List<int[]> contexts = new ArrayList<>();
        for (Continuations c : items) {
            for (int[] cont : c.continuations()) {
                prompts.add(ids(concat(c.context(), cont)));
                contexts.add(c.context());
            }
        }
        ObjectNode body = Client.JSON.createObjectNode().put("model", "kjv-student").put("temperature", 0).put("max_tokens", 1)
                .put("logprobs", 1).put("seed", 1234).put("echo", true);
        body.set("prompt", prompts);
        Client.Reply r = client.post("/v1/completions", body);
        assertEquals(200, r.status(), r.body());
        JsonNode choices = r.json().get("choices");
        assertEquals(prompts.size(), choices.size());
        int k = 0, greedyOnes = 0;
        for (Continuations c : items) {
            Continuations.Score[] evaluator = demo.model.scoreContinuations(List.of(c)).getFirst();
            Continuations.Score[] forward = ContinuationScorer.byForward(demo.model, c);
            for (int j = 0; j < c.continuations().size(); j++, k++) {
                JsonNode choice = choices.get(k);
                assertEquals(k, choice.get("index").asInt());
                int total = prompts.get(k).size();
                assertEquals(total + 1, choice.at("/logprobs/token_logprobs").size(), "the prompt's tokens and the one new token");
                assertTrue(choice.at("/logprobs/token_logprobs/0").isNull());
                for (int t = 1; t <= total; t++) assertTrue(choice.at("/logprobs/top_logprobs/" + t).size() <= 2, "logprobs 1: the top token and the token itself");
                Continuations.Score served = harnessScore(choice, contexts.get(k).length);
                assertEquals(forward[j].logLikelihood(), served.logLikelihood(), TOLERANCE, "item " + k);
                assertEquals(evaluator[j].logLikelihood(), served.logLikelihood(), TOLERANCE, "item " + k);
                assertEquals(forward[j].greedy(), served.greedy(), "item " + k);
                if (served.greedy()) greedyOnes++;
            }
        }
        assertTrue(greedyOnes < k, "the test needs continuations that are not all greedy");
        assertEquals(r.json().at("/usage/prompt_tokens").asInt(), prompts.valueStream().mapToInt(JsonNode::size).sum());
        assertEquals(prompts.size(), r.json().at("/usage/completion_tokens").asInt());
    }

    @Test
    void eachNewTokensLogprobIsTheForwardPasssAndTheTokensSpellTheText() {
        String prompt = "And God said, Let there be";
        ObjectNode body = Client.JSON.createObjectNode().put("prompt", prompt).put("max_tokens", 12).put("temperature", 0)
                .put("logprobs", 3);
        JsonNode choice = client.post("/v1/completions", body).json().at("/choices/0");
        JsonNode lp = choice.get("logprobs");
        int[] promptIds = demo.tokenizer.encode(prompt);
        int n = lp.get("tokens").size();
        assertEquals(12, n);
        int[] generated = demo.tokenizer.encodePlain(choice.get("text").asText());
        float[][] logits = demo.model.forward(concat(promptIds, Arrays.copyOf(generated, n - 1)));
        StringBuilder spelled = new StringBuilder();
        for (int t = 0; t < n; t++) {
            double[] reference = logSoftmax(logits[promptIds.length - 1 + t]);
            int id = generated[t];
            assertEquals(reference[id], lp.at("/token_logprobs/" + t).asDouble(), TOLERANCE, "token " + t);
            JsonNode top = lp.at("/top_logprobs/" + t);
            assertEquals(3, top.size(), "greedy: the token is the first of the top 3");
            double previous = 0;
            for (Iterator<JsonNode> it = top.elements(); it.hasNext(); ) {
                double x = it.next().asDouble();
                assertTrue(x <= previous, "most likely first");
                previous = x;
            }
            assertEquals(lp.at("/token_logprobs/" + t).asDouble(), top.elements().next().asDouble());
            assertEquals(spelled.length(), lp.at("/text_offset/" + t).asInt());
            spelled.append(lp.at("/tokens/" + t).asText());
        }
        assertEquals(choice.get("text").asText(), spelled.toString());
    }

    @Test
    void chatLogprobsCarryTheTopAlternativesAndTheBytesOfTheReply() {
        ObjectNode body = Client.JSON.createObjectNode().put("max_tokens", 10).put("temperature", 0).put("logprobs", true)
                .put("top_logprobs", 2);
        body.putArray("messages").addObject().put("role", "user").put("content", "Who made the light?");
        Client.Reply r = client.post("/v1/chat/completions", body);
        assertEquals(200, r.status(), r.body());
        JsonNode content = r.json().at("/choices/0/logprobs/content");
        assertEquals(r.json().at("/usage/completion_tokens").asInt(), content.size());
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (JsonNode e : content) {
            for (JsonNode b : e.get("bytes")) bytes.write(b.asInt());
            JsonNode top = e.get("top_logprobs");
            assertEquals(2, top.size());
            assertTrue(top.get(0).get("logprob").asDouble() >= top.get(1).get("logprob").asDouble());
            assertEquals(top.get(0).get("token").asText(), e.get("token").asText(), "greedy: the token is the most likely");
            assertEquals(top.get(0).get("logprob").asDouble(), e.get("logprob").asDouble());
        }
        String reply = r.json().at("/choices/0/message/content").asText();
        assertTrue(bytes.toString(StandardCharsets.UTF_8).startsWith(reply), "the tokens' bytes spell the reply (and any stop string after it)");
        assertTrue(r.json().at("/choices/0/logprobs/refusal").isNull());
        ObjectNode none = body.deepCopy().put("logprobs", false);
        none.remove("top_logprobs");
        assertTrue(client.post("/v1/chat/completions", none).json().at("/choices/0/logprobs").isNull());
    }

    @Test
    void aStreamCarriesTheSameLogprobsAsTheWholeResponse() {
        ObjectNode body = Client.JSON.createObjectNode().put("prompt", "And the evening and the morning").put("max_tokens", 14)
                .put("temperature", 0).put("logprobs", 2).put("echo", true);
        JsonNode whole = client.post("/v1/completions", body).json().at("/choices/0/logprobs");
        List<String> events = client.stream("/v1/completions", body.deepCopy().put("stream", true));
        List<Double> lps = new ArrayList<>();
        List<Integer> offsets = new ArrayList<>();
        StringBuilder tokens = new StringBuilder();
        for (String e : events) {
            if (e.equals("[DONE]")) continue;
            JsonNode lp = parse(e).at("/choices/0/logprobs");
            if (lp.isNull() || lp.isMissingNode()) continue;
            for (int i = 0; i < lp.get("tokens").size(); i++) {
                tokens.append(lp.get("tokens").get(i).asText());
                lps.add(lp.get("token_logprobs").get(i).isNull() ? null : lp.get("token_logprobs").get(i).asDouble());
                offsets.add(lp.get("text_offset").get(i).asInt());
            }
        }
        assertEquals(whole.get("tokens").size(), lps.size());
        for (int i = 0; i < lps.size(); i++) {
            JsonNode w = whole.get("token_logprobs").get(i);
            assertEquals(w.isNull() ? null : w.asDouble(), lps.get(i), "token " + i);
            assertEquals(whole.get("text_offset").get(i).asInt(), offsets.get(i), "token " + i);
        }
        StringBuilder wholeTokens = new StringBuilder();
        whole.get("tokens").forEach(t -> wholeTokens.append(t.asText()));
        assertEquals(wholeTokens.toString(), tokens.toString());
        assertTrue(wholeTokens.toString().endsWith(client.post("/v1/completions", body.deepCopy().put("echo", false))
                .json().at("/choices/0/text").asText()));
    }

    @Test
    void echoWithNoNewTokensGivesThePromptsLogprobs() {
        int[] ids = demo.tokenizer.encode("In the beginning God created the heaven");
        ObjectNode body = Client.JSON.createObjectNode().put("max_tokens", 0).put("logprobs", 0).put("echo", true);
        body.set("prompt", ids(ids));
        Client.Reply r = client.post("/v1/completions", body);
        assertEquals(200, r.status(), r.body());
        JsonNode lp = r.json().at("/choices/0/logprobs");
        assertEquals(ids.length, lp.get("token_logprobs").size());
        float[][] logits = demo.model.forward(ids);
        for (int t = 1; t < ids.length; t++) {
            assertEquals(logSoftmax(logits[t - 1])[ids[t]], lp.get("token_logprobs").get(t).asDouble(), TOLERANCE);
            assertEquals(1, lp.get("top_logprobs").get(t).size(), "logprobs 0: the token itself only");
        }
        assertEquals(0, r.json().at("/usage/completion_tokens").asInt());
        assertEquals("length", r.json().at("/choices/0/finish_reason").asText());
    }

    @Test
    void severalPromptsNumberTheirChoicesInTurn() {
        List<String> prompts = List.of("In the beginning", "And God said", "And the evening");
        ObjectNode body = Client.JSON.createObjectNode().put("max_tokens", 6).put("temperature", 0).put("n", 2);
        ArrayNode p = body.putArray("prompt");
        prompts.forEach(p::add);
        Client.Reply r = client.post("/v1/completions", body);
        assertEquals(200, r.status(), r.body());
        JsonNode choices = r.json().get("choices");
        assertEquals(6, choices.size());
        int promptTokens = 0;
        for (int i = 0; i < 6; i++) {
            assertEquals(i, choices.get(i).get("index").asInt());
            assertEquals(demo.greedy(prompts.get(i / 2), 6).text(), choices.get(i).get("text").asText(), "choice " + i);
        }
        for (String s : prompts) promptTokens += demo.tokenizer.encode(s).length;
        assertEquals(promptTokens, r.json().at("/usage/prompt_tokens").asInt());
        assertEquals(36, r.json().at("/usage/completion_tokens").asInt());

        List<String> events = client.stream("/v1/completions", body.deepCopy().put("stream", true));
        StringBuilder[] streamed = {new StringBuilder(), new StringBuilder(), new StringBuilder(), new StringBuilder(),
                new StringBuilder(), new StringBuilder()};
        for (String e : events) {
            if (e.equals("[DONE]")) continue;
            JsonNode c = parse(e).at("/choices/0");
            streamed[c.get("index").asInt()].append(c.get("text").asText());
        }
        for (int i = 0; i < 6; i++) assertEquals(choices.get(i).get("text").asText(), streamed[i].toString());
    }

    @Test
    void theTokenizerRoutesAreVllms() {
        String text = "In the beginning God created the heaven";
        JsonNode t = client.post("/tokenize", Client.JSON.createObjectNode().put("prompt", text)).json();
        assertEquals(Arrays.toString(demo.tokenizer.encode(text)), Arrays.toString(Client.JSON.convertValue(t.get("tokens"), int[].class)));
        assertEquals(t.get("tokens").size(), t.get("count").asInt());
        assertEquals(2048, t.get("max_model_len").asInt());
        JsonNode plain = client.post("/tokenize", Client.JSON.createObjectNode().put("prompt", text).put("add_special_tokens", false)
                .put("return_token_strs", true)).json();
        assertEquals(Arrays.toString(demo.tokenizer.encodePlain(text)), Arrays.toString(Client.JSON.convertValue(plain.get("tokens"), int[].class)));
        assertEquals(demo.tokenizer.token(plain.at("/tokens/0").asInt()), plain.at("/token_strs/0").asText());

        ObjectNode chat = Client.JSON.createObjectNode().put("max_tokens", 1);
        chat.putArray("messages").addObject().put("role", "user").put("content", "Who made the light?");
        int chatPrompt = client.post("/v1/chat/completions", chat).json().at("/usage/prompt_tokens").asInt();
        assertEquals(chatPrompt, client.post("/tokenize", chat).json().get("count").asInt(), "messages are tokenized as a chat request");

        ObjectNode detok = Client.JSON.createObjectNode();
        detok.set("tokens", t.get("tokens"));
        assertEquals(demo.tokenizer.decode(demo.tokenizer.encode(text), false), client.post("/detokenize", detok).json().get("prompt").asText());
        assertEquals(400, client.post("/detokenize", "{\"tokens\": [99999]}").status());
        assertEquals(400, client.post("/tokenize", "{\"text\": \"x\"}").status());
        assertEquals(405, client.get("/tokenize").status());

        JsonNode info = client.get("/tokenizer_info").json();
        assertTrue(info.has("eos_token") && info.get("chat_template").isNull(), info.toString());
        ObjectNode eos = Client.JSON.createObjectNode().put("prompt", info.get("eos_token").asText()).put("add_special_tokens", false);
        int eosId = client.post("/tokenize", eos).json().at("/tokens/0").asInt();
        assertTrue(demo.tokenizer.isEos(eosId), "the harness finds the EOS id by tokenizing eos_token");
        assertFalse(info.get("bos_token").isNull());
    }

    /** The character (code point) offset {@code offset} of {@code text} as a Java index. */
    private static String from(String text, int offset) {
        return text.substring(text.offsetByCodePoints(0, offset));
    }

    @Test
    void textOffsetsPointIntoTheChoicesTextPromptEchoedOrNot() {
        String prompt = "In the beginning \u4e2d\u6587 God \uD83D\uDE00 created";
        for (boolean echo : new boolean[] {true, false}) {
            ObjectNode body = Client.JSON.createObjectNode().put("prompt", prompt).put("max_tokens", 10).put("temperature", 0)
                    .put("logprobs", 1).put("echo", echo);
            JsonNode choice = client.post("/v1/completions", body).json().at("/choices/0");
            String text = choice.get("text").asText();
            JsonNode lp = choice.get("logprobs");
            int previous = 0, wholeTokens = 0;
            for (int i = 0; i < lp.get("tokens").size(); i++) {
                String token = lp.get("tokens").get(i).asText();
                int offset = lp.get("text_offset").get(i).asInt();
                assertTrue(offset >= previous, "offsets never go back: " + lp.get("text_offset"));
                previous = offset;
                boolean special = echo && i == 0;                                 // BOS: not in the text
                if (special || token.startsWith("bytes:")) continue;              // the inside of a character
                assertTrue(from(text, offset).startsWith(token), "token " + i + " '" + token + "' at " + offset + " of '" + text + "'");
                wholeTokens++;
            }
            assertTrue(wholeTokens > 8, "the test needs tokens with text");
            if (echo) assertTrue(lp.toString().contains("bytes:"), "the test needs characters split over tokens: " + lp.get("tokens"));
        }
    }

    @Test
    void everySampledTokenHasItsLogprobThoseOfAStopStringIncluded() {
        ObjectNode greedy = Client.JSON.createObjectNode().put("prompt", "And God said").put("max_tokens", 8).put("temperature", 0);
        String text = client.post("/v1/completions", greedy).json().at("/choices/0/text").asText();
        String stop = text.substring(0, text.indexOf(' ', 1) > 0 ? text.indexOf(' ', 1) : text.length());     // the first word: no text at all
        for (String s : List.of(stop, "zzz")) {
            ObjectNode body = greedy.deepCopy().put("logprobs", 0).put("stop", s);
            for (boolean stream : new boolean[] {false, true}) {
                int tokens = 0, completion;
                if (stream) {
                    List<String> events = client.stream("/v1/completions", body.deepCopy().put("stream", true).set("stream_options",
                            Client.JSON.createObjectNode().put("include_usage", true)));
                    completion = parse(events.get(events.size() - 2)).at("/usage/completion_tokens").asInt();
                    for (String e : events) {
                        JsonNode lp = e.equals("[DONE]") ? null : parse(e).at("/choices/0/logprobs/tokens");
                        if (lp != null && !lp.isMissingNode()) tokens += lp.size();
                    }
                } else {
                    JsonNode r = client.post("/v1/completions", body).json();
                    completion = r.at("/usage/completion_tokens").asInt();
                    tokens = r.at("/choices/0/logprobs/tokens").size();
                    if (s.equals(stop)) assertEquals("", r.at("/choices/0/text").asText());
                }
                assertEquals(completion, tokens, "stop '" + s + "', stream " + stream);
            }
        }
    }

    @Test
    void echoedPromptLogprobsReadThePromptWholeEvenWhenItsPrefixIsCached() {
        int[] ids = demo.tokenizer.encode(String.join(" ", DemoStudent.VERSES) + " " + String.join(" ", DemoStudent.VERSES));
        assertTrue(ids.length > 2 * PrefixCache.BLOCK + 2, ids.length + " tokens");
        ObjectNode plain = Client.JSON.createObjectNode().put("max_tokens", 1).put("temperature", 0);
        plain.set("prompt", ids(ids));
        client.post("/v1/completions", plain);
        Client.Reply cached = client.post("/v1/completions", plain);
        assertTrue(cached.json().at("/usage/prompt_tokens_details/cached_tokens").asInt() >= 2 * PrefixCache.BLOCK, cached.body());
        JsonNode r = client.post("/v1/completions", plain.deepCopy().put("max_tokens", 0).put("logprobs", 0).put("echo", true)).json();
        JsonNode lps = r.at("/choices/0/logprobs/token_logprobs");
        assertEquals(ids.length, lps.size());
        assertEquals(0, r.at("/usage/prompt_tokens_details/cached_tokens").asInt());
        float[][] logits = demo.model.forward(ids);
        for (int t = 1; t < ids.length; t++) assertEquals(logSoftmax(logits[t - 1])[ids[t]], lps.get(t).asDouble(), TOLERANCE, "token " + t);
    }

    @Test
    void severalPromptsWithSeededSamplingAnswerAsTheirOwnRequests() {
        List<String> prompts = List.of("In the beginning", "And God said");
        ObjectNode body = Client.JSON.createObjectNode().put("max_tokens", 12).put("temperature", 1.2).put("seed", 11).put("n", 3)
                .put("logprobs", 1);
        body.putArray("prompt").add(prompts.get(0)).add(prompts.get(1));
        JsonNode choices = client.post("/v1/completions", body).json().get("choices");
        for (int p = 0; p < 2; p++) {
            JsonNode alone = client.post("/v1/completions", body.deepCopy().put("prompt", prompts.get(p))).json().get("choices");
            for (int c = 0; c < 3; c++) {
                assertEquals(alone.get(c).get("text").asText(), choices.get(3 * p + c).get("text").asText(), "prompt " + p + " choice " + c);
                assertEquals(alone.get(c).get("logprobs"), choices.get(3 * p + c).get("logprobs"));
            }
            assertFalse(alone.get(0).get("text").asText().equals(alone.get(1).get("text").asText())
                    && alone.get(1).get("text").asText().equals(alone.get(2).get("text").asText()), "the choices differ");
        }
    }

    @Test
    void aRequestOfMorePromptsThanTheQueueHoldsIs400() throws Exception {
        try (OpenAiServer small = OpenAiServer.start(demo.model, demo.tokenizer, TranscriptChatFormat.INSTANCE,
                ServeOptions.defaults("kjv-student", 2048).withMaxQueue(2), line -> { })) {
            Client c = new Client(small.uri());
            Client.Reply r = c.post("/v1/completions", "{\"prompt\": [\"a\", \"b\", \"c\"], \"max_tokens\": 1}");
            assertEquals(400, r.status(), r.body());
            assertTrue(r.json().at("/error/message").asText().contains("at most 2 prompts"), r.body());
            assertEquals(200, c.post("/v1/completions", "{\"prompt\": [\"a\", \"b\"], \"max_tokens\": 1}").status());
        }
    }

    @Test
    void aChatStreamCarriesTheWholeResponsesLogprobs() {
        ObjectNode body = Client.JSON.createObjectNode().put("max_tokens", 10).put("temperature", 0).put("logprobs", true)
                .put("top_logprobs", 1);
        body.putArray("messages").addObject().put("role", "user").put("content", "Who made the light?");
        JsonNode whole = client.post("/v1/chat/completions", body).json().at("/choices/0/logprobs/content");
        ArrayNode streamed = Client.JSON.createArrayNode();
        for (String e : client.stream("/v1/chat/completions", body.deepCopy().put("stream", true))) {
            JsonNode content = e.equals("[DONE]") ? null : parse(e).at("/choices/0/logprobs/content");
            if (content != null && !content.isMissingNode()) streamed.addAll((ArrayNode) content);
        }
        assertEquals(whole, streamed);
    }

    @Test
    void theTopTokensAreTheLargestLogitsLowerIdFirstAmongEquals() {
        java.util.SplittableRandom random = new java.util.SplittableRandom(7);
        for (int trial = 0; trial < 200; trial++) {
            float[] logits = new float[1 + random.nextInt(40)];
            for (int i = 0; i < logits.length; i++) logits[i] = random.nextInt(6);       // many ties
            int k = random.nextInt(logits.length + 3);
            Integer[] order = new Integer[logits.length];
            for (int i = 0; i < order.length; i++) order[i] = i;
            Arrays.sort(order, (a, b) -> logits[a] != logits[b] ? Float.compare(logits[b], logits[a]) : Integer.compare(a, b));
            int[] expected = Arrays.stream(order).limit(Math.min(k, logits.length)).mapToInt(Integer::intValue).toArray();
            assertEquals(Arrays.toString(expected), Arrays.toString(TokenLogprob.topIds(logits, Math.min(k, logits.length))));
        }
    }

    private static JsonNode parse(String json) {
        try {
            return Client.JSON.readTree(json);
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
    }
}
