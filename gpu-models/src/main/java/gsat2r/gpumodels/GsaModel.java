package gsat2r.gpumodels;

import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.model.gsa.GsaLayout;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.gsa.ParameterGroup;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.core.model.gsa.ParameterView.Kind;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.ops.Convert;
import gsat2r.gpu.ops.Embedding;
import gsat2r.gpu.ops.Matmul;
import gsat2r.gpu.ops.RmsNorm;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;

/**
 * A GSA student on the GPU, forward and backward, the counterpart of {@link gsat2r.core.model.gsa.GsaModel}
 * (whose layout it keeps: {@link GsaLayout}, fla's tensors and names). Its tensors live in a
 * {@link StudentWeights} (one allocation each: compute copies, fp32 masters of what trains, fp32 gradients
 * of what trains now; frozen tensors equal to the teacher's are the teacher's memory). LoRA adapters, when a
 * stage sets them ({@link #lora}), add their low-rank path to the adapted projections.
 * Per block {@code h += mixer(attn_norm(h)); h += mlp(mlp_norm(h))}, final norm, lm_head (or the
 * embeddings when tied). Backward descends only as far as the lowest layer holding a trainable tensor.
 */
final class GsaModel implements StudentParams, AutoCloseable {

    /** What a forward pass keeps. */
    enum Memory {
        /** Every activation the backward needs. */
        KEEP,
        /** Only each block's input; the backward recomputes a block's activations before using them. */
        RECOMPUTE,
        /** Nothing: evaluation and inference. */
        NONE
    }

    final GsaConfig config;
    final GsaLayout layout;
    final StudentWeights weights;
    private final Gpu gpu;
    private final ElementType type;
    private final List<Block> blocks = new ArrayList<>();
    private final ParameterView embeddings, finalNorm, output;
    /** Per layer, the lowest layout offset of its tensors: where the gradients are final after its backward. */
    private final long[] blockOffsets;
    private final float eps;
    /** The running stage's adapters, or null. */
    LoraGpu lora;

