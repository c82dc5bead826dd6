package gsat2r.core.io;

import gsat2r.core.T2rException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JsonTest {

    @TempDir
    Path dir;

    private String error(String text) {
        return assertThrows(T2rException.class, () -> Json.parseObject(text, "f.json")).getMessage();
    }

    @Test
    void badTextIsOneLineThatSaysWhereAndWhat() {
        assertEquals("f.json: not valid JSON (line 2, column 1): Unexpected end-of-input within/between Object entries", error("{\"a\": 1,\n"));
        String duplicate = error("{\"a\": 1, \"a\": 2}");
        assertEquals("f.json: not valid JSON (line 1, column 13): Duplicate field 'a'", duplicate);
        assertEquals("f.json: not valid JSON (line 1, column 8): Unexpected end-of-input: expected close marker for Object", error("{\"a\": 1"),
                "without the parser's description of its input");
        assertEquals("f.json: not a JSON object", error("[1, 2]"));
        assertEquals("f.json: not a JSON object", error(""));
        assertEquals("f.json: not a JSON object", error("7"));
        assertEquals(2, Json.parseObject("{\"a\": 1, \"b\": {}}", "f.json").size());
    }

    @Test
    void aFileThatIsMissingOrUnreadableOrBadIsNamed() throws Exception {
        Path missing = dir.resolve("config.json");
        assertEquals(missing + ": no such file (a model directory has one)",
                assertThrows(T2rException.class, () -> Json.readObject(missing, "a model directory has one")).getMessage());
        String directory = assertThrows(T2rException.class, () -> Json.readObject(dir, "x")).getMessage();
        assertTrue(directory.startsWith(dir + ": cannot read (") && directory.lines().count() == 1, directory);
        Files.writeString(missing, "{\"a\": [1,}");
        String bad = assertThrows(T2rException.class, () -> Json.readObject(missing, "x")).getMessage();
        assertEquals(1, bad.lines().count(), bad);
        assertTrue(bad.startsWith(missing + ": not valid JSON (line 1, column 10): "), bad);
        Files.write(missing, new byte[] {'{', (byte) 0xFF, (byte) 0xFE, '}'});
        assertEquals(missing + ": not UTF-8 text (a binary file?)", assertThrows(T2rException.class, () -> Json.readObject(missing, "x")).getMessage());
        Files.writeString(missing, "{\"a\": [1]}");
        assertEquals("[1]", Json.readObject(missing, "x").get("a").toString());
    }
}
