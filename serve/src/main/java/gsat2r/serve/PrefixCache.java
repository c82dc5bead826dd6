package gsat2r.serve;

import gsat2r.core.gsa.GsaChunked;
import gsat2r.core.model.DecoderState;

import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Decoding states after prompt prefixes, so that a request sharing a long prefix with an earlier one (a system
 * prompt, a few-shot preamble) skips that part of its prefill. States are kept at {@link #BLOCK}-token boundaries
 * only, in a least-recently-used map bounded in bytes; an entry holds the prefix's token ids, which a lookup
 * compares in full (a hash collision can never hand over another prompt's state).
 *
 * <p>Why the boundaries are multiples of the GSA chunk: the student's prefill runs the chunked form from its
 * state, chunks counted from where the call starts. Stopping at a multiple of 64 and continuing from there cuts
 * the prompt into the same chunks as one call over it, so the numbers are the same bit for bit; the teacher's
 * matrix products and attention do not depend on how rows are split at all. (A final piece of one token would
 * take the recurrent step instead of a chunk of one: {@link PrefillPlan} never leaves one.)
 *
 * <p>Thread-safe; in the server only the scheduler thread reads and writes it, the statistics are read from
 * others.
 */
final class PrefixCache {
    /** Tokens between cached boundaries: the GSA chunk. */
    static final int BLOCK = GsaChunked.DEFAULT_CHUNK;

    /** A cached state: after {@code length} tokens of the prompt looked up. */
    record Hit(int length, DecoderState state) {}

    /** What {@code /health} reports. */
    record Stats(int entries, long bytes, long maxBytes, long hits, long misses, long tokensReused) {}

    private record Entry(int[] tokens, DecoderState state, long bytes) {}

    private final long maxBytes;
    private final LinkedHashMap<Long, Entry> entries = new LinkedHashMap<>(16, 0.75f, true);
    private long bytes, hits, misses, tokensReused;

    PrefixCache(long maxBytes) {
        if (maxBytes < 0) throw new IllegalArgumentException("negative cache size " + maxBytes);
        this.maxBytes = maxBytes;
    }

    long maxBytes() {
        return maxBytes;
    }

    boolean enabled() {
        return maxBytes > 0;
    }

    /** The state after the longest cached prefix of {@code ids} that ends at a boundary {@code ≤ limit}; null when none. */
    synchronized Hit lookup(int[] ids, int limit) {
        if (!enabled()) return null;
        long[] keys = keys(ids, Math.min(limit, ids.length));
        for (int i = keys.length - 1; i >= 0; i--) {
            int length = (i + 1) * BLOCK;
            Entry e = entries.get(keys[i]);
            if (e != null && e.tokens.length == length && Arrays.equals(e.tokens, 0, length, ids, 0, length)) {
                hits++;
                tokensReused += length;
                return new Hit(length, e.state);
            }
        }
        misses++;
        return null;
    }

    /** Whether the state after the first {@code length} tokens of {@code ids} (a boundary) is cached. */
    synchronized boolean contains(int[] ids, int length) {
        Entry e = entries.get(key(ids, length));
        return e != null && Arrays.equals(e.tokens, 0, length, ids, 0, length);
    }

    /**
     * Keeps {@code state}, the state after the first {@code length} tokens of {@code ids} ({@code length} a
     * multiple of {@link #BLOCK}), evicting the least recently used entries beyond the byte bound.
     */
    synchronized void put(int[] ids, int length, DecoderState state) {
        if (length % BLOCK != 0 || length == 0 || length > ids.length || state.position() != length) {
            throw new IllegalArgumentException("a prefix state must be at a boundary of " + BLOCK + " tokens: " + length
                    + " tokens, state at " + state.position());
        }
        long size = state.bytes() + 4L * length + 256;
        if (!enabled() || size > maxBytes) return;
        Entry old = entries.put(key(ids, length), new Entry(Arrays.copyOf(ids, length), state, size));
        if (old != null) bytes -= old.bytes;
        bytes += size;
        Iterator<Map.Entry<Long, Entry>> it = entries.entrySet().iterator();
        while (bytes > maxBytes && it.hasNext()) {
            bytes -= it.next().getValue().bytes;
            it.remove();
        }
    }

    synchronized Stats stats() {
        return new Stats(entries.size(), bytes, maxBytes, hits, misses, tokensReused);
    }

    /** The keys of the prefixes of {@code ids} at every boundary up to {@code limit}. */
    private static long[] keys(int[] ids, int limit) {
        long[] keys = new long[Math.max(0, limit / BLOCK)];
        long h = 0x6a09e667f3bcc908L;
        for (int i = 0; i < keys.length * BLOCK; i++) {
            h = (h ^ ids[i]) * 0x9e3779b97f4a7c15L;
            if ((i + 1) % BLOCK == 0) keys[i / BLOCK] = mix(h ^ (i + 1));
        }
        return keys;
    }

    private static long key(int[] ids, int length) {
        return keys(ids, length)[length / BLOCK - 1];
    }

    /** MurmurHash3's 64-bit finalizer. */
    private static long mix(long h) {
        h ^= h >>> 33;
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        h *= 0xc4ceb93e7f4a7c15L;
        return h ^ (h >>> 33);
    }
}
