package gsat2r.core;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BuildInfoTest {

    @Test
    void theBuildRecordsTheCommitOfThisCheckout() throws Exception {
        BuildInfo info = BuildInfo.current();
        assertNotEquals(BuildInfo.UNKNOWN, info.version(), "the build writes build-info.properties");
        Path root = Path.of("..").toAbsolutePath().normalize();        // surefire runs in the module directory
        String head = git(root, "rev-parse", "HEAD");
        if (head == null) return;
        // HEAD itself, or (when a commit was made during the build) one of its ancestors
        assertTrue(head.equals(info.commit()) || git(root, "merge-base", "--is-ancestor", info.commit(), "HEAD") != null,
                "built from " + info.commit() + ", HEAD is " + head);
    }

    @Test
    void describesCommitAndModifiedState() {
        String c = "0123456789abcdef0123456789abcdef01234567";
        assertEquals("1.0 (commit 0123456789ab)", new BuildInfo("1.0", c, false).describe());
        assertEquals("1.0 (commit 0123456789ab, modified)", new BuildInfo("1.0", c, true).describe());
        assertEquals("1.0 (commit unknown)", new BuildInfo("1.0", BuildInfo.UNKNOWN, false).describe());
    }

    @Test
    void anythingButAHashIsUnknown() {
        Properties p = new Properties();
        p.setProperty("version", "2.0");
        p.setProperty("commit", "${git.commit}");                     // what an unexpanded Ant property would leave
        assertEquals(new BuildInfo("2.0", BuildInfo.UNKNOWN, false), BuildInfo.parse(p));
        assertEquals(new BuildInfo(BuildInfo.UNKNOWN, BuildInfo.UNKNOWN, false), BuildInfo.parse(new Properties()));
        p.setProperty("commit", "ABCDEF0123456789abcdef0123456789abcdef01");
        assertEquals(BuildInfo.UNKNOWN, BuildInfo.parse(p).commit());
    }

    /** git's output in the repository at {@code root}, or null when it fails, it is not a checkout or git is missing. */
    private static String git(Path root, String... args) throws InterruptedException {
        if (!Files.exists(root.resolve(".git"))) return null;
        try {
            java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of("git"));
            cmd.addAll(java.util.List.of(args));
            Process p = new ProcessBuilder(cmd).directory(root.toFile()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            assertFalse(!p.waitFor(30, TimeUnit.SECONDS), "git rev-parse took too long");
            return p.exitValue() == 0 ? out : null;
        } catch (IOException e) {
            return null;
        }
    }
}
