package gsat2r.gpu.nccl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The NCCL bindings without NCCL: where libnccl.so.2 is absent (CI), {@link Nccl#available()} is false
 * and every entry point says why in one line; and against a fake libnccl compiled here from
 * {@code gpu/src/test/c/fake_nccl.c} (skipped without a C compiler), every bound function receives
 * its arguments where nccl.h declares them (the 128-byte unique id by value, pointers, counts, types,
 * ops, roots, streams) and every failure becomes one line naming the call, the result and NCCL's text.
 */
class NcclBindingsTest {

    @TempDir
    Path tmp;

    @Test
    void withoutNcclEveryEntryPointSaysSoInOneLine() {
        assumeFalse(Nccl.available(), "this machine has NCCL");
        String reason = Nccl.unavailableReason();
        assertTrue(reason.startsWith("no NCCL found (libnccl.so.2 does not load here") || reason.startsWith("NCCL found"), reason);
        assertFalse(reason.contains("\n"));
        assertEquals(reason, assertThrows(NcclException.class, Nccl::version).getMessage());
        assertEquals(reason, assertThrows(NcclException.class, Nccl::uniqueId).getMessage());
        assertEquals(reason, assertThrows(NcclException.class, () -> Nccl.group(() -> {})).getMessage());
        assertEquals(reason, assertThrows(NcclException.class, () -> NcclCommunicator.create(null, 2, 0, new NcclUniqueId(new byte[128])))
                .getMessage());
    }

    @Test
    void everyBindingAgainstAFakeLibrary() throws IOException, InterruptedException {
        Path source = Path.of("src/test/c/fake_nccl.c").toAbsolutePath();
        assumeTrue(Files.isRegularFile(source), "run from the gpu module");
        Path lib = tmp.resolve("libnccl.so.2");
        Process cc;
        try {
            cc = new ProcessBuilder("cc", "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", lib.toString(), source.toString())
                    .redirectErrorStream(true).start();
        } catch (IOException e) {
            assumeTrue(false, "no C compiler (cc) here: " + e.getMessage());
            return;
        }
        String ccOut = new String(cc.getInputStream().readAllBytes());
        assertTrue(cc.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, cc.exitValue(), ccOut);

        ProcessBuilder pb = new ProcessBuilder(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), FakeNcclCheck.class.getName())).redirectErrorStream(true);
        pb.environment().put("T2R_NCCL", lib.toString());
        Process check = pb.start();
        String out = new String(check.getInputStream().readAllBytes());
        assertTrue(check.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, check.exitValue(), out);
        assertTrue(out.strip().matches("fake-nccl: \\d+ checks passed"), out);
        System.out.println(out.strip());
    }
}
