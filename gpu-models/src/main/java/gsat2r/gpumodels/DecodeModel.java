package gsat2r.gpumodels;

import gsat2r.core.config.GsaConfig;
import gsat2r.core.config.LlamaConfig;
import gsat2r.core.cpu.Rope;
import gsat2r.core.model.gsa.GsaLayout;
import gsat2r.core.model.gsa.ParameterView.Kind;
import gsat2r.core.model.llama.LlamaTensor;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.ops.AttentionDecode;
import gsat2r.gpu.ops.GsaDecode;

import java.util.ArrayList;
import java.util.List;

/**
 * What a decode step reads of a model, the same for the teacher and the student: the sizes, the embeddings, the
 * final norm and head, and per layer the mixer (a GSA layer, or softmax attention with its RoPE tables and
 * window) and the MLP, as device weights in the compute type. The weights are the model's own buffers; the RoPE
 * tables are this object's (the same values as the model's: one table per distinct set of frequencies).
 */
final class DecodeModel implements AutoCloseable {

    /** {@code down(silu(gate(n)) ⊙ up(n))}, {@code n = RMSNorm(h)·norm}. */
    record Mlp(DeviceBuffer norm, DeviceBuffer gate, DeviceBuffer up, DeviceBuffer down) {}

    /** A layer of a decode step: its mixer's weights and sizes, and the MLP. */
    sealed interface Layer permits GsaLayer, AttentionLayer {
        DeviceBuffer norm();

        Mlp mlp();

        /** Columns of the layer's fused input projection (q | k | v (| f)). */
        int projectionWidth();

        /** Columns of the mixer's output before its output projection. */
        int mixWidth();
    }

    /**
     * A GSA layer's short convolutions of q, k and v ({@code [width, 1, taps]} each), and where a sequence's last
     * {@code taps − 1} inputs of each sit in its history buffer (elements from its start: q's, then k's, then v's).
     */
    record Conv(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, int taps) {}

    /** {@code conv}: null without short convolutions. */
    record GsaLayer(DeviceBuffer norm, DeviceBuffer wq, DeviceBuffer wk, DeviceBuffer wv, DeviceBuffer wf, DeviceBuffer gateNorm,
                    DeviceBuffer wo, GsaDecode.Shape shape, float tau, Mlp mlp, Conv conv) implements Layer {
        int qWidth() {
            return shape.heads() * shape.keyDim();
        }

        int kWidth() {
            return shape.kvHeads() * shape.keyDim();
        }

        int vWidth() {
            return shape.kvHeads() * shape.valueDim();
        }

        int fWidth() {
            return shape.kvHeads() * shape.slots();
        }

        /** Elements of a sequence's convolution history (0 without one, or with one tap). */
        long convHistory() {
            return conv == null ? 0 : (long) (conv.taps() - 1) * (qWidth() + kWidth() + vWidth());
        }

        @Override
        public int projectionWidth() {
            return qWidth() + kWidth() + vWidth() + fWidth();
        }

        @Override
        public int mixWidth() {
            return shape.heads() * shape.valueDim();
        }
    }

    record AttentionLayer(DeviceBuffer norm, DeviceBuffer wq, DeviceBuffer wk, DeviceBuffer wv, DeviceBuffer wo,
                          AttentionDecode.Shape shape, DeviceRope rope, Mlp mlp) implements Layer {
        int qWidth() {
            return shape.heads() * shape.headDim();
        }

        int kvWidth() {
            return shape.kvHeads() * shape.headDim();
        }

        @Override
        public int projectionWidth() {
            return qWidth() + 2 * kvWidth();
        }

        @Override
        public int mixWidth() {
            return qWidth();
        }
    }

    final Gpu gpu;
    final ElementType type;
    final int hidden, vocab, intermediate;
    final float eps;
    final DeviceBuffer embedding, finalNorm, head;
    final List<Layer> layers;
    private final List<DeviceRope> ropes;

    private DecodeModel(Gpu gpu, ElementType type, int hidden, int vocab, int intermediate, float eps, DeviceBuffer embedding,
                        DeviceBuffer finalNorm, DeviceBuffer head, List<Layer> layers, List<DeviceRope> ropes) {
        this.gpu = gpu;
        this.type = type;
        this.hidden = hidden;
        this.vocab = vocab;
        this.intermediate = intermediate;
        this.eps = eps;
        this.embedding = embedding;
        this.finalNorm = finalNorm;
        this.head = head;
        this.layers = List.copyOf(layers);
        this.ropes = ropes;
    }

