package gsat2r.core.data;

import com.github.luben.zstd.ZstdOutputStream;
import gsat2r.core.T2rException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Inputs by name and compression, read from files that gzip and zstd wrote (fixtures/inputs/README.md). */
class TextInputsTest {

    static final Path FIXTURES = Path.of("src/test/resources/fixtures/inputs");
    static final List<String> DOCS = List.of("In the beginning God created the heaven and the earth.",
            "And the earth was without form, and void.", "Café — \uD83D\uDE00");
    static final String TXT = "Let there be light:\nand there was light.\n";

    @TempDir
    Path tmp;

    static List<String> texts(Path file) {
        List<String> out = new ArrayList<>();
        TextInputs.read(file, "text", d -> out.add(d.text()));
        return out;
    }

    @Test
    void compressedJsonlFromTheRealToolsReadLikeThePlainFile() {
        for (String name : List.of("docs.jsonl", "docs.jsonl.gz", "docs.jsonl.zst", "frames.jsonl.zst", "members.jsonl.gz")) {
            assertEquals(DOCS, texts(FIXTURES.resolve(name)), name);
        }
        assertEquals(List.of(TXT), texts(FIXTURES.resolve("doc.txt.gz")));
        assertEquals(List.of(TXT), texts(FIXTURES.resolve("doc.txt.zst")));
    }

    @Test
    void documentsKnowTheirLine() {
        List<Long> lines = new ArrayList<>();
        TextInputs.read(FIXTURES.resolve("docs.jsonl.zst"), "text", d -> lines.add(d.line()));
        assertEquals(List.of(1L, 3L, 4L), lines, "the blank line 2 is skipped");
    }

    @Test
    void standardInputIsJsonlWhateverItsCompression() throws IOException {
        for (String name : List.of("docs.jsonl", "docs.jsonl.gz", "docs.jsonl.zst", "frames.jsonl.zst")) {
            List<String> out = new ArrayList<>();
            TextInputs.read(TextInputs.STDIN, Files.newInputStream(FIXTURES.resolve(name)), "text", d -> out.add(d.text()));
            assertEquals(DOCS, out, name);
        }
        byte[] xz = xz(Files.readAllBytes(FIXTURES.resolve("docs.jsonl")));
        List<String> out = new ArrayList<>();
        TextInputs.read(TextInputs.STDIN, new ByteArrayInputStream(xz), "text", d -> out.add(d.text()));
        assertEquals(DOCS, out);
    }

    @Test
    void namesAreKnownByFormatThenCompression() {
        assertEquals(new TextInputs.Kind(TextInputs.Format.JSONL, TextInputs.Compression.ZSTD), TextInputs.kindOf(Path.of("a/B.JSONL.ZST")));
        assertEquals(new TextInputs.Kind(TextInputs.Format.TEXT, TextInputs.Compression.GZIP), TextInputs.kindOf(Path.of("b.txt.gz")));
        assertEquals(new TextInputs.Kind(TextInputs.Format.TEXT, TextInputs.Compression.NONE), TextInputs.kindOf(Path.of("c.txt")));
        assertEquals(new TextInputs.Kind(TextInputs.Format.JSONL, null), TextInputs.kindOf(Path.of("-")));
        for (String bad : List.of("d.csv", "e.gz", "f.jsonl.bz2", "g.zst.jsonl.gz.txt.tar")) {
            T2rException e = assertThrows(T2rException.class, () -> TextInputs.kindOf(Path.of(bad)));
            assertEquals(bad + ": unknown input format (expected " + TextInputs.KNOWN + ")", e.getMessage());
        }
        // core alone has no Parquet reader (the datasets module brings one, and its tests read through it).
        T2rException e = assertThrows(T2rException.class, () -> TextInputs.kindOf(Path.of("h.parquet")));
        assertEquals("h.parquet: reading Parquet needs the gsa-t2r-datasets module on the class path", e.getMessage());
    }

    @Test
    void contentThatIsNotWhatTheNameSaysIsOneLine() throws IOException {
        Path gzipNamedZst = tmp.resolve("x.jsonl.zst");
        Files.copy(FIXTURES.resolve("docs.jsonl.gz"), gzipNamedZst);
        assertEquals(gzipNamedZst + ": not zstd data (the name ends in .zst)", message(gzipNamedZst));
        Path plainNamedGz = tmp.resolve("y.jsonl.gz");
        Files.copy(FIXTURES.resolve("docs.jsonl"), plainNamedGz);
        assertEquals(plainNamedGz + ": not gzip data (the name ends in .gz)", message(plainNamedGz));
        Path truncated = tmp.resolve("t.jsonl.zst");
        byte[] zst = Files.readAllBytes(FIXTURES.resolve("docs.jsonl.zst"));
        Files.write(truncated, java.util.Arrays.copyOf(zst, zst.length - 9));
        assertTrue(message(truncated).startsWith(truncated + ": cannot decompress zstd data ("), message(truncated));
        Path truncatedGz = tmp.resolve("t.txt.gz");
        byte[] gz = Files.readAllBytes(FIXTURES.resolve("doc.txt.gz"));
        Files.write(truncatedGz, java.util.Arrays.copyOf(gz, gz.length - 12));
        assertTrue(message(truncatedGz).startsWith(truncatedGz + ": cannot decompress gzip data ("), message(truncatedGz));
        Path latin1 = tmp.resolve("l.txt.zst");
        Files.write(latin1, zstd("caf\u00e9".getBytes(StandardCharsets.ISO_8859_1)));
        assertEquals(latin1 + ": not valid UTF-8 text", message(latin1));
        Path noField = tmp.resolve("n.jsonl.gz");
        Files.write(noField, gzip("{\"text\": \"a\"}\n{\"body\": \"b\"}\n".getBytes(StandardCharsets.UTF_8)));
        assertEquals(noField + ":2: no field \"text\"", message(noField));
    }

