package gsat2r.core.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.FileSystem;
import java.nio.file.FileSystemAlreadyExistsException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Copies a folder of core's test fixtures ({@code core/src/test/resources/fixtures/NAME}) into a
 * directory of the caller's: it works alike from core's own tests (plain files) and from other
 * modules, which see the fixtures inside core's test jar.
 */
public final class Fixtures {
    private Fixtures() {}

    /** Copies every file of {@code fixtures/name} into {@code target} (created); returns target. */
    public static Path copy(String name, Path target) {
        URL url = Fixtures.class.getResource("/fixtures/" + name + "/config.json");
        if (url == null) throw new IllegalStateException("test fixture missing: fixtures/" + name);
        try {
            URI uri = url.toURI();
            if (uri.getScheme().equals("jar")) {
                FileSystem fs;
                try {
                    fs = FileSystems.newFileSystem(uri, Map.of());
                } catch (FileSystemAlreadyExistsException e) {
                    fs = FileSystems.getFileSystem(uri);
                }
                copyFolder(fs.getPath("/fixtures/" + name), target);
            } else {
                copyFolder(Path.of(uri).getParent(), target);
            }
            return target;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void copyFolder(Path src, Path target) throws IOException {
        Files.createDirectories(target);
        try (Stream<Path> files = Files.list(src)) {
            for (Path f : files.toList()) {
                if (Files.isRegularFile(f)) Files.copy(f, target.resolve(f.getFileName().toString()));
            }
        }
    }
}
