package gsat2r.training.distributed;

import gsat2r.core.T2rException;
import gsat2r.training.ParameterInfo;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * Checks that every rank trains the same tensors in the same order (one small collective): the flat
 * layouts, buckets and shards of the ranks must be the same for their collectives to pair up, and a
 * mismatch (different students on the ranks) would otherwise sum unrelated numbers or hang.
 */
public final class TrainableAgreement {
    private TrainableAgreement() {}

    /** Collective: fails on every rank, naming the first rank that differs, unless all ranks pass the same list. */
    public static void require(ProcessGroup group, List<ParameterInfo> infos) {
        StringBuilder sb = new StringBuilder();
        for (ParameterInfo p : infos) sb.append(p).append(';');
        byte[] mine = sb.toString().getBytes(StandardCharsets.UTF_8);
        List<byte[]> all = group.allGather(mine);
        for (int r = 0; r < all.size(); r++) {
            if (!Arrays.equals(all.get(r), mine)) {
                throw new T2rException("rank " + r + " trains other tensors than rank " + group.rank()
                        + " (different students or trainable sets on the ranks?)");
            }
        }
    }
}
