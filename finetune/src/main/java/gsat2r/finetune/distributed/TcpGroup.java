package gsat2r.finetune.distributed;

import gsat2r.training.distributed.CommunicationThread;
import gsat2r.training.distributed.ProcessGroup;
import gsat2r.core.T2rException;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.NoRouteToHostException;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * A {@link ProcessGroup} of processes over TCP, in a star around rank 0: the rendezvous and the
 * control plane of a multi-process run (and the data plane of the CPU backend).
 *
 * <p>Rendezvous: rank 0 listens on the rendezvous port ({@link DistributedEnv#rendezvousPort()}: MASTER_PORT,
 * or the one next to it under torchrun, whose agent holds MASTER_PORT; all interfaces) and waits for the other
 * WORLD_SIZE − 1 ranks; each connects to MASTER_ADDR at that port (retrying while rank 0 is not up
 * yet) and introduces itself (magic, protocol version, rank, world size); rank 0 refuses a wrong world
 * size, a rank out of range or a rank that joined twice, and says READY once all have joined. Both
 * sides give up after the rendezvous timeout with a message saying who is missing. This is also how a
 * GPU run exchanges NCCL's unique id (rank 0 creates it, {@link #broadcast} hands it out).
 *
 * <p>An operation: every rank sends its contribution to rank 0, which checks that all called the same
 * kind of operation, and sends the whole table back to each. A rank that fails sends ABORT with its
 * reason before it closes; rank 0 passes that on, so every rank stops with the reason of the first
 * failure; a connection that breaks (a killed process) stops the others the same way.
 */
public final class TcpGroup implements ProcessGroup {

    static final long MAGIC = 0x5432_5244_4953_5431L;           // "T2RDIST1"
    static final int VERSION = 1;
    private static final int BYTES = 1, FLOATS = 2, READY = 3, ABORT = -1;
    private static final int HANDSHAKE_MILLIS = 10_000;

    /** One connection: to rank 0 (on the other ranks) or to rank {@code rank} (on rank 0). */
    private static final class Peer {
        final int rank;
        final Socket socket;
        final DataInputStream in;
        final DataOutputStream out;

        Peer(int rank, Socket socket) throws IOException {
            this.rank = rank;
            this.socket = socket;
            socket.setTcpNoDelay(true);
            this.in = new DataInputStream(new BufferedInputStream(socket.getInputStream(), 1 << 16));
            this.out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream(), 1 << 16));
        }

        void close() {
            try {
                socket.close();
            } catch (IOException ignored) {
                // closing after a failure: nothing more to do
            }
        }
    }

    private final int rank, world;
    private final Peer[] peers;             // rank 0: peers[1..world-1]; others: peers[0] = rank 0
    private final Duration collectiveTimeout;
    private final CommunicationThread comm;
    private volatile String failure;

    private TcpGroup(int rank, int world, Peer[] peers, Duration collectiveTimeout) {
        this.rank = rank;
        this.world = world;
        this.peers = peers;
        this.collectiveTimeout = collectiveTimeout;
        this.comm = new CommunicationThread("t2r-comm-" + rank);
    }

    /** Joins the run that {@code env} describes (rank 0 listens, the others connect). */
    public static TcpGroup connect(DistributedEnv env) {
        return connect(env.rank(), env.worldSize(), env.masterAddr(), env.rendezvousPort(), env.rendezvousTimeout(), env.collectiveTimeout());
    }

    public static TcpGroup connect(int rank, int world, String masterAddr, int masterPort, Duration rendezvousTimeout,
                                   Duration collectiveTimeout) {
        if (world < 1 || rank < 0 || rank >= world) throw new IllegalArgumentException("rank " + rank + " of " + world);
        try {
            return rank == 0 ? listen(world, masterPort, rendezvousTimeout, collectiveTimeout)
                    : join(rank, world, masterAddr, masterPort, rendezvousTimeout, collectiveTimeout);
        } catch (IOException e) {
            throw new T2rException("rank " + rank + ": rendezvous at " + masterAddr + ":" + masterPort + " failed: " + e.getMessage(), e);
        }
    }

    private static TcpGroup listen(int world, int port, Duration timeout, Duration collectiveTimeout) throws IOException {
        Peer[] peers = new Peer[world];
        if (world == 1) return new TcpGroup(0, 1, peers, collectiveTimeout);
        long deadline = System.nanoTime() + timeout.toNanos();
        try (ServerSocket server = new ServerSocket()) {
            server.setReuseAddress(true);
            try {
                server.bind(new InetSocketAddress(port));
            } catch (IOException e) {
                throw new T2rException("rank 0: cannot listen on port " + port + " for the rendezvous (" + e.getMessage()
                        + "); choose another MASTER_PORT (--master-port), or T2R_RENDEZVOUS_PORT under torchrun", e);
            }
            int joined = 0;
            while (joined < world - 1) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    List<Integer> missing = new ArrayList<>();
                    for (int r = 1; r < world; r++) if (peers[r] == null) missing.add(r);
                    closeAll(peers);
                    throw new T2rException("rank 0: " + joined + " of the " + (world - 1) + " other ranks joined the rendezvous on port " + port
                            + " within " + timeout.toSeconds() + " s; missing rank" + (missing.size() > 1 ? "s " : " ") + missing
                            + " (started? same MASTER_ADDR/MASTER_PORT and WORLD_SIZE " + world + "? T2R_RENDEZVOUS_TIMEOUT to wait longer)");
                }
                server.setSoTimeout((int) Math.max(1, Math.min(Integer.MAX_VALUE, left / 1_000_000)));
                Socket s;
                try {
                    s = server.accept();
                } catch (SocketTimeoutException e) {
                    continue;
                }
                String problem = null;
                int r = -1;
                try {
                    s.setSoTimeout(HANDSHAKE_MILLIS);
                    Peer p = new Peer(-1, s);
                    long magic = p.in.readLong();
                    int version = p.in.readInt();
                    r = p.in.readInt();
                    int w = p.in.readInt();
                    if (magic != MAGIC) problem = "a connection from " + s.getRemoteSocketAddress() + " is not a t2r rank";
                    else if (version != VERSION) problem = "rank " + r + " speaks rendezvous protocol " + version + ", rank 0 " + VERSION
                            + " (different t2r versions?)";
                    else if (w != world) problem = "rank " + r + " says WORLD_SIZE " + w + ", rank 0 has " + world;
                    else if (r < 1 || r >= world) problem = "a process joined as rank " + r + ", outside [1, " + (world - 1) + "]";
                    else if (peers[r] != null) problem = "rank " + r + " joined twice (two processes with RANK=" + r + ")";
                    if (problem == null) {
                        p.out.writeInt(0);
                        p.out.flush();
                        peers[r] = new Peer(r, s);
                        joined++;
                    } else {
                        p.out.writeInt(1);
                        p.out.writeUTF(problem);
                        p.out.flush();
                    }
                } catch (IOException e) {
                    problem = "a process at " + s.getRemoteSocketAddress() + " broke off its introduction (" + e.getMessage() + ")";
                }
                if (problem != null) {
                    try {
                        s.close();
                    } catch (IOException ignored) {
                        // refusing it anyway
                    }
                    closeAll(peers);
                    throw new T2rException("rank 0: rendezvous on port " + port + ": " + problem);
                }
            }
        }
        for (int r = 1; r < world; r++) {
            peers[r].socket.setSoTimeout(timeoutMillis(collectiveTimeout));
            peers[r].out.writeInt(READY);
            peers[r].out.flush();
        }
        return new TcpGroup(0, world, peers, collectiveTimeout);
    }

    private static TcpGroup join(int rank, int world, String addr, int port, Duration timeout, Duration collectiveTimeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        Socket s;
        String lastError;
        while (true) {
            s = new Socket();
            try {
                long left = Math.max(1, (deadline - System.nanoTime()) / 1_000_000);
                s.connect(new InetSocketAddress(addr, port), (int) Math.min(left, 5_000));
                break;
            } catch (UnknownHostException e) {
                s.close();
                throw new T2rException("rank " + rank + ": MASTER_ADDR '" + addr + "' is not a known host");
            } catch (ConnectException | NoRouteToHostException | SocketTimeoutException e) {
                s.close();
                lastError = e.getMessage();
            }
            if (System.nanoTime() > deadline) {
                throw new T2rException("rank " + rank + ": could not reach rank 0's rendezvous at " + addr + ":" + port + " within "
                        + timeout.toSeconds() + " s (" + lastError + "); is rank 0 running, and do all ranks have the same MASTER_ADDR and"
                        + " MASTER_PORT? (T2R_RENDEZVOUS_TIMEOUT to wait longer)");
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new T2rException("rank " + rank + ": interrupted while joining the rendezvous");
            }
        }
        Peer hub = new Peer(0, s);
        try {
            s.setSoTimeout(HANDSHAKE_MILLIS);
            hub.out.writeLong(MAGIC);
            hub.out.writeInt(VERSION);
            hub.out.writeInt(rank);
            hub.out.writeInt(world);
            hub.out.flush();
            if (hub.in.readInt() != 0) throw new T2rException("rank " + rank + ": rank 0 refused it: " + hub.in.readUTF());
            s.setSoTimeout(timeoutMillis(Duration.ofNanos(Math.max(1_000_000, deadline - System.nanoTime())).plusSeconds(10)));
            int ready;
            try {
                ready = hub.in.readInt();
            } catch (SocketTimeoutException e) {
                throw new T2rException("rank " + rank + ": joined rank 0 at " + addr + ":" + port + ", but not all " + world
                        + " ranks joined within " + timeout.toSeconds() + " s");
            }
            if (ready != READY) throw new T2rException("rank " + rank + ": unexpected answer " + ready + " from rank 0's rendezvous");
            s.setSoTimeout(timeoutMillis(collectiveTimeout));
        } catch (IOException | RuntimeException e) {
            hub.close();
            if (e instanceof T2rException t) throw t;
            throw new T2rException("rank " + rank + ": lost rank 0 during the rendezvous at " + addr + ":" + port + " (" + e.getMessage() + ")", e);
        }
        Peer[] peers = new Peer[world];
        peers[0] = hub;
        return new TcpGroup(rank, world, peers, collectiveTimeout);
    }

    private static int timeoutMillis(Duration d) {
        return (int) Math.max(1, Math.min(Integer.MAX_VALUE, d.toMillis()));
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int worldSize() {
        return world;
    }

    @Override
    public List<byte[]> allGather(byte[] mine) {
        return comm.call(() -> exchange(BYTES, mine));
    }

    @Override
    public List<float[]> allGatherFloats(float[] mine) {
        return comm.call(() -> {
            ByteBuffer b = ByteBuffer.allocate(Math.multiplyExact(mine.length, Float.BYTES)).order(ByteOrder.LITTLE_ENDIAN);
            b.asFloatBuffer().put(mine);
            List<byte[]> all = exchange(FLOATS, b.array());
            List<float[]> out = new ArrayList<>(all.size());
            for (int r = 0; r < all.size(); r++) {
                if (r == rank) {
                    out.add(mine);
                    continue;
                }
                float[] f = new float[all.get(r).length / Float.BYTES];
                ByteBuffer.wrap(all.get(r)).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
                out.add(f);
            }
            return out;
        });
    }

    @Override
    public <T> CompletableFuture<T> async(Supplier<T> op) {
        return comm.async(op);
    }

    /** One operation of kind {@code kind}: every rank's payload, in rank order. Runs on the communication thread. */
    private List<byte[]> exchange(int kind, byte[] mine) {
        if (failure != null) throw stopped();
        if (world == 1) return List.of(mine);
        return rank == 0 ? hubExchange(kind, mine) : spokeExchange(kind, mine);
    }

    private List<byte[]> hubExchange(int kind, byte[] mine) {
        List<byte[]> all = new ArrayList<>(world);
        all.add(mine);
        for (int r = 1; r < world; r++) {
            Peer p = peers[r];
            try {
                int k = p.in.readInt();
                if (k == ABORT) {
                    String reason = p.in.readUTF();
                    abortAll("rank " + r + ": " + reason);
                    throw stopped();
                }
                if (k != kind) {
                    abortAll("rank " + r + " called " + name(k) + " where rank 0 called " + name(kind) + " (the ranks diverged)");
                    throw stopped();
                }
                byte[] data = new byte[p.in.readInt()];
                p.in.readFully(data);
                all.add(data);
            } catch (IOException e) {
                throw lost(r, e);
            }
        }
        for (int r = 1; r < world; r++) {
            Peer p = peers[r];
            try {
                synchronized (p.out) {
                    p.out.writeInt(kind);
                    p.out.writeInt(world);
                    for (byte[] d : all) {
                        p.out.writeInt(d.length);
                        p.out.write(d);
                    }
                    p.out.flush();
                }
            } catch (IOException e) {
                throw lost(r, e);
            }
        }
        return all;
    }

    private List<byte[]> spokeExchange(int kind, byte[] mine) {
        Peer hub = peers[0];
        try {
            synchronized (hub.out) {
                hub.out.writeInt(kind);
                hub.out.writeInt(mine.length);
                hub.out.write(mine);
                hub.out.flush();
            }
            int k = hub.in.readInt();
            if (k == ABORT) {
                String reason = hub.in.readUTF();
                if (failure == null) failure = reason;
                hub.close();
                throw stopped();
            }
            if (k != kind) throw new IllegalStateException("rank 0 answered " + name(k) + " to " + name(kind));
            int n = hub.in.readInt();
            if (n != world) throw new IllegalStateException("rank 0 sent " + n + " contributions for " + world + " ranks");
            List<byte[]> all = new ArrayList<>(n);
            for (int r = 0; r < n; r++) {
                byte[] d = new byte[hub.in.readInt()];
                hub.in.readFully(d);
                all.add(r == rank ? mine : d);
            }
            return all;
        } catch (IOException e) {
            throw lost(0, e);
        }
    }

    /** The failure to report after connection {@code r} broke (or timed out). */
    private T2rException lost(int r, IOException e) {
        if (failure != null) return stopped();
        String what = e instanceof SocketTimeoutException
                ? "waited " + collectiveTimeout.toSeconds() + " s for rank " + r + " in a collective operation (a rank hangs, or is much slower;"
                  + " T2R_COLLECTIVE_TIMEOUT to wait longer)"
                : "lost the connection to rank " + r + " (it stopped, or its node failed: " + e.getMessage() + ")";
        abort(what);
        return stopped();
    }

    private T2rException stopped() {
        return new T2rException("the data-parallel group stopped: " + failure);
    }

    private static String name(int kind) {
        return switch (kind) {
            case BYTES -> "allGather";
            case FLOATS -> "allGatherFloats";
            case READY -> "ready";
            case ABORT -> "abort";
            default -> "operation " + kind;
        };
    }

    @Override
    public void abort(String reason) {
        if (failure != null) return;
        if (rank == 0) {
            abortAll("rank 0: " + reason);
            return;
        }
        failure = "rank " + rank + ": " + reason;
        Peer hub = peers[0];
        if (hub == null) return;
        try {
            synchronized (hub.out) {
                hub.out.writeInt(ABORT);
                hub.out.writeUTF(shorten(reason));
                hub.out.flush();
            }
        } catch (IOException ignored) {
            // rank 0 is gone already: it will not wait for us
        }
        hub.close();
    }

    /** Rank 0: records the failure and sends it to every rank, then closes the connections. */
    private void abortAll(String reason) {
        if (failure == null) failure = reason;
        for (int r = 1; r < world; r++) {
            Peer p = peers[r];
            if (p == null) continue;
            try {
                synchronized (p.out) {
                    p.out.writeInt(ABORT);
                    p.out.writeUTF(shorten(failure));
                    p.out.flush();
                }
            } catch (IOException ignored) {
                // that rank is gone already
            }
            p.close();
        }
    }

    private static String shorten(String s) {
        return s.length() <= 2000 ? s : s.substring(0, 2000) + "…";
    }

    private static void closeAll(Peer[] peers) {
        for (Peer p : peers) if (p != null) p.close();
    }

    @Override
    public void close() {
        comm.close();
        closeAll(peers);
    }
}
