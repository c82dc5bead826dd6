package gsat2r.gpumodels;

import gsat2r.core.config.GsaConfig;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.ops.AttentionDecode;
import gsat2r.gpu.ops.DecodeLinear;
import gsat2r.gpu.ops.Elementwise;
import gsat2r.gpu.ops.Embedding;
import gsat2r.gpu.ops.GsaDecode;
import gsat2r.gpu.ops.GsaGates;
import gsat2r.gpu.ops.Matmul;
import gsat2r.gpu.ops.RmsNorm;
import gsat2r.gpu.ops.Rows;
import gsat2r.gpu.ops.ShortConv;
import gsat2r.gpu.ops.SwiGlu;

import java.util.List;

/**
 * The kernels of one decode step over the rows of a {@link RowTable} (one new token of each of B sequences), and
 * the scratch they work in, sized for the table's rows. Everything a step reads that changes between steps comes
 * from the table, so the queued work can be captured once per B and replayed ({@link DecodeGraphs}).
 *
 * <p>Two forms, the same arithmetic up to the order of fp32 sums:
 * <ul>
 *   <li><b>fused</b> (bf16, B ≤ {@link DecodeLinear#MAX_BATCH}): per layer the norm and the input projections in one
 *       pass over the weights (fp32 q | k | v (| f)), with short convolutions q, k and v through them in place
 *       ({@link ShortConv#decode}), the mixer ({@link GsaDecode} or {@link AttentionDecode}), the
 *       output projection added onto the residual (with the GSA output gate in its prologue), the MLP's norm, gate and
 *       up with SwiGLU, and the down projection added onto the residual: five launches a layer, each streaming its
 *       weights once at small batch;</li>
 *   <li><b>op by op</b> (fp32, or larger B): RMSNorm, cuBLASLt products (bf16 operands, fp32 projections for the mixer),
 *       the same mixer kernels, the output gate, SwiGLU and residual adds as the model's forward pass does them.</li>
 * </ul>
 * Logits are fp32 {@code [B, V]} in {@link #logits()}.
 */
final class DecodeStep implements AutoCloseable {
    private final DecodeModel model;
    private final Gpu gpu;
    private final int rows;
    private final boolean fusable;
    private final Buffers scratch;
    private final DeviceBuffer h, x, proj, mix, y, out, gate, up, act, logits, workspace, counters, dummyRing, dummyConv;
    private final DeviceBuffer[] dummyState;

    /** Scratch for up to {@code rows} rows; {@code fused} false keeps to the op-by-op form. */
    DecodeStep(DecodeModel model, int rows, boolean fused) {
        this.model = model;
        this.gpu = model.gpu;
        this.rows = rows;
        this.fusable = fused && model.fusable();
        int d = model.hidden, I = model.intermediate;
        this.scratch = new Buffers(gpu, model.type);
        try {
            h = scratch.t((long) rows * d);
            x = scratch.t((long) rows * d);
            proj = scratch.f32((long) rows * model.maxProjectionWidth());
            mix = scratch.t((long) rows * model.maxMixWidth());
            y = scratch.t((long) rows * model.maxMixWidth());
            out = scratch.t((long) rows * d);
            gate = scratch.t((long) rows * I);
            up = scratch.t((long) rows * I);
            act = scratch.t((long) rows * I);
            logits = scratch.f32((long) rows * model.vocab);
            workspace = scratch.f32(Math.max(1, workspaceFloats()));
            counters = scratch.i32(Math.max(1, counterInts()));
            counters.zero();
            dummyRing = scratch.t(Math.max(1, maxRingRow()));
            dummyConv = scratch.t(Math.max(1, model.maxConvHistory()));
            dummyState = dummyStates();
        } catch (RuntimeException e) {
            scratch.close();
            throw e;
        }
    }

    int rows() {
        return rows;
    }

    /** Whether a step of {@code n} rows runs the fused kernels. */
    boolean fused(int n) {
        return fusable && n <= DecodeLinear.MAX_BATCH;
    }

    DeviceBuffer logits() {
        return logits;
    }

    /** The state a padded row of layer {@code layer} points at (shared by every padded row: its results are dropped). */
    long dummyAddress(int layer, int which) {
        return switch (model.layers.get(layer)) {
            case DecodeModel.GsaLayer g -> dummyState[which].address();
            case DecodeModel.AttentionLayer a -> dummyRing.address();
        };
    }

    /** The convolution history a padded row points at (shared by every padded row: its results are dropped). */
    long dummyConvAddress() {
        return dummyConv.address();
    }

