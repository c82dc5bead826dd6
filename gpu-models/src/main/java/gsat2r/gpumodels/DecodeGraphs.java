package gsat2r.gpumodels;

import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.CudaException;
import gsat2r.gpu.cuda.CudaFunction;
import gsat2r.gpu.cuda.CudaGraph;

import java.util.HashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * How decode steps are launched: one CUDA graph per number of rows, captured at its first step and replayed after
 * (a step's hundred-odd kernels cost one launch from Java), with programmatic dependent launch between the decode
 * kernels (each starts requesting its weights while the previous one finishes); or, where the driver cannot, graphs
 * without it; or the kernels queued one by one. A capture that fails moves to the next mode down, once, and says so
 * on stderr. The mode can be chosen with {@code -Dgsat2r.decode.graphs=false} and {@code -Dgsat2r.decode.pdl=false}
 * (benchmarks compare them).
 */
final class DecodeGraphs implements AutoCloseable {

    /** From fastest to plainest. */
    enum Mode {
        GRAPHS_PDL, GRAPHS, EAGER;

        Mode next() {
            return this == GRAPHS_PDL ? GRAPHS : EAGER;
        }
    }

    private final Gpu gpu;
    private final Map<Integer, CudaGraph> graphs = new HashMap<>();
    private final Consumer<String> log;
    private Mode mode;

    DecodeGraphs(Gpu gpu, Consumer<String> log) {
        this.gpu = gpu;
        this.log = log;
        this.mode = initialMode();
    }

    private static Mode initialMode() {
        if (!Boolean.parseBoolean(System.getProperty("gsat2r.decode.graphs", "true")) || !CudaGraph.available()
                || Boolean.getBoolean("gsat2r.gpu.syncLaunches")) {
            return Mode.EAGER;
        }
        boolean pdl = Boolean.parseBoolean(System.getProperty("gsat2r.decode.pdl", "true")) && CudaFunction.programmaticLaunchAvailable();
        return pdl ? Mode.GRAPHS_PDL : Mode.GRAPHS;
    }

    Mode mode() {
        return mode;
    }

    /** Queues the step of {@code rows} rows that {@code body} queues: a replay of its graph (captured now if new), or {@code body} itself. */
    void run(int rows, Runnable body) {
        while (true) {
            if (mode == Mode.EAGER) {
                body.run();
                return;
            }
            CudaGraph g = graphs.get(rows);
            if (g == null) {
                try {
                    g = capture(body);
                } catch (CudaException e) {
                    Mode down = mode.next();
                    log.accept("decode: capturing a step in mode " + mode + " failed (" + e.getMessage() + "); using " + down);
                    invalidate();
                    mode = down;
                    continue;
                }
                graphs.put(rows, g);
            }
            g.launch(gpu.stream());
            return;
        }
    }

    private CudaGraph capture(Runnable body) {
        boolean was = gpu.setProgrammaticLaunches(mode == Mode.GRAPHS_PDL);
        try {
            return CudaGraph.capture(gpu.stream(), body);
        } finally {
            gpu.setProgrammaticLaunches(was);
        }
    }

    /** Drops every graph (their kernels' arguments name buffers that are about to change). */
    void invalidate() {
        for (CudaGraph g : graphs.values()) g.close();
        graphs.clear();
    }

    /** Graphs held now. */
    int size() {
        return graphs.size();
    }

    @Override
    public void close() {
        invalidate();
    }
}
