package gsat2r.cli;

import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.Precision;
import gsat2r.training.Devices;

import java.nio.file.Path;

/**
 * The one place where the CLI turns a model directory into a {@link LanguageModel}: the directory says what it
 * holds ({@link ModelDirectory}: a teacher or a student), the device plug-in of {@code --device} runs it in
 * the {@code --precision} asked for (the device's default when none).
 */
public final class ModelLoader {

    private ModelLoader() {}

    /** The model of {@code dir} on the CPU reference. */
    public static LanguageModel load(Path dir) {
        return load(dir, "cpu", null);
    }

    /** The model of {@code dir} on {@code device} in {@code precision} (null: the device's default). */
    public static LanguageModel load(Path dir, String device, Precision precision) {
        var d = Devices.discover().get(device);
        return d.load(ModelDirectory.open(dir), precision != null ? precision : d.defaultPrecision(), 0);
    }
}
