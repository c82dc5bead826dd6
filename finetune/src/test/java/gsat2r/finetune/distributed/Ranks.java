package gsat2r.finetune.distributed;

import gsat2r.training.distributed.LocalGroup;
import gsat2r.training.distributed.ProcessGroup;
import gsat2r.core.T2rException;

import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/** Runs one body per rank on its own thread, over a local (thread) group or a TCP group on loopback. */
public final class Ranks {
    private Ranks() {}

    public interface Body<T> {
        T run(ProcessGroup group) throws Exception;
    }

    public static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** {@code world} TCP groups on 127.0.0.1 (each connects on its own thread). */
    public static List<ProcessGroup> tcp(int world, Duration rendezvous, Duration collective) {
        int port = freePort();
        return inParallel(world, r -> TcpGroup.connect(r, world, "127.0.0.1", port, rendezvous, collective));
    }

    public static List<ProcessGroup> groups(String kind, int world) {
        return kind.equals("tcp") ? tcp(world, Duration.ofSeconds(20), Duration.ofSeconds(20)) : LocalGroup.create(world, Duration.ofSeconds(20));
    }

    /** Runs {@code body} for every rank in parallel; returns the results in rank order, rethrowing the first failure. */
    public static <T> List<T> run(List<ProcessGroup> groups, Body<T> body) {
        List<Outcome<T>> outcomes = runAll(groups, body);
        List<T> out = new ArrayList<>();
        for (Outcome<T> o : outcomes) {
            if (o.failure != null) {
                if (o.failure instanceof RuntimeException r) throw r;
                throw new IllegalStateException(o.failure);
            }
            out.add(o.value);
        }
        return out;
    }

    public record Outcome<T>(T value, Throwable failure) {}

    /** Runs every rank to its end, successful or not. */
    public static <T> List<Outcome<T>> runAll(List<ProcessGroup> groups, Body<T> body) {
        ExecutorService pool = Executors.newFixedThreadPool(groups.size());
        try {
            List<Future<T>> futures = new ArrayList<>();
            for (ProcessGroup g : groups) futures.add(pool.submit(() -> body.run(g)));
            List<Outcome<T>> out = new ArrayList<>();
            for (Future<T> f : futures) {
                try {
                    out.add(new Outcome<>(f.get(120, TimeUnit.SECONDS), null));
                } catch (ExecutionException e) {
                    out.add(new Outcome<>(null, e.getCause()));
                } catch (Exception e) {
                    out.add(new Outcome<>(null, e));
                }
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    public static <T> List<T> inParallel(int world, Function<Integer, T> make) {
        ExecutorService pool = Executors.newFixedThreadPool(world);
        try {
            List<Future<T>> futures = new ArrayList<>();
            for (int r = 0; r < world; r++) {
                int rank = r;
                futures.add(pool.submit(() -> make.apply(rank)));
            }
            List<T> out = new ArrayList<>();
            for (Future<T> f : futures) {
                try {
                    out.add(f.get(60, TimeUnit.SECONDS));
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof T2rException t) throw t;
                    throw new IllegalStateException(e.getCause());
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    public static void closeAll(List<ProcessGroup> groups) {
        for (ProcessGroup g : groups) g.close();
    }
}
