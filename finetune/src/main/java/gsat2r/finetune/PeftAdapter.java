package gsat2r.finetune;

import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.T2rException;
import gsat2r.core.io.AtomicDirectory;
import gsat2r.core.io.OutputKind;
import gsat2r.core.io.AtomicFiles;
import gsat2r.core.io.Json;
import gsat2r.core.safetensors.HeapTensor;
import gsat2r.core.safetensors.SafeTensorsWriter;
import gsat2r.training.TrainableSet;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * A LoRA stage's adapters as a PEFT adapter directory ({@code adapter_config.json},
 * {@code adapter_model.safetensors}), the format {@code PeftModel.from_pretrained} loads.
 *
 * <p>Tensor names are the student's module paths under PEFT's {@code base_model.model.} prefix,
 * {@code lora_A} {@code [R, in]} and {@code lora_B} {@code [out, R]} in fp32. The adapter applies to the
 * student as it was when the stage began; {@code target_modules} is a regular expression that matches
 * exactly the adapted modules, so layers kept as softmax attention get none.
 */
public final class PeftAdapter {

    static final String CONFIG = "adapter_config.json";
    static final String WEIGHTS = "adapter_model.safetensors";
    private static final String PREFIX = "base_model.model.";
    private static final Pattern FACTOR = Pattern.compile("(.+)\\.lora_([AB])\\.weight");

    private PeftAdapter() {}

    /**
     * Writes {@code factors} (as {@link gsat2r.training.TrainingBackend#loraFactors} gives them) to the
     * directory {@code target}, replacing an earlier copy; it appears whole or not at all.
     */
    public static Path write(Path target, Map<String, float[]> factors, TrainableSet.Lora lora, String stageName) {
        if (factors.isEmpty()) throw new T2rException(target + ": the LoRA stage '" + stageName + "' has no adapters to write");
        Map<String, HeapTensor> tensors = new LinkedHashMap<>();
        TreeSet<String> modules = new TreeSet<>();
        factors.forEach((name, values) -> {
            var m = FACTOR.matcher(name);
            if (!m.matches()) throw new T2rException(target + ": '" + name + "' is not a LoRA factor name");
            modules.add(m.group(1));
            long other = values.length / lora.rank();
            long[] shape = m.group(2).equals("A") ? new long[] {lora.rank(), other} : new long[] {other, lora.rank()};
            tensors.put(PREFIX + name, HeapTensor.f32(values, shape));
        });
        try (AtomicDirectory out = AtomicDirectory.create(target, true, OutputKind.owned("adapter"))) {
            SafeTensorsWriter.write(out.path().resolve(WEIGHTS), tensors, Map.of("format", "pt"));
            AtomicFiles.writeString(out.path().resolve(CONFIG), Json.PRETTY.writeValueAsString(config(modules, lora)) + "\n");
            return out.commit();
        } catch (IOException e) {
            throw new T2rException(target + ": cannot write the PEFT adapter (" + e.getMessage() + ")", e);
        }
    }

    /** PEFT's LoraConfig for adapters on exactly {@code modules}: no dropout, no bias, α and R of the stage. */
    static ObjectNode config(TreeSet<String> modules, TrainableSet.Lora lora) {
        ObjectNode c = Json.COMPACT.createObjectNode();
        c.put("peft_type", "LORA");
        c.put("task_type", "CAUSAL_LM");
        c.putNull("base_model_name_or_path");
        c.put("r", lora.rank());
        c.put("lora_alpha", lora.alpha());
        c.put("lora_dropout", 0.0);
        c.put("bias", "none");
        c.put("fan_in_fan_out", false);
        c.put("inference_mode", true);
        c.put("use_rslora", false);
        c.put("use_dora", false);
        c.put("init_lora_weights", true);
        c.putNull("modules_to_save");
        c.put("target_modules", modules.stream().map(PeftAdapter::literal).reduce((a, b) -> a + "|" + b)
                .map(s -> "(?:" + s + ")").orElseThrow());
        c.putObject("rank_pattern");
        c.putObject("alpha_pattern");
        return c;
    }

    /** {@code name} as a regular expression that Python's {@code re} and Java read alike (module paths are [A-Za-z0-9_.]). */
    private static String literal(String name) {
        if (!name.matches("[A-Za-z0-9_.]+")) throw new T2rException("'" + name + "' is not a module path");
        return name.replace(".", "\\.");
    }
}
