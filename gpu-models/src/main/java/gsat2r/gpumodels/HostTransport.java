package gsat2r.gpumodels;

import gsat2r.core.T2rException;
import gsat2r.core.distributed.Collectives;
import gsat2r.training.distributed.ProcessGroup;
import gsat2r.gpu.DeviceBuffer;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * The host fallback of {@link GradientTransport}: each bucket is copied to the host (which waits for the
 * compute stream up to that point), summed by the process group's host collectives on its communication
 * thread while the backward goes on queueing work, and copied back when awaited. The sums are in rank
 * order from zero ({@code HostCollectives}), as one process accumulates micro-batches: with one
 * micro-batch per rank, N ranks give one process's bits.
 */
final class HostTransport implements GradientTransport {

    private record InFlight(DeviceBuffer bucket, float[] values, CompletableFuture<Void> done) {}

    private final ProcessGroup group;
    private final Collectives<float[]> collectives;
    private final List<InFlight> inFlight = new ArrayList<>();

    HostTransport(ProcessGroup group) {
        this.group = group;
        this.collectives = group.floats();
    }

    @Override
    public String name() {
        return "host";
    }

    @Override
    public void allReduceAsync(DeviceBuffer bucket) {
        float[] values = bucket.toFloatArray();
        CompletableFuture<Void> done = group.async(() -> {
            collectives.allReduceSum(values, 0, values.length);
            return null;
        });
        inFlight.add(new InFlight(bucket, values, done));
    }

    @Override
    public void awaitReductions() {
        try {
            for (InFlight f : inFlight) {
                join(f.done());
                f.bucket().copyFrom(f.values());
            }
        } finally {
            inFlight.clear();
        }
    }

    @Override
    public void allGather(DeviceBuffer flat, long shardSize) {
        int world = group.worldSize();
        float[] mine = flat.view(group.rank() * shardSize, shardSize).toFloatArray();
        float[] all = new float[Math.toIntExact(world * shardSize)];
        collectives.allGather(mine, 0, all, 0, shardSize);
        flat.view(0, world * shardSize).copyFrom(all);
    }

    /** Waits for {@code f}, rethrowing its failure as thrown (a group's one-line T2rException stays one). */
    private static void join(CompletableFuture<Void> f) {
        try {
            f.join();
        } catch (CompletionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException r) throw r;
            if (c instanceof Error err) throw err;
            throw new T2rException(String.valueOf(c), c);
        }
    }

    @Override
    public void close() {
        inFlight.clear();
    }
}
