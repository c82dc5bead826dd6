package gsat2r.core.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.concurrent.RecursiveAction;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Parallel loops over index ranges for the CPU ops, on one pool shared by all of them.
 *
 * <p>A dedicated pool (not the common pool) so that the CPU backend uses every core, including
 * when called from a thread of another pool, and so that its threads are recognisable in a
 * profile ({@code t2r-cpu-N}). Work is split into chunks whose boundaries depend only on
 * {@code n} and {@code grain}, never on timing, and every op writes disjoint outputs per index:
 * results are the same whatever the number of threads.
 */
public final class Parallel {
    private Parallel() {}

    /** The body of a parallel loop: handles indices {@code [start, end)}. */
    @FunctionalInterface
    public interface RangeBody {
        void run(int start, int end);
    }

    private static final int THREADS = Math.max(1, Runtime.getRuntime().availableProcessors());
    private static final AtomicInteger THREAD_IDS = new AtomicInteger();

    private static final ForkJoinPool POOL = new ForkJoinPool(THREADS, pool -> {
        ForkJoinWorkerThread t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(pool);
        t.setName("t2r-cpu-" + THREAD_IDS.getAndIncrement());
        t.setDaemon(true);
        return t;
    }, null, false);

    /** Number of worker threads of the shared pool. */
    public static int threads() {
        return THREADS;
    }

    /**
     * Runs {@code body} over {@code [0, n)} in chunks of at least {@code grain} indices (at most
     * four chunks per thread, which balances uneven chunks without much scheduling overhead).
     * Runs inline when there is only one chunk. Returns when every chunk has finished; an
     * exception thrown by a chunk is rethrown here.
     */
    public static void forRange(int n, int grain, RangeBody body) {
        if (n <= 0) return;
        int chunks = Math.min(Math.max(1, n / Math.max(1, grain)), 4 * THREADS);
        if (chunks == 1 || THREADS == 1) {
            body.run(0, n);
            return;
        }
        Chunks task = new Chunks(body, n, chunks, 0, chunks);
        if (insidePool()) task.invoke();
        else POOL.invoke(task);
    }

    private static boolean insidePool() {
        return Thread.currentThread() instanceof ForkJoinWorkerThread w && w.getPool() == POOL;
    }

    /** Chunks {@code [lo, hi)} of {@code chunks} equal splits of {@code [0, n)}, split in halves recursively. */
    private static final class Chunks extends RecursiveAction {
        private final RangeBody body;
        private final int n, chunks, lo, hi;

        Chunks(RangeBody body, int n, int chunks, int lo, int hi) {
            this.body = body;
            this.n = n;
            this.chunks = chunks;
            this.lo = lo;
            this.hi = hi;
        }

        @Override
        protected void compute() {
            if (hi - lo == 1) {
                int start = (int) ((long) n * lo / chunks);
                int end = (int) ((long) n * (lo + 1) / chunks);
                body.run(start, end);
                return;
            }
            int mid = (lo + hi) >>> 1;
            invokeAll(new Chunks(body, n, chunks, lo, mid), new Chunks(body, n, chunks, mid, hi));
        }
    }
}
