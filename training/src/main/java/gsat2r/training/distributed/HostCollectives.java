package gsat2r.training.distributed;

import gsat2r.core.distributed.Collectives;

import java.util.Arrays;
import java.util.List;

/**
 * {@link Collectives} over host {@code float[]} arrays, built on {@link ProcessGroup#allGatherFloats}:
 * every rank receives every rank's contribution and computes the result itself, adding in rank order
 * from zero ({@code ((0 + x₀) + x₁) + …}), so that all ranks get the same bits, and the same bits as
 * one process accumulating the same values in that order. Simple rather than bandwidth-optimal: meant
 * for the CPU backend and for tests, where the arrays are small.
 */
public final class HostCollectives implements Collectives<float[]> {

    private final ProcessGroup group;

    public HostCollectives(ProcessGroup group) {
        this.group = group;
    }

    @Override
    public int rank() {
        return group.rank();
    }

    @Override
    public int worldSize() {
        return group.worldSize();
    }

    @Override
    public void allReduceSum(float[] buffer, long offset, long count) {
        int off = index(buffer, offset, count);
        List<float[]> all = group.allGatherFloats(Arrays.copyOfRange(buffer, off, off + (int) count));
        float[] sum = sumInRankOrder(all, 0, (int) count);
        System.arraycopy(sum, 0, buffer, off, (int) count);
    }

    @Override
    public void reduceScatterSum(float[] send, long sendOffset, float[] recv, long recvOffset, long count) {
        int world = worldSize();
        int so = index(send, sendOffset, count * world), ro = index(recv, recvOffset, count);
        List<float[]> all = group.allGatherFloats(Arrays.copyOfRange(send, so, so + (int) (count * world)));
        float[] sum = sumInRankOrder(all, (int) (rank() * count), (int) count);
        System.arraycopy(sum, 0, recv, ro, (int) count);
    }

    @Override
    public void allGather(float[] send, long sendOffset, float[] recv, long recvOffset, long count) {
        int so = index(send, sendOffset, count), ro = index(recv, recvOffset, count * worldSize());
        List<float[]> all = group.allGatherFloats(Arrays.copyOfRange(send, so, so + (int) count));
        for (int r = 0; r < all.size(); r++) {
            check(all.get(r), count, r);
            System.arraycopy(all.get(r), 0, recv, ro + (int) (r * count), (int) count);
        }
    }

    @Override
    public void broadcast(float[] buffer, long offset, long count, int root) {
        if (root < 0 || root >= worldSize()) throw new IndexOutOfBoundsException("root " + root + " of " + worldSize());
        int off = index(buffer, offset, count);
        float[] mine = rank() == root ? Arrays.copyOfRange(buffer, off, off + (int) count) : new float[0];
        float[] theirs = group.allGatherFloats(mine).get(root);
        check(theirs, count, root);
        System.arraycopy(theirs, 0, buffer, off, (int) count);
    }

    /** {@code out[i] = ((0 + all[0][from + i]) + all[1][from + i]) + …}. */
    static float[] sumInRankOrder(List<float[]> all, int from, int count) {
        float[] sum = new float[count];
        for (int r = 0; r < all.size(); r++) {
            float[] x = all.get(r);
            if (x.length < from + count) throw new IllegalStateException("rank " + r + " sent " + x.length + " floats, expected " + (from + count)
                    + ": the ranks called different collectives");
            for (int i = 0; i < count; i++) sum[i] += x[from + i];
        }
        return sum;
    }

    private static void check(float[] received, long count, int from) {
        if (received.length != count) {
            throw new IllegalStateException("rank " + from + " sent " + received.length + " floats, expected " + count
                    + ": the ranks called different collectives");
        }
    }

    private static int index(float[] a, long offset, long count) {
        if (offset < 0 || count < 0 || offset + count > a.length) {
            throw new IndexOutOfBoundsException("[" + offset + ", " + (offset + count) + ") of an array of " + a.length);
        }
        return (int) offset;
    }
}
