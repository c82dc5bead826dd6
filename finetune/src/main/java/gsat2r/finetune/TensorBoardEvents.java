package gsat2r.finetune;

import gsat2r.core.T2rException;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * A TensorBoard event file of scalars ({@code tensorboard --logdir RUN} shows them), written without
 * TensorFlow: TFRecord framing around {@code tensorflow.Event} protocol buffers, the few fields of which
 * are encoded here by hand.
 *
 * <pre>
 * record:  uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)   (little-endian)
 * Event:   1 wall_time (double) | 2 step (int64) | 3 file_version (string) | 5 summary (Summary)
 * Summary: 1 value (repeated Value);   Value: 1 tag (string) | 2 simple_value (float)
 * masked_crc32c(x) = ((crc >>> 15) | (crc << 17)) + 0xa282ead8
 * </pre>
 *
 * The first record names the format ({@code brain.Event:2}), as every TensorBoard writer does. Each
 * record goes out with one write, so a reader never sees half of one.
 */
final class TensorBoardEvents implements AutoCloseable {

    static final String FILE_PREFIX = "events.out.tfevents.";
    static final String FILE_VERSION = "brain.Event:2";

    private final Path file;
    private final FileChannel channel;

    private TensorBoardEvents(Path file, FileChannel channel) {
        this.file = file;
        this.channel = channel;
    }

    /**
     * A new event file in {@code dir}, after deleting the event files already there (a resumed run
     * writes its curves again from metrics.jsonl, so that steps redone after a checkpoint appear once).
     */
    static TensorBoardEvents create(Path dir, double wallTime) {
        try {
            Files.createDirectories(dir);
            try (Stream<Path> old = Files.list(dir)) {
                for (Path p : old.filter(p -> p.getFileName().toString().startsWith(FILE_PREFIX)).toList()) Files.delete(p);
            }
            String host = java.net.InetAddress.getLocalHost().getHostName().replaceAll("[^A-Za-z0-9._-]", "_");
            Path file = dir.resolve(FILE_PREFIX + (long) wallTime + "." + host);
            TensorBoardEvents events = new TensorBoardEvents(file, FileChannel.open(file, StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.WRITE, StandardOpenOption.APPEND));
            events.write(fileVersion(wallTime));
            return events;
        } catch (IOException e) {
            throw new T2rException(dir + ": cannot write TensorBoard events (" + e.getMessage() + ")", e);
        }
    }

    Path file() {
        return file;
    }

    /** One scalar at {@code step}. */
    void scalar(String tag, long step, float value, double wallTime) {
        write(scalarEvent(tag, step, value, wallTime));
    }

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
            // every record went out with its own write
        }
    }

    private void write(byte[] event) {
        try {
            ByteBuffer b = ByteBuffer.wrap(record(event));
            while (b.hasRemaining()) channel.write(b);
        } catch (IOException e) {
            throw new T2rException(file + ": cannot write (" + e.getMessage() + ")", e);
        }
    }

    // ------------------------------------------------------------------ encoding

    static byte[] record(byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(8 + 4 + data.length + 4).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(data.length);
        b.putInt(maskedCrc(b.array(), 0, 8));
        b.put(data);
        b.putInt(maskedCrc(data, 0, data.length));
        return b.array();
    }

    static int maskedCrc(byte[] bytes, int offset, int length) {
        CRC32C crc = new CRC32C();
        crc.update(bytes, offset, length);
        int c = (int) crc.getValue();
        return ((c >>> 15) | (c << 17)) + 0xa282ead8;
    }

    static byte[] fileVersion(double wallTime) {
        Proto p = new Proto();
        p.fixed64(1, Double.doubleToRawLongBits(wallTime));
        p.bytes(3, FILE_VERSION.getBytes(StandardCharsets.UTF_8));
        return p.toByteArray();
    }

    static byte[] scalarEvent(String tag, long step, float value, double wallTime) {
        Proto v = new Proto();
        v.bytes(1, tag.getBytes(StandardCharsets.UTF_8));
        v.fixed32(2, Float.floatToRawIntBits(value));
        Proto summary = new Proto();
        summary.bytes(1, v.toByteArray());
        Proto event = new Proto();
        event.fixed64(1, Double.doubleToRawLongBits(wallTime));
        event.varint(2, step);
        event.bytes(5, summary.toByteArray());
        return event.toByteArray();
    }

    /** The protobuf wire format, for the three field types these messages use. */
    private static final class Proto extends ByteArrayOutputStream {
        void varint(int field, long value) {
            rawVarint((long) field << 3);
            rawVarint(value);
        }

        void fixed64(int field, long bits) {
            rawVarint(((long) field << 3) | 1);
            for (int i = 0; i < 8; i++) write((int) (bits >>> (8 * i)));
        }

        void fixed32(int field, int bits) {
            rawVarint(((long) field << 3) | 5);
            for (int i = 0; i < 4; i++) write(bits >>> (8 * i));
        }

        void bytes(int field, byte[] b) {
            rawVarint(((long) field << 3) | 2);
            rawVarint(b.length);
            write(b, 0, b.length);
        }

        private void rawVarint(long v) {
            while ((v & ~0x7FL) != 0) {
                write((int) ((v & 0x7F) | 0x80));
                v >>>= 7;
            }
            write((int) v);
        }
    }
}
