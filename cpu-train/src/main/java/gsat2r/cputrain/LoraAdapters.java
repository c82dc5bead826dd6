package gsat2r.cputrain;

import gsat2r.core.cpu.Matmul;
import gsat2r.core.data.SplitMix64;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.gsa.ParameterGroup;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.core.model.gsa.ParameterView.Kind;
import gsat2r.training.ParameterInfo;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * LoRA adapters on {@code q_proj}, {@code k_proj}, {@code v_proj} and {@code o_proj} of every GSA layer
 * of a student: {@code W x + s·B(A x)} with {@code s = α/R}, A {@code [R, in]}, B {@code [out, R]}.
 *
 * <p>How they train here: through the effective weight. The model's parameter buffer holds
 * {@code W' = W + s·B·A} for every adapted tensor (the base W is kept aside), the student's ordinary
 * forward and backward run on W' and leave {@code dL/dW'} in the model's gradient buffer, and since W'
 * is linear in A and B, {@code dL/dA = s·Bᵀ·dL/dW'} and {@code dL/dB = s·dL/dW'·Aᵀ} exactly. This costs one
 * {@code [out, in]} weight gradient per adapted tensor and micro-batch (which the adapter path
 * {@code B(A x)} would avoid), and no change to the model's code; merging writes W' as the new W, so the
 * merged model computes bit for bit what the adapted one did.
 *
 * <p>Names: {@code <tensor>.lora_A.weight} and {@code <tensor>.lora_B.weight} beside the adapted tensor
 * {@code <tensor>.weight} (e.g. {@code model.layers.0.attn.q_proj.lora_A.weight}), PEFT's suffixes.
 */
final class LoraAdapters {

    /** One adapted tensor: its base weight (kept aside), its factors and their gradients. */
    static final class Adapter {
        final ParameterView target;
        final int out, in, rank;
        final float[] base, a, b, gradA, gradB;
        final ParameterInfo infoA, infoB;

        Adapter(ParameterView target, int rank, float[] base) {
            this.target = target;
            this.out = (int) target.shape()[0];
            this.in = (int) target.shape()[1];
            this.rank = rank;
            this.base = base;
            this.a = new float[rank * in];
            this.b = new float[out * rank];
            this.gradA = new float[a.length];
            this.gradB = new float[b.length];
            String stem = target.name().substring(0, target.name().length() - ".weight".length());
            this.infoA = new ParameterInfo(stem + ".lora_A.weight", new long[] {rank, in});
            this.infoB = new ParameterInfo(stem + ".lora_B.weight", new long[] {out, rank});
        }
    }

    private final GsaModel model;
    private final float scale;
    private final List<Adapter> adapters = new ArrayList<>();
    private final Map<String, Adapter> byTarget = new LinkedHashMap<>();
    private final ParameterGroup targets;
    private boolean dirty = true;

    /**
     * Adapters of rank {@code rank} with factor {@code scale = α/R} on the current weights of
     * {@code model}: A drawn from N(0, 1/in) by a SplitMix64 seeded with {@code seed}, tensor after tensor
     * in buffer order, row-major; B zero.
     */
    LoraAdapters(GsaModel model, int rank, double scale, long seed) {
        this.model = model;
        this.scale = (float) scale;
        SplitMix64 rng = new SplitMix64(seed);
        float[] p = model.parameters();
        List<ParameterView> adapted = new ArrayList<>();
        for (ParameterView v : model.layout().views()) {
            if (!isTarget(model, v)) continue;
            Adapter ad = new Adapter(v, rank, v.copyFrom(p));
            double std = 1.0 / Math.sqrt(ad.in);
            for (int i = 0; i < ad.a.length; i++) ad.a[i] = (float) (std * rng.nextGaussian());
            adapters.add(ad);
            byTarget.put(v.name(), ad);
            adapted.add(v);
        }
        this.targets = new ParameterGroup("lora-targets", adapted);
    }

    /** Whether LoRA adapts {@code v}: q/k/v/o projections of GSA layers. */
    static boolean isTarget(GsaModel model, ParameterView v) {
        boolean projection = v.kind() == Kind.Q_PROJ || v.kind() == Kind.K_PROJ || v.kind() == Kind.V_PROJ || v.kind() == Kind.O_PROJ;
        return projection && v.layer() >= 0 && model.config().isGsaLayer(v.layer());
    }

    List<Adapter> adapters() {
        return adapters;
    }

    /** The adapted tensors: what the model's backward must compute {@code dL/dW'} for. */
    ParameterGroup targets() {
        return targets;
    }

    /** The adapter of the adapted tensor {@code name}, or null. */
    Adapter adapterOf(String name) {
        return byTarget.get(name);
    }

    /** Some factor or base weight changed: the effective weights must be written again before the next use. */
    void invalidate() {
        dirty = true;
    }

    /** Writes {@code W' = W + s·(B·A)} of every adapter into the model's buffer, if anything changed since. */
    void materialize() {
        if (!dirty) return;
        float[] p = model.parameters();
        for (Adapter ad : adapters) {
            float[] ba = new float[ad.out * ad.in];
            // BA[o, i] = Σ_r B[o, r] A[r, i]
            Matmul.multiply(ba, 0, ad.in, ad.b, 0, ad.rank, 1, ad.a, 0, ad.in, 1, ad.out, ad.rank, ad.in, false);
            int off = ad.target.arrayOffset();
            for (int j = 0; j < ba.length; j++) p[off + j] = ad.base[j] + scale * ba[j];
        }
        dirty = false;
    }

    /**
     * Moves {@code dL/dW'} out of the model's gradient buffer into the factors' gradients
     * ({@code dA += s·Bᵀ·dW'}, {@code dB += s·dW'·Aᵀ}) and zeroes it there.
     */
    void collectGradients() {
        float[] g = model.gradients();
        for (Adapter ad : adapters) {
            int off = ad.target.arrayOffset();
            float[] da = new float[ad.a.length], db = new float[ad.b.length];
            // dA[r, i] = Σ_o B[o, r] dW[o, i]: A-operand Bᵀ read through strides.
            Matmul.multiply(da, 0, ad.in, ad.b, 0, 1, ad.rank, g, off, ad.in, 1, ad.rank, ad.out, ad.in, false);
            // dB[o, r] = Σ_i dW[o, i] A[r, i]: B-operand Aᵀ read through strides.
            Matmul.multiply(db, 0, ad.rank, g, off, ad.in, 1, ad.a, 0, 1, ad.in, ad.out, ad.in, ad.rank, false);
            for (int i = 0; i < da.length; i++) ad.gradA[i] += scale * da[i];
            for (int i = 0; i < db.length; i++) ad.gradB[i] += scale * db[i];
            Arrays.fill(g, off, off + ad.out * ad.in, 0f);
        }
    }

    /** Folds the adapters into the model: its buffer keeps {@code W'} (the same numbers it computed with). */
    void merge() {
        materialize();
    }
}
