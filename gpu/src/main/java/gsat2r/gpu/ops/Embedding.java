package gsat2r.gpu.ops;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;

/** Token embedding lookup (embedding.cu). */
public final class Embedding {
    private Embedding() {}

    /**
     * {@code out[t,:] = table[ids[t],:]} for {@code nTokens} ids; table {@code [vocab, dim]}, out
     * {@code [nTokens, dim]} of the table's type. An id outside [0, vocab) yields a row of NaN.
     */
    public static void forward(Gpu gpu, DeviceBuffer out, DeviceBuffer ids, DeviceBuffer table, int nTokens, int dim, int vocab) {
        Checks.positive("nTokens", nTokens);
        Checks.positive("dim", dim);
        Checks.positive("vocab", vocab);
        ElementType t = Checks.storage("table", table);
        Checks.buffer("table", table, t, (long) vocab * dim);
        Checks.buffer("ids", ids, ElementType.I32, nTokens);
        Checks.buffer("out", out, t, (long) nTokens * dim);
        gpu.kernel("embedding_fwd", t).launch(gpu.stream(), nTokens, 128, 0, out, ids, table, nTokens, dim, vocab);
    }

    /** {@code dtable[ids[t],:] += dout[t,:]}, dtable fp32 (accumulates: zero it first). */
    public static void backward(Gpu gpu, DeviceBuffer dtable, DeviceBuffer ids, DeviceBuffer dout, int nTokens, int dim, int vocab) {
        Checks.positive("nTokens", nTokens);
        Checks.positive("dim", dim);
        Checks.positive("vocab", vocab);
        ElementType t = Checks.storage("dout", dout);
        Checks.buffer("dout", dout, t, (long) nTokens * dim);
        Checks.buffer("ids", ids, ElementType.I32, nTokens);
        Checks.buffer("dtable", dtable, ElementType.F32, (long) vocab * dim);
        gpu.kernel("embedding_bwd", t).launch(gpu.stream(), nTokens, 128, 0, dtable, ids, dout, nTokens, dim, vocab);
    }
}
