package gsat2r.core.data;

import gsat2r.core.T2rException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * One packed token shard ({@code *.tokens}), memory-mapped. The documents of a split are tokenized and
 * concatenated (each one BOS-prefixed as the tokenizer's post-processor says, and EOS-terminated); a
 * shard holds whole documents only. Layout, all integers little-endian:
 *
 * <pre>
 * offset  size       field
 * 0       8          magic "T2RTOKS\0"
 * 8       4          format version (1)
 * 12      4          bytes per token: 2 (u16, vocab ≤ 65536) or 4 (u32)
 * 16      8          token count N
 * 24      8          document count D
 * 32      8          byte offset of the document table (= 128 + N·bytes per token, rounded up to 8)
 * 40      4          vocabulary size of the tokenizer (every token is below it)
 * 44      4          reserved (0)
 * 48      32         SHA-256 of the tokenizer.json bytes the tokens were made with
 * 80      48         reserved (0)
 * 128     N·b        the tokens
 * table   8·(D+1)    document start offsets in tokens: doc d is tokens [start[d], start[d+1]);
 *                    start[0] = 0, start[D] = N, non-decreasing
 * </pre>
 *
 * The table follows the tokens so that a writer can stream tokens straight into the file and patch the
 * header at the end. {@link #open} checks every field against the file size and the table's order, so
 * a truncated or foreign file fails with one line naming it. Token values are checked where they are
 * read ({@link #read}), not by a scan of the whole file at open.
 */
public final class TokenShard implements AutoCloseable {

    public static final byte[] MAGIC = "T2RTOKS\0".getBytes(StandardCharsets.US_ASCII);
    public static final int VERSION = 1;
    public static final int HEADER_BYTES = 128;

    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** The fixed-size header. */
    public record Header(int tokenBytes, long tokens, long documents, long tableOffset, int vocabSize, byte[] tokenizerSha256) {
        public Header {
            tokenizerSha256 = tokenizerSha256.clone();
        }

        public String tokenizerHash() {
            return HexFormat.of().formatHex(tokenizerSha256);
        }

        @Override
        public byte[] tokenizerSha256() {
            return tokenizerSha256.clone();
        }

        byte[] encode() {
            MemorySegment h = MemorySegment.ofArray(new byte[HEADER_BYTES]);
            MemorySegment.copy(MemorySegment.ofArray(MAGIC), 0, h, 0, MAGIC.length);
            h.set(U32, 8, VERSION);
            h.set(U32, 12, tokenBytes);
            h.set(U64, 16, tokens);
            h.set(U64, 24, documents);
            h.set(U64, 32, tableOffset);
            h.set(U32, 40, vocabSize);
            MemorySegment.copy(MemorySegment.ofArray(tokenizerSha256), 0, h, 48, 32);
            return h.toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /** Bytes per token for a vocabulary: u16 while every id fits, else u32. */
    public static int tokenBytesFor(int vocabSize) {
        return vocabSize <= 65536 ? 2 : 4;
    }

    /** Where the document table starts for {@code tokens} tokens of {@code tokenBytes} bytes. */
    static long tableOffset(long tokens, int tokenBytes) {
        long end = HEADER_BYTES + tokens * tokenBytes;
        return (end + 7) & ~7L;
    }

    private final Path file;
    private final Header header;
    private final Arena arena;
    private final MemorySegment map;

    private TokenShard(Path file, Header header, Arena arena, MemorySegment map) {
        this.file = file;
        this.header = header;
        this.arena = arena;
        this.map = map;
    }

    /** Maps and validates a shard. */
    public static TokenShard open(Path file) {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment map;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                long size = ch.size();
                if (size < HEADER_BYTES) {
                    throw new T2rException(file + ": not a token shard (" + size + " bytes, shorter than the "
                            + HEADER_BYTES + "-byte header)");
                }
                map = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            } catch (IOException e) {
                throw new T2rException(file + ": cannot read (" + e.getMessage() + ")", e);
            }
            Header header = parseHeader(file, map);
            checkTable(file, header, map);
            return new TokenShard(file, header, arena, map);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static Header parseHeader(Path file, MemorySegment map) {
        byte[] magic = map.asSlice(0, MAGIC.length).toArray(ValueLayout.JAVA_BYTE);
        if (!Arrays.equals(magic, MAGIC)) throw new T2rException(file + ": not a token shard (bad magic)");
        int version = map.get(U32, 8);
        if (version != VERSION) {
            throw new T2rException(file + ": token shard format version " + version + " is not supported (this build reads "
                    + VERSION + ")");
        }
        int tokenBytes = map.get(U32, 12);
        if (tokenBytes != 2 && tokenBytes != 4) throw new T2rException(file + ": bad bytes per token " + tokenBytes + " (2 or 4)");
        long tokens = map.get(U64, 16);
        long documents = map.get(U64, 24);
        long table = map.get(U64, 32);
        int vocab = map.get(U32, 40);
        byte[] sha = map.asSlice(48, 32).toArray(ValueLayout.JAVA_BYTE);
        if (tokens < 0 || documents < 0 || vocab <= 0) {
            throw new T2rException(file + ": corrupt header (tokens " + tokens + ", documents " + documents + ", vocab " + vocab + ")");
        }
        if (tokenBytes == 2 && vocab > 65536) {
            throw new T2rException(file + ": corrupt header (u16 tokens with a vocabulary of " + vocab + ")");
        }
        if (tokens > (Long.MAX_VALUE - HEADER_BYTES) / 4 || documents > Long.MAX_VALUE / 8 - 1
                || table != tableOffset(tokens, tokenBytes)) {
            throw new T2rException(file + ": corrupt header (document table at " + table + ", expected "
                    + (tokens > (Long.MAX_VALUE - HEADER_BYTES) / 4 ? "?" : String.valueOf(tableOffset(tokens, tokenBytes))) + ")");
        }
        long expectedSize = table + 8 * (documents + 1);
        if (map.byteSize() != expectedSize) {
            throw new T2rException(file + ": size " + map.byteSize() + " bytes, but its header says " + expectedSize
                    + " (" + tokens + " tokens, " + documents + " documents); truncated or damaged");
        }
        return new Header(tokenBytes, tokens, documents, table, vocab, sha);
    }

    private static void checkTable(Path file, Header h, MemorySegment map) {
        long previous = map.get(U64, h.tableOffset());
        if (previous != 0) throw new T2rException(file + ": corrupt document table (first start " + previous + ", not 0)");
        for (long d = 1; d <= h.documents(); d++) {
            long start = map.get(U64, h.tableOffset() + 8 * d);
            if (start < previous || start > h.tokens()) {
                throw new T2rException(file + ": corrupt document table (document " + d + " starts at " + start
                        + " after " + previous + ", of " + h.tokens() + " tokens)");
            }
            previous = start;
        }
        if (previous != h.tokens()) {
            throw new T2rException(file + ": corrupt document table (ends at " + previous + ", not at the token count " + h.tokens() + ")");
        }
    }

    public Path file() {
        return file;
    }

    public Header header() {
        return header;
    }

    public long tokens() {
        return header.tokens();
    }

    public long documents() {
        return header.documents();
    }

    /** Token offset at which document {@code d} starts ({@code d == documents()} gives the token count). */
    public long documentStart(long d) {
        if (d < 0 || d > header.documents()) throw new IndexOutOfBoundsException("document " + d + " of " + header.documents());
        return map.get(U64, header.tableOffset() + 8 * d);
    }

    /**
     * Copies tokens {@code [start, start + count)} into {@code dst[off ..]}, checking each against the
     * vocabulary (a damaged shard fails here with its name and position, not deep inside a model).
     */
    public void read(long start, int[] dst, int off, int count) {
        if (start < 0 || count < 0 || start + count > header.tokens()) {
            throw new IndexOutOfBoundsException("tokens [" + start + ", " + (start + count) + ") of " + header.tokens());
        }
        int vocab = header.vocabSize();
        if (header.tokenBytes() == 2) {
            long base = HEADER_BYTES + 2 * start;
            for (int i = 0; i < count; i++) dst[off + i] = Short.toUnsignedInt(map.get(U16, base + 2L * i));
        } else {
            long base = HEADER_BYTES + 4 * start;
            for (int i = 0; i < count; i++) dst[off + i] = map.get(U32, base + 4L * i);
        }
        for (int i = 0; i < count; i++) {
            int id = dst[off + i];
            if (id < 0 || id >= vocab) {
                throw new T2rException(file + ": token " + Integer.toUnsignedString(id) + " at position " + (start + i)
                        + " is outside the vocabulary (" + vocab + "); the shard is damaged");
            }
        }
    }

    /** The tokens of document {@code d}. */
    public int[] document(long d) {
        long s = documentStart(d), e = documentStart(d + 1);
        int[] out = new int[Math.toIntExact(e - s)];
        read(s, out, 0, out.length);
        return out;
    }

    @Override
    public void close() {
        arena.close();
    }
}
