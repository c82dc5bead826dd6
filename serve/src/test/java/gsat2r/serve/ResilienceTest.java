package gsat2r.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.model.BatchDecoder;
import gsat2r.core.model.LanguageModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** No request takes the server down: failures inside the model stay with their request, a full queue says 429, shutdown drains. */
class ResilienceTest {
    @TempDir
    static Path tmp;

    static DemoStudent demo;

    @BeforeAll
    static void convert() {
        demo = new DemoStudent(tmp);
    }

    /** The demo student, except that feeding token {@link #POISON} fails in the batched step and a prompt with {@link #BOMB} fails its prefill. */
    static final class Faulty implements LanguageModel {
        static final int POISON = 777, BOMB = 778;
        final LanguageModel inner;

        Faulty(LanguageModel inner) {
            this.inner = inner;
        }

        /** Batched decode steps run. */
        final java.util.concurrent.atomic.AtomicInteger steps = new java.util.concurrent.atomic.AtomicInteger();

        /** Every decoder made, and those released (each counted once). */
        final java.util.Set<Wrapped> made = java.util.concurrent.ConcurrentHashMap.newKeySet(),
                released = java.util.concurrent.ConcurrentHashMap.newKeySet();

        final class Wrapped implements LanguageModel.Decoder {
            private final LanguageModel.Decoder inner;

            Wrapped(LanguageModel.Decoder inner) {
                this.inner = inner;
                made.add(this);
            }

            LanguageModel.Decoder inner() {
                return inner;
            }

            public void release() {
                released.add(this);
            }

            public float[] prefill(int[] ids) {
                if (released.contains(this)) throw new IllegalStateException("a released decoder was used");
                if (Arrays.stream(ids).anyMatch(id -> id == BOMB)) throw new IllegalStateException("prefill exploded");
                return inner.prefill(ids);
            }

            public float[] next(int id) {
                return inner.next(id);
            }

            public int position() {
                return inner.position();
            }
        }

        public int vocabSize() {
            return inner.vocabSize();
        }

        public float[][] forward(int[] ids) {
            return inner.forward(ids);
        }

        public Decoder newDecoder() {
            return new Wrapped(inner.newDecoder());
        }

        public BatchDecoder batchDecoder() {
            BatchDecoder real = inner.batchDecoder();
            return (decoders, ids) -> {
                steps.incrementAndGet();
                BatchDecoder.Step out = BatchDecoder.Step.of(ids.length);
                List<Decoder> good = new ArrayList<>();
                List<Integer> rows = new ArrayList<>();
                for (int i = 0; i < ids.length; i++) {
                    if (released.contains(decoders.get(i))) throw new IllegalStateException("a released decoder was stepped");
                    if (ids[i] == POISON) out.failures()[i] = new IllegalStateException("decode exploded");
                    else {
                        good.add(((Wrapped) decoders.get(i)).inner());
                        rows.add(i);
                    }
                }
                BatchDecoder.Step step = real.next(good, rows.stream().mapToInt(r -> ids[r]).toArray());
                for (int k = 0; k < rows.size(); k++) out.logits()[rows.get(k)] = step.logits()[k];
                return out;
            };
        }
    }

    /** A server of {@code model}, as 'faulty'. */
    private static OpenAiServer serve(Faulty model) {
        return OpenAiServer.start(model, demo.tokenizer, TranscriptChatFormat.INSTANCE, ServeOptions.defaults("faulty", 2048), line -> { });
    }

    @Test
    void aSequenceThatFailsFailsOnlyItsRequest() throws Exception {
        try (OpenAiServer server = serve(new Faulty(demo.model))) {
            Client client = new Client(server.uri());
            List<String> prompts = DemoStudent.prompts(6);
            List<CompletableFuture<Client.Reply>> good = new ArrayList<>();
            for (String p : prompts) {
                ObjectNode body = ServerTest.completion(p, 20).put("model", "faulty");
                good.add(CompletableFuture.supplyAsync(() -> client.post("/v1/completions", body)));
            }
            ObjectNode poisoned = ServerTest.completion("And God", 20).put("model", "faulty");
            poisoned.putObject("logit_bias").put(String.valueOf(Faulty.POISON), 100);       // samples the poison, feeds it next step
            var decode = CompletableFuture.supplyAsync(() -> client.post("/v1/completions", poisoned));
            var prefill = CompletableFuture.supplyAsync(() -> client.post("/v1/completions", "{\"prompt\": [0, 5, "
                    + Faulty.BOMB + ", 9], \"max_tokens\": 4}"));
            var stream = CompletableFuture.supplyAsync(() -> client.stream("/v1/completions", poisoned.deepCopy().put("stream", true)));

            Client.Reply d = decode.get();
            assertEquals(500, d.status(), d.body());
            assertEquals("server_error", d.json().at("/error/type").asText());
            assertTrue(d.json().at("/error/message").asText().contains("decode exploded"), d.body());
            Client.Reply p = prefill.get();
            assertEquals(500, p.status(), p.body());
            assertTrue(p.json().at("/error/message").asText().contains("prefill exploded"), p.body());
            List<String> events = stream.get();
            assertEquals("[DONE]", events.getLast());
            assertTrue(events.get(events.size() - 2).contains("decode exploded"), events.toString());
            for (int i = 0; i < prompts.size(); i++) {
                Client.Reply r = good.get(i).get();
                assertEquals(200, r.status(), r.body());
                assertEquals(demo.greedy(prompts.get(i), 20).text(), r.json().at("/choices/0/text").asText());
            }
            assertEquals("ok", client.get("/health").json().get("status").asText());
        }
    }

