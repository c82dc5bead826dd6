package gsat2r.core.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import gsat2r.core.T2rException;
import gsat2r.core.tokenizer.TestTokenizers;
import gsat2r.core.tokenizer.Tokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tukaani.xz.LZMA2Options;
import org.tukaani.xz.XZOutputStream;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DataPreparerTest {

    @TempDir
    static Path shared;
    @TempDir
    Path tmp;

    static Path tokenizerDir;
    static List<String> texts;
    static Path jsonl;

    @BeforeAll
    static void corpus() throws IOException {
        tokenizerDir = TestTokenizers.dir(TestTokenizers.BYTE_LEVEL);
        texts = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            texts.add("Document " + i + ": the quick brown fox jumps over " + (i % 7) + " lazy dogs. ü€ " + "word ".repeat(i % 13));
        }
        jsonl = shared.resolve("docs.jsonl");
        Files.write(jsonl, jsonLines(texts));
    }

    static List<String> jsonLines(List<String> docs) {
        JsonMapper json = JsonMapper.builder().build();
        List<String> lines = new ArrayList<>();
        for (String t : docs) lines.add(json.createObjectNode().put("text", t).put("source", "test").toString());
        return lines;
    }

    static DataPreparer.Request request(List<Path> train, List<Path> validation, double fraction, long shardTokens, Path out) {
        return new DataPreparer.Request(tokenizerDir, train, validation, "text", fraction, shardTokens, out, false);
    }

    static DataPreparer.Summary prepare(DataPreparer.Request r) {
        return DataPreparer.prepare(r, p -> {});
    }

    /** The expected tokens of a document: the tokenizer's encoding (BOS included) and EOS. */
    static int[] expected(Tokenizer tok, String text) {
        int[] ids = tok.encode(text);
        int[] out = Arrays.copyOf(ids, ids.length + 1);
        out[ids.length] = tok.eosIds()[0];
        return out;
    }

    @Test
    void documentsAreEncodedWithBosAndEndedWithEosInInputOrder() throws IOException {
        Path out = tmp.resolve("ds");
        DataPreparer.Summary s = prepare(request(List.of(jsonl), List.of(), 0, DataPreparer.DEFAULT_SHARD_TOKENS, out));
        assertEquals(texts.size(), s.trainDocuments());
        assertEquals(0, s.validationDocuments());
        try (Tokenizer tok = Tokenizer.load(tokenizerDir); PreparedDataset ds = PreparedDataset.open(out)) {
            assertEquals(362, tok.bosId().getAsInt());
            assertEquals(363, tok.eosIds()[0]);
            TokenShard shard = ds.train().shards().getFirst();
            long tokens = 0;
            for (int d = 0; d < texts.size(); d++) {
                int[] want = expected(tok, texts.get(d));
                assertEquals(362, want[0]);
                assertArrayEquals(want, shard.document(d), "document " + d);
                tokens += want.length;
            }
            assertEquals(tokens, s.trainTokens());
            assertEquals(PreparedDataset.tokenizerHash(tokenizerDir), ds.tokenizerHash());
            assertEquals(tok.vocabSize(), ds.vocabSize());
            JsonNode m = ds.manifest();
            assertEquals(tokens, m.path("splits").path("train").path("tokens").asLong());
            assertEquals(2, m.path("token_bytes").asInt());
        }
    }

    @Test
    void xzTextAndBlankLinesAreRead() throws IOException {
        Path xz = tmp.resolve("docs.jsonl.xz");
        List<String> lines = new ArrayList<>(jsonLines(texts.subList(0, 20)));
        lines.add(5, "");
        lines.add(9, "   ");
        try (OutputStream o = new XZOutputStream(Files.newOutputStream(xz), new LZMA2Options())) {
            o.write((String.join("\n", lines) + "\n").getBytes(StandardCharsets.UTF_8));
        }
        Path txt = tmp.resolve("book.txt");
        Files.writeString(txt, "A whole book.\n\nIn two paragraphs.\n");
        Path out = tmp.resolve("ds");
        prepare(request(List.of(xz, txt), List.of(), 0, DataPreparer.DEFAULT_SHARD_TOKENS, out));
        try (Tokenizer tok = Tokenizer.load(tokenizerDir); PreparedDataset ds = PreparedDataset.open(out)) {
            TokenShard shard = ds.train().shards().getFirst();
            assertEquals(21, shard.documents());
            for (int d = 0; d < 20; d++) assertArrayEquals(expected(tok, texts.get(d)), shard.document(d));
            assertArrayEquals(expected(tok, "A whole book.\n\nIn two paragraphs.\n"), shard.document(20));
        }
    }

    @Test
    void sameInputsGiveTheSameBytes() throws IOException {
        Path a = tmp.resolve("a"), b = tmp.resolve("b");
        prepare(request(List.of(jsonl), List.of(), 0.2, 2000, a));
        prepare(request(List.of(jsonl), List.of(), 0.2, 2000, b));
        List<Path> files;
        try (Stream<Path> s = Files.list(a)) {
            files = s.map(Path::getFileName).sorted().toList();
        }
        assertTrue(files.size() > 3, "expected several shards: " + files);
        for (Path f : files) assertArrayEquals(Files.readAllBytes(a.resolve(f)), Files.readAllBytes(b.resolve(f)), f.toString());
    }

    @Test
    void validationFractionSplitsByTextHash() throws IOException {
        Path out = tmp.resolve("ds");
        DataPreparer.Summary s = prepare(request(List.of(jsonl), List.of(), 0.25, DataPreparer.DEFAULT_SHARD_TOKENS, out));
        long threshold = 1L << 62;                 // 0.25 · 2^64
        List<String> wantTrain = new ArrayList<>(), wantValidation = new ArrayList<>();
        for (String t : texts) {
            (Long.compareUnsigned(DataPreparer.textHash(t), threshold) < 0 ? wantValidation : wantTrain).add(t);
        }
        assertEquals(wantValidation.size(), s.validationDocuments());
        assertEquals(wantTrain.size(), s.trainDocuments());
        // 300 documents, p = 0.25: 75 ± 7.5 (one standard deviation); allow four.
        assertTrue(Math.abs(wantValidation.size() - 75) < 30, "validation documents: " + wantValidation.size());
        try (Tokenizer tok = Tokenizer.load(tokenizerDir); PreparedDataset ds = PreparedDataset.open(out)) {
            TokenShard v = ds.validation().shards().getFirst();
            for (int d = 0; d < wantValidation.size(); d++) assertArrayEquals(expected(tok, wantValidation.get(d)), v.document(d));
            TokenShard t = ds.train().shards().getFirst();
            for (int d = 0; d < wantTrain.size(); d++) assertArrayEquals(expected(tok, wantTrain.get(d)), t.document(d));
        }
        // The split is a property of the text: the same documents in reverse order split the same way.
        List<String> reversed = new ArrayList<>(texts);
        java.util.Collections.reverse(reversed);
        Path rev = tmp.resolve("rev.jsonl");
        Files.write(rev, jsonLines(reversed));
        DataPreparer.Summary r = prepare(request(List.of(rev), List.of(), 0.25, DataPreparer.DEFAULT_SHARD_TOKENS, tmp.resolve("rev")));
        assertEquals(s.validationDocuments(), r.validationDocuments());
    }

    @Test
    void validationInputsGoToTheValidationSplit() throws IOException {
        Path val = tmp.resolve("val.jsonl");
        Files.write(val, jsonLines(List.of("held out one", "held out two")));
        Path out = tmp.resolve("ds");
        DataPreparer.Summary s = prepare(new DataPreparer.Request(tokenizerDir, List.of(jsonl), List.of(val), "text", 0,
                DataPreparer.DEFAULT_SHARD_TOKENS, out, false));
        assertEquals(2, s.validationDocuments());
        assertEquals(texts.size(), s.trainDocuments());
    }

    @Test
    void shardsRollOverAtDocumentBordersAndReadAsOneStream() throws IOException {
        Path one = tmp.resolve("one"), many = tmp.resolve("many");
        prepare(request(List.of(jsonl), List.of(), 0, DataPreparer.DEFAULT_SHARD_TOKENS, one));
        prepare(request(List.of(jsonl), List.of(), 0, 500, many));
        try (PreparedDataset a = PreparedDataset.open(one); PreparedDataset b = PreparedDataset.open(many)) {
            assertEquals(1, a.train().shards().size());
            assertTrue(b.train().shards().size() > 10);
            for (TokenShard s : b.train().shards().subList(0, b.train().shards().size() - 1)) {
                assertTrue(s.tokens() >= 500, s.file() + " closed early");
            }
            assertEquals(a.train().tokens(), b.train().tokens());
            assertEquals(a.train().documents(), b.train().documents());
            int n = (int) a.train().tokens();
            int[] x = new int[n], y = new int[n];
            a.train().read(0, x, 0, n);
            b.train().read(0, y, 0, n);
            assertArrayEquals(x, y);
            // Reads that straddle shard borders.
            for (int start = 0; start + 777 <= n; start += 611) {
                int[] p = new int[777];
                b.train().read(start, p, 0, 777);
                assertArrayEquals(Arrays.copyOfRange(x, start, start + 777), p);
            }
        }
    }

    @Test
    void badInputsFailWithFileAndLine() throws IOException {
        Path noField = tmp.resolve("nofield.jsonl");
        Files.write(noField, List.of("{\"text\": \"ok\"}", "{\"body\": \"x\"}"));
        assertFails(noField, noField + ":2: no field \"text\"");
        Path notString = tmp.resolve("notstring.jsonl");
        Files.write(notString, List.of("{\"text\": 5}"));
        assertFails(notString, notString + ":1: field \"text\" is not a string");
        Path badJson = tmp.resolve("bad.jsonl");
        Files.write(badJson, List.of("{\"text\": \"ok\"}", "{\"text\": \"unterminated"));
        assertFails(badJson, badJson + ":2: not a JSON object");
        Path prose = tmp.resolve("prose.jsonl");
        Files.write(prose, List.of("just text"));
        assertFails(prose, prose + ":1: not a JSON object (a JSON-lines file has one a line) (column ");
        Path badUtf8 = tmp.resolve("bad.txt");
        Files.write(badUtf8, new byte[] {'a', (byte) 0xC3, 'b'});
        assertFails(badUtf8, badUtf8 + ": not valid UTF-8 text");
        Path badXz = tmp.resolve("bad.jsonl.xz");
        Files.writeString(badXz, "not xz at all");
        assertFails(badXz, badXz + ": not xz data (the name ends in .xz)");
        Path csv = tmp.resolve("data.csv");
        Files.writeString(csv, "a,b");
        assertFails(csv, csv + ": unknown input format (expected " + TextInputs.KNOWN + ")");
        assertFails(tmp.resolve("missing.jsonl"), tmp.resolve("missing.jsonl") + ": no such file");
        Path empty = Files.writeString(tmp.resolve("empty.jsonl"), "");
        assertFails(empty, empty + ": no text to train on");
        Path blank = Files.writeString(tmp.resolve("blank.jsonl"), "{\"text\": \"\"}\n{\"text\": \"\"}\n");
        assertFails(blank, blank + ": no text to train on (2 empty documents skipped)");
    }

    @Test
    void inputsThatLeaveNothingToTrainOnAreRefused() throws IOException {
        Path one = Files.write(tmp.resolve("one.jsonl"), List.of("{\"text\": \"a single document\"}"));
        Path out = tmp.resolve("all-validation");
        T2rException e = assertThrows(T2rException.class,
                () -> prepare(request(List.of(one), List.of(), 0.999999, DataPreparer.DEFAULT_SHARD_TOKENS, out)));
        assertEquals(one + ": every one of the 1 documents went to the validation split; give more text or a smaller --validation-fraction",
                e.getMessage());
        assertFalse(Files.exists(out));
    }

    @Test
    void aDatasetIsNeverWrittenOverItsOwnInput() throws IOException {
        Path out = Files.createDirectories(tmp.resolve("ds-holding-input"));
        Path in = Files.write(out.resolve("raw.jsonl"), List.of("{\"text\": \"mine\"}"));
        T2rException e = assertThrows(T2rException.class, () -> DataPreparer.prepare(new DataPreparer.Request(tokenizerDir, List.of(in),
                List.of(), "text", 0, DataPreparer.DEFAULT_SHARD_TOKENS, out, true), p -> {}));
        assertEquals(out + ": holds the input " + in + "; write the dataset somewhere else", e.getMessage());
        assertTrue(Files.isRegularFile(in));
    }

    private void assertFails(Path input, String message) {
        Path out = tmp.resolve("out-" + input.getFileName());
        T2rException e = assertThrows(T2rException.class,
                () -> prepare(request(List.of(input), List.of(), 0, DataPreparer.DEFAULT_SHARD_TOKENS, out)));
        assertTrue(e.getMessage().startsWith(message), e.getMessage());
        assertFalse(Files.exists(out), "a failed preparation must leave no output");
        try (Stream<Path> s = Files.list(tmp)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().startsWith(".out-")), "temp directory left behind");
        } catch (IOException ex) {
            throw new RuntimeException(ex);
        }
    }

    @Test
    void existingOutputNeedsReplace() throws IOException {
        Path out = tmp.resolve("ds");
        prepare(request(List.of(jsonl), List.of(), 0, DataPreparer.DEFAULT_SHARD_TOKENS, out));
        T2rException e = assertThrows(T2rException.class,
                () -> prepare(request(List.of(jsonl), List.of(), 0, DataPreparer.DEFAULT_SHARD_TOKENS, out)));
        assertTrue(e.getMessage().contains("not empty (use --force"), e.getMessage());
        DataPreparer.prepare(new DataPreparer.Request(tokenizerDir, List.of(jsonl), List.of(), "text", 0.5,
                DataPreparer.DEFAULT_SHARD_TOKENS, out, true), p -> {});
        try (PreparedDataset ds = PreparedDataset.open(out)) {
            assertTrue(ds.validation().documents() > 0);
        }
    }

    @Test
    void progressIsReported() {
        List<DataPreparer.Progress> seen = new ArrayList<>();
        DataPreparer.prepare(request(List.of(jsonl), List.of(), 0, DataPreparer.DEFAULT_SHARD_TOKENS, tmp.resolve("ds")), seen::add);
        assertTrue(seen.size() >= 2, "progress calls: " + seen.size());
        DataPreparer.Progress last = seen.getLast();
        assertTrue(last.done());
        assertEquals(texts.size(), last.documents());
        Set<Long> docs = new HashSet<>();
        for (DataPreparer.Progress p : seen) docs.add(p.documents());
        assertTrue(docs.size() >= 2, "documents should grow: " + docs);
    }
}
