package gsat2r.cli;

import gsat2r.core.T2rException;

import java.nio.file.Files;
import java.nio.file.Path;

/** What {@code --model} names: the word {@code demo} (the model inside the jar) or a model directory. */
final class ModelDirs {

    static final String DEMO = "demo";

    private ModelDirs() {}

    static Path resolve(String spec, DemoModel demo) {
        if (DEMO.equals(spec)) return demo.directory();
        Path dir = Path.of(spec);
        if (!Files.exists(dir)) throw new T2rException(dir + ": no such directory");
        if (!Files.isDirectory(dir)) {
            throw new T2rException(dir + ": not a directory (a model directory holds config.json, *.safetensors, tokenizer.json)");
        }
        if (!Files.exists(dir.resolve("config.json")) && Files.isRegularFile(dir.resolve("final").resolve("config.json"))) {
            throw new T2rException(dir + ": a finetune run, not a model; its student is " + dir.resolve("final"));
        }
        return dir;
    }
}
