package gsat2r.core.model.llama;

import gsat2r.core.T2rException;
import gsat2r.core.config.LlamaConfig;
import gsat2r.core.cpu.Attention;
import gsat2r.core.cpu.Embedding;
import gsat2r.core.cpu.Linear;
import gsat2r.core.cpu.RmsNorm;
import gsat2r.core.cpu.Rope;
import gsat2r.core.cpu.SwiGlu;
import gsat2r.core.model.BatchDecoder;
import gsat2r.core.model.DecoderState;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.ModelFingerprint;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.SafeTensors;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * The fp32 CPU reference of a Hugging Face {@code LlamaForCausalLM} / {@code MistralForCausalLM}:
 * <pre>
 * h = embed(ids)
 * per layer:  h += o_proj(attention(rope(q_proj(n)), rope(k_proj(n)), v_proj(n)))   n = input_layernorm(h)
 *             h += down_proj(silu(gate_proj(n)) ⊙ up_proj(n))                       n = post_attention_layernorm(h)
 * logits = lm_head(norm(h))
 * </pre>
 * built from the ops of {@code gsat2r.core.cpu}. Weights are held in fp32 whatever the checkpoint's
 * type (bf16 and f16 widen exactly), as transformers does when asked for fp32.
 */
public final class LlamaModel implements LanguageModel {
    private final LlamaConfig config;
    private final LlamaWeights weights;
    private final float[] invFreq;
    private final DType ropeFrequencyType;
    private final int window;
    private final float scale, eps;

    /**
     * A model from weights in memory. {@code ropeFrequencyType} is the type RoPE's {@code inv_freq} is
     * held in before the fp32 angles are computed: F32 for exact frequencies, or the checkpoint's type to
     * reproduce transformers as it runs a checkpoint loaded in its own dtype (see {@link #load(Path)}).
     */
    public LlamaModel(LlamaConfig config, LlamaWeights weights, DType ropeFrequencyType) {
        weights.checkAgainst(config);
        this.config = config;
        this.weights = weights;
        this.ropeFrequencyType = ropeFrequencyType;
        this.invFreq = Rope.roundTo(Rope.inverseFrequencies(config.rope(), config.headDim()), ropeFrequencyType);
        this.window = config.slidingWindow() == null ? 0 : config.slidingWindow();
        this.scale = Attention.defaultScale(config.headDim());
        this.eps = (float) config.rmsNormEps();
    }

    /**
     * Loads {@code dir/config.json} and the safetensors checkpoint beside it (one file or sharded), and
     * computes as Hugging Face transformers 5 does after {@code from_pretrained(dir)} (which loads in the
     * checkpoint's dtype) and {@code .float()}: weights widened to fp32, every operation in fp32, but
     * RoPE's {@code inv_freq} rounded to the checkpoint's dtype, because transformers rebuilds that
     * buffer in the dtype the model was loaded in and widening it afterwards cannot restore the lost
     * bits. On the shared tiny-llama (bf16) this rounding moves the last logits by 1e-4 relative,
     * against 3e-7 when reproduced. The checkpoint's dtype is config.json's {@code dtype}
     * ({@code torch_dtype}), else that of the embedding tensor, as {@code dtype="auto"} decides.
     */
    public static LlamaModel load(Path dir) {
        return load(dir, null);
    }

    /**
     * As {@link #load(Path)}, with RoPE's {@code inv_freq} held in {@code ropeFrequencyType} (F32 gives
     * exact frequencies, as transformers computes them when loading with {@code dtype=torch.float32});
     * null means the checkpoint's dtype.
     */
    public static LlamaModel load(Path dir, DType ropeFrequencyType) {
        return load(gsat2r.core.model.ModelDirectory.open(dir), ropeFrequencyType);
    }

    /** {@link #load(Path, DType)} of a directory already opened. */
    public static LlamaModel load(gsat2r.core.model.ModelDirectory dir, DType ropeFrequencyType) {
        LlamaConfig config = dir.teacherConfig();
        try (SafeTensors st = dir.openWeights()) {
            LlamaWeights weights = LlamaWeights.load(st, config);
            DType type = ropeFrequencyType;
            if (type == null) type = config.storageType();
            if (type == null) type = st.info(LlamaTensor.EMBED_TOKENS.hfName(0)).dtype();
            return new LlamaModel(config, weights, type);
        }
    }

    public LlamaConfig config() {
        return config;
    }

