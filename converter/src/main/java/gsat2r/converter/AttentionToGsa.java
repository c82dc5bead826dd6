package gsat2r.converter;

import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.config.GsaConfig.AttentionSpec;
import gsat2r.core.io.AtomicDirectory;
import gsat2r.core.model.gsa.GsaCheckpoint;
import gsat2r.core.model.gsa.GsaLayout;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.core.model.gsa.ParameterView.Kind;
import gsat2r.core.safetensors.DType;
import gsat2r.core.tokenizer.TokenizerFiles;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;

/**
 * Turns softmax-attention layers of a hybrid student into GSA layers: the second step of a progressive
 * conversion, where a student first learns with some of its teacher's attention layers kept and then
 * loses them. The layer keeps its q/k/v/o projections (fla names them alike in both kinds of layer; RoPE
 * and the window go), and gets a new {@code f_proj} ({@link GateInit}, from the layer's own
 * {@code k_proj} for key-pool), a {@code g_norm} of ones and, in a student with short convolutions, identity
 * kernels, exactly as {@link Converter} builds a GSA
 * layer from a teacher's attention. Every other tensor is copied unchanged.
 */
public final class AttentionToGsa {
    private AttentionToGsa() {}

    /** The student with {@code layers} (attention layers of {@code hybrid}) made GSA layers. */
    public static GsaModel convert(GsaModel hybrid, Set<Integer> layers, GateInit init, long seed) {
        GsaConfig c = hybrid.config();
        GsaConfig target = config(c, layers);
        GsaLayout from = hybrid.layout(), to = new GsaLayout(target);
        float[] old = hybrid.parameters(), p = new float[Math.toIntExact(to.size())];
        Random rnd = new Random(seed);
        for (ParameterView v : to.views()) {
            ParameterView src = from.find(v.name());
            int kvHeads = layers.contains(v.layer()) ? attentionKvHeads(c, v.layer()) : c.numKvHeads(), copies = c.numKvHeads() / kvHeads;
            if (src != null && src.arraySize() != v.arraySize()) {   // k or v of an attention layer with fewer kv heads than GSA's
                float[] repeated = HeadCopies.repeat(src.copyFrom(old), kvHeads, src.arraySize() / kvHeads, copies);
                System.arraycopy(repeated, 0, p, v.arrayOffset(), repeated.length);
            } else if (src != null) {
                System.arraycopy(old, src.arrayOffset(), p, v.arrayOffset(), v.arraySize());
            } else if (v.kind() == Kind.Q_CONV || v.kind() == Kind.K_CONV || v.kind() == Kind.V_CONV) {
                float[] identity = ShortConvInit.IDENTITY.kernels(v, null);
                System.arraycopy(identity, 0, p, v.arrayOffset(), identity.length);
            } else if (v.kind() == Kind.G_NORM) {
                java.util.Arrays.fill(p, v.arrayOffset(), v.arrayOffset() + v.arraySize(), 1f);
            } else if (v.kind() == Kind.F_PROJ) {
                float[] keys = from.get(Kind.K_PROJ, v.layer()).copyFrom(old);
                var projection = new GateInit.KeyProjection(MemorySegment.ofArray(keys), DType.F32, kvHeads,
                        c.headKDim(), c.hiddenSize());
                int[] at = {v.arrayOffset()};
                var rows = new HeadCopies.Rows(row -> {
                    System.arraycopy(row, 0, p, at[0], row.length);
                    at[0] += row.length;
                }, c.numSlots(), copies);
                init.write(rows, kvHeads, c.numSlots(), c.hiddenSize(), projection, rnd);
            } else {
                throw new IllegalStateException("no source for " + v.name());
            }
        }
        return new GsaModel(target, p);
    }

    /** Reads the hybrid in {@code in}, converts {@code layers}, writes the student to {@code out} atomically (weights in the input's dtype). */
    public static GsaConfig convert(Path in, Path out, Set<Integer> layers, GateInit init, long seed, boolean replace) {
        GsaModel student = convert(GsaModel.load(in), layers, init, seed);
        DType dtype = "float32".equals(student.config().dtype()) ? DType.F32 : DType.BF16;
        try (AtomicDirectory dir = AtomicDirectory.create(out, replace, GsaCheckpoint.STUDENT)) {
            GsaCheckpoint.writeInto(student, dir.path(), dtype);
            TokenizerFiles.copy(dir.path(), in);
            dir.commit();
        }
        return student.config();
    }

    /** The kv heads of attention layer {@code layer} of {@code c}. */
    private static int attentionKvHeads(GsaConfig c, int layer) {
        for (AttentionSpec s : c.attn()) if (s.layers().contains(layer)) return s.numKvHeads();
        throw new IllegalStateException("layer " + layer + " is not attention");
    }

    /**
     * {@code c} without {@code layers} in its attention specs; refuses layers that are not attention or differ in shape (an
     * attention layer with fewer kv heads than the GSA layers, a divisor of theirs, has its k and v copied into as many).
     */
    static GsaConfig config(GsaConfig c, Set<Integer> layers) {
        if (layers.isEmpty()) throw new T2rException("no layers to convert: give the attention layers to make GSA");
        List<AttentionSpec> specs = new ArrayList<>();
        Set<Integer> found = new TreeSet<>();
        for (AttentionSpec s : c.attn()) {
            List<Integer> kept = new ArrayList<>();
            for (int l : s.layers()) {
                if (!layers.contains(l)) {
                    kept.add(l);
                    continue;
                }
                found.add(l);
                if (s.numHeads() != c.numHeads() || c.numKvHeads() % s.numKvHeads() != 0 || s.headDim(c.hiddenSize()) != c.headKDim()
                        || c.headKDim() != c.headVDim() || s.qkvBias()) {
                    throw new T2rException("layer " + l + ": its attention (" + s.numHeads() + "/" + s.numKvHeads() + " heads of "
                            + s.headDim(c.hiddenSize()) + (s.qkvBias() ? ", q/k/v biases" : "") + ") does not fit the GSA layers ("
                            + c.numHeads() + "/" + c.numKvHeads() + " heads of " + c.headKDim() + "/" + c.headVDim() + ", no biases)");
                }
            }
            if (!kept.isEmpty()) {
                specs.add(new AttentionSpec(kept, s.numHeads(), s.numKvHeads(), s.qkvBias(), s.windowSize(), s.ropeTheta(),
                        s.headDim(), s.ropeScaling(), s.extra()));
            }
        }
        Set<Integer> missing = new TreeSet<>(layers);
        missing.removeAll(found);
        if (!missing.isEmpty()) {
            // Named by the option that gives the layers: a bad value of it, a usage error.
            throw new T2rException("--to-gsa: layers " + missing + " are not attention layers of this student (its plan: "
                    + c.layerPlan() + ")");
        }
        return c.withAttention(specs);
    }
}
