package gsat2r.export.samediff;

import gsat2r.core.T2rException;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs an exported decode step (the file of {@code t2r export --format samediff}) one token at a time,
 * keeping the recurrent state between calls: what a DL4J application needs, in a few lines, and what the
 * export's test checks against the Java student. The contract is read from the graph itself (see
 * {@link StepGraph}): every {@code state.*} placeholder is a state, zero at the start, replaced by its
 * {@code next.*} output after each step. Not thread-safe (one sequence).
 *
 * <pre>{@code
 * SameDiffStudent s = SameDiffStudent.load(Path.of("student.sd"));
 * float[] logits = null;
 * for (int id : promptIds) logits = s.step(id);
 * }</pre>
 */
public final class SameDiffStudent {
    private final SameDiff graph;
    private final boolean hasPosition;
    private final int capacity;
    private final List<String> stateNames = new ArrayList<>();
    private final Map<String, INDArray> state = new HashMap<>();
    private int position;

    private SameDiffStudent(SameDiff graph) {
        this.graph = graph;
        this.hasPosition = graph.hasVariable(StepGraph.POSITION);
        for (String in : graph.inputs()) {
            if (in.startsWith("state.")) stateNames.add(in);
        }
        // A full-attention ring cannot go past its rows (a windowed one can: it only keeps the window).
        this.capacity = graph.hasVariable(StepGraph.MAX_POSITIONS)
                ? graph.getVariable(StepGraph.MAX_POSITIONS).getArr().getInt(0) : Integer.MAX_VALUE;
        reset();
    }

    /** Loads a graph written by the exporter. */
    public static SameDiffStudent load(Path file) {
        if (!Files.isRegularFile(file)) throw new T2rException(file + ": no such file");
        try {
            return new SameDiffStudent(SameDiff.load(file.toFile(), false));
        } catch (RuntimeException e) {
            throw new T2rException(file + ": not a SameDiff graph this ND4J can read (" + e.getMessage() + ")", e);
        }
    }

    /** Back to the start of a sequence: every state zero. */
    public void reset() {
        position = 0;
        for (String in : stateNames) state.put(in, Nd4j.zeros(DataType.FLOAT, graph.getVariable(in).getShape()));
    }

    public int position() {
        return position;
    }

    /** The most tokens a sequence can have: the export's --max-context with a full-attention layer, else MAX_VALUE. */
    public int maxPositions() {
        return capacity;
    }

    /** Feeds one token; returns the logits that predict the next one ({@code [vocab]}). */
    public float[] step(int token) {
        if (position >= capacity) {
            throw new T2rException("the exported graph holds " + capacity + " positions in its full-attention layers "
                    + "(export --max-context); reset() to start a new sequence");
        }
        Map<String, INDArray> feed = new HashMap<>(state);
        feed.put(StepGraph.TOKEN, Nd4j.createFromArray(new int[] {token}));
        if (hasPosition) feed.put(StepGraph.POSITION, Nd4j.createFromArray(new int[] {position}));
        List<String> outputs = new ArrayList<>();
        outputs.add(StepGraph.LOGITS);
        for (String in : stateNames) outputs.add("next." + in.substring("state.".length()));
        Map<String, INDArray> out = graph.output(feed, outputs);
        for (String in : stateNames) state.put(in, out.get("next." + in.substring("state.".length())));
        position++;
        return out.get(StepGraph.LOGITS).reshape(-1).toFloatVector();
    }
}
