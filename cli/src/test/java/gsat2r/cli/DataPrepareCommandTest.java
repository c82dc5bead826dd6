package gsat2r.cli;

import gsat2r.core.data.PreparedDataset;
import gsat2r.core.tokenizer.TestTokenizers;
import gsat2r.core.model.LanguageModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DataPrepareCommandTest {

    @TempDir
    Path tmp;

    static final Function<Path, LanguageModel> NO_MODELS = dir -> {
        throw new AssertionError("no model is loaded by t2r data prepare");
    };

    CliRun t2r(String... args) {
        return CliRun.run(NO_MODELS, tmp.resolve("cache"), args);
    }

    /** A progress line while the work goes on reads as such, the last one as the result. */
    @Test
    void progressLinesSayWhetherTheWorkGoesOn() {
        var going = new gsat2r.core.data.DataPreparer.Progress(256, 81_920, 2.0, Path.of("data/train.jsonl.xz"), false);
        assertEquals("t2r: tokenizing train.jsonl.xz: 256 documents, 81.9k tokens so far (128 docs/s, 41.0k tokens/s)",
                DataPrepareCommand.describe(going));
        var done = new gsat2r.core.data.DataPreparer.Progress(1189, 380_000, 4.0, null, true);
        assertEquals("t2r: tokenized 1189 documents, 380.0k tokens (297 docs/s, 95.0k tokens/s) in 4.0 s", DataPrepareCommand.describe(done));
    }

    @Test
    void preparesShardsAndReportsProgress() throws IOException {
        Path in = tmp.resolve("docs.jsonl");
        Files.write(in, List.of("{\"body\": \"In the beginning.\"}", "{\"body\": \"And the earth was without form.\"}",
                "{\"body\": \"\"}", "{\"body\": \"And darkness was upon the face of the deep.\"}"));
        Path val = tmp.resolve("val.txt");
        Files.writeString(val, "Let there be light.");
        Path out = tmp.resolve("ds");
        CliRun r = t2r("data", "prepare", "--tokenizer", TestTokenizers.dir(TestTokenizers.BYTE_LEVEL).toString(), "--input", in.toString(),
                "--validation", val.toString(), "--text-field", "body", "--out", out.toString());
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().startsWith("wrote " + out + ": train 3 documents, "), r.toString());
        assertTrue(r.out().contains("validation 1 documents") && r.out().contains("1 empty documents skipped"), r.toString());
        assertTrue(r.err().contains("docs/s") && r.err().contains("tokens/s"), r.toString());
        try (PreparedDataset ds = PreparedDataset.open(out)) {
            assertEquals(3, ds.train().documents());
            assertEquals(1, ds.validation().documents());
        }
        // Again without --force: refused, nothing changed; with --force: replaced.
        CliRun again = t2r("data", "prepare", "--tokenizer", TestTokenizers.dir(TestTokenizers.BYTE_LEVEL).toString(), "--input", in.toString(),
                "--text-field", "body", "--out", out.toString());
        assertEquals(1, again.exit());
        assertTrue(again.err().startsWith("error: " + out + ": directory exists and is not empty (use --force"), again.toString());
        CliRun forced = t2r("data", "prepare", "--tokenizer", TestTokenizers.dir(TestTokenizers.BYTE_LEVEL).toString(), "--input", in.toString(),
                "--text-field", "body", "--out", out.toString(), "--force");
        assertEquals(0, forced.exit(), forced.toString());
        // --force replaces a prepared dataset, not a directory of other files.
        Path mine = Files.createDirectories(tmp.resolve("mine"));
        Files.writeString(mine.resolve("notes.txt"), "keep");
        CliRun refused = t2r("data", "prepare", "--tokenizer", TestTokenizers.dir(TestTokenizers.BYTE_LEVEL).toString(), "--input", in.toString(),
                "--text-field", "body", "--out", mine.toString(), "--force");
        assertEquals(1, refused.exit());
        assertEquals("error: " + mine + ": is not a prepared dataset (no dataset.json), so --force does not replace it; give a new or empty directory",
                refused.err().strip());
        assertEquals("keep", Files.readString(mine.resolve("notes.txt")));
    }

    /** .jsonl.gz and .jsonl.zst written by gzip and zstd (core's fixtures), and JSONL on standard input. */
    @Test
    void readsCompressedInputsAndStandardInput() throws IOException {
        Path fixtures = Path.of("..", "core", "src", "test", "resources", "fixtures", "inputs");
        String tokenizer = TestTokenizers.dir(TestTokenizers.BYTE_LEVEL).toString();
        Path plain = tmp.resolve("plain");
        assertEquals(0, t2r("data", "prepare", "--tokenizer", tokenizer, "--input", fixtures.resolve("docs.jsonl").toString(),
                "--out", plain.toString()).exit());
        for (String name : List.of("docs.jsonl.gz", "docs.jsonl.zst", "frames.jsonl.zst", "members.jsonl.gz")) {
            Path out = tmp.resolve("ds-" + name);
            CliRun r = t2r("data", "prepare", "--tokenizer", tokenizer, "--input", fixtures.resolve(name).toString(),
                    "--validation", fixtures.resolve("doc.txt.zst").toString(), "--out", out.toString());
            assertEquals(0, r.exit(), r.toString());
            assertTrue(r.out().contains("train 3 documents") && r.out().contains("validation 1 documents"), r.toString());
            assertEquals(-1L, Files.mismatch(plain.resolve("train-00000.tokens"), out.resolve("train-00000.tokens")), name);
        }
        var stdin = System.in;
        try {
            System.setIn(Files.newInputStream(fixtures.resolve("docs.jsonl.zst")));
            Path out = tmp.resolve("ds-stdin");
            CliRun r = t2r("data", "prepare", "--tokenizer", tokenizer, "--input", "-", "--out", out.toString());
            assertEquals(0, r.exit(), r.toString());
            assertEquals(-1L, Files.mismatch(plain.resolve("train-00000.tokens"), out.resolve("train-00000.tokens")), "stdin");
            assertTrue(Files.readString(out.resolve("dataset.json")).contains("\"file\" : \"-\""), "the manifest names stdin");
        } finally {
            System.setIn(stdin);
        }
        CliRun twice = t2r("data", "prepare", "--tokenizer", tokenizer, "--input", "-", "--validation", "-", "--out", tmp.resolve("x").toString());
        assertEquals(List.of("error: - (standard input) is given 2 times; it can be read once"), twice.errLines());
    }

    /** Parquet as Hugging Face datasets and pyarrow write it (the datasets module's fixtures): the same tokens as the JSONL of its rows. */
    @Test
    void readsParquetColumns() throws IOException {
        Path fixtures = Path.of("..", "datasets", "src", "test", "resources", "gsat2r", "datasets");
        String tokenizer = TestTokenizers.dir(TestTokenizers.BYTE_LEVEL).toString();
        Path jsonl = tmp.resolve("from-jsonl");
        assertEquals(0, t2r("data", "prepare", "--tokenizer", tokenizer, "--input", fixtures.resolve("rows.jsonl").toString(),
                "--text-field", "question", "--out", jsonl.toString()).exit());
        for (String name : List.of("hf-datasets.parquet", "gzip-v2-plain.parquet")) {
            Path out = tmp.resolve("ds-" + name);
            CliRun r = t2r("data", "prepare", "--tokenizer", tokenizer, "--input", fixtures.resolve(name).toString(),
                    "--text-field", "question", "--out", out.toString());
            assertEquals(0, r.exit(), r.toString());
            assertTrue(r.out().contains("train 2 documents") && r.out().contains("1 empty documents skipped"), r.toString());
            assertEquals(-1L, Files.mismatch(jsonl.resolve("train-00000.tokens"), out.resolve("train-00000.tokens")), name);
        }
        CliRun groups = t2r("data", "prepare", "--tokenizer", tokenizer, "--input", fixtures.resolve("row-groups.parquet").toString(),
                "--text-field", "question", "--out", tmp.resolve("groups").toString());
        assertTrue(groups.out().contains("train 80 documents") && groups.out().contains("40 empty documents skipped"), groups.toString());
        Path hf = fixtures.resolve("hf-datasets.parquet");
        CliRun noColumn = t2r("data", "prepare", "--tokenizer", tokenizer, "--input", hf.toString(), "--out", tmp.resolve("n").toString());
        assertEquals(List.of("error: " + hf + ": row 0: no field \"text\" (fields: id, question, choices, answerKey, endings, label, score,"
                + " flag, note)"), noColumn.errLines());
        CliRun notString = t2r("data", "prepare", "--tokenizer", tokenizer, "--input", hf.toString(), "--text-field", "choices",
                "--out", tmp.resolve("c").toString());
        assertEquals(1, notString.exit());
        assertTrue(notString.err().startsWith("error: " + hf + ": row 0: "), notString.toString());
        assertFalse(Files.exists(tmp.resolve("n")) || Files.exists(tmp.resolve("c")));
    }

    @Test
    void errorsAreOneLineOrUsage() throws IOException {
        Path in = tmp.resolve("docs.jsonl");
        Files.write(in, List.of("{\"text\": \"ok\"}", "not json"));
        CliRun bad = t2r("data", "prepare", "--tokenizer", TestTokenizers.dir(TestTokenizers.BYTE_LEVEL).toString(), "--input", in.toString(),
                "--out", tmp.resolve("ds").toString());
        assertEquals(1, bad.exit());
        assertEquals(1, bad.errLines().stream().filter(l -> l.startsWith("error: ")).count(), bad.toString());
        assertTrue(bad.err().contains("error: " + in + ":2: not a JSON object"), bad.toString());
        assertFalse(bad.err().contains("\tat "), bad.toString());
        assertFalse(Files.exists(tmp.resolve("ds")));

        CliRun usage = t2r("data", "prepare", "--tokenizer", "x", "--out", "y");
        assertEquals(2, usage.exit());
        assertTrue(usage.err().contains("Missing required option: '--input=FILE'"), usage.toString());
        CliRun fraction = t2r("data", "prepare", "--tokenizer", TestTokenizers.dir(TestTokenizers.BYTE_LEVEL).toString(), "--input",
                in.toString(), "--out", tmp.resolve("z").toString(), "--validation-fraction", "1.5");
        assertEquals(2, fraction.exit());
        assertEquals(List.of("--validation-fraction must be in [0, 1), got 1.5", "Try 't2r data prepare --help' for more information."),
                fraction.errLines());
        assertEquals(2, t2r("data").exit());
    }
}
