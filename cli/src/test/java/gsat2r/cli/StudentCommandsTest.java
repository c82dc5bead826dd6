package gsat2r.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.llama.LlamaModel;
import gsat2r.core.safetensors.HeapTensor;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.ShardedSafeTensorsWriter;
import gsat2r.core.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code t2r convert} end to end with the real model loader, and the other commands on its students. */
class StudentCommandsTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    @TempDir
    Path tmp;

    private CliRun t2r(String... args) {
        return CliRun.run(ModelLoader::load, tmp.resolve("cache"), args);
    }

    @Test
    void convertThenLogitsInspectAndGenerateOnTheStudent() throws IOException {
        Path teacher = Fixtures.copy("hf-tiny-mistral", tmp.resolve("teacher")), student = tmp.resolve("student");
        CliRun convert = t2r("convert", "--teacher", teacher.toString(), "--out", student.toString(), "--slots", "16");
        assertEquals(0, convert.exit(), convert.toString());
        assertTrue(convert.out().contains("parameters 227,808 -> 231,136 (+3,328: f_proj 2 x [16, 96], g_norm 2 x [128])"),
                convert.out());
        assertTrue(convert.out().contains("at 2K      teacher KV cache 8.0 KiB (f32, window 16) vs student 8.0 KiB"), convert.out());
        assertInstanceOf(GsaModel.class, ModelLoader.load(student));
        assertInstanceOf(LlamaModel.class, ModelLoader.load(teacher));

        CliRun logits = t2r("logits", "--model", student.toString(), "--text", "In the beginning", "--all-positions");
        assertEquals(0, logits.exit(), logits.toString());
        JsonNode json = JSON.readTree(logits.out());
        int n = json.get("ids").size();
        assertTrue(n > 1);
        assertEquals(n, json.get("logits").size());
        assertEquals(384, json.get("logits").get(0).size());
        for (JsonNode row : json.get("logits")) for (JsonNode v : row) assertTrue(Double.isFinite(v.asDouble()));

        CliRun inspect = t2r("inspect", student.toString());
        assertEquals(0, inspect.exit(), inspect.toString());
        for (String line : List.of("architecture     GSAForCausalLM (model_type gsa)", "layer plan       GSA 0-1",
                "GSA slots        16", "gate normalizer  8", "head dim         32",
                "recurrent state  8,192 bytes per sequence, any length (fp32)", "fla 0.5.2        cannot build it as is")) {
            assertTrue(inspect.out().contains(line), "missing '" + line + "' in\n" + inspect.out());
        }

        CliRun generate = t2r("generate", "--model", student.toString(), "--prompt", "In the", "--max-new-tokens", "12",
                "--greedy", "--format", "json");
        assertEquals(0, generate.exit(), generate.toString());
        JsonNode gen = JSON.readTree(generate.out());
        int[] all = JSON.convertValue(gen.get("ids"), int[].class);
        // Greedy decoding through the recurrent decoder agrees with the chunked forward over the same ids.
        try (LanguageModel m = ModelLoader.load(student)) {
            float[][] rows = m.forward(java.util.Arrays.copyOf(all, all.length - 1));
            for (int t = all.length - 12; t < all.length; t++) assertEquals(argmax(rows[t - 1]), all[t], "token " + t);
        }
    }

    private static int argmax(float[] row) {
        int best = 0;
        for (int i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
        return best;
    }

    @Test
    void hybridStudentOfTheLlamaFixture() throws IOException {
        Path teacher = Fixtures.copy("hf-tiny-llama", tmp.resolve("teacher")), student = tmp.resolve("student");
        CliRun convert = t2r("convert", "--teacher", teacher.toString(), "--out", student.toString(),
                "--keep-attention", "1", "--gate-init", "key-pool", "--dtype", "f32");
        assertEquals(0, convert.exit(), convert.toString());
        CliRun inspect = t2r("inspect", student.toString());
        assertTrue(inspect.out().contains("layer plan       GSA 0; attention 1 (4 heads, 2 kv, head_dim 16, full, rope llama3"),
                inspect.out());
        assertTrue(inspect.out().contains("KV cache         256 bytes per token in the attention layers (F32"), inspect.out());
        CliRun logits = t2r("logits", "--model", student.toString(), "--ids", "1,2,3,4,5");
        assertEquals(0, logits.exit(), logits.toString());
        CliRun again = t2r("convert", "--teacher", teacher.toString(), "--out", student.toString());
        assertEquals(1, again.exit());
        assertEquals("error: " + student + ": directory exists and is not empty (use --force to replace it)",
                again.err().strip());
        assertEquals(0, t2r("convert", "--teacher", teacher.toString(), "--out", student.toString(), "--force").exit());
        // --force replaces a student, never the teacher or a directory of someone else's files.
        CliRun ontoTeacher = t2r("convert", "--teacher", teacher.toString(), "--out", teacher.toString(), "--force");
        assertEquals(1, ontoTeacher.exit());
        assertEquals("error: " + teacher + ": is not a t2r student (no config.json of model_type gsa), so --force does not replace it; "
                + "give a new or empty directory", ontoTeacher.err().strip());
        assertTrue(Files.isRegularFile(teacher.resolve("model.safetensors")), "the teacher is untouched");
        Path mine = tmp.resolve("mine");
        Files.createDirectories(mine.resolve("sub"));
        Files.writeString(mine.resolve("sub/thesis.tex"), "keep");
        assertEquals(1, t2r("convert", "--teacher", teacher.toString(), "--out", mine.toString(), "--force").exit());
        assertEquals("keep", Files.readString(mine.resolve("sub/thesis.tex")));
    }

    @Test
    void truncatedShardExitsOneNamingTheFileAndLeavesNoOutput() throws IOException {
        Path src = Fixtures.copy("hf-tiny-llama", tmp.resolve("src")), teacher = tmp.resolve("sharded");
        Files.createDirectories(teacher);
        Map<String, HeapTensor> tensors = new LinkedHashMap<>();
        try (SafeTensors st = SafeTensors.open(src)) {
            for (String name : st.tensors().keySet()) {
                tensors.put(name, HeapTensor.ofBytes(st.info(name).dtype(), st.bytes(name).toArray(ValueLayout.JAVA_BYTE),
                        st.info(name).shape()));
            }
        }
        ShardedSafeTensorsWriter.write(teacher, tensors, 60_000);
        Files.copy(src.resolve("config.json"), teacher.resolve("config.json"));
        Path shard = teacher.resolve("model-00003-of-00004.safetensors");
        try (RandomAccessFile f = new RandomAccessFile(shard.toFile(), "rw")) {
            f.setLength(f.length() / 2);
        }
        Path out = tmp.resolve("out");
        CliRun r = t2r("convert", "--teacher", teacher.toString(), "--out", out.toString());
        assertEquals(1, r.exit(), r.toString());
        assertEquals("", r.out());
        assertEquals(1, r.errLines().size(), r.toString());
        assertTrue(r.err().startsWith("error: " + shard), r.err());
        assertFalse(Files.exists(out));
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(List.of(), s.filter(p -> p.getFileName().toString().startsWith(".")).toList());
        }
    }

    @Test
    void badOptionsAreUsageErrors() {
        Path teacher = Fixtures.copy("hf-tiny-llama", tmp.resolve("teacher"));
        for (String[] bad : List.of(new String[] {"--gate-init", "zeros"}, new String[] {"--slots", "0"},
                new String[] {"--dtype", "f16"}, new String[] {"--keep-attention", "x"})) {
            String[] args = Stream.concat(Stream.of("convert", "--teacher", teacher.toString(), "--out",
                    tmp.resolve("o").toString()), Stream.of(bad)).toArray(String[]::new);
            CliRun r = t2r(args);
            assertEquals(2, r.exit(), r.toString());
            assertTrue(r.err().contains("Try 't2r convert --help'"), r.toString());
        }
        CliRun r = t2r("convert", "--teacher", teacher.toString(), "--out", tmp.resolve("o").toString(), "--keep-attention", "5");
        assertEquals(2, r.exit());
        assertEquals(List.of("--keep-attention (student.keep_attention): layer 5 does not exist (the teacher has layers 0..1)",
                "Try 't2r convert --help' for more information."), r.errLines());
    }

    /** A hybrid's attention layer made GSA (--student, --to-gsa), and the usage errors around it. */
    @Test
    void convertMakesAHybridsAttentionLayersGsa() {
        Path teacher = Fixtures.copy("hf-tiny-llama", tmp.resolve("teacher"));
        Path hybrid = tmp.resolve("hybrid"), student = tmp.resolve("student");
        assertEquals(0, t2r("convert", "--teacher", teacher.toString(), "--out", hybrid.toString(), "--keep-attention", "1").exit());
        CliRun r = t2r("convert", "--student", hybrid.toString(), "--to-gsa", "1", "--gate-init", "key-pool", "--out", student.toString());
        assertEquals(0, r.exit(), r.toString());
        assertEquals("student    " + student + ": GSA 0-1", r.out().strip());
        assertInstanceOf(GsaModel.class, ModelLoader.load(student));
        for (String[] bad : List.of(new String[] {"--teacher", teacher.toString(), "--student", hybrid.toString(), "--to-gsa", "1"},
                new String[] {"--teacher", teacher.toString(), "--to-gsa", "1"}, new String[] {"--student", hybrid.toString()},
                new String[] {"--student", hybrid.toString(), "--to-gsa", "1", "--gate-init", "zeros"},
                new String[] {"--student", hybrid.toString(), "--to-gsa", "1", "--slots", "16"}, new String[] {})) {
            CliRun u = t2r(Stream.concat(Stream.of("convert", "--out", tmp.resolve("o").toString()), Stream.of(bad)).toArray(String[]::new));
            assertEquals(2, u.exit(), u.toString());
            assertTrue(u.err().contains("Try 't2r convert --help'"), u.toString());
        }
        CliRun conv = t2r("convert", "--teacher", teacher.toString(), "--out", tmp.resolve("conv").toString(), "--short-conv", "2");
        assertEquals(0, conv.exit(), conv.toString());
        assertTrue(conv.out().contains("q/k/v short convolutions 2 x [64 + 32 + 32, 1, 2] (identity)"), conv.out());
        CliRun e = t2r("convert", "--student", hybrid.toString(), "--to-gsa", "0", "--out", tmp.resolve("o").toString());
        assertEquals(2, e.exit(), "a bad --to-gsa value is a usage error: " + e);
        assertTrue(e.err().strip().startsWith("--to-gsa: layers [0] are not attention layers of this student"), e.toString());
        CliRun init = t2r("convert", "--teacher", teacher.toString(), "--out", tmp.resolve("o").toString(), "--short-conv-init", "random");
        assertEquals(2, init.exit(), init.toString());
        assertTrue(init.err().startsWith("--short-conv-init needs --short-conv K"), init.toString());
        assertFalse(Files.exists(tmp.resolve("o")));
    }
}
