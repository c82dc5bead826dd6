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
}
