package gsat2r.core.data;

import gsat2r.core.T2rException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenShardTest {

    @TempDir
    Path tmp;

    private static final byte[] SHA = new byte[32];
    static {
        for (int i = 0; i < 32; i++) SHA[i] = (byte) (i * 7 + 1);
    }

    private static int[][] randomDocs(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[][] docs = new int[n][];
        for (int d = 0; d < n; d++) {
            docs[d] = new int[r.nextInt(0, 40)];          // empty documents are legal in the format
            for (int i = 0; i < docs[d].length; i++) docs[d][i] = r.nextInt(vocab);
        }
        return docs;
    }

    private Path write(String name, int vocab, int[][] docs) {
        Path f = tmp.resolve(name);
        try (TokenShardWriter w = TokenShardWriter.create(f, vocab, SHA)) {
            for (int[] d : docs) w.append(d);
            w.finish();
        }
        return f;
    }

    @Test
    void roundTripU16AndU32() throws IOException {
        for (int vocab : new int[] {364, 65536, 70000, 128256}) {
            int[][] docs = randomDocs(50, vocab, vocab);
            Path f = write("v" + vocab + ".tokens", vocab, docs);
            long total = Arrays.stream(docs).mapToLong(d -> d.length).sum();
            try (TokenShard s = TokenShard.open(f)) {
                assertEquals(vocab <= 65536 ? 2 : 4, s.header().tokenBytes());
                assertEquals(total, s.tokens());
                assertEquals(docs.length, s.documents());
                assertEquals(vocab, s.header().vocabSize());
                assertArrayEquals(SHA, s.header().tokenizerSha256());
                for (int d = 0; d < docs.length; d++) assertArrayEquals(docs[d], s.document(d), "document " + d);
                int[] all = new int[(int) total];
                s.read(0, all, 0, all.length);
                assertArrayEquals(Arrays.stream(docs).flatMapToInt(Arrays::stream).toArray(), all);
                // File size is exactly what the header says: header, tokens, padding to 8, table.
                long table = (128 + total * s.header().tokenBytes() + 7) / 8 * 8;
                assertEquals(table + 8L * (docs.length + 1), Files.size(f));
            }
        }
    }

    @Test
    void headerBytesAreTheDocumentedLayout() throws IOException {
        Path f = write("h.tokens", 1000, new int[][] {{1, 2, 3}, {4}});
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(f)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals("T2RTOKS\0", new String(Arrays.copyOf(b.array(), 8), java.nio.charset.StandardCharsets.US_ASCII));
        assertEquals(1, b.getInt(8));
        assertEquals(2, b.getInt(12));
        assertEquals(4, b.getLong(16));
        assertEquals(2, b.getLong(24));
        assertEquals(136, b.getLong(32));         // 128 + 4·2 = 136, already a multiple of 8
        assertEquals(1000, b.getInt(40));
        assertEquals(3, b.getShort(128 + 4));      // third token
        assertEquals(0, b.getLong(136));
        assertEquals(3, b.getLong(144));
        assertEquals(4, b.getLong(152));
    }

    @Test
    void damagedFilesFailWithTheirName() throws IOException {
        Path good = write("good.tokens", 500, randomDocs(5, 500, 1));
        byte[] bytes = Files.readAllBytes(good);

        Path truncated = tmp.resolve("truncated.tokens");
        Files.write(truncated, Arrays.copyOf(bytes, bytes.length - 3));
        assertMessage(truncated, "truncated or damaged");

        Path magic = tmp.resolve("magic.tokens");
        byte[] m = bytes.clone();
        m[0] = 'X';
        Files.write(magic, m);
        assertMessage(magic, "bad magic");

        Path version = tmp.resolve("version.tokens");
        byte[] v = bytes.clone();
        v[8] = 9;
        Files.write(version, v);
        assertMessage(version, "version 9 is not supported");

        Path tiny = tmp.resolve("tiny.tokens");
        Files.write(tiny, new byte[10]);
        assertMessage(tiny, "shorter than the 128-byte header");

        Path table = tmp.resolve("table.tokens");
        byte[] t = bytes.clone();
        ByteBuffer tb = ByteBuffer.wrap(t).order(ByteOrder.LITTLE_ENDIAN);
        long tableAt = tb.getLong(32);
        tb.putLong((int) tableAt + 16, 1_000_000L);   // document 2 starts past the end
        Files.write(table, t);
        assertMessage(table, "corrupt document table");
    }

    @Test
    void outOfVocabularyTokenIsReportedWhereRead() throws IOException {
        Path f = write("oov.tokens", 500, new int[][] {{1, 2, 3, 4}});
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {(byte) 0xF4, 0x01}), 128 + 2 * 2);  // token 2 := 500
        }
        try (TokenShard s = TokenShard.open(f)) {
            T2rException e = assertThrows(T2rException.class, () -> s.document(0));
            assertTrue(e.getMessage().contains("token 500 at position 2 is outside the vocabulary (500)"), e.getMessage());
        }
    }

    @Test
    void writerRejectsTokensOutsideTheVocabulary() {
        try (TokenShardWriter w = TokenShardWriter.create(tmp.resolve("w.tokens"), 10, SHA)) {
            assertThrows(IllegalArgumentException.class, () -> w.append(new int[] {3, 10}));
        }
    }

    private static void assertMessage(Path f, String part) {
        T2rException e = assertThrows(T2rException.class, () -> TokenShard.open(f).close());
        assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
        assertTrue(e.getMessage().contains(part), e.getMessage());
    }
}
