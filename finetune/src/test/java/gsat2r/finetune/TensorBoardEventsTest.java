package gsat2r.finetune;

import gsat2r.core.io.Json;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;

import javax.xml.parsers.DocumentBuilderFactory;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The event files are decoded here by code of their own (CRC-32C from its polynomial, a protobuf wire
 * reader), not by the writer's, so that a shared mistake cannot hide; scripts/check-tensorboard.py reads
 * them with TensorBoard itself where it is installed.
 */
class TensorBoardEventsTest {

    @TempDir
    Path run;

    record Scalar(String tag, long step, float value) {}

    @Test
    void metricsLinesBecomeScalarsTaggedByStage() throws IOException {
        try (MetricsLog log = new MetricsLog(run.resolve("metrics.jsonl"))) {
            log.append(step("at", 1, 1, 2.5).put("mse.0", 1.25));
            log.append(step("at", 2, 2, 2.0).put("mse.0", 1.0));
            log.append(eval("at", 2, 2, 1.5));
            log.append(step("kd", 1, 3, 0.75).put("kl", 0.7).put("ce", 3.1));
            log.force();
        }
        List<Scalar> scalars = read(eventFile());
        assertTrue(scalars.contains(new Scalar("at/loss", 1, 2.5f)), scalars.toString());
        assertTrue(scalars.contains(new Scalar("at/mse.0", 2, 1.0f)), scalars.toString());
        assertTrue(scalars.contains(new Scalar("at/val_loss", 2, 1.5f)), scalars.toString());
        assertTrue(scalars.contains(new Scalar("at/val_ppl", 2, (float) Math.exp(1.5))), scalars.toString());
        assertTrue(scalars.contains(new Scalar("kd/kl", 3, 0.7f)) && scalars.contains(new Scalar("kd/lr", 3, 1e-3f)), scalars.toString());
        assertTrue(scalars.stream().noneMatch(s -> s.tag().endsWith("/tokens") || s.tag().endsWith("/elapsed_s")
                || s.tag().endsWith("/stage_index") || s.tag().endsWith("/positions")), scalars.toString());
        assertEquals(4 * 2 + 3, scalars.stream().filter(s -> s.tag().startsWith("at/")).count(), "loss mse.0 lr grad_norm ×2 + val ×3");
    }

    @Test
    void openingWritesTheCurvesAgainFromMetricsJsonl() throws IOException {
        Path metrics = run.resolve("metrics.jsonl");
        try (MetricsLog log = new MetricsLog(metrics)) {
            for (int i = 1; i <= 4; i++) log.append(step("ft", i, i, 4.0 - i));
        }
        Path first = eventFile();
        // A resume restores metrics.jsonl as of a checkpoint at step 2, then redoes steps 3 and 4.
        List<String> kept = Files.readAllLines(metrics).subList(0, 2);
        Files.write(metrics, kept);
        try (MetricsLog log = new MetricsLog(metrics)) {
            log.append(step("ft", 3, 3, 0.5));
        }
        Path second = eventFile();
        assertTrue(!Files.exists(first) || first.equals(second), "the old event file is gone");
        List<Scalar> losses = read(second).stream().filter(s -> s.tag().equals("ft/loss")).toList();
        assertEquals(List.of(new Scalar("ft/loss", 1, 3f), new Scalar("ft/loss", 2, 2f), new Scalar("ft/loss", 3, 0.5f)), losses);
    }

    @Test
    void closingDrawsTheLossCurvesAsSvg() throws Exception {
        try (MetricsLog log = new MetricsLog(run.resolve("metrics.jsonl"))) {
            for (int i = 1; i <= 20; i++) log.append(step("at", i, i, 100.0 / (i * i)));
            log.append(eval("at", 20, 20, 0.3));
            for (int i = 1; i <= 10; i++) log.append(step("kd & co", i, 20 + i, 3.0 - 0.1 * i));
        }
        Path svg = run.resolve(MetricsLog.PLOT);
        Document doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(svg.toFile());     // well-formed XML
        assertEquals("svg", doc.getDocumentElement().getTagName());
        String text = Files.readString(svg);
        assertTrue(text.contains("stage at (log scale)") && text.contains("stage kd &amp; co"), text);
        assertEquals(2, doc.getElementsByTagName("polyline").getLength());
        assertTrue(doc.getElementsByTagName("circle").getLength() >= 1 + 2, "the validation dot and the legends");
        assertTrue(LossPlot.svg(List.of(), "empty").contains("no training step was recorded"));
    }