    /** Queues one step over rows {@code 0 .. n-1} of {@code table} (already copied to the device): logits {@code [n, V]}. */
    void enqueue(RowTable table, int n) {
        if (n < 1 || n > rows) throw new IllegalArgumentException("a step of " + n + " rows in scratch for " + rows);
        boolean fused = fused(n);
        Embedding.forward(gpu, h, table.ids(), model.embedding, n, model.hidden, model.vocab);
        for (int l = 0; l < model.layers.size(); l++) {
            DecodeModel.Layer layer = model.layers.get(l);
            switch (layer) {
                case DecodeModel.GsaLayer g -> {
                    if (fused) gsaFused(g, table, l, n);
                    else gsaByOps(g, table, l, n);
                }
                case DecodeModel.AttentionLayer a -> {
                    if (fused) attentionFused(a, table, l, n);
                    else attentionByOps(a, table, l, n);
                }
            }
            if (fused) mlpFused(layer.mlp(), n);
            else mlpByOps(layer.mlp(), n);
        }
        if (fused) {
            DecodeLinear.normProject(gpu, logits, model.vocab, h, model.finalNorm, model.eps, List.of(model.head), n, model.hidden);
        } else {
            RmsNorm.forward(gpu, x, null, h, model.finalNorm, n, model.hidden, model.eps);
            Matmul.linearForward(gpu, logits, x, model.head, n, model.hidden, model.vocab);
        }
    }

    // ------------------------------------------------------------------ fused

    private void gsaFused(DecodeModel.GsaLayer g, RowTable table, int l, int n) {
        int W = g.projectionWidth(), q = g.qWidth(), k = g.kWidth(), v = g.vWidth(), f = g.fWidth();
        DecodeLinear.normProject(gpu, proj, W, h, g.norm(), model.eps, List.of(g.wq(), g.wk(), g.wv(), g.wf()), n, model.hidden);
        Rows all = new Rows(proj, W);
        convolve(g, table, l, n, all.columns(0, q, n), all.columns(q, k, n), all.columns(q + k, v, n));
        GsaDecode.step(gpu, g.shape(), n, mix, table.addresses(l), all.columns(0, q, n), all.columns(q, k, n), all.columns(q + k, v, n),
                all.columns(q + k + v, f, n), g.tau(), 1f);
        DecodeLinear.gateProjectAdd(gpu, h, mix, g.gateNorm(), GsaConfig.G_NORM_EPS, g.wo(), n, g.mixWidth());
    }

    private void attentionFused(DecodeModel.AttentionLayer a, RowTable table, int l, int n) {
        int W = a.projectionWidth(), q = a.qWidth(), kv = a.kvWidth();
        DecodeLinear.normProject(gpu, proj, W, h, a.norm(), model.eps, List.of(a.wq(), a.wk(), a.wv()), n, model.hidden);
        Rows all = new Rows(proj, W);
        attend(a, table, l, n, all.columns(0, q, n), all.columns(q, kv, n), all.columns(q + kv, kv, n));
        DecodeLinear.projectAdd(gpu, h, mix, a.wo(), n, q);
    }

    private void mlpFused(DecodeModel.Mlp m, int n) {
        DecodeLinear.normSwiGlu(gpu, act, h, m.norm(), model.eps, m.gate(), m.up(), n, model.hidden);
        DecodeLinear.projectAdd(gpu, h, act, m.down(), n, model.intermediate);
    }

    // ------------------------------------------------------------------ op by op

    private void gsaByOps(DecodeModel.GsaLayer g, RowTable table, int l, int n) {
        int d = model.hidden, q = g.qWidth(), k = g.kWidth(), v = g.vWidth(), f = g.fWidth();
        RmsNorm.forward(gpu, x, null, h, g.norm(), n, d, model.eps);
        DeviceBuffer pq = proj.view(0, (long) n * q), pk = proj.view((long) n * q, (long) n * k);
        DeviceBuffer pv = proj.view((long) n * (q + k), (long) n * v), pf = proj.view((long) n * (q + k + v), (long) n * f);
        Matmul.linearForward(gpu, pq, x, g.wq(), n, d, q);
        Matmul.linearForward(gpu, pk, x, g.wk(), n, d, k);
        Matmul.linearForward(gpu, pv, x, g.wv(), n, d, v);
        Matmul.linearForward(gpu, pf, x, g.wf(), n, d, f);
        convolve(g, table, l, n, new Rows(pq, q), new Rows(pk, k), new Rows(pv, v));
        GsaDecode.step(gpu, g.shape(), n, mix, table.addresses(l), new Rows(pq, q), new Rows(pk, k), new Rows(pv, v), new Rows(pf, f),
                g.tau(), 1f);
        GsaGates.outputGateForward(gpu, y, null, mix, g.gateNorm(), n, g.mixWidth(), GsaConfig.G_NORM_EPS);
        Matmul.linearForward(gpu, out, y, g.wo(), n, g.mixWidth(), d);
        Elementwise.add(gpu, h, h, out, (long) n * d);
    }

