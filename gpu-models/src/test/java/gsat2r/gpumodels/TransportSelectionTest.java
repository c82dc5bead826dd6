package gsat2r.gpumodels;

import gsat2r.core.T2rException;
import gsat2r.training.distributed.LocalGroup;
import gsat2r.training.distributed.ProcessGroup;
import gsat2r.gpu.nccl.NcclUniqueId;
import gsat2r.gpumodels.TransportSelection.Decision;
import gsat2r.gpumodels.TransportSelection.Kind;
import gsat2r.gpumodels.TransportSelection.RankDevice;
import gsat2r.gpumodels.TransportSelection.Request;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA data-parallel transport decision (no GPU needed): NCCL only with NCCL on every rank and a GPU
 * per rank, the host fallback with a note otherwise, forced choices and their one-line errors; and the NCCL
 * unique-id bootstrap over a process group of threads.
 */
class TransportSelectionTest {

    static RankDevice dev(int rank, String host, String gpu, String ncclProblem) {
        return new RankDevice(rank, host, gpu, ncclProblem);
    }

    static final List<RankDevice> OWN_GPUS = List.of(dev(0, "a", "0000:1b:00", null), dev(1, "a", "0000:1c:00", null),
            dev(2, "b", "0000:1b:00", null));   // same PCI address on another host: another GPU

    @Test
    void ncclWhenEveryRankHasItAndAGpuOfItsOwn() {
        assertEquals(new Decision(Kind.NCCL, null), TransportSelection.decide(Request.AUTO, OWN_GPUS));
        assertEquals(new Decision(Kind.NCCL, null), TransportSelection.decide(Request.NCCL, OWN_GPUS));
        assertEquals(new Decision(Kind.HOST, null), TransportSelection.decide(Request.HOST, OWN_GPUS));
        assertEquals(Kind.NCCL, TransportSelection.decide(Request.AUTO, List.of(dev(0, "a", "0000:1b:00", null))).kind(), "one rank: NCCL too");
    }

    @Test
    void ranksSharingAGpuFallBackToTheHostWithANote() {
        List<RankDevice> shared = List.of(dev(0, "a", "0000:1b:00", null), dev(1, "a", "0000:1c:00", null), dev(2, "a", "0000:1b:00", null));
        Decision d = TransportSelection.decide(Request.AUTO, shared);
        assertEquals(Kind.HOST, d.kind());
        assertEquals("ranks 0 and 2 share GPU 0000:1b:00 of host a: the gradients are summed through the host (NCCL needs a GPU per rank)", d.note());
        T2rException e = assertThrows(T2rException.class, () -> TransportSelection.decide(Request.NCCL, shared));
        assertEquals("T2R_DP_TRANSPORT=nccl, but ranks 0 and 2 share GPU 0000:1b:00 of host a (NCCL needs a GPU per rank; use host)", e.getMessage());
    }

    @Test
    void aRankWithoutNcclMakesEveryRankUseTheHost() {
        List<RankDevice> missing = List.of(dev(0, "a", "0000:1b:00", null), dev(1, "a", "0000:1c:00", "no NCCL found (x)"));
        Decision d = TransportSelection.decide(Request.AUTO, missing);
        assertEquals(Kind.HOST, d.kind());
        assertEquals("rank 1 cannot use NCCL (no NCCL found (x)): the gradients are summed through the host, which is slow for large models", d.note());
        T2rException e = assertThrows(T2rException.class, () -> TransportSelection.decide(Request.NCCL, missing));
        assertEquals("T2R_DP_TRANSPORT=nccl, but rank 1 cannot use NCCL: no NCCL found (x)", e.getMessage());
    }

    @Test
    void rankDescriptionsSurviveTheTrip() {
        for (RankDevice d : List.of(dev(0, "host-1", "0000:1b:00", null), dev(3, "h", "0001:ff:1f", "NCCL found (/x) but unusable: y"))) {
            RankDevice back = RankDevice.decode(d.rank(), d.encode());
            assertEquals(d, back);
        }
        assertThrows(T2rException.class, () -> RankDevice.decode(1, "only one field".getBytes()));
    }

    @Test
    void theRequestComesFromThePropertyAndRejectsNonsense() {
        String old = System.getProperty(TransportSelection.PROPERTY);
        try {
            System.setProperty(TransportSelection.PROPERTY, "NCCL");
            assertEquals(Request.NCCL, TransportSelection.configured());
            System.setProperty(TransportSelection.PROPERTY, " host ");
            assertEquals(Request.HOST, TransportSelection.configured());
            System.setProperty(TransportSelection.PROPERTY, "mpi");
            T2rException e = assertThrows(T2rException.class, TransportSelection::configured);
            assertEquals("-Dgsat2r.dp.transport: 'mpi' is not a data-parallel transport (auto, nccl or host)", e.getMessage());
        } finally {
            if (old == null) System.clearProperty(TransportSelection.PROPERTY);
            else System.setProperty(TransportSelection.PROPERTY, old);
        }
    }

    /** Runs {@code body} on every rank of a fresh 3-rank group of threads; the results (or failures) in rank order. */
    static <T> List<Future<T>> onRanks(int world, Function<ProcessGroup, T> body) throws Exception {
        List<ProcessGroup> groups = LocalGroup.create(world, Duration.ofSeconds(20));
        ExecutorService pool = Executors.newFixedThreadPool(world);
        try {
            List<Future<T>> out = new ArrayList<>();
            for (ProcessGroup g : groups) out.add(pool.submit(() -> body.apply(g)));
            for (Future<T> f : out) {
                try {
                    f.get();
                } catch (java.util.concurrent.ExecutionException ignored) {
                    // the caller looks at it
                }
            }
            return out;
        } finally {
            pool.shutdownNow();
            for (ProcessGroup g : groups) g.close();
        }
    }

    @Test
    void rankZeroMakesTheUniqueIdAndEveryRankGetsItsBytes() throws Exception {
        AtomicInteger made = new AtomicInteger();
        byte[] bytes = new byte[NcclUniqueId.BYTES];
        for (int i = 0; i < bytes.length; i++) bytes[i] = (byte) (31 * i + 7);
        List<Future<NcclUniqueId>> ids = onRanks(3, g -> NcclTransport.exchangeUniqueId(g, () -> {
            made.incrementAndGet();
            return new NcclUniqueId(bytes);
        }));
        assertEquals(1, made.get(), "only rank 0 calls ncclGetUniqueId");
        for (Future<NcclUniqueId> f : ids) assertArrayEquals(bytes, f.get().bytes());
    }

    @Test
    void rankZeroFailingToMakeTheIdStopsTheOthersWithItsReason() throws Exception {
        List<Future<NcclUniqueId>> ids = onRanks(3, g -> NcclTransport.exchangeUniqueId(g, () -> {
            throw new T2rException("no NCCL found (test)");
        }));
        for (int r = 0; r < 3; r++) {
            var e = assertThrows(java.util.concurrent.ExecutionException.class, ids.get(r)::get);
            String message = e.getCause().getMessage();
            assertTrue(message.contains("no NCCL found (test)"), "rank " + r + ": " + message);
        }
    }
}
