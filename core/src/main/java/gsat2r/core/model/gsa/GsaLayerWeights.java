package gsat2r.core.model.gsa;

import gsat2r.core.config.GsaConfig;
import gsat2r.core.gsa.GsaShape;
import gsat2r.core.model.gsa.ParameterView.Kind;

import java.util.List;

/**
 * One GSA layer's sizes and weights, read from the layout the same way for both mixers that run it: the CPU's
 * {@link GsaMixer} and the GPU's ({@code gsat2r.gpumodels.GsaMixer}). The short convolutions' kernels are null
 * without them ({@code taps} 0).
 */
public abstract class GsaLayerWeights {
    protected final int d, heads, kvHeads, dk, dv, slots, taps;
    /** The gate logit normalizer. */
    protected final float tau;
    protected final ParameterView wq, wk, wv, wf, gNorm, wo;
    protected final ParameterView cq, ck, cv;

    protected GsaLayerWeights(GsaLayout layout, int layer) {
        GsaConfig c = layout.config();
        this.d = c.hiddenSize();
        this.heads = c.numHeads();
        this.kvHeads = c.numKvHeads();
        this.dk = c.headKDim();
        this.dv = c.headVDim();
        this.slots = c.numSlots();
        this.taps = c.shortConv();
        this.tau = (float) c.gateLogitNormalizer();
        this.wq = layout.get(Kind.Q_PROJ, layer);
        this.wk = layout.get(Kind.K_PROJ, layer);
        this.wv = layout.get(Kind.V_PROJ, layer);
        this.wf = layout.get(Kind.F_PROJ, layer);
        this.gNorm = layout.get(Kind.G_NORM, layer);
        this.wo = layout.get(Kind.O_PROJ, layer);
        this.cq = layout.optional(Kind.Q_CONV, layer);
        this.ck = layout.optional(Kind.K_CONV, layer);
        this.cv = layout.optional(Kind.V_CONV, layer);
    }

    /** The layer's tensors in the order the mixers' passes use them. */
    public List<ParameterView> views() {
        return taps == 0 ? List.of(wq, wk, wv, wf, gNorm, wo) : List.of(wq, wk, wv, wf, cq, ck, cv, gNorm, wo);
    }

    /** The operator's sizes for B sequences of T tokens. */
    public GsaShape shape(int batch, int seqLen) {
        return new GsaShape(batch, seqLen, heads, kvHeads, dk, dv, slots);
    }
}
