package gsat2r.gpu.nccl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.GpuTestSupport;
import gsat2r.gpu.cuda.Cuda;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/**
 * NCCL on the GPU machine (tagged gpu; scripts/device/gpu-suite.sh runs it): a communicator of one
 * rank (every collective is then a copy, so results must be exact), its error path, and, where the
 * machine has two GPUs or more, one rank per GPU on threads of this process against sums computed on
 * the host (fp32: NCCL's ring/tree order, relative L2 ≤ 1e-6), with the all-reduce bus bandwidth.
 */
class NcclGpuTest extends GpuTestSupport {

    @Test
    void oneRankCommunicator() {
        assumeTrue(Nccl.available(), Nccl.unavailableReason());
        Gpu gpu = gpu();
        System.out.println("GPU-INFO NCCL " + Nccl.versionString());
        int n = (1 << 20) + 3;
        float[] x = randn(new Random(1), n, 1.0);
        try (NcclCommunicator comm = NcclCommunicator.create(gpu.context(), 1, 0, Nccl.uniqueId());
             DeviceBuffer a = upload(x, ElementType.F32); DeviceBuffer b = poisoned(ElementType.F32, n);
             DeviceBuffer h = upload(x, ElementType.BF16)) {
            assertEquals(1, comm.count());
            assertEquals(0, comm.userRank());
            assertEquals(gpu.info().ordinal(), comm.device());
            NcclCollectives c = new NcclCollectives(comm, gpu.stream());
            c.allReduceSum(a, 0, n);                                      // in place
            assertArrayEquals(x, a.toFloatArray(), "all-reduce of one rank, in place");
            comm.allReduce(a, b, n, NcclDataType.FLOAT32, NcclRedOp.SUM, gpu.stream());
            assertArrayEquals(x, b.toFloatArray(), "all-reduce of one rank, out of place");
            b.poison();
            c.reduceScatterSum(a, 0, b, 0, n);
            assertArrayEquals(x, b.toFloatArray(), "reduce-scatter of one rank");
            b.poison();
            c.allGather(a, 0, b, 0, n);
            assertArrayEquals(x, b.toFloatArray(), "all-gather of one rank");
            c.broadcast(a, 5, 100, 0);
            assertArrayEquals(x, a.toFloatArray(), "broadcast from rank 0");
            float[] hx = h.toFloatArray();
            c.allReduceSum(h, 0, n);
            assertArrayEquals(hx, h.toFloatArray(), "bf16 all-reduce of one rank");
            assertNull(comm.asyncError());
            NcclException bad = assertThrows(NcclException.class, () -> comm.broadcast(a, a, 4, NcclDataType.FLOAT32, 3, gpu.stream()));
            assertTrue(bad.getMessage().startsWith("ncclBroadcast(4 x ncclFloat32 from rank 3, rank 0 of 1, device " + gpu.info().ordinal()
                    + "): ncclInvalidArgument"), bad.getMessage());
            System.out.println("GPU-NOTE NCCL error message: " + bad.getMessage());
            gpu.synchronize();
        }
        NcclCommunicator aborted = NcclCommunicator.create(gpu.context(), 1, 0, Nccl.uniqueId());
        aborted.abort();
        assertThrows(IllegalStateException.class, aborted::count);
    }

    @Test
    void oneRankPerGpuOnThreads() throws Exception {
        assumeTrue(Nccl.available(), Nccl.unavailableReason());
        int world = Cuda.deviceCount();
        assumeTrue(world >= 2, "one GPU here: the multi-GPU collectives need two or more");
        NcclUniqueId id = Nccl.uniqueId();
        int n = 3 * 1000 + 7, count = 1000;
        float[][] inputs = new float[world][];
        for (int r = 0; r < world; r++) inputs[r] = randn(new Random(10 + r), n, 1.0);
        ExecutorService pool = Executors.newFixedThreadPool(world);
        try {
            List<Future<float[][]>> futures = new ArrayList<>();
            for (int r = 0; r < world; r++) {
                int rank = r;
                futures.add(pool.submit(() -> {
                    try (Gpu gpu = Gpu.open(rank); NcclCommunicator comm = NcclCommunicator.create(gpu.context(), world, rank, id)) {
                        NcclCollectives c = new NcclCollectives(comm, gpu.stream());
                        try (DeviceBuffer a = gpu.upload(inputs[rank], ElementType.F32); DeviceBuffer s = gpu.f32(count);
                             DeviceBuffer g = gpu.f32((long) count * world); DeviceBuffer cast = gpu.upload(inputs[rank], ElementType.F32)) {
                            c.reduceScatterSum(a, 0, s, 0, count);
                            c.allGather(a, 7, g, 0, count);
                            c.broadcast(cast, 0, n, world - 1);
                            c.allReduceSum(a, 0, n);
                            float[][] out = {a.toFloatArray(), s.toFloatArray(), g.toFloatArray(), cast.toFloatArray(), {0}};
                            out[4][0] = (float) busBandwidth(gpu, c, 64 << 20);
                            comm.checkAsyncError();
                            return out;
                        }
                    }
                }));
            }
            double[] sum = new double[n];
            for (float[] x : inputs) for (int i = 0; i < n; i++) sum[i] += x[i];
            for (int r = 0; r < world; r++) {
                float[][] got = futures.get(r).get(300, TimeUnit.SECONDS);
                check("nccl-allreduce-f32-rank" + r, got[0], sum, 1e-6);
                double[] scattered = new double[count];
                System.arraycopy(sum, r * count, scattered, 0, count);
                check("nccl-reducescatter-f32-rank" + r, got[1], scattered, 1e-6);
                float[] gathered = new float[count * world];
                for (int q = 0; q < world; q++) System.arraycopy(inputs[q], 7, gathered, q * count, count);
                assertArrayEquals(gathered, got[2], "all-gather, rank " + r);
                assertArrayEquals(inputs[world - 1], got[3], "broadcast from the last rank, rank " + r);
                System.out.printf("GPU-INFO NCCL all-reduce of 256 MiB over %d GPUs: bus bandwidth %.1f GB/s (rank %d)%n", world, got[4][0], r);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** nccl-tests' bus bandwidth of an fp32 all-reduce of {@code floats} elements: 2(N−1)/N · bytes / time, median of 5 runs of 5. */
    static double busBandwidth(Gpu gpu, NcclCollectives c, int floats) {
        try (DeviceBuffer x = gpu.f32(floats)) {
            gsat2r.gpu.ops.Convert.fill(gpu, x, 1f);
            c.allReduceSum(x, 0, floats);
            gpu.synchronize();
            double[] rates = new double[5];
            for (int k = 0; k < rates.length; k++) {
                long t0 = System.nanoTime();
                for (int i = 0; i < 5; i++) c.allReduceSum(x, 0, floats);
                gpu.synchronize();
                double seconds = (System.nanoTime() - t0) / 1e9 / 5;
                int world = c.worldSize();
                rates[k] = 2.0 * (world - 1) / world * floats * 4.0 / seconds / 1e9;
            }
            java.util.Arrays.sort(rates);
            return rates[rates.length / 2];
        }
    }
}
