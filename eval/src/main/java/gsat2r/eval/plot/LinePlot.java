package gsat2r.eval.plot;

import gsat2r.core.T2rException;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.Rectangle;
import java.awt.RenderingHints;
import java.awt.Stroke;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.DoubleFunction;

/**
 * A line plot drawn with java.awt into a PNG: title, axes with ticks and grid lines, one line with
 * point markers per series, and a legend in the corner where it hides the fewest points. Text is drawn by
 * {@link PixelFont}, so a JVM without any font (a bare server) draws the same plot. Axes are
 * linear or logarithmic (base 2 or 10); non-finite y values leave a gap in their line. Drawing needs
 * no display: the caller runs with {@code java.awt.headless=true} (set here when nothing set it).
 *
 * <pre>{@code
 * new LinePlot("Passkey retrieval", "context (tokens)", "accuracy")
 *         .xScale(LinePlot.Scale.LOG2).yRange(0.0, 1.0)
 *         .add("teacher", lengths, teacherAccuracy)
 *         .add("student", lengths, studentAccuracy)
 *         .writePng(dir.resolve("passkey.png"));
 * }</pre>
 */
public final class LinePlot {

    public enum Scale { LINEAR, LOG2, LOG10 }

    /** Blue, orange, green, red, purple: readable on white and told apart by most colour-blind readers. */
    static final Color[] PALETTE = {
            new Color(0x1f77b4), new Color(0xff7f0e), new Color(0x2ca02c), new Color(0xd62728), new Color(0x9467bd)};

    public static final int WIDTH = 900, HEIGHT = 540;

    private record Series(String name, double[] x, double[] y, Color color, boolean reference) {}

    private final String title, xLabel, yLabel;
    private final List<Series> series = new ArrayList<>();
    private Scale xScale = Scale.LINEAR, yScale = Scale.LINEAR;
    private Double yMin, yMax;
    private DoubleFunction<String> xFormat, yFormat;
    private String note;

    public LinePlot(String title, String xLabel, String yLabel) {
        this.title = title;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
    }

    public LinePlot xScale(Scale scale) {
        this.xScale = scale;
        return this;
    }

    public LinePlot yScale(Scale scale) {
        this.yScale = scale;
        return this;
    }

    /** Fixed ends of the y axis (null: from the data). */
    public LinePlot yRange(Double min, Double max) {
        this.yMin = min;
        this.yMax = max;
        return this;
    }

    /** How tick values are written (default: a compact number, 1K = 1024 on a base-2 axis). */
    public LinePlot xTicks(DoubleFunction<String> format) {
        this.xFormat = format;
        return this;
    }

    public LinePlot yTicks(DoubleFunction<String> format) {
        this.yFormat = format;
        return this;
    }

    /** A line of small text under the plot (e.g. what the numbers were measured on). */
    public LinePlot note(String note) {
        this.note = note;
        return this;
    }

    /** A series in the next colour of the palette; x and y of the same length. */
    public LinePlot add(String name, double[] x, double[] y) {
        if (x.length != y.length) throw new IllegalArgumentException(name + ": " + x.length + " x values, " + y.length + " y values");
        long coloured = series.stream().filter(s -> !s.reference).count();
        series.add(new Series(name, x.clone(), y.clone(), PALETTE[(int) (coloured % PALETTE.length)], false));
        return this;
    }

    /** A reference line (e.g. chance level): grey, dashed, without markers. */
    public LinePlot reference(String name, double[] x, double[] y) {
        if (x.length != y.length) throw new IllegalArgumentException(name + ": " + x.length + " x values, " + y.length + " y values");
        series.add(new Series(name, x.clone(), y.clone(), REFERENCE, true));
        return this;
    }

    private static final Color REFERENCE = new Color(0x8c8c8c);
    private static final float[] DASH = {7f, 5f};

