package gsat2r.training;

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

    /** The metadata a state carries: the base fingerprint. */
    public static Map<String, String> metadata(String baseFingerprint) {
        return Map.of(BASE_FINGERPRINT, baseFingerprint);
    }
}
