package gsat2r.finetune;

import gsat2r.core.io.Json;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.T2rException;
import gsat2r.core.io.AtomicFiles;
import gsat2r.finetune.recipe.Recipe;
import gsat2r.finetune.recipe.Stage;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * The output directory of {@code t2r finetune --out DIR}:
 * <pre>
 * DIR/run.json            the resolved recipe the run started with (compared on --resume)
 * DIR/student-init/       the converted student, when the recipe gives conversion options
 * DIR/data/               the tokenized dataset, when the recipe gives raw text files
 * DIR/checkpoints/        step-NNNNNNNN/ {state.safetensors, trainer.json, metrics.jsonl}
 * DIR/metrics.jsonl       one line per step and per evaluation
 * DIR/adapters/STAGE/     each LoRA stage's PEFT adapter, written before its merge
 * DIR/final/              the trained student (fla format), written atomically at the end, with adapters/
 * </pre>
 * The directory itself fills up as the run goes (that is what makes --resume possible); each of its
 * parts appears whole: run.json and the metrics lines by single writes, student-init, data,
 * checkpoints and final through temp siblings and a rename.
 */
final class RunDirectory {

    static final String RUN = "run.json";
    static final String STUDENT_INIT = "student-init";
    static final String DATA = "data";
    static final String METRICS = "metrics.jsonl";
    static final String FINAL = "final";
    static final String ADAPTERS = "adapters";
    static final String FORMAT = "gsa-t2r run";

    private final Path dir;

    private RunDirectory(Path dir) {
        this.dir = dir;
    }

    Path dir() {
        return dir;
    }

    Path studentInit() {
        return dir.resolve(STUDENT_INIT);
    }

    Path data() {
        return dir.resolve(DATA);
    }

    Path metrics() {
        return dir.resolve(METRICS);
    }

    Path finalDir() {
        return dir.resolve(FINAL);
    }

    /** Where the LoRA stage {@code stage} leaves its PEFT adapter: {@code adapters/<stage name>}. */
    Path adapter(Stage stage) {
        String name = stage.name().replaceAll("[^A-Za-z0-9_.-]", "_");
        return dir.resolve(ADAPTERS).resolve(name.isEmpty() || name.startsWith(".") ? "stage-" + (stage.index() + 1) : name);
    }

    /** Copies every adapter written so far into {@code out/adapters/}. */
    void copyAdapters(Path out) throws IOException {
        Path from = dir.resolve(ADAPTERS);
        if (!Files.isDirectory(from)) return;
        try (var adapters = Files.list(from)) {
            for (Path a : adapters.filter(p -> !p.getFileName().toString().startsWith(".")).sorted().toList()) {
                Path to = Files.createDirectories(out.resolve(ADAPTERS).resolve(a.getFileName()));
                for (String f : List.of(PeftAdapter.CONFIG, PeftAdapter.WEIGHTS)) Files.copy(a.resolve(f), to.resolve(f));
            }
        }
    }

    /** The run in {@code dir} as rank 0 of a data-parallel run set it up (the other ranks only read it). */
    static RunDirectory at(Path dir) {
        Path abs = dir.toAbsolutePath().normalize();
        if (!Files.isRegularFile(abs.resolve(RUN))) {
            throw new T2rException(dir + ": rank 0 set up no run here (no " + RUN + "); in a multi-node run, --out must be on a file system"
                    + " that every node sees");
        }
        return new RunDirectory(abs);
    }

