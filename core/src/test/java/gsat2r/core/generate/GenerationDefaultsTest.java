package gsat2r.core.generate;

import gsat2r.core.T2rException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GenerationDefaultsTest {

    @TempDir
    Path dir;

    GenerationDefaults read(String json) throws IOException {
        Files.writeString(dir.resolve(GenerationDefaults.FILE), json);
        return GenerationDefaults.read(dir);
    }

    @Test
    void readsTheSamplingKeysOfAnInstructModel() throws IOException {
        GenerationDefaults g = read("""
                {"bos_token_id": 128000, "do_sample": true, "eos_token_id": [128001, 128008, 128009], "temperature": 0.6,
                 "top_p": 0.9, "max_length": 4096, "num_beams": 1, "min_p": 0.05, "transformers_version": "4.45.0"}""");
        assertEquals(true, g.doSample());
        assertEquals(0.6, g.temperature());
        assertEquals(0.9, g.topP());
        assertNull(g.topK());
        assertTrue(g.setsSampling());
        assertEquals(4000, g.maxNewTokens(96), "max_length counts the prompt");
        assertEquals(0, g.maxNewTokens(5000));
        assertEquals(List.of("min_p"), g.ignored(), "num_beams 1 is neutral; min_p is not supported");
    }

    @Test
    void aFileDerivedFromTheConfigSaysNothingAboutSampling() throws IOException {
        GenerationDefaults g = read("{\"_from_model_config\": true, \"bos_token_id\": 0, \"eos_token_id\": 1, \"use_cache\": true}");
        assertFalse(g.setsSampling());
        assertNull(g.maxNewTokens(10));
        assertEquals(GenerationDefaults.NONE, GenerationDefaults.read(dir.resolve("elsewhere")));
        GenerationDefaults both = read("{\"max_new_tokens\": 32, \"max_length\": 10, \"repetition_penalty\": 1.1, \"top_k\": 0}");
        assertEquals(32, both.maxNewTokens(100), "max_new_tokens wins over max_length");
        assertEquals(1.1, both.repetitionPenalty());
        assertEquals(0, both.topK());
    }

    @Test
    void badValuesNameTheFileAndTheKey() throws IOException {
        Path f = dir.resolve(GenerationDefaults.FILE);
        assertEquals(f + ": temperature: must be a number >= 0 (got \"hot\")", message("{\"temperature\": \"hot\"}"));
        assertEquals(f + ": top_p: must be a number in (0, 1] (got 1.5)", message("{\"top_p\": 1.5}"));
        assertEquals(f + ": top_k: must be an integer >= 0 (got -1)", message("{\"top_k\": -1}"));
        assertEquals(f + ": do_sample: must be true or false (got \"yes\")", message("{\"do_sample\": \"yes\"}"));
        assertEquals(f + ": repetition_penalty: must be a number > 0 (got 0)", message("{\"repetition_penalty\": 0}"));
        assertTrue(message("{").startsWith(f + ": not valid JSON ("));
    }

    String message(String json) {
        return assertThrows(T2rException.class, () -> read(json)).getMessage();
    }

    /** Fuzz: any JSON value under any key reads or fails with one line naming the file. */
    @Test
    void randomValuesReadOrFailWithOneLine() throws IOException {
        java.util.SplittableRandom random = new java.util.SplittableRandom(3);
        String[] keys = {"do_sample", "temperature", "top_p", "top_k", "max_new_tokens", "max_length", "repetition_penalty", "num_beams",
                "min_p", "bad_words_ids", "eos_token_id"};
        String[] values = {"0", "1", "-1", "0.5", "2", "1e400", "true", "null", "\"x\"", "[]", "[1]", "{}", "3000000000", "NaN"};
        Path f = dir.resolve(GenerationDefaults.FILE);
        for (int i = 0; i < 500; i++) {
            StringBuilder json = new StringBuilder("{");
            for (int k = 0, n = random.nextInt(4); k < n; k++) {
                json.append(k == 0 ? "" : ",").append('"').append(keys[random.nextInt(keys.length)]).append("\": ").append(values[random.nextInt(values.length)]);
            }
            String text = json.append('}').toString();
            try {
                read(text);
            } catch (T2rException e) {
                assertTrue(e.getMessage().startsWith(f + ": ") && !e.getMessage().contains("\n"), text + " -> " + e.getMessage());
            } catch (RuntimeException e) {
                throw new AssertionError(text + ": " + e, e);
            }
        }
    }
}
