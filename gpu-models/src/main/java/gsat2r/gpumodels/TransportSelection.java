package gsat2r.gpumodels;

import gsat2r.core.T2rException;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * How a CUDA data-parallel group sums its gradients, decided from every rank's answer (gathered over the
 * process group), so that all ranks decide the same:
 * <ul>
 * <li>{@link Kind#NCCL}, when every rank loads NCCL and has a GPU of its own: the sums stay on the devices;</li>
 * <li>{@link Kind#HOST} otherwise: device → host, the process group's host collectives (rank-order sums),
 *     host → device. Slow for large models, but it works where NCCL cannot: several ranks on one GPU (NCCL
 *     refuses a communicator with a GPU twice), which is how the data-parallel logic is tested on one GPU,
 *     and machines without NCCL (then with a note saying so).</li>
 * </ul>
 * {@code T2R_DP_TRANSPORT} (or the system property {@code gsat2r.dp.transport}) = {@code auto} (default),
 * {@code nccl} or {@code host} forces one; forcing NCCL where it cannot work is a one-line error.
 */
public final class TransportSelection {
    private TransportSelection() {}

    public static final String PROPERTY = "gsat2r.dp.transport", ENV = "T2R_DP_TRANSPORT";

    public enum Kind { NCCL, HOST }

    public enum Request { AUTO, NCCL, HOST }

    /** What rank {@code rank} reports: its machine, its GPU (PCI address), and why NCCL does not load there (null when it does). */
    public record RankDevice(int rank, String host, String gpu, String ncclProblem) {
        boolean hasNccl() {
            return ncclProblem == null;
        }

        byte[] encode() {
            return String.join("\n", host, gpu, ncclProblem == null ? "" : ncclProblem).getBytes(StandardCharsets.UTF_8);
        }

        static RankDevice decode(int rank, byte[] bytes) {
            String[] f = new String(bytes, StandardCharsets.UTF_8).split("\n", -1);
            if (f.length != 3) throw new T2rException("rank " + rank + " sent a malformed device description");
            return new RankDevice(rank, f[0], f[1], f[2].isEmpty() ? null : f[2]);
        }
    }

    /** The transport, and a note for the log when it is the host fallback chosen automatically (else null). */
    public record Decision(Kind kind, String note) {}

    /** The request from {@code gsat2r.dp.transport}, else {@code T2R_DP_TRANSPORT}, else auto. */
    public static Request configured() {
        String v = System.getProperty(PROPERTY);
        String from = "-D" + PROPERTY;
        if (v == null || v.isBlank()) {
            v = System.getenv(ENV);
            from = ENV;
        }
        if (v == null || v.isBlank()) return Request.AUTO;
        return switch (v.strip().toLowerCase(Locale.ROOT)) {
            case "auto" -> Request.AUTO;
            case "nccl" -> Request.NCCL;
            case "host" -> Request.HOST;
            default -> throw new T2rException(from + ": '" + v.strip() + "' is not a data-parallel transport (auto, nccl or host)");
        };
    }

    /** Decides from every rank's description, in rank order. The same on every rank. */
    public static Decision decide(Request request, List<RankDevice> ranks) {
        if (request == Request.HOST) return new Decision(Kind.HOST, null);
        String sharing = sharedGpu(ranks);
        RankDevice without = ranks.stream().filter(r -> !r.hasNccl()).findFirst().orElse(null);
        if (request == Request.NCCL) {
            if (without != null) {
                throw new T2rException(ENV + "=nccl, but rank " + without.rank() + " cannot use NCCL: " + without.ncclProblem());
            }
            if (sharing != null) throw new T2rException(ENV + "=nccl, but " + sharing + " (NCCL needs a GPU per rank; use host)");
            return new Decision(Kind.NCCL, null);
        }
        if (without != null) {
            return new Decision(Kind.HOST, "rank " + without.rank() + " cannot use NCCL (" + without.ncclProblem()
                    + "): the gradients are summed through the host, which is slow for large models");
        }
        if (sharing != null) {
            return new Decision(Kind.HOST, sharing + ": the gradients are summed through the host (NCCL needs a GPU per rank)");
        }
        return new Decision(Kind.NCCL, null);
    }

    /** "ranks 0 and 2 share GPU 0000:1b:00 of host h", or null when every rank has its own GPU. */
    static String sharedGpu(List<RankDevice> ranks) {
        Map<String, Integer> first = new LinkedHashMap<>();
        for (RankDevice r : ranks) {
            Integer before = first.putIfAbsent(r.host() + "\n" + r.gpu(), r.rank());
            if (before != null) return "ranks " + before + " and " + r.rank() + " share GPU " + r.gpu() + " of host " + r.host();
        }
        return null;
    }

    static List<RankDevice> decodeAll(List<byte[]> all) {
        List<RankDevice> out = new ArrayList<>(all.size());
        for (int r = 0; r < all.size(); r++) out.add(RankDevice.decode(r, all.get(r)));
        return out;
    }
}