    /** Every request gives its decoders back when it ends: finished, failed, with several choices, or left by its client. */
    @Test
    void everyDecoderIsReleasedWhenItsRequestEnds() throws Exception {
        Faulty model = new Faulty(demo.model);
        try (OpenAiServer server = serve(model)) {
            Client client = new Client(server.uri());
            assertEquals(200, client.post("/v1/completions", ServerTest.completion("In the", 12).put("model", "faulty").put("n", 3)).status());
            ObjectNode poisoned = ServerTest.completion("And God", 20).put("model", "faulty");
            poisoned.putObject("logit_bias").put(String.valueOf(Faulty.POISON), 100);
            assertEquals(500, client.post("/v1/completions", poisoned).status());
            assertEquals(500, client.post("/v1/completions", "{\"prompt\": [0, " + Faulty.BOMB + "], \"max_tokens\": 4}").status());
            Socket left = openStream(server.port(), ServerTest.completion("In the", 1500).put("model", "faulty").put("stream", true));
            left.close();
            waitFor(() -> client.get("/health").json().get("running_sequences").asInt() == 0);
            waitFor(() -> model.released.size() == model.made.size());
            assertTrue(model.made.size() >= 6, "n = 3, the poisoned, the bomb and the stream: " + model.made.size());
        }
    }

    /** One prompt of several that fails fails the request at once: the others stop, and their decoders go back. */
    @Test
    void aFailedPromptEndsTheOthersOfItsRequest() throws Exception {
        Faulty model = new Faulty(demo.model);
        try (OpenAiServer server = serve(model)) {
            Client client = new Client(server.uri());
            String body = "{\"prompt\": [[0, 5, 9], [0, 5, " + Faulty.BOMB + ", 9]], \"n\": 4, \"max_tokens\": 1500, \"temperature\": 0}";
            Client.Reply r = client.post("/v1/completions", body);
            assertEquals(500, r.status(), r.body());
            assertTrue(r.json().at("/error/message").asText().contains("prefill exploded"), r.body());
            List<String> events = client.stream("/v1/completions", Client.JSON.readTree(body.replace("}", ", \"stream\": true}")));
            assertTrue(events.get(events.size() - 2).contains("prefill exploded"), events.toString());
            waitFor(() -> model.released.size() == model.made.size());
            assertTrue(model.steps.get() < 100, "the first prompt's 4 x 1,500 tokens were not decoded: " + model.steps.get() + " steps");
        }
    }

    @Test
    void aFullQueueAnswers429AndTheQueuedRequestRunsLater() throws Exception {
        ServeOptions options = ServeOptions.defaults("kjv-student", 2048).withMaxBatch(1).withMaxQueue(1);
        try (OpenAiServer server = OpenAiServer.start(demo.model, demo.tokenizer, TranscriptChatFormat.INSTANCE, options, line -> { })) {
            Client client = new Client(server.uri());
            Socket hog = openStream(server.port(), ServerTest.completion("In the", 1500).put("stream", true));
            try {
                waitFor(() -> client.get("/health").json().get("running_sequences").asInt() == 1);
                var queued = CompletableFuture.supplyAsync(() -> client.post("/v1/completions", ServerTest.completion("And", 4)));
                waitFor(() -> client.get("/health").json().get("waiting_requests").asInt() == 1);
                Client.Reply busy = client.post("/v1/completions", ServerTest.completion("And", 4));
                assertEquals(429, busy.status(), busy.body());
                assertEquals("queue_full", busy.json().at("/error/code").asText());
                assertTrue(busy.json().at("/error/message").asText().contains("--max-queue 1"));
                hog.close();                                   // the hog leaves: the queued request gets its slot
                Client.Reply later = queued.get();
                assertEquals(200, later.status(), later.body());
                assertEquals(demo.greedy("And", 4).text(), later.json().at("/choices/0/text").asText());
            } finally {
                hog.close();
            }
        }
    }

