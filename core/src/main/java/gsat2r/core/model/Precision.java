package gsat2r.core.model;

import gsat2r.core.T2rException;

import java.util.Locale;

/**
 * The arithmetic a device runs a model in: {@code fp32} (every value fp32; the CPU reference's only
 * mode) or {@code bf16} (weights and activations bf16, accumulation and every reduction fp32; trainable
 * tensors keep fp32 master weights). A recipe field ({@code precision}) and a flag ({@code --precision})
 * of the commands that run models, so that {@code run.json} says how a run computed.
 */
public enum Precision {
    FP32("fp32"),
    BF16("bf16");

    private final String spelling;

    Precision(String spelling) {
        this.spelling = spelling;
    }

    /** {@code fp32} or {@code bf16}: how recipes and flags write it. */
    public String spelling() {
        return spelling;
    }

    /** Reads {@code fp32}/{@code float32} or {@code bf16}/{@code bfloat16} (any case); one line naming {@code where} otherwise. */
    public static Precision parse(String text, String where) {
        String t = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
        return switch (t) {
            case "fp32", "float32", "f32" -> FP32;
            case "bf16", "bfloat16" -> BF16;
            default -> throw new T2rException(where + ": unknown precision '" + text + "' (fp32 or bf16)");
        };
    }

    @Override
    public String toString() {
        return spelling;
    }
}
