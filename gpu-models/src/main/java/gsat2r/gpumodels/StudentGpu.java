package gsat2r.gpumodels;

import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.model.gsa.GsaLayout;
import gsat2r.core.model.gsa.GsaModel;
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
import java.util.function.IntConsumer;

/**
 * A GSA student on the GPU, forward and backward, the counterpart of {@link GsaModel} (whose layout it
 * keeps: {@link GsaLayout}, fla's tensors in state_dict order in one buffer):
 * <ul>
 * <li>{@link #master}: fp32 master weights, one buffer in the student's layout;</li>
 * <li>{@link #work}: the compute copy in the precision's type (bf16: refreshed from the master after every
 *     update; fp32: the master itself);</li>
 * <li>{@link #grad}: fp32 gradients in the same layout (weight gradients accumulate).</li>
 * </ul>
 * Per block {@code h += mixer(attn_norm(h)); h += mlp(mlp_norm(h))}, final norm, lm_head (or the
 * embeddings when tied). Backward descends only as far as the lowest layer holding a trainable tensor.
 */
final class StudentGpu implements StudentParams, AutoCloseable {

    /** What a forward pass keeps. */
    enum Memory {
        /** Every activation the backward needs. */
        KEEP,
        /** Only each block's input; the backward recomputes a block's activations before using them. */
        RECOMPUTE,
        /** Nothing: evaluation and inference. */
        NONE
    }

    final GsaModel host;      // the layout and, on demand (syncHost), the weights on the host
    final GsaConfig config;
    final GsaLayout layout;
    private final Gpu gpu;
    private final ElementType type;
    final DeviceBuffer master, work, grad;
    private final List<BlockGpu> blocks = new ArrayList<>();
    private final ParameterView embeddings, finalNorm, output;
    /** Per layer, the lowest buffer offset of its tensors: where the gradients are final after its backward. */
    private final int[] blockOffsets;
    private final float eps;

