package gsat2r.api;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README's Java example is the compiled {@link ReadmeExample}, line for line. */
class ReadmeExampleTest {
    static final String MARKER = "<!-- compiled: core/src/test/java/gsat2r/api/ReadmeExample.java -->";

    @Test
    void readmeShowsTheCompiledExample() throws IOException {
        List<String> source = Files.readAllLines(Path.of("src/test/java/gsat2r/api/ReadmeExample.java"));
        int begin = source.indexOf("        // README:begin"), end = source.indexOf("        // README:end");
        assertTrue(begin >= 0 && end > begin, "markers missing in ReadmeExample.java");
        List<String> example = source.subList(begin + 1, end).stream()
                .map(l -> l.length() >= 8 ? l.substring(8) : l.strip()).toList();

        List<String> readme = Files.readAllLines(Path.of("..", "README.md"));
        int at = readme.indexOf(MARKER);
        assertTrue(at >= 0, "README.md lacks the line " + MARKER);
        assertEquals("```java", readme.get(at + 1));
        int close = readme.subList(at + 2, readme.size()).indexOf("```");
        assertTrue(close >= 0, "the README's java block is not closed");
        assertEquals(String.join("\n", example), String.join("\n", readme.subList(at + 2, at + 2 + close)),
                "README.md's example differs from ReadmeExample.java: copy the lines between the README markers");
    }
}
