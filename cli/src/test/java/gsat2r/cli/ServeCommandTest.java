package gsat2r.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code t2r serve} as a user runs it: a child JVM serving the demo teacher's converted student on a free loopback
 * port, 24 concurrent greedy completions each equal to what {@code t2r generate --greedy} prints for its prompt,
 * JSON 400s, chat answers whole and streamed, and a graceful stop on SIGTERM.
 */
class ServeCommandTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Pattern LISTENING = Pattern.compile("listening on (http://\\S+/)");
    private static final List<String> VERSES = List.of(
            "In the beginning God created the heaven and the earth.",
            "And the earth was without form, and void; and darkness was upon the face of the deep.",
            "And the Spirit of God moved upon the face of the waters.",
            "And God said, Let there be light: and there was light.",
            "And God saw the light, that it was good: and God divided the light from the darkness.",
            "And God called the light Day, and the darkness he called Night.");

    @TempDir
    Path tmp;

    private CliRun t2r(String... args) {
        return CliRun.run(ModelLoader::load, tmp.resolve("cache"), args);
    }

    @Test
    void servesTheDemoStudentAsGenerateGreedyDoes() throws Exception {
        Path student = tmp.resolve("kjv-student");
        CliRun convert = t2r("convert", "--teacher", Path.of("..", "models", "kjv-llama").toString(), "--out", student.toString());
        assertEquals(0, convert.exit(), convert.toString());

        Path err = tmp.resolve("serve.err");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), T2r.class.getName(),
                "serve", "--model", student.toString(), "--port", "0", "--max-batch", "32")
                .redirectError(err.toFile()).redirectOutput(tmp.resolve("serve.out").toFile()).start();
        try {
            URI base = awaitListening(p, err);
            HttpClient http = HttpClient.newHttpClient();

            List<String> prompts = new ArrayList<>();
            for (int i = 0; i < 24; i++) {
                StringBuilder prompt = new StringBuilder(VERSES.get(i % VERSES.size()));
                for (int k = 0; k < (i % 4 == 3 ? 8 : i % 3); k++) prompt.append(' ').append(VERSES.get((i + k + 1) % VERSES.size()));
                prompts.add(i % 5 == 4 ? prompt.substring(0, 9 + i) : prompt.toString());
            }
            List<CompletableFuture<HttpResponse<String>>> replies = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                ObjectNode body = JSON.createObjectNode().put("prompt", prompts.get(i)).put("max_tokens", 10 + 2 * i).put("temperature", 0);
                replies.add(http.sendAsync(post(base, "v1/completions", body.toString()), HttpResponse.BodyHandlers.ofString()));
            }
            for (int i = 0; i < prompts.size(); i++) {
                HttpResponse<String> r = replies.get(i).get(120, TimeUnit.SECONDS);
                assertEquals(200, r.statusCode(), r.body());
                CliRun generate = t2r("generate", "--model", student.toString(), "--prompt", prompts.get(i), "--max-new-tokens",
                        String.valueOf(10 + 2 * i), "--greedy", "--format", "json");
                assertEquals(0, generate.exit(), generate.toString());
                JsonNode expected = JSON.readTree(generate.out()), got = JSON.readTree(r.body());
                int newTokens = expected.get("ids").size() - got.at("/usage/prompt_tokens").asInt();
                assertEquals(expected.get("text").asText(), got.at("/choices/0/text").asText(), "prompt " + i);
                assertEquals(newTokens, got.at("/usage/completion_tokens").asInt(), "prompt " + i);
                boolean eos = expected.get("ids").get(expected.get("ids").size() - 1).asInt() == 1 && newTokens < 10 + 2 * i;
                assertEquals(eos ? "stop" : "length", got.at("/choices/0/finish_reason").asText());
            }

            for (String bad : List.of("{\"prompt\": \"In the", "{\"prompt\": \"In the\", \"max_tokens\": -5}")) {
                HttpResponse<String> r = http.send(post(base, "v1/completions", bad), HttpResponse.BodyHandlers.ofString());
                assertEquals(400, r.statusCode(), r.body());
                JsonNode error = JSON.readTree(r.body()).get("error");
                assertEquals("invalid_request_error", error.get("type").asText(), r.body());
                assertTrue(error.has("message") && error.has("param") && error.has("code"), r.body());
            }

            String chat = "{\"messages\": [{\"role\": \"user\", \"content\": \"Who made the light?\"}], \"max_tokens\": 16}";
            HttpResponse<String> whole = http.send(post(base, "v1/chat/completions", chat), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, whole.statusCode(), whole.body());
            assertEquals("assistant", JSON.readTree(whole.body()).at("/choices/0/message/role").asText());
            HttpResponse<String> streamed = http.send(post(base, "v1/chat/completions", chat.replace("}],", "}], \"stream\": true,")),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, streamed.statusCode(), streamed.body());
            assertTrue(streamed.body().replaceAll("(?m)^: keep-alive\n\n", "").startsWith("data: {"), streamed.body());
            assertTrue(streamed.body().contains("\"chat.completion.chunk\""), streamed.body());
            assertTrue(streamed.body().endsWith("data: [DONE]\n\n"), streamed.body());
        } finally {
            p.destroy();                                       // SIGTERM: the graceful shutdown
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "t2r serve did not stop on SIGTERM");
        }
        String log = Files.readString(err);
        assertTrue(log.contains("shutting down") && log.contains("stopped"), log);
        assertTrue(log.contains("POST /v1/completions 200"), log);
        assertTrue(log.contains("POST /v1/completions 400"), log);
        assertFalse(log.contains("Exception"), log);
    }

    @Test
    void wrongOptionsAreUsageErrors() {
        for (String[] args : List.of(new String[] {"serve", "--max-batch", "0"}, new String[] {"serve", "--port", "70000"},
                new String[] {"serve", "--prefix-cache-bytes", "lots"}, new String[] {"serve", "--max-queue", "0"})) {
            CliRun r = t2r(args);
            assertEquals(2, r.exit(), r.toString());
            assertTrue(r.err().contains("Try 't2r serve --help'"), r.err());
        }
    }

    private static HttpRequest post(URI base, String path, String body) {
        return HttpRequest.newBuilder(base.resolve(path)).POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    private static URI awaitListening(Process p, Path err) throws IOException, InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (System.nanoTime() < end) {
            String log = Files.exists(err) ? Files.readString(err) : "";
            Matcher m = LISTENING.matcher(log);
            if (m.find()) return URI.create(m.group(1));
            if (!p.isAlive()) throw new AssertionError("t2r serve exited " + p.exitValue() + ":\n" + log);
            Thread.sleep(50);
        }
        throw new AssertionError("t2r serve did not start listening in 120 s");
    }
}
