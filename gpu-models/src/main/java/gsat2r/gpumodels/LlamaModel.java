package gsat2r.gpumodels;

import gsat2r.core.T2rException;
import gsat2r.core.config.LlamaConfig;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.cpu.Rope;
import gsat2r.core.model.llama.LlamaTensor;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.TensorInfo;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.ops.Attention;
import gsat2r.gpu.ops.Elementwise;
import gsat2r.gpu.ops.Embedding;
import gsat2r.gpu.ops.Matmul;
import gsat2r.gpu.ops.RmsNorm;
import gsat2r.gpu.ops.SwiGlu;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A Hugging Face Llama/Mistral teacher resident on the GPU, forward only, the counterpart of
 * {@link gsat2r.core.model.llama.LlamaModel}:
 * <pre>
 * h = embed(ids)
 * per layer:  h += o_proj(attention(rope(q_proj(n)), rope(k_proj(n)), v_proj(n)))   n = input_layernorm(h)
 *             h += down_proj(silu(gate_proj(n)) ⊙ up_proj(n))                       n = post_attention_layernorm(h)
 * logits = lm_head(norm(h))
 * </pre>
 * Weights are held in the compute type (bf16 checkpoints are copied byte for byte in bf16 mode); RoPE's
 * tables are LlamaModel's exactly (inv_freq rounded to the checkpoint's dtype, as {@code LlamaModel.load}
 * does). Attention is the flash kernel (GQA, Mistral's sliding window). Batches are B whole sequences
 * from position 0; {@link #decodeStep} runs tokens one at a time against a KV cache.
 */
final class LlamaModel implements AutoCloseable {

    /** Sees each layer's residual input and attention output during a forward pass (attention transfer). */
    interface LayerHook {
        /** Called after layer {@code l}'s attention: {@code hIn} the residual entering the layer, {@code attnOut} what it adds (both {@code [B·T, d]}, valid during the call). */
        void layer(int l, DeviceBuffer hIn, DeviceBuffer attnOut);

        /** The last layer the hook needs (the pass stops after it when no logits are wanted). */
        int lastLayer();
    }

    private record Layer(DeviceBuffer inNorm, DeviceBuffer wq, DeviceBuffer wk, DeviceBuffer wv, DeviceBuffer wo,
                         DeviceBuffer postNorm, DeviceBuffer wGate, DeviceBuffer wUp, DeviceBuffer wDown) {
        List<DeviceBuffer> all() {
            return List.of(inNorm, wq, wk, wv, wo, postNorm, wGate, wUp, wDown);
        }
    }

    final LlamaConfig config;
    private final ModelDirectory dir;
    private final Gpu gpu;
    private final ElementType type;
    private final DeviceBuffer embedding, finalNorm, lmHead;
    private final List<Layer> layers;
    private final DeviceRope rope;
    private final int window;
    private final float scale, eps;
    private final DType ropeFrequencyType;

    private LlamaModel(ModelDirectory dir, Gpu gpu, ElementType type, DeviceBuffer embedding, List<Layer> layers,
                       DeviceBuffer finalNorm, DeviceBuffer lmHead, DType ropeFrequencyType) {
        this.dir = dir;
        this.config = dir.teacherConfig();
        this.gpu = gpu;
        this.type = type;
        this.embedding = embedding;
        this.layers = layers;
        this.finalNorm = finalNorm;
        this.lmHead = lmHead;
        this.ropeFrequencyType = ropeFrequencyType;
        this.rope = new DeviceRope(gpu, Rope.roundTo(Rope.inverseFrequencies(config.rope(), config.headDim()), ropeFrequencyType));
        this.window = config.slidingWindow() == null ? 0 : config.slidingWindow();
        this.scale = gsat2r.core.cpu.Attention.defaultScale(config.headDim());
        this.eps = (float) config.rmsNormEps();
    }

    /** Loads {@code dir} (config.json and safetensors) onto the GPU in {@code type}, tensor by tensor. */
    static LlamaModel load(Gpu gpu, ModelDirectory dir, ElementType type) {
        LlamaConfig c = dir.teacherConfig();
        checkSupported(c, dir.path());
        List<DeviceBuffer> loaded = new ArrayList<>();
        try (SafeTensors st = dir.openWeights()) {
            DeviceBuffer embed = upload(gpu, st, LlamaTensor.EMBED_TOKENS.hfName(0), LlamaTensor.EMBED_TOKENS.shape(c), type, loaded);
            List<Layer> layers = new ArrayList<>();
            for (int l = 0; l < c.numHiddenLayers(); l++) {
                final int layer = l;
                java.util.function.Function<LlamaTensor, DeviceBuffer> get =
                        t -> upload(gpu, st, t.hfName(layer), t.shape(c), type, loaded);
                layers.add(new Layer(get.apply(LlamaTensor.INPUT_NORM), get.apply(LlamaTensor.Q_PROJ), get.apply(LlamaTensor.K_PROJ),
                        get.apply(LlamaTensor.V_PROJ), get.apply(LlamaTensor.O_PROJ), get.apply(LlamaTensor.POST_ATTENTION_NORM),
                        get.apply(LlamaTensor.GATE_PROJ), get.apply(LlamaTensor.UP_PROJ), get.apply(LlamaTensor.DOWN_PROJ)));
            }
            DeviceBuffer norm = upload(gpu, st, LlamaTensor.FINAL_NORM.hfName(0), LlamaTensor.FINAL_NORM.shape(c), type, loaded);
            DeviceBuffer head = c.tieWordEmbeddings() ? embed
                    : upload(gpu, st, LlamaTensor.LM_HEAD.hfName(0), LlamaTensor.LM_HEAD.shape(c), type, loaded);
            DType ropeType = c.storageType() != null ? c.storageType() : st.info(LlamaTensor.EMBED_TOKENS.hfName(0)).dtype();
            return new LlamaModel(dir, gpu, type, embed, layers, norm, head, ropeType);
        } catch (RuntimeException e) {
            for (DeviceBuffer b : loaded) b.close();
            throw e;
        }
    }

    /** What the GPU kernels cannot run yet, refused with one line naming the config. */
    static void checkSupported(LlamaConfig c, Path dir) {
        String where = dir.resolve(LlamaConfig.FILE_NAME) + ": ";
        if (c.attentionBias() || c.mlpBias()) {
            throw new T2rException(where + "attention_bias/mlp_bias: the CUDA models have no bias kernels yet; use --device cpu");
        }
        if (c.headDim() != 64 && c.headDim() != 128) {
            throw new T2rException(where + "head_dim " + c.headDim() + ": the CUDA attention kernels take head dims 64 and 128; "
                    + "use --device cpu");
        }
    }

    /** A tensor checked against its shape and copied onto the device in {@code type} (raw bytes when the dtypes match). */
    static DeviceBuffer upload(Gpu gpu, SafeTensors st, String name, long[] shape, ElementType type, List<DeviceBuffer> loaded) {
        TensorInfo info = st.expect(name, shape);
        DeviceBuffer b = gpu.allocate(type, info.numel());
        loaded.add(b);
        ComputeType.upload(b, st, name);
        return b;
    }

    /** The directory this teacher was loaded from. */
    ModelDirectory dir() {
        return dir;
    }

    /** The device tensor of {@code t} (in layer {@code layer} for per-layer tensors): what a student may share. */
    DeviceBuffer tensor(LlamaTensor t, int layer) {
        Layer w = t.scope() == LlamaTensor.Scope.LAYER ? layers.get(layer) : null;
        return switch (t) {
            case EMBED_TOKENS -> embedding;
            case FINAL_NORM -> finalNorm;
            case LM_HEAD -> lmHead;
            case INPUT_NORM -> w.inNorm();
            case Q_PROJ -> w.wq();
            case K_PROJ -> w.wk();
            case V_PROJ -> w.wv();
            case O_PROJ -> w.wo();
            case POST_ATTENTION_NORM -> w.postNorm();
            case GATE_PROJ -> w.wGate();
            case UP_PROJ -> w.wUp();
            case DOWN_PROJ -> w.wDown();
            default -> throw new IllegalArgumentException("no device tensor " + t);
        };
    }

    /** Device bytes of the weights. */
    long weightBytes() {
        long n = embedding.byteSize() + finalNorm.byteSize() + (lmHead == embedding ? 0 : lmHead.byteSize());
        for (Layer l : layers) for (DeviceBuffer b : l.all()) n += b.byteSize();
        return n;
    }

    /** The output projection ({@code lm_head}, or the embeddings when tied) in the compute type. */
    DeviceBuffer head() {
        return lmHead;
    }

    ElementType type() {
        return type;
    }

    int vocabSize() {
        return config.vocabSize();
    }

    /** The attention window (0: full attention). */
    int window() {
        return window;
    }

    /** The dtype RoPE's inverse frequencies were rounded to (LlamaModel.load's rule). */
    DType ropeFrequencyType() {
        return ropeFrequencyType;
    }

    /**
     * The forward pass over the batch. Calls {@code hook} (may be null) at every layer; returns the logits
     * {@code [B·T, V]} in the compute type (the caller closes them), or null when {@code wantLogits} is false.
     */
    DeviceBuffer forward(DeviceBatch b, LayerHook hook, boolean wantLogits) {
        DeviceBuffer normed = run(b, hook, wantLogits);
        if (normed == null) return null;
        try (normed) {
            DeviceBuffer logits = gpu.allocate(type, (long) b.tokens * config.vocabSize());
            Matmul.linearForward(gpu, logits, normed, lmHead, b.tokens, config.hiddenSize(), config.vocabSize());
            return logits;
        }
    }

    /**
     * The forward pass to the final norm: {@code norm(h) [B·T, d]} in the compute type (the caller closes it;
     * the logits are its rows times {@link #head()}ᵀ, which a chunked loss computes a block of rows at a time), or
     * null when {@code wantHidden} is false (the hook has seen every layer it wanted).
     */
    DeviceBuffer forwardHidden(DeviceBatch b, LayerHook hook, boolean wantHidden) {
        return run(b, hook, wantHidden);
    }

    private DeviceBuffer run(DeviceBatch b, LayerHook hook, boolean wantLogits) {
        LlamaConfig c = config;
        int n = b.tokens, d = c.hiddenSize(), I = c.intermediateSize(), qd = c.queryDim(), kvd = c.keyValueDim();
        rope.ensure(b.seqLen);
        int last = wantLogits || hook == null ? layers.size() - 1 : Math.min(hook.lastLayer(), layers.size() - 1);
        try (Buffers s = new Buffers(gpu, type)) {
            DeviceBuffer h = s.t((long) n * d), x = s.t((long) n * d), q = s.t((long) n * qd), k = s.t((long) n * kvd);
            DeviceBuffer v = s.t((long) n * kvd), att = s.t((long) n * qd), a = s.t((long) n * d);
            DeviceBuffer gate = s.t((long) n * I), up = s.t((long) n * I);
            Embedding.forward(gpu, h, b.ids, embedding, n, d, c.vocabSize());
            for (int l = 0; l <= last; l++) {
                Layer w = layers.get(l);
                attention(w, b, h, x, q, k, v, att, a);
                if (hook != null) hook.layer(l, h, a);
                Elementwise.add(gpu, h, h, a, (long) n * d);
                RmsNorm.forward(gpu, x, null, h, w.postNorm(), n, d, eps);
                mlp(w, x, gate, up, a, n);
                Elementwise.add(gpu, h, h, a, (long) n * d);
            }
            if (!wantLogits) return null;
            DeviceBuffer normed = gpu.allocate(type, (long) n * d);
            RmsNorm.forward(gpu, normed, null, h, finalNorm, n, d, eps);
            return normed;
        }
    }

    /**
     * Layer {@code l}'s self-attention output (after o_proj) on the residual {@code h} {@code [B·T, d]} of the batch's
     * sequences, into {@code out}: what that layer adds to whatever residual it is given (the counterpart of
     * {@link gsat2r.core.model.llama.LlamaModel#attentionOutput}). Attention transfer on a student's own hidden
     * states asks it of the student's residual.
     */
    void attentionOutput(int l, DeviceBatch b, DeviceBuffer h, DeviceBuffer out) {
        LlamaConfig c = config;
        long n = b.tokens;
        rope.ensure(b.seqLen);
        try (Buffers s = new Buffers(gpu, type)) {
            attention(layers.get(l), b, h, s.t(n * c.hiddenSize()), s.t(n * c.queryDim()), s.t(n * c.keyValueDim()),
                    s.t(n * c.keyValueDim()), s.t(n * c.queryDim()), out);
        }
    }

    /** Into {@code out}: o_proj(attention(rope(q), rope(k), v)) on input_layernorm(h); x, q, k, v, att are scratch. */
    private void attention(Layer w, DeviceBatch b, DeviceBuffer h, DeviceBuffer x, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v,
                           DeviceBuffer att, DeviceBuffer out) {
        LlamaConfig c = config;
        int n = b.tokens, d = c.hiddenSize(), qd = c.queryDim(), kvd = c.keyValueDim();
        int H = c.numAttentionHeads(), Hkv = c.numKeyValueHeads(), D = c.headDim();
        RmsNorm.forward(gpu, x, null, h, w.inNorm(), n, d, eps);
        Matmul.linearForward(gpu, q, x, w.wq(), n, d, qd);
        Matmul.linearForward(gpu, k, x, w.wk(), n, d, kvd);
        Matmul.linearForward(gpu, v, x, w.wv(), n, d, kvd);
        gsat2r.gpu.ops.Rope.forward(gpu, q, q, rope.cos(), rope.sin(), b.positions, n, H, D, qd, rope.positions());
        gsat2r.gpu.ops.Rope.forward(gpu, k, k, rope.cos(), rope.sin(), b.positions, n, Hkv, D, kvd, rope.positions());
        Attention.forward(gpu, new Attention.Shape(b.batch, b.seqLen, H, Hkv, D, window, scale), att, null, q, k, v);
        Matmul.linearForward(gpu, out, att, w.wo(), n, qd, d);
    }

    /** {@code out = down(silu(gate(x)) ⊙ up(x))}; gate and up are scratch of {@code [n, I]}. */
    private void mlp(Layer w, DeviceBuffer x, DeviceBuffer gate, DeviceBuffer up, DeviceBuffer out, int n) {
        int d = config.hiddenSize(), I = config.intermediateSize();
        Matmul.linearForward(gpu, gate, x, w.wGate(), n, d, I);
        Matmul.linearForward(gpu, up, x, w.wUp(), n, d, I);
        SwiGlu.forward(gpu, gate, gate, up, (long) n * I);
        Matmul.linearForward(gpu, out, gate, w.wDown(), n, I, d);
    }

    // ------------------------------------------------------------------ decoding

    /** One KV ring per layer for decoding one sequence. */
    KvRing[] newCaches(int initialCapacity) {
        KvRing[] caches = new KvRing[layers.size()];
        for (int l = 0; l < caches.length; l++) caches[l] = new KvRing(gpu, type, config.keyValueDim(), window, initialCapacity);
        return caches;
    }

    /**
     * Runs {@code ids} (positions {@code pos0 ..}) of one sequence, keeping their keys and values in
     * {@code caches}; returns the logits of the last token ({@code [V]}, fp32 on the host).
     */
    float[] decode(int[] ids, int pos0, KvRing[] caches) {
        return decodeRows(ids, pos0, caches, ids.length - 1)[0];
    }

    /**
     * As {@link #decode}, returning the logits after each token from index {@code first} on ({@code [T − first][V]},
     * fp32 on the host: the head's products are not rounded to bf16).
     */
    float[][] decodeRows(int[] ids, int pos0, KvRing[] caches, int first) {
        LlamaConfig c = config;
        int T = ids.length, d = c.hiddenSize(), qd = c.queryDim(), kvd = c.keyValueDim(), R = T - first;
        int H = c.numAttentionHeads(), Hkv = c.numKeyValueHeads(), D = c.headDim();
        rope.ensure(pos0 + T);
        int[] pos = new int[T];
        for (int i = 0; i < T; i++) pos[i] = pos0 + i;
        try (Buffers s = new Buffers(gpu, type)) {
            DeviceBuffer idsBuf = s.own(gpu.upload(ids)), posBuf = s.own(gpu.upload(pos));
            DeviceBuffer h = s.t((long) T * d), x = s.t((long) T * d), q = s.t((long) T * qd), k = s.t((long) T * kvd);
            DeviceBuffer v = s.t((long) T * kvd), att = s.t((long) T * qd), a = s.t((long) T * d);
            DeviceBuffer gate = s.t((long) T * c.intermediateSize()), up = s.t((long) T * c.intermediateSize());
            Embedding.forward(gpu, h, idsBuf, embedding, T, d, c.vocabSize());
            for (int l = 0; l < layers.size(); l++) {
                Layer w = layers.get(l);
                RmsNorm.forward(gpu, x, null, h, w.inNorm(), T, d, eps);
                Matmul.linearForward(gpu, q, x, w.wq(), T, d, qd);
                Matmul.linearForward(gpu, k, x, w.wk(), T, d, kvd);
                Matmul.linearForward(gpu, v, x, w.wv(), T, d, kvd);
                gsat2r.gpu.ops.Rope.forward(gpu, q, q, rope.cos(), rope.sin(), posBuf, T, H, D, qd, rope.positions());
                gsat2r.gpu.ops.Rope.forward(gpu, k, k, rope.cos(), rope.sin(), posBuf, T, Hkv, D, kvd, rope.positions());
                caches[l].attend(H, Hkv, D, scale, q, k, v, att, T, pos0);
                Matmul.linearForward(gpu, a, att, w.wo(), T, qd, d);
                Elementwise.add(gpu, h, h, a, (long) T * d);
                RmsNorm.forward(gpu, x, null, h, w.postNorm(), T, d, eps);
                mlp(w, x, gate, up, a, T);
                Elementwise.add(gpu, h, h, a, (long) T * d);
            }
            DeviceBuffer rowsX = x.view((long) first * d, (long) R * d);
            RmsNorm.forward(gpu, rowsX, null, h.view((long) first * d, (long) R * d), finalNorm, R, d, eps);
            DeviceBuffer logits = s.f32((long) R * c.vocabSize());
            Matmul.linearForward(gpu, logits, rowsX, lmHead, R, d, c.vocabSize());
            return GpuLanguageModels.rows(logits.toFloatArray(), R, c.vocabSize());
        }
    }

    @Override
    public void close() {
        rope.close();
        embedding.close();
        for (Layer l : layers) for (DeviceBuffer b : l.all()) b.close();
        finalNorm.close();
        if (lmHead != embedding) lmHead.close();
    }
}
