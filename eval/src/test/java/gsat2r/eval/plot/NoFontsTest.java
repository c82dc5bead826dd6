package gsat2r.eval.plot;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Plots on a server without fonts. A child JVM runs with a fontconfig configuration that names no font directory
 * and an empty home (so that no cached font list from an earlier run is found): java.awt text fails there
 * ("Fontconfig head is null", as on the GPU machine), and the plots, whose text is {@link PixelFont}'s, are
 * drawn all the same, text included.
 */
class NoFontsTest {

    @TempDir
    Path tmp;

    private Result child(String... args) throws IOException, InterruptedException {
        Path conf = Files.writeString(tmp.resolve("fonts.conf"), "<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"fonts.dtd\">\n"
                + "<fontconfig><cachedir>" + tmp.resolve("fc-cache") + "</cachedir></fontconfig>\n");
        Files.createDirectories(tmp.resolve("home"));
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Djava.awt.headless=true", "-Duser.home=" + tmp.resolve("home"), "-cp", System.getProperty("java.class.path"),
                NoFontsMain.class.getName()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("FONTCONFIG_FILE", conf.toString());
        pb.environment().remove("FONTCONFIG_PATH");
        pb.environment().put("XDG_DATA_HOME", tmp.resolve("home").toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Result(p.waitFor(), out);
    }

    record Result(int exit, String output) {}

    @Test
    void plotsAreDrawnWhereJavaAwtFindsNoFonts() throws Exception {
        Result awt = child("awt");
        assertNotEquals(0, awt.exit(), "the environment must really hide the fonts: " + awt.output());
        assertTrue(awt.output().contains("Fontconfig head is null") || awt.output().contains("No physical fonts found"), awt.output());

        Result plots = child("plots", tmp.toString());
        assertEquals(0, plots.exit(), plots.output());
        BufferedImage line = ImageIO.read(tmp.resolve("line.png").toFile()), bar = ImageIO.read(tmp.resolve("bar.png").toFile());
        assertEquals(LinePlot.WIDTH, line.getWidth());
        // The title's glyphs: dark pixels in the band above the plot area.
        assertTrue(dark(line, 0, 50) > 300, "title text drawn: " + dark(line, 0, 50));
        assertTrue(dark(bar, 0, 50) > 300, "bar plot title drawn");
    }

    private static int dark(BufferedImage image, int y0, int y1) {
        int n = 0;
        for (int y = y0; y < y1; y++) {
            for (int x = 0; x < image.getWidth(); x++) if ((image.getRGB(x, y) & 0xff) < 0x60) n++;
        }
        return n;
    }
}