    /**
     * A new run in {@code dir}: it must not exist, or be empty; with {@code force}, an earlier run's
     * directory (one with run.json) is deleted first. Nothing else is ever deleted.
     */
    static RunDirectory create(Path dir, Recipe recipe, boolean force) {
        Path abs = dir.toAbsolutePath().normalize();
        if (Files.exists(abs, LinkOption.NOFOLLOW_LINKS)) {
            if (!Files.isDirectory(abs, LinkOption.NOFOLLOW_LINKS)) throw new T2rException(dir + ": exists and is not a directory");
            if (!isEmpty(abs)) {
                if (!Files.isRegularFile(abs.resolve(RUN))) {
                    throw new T2rException(dir + ": exists, is not empty and is not a t2r run directory (no " + RUN + "); choose another --out");
                }
                if (!force) {
                    throw new T2rException(dir + ": holds an earlier run" + (Files.exists(abs.resolve(METRICS)) ? ""
                            : " that stopped before its first step") + "; continue it with --resume, or start over with --force");
                }
                AtomicFiles.refuseToReplaceCurrentDirectory(abs, dir);
                FileTrees.delete(abs);
            }
        }
        try {
            Files.createDirectories(abs);
        } catch (IOException e) {
            throw new T2rException(dir + ": cannot create directory (" + e.getMessage() + ")", e);
        }
        ObjectNode run = Json.COMPACT.createObjectNode();
        run.put("format", FORMAT);
        run.put("version", 1);
        run.put("recipe_file", recipe.file().toAbsolutePath().normalize().toString());
        run.set("recipe", recipe.resolved());
        writeRun(abs, run);
        return new RunDirectory(abs);
    }

    /**
     * The run in {@code dir}, to be resumed with {@code recipe}: refuses when fields that define the
     * computed state changed; records adjustable changes in run.json and reports them through {@code note}.
     */
    static RunDirectory resume(Path dir, Recipe recipe, Consumer<String> note) {
        Path abs = dir.toAbsolutePath().normalize();
        Path runFile = abs.resolve(RUN);
        if (!Files.isRegularFile(runFile)) {
            throw new T2rException(dir + ": no run to resume (no " + RUN + "); start the run without --resume");
        }
        JsonNode run;
        try {
            run = Json.COMPACT.readTree(runFile.toFile());
        } catch (IOException e) {
            throw new T2rException(runFile + ": cannot read (" + e.getMessage() + ")", e);
        }
        if (!FORMAT.equals(run.path("format").asText())) throw new T2rException(runFile + ": not a t2r run file");
        RecipeChanges changes = RecipeChanges.between(run.path("recipe"), recipe.resolved());
        if (!changes.fixed().isEmpty()) {
            throw new T2rException(recipe.file() + ": differs from the recipe the run in " + dir + " started with, in fields a resume"
                    + " cannot change: " + String.join("; ", changes.fixed()) + " (start a new run, or restore the recipe)");
        }
        if (!changes.adjustable().isEmpty()) {
            note.accept("recipe changed since the run started (the resumed run is no longer bit-exact): "
                    + String.join("; ", changes.adjustable()));
            ObjectNode updated = ((ObjectNode) run).deepCopy();
            updated.set("recipe", recipe.resolved());
            writeRun(abs, updated);
        }
        return new RunDirectory(abs);
    }

    /** Deletes hidden temp siblings that a killed run can leave in the run directory. */
    void deleteLeftovers() {
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                String n = p.getFileName().toString();
                boolean ours = n.startsWith("." + FINAL + ".") || n.startsWith("." + STUDENT_INIT + ".") || n.startsWith("." + DATA + ".")
                        || n.startsWith("." + METRICS + ".") || n.startsWith("." + RUN + ".");
                if (ours && (n.contains(".tmp-") || n.contains(".old-"))) FileTrees.delete(p);
            }
        } catch (IOException e) {
            throw new T2rException(dir + ": cannot list (" + e.getMessage() + ")", e);
        }
    }

    private static void writeRun(Path dir, ObjectNode run) {
        try {
            AtomicFiles.writeString(dir.resolve(RUN), Json.PRETTY.writeValueAsString(run) + "\n");
        } catch (IOException e) {
            throw new T2rException(dir.resolve(RUN) + ": cannot write (" + e.getMessage() + ")", e);
        }
    }

    private static boolean isEmpty(Path dir) {
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            return !s.iterator().hasNext();
        } catch (IOException e) {
            throw new T2rException(dir + ": cannot list (" + e.getMessage() + ")", e);
        }
    }
}
