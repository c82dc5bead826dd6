package gsat2r.core.model.gsa;

import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.cpu.Embedding;
import gsat2r.core.cpu.Linear;
import gsat2r.core.cpu.RmsNorm;
import gsat2r.core.gsa.GsaState;
import gsat2r.core.model.BatchDecoder;
import gsat2r.core.model.DecoderState;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.ModelFingerprint;
import gsat2r.core.model.gsa.ParameterView.Kind;
import gsat2r.core.safetensors.DType;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntConsumer;

/**
 * The GSA student (fla 0.5.2's {@code GSAForCausalLM}) on the CPU in fp32, forward and backward:
 * <pre>
 * h = embeddings(ids)
 * per block:  h += mixer(attn_norm(h))        mixer = {@link GsaMixer}, or {@link AttentionMixer} in a hybrid layer
 *             h += mlp(mlp_norm(h))            {@link GatedMlp}
 * logits = norm(h) Wᵀ                          W = lm_head, or the embeddings when tied
 * </pre>
 *
 * <h2>Parameters</h2>
 * All parameters live in ONE contiguous fp32 array, {@link #parameters()}, laid out by
 * {@link GsaLayout} in fla's state_dict order under fla's checkpoint keys (a {@link ParameterView} per
 * tensor: name, kind, layer, offset, shape); {@link #gradients()} is a second array with the same layout.
 * An optimizer can step the whole arrays, or the views of a {@link ParameterGroup}
 * ({@link #group(String)}: {@code gates} = f_proj and g_norm of the GSA layers, {@code attention} = every
 * parameter of the GSA layers' attn modules, {@code all}). Writing into {@link #parameters()} changes the
 * model (nothing is cached from it).
 *
 * <h2>Training API</h2>
 * <pre>{@code
 * GsaModel m = GsaModel.load(dir);
 * ParameterGroup stage = m.group("gates");
 * m.zeroGradients();
 * GsaModel.Activations a = m.forward(ids, batch, seqLen, Memory.KEEP);    // ids [B·T], row-major
 * float[] logits = a.logits();                                             // [B·T, V]
 * float[] dLogits = ...;                                                   // dL/dlogits, same layout
 * m.backward(a, dLogits, stage);       // ADDS dL/dθ into m.gradients() for the tensors of the group
 * }</pre>
 * {@link Memory#RECOMPUTE} keeps only each block's input during the forward and recomputes the
 * block's activations in backward (same numbers, less memory, one more forward). Backward stops
 * descending below the lowest layer that holds a trainable tensor.
 *
 * <p>Attention transfer, one layer at a time: {@link #layerForward(int, float[], int, int)} runs the
 * mixer of a layer on given (already {@code attn_norm}ed) inputs {@code x [B·T, d]} and returns a
 * {@link Mixer.Pass} whose {@code out()} is the layer output after o_proj, {@code [B·T, d]};
 * {@link #layerBackward} takes {@code dL/d(out)} and adds the mixer's parameter gradients (and
 * optionally {@code dL/dx}). {@link #attnNorm(int, float[], int)} applies a block's input norm.
 *
 * <h2>Inference</h2>
 * {@link #forward(int[])} (one sequence) and {@link #newDecoder()}: a constant-size recurrent state
 * ({@link GsaState}, Hk and Hv per kv head) per GSA layer and a KV cache per attention layer; prefill
 * runs the chunked form from the current state and keeps its final state, {@code next} runs one
 * recurrent step.
 *
 * <p>Not thread-safe for concurrent training calls; forward/decoding calls on a model whose parameters
 * do not change may run concurrently.
 */
public final class GsaModel implements LanguageModel {

    /** What a training forward keeps for backward. */
    public enum Memory {
        /** Every activation backward needs. */
        KEEP,
        /** Only the input of every block; backward recomputes a block's activations before using them. */
        RECOMPUTE
    }

