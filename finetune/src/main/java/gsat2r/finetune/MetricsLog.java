package gsat2r.finetune;

import gsat2r.core.io.Json;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.T2rException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * {@code metrics.jsonl}: one JSON object a line, appended with one write per line (a reader never sees
 * half a line from a live run; a killed run can leave one torn last line, which a resume discards by
 * restoring the checkpoint's copy). See docs/recipes.md for the fields.
 */
final class MetricsLog implements AutoCloseable {

    private final Path file;
    private final FileChannel channel;

    MetricsLog(Path file) {
        this.file = file;
        try {
            this.channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new T2rException(file + ": cannot open (" + e.getMessage() + ")", e);
        }
    }

    Path file() {
        return file;
    }

    void append(ObjectNode line) {
        try {
            ByteBuffer b = ByteBuffer.wrap((Json.COMPACT.writeValueAsString(line) + "\n").getBytes(StandardCharsets.UTF_8));
            while (b.hasRemaining()) channel.write(b);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        } catch (IOException e) {
            throw new T2rException(file + ": cannot write (" + e.getMessage() + ")", e);
        }
    }

    /** Flushes what was written to the disk (before a checkpoint records it). */
    void force() {
        try {
            channel.force(false);
        } catch (IOException e) {
            throw new T2rException(file + ": cannot flush (" + e.getMessage() + ")", e);
        }
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // Every line was written with its own write; nothing is buffered here.
        }
    }
}
