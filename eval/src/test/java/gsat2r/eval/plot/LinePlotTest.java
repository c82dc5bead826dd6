package gsat2r.eval.plot;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Ticks, tick labels, and what a rendered plot holds. */
class LinePlotTest {

    @TempDir
    Path tmp;

    @Test
    void linearTicksAreOneTwoOrFiveTimesAPowerOfTenAndCoverTheData() {
        assertEquals(0.2, LinePlot.niceStep(0.13), 1e-15);
        assertEquals(1.0, LinePlot.niceStep(1.0), 1e-15);
        assertEquals(5000, LinePlot.niceStep(2100), 1e-9);
        LinePlot.Axis a = LinePlot.Axis.of(LinePlot.Scale.LINEAR, new double[] {0.13, 0.87, 0.5}, null, null, null);
        assertArrayEquals(new double[] {0.0, 0.2, 0.4, 0.6, 0.8, 1.0}, a.ticks, 1e-12);
        assertTrue(a.lo < 0.13 && a.hi > 0.87);
        assertEquals("0.4", a.label(0.4));
        LinePlot.Axis fixed = LinePlot.Axis.of(LinePlot.Scale.LINEAR, new double[] {0.0, 0.0}, 0.0, 1.0, null);
        assertEquals(0.0, fixed.ticks[0]);
        assertEquals(1.0, fixed.ticks[fixed.ticks.length - 1], 1e-12);
        LinePlot.Axis flat = LinePlot.Axis.of(LinePlot.Scale.LINEAR, new double[] {3.0, 3.0}, null, null, null);
        assertTrue(flat.ticks.length >= 2 && flat.lo < 3 && flat.hi > 3, "a flat series still gets an axis around it");
    }

    @Test
    void logTicksArePowersOfTheBase() {
        LinePlot.Axis a = LinePlot.Axis.of(LinePlot.Scale.LOG2, new double[] {512, 32768}, null, null, null);
        assertArrayEquals(new double[] {512, 1024, 2048, 4096, 8192, 16384, 32768}, a.ticks);
        assertEquals("512", a.label(512));
        assertEquals("32K", a.label(32768));
        LinePlot.Axis wide = LinePlot.Axis.of(LinePlot.Scale.LOG2, new double[] {1, 1 << 20}, null, null, null);
        assertTrue(wide.ticks.length <= 11, "every other power when there are many: " + wide.ticks.length);
        LinePlot.Axis ten = LinePlot.Axis.of(LinePlot.Scale.LOG10, new double[] {3, 2000, -1, 0}, null, null, null);
        assertArrayEquals(new double[] {10, 100, 1000}, ten.ticks, 1e-9, "non-positive values are not on a log axis");
    }

    @Test
    void labelsReadAsContextLengthsAndBytes() {
        assertEquals("1K", LinePlot.binary(1024));
        assertEquals("1M", LinePlot.binary(1 << 20));
        assertEquals("1000", LinePlot.binary(1000));
        assertEquals("512 B", LinePlot.bytes(512));
        assertEquals("64 KiB", LinePlot.bytes(65536));
        assertEquals("1.5 MiB", LinePlot.bytes(1.5 * 1024 * 1024));
        assertEquals("12,000", LinePlot.compact(12000, 0));
    }

    @Test
    void aRenderedPlotHoldsItsSeriesInTheirColours() throws Exception {
        double[] x = {256, 512, 1024, 2048};
        LinePlot plot = new LinePlot("Passkey retrieval", "context", "accuracy")
                .xScale(LinePlot.Scale.LOG2).yRange(0.0, 1.0)
                .add("teacher", x, new double[] {1, 1, 0.9, 0.8})
                .add("student", x, new double[] {1, Double.NaN, 0.3, 0.1})
                .reference("chance", x, new double[] {0.1, 0.1, 0.1, 0.1})
                .note("a note");
        Path file = tmp.resolve("p.png");
        plot.writePng(file);
        BufferedImage image = ImageIO.read(file.toFile());
        assertEquals(LinePlot.WIDTH, image.getWidth());
        assertEquals(LinePlot.HEIGHT, image.getHeight());
        assertTrue(count(image, LinePlot.PALETTE[0].getRGB()) > 500, "the teacher's blue line");
        assertTrue(count(image, LinePlot.PALETTE[1].getRGB()) > 200, "the student's orange line");
        assertEquals(0, count(image, LinePlot.PALETTE[2].getRGB()), "the reference line is grey, not the next colour");

        BufferedImage empty = new LinePlot("t", "x", "y").add("a", new double[] {1, 2}, new double[] {Double.NaN, Double.NaN}).render(300, 200);
        BufferedImage drawn = new LinePlot("t", "x", "y").add("a", new double[] {1, 2}, new double[] {0, 1}).render(300, 200);
        int legendOnly = count(empty, LinePlot.PALETTE[0].getRGB()), withLine = count(drawn, LinePlot.PALETTE[0].getRGB());
        assertTrue(legendOnly > 0 && withLine > legendOnly + 100, "no line without data, only the legend's sample: "
                + legendOnly + " vs " + withLine + " blue pixels");
    }

    private static int count(BufferedImage image, int rgb) {
        int n = 0;
        for (int y = 0; y < image.getHeight(); y++) {
            for (int x = 0; x < image.getWidth(); x++) if ((image.getRGB(x, y) & 0xffffff) == (rgb & 0xffffff)) n++;
        }
        return n;
    }
}
