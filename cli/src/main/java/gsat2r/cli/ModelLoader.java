package gsat2r.cli;

import gsat2r.core.T2rException;
import gsat2r.core.model.LanguageModel;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The one place where the CLI turns a model directory into a {@link LanguageModel}.
 *
 * <p>For now every directory is a Llama/Mistral teacher, run by
 * {@code gsat2r.core.model.llama.LlamaModel.load(Path)}. That class is written in parallel with this
 * one, so it is looked up by name; once it is on the classpath, {@link #load} becomes a plain call
 * (and later picks the teacher or the GSA student by {@code config.json}'s {@code model_type}).
 */
public final class ModelLoader {

    private static final String LLAMA_MODEL = "gsat2r.core.model.llama.LlamaModel";

    private ModelLoader() {}

    public static LanguageModel load(Path dir) {
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            throw new T2rException(dir.resolve("config.json") + ": no such file (not a model directory?)");
        }
        Method load;
        try {
            load = Class.forName(LLAMA_MODEL).getMethod("load", Path.class);
        } catch (ClassNotFoundException | NoSuchMethodException e) {
            throw new T2rException("this build of t2r cannot run models: " + LLAMA_MODEL + ".load(Path) is missing");
        }
        try {
            return (LanguageModel) load.invoke(null, dir);
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            if (e.getCause() instanceof Error r) throw r;
            throw new T2rException(dir + ": cannot load the model: " + e.getCause(), e.getCause());
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }
}