    static ObjectNode step(String stage, int step, long global, double loss) {
        return Json.COMPACT.createObjectNode().put("type", "step").put("stage", stage).put("stage_index", 0).put("step", step)
                .put("global_step", global).put("loss", loss).put("lr", 1e-3).put("grad_norm", 0.5).put("tokens", global * 64)
                .put("elapsed_s", global * 0.1);
    }

    static ObjectNode eval(String stage, int step, long global, double loss) {
        return Json.COMPACT.createObjectNode().put("type", "eval").put("stage", stage).put("stage_index", 0).put("step", step)
                .put("global_step", global).put("val_loss", loss).put("val_ppl", Math.exp(loss)).put("val_top1", 0.25)
                .put("positions", 96).put("elapsed_s", global * 0.1);
    }

    private Path eventFile() throws IOException {
        try (Stream<Path> s = Files.list(run.resolve(MetricsLog.TENSORBOARD_DIR))) {
            List<Path> files = s.toList();
            assertEquals(1, files.size(), files.toString());
            assertTrue(files.getFirst().getFileName().toString().startsWith("events.out.tfevents."));
            return files.getFirst();
        }
    }

    // ------------------------------------------------------------------ an independent reader

    /** Every scalar of an event file, checking the framing, both CRCs and the leading file_version event. */
    static List<Scalar> read(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        List<Scalar> out = new ArrayList<>();
        boolean first = true;
        while (b.hasRemaining()) {
            byte[] len = new byte[8];
            b.get(len);
            assertEquals(masked(crc32c(len)), b.getInt(), "length CRC");
            long n = ByteBuffer.wrap(len).order(ByteOrder.LITTLE_ENDIAN).getLong();
            byte[] data = new byte[Math.toIntExact(n)];
            b.get(data);
            assertEquals(masked(crc32c(data)), b.getInt(), "data CRC");
            Wire event = new Wire(data);
            if (first) {
                assertEquals("brain.Event:2", new String(event.field(3), StandardCharsets.UTF_8));
                first = false;
                continue;
            }
            long step = event.varint(2);
            Wire summary = new Wire(event.field(5));
            Wire value = new Wire(summary.field(1));
            out.add(new Scalar(new String(value.field(1), StandardCharsets.UTF_8), step, Float.intBitsToFloat((int) value.fixed(2, 4))));
        }
        assertTrue(!first, "no records");
        return out;
    }

    /** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit. */
    static int crc32c(byte[] data) {
        int crc = 0xFFFFFFFF;
        for (byte x : data) {
            crc ^= x & 0xFF;
            for (int k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0x82F63B78 & -(crc & 1));
        }
        return ~crc;
    }

    static int masked(int crc) {
        return Integer.rotateRight(crc, 15) + 0xa282ead8;
    }

    /** The fields of one protobuf message: the first occurrence of a field number. */
    static final class Wire {
        final byte[] b;

        Wire(byte[] b) {
            this.b = b;
        }

        private long[] find(int field) {                   // {wire type, offset of the value}
            int i = 0;
            while (i < b.length) {
                long[] key = varintAt(i);
                int f = (int) (key[0] >>> 3), type = (int) (key[0] & 7);
                int at = (int) key[1];
                if (f == field) return new long[] {type, at};
                i = switch (type) {
                    case 0 -> (int) varintAt(at)[1];
                    case 1 -> at + 8;
                    case 5 -> at + 4;
                    case 2 -> (int) (varintAt(at)[1] + varintAt(at)[0]);
                    default -> throw new AssertionError("wire type " + type);
                };
            }
            throw new AssertionError("no field " + field);
        }

        byte[] field(int field) {
            long[] f = find(field);
            assertEquals(2, f[0]);
            long[] len = varintAt((int) f[1]);
            return java.util.Arrays.copyOfRange(b, (int) len[1], (int) (len[1] + len[0]));
        }

        long varint(int field) {
            long[] f = find(field);
            assertEquals(0, f[0]);
            return varintAt((int) f[1])[0];
        }

        long fixed(int field, int bytes) {
            long[] f = find(field);
            assertEquals(bytes == 4 ? 5 : 1, f[0]);
            long v = 0;
            for (int k = 0; k < bytes; k++) v |= (long) (b[(int) f[1] + k] & 0xFF) << (8 * k);
            return v;
        }

        /** {value, offset after it}. */
        long[] varintAt(int i) {
            long v = 0;
            for (int shift = 0; ; shift += 7) {
                int x = b[i++] & 0xFF;
                v |= (long) (x & 0x7F) << shift;
                if (x < 0x80) return new long[] {v, i};
            }
        }
    }
}
