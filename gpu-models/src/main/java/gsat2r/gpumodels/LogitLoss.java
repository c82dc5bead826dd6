package gsat2r.gpumodels;

import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.ops.Agreement;
import gsat2r.gpu.ops.CrossEntropy;
import gsat2r.gpu.ops.Elementwise;
import gsat2r.gpu.ops.KlDivergence;
import gsat2r.gpu.ops.Matmul;

/**
 * {@code (1 − w)·τ²·KL(teacher ‖ student at τ) + w·CE} (or CE alone) over the vocabulary, a block of rows at
 * a time: for rows {@code [r0, r1)} the student's logits ({@code norm(h)} rows times its head) and the
 * teacher's are made, the fused kernels write each row's losses and the logits' gradient in place, and the
 * gradient goes at once through the head ({@code dL/d norm(h)} rows, and the head's weight gradient when it
 * trains). No {@code [B·T, V]} tensor exists: a block holds at most {@link #blockRows} rows, a few hundred
 * MiB at a 128K vocabulary. The same arithmetic for every block size (each row's kernels see only that row;
 * the head's gradient adds the blocks in order), so results do not depend on it.
 */
final class LogitLoss {
    /** Bytes one block of logits may take. */
    static final long BLOCK_BYTES = 256L << 20;

    private LogitLoss() {}

    /** Rows per block for a vocabulary of {@code vocab} in {@code type}: at least 64, at most {@code rows}. */
    static int blockRows(int rows, int vocab, ElementType type) {
        long fit = BLOCK_BYTES / ((long) vocab * type.bytes());
        return (int) Math.max(1, Math.min(rows, Math.max(64, fit)));
    }

    /** What one call computes into: per-row fp32 losses and, when wanted, agreement (evaluation) and {@code dL/d norm(h)}. */
    record Outputs(DeviceBuffer ceRows, DeviceBuffer klRows, DeviceBuffer agreeRows, DeviceBuffer dNormed) {}

    /**
     * The losses over {@code n} rows. {@code teacherNormed}/{@code teacherHead} are null without a teacher;
     * {@code headGrad}: the student head's fp32 gradient to add into, or null when the head does not train.
     * {@code ceScale}, {@code klScale}: the gradient factors of the two terms (0 for no gradient). {@code weights}: fp32,
     * one per row, or null: each row's losses and its logits' gradient are multiplied by its weight before the gradient
     * goes through the head.
     */
    static void run(Gpu gpu, ElementType type, int n, int d, int vocab, DeviceBuffer normed, DeviceBuffer head, DeviceBuffer headGrad,
                    DeviceBuffer teacherNormed, DeviceBuffer teacherHead, DeviceBuffer targets, float tau, float ceScale, float klScale,
                    DeviceBuffer weights, Outputs out) {
        boolean grad = out.dNormed() != null, klGrad = grad && klScale != 0, ceGrad = grad && ceScale != 0;
        int block = blockRows(n, vocab, type);
        try (Buffers s = new Buffers(gpu, type)) {
            DeviceBuffer zs = s.t((long) block * vocab);
            DeviceBuffer zt = teacherNormed == null ? null : s.t((long) block * vocab);
            DeviceBuffer dce = klGrad && ceGrad ? s.t((long) block * vocab) : null;
            for (int r0 = 0; r0 < n; r0 += block) {
                int rows = Math.min(block, n - r0);
                long len = (long) rows * vocab;
                DeviceBuffer zsb = zs.view(0, len), ztb = zt == null ? null : zt.view(0, len);
                Matmul.linearForward(gpu, zsb, normed.view((long) r0 * d, (long) rows * d), head, rows, d, vocab);
                if (ztb != null) Matmul.linearForward(gpu, ztb, teacherNormed.view((long) r0 * d, (long) rows * d), teacherHead, rows, d, vocab);
                DeviceBuffer ce = out.ceRows().view(r0, rows), tg = targets.view(r0, rows);
                if (out.agreeRows() != null) Agreement.top1(gpu, out.agreeRows().view(r0, rows), zsb, ztb, rows, vocab);
                if (klGrad) {
                    DeviceBuffer dceb = dce == null ? null : dce.view(0, len);
                    CrossEntropy.forwardBackward(gpu, ce, dceb, zsb, tg, rows, vocab, ceScale);
                    KlDivergence.forwardBackward(gpu, out.klRows().view(r0, rows), zsb, zsb, ztb, null, rows, vocab, tau, klScale);
                    if (dceb != null) Elementwise.add(gpu, zsb, zsb, dceb, len);
                } else {
                    if (ztb != null) KlDivergence.forwardBackward(gpu, out.klRows().view(r0, rows), null, zsb, ztb, null, rows, vocab, tau, 0f);
                    CrossEntropy.forwardBackward(gpu, ce, ceGrad ? zsb : null, zsb, tg, rows, vocab, ceScale);
                }
                if (weights != null) {
                    DeviceBuffer wb = weights.view(r0, rows);
                    Elementwise.scaleRows(gpu, ce, wb, rows, 1);
                    if (out.klRows() != null) Elementwise.scaleRows(gpu, out.klRows().view(r0, rows), wb, rows, 1);
                    if (grad && (klGrad || ceGrad)) Elementwise.scaleRows(gpu, zsb, wb, rows, vocab);
                }
                if (!grad) continue;
                if (!klGrad && !ceGrad) {
                    out.dNormed().view((long) r0 * d, (long) rows * d).zero();
                    continue;
                }
                if (headGrad != null) Matmul.linearBackwardWeight(gpu, headGrad, zsb, normed.view((long) r0 * d, (long) rows * d), rows, d, vocab, true);
                Matmul.linearBackwardInput(gpu, out.dNormed().view((long) r0 * d, (long) rows * d), zsb, head, rows, d, vocab, false);
            }
        }
    }
}
