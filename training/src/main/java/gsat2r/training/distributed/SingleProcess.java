package gsat2r.training.distributed;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * The group of one process: rank 0 of 1. Every collective returns this rank's own contribution at once,
 * so the trainer and the backends run one code path whether a run is data parallel or not.
 */
final class SingleProcess implements ProcessGroup {
    static final SingleProcess INSTANCE = new SingleProcess();

    private SingleProcess() {}

    @Override
    public int rank() {
        return 0;
    }

    @Override
    public int worldSize() {
        return 1;
    }

    @Override
    public List<byte[]> allGather(byte[] mine) {
        return List.of(mine);
    }

    @Override
    public List<float[]> allGatherFloats(float[] mine) {
        return List.of(mine);
    }

    @Override
    public <T> CompletableFuture<T> async(Supplier<T> op) {
        try {
            return CompletableFuture.completedFuture(op.get());
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public void abort(String reason) {}

    @Override
    public void close() {}
}
