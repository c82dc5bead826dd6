package gsat2r.eval.harness;

import gsat2r.core.T2rException;
import gsat2r.eval.harness.HarnessTask.Shots;

import java.util.ArrayList;
import java.util.List;

/**
 * The few-shot examples before each document of a task, drawn as lm-evaluation-harness draws them: the first n of a
 * split, or a new draw of n for each document evaluated, in order ({@link Shots}). Each example is its document's
 * query, the target delimiter, the right answer and the few-shot delimiter; the harness renders its messages to
 * the same text when no chat template is applied.
 */
final class Fewshot {
    /** The harness's default few-shot seed ({@code --seed}'s fourth value), set anew for each task. */
    static final long SEED = 1234;

    private final HarnessTask task;
    private final int n;
    private final List<Doc> pool;
    private final PythonRandom rnd = new PythonRandom(SEED);

    private Fewshot(HarnessTask task, int n, List<Doc> pool) {
        this.task = task;
        this.n = n;
        this.pool = pool;
    }

    /** The split {@code task}'s n-shot examples come from; a task t2r runs zero-shot only fails here, in one line. */
    static String split(HarnessTask task, int n) {
        return switch (task.shots()) {
            case Shots.FirstN f -> f.split();
            case Shots.Drawn d -> d.split();
            case Shots.Unsupported u -> throw new T2rException("--num-fewshot " + n + ": " + task.name() + ": " + u.why());
        };
    }

    /** n-shot examples for {@code task} from its few-shot split in {@code data}; none read when n is 0. */
    static Fewshot of(HarnessTask task, int n, TaskData data) {
        if (n == 0) return new Fewshot(task, 0, List.of());
        String split = split(task, n);
        List<Doc> pool = data.rows(task.datasetPath(), task.datasetName(), split).stream().map(task.toDoc()).toList();
        int needed = drawn(task, n);
        if (pool.size() < needed) {
            throw new T2rException(task.name() + ": --num-fewshot " + n + " needs " + needed + " documents in the " + split
                    + " split, which has " + pool.size());
        }
        return new Fewshot(task, n, pool);
    }

    private static int drawn(HarnessTask task, int n) {
        return task.shots() instanceof Shots.Drawn d && d.excludesEvaluated() ? n + 1 : n;
    }

    /** The examples before {@code evaluated}: call once per document, in the order the documents are evaluated. */
    String before(Doc evaluated) {
        if (n == 0) return "";
        List<Doc> picked = switch (task.shots()) {
            case Shots.FirstN f -> pool.subList(0, n);
            case Shots.Drawn d -> draw(evaluated, d.excludesEvaluated());
            case Shots.Unsupported u -> throw new IllegalStateException(u.why());
        };
        StringBuilder s = new StringBuilder();
        for (Doc d : picked) s.append(example(d));
        return s.toString();
    }

    private List<Doc> draw(Doc evaluated, boolean excludesEvaluated) {
        List<Doc> out = new ArrayList<>(n + 1);
        for (int i : rnd.sample(pool.size(), drawn(task, n))) {
            if (!excludesEvaluated || !pool.get(i).fields().equals(evaluated.fields())) out.add(pool.get(i));
        }
        if (out.size() < n) {
            throw new T2rException(task.name() + ": the few-shot draw found the document evaluated more than once in its pool; "
                    + "the harness fails here too");
        }
        return out.subList(0, n);
    }

    /**
     * A document with its answer and the few-shot delimiter: the query, a space, the right choice and a blank line
     * (WinoGrande: the right context, then the rest of the sentence; LAMBADA: the context, a space, then its
     * continuation, which starts with a space of its own). A WinoGrande sentence that ends at its blank has an empty
     * answer, which the harness takes for none: the context alone, with neither delimiter.
     */
    static String example(Doc d) {
        return switch (d) {
            case Doc.Choices c -> c.query() + " " + c.choices().get(c.gold()) + "\n\n";
            case Doc.Inputs in -> Py.strip(in.continuation()).isEmpty() ? in.contexts().get(in.gold())
                    : in.contexts().get(in.gold()) + in.continuation() + "\n\n";
            case Doc.Target t -> t.context() + " " + t.continuation() + "\n\n";
            case Doc.Rolling r -> throw new IllegalStateException("no few-shot examples of rolling documents");
        };
    }
}
