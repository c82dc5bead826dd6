package gsat2r.core.model;

import com.fasterxml.jackson.databind.JsonNode;
import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.config.LlamaConfig;
import gsat2r.core.io.Json;
import gsat2r.core.safetensors.SafeTensors;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * A Hugging Face model directory, read once: which model it holds (a Llama/Mistral teacher or a GSA
 * student in fla's layout, told apart by {@code config.json}'s {@code model_type}), its parsed config,
 * and where its weights and tokenizer are. The one place that reads {@code model_type}: everything that
 * must know what a directory holds (the model loaders of every device, the trainer, {@code t2r inspect},
 * the exporters) asks this class.
 */
public final class ModelDirectory {

    /** What a directory holds. */
    public enum Kind {
        /** A softmax-attention teacher: {@link LlamaConfig} (Llama or Mistral). */
        TEACHER,
        /** A GSA student (possibly hybrid): {@link GsaConfig}. */
        STUDENT,
        /** Neither: a model type this project does not run ({@link #teacherConfig()} says why). */
        OTHER
    }

    public static final String CONFIG = "config.json";

    private final Path dir;
    private final JsonNode config;
    private final String modelType;
    private final LlamaConfig teacher;
    private final GsaConfig student;
    private final T2rException notATeacher;

    private ModelDirectory(Path dir, JsonNode config, String modelType, LlamaConfig teacher, GsaConfig student, T2rException notATeacher) {
        this.dir = dir;
        this.config = config;
        this.modelType = modelType;
        this.teacher = teacher;
        this.student = student;
        this.notATeacher = notATeacher;
    }

    /** Reads {@code dir/config.json} and parses it as a teacher's or a student's; one line naming the file otherwise. */
    public static ModelDirectory open(Path dir) {
        if (!Files.exists(dir)) throw new T2rException(dir + ": no such directory");
        if (!Files.isDirectory(dir)) {
            throw new T2rException(dir + ": not a directory (a model directory holds config.json, *.safetensors, tokenizer.json)");
        }
        Path file = dir.resolve(CONFIG);
        JsonNode root = read(file);
        String where = file.toString();
        String type = root.path("model_type").isTextual() ? root.get("model_type").asText() : null;
        if (GsaConfig.MODEL_TYPE.equals(type)) return new ModelDirectory(dir, root, type, null, GsaConfig.of(root, where), null);
        try {
            return new ModelDirectory(dir, root, type, LlamaConfig.of(root, where), null, null);
        } catch (T2rException e) {
            return new ModelDirectory(dir, root, type, null, null, e);    // what a teacher needs is said when one is asked for
        }
    }

    /** Whether {@code dir} holds a config.json (without reading it). */
    public static boolean looksLikeModel(Path dir) {
        return Files.isRegularFile(dir.resolve(CONFIG));
    }

    private static JsonNode read(Path file) {
        return Json.readObject(file, "a model directory holds config.json, *.safetensors, tokenizer.json");
    }

    public Path path() {
        return dir;
    }

    public Kind kind() {
        return student != null ? Kind.STUDENT : teacher != null ? Kind.TEACHER : Kind.OTHER;
    }

    public boolean isStudent() {
        return student != null;
    }

    /** {@code config.json}'s {@code model_type} as written (null when absent), for display. */
    public String modelType() {
        return modelType;
    }

    /** The parsed config.json object, for readers of fields no config class models (display only). */
    public JsonNode rawConfig() {
        return config;
    }

    public Path configFile() {
        return dir.resolve(CONFIG);
    }

    /** The teacher's config; fails when this directory holds a student. */
    public LlamaConfig teacherConfig() {
        if (notATeacher != null) throw notATeacher;
        if (teacher == null) throw new T2rException(configFile() + ": a GSA student (model_type \"gsa\"), not a Llama/Mistral teacher");
        return teacher;
    }

    /** The student's config; fails when this directory holds a teacher. */
    public GsaConfig studentConfig() {
        if (student == null) {
            throw new T2rException(configFile() + ": not a GSA student (model_type " + (modelType == null ? "absent" : "\"" + modelType + "\"")
                    + "); convert it first: t2r convert --teacher " + dir);
        }
        return student;
    }

    /** Vocabulary size, whichever model this is. */
    public int vocabSize() {
        return student != null ? student.vocabSize() : teacherConfig().vocabSize();
    }

    /** A file of the directory, when present (tokenizer.json, generation_config.json, ...). */
    public Optional<Path> file(String name) {
        Path p = dir.resolve(name);
        return Files.isRegularFile(p) ? Optional.of(p) : Optional.empty();
    }

    /** Opens the weights: {@code model.safetensors} or the shards of {@code model.safetensors.index.json}, memory-mapped. */
    public SafeTensors openWeights() {
        return SafeTensors.open(dir);
    }

    /** For messages: {@code "the GSA student DIR"} or {@code "the LlamaForCausalLM teacher DIR"}. */
    public String describe() {
        return student != null ? "the GSA student " + dir : teacher != null ? "the " + teacher.architecture() + " teacher " + dir
                : "the model " + dir;
    }

    @Override
    public String toString() {
        return dir.toString();
    }
}
