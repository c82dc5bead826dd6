package gsat2r.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.io.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Where finished tasks keep their results while the evaluation runs: {@code .<out>.partial/} beside the
 * output directory, one {@code <task>.json} a task holding {@code {"fingerprint": ..., "result": ...}}.
 * The fingerprint says what the result depends on (the models' files, the data, the settings that
 * matter to that task); a re-run of the same command finds the results whose fingerprint matches and
 * computes only the rest. The directory is deleted once the report is written.
 */
public final class WorkDir {
    private final Path dir;

    public WorkDir(Path dir) {
        this.dir = dir;
    }

    /** {@code .<name>.partial} in the directory of {@code out}. */
    public static WorkDir beside(Path out) {
        Path abs = out.toAbsolutePath().normalize();
        return new WorkDir(abs.resolveSibling("." + abs.getFileName() + ".partial"));
    }

    public Path path() {
        return dir;
    }

    /** The cached result of {@code key}, or null when there is none for this fingerprint (or it cannot be read). */
    <T> T load(String key, JsonNode fingerprint, Class<T> type) {
        Path file = dir.resolve(key + ".json");
        if (!Files.isRegularFile(file)) return null;
        try {
            JsonNode saved = Json.MAPPER.readTree(file.toFile());
            if (saved == null || !canonical(fingerprint).equals(saved.get("fingerprint"))) return null;
            return Json.MAPPER.treeToValue(saved.get("result"), type);
        } catch (IOException | RuntimeException unreadable) {
            return null;                                // computed again, and overwritten
        }
    }

    /**
     * The fingerprint as it reads back from its text: a number put as a long reads back as an int
     * when it fits, and JSON trees of different number types are not equal.
     */
    private static JsonNode canonical(JsonNode fingerprint) throws IOException {
        return Json.MAPPER.readTree(Json.MAPPER.writeValueAsString(fingerprint));
    }

    void save(String key, JsonNode fingerprint, Object result) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.set("fingerprint", fingerprint);
        o.set("result", Json.MAPPER.valueToTree(result));
        try {
            AtomicFiles.writeString(dir.resolve(key + ".json"), Json.MAPPER.writeValueAsString(o) + "\n");
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Deletes the directory and what is in it (best effort). */
    void delete() {
        if (!Files.isDirectory(dir)) return;
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // A leftover cache is harmless: the next run checks fingerprints.
        }
    }
}
