package gsat2r.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code torchrun --nproc-per-node 2 --no-python ./t2r finetune ...}, without torchrun: the test plays
 * torchrun's agent (it holds MASTER_PORT, as the agent's c10d store does) and starts two {@code t2r
 * finetune} JVMs with the environment torchrun gives its workers. They must train as {@code --gpus 2}
 * does (the same bits as one process, see FinetuneDataParallelTest).
 */
class TorchrunFinetuneTest {

    @TempDir
    Path root;

    @Test
    void twoRanksStartedWithTorchrunsEnvironmentTrainWhileItsAgentHoldsMasterPort() throws Exception {
        Path recipe = FinetuneDataParallelTest.recipe(root, 2);
        Path one = root.resolve("one"), two = root.resolve("two");
        CliRun single = CliRun.run(DataPrepareCommandTest.NO_MODELS, root.resolve("cache"), "finetune", "--recipe", recipe.toString(),
                "--out", one.toString());
        assertEquals(0, single.exit(), single.toString());

        try (ServerSocket agent = gsat2r.finetune.distributed.TorchrunAgent.standIn()) {
            List<Process> ranks = new ArrayList<>();
            for (int r = 0; r < 2; r++) ranks.add(start(r, agent.getLocalPort(), recipe, two));
            List<CompletableFuture<String>> outs = new ArrayList<>();
            for (Process p : ranks) outs.add(CompletableFuture.supplyAsync(() -> read(p)));
            for (int r = 0; r < 2; r++) {
                Process p = ranks.get(r);
                assertTrue(p.waitFor(5, TimeUnit.MINUTES), "rank " + r + " did not finish");
                assertEquals(0, p.exitValue(), "rank " + r + ":\n" + outs.get(r).get());
            }
            assertTrue(outs.get(0).get().contains(two.toAbsolutePath().resolve("final").toString()), outs.get(0).get());
        }
        assertArrayEquals(Files.readAllBytes(one.resolve("final/model.safetensors")), Files.readAllBytes(two.resolve("final/model.safetensors")));
        assertEquals(FinetuneDataParallelTest.withoutClock(one), FinetuneDataParallelTest.withoutClock(two));
    }

    private static Process start(int rank, int masterPort, Path recipe, Path out) throws IOException {
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "--enable-native-access=ALL-UNNAMED",
                "-XX:ActiveProcessorCount=1", "-cp", System.getProperty("java.class.path"), T2r.class.getName(),
                "finetune", "--recipe", recipe.toString(), "--out", out.toString());
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        Map<String, String> env = pb.environment();
        env.putAll(Map.of("RANK", String.valueOf(rank), "WORLD_SIZE", "2", "LOCAL_RANK", String.valueOf(rank), "LOCAL_WORLD_SIZE", "2",
                "GROUP_RANK", "0", "MASTER_ADDR", "127.0.0.1", "MASTER_PORT", String.valueOf(masterPort),
                "TORCHELASTIC_RUN_ID", "none", "TORCHELASTIC_RESTART_COUNT", "0", "TORCHELASTIC_USE_AGENT_STORE", "True"));
        env.put("OMP_NUM_THREADS", "1");
        env.put("T2R_RENDEZVOUS_TIMEOUT", "120");
        return pb.start();
    }

    private static String read(Process p) {
        try {
            return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return e.toString();
        }
    }
}
