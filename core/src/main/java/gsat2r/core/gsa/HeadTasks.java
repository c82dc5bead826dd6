package gsat2r.core.gsa;

import java.util.function.IntConsumer;
import java.util.stream.IntStream;

/**
 * Runs one task per (sequence, kv head): the unit that owns a recurrent state and writes disjoint
 * parts of every output, so tasks need no locks. Small calls (a decode step) run on the caller's
 * thread, where forking would cost more than the work.
 */
final class HeadTasks {
    private HeadTasks() {}

    /** Multiply-adds below which a call stays on one thread. */
    static final long PARALLEL_WORK = 1L << 16;

    static void run(GsaShape shape, IntConsumer task) {
        int tasks = shape.batch() * shape.kvHeads();
        long work = (long) shape.batch() * shape.seqLen() * shape.heads()
                * ((long) shape.keyDim() + shape.valueDim()) * shape.slots();
        if (tasks == 1 || work < PARALLEL_WORK) {
            for (int i = 0; i < tasks; i++) task.accept(i);
        } else {
            IntStream.range(0, tasks).parallel().forEach(task);
        }
    }
}
