package gsat2r.finetune.distributed;

import gsat2r.training.distributed.ProcessGroup;
import gsat2r.core.T2rException;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * torchrun's agent serves its c10d store on MASTER_PORT before it starts the workers. A stand-in agent
 * holds that port here; ranks started with torchrun's environment still meet and run collectives, and
 * the same environment without torchrun's marker shows what went wrong before: rank 0 cannot listen.
 */
class TorchrunRendezvousTest {

    @Test
    void ranksStartedByTorchrunMeetWhileItsAgentHoldsMasterPort() throws IOException {
        try (ServerSocket agent = TorchrunAgent.standIn()) {
            int masterPort = agent.getLocalPort();
            int world = 3;
            List<ProcessGroup> groups = Ranks.inParallel(world, r -> {
                Map<String, String> env = DistributedEnvTest.torchrun(r, world, masterPort);
                DistributedEnv e = DistributedEnv.from(env).orElseThrow();
                return TcpGroup.connect(e);
            });
            try {
                List<List<byte[]>> gathered = Ranks.run(groups, g -> g.allGather(new byte[] {(byte) g.rank()}));
                for (List<byte[]> all : gathered) {
                    for (int r = 0; r < world; r++) assertArrayEquals(new byte[] {(byte) r}, all.get(r));
                }
            } finally {
                Ranks.closeAll(groups);
            }
            assertTrue(!agent.isClosed(), "the agent's port was never touched");
        }
    }

    @Test
    void withoutTheMarkerRankZeroFindsMasterPortTaken() throws IOException {
        try (ServerSocket agent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Map<String, String> env = new java.util.HashMap<>(DistributedEnvTest.torchrun(0, 2, agent.getLocalPort()));
            env.remove(DistributedEnv.TORCHRUN_MARKER);
            T2rException e = assertThrows(T2rException.class, () -> TcpGroup.connect(DistributedEnv.from(env).orElseThrow()));
            assertTrue(e.getMessage().startsWith("rank 0: cannot listen on port " + agent.getLocalPort() + " for the rendezvous"), e.getMessage());
            assertTrue(e.getMessage().endsWith("or T2R_RENDEZVOUS_PORT under torchrun"), e.getMessage());
            assertEquals(1, e.getMessage().lines().count());
        }
    }
}
