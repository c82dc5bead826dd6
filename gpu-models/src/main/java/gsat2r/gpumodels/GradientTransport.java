package gsat2r.gpumodels;

import gsat2r.gpu.DeviceBuffer;

/**
 * What moves a CUDA data-parallel rank's fp32 buffers between the ranks ({@link DeviceDataParallel}):
 * NCCL on a communication stream ({@link NcclTransport}) or the host fallback ({@link HostTransport}).
 * Buffers are written on the engine's compute stream before they are handed over.
 */
interface GradientTransport extends AutoCloseable {

    /** {@code nccl} or {@code host}, for logs and tests. */
    String name();

    /** Starts summing {@code bucket} across ranks in place; may return before the sum is done. */
    void allReduceAsync(DeviceBuffer bucket);

    /** Waits for every started sum: work queued on the compute stream from now on sees them all. */
    void awaitReductions();

    /**
     * In place: rank r's piece {@code flat[r·S, (r + 1)·S)} to every rank ({@code S = shardSize},
     * {@code flat} holds world·S), ordered on the compute stream.
     */
    void allGather(DeviceBuffer flat, long shardSize);

    @Override
    void close();
}
