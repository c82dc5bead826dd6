package gsat2r.core.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PackedSequencesTest {

    @TempDir
    Path tmp;

    /** A dataset of documents {BOS, d, d, ..., EOS} written by hand, split over shards of a few documents. */
    private PreparedDataset dataset(int[][] docs, int docsPerShard) throws IOException {
        byte[] sha = new byte[32];
        String hash = java.util.HexFormat.of().formatHex(sha);
        StringBuilder shards = new StringBuilder();
        for (int s = 0; s * docsPerShard < docs.length; s++) {
            String name = String.format("train-%05d.tokens", s);
            long tokens = 0;
            int n = 0;
            try (TokenShardWriter w = TokenShardWriter.create(tmp.resolve(name), 1000, sha)) {
                for (int d = s * docsPerShard; d < Math.min(docs.length, (s + 1) * docsPerShard); d++, n++) {
                    w.append(docs[d]);
                    tokens += docs[d].length;
                }
                w.finish();
            }
            if (!shards.isEmpty()) shards.append(',');
            shards.append("{\"file\":\"").append(name).append("\",\"documents\":").append(n).append(",\"tokens\":").append(tokens).append('}');
        }
        Files.writeString(tmp.resolve(PreparedDataset.MANIFEST), "{\"format\":\"" + PreparedDataset.FORMAT + "\",\"version\":1,"
                + "\"tokenizer\":{\"sha256\":\"" + hash + "\",\"vocab_size\":1000},"
                + "\"splits\":{\"train\":{\"shards\":[" + shards + "]},\"validation\":{\"shards\":[]}}}");
        return PreparedDataset.open(tmp);
    }

    private static int[][] docs(int n) {
        int[][] docs = new int[n][];
        for (int d = 0; d < n; d++) {
            docs[d] = new int[3 + (d * 5) % 11];
            Arrays.fill(docs[d], 10 + d);
            docs[d][0] = 1;                              // BOS
            docs[d][docs[d].length - 1] = 2;             // EOS
        }
        return docs;
    }

    @Test
    void windowsHaveStrideTAndShareOneToken() throws IOException {
        int[][] docs = docs(40);
        int[] stream = Arrays.stream(docs).flatMapToInt(Arrays::stream).toArray();
        try (PreparedDataset ds = dataset(docs, 7)) {
            assertTrue(ds.train().shards().size() > 4);
            for (int T : new int[] {1, 5, 16, 64}) {
                PackedSequences seq = new PackedSequences(ds.train(), T);
                assertEquals((stream.length - 1) / T, seq.count(), "T=" + T);
                int[] w = new int[T + 1];
                for (long i = 0; i < seq.count(); i++) {
                    seq.window(i, w, 0);
                    assertArrayEquals(Arrays.copyOfRange(stream, (int) i * T, (int) i * T + T + 1), w);
                }
                // Every stream position but the first is a target exactly once.
                assertTrue(seq.count() * T <= stream.length - 1 && (seq.count() + 1) * T > stream.length - 1);
            }
            // Windows cross document borders: with T = 16 some window holds an EOS followed by a BOS.
            PackedSequences seq = new PackedSequences(ds.train(), 16);
            int[] w = new int[17];
            boolean crossing = false;
            for (long i = 0; i < seq.count() && !crossing; i++) {
                seq.window(i, w, 0);
                for (int t = 0; t + 1 < w.length; t++) crossing |= w[t] == 2 && w[t + 1] == 1;
            }
            assertTrue(crossing);
        }
    }

    @Test
    void tooShortSplitIsAClearError() throws IOException {
        try (PreparedDataset ds = dataset(new int[][] {{1, 5, 2}}, 1)) {
            PackedSequences seq = new PackedSequences(ds.train(), 8);
            assertEquals(0, seq.count());
            var e = assertThrows(gsat2r.core.T2rException.class, () -> seq.requireNonEmpty("recipe.json: data"));
            assertTrue(e.getMessage().contains("the train split has 3 tokens, fewer than one sequence of seq_len + 1 = 9"), e.getMessage());
        }
    }

    @Test
    void orderIsAPermutationPerEpochAndAFunctionOfSeedAndPosition() {
        int windows = 1000;
        SequenceOrder a = new SequenceOrder(42, windows);
        long[] first = new long[3 * windows];
        for (int k = 0; k < first.length; k++) first[k] = a.windowAt(k);
        for (int e = 0; e < 3; e++) {
            Set<Long> seen = new HashSet<>();
            for (int i = 0; i < windows; i++) seen.add(first[e * windows + i]);
            assertEquals(windows, seen.size(), "epoch " + e + " is not a permutation");
        }
        assertNotEquals(Arrays.toString(Arrays.copyOfRange(first, 0, windows)), Arrays.toString(Arrays.copyOfRange(first, windows, 2 * windows)));
        // A fresh order started anywhere (as after a resume) gives the same sequence.
        for (int start : List.of(0, 1, 999, 1000, 1731, 2999)) {
            SequenceOrder b = new SequenceOrder(42, windows);
            for (int k = start; k < Math.min(first.length, start + 50); k++) assertEquals(first[k], b.windowAt(k));
        }
        SequenceOrder other = new SequenceOrder(43, windows);
        int same = 0;
        for (int k = 0; k < windows; k++) same += other.windowAt(k) == first[k] ? 1 : 0;
        assertTrue(same < 10, "another seed should give another order (" + same + " equal positions)");
        // Not the identity: the shuffle moved nearly everything.
        int fixed = 0;
        for (int k = 0; k < windows; k++) fixed += first[k] == k ? 1 : 0;
        assertTrue(fixed < 10, "fixed points: " + fixed);
    }

    @Test
    void splitMix64MatchesTheReferenceSequence() {
        // Reference outputs of splitmix64.c (Vigna) from state 0.
        SplitMix64 r = new SplitMix64(0);
        assertEquals(0xE220A8397B1DCDAFL, r.nextLong());
        assertEquals(0x6E789E6AA1B965F4L, r.nextLong());
        assertEquals(0x06C45D188009454FL, r.nextLong());
        SplitMix64 copy = new SplitMix64(r.state());
        assertEquals(r.nextLong(), copy.nextLong());
        // nextInt is uniform: chi-square over 10 buckets of 100k draws below the 0.999 quantile (27.9).
        int[] buckets = new int[10];
        SplitMix64 u = new SplitMix64(7);
        for (int i = 0; i < 100_000; i++) buckets[u.nextInt(10)]++;
        double chi = 0;
        for (int b : buckets) chi += (b - 10_000.0) * (b - 10_000.0) / 10_000.0;
        assertTrue(chi < 27.9, "chi-square " + chi);
        double mean = 0, sq = 0;
        for (int i = 0; i < 100_000; i++) {
            double g = u.nextGaussian();
            mean += g;
            sq += g * g;
        }
        assertEquals(0, mean / 100_000, 0.02);
        assertEquals(1, sq / 100_000, 0.02);
    }
}