    /** The teacher: every layer softmax attention with the checkpoint's RoPE (inverse frequencies rounded as LlamaModel.load rounds them). */
    static DecodeModel of(Gpu gpu, LlamaModel m) {
        LlamaConfig c = m.config;
        DeviceRope rope = new DeviceRope(gpu, Rope.roundTo(Rope.inverseFrequencies(c.rope(), c.headDim()), m.ropeFrequencyType()));
        AttentionDecode.Shape shape = new AttentionDecode.Shape(c.numAttentionHeads(), c.numKeyValueHeads(), c.headDim(), m.window(),
                gsat2r.core.cpu.Attention.defaultScale(c.headDim()));
        List<Layer> layers = new ArrayList<>();
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            Mlp mlp = new Mlp(m.tensor(LlamaTensor.POST_ATTENTION_NORM, l), m.tensor(LlamaTensor.GATE_PROJ, l),
                    m.tensor(LlamaTensor.UP_PROJ, l), m.tensor(LlamaTensor.DOWN_PROJ, l));
            layers.add(new AttentionLayer(m.tensor(LlamaTensor.INPUT_NORM, l), m.tensor(LlamaTensor.Q_PROJ, l), m.tensor(LlamaTensor.K_PROJ, l),
                    m.tensor(LlamaTensor.V_PROJ, l), m.tensor(LlamaTensor.O_PROJ, l), shape, rope, mlp));
        }
        return new DecodeModel(gpu, m.type(), c.hiddenSize(), c.vocabSize(), c.intermediateSize(), (float) c.rmsNormEps(),
                m.tensor(LlamaTensor.EMBED_TOKENS, 0), m.tensor(LlamaTensor.FINAL_NORM, 0), m.head(), layers, List.of(rope));
    }

    /** The student: GSA layers, and the softmax-attention layers of a hybrid with their own RoPE and window. */
    static DecodeModel of(Gpu gpu, GsaModel m) {
        if (m.lora != null) throw new IllegalStateException("decoding with LoRA adapters attached");
        GsaConfig c = m.config;
        GsaLayout layout = m.layout;
        List<Layer> layers = new ArrayList<>();
        List<DeviceRope> ropes = new ArrayList<>();
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            int layer = l;
            java.util.function.Function<Kind, DeviceBuffer> w = k -> m.w(layout.get(k, layer));
            Mlp mlp = new Mlp(w.apply(Kind.MLP_NORM), w.apply(Kind.GATE_PROJ), w.apply(Kind.UP_PROJ), w.apply(Kind.DOWN_PROJ));
            GsaConfig.AttentionSpec spec = c.attentionAt(l);
            if (spec == null) {
                GsaDecode.Shape shape = new GsaDecode.Shape(c.numHeads(), c.numKvHeads(), c.headKDim(), c.headVDim(), c.numSlots());
                Conv conv = c.shortConv() > 0 ? new Conv(w.apply(Kind.Q_CONV), w.apply(Kind.K_CONV), w.apply(Kind.V_CONV), c.shortConv()) : null;
                layers.add(new GsaLayer(w.apply(Kind.ATTN_NORM), w.apply(Kind.Q_PROJ), w.apply(Kind.K_PROJ), w.apply(Kind.V_PROJ),
                        w.apply(Kind.F_PROJ), w.apply(Kind.G_NORM), w.apply(Kind.O_PROJ), shape, (float) c.gateLogitNormalizer(), mlp, conv));
            } else {
                int headDim = spec.headDim(c.hiddenSize());
                DeviceRope rope = new DeviceRope(gpu, Rope.inverseFrequencies(spec.rope(), headDim));
                ropes.add(rope);
                AttentionDecode.Shape shape = new AttentionDecode.Shape(spec.numHeads(), spec.numKvHeads(), headDim, spec.window(),
                        gsat2r.core.cpu.Attention.defaultScale(headDim));
                layers.add(new AttentionLayer(w.apply(Kind.ATTN_NORM), w.apply(Kind.Q_PROJ), w.apply(Kind.K_PROJ), w.apply(Kind.V_PROJ),
                        w.apply(Kind.O_PROJ), shape, rope, mlp));
            }
        }
        return new DecodeModel(gpu, m.type(), c.hiddenSize(), c.vocabSize(), c.intermediateSize(), (float) c.normEps(),
                m.w(layout.get(Kind.EMBEDDINGS, -1)), m.w(m.finalNorm()), m.w(m.output()), layers, ropes);
    }

    /** Makes every RoPE table cover positions below {@code end}; true when a table grew (its device address changed). */
    boolean ensureRope(int end) {
        boolean grew = false;
        for (DeviceRope r : ropes) {
            int before = r.positions();
            r.ensure(end);
            grew |= r.positions() != before;
        }
        return grew;
    }

    /** Whether the fused small-batch kernels take this model: bf16, every input width a multiple of 32. */
    boolean fusable() {
        if (type != ElementType.BF16 || hidden % 32 != 0 || intermediate % 32 != 0) return false;
        for (Layer l : layers) if (l.mixWidth() % 32 != 0) return false;
        return true;
    }

    int maxProjectionWidth() {
        return layers.stream().mapToInt(Layer::projectionWidth).max().orElse(1);
    }

    /** The longest convolution history of a GSA layer (elements; 0 without convolutions). */
    long maxConvHistory() {
        return layers.stream().mapToLong(l -> l instanceof GsaLayer g ? g.convHistory() : 0).max().orElse(0);
    }

    int maxMixWidth() {
        return layers.stream().mapToInt(Layer::mixWidth).max().orElse(1);
    }

    @Override
    public void close() {
        for (DeviceRope r : ropes) r.close();
    }
}
