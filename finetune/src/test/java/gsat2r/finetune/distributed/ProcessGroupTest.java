package gsat2r.finetune.distributed;

import gsat2r.training.distributed.LocalGroup;
import gsat2r.training.distributed.ProcessGroup;
import gsat2r.core.T2rException;
import gsat2r.core.distributed.Collectives;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The host groups (threads, and TCP on loopback) and the collectives over them, against sums computed
 * here in rank order; failures: a rank that aborts, a rank that never joins, a wrong world size, two
 * ranks with one number, a rank 0 that is not there, ranks that call different operations.
 */
class ProcessGroupTest {

    static float[] random(SplittableRandom rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(-3, 4)));
        return x;
    }

    @ParameterizedTest
    @ValueSource(strings = {"local", "tcp"})
    void collectivesGiveTheRankOrderSumsOnEveryRank(String kind) {
        int world = 3, n = 1000;
        float[][] inputs = new float[world][];
        for (int r = 0; r < world; r++) inputs[r] = random(new SplittableRandom(r), world * n);
        List<ProcessGroup> groups = Ranks.groups(kind, world);
        try {
            List<float[][]> results = Ranks.run(groups, g -> {
                Collectives<float[]> c = g.floats();
                float[] reduced = inputs[g.rank()].clone();
                c.allReduceSum(reduced, 7, n);                                 // a range inside the array
                float[] scattered = new float[n];
                c.reduceScatterSum(inputs[g.rank()], 0, scattered, 0, n);
                float[] gathered = new float[world * n + 3];
                c.allGather(inputs[g.rank()], 5, gathered, 3, n);
                float[] cast = g.rank() == 1 ? inputs[1].clone() : new float[world * n];
                c.broadcast(cast, 10, 20, 1);
                return new float[][] {reduced, scattered, gathered, cast};
            });
            for (int r = 0; r < world; r++) {
                float[][] got = results.get(r);
                float[] expectReduced = inputs[r].clone();
                for (int i = 0; i < n; i++) {
                    float s = 0f;
                    for (int q = 0; q < world; q++) s += inputs[q][7 + i];
                    expectReduced[7 + i] = s;
                }
                assertArrayEquals(expectReduced, got[0], kind + " allReduceSum, rank " + r + ": bit for bit, the rest untouched");
                float[] expectScattered = new float[n];
                for (int i = 0; i < n; i++) {
                    float s = 0f;
                    for (int q = 0; q < world; q++) s += inputs[q][r * n + i];
                    expectScattered[i] = s;
                }
                assertArrayEquals(expectScattered, got[1], kind + " reduceScatterSum, rank " + r);
                float[] expectGathered = new float[world * n + 3];
                for (int q = 0; q < world; q++) System.arraycopy(inputs[q], 5, expectGathered, 3 + q * n, n);
                assertArrayEquals(expectGathered, got[2], kind + " allGather, rank " + r);
                for (int i = 10; i < 30; i++) assertEquals(inputs[1][i], got[3][i], "broadcast from rank 1");
            }
        } finally {
            Ranks.closeAll(groups);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"local", "tcp"})
    void bytesOfDifferentLengthsComeBackInRankOrder(String kind) {
        List<ProcessGroup> groups = Ranks.groups(kind, 4);
        try {
            List<List<String>> seen = Ranks.run(groups, g -> {
                List<byte[]> all = g.allGather(("r" + g.rank()).repeat(g.rank()).getBytes(StandardCharsets.UTF_8));
                byte[] id = g.broadcast(g.rank() == 2 ? "the unique id".getBytes(StandardCharsets.UTF_8) : null, 2);
                g.barrier();
                List<String> out = new ArrayList<>();
                for (byte[] b : all) out.add(new String(b, StandardCharsets.UTF_8));
                out.add(new String(id, StandardCharsets.UTF_8));
                return out;
            });
            for (List<String> s : seen) assertEquals(List.of("", "r1", "r2r2", "r3r3r3", "the unique id"), s);
        } finally {
            Ranks.closeAll(groups);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"local", "tcp"})
    void asynchronousOperationsKeepTheirPlaceInTheOrder(String kind) {
        // Each rank queues two all-reduces asynchronously, then a synchronous gather: all three must run
        // in that order on every rank (else the ranks would pair different operations).
        List<ProcessGroup> groups = Ranks.groups(kind, 3);
        try {
            List<float[]> got = Ranks.run(groups, g -> {
                float[] a = {g.rank() + 1}, b = {10 * (g.rank() + 1)};
                CompletableFuture<Void> fa = g.async(() -> {
                    g.floats().allReduceSum(a, 0, 1);
                    return null;
                });
                CompletableFuture<Void> fb = g.async(() -> {
                    g.floats().allReduceSum(b, 0, 1);
                    return null;
                });
                List<byte[]> names = g.allGather(new byte[] {(byte) g.rank()});
                fa.join();
                fb.join();
                return new float[] {a[0], b[0], names.size()};
            });
            for (float[] x : got) assertArrayEquals(new float[] {6, 60, 3}, x);
        } finally {
            Ranks.closeAll(groups);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"local", "tcp"})
    void aRankThatFailsStopsTheOthersWithItsReason(String kind) {
        List<ProcessGroup> groups = Ranks.groups(kind, 3);
        try {
            List<Ranks.Outcome<Object>> out = Ranks.runAll(groups, g -> {
                g.barrier();
                if (g.rank() == 2) {
                    g.abort("out of memory in step 7");
                    throw new T2rException("out of memory in step 7");
                }
                g.barrier();                                  // ranks 0 and 1 wait here for rank 2, which never comes
                return null;
            });
            for (int r = 0; r < 2; r++) {
                Throwable t = out.get(r).failure();
                assertNotNull(t, "rank " + r + " must fail");
                assertInstanceOf(T2rException.class, t);
                assertTrue(t.getMessage().contains("rank 2: out of memory in step 7"), t.getMessage());
            }
        } finally {
            Ranks.closeAll(groups);
        }
    }

    @Test
    void tcpRendezvousSaysWhoIsMissing() {
        int port = Ranks.freePort();
        T2rException e = assertThrows(T2rException.class, () -> Ranks.inParallel(2, r ->
                TcpGroup.connect(r, 3, "127.0.0.1", port, Duration.ofMillis(1500), Duration.ofSeconds(5))));
        assertTrue(e.getMessage().matches("rank [02]: .*") && e.getMessage().contains("within 1 s"), e.getMessage());
        // Rank 0's own view of it:
        int port2 = Ranks.freePort();
        T2rException alone = assertThrows(T2rException.class, () ->
                TcpGroup.connect(0, 3, "127.0.0.1", port2, Duration.ofMillis(800), Duration.ofSeconds(5)));
        assertTrue(alone.getMessage().startsWith("rank 0: 0 of the 2 other ranks joined the rendezvous on port " + port2 + " within 0 s; missing ranks [1, 2]"),
                alone.getMessage());
    }

    @Test
    void tcpRendezvousRefusesAWrongWorldSizeAndTwoRanksWithOneNumber() {
        int port = Ranks.freePort();
        List<Object> outcomes = Ranks.inParallel(2, r -> {
            try {
                return TcpGroup.connect(r, r == 0 ? 2 : 3, "127.0.0.1", port, Duration.ofSeconds(10), Duration.ofSeconds(5));
            } catch (T2rException e) {
                return e.getMessage();
            }
        });
        assertEquals("rank 0: rendezvous on port " + port + ": rank 1 says WORLD_SIZE 3, rank 0 has 2", outcomes.get(0));
        assertEquals("rank 1: rank 0 refused it: rank 1 says WORLD_SIZE 3, rank 0 has 2", outcomes.get(1));

        int port2 = Ranks.freePort();
        List<Object> twice = Ranks.inParallel(3, r -> {
            try {
                if (r == 2) Thread.sleep(300);               // the duplicate comes second
                return TcpGroup.connect(Math.min(r, 1), 3, "127.0.0.1", port2, Duration.ofSeconds(10), Duration.ofSeconds(5));
            } catch (T2rException e) {
                return e.getMessage();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        assertEquals("rank 0: rendezvous on port " + port2 + ": rank 1 joined twice (two processes with RANK=1)", twice.get(0));
        assertEquals("rank 1: rank 0 refused it: rank 1 joined twice (two processes with RANK=1)", twice.get(2));
    }

    @Test
    void aRankWithoutRankZeroGivesUpWithAClearMessage() {
        int port = Ranks.freePort();
        T2rException e = assertThrows(T2rException.class, () ->
                TcpGroup.connect(1, 2, "127.0.0.1", port, Duration.ofMillis(700), Duration.ofSeconds(5)));
        assertTrue(e.getMessage().startsWith("rank 1: could not reach rank 0's rendezvous at 127.0.0.1:" + port + " within 0 s ("), e.getMessage());
        assertTrue(e.getMessage().endsWith("is rank 0 running, and do all ranks have the same MASTER_ADDR and MASTER_PORT? (T2R_RENDEZVOUS_TIMEOUT to wait longer)"),
                e.getMessage());
    }

    @Test
    void ranksThatCallDifferentOperationsAreStopped() {
        List<ProcessGroup> groups = Ranks.tcp(2, Duration.ofSeconds(10), Duration.ofSeconds(10));
        try {
            List<Ranks.Outcome<Object>> out = Ranks.runAll(groups, g -> {
                if (g.rank() == 0) g.allGather(new byte[1]);
                else g.allGatherFloats(new float[1]);
                return null;
            });
            for (Ranks.Outcome<Object> o : out) {
                assertNotNull(o.failure());
                assertTrue(o.failure().getMessage().contains("rank 1 called allGatherFloats where rank 0 called allGather"), o.failure().getMessage());
            }
        } finally {
            Ranks.closeAll(groups);
        }
    }

    @Test
    void aLocalRankThatNeverComesTimesOut() {
        List<ProcessGroup> groups = LocalGroup.create(2, Duration.ofMillis(300));
        T2rException e = assertThrows(T2rException.class, () -> groups.get(0).barrier());
        assertEquals("the data-parallel group stopped: rank 0: waited 0 s for the other ranks in a collective operation", e.getMessage());
        Ranks.closeAll(groups);
    }
}
