package gsat2r.cli;

import gsat2r.api.T2rModel;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.llama.LlamaModel;

import java.nio.file.Path;

/**
 * The one place where the CLI turns a model directory into a {@link LanguageModel}, chosen by
 * {@code config.json}'s {@code model_type}: {@code "gsa"} is a GSA student ({@link GsaModel}, fla's
 * layout), anything else a Llama/Mistral teacher ({@link LlamaModel}, which names what it does not support). The
 * choice itself lives in {@link T2rModel#loadLanguageModel}, shared with the embedding API.
 */
public final class ModelLoader {

    private ModelLoader() {}

    public static LanguageModel load(Path dir) {
        return T2rModel.loadLanguageModel(dir);
    }

    /**
     * The model of {@code dir} on the GPU ({@code --device cuda}): a Llama/Mistral teacher or a GSA student,
     * in the precision of {@code gsat2r.cuda.precision} (bf16 by default). Without a usable CUDA driver this
     * fails with one line saying so.
     */
    public static LanguageModel loadOnGpu(Path dir) {
        return gsat2r.gpumodels.GpuLanguageModels.load(dir);
    }
}
