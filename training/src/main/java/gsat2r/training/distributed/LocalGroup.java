package gsat2r.training.distributed;

import gsat2r.core.T2rException;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * A {@link ProcessGroup} of threads in one JVM: {@link #create} returns one member per rank, to be
 * driven by one thread each (tests, and the proof that N ranks × micro-batch b train exactly as one
 * process with N·b). Members exchange references to their contributions through a shared table and a
 * barrier, so an exchange copies nothing.
 */
public final class LocalGroup implements ProcessGroup {

    /** Shared by the members: a table of contributions, a reusable barrier, and the first failure. */
    private static final class Hub {
        final int world;
        final long timeoutNanos;
        final Object[] posted;
        private int arrived;
        private long generation;
        private String failure;                 // "rank r: reason", the first abort

        Hub(int world, Duration timeout) {
            this.world = world;
            this.timeoutNanos = timeout.toNanos();
            this.posted = new Object[world];
        }

        synchronized void await(int rank) {
            if (failure != null) throw stopped();
            long gen = generation;
            if (++arrived == world) {
                arrived = 0;
                generation++;
                notifyAll();
                return;
            }
            long deadline = System.nanoTime() + timeoutNanos;
            while (gen == generation && failure == null) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    abort(rank, "waited " + Duration.ofNanos(timeoutNanos).toSeconds() + " s for the other ranks in a collective operation");
                    break;
                }
                try {
                    wait(left / 1_000_000 + 1);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    abort(rank, "interrupted");
                }
            }
            if (gen == generation) throw stopped();
        }

        synchronized void abort(int rank, String reason) {
            if (failure == null) failure = "rank " + rank + ": " + reason;
            notifyAll();
        }

        private T2rException stopped() {
            return new T2rException("the data-parallel group stopped: " + failure);
        }
    }

    private final Hub hub;
    private final int rank;
    private final CommunicationThread comm;

    private LocalGroup(Hub hub, int rank) {
        this.hub = hub;
        this.rank = rank;
        this.comm = new CommunicationThread("t2r-comm-" + rank);
    }

    /** {@code world} members (rank order) that wait at most {@code timeout} for each other in an operation. */
    public static List<ProcessGroup> create(int world, Duration timeout) {
        if (world < 1) throw new IllegalArgumentException("world size must be >= 1, got " + world);
        Hub hub = new Hub(world, timeout);
        List<ProcessGroup> members = new ArrayList<>();
        for (int r = 0; r < world; r++) members.add(new LocalGroup(hub, r));
        return members;
    }

    public static List<ProcessGroup> create(int world) {
        return create(world, Duration.ofMinutes(2));
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int worldSize() {
        return hub.world;
    }

    @Override
    public List<byte[]> allGather(byte[] mine) {
        return comm.call(() -> exchange(mine.clone(), byte[].class));
    }

    @Override
    public List<float[]> allGatherFloats(float[] mine) {
        return comm.call(() -> exchange(mine, float[].class));
    }

    /** Posts {@code mine}, waits for every rank's, copies the table, and waits until every rank has copied it. */
    private <T> List<T> exchange(T mine, Class<T> type) {
        hub.posted[rank] = mine;
        hub.await(rank);
        Object[] all = hub.posted.clone();
        hub.await(rank);
        List<T> out = new ArrayList<>(all.length);
        for (int r = 0; r < all.length; r++) {
            if (!type.isInstance(all[r])) {
                throw new IllegalStateException("rank " + r + " posted " + (all[r] == null ? "nothing" : all[r].getClass().getSimpleName())
                        + " where rank " + rank + " posted " + type.getSimpleName() + ": the ranks called different collectives");
            }
            out.add(type.cast(all[r]));
        }
        return out;
    }

    @Override
    public <T> CompletableFuture<T> async(Supplier<T> op) {
        return comm.async(op);
    }

    @Override
    public void abort(String reason) {
        hub.abort(rank, reason);
    }

    @Override
    public void close() {
        comm.close();
    }

    @Override
    public String toString() {
        return "local group rank " + rank + " of " + hub.world;
    }
}
