package gsat2r.datasets;

import gsat2r.core.T2rException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Parquet files written by Hugging Face {@code datasets} and by pyarrow (scripts/datasets/make_parquet_fixtures.py:
 * Snappy with dictionaries and content-defined chunks, four row groups, gzip with data page v2 and plain
 * encoding) read back as the same rows as the JSON-lines file pyarrow's writer was given.
 */
class RowFilesTest {

    static final Path DIR = Path.of("src", "test", "resources", "gsat2r", "datasets");

    @TempDir
    Path tmp;

    @Test
    void parquetFilesReadAsTheRowsTheyWereWrittenFrom() {
        List<Row> expected = RowFiles.read(DIR.resolve("rows.jsonl"));
        assertEquals(3, expected.size());
        for (String name : List.of("hf-datasets.parquet", "gzip-v2-plain.parquet")) {
            List<Row> rows = RowFiles.read(DIR.resolve(name));
            assertEquals(expected.size(), rows.size(), name);
            for (int i = 0; i < rows.size(); i++) assertEquals(expected.get(i).fields(), rows.get(i).fields(), name + " row " + i);
        }
        List<Row> many = RowFiles.read(DIR.resolve("row-groups.parquet"));
        assertEquals(120, many.size(), "four row groups of 32, 32, 32, 24 rows");
        for (int i = 0; i < many.size(); i++) assertEquals(expected.get(i % 3).fields(), many.get(i).fields(), "row " + i);
    }

    @Test
    void typedFieldsOfANestedDatasetRow() {
        Row r = RowFiles.read(DIR.resolve("hf-datasets.parquet")).getFirst();
        assertEquals(List.of("id", "question", "choices", "answerKey", "endings", "label", "score", "flag", "note"),
                List.copyOf(r.names()), "the file's column order");
        assertEquals("Which of these do the heavens declare?", r.string("question"));
        assertEquals(List.of("A", "B", "C", "D"), r.struct("choices").strings("label"));
        assertEquals("the glory of God", r.struct("choices").strings("text").getFirst());
        assertEquals(0L, r.integer("label"), "a ClassLabel is its index");
        assertEquals(0.25, r.number("score"));
        assertEquals(true, r.get("flag"));
        assertNull(r.get("note"));
        Row second = RowFiles.read(DIR.resolve("hf-datasets.parquet")).get(1);
        assertEquals("Naïve café – “quotes”, emoji 🙂 and a\nnewline", second.string("question"));
        assertEquals(List.of(), second.strings("endings"));
    }

    @Test
    void wrongFieldsAndBadFilesAreOneLineNamingTheFile() throws IOException {
        Row r = RowFiles.read(DIR.resolve("hf-datasets.parquet")).getFirst();
        Path hf = DIR.resolve("hf-datasets.parquet");
        assertEquals(hf + ": row 0: field \"label\" must be a string, not an integer",
                assertThrows(T2rException.class, () -> r.string("label")).getMessage());
        assertEquals(hf + ": row 0: no field \"goal\" (fields: id, question, choices, answerKey, endings, label, score, flag, note)",
                assertThrows(T2rException.class, () -> r.string("goal")).getMessage());
        assertEquals(hf + ": row 0: field \"note\" must be a string, not null",
                assertThrows(T2rException.class, () -> r.string("note")).getMessage());

        Path bad = DIR.resolve("not-parquet.parquet");
        String m = assertThrows(T2rException.class, () -> RowFiles.read(bad)).getMessage();
        assertTrue(m.startsWith(bad + ": cannot read it as Parquet: ") && m.lines().count() == 1, m);
        Path none = tmp.resolve("none.parquet");
        assertEquals(none + ": no such file", assertThrows(T2rException.class, () -> RowFiles.read(none)).getMessage());
        Path csv = Files.writeString(tmp.resolve("x.csv"), "a,b\n");
        assertEquals(csv + ": not a dataset file (expected .parquet, .jsonl or .json, optionally .gz)",
                assertThrows(T2rException.class, () -> RowFiles.read(csv)).getMessage());
        Path broken = Files.writeString(tmp.resolve("b.jsonl"), "{\"a\": 1}\n\n{\"a\": \n");
        assertTrue(assertThrows(T2rException.class, () -> RowFiles.read(broken)).getMessage().startsWith(broken + ":3: not valid JSON ("));
    }

    @Test
    void jsonArraysAndGzippedJsonLinesReadLikeJsonLines() throws IOException {
        List<Row> expected = RowFiles.read(DIR.resolve("rows.jsonl"));
        String lines = Files.readString(DIR.resolve("rows.jsonl"));
        Path array = Files.writeString(tmp.resolve("rows.json"), "\uFEFF [" + String.join(",", lines.strip().split("\n")) + "]");
        Path gz = tmp.resolve("rows.jsonl.gz");
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(gz))) {
            out.write(lines.getBytes(StandardCharsets.UTF_8));
        }
        for (Path p : List.of(array, gz)) {
            List<Row> rows = RowFiles.read(p);
            assertEquals(expected.size(), rows.size(), p.toString());
            for (int i = 0; i < rows.size(); i++) assertEquals(expected.get(i).fields(), rows.get(i).fields());
        }
        assertArrayEquals(new Object[] {"x", "y", "z"}, expected.get(1).struct("choices").strings("text").toArray());
    }
}
