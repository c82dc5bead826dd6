package gsat2r.core.data;

import gsat2r.core.T2rException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * Writes one {@link TokenShard}: documents are appended one at a time, their tokens streamed straight
 * into the file behind a placeholder header; {@link #finish} appends the document table, writes the real
 * header and flushes to disk. The file is meant to live inside an {@link gsat2r.core.io.AtomicDirectory},
 * which makes the whole dataset appear at once.
 */
public final class TokenShardWriter implements AutoCloseable {

    private final Path file;
    private final FileChannel channel;
    private final int tokenBytes;
    private final int vocabSize;
    private final byte[] tokenizerSha256;
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
    private long[] starts = new long[1024];
    private long documents;
    private long tokens;
    private boolean finished;

    private TokenShardWriter(Path file, FileChannel channel, int vocabSize, byte[] tokenizerSha256) {
        this.file = file;
        this.channel = channel;
        this.vocabSize = vocabSize;
        this.tokenBytes = TokenShard.tokenBytesFor(vocabSize);
        this.tokenizerSha256 = tokenizerSha256.clone();
    }

    /** Creates {@code file} (which must not exist) for tokens below {@code vocabSize}. */
    public static TokenShardWriter create(Path file, int vocabSize, byte[] tokenizerSha256) {
        if (vocabSize <= 0) throw new IllegalArgumentException("vocabulary size " + vocabSize);
        if (tokenizerSha256.length != 32) throw new IllegalArgumentException("tokenizer hash must be 32 bytes of SHA-256");
        try {
            FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            TokenShardWriter w = new TokenShardWriter(file, ch, vocabSize, tokenizerSha256);
            w.buffer.put(new byte[TokenShard.HEADER_BYTES]);     // placeholder until finish()
            return w;
        } catch (IOException e) {
            throw new T2rException(file + ": cannot create (" + e.getMessage() + ")", e);
        }
    }

    public long tokens() {
        return tokens;
    }

    public long documents() {
        return documents;
    }

    /** Appends one document's tokens (its BOS/EOS included by the caller). */
    public void append(int[] ids) {
        if (finished) throw new IllegalStateException("shard already finished");
        if (documents + 1 >= starts.length) starts = Arrays.copyOf(starts, starts.length * 2);
        starts[(int) documents] = tokens;
        for (int id : ids) {
            if (id < 0 || id >= vocabSize) {
                throw new IllegalArgumentException("token " + id + " outside the vocabulary [0, " + vocabSize + ")");
            }
            if (buffer.remaining() < 4) flush();
            if (tokenBytes == 2) buffer.putShort((short) id);
            else buffer.putInt(id);
        }
        tokens += ids.length;
        documents++;
    }

    /** Writes the document table and the header, and forces the file to disk. */
    public TokenShard.Header finish() {
        if (finished) throw new IllegalStateException("shard already finished");
        finished = true;
        long table = TokenShard.tableOffset(tokens, tokenBytes);
        TokenShard.Header header = new TokenShard.Header(tokenBytes, tokens, documents, table, vocabSize, tokenizerSha256);
        try {
            long dataEnd = TokenShard.HEADER_BYTES + tokens * tokenBytes;
            for (long pad = table - dataEnd; pad > 0; pad--) put8(0, 1);
            starts[(int) documents] = tokens;
            for (int d = 0; d <= documents; d++) put8(starts[d], 8);
            flush();
            channel.write(ByteBuffer.wrap(header.encode()), 0);
            channel.force(true);
            channel.close();
        } catch (IOException e) {
            throw new T2rException(file + ": cannot write (" + e.getMessage() + ")", e);
        }
        return header;
    }

    private void put8(long value, int bytes) {
        if (buffer.remaining() < 8) flush();
        if (bytes == 8) buffer.putLong(value);
        else buffer.put((byte) value);
    }

    private void flush() {
        buffer.flip();
        try {
            while (buffer.hasRemaining()) channel.write(buffer);
        } catch (IOException e) {
            throw new T2rException(file + ": cannot write (" + e.getMessage() + ")", e);
        }
        buffer.clear();
    }

    /** Closes the file; an unfinished shard is left incomplete (its directory is discarded by the caller). */
    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // Only an unfinished shard reaches here with an open channel; it is being thrown away.
        }
    }
}
