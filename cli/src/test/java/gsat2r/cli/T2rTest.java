package gsat2r.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import gsat2r.core.T2rException;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.tokenizer.Tokenizer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class T2rTest {

    private static final JsonMapper JSON = JsonMapper.builder().build();

    @TempDir
    Path tmp;
    Path model;
    Path cache;
    FakeModel fake;
    Function<Path, LanguageModel> loader;

    @BeforeEach
    void setUp() throws IOException {
        model = ModelDirFixture.llama(tmp.resolve("model"));
        cache = tmp.resolve("cache");
        fake = new FakeModel(364);
        loader = dir -> {
            assertEquals(model, dir);
            return fake;
        };
    }

    private CliRun t2r(String... args) {
        return CliRun.run(loader, cache, args);
    }

    /** Exit 1, stdout untouched, exactly one stderr line "error: ...", no stack trace. */
    private static String assertOneErrorLine(CliRun r) {
        assertEquals(1, r.exit(), r.toString());
        assertEquals("", r.out(), r.toString());
        assertEquals(1, r.errLines().size(), r.toString());
        String line = r.errLines().get(0);
        assertTrue(line.startsWith("error: "), r.toString());
        return line.substring("error: ".length());
    }

    private static void assertUsageError(CliRun r, String message, String command) {
        assertEquals(2, r.exit(), r.toString());
        assertEquals("", r.out(), r.toString());
        assertTrue(r.err().contains(message), r.toString());
        assertTrue(r.err().contains("Try '" + command + " --help' for more information."), r.toString());
        assertFalse(r.err().contains("\tat "), r.toString());
    }

    // ------------------------------------------------------------------ usage errors: exit 2

    @Test
    void usageErrorsExitWithTwoAndAHint() {
        assertUsageError(t2r(), "Missing required subcommand", "t2r");
        assertUsageError(t2r("frobnicate"), "Unmatched argument at index 0: 'frobnicate'", "t2r");
        assertUsageError(t2r("logits", "--bogus"), "Unknown option: '--bogus'", "t2r logits");
        assertUsageError(t2r("logits", "--model", model.toString()), "Missing required argument", "t2r logits");
        assertUsageError(t2r("logits", "--text", "a", "--ids", "1"), "mutually exclusive", "t2r logits");
        assertUsageError(t2r("logits", "--ids", "1,x"), "'x' is not a token id", "t2r logits");
        assertUsageError(t2r("logits", "--ids", "1", "--format", "xml"), "Invalid value for option '--format'", "t2r logits");
        assertUsageError(t2r("generate", "--prompt", "a", "--greedy", "--temperature", "0.5"),
                "--greedy cannot be combined with --temperature, --top-p or --top-k", "t2r generate");
        assertUsageError(t2r("generate", "--prompt", "a", "--top-p", "1.5"), "--top-p must be in (0, 1]", "t2r generate");
        assertUsageError(t2r("generate", "--prompt", "a", "--temperature", "-1"), "--temperature must be", "t2r generate");
        assertUsageError(t2r("generate", "--prompt", "a", "--max-new-tokens", "-3"), "--max-new-tokens must be >= 0", "t2r generate");
        assertUsageError(t2r("inspect"), "Missing required parameter: 'DIR|FILE'", "t2r inspect");
    }

    @Test
    void helpAndVersionExitZero() {
        CliRun help = t2r("--help");
        assertEquals(0, help.exit());
        for (String c : List.of("inspect", "logits", "generate", "--verbose")) assertTrue(help.out().contains(c), help.out());
        CliRun version = t2r("--version");
        assertEquals(0, version.exit());
        assertTrue(version.out().startsWith("t2r "), version.out());
        // The commit the jar was built from (core/pom.xml writes it; tarball builds say "unknown").
        String commit = gsat2r.core.BuildInfo.current().commit();
        assertTrue(version.out().contains("(commit " + (commit.equals("unknown") ? "unknown" : commit.substring(0, 12))), version.out());
        assertEquals(0, t2r("help", "generate").exit());
    }

    // ------------------------------------------------------------------ other errors: exit 1, one line

    @Test
    void missingModelDirectoryIsOneErrorLine() {
        Path missing = tmp.resolve("no-such-model");
        assertEquals(missing + ": no such directory", assertOneErrorLine(t2r("logits", "--model", missing.toString(), "--ids", "1")));
        assertEquals(missing + ": no such directory", assertOneErrorLine(t2r("inspect", missing.toString())));
        assertEquals(missing + ": no such directory",
                assertOneErrorLine(t2r("generate", "--model", missing.toString(), "--prompt", "In")));
    }

    @Test
    void aRunDirectoryGivenAsAModelPointsAtItsStudent() throws java.io.IOException {
        Path run = tmp.resolve("run");
        java.nio.file.Files.createDirectories(run.resolve("final"));
        java.nio.file.Files.writeString(run.resolve("final/config.json"), "{}");
        assertEquals(run + ": a finetune run, not a model; its student is " + run.resolve("final"),
                assertOneErrorLine(t2r("generate", "--model", run.toString(), "--prompt", "In")));
    }

    @Test
    void malformedConfigIsOneErrorLineNamingTheFile() throws IOException {
        Files.writeString(model.resolve("config.json"), "{\"hidden_size\": 64,\n \"num_hidden_layers\": }");
        String message = assertOneErrorLine(t2r("inspect", model.toString()));
        assertTrue(message.startsWith(model.resolve("config.json") + ": not valid JSON (line 2"), message);

        Files.writeString(model.resolve("config.json"), ModelDirFixture.LLAMA_CONFIG.replace("\"hidden_size\": 64,", ""));
        assertEquals(model.resolve("config.json") + ": missing \"hidden_size\"", assertOneErrorLine(t2r("inspect", model.toString())));

        Files.writeString(model.resolve("config.json"), ModelDirFixture.LLAMA_CONFIG.replace("\"hidden_size\": 64", "\"hidden_size\": \"big\""));
        assertEquals(model.resolve("config.json") + ": \"hidden_size\" must be a positive integer, not \"big\"",
                assertOneErrorLine(t2r("inspect", model.toString())));
    }

    @Test
    void brokenWeightsOrTokenizerAreOneErrorLine() throws IOException {
        Files.write(model.resolve("model.safetensors"), new byte[] {1, 2, 3});
        String weights = assertOneErrorLine(t2r("inspect", model.toString()));
        assertTrue(weights.startsWith(model.resolve("model.safetensors").toString()), weights);

        Files.writeString(model.resolve("tokenizer.json"), "not json");
        String tokenizer = assertOneErrorLine(t2r("logits", "--model", model.toString(), "--text", "In the"));
        assertTrue(tokenizer.startsWith(model.resolve("tokenizer.json") + ": not valid JSON"), tokenizer);
    }

    @Test
    void unexpectedExceptionsAreOneLineAndVerboseAddsTheStackTrace() {
        loader = dir -> {
            throw new IllegalStateException("boom\nsecond line");
        };
        assertEquals("internal error: IllegalStateException: boom; second line",
                assertOneErrorLine(t2r("logits", "--model", model.toString(), "--ids", "1,2")));

        CliRun verbose = t2r("--verbose", "logits", "--model", model.toString(), "--ids", "1,2");
        assertEquals(1, verbose.exit());
        assertTrue(verbose.err().contains("error: internal error: IllegalStateException: boom; second line"), verbose.err());
        assertTrue(verbose.err().contains("\tat gsat2r.cli."), "stack trace with --verbose: " + verbose.err());
        CliRun verboseAfter = t2r("logits", "--verbose", "--model", model.toString(), "--ids", "1,2");
        assertTrue(verboseAfter.err().contains("\tat gsat2r.cli."), "--verbose after the subcommand works too");

        loader = dir -> {
            throw new OutOfMemoryError("Java heap space");
        };
        assertTrue(assertOneErrorLine(t2r("logits", "--model", model.toString(), "--ids", "1"))
                .startsWith("out of memory (Java heap space)"));

        loader = dir -> {
            throw new T2rException(dir + "/model.safetensors: tensor 'x' is missing");
        };
        assertEquals(model + "/model.safetensors: tensor 'x' is missing",
                assertOneErrorLine(t2r("generate", "--model", model.toString(), "--prompt", "In")));
    }

    @Test
    void withoutModelTheShippedDemoTeacherIsUnpackedAndLoaded() {
        java.util.List<Path> asked = new java.util.ArrayList<>();
        CliRun r = CliRun.run(dir -> {
            asked.add(dir);
            return fake;
        }, cache, "logits", "--ids", "1");
        assertEquals(0, r.exit(), r.toString());
        assertEquals(1, asked.size());
        assertTrue(asked.getFirst().startsWith(cache), "unpacked under the cache root: " + asked.getFirst());
        assertTrue(java.nio.file.Files.isRegularFile(asked.getFirst().resolve("model.safetensors")));
        assertTrue(java.nio.file.Files.isRegularFile(asked.getFirst().resolve("tokenizer.json")));
    }

    @Test
    void idsOutsideTheVocabularyAreAUsageError() {
        CliRun r = t2r("logits", "--model", model.toString(), "--ids", "1,364");
        assertEquals(2, r.exit(), r.toString());
        assertEquals(java.util.List.of("--ids: token id 364 is outside the model's vocabulary (0..363)",
                "Try 't2r logits --help' for more information."), r.errLines());
    }

    // ------------------------------------------------------------------ logits

    @Test
    void logitsPrintsOneJsonObjectWithTheLastRow() throws IOException {
        CliRun r = t2r("logits", "--model", model.toString(), "--ids", "362,73, 110", "--format", "json");
        assertEquals(0, r.exit(), r.toString());
        assertEquals("", r.err());
        assertEquals(1, r.out().lines().count(), "one line of JSON");
        JsonNode json = JSON.readTree(r.out());
        assertEquals(List.of("ids", "logits"), iterableToList(json.fieldNames()));
        assertArrayEquals(new int[] {362, 73, 110}, ints(json.get("ids")));
        assertEquals(1, json.get("logits").size());
        float[] expected = fake.forward(new int[] {362, 73, 110})[2];
        assertArrayEquals(expected, floats(json.get("logits").get(0)), 0f, "exact fp32 values");
        assertTrue(fake.closed, "the model is closed after use");
    }

    @Test
    void logitsAllPositionsAndTextEncodedWithBos() throws IOException {
        CliRun r = t2r("logits", "--model", model.toString(), "--text", "In the beginning", "--all-positions");
        assertEquals(0, r.exit(), r.toString());
        JsonNode json = JSON.readTree(r.out());
        int[] ids;
        try (Tokenizer t = Tokenizer.load(model)) {
            ids = t.encode("In the beginning");
        }
        assertEquals(362, ids[0], "BOS first");
        assertArrayEquals(ids, ints(json.get("ids")));
        float[][] expected = fake.forward(ids);
        assertEquals(ids.length, json.get("logits").size());
        for (int t = 0; t < ids.length; t++) {
            assertEquals(364, json.get("logits").get(t).size());
            assertArrayEquals(expected[t], floats(json.get("logits").get(t)), 0f, "row " + t);
        }
    }

    @Test
    void floatsReadBackToTheSameFp32Bits() throws IOException {
        SplittableRandom random = new SplittableRandom(5);
        float[] values = new float[364];
        float[] special = {0f, -0f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL, Float.MAX_VALUE, -Float.MAX_VALUE,
                1e-45f, 3.4028235e38f, 0.1f, 1f / 3, 16777217f, 1.0000001f, 9.999999e-39f};
        System.arraycopy(special, 0, values, 0, special.length);
        for (int i = special.length; i < values.length; i++) {
            float f;
            do f = Float.intBitsToFloat(random.nextInt()); while (!Float.isFinite(f));
            values[i] = f;
        }
        fake = new FakeModel(364) {
            @Override
            public float[][] forward(int[] ids) {
                float[][] out = new float[ids.length][];
                for (int t = 0; t < ids.length; t++) out[t] = values.clone();
                return out;
            }
        };
        CliRun r = t2r("logits", "--model", model.toString(), "--ids", "1");
        assertEquals(0, r.exit(), r.toString());
        String row = r.out().substring(r.out().indexOf("[[") + 2, r.out().indexOf("]]"));
        String[] parts = row.split(", ");
        assertEquals(values.length, parts.length);
        for (int i = 0; i < values.length; i++) {
            assertEquals(Float.floatToRawIntBits(values[i]), Float.floatToRawIntBits(Float.parseFloat(parts[i])), parts[i]);
            // the way a float64 JSON reader (Python, numpy.float32(x)) reads it back
            assertEquals(Float.floatToRawIntBits(values[i]), Float.floatToRawIntBits((float) Double.parseDouble(parts[i])), parts[i]);
        }
    }

    // ------------------------------------------------------------------ generate

    @Test
    void generateGreedyJsonGivesPromptAndNewIdsAndTheirText() throws IOException {
        int n = 12;
        CliRun r = t2r("generate", "--model", model.toString(), "--prompt", "In the beginning", "--max-new-tokens", "" + n,
                "--greedy", "--format", "json");
        assertEquals(0, r.exit(), r.toString());
        assertEquals("", r.err());
        JsonNode json = JSON.readTree(r.out());
        assertEquals(List.of("ids", "text"), iterableToList(json.fieldNames()));
        try (Tokenizer t = Tokenizer.load(model)) {
            int[] prompt = t.encode("In the beginning");
            int[] expected = fake.greedy(prompt, n);
            for (int k = prompt.length; k < expected.length; k++) {           // generation stops at EOS
                if (t.isEos(expected[k])) {
                    expected = Arrays.copyOf(expected, k + 1);
                    break;
                }
            }
            int[] ids = ints(json.get("ids"));
            assertArrayEquals(expected, ids);
            String whole = t.decode(ids);
            assertEquals(whole.substring(t.decode(prompt).length()), json.get("text").asText());
        }
    }

    @Test
    void generateTextStreamsThePromptAndContinuation() throws IOException {
        CliRun json = t2r("generate", "--model", model.toString(), "--prompt", "And God said", "--max-new-tokens", "9",
                "--seed", "7", "--format", "json");
        CliRun text = t2r("generate", "--model", model.toString(), "--prompt", "And God said", "--max-new-tokens", "9",
                "--seed", "7");
        assertEquals(0, text.exit(), text.toString());
        assertEquals("And God said" + JSON.readTree(json.out()).get("text").asText() + System.lineSeparator(), text.out());

        CliRun again = t2r("generate", "--model", model.toString(), "--prompt", "And God said", "--max-new-tokens", "9",
                "--seed", "7");
        assertEquals(text.out(), again.out(), "the same seed gives the same text");
        CliRun other = t2r("generate", "--model", model.toString(), "--prompt", "And God said", "--max-new-tokens", "9",
                "--seed", "8", "--temperature", "1.5", "--top-p", "1");
        assertEquals(0, other.exit());
        assertNotEquals(text.out(), other.out());

        CliRun none = t2r("generate", "--model", model.toString(), "--ids", "362,73", "--max-new-tokens", "0", "--format", "json");
        assertEquals("{\"ids\":[362,73],\"text\":\"\"}", none.out().strip());
    }

    // ------------------------------------------------------------------ inspect

    @Test
    void inspectReportsArchitectureSizesAndFiles() throws IOException {
        CliRun r = t2r("inspect", model.toString());
        assertEquals(0, r.exit(), r.toString());
        String out = r.out();
        for (String expected : List.of(
                "architecture     LlamaForCausalLM (model_type llama)",
                "layers           2",
                "hidden size      64",
                "heads            4 query, 2 key-value (GQA, 2 per group)",
                "head dim         16",
                "intermediate     160",
                "vocab            364",
                "RoPE             theta 10000, scaling llama3, factor 8.0",
                "sliding window   none",
                "tied embeddings  no",
                "tokenizer        BPE byte-level, vocab 364",
                "KV cache         256 bytes per token (2 x 2 layers x 2 kv heads x 16 x BF16)")) {
            assertTrue(out.contains(expected), "missing line '" + expected + "' in\n" + out);
        }
        String params = String.format(java.util.Locale.ROOT, "%,d", ModelDirFixture.llamaParameters());
        assertTrue(out.contains("parameters       " + params), out);
        assertTrue(out.contains("dtypes           BF16 (" + params + "); config says bfloat16"), out);
        assertTrue(out.contains("model.safetensors"), out);

        JsonNode json = JSON.readTree(t2r("inspect", model.toString(), "--format", "json").out());
        assertEquals(ModelDirFixture.llamaParameters(), json.get("parameters").asLong());
        assertEquals(2L * 2 * 2 * 16 * 2, json.get("kvCacheBytesPerToken").asLong());
        assertEquals(Files.size(model.resolve("model.safetensors")), json.get("shards").get(0).get("bytes").asLong());
    }

    private static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).asInt();
        return out;
    }

    private static float[] floats(JsonNode a) {
        float[] out = new float[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = Float.parseFloat(a.get(i).asText());
        return out;
    }

    private static List<String> iterableToList(java.util.Iterator<String> it) {
        List<String> out = new java.util.ArrayList<>();
        it.forEachRemaining(out::add);
        return out;
    }
}
