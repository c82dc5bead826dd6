package gsat2r.core.model.llama;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Finds the shared data folder ({@code ../shared} beside the checkout) for acceptance tests: the
 * {@code gsat2r.shared} system property when set, else {@code shared} in a parent of the working
 * directory's ancestors. Returns null when it is absent (a user's clone has none).
 */
final class SharedFolder {
    private SharedFolder() {}

    static Path find(String relative) {
        String prop = System.getProperty("gsat2r.shared");
        if (prop != null) {
            Path p = Path.of(prop).resolve(relative);
            return Files.exists(p) ? p : null;
        }
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            Path p = d.resolve("shared").resolve(relative);
            if (Files.exists(p)) return p;
        }
        return null;
    }
}
