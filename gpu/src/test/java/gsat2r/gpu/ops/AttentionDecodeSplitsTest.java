package gsat2r.gpu.ops;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The decode attention's split count (one wave at small batch, at least MIN_SPLITS in nearly full waves at large batch) and its shortest split. */
class AttentionDecodeSplitsTest {
    private static final long SLOTS = 3 * 132;  // an H200 at 3 CTAs a SM

    @Test
    void oneWaveAtSmallBatchAtLeastMinSplitsAtLargeBatch() {
        // Llama-3.2-1B's attention: 8 kv heads, one head group of 4 query heads.
        assertEquals(49, AttentionDecode.splits(SLOTS, 8));         // B = 1: 392 CTAs, one wave
        assertEquals(18, AttentionDecode.splits(SLOTS, 8 * 8));     // B = 8: 1,152 CTAs of 1,188 in 3 waves
        assertEquals(16, AttentionDecode.splits(SLOTS, 64 * 8));    // B = 64: 8,192 of 8,316 in 21 waves
        assertEquals(16, AttentionDecode.splits(SLOTS, 256 * 8));   // B = 256: 32,768 of 32,868 in 83 waves
        assertEquals(AttentionDecode.MAX_SPLITS, AttentionDecode.splits(SLOTS, 1));
    }

    @Test
    void longerShortestSplitsOnlyWhenTheBatchAloneFillsTheSms() {
        assertEquals(AttentionDecode.MIN_CHUNK, AttentionDecode.minChunk(SLOTS, 8));              // B = 1
        assertEquals(AttentionDecode.MIN_CHUNK, AttentionDecode.minChunk(SLOTS, 49 * 8));         // B = 49: 392 CTAs a split
        assertEquals(AttentionDecode.MIN_CHUNK_FULL, AttentionDecode.minChunk(SLOTS, 50 * 8));    // B = 50: 400
        assertEquals(AttentionDecode.MIN_CHUNK_FULL, AttentionDecode.minChunk(SLOTS, 256 * 8));   // B = 256
    }

    @Test
    void boundedAndFillingTheirWaves() {
        for (long perSplit = 1; perSplit <= 4096; perSplit++) {
            int s = AttentionDecode.splits(SLOTS, perSplit);
            assertTrue(s >= AttentionDecode.MIN_SPLITS && s <= AttentionDecode.MAX_SPLITS, perSplit + " CTAs a split: " + s);
            long ctas = s * perSplit, waves = Math.ceilDiv(ctas, SLOTS);
            // One split more would need another wave, unless MAX_SPLITS stops it.
            assertTrue(s == AttentionDecode.MAX_SPLITS || (s + 1) * perSplit > waves * SLOTS, perSplit + " CTAs a split: " + s);
        }
    }
}
