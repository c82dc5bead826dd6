package gsat2r.finetune;

import gsat2r.core.io.Json;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.T2rException;
import gsat2r.core.io.AtomicDirectory;
import gsat2r.core.io.OutputKind;
import gsat2r.core.io.AtomicFiles;
import gsat2r.core.safetensors.SafeTensorsWriter;
import gsat2r.core.safetensors.TensorWriter;
import gsat2r.training.TrainingBackend;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The checkpoints of a run, {@code OUT/checkpoints/step-NNNNNNNN/} (N = the global step), each written
 * whole through an {@link AtomicDirectory} (a kill while writing leaves only a hidden temp sibling,
 * which the next resume deletes):
 * <ul>
 * <li>{@code state.safetensors}: the backend's training state (student weights, LoRA adapters, AdamW
 *     moments), F32, as {@link TrainingBackend#stateSpecs} lists it;</li>
 * <li>{@code metrics.jsonl}: metrics.jsonl as it was at this step (a resume puts it back, dropping the
 *     lines of the steps after the checkpoint);</li>
 * <li>{@code trainer.json}: {@link TrainerState} (stage, steps, data position, tokens, seconds).</li>
 * </ul>
 * Only the newest {@code keep} checkpoints are kept.
 */
final class Checkpoints {

    static final String DIR = "checkpoints";
    static final String STATE = "state.safetensors";
    static final String TRAINER = "trainer.json";
    static final String METRICS = "metrics.jsonl";
    private static final Pattern NAME = Pattern.compile("step-(\\d{8,})");

    private final Path dir;

    Checkpoints(Path runDir) {
        this.dir = runDir.resolve(DIR);
    }

    Path dir() {
        return dir;
    }

    static String name(long globalStep) {
        return String.format("step-%08d", globalStep);
    }

    /** A checkpoint on disk: its directory and global step. */
    record Entry(Path dir, long globalStep) {}

    /** Complete checkpoints, oldest first. */
    List<Entry> list() {
        if (!Files.isDirectory(dir)) return List.of();
        List<Entry> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                Matcher m = NAME.matcher(p.getFileName().toString());
                if (m.matches() && Files.isRegularFile(p.resolve(TRAINER))) out.add(new Entry(p, Long.parseLong(m.group(1))));
            }
        } catch (IOException e) {
            throw new T2rException(dir + ": cannot list (" + e.getMessage() + ")", e);
        }
        out.sort(Comparator.comparingLong(Entry::globalStep));
        return out;
    }

    Optional<Entry> latest() {
        List<Entry> all = list();
        return all.isEmpty() ? Optional.empty() : Optional.of(all.getLast());
    }

    /** Deletes what a killed run can leave here: hidden temp siblings of checkpoints being written or replaced. */
    void deleteLeftovers() {
        if (!Files.isDirectory(dir)) return;
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                String n = p.getFileName().toString();
                if (n.startsWith(".step-") && (n.contains(".tmp-") || n.contains(".old-"))) FileTrees.delete(p);
            }
        } catch (IOException e) {
            throw new T2rException(dir + ": cannot list (" + e.getMessage() + ")", e);
        }
    }

    /** Writes the checkpoint of {@code state}, then deletes all but the newest {@code keep}. */
    Path write(TrainingBackend backend, ObjectNode trainerJson, byte[] metrics, long globalStep, int keep,
               Map<String, String> metadata) {
        Path target = dir.resolve(name(globalStep));
        try (AtomicDirectory out = AtomicDirectory.create(target, true, OutputKind.owned("checkpoint"))) {
            try (TensorWriter w = SafeTensorsWriter.create(out.path().resolve(STATE), backend.stateSpecs(), metadata)) {
                backend.writeState(w);
                w.commit();
            }
            AtomicFiles.write(out.path().resolve(METRICS), metrics);
            AtomicFiles.writeString(out.path().resolve(TRAINER), Json.PRETTY.writeValueAsString(trainerJson) + "\n");
            out.commit();
        } catch (IOException e) {
            throw new T2rException(target + ": cannot write the checkpoint (" + e.getMessage() + ")", e);
        }
        List<Entry> all = list();
        for (int i = 0; i < all.size() - keep; i++) FileTrees.delete(all.get(i).dir());
        return target;
    }

    static JsonNode readTrainer(Entry e) {
        Path f = e.dir().resolve(TRAINER);
        try {
            return Json.COMPACT.readTree(f.toFile());
        } catch (IOException ex) {
            throw new T2rException(f + ": cannot read (" + ex.getMessage() + ")", ex);
        }
    }
}
