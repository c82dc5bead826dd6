package gsat2r.serve;

import gsat2r.core.gsa.GsaState;
import gsat2r.core.model.DecoderState;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PrefixCacheTest {

    /** A one-layer state of 1 KiB at {@code position}. */
    private static DecoderState state(int position) {
        return new DecoderState(position, List.of(new DecoderState.Recurrent(0, GsaState.zeros(1, 1, 8, 8, 8))));
    }

    private static int[] ids(int n, int salt) {
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = (i * 31 + salt) % 1000;
        return ids;
    }

    @Test
    void findsTheLongestCachedBoundaryWithinTheLimit() {
        PrefixCache cache = new PrefixCache(1 << 20);
        int[] a = ids(300, 0);
        DecoderState s64 = state(64), s128 = state(128), s256 = state(256);
        cache.put(a, 64, s64);
        cache.put(a, 128, s128);
        cache.put(a, 256, s256);
        assertSame(s256, cache.lookup(a, 298).state());
        assertSame(s128, cache.lookup(a, 255).state());
        assertEquals(128, cache.lookup(a, 200).length());
        assertNull(cache.lookup(a, 63));
        int[] b = a.clone();
        b[100] = 999;                                        // shares the first 100 tokens: one boundary
        assertSame(s64, cache.lookup(b, 298).state());
        int[] c = a.clone();
        c[0] = 998;
        assertNull(cache.lookup(c, 298));
        assertTrue(cache.contains(a, 128));
        assertFalse(cache.contains(b, 128));
        PrefixCache.Stats st = cache.stats();
        assertEquals(3, st.entries());
        assertEquals(4, st.hits());
        assertEquals(2, st.misses());
    }

    @Test
    void evictsTheLeastRecentlyUsedBeyondItsBytes() {
        long one = state(64).bytes() + 4L * 64 + 256;
        PrefixCache cache = new PrefixCache(3 * one);
        int[] a = ids(100, 1), b = ids(100, 2), c = ids(100, 3), d = ids(100, 4);
        cache.put(a, 64, state(64));
        cache.put(b, 64, state(64));
        cache.put(c, 64, state(64));
        cache.lookup(a, 98);                                  // a is now the most recent
        cache.put(d, 64, state(64));                          // evicts b
        assertTrue(cache.contains(a, 64));
        assertFalse(cache.contains(b, 64));
        assertTrue(cache.contains(c, 64));
        assertTrue(cache.contains(d, 64));
        assertTrue(cache.stats().bytes() <= 3 * one);
    }

    @Test
    void offKeepsNothingAndAStateOffABoundaryIsRefused() {
        PrefixCache off = new PrefixCache(0);
        off.put(ids(100, 0), 64, state(64));
        assertNull(off.lookup(ids(100, 0), 98));
        PrefixCache cache = new PrefixCache(1 << 20);
        assertThrows(IllegalArgumentException.class, () -> cache.put(ids(100, 0), 50, state(50)));
        assertThrows(IllegalArgumentException.class, () -> cache.put(ids(100, 0), 64, state(63)));
    }

    @Test
    void prefillPiecesStopAtBoundariesAndNeverLeaveOneToken() {
        assertEquals(0, PrefillPlan.lastBoundary(1));
        assertEquals(0, PrefillPlan.lastBoundary(65));
        assertEquals(64, PrefillPlan.lastBoundary(66));
        assertEquals(64, PrefillPlan.lastBoundary(129));
        assertEquals(128, PrefillPlan.lastBoundary(130));
        for (int n = 1; n < 400; n++) {
            int at = 0;
            while (at < n) {
                int end = PrefillPlan.pieceEnd(at, n);
                assertTrue(end - at >= 2 || n == 1, "n " + n + ": a piece of " + (end - at) + " at " + at);
                assertTrue(end == n || PrefillPlan.isBoundary(end, n), "n " + n + " stops at " + end);
                at = end;
            }
        }
    }
}
