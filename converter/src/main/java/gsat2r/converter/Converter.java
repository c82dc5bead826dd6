package gsat2r.converter;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.T2rException;
import gsat2r.core.tokenizer.TokenizerFiles;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.config.LlamaConfig;
import gsat2r.core.config.RopeParameters;
import gsat2r.core.io.AtomicDirectory;
import gsat2r.core.io.AtomicFiles;
import gsat2r.core.model.gsa.GsaCheckpoint;
import gsat2r.core.model.gsa.GsaLayout;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.core.model.llama.LlamaTensor;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.Floats;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.ShardedSafeTensorsWriter;
import gsat2r.core.safetensors.TensorInfo;
import gsat2r.core.safetensors.TensorSink;
import gsat2r.core.safetensors.TensorWriter;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * Converts a Hugging Face Llama/Mistral teacher into a GSA student in fla's checkpoint layout.
 *
 * <p>What the student gets: the teacher's embeddings, every norm ({@code input_layernorm} becomes
 * {@code attn_norm}, {@code post_attention_layernorm} {@code mlp_norm}), q/k/v/o projections, the MLP,
 * the final norm and an untied {@code lm_head}, each copied bit-exactly (bytes straight from the
 * mapped teacher file) when the output dtype is the teacher's, else converted to it; and, per GSA
 * layer, a new {@code f_proj [Hkv·M, d]} ({@link GateInit}) and {@code g_norm} of ones. Layers named
 * in {@link ConvertOptions#keepAttention()} stay softmax attention: fla's {@code attn} spec with the
 * teacher's heads, kv heads, RoPE theta and sliding window, or the window the options give the layer (one
 * spec per window; plus our {@code head_dim} and
 * {@code rope_scaling} extensions when the teacher needs them, which fla ignores). A teacher whose
 * {@code heads·head_dim} is not {@code hidden_size} gets {@code expand_k = expand_v =
 * heads·head_dim/hidden} (exact in t2r; fla 0.5.2 sizes g_norm by hidden_size and cannot run it).
 *
 * <p>How: everything is checked first (the teacher's config, every shard's header, every tensor's
 * shape; what cannot be converted is refused with one line), then the student is written into an
 * {@link AtomicDirectory} (temp sibling, renamed at the end: a failure leaves no output), streaming one
 * tensor at a time, and with config.json, generation_config.json and the tokenizer files copied.
 */
public final class Converter {
    private Converter() {}

    /** Elements per piece when a tensor is converted to another dtype on its way through. */
    private static final int PIECE = 1 << 16;

