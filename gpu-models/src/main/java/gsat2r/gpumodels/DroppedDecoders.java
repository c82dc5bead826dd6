package gsat2r.gpumodels;

import java.lang.ref.Cleaner;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * The device memory of decoders dropped without {@link gsat2r.core.model.LanguageModel.Decoder#release}: a
 * {@link Cleaner} queues it when a decoder becomes unreachable, and {@link #release} closes what is queued,
 * on the model's own thread (device memory is not freed from the cleaner's thread).
 */
final class DroppedDecoders {
    private static final Cleaner CLEANER = Cleaner.create();
    private final Queue<AutoCloseable> queue = new ConcurrentLinkedQueue<>();

    /** Queues {@code resources} for {@link #release} once {@code decoder} is unreachable. */
    void track(Object decoder, AutoCloseable resources) {
        Queue<AutoCloseable> q = queue;
        CLEANER.register(decoder, () -> q.add(resources));
    }

    /** Closes what dropped decoders held. */
    void release() {
        for (AutoCloseable r; (r = queue.poll()) != null; ) {
            try {
                r.close();
            } catch (Exception e) {
                throw new IllegalStateException("releasing a dropped decoder's device memory", e);
            }
        }
    }
}
