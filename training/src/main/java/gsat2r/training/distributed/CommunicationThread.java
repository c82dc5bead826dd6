package gsat2r.training.distributed;

import gsat2r.core.T2rException;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;

/**
 * The one thread on which a rank's group operations run, in the order they were issued (see
 * {@link ProcessGroup}). Synchronous calls from another thread queue their operation and wait for it;
 * calls from the thread itself (an operation that calls another) run inline.
 */
public final class CommunicationThread implements AutoCloseable {

    private final ExecutorService executor;
    private volatile Thread thread;

    public CommunicationThread(String name) {
        this.executor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            thread = t;
            return t;
        });
    }

    public <T> CompletableFuture<T> async(Supplier<T> op) {
        if (Thread.currentThread() == thread) {
            try {
                return CompletableFuture.completedFuture(op.get());
            } catch (RuntimeException | Error e) {
                return CompletableFuture.failedFuture(e);
            }
        }
        return CompletableFuture.supplyAsync(op, executor);
    }

    public <T> T call(Supplier<T> op) {
        if (Thread.currentThread() == thread) return op.get();
        return await(async(op));
    }

    /** Waits for {@code f} and rethrows its failure as it was thrown (a T2rException stays one line). */
    public static <T> T await(CompletableFuture<T> f) {
        try {
            return f.join();
        } catch (CompletionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException r) throw r;
            if (c instanceof Error err) throw err;
            throw new T2rException(String.valueOf(c), c);
        }
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }
}