    StudentGpu(Gpu gpu, GsaModel host, ElementType type, Path where) {
        this.gpu = gpu;
        this.host = host;
        this.config = host.config();
        this.layout = host.layout();
        this.type = type;
        checkSupported(config, where);
        long size = layout.size();
        DeviceBuffer m = null, w = null, g = null;
        try {
            m = gpu.f32(size);
            m.copyFrom(host.parameters());
            w = type == ElementType.F32 ? m : gpu.bf16(size);
            g = gpu.f32(size);
            g.zero();
            this.master = m;
            this.work = w;
            this.grad = g;
            refreshWork();
            for (int l = 0; l < config.numHiddenLayers(); l++) blocks.add(new BlockGpu(this, layout, l, where));
        } catch (RuntimeException e) {
            if (g != null) g.close();
            if (w != null && w != m) w.close();
            if (m != null) m.close();
            throw e;
        }
        this.embeddings = layout.get(Kind.EMBEDDINGS, -1);
        this.finalNorm = layout.get(Kind.FINAL_NORM, -1);
        this.output = layout.outputProjection();
        this.blockOffsets = new int[config.numHiddenLayers()];
        for (int l = 0; l < blockOffsets.length; l++) {
            int layer = l;
            blockOffsets[l] = layout.views().stream().filter(v -> v.layer() == layer).mapToInt(ParameterView::offset).min().orElseThrow();
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
        return work.view(v.offset(), v.size());
    }

    @Override
    public DeviceBuffer g(ParameterView v) {
        return grad.view(v.offset(), v.size());
    }

    DeviceBuffer masterView(ParameterView v) {
        return master.view(v.offset(), v.size());
    }

    /** Makes the compute copy equal the master weights again (after they changed outside the optimizer). */
    void refreshWork() {
        if (work != master) Convert.toBf16(gpu, work, master, master.length());
    }

    void refreshWork(ParameterView v) {
        if (work != master) Convert.toBf16(gpu, w(v), masterView(v), v.size());
    }

    /** Copies the master weights into {@link #host}'s parameter array (for saving). */
    void syncHost() {
        float[] p = host.parameters();
        float[] chunk;
        for (ParameterView v : layout.views()) {
            chunk = masterView(v).toFloatArray();
            System.arraycopy(chunk, 0, p, v.offset(), chunk.length);
        }
    }

    List<BlockGpu> blocks() {
        return blocks;
    }

    int vocabSize() {
        return config.vocabSize();
    }

    // ------------------------------------------------------------------ forward / backward

    /** The residual stream entering every block ({@code hidden[L]} leaves the last), the kept passes, the final norm, the logits. */
    static final class Forward implements AutoCloseable {
        final DeviceBatch batch;
        final DeviceBuffer[] hidden;
        final BlockGpu.Pass[] passes;
        DeviceBuffer finalRstd, normed, logits;

        Forward(DeviceBatch batch, int layers) {
            this.batch = batch;
            this.hidden = new DeviceBuffer[layers + 1];
            this.passes = new BlockGpu.Pass[layers];
        }

        @Override
        public void close() {
            for (BlockGpu.Pass p : passes) if (p != null) p.close();
            for (DeviceBuffer h : hidden) if (h != null) h.close();
            for (DeviceBuffer b : new DeviceBuffer[] {finalRstd, normed, logits}) if (b != null) b.close();
        }
    }

    /** The forward pass over the batch; {@link Forward#logits} is {@code [B·T, V]} in the compute type. */
    Forward forward(DeviceBatch b, Memory memory) {
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
            f.logits = gpu.allocate(type, (long) n * V);
            Matmul.linearForward(gpu, f.logits, f.normed, w(output), n, d, V);
            return f;
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
    }

    /**
     * Backward from {@code dLogits = dL/dlogits [B·T, V]} (may be the logits buffer itself): ADDS the
     * gradients of the tensors in {@code trainable} to {@link #grad}.
     */
    void backward(Forward f, DeviceBuffer dLogits, ParameterGroup trainable, boolean recomputed) {
        backward(f, dLogits, trainable, recomputed, from -> {});
    }

    /**
     * As {@link #backward(Forward, DeviceBuffer, ParameterGroup, boolean)}, calling
     * {@code gradientsFinalFrom.accept(x)} whenever the kernels that write the gradients at every buffer
     * offset ≥ x have all been queued on the stream (x decreasing: after the head, after the final norm,
     * after each block, {@code accept(0)} last), as {@code GsaModel.backward} does on the host: work queued
     * on the stream from the callback sees those gradients final, which is how a data-parallel backend
     * starts reducing the top of the layout while the rest of the backward runs.
     */
    void backward(Forward f, DeviceBuffer dLogits, ParameterGroup trainable, boolean recomputed, IntConsumer gradientsFinalFrom) {
        DeviceBatch b = f.batch;
        int n = b.tokens, d = config.hiddenSize(), V = config.vocabSize(), L = blocks.size();
        int lowest = lowestTrainableLayer(trainable);
        boolean needHidden = lowest < L;
        if (trainable.contains(output)) Matmul.linearBackwardWeight(gpu, g(output), dLogits, f.normed, n, d, V, true);
        if (output.offset() != embeddings.offset()) gradientsFinalFrom.accept(output.offset());   // tied: the head adds to the embeddings
        if (!needHidden && !trainable.contains(finalNorm)) {
            gradientsFinalFrom.accept(0);
            return;
        }
        try (Buffers s = buffers()) {
            DeviceBuffer dNormed = s.t((long) n * d), dh = s.t((long) n * d);
            Matmul.linearBackwardInput(gpu, dNormed, dLogits, w(output), n, d, V, false);
            RmsNorm.backwardDeterministic(gpu, dh, trainable.contains(finalNorm) ? g(finalNorm) : null, dNormed, f.hidden[L],
                    w(finalNorm), f.finalRstd, n, d, false);
            gradientsFinalFrom.accept(finalNorm.offset());
            for (int l = L - 1; l >= Math.max(lowest, 0); l--) {
                BlockGpu block = blocks.get(l);
                BlockGpu.Pass pass = f.passes[l];
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
        final KvRingGpu[] caches = new KvRingGpu[blocks.size()];

        DecodeState(int initialCapacity) {
            for (BlockGpu b : blocks) {
                if (b.mixer instanceof GsaLayerGpu g) states[b.layer] = new gsat2r.gpu.ops.Gsa.State[] {g.newState(), g.newState()};
                else caches[b.layer] = ((AttentionLayerGpu) b.mixer).newCache(initialCapacity);
            }
        }

        /** Bytes held: fp32 recurrent states (one of each pair) and the KV rings. */
        long bytes() {
            long n = 0;
            for (var st : states) if (st != null) n += st[0].hk().byteSize() + st[0].hv().byteSize();
            for (KvRingGpu c : caches) if (c != null) n += c.bytes();
            return n;
        }

        @Override
        public void close() {
            for (var st : states) if (st != null) for (var x : st) {
                x.hk().close();
                x.hv().close();
            }
            for (KvRingGpu c : caches) if (c != null) c.close();
        }
    }

    /** Feeds {@code ids} at positions {@code pos0 ..} of one sequence; returns the last token's logits (fp32, host). */
    float[] decode(int[] ids, int pos0, DecodeState state) {
        int T = ids.length, d = config.hiddenSize(), V = config.vocabSize();
        try (Buffers s = buffers()) {
            DeviceBuffer idsBuf = s.own(gpu.upload(ids));
            DeviceBuffer h = s.t((long) T * d), x = s.t((long) T * d);
            Embedding.forward(gpu, h, idsBuf, w(embeddings), T, d, V);
            for (BlockGpu b : blocks) {
                try (Buffers layer = buffers()) {
                    b.attnNorm(x, null, h, T);
                    DeviceBuffer mixed = b.mixer instanceof GsaLayerGpu g ? g.decode(layer, x, T, state.states[b.layer])
                            : ((AttentionLayerGpu) b.mixer).decode(layer, x, T, pos0, state.caches[b.layer]);
                    gsat2r.gpu.ops.Elementwise.add(gpu, h, h, mixed, (long) T * d);
                    RmsNorm.forward(gpu, x, null, h, w(b.mlpNorm), T, d, eps);
                    try (MlpGpu.Pass m = b.mlp.forward(x, T)) {
                        gsat2r.gpu.ops.Elementwise.add(gpu, h, h, m.out(), (long) T * d);
                    }
                }
            }
            DeviceBuffer lastX = x.view((long) (T - 1) * d, d);
            RmsNorm.forward(gpu, lastX, null, h.view((long) (T - 1) * d, d), w(finalNorm), 1, d, eps);
            DeviceBuffer logits = s.t(V);
            Matmul.linearForward(gpu, logits, lastX, w(output), 1, d, V);
            return logits.toFloatArray();
        }
    }

    /** The lowest block holding a tensor of the group: -1 when the embeddings are in it, L when no block is. */
    int lowestTrainableLayer(ParameterGroup trainable) {
        if (trainable.contains(embeddings)) return -1;
        for (BlockGpu b : blocks) {
            for (ParameterView v : b.views()) if (trainable.contains(v)) return b.layer;
        }
        return blocks.size();
    }

    @Override
    public void close() {
        for (BlockGpu b : blocks) b.close();
        grad.close();
        if (work != master) work.close();
        master.close();
    }
}
