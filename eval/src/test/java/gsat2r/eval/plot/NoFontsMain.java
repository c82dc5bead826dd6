package gsat2r.eval.plot;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;

/**
 * Run in a child JVM by {@link NoFontsTest}: {@code awt} draws text the java.awt way (what must fail where no
 * fonts exist), {@code plots DIR} draws a line plot and a bar plot with every text element into DIR.
 */
public final class NoFontsMain {
    public static void main(String[] args) {
        System.setProperty("java.awt.headless", "true");
        if (args[0].equals("awt")) {
            BufferedImage image = new BufferedImage(100, 40, BufferedImage.TYPE_INT_RGB);
            image.createGraphics().drawString("text", 5, 20);
            System.out.println("drew awt text");
            return;
        }
        Path dir = Path.of(args[1]);
        double[] x = {256, 512, 1024, 2048};
        new LinePlot("KL(teacher ‖ student) by position – 100%", "tokens of context (log scale)", "mean KL (nats / token)")
                .xScale(LinePlot.Scale.LOG2).yRange(0.0, 1.0)
                .add("teacher", x, new double[] {1, 0.9, 0.8, 0.7})
                .add("student", x, new double[] {0.9, 0.5, 0.3, 0.1})
                .reference("chance", x, new double[] {0.25, 0.25, 0.25, 0.25})
                .note("a note under the axes: 4 points, ±1 σ")
                .writePng(dir.resolve("line.png"));
        new BarPlot("lm-evaluation-harness tasks", "accuracy", List.of("hellaswag", "piqa"))
                .add("teacher", new double[] {0.5, 0.7}).add("student", new double[] {0.4, 0.65})
                .writePng(dir.resolve("bar.png"));
        System.out.println("drew plots");
    }
}
