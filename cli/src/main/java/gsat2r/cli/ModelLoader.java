package gsat2r.cli;

import gsat2r.core.T2rException;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.llama.LlamaModel;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The one place where the CLI turns a model directory into a {@link LanguageModel}: a
 * Llama/Mistral teacher today; the GSA student is chosen by {@code config.json}'s
 * {@code model_type} once it exists.
 */
public final class ModelLoader {

    private ModelLoader() {}

    public static LanguageModel load(Path dir) {
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            throw new T2rException(dir.resolve("config.json") + ": no such file (not a model directory?)");
        }
        return LlamaModel.load(dir);
    }
}
