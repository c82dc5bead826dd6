package gsat2r.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.generate.Generator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The server over HTTP on loopback, serving the demo teacher's converted student. */
class ServerTest {
    @TempDir
    static Path tmp;

    static DemoStudent demo;
    static OpenAiServer server;
    static Client client;
    static final ConcurrentLinkedQueue<String> LOG = new ConcurrentLinkedQueue<>();

    @BeforeAll
    static void start() {
        demo = new DemoStudent(tmp);
        server = OpenAiServer.start(demo.model, demo.tokenizer, TranscriptChatFormat.INSTANCE,
                ServeOptions.defaults("kjv-student", 2048), LOG::add);
        client = new Client(server.uri());
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
    }

    static ObjectNode completion(String prompt, int maxTokens) {
        ObjectNode b = Client.JSON.createObjectNode().put("model", "kjv-student").put("prompt", prompt)
                .put("max_tokens", maxTokens).put("temperature", 0);
        return b;
    }

    @Test
    void concurrentGreedyCompletionsEqualOneSequenceAtATime() throws Exception {
        List<String> prompts = DemoStudent.prompts(24);
        ExecutorService pool = Executors.newFixedThreadPool(24);
        List<Future<Client.Reply>> replies = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            ObjectNode body = completion(prompts.get(i), 8 + 3 * i);
            replies.add(pool.submit(() -> client.post("/v1/completions", body)));
        }
        for (int i = 0; i < prompts.size(); i++) {
            Client.Reply r = replies.get(i).get();
            assertEquals(200, r.status(), r.body());
            Generator.Result expected = demo.greedy(prompts.get(i), 8 + 3 * i);
            JsonNode choice = r.json().get("choices").get(0);
            assertEquals(expected.text(), choice.get("text").asText(), "prompt " + i);
            assertEquals(expected.stop() == Generator.Stop.EOS ? "stop" : "length", choice.get("finish_reason").asText());
            assertEquals(expected.promptIds().length, r.json().at("/usage/prompt_tokens").asInt());
            assertEquals(expected.newIds().length, r.json().at("/usage/completion_tokens").asInt());
            assertEquals("text_completion", r.json().get("object").asText());
            assertTrue(r.json().get("id").asText().startsWith("cmpl-"));
        }
        pool.shutdown();
    }

    private static gsat2r.core.model.llama.LlamaModel teacher;

    /** The demo teacher, loaded once. */
    static synchronized gsat2r.core.model.llama.LlamaModel teacher() {
        if (teacher == null) teacher = gsat2r.core.model.llama.LlamaModel.load(DemoStudent.TEACHER);
        return teacher;
    }

    /** A server of its own for the demo teacher, as 'kjv-llama'. */
    static OpenAiServer startTeacher() {
        return OpenAiServer.start(teacher(), demo.tokenizer, TranscriptChatFormat.INSTANCE, ServeOptions.defaults("kjv-llama", 2048), line -> { });
    }

    @Test
    void theTeacherIsServedTheSameWay() throws Exception {
        try (OpenAiServer t = startTeacher()) {
            Client c = new Client(t.uri());
            List<String> prompts = DemoStudent.prompts(8);
            prompts.add(prompts.get(7) + " And God said");            // shares a cached prefix with the one before it
            List<java.util.concurrent.CompletableFuture<Client.Reply>> replies = new ArrayList<>();
            for (String p : prompts) {
                ObjectNode body = completion(p, 16).put("model", "kjv-llama");
                replies.add(java.util.concurrent.CompletableFuture.supplyAsync(() -> c.post("/v1/completions", body)));
            }
            DemoStudent reference = demo.with(teacher());
            for (int i = 0; i < prompts.size(); i++) {
                Client.Reply r = replies.get(i).get();
                assertEquals(200, r.status(), r.body());
                assertEquals(reference.greedy(prompts.get(i), 16).text(), r.json().at("/choices/0/text").asText(), "prompt " + i);
            }
            Client.Reply again = c.post("/v1/completions", completion(prompts.get(8), 16).put("model", "kjv-llama"));
            assertTrue(again.json().at("/usage/prompt_tokens_details/cached_tokens").asInt() >= 64, again.body());
            assertEquals(reference.greedy(prompts.get(8), 16).text(), again.json().at("/choices/0/text").asText());
        }
    }

    /** A teacher's KV cache grows with the prompt: a long prompt is cached at 64 · 2^k tokens and its last boundary only. */
    @Test
    void aTeachersLongPromptIsCachedAtAFewBoundaries() throws Exception {
        try (OpenAiServer t = startTeacher()) {
            Client c = new Client(t.uri());
            int[] prompt = new int[700];
            for (int i = 0; i < prompt.length; i++) prompt[i] = 300 + (i * 37) % 2000;
            String body = "{\"prompt\": " + java.util.Arrays.toString(prompt) + ", \"max_tokens\": 6, \"temperature\": 0, \"model\": \"kjv-llama\"}";
            Client.Reply first = c.post("/v1/completions", body);
            assertEquals(200, first.status(), first.body());
            JsonNode cache = c.get("/health").json().get("prefix_cache");
            assertEquals(5, cache.get("entries").asInt(), "64, 128, 256, 512 and the last boundary, 640: " + cache);
            assertEquals(1, cache.get("misses").asInt(), "one miss: the first request");
            Client.Reply again = c.post("/v1/completions", body);
            assertEquals(640, again.json().at("/usage/prompt_tokens_details/cached_tokens").asInt(), again.body());
            assertEquals(first.json().at("/choices/0/text").asText(), again.json().at("/choices/0/text").asText());
        }
    }

    @Test
    void badRequestsGet400WithAJsonError() {
        record Case(String body, String param, String message) {}
        List<Case> cases = List.of(
                new Case("{\"prompt\": \"In the", null, "invalid JSON"),
                new Case("[1, 2]", null, "must be a JSON object"),
                new Case("{\"prompt\": \"x\", \"max_tokens\": -1}", "max_tokens", "max_tokens must be >= 0, got -1"),
                new Case("{\"prompt\": \"x\", \"max_tokens\": \"5\"}", "max_tokens", "must be an integer"),
                new Case("{\"prompt\": \"x\", \"max_tokens\": 5000}", "max_tokens", "at most"),
                new Case("{\"prompt\": \"x\", \"temperature\": 3}", "temperature", "in [0, 2]"),
                new Case("{\"prompt\": \"x\", \"top_p\": \"high\"}", "top_p", "must be a number"),
                new Case("{\"prompt\": \"x\", \"stream\": \"yes\"}", "stream", "true or false"),
                new Case("{\"prompt\": \"x\", \"stop\": 5}", "stop", "stop must be a string or an array"),
                new Case("{\"prompt\": [1, 2, 99999]}", "prompt", "outside the vocabulary"),
                new Case("{\"prompt\": [1, -2]}", "prompt", "outside the vocabulary"),
                new Case("{\"prompt\": [1, 2.5]}", "prompt", "not an integer"),
                new Case("{\"prompt\": [\"a\", 5]}", "prompt", "prompt[1] must be a string or an array of token ids"),
                new Case("{\"prompt\": [[1, 2], []]}", "prompt", "prompt[1] is empty"),
                new Case("{\"prompt\": [[1, 2], [3, 99999]]}", "prompt", "prompt[1] token id 99999 is outside"),
                new Case("{\"max_tokens\": 3}", "prompt", "prompt is required"),
                new Case("{\"prompt\": \"x\", \"n\": 0}", "n", "in [1, 32]"),
                new Case("{\"prompt\": \"x\", \"logprobs\": 21}", "logprobs", "logprobs must be in [0, 20]"),
                new Case("{\"prompt\": \"x\", \"logprobs\": \"2\"}", "logprobs", "must be an integer"),
                new Case("{\"prompt\": \"x\", \"logit_bias\": {\"abc\": 1}}", "logit_bias", "not a token id"),
                new Case("{\"prompt\": \"x\", \"presence_penalty\": 2.5}", "presence_penalty", "in [-2, 2]"),
                new Case("{\"prompt\": \"x\", \"stream_options\": {\"include_usage\": true}}", "stream_options", "only allowed with"),
                new Case("{\"prompt\": \"x\", \"stream\": true, \"stream_options\": {\"include_usage\": 1}}",
                        "stream_options.include_usage", "true or false"));
        for (Case c : cases) {
            Client.Reply r = client.post("/v1/completions", c.body());
            assertEquals(400, r.status(), c.body() + " -> " + r.body());
            JsonNode e = r.json().get("error");
            assertNotNull(e, r.body());
            assertEquals("invalid_request_error", e.get("type").asText());
            assertTrue(e.get("message").asText().contains(c.message()), c.body() + " -> " + r.body());
            assertEquals(c.param(), e.get("param").isNull() ? null : e.get("param").asText(), c.body());
            assertTrue(e.has("code"));
        }
        Client.Reply chat = client.post("/v1/chat/completions", "{\"messages\": [{\"role\": \"tool\", \"content\": \"x\"}]}");
        assertEquals(400, chat.status());
        assertEquals("messages[0].role", chat.json().at("/error/param").asText());
        Client.Reply top = client.post("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"top_logprobs\": 2}");
        assertEquals("top_logprobs", top.json().at("/error/param").asText(), top.body());
        Client.Reply empty = client.post("/v1/chat/completions", "{\"messages\": []}");
        assertEquals(400, empty.status());
        Client.Reply context = client.post("/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 1000000000}");
        assertEquals("context_length_exceeded", context.json().at("/error/code").asText());
        Client.Reply model = client.post("/v1/completions", "{\"model\": \"gpt-4\", \"prompt\": \"x\"}");
        assertEquals(404, model.status());
        assertEquals("model_not_found", model.json().at("/error/code").asText());
    }

    @Test
    void aPortInUseIsOneLineSayingSo() {
        ServeOptions taken = new ServeOptions("127.0.0.1", server.port(), "kjv-student", 4, 4, 0, 2048, 1 << 20, SamplingDefaults.OPENAI);
        gsat2r.core.T2rException e = org.junit.jupiter.api.Assertions.assertThrows(gsat2r.core.T2rException.class,
                () -> OpenAiServer.start(demo.model, demo.tokenizer, TranscriptChatFormat.INSTANCE, taken, line -> { }));
        assertEquals("cannot listen on 127.0.0.1:" + server.port() + ": the port is in use (give another --port, or 0 for a free one)",
                e.getMessage());
    }

    @Test
    void errorsJettyAnswersItselfAreJsonToo() throws Exception {
        String reply = exchange("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n", false);
        assertTrue(reply.startsWith("HTTP/1.1 400 "), reply);
        assertTrue(reply.contains("Content-Type: application/json"), reply);
        assertEquals("invalid_request_error", bodyOf(reply).at("/error/type").asText(), reply);
    }

    /** vLLM's top_k (1: the most likely token whatever the temperature), and logit_bias -100 as a ban. */
    @Test
    void topKAndALogitBiasBan() {
        var greedy = demo.greedy("In the", 8);
        ObjectNode topK = completion("In the", 8).put("temperature", 1.5).put("top_k", 1).put("seed", 3);
        assertEquals(greedy.text(), client.post("/v1/completions", topK).json().at("/choices/0/text").asText());
        assertEquals(400, client.post("/v1/completions", completion("In the", 8).put("top_k", -2)).status());
        // A token 300 logits ahead of the rest stays the most likely with -100 added; -100 bans it.
        Sampling ban = new Sampling(1, 1, 0, 3L, 0, 0, java.util.Map.of(2, -100f, 1, -99f), 1);
        float[] adjusted = ban.adjust(new float[] {0, 0, 300}, new int[3]);
        assertEquals(Float.NEGATIVE_INFINITY, adjusted[2]);
        assertEquals(-99f, adjusted[1]);
    }

    /** repetition_penalty as transformers applies it (over the prompt and the new tokens): what t2r generate gives. */
    @Test
    void aRepetitionPenaltyIsTheGenerators() {
        String prompt = "And God said, Let there be light: and there was light. And God saw the light";
        int[] ids = demo.tokenizer.encode(prompt);
        String expected = new Generator(demo.model, demo.tokenizer).generate(ids, 24, gsat2r.core.generate.Sampler.greedy(1.5), piece -> { }).text();
        ObjectNode body = completion(prompt, 24).put("repetition_penalty", 1.5);
        Client.Reply r = client.post("/v1/completions", body);
        assertEquals(expected, r.json().at("/choices/0/text").asText(), r.body());
        assertTrue(!expected.equals(demo.greedy(prompt, 24).text()), "the penalty changes the answer");
        assertEquals(400, client.post("/v1/completions", completion(prompt, 4).put("repetition_penalty", 0)).status());
    }

    /** Sampling left out of a request comes from the server's defaults (the model's generation_config.json in the CLI). */
    @Test
    void leftOutSamplingTakesTheServersDefaults() throws Exception {
        ServeOptions greedy = ServeOptions.defaults("kjv-student", 2048).withSampling(new SamplingDefaults(0, 1, 0, 1, "test"));
        try (OpenAiServer s = OpenAiServer.start(demo.model, demo.tokenizer, TranscriptChatFormat.INSTANCE, greedy, line -> { })) {
            ObjectNode body = completion("In the", 8);
            body.remove("temperature");
            Client.Reply r = new Client(s.uri()).post("/v1/completions", body);
            assertEquals(demo.greedy("In the", 8).text(), r.json().at("/choices/0/text").asText(), r.body());
        }
    }

    /** A conversation the chat format refuses (a template's raise_exception) is a bad request, named by its field. */
    @Test
    void aConversationTheChatFormatRefusesIs400() throws Exception {
        ChatFormat refusing = new ChatFormat() {
            public Prompt render(List<ChatMessage> messages) {
                throw new IllegalArgumentException("Conversation roles must alternate user/assistant");
            }

            public String describe() {
                return "refusing";
            }
        };
        try (OpenAiServer s = OpenAiServer.start(demo.model, demo.tokenizer, refusing, ServeOptions.defaults("kjv-student", 2048), line -> { })) {
            Client.Reply r = new Client(s.uri()).post("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}");
            assertEquals(400, r.status(), r.body());
            assertEquals("messages", r.json().at("/error/param").asText());
            assertEquals("Conversation roles must alternate user/assistant", r.json().at("/error/message").asText());
        }
    }

    /** A body cut short by the client is the client's fault: 400, not a server error. */
    @Test
    void aBodyThatEndsEarlyIs400() throws Exception {
        String reply = exchange("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"prompt\": \"In\"", true);
        assertTrue(reply.startsWith("HTTP/1.1 400 "), reply);
        assertEquals("incomplete_body", bodyOf(reply).at("/error/code").asText(), reply);
    }

    @Test
    void aModelIsRetrievedByItsIdAndJsonErrorsAreOneCleanLine() {
        Client.Reply one = client.get("/v1/models/kjv-student");
        assertEquals(200, one.status(), one.body());
        assertEquals("kjv-student", one.json().get("id").asText());
        assertEquals("model", one.json().get("object").asText());
        Client.Reply other = client.get("/v1/models/gpt-4");
        assertEquals(404, other.status());
        assertEquals("model_not_found", other.json().at("/error/code").asText());
        String bad = client.post("/v1/completions", "{\"prompt\": \"In\", \"max_tokens\": 4,}").json().at("/error/message").asText();
        assertTrue(bad.startsWith("invalid JSON (line 1, column "), bad);
        assertTrue(!bad.contains("Source") && !bad.contains("com.fasterxml") && !bad.contains("\n"), bad);
    }

    /** Writes {@code request} as it is on a new connection (then ends the output when {@code endOutput}); the whole reply. */
    static String exchange(String request, boolean endOutput) throws IOException {
        try (Socket socket = new Socket("127.0.0.1", server.port())) {
            socket.getOutputStream().write(request.getBytes(StandardCharsets.UTF_8));
            if (endOutput) socket.shutdownOutput();
            return new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** The JSON body of a raw HTTP reply. */
    static JsonNode bodyOf(String reply) throws IOException {
        return Client.JSON.readTree(reply.substring(reply.indexOf("\r\n\r\n") + 4));
    }

    @Test
    void routesModelsAndHealth() {
        assertEquals(404, client.get("/v2/nothing").status());
        assertEquals("not_found", client.get("/v2/nothing").json().at("/error/code").asText());
        assertEquals(405, client.get("/v1/completions").status());
        assertEquals("POST", client.get("/v1/completions").headers().firstValue("allow").orElse(null));
        Client.Reply models = client.get("/v1/models");
        assertEquals(200, models.status());
        assertEquals("kjv-student", models.json().at("/data/0/id").asText());
        assertEquals("model", models.json().at("/data/0/object").asText());
        Client.Reply health = client.get("/health");
        assertEquals("ok", health.json().get("status").asText());
        assertTrue(health.json().has("prefix_cache"));
    }

    @Test
    void chatCompletionsWholeAndStreamedSayTheSame() {
        ObjectNode body = Client.JSON.createObjectNode().put("max_tokens", 24).put("temperature", 0);
        body.putArray("messages").add(Client.JSON.createObjectNode().put("role", "system").put("content", "Answer in the words of the Bible."))
                .add(Client.JSON.createObjectNode().put("role", "user").put("content", "Who created the heaven and the earth?"));
        Client.Reply whole = client.post("/v1/chat/completions", body);
        assertEquals(200, whole.status(), whole.body());
        assertEquals("chat.completion", whole.json().get("object").asText());
        JsonNode message = whole.json().at("/choices/0/message");
        assertEquals("assistant", message.get("role").asText());
        String content = message.get("content").asText();
        String reason = whole.json().at("/choices/0/finish_reason").asText();

        // The plain transcript, BOS-encoded: the reference is a greedy run of that prompt with its stops.
        String transcript = "System: Answer in the words of the Bible.\nUser: Who created the heaven and the earth?\nAssistant:";
        Generator.Result ref = demo.greedy(transcript, 24);
        String expected = ref.text();
        for (String stop : List.of("\nUser:", "\nSystem:")) {
            int at = expected.indexOf(stop);
            if (at >= 0) expected = expected.substring(0, at);
        }
        assertEquals(expected, content);
        assertEquals(demo.tokenizer.encode(transcript).length, whole.json().at("/usage/prompt_tokens").asInt());

        body.put("stream", true);
        body.putObject("stream_options").put("include_usage", true);
        List<String> events = client.stream("/v1/chat/completions", body);
        assertEquals("[DONE]", events.getLast());
        StringBuilder streamed = new StringBuilder();
        String streamedReason = null;
        for (String e : events.subList(0, events.size() - 2)) {
            JsonNode chunk = read(e);
            assertEquals("chat.completion.chunk", chunk.get("object").asText());
            assertEquals(whole.json().get("model").asText(), chunk.get("model").asText());
            JsonNode delta = chunk.at("/choices/0/delta");
            if (delta.has("content")) streamed.append(delta.get("content").asText());
            if (!chunk.at("/choices/0/finish_reason").isNull()) streamedReason = chunk.at("/choices/0/finish_reason").asText();
        }
        assertEquals("assistant", read(events.getFirst()).at("/choices/0/delta/role").asText());
        assertEquals(content, streamed.toString());
        assertEquals(reason, streamedReason);
        JsonNode usage = read(events.get(events.size() - 2));
        assertEquals(0, usage.get("choices").size());
        assertEquals(whole.json().get("usage").get("completion_tokens"), usage.get("usage").get("completion_tokens"));
    }

    @Test
    void streamedCompletionConcatenatesToTheWholeOne() {
        String prompt = DemoStudent.VERSES.get(3);
        Generator.Result ref = demo.greedy(prompt, 30);
        List<String> events = client.stream("/v1/completions", completion(prompt, 30).put("stream", true));
        StringBuilder text = new StringBuilder();
        for (String e : events.subList(0, events.size() - 1)) text.append(read(e).at("/choices/0/text").asText());
        assertEquals(ref.text(), text.toString());
        assertEquals("length", read(events.get(events.size() - 2)).at("/choices/0/finish_reason").asText());
    }

    @Test
    void stopStringsEndTheTextBeforeThemAndEchoPrependsThePrompt() {
        String prompt = DemoStudent.VERSES.get(0);
        String ref = demo.greedy(prompt, 40).text();
        String stop = ref.substring(10, 14);
        int at = ref.indexOf(stop);
        JsonNode r = client.post("/v1/completions", completion(prompt, 40).put("stop", stop)).json();
        assertEquals(ref.substring(0, at), r.at("/choices/0/text").asText());
        assertEquals("stop", r.at("/choices/0/finish_reason").asText());
        JsonNode echo = client.post("/v1/completions", completion(prompt, 5).put("echo", true)).json();
        assertEquals(prompt + demo.greedy(prompt, 5).text(), echo.at("/choices/0/text").asText());
        JsonNode none = client.post("/v1/completions", completion(prompt, 0)).json();
        assertEquals("", none.at("/choices/0/text").asText());
        assertEquals("length", none.at("/choices/0/finish_reason").asText());
        assertEquals(0, none.at("/usage/completion_tokens").asInt());
    }

    @Test
    void aRequestSharingALongPrefixSkipsItsPrefillAndAnswersTheSame() {
        String system = String.join(" ", DemoStudent.VERSES) + " " + String.join(" ", DemoStudent.VERSES);
        int systemTokens = demo.tokenizer.encode(system).length;
        assertTrue(systemTokens > 140, "prefix of " + systemTokens + " tokens");
        String first = system + " And God said", second = system + " And the evening";
        JsonNode a = client.post("/v1/completions", completion(first, 12)).json();
        JsonNode b = client.post("/v1/completions", completion(second, 12)).json();
        JsonNode again = client.post("/v1/completions", completion(first, 12)).json();
        int boundary = (systemTokens - 2) / 64 * 64;
        assertTrue(b.at("/usage/prompt_tokens_details/cached_tokens").asInt() >= boundary, b.toString());
        assertTrue(again.at("/usage/prompt_tokens_details/cached_tokens").asInt() >= boundary, again.toString());
        assertEquals(demo.greedy(first, 12).text(), a.at("/choices/0/text").asText());
        assertEquals(demo.greedy(second, 12).text(), b.at("/choices/0/text").asText());
        assertEquals(a.at("/choices/0/text"), again.at("/choices/0/text"));
        assertTrue(client.get("/health").json().at("/prefix_cache/hits").asInt() >= 2);
    }

    @Test
    void seededChoicesRepeatAndChoiceIUsesSeedPlusI() {
        ObjectNode body = Client.JSON.createObjectNode().put("prompt", DemoStudent.VERSES.get(1)).put("max_tokens", 16)
                .put("temperature", 0.9).put("top_p", 0.95).put("seed", 7).put("n", 3);
        JsonNode one = client.post("/v1/completions", body).json(), two = client.post("/v1/completions", body).json();
        assertEquals(one.get("choices"), two.get("choices"));
        assertEquals(3, one.get("choices").size());
        assertEquals(48, one.at("/usage/completion_tokens").asInt());
        assertNotEquals(one.at("/choices/0/text"), one.at("/choices/1/text"));
        for (int i = 0; i < 3; i++) {
            JsonNode single = client.post("/v1/completions", body.deepCopy().put("n", 1).put("seed", 7 + i)).json();
            assertEquals(one.at("/choices/" + i + "/text"), single.at("/choices/0/text"), "choice " + i);
            assertEquals(i, one.at("/choices/" + i + "/index").asInt());
        }
    }

    @Test
    void penaltiesAndLogitBiasAdjustTheLogitsAsOpenAiDefines() {
        String prompt = DemoStudent.VERSES.get(2);
        int[] ids = demo.tokenizer.encode(prompt);
        int banned = 260;                                     // " the", which the converted student repeats
        ObjectNode body = completion(prompt, 20).put("frequency_penalty", 1.5).put("presence_penalty", 0.5);
        body.putObject("logit_bias").put(String.valueOf(banned), -100);
        JsonNode r = client.post("/v1/completions", body).json();
        // Reference: greedy over logits - 1.5·count - 0.5·[count > 0], with the bias, token by token.
        var decoder = demo.model.newDecoder();
        float[] logits = decoder.prefill(ids);
        int[] counts = new int[demo.model.vocabSize()];
        List<Integer> out = new ArrayList<>();
        for (int t = 0; t < 20; t++) {
            float[] adjusted = logits.clone();
            adjusted[banned] += -100f;
            for (int j = 0; j < adjusted.length; j++) if (counts[j] > 0) adjusted[j] -= (float) (counts[j] * 1.5 + 0.5);
            int best = 0;
            for (int j = 1; j < adjusted.length; j++) if (adjusted[j] > adjusted[best]) best = j;
            out.add(best);
            counts[best]++;
            if (demo.tokenizer.isEos(best)) break;
            logits = decoder.next(best);
        }
        assertTrue(!out.contains(banned));
        int[] newIds = out.stream().filter(id -> !demo.tokenizer.isEos(id)).mapToInt(Integer::intValue).toArray();
        int[] all = java.util.stream.IntStream.concat(java.util.Arrays.stream(ids), java.util.Arrays.stream(newIds)).toArray();
        String expected = demo.tokenizer.decode(all).substring(demo.tokenizer.decode(ids).length());
        assertEquals(expected, r.at("/choices/0/text").asText());
    }

    @Test
    void aClientThatGoesAwayMidStreamFreesItsSlot() throws Exception {
        String body = completion(DemoStudent.VERSES.get(4), 1500).put("stream", true).toString();
        try (Socket socket = new Socket("127.0.0.1", server.port())) {
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "
                    + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
            String line;
            while ((line = in.readLine()) != null && !line.startsWith("data: ")) { }
            assertNotNull(line, "no event before the end of the stream");
            assertTrue(client.get("/health").json().get("running_sequences").asInt() >= 1);
        }
        long end = System.nanoTime() + 10_000_000_000L;
        while (client.get("/health").json().get("running_sequences").asInt() > 0) {
            assertTrue(System.nanoTime() < end, "the abandoned stream still holds its slot: " + client.get("/health").body());
            Thread.sleep(20);
        }
        assertTrue(LOG.stream().anyMatch(l -> l.contains(" 499 ") && l.contains("client went away")), String.join("\n", LOG));
        assertEquals(200, client.post("/v1/completions", completion("And", 3)).status());
    }

    private static JsonNode read(String json) {
        try {
            return Client.JSON.readTree(json);
        } catch (Exception e) {
            throw new AssertionError(json, e);
        }
    }

}
