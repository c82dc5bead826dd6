package gsat2r.cli;

import gsat2r.core.T2rException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DemoModelTest {

    private static final String RESOURCES = "gsat2r/demo-test/tiny/";
    private static final String CONFIG = "{\"model_type\": \"llama\", \"note\": \"a stand-in for the demo model, for DemoModelTest\"}\n";

    @TempDir
    Path tmp;

    private final List<String> notes = new ArrayList<>();

    private DemoModel fromClasspath(Path cache) {
        return new DemoModel(getClass().getClassLoader(), RESOURCES, cache, notes::add);
    }

    @Test
    void unpacksOnceIntoAContentAddressedDirectory() throws IOException {
        Path cache = tmp.resolve("cache");
        Path dir = fromClasspath(cache).directory();
        assertEquals(cache, dir.getParent());
        assertTrue(dir.getFileName().toString().matches("demo-[0-9a-f]{16}"), dir.toString());
        assertEquals(CONFIG, Files.readString(dir.resolve("config.json")));
        assertEquals("second file\n", Files.readString(dir.resolve("notes.txt")));
        assertEquals(1, notes.size(), "one note for the one unpacking");

        assertEquals(dir, fromClasspath(cache).directory());
        assertEquals(1, notes.size(), "the second use finds the unpacked copy");
        try (Stream<Path> entries = Files.list(cache)) {
            assertEquals(List.of(dir), entries.toList(), "no temporary directory is left behind");
        }
    }

    @Test
    void aJarAndADirectoryWithTheSameFilesGiveTheSameDirectory() throws Exception {
        Path jar = tmp.resolve("demo.jar");
        writeJar(jar, CONFIG, "second file\n");
        Path fromDir = fromClasspath(tmp.resolve("cache")).directory();
        try (URLClassLoader loader = new URLClassLoader(new URL[] {jar.toUri().toURL()}, null)) {
            Path fromJar = new DemoModel(loader, RESOURCES, tmp.resolve("cache"), notes::add).directory();
            assertEquals(fromDir, fromJar);
            Path elsewhere = new DemoModel(loader, RESOURCES, tmp.resolve("cache2"), notes::add).directory();
            assertEquals(CONFIG, Files.readString(elsewhere.resolve("config.json")));
        }
        Path jar2 = tmp.resolve("demo2.jar");
        writeJar(jar2, CONFIG, "second file, changed\n");
        try (URLClassLoader loader = new URLClassLoader(new URL[] {jar2.toUri().toURL()}, null)) {
            Path changed = new DemoModel(loader, RESOURCES, tmp.resolve("cache"), notes::add).directory();
            assertNotEquals(fromDir, changed, "new content, new directory");
            assertEquals("second file, changed\n", Files.readString(changed.resolve("notes.txt")));
        }
    }

    @Test
    void concurrentFirstUsesAgreeOnOneCompleteDirectory() throws Exception {
        Path cache = tmp.resolve("cache");
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Path>> results = new ArrayList<>();
            for (int i = 0; i < 8; i++) results.add(pool.submit((Callable<Path>) () -> fromClasspath(cache).directory()));
            Path first = results.get(0).get();
            for (Future<Path> f : results) assertEquals(first, f.get());
            assertEquals(CONFIG, Files.readString(first.resolve("config.json")));
            try (Stream<Path> entries = Files.list(cache)) {
                assertEquals(1, entries.count(), "only the final directory remains");
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void missingResourcesAreOneLine() {
        DemoModel demo = new DemoModel(getClass().getClassLoader(), "gsat2r/no-such-demo/", tmp, notes::add);
        T2rException e = assertThrows(T2rException.class, demo::directory);
        assertEquals("the demo model is not in this build (no resource /gsat2r/no-such-demo/); pass --model DIR with a model directory",
                e.getMessage());
    }

    private static void writeJar(Path jar, String config, String notes) throws IOException {
        try (OutputStream file = Files.newOutputStream(jar); JarOutputStream out = new JarOutputStream(file)) {
            out.putNextEntry(new JarEntry(RESOURCES + "config.json"));
            out.write(config.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            out.closeEntry();
            out.putNextEntry(new JarEntry(RESOURCES + "notes.txt"));
            out.write(notes.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            out.closeEntry();
            out.putNextEntry(new JarEntry(RESOURCES + "nested/ignored.txt"));
            out.write(1);
            out.closeEntry();
        }
    }
}