    private final GsaConfig config;
    private final GsaLayout layout;
    private final float[] params;
    private float[] grads;
    private final List<Block> blocks;
    private final ParameterView embeddings, finalNorm, output;
    private final float eps;

    /** A model over the parameter array {@code params} (laid out by {@link GsaLayout}; not copied). */
    public GsaModel(GsaConfig config, float[] params) {
        this.config = config;
        this.layout = new GsaLayout(config);
        layout.requireArray("the CPU student");
        if (params.length != layout.size()) {
            throw new IllegalArgumentException(params.length + " parameters given, the layout of this config has "
                    + layout.size());
        }
        this.params = params;
        List<Block> b = new ArrayList<>();
        for (int l = 0; l < config.numHiddenLayers(); l++) b.add(new Block(layout, l));
        this.blocks = List.copyOf(b);
        this.embeddings = layout.get(Kind.EMBEDDINGS, -1);
        this.finalNorm = layout.get(Kind.FINAL_NORM, -1);
        this.output = layout.outputProjection();
        this.eps = (float) config.normEps();
    }

    /** Loads a student directory in fla's layout ({@code config.json} + safetensors, any float dtype). */
    public static GsaModel load(Path dir) {
        return GsaCheckpoint.read(dir);
    }

    /** {@link #load(Path)} of a directory already opened. */
    public static GsaModel load(gsat2r.core.model.ModelDirectory dir) {
        return GsaCheckpoint.read(dir);
    }

    /**
     * Writes this model as an fla checkpoint into a new directory, atomically ({@code config.json},
     * {@code model.safetensors} or shards, weights in {@code dtype}: F32 or BF16). {@code replace}: an
     * existing non-empty directory is replaced (the CLI's --force).
     */
    public void save(Path dir, DType dtype, boolean replace) {
        GsaCheckpoint.save(this, dir, dtype, replace);
    }

    public GsaConfig config() {
        return config;
    }

    public GsaLayout layout() {
        return layout;
    }

    /** The live parameter array (see the class comment). */
    public float[] parameters() {
        return params;
    }

    /** The live gradient array, same layout as {@link #parameters()} (allocated, zeroed, on first use). */
    public synchronized float[] gradients() {
        if (grads == null) grads = new float[params.length];
        return grads;
    }

    public void zeroGradients() {
        Arrays.fill(gradients(), 0f);
    }

    /** A predefined parameter group: {@code gates}, {@code attention} or {@code all}. */
    public ParameterGroup group(String name) {
        return layout.group(name);
    }

