package gsat2r.eval.harness;

import gsat2r.eval.plot.BarPlot;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The plot of a harness report: each task's headline accuracy, for one model or for teacher and student. */
final class HarnessPlots {
    private HarnessPlots() {}

    static final String FILE = "harness-accuracy.png";

    /** Draws the plot into {@code dir}; returns the Markdown that shows it, or a line saying why it could not be drawn. */
    @SuppressWarnings("unchecked")
    static String write(Path dir, Map<String, Object> first, Map<String, Object> student) {
        Map<String, Object> a = (Map<String, Object>) first.get("results");
        Map<String, Object> b = student == null ? null : (Map<String, Object>) student.get("results");
        boolean wholeMmlu = a.containsKey("mmlu");
        List<String> names = new ArrayList<>();
        List<Double> av = new ArrayList<>(), bv = new ArrayList<>();
        for (String task : a.keySet()) {
            if (wholeMmlu && task.startsWith("mmlu_")) continue;
            Retention.Headline h = Retention.headline(task);
            if (!h.accuracy() || !(((Map<String, Object>) a.get(task)).get(h.metric() + ",none") instanceof Number x)) continue;
            names.add(task.replace("lambada_openai", "lambada"));
            av.add(x.doubleValue());
            Object y = b == null || !b.containsKey(task) ? null : ((Map<String, Object>) b.get(task)).get(h.metric() + ",none");
            bv.add(y instanceof Number n ? n.doubleValue() : Double.NaN);
        }
        if (names.isEmpty()) return null;
        BarPlot plot = new BarPlot("lm-evaluation-harness tasks", "accuracy (acc_norm: hellaswag, arc_challenge)", names)
                .add(student == null ? "model" : "teacher", av.stream().mapToDouble(Double::doubleValue).toArray());
        if (student != null) plot.add("student", bv.stream().mapToDouble(Double::doubleValue).toArray());
        try {
            plot.writePng(dir.resolve(FILE));
            return "![accuracy by task](" + FILE + ")";
        } catch (RuntimeException | LinkageError | java.awt.AWTError e) {
            return "(plot not drawn: " + e + ")";
        }
    }
}
