package gsat2r.cli;

import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The launcher of {@code --gpus}: environment of each rank, prefixed output, exit status, and stopping everyone on the first failure. */
class RankLauncherTest {

    static List<String> probe(String... args) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"), LauncherProbe.class.getName()));
        cmd.addAll(List.of(args));
        return cmd;
    }

    record Outcome(int status, String out, String err, long millis) {}

    static Outcome launch(RankLauncher.Plan plan, String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        long t0 = System.nanoTime();
        int status;
        try {
            status = new RankLauncher(plan, local -> probe(args), new PrintWriter(out), new PrintWriter(err), Duration.ofMillis(500)).run();
        } catch (RankLauncher.LaunchFailure f) {
            status = f.status;
            err.write("error: " + f.getMessage() + "\n");
        }
        return new Outcome(status, out.toString(), err.toString(), (System.nanoTime() - t0) / 1_000_000);
    }

    @Test
    void everyRankGetsItsEnvironmentAndItsOutputIsPrefixed() {
        Outcome o = launch(new RankLauncher.Plan(3, 2, 1, "node-0", 29511));
        assertEquals(0, o.status(), o.err());
        Set<String> out = new TreeSet<>(o.out().lines().toList()), err = new TreeSet<>(o.err().lines().toList());
        assertEquals(Set.of(
                "[rank 3] hello from rank 3 of 6 (local 0 of 3, node 1, rendezvous node-0:29511)",
                "[rank 4] hello from rank 4 of 6 (local 1 of 3, node 1, rendezvous node-0:29511)",
                "[rank 5] hello from rank 5 of 6 (local 2 of 3, node 1, rendezvous node-0:29511)"), out, "node 1 holds ranks 3..5");
        assertEquals(Set.of("[rank 3] a note from rank 3", "[rank 4] a note from rank 4", "[rank 5] a note from rank 5"), err);

        Outcome node0 = launch(new RankLauncher.Plan(2, 1, 0, "127.0.0.1", 29512));
        assertTrue(node0.out().lines().toList().contains("hello from rank 0 of 2 (local 0 of 2, node 0, rendezvous 127.0.0.1:29512)"),
                "rank 0's stdout is the command's own, unprefixed: " + node0.out());
        assertTrue(node0.out().lines().toList().contains("[rank 1] hello from rank 1 of 2 (local 1 of 2, node 0, rendezvous 127.0.0.1:29512)"));
    }

    @Test
    void theFirstFailureStopsTheOthersAndGivesItsStatus() {
        // Rank 1 fails with status 3 after 0.2 s; ranks 0 and 2 would sleep for 60 s.
        Outcome o = launch(new RankLauncher.Plan(3, 1, 0, "127.0.0.1", 29513), "fail=1:3", "sleep=60000");
        assertEquals(3, o.status(), o.err());
        assertTrue(o.millis() < 20_000, "the sleeping ranks were stopped, not waited for: " + o.millis() + " ms");
        List<String> err = o.err().lines().toList();
        assertTrue(err.contains("t2r: rank 1 failed (exit status 3); stopping the other 2 ranks on this node"), o.err());
        assertEquals("error: rank 1 of 3 failed (exit status 3; its error is above, prefixed [rank 1])", err.getLast());
        assertTrue(err.contains("[rank 1] a note from rank 1"), o.err());
    }

    @Test
    void aBadPlanIsAOneLineError() {
        assertEquals("--node-rank: 2 is outside [0, 1]",
                assertThrows(gsat2r.core.T2rException.class, () -> new RankLauncher.Plan(8, 2, 2, "h", 29500)).getMessage());
        assertEquals("--gpus: must be >= 1 (got 0)",
                assertThrows(gsat2r.core.T2rException.class, () -> new RankLauncher.Plan(0, 1, 0, "h", 29500)).getMessage());
    }
}
