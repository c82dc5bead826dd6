package gsat2r.training.distributed;

import gsat2r.training.ParameterInfo;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The flat layout, the bucket plan and the ZeRO-1 shards: their invariants on random layouts, and worked examples. */
class LayoutPlanningTest {

    static List<ParameterInfo> tensors(long... sizes) {
        List<ParameterInfo> out = new ArrayList<>();
        for (int i = 0; i < sizes.length; i++) out.add(new ParameterInfo("t" + i, new long[] {sizes[i]}));
        return out;
    }

    @Test
    void flatLayoutAlignsEveryTensorAndPadsTheEnd() {
        FlatLayout l = FlatLayout.of(tensors(10, 64, 1, 130), 64);
        assertEquals(List.of(0L, 64L, 128L, 192L), l.entries().stream().map(FlatLayout.Entry::offset).toList());
        assertEquals(384, l.size());
        assertEquals(205, l.elements());
        FlatLayout packed = FlatLayout.of(tensors(10, 64, 1, 130), 1);
        assertEquals(List.of(0L, 10L, 74L, 75L), packed.entries().stream().map(FlatLayout.Entry::offset).toList());
        assertEquals(205, packed.size());
    }

    @Test
    void bucketsWorkedExample() {
        // Tensors of 100, 300, 50, 60, 500 floats, alignment 1, cap 400 floats: from the top, [500] alone (over the cap),
        // then 60 + 50 = 110 (+300 would be 410 > 400), then 300 + 100 = 400.
        BucketPlan p = BucketPlan.plan(FlatLayout.of(tensors(100, 300, 50, 60, 500), 1), 400 * 4);
        assertEquals(List.of(new BucketPlan.Bucket(0, 4, 5, 510, 1010), new BucketPlan.Bucket(1, 2, 4, 400, 510),
                new BucketPlan.Bucket(2, 0, 2, 0, 400)), p.buckets());
        assertEquals(0, p.completeBuckets(5));
        assertEquals(1, p.completeBuckets(4));
        assertEquals(1, p.completeBuckets(3), "tensor 2 is not final yet: bucket 1 must wait");
        assertEquals(2, p.completeBuckets(2));
        assertEquals(3, p.completeBuckets(0));
    }

    @Test
    void bucketPlansKeepTheirRulesOnRandomLayouts() {
        SplittableRandom rnd = new SplittableRandom(42);
        for (int trial = 0; trial < 500; trial++) {
            int n = 1 + rnd.nextInt(40);
            long[] sizes = new long[n];
            for (int i = 0; i < n; i++) sizes[i] = 1 + rnd.nextInt(rnd.nextBoolean() ? 50 : 5000);
            int align = new int[] {1, 4, 64}[rnd.nextInt(3)];
            long capBytes = 4L * (1 + rnd.nextInt(8000));
            FlatLayout l = FlatLayout.of(tensors(sizes), align);
            BucketPlan p = BucketPlan.plan(l, capBytes);
            long expectEnd = l.size();
            int expectEndTensor = n;
            for (BucketPlan.Bucket b : p.buckets()) {
                assertEquals(expectEnd, b.end(), "buckets tile the layout from the top down");
                assertEquals(expectEndTensor, b.endTensor());
                assertTrue(b.firstTensor() < b.endTensor(), "never empty");
                assertEquals(l.entry(b.firstTensor()).offset(), b.start(), "starts at a tensor");
                assertEquals(0, b.start() % align, "aligned");
                boolean single = b.endTensor() - b.firstTensor() == 1;
                assertTrue(b.length() <= p.capElements() || single, "within the cap unless one tensor is bigger: " + b);
                if (b.firstTensor() > 0) {
                    long withNext = b.end() - l.entry(b.firstTensor() - 1).offset();
                    assertTrue(withNext > p.capElements(), "greedy: the next tensor down would not have fitted");
                }
                expectEnd = b.start();
                expectEndTensor = b.firstTensor();
            }
            assertEquals(0, expectEnd);
            assertEquals(0, expectEndTensor);
        }
    }