    /**
     * Converts the teacher in {@code teacherDir} into a new student directory {@code outDir}
     * ({@code replace}: an existing non-empty one is replaced, the CLI's --force).
     */
    public static ConversionReport convert(Path teacherDir, Path outDir, ConvertOptions options, boolean replace) {
        LlamaConfig teacher = LlamaConfig.load(teacherDir);
        try (SafeTensors st = SafeTensors.open(teacherDir)) {
            DType teacherType = teacherType(st);
            DType outType = options.dtype() != null ? options.dtype()
                    : teacherType == DType.BF16 ? DType.BF16 : DType.F32;
            String name = teacherDir.toAbsolutePath().normalize().getFileName() == null ? teacherDir.toString()
                    : teacherDir.toAbsolutePath().normalize().getFileName().toString();
            GsaConfig student = studentConfig(teacher, options, name)
                    .withDtype(GsaCheckpoint.dtypeName(outType));
            GsaLayout layout = new GsaLayout(student);
            List<Source> plan = plan(layout, teacher, st);
            int teacherKv = teacher.numKeyValueHeads(), copies = student.numKvHeads() / teacherKv;

            int copied = 0, bitExact = 0;
            try (AtomicDirectory out = AtomicDirectory.create(outDir, replace, GsaCheckpoint.STUDENT)) {
                Random rnd = new Random(options.seed()), convRnd = ShortConvInit.random(options.seed());
                try (ShardedSafeTensorsWriter w = ShardedSafeTensorsWriter.create(out.path(),
                        GsaCheckpoint.specs(layout, outType), ShardedSafeTensorsWriter.DEFAULT_MAX_SHARD_BYTES)) {
                    for (Source s : plan) {
                        ParameterView v = s.view();
                        switch (v.kind()) {
                            case F_PROJ -> {
                                String keys = LlamaTensor.K_PROJ.hfName(v.layer());
                                TensorInfo k = st.info(keys);
                                GateInit.KeyProjection kp = new GateInit.KeyProjection(st.bytes(keys), k.dtype(),
                                        teacherKv, student.headKDim(), student.hiddenSize());
                                try (TensorSink sink = w.stream(v.name())) {
                                    HeadCopies.Rows rows = new HeadCopies.Rows(sink::putFloats, student.numSlots(), copies);
                                    options.gateInit().write(rows::accept, teacherKv, student.numSlots(), student.hiddenSize(), kp, rnd);
                                }
                            }
                            case G_NORM -> {
                                float[] ones = new float[v.arraySize()];
                                java.util.Arrays.fill(ones, 1f);
                                w.write(v.name(), ones);
                            }
                            case Q_CONV -> w.write(v.name(), options.shortConvInit().kernels(v, convRnd));
                            case K_CONV, V_CONV -> {
                                int taps = (int) v.shape()[2], channels = (int) v.shape()[0] / copies;
                                float[] kernels = options.shortConvInit().kernels(channels, taps, convRnd);
                                w.write(v.name(), HeadCopies.repeat(kernels, teacherKv, channels / teacherKv * taps, copies));
                            }
                            default -> {
                                boolean exact = s.copies() > 1 ? copyHeads(w, v.name(), st, s.teacherName(), outType, teacherKv, s.copies())
                                        : copy(w, v.name(), st, s.teacherName(), outType);
                                if (exact) bitExact++;
                                copied++;
                            }
                        }
                    }
                    w.commit();
                }
                student.write(out.path());
                TokenizerFiles.copy(out.path(), teacherDir);
                out.commit();
            }
            long teacherParams = teacher.parameterCount().total();
            return new ConversionReport(teacherDir, outDir, teacher, teacherType, student, outType, options,
                    teacherParams, layout.size(), copied, bitExact);
        }
    }