    @Test
    void checkNamesTheFirstBadInput() throws IOException {
        Path ok = FIXTURES.resolve("docs.jsonl.zst");
        TextInputs.check(List.of(ok, TextInputs.STDIN));
        assertEquals("- (standard input) is given 2 times; it can be read once",
                assertThrows(T2rException.class, () -> TextInputs.check(List.of(TextInputs.STDIN, ok, TextInputs.STDIN))).getMessage());
        Path missing = tmp.resolve("missing.jsonl.gz");
        assertEquals(missing + ": no such file", assertThrows(T2rException.class, () -> TextInputs.check(List.of(ok, missing))).getMessage());
        Path dir = Files.createDirectories(tmp.resolve("d.jsonl"));
        assertEquals(dir + ": is a directory, expected a text file (give the files in it, e.g. " + dir + "/*.jsonl)",
                assertThrows(T2rException.class, () -> TextInputs.check(List.of(dir))).getMessage());
        Path plain = Files.createDirectories(tmp.resolve("corpus"));
        assertTrue(assertThrows(T2rException.class, () -> TextInputs.check(List.of(plain))).getMessage().startsWith(plain + ": is a directory"),
                "a directory without a known suffix is a directory, not an unknown format");
    }

    /**
     * Fuzz: damaged compressed inputs (bit flips, cut ends, random bytes after a valid magic number) give
     * documents or a one-line error naming the file, never another exception.
     */
    @Test
    void damagedCompressedInputsFailWithOneLineNamingTheFile() throws IOException {
        SplittableRandom random = new SplittableRandom(17);
        byte[] plain = Files.readAllBytes(FIXTURES.resolve("docs.jsonl"));
        List<byte[]> seeds = List.of(gzip(plain), zstd(plain), xz(plain), Files.readAllBytes(FIXTURES.resolve("frames.jsonl.zst")));
        List<String> names = List.of("f.jsonl.gz", "f.jsonl.zst", "f.jsonl.xz", "f.jsonl.zst");
        int failures = 0;
        for (int round = 0; round < 400; round++) {
            int which = round % seeds.size();
            byte[] data = mutate(seeds.get(which), random);
            Path file = tmp.resolve(names.get(which));
            Files.write(file, data);
            for (Path name : List.of(file, TextInputs.STDIN)) {
                try {
                    if (name == file) TextInputs.read(file, "text", d -> { });
                    else TextInputs.read(name, new ByteArrayInputStream(data), "text", d -> { });
                } catch (T2rException e) {
                    failures++;
                    assertTrue(e.getMessage().startsWith(name.toString() + ":") || e.getMessage().startsWith(name + ":"), e.getMessage());
                    assertTrue(!e.getMessage().contains("\n"), e.getMessage());
                } catch (RuntimeException | Error e) {
                    fail("round " + round + " (" + name + "): " + e, e);
                }
            }
        }
        assertTrue(failures > 200, "most damaged inputs are refused: " + failures);
    }

    private static byte[] mutate(byte[] seed, SplittableRandom random) {
        byte[] b = seed.clone();
        switch (random.nextInt(3)) {
            case 0 -> {
                for (int i = 0, n = 1 + random.nextInt(4); i < n; i++) b[6 + random.nextInt(b.length - 6)] ^= (byte) (1 << random.nextInt(8));
            }
            case 1 -> b = java.util.Arrays.copyOf(b, 6 + random.nextInt(b.length - 6));
            default -> {
                for (int i = 6; i < b.length; i++) b[i] = (byte) random.nextInt(256);
            }
        }
        return b;
    }

    private static String message(Path file) {
        return assertThrows(T2rException.class, () -> texts(file)).getMessage();
    }

    static byte[] gzip(byte[] plain) throws IOException {
        return compress(plain, GZIPOutputStream::new);
    }

    static byte[] zstd(byte[] plain) throws IOException {
        return compress(plain, ZstdOutputStream::new);
    }

    static byte[] xz(byte[] plain) throws IOException {
        return compress(plain, o -> new org.tukaani.xz.XZOutputStream(o, new org.tukaani.xz.LZMA2Options()));
    }

    interface Wrapper {
        OutputStream wrap(OutputStream o) throws IOException;
    }

    private static byte[] compress(byte[] plain, Wrapper w) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (OutputStream o = w.wrap(bytes)) {
            o.write(plain);
        }
        return bytes.toByteArray();
    }

}
