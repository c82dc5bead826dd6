package gsat2r.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import gsat2r.core.generate.GenerationDefaults;
import gsat2r.core.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code t2r generate}: generation_config.json's defaults and {@code --chat}, on a copy of the demo teacher. */
class GenerateDefaultsTest {

    @TempDir
    Path tmp;

    static final JsonMapper JSON = JsonMapper.builder().build();

    static GenerationDefaults defaults(Boolean doSample, Double temperature, Double topP, Integer topK) {
        return new GenerationDefaults(Path.of("generation_config.json"), doSample, temperature, topP, topK, null, null, null, List.of());
    }

    @Test
    void commandLineThenGenerationConfigThenT2rsDefaults() {
        assertEquals(new GenerateCommand.Settings(false, 0.8, 0.95, 0, 1.0),
                GenerateCommand.settings(GenerationDefaults.NONE, false, null, null, null, null), "no file: t2r's defaults");
        assertEquals(new GenerateCommand.Settings(false, 0.6, 0.9, 50, 1.0),
                GenerateCommand.settings(defaults(true, 0.6, 0.9, null), false, null, null, null, null), "Llama 3 instruct; top_k 50 as transformers");
        assertEquals(true, GenerateCommand.settings(defaults(null, 0.6, null, null), false, null, null, null, null).greedy(),
                "without do_sample transformers decodes greedily");
        assertEquals(new GenerateCommand.Settings(false, 0.7, 1.0, 50, 1.3),
                GenerateCommand.settings(defaults(false, null, null, null), false, 0.7, null, null, 1.3), "a sampling flag samples");
        assertEquals(true, GenerateCommand.settings(defaults(true, 0.6, 0.9, 10), true, null, null, null, null).greedy());
        assertEquals(true, GenerateCommand.settings(GenerationDefaults.NONE, false, 0.0, null, null, null).greedy(), "temperature 0");
    }

    Path model(String generationConfig) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("model"));
        try (Stream<Path> files = Files.list(Path.of("..", "models", "kjv-llama"))) {
            for (Path f : files.toList()) Files.copy(f, dir.resolve(f.getFileName()));
        }
        Files.writeString(dir.resolve("generation_config.json"), generationConfig);
        Files.writeString(dir.resolve("chat_template.jinja"),
                "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content | trim }}\n{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}\n");
        return dir;
    }

    CliRun t2r(String... args) {
        return CliRun.run(ModelLoader::load, tmp.resolve("cache"), args);
    }

    @Test
    void chatRendersTheTemplateAndFollowsGenerationConfig() throws IOException {
        Path dir = model("{\"do_sample\": false, \"eos_token_id\": 1, \"max_new_tokens\": 5, \"num_beams\": 4}");
        String[] args = {"generate", "--model", dir.toString(), "--chat", "--system", "Answer in the words of the King James Bible.",
                "--prompt", " Who made the heaven? ", "--format", "json", "--verbose"};
        CliRun r = t2r(args);
        assertEquals(0, r.exit(), r.toString());
        JsonNode out = JSON.readTree(r.out());
        int[] ids = JSON.treeToValue(out.get("ids"), int[].class);
        String conversation = "<|begin_of_text|>[system] Answer in the words of the King James Bible.\n[user] Who made the heaven?\n[assistant] ";
        int[] expected;
        try (Tokenizer t = Tokenizer.load(dir)) {
            expected = t.encodePlain(conversation);
        }
        assertEquals(0, expected[0], "the template's BOS is the BOS token, not its letters");
        assertArrayEquals(expected, Arrays.copyOf(ids, expected.length), "the prompt is the rendered conversation, BOS once");
        assertTrue(ids.length - expected.length <= 5, "max_new_tokens 5 from generation_config.json");
        assertTrue(r.err().contains("not supported, ignored: num_beams"), r.err());
        assertTrue(r.err().contains("greedy decoding"), "do_sample false: greedy\n" + r.err());
        assertEquals(r.out(), t2r(args).out(), "greedy: the same answer every time");

        CliRun text = t2r("generate", "--model", dir.toString(), "--chat", "--prompt", "Who made the heaven?", "--max-new-tokens", "3");
        assertEquals(0, text.exit(), text.toString());
        assertFalse(text.out().contains("[user]") || text.out().contains("Who made"), "only the answer is printed: " + text.out());
    }

    @Test
    void aStopStringEndsTheOutputJustBeforeIt() throws IOException {
        Path dir = model("{\"do_sample\": false}");
        String[] args = {"generate", "--model", dir.toString(), "--prompt", "In the beginning", "--max-new-tokens", "24", "--format", "json"};
        String whole = JSON.readTree(t2r(args).out()).get("text").asText();
        String stop = whole.substring(whole.length() / 2, whole.length() / 2 + 3);
        String expected = whole.substring(0, whole.indexOf(stop));
        CliRun r = t2r(Stream.concat(Arrays.stream(args), Stream.of("--stop", "zzz", "--stop", stop, "--verbose")).toArray(String[]::new));
        assertEquals(0, r.exit(), r.toString());
        assertEquals(expected, JSON.readTree(r.out()).get("text").asText(), "stop " + stop + " in " + whole);
        assertTrue(r.err().contains("stopped at a --stop string"), r.err());
        CliRun text = t2r("generate", "--model", dir.toString(), "--prompt", "In the beginning", "--max-new-tokens", "24", "--stop", stop);
        assertEquals("In the beginning" + expected + "\n", text.out());
        assertEquals(2, t2r("generate", "--model", dir.toString(), "--prompt", "x", "--stop", "").exit());
    }

    @Test
    void chatUsageErrors() throws IOException {
        Path dir = model("{}");
        assertEquals(2, t2r("generate", "--model", dir.toString(), "--system", "x", "--prompt", "y").exit());
        assertEquals(2, t2r("generate", "--model", dir.toString(), "--chat", "--ids", "1,2").exit());
        Files.delete(dir.resolve("chat_template.jinja"));
        CliRun none = t2r("generate", "--model", dir.toString(), "--chat", "--prompt", "y");
        assertEquals(List.of("error: " + dir + ": the model has no chat template (chat_template.jinja, or chat_template in"
                + " tokenizer_config.json); drop --chat to continue plain text"), none.errLines());
    }
}
