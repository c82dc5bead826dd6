package gsat2r.cli;

import gsat2r.core.T2rException;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

/**
 * Starts the ranks of a data-parallel run that live on this node as child processes (what
 * {@code t2r finetune --gpus N} does, as torchrun does for PyTorch), and supervises them:
 * <ul>
 * <li>each child gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, NODE_RANK, MASTER_ADDR and
 *     MASTER_PORT in its environment (see {@link gsat2r.finetune.distributed.DistributedEnv});</li>
 * <li>every line a child writes is forwarded with the prefix {@code [rank R] }, stderr to stderr and
 *     stdout to stdout, except rank 0's stdout, which passes unprefixed: it is the command's result
 *     (the final student's directory), as without {@code --gpus};</li>
 * <li>when a child fails, the others get {@code grace} to stop on their own (they normally do: the group
 *     tells them why), then SIGTERM, then SIGKILL; the launcher exits with the first failure's status and
 *     one line naming the rank. Stopping the launcher (Ctrl-C, SIGTERM) stops the children.</li>
 * </ul>
 */
final class RankLauncher {

    /** This node's part of the run: {@code perNode} ranks on each of {@code nodes} nodes; this is node {@code nodeRank}. */
    record Plan(int perNode, int nodes, int nodeRank, String masterAddr, int masterPort) {
        Plan {
            if (perNode < 1) throw new T2rException("--gpus: must be >= 1 (got " + perNode + ")");
            if (nodes < 1) throw new T2rException("--nnodes: must be >= 1 (got " + nodes + ")");
            if (nodeRank < 0 || nodeRank >= nodes) throw new T2rException("--node-rank: " + nodeRank + " is outside [0, " + (nodes - 1) + "]");
            if (masterPort < 1 || masterPort > 65535) throw new T2rException("--master-port: " + masterPort + " is outside [1, 65535]");
        }

        int worldSize() {
            return perNode * nodes;
        }

        int rank(int localRank) {
            return nodeRank * perNode + localRank;
        }

        Map<String, String> environment(int localRank) {
            Map<String, String> env = new HashMap<>();
            env.put("RANK", Integer.toString(rank(localRank)));
            env.put("WORLD_SIZE", Integer.toString(worldSize()));
            env.put("LOCAL_RANK", Integer.toString(localRank));
            env.put("LOCAL_WORLD_SIZE", Integer.toString(perNode));
            env.put("NODE_RANK", Integer.toString(nodeRank));
            env.put("MASTER_ADDR", masterAddr);
            env.put("MASTER_PORT", Integer.toString(masterPort));
            return env;
        }
    }

    private final Plan plan;
    private final IntFunction<List<String>> command;        // the command line of local rank i
    private final PrintWriter out, err;
    private final Duration grace;

    RankLauncher(Plan plan, IntFunction<List<String>> command, PrintWriter out, PrintWriter err, Duration grace) {
        this.plan = plan;
        this.command = command;
        this.out = out;
        this.err = err;
        this.grace = grace;
    }

    /** Runs the ranks of this node to their end; returns 0 when all succeeded, else the first failure's exit status. */
    int run() {
        List<Process> children = new CopyOnWriteArrayList<>();      // read by the shutdown hook while ranks start
        List<Thread> pumps = new CopyOnWriteArrayList<>();
        Thread stopper = new Thread(() -> {
            stop(children, Duration.ZERO);
            join(pumps, 2_000);             // the ranks' last lines (rank 0's note on where to resume) before the JVM halts
        }, "t2r-launcher-stop");
        Runtime.getRuntime().addShutdownHook(stopper);
        try {
            for (int local = 0; local < plan.perNode(); local++) {
                int rank = plan.rank(local);
                ProcessBuilder pb = new ProcessBuilder(command.apply(local));
                pb.environment().putAll(plan.environment(local));
                Process p;
                try {
                    p = pb.start();
                } catch (IOException e) {
                    stop(children, Duration.ZERO);
                    throw new T2rException("cannot start rank " + rank + " (" + String.join(" ", pb.command().subList(0, 1)) + "): " + e.getMessage(), e);
                }
                children.add(p);
                pumps.add(pump(p.getInputStream(), rank == 0 ? "" : "[rank " + rank + "] ", out, "rank " + rank + " stdout"));
                pumps.add(pump(p.getErrorStream(), "[rank " + rank + "] ", err, "rank " + rank + " stderr"));
            }
            int status = supervise(children);
            join(pumps, 5_000);
            return status;
        } finally {
            stop(children, Duration.ZERO);
            try {
                Runtime.getRuntime().removeShutdownHook(stopper);
            } catch (IllegalStateException ignored) {
                // the JVM is shutting down: the hook runs anyway
            }
        }
    }

    /** Waits for all children; on the first failure stops the others. */
    private int supervise(List<Process> children) {
        boolean[] done = new boolean[children.size()];
        int remaining = children.size();
        while (remaining > 0) {
            for (int i = 0; i < children.size(); i++) {
                if (done[i] || children.get(i).isAlive()) continue;
                done[i] = true;
                remaining--;
                int status = children.get(i).exitValue();
                if (status != 0) {
                    int rank = plan.rank(i);
                    synchronized (err) {
                        err.println("t2r: rank " + rank + " failed (exit status " + status + "); stopping the other " + remaining
                                + " rank" + (remaining == 1 ? "" : "s") + " on this node");
                        err.flush();
                    }
                    stop(children, grace);
                    throw new LaunchFailure(status, "rank " + rank + " of " + plan.worldSize() + " failed (exit status " + status
                            + "; its error is above, prefixed [rank " + rank + "])");
                }
            }
            if (remaining > 0) {
                try {
                    children.stream().filter(Process::isAlive).findFirst().ifPresent(p -> {
                        try {
                            p.waitFor(100, TimeUnit.MILLISECONDS);
                        } catch (InterruptedException e) {
                            throw new IllegalStateException(e);
                        }
                    });
                } catch (IllegalStateException e) {
                    Thread.currentThread().interrupt();
                    stop(children, Duration.ZERO);
                    throw new T2rException("interrupted while the ranks were running; stopped them");
                }
            }
        }
        return 0;
    }

    /** A rank failed: the launcher exits with its status. */
    static final class LaunchFailure extends T2rException {
        final int status;

        LaunchFailure(int status, String message) {
            super(message);
            this.status = status;
        }
    }

    private static void join(List<Thread> threads, long millis) {
        for (Thread t : threads) {
            try {
                t.join(millis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** Gives the live children {@code grace} to end, then SIGTERM and 10 s, then SIGKILL. */
    private static void stop(List<Process> children, Duration grace) {
        long deadline = System.nanoTime() + grace.toNanos();
        for (Process p : children) waitUntil(p, deadline);
        for (Process p : children) if (p.isAlive()) p.destroy();
        long term = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        for (Process p : children) waitUntil(p, term);
        for (Process p : children) if (p.isAlive()) p.destroyForcibly();
    }

    private static void waitUntil(Process p, long deadline) {
        long left = deadline - System.nanoTime();
        if (left <= 0) return;
        try {
            p.waitFor(left, TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Forwards the lines of {@code in} to {@code to}, each with {@code prefix}, whole lines at a time. */
    private static Thread pump(InputStream in, String prefix, PrintWriter to, String name) {
        Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    synchronized (to) {
                        to.println(prefix + line);
                        to.flush();
                    }
                }
            } catch (IOException ignored) {
                // the child is gone
            }
        }, "t2r-launcher-" + name);
        t.setDaemon(true);
        t.start();
        return t;
    }
}