    /**
     * The student's config for {@code teacher}: the teacher's sizes, {@code M} slots and τ from the
     * options, and an attention spec for the kept layers. Refuses, with one line, what fla's layers
     * cannot hold.
     */
    public static GsaConfig studentConfig(LlamaConfig teacher, ConvertOptions o, String teacherName) {
        int L = teacher.numHiddenLayers(), d = teacher.hiddenSize();
        if (teacher.attentionBias()) {
            throw new T2rException("the teacher has attention biases (attention_bias: true); fla's GSA layers have no "
                    + "q/k/v biases and its attention layers no o_proj bias: cannot convert");
        }
        if (teacher.mlpBias()) {
            throw new T2rException("the teacher has MLP biases (mlp_bias: true); fla's GatedMLP has none: cannot convert");
        }
        for (int l : o.keepAttention()) {
            if (l < 0 || l >= L) {
                throw new T2rException("--keep-attention (student.keep_attention): layer " + l + " does not exist (the teacher has layers 0.."
                        + (L - 1) + ")");
            }
        }
        if (o.keepAttention().size() == L) {
            throw new T2rException("--keep-attention (student.keep_attention) keeps all " + L + " layers: the student would have no GSA layer");
        }
        List<GsaConfig.AttentionSpec> attn = new ArrayList<>();
        // one spec per window (fla's attn config holds one window per spec), in order of their first layer
        java.util.Map<Integer, List<Integer>> byWindow = new java.util.LinkedHashMap<>();
        for (int l : o.keepAttention()) {
            Integer w = o.windows().containsKey(l) ? o.windows().get(l) : teacher.slidingWindow();
            byWindow.computeIfAbsent(w == null ? 0 : w, x -> new ArrayList<>()).add(l);
        }
        RopeParameters rope = teacher.rope();
        for (var e : byWindow.entrySet()) {
            attn.add(new GsaConfig.AttentionSpec(e.getValue(), teacher.numAttentionHeads(),
                    teacher.numKeyValueHeads(), false, e.getKey() == 0 ? null : e.getKey(), rope.theta(),
                    teacher.queryDim() == d ? null : Integer.valueOf(teacher.headDim()),
                    rope.type() == RopeParameters.Type.DEFAULT ? null : rope, null));
        }
        int kvHeads = gsaKvHeads(teacher, o.kvHeads());
        int qd = teacher.queryDim();
        double expand = GsaConfig.expandFor(d, qd);
        ObjectNode provenance = JsonNodeFactory.instance.objectNode();
        provenance.put("converted_by", "t2r convert");
        provenance.put("teacher", teacherName);
        provenance.put("teacher_architecture", teacher.architecture());
        provenance.put("gate_init", o.gateInit().cliName());
        provenance.put("seed", o.seed());
        if (o.shortConv() > 0) provenance.put("short_conv_init", o.shortConvInit().cliName());
        if (kvHeads != teacher.numKeyValueHeads()) provenance.put("kv_heads_copied_from", teacher.numKeyValueHeads());
        return new GsaConfig(d, L, teacher.numAttentionHeads(), kvHeads, o.slots(),
                o.gateNormalizer(), expand, expand, teacher.intermediateSize(), 4, teacher.rmsNormEps(),
                teacher.vocabSize(), teacher.tieWordEmbeddings(), teacher.bosTokenIds(), teacher.eosTokenIds(),
                teacher.maxPositionEmbeddings(), attn, o.shortConv(), null, provenance);
    }

    /**
     * The GSA layers' kv heads: the teacher's for 0, else {@code requested}, which must be a multiple of the teacher's
     * (every teacher kv head gets as many copies) and divide its query heads (every copy is read by as many).
     */
    static int gsaKvHeads(LlamaConfig teacher, int requested) {
        int H = teacher.numAttentionHeads(), Hkv = teacher.numKeyValueHeads();
        if (requested == 0) return Hkv;
        if (requested % Hkv != 0 || H % requested != 0) {
            throw new T2rException("--kv-heads (student.kv_heads) " + requested + ": the GSA layers' kv heads must be a multiple "
                    + "of the teacher's " + Hkv + " that divides its " + H + " query heads");
        }
        return requested;
    }

    /**
     * A student tensor and the teacher tensor it is copied from (null: new, made by the converter); {@code copies} &gt; 1
     * for a GSA layer's k or v projection with more kv heads than the teacher's, each teacher head's rows written that many
     * times in a row.
     */
    record Source(ParameterView view, String teacherName, int copies) {
        Source(ParameterView view, String teacherName) {
            this(view, teacherName, 1);
        }
    }

