package gsat2r.eval.harness;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The student's results over the teacher's, per task, on the metric each task is reported by in the papers
 * that compare linear-attention students with their teachers (GSA's Table 3, LoLCATs): accuracy for PIQA,
 * WinoGrande, ARC-e, LAMBADA and MMLU, length-normalised accuracy for HellaSwag and ARC-c; perplexities shown
 * with the teacher's over the student's (lower is better). Averages as the papers take them: the mean accuracy of
 * the zero-shot commonsense tasks present (MMLU aside), and with MMLU.
 */
public final class Retention {
    private Retention() {}

    /** The metric a task is compared on, and whether it is an accuracy (averaged) or a perplexity (not). */
    public record Headline(String task, String metric, boolean accuracy) {}

    static Headline headline(String task) {
        return switch (task) {
            case "hellaswag", "arc_challenge" -> new Headline(task, "acc_norm", true);
            case "wikitext" -> new Headline(task, "word_perplexity", false);
            default -> new Headline(task, "acc", true);
        };
    }

    public record Line(String task, String metric, double teacher, double student, double retention) {}

    /** Lines for the tasks and top-level groups both results hold (LAMBADA twice: perplexity and accuracy). */
    @SuppressWarnings("unchecked")
    public static List<Line> table(Map<String, Object> teacher, Map<String, Object> student) {
        Map<String, Object> t = (Map<String, Object>) teacher.get("results"), s = (Map<String, Object>) student.get("results");
        List<Line> out = new ArrayList<>();
        List<Double> tAcc = new ArrayList<>(), sAcc = new ArrayList<>();
        Double tMmlu = null, sMmlu = null;
        boolean wholeMmlu = t.containsKey("mmlu");
        for (String task : t.keySet()) {
            if (!s.containsKey(task) || (wholeMmlu && task.startsWith("mmlu_"))) continue;     // MMLU once, as the group
            Map<String, Object> tm = (Map<String, Object>) t.get(task), sm = (Map<String, Object>) s.get(task);
            if (task.equals("lambada_openai")) out.add(line(task, "perplexity", tm, sm, true));
            Headline h = headline(task);
            Line l = line(task, h.metric(), tm, sm, !h.accuracy());
            if (l == null) continue;
            out.add(l);
            if (task.equals("mmlu")) {
                tMmlu = l.teacher();
                sMmlu = l.student();
            } else if (h.accuracy() && !task.startsWith("mmlu")) {
                tAcc.add(l.teacher());
                sAcc.add(l.student());
            }
        }
        if (!tAcc.isEmpty()) {
            double ta = mean(tAcc), sa = mean(sAcc);
            out.add(new Line("average (zero-shot, no MMLU)", "acc", ta, sa, sa / ta));
            if (tMmlu != null) {
                tAcc.add(tMmlu);
                sAcc.add(sMmlu);
                out.add(new Line("average (with MMLU)", "acc", mean(tAcc), mean(sAcc), mean(sAcc) / mean(tAcc)));
            }
        }
        return out;
    }

    private static Line line(String task, String metric, Map<String, Object> t, Map<String, Object> s, boolean lowerIsBetter) {
        if (!(t.get(metric + ",none") instanceof Number tv) || !(s.get(metric + ",none") instanceof Number sv)) return null;
        double a = tv.doubleValue(), b = sv.doubleValue();
        return new Line(task, metric, a, b, lowerIsBetter ? a / b : b / a);
    }

    private static double mean(List<Double> x) {
        return x.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
    }

    public static Map<String, Object> json(List<Line> lines) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Line l : lines) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("metric", l.metric());
            m.put("teacher", l.teacher());
            m.put("student", l.student());
            m.put("retention", l.retention());
            out.put(l.task() + (l.metric().equals("perplexity") ? " (perplexity)" : ""), m);
        }
        return out;
    }
}
