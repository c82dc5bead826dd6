package gsat2r.finetune;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The loss curves of a run as an SVG image ({@code RUN/loss.svg}): one panel per stage, since the
 * stages' losses are different quantities (attention transfer's MSE, distillation's KL, cross-entropy),
 * with the training loss of every step as a line and the validation loss of every evaluation as dots,
 * against the global step. SVG because it is text: no font or graphics library is needed to write it
 * (Java's AWT text rendering fails on machines without fonts, as GPU servers often are); a browser or
 * any image viewer draws the text.
 */
final class LossPlot {
    private LossPlot() {}

    static final int WIDTH = 860, PANEL = 240, LEFT = 78, RIGHT = 24, TOP = 38, BOTTOM = 44;

    /** One stage's points: training loss per step, validation loss per evaluation. */
    record Series(String stage, List<double[]> train, List<double[]> validation) {}

    /** The stages of {@code lines} (metrics.jsonl objects) in order of appearance. */
    static List<Series> series(List<JsonNode> lines) {
        Map<String, Series> byStage = new LinkedHashMap<>();
        for (JsonNode l : lines) {
            String type = l.path("type").asText();
            String key = type.equals("step") ? "loss" : type.equals("eval") ? "val_loss" : null;
            if (key == null || !l.path(key).isNumber()) continue;
            double x = l.path("global_step").asDouble(), y = l.path(key).asDouble();
            if (!Double.isFinite(y)) continue;
            Series s = byStage.computeIfAbsent(l.path("stage").asText("?"), n -> new Series(n, new ArrayList<>(), new ArrayList<>()));
            (type.equals("step") ? s.train() : s.validation()).add(new double[] {x, y});
        }
        return List.copyOf(byStage.values());
    }

    /** The SVG document; a run without steps gets a panel saying so. */
    static String svg(List<JsonNode> lines, String title) {
        List<Series> stages = series(lines);
        int panels = Math.max(1, stages.size());
        int height = panels * (PANEL + TOP + BOTTOM) + 30;
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\""
                + " font-family=\"sans-serif\" font-size=\"12\">%n", WIDTH, height, WIDTH, height));
        sb.append(String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n", WIDTH, height));
        sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"20\" font-size=\"15\" font-weight=\"bold\">%s</text>%n", LEFT, escape(title)));
        if (stages.isEmpty()) {
            sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"60\">no training step was recorded</text>%n", LEFT));
        }
        for (int i = 0; i < stages.size(); i++) panel(sb, stages.get(i), 30 + i * (PANEL + TOP + BOTTOM));
        return sb.append("</svg>\n").toString();
    }

    private static void panel(StringBuilder sb, Series s, int y0) {
        List<double[]> all = new ArrayList<>(s.train());
        all.addAll(s.validation());
        double xMin = all.stream().mapToDouble(p -> p[0]).min().orElse(0), xMax = all.stream().mapToDouble(p -> p[0]).max().orElse(1);
        double yMin = all.stream().mapToDouble(p -> p[1]).min().orElse(0), yMax = all.stream().mapToDouble(p -> p[1]).max().orElse(1);
        boolean log = yMin > 0 && yMax / yMin > 30;                 // losses that fall by orders of magnitude
        Axis x = Axis.of(xMin, xMax, false), y = Axis.of(yMin, yMax, log);
        int top = y0 + TOP, plotW = WIDTH - LEFT - RIGHT;
        sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"13\" font-weight=\"bold\">stage %s%s</text>%n",
                LEFT, top - 10, escape(s.stage()), log ? " (log scale)" : ""));
        sb.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>%n",
                LEFT, top, plotW, PANEL));
        for (double t : y.ticks()) {
            double py = top + PANEL - y.fraction(t) * PANEL;
            sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
                    + "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>%n", LEFT, py, LEFT + plotW, py, LEFT - 6, py + 4, label(t)));
        }
        for (double t : x.ticks()) {
            double px = LEFT + x.fraction(t) * plotW;
            sb.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>%n", px, top + PANEL + 16, label(t)));
        }
        sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">global step</text>%n",
                LEFT + plotW / 2, top + PANEL + 34));
        sb.append(String.format(Locale.ROOT, "<text x=\"16\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 16 %d)\">loss</text>%n",
                top + PANEL / 2, top + PANEL / 2));
        if (!s.train().isEmpty()) {
            sb.append("<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
            for (double[] p : s.train()) {
                sb.append(String.format(Locale.ROOT, "%.1f,%.1f ", LEFT + x.fraction(p[0]) * plotW, top + PANEL - y.fraction(p[1]) * PANEL));
            }
            sb.append("\"/>\n");
        }
        for (double[] p : s.validation()) {
            sb.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"#d62728\"/>%n",
                    LEFT + x.fraction(p[0]) * plotW, top + PANEL - y.fraction(p[1]) * PANEL));
        }
        int lx = LEFT + plotW - 230;
        sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#1f77b4\" stroke-width=\"1.5\"/>"
                + "<text x=\"%d\" y=\"%d\">training loss</text>%n", lx, top - 14, lx + 20, top - 14, lx + 25, top - 10));
        sb.append(String.format(Locale.ROOT, "<circle cx=\"%d\" cy=\"%d\" r=\"3.5\" fill=\"#d62728\"/><text x=\"%d\" y=\"%d\">validation loss</text>%n",
                lx + 125, top - 14, lx + 133, top - 10));
    }

    /** A linear or logarithmic axis over [min, max] with about five round ticks. */
    record Axis(double min, double max, boolean log) {
        static Axis of(double min, double max, boolean log) {
            if (log) return new Axis(Math.log10(min), Math.log10(max) == Math.log10(min) ? Math.log10(min) + 1 : Math.log10(max), true);
            if (max == min) return new Axis(min - 0.5, max + 0.5, false);
            double pad = (max - min) * 0.04;
            return new Axis(min - pad, max + pad, false);
        }

        double fraction(double v) {
            double t = log ? Math.log10(v) : v;
            return (t - min) / (max - min);
        }

        List<Double> ticks() {
            List<Double> out = new ArrayList<>();
            if (log) {
                for (int e = (int) Math.ceil(min - 1e-9); e <= Math.floor(max + 1e-9); e++) out.add(Math.pow(10, e));
                if (out.size() < 2) {
                    out.clear();
                    for (int i = 0; i <= 4; i++) out.add(Math.pow(10, min + (max - min) * i / 4));
                }
                return out;
            }
            double step = niceStep((max - min) / 5);
            for (double t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) out.add(Math.abs(t) < step * 1e-9 ? 0 : t);
            return out;
        }

        private static double niceStep(double raw) {
            double p = Math.pow(10, Math.floor(Math.log10(raw)));
            double f = raw / p;
            return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
        }
    }

    static String label(double v) {
        if (v == 0) return "0";
        double a = Math.abs(v);
        if (a >= 1e5 || a < 1e-3) return String.format(Locale.ROOT, "%.1e", v);
        return new java.math.BigDecimal(v).round(new java.math.MathContext(3)).stripTrailingZeros().toPlainString();
    }

    static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