    /** The values of the tensor named {@code name} (a copy). */
    public float[] tensor(String name) {
        ParameterView v = layout.find(name);
        if (v == null) throw new IllegalArgumentException("no tensor '" + name + "' in this model");
        return v.copyFrom(params);
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    // ------------------------------------------------------------------ training forward / backward

    /**
     * The activations of one training forward over B sequences of T tokens: the residual stream
     * entering every block ({@link #hidden(int)}; index L is the one leaving the last block), the
     * blocks' kept activations (absent with {@link Memory#RECOMPUTE}), the final norm and the logits.
     */
    public static final class Activations {
        private final int[] ids;
        private final int batch, seqLen;
        private final float[][] hidden;
        private final Block.Pass[] passes;
        private final float[] finalRstd, finalNormed, logits;

        Activations(int[] ids, int batch, int seqLen, float[][] hidden, Block.Pass[] passes, float[] finalRstd,
                    float[] finalNormed, float[] logits) {
            this.ids = ids;
            this.batch = batch;
            this.seqLen = seqLen;
            this.hidden = hidden;
            this.passes = passes;
            this.finalRstd = finalRstd;
            this.finalNormed = finalNormed;
            this.logits = logits;
        }

        public int batch() {
            return batch;
        }

        public int seqLen() {
            return seqLen;
        }

        /** {@code [B·T, V]}, row-major (row {@code b·T + t}). */
        public float[] logits() {
            return logits;
        }

        /** The residual stream entering block {@code l} ({@code l = L}: leaving the last block), {@code [B·T, d]}. */
        public float[] hidden(int l) {
            return hidden[l];
        }
    }

    /**
     * Forward over {@code ids} = B sequences of T tokens, row-major ({@code ids[b·T + t]}), each from
     * position 0, keeping what {@link #backward} needs.
     */
    public Activations forward(int[] ids, int batch, int seqLen, Memory memory) {
        int n = ids.length, d = config.hiddenSize(), L = blocks.size();
        Block.Pass[] passes = new Block.Pass[L];
        float[][] hidden = blocks(ids, batch, seqLen, memory == Memory.KEEP ? passes : null);
        float[] rstd = new float[n], normed = new float[n * d];
        RmsNorm.forward(normed, 0, hidden[L], 0, params, finalNorm.arrayOffset(), rstd, 0, n, d, eps);
        float[] logits = new float[n * config.vocabSize()];
        Linear.forward(logits, 0, normed, 0, params, output.arrayOffset(), null, 0, n, d, config.vocabSize());
        return new Activations(ids, batch, seqLen, hidden, passes, rstd, normed, logits);
    }

    /**
     * The residual stream entering every block ({@code [l]}; {@code [L]} leaves the last), {@code [B·T, d]} each, over
     * {@code ids} as {@link #forward} takes them: the forward pass without its head (what attention transfer on the
     * student's own states reads).
     */
    public float[][] residuals(int[] ids, int batch, int seqLen) {
        return blocks(ids, batch, seqLen, null);
    }

    /** Embeddings and every block; each block's pass into {@code keep} when given. */
    private float[][] blocks(int[] ids, int batch, int seqLen, Block.Pass[] keep) {
        if (batch < 1 || seqLen < 1 || (long) batch * seqLen != ids.length) {
            throw new IllegalArgumentException(ids.length + " ids are not " + batch + " sequences of " + seqLen);
        }
        checkIds(ids);
        int L = blocks.size();
        float[][] hidden = new float[L + 1][];
        hidden[0] = embed(ids);
        for (int l = 0; l < L; l++) {
            Block.Pass pass = blocks.get(l).forward(params, hidden[l], batch, seqLen);
            hidden[l + 1] = pass.hOut();
            if (keep != null) keep[l] = pass;
        }
        return hidden;
    }

    /**
     * Backward from {@code dLogits = dL/dlogits [B·T, V]}: ADDS {@code dL/dθ} to {@link #gradients()} for
     * every tensor of {@code trainable} (others are left alone). Tied embeddings get both their uses.
     */
    public void backward(Activations a, float[] dLogits, ParameterGroup trainable) {
        backward(a, dLogits, trainable, from -> {});
    }

    /**
     * {@link #backward(Activations, float[], ParameterGroup)} that also reports its progress: it calls
     * {@code gradientsFinalFrom.accept(x)} whenever the gradients at every buffer offset ≥ x are final
     * (nothing of this backward adds to them any more), with x decreasing: after the head, after the
     * final norm, after each block, and {@code accept(0)} last. Backward runs in the reverse of the
     * buffer's order (head, final norm, blocks L−1 … 0, embeddings), so a data-parallel trainer can
     * start reducing the gradients of the upper layers while the lower ones are still being computed.
     * With tied embeddings the embeddings (offset 0) are final only at the end.
     */
    public void backward(Activations a, float[] dLogits, ParameterGroup trainable, IntConsumer gradientsFinalFrom) {
        int n = a.ids.length, d = config.hiddenSize(), V = config.vocabSize(), L = blocks.size();
        if (dLogits.length != n * V) {
            throw new IllegalArgumentException("dLogits has " + dLogits.length + " floats, expected " + n * V);
        }
        float[] g = gradients();
        int lowest = lowestTrainableLayer(trainable);
        boolean needHidden = lowest < L;
        float[] dNormed = needHidden || trainable.contains(finalNorm) ? new float[n * d] : null;
        Linear.backward(dNormed, 0, GsaMixer.grad(g, output, trainable), output.arrayOffset(), null, 0, dLogits, 0,
                a.finalNormed, 0, params, output.arrayOffset(), n, d, V);
        if (output != embeddings) gradientsFinalFrom.accept(output.arrayOffset());
        if (dNormed == null) {
            gradientsFinalFrom.accept(0);
            return;
        }
        float[] dh = needHidden ? new float[n * d] : null;
        RmsNorm.backward(dh, 0, GsaMixer.grad(g, finalNorm, trainable), finalNorm.arrayOffset(), dNormed, 0,
                a.hidden[L], 0, params, finalNorm.arrayOffset(), a.finalRstd, 0, n, d);
        gradientsFinalFrom.accept(finalNorm.arrayOffset());
        for (int l = L - 1; l >= Math.max(lowest, 0) && dh != null; l--) {
            Block block = blocks.get(l);
            Block.Pass pass = a.passes[l] != null ? a.passes[l] : block.forward(params, a.hidden[l], a.batch, a.seqLen);
            dh = block.backward(pass, dh, l > lowest, params, g, trainable);
            gradientsFinalFrom.accept(block.views().stream().mapToInt(ParameterView::arrayOffset).min().orElseThrow());
        }
        if (lowest < 0 && dh != null) Embedding.backward(g, embeddings.arrayOffset(), a.ids, 0, n, dh, 0, d);
        gradientsFinalFrom.accept(0);
    }

    /**
     * The lowest block index holding a tensor of {@code trainable}: -1 when the embeddings are in it
     * (backward must reach them), L when no block nor the embeddings are.
     */
    private int lowestTrainableLayer(ParameterGroup trainable) {
        if (trainable.contains(embeddings)) return -1;
        for (Block b : blocks) {
            for (ParameterView v : b.views()) if (trainable.contains(v)) return b.layer;
        }
        return blocks.size();
    }

    // ------------------------------------------------------------------ one layer at a time

    /** The mixer (fla's {@code attn} module) of block {@code layer}. */
    public Mixer mixer(int layer) {
        return blocks.get(layer).mixer;
    }

    /** {@code attn_norm} of block {@code layer} applied to {@code h [rows, d]} (a new array). */
    public float[] attnNorm(int layer, float[] h, int rows) {
        return blocks.get(layer).attnNorm(params, h, rows);
    }

    /**
     * Runs the mixer of block {@code layer} on normed inputs {@code x [B·T, d]} (B sequences of T
     * tokens from position 0); {@code out()} of the result is the mixer output after o_proj.
     */
    public Mixer.Pass layerForward(int layer, float[] x, int batch, int seqLen) {
        if (x.length != batch * seqLen * config.hiddenSize()) {
            throw new IllegalArgumentException("x has " + x.length + " floats, expected [" + batch + "·" + seqLen
                    + ", " + config.hiddenSize() + "]");
        }
        return mixer(layer).forward(params, x, batch, seqLen);
    }

    /**
     * Backward of {@link #layerForward}: ADDS the gradients of the layer's tensors in {@code trainable} to
     * {@link #gradients()}, and {@code dL/dx} to {@code dx} unless it is null.
     */
    public void layerBackward(int layer, Mixer.Pass pass, float[] dOut, float[] dx, ParameterGroup trainable) {
        if (dOut.length != pass.out().length) {
            throw new IllegalArgumentException("dOut has " + dOut.length + " floats, the layer output " + pass.out().length);
        }
        mixer(layer).backward(pass, dOut, dx, params, gradients(), trainable);
    }

    // ------------------------------------------------------------------ inference

    @Override
    public float[][] forward(int[] ids) {
        if (ids.length == 0) throw new T2rException("no tokens to run the model on");
        float[] logits = forward(ids, 1, ids.length, Memory.RECOMPUTE).logits();
        int V = config.vocabSize();
        float[][] rows = new float[ids.length][];
        for (int t = 0; t < ids.length; t++) rows[t] = Arrays.copyOfRange(logits, t * V, (t + 1) * V);
        return rows;
    }

    @Override
    public StudentDecoder newDecoder() {
        return new StudentDecoder();
    }

    /**
     * Incremental decoding of one sequence: a {@link GsaState} per GSA layer (its size never changes), with
     * short convolutions their last rows too, and a KV cache per attention layer (bounded by the layer's window, if any).
     */
    public final class StudentDecoder implements Decoder {
        private final GsaState[] states = new GsaState[blocks.size()];
        private final float[][] convRows = new float[blocks.size()][];
        private final KvRing[] caches = new KvRing[blocks.size()];
        private int position;

        StudentDecoder() {
            for (Block b : blocks) {
                if (b.mixer instanceof GsaMixer g) {
                    states[b.layer] = g.newState(1);
                    convRows[b.layer] = g.newConvRows();
                }
                if (b.mixer instanceof AttentionMixer a) caches[b.layer] = new KvRing(a.kvWidth(), a.window());
            }
        }

        @Override
        public float[] prefill(int[] ids) {
            return logits(feed(ids), ids.length - 1, 1)[0];
        }

        @Override
        public float[][] prefillAll(int[] ids) {
            return logits(feed(ids), 0, ids.length);
        }

        /** Runs the tokens through every layer, advancing the state; the final hidden rows {@code [T, d]}. */
        private float[] feed(int[] ids) {
            if (ids.length == 0) throw new T2rException("no tokens to feed the decoder");
            checkIds(ids);
            int T = ids.length;
            float[] h = embed(ids);
            for (Block b : blocks) {
                float[] x = b.attnNorm(params, h, T);
                float[] mixed;
                if (b.mixer instanceof GsaMixer g) {
                    float[][] rows = convRows[b.layer] == null ? null : new float[][] {convRows[b.layer]};
                    if (T == 1) {
                        mixed = g.step(params, x, states[b.layer], rows);
                    } else {
                        GsaMixer.Pass pass = g.forward(params, x, 1, T, states[b.layer], rows);
                        states[b.layer].restore(pass.finalState());
                        if (rows != null) System.arraycopy(pass.finalConvRows()[0], 0, convRows[b.layer], 0, convRows[b.layer].length);
                        mixed = pass.out();
                    }
                } else {
                    mixed = ((AttentionMixer) b.mixer).decode(params, x, T, position, caches[b.layer]);
                }
                h = Block.sum(h, mixed);
                float[] mlpOut = b.mlp.forward(params, b.mlpNorm(params, h, T), T).out();
                h = Block.sum(h, mlpOut);
            }
            position += T;
            return h;
        }

        /** The logits of hidden rows {@code from .. from + n - 1}: final norm, then the output projection. */
        private float[][] logits(float[] h, int from, int n) {
            int d = config.hiddenSize(), V = config.vocabSize();
            float[] normed = new float[n * d];
            RmsNorm.forward(normed, 0, h, from * d, params, finalNorm.arrayOffset(), null, 0, n, d, eps);
            float[] flat = new float[n * V];
            Linear.forward(flat, 0, normed, 0, params, output.arrayOffset(), null, 0, n, d, V);
            float[][] rows = new float[n][];
            for (int t = 0; t < n; t++) rows[t] = Arrays.copyOfRange(flat, t * V, (t + 1) * V);
            return rows;
        }

        @Override
        public float[] next(int id) {
            return prefill(new int[] {id});
        }

        @Override
        public int position() {
            return position;
        }

        @Override
        public DecoderState saveState() {
            List<DecoderState.LayerState> layers = new ArrayList<>(blocks.size());
            for (int l = 0; l < blocks.size(); l++) {
                layers.add(states[l] != null ? new DecoderState.Recurrent(l, states[l].copy(),
                        convRows[l] == null ? null : convRows[l].clone()) : caches[l].save(l, position));
            }
            return new DecoderState(position, layers);
        }

        @Override
        public void restoreState(DecoderState state) {
            if (state.layers().size() != blocks.size()) {
                throw new T2rException("the state has " + state.layers().size() + " layers, this GSA student "
                        + blocks.size());
            }
            for (DecoderState.LayerState s : state.layers()) {          // check every layer before changing any
                int l = s.layer();
                boolean fits = switch (s) {
                    case DecoderState.Recurrent r -> states[l] != null && states[l].sameSizes(r.state())
                            && r.convRows().length == (convRows[l] == null ? 0 : convRows[l].length);
                    case DecoderState.KeyValue kv -> caches[l] != null;
                };
                if (!fits) {
                    throw new T2rException("layer " + l + ": the state holds " + describe(s) + ", this student's layer "
                            + l + " is " + (states[l] != null ? "GSA with " + states[l] : "softmax attention"));
                }
            }
            for (DecoderState.LayerState s : state.layers()) {
                switch (s) {
                    case DecoderState.Recurrent r -> {
                        states[r.layer()].restore(r.state());
                        if (convRows[r.layer()] != null) System.arraycopy(r.convRows(), 0, convRows[r.layer()], 0, r.convRows().length);
                    }
                    case DecoderState.KeyValue kv -> caches[kv.layer()].restore(kv, state.position());
                }
            }
            position = state.position();
        }

        private static String describe(DecoderState.LayerState s) {
            return switch (s) {
                case DecoderState.Recurrent r -> "a GSA state " + r.state();
                case DecoderState.KeyValue kv -> kv.rows() + " key/value rows of " + kv.rowWidth() + " floats";
            };
        }

        private GsaModel owner() {
            return GsaModel.this;
        }

        /** The recurrent state of GSA layer {@code layer} (live; null for an attention layer). */
        public GsaState state(int layer) {
            return states[layer];
        }

        /** Bytes of decoding state held now: fp32 recurrent states plus the attention layers' KV caches. */
        public long stateBytes() {
            long bytes = 0;
            for (int l = 0; l < blocks.size(); l++) {
                if (states[l] != null) bytes += 4L * (states[l].hk().length + states[l].hv().length);
                if (convRows[l] != null) bytes += 4L * convRows[l].length;
                if (caches[l] != null) bytes += caches[l].bytes();
            }
            return bytes;
        }
    }

    /**
     * Steps several of this model's {@link StudentDecoder}s together: every projection, norm and the MLP run
     * once over the B tokens' rows, each GSA layer updates the B recurrent states where they are (no copy),
     * each attention layer reads each sequence's own KV cache. Row-for-row the same arithmetic as
     * {@link StudentDecoder#next} (the matrix products do not depend on the number of rows), so the logits are
     * equal bit for bit.
     */
    @Override
    public BatchDecoder batchDecoder() {
        return this::nextAll;
    }

    private BatchDecoder.Step nextAll(List<? extends Decoder> decoders, int[] ids) {
        BatchDecoder.checkCall(decoders, ids);
        BatchDecoder.Step step = BatchDecoder.Step.of(ids.length);
        List<Integer> rows = BatchDecoder.steppable(step, decoders, ids, config.vocabSize(),
                d -> d instanceof StudentDecoder sd && sd.owner() == this, "the decoder is not one of this GSA student's");
        if (rows.isEmpty()) return step;
        int n = rows.size(), d = config.hiddenSize(), V = config.vocabSize();
        StudentDecoder[] seqs = new StudentDecoder[n];
        int[] tokens = new int[n], positions = new int[n];
        for (int r = 0; r < n; r++) {
            seqs[r] = (StudentDecoder) decoders.get(rows.get(r));
            tokens[r] = ids[rows.get(r)];
            positions[r] = seqs[r].position;
        }
        float[] h = embed(tokens);
        for (Block b : blocks) {
            float[] x = b.attnNorm(params, h, n);
            float[] mixed = switch (b.mixer) {
                case GsaMixer g -> g.step(params, x, each(seqs, s -> s.states[b.layer], GsaState[]::new),
                        seqs[0].convRows[b.layer] == null ? null : each(seqs, s -> s.convRows[b.layer], float[][]::new));
                case AttentionMixer a -> a.decodeEach(params, x, positions, each(seqs, s -> s.caches[b.layer], KvRing[]::new));
            };
            h = Block.sum(h, mixed);
            h = Block.sum(h, b.mlp.forward(params, b.mlpNorm(params, h, n), n).out());
        }
        float[] normed = new float[n * d], logits = new float[n * V];
        RmsNorm.forward(normed, 0, h, 0, params, finalNorm.arrayOffset(), null, 0, n, d, eps);
        Linear.forward(logits, 0, normed, 0, params, output.arrayOffset(), null, 0, n, d, V);
        for (int r = 0; r < n; r++) {
            seqs[r].position++;
            step.logits()[rows.get(r)] = Arrays.copyOfRange(logits, r * V, (r + 1) * V);
        }
        return step;
    }

    private static <T> T[] each(StudentDecoder[] seqs, java.util.function.Function<StudentDecoder, T> part,
                                java.util.function.IntFunction<T[]> array) {
        T[] out = array.apply(seqs.length);
        for (int i = 0; i < seqs.length; i++) out[i] = part.apply(seqs[i]);
        return out;
    }

    /**
     * The config as computed with ({@code config.json}'s keys less the storage {@code dtype} and the
     * {@code t2r} provenance) and the fp32 parameter array (fla's tensor order).
     */
    @Override
    public ModelFingerprint fingerprint() {
        return fingerprint(config, new ModelFingerprint.WeightHasher().add(params));
    }

    /**
     * {@link #fingerprint()} of the student stored in {@code dir}, read one tensor at a time: what a model that
     * holds its weights elsewhere (the GPU) is identified by, with no whole-model array, so also for students
     * larger than the CPU reference's buffer.
     */
    public static ModelFingerprint fingerprintOf(gsat2r.core.model.ModelDirectory dir) {
        GsaConfig config = dir.studentConfig();
        ModelFingerprint.WeightHasher h = new ModelFingerprint.WeightHasher();
        try (gsat2r.core.safetensors.SafeTensors st = dir.openWeights()) {
            for (ParameterView v : new GsaLayout(config).views()) {
                float[] tensor = new float[v.arraySize()];
                GsaCheckpoint.readView(st, v, tensor, 0);
                h.add(tensor);
            }
        }
        return fingerprint(config, h);
    }

    private static ModelFingerprint fingerprint(GsaConfig config, ModelFingerprint.WeightHasher weights) {
        var json = config.toJson();
        json.remove("dtype");
        json.remove("t2r");
        return new ModelFingerprint("gsa", ModelFingerprint.sha256(gsat2r.core.io.PythonJson.dumps(json)), weights.hex());
    }

    // ------------------------------------------------------------------ helpers

    private float[] embed(int[] ids) {
        int d = config.hiddenSize();
        float[] h = new float[ids.length * d];
        Embedding.forward(h, 0, ids, 0, ids.length, params, embeddings.arrayOffset(), config.vocabSize(), d);
        return h;
    }

    private void checkIds(int[] ids) {
        for (int id : ids) {
            if (id < 0 || id >= config.vocabSize()) {
                throw new T2rException("token id " + id + " is outside the vocabulary of this GSA student (0.."
                        + (config.vocabSize() - 1) + ")");
            }
        }
    }
}
