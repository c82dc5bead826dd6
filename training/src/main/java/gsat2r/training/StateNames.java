package gsat2r.training;

import gsat2r.core.model.gsa.ParameterView;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.TensorSpec;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The names inside a checkpoint's {@code state.safetensors}, shared by every backend so that a run may
 * resume on another device: {@code param/<fla name>} for every student tensor that training has changed
 * (the base weight of a tensor under LoRA, not W + s·BA), {@code lora/<tensor stem>.lora_A.weight}
 * {@code [R, in]} and {@code .lora_B.weight} {@code [out, R]} while a LoRA stage runs, and
 * {@code adam_m/<name>}, {@code adam_v/<name>} for every trainable tensor (adapter names under LoRA).
 * Tensors that no stage has trained are not written: they are those of the student the run started
 * from, whose fingerprint the state's metadata holds under {@link #BASE_FINGERPRINT}.
 */
public final class StateNames {
    private StateNames() {}

    public static final String PARAM = "param/", LORA = "lora/", ADAM_M = "adam_m/", ADAM_V = "adam_v/";

    /** Metadata key: {@link gsat2r.core.model.ModelFingerprint#weightsSha256()} of the student directory the run started from. */
    public static final String BASE_FINGERPRINT = "base_weights_sha256";

    public static String param(String tensor) {
        return PARAM + tensor;
    }

    public static String lora(String adapter) {
        return LORA + adapter;
    }

    public static String adamM(String tensor) {
        return ADAM_M + tensor;
    }

    public static String adamV(String tensor) {
        return ADAM_V + tensor;
    }

    /** The adapter names of the LoRA factors of {@code tensor} ({@code ...q_proj.weight} → {@code ...q_proj.lora_A.weight}). */
    public static String loraA(String tensor) {
        return stem(tensor) + ".lora_A.weight";
    }

    public static String loraB(String tensor) {
        return stem(tensor) + ".lora_B.weight";
    }

    private static String stem(String tensor) {
        return tensor.endsWith(".weight") ? tensor.substring(0, tensor.length() - ".weight".length()) : tensor;
    }

    /** The tensor names under {@link #PARAM} in a state's tensor names, prefix stripped. */
    public static java.util.List<String> params(java.util.Collection<String> stateTensors) {
        return stateTensors.stream().filter(n -> n.startsWith(PARAM)).map(n -> n.substring(PARAM.length())).toList();
    }

    /**
     * A state's tensors, in the order every backend writes them: the student tensors training has changed (in layout
     * order), the LoRA factors of {@code trainable} while they are adapters, and both Adam moments of every trainable tensor.
     */
    public static List<TensorSpec> specs(List<ParameterView> changed, boolean adapters, List<ParameterInfo> trainable) {
        List<TensorSpec> specs = new ArrayList<>();
        for (ParameterView v : changed) specs.add(TensorSpec.of(param(v.name()), DType.F32, v.shape()));
        if (adapters) {
            for (ParameterInfo t : trainable) specs.add(TensorSpec.of(lora(t.name()), DType.F32, t.shape()));
        }
        for (ParameterInfo t : trainable) {
            specs.add(TensorSpec.of(adamM(t.name()), DType.F32, t.shape()));
            specs.add(TensorSpec.of(adamV(t.name()), DType.F32, t.shape()));
        }
        return specs;
    }

    /** The metadata a state carries: the base fingerprint. */
    public static Map<String, String> metadata(String baseFingerprint) {
        return Map.of(BASE_FINGERPRINT, baseFingerprint);
    }
}
