package gsat2r.core.model.llama;

import gsat2r.core.model.LanguageModel;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.TensorInfo;
import gsat2r.core.testing.Numerics;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URL;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The teacher against checkpoints and outputs made by Hugging Face transformers (test resources
 * {@code fixtures/hf-tiny-llama}: bf16, tied, GQA, llama3 RoPE scaling; {@code fixtures/hf-tiny-mistral}:
 * fp32, untied, sliding window shorter than the sequence, head_dim ≠ hidden/heads, one kv head).
 * Each holds {@code config.json}, {@code model.safetensors} and {@code expected.safetensors} with
 * {@code input_ids [B,T]}, all-position {@code logits [B,T,V]}, {@code greedy_prompt [P]} and
 * {@code greedy_ids [P+N]}. Tolerances: logits 1e-4 relative L2 per sequence; greedy ids identical
 * (decoded through the KV cache).
 */
class HfFixturesTest {

    @ParameterizedTest
    @ValueSource(strings = {"hf-tiny-llama", "hf-tiny-mistral"})
    void logitsAndGreedyDecodingMatchTransformers(String fixture) throws Exception {
        URL config = getClass().getResource("/fixtures/" + fixture + "/config.json");
        assumeTrue(config != null, "fixture " + fixture + " has not landed yet (core/src/test/resources/fixtures)");
        Path dir = Path.of(config.toURI()).getParent();
        LlamaModel model = LlamaModel.load(dir);
        try (SafeTensors expected = SafeTensors.open(dir.resolve("expected.safetensors"))) {
            TensorInfo ids = expected.info("input_ids");
            int B = (int) ids.dim(0), T = (int) ids.dim(1), V = model.vocabSize();
            expected.expect("logits", B, T, V);
            long[] allIds = longs(expected, "input_ids");
            float[] logits = expected.floats("logits");
            for (int b = 0; b < B; b++) {
                int[] seq = new int[T];
                for (int t = 0; t < T; t++) seq[t] = Math.toIntExact(allIds[b * T + t]);
                float[] actual = model.logits(seq);
                float[] ref = Arrays.copyOfRange(logits, b * T * V, (b + 1) * T * V);
                System.out.printf(Locale.ROOT, "%s sequence %d (T=%d): logits rel L2 %.2e (tol 1e-4)%n",
                        fixture, b, T, Numerics.relL2(actual, ref));
                Numerics.assertRelL2(fixture + " sequence " + b, actual, ref, 1e-4);
            }
            int[] prompt = ints(longs(expected, "greedy_prompt"));
            int[] greedy = ints(longs(expected, "greedy_ids"));
            assertArrayEquals(greedy, TinyLlamaReferenceTest.greedy(model, prompt, greedy.length - prompt.length),
                    fixture + " greedy continuation");
        }
    }

    static long[] longs(SafeTensors st, String name) {
        TensorInfo info = st.info(name);
        assertEquals(DType.I64, info.dtype(), name + " dtype");
        MemorySegment seg = st.bytes(name);
        long[] out = new long[(int) info.numel()];
        for (int i = 0; i < out.length; i++) {
            out[i] = seg.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 8L * i);
        }
        return out;
    }

    static int[] ints(long[] a) {
        return Arrays.stream(a).mapToInt(Math::toIntExact).toArray();
    }
}
