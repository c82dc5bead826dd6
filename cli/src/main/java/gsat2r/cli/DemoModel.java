package gsat2r.cli;

import gsat2r.core.T2rException;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.JarURLConnection;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.function.Consumer;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import java.util.zip.CRC32;
import java.util.zip.CheckedInputStream;

/**
 * The demo teacher shipped inside the jar as resources under {@code /gsat2r/demo/kjv-llama/}
 * (config.json, model.safetensors, tokenizer.json, ...). It is unpacked once into
 * {@code ${XDG_CACHE_HOME:-~/.cache}/gsa-t2r/demo-<content hash>/}: written in a temporary directory
 * beside it and renamed into place, so a reader never sees half a model and two processes starting
 * at once both end up with the same complete directory.
 *
 * <p>The content hash covers every file's name, size and CRC-32. In the jar those come from the zip
 * directory, so recognising an unpacked copy costs no reading of the weights.
 */
final class DemoModel {

    static final String RESOURCE_DIR = "gsat2r/demo/kjv-llama/";
    private static final String MARKER = "config.json";

    private final ClassLoader loader;
    private final String resourceDir;
    private final Path cacheRoot;
    private final Consumer<String> note;

    DemoModel(Path cacheRoot, Consumer<String> note) {
        this(DemoModel.class.getClassLoader(), RESOURCE_DIR, cacheRoot, note);
    }

    DemoModel(ClassLoader loader, String resourceDir, Path cacheRoot, Consumer<String> note) {
        this.loader = loader;
        this.resourceDir = resourceDir;
        this.cacheRoot = cacheRoot;
        this.note = note;
    }

    /** {@code ${XDG_CACHE_HOME:-~/.cache}/gsa-t2r}. */
    static Path defaultCacheRoot() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() && Path.of(xdg).isAbsolute()
                ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("gsa-t2r");
    }

    record Entry(String name, long size, long crc) {}

    /** The unpacked demo model directory, unpacking it first if this version is not there yet. */
    Path directory() {
        List<Entry> entries = entries();
        Path target = cacheRoot.resolve("demo-" + hash(entries));
        if (Files.isDirectory(target)) return target;
        note.accept("unpacking the demo model to " + target);
        try {
            Files.createDirectories(cacheRoot);
            Path tmp = Files.createTempDirectory(cacheRoot, target.getFileName() + ".tmp-");
            try {
                for (Entry e : entries) copy(e, tmp.resolve(e.name()));
                try {
                    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
                } catch (IOException e) {
                    // rename(2) onto a complete directory fails (ENOTEMPTY, which Java reports as a plain
                    // FileSystemException): another process won the race; use its copy.
                    if (!Files.isDirectory(target)) throw e;
                }
            } finally {
                deleteTree(tmp);
            }
        } catch (IOException e) {
            throw new T2rException(cacheRoot + ": cannot unpack the demo model: " + ErrorMessages.oneLine(e), e);
        }
        return target;
    }

    /** The demo's files with size and CRC-32, sorted by name. */
    List<Entry> entries() {
        URL marker = loader.getResource(resourceDir + MARKER);
        if (marker == null) {
            throw new T2rException("the demo model is not in this build (no resource /" + resourceDir
                    + "); pass --model DIR with a model directory");
        }
        List<Entry> entries = new ArrayList<>();
        try {
            switch (marker.getProtocol()) {
                case "jar" -> {
                    JarURLConnection connection = (JarURLConnection) marker.openConnection();
                    connection.setUseCaches(false);
                    try (JarFile jar = connection.getJarFile()) {
                        for (JarEntry e : jar.stream().toList()) {
                            String name = e.getName();
                            if (e.isDirectory() || !name.startsWith(resourceDir)) continue;
                            String rest = name.substring(resourceDir.length());
                            if (rest.contains("/")) continue;
                            entries.add(new Entry(rest, e.getSize(), e.getCrc()));
                        }
                    }
                }
                case "file" -> {
                    Path dir = Path.of(marker.toURI()).getParent();
                    try (Stream<Path> files = Files.list(dir)) {
                        for (Path f : files.filter(Files::isRegularFile).toList()) {
                            entries.add(new Entry(f.getFileName().toString(), Files.size(f), crcOf(f)));
                        }
                    }
                }
                default -> throw new T2rException("cannot list the demo model's resources at " + marker);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
        entries.sort(Comparator.comparing(Entry::name));
        return entries;
    }

    static String hash(List<Entry> entries) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (Entry e : entries) {
                sha.update((e.name() + '\0' + e.size() + '\0' + Long.toHexString(e.crc()) + '\n').getBytes(StandardCharsets.UTF_8));
            }
            return HexFormat.of().formatHex(sha.digest(), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Copies one resource, checking its size and CRC-32 against the listing (a damaged jar fails here). */
    private void copy(Entry e, Path to) throws IOException {
        try (InputStream raw = loader.getResourceAsStream(resourceDir + e.name())) {
            if (raw == null) throw new T2rException("demo model resource /" + resourceDir + e.name() + " vanished");
            CheckedInputStream in = new CheckedInputStream(raw, new CRC32());
            long n = Files.copy(in, to);
            if (n != e.size() || in.getChecksum().getValue() != e.crc()) {
                throw new T2rException("demo model resource /" + resourceDir + e.name() + " is damaged (size or CRC-32 differs)");
            }
        }
    }

    private static long crcOf(Path f) throws IOException {
        CRC32 crc = new CRC32();
        try (InputStream in = Files.newInputStream(f)) {
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) crc.update(buf, 0, n);
        }
        return crc.getValue();
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
