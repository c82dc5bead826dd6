package gsat2r.finetune.distributed;

import gsat2r.core.T2rException;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class DistributedEnvTest {

    @Test
    void readsTorchrunsVariables() {
        DistributedEnv e = DistributedEnv.from(Map.of("RANK", "5", "WORLD_SIZE", "16", "LOCAL_RANK", "1", "LOCAL_WORLD_SIZE", "8",
                "MASTER_ADDR", "node-0", "MASTER_PORT", "29500", "T2R_RENDEZVOUS_TIMEOUT", "2.5")).orElseThrow();
        assertEquals(new DistributedEnv(5, 16, 1, 8, "node-0", 29500, Duration.ofMillis(2500), DistributedEnv.DEFAULT_COLLECTIVE_TIMEOUT), e);
        assertEquals(Optional.empty(), DistributedEnv.from(Map.of("PATH", "/bin")), "a plain run");
        DistributedEnv single = DistributedEnv.from(Map.of("RANK", "0", "WORLD_SIZE", "1")).orElseThrow();
        assertEquals(0, single.localRank());
    }

    /** What torchrun gives each worker; its agent holds MASTER_PORT, so the ranks meet on the next port. */
    static Map<String, String> torchrun(int rank, int world, int masterPort) {
        return Map.ofEntries(Map.entry("RANK", String.valueOf(rank)), Map.entry("WORLD_SIZE", String.valueOf(world)),
                Map.entry("LOCAL_RANK", String.valueOf(rank)), Map.entry("LOCAL_WORLD_SIZE", String.valueOf(world)),
                Map.entry("GROUP_RANK", "0"), Map.entry("ROLE_RANK", String.valueOf(rank)), Map.entry("ROLE_NAME", "default"),
                Map.entry("MASTER_ADDR", "127.0.0.1"), Map.entry("MASTER_PORT", String.valueOf(masterPort)),
                Map.entry("TORCHELASTIC_RUN_ID", "none"), Map.entry("TORCHELASTIC_RESTART_COUNT", "0"),
                Map.entry("TORCHELASTIC_MAX_RESTARTS", "0"), Map.entry("TORCHELASTIC_USE_AGENT_STORE", "True"),
                Map.entry("OMP_NUM_THREADS", "1"));
    }

    @Test
    void underTorchrunTheRanksMeetNextToMasterPort() {
        DistributedEnv e = DistributedEnv.from(torchrun(1, 2, 29500)).orElseThrow();
        assertEquals(29500, e.masterPort());
        assertEquals(29501, e.rendezvousPort());
        assertEquals(65534, DistributedEnv.from(torchrun(0, 2, 65535)).orElseThrow().rendezvousPort());
        var chosen = new java.util.HashMap<>(torchrun(0, 2, 29500));
        chosen.put("T2R_RENDEZVOUS_PORT", "31000");
        assertEquals(31000, DistributedEnv.from(chosen).orElseThrow().rendezvousPort());
        chosen.put("T2R_RENDEZVOUS_PORT", "0");
        assertEquals("T2R_RENDEZVOUS_PORT: 0 is outside [1, 65535]", message(chosen));
        assertEquals(29500, DistributedEnv.from(Map.of("RANK", "0", "WORLD_SIZE", "2", "MASTER_ADDR", "h", "MASTER_PORT", "29500"))
                .orElseThrow().rendezvousPort(), "t2r's own launcher and SLURM scripts: MASTER_PORT itself");
    }

    @Test
    void badValuesAreOneLineErrors() {
        assertEquals("WORLD_SIZE is not set, but RANK is: a multi-process run needs both (see docs/distributed.md)",
                message(Map.of("RANK", "1")));
        assertEquals("RANK: 4 is outside [0, 3] (WORLD_SIZE is 4)", message(Map.of("RANK", "4", "WORLD_SIZE", "4")));
        assertEquals("WORLD_SIZE: not an integer (got 'two')", message(Map.of("RANK", "0", "WORLD_SIZE", "two")));
        assertEquals("MASTER_ADDR is not set: the host of rank 0, where ranks meet (see docs/distributed.md)",
                message(Map.of("RANK", "0", "WORLD_SIZE", "2")));
        assertEquals("MASTER_PORT is not set (see docs/distributed.md)", message(Map.of("RANK", "0", "WORLD_SIZE", "2", "MASTER_ADDR", "h")));
        assertEquals("MASTER_PORT: 70000 is outside [1, 65535]",
                message(Map.of("RANK", "0", "WORLD_SIZE", "2", "MASTER_ADDR", "h", "MASTER_PORT", "70000")));
        assertEquals("T2R_COLLECTIVE_TIMEOUT: not a positive number of seconds (got '-1')",
                message(Map.of("RANK", "0", "WORLD_SIZE", "1", "T2R_COLLECTIVE_TIMEOUT", "-1")));
    }

    static String message(Map<String, String> env) {
        return assertThrows(T2rException.class, () -> DistributedEnv.from(env)).getMessage();
    }
}
