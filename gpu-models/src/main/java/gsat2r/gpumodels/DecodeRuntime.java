package gsat2r.gpumodels;

import gsat2r.core.model.BatchDecoder;
import gsat2r.core.model.LanguageModel;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.PinnedBuffer;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Batched decoding of one GPU model ({@link BatchDecoder}): each step feeds one token to each of B of the model's
 * {@link GpuDecoder}s, which keep their states (GSA states, KV rings) where they are; the step's rows, positions and
 * state addresses go into a {@link RowTable}, the kernels of {@link DecodeStep} run over them (a CUDA graph per row
 * count, {@link DecodeGraphs}), and the fp32 logits come back through pinned memory. A decoder's {@code next} is a
 * step of one row.
 *
 * <p>Row counts above 16 are padded up to a bucket (multiples of 8 to 64, of 32 to 256, of 64 after), so that a
 * server whose batch changes every few steps replays a few graphs rather than capturing one per size; padded rows
 * point at a dummy state and their results are dropped. Batches above {@link #MAX_ROWS} run as several steps.
 *
 * <p>A decoder gives its device memory back at once with {@link LanguageModel.Decoder#release} (a session's close);
 * decoders dropped without it give it back through {@link DroppedDecoders}: the buffers are queued and released on the
 * model's thread at the next step. One thread at a time (a server's scheduler).
 */
final class DecodeRuntime implements BatchDecoder, AutoCloseable {
    /** Rows of one step at most. */
    static final int MAX_ROWS = 256;

    final DecodeModel model;
    private final Gpu gpu;
    private final DecodeGraphs graphs;
    private final DroppedDecoders dropped = new DroppedDecoders();
    private final boolean fusedAllowed;
    private DecodeStep step;
    private RowTable table;
    private PinnedBuffer hostLogits;
    private gsat2r.gpu.cuda.CudaEvent timedStart, timedEnd;
    private float lastStepMillis = Float.NaN;
    private boolean closed;

    DecodeRuntime(DecodeModel model, Consumer<String> log) {
        this.model = model;
        this.gpu = model.gpu;
        this.graphs = new DecodeGraphs(gpu, log);
        this.fusedAllowed = Boolean.parseBoolean(System.getProperty("gsat2r.decode.fused", "true"));
    }

    static DecodeRuntime of(Gpu gpu, LlamaModel m) {
        return new DecodeRuntime(DecodeModel.of(gpu, m), System.err::println);
    }

    static DecodeRuntime of(Gpu gpu, GsaModel m) {
        return new DecodeRuntime(DecodeModel.of(gpu, m), System.err::println);
    }

    /** The rows a step of {@code n} sequences runs: n up to 16, then the bucket above it. */
    static int bucket(int n) {
        if (n <= 16) return n;
        if (n <= 64) return Math.ceilDiv(n, 8) * 8;
        if (n <= 256) return Math.ceilDiv(n, 32) * 32;
        return Math.ceilDiv(n, 64) * 64;
    }

    /** How steps are launched now (graphs with programmatic launch, graphs, one by one). */
    DecodeGraphs.Mode mode() {
        return graphs.mode();
    }

    /** Whether a step of {@code n} rows runs the fused small-batch kernels. */
    boolean fused(int n) {
        return fusedAllowed && model.fusable() && bucket(n) <= gsat2r.gpu.ops.DecodeLinear.MAX_BATCH;
    }

    Gpu gpu() {
        return gpu;
    }

    /** Whether the model, and with it this runtime, is closed. */
    boolean isClosed() {
        return closed;
    }

    /** Has {@code resources} closed, on this runtime's thread, once {@code decoder} is unreachable. */
    void track(GpuDecoder decoder, AutoCloseable resources) {
        dropped.track(decoder, resources);
    }

    /** Releases what dropped decoders held. */
    void releaseAbandoned() {
        dropped.release();
    }

    @Override
    public Step next(List<? extends LanguageModel.Decoder> decoders, int[] ids) {
        BatchDecoder.checkCall(decoders, ids);
        Step out = Step.of(ids.length);
        List<Integer> rows = BatchDecoder.steppable(out, decoders, ids, model.vocab,
                d -> d instanceof GpuDecoder g && g.runtime == this, "the decoder is not one of this GPU model's");
        for (int from = 0; from < rows.size(); from += MAX_ROWS) {
            List<Integer> part = rows.subList(from, Math.min(rows.size(), from + MAX_ROWS));
            List<GpuDecoder> seqs = new ArrayList<>(part.size());
            int[] tokens = new int[part.size()];
            for (int r = 0; r < part.size(); r++) {
                seqs.add((GpuDecoder) decoders.get(part.get(r)));
                tokens[r] = ids[part.get(r)];
            }
            float[][] logits = step(seqs, tokens);
            for (int r = 0; r < part.size(); r++) out.logits()[part.get(r)] = logits[r];
        }
        return out;
    }

    /** One step: token {@code tokens[i]} into {@code seqs.get(i)} at its position; advances each; the fp32 logits. */
    float[][] step(List<GpuDecoder> seqs, int[] tokens) {
        if (closed) throw new IllegalStateException("the GPU model is closed");
        releaseAbandoned();
        int n = seqs.size(), rows = bucket(n), maxPosition = 0;
        for (GpuDecoder s : seqs) {
            maxPosition = Math.max(maxPosition, s.position());
            s.reserve(s.position() + 1);
        }
        ensureCapacity(rows);
        if (model.ensureRope(maxPosition + 1)) graphs.invalidate();
        for (int i = 0; i < rows; i++) fillRow(i, i < n ? seqs.get(i) : null, i < n ? tokens[i] : 0);
        int V = model.vocab;
        if (timedStart != null) timedStart.record(gpu.stream());
        graphs.run(rows, () -> {
            table.upload(gpu);
            step.enqueue(table, rows);
            gpu.context().copyDeviceToHostAsync(hostLogits.segment(), step.logits().address(), 4L * rows * V, gpu.stream());
        });
        if (timedEnd != null) timedEnd.record(gpu.stream());
        gpu.synchronize();
        if (timedEnd != null) lastStepMillis = timedEnd.elapsedMillisSince(timedStart);
        float[][] logits = new float[n][V];
        MemorySegment host = hostLogits.segment();
        for (int i = 0; i < n; i++) MemorySegment.copy(host, ValueLayout.JAVA_FLOAT, 4L * i * V, logits[i], 0, V);
        for (GpuDecoder s : seqs) s.advance(1);
        return logits;
    }

    private void fillRow(int i, GpuDecoder s, int token) {
        table.setRow(i, token, s == null ? 0 : s.position());
        for (int l = 0; l < model.layers.size(); l++) {
            if (s == null) {
                table.setState(l, i, step.dummyAddress(l, 0), step.dummyAddress(l, 1), 1);
                table.setConv(l, i, step.dummyConvAddress());
            } else {
                table.setState(l, i, s.stateAddress(l, 0), s.stateAddress(l, 1), s.ringCapacity(l));
                table.setConv(l, i, s.convAddress(l));
            }
        }
    }

    /** Scratch, table and pinned logits for {@code rows} rows (re-made larger when needed: the graphs go with them). */
    private void ensureCapacity(int rows) {
        if (step != null && step.rows() >= rows) return;
        int size = step == null ? rows : Math.min(Math.max(rows, 2 * step.rows()), Math.max(rows, MAX_ROWS));
        graphs.invalidate();
        freeScratch();
        gpu.blas();   // the cuBLASLt handle and its workspace exist before any step is captured
        step = new DecodeStep(model, size, fusedAllowed);
        table = new RowTable(gpu, model.layers.size(), size);
        hostLogits = PinnedBuffer.allocate(gpu.context(), 4L * size * model.vocab);
    }

    private void freeScratch() {
        gpu.synchronize();
        if (step != null) step.close();
        if (table != null) table.close();
        if (hostLogits != null) hostLogits.close();
        step = null;
        table = null;
        hostLogits = null;
    }

    /** Records CUDA events around each step from now on (benchmarks: {@link #lastStepMillis}). */
    void timeSteps() {
        if (timedStart == null) {
            timedStart = gpu.newEvent();
            timedEnd = gpu.newEvent();
        }
    }

    /** Device milliseconds of the last step (its table copy, kernels and logits copy), NaN unless {@link #timeSteps}. */
    float lastStepMillis() {
        return lastStepMillis;
    }

    /** Device bytes of the step's scratch now (0 before the first step). */
    long scratchBytes() {
        return step == null ? 0 : step.bytes();
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            graphs.close();
            freeScratch();
            releaseAbandoned();
            if (timedStart != null) {
                timedStart.close();
                timedEnd.close();
            }
        } finally {
            model.close();
        }
    }
}
