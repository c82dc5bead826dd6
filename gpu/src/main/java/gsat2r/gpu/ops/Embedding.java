package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;

/** Token embedding lookup (embedding.cu) and its backward pass, the same bits every run (train.cu). */
public final class Embedding {
    private Embedding() {}

    /**
     * {@code out[t,:] = table[ids[t],:]} for {@code nTokens} ids; table {@code [vocab, dim]}, out
     * {@code [nTokens, dim]} of the table's type. An id outside [0, vocab) yields a row of NaN.
     */
    public static void forward(Gpu gpu, DeviceBuffer out, DeviceBuffer ids, DeviceBuffer table, int nTokens, int dim, int vocab) {
        Checks.positive("nTokens", nTokens);
        Checks.positive("dim", dim);
        Checks.positive("vocab", vocab);
        ElementType t = Checks.storage("table", table);
        Checks.buffer("table", table, t, (long) vocab * dim);
        Checks.buffer("ids", ids, ElementType.I32, nTokens);
        Checks.buffer("out", out, t, (long) nTokens * dim);
        gpu.kernel("embedding_fwd", t).launch(gpu.stream(), nTokens, 128, 0, out, ids, table, nTokens, dim, vocab);
    }

    /**
     * The positions of a batch grouped by token id, for {@link #backwardSorted}: {@code order} lists the
     * positions sorted by id (stably, so positions of one id stay in increasing order), the positions of
     * the distinct id {@code ids[u]} are {@code order[starts[u] .. starts[u+1])}.
     */
    public record SortedIds(int[] order, int[] starts, int[] ids) {
        public int distinct() {
            return ids.length;
        }

        /** Groups {@code tokens} by id with a counting sort ({@code vocab} bounds the ids; out-of-range ids are left out). */
        public static SortedIds of(int[] tokens, int vocab) {
            int[] count = new int[vocab + 1];
            for (int id : tokens) if (id >= 0 && id < vocab) count[id + 1]++;
            int distinct = 0;
            for (int v = 0; v < vocab; v++) if (count[v + 1] > 0) distinct++;
            for (int v = 0; v < vocab; v++) count[v + 1] += count[v];
            int valid = count[vocab];
            int[] order = new int[valid], next = java.util.Arrays.copyOf(count, vocab);
            for (int t = 0; t < tokens.length; t++) {
                int id = tokens[t];
                if (id >= 0 && id < vocab) order[next[id]++] = t;
            }
            int[] starts = new int[distinct + 1], ids = new int[distinct];
            int u = 0;
            for (int v = 0; v < vocab; v++) {
                if (count[v + 1] > count[v]) {
                    starts[u] = count[v];
                    ids[u++] = v;
                }
            }
            starts[distinct] = valid;
            return new SortedIds(order, starts, ids);
        }
    }

    /**
     * {@code dtable[id,:] += Σ dout[t,:]} over the positions t holding id, with no atomics, so that a
     * training step gives the same bits every run (exact resume): one block per distinct id sums its
     * positions in order and adds once ({@code order, starts, ids}: a {@link SortedIds} uploaded as I32
     * buffers). dtable fp32, accumulates.
     */
    public static void backwardSorted(Gpu gpu, DeviceBuffer dtable, DeviceBuffer order, DeviceBuffer starts, DeviceBuffer ids,
                                      int distinct, DeviceBuffer dout, int nTokens, int dim, int vocab) {
        Checks.positive("distinct", distinct);
        Checks.positive("dim", dim);
        Checks.positive("vocab", vocab);
        ElementType t = Checks.storage("dout", dout);
        Checks.buffer("dout", dout, t, (long) nTokens * dim);
        Checks.buffer("order", order, ElementType.I32, 1);
        Checks.buffer("starts", starts, ElementType.I32, distinct + 1L);
        Checks.buffer("ids", ids, ElementType.I32, distinct);
        Checks.buffer("dtable", dtable, ElementType.F32, (long) vocab * dim);
        gpu.kernel("embedding_bwd_sorted", t).launch(gpu.stream(), distinct, 128, 0, dtable, order, starts, ids, dout, distinct, dim);
    }
}
