package gsat2r.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.gsa.SlotMemory;
import gsat2r.core.tokenizer.Tokenizer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code t2r gates} on a hybrid student of the demo teacher: its windows, its JSON against {@link SlotMemory}, its errors. */
class GatesCommandTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Path TEACHER = Path.of("..", "models", "kjv-llama");
    private static final String TEXT = "In the beginning God created the heaven and the earth. And the earth was without form, and void.";

    @TempDir
    Path tmp;
    Path student, data;

    private CliRun t2r(String... args) {
        return CliRun.run(ModelLoader::load, tmp.resolve("cache"), args);
    }

    @BeforeEach
    void studentAndText() throws IOException {
        student = tmp.resolve("student");
        CliRun convert = t2r("convert", "--teacher", TEACHER.toString(), "--out", student.toString(), "--keep-attention", "1",
                "--dtype", "f32");
        assertEquals(0, convert.exit(), convert.toString());
        data = tmp.resolve("text.jsonl");
        Files.writeString(data, ("{\"text\": \"" + TEXT + "\"}\n").repeat(6));
    }

    @Test
    void jsonIsTheMeasureOfTheDocumentsWindows() throws IOException {
        CliRun run = t2r("gates", "--student", student.toString(), "--data", data.toString(), "--context", "20", "--windows", "3",
                "--format", "json");
        assertEquals(0, run.exit(), run.toString());
        JsonNode json = JSON.readTree(run.out());
        List<int[]> windows = new ArrayList<>();
        try (Tokenizer tokenizer = Tokenizer.load(student)) {
            int[] doc = tokenizer.encode(TEXT);
            int[] all = new int[doc.length * 6];
            for (int i = 0; i < 6; i++) System.arraycopy(doc, 0, all, i * doc.length, doc.length);
            for (int w = 0; w < 3; w++) windows.add(Arrays.copyOfRange(all, w * 20, w * 20 + 20));
        }
        SlotMemory.Report expected = SlotMemory.measure((GsaModel) ModelLoader.load(student), windows);
        assertEquals(3, json.get("windows").asInt());
        assertEquals(20, json.get("tokens_per_window").asInt());
        assertEquals("[1,16]", json.get("distances").toString());
        assertEquals(expected.layers().size(), json.get("layers").size());
        for (int i = 0; i < expected.layers().size(); i++) {
            SlotMemory.Layer l = expected.layers().get(i);
            JsonNode got = json.get("layers").get(i);
            assertEquals(l.layer(), got.get("layer").asInt());
            assertTrue(l.layer() != 1, "layer 1 is softmax attention");
            assertEquals(l.halfLifeMedian(), got.get("half_life").get("median").asDouble());
            assertEquals(l.slotsWrittenPerToken(), got.get("slots_written_per_token").asDouble());
            for (int d = 0; d < 2; d++) assertEquals(l.reach()[d], got.get("reach").get(d).asDouble());
        }
        CliRun text = t2r("gates", "--student", student.toString(), "--data", data.toString(), "--context", "20", "--windows", "3");
        assertEquals(0, text.exit(), text.toString());
        assertTrue(text.out().startsWith("slot memory of " + student + ": 3 windows of 20 tokens;"), text.out());
    }

    @Test
    void errorsNameTheProblemAndExitOne() throws IOException {
        CliRun llama = t2r("gates", "--student", TEACHER.toString(), "--data", data.toString(), "--context", "20");
        assertEquals(1, llama.exit(), llama.toString());
        assertTrue(llama.err().contains("not a GSA student"), llama.err());
        CliRun tooShort = t2r("gates", "--student", student.toString(), "--data", data.toString(), "--context", "100000");
        assertEquals(1, tooShort.exit(), tooShort.toString());
        assertTrue(tooShort.err().strip().matches("error: .*text\\.jsonl: \\d+ tokens, fewer than one window of --context 100000"),
                tooShort.err());
        CliRun missing = t2r("gates", "--student", student.toString(), "--data", tmp.resolve("none.jsonl").toString());
        assertEquals(1, missing.exit(), missing.toString());
        assertEquals("error: " + tmp.resolve("none.jsonl") + ": no such file", missing.err().strip());
        CliRun directory = t2r("gates", "--student", student.toString(), "--data", tmp.toString());
        assertEquals("error: " + tmp + ": is a directory, expected a text file (JSONL, .txt)", directory.err().strip());
    }
}
