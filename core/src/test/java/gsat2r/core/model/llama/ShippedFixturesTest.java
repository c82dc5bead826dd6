package gsat2r.core.model.llama;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import gsat2r.core.cpu.LogitLosses;
import gsat2r.core.testing.Numerics;
import gsat2r.core.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Locale;

import static gsat2r.core.model.llama.TinyLlamaReferenceTest.argmax;
import static gsat2r.core.model.llama.TinyLlamaReferenceTest.floats;
import static gsat2r.core.model.llama.TinyLlamaReferenceTest.greedy;
import static gsat2r.core.model.llama.TinyLlamaReferenceTest.ints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The project's own checkpoints against transformers 5.17, end to end from text: the shipped demo
 * teacher {@code models/kjv-llama} (byte-level BPE, Llama-3 style) with its reference outputs, and the
 * sentencepiece-style byte-fallback tokenizer of the {@code hf-tiny-mistral} fixture with the ids that
 * the Rust {@code tokenizers} library gave. Tolerances as in {@link TinyLlamaReferenceTest}.
 */
class ShippedFixturesTest {
    static final Path DEMO = Path.of("..", "models", "kjv-llama");

    @Test
    void demoTeacherReproducesTransformersFromText() throws Exception {
        JsonNode reference = new ObjectMapper().readTree(
                ShippedFixturesTest.class.getResource("/fixtures/kjv-llama-reference.json"));
        try (Tokenizer tok = Tokenizer.load(DEMO)) {
            // The reference came from transformers' from_pretrained(dir).float(), which keeps RoPE's
            // inv_freq in fp32 (bf16-rounded frequencies would be 1.5e-4 off); see LlamaModel.load.
            LlamaModel model = LlamaModel.load(DEMO, gsat2r.core.safetensors.DType.F32);
            for (JsonNode prompt : reference.get("prompts")) {
                String text = prompt.get("prompt").asText();
                int[] ids = ints(prompt.get("ids"));
                assertArrayEquals(ids, tok.encode(text), "token ids of '" + text + "'");
                float[][] logits = model.forward(ids);
                double worstLse = 0;
                for (int t = 0; t < ids.length; t++) {
                    assertEquals(prompt.get("argmax").get(t).asInt(), argmax(logits[t]), "argmax at " + t);
                    double lse = LogitLosses.logSumExp(logits[t], 0, logits[t].length);
                    double expected = prompt.get("logsumexp").get(t).asDouble();
                    worstLse = Math.max(worstLse, Math.abs(lse - expected) / Math.abs(expected));
                }
                float[] expectedLast = floats(prompt.get("logits_last"));
                System.out.printf(Locale.ROOT, "kjv-llama '%s': last logits rel L2 %.2e, logsumexp max rel %.2e%n",
                        text, Numerics.relL2(logits[ids.length - 1], expectedLast), worstLse);
                Numerics.assertRelL2("last logits of '" + text + "'", logits[ids.length - 1], expectedLast, 1e-4);
                assertTrue(worstLse <= 1e-4, "logsumexp relative error " + worstLse);
                int[] expectedGreedy = ints(prompt.get("greedy_40"));
                assertArrayEquals(expectedGreedy, greedy(model, ids, expectedGreedy.length - ids.length),
                        "greedy continuation of '" + text + "'");
            }
        }
    }

    @Test
    void sentencepieceStyleTokenizerMatchesRustTokenizers() throws Exception {
        Path dir = Path.of(ShippedFixturesTest.class.getResource("/fixtures/hf-tiny-mistral").toURI());
        JsonNode expected = new ObjectMapper().readTree(dir.resolve("expected_tokens.json").toFile());
        try (Tokenizer tok = Tokenizer.load(dir)) {
            for (int i = 0; i < expected.get("texts").size(); i++) {
                String text = expected.get("texts").get(i).asText();
                int[] ids = ints(expected.get("ids").get(i));
                assertArrayEquals(ids, tok.encode(text), "ids of " + text);
                assertEquals(expected.get("decoded").get(i).asText(), tok.decode(ids), "decoded ids of " + text);
            }
        }
    }
}
