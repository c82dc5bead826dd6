package gsat2r.gpu.nccl;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Random;

/**
 * One rank of the multi-PROCESS NCCL check of scripts/device/gpu-suite.sh (phase nccl): each process is started
 * with torchrun's RANK, WORLD_SIZE and LOCAL_RANK (as {@code t2r finetune --gpus} starts its ranks);
 * rank 0 creates the unique id and hands it over through the file NCCL_ID_FILE (the suite's stand-in for
 * the TCP rendezvous, which lives in the trainer's module); every rank opens GPU LOCAL_RANK, joins the
 * communicator, all-reduces known data, checks the sum against the host's and measures the bus bandwidth.
 * Prints {@code nccl-rank R: ok ...} and exits 0, or prints the failure and exits 1.
 */
public final class NcclRankCheck {
    public static void main(String[] args) throws Exception {
        int rank = Integer.parseInt(System.getenv("RANK")), world = Integer.parseInt(System.getenv("WORLD_SIZE"));
        int local = Integer.parseInt(System.getenv().getOrDefault("LOCAL_RANK", "0"));
        Path idFile = Path.of(System.getenv("NCCL_ID_FILE"));
        try {
            NcclUniqueId id = rank == 0 ? publish(idFile, Nccl.uniqueId()) : await(idFile);
            try (Gpu gpu = Gpu.open(local); NcclCommunicator comm = NcclCommunicator.create(gpu.context(), world, rank, id)) {
                NcclCollectives c = new NcclCollectives(comm, gpu.stream());
                int n = 1 << 20;
                double[] expect = new double[n];
                float[] mine = null;
                for (int r = 0; r < world; r++) {
                    float[] x = new float[n];
                    Random rnd = new Random(100 + r);
                    for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian();
                    for (int i = 0; i < n; i++) expect[i] += x[i];
                    if (r == rank) mine = x;
                }
                double num = 0, den = 0;
                try (DeviceBuffer a = gpu.upload(mine, ElementType.F32)) {
                    c.allReduceSum(a, 0, n);
                    float[] got = a.toFloatArray();
                    for (int i = 0; i < n; i++) {
                        num += (got[i] - expect[i]) * (got[i] - expect[i]);
                        den += expect[i] * expect[i];
                    }
                }
                double err = Math.sqrt(num / den);
                double busBw = NcclGpuTest.busBandwidth(gpu, c, 64 << 20);
                comm.checkAsyncError();
                System.out.printf("nccl-rank %d: ok, %d ranks, device %d (%s), NCCL %s, all-reduce relative L2 error %.2e, bus bandwidth %.1f GB/s%n",
                        rank, world, comm.device(), gpu.info().name(), Nccl.versionString(), err, busBw);
                if (!(err <= 1e-6)) {
                    System.out.println("nccl-rank " + rank + ": FAILED: error " + err + " > 1e-6");
                    System.exit(1);
                }
            }
        } catch (RuntimeException e) {
            System.out.println("nccl-rank " + rank + ": FAILED: " + e.getMessage());
            System.exit(1);
        }
    }

    static NcclUniqueId publish(Path file, NcclUniqueId id) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.write(tmp, id.bytes());
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
        return id;
    }

    static NcclUniqueId await(Path file) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (!Files.isRegularFile(file)) {
            if (System.nanoTime() > deadline) throw new IllegalStateException("no unique id from rank 0 in " + file + " within 120 s");
            Thread.sleep(50);
        }
        return new NcclUniqueId(Files.readAllBytes(file));
    }
}