    /**
     * Pairs every student tensor with its teacher tensor and checks shapes against the teacher's files;
     * refuses teacher tensors that the student would drop (config and weights disagree).
     */
    static List<Source> plan(GsaLayout layout, LlamaConfig teacher, SafeTensors st) {
        List<Source> plan = new ArrayList<>();
        Set<String> used = new HashSet<>();
        for (ParameterView v : layout.views()) {
            if (v.kind() == ParameterView.Kind.Q_BIAS || v.kind() == ParameterView.Kind.K_BIAS || v.kind() == ParameterView.Kind.V_BIAS) {
                throw new IllegalStateException("a converted student has no biases");
            }
            LlamaTensor t = LlamaTensor.sourceOf(v.kind());
            if (t == null) {
                plan.add(new Source(v, null));
                if (v.kind() == ParameterView.Kind.F_PROJ) {
                    st.expect(LlamaTensor.K_PROJ.hfName(v.layer()), LlamaTensor.K_PROJ.shape(teacher));
                }
                continue;
            }
            String name = t.hfName(Math.max(v.layer(), 0));
            TensorInfo info = st.expect(name, t.shape(teacher));
            boolean kv = v.kind() == ParameterView.Kind.K_PROJ || v.kind() == ParameterView.Kind.V_PROJ;
            int copies = kv && layout.config().isGsaLayer(v.layer()) ? layout.config().numKvHeads() / teacher.numKeyValueHeads() : 1;
            long[] expected = info.shape();
            expected[0] *= copies;                                      // a GSA layer's k or v: every teacher head copied
            if (!java.util.Arrays.equals(expected, v.shape())) {
                throw new IllegalStateException(name + " " + info.shapeString() + (copies > 1 ? " x " + copies + " kv-head copies" : "")
                        + " does not fit " + v);
            }
            if (!info.dtype().isFloating()) {
                throw new T2rException(info.file() + ": tensor '" + name + "' is " + info.dtype() + ", not a float type");
            }
            used.add(name);
            plan.add(new Source(v, name, copies));
        }
        for (String name : st.tensors().keySet()) {
            boolean ignorable = name.endsWith(".rotary_emb.inv_freq")
                    || (teacher.tieWordEmbeddings() && name.equals(LlamaTensor.LM_HEAD.hfName(0)));
            if (!used.contains(name) && !ignorable) {
                throw new T2rException(st.info(name).file() + ": unexpected tensor '" + name + "' for a "
                        + teacher.architecture() + " with this config.json: the student would drop it");
            }
        }
        return plan;
    }

    /**
     * Writes teacher tensor {@code from} as student tensor {@code to}: its bytes as they are when the
     * dtypes agree (returns true), else converted piece by piece.
     */
    private static boolean copy(TensorWriter w, String to, SafeTensors st, String from, DType outType) {
        TensorInfo info = st.info(from);
        MemorySegment bytes = st.bytes(from);
        if (info.dtype() == outType) {
            w.write(to, bytes);
            return true;
        }
        long n = info.numel();
        float[] buf = new float[(int) Math.min(PIECE, n)];
        try (TensorSink sink = w.stream(to)) {
            for (long i = 0; i < n; i += PIECE) {
                int count = (int) Math.min(PIECE, n - i);
                Floats.decode(info.dtype(), bytes, i * info.dtype().byteSize(), buf, 0, count);
                sink.putFloats(buf, 0, count);
            }
        }
        return false;
    }

    /**
     * Writes teacher tensor {@code from} ({@code heads} blocks of rows) as student tensor {@code to} with every block
     * written {@code copies} times in a row. The values pass through fp32: their bits are kept (returns true) when the
     * dtypes agree, else they are converted.
     */
    private static boolean copyHeads(TensorWriter w, String to, SafeTensors st, String from, DType outType, int heads, int copies) {
        TensorInfo info = st.info(from);
        MemorySegment bytes = st.bytes(from);
        int block = Math.toIntExact(info.numel() / heads);
        float[] buf = new float[block];
        try (TensorSink sink = w.stream(to)) {
            for (int h = 0; h < heads; h++) {
                Floats.decode(info.dtype(), bytes, (long) h * block * info.dtype().byteSize(), buf, 0, block);
                for (int c = 0; c < copies; c++) sink.putFloats(buf, 0, block);
            }
        }
        return info.dtype() == outType;
    }

    /** The teacher's storage type: that of its embedding tensor (what its files hold, whatever config.json says). */
    static DType teacherType(SafeTensors st) {
        return st.info(LlamaTensor.EMBED_TOKENS.hfName(0)).dtype();
    }
}