    /** q, k and v through the layer's short convolutions in place (fp32 projections become silu(conv)); nothing without. */
    private void convolve(DecodeModel.GsaLayer g, RowTable table, int l, int n, Rows q, Rows k, Rows v) {
        DecodeModel.Conv c = g.conv();
        if (c == null) return;
        int history = c.taps() - 1;
        long kAt = (long) history * g.qWidth(), vAt = kAt + (long) history * g.kWidth();
        DeviceBuffer rows = table.convAddresses(l);
        ShortConv.decode(gpu, q, c.q(), rows, 1, 0, n, g.qWidth(), c.taps());
        ShortConv.decode(gpu, k, c.k(), rows, 1, kAt, n, g.kWidth(), c.taps());
        ShortConv.decode(gpu, v, c.v(), rows, 1, vAt, n, g.vWidth(), c.taps());
    }

    private void attentionByOps(DecodeModel.AttentionLayer a, RowTable table, int l, int n) {
        int d = model.hidden, q = a.qWidth(), kv = a.kvWidth();
        RmsNorm.forward(gpu, x, null, h, a.norm(), n, d, model.eps);
        DeviceBuffer pq = proj.view(0, (long) n * q), pk = proj.view((long) n * q, (long) n * kv);
        DeviceBuffer pv = proj.view((long) n * (q + kv), (long) n * kv);
        Matmul.linearForward(gpu, pq, x, a.wq(), n, d, q);
        Matmul.linearForward(gpu, pk, x, a.wk(), n, d, kv);
        Matmul.linearForward(gpu, pv, x, a.wv(), n, d, kv);
        attend(a, table, l, n, new Rows(pq, q), new Rows(pk, kv), new Rows(pv, kv));
        Matmul.linearForward(gpu, out, mix, a.wo(), n, q, d);
        Elementwise.add(gpu, h, h, out, (long) n * d);
    }

    private void mlpByOps(DecodeModel.Mlp m, int n) {
        int d = model.hidden, I = model.intermediate;
        RmsNorm.forward(gpu, x, null, h, m.norm(), n, d, model.eps);
        Matmul.linearForward(gpu, gate, x, m.gate(), n, d, I);
        Matmul.linearForward(gpu, up, x, m.up(), n, d, I);
        SwiGlu.forward(gpu, act, gate, up, (long) n * I);
        Matmul.linearForward(gpu, out, act, m.down(), n, I, d);
        Elementwise.add(gpu, h, h, out, (long) n * d);
    }

    private void attend(DecodeModel.AttentionLayer a, RowTable table, int l, int n, Rows q, Rows k, Rows v) {
        int splits = AttentionDecode.splits(gpu, a.shape(), n);
        AttentionDecode.decode(gpu, a.shape(), n, splits, mix, workspace, counters, q, k, v,
                new AttentionDecode.Rings(table.addresses(l), table.capacities(l), table.positions(), a.rope().cos(), a.rope().sin(),
                        a.rope().positions()));
    }

    // ------------------------------------------------------------------ sizes

    /** The partials' workspace of the largest attention layer at the batch (up to {@code rows}) that needs the most. */
    private long workspaceFloats() {
        long most = 0;
        for (DecodeModel.Layer l : model.layers) {
            if (!(l instanceof DecodeModel.AttentionLayer a)) continue;
            for (int b = 1; b <= rows; b++) most = Math.max(most, AttentionDecode.workspaceFloats(a.shape(), b, AttentionDecode.splits(gpu, a.shape(), b)));
        }
        return most;
    }

    private long counterInts() {
        long most = 0;
        for (DecodeModel.Layer l : model.layers) if (l instanceof DecodeModel.AttentionLayer a) most = Math.max(most, AttentionDecode.counters(a.shape(), rows));
        return most;
    }

    /** One row of the widest KV ring: a padded row's ring (capacity 1; position 0 reads nothing from it). */
    private long maxRingRow() {
        long most = 0;
        for (DecodeModel.Layer l : model.layers) if (l instanceof DecodeModel.AttentionLayer a) most = Math.max(most, a.kvWidth());
        return most;
    }

    private DeviceBuffer[] dummyStates() {
        long hk = 1, hv = 1;
        for (DecodeModel.Layer l : model.layers) {
            if (!(l instanceof DecodeModel.GsaLayer g)) continue;
            GsaDecode.Shape s = g.shape();
            hk = Math.max(hk, (long) s.kvHeads() * s.keyDim() * s.slots());
            hv = Math.max(hv, (long) s.kvHeads() * s.slots() * s.valueDim());
        }
        DeviceBuffer a = scratch.f32(hk), b = scratch.f32(hv);
        a.zero();
        b.zero();
        return new DeviceBuffer[] {a, b};
    }

    /** Bytes of device memory the scratch holds. */
    long bytes() {
        long n = 0;
        for (DeviceBuffer b : new DeviceBuffer[] {h, x, proj, mix, y, out, gate, up, act, logits, workspace, counters, dummyRing, dummyConv}) n += b.byteSize();
        return n + dummyState[0].byteSize() + dummyState[1].byteSize();
    }

    @Override
    public void close() {
        scratch.close();
    }
}
