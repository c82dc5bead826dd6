package gsat2r.eval;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

/** Results survive the work directory exactly, and only for their own fingerprint. */
class WorkDirTest {

    @TempDir
    Path tmp;

    @Test
    void everyResultTypeRoundTrips() throws Exception {
        WorkDir work = WorkDir.beside(tmp.resolve("out"));
        assertEquals(tmp.resolve(".out.partial"), work.path());
        // Built in memory with a long that reads back as an int: still the same fingerprint.
        JsonNode f = Json.MAPPER.createObjectNode().put("a", 1L).put("b", 1795540782468L), other = Json.MAPPER.readTree("{\"a\": 2}");
        List<Object> results = List.of(
                new LmResult(128, 2, 1, 3, 300, true, 3.1, 22.2, 3.3, 27.1, 0.25, 0.8,
                        List.of(new LmResult.PositionBucket(1, 1, 2, 1, 0.5, 0.5, 4.0, 4.1))),
                new RecallResult(100, "words", 2, " a b, c d", List.of(new RecallResult.Point(4, 24, 8, 1, 0.5, 1, 0.75, -0.1, -2.5))),
                new PasskeyResult(List.of(0.0, 1.0), 2, "text", List.of(new PasskeyResult.Point(256, 250.5, 2,
                        new PasskeyResult.Score(1, 1, -0.01, java.util.Arrays.asList(1.0, null), 1, 1.0),
                        new PasskeyResult.Score(0, 0.5, -3, java.util.Arrays.asList(0.0, null), 0, null),
                        List.of(new PasskeyResult.Answer(0.0, 52817, List.of(" 5", "28", "17"), List.of(" the", "28", "|`")))))),
                new McResult("f.jsonl", 10, new McResult.Score(0.5, 0.16, 0.6, 0.16), new McResult.Score(0.4, 0.16, 0.4, 0.16), 0.9),
                new SpeedResult(32, 60, List.of(new SpeedResult.Point(512, new SpeedResult.Measurement(1000, 200, 2048L),
                        new SpeedResult.Measurement(900, 300, null)), new SpeedResult.Point(1024, null, null))));
        for (Object r : results) {
            work.save("t", f, r);
            assertEquals(r, work.load("t", f, r.getClass()), r.getClass().getSimpleName());
            assertNull(work.load("t", other, r.getClass()), "another fingerprint");
        }
        Files.writeString(work.path().resolve("t.json"), "{ torn");
        assertNull(work.load("t", f, LmResult.class), "an unreadable file is computed again");
        work.delete();
        assertFalse(Files.exists(work.path()));
    }
}
