package gsat2r.converter;

import gsat2r.core.config.GsaConfig;
import gsat2r.core.config.LlamaConfig;
import gsat2r.core.safetensors.DType;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What a conversion did: sizes before and after, tensors copied, and the decoding memory of teacher and
 * student side by side ({@link #summary()} is what {@code t2r convert} prints).
 *
 * @param copiedTensors   teacher tensors reused by the student
 * @param bitExactCopies  of those, the ones copied as bytes (same dtype)
 */
public record ConversionReport(Path teacherDir, Path studentDir, LlamaConfig teacher, DType teacherType,
                               GsaConfig student, DType studentType, ConvertOptions options, long teacherParameters,
                               long studentParameters, int copiedTensors, int bitExactCopies) {

    /** Parameters the student adds: f_proj and g_norm of every GSA layer. */
    public long addedParameters() {
        return studentParameters - teacherParameters;
    }

    /** Bytes the teacher's KV cache holds at {@code tokens} tokens, in the teacher's dtype. */
    public long teacherCacheBytes(long tokens) {
        return teacher.kvCacheBytes(tokens, teacherType.byteSize());
    }

    /**
     * Bytes the student's decoding state holds at {@code tokens} tokens: the fp32 recurrent state of its
     * GSA layers (constant) plus the KV cache of kept attention layers (in the teacher's dtype, for a
     * like-for-like comparison).
     */
    public long studentStateBytes(long tokens) {
        return student.recurrentStateBytes() + student.attentionCacheBytes(tokens, teacherType.byteSize());
    }

    public List<String> summary() {
        List<String> lines = new ArrayList<>();
        GsaConfig s = student;
        int gsaLayers = s.gsaLayerCount();
        lines.add("converted  " + teacherDir + " (" + teacher.architecture() + ", " + teacher.numHiddenLayers()
                + " layers) -> " + studentDir);
        lines.add("student    " + s.describe());
        lines.add("gates      f_proj init " + options.gateInit().cliName() + " (seed " + options.seed() + "), g_norm ones");
        int copies = s.numKvHeads() / teacher.numKeyValueHeads();
        lines.add(String.format(Locale.ROOT, "parameters %,d -> %,d (+%,d: f_proj %d x [%d, %d], g_norm %d x [%d]%s%s)",
                teacherParameters, studentParameters, addedParameters(), gsaLayers, s.numKvHeads() * s.numSlots(),
                s.hiddenSize(), gsaLayers, s.valueDim(), copies == 1 ? "" : String.format(Locale.ROOT,
                        ", k/v projections of %d kv heads copied from the teacher's %d, %d x [%d + %d, %d]", s.numKvHeads(),
                        teacher.numKeyValueHeads(), gsaLayers, s.kvKeyDim(), s.kvValueDim(), s.hiddenSize()),
                s.shortConv() == 0 ? "" : String.format(Locale.ROOT,
                        ", q/k/v short convolutions %d x [%d + %d + %d, 1, %d] (%s)", gsaLayers, s.keyDim(), s.kvKeyDim(),
                        s.kvValueDim(), s.shortConv(), options.shortConvInit().cliName())));
        lines.add(String.format(Locale.ROOT, "weights    %s; %d teacher tensors reused, %d copied bit-exactly%s",
                name(studentType), copiedTensors, bitExactCopies,
                bitExactCopies == copiedTensors ? "" : bitExactCopies == 0 ? " (converted from " + name(teacherType) + ")"
                        : " (the others converted from " + name(teacherType) + ")"));
        lines.add("state      " + bytes(s.recurrentStateBytes()) + " of fp32 recurrent state per sequence (Hk + Hv"
                + (s.shortConv() > 0 ? " and the convolutions' last " + (s.shortConv() - 1) + " rows" : "") + " of "
                + gsaLayers + " GSA layers), whatever its length"
                + (s.attn().isEmpty() ? "" : ", plus the KV cache of " + (s.numHiddenLayers() - gsaLayers)
                + " attention layers"));
        for (long tokens : new long[] {2048, 32768}) {
            lines.add(String.format(Locale.ROOT, "at %-7s teacher KV cache %s (%s%s) vs student %s", tokens / 1024 + "K",
                    bytes(teacherCacheBytes(tokens)), name(teacherType),
                    teacher.slidingWindow() == null ? "" : ", window " + teacher.slidingWindow(),
                    bytes(studentStateBytes(tokens))));
        }
        String fla = s.flaCompatibility();
        if (fla != null) lines.add("note       exact in t2r only; fla 0.5.2 cannot build it as is: " + fla);
        return lines;
    }

    private static String name(DType t) {
        return t.name().toLowerCase(Locale.ROOT);
    }

    static String bytes(long n) {
        if (n >= 1L << 30) return String.format(Locale.ROOT, "%.2f GiB", n / (double) (1L << 30));
        if (n >= 1L << 20) return String.format(Locale.ROOT, "%.2f MiB", n / (double) (1L << 20));
        if (n >= 1L << 10) return String.format(Locale.ROOT, "%.1f KiB", n / 1024.0);
        return n + " bytes";
    }
}
