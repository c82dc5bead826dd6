package gsat2r.finetune;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.stream.Stream;

/** Run directories as a run killed at a checkpoint leaves them, for resume tests of every backend. */
public final class KilledRuns {
    private KilledRuns() {}

    /** A copy of run {@code from} at {@code to} as if killed right after checkpoint {@code step}: no final, no later checkpoints. */
    public static Path truncatedCopy(Path from, Path to, long step) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.sorted().toList()) {
                Path q = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(q);
                else Files.copy(p, q, StandardCopyOption.COPY_ATTRIBUTES);
            }
        }
        deleteTree(to.resolve("final"));
        try (Stream<Path> s = Files.list(to.resolve("checkpoints"))) {
            for (Path c : s.toList()) if (Long.parseLong(c.getFileName().toString().substring(5)) > step) deleteTree(c);
        }
        return to;
    }

    public static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }
}
