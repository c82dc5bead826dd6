package gsat2r.gpumodels;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.api.Session;
import gsat2r.api.T2rModel;
import gsat2r.converter.GateInit;
import gsat2r.core.generate.Sampler;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.Precision;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.tokenizer.Tokenizer;
import gsat2r.serve.OpenAiServer;
import gsat2r.serve.ServeOptions;
import gsat2r.serve.TranscriptChatFormat;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code t2r serve --device cuda}: the server over the GPU student, its answers to concurrent requests (decoded in
 * batches of whatever rows are running) against one GPU session per prompt (bit for bit: the GSA student's batched
 * step equals each decoder's own at up to 16 rows, and prompts of one prefill piece are read alike), and its echoed
 * prompt log-probabilities (the GPU's multi-token pass) against the CPU model's forward pass (bf16 against fp32: the
 * 0.1-nat bound is a first guess, to be replaced by what the first run measures; the worst difference is printed).
 * The release of decoders is tested on the CPU (ResilienceTest) and by GpuDecodingGpuTest's device-memory checks.
 */
@Tag("gpu")
class ServeGpuTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @TempDir
    Path tmp;

    /** Prompts of 2 to 60 tokens: each one prefill piece (the server cuts prompts at 64 tokens). */
    private static final List<String> PROMPTS = List.of("In", "In the beginning", "And God said, Let there be light",
            "And the earth was without form, and void; and darkness was upon the face of the deep.",
            "And God saw the light, that it was good: and God divided the light from the darkness. And God called",
            "And the evening", "Who made the heaven and the earth?", "And the Spirit of God moved upon the face of the waters.");

    private static JsonNode post(URI base, String path, ObjectNode body) {
        try {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(base.resolve(path)).POST(HttpRequest.BodyPublishers.ofString(body.toString()))
                    .header("Content-Type", "application/json").build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            return JSON.readTree(r.body());
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void concurrentGreedyRequestsEqualOneGpuSessionEachAndLogprobsTheCpusForward() throws Exception {
        Path student = TestModels.student(TestModels.kjvTeacher(), tmp.resolve("student"), 64, GateInit.RANDOM, List.of());
        try (Tokenizer tokenizer = Tokenizer.load(student);
             LanguageModel gpu = GpuLanguageModels.load(ModelDirectory.open(student), Precision.BF16, 0)) {
            List<String> expected = new ArrayList<>();
            T2rModel model = T2rModel.of(gpu, tokenizer);
            for (String p : PROMPTS) {
                try (Session s = model.newSession()) {
                    s.append(p);
                    expected.add(s.generate(24, Sampler.greedy(), null).text());
                }
            }
            ServeOptions options = ServeOptions.defaults("student", 2048).withMaxBatch(16).withPrefixCacheBytes(0);
            try (OpenAiServer server = OpenAiServer.start(gpu, tokenizer, TranscriptChatFormat.INSTANCE, options, line -> { })) {
                URI base = server.uri();
                List<CompletableFuture<JsonNode>> replies = new ArrayList<>();
                for (String p : PROMPTS) {
                    ObjectNode body = JSON.createObjectNode().put("prompt", p).put("max_tokens", 24).put("temperature", 0);
                    replies.add(CompletableFuture.supplyAsync(() -> post(base, "/v1/completions", body)));
                }
                for (int i = 0; i < PROMPTS.size(); i++) {
                    assertEquals(expected.get(i), replies.get(i).get().at("/choices/0/text").asText(), "prompt " + i);
                }

                int[] ids = tokenizer.encode(PROMPTS.get(4));
                ObjectNode echo = JSON.createObjectNode().put("max_tokens", 0).put("logprobs", 0).put("echo", true);
                echo.putArray("prompt").addAll(java.util.Arrays.stream(ids).mapToObj(JSON.getNodeFactory()::numberNode).toList());
                JsonNode lps = post(base, "/v1/completions", echo).at("/choices/0/logprobs/token_logprobs");
                float[][] logits = GsaModel.load(student).forward(ids);
                double worst = 0;
                for (int t = 1; t < ids.length; t++) {
                    double reference = logits[t - 1][ids[t]] - gsat2r.core.cpu.LogitLosses.logSumExp(logits[t - 1], 0, logits[t - 1].length);
                    worst = Math.max(worst, Math.abs(reference - lps.get(t).asDouble()));
                }
                System.out.println("GPU-INFO serve echo logprobs, bf16 GPU against fp32 CPU: worst " + worst + " nats");
                assertTrue(worst < 0.1, "bf16 against the CPU's fp32: " + worst + " nats at worst");
            }
        }
    }
}