    /** A queued stream is open at once (headers, then SSE comments), and a client that leaves while queued is dropped. */
    @Test
    void aQueuedStreamOpensAtOnceAndItsClientLeavingIsNoticed() throws Exception {
        ServeOptions options = ServeOptions.defaults("kjv-student", 2048).withMaxBatch(1);
        try (OpenAiServer server = OpenAiServer.start(demo.model, demo.tokenizer, TranscriptChatFormat.INSTANCE, options, line -> { })) {
            Client client = new Client(server.uri());
            Socket hog = openStream(server.port(), ServerTest.completion("In the", 1500).put("stream", true));
            try (hog; Socket queued = new Socket("127.0.0.1", server.port())) {
                waitFor(() -> client.get("/health").json().get("running_sequences").asInt() == 1);
                byte[] b = ServerTest.completion("And", 4).put("stream", true).toString().getBytes(StandardCharsets.UTF_8);
                queued.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + b.length + "\r\n\r\n")
                        .getBytes(StandardCharsets.UTF_8));
                queued.getOutputStream().write(b);
                queued.setSoTimeout(5_000);
                BufferedReader in = new BufferedReader(new InputStreamReader(queued.getInputStream(), StandardCharsets.UTF_8));
                assertTrue(in.readLine().startsWith("HTTP/1.1 200"), "the stream opens while it waits");
                String line;
                while ((line = in.readLine()) != null && !line.startsWith(": keep-alive")) {
                    assertTrue(!line.startsWith("data: "), "no token while queued: " + line);
                }
                assertEquals(1, client.get("/health").json().get("waiting_requests").asInt());
                queued.close();
                // The queued client left: a keep-alive write fails and the request leaves the queue, the hog still running.
                waitFor(() -> client.get("/health").json().get("waiting_requests").asInt() == 0);
                assertEquals(1, client.get("/health").json().get("running_sequences").asInt());
            }
        }
    }

    /** A whole (non-streamed) response's client that leaves mid-generation is noticed, and its sequence ended early. */
    @Test
    void aWholeResponsesClientLeavingEndsItsSequence() throws Exception {
        Faulty model = new Faulty(demo.model);
        List<String> log = java.util.Collections.synchronizedList(new ArrayList<>());
        try (OpenAiServer server = OpenAiServer.start(model, demo.tokenizer, TranscriptChatFormat.INSTANCE,
                ServeOptions.defaults("faulty", 2048), log::add)) {
            Client client = new Client(server.uri());
            try (Socket socket = new Socket("127.0.0.1", server.port())) {
                socket.getOutputStream().write(rawPost(ServerTest.completion("In the", 2000).put("model", "faulty")));
                waitFor(() -> model.steps.get() > 5);
            }
            int atClose = model.steps.get();
            waitFor(() -> client.get("/health").json().get("running_sequences").asInt() == 0);
            // 2,000 steps take the demo student over ten seconds here; the client's leaving ends it within a few.
            assertTrue(model.steps.get() < atClose + 500, "ran on after its client left: " + model.steps.get() + " steps, " + atClose + " at close");
            waitFor(() -> log.stream().anyMatch(l -> l.contains("POST /v1/completions")));
            String line = log.stream().filter(l -> l.contains("POST /v1/completions")).findFirst().orElseThrow();
            assertTrue(line.contains(" 499 ") && line.contains("client went away"), line);
            assertEquals(model.made.size(), model.released.size(), "its decoder released");
        }
    }

    /** Watching a whole response's connection leaves requests pipelined behind it to be answered in turn. */
    @Test
    void requestsPipelinedBehindAWholeResponseAreAnsweredInOrder() throws Exception {
        try (OpenAiServer server = OpenAiServer.start(demo.model, demo.tokenizer, TranscriptChatFormat.INSTANCE,
                ServeOptions.defaults("kjv-student", 2048), line -> { });
             Socket socket = new Socket("127.0.0.1", server.port())) {
            Client client = new Client(server.uri());
            socket.getOutputStream().write(rawPost(ServerTest.completion("In the", 200)));
            waitFor(() -> client.get("/health").json().get("running_sequences").asInt() == 1);
            // The second request comes while the first runs: the watch sees the connection readable, with bytes to read.
            socket.getOutputStream().write(rawPost(ServerTest.completion("And", 8)));
            socket.setSoTimeout(60_000);
            var in = new java.io.DataInputStream(new java.io.BufferedInputStream(socket.getInputStream()));
            for (String prompt : List.of("In the", "And")) {
                JsonNode body = Responses.JSON.readTree(readResponse(in));
                assertEquals(demo.greedy(prompt, prompt.equals("And") ? 8 : 200).text(), body.at("/choices/0/text").asText(), prompt);
            }
        }
    }

    /**
     * A client that sends whole requests one after the other on one connection is never taken for gone (each request's
     * watch must not see the next request's readiness, nor its own connection's earlier one).
     */
    @Test
    void wholeRequestsInTurnOnOneConnectionAreAllAnswered() throws Exception {
        try (OpenAiServer server = OpenAiServer.start(demo.model, demo.tokenizer, TranscriptChatFormat.INSTANCE,
                ServeOptions.defaults("kjv-student", 2048), line -> { });
             Socket socket = new Socket("127.0.0.1", server.port())) {
            socket.setSoTimeout(60_000);
            var in = new java.io.DataInputStream(new java.io.BufferedInputStream(socket.getInputStream()));
            for (int i = 0; i < 300; i++) {
                socket.getOutputStream().write(rawPost(ServerTest.completion("And", 1 + i % 3)));
                JsonNode body = Responses.JSON.readTree(readResponse(in));
                assertEquals(1 + i % 3, body.at("/usage/completion_tokens").asInt(), "request " + i + ": " + body);
            }
        }
    }

    /** A completion request as raw HTTP/1.1 bytes. */
    static byte[] rawPost(JsonNode body) {
        byte[] b = body.toString().getBytes(StandardCharsets.UTF_8);
        byte[] head = ("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "
                + b.length + "\r\n\r\n").getBytes(StandardCharsets.UTF_8);
        byte[] all = Arrays.copyOf(head, head.length + b.length);
        System.arraycopy(b, 0, all, head.length, b.length);
        return all;
    }

    /** The body of the next response on a connection (status 200, Content-Length framed). */
    static String readResponse(java.io.DataInputStream in) throws IOException {
        String status = readLine(in);
        assertTrue(status.startsWith("HTTP/1.1 200"), status);
        int length = -1;
        for (String h; !(h = readLine(in)).isEmpty(); ) {
            if (h.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) length = Integer.parseInt(h.substring(15).trim());
        }
        assertTrue(length >= 0, "a Content-Length framed response");
        byte[] body = new byte[length];
        in.readFully(body);
        return new String(body, StandardCharsets.UTF_8);
    }

    private static String readLine(java.io.DataInputStream in) throws IOException {
        StringBuilder b = new StringBuilder();
        for (int c; (c = in.read()) != '\n'; ) {
            if (c < 0) throw new IOException("the connection ended");
            if (c != '\r') b.append((char) c);
        }
        return b.toString();
    }

    @Test
    void shutdownRefusesNewRequestsAndLetsRunningOnesFinish() throws Exception {
        OpenAiServer server = OpenAiServer.start(demo.model, demo.tokenizer, TranscriptChatFormat.INSTANCE,
                ServeOptions.defaults("kjv-student", 2048), line -> { });
        Client client = new Client(server.uri());
        var running = CompletableFuture.supplyAsync(() -> client.post("/v1/completions", ServerTest.completion("In the", 300)));
        waitFor(() -> client.get("/health").json().get("running_sequences").asInt() == 1);
        var stopping = CompletableFuture.runAsync(() -> server.shutdown(60_000));
        waitFor(() -> client.get("/health").status() == 503);
        Client.Reply refused = client.post("/v1/completions", ServerTest.completion("And", 4));
        assertEquals(503, refused.status(), refused.body());
        assertEquals("shutting_down", refused.json().at("/error/code").asText());
        Client.Reply finished = running.get();
        assertEquals(200, finished.status(), finished.body());
        assertEquals(demo.greedy("In the", 300).text(), finished.json().at("/choices/0/text").asText());
        stopping.get();
    }

    /** A raw connection that starts a streamed request and reads up to its first event (closing it is a client going away). */
    static Socket openStream(int port, JsonNode body) throws Exception {
        Socket socket = new Socket("127.0.0.1", port);
        byte[] b = body.toString().getBytes(StandardCharsets.UTF_8);
        socket.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + b.length
                + "\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        socket.getOutputStream().write(b);
        BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null && !line.startsWith("data: ")) { }
        return socket;
    }

    static void waitFor(BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + 20_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > end) throw new AssertionError("condition not reached in 20 s");
            Thread.sleep(10);
        }
    }
}
