package gsat2r.core.model.llama;

import gsat2r.core.config.LlamaConfig;
import gsat2r.core.config.LlamaConfig.Family;
import gsat2r.core.config.RopeParameters;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.safetensors.DType;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link LanguageModel.Decoder#stateBytes} of the teacher: the KV cache as allocated, 2 (keys, values) ×
 * layers × capacity × kvHeads·headDim × 4 bytes, where the capacity starts at the prefill's length (at
 * least 16), doubles when outgrown, and never exceeds a sliding window.
 */
class DecoderStateBytesTest {

    private static LlamaModel model(Integer window) {
        LlamaConfig c = TestCheckpoints.config(window == null ? Family.LLAMA : Family.MISTRAL, 16, 24, 3, 4, 2, 4, 29,
                window, true, false, false, RopeParameters.defaults(10000), "float32");
        return new LlamaModel(c, TestCheckpoints.weights(c, TestCheckpoints.randomTensors(c, 7)), DType.F32);
    }

    /** Bytes of a cache of {@code capacity} rows for the models above: 3 layers, 2 kv heads × 4 dims. */
    private static long bytes(int capacity) {
        return 2L * 3 * capacity * (2 * 4) * Float.BYTES;
    }

    @Test
    void fullAttentionCacheGrowsByDoubling() {
        LanguageModel.Decoder d = model(null).newDecoder();
        assertEquals(0, d.stateBytes(), "nothing held before the first token");
        d.prefill(LlamaModelTest.randomIds(40, 29, 1));
        assertEquals(bytes(40), d.stateBytes());
        d.next(3);
        assertEquals(bytes(80), d.stateBytes(), "41 positions need a larger cache: it doubles");
        for (int i = 0; i < 39; i++) d.next(i % 29);
        assertEquals(80, d.position());
        assertEquals(bytes(80), d.stateBytes());
    }

    @Test
    void slidingWindowCapsTheCache() {
        LanguageModel.Decoder d = model(24).newDecoder();
        d.prefill(LlamaModelTest.randomIds(10, 29, 2));
        assertEquals(bytes(16), d.stateBytes(), "the first allocation holds at least 16 rows");
        for (int i = 0; i < 100; i++) d.next(i % 29);
        assertEquals(bytes(24), d.stateBytes(), "a ring buffer of the window's 24 rows, however long the text");
    }
}