    private Stroke lineOf(Series s) {
        return s.reference
                ? new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 10f, DASH, 0f)
                : new BasicStroke(widest(s) ? 4.5f : 2.5f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND);
    }

    /** The first series is drawn wider, so that where a later one lies exactly on it both stay visible. */
    private boolean widest(Series s) {
        return !series.isEmpty() && series.getFirst() == s && series.size() > 1;
    }

    public void writePng(Path file) {
        writePng(file, WIDTH, HEIGHT);
    }

    public void writePng(Path file, int width, int height) {
        try {
            ImageIO.write(render(width, height), "png", file.toFile());
        } catch (IOException e) {
            throw new T2rException(file + ": cannot write the plot (" + e.getMessage() + ")", e);
        }
    }

    public byte[] png(int width, int height) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            ImageIO.write(render(width, height), "png", out);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return out.toByteArray();
    }

    public BufferedImage render(int width, int height) {
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            draw(g, width, height);
        } finally {
            g.dispose();
        }
        return image;
    }

    // ---------------------------------------------------------------- drawing

    /** Text sizes: no java.awt font is ever used (see {@link PixelFont}). */
    private static final PixelFont TITLE = new PixelFont(3), LABEL = new PixelFont(2), TICK = new PixelFont(2),
            NOTE = new PixelFont(2), SMALL = new PixelFont(1);

    private static final Color AXIS = new Color(0x333333), GRID = new Color(0xe3e3e3), TEXT = new Color(0x222222),
            FAINT = new Color(0x777777);

    private void draw(Graphics2D g, int width, int height) {
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
                g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);

        Axis x = Axis.of(xScale, values(true), null, null, xFormat);
        Axis y = Axis.of(yScale, values(false), yMin, yMax, yFormat);

        PixelFont tm = TICK;
        int yTickWidth = 0;
        for (double t : y.ticks) yTickWidth = Math.max(yTickWidth, tm.width(y.label(t)));
        int left = 24 + LABEL.height() + yTickWidth + 10;
        int top = 20 + TITLE.height() + 8;
        int bottom = 20 + tm.height() + 8 + LABEL.height() + (note == null ? 0 : NOTE.height() + 4);
        int right = 28;
        Rectangle area = new Rectangle(left, top, width - left - right, height - top - bottom);

        // Title
        g.setColor(TEXT);
        PixelFont titleFont = TITLE.width(title) <= width - 20 ? TITLE : LABEL;
        titleFont.draw(g, title, Math.max(10, left + (area.width - titleFont.width(title)) / 2), 20 + titleFont.ascent());

        // Grid lines and ticks
        for (double t : x.ticks) {
            int px = (int) Math.round(x.toPixel(t, area.x, area.x + area.width));
            g.setColor(GRID);
            g.drawLine(px, area.y, px, area.y + area.height);
            g.setColor(AXIS);
            g.drawLine(px, area.y + area.height, px, area.y + area.height + 5);
            String s = x.label(t);
            g.setColor(TEXT);
            tm.draw(g, s, px - tm.width(s) / 2, area.y + area.height + 8 + tm.ascent());
        }
        for (double t : y.ticks) {
            int py = (int) Math.round(y.toPixel(t, area.y + area.height, area.y));
            g.setColor(GRID);
            g.drawLine(area.x, py, area.x + area.width, py);
            g.setColor(AXIS);
            g.drawLine(area.x - 5, py, area.x, py);
            String s = y.label(t);
            g.setColor(TEXT);
            tm.draw(g, s, area.x - 8 - tm.width(s), py + tm.ascent() / 2);
        }
        g.setColor(AXIS);
        g.setStroke(new BasicStroke(1.2f));
        g.drawRect(area.x, area.y, area.width, area.height);

        // Axis labels
        int xLabelBaseline = area.y + area.height + 8 + tm.height() + 6 + LABEL.ascent();
        LABEL.draw(g, xLabel, area.x + (area.width - LABEL.width(xLabel)) / 2, xLabelBaseline);
        LABEL.drawUp(g, yLabel, 20 + LABEL.ascent(), area.y + (area.height + LABEL.width(yLabel)) / 2.0);
        if (note != null) {
            g.setColor(FAINT);
            PixelFont noteFont = NOTE.width(note) <= width - area.x - 10 ? NOTE : SMALL;
            noteFont.draw(g, note, area.x, xLabelBaseline + 6 + NOTE.height());
        }

        // Series, clipped to the plot area
        List<double[]> pixels = new ArrayList<>();
        java.awt.Shape clip = g.getClip();
        g.clip(new Rectangle(area.x - 6, area.y - 6, area.width + 12, area.height + 12));
        for (Series s : series) {
            g.setColor(s.color);
            g.setStroke(lineOf(s));
            Path2D.Double path = new Path2D.Double();
            boolean pen = false;
            for (int i = 0; i < s.x.length; i++) {
                if (!x.shows(s.x[i]) || !y.shows(s.y[i])) {
                    pen = false;
                    continue;
                }
                double px = x.toPixel(s.x[i], area.x, area.x + area.width), py = y.toPixel(s.y[i], area.y + area.height, area.y);
                if (pen) path.lineTo(px, py);
                else path.moveTo(px, py);
                pen = true;
                pixels.add(new double[] {px, py});
            }
            g.draw(path);
            for (int i = 0; i < s.x.length && !s.reference; i++) {
                if (!x.shows(s.x[i]) || !y.shows(s.y[i])) continue;
                double px = x.toPixel(s.x[i], area.x, area.x + area.width), py = y.toPixel(s.y[i], area.y + area.height, area.y);
                double r = widest(s) ? 5.5 : 4;
                Ellipse2D.Double dot = new Ellipse2D.Double(px - r, py - r, 2 * r, 2 * r);
                g.setColor(s.color);
                g.fill(dot);
                g.setColor(Color.WHITE);
                g.setStroke(new BasicStroke(1.2f));
                g.draw(dot);
            }
        }
        g.setClip(clip);
        if (pixels.isEmpty()) {
            g.setColor(FAINT);
            String none = "no data";
            LABEL.draw(g, none, area.x + (area.width - LABEL.width(none)) / 2, area.y + area.height / 2);
        }
        drawLegend(g, area, pixels);
    }

    private void drawLegend(Graphics2D g, Rectangle area, List<double[]> points) {
        if (series.isEmpty()) return;
        PixelFont fm = LABEL;
        int rowHeight = fm.height() + 4, sample = 28, pad = 10;
        int textWidth = 0;
        for (Series s : series) textWidth = Math.max(textWidth, fm.width(s.name));
        int w = pad + sample + 8 + textWidth + pad, h = pad + rowHeight * series.size() - 4 + pad;
        // The corner that covers the fewest points: top right, top left, bottom right, bottom left.
        int[][] corners = {
                {area.x + area.width - w - 10, area.y + 10}, {area.x + 10, area.y + 10},
                {area.x + area.width - w - 10, area.y + area.height - h - 10}, {area.x + 10, area.y + area.height - h - 10}};
        int[] best = corners[0];
        int fewest = Integer.MAX_VALUE;
        for (int[] c : corners) {
            Rectangle box = new Rectangle(c[0] - 6, c[1] - 6, w + 12, h + 12);
            int covered = 0;
            for (double[] p : points) if (box.contains(p[0], p[1])) covered++;
            covered += crossings(box, area);
            if (covered < fewest) {
                fewest = covered;
                best = c;
            }
        }
        g.setColor(new Color(255, 255, 255, 235));
        g.fillRoundRect(best[0], best[1], w, h, 8, 8);
        g.setColor(new Color(0xbbbbbb));
        g.setStroke(new BasicStroke(1f));
        g.drawRoundRect(best[0], best[1], w, h, 8, 8);
        for (int i = 0; i < series.size(); i++) {
            Series s = series.get(i);
            int cy = best[1] + pad + i * rowHeight + fm.height() / 2;
            g.setColor(s.color);
            g.setStroke(lineOf(s));
            g.drawLine(best[0] + pad, cy, best[0] + pad + sample, cy);
            if (!s.reference) g.fill(new Ellipse2D.Double(best[0] + pad + sample / 2.0 - 4, cy - 4, 8, 8));
            g.setColor(TEXT);
            fm.draw(g, s.name, best[0] + pad + sample + 8, cy + fm.ascent() / 2);
        }
    }

    /** How many line segments between the series' points cross a box (so a legend avoids lines too). */
    private int crossings(Rectangle box, Rectangle area) {
        Axis x = Axis.of(xScale, values(true), null, null, xFormat), y = Axis.of(yScale, values(false), yMin, yMax, yFormat);
        int n = 0;
        for (Series s : series) {
            for (int i = 0; i + 1 < s.x.length; i++) {
                if (!x.shows(s.x[i]) || !y.shows(s.y[i]) || !x.shows(s.x[i + 1]) || !y.shows(s.y[i + 1])) continue;
                double x0 = x.toPixel(s.x[i], area.x, area.x + area.width), y0 = y.toPixel(s.y[i], area.y + area.height, area.y);
                double x1 = x.toPixel(s.x[i + 1], area.x, area.x + area.width), y1 = y.toPixel(s.y[i + 1], area.y + area.height, area.y);
                if (box.intersectsLine(x0, y0, x1, y1)) n++;
            }
        }
        return n;
    }

    private double[] values(boolean xs) {
        List<Double> out = new ArrayList<>();
        for (Series s : series) {
            for (int i = 0; i < s.x.length; i++) {
                if (Double.isFinite(s.x[i]) && Double.isFinite(s.y[i])) out.add(xs ? s.x[i] : s.y[i]);
            }
        }
        return out.stream().mapToDouble(Double::doubleValue).toArray();
    }

    // ---------------------------------------------------------------- axes

    /** An axis: its range in (possibly logarithmic) units, where its ticks go, and how they read. */
    static final class Axis {
        final Scale scale;
        final double lo, hi;                 // in axis units: the value, or its logarithm
        final double[] ticks;                // in data units
        final DoubleFunction<String> format;

        private Axis(Scale scale, double lo, double hi, double[] ticks, DoubleFunction<String> format) {
            this.scale = scale;
            this.lo = lo;
            this.hi = hi;
            this.ticks = ticks;
            this.format = format;
        }

        static Axis of(Scale scale, double[] data, Double fixedMin, Double fixedMax, DoubleFunction<String> format) {
            if (scale != Scale.LINEAR) {
                double[] positive = java.util.Arrays.stream(data).filter(v -> v > 0).toArray();
                return log(scale, positive, fixedMin, fixedMax, format);
            }
            double min = fixedMin != null ? fixedMin : data.length == 0 ? 0 : java.util.Arrays.stream(data).min().getAsDouble();
            double max = fixedMax != null ? fixedMax : data.length == 0 ? 1 : java.util.Arrays.stream(data).max().getAsDouble();
            if (max - min < 1e-12 * Math.max(1, Math.abs(max))) {
                double pad = max == 0 ? 1 : Math.abs(max) * 0.1;
                if (fixedMin == null) min -= pad;
                if (fixedMax == null) max += pad;
            }
            double step = niceStep((max - min) / 6);
            // Data ranges end on a tick; a little air above and below keeps markers off the frame.
            if (fixedMin == null) min = Math.floor(min / step + 1e-9) * step;
            if (fixedMax == null) max = Math.ceil(max / step - 1e-9) * step;
            double air = (max - min) * 0.04;
            double lo = min - air, hi = max + air;
            List<Double> ticks = new ArrayList<>();
            for (double t = Math.ceil(min / step - 1e-9) * step; t <= max + step * 1e-9; t += step) {
                ticks.add(Math.abs(t) < step * 1e-9 ? 0 : t);
            }
            int decimals = Math.max(0, (int) -Math.floor(Math.log10(step) + 1e-9));
            DoubleFunction<String> f = format != null ? format : v -> compact(v, decimals);
            return new Axis(scale, lo, hi, ticks.stream().mapToDouble(Double::doubleValue).toArray(), f);
        }

        private static Axis log(Scale scale, double[] data, Double fixedMin, Double fixedMax, DoubleFunction<String> format) {
            double base = scale == Scale.LOG2 ? 2 : 10;
            double min = fixedMin != null ? fixedMin : data.length == 0 ? 1 : java.util.Arrays.stream(data).min().getAsDouble();
            double max = fixedMax != null ? fixedMax : data.length == 0 ? base : java.util.Arrays.stream(data).max().getAsDouble();
            double lo = logOf(min, base), hi = logOf(max, base);
            if (hi - lo < 1) {
                double mid = (lo + hi) / 2;
                lo = mid - 0.5;
                hi = mid + 0.5;
            }
            double air = (hi - lo) * 0.05;
            lo -= air;
            hi += air;
            int first = (int) Math.ceil(lo - 1e-9), last = (int) Math.floor(hi + 1e-9);
            int every = Math.max(1, (int) Math.ceil((last - first + 1) / 9.0));
            List<Double> ticks = new ArrayList<>();
            for (int k = first; k <= last; k++) if (Math.floorMod(k, every) == 0) ticks.add(Math.pow(base, k));
            DoubleFunction<String> f = format != null ? format : scale == Scale.LOG2 ? LinePlot::binary : v -> compact(v, v < 1 ? 3 : 0);
            return new Axis(scale, lo, hi, ticks.stream().mapToDouble(Double::doubleValue).toArray(), f);
        }

        boolean shows(double v) {
            return Double.isFinite(v) && (scale == Scale.LINEAR || v > 0);
        }

        double toPixel(double v, double from, double to) {
            double u = scale == Scale.LINEAR ? v : logOf(v, scale == Scale.LOG2 ? 2 : 10);
            return from + (u - lo) / (hi - lo) * (to - from);
        }

        String label(double v) {
            return format.apply(v);
        }

        private static double logOf(double v, double base) {
            return Math.log(v) / Math.log(base);
        }
    }

    /** 1, 2 or 5 times a power of ten, the smallest at least {@code rough}. */
    static double niceStep(double rough) {
        if (!(rough > 0)) return 1;
        double p = Math.pow(10, Math.floor(Math.log10(rough)));
        for (double m : new double[] {1, 2, 5, 10}) if (m * p >= rough * (1 - 1e-9)) return m * p;
        return 10 * p;
    }

    /** {@code v} with {@code decimals} decimals, thousands as {@code 12,000}. */
    static String compact(double v, int decimals) {
        return String.format(Locale.ROOT, "%,." + decimals + "f", v);
    }

    /** Powers of two as context lengths are written: 512, 1K, 32K, 1M. */
    public static String binary(double v) {
        if (v >= 1 << 20 && v % (1 << 20) == 0) return (long) (v / (1 << 20)) + "M";
        if (v >= 1024 && v % 1024 == 0) return (long) (v / 1024) + "K";
        return v == Math.rint(v) ? Long.toString((long) v) : compact(v, 3);
    }

    /** Bytes as 512 B, 64 KiB, 1.5 MiB, 2 GiB. */
    public static String bytes(double v) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
        int u = 0;
        while (Math.abs(v) >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return (v == Math.rint(v) ? Long.toString((long) v) : String.format(Locale.ROOT, "%.1f", v)) + " " + units[u];
    }
}
