package gsat2r.core.io;

import gsat2r.core.T2rException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AtomicDirectoryTest {

    /** The kind of directory these tests write: one holding made.json. */
    static final OutputKind KIND = OutputKind.holding("test output", "made.json");

    @TempDir
    Path tmp;

    @Test
    void commitMakesTheDirectoryAppearWhole() throws IOException {
        Path out = tmp.resolve("a/b/out");
        try (AtomicDirectory dir = AtomicDirectory.create(out)) {
            assertTrue(dir.path().getFileName().toString().startsWith(".out.tmp-"), dir.path().toString());
            assertEquals(out.toAbsolutePath(), dir.target());
            Files.writeString(dir.path().resolve("config.json"), "{}");
            Files.createDirectories(dir.path().resolve("sub"));
            Files.writeString(dir.path().resolve("sub/x"), "x");
            assertFalse(Files.exists(out), "nothing under the final name before commit");
            assertEquals(out.toAbsolutePath(), dir.commit());
        }
        assertEquals("{}", Files.readString(out.resolve("config.json")));
        assertEquals("x", Files.readString(out.resolve("sub/x")));
        assertEquals(List.of("out"), listing(out.getParent()), "no temp sibling left");
    }

    @Test
    void closeWithoutCommitDeletesEverything() throws IOException {
        Path out = tmp.resolve("out");
        try (AtomicDirectory dir = AtomicDirectory.create(out)) {
            Files.createDirectories(dir.path().resolve("deep/er"));
            Files.writeString(dir.path().resolve("deep/er/f"), "f");
        }
        assertEquals(List.of(), listing(tmp));
    }

    @Test
    void anExceptionInsideLeavesNoHalfOutput() throws IOException {
        Path out = tmp.resolve("out");
        assertThrows(IllegalStateException.class, () -> {
            try (AtomicDirectory dir = AtomicDirectory.create(out)) {
                Files.writeString(dir.path().resolve("half"), "half");
                throw new IllegalStateException("conversion failed");
            }
        });
        assertEquals(List.of(), listing(tmp));
    }

    @Test
    void refusesANonEmptyDirectoryWithoutForce() throws IOException {
        Path out = tmp.resolve("out");
        Files.createDirectories(out);
        Files.writeString(out.resolve("precious"), "keep");
        T2rException e = assertThrows(T2rException.class, () -> AtomicDirectory.create(out));
        assertEquals(out + ": directory exists and is not empty (use --force to replace it)", e.getMessage());
        assertEquals("keep", Files.readString(out.resolve("precious")));
        assertEquals(List.of("out"), listing(tmp));
    }

    @Test
    void forceReplacesTheOldDirectoryWhole() throws IOException {
        Path out = tmp.resolve("out");
        Files.createDirectories(out.resolve("old-sub"));
        Files.writeString(out.resolve("old-sub/old"), "old");
        Files.writeString(out.resolve("made.json"), "{}");
        try (AtomicDirectory dir = AtomicDirectory.create(out, true, KIND)) {
            Files.writeString(dir.path().resolve("new"), "new");
            assertTrue(Files.exists(out.resolve("old-sub/old")), "the old one stays until commit");
            dir.commit();
        }
        assertEquals(List.of("new"), listing(out));
        assertEquals(List.of("out"), listing(tmp), "neither temp nor old sibling left");
    }

    @Test
    void forceWithoutCommitKeepsTheOldDirectory() throws IOException {
        Path out = tmp.resolve("out");
        Files.createDirectories(out);
        Files.writeString(out.resolve("made.json"), "{}");
        try (AtomicDirectory dir = AtomicDirectory.create(out, true, KIND)) {
            Files.writeString(dir.path().resolve("new"), "new");
        }
        assertEquals(List.of("made.json"), listing(out));
        assertEquals(List.of("out"), listing(tmp));
    }

    @Test
    void forceReplacesOnlyADirectoryOfItsOwnKind() throws IOException {
        Path out = tmp.resolve("thesis");
        Files.createDirectories(out);
        Files.writeString(out.resolve("thesis.tex"), "keep");
        T2rException e = assertThrows(T2rException.class, () -> AtomicDirectory.create(out, true, KIND));
        assertEquals(out + ": is not a test output (no made.json), so --force does not replace it; give a new or empty directory",
                e.getMessage());
        e = assertThrows(T2rException.class, () -> AtomicDirectory.create(out, false, KIND));
        assertEquals(out + ": directory exists and is not empty and is not a test output (no made.json); give a new or empty directory",
                e.getMessage());
        assertEquals(List.of("thesis.tex"), listing(out));
        assertEquals(List.of("thesis"), listing(tmp), "no temp sibling left");
    }

    @Test
    void forceNeverReplacesTheCurrentDirectoryOrOneAboveIt() throws IOException {
        Path cwd = Path.of("").toAbsolutePath();
        for (Path holder : new Path[] {cwd, cwd.getParent()}) {
            T2rException e = assertThrows(T2rException.class, () -> AtomicDirectory.create(holder, true, new OutputKind("any directory", "-", d -> true)));
            assertTrue(e.getMessage().endsWith(": holds the current directory, so --force does not replace it; run from elsewhere"),
                    e.getMessage());
        }
        // The same from a current directory inside a directory of the kind, as the refusal of an empty one is checked.
        Path out = Files.createDirectories(tmp.resolve("ours/inside"));
        Files.writeString(tmp.resolve("ours/made.json"), "{}");
        T2rException e = assertThrows(T2rException.class, () -> AtomicDirectory.create(tmp.resolve("ours"), true, KIND, out));
        assertEquals(tmp.resolve("ours") + ": holds the current directory, so --force does not replace it; run from elsewhere", e.getMessage());
    }

    @Test
    void anEmptyCurrentDirectoryIsNotRenamedOver() throws IOException {
        Path empty = Files.createDirectories(tmp.resolve("here"));
        T2rException e = assertThrows(T2rException.class, () -> AtomicDirectory.create(empty, false, null, empty));
        assertEquals(empty + ": is the current directory, which the finished output would replace; give a new directory (e.g. a name"
                + " inside it) or run from elsewhere", e.getMessage());
        assertEquals(List.of("here"), listing(tmp), "nothing written beside it");
        // From elsewhere, the empty directory is replaced as before.
        try (AtomicDirectory dir = AtomicDirectory.create(empty, false, null, tmp)) {
            Files.writeString(dir.path().resolve("f"), "f");
            dir.commit();
        }
        assertEquals(List.of("f"), listing(empty));
    }

    @Test
    void aFileWhereAParentDirectoryWouldGoIsNamed() throws IOException {
        Path file = Files.writeString(tmp.resolve("ff"), "x");
        T2rException e = assertThrows(T2rException.class, () -> AtomicDirectory.create(file.resolve("out")));
        assertEquals(file + ": is a file, not a directory", e.getMessage());
        e = assertThrows(T2rException.class, () -> AtomicDirectory.create(file.resolve("deeper/out")));
        assertEquals(file + ": is a file, not a directory (on the way to " + file.resolve("deeper") + ")", e.getMessage());
    }

    @Test
    void anEmptyExistingDirectoryIsFine() throws IOException {
        Path out = tmp.resolve("out");
        Files.createDirectories(out);
        try (AtomicDirectory dir = AtomicDirectory.create(out)) {
            Files.writeString(dir.path().resolve("f"), "f");
            dir.commit();
        }
        assertEquals(List.of("f"), listing(out));
    }

    @Test
    void refusesFilesAndLinks() throws IOException {
        Path file = Files.writeString(tmp.resolve("file"), "x");
        T2rException e = assertThrows(T2rException.class, () -> AtomicDirectory.create(file, true, KIND));
        assertTrue(e.getMessage().contains("exists and is not a directory"), e.getMessage());
        Path link = Files.createSymbolicLink(tmp.resolve("link"), Files.createDirectories(tmp.resolve("real")));
        e = assertThrows(T2rException.class, () -> AtomicDirectory.create(link, true, KIND));
        assertTrue(e.getMessage().contains("symbolic link"), e.getMessage());
    }

    @Test
    void aDirectoryCreatedMeanwhileIsNotClobbered() throws IOException {
        Path out = tmp.resolve("out");
        try (AtomicDirectory dir = AtomicDirectory.create(out)) {
            Files.createDirectories(out);
            Files.writeString(out.resolve("someone-else"), "theirs");
            T2rException e = assertThrows(T2rException.class, dir::commit);
            assertTrue(e.getMessage().contains("not empty"), e.getMessage());
        }
        assertEquals(List.of("someone-else"), listing(out));
        assertEquals(List.of("out"), listing(tmp));
    }

    @Test
    void atomicFilesReplaceWhole() throws IOException {
        Path f = tmp.resolve("d/config.json");
        AtomicFiles.writeString(f, "one");
        AtomicFiles.writeString(f, "two");
        assertEquals("two", Files.readString(f));
        assertEquals(List.of("config.json"), listing(f.getParent()));
    }

    /**
     * A JVM stopped by a signal (SIGTERM, as Ctrl-C's SIGINT) while writing runs its shutdown hooks:
     * the temp directory must be gone afterwards and no final directory must exist.
     */
    @Test
    void aSignalledJvmLeavesNoTempDirectory() throws Exception {
        Path out = tmp.resolve("out");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                WriteForever.class.getName(), out.toString()).redirectErrorStream(true).start();
        try {
            BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            String line = r.readLine();
            assertTrue(line != null && line.startsWith("writing "), "child said: " + line);
            Path temp = Path.of(line.substring("writing ".length()));
            assertTrue(Files.isDirectory(temp), "temp exists while the child writes");
            p.destroy();                                              // SIGTERM: shutdown hooks run
            assertTrue(p.waitFor(20, TimeUnit.SECONDS), "child exits");
            assertFalse(Files.exists(temp), "temp deleted by the shutdown hook");
            assertFalse(Files.exists(out));
            assertEquals(List.of(), listing(tmp));
        } finally {
            p.destroyForcibly();
        }
    }

    /** The child of {@link #aSignalledJvmLeavesNoTempDirectory}: writes files until killed. */
    public static final class WriteForever {
        public static void main(String[] args) throws Exception {
            AtomicDirectory dir = AtomicDirectory.create(Path.of(args[0]));
            Files.writeString(dir.path().resolve("first"), "1");
            System.out.println("writing " + dir.path());
            System.out.flush();
            for (int i = 0; ; i++) {
                Files.writeString(dir.path().resolve("f" + (i % 10)), "x");
                Thread.sleep(5);
            }
        }
    }

    private static List<String> listing(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
