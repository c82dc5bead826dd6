package gsat2r.finetune.recipe;

import com.fasterxml.jackson.databind.JsonNode;
import gsat2r.core.data.synthetic.SyntheticSpec;
import gsat2r.finetune.student.ConversionOptions;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A validated training recipe (see {@code docs/recipes.md} for every field). Paths are resolved against
 * the recipe file's directory. {@code resolved} is the recipe as JSON with defaults filled in and
 * paths absolute: what a run stores in {@code run.json} and compares on {@code --resume}.
 * {@code synthetic} ({@code data.synthetic}) lists the kinds of synthetic documents mixed into the
 * training sequences and their shares (empty: the corpus alone). {@code overridden} names the fields that
 * {@code --set} gave (paths as {@link RecipeOverrides#paths}), so that a later check of them says where they came from.
 */
public record Recipe(Path file, String description, Path teacher, Student student, Data data,
                     List<SyntheticSpec> synthetic, int seqLen, int batch,
                     int microBatch, int gradAccum, long seed, String device, gsat2r.core.model.Precision precision,
                     gsat2r.core.safetensors.DType outputDtype, long checkpointInterval,
                     int keepCheckpoints, long evalTokens, boolean recompute, List<Stage> stages, JsonNode resolved,
                     java.util.Set<String> overridden) {

    public Recipe {
        stages = List.copyOf(stages);
        synthetic = List.copyOf(synthetic);
        overridden = java.util.Set.copyOf(overridden);
    }

    /** Tokens of one optimizer step. */
    public long tokensPerStep() {
        return (long) batch * seqLen;
    }

    public long totalSteps() {
        return stages.stream().mapToLong(Stage::steps).sum();
    }

    /** The synthetic documents of every mix the run trains on: {@code data.synthetic}'s, then the stages' own and their switches'. */
    public List<SyntheticSpec> everySynthetic() {
        List<SyntheticSpec> all = new ArrayList<>(synthetic);
        for (Stage s : stages) {
            if (s.synthetic() != null) all.addAll(s.synthetic());
            if (s.mixSwitch() != null) all.addAll(s.mixSwitch().synthetic());
        }
        return all;
    }

    /** Whether any stage runs the teacher. */
    public boolean needsTeacher() {
        return stages.stream().anyMatch(s -> s.objective().needsTeacher());
    }

    /** The student: an existing model directory, or conversion options applied to the teacher. */
    public sealed interface Student {}

    public record StudentDir(Path dir) implements Student {}

    public record Convert(ConversionOptions options) implements Student {}

    /** The data: a prepared dataset directory, or raw files tokenized at the start of the run. */
    public sealed interface Data {}

    public record PreparedData(Path dir) implements Data {}

    public record RawData(List<Path> train, List<Path> validation, String textField, double validationFraction) implements Data {
        public RawData {
            train = List.copyOf(train);
            validation = List.copyOf(validation);
        }
    }
}
