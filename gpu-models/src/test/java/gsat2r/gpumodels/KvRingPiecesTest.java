package gsat2r.gpumodels;

import gsat2r.core.gsa.GsaChunked;
import gsat2r.gpu.ops.Attention;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A prompt's later pieces reach a decoder's attention layers at multiples of the GSA chunk (the serve scheduler's
 * pieces and the prefix cache's boundaries), and {@link KvRing} runs them as one flash forward only when they start at
 * a multiple of the attention kernel's block: the one must stay a multiple of the other, or every piece would go back
 * to the decode kernel a token at a time without any test failing.
 */
class KvRingPiecesTest {
    @Test
    void promptPiecesStartWhereTheForwardAfterPastPositionsRuns() {
        assertEquals(0, GsaChunked.DEFAULT_CHUNK % Attention.BLOCK,
                "the GSA chunk " + GsaChunked.DEFAULT_CHUNK + " is a multiple of the attention block " + Attention.BLOCK);
    }

    @Test
    void tokensGoThroughTheDecodeKernelOnlyUntilTheRowsKeptAreAMultipleOf64() {
        assertEquals(28, KvRing.tokensAlone(0, 100, 130));      // 100 .. 127 alone, the flash forward after 128
        assertEquals(5, KvRing.tokensAlone(0, 123, 5));         // the piece ends first
        assertEquals(0, KvRing.tokensAlone(0, 128, 7));
        assertEquals(24, KvRing.tokensAlone(64, 40, 90));       // a window of 64 fills at position 64
        assertEquals(0, KvRing.tokensAlone(64, 100, 130));      // behind a full window of 64: its 64 rows
        assertEquals(0, KvRing.tokensAlone(4096, 5000, 10));
        assertEquals(90, KvRing.tokensAlone(40, 100, 90));      // behind a full window of 40: never
        assertEquals(20, KvRing.tokensAlone(40, 20, 20));       // before it fills, 20 .. 39 never reach 64 rows
        assertEquals(60, KvRing.tokensAlone(100, 4, 200));      // 4 .. 63 alone, then 64 rows kept
    }
}
