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
