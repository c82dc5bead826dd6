package gsat2r.cli;

import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.llama.LlamaModel;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The one place where the CLI turns a model directory into a {@link LanguageModel}, chosen by
 * {@code config.json}'s {@code model_type}: {@code "gsa"} is a GSA student ({@link GsaModel}, fla's
 * layout), anything else a Llama/Mistral teacher ({@link LlamaModel}, which names what it does not support).
 */
public final class ModelLoader {

    private ModelLoader() {}

    public static LanguageModel load(Path dir) {
        Path config = dir.resolve("config.json");
        if (!Files.isRegularFile(config)) {
            throw new T2rException(config + ": no such file (not a model directory?)");
        }
        if (GsaConfig.MODEL_TYPE.equals(GsaConfig.modelType(ModelSummary.readJson(config)))) return GsaModel.load(dir);
        return LlamaModel.load(dir);
    }
}
