package gsat2r.cputrain;

import gsat2r.converter.GateInit;
import gsat2r.core.cpu.Parallel;
import gsat2r.training.AdamWStep;
import gsat2r.training.BackendRequest;
import gsat2r.training.Objective;
import gsat2r.training.ParameterInfo;
import gsat2r.training.TrainableSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Training gives the same bits whatever the number of threads: the same steps (attention transfer,
 * distillation through LoRA then merged, fine-tuning of everything) run here and in child JVMs that
 * see 1 and 3 processors ({@code -XX:ActiveProcessorCount}, which sizes the CPU ops' pool), and the
 * SHA-256 of the final weights and of every loss must agree.
 */
class ThreadCountTest {

    @TempDir
    Path dir;

    @Test
    void weightsAndLossesDoNotDependOnTheThreadCount() throws Exception {
        Path teacher = TinyStudents.mistralTeacher(dir.resolve("teacher"));
        Path student = TinyStudents.convert(teacher, dir.resolve("student"), 16, GateInit.RANDOM, List.of(0));
        String here = train(teacher, student);
        for (int processors : new int[] {1, 3}) {
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-XX:ActiveProcessorCount=" + processors, "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
                    ThreadCountTest.class.getName(), teacher.toString(), student.toString()));
            Path log = dir.resolve("child-" + processors + ".log");
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child did not finish");
            List<String> lines = Files.readAllLines(log);
            assertEquals(0, p.exitValue(), String.join("\n", lines));
            assertEquals("threads " + processors, lines.get(0));
            assertEquals(here, lines.get(1), processors + " threads against " + Parallel.threads());
        }
    }

    /** Child entry point: prints the pool's thread count and the digest of {@link #train}. */
    public static void main(String[] args) {
        System.out.println("threads " + Parallel.threads());
        System.out.println(train(Path.of(args[0]), Path.of(args[1])));
    }

    /** Two steps of each kind of stage on 2 x 80 tokens (past the window of 16 and a GSA chunk of 64); digest of weights and losses. */
    static String train(Path teacher, Path student) {
        try (CpuGsaBackend b = CpuGsaBackend.open(BackendRequest.single(gsat2r.core.model.ModelDirectory.open(teacher), gsat2r.core.model.ModelDirectory.open(student), gsat2r.core.model.Precision.FP32, 2, 80, false))) {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            record Stage(Objective objective, TrainableSet set) {}
            List<Stage> stages = List.of(new Stage(new Objective.AttentionTransfer(), new TrainableSet.Attention()),
                    new Stage(new Objective.Distill(2, 0.25), new TrainableSet.Lora(4, 8)),
                    new Stage(new Objective.LanguageModeling(), new TrainableSet.All()));
            long seed = 1;
            for (Stage s : stages) {
                b.setTrainable(s.set(), seed++);
                for (int step = 1; step <= 2; step++) {
                    double loss = b.forwardBackward(s.objective(), CpuGsaBackendTest.batch(384, 2, 80, seed * 100 + step), 1.0 / 160, true).loss();
                    double norm = b.gradientNorm();
                    sha.update(longBytes(Double.doubleToLongBits(loss)));
                    sha.update(longBytes(Double.doubleToLongBits(norm)));
                    b.optimizerStep(new AdamWStep(step, 3e-3, 0.9, 0.95, 1e-8, 0.01, Math.min(1, 1 / (norm + 1e-6))));
                }
                b.mergeLora();
            }
            for (ParameterInfo p : b.parameters()) {
                float[] w = b.readParameter(p.name());
                ByteBuffer buf = ByteBuffer.allocate(4 * w.length).order(ByteOrder.LITTLE_ENDIAN);
                buf.asFloatBuffer().put(w);
                sha.update(buf.array());
            }
            return HexFormat.of().formatHex(sha.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] longBytes(long v) {
        return ByteBuffer.allocate(8).putLong(v).array();
    }
}
