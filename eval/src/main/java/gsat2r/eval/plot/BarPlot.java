package gsat2r.eval.plot;

import gsat2r.core.T2rException;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Grouped bars: one group per category (a task), one bar per series (a model), values from 0 to 1 with
 * percentage ticks, the value written over each bar. Drawn with {@link PixelFont}, so it needs no fonts.
 */
public final class BarPlot {
    private record Series(String name, double[] values, Color color) {}

    private final String title, yLabel;
    private final List<String> categories;
    private final List<Series> series = new ArrayList<>();

    public BarPlot(String title, String yLabel, List<String> categories) {
        this.title = title;
        this.yLabel = yLabel;
        this.categories = List.copyOf(categories);
    }

    public BarPlot add(String name, double[] values) {
        if (values.length != categories.size()) throw new IllegalArgumentException(name + ": " + values.length + " values");
        series.add(new Series(name, values.clone(), LinePlot.PALETTE[series.size() % LinePlot.PALETTE.length]));
        return this;
    }

    public void writePng(Path file) {
        try {
            ImageIO.write(render(LinePlot.WIDTH, LinePlot.HEIGHT), "png", file.toFile());
        } catch (IOException e) {
            throw new T2rException(file + ": cannot write the plot (" + e.getMessage() + ")", e);
        }
    }

    private static final PixelFont TITLE = new PixelFont(3), TEXT = new PixelFont(2), SMALL = new PixelFont(1);

    public BufferedImage render(int width, int height) {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, width, height);
            int left = 30 + TEXT.height() + TEXT.width("100%"), top = 28 + TITLE.height(), bottom = 40 + 2 * TEXT.height(), right = 20;
            int w = width - left - right, h = height - top - bottom;
            g.setColor(new Color(0x222222));
            TITLE.draw(g, title, Math.max(10, left + (w - TITLE.width(title)) / 2), 18 + TITLE.ascent());
            TEXT.drawUp(g, yLabel, 16 + TEXT.ascent(), top + (h + TEXT.width(yLabel)) / 2.0);
            for (int p = 0; p <= 100; p += 20) {
                int y = top + h - (int) Math.round(h * p / 100.0);
                g.setColor(new Color(0xe3e3e3));
                g.drawLine(left, y, left + w, y);
                g.setColor(new Color(0x222222));
                String s = p + "%";
                TEXT.draw(g, s, left - 8 - TEXT.width(s), y + TEXT.ascent() / 2);
            }
            int n = Math.max(1, categories.size());
            double slot = (double) w / n, bar = slot * 0.8 / Math.max(1, series.size());
            for (int c = 0; c < categories.size(); c++) {
                double x0 = left + c * slot + slot * 0.1;
                for (int s = 0; s < series.size(); s++) {
                    double v = series.get(s).values()[c];
                    if (!Double.isFinite(v)) continue;
                    int bh = (int) Math.round(h * Math.max(0, Math.min(1, v)));
                    g.setColor(series.get(s).color());
                    g.fillRect((int) (x0 + s * bar), top + h - bh, (int) Math.max(1, bar - 2), bh);
                    String label = String.format(Locale.ROOT, "%.0f", 100 * v);
                    PixelFont f = TEXT.width(label) < bar ? TEXT : SMALL;
                    g.setColor(new Color(0x222222));
                    f.draw(g, label, x0 + s * bar + (bar - f.width(label)) / 2, top + h - bh - 4);
                }
                String name = categories.get(c);
                PixelFont f = TEXT.width(name) < slot - 4 ? TEXT : SMALL;
                f.draw(g, name, left + c * slot + (slot - f.width(name)) / 2, top + h + 8 + f.ascent());
            }
            g.setColor(new Color(0x333333));
            g.setStroke(new BasicStroke(1.2f));
            g.drawRect(left, top, w, h);
            int lx = left, ly = height - 14;
            for (Series s : series) {
                g.setColor(s.color());
                g.fillRect(lx, ly - TEXT.ascent(), 16, TEXT.ascent());
                g.setColor(new Color(0x222222));
                TEXT.draw(g, s.name(), lx + 22, ly);
                lx += 22 + TEXT.width(s.name()) + 24;
            }
        } finally {
            g.dispose();
        }
        return image;
    }
}