    /** Loads the student of {@code dir} in {@code type}, sharing what it can with {@code teacher} (may be null). */
    GsaModel(Gpu gpu, ModelDirectory dir, ElementType type, LlamaModel teacher) {
        this.gpu = gpu;
        this.config = dir.studentConfig();
        this.layout = new GsaLayout(config);
        this.type = type;
        checkSupported(config, dir.configFile());
        this.weights = new StudentWeights(gpu, dir, layout, type, teacher);
        try {
            for (int l = 0; l < config.numHiddenLayers(); l++) blocks.add(new Block(this, layout, l, dir.path()));
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
        this.embeddings = layout.get(Kind.EMBEDDINGS, -1);
        this.finalNorm = layout.get(Kind.FINAL_NORM, -1);
        this.output = layout.outputProjection();
        this.blockOffsets = new long[config.numHiddenLayers()];
        for (int l = 0; l < blockOffsets.length; l++) {
            int layer = l;
            blockOffsets[l] = layout.views().stream().filter(v -> v.layer() == layer).mapToLong(ParameterView::offset).min().orElseThrow();
        }
        this.eps = (float) config.normEps();
    }

    /** Sizes the GSA kernels cannot run, refused with one line naming the config. */
    static void checkSupported(GsaConfig c, Path where) {
        if (c.gsaLayerCount() == 0) return;
        String problem = null;
        if (c.headKDim() % 64 != 0 || c.headVDim() % 64 != 0) {
            problem = "GSA head dims dk=" + c.headKDim() + ", dv=" + c.headVDim() + " (the CUDA kernels need multiples of 64)";
        } else if (c.numSlots() != 16 && c.numSlots() != 32 && c.numSlots() != 64) {
            problem = "num_slots " + c.numSlots() + " (the CUDA kernels take 16, 32 or 64)";
        }
        if (problem != null) throw new T2rException(where + ": " + problem + "; use device cpu");
    }

    @Override
    public Gpu gpu() {
        return gpu;
    }

    @Override
    public ElementType type() {
        return type;
    }

    @Override
    public DeviceBuffer w(ParameterView v) {
        return weights.compute(v);
    }

    @Override
    public DeviceBuffer g(ParameterView v) {
        return weights.gradient(v);
    }

    @Override
    public LoraGpu.Adapter adapter(ParameterView v) {
        return lora == null ? null : lora.adapterOf(v.name());
    }

    ParameterView output() {
        return output;
    }

    ParameterView finalNorm() {
        return finalNorm;
    }

    List<Block> blocks() {
        return blocks;
    }

    /** The token mixer of block {@code layer}. */
    Mixer mixer(int layer) {
        return blocks.get(layer).mixer;
    }

    int vocabSize() {
        return config.vocabSize();
    }

    // ------------------------------------------------------------------ forward / backward

    /** The residual stream entering every block ({@code hidden[L]} leaves the last), the kept passes, the final norm, the logits. */
    static final class Forward implements AutoCloseable {
        final DeviceBatch batch;
        final DeviceBuffer[] hidden;
        final Block.Pass[] passes;
        DeviceBuffer finalRstd, normed, logits;

        Forward(DeviceBatch batch, int layers) {
            this.batch = batch;
            this.hidden = new DeviceBuffer[layers + 1];
            this.passes = new Block.Pass[layers];
        }

        @Override
        public void close() {
            for (Block.Pass p : passes) if (p != null) p.close();
            for (DeviceBuffer h : hidden) if (h != null) h.close();
            for (DeviceBuffer b : new DeviceBuffer[] {finalRstd, normed, logits}) if (b != null) b.close();
        }
    }

    /**
     * The forward pass over the batch to the final norm ({@link Forward#normed}); with {@code wantLogits} also
     * {@link Forward#logits} {@code [B·T, V]} in the compute type (inference; training computes the logits a
     * block of rows at a time in its loss, {@link LogitLoss}).
     */
    Forward forward(DeviceBatch b, Memory memory, boolean wantLogits) {
        int n = b.tokens, d = config.hiddenSize(), L = blocks.size(), V = config.vocabSize();
        Forward f = new Forward(b, L);
        try {
            f.hidden[0] = gpu.allocate(type, (long) n * d);
            Embedding.forward(gpu, f.hidden[0], b.ids, w(embeddings), n, d, V);
            for (int l = 0; l < L; l++) {
                f.hidden[l + 1] = gpu.allocate(type, (long) n * d);
                f.passes[l] = blocks.get(l).forward(f.hidden[l], f.hidden[l + 1], b, memory == Memory.KEEP);
                if (memory == Memory.NONE) {
                    f.hidden[l].close();
                    f.hidden[l] = null;
                }
            }
            f.finalRstd = gpu.f32(n);
            f.normed = gpu.allocate(type, (long) n * d);
            RmsNorm.forward(gpu, f.normed, f.finalRstd, f.hidden[L], w(finalNorm), n, d, eps);
            if (wantLogits) {
                f.logits = gpu.allocate(type, (long) n * V);
                Matmul.linearForward(gpu, f.logits, f.normed, w(output), n, d, V);
            }
            return f;
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
    }

    /**
     * Backward from {@code dNormed = dL/d(norm(h)) [B·T, d]} (the head's own gradient and this input gradient
     * come from the loss, {@link LogitLoss}): ADDS the gradients of the tensors in {@code trainable}; may
     * overwrite {@code dNormed}. Calls {@code gradientsFinalFrom.accept(x)} whenever the kernels that write the
     * gradients at every layout offset ≥ x have all been queued on the stream (x decreasing: the head, after
     * the final norm, after each block, {@code accept(0)} last), as {@code GsaModel.backward} does on the host:
     * work queued on the stream from the callback sees those gradients final, which is how a data-parallel
     * backend starts reducing the top of the layout while the rest of the backward runs.
     */
    void backward(Forward f, DeviceBuffer dNormed, ParameterGroup trainable, boolean recomputed, LongConsumer gradientsFinalFrom) {
        DeviceBatch b = f.batch;
        int n = b.tokens, d = config.hiddenSize(), L = blocks.size();
        int lowest = lowestLayer(trainable);
        boolean needHidden = lowest < L;
        if (output.offset() != embeddings.offset()) gradientsFinalFrom.accept(output.offset());   // tied: the head adds to the embeddings
        if (!needHidden && !trainable.contains(finalNorm)) {
            gradientsFinalFrom.accept(0);
            return;
        }
        try (Buffers s = buffers()) {
            DeviceBuffer dh = s.t((long) n * d);
            RmsNorm.backwardDeterministic(gpu, dh, trainable.contains(finalNorm) ? g(finalNorm) : null, dNormed, f.hidden[L],
                    w(finalNorm), f.finalRstd, n, d, false);
            gradientsFinalFrom.accept(finalNorm.offset());
            for (int l = L - 1; l >= Math.max(lowest, 0); l--) {
                Block block = blocks.get(l);
                Block.Pass pass = f.passes[l];
                DeviceBuffer scratchOut = null;
                if (pass == null) {                       // recompute: the block again, keeping its activations
                    if (!recomputed) throw new IllegalStateException("the forward kept no activations for block " + l);
                    scratchOut = gpu.allocate(type, (long) n * d);
                    pass = block.forward(f.hidden[l], scratchOut, b, true);
                }
                try {
                    block.backward(pass, dh, l > lowest, trainable);
                } finally {
                    if (f.passes[l] == null) {
                        pass.close();
                        scratchOut.close();
                    } else {
                        f.passes[l].close();
                        f.passes[l] = null;
                    }
                }
                gradientsFinalFrom.accept(blockOffsets[l]);
            }
            if (lowest < 0) b.embeddingBackward(g(embeddings), dh, d);
        }
        gradientsFinalFrom.accept(0);
    }

    // ------------------------------------------------------------------ decoding

    /** The decoding state of one sequence: a GSA state (and a spare) per GSA layer, a KV ring per attention layer. */
    final class DecodeState implements AutoCloseable {
        final gsat2r.gpu.ops.Gsa.State[][] states = new gsat2r.gpu.ops.Gsa.State[blocks.size()][];
        final KvRing[] caches = new KvRing[blocks.size()];
        /** Per GSA layer with short convolutions, the last K − 1 projections of q, k and v in one buffer ({@link GsaMixer#newConvRows}). */
        final DeviceBuffer[] convBuffers = new DeviceBuffer[blocks.size()];
        /** The q, k and v parts of {@link #convBuffers} ({@link GsaMixer#convParts}). */
        final DeviceBuffer[][] convRows = new DeviceBuffer[blocks.size()][];

        DecodeState(int initialCapacity) {
            try {
                for (Block b : blocks) {
                    if (b.mixer instanceof GsaMixer g) {
                        states[b.layer] = new gsat2r.gpu.ops.Gsa.State[] {g.newState(), g.newState()};
                        convBuffers[b.layer] = g.newConvRows();
                        convRows[b.layer] = g.convParts(convBuffers[b.layer]);
                    } else {
                        caches[b.layer] = ((AttentionMixer) b.mixer).newCache(initialCapacity);
                    }
                }
            } catch (RuntimeException e) {
                close();
                throw e;
            }
        }

        /** Bytes held: fp32 recurrent states (one of each pair), convolution rows and the KV rings. */
        long bytes() {
            long n = 0;
            for (var st : states) if (st != null) n += st[0].hk().byteSize() + st[0].hv().byteSize();
            for (DeviceBuffer rows : convBuffers) if (rows != null) n += rows.byteSize();
            for (KvRing c : caches) if (c != null) n += c.bytes();
            return n;
        }

        @Override
        public void close() {
            for (var st : states) if (st != null) for (var x : st) {
                if (x == null) continue;
                x.hk().close();
                x.hv().close();
            }
            for (DeviceBuffer rows : convBuffers) if (rows != null) rows.close();
            for (KvRing c : caches) if (c != null) c.close();
        }
    }

    /** Feeds {@code ids} at positions {@code pos0 ..} of one sequence; returns the last token's logits (fp32, host). */
    float[] decode(int[] ids, int pos0, DecodeState state) {
        return decodeRows(ids, pos0, state, ids.length - 1)[0];
    }

    /**
     * Feeds {@code ids} at positions {@code pos0 ..} of one sequence; returns the logits after each token from index
     * {@code first} on ({@code [T − first][V]}, fp32 on the host: the head's products are not rounded to bf16).
     */
    float[][] decodeRows(int[] ids, int pos0, DecodeState state, int first) {
        int T = ids.length, d = config.hiddenSize(), V = config.vocabSize(), R = T - first;
        try (Buffers s = buffers()) {
            DeviceBuffer idsBuf = s.own(gpu.upload(ids));
            DeviceBuffer h = s.t((long) T * d), x = s.t((long) T * d);
            Embedding.forward(gpu, h, idsBuf, w(embeddings), T, d, V);
            for (Block b : blocks) {
                try (Buffers layer = buffers()) {
                    b.attnNorm(x, null, h, T);
                    DeviceBuffer mixed = b.mixer instanceof GsaMixer g ? g.decode(layer, x, T, state.states[b.layer], state.convRows[b.layer])
                            : ((AttentionMixer) b.mixer).decode(layer, x, T, pos0, state.caches[b.layer]);
                    gsat2r.gpu.ops.Elementwise.add(gpu, h, h, mixed, (long) T * d);
                    RmsNorm.forward(gpu, x, null, h, w(b.mlpNorm), T, d, eps);
                    try (GatedMlp.Pass m = b.mlp.forward(x, T)) {
                        gsat2r.gpu.ops.Elementwise.add(gpu, h, h, m.out(), (long) T * d);
                    }
                }
            }
            DeviceBuffer rowsX = x.view((long) first * d, (long) R * d);
            RmsNorm.forward(gpu, rowsX, null, h.view((long) first * d, (long) R * d), w(finalNorm), R, d, eps);
            DeviceBuffer logits = s.f32((long) R * V);
            Matmul.linearForward(gpu, logits, rowsX, w(output), R, d, V);
            return GpuLanguageModels.rows(logits.toFloatArray(), R, V);
        }
    }

    /**
     * The lowest block the backward must reach: the lowest holding a tensor of {@code trainable} or an
     * adapted projection; -1 when the embeddings train, L when no block does.
     */
    int lowestLayer(ParameterGroup trainable) {
        int lowest = lowestTrainableLayer(trainable);
        if (lora != null) lowest = Math.min(lowest, lora.lowestLayer());
        return lowest;
    }

    /** The lowest block holding a tensor of the group: -1 when the embeddings are in it, L when no block is. */
    int lowestTrainableLayer(ParameterGroup trainable) {
        if (trainable.contains(embeddings)) return -1;
        for (Block b : blocks) {
            for (ParameterView v : b.views()) if (trainable.contains(v)) return b.layer;
        }
        return blocks.size();
    }

    @Override
    public void close() {
        for (Block b : blocks) b.close();
        if (lora != null) lora.close();
        weights.close();
    }
}