    @Test
    void shardsPartitionTheLayoutAndEveryTensorOnce() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int trial = 0; trial < 300; trial++) {
            int n = 1 + rnd.nextInt(20);
            long[] sizes = new long[n];
            for (int i = 0; i < n; i++) sizes[i] = 1 + rnd.nextInt(3000);
            int align = new int[] {1, 8, 64}[rnd.nextInt(3)];
            int world = 1 + rnd.nextInt(9);
            FlatLayout l = FlatLayout.of(tensors(sizes), align);
            ShardLayout s = ShardLayout.of(l, world);
            assertEquals(0, s.shardSize() % align);
            assertTrue(s.paddedSize() >= l.size());
            long[] covered = new long[n];
            long next = 0;
            for (int r = 0; r < world; r++) {
                assertEquals(next, s.start(r));
                assertTrue(s.start(r) % align == 0 || s.start(r) == l.size());
                next = s.end(r);
                for (ShardLayout.Piece p : s.pieces(l, r)) {
                    assertEquals(covered[p.tensor()], p.tensorOffset(), "pieces of a tensor follow each other across ranks");
                    assertEquals(l.entry(p.tensor()).offset() + p.tensorOffset(), p.flatOffset());
                    assertEquals(r, s.owner(p.flatOffset()));
                    assertEquals(r, s.owner(p.flatOffset() + p.length() - 1));
                    covered[p.tensor()] += p.length();
                }
            }
            assertEquals(l.size(), next);
            assertArrayEquals(sizes, covered, "every element of every tensor is owned exactly once");
        }
    }

    @Test
    void shardsWorkedExample() {
        // 3 tensors of 100, 28, 200 floats, alignment 64 -> offsets 0, 128, 192, size 448; 3 ranks -> S = 192.
        FlatLayout l = FlatLayout.of(tensors(100, 28, 200), 64);
        ShardLayout s = ShardLayout.of(l, 3);
        assertEquals(192, s.shardSize());
        assertEquals(List.of(new ShardLayout.Piece(0, 0, 0, 100), new ShardLayout.Piece(1, 0, 128, 28)), s.pieces(l, 0));
        assertEquals(List.of(new ShardLayout.Piece(2, 0, 192, 192)), s.pieces(l, 1));
        assertEquals(List.of(new ShardLayout.Piece(2, 192, 384, 8)), s.pieces(l, 2));
        assertEquals(64, s.length(2), "the last shard is short: 448 - 384");
        // More ranks than alignment units: the last ranks own nothing.
        ShardLayout wide = ShardLayout.of(FlatLayout.of(tensors(10), 64), 4);
        assertEquals(64, wide.shardSize());
        assertEquals(0, wide.length(1));
        assertTrue(wide.pieces(FlatLayout.of(tensors(10), 64), 3).isEmpty());
    }

    @Test
    void momentsReshardFromAnyWorldSizeToAnyOther() {
        // A state saved by N ranks (each writes its pieces into whole tensors) and read back by M ranks
        // (each takes its pieces out of them) gives every element back to exactly one new owner, unchanged.
        FlatLayout l = FlatLayout.of(tensors(333, 64, 1, 1000, 7), 64);
        float[][] whole = new float[l.tensors()][];
        for (int t = 0; t < l.tensors(); t++) {
            whole[t] = new float[(int) l.entry(t).numel()];
            for (int i = 0; i < whole[t].length; i++) whole[t][i] = t * 10000 + i;
        }
        for (int from = 1; from <= 5; from++) {
            float[][] saved = new float[l.tensors()][];
            for (int t = 0; t < l.tensors(); t++) saved[t] = new float[whole[t].length];
            ShardLayout a = ShardLayout.of(l, from);
            for (int r = 0; r < from; r++) {
                for (ShardLayout.Piece p : a.pieces(l, r)) {
                    System.arraycopy(whole[p.tensor()], (int) p.tensorOffset(), saved[p.tensor()], (int) p.tensorOffset(), (int) p.length());
                }
            }
            for (int to = 1; to <= 5; to++) {
                ShardLayout b = ShardLayout.of(l, to);
                float[] flat = new float[(int) l.size()];
                for (int r = 0; r < to; r++) {
                    for (ShardLayout.Piece p : b.pieces(l, r)) {
                        System.arraycopy(saved[p.tensor()], (int) p.tensorOffset(), flat, (int) p.flatOffset(), (int) p.length());
                    }
                }
                for (int t = 0; t < l.tensors(); t++) {
                    float[] back = java.util.Arrays.copyOfRange(flat, (int) l.entry(t).offset(), (int) l.entry(t).end());
                    assertArrayEquals(whole[t], back, from + " -> " + to + " ranks, tensor " + t);
                }
            }
        }
    }
}
