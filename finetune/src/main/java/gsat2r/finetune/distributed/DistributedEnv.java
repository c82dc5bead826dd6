package gsat2r.finetune.distributed;

import gsat2r.core.T2rException;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/**
 * Where this process stands in a multi-process run, as the launcher (or torchrun-style tooling, SLURM
 * scripts …) says through the environment, with torchrun's names:
 * <pre>
 * RANK              this process's rank, 0 … WORLD_SIZE − 1 (rank 0 writes the run's files)
 * WORLD_SIZE        processes in the run, over all nodes
 * LOCAL_RANK        rank on this node: the GPU it uses (default 0)
 * LOCAL_WORLD_SIZE  processes on this node (default 1)
 * MASTER_ADDR       host of rank 0, where the rendezvous listens (required when WORLD_SIZE > 1)
 * MASTER_PORT       its TCP port (required when WORLD_SIZE > 1)
 * T2R_RENDEZVOUS_PORT      the port rank 0 listens on, when it must differ from MASTER_PORT (default: below)
 * T2R_RENDEZVOUS_TIMEOUT   seconds to wait for all ranks to join (default 300)
 * T2R_COLLECTIVE_TIMEOUT   seconds one collective operation may wait for the others (default 1800)
 * </pre>
 *
 * <p>Under torchrun (TORCHELASTIC_RUN_ID set, as torchrun sets it for its workers) MASTER_PORT is taken:
 * torchrun's agent on node 0 serves its c10d store there. Every rank then meets on MASTER_PORT + 1
 * (MASTER_PORT − 1 when MASTER_PORT is 65535): a port all ranks derive alike, with nothing to exchange
 * first. T2R_RENDEZVOUS_PORT chooses another when that one is in use too. Elsewhere (t2r's own
 * {@code --gpus}, SLURM scripts) rank 0 listens on MASTER_PORT itself.
 *
 * @param rendezvousPort the port where rank 0 listens and the others connect
 */
public record DistributedEnv(int rank, int worldSize, int localRank, int localWorldSize, String masterAddr, int masterPort,
                             Duration rendezvousTimeout, Duration collectiveTimeout, int rendezvousPort) {

    public static final Duration DEFAULT_RENDEZVOUS_TIMEOUT = Duration.ofSeconds(300);
    public static final Duration DEFAULT_COLLECTIVE_TIMEOUT = Duration.ofSeconds(1800);

    /** The variable torchrun sets for every worker it starts. */
    public static final String TORCHRUN_MARKER = "TORCHELASTIC_RUN_ID";

    public DistributedEnv {
        if (worldSize < 1) throw new IllegalArgumentException("world size " + worldSize);
        if (rank < 0 || rank >= worldSize) throw new IllegalArgumentException("rank " + rank + " of " + worldSize);
    }

    /** A run whose ranks meet on MASTER_PORT itself. */
    public DistributedEnv(int rank, int worldSize, int localRank, int localWorldSize, String masterAddr, int masterPort,
                          Duration rendezvousTimeout, Duration collectiveTimeout) {
        this(rank, worldSize, localRank, localWorldSize, masterAddr, masterPort, rendezvousTimeout, collectiveTimeout, masterPort);
    }

    /** The variables of {@code env}, or empty when neither RANK nor WORLD_SIZE is set (a plain single-process run). */
    public static Optional<DistributedEnv> from(Map<String, String> env) {
        boolean hasRank = env.containsKey("RANK"), hasWorld = env.containsKey("WORLD_SIZE");
        if (!hasRank && !hasWorld) return Optional.empty();
        if (!hasRank || !hasWorld) {
            throw new T2rException((hasRank ? "WORLD_SIZE" : "RANK") + " is not set, but " + (hasRank ? "RANK" : "WORLD_SIZE")
                    + " is: a multi-process run needs both (see docs/distributed.md)");
        }
        int world = integer(env, "WORLD_SIZE", 1, Integer.MAX_VALUE, null);
        int rank = integer(env, "RANK", 0, world - 1, null);
        int localWorld = integer(env, "LOCAL_WORLD_SIZE", 1, Integer.MAX_VALUE, 1);
        int localRank = integer(env, "LOCAL_RANK", 0, Integer.MAX_VALUE, 0);
        String addr = env.getOrDefault("MASTER_ADDR", "").strip();
        int port = 0;
        if (world > 1) {
            if (addr.isEmpty()) throw new T2rException("MASTER_ADDR is not set: the host of rank 0, where ranks meet (see docs/distributed.md)");
            port = integer(env, "MASTER_PORT", 1, 65535, null);
        }
        return Optional.of(new DistributedEnv(rank, world, localRank, localWorld, addr, port,
                seconds(env, "T2R_RENDEZVOUS_TIMEOUT", DEFAULT_RENDEZVOUS_TIMEOUT),
                seconds(env, "T2R_COLLECTIVE_TIMEOUT", DEFAULT_COLLECTIVE_TIMEOUT), rendezvousPort(env, port)));
    }

    /** Whether torchrun started this process (its agent then holds MASTER_PORT). */
    public static boolean underTorchrun(Map<String, String> env) {
        return env.containsKey(TORCHRUN_MARKER);
    }

    private static int rendezvousPort(Map<String, String> env, int masterPort) {
        if (env.containsKey("T2R_RENDEZVOUS_PORT")) return integer(env, "T2R_RENDEZVOUS_PORT", 1, 65535, null);
        if (masterPort == 0 || !underTorchrun(env)) return masterPort;
        return masterPort < 65535 ? masterPort + 1 : masterPort - 1;
    }

    private static int integer(Map<String, String> env, String name, int min, int max, Integer fallback) {
        String v = env.get(name);
        if (v == null || v.isBlank()) {
            if (fallback != null) return fallback;
            throw new T2rException(name + " is not set (see docs/distributed.md)");
        }
        long x;
        try {
            x = Long.parseLong(v.strip());
        } catch (NumberFormatException e) {
            throw new T2rException(name + ": not an integer (got '" + v + "')");
        }
        if (x < min || x > max) {
            throw new T2rException(name + ": " + x + " is outside [" + min + ", " + (max == Integer.MAX_VALUE ? "∞" : String.valueOf(max)) + "]"
                    + (name.equals("RANK") ? " (WORLD_SIZE is " + (max + 1) + ")" : ""));
        }
        return (int) x;
    }

    private static Duration seconds(Map<String, String> env, String name, Duration fallback) {
        String v = env.get(name);
        if (v == null || v.isBlank()) return fallback;
        try {
            double s = Double.parseDouble(v.strip());
            if (!(s > 0) || Double.isInfinite(s)) throw new NumberFormatException();
            return Duration.ofMillis((long) Math.ceil(s * 1000));
        } catch (NumberFormatException e) {
            throw new T2rException(name + ": not a positive number of seconds (got '" + v + "')");
        }
    }
}