    public LlamaWeights weights() {
        return weights;
    }

    /** The type RoPE's inverse frequencies are held in (see {@link #load(Path)}). */
    public DType ropeFrequencyType() {
        return ropeFrequencyType;
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    @Override
    public float[][] forward(int[] ids) {
        float[] flat = logits(ids);
        int V = config.vocabSize();
        float[][] rows = new float[ids.length][];
        for (int t = 0; t < ids.length; t++) rows[t] = java.util.Arrays.copyOfRange(flat, t * V, (t + 1) * V);
        return rows;
    }

    /** Logits of every position as one row-major {@code [T, vocab]} block (what losses consume). */
    public float[] logits(int[] ids) {
        return run(ids, 0, null, null, true);
    }

    /**
     * What the forward computes per layer, for distillation (e.g. attention transfer, layer-wise targets):
     * {@code residuals[l]} is the hidden state entering layer {@code l} ({@code residuals[L]} the one
     * leaving the last layer, before the final norm), {@code attentionOutputs[l]} the self-attention output
     * of layer l after {@code o_proj} (what is added to the residual), each {@code [T, hidden]}; and the
     * logits {@code [T, vocab]}.
     */
    public record Trace(int length, float[][] residuals, float[][] attentionOutputs, float[] logits) {}

    public Trace trace(int[] ids) {
        int L = config.numHiddenLayers();
        Capture c = new Capture(new float[L + 1][], new float[L][]);
        float[] logits = run(ids, 0, null, c, true);
        return new Trace(ids.length, c.residuals(), c.attentionOutputs(), logits);
    }

    /**
     * Each layer's attention probabilities over {@code ids} (from position 0): {@code [layer][(h·T + i)·T + j]},
     * query i of head h, key j ({@link Attention#probabilities}). What the planner reads induction and
     * previous-token heads from.
     */
    public float[][] attentionProbabilities(int[] ids) {
        int L = config.numHiddenLayers();
        Capture c = new Capture(null, null, new float[L][]);
        run(ids, 0, null, c, false);
        return c.probabilities();
    }

    /** Where {@link #run} copies the per-layer states a trace asks for; what it does not ask for is null. */
    private record Capture(float[][] residuals, float[][] attentionOutputs, float[][] probabilities) {
        Capture(float[][] residuals, float[][] attentionOutputs) {
            this(residuals, attentionOutputs, null);
        }

        void residual(int layer, float[] h) {
            if (residuals != null) residuals[layer] = h.clone();
        }

        void attentionOutput(int layer, float[] out) {
            if (attentionOutputs != null) attentionOutputs[layer] = out.clone();
        }
    }

    @Override
    public Decoder newDecoder() {
        return new KvDecoder();
    }

    /** Token-by-token decoding with a KV cache; its logits equal {@link #forward}'s (same arithmetic). */
    private final class KvDecoder implements Decoder {
        private final KvCache cache = new KvCache(config.numHiddenLayers(), config.keyValueDim(), window);
        private int position;

        @Override
        public float[] prefill(int[] ids) {
            float[] logits = run(ids, position, cache, null, false);
            position += ids.length;
            return logits;
        }

        @Override
        public float[] next(int id) {
            return prefill(new int[] {id});
        }

        @Override
        public float[][] prefillAll(int[] ids) {
            float[] flat = run(ids, position, cache, null, true);
            position += ids.length;
            int V = config.vocabSize();
            float[][] rows = new float[ids.length][];
            for (int t = 0; t < ids.length; t++) rows[t] = Arrays.copyOfRange(flat, t * V, (t + 1) * V);
            return rows;
        }

        @Override
        public int position() {
            return position;
        }

        private LlamaModel owner() {
            return LlamaModel.this;
        }

        /** The KV cache as allocated: it grows by doubling, so up to twice the positions held (a window caps it). */
        @Override
        public long stateBytes() {
            return cache.bytes();
        }

        @Override
        public DecoderState saveState() {
            return new DecoderState(position, cache.save(position));
        }

        @Override
        public void restoreState(DecoderState state) {
            cache.restore(state.layers(), state.position());
            position = state.position();
        }
    }

    /**
     * The config as computed with (every field of {@link LlamaConfig} and the type of RoPE's
     * frequencies) and the fp32 weights: embeddings, then per layer the tensors of {@link LlamaTensor}'s
     * order, then the final norm and the output projection (the embeddings again when tied).
     */
    @Override
    public ModelFingerprint fingerprint() {
        ModelFingerprint.WeightHasher h = new ModelFingerprint.WeightHasher().add(weights.embedding());
        for (LlamaWeights.Layer layer : weights.layers()) {
            for (LlamaTensor t : LlamaTensor.values()) {
                if (t.scope() == LlamaTensor.Scope.LAYER) h.add(layer.get(t));
            }
        }
        h.add(weights.finalNorm()).add(weights.lmHead());
        return fingerprint(config, ropeFrequencyType, h);
    }

    /**
     * {@link #fingerprint()} of the teacher stored in {@code dir} as {@link #load(gsat2r.core.model.ModelDirectory, DType)}
     * with a null type loads it, read one tensor at a time (no whole-model arrays): what a model that holds its
     * weights elsewhere (the GPU) is identified by.
     */
    public static ModelFingerprint fingerprintOf(gsat2r.core.model.ModelDirectory dir) {
        LlamaConfig c = dir.teacherConfig();
        ModelFingerprint.WeightHasher h = new ModelFingerprint.WeightHasher();
        try (SafeTensors st = dir.openWeights()) {
            h.add(LlamaWeights.read(st, c, LlamaTensor.EMBED_TOKENS, 0));
            for (int l = 0; l < c.numHiddenLayers(); l++) {
                for (LlamaTensor t : LlamaTensor.values()) {
                    if (t.scope() == LlamaTensor.Scope.LAYER && t.presentIn(c)) h.add(LlamaWeights.read(st, c, t, l));
                }
            }
            h.add(LlamaWeights.read(st, c, LlamaTensor.FINAL_NORM, 0));
            h.add(LlamaWeights.read(st, c, c.tieWordEmbeddings() ? LlamaTensor.EMBED_TOKENS : LlamaTensor.LM_HEAD, 0));
            DType type = c.storageType() != null ? c.storageType() : st.info(LlamaTensor.EMBED_TOKENS.hfName(0)).dtype();
            return fingerprint(c, type, h);
        }
    }

    private static ModelFingerprint fingerprint(LlamaConfig config, DType ropeFrequencyType, ModelFingerprint.WeightHasher weights) {
        return new ModelFingerprint("llama", ModelFingerprint.sha256(config + "; rope inv_freq " + ropeFrequencyType), weights.hex());
    }

    /**
     * The forward pass over {@code ids} at positions {@code pos0 ..}. Without a cache: a whole sequence
     * from position 0. With one: new tokens of a decoder, whose keys and values go to the cache; a fresh
     * cache is filled from the batched attention, a warm one attends row by row. Returns the logits of
     * every position ({@code allLogits}) or of the last only.
     */
    private float[] run(int[] ids, int pos0, KvCache cache, Capture capture, boolean allLogits) {
        checkIds(ids);
        int T = ids.length, dh = config.headDim();
        float[] cos = new float[T * dh / 2], sin = new float[T * dh / 2];
        Rope.tables(invFreq, pos0, T, cos, sin);
        if (cache != null) cache.ensure(pos0, pos0 + T);
        float[] h = layers(embed(ids), T, cos, sin, (l, att, q, k, v) -> attend(l, att, q, k, v, T, pos0, cache), capture);
        if (capture != null) capture.residual(config.numHiddenLayers(), h);
        int rows = allLogits ? T : 1;
        return head(h, T - rows, rows);
    }

    /** How a layer's attention is computed from its rotated q, k and v of the rows at hand (into {@code att}). */
    private interface Attend {
        void run(int layer, float[] att, float[] q, float[] k, float[] v);
    }

    private float[] embed(int[] ids) {
        float[] h = new float[ids.length * config.hiddenSize()];
        Embedding.forward(h, 0, ids, 0, ids.length, weights.embedding(), 0, config.vocabSize(), config.hiddenSize());
        return h;
    }

    /** Every layer over the {@code T} rows of {@code h} (row r rotated by table row r); returns the last residual. */
    private float[] layers(float[] h, int T, float[] cos, float[] sin, Attend attend, Capture capture) {
        int d = config.hiddenSize(), I = config.intermediateSize(), qd = config.queryDim(), kvd = config.keyValueDim();
        float[] n = new float[T * d], q = new float[T * qd], k = new float[T * kvd], v = new float[T * kvd];
        float[] att = new float[T * qd], out = new float[T * d], gate = new float[T * I], up = new float[T * I];
        for (int l = 0; l < config.numHiddenLayers(); l++) {
            LlamaWeights.Layer w = weights.layers().get(l);
            if (capture != null) capture.residual(l, h);

            attention(l, h, T, cos, sin, attend, capture, n, q, k, v, att, out);
            if (capture != null) capture.attentionOutput(l, out);
            addInPlace(h, out);

            RmsNorm.forward(n, 0, h, 0, w.postAttentionNorm(), 0, null, 0, T, d, eps);
            Linear.forward(gate, 0, n, 0, w.wGate(), 0, w.bGate(), 0, T, d, I);
            Linear.forward(up, 0, n, 0, w.wUp(), 0, w.bUp(), 0, T, d, I);
            SwiGlu.forward(gate, 0, gate, 0, up, 0, T * I);
            Linear.forward(out, 0, gate, 0, w.wDown(), 0, w.bDown(), 0, T, I, d);
            addInPlace(h, out);
        }
        return h;
    }

    /**
     * Layer {@code l}'s self-attention output (after o_proj) on the residual {@code h} of {@code T} rows at
     * positions {@code 0 ..}: what that layer adds to whatever residual it is given. On the residual its own
     * forward pass gives it, this is {@link Trace#attentionOutputs()}{@code [l]} bit for bit. Attention transfer on
     * a student's own hidden states asks it of the student's residual.
     */
    public float[] attentionOutput(int l, float[] h) {
        int d = config.hiddenSize(), dh = config.headDim();
        if (l < 0 || l >= config.numHiddenLayers()) throw new IllegalArgumentException("no layer " + l);
        if (h.length == 0 || h.length % d != 0) throw new IllegalArgumentException(h.length + " floats are not rows of " + d);
        int T = h.length / d;
        float[] cos = new float[T * dh / 2], sin = new float[T * dh / 2];
        Rope.tables(invFreq, 0, T, cos, sin);
        float[] out = new float[T * d];
        attention(l, h, T, cos, sin, (layer, att, q, k, v) -> attend(layer, att, q, k, v, T, 0, null), null,
                new float[T * d], new float[T * config.queryDim()], new float[T * config.keyValueDim()],
                new float[T * config.keyValueDim()], new float[T * config.queryDim()], out);
        return out;
    }

    /** Into {@code out}: o_proj(attention(rope(q), rope(k), v)) of layer {@code l} on input_layernorm(h); n, q, k, v, att are scratch. */
    private void attention(int l, float[] h, int T, float[] cos, float[] sin, Attend attend, Capture capture,
                           float[] n, float[] q, float[] k, float[] v, float[] att, float[] out) {
        LlamaWeights.Layer w = weights.layers().get(l);
        int d = config.hiddenSize(), H = config.numAttentionHeads(), Hkv = config.numKeyValueHeads(), dh = config.headDim();
        int qd = config.queryDim(), kvd = config.keyValueDim();
        RmsNorm.forward(n, 0, h, 0, w.inputNorm(), 0, null, 0, T, d, eps);
        Linear.forward(q, 0, n, 0, w.wq(), 0, w.bq(), 0, T, d, qd);
        Linear.forward(k, 0, n, 0, w.wk(), 0, w.bk(), 0, T, d, kvd);
        Linear.forward(v, 0, n, 0, w.wv(), 0, w.bv(), 0, T, d, kvd);
        Rope.forward(q, 0, q, 0, cos, sin, 0, T, H, dh);
        Rope.forward(k, 0, k, 0, cos, sin, 0, T, Hkv, dh);
        attend.run(l, att, q, k, v);
        if (capture != null && capture.probabilities() != null) {
            capture.probabilities()[l] = Attention.probabilities(q, 0, k, 0, T, H, Hkv, dh, window, scale);
        }
        Linear.forward(out, 0, att, 0, w.wo(), 0, w.bo(), 0, T, qd, d);
    }

    /** The logits of {@code rows} rows of {@code h} from row {@code first}: final norm, then lm_head. */
    private float[] head(float[] h, int first, int rows) {
        int d = config.hiddenSize(), V = config.vocabSize();
        float[] n = new float[rows * d];
        RmsNorm.forward(n, 0, h, first * d, weights.finalNorm(), 0, null, 0, rows, d, eps);
        float[] logits = new float[rows * V];
        Linear.forward(logits, 0, n, 0, weights.lmHead(), 0, null, 0, rows, d, V);
        return logits;
    }

    /**
     * Steps several of this model's decoders together: the projections, norms and MLP run once over the B
     * tokens' rows, each row is rotated at its own position and attends to its own KV cache. Row for row the
     * same arithmetic as a decoder's {@code next} (the matrix products do not depend on the number of rows),
     * so the logits are equal bit for bit.
     */
    @Override
    public BatchDecoder batchDecoder() {
        return this::nextAll;
    }

    private BatchDecoder.Step nextAll(List<? extends Decoder> decoders, int[] ids) {
        BatchDecoder.checkCall(decoders, ids);
        BatchDecoder.Step step = BatchDecoder.Step.of(ids.length);
        List<Integer> rows = BatchDecoder.steppable(step, decoders, ids, config.vocabSize(),
                d -> d instanceof KvDecoder kd && kd.owner() == this, "the decoder is not one of this " + config.architecture() + "'s");
        if (rows.isEmpty()) return step;
        int B = rows.size(), dh = config.headDim(), V = config.vocabSize();
        KvDecoder[] seqs = new KvDecoder[B];
        int[] tokens = new int[B], positions = new int[B];
        for (int r = 0; r < B; r++) {
            seqs[r] = (KvDecoder) decoders.get(rows.get(r));
            tokens[r] = ids[rows.get(r)];
            positions[r] = seqs[r].position;
            seqs[r].cache.ensure(positions[r], positions[r] + 1);
        }
        float[] cos = new float[B * dh / 2], sin = new float[B * dh / 2];
        Rope.tablesAt(invFreq, positions, cos, sin);
        float[] h = layers(embed(tokens), B, cos, sin, (l, att, q, k, v) -> attendEach(l, att, q, k, v, seqs, positions), null);
        float[] logits = head(h, 0, B);
        for (int r = 0; r < B; r++) {
            seqs[r].position++;
            step.logits()[rows.get(r)] = Arrays.copyOfRange(logits, r * V, (r + 1) * V);
        }
        return step;
    }

    /** Attention of layer {@code l} for one new token per sequence, each against its own cache. */
    private void attendEach(int l, float[] att, float[] q, float[] k, float[] v, KvDecoder[] seqs, int[] positions) {
        int H = config.numAttentionHeads(), Hkv = config.numKeyValueHeads(), dh = config.headDim();
        int qd = config.queryDim(), kvd = config.keyValueDim();
        for (int r = 0; r < seqs.length; r++) {
            KvCache cache = seqs[r].cache;
            cache.put(l, positions[r], k, r * kvd, v, r * kvd);
            Attention.decode(att, r * qd, q, r * qd, cache.keys(l), cache.values(l), cache.capacity(), positions[r],
                    H, Hkv, dh, window, scale);
        }
    }

    /** Attention of layer {@code l} for rows at positions {@code pos0 ..}, keeping k and v when decoding. */
    private void attend(int l, float[] att, float[] q, float[] k, float[] v, int T, int pos0, KvCache cache) {
        int H = config.numAttentionHeads(), Hkv = config.numKeyValueHeads(), dh = config.headDim();
        int qd = config.queryDim(), kvd = config.keyValueDim();
        if (cache == null || pos0 == 0) {
            Attention.forward(att, 0, null, 0, q, 0, k, 0, v, 0, T, H, Hkv, dh, window, scale);
            if (cache != null) {
                for (int t = Math.max(0, T - cache.capacity()); t < T; t++) cache.put(l, t, k, t * kvd, v, t * kvd);
            }
            return;
        }
        for (int t = 0; t < T; t++) {
            cache.put(l, pos0 + t, k, t * kvd, v, t * kvd);
            Attention.decode(att, t * qd, q, t * qd, cache.keys(l), cache.values(l), cache.capacity(), pos0 + t,
                    H, Hkv, dh, window, scale);
        }
    }

    private void checkIds(int[] ids) {
        if (ids.length == 0) throw new T2rException("no tokens to run the model on");
        for (int id : ids) {
            if (id < 0 || id >= config.vocabSize()) {
                throw new T2rException("token id " + id + " is outside the vocabulary of this "
                        + config.architecture() + " (0.." + (config.vocabSize() - 1) + ")");
            }
        }
    }

    private static void addInPlace(float[] h, float[] x) {
        for (int i = 0; i < h.length; i++) h[i] += x[i];
    }
}
