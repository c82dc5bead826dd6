package gsat2r.finetune;

import gsat2r.core.io.Json;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.T2rException;
import gsat2r.core.io.AtomicFiles;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code metrics.jsonl}: one JSON object a line, appended with one write per line (a reader never sees
 * half a line from a live run; a killed run can leave one torn last line, which a resume discards by
 * restoring the checkpoint's copy). See docs/recipes.md for the fields.
 *
 * <p>The same numbers go to TensorBoard ({@code RUN/tensorboard/}, tag {@code <stage>/<field>}: the
 * training terms, lr and grad_norm of every step, the {@code val_} values of every evaluation, against
 * the global step): opening the log writes a fresh event file from the lines already there (what a
 * resume restored), so that the curves always agree with metrics.jsonl. Closing it draws
 * {@code RUN/loss.svg} ({@link LossPlot}).
 */
final class MetricsLog implements AutoCloseable {

    static final String TENSORBOARD_DIR = "tensorboard";
    static final String PLOT = "loss.svg";
    /** Fields of a line that say where it is, not what was measured. */
    private static final Set<String> POSITION = Set.of("type", "stage", "stage_index", "step", "global_step", "tokens", "elapsed_s",
            "positions", "message");
    /** metrics.jsonl as the trainer writes it: NaN and infinite losses are written as NaN / Infinity. */
    private static final JsonMapper READER = JsonMapper.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

    private final Path file;
    private final FileChannel channel;
    private final TensorBoardEvents events;
    private final double clockBase;

    MetricsLog(Path file) {
        this.file = file;
        List<JsonNode> restored = lines(file);
        double now = System.currentTimeMillis() / 1000.0;
        // Event times continue the run's clock (elapsed_s counts across resumes).
        this.clockBase = now - (restored.isEmpty() ? 0 : restored.getLast().path("elapsed_s").asDouble(0));
        try {
            this.channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new T2rException(file + ": cannot open (" + e.getMessage() + ")", e);
        }
        this.events = TensorBoardEvents.create(runDir().resolve(TENSORBOARD_DIR), now);
        for (JsonNode line : restored) curves(line);
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
        curves(line);
    }

    /** Flushes what was written to the disk (before a checkpoint records it). */
    void force() {
        try {
            channel.force(false);
        } catch (IOException e) {
            throw new T2rException(file + ": cannot flush (" + e.getMessage() + ")", e);
        }
        events.force();
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // Every line was written with its own write; nothing is buffered here.
        }
        events.close();
        try {
            AtomicFiles.writeString(runDir().resolve(PLOT), LossPlot.svg(lines(file), "Loss curves of " + runDir().getFileName()));
        } catch (RuntimeException e) {
            // The plot is a convenience drawn from metrics.jsonl, which is complete: it never fails the run.
        }
    }

    private Path runDir() {
        return file.toAbsolutePath().getParent();
    }

    /** The scalars of one metrics line, tagged {@code <stage>/<field>}. */
    private void curves(JsonNode line) {
        String type = line.path("type").asText();
        if (!type.equals("step") && !type.equals("eval")) return;
        String stage = line.path("stage").asText("run");
        long step = line.path("global_step").asLong();
        double wall = clockBase + line.path("elapsed_s").asDouble(0);
        for (Map.Entry<String, JsonNode> f : line.properties()) {
            if (POSITION.contains(f.getKey()) || !f.getValue().isNumber()) continue;
            events.scalar(stage + "/" + f.getKey(), step, (float) f.getValue().asDouble(), wall);
        }
    }

    /** The lines of a metrics.jsonl; a torn or unreadable line (a killed run's last) is left out. */
    static List<JsonNode> lines(Path file) {
        List<JsonNode> out = new ArrayList<>();
        if (!Files.isRegularFile(file)) return out;
        try {
            for (String l : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                if (l.isBlank()) continue;
                try {
                    out.add(READER.readTree(l));
                } catch (JsonProcessingException torn) {
                    // only the last line of a killed run can be torn; the rest is whole
                }
            }
        } catch (IOException e) {
            throw new T2rException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
        return out;
    }
}
