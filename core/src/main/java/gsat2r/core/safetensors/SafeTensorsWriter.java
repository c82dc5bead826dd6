package gsat2r.core.safetensors;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.T2rException;
import gsat2r.core.io.AtomicFiles;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Streams one safetensors file: the tensors are declared up front (so the header, with every
 * offset, is written first), then their bytes arrive in declaration order, each tensor whole or in
 * pieces, so a converter holds at most one tensor (or one piece) in the heap.
 *
 * <p>The file is what the Python {@code safetensors} library writes: the JSON header is compact,
 * starts with {@code "__metadata__"} (at least {@code {"format":"pt"}}, which transformers expects),
 * and is padded with spaces to a multiple of 8 bytes so that the data area is 8-byte aligned; the
 * tensors are contiguous, in the order given. (The Python writer sorts them by dtype then name;
 * readers do not care. Mixed dtypes in an order that puts an odd-sized tensor before a wider type
 * leave the wider one unaligned; {@link #alignedOrder} avoids that.)
 *
 * <p>Bytes go to a hidden temp file beside the target, which {@link #commit} flushes and renames
 * over the target; {@link #close} without a commit deletes it. Every problem is a
 * {@link T2rException} that names the target file, and fails the writer for good.
 */
public final class SafeTensorsWriter implements TensorWriter {

    private static final int STAGING_BYTES = 1 << 20;

    private final Path target;
    private final Path temp;
    private final List<TensorSpec> specs;
    private final FileChannel channel;
    private final ByteBuffer staging;
    private final MemorySegment stagingSegment;
    private final long fileSize;
    private int next;
    private Sink open;
    private boolean failed;
    private boolean committed;
    private boolean closed;

    private SafeTensorsWriter(Path target, Path temp, List<TensorSpec> specs, FileChannel channel, long fileSize) {
        this.target = target;
        this.temp = temp;
        this.specs = specs;
        this.channel = channel;
        this.fileSize = fileSize;
        this.staging = ByteBuffer.allocateDirect(STAGING_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        this.stagingSegment = MemorySegment.ofBuffer(staging);
    }

    /** A writer with the metadata {@code {"format":"pt"}}. */
    public static SafeTensorsWriter create(Path target, List<TensorSpec> specs) {
        return create(target, specs, Map.of());
    }

    /**
     * Starts writing {@code target} (parent directories are created; an existing file is replaced
     * at {@link #commit}). {@code metadata} goes to {@code __metadata__}, {@code "format"} first
     * ({@code "pt"} unless given), then the other keys sorted.
     */
    public static SafeTensorsWriter create(Path target, List<TensorSpec> specs, Map<String, String> metadata) {
        List<TensorSpec> list = List.copyOf(specs);
        byte[] header = header(target, list, metadata);
        if (Files.isDirectory(target)) throw new T2rException(target + ": is a directory, cannot write a file there");
        Path dir = target.toAbsolutePath().getParent();
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new T2rException(dir + ": cannot create directory (" + AtomicFiles.oneLine(e) + ")", e);
        }
        Path temp = AtomicFiles.tempSibling(target, "tmp");
        FileChannel ch;
        try {
            ch = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new T2rException(target + ": cannot create (" + AtomicFiles.oneLine(e) + ")", e);
        }
        AtomicFiles.deleteOnShutdown(temp);
        long dataBytes = 0;
        for (TensorSpec s : list) dataBytes += s.byteSize();
        SafeTensorsWriter w = new SafeTensorsWriter(target, temp, list, ch, header.length + dataBytes);
        try {
            w.writeFully(ByteBuffer.wrap(header));
        } catch (RuntimeException e) {
            w.close();
            throw e;
        }
        return w;
    }

    /**
     * The file's first bytes: the 8-byte little-endian header length, then the header JSON padded
     * with spaces to a multiple of 8. Checks that names are unique and metadata is well formed.
     */
    public static byte[] header(Path target, List<TensorSpec> specs, Map<String, String> metadata) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode root = f.objectNode();
        ObjectNode meta = root.putObject("__metadata__");
        // "format" first, then the rest by key: the same metadata always gives the same bytes.
        meta.put("format", metadata.getOrDefault("format", "pt"));
        for (var e : new TreeMap<>(metadata).entrySet()) {
            if (e.getValue() == null) throw new T2rException(target + ": metadata value of '" + e.getKey() + "' is null");
            meta.put(e.getKey(), e.getValue());
        }
        Set<String> seen = new HashSet<>();
        long offset = 0;
        for (TensorSpec s : specs) {
            if (!seen.add(s.name())) throw new T2rException(target + ": tensor '" + s.name() + "' is declared twice");
            ObjectNode t = root.putObject(s.name());
            t.put("dtype", s.dtype().headerName());
            ArrayNode shape = t.putArray("shape");
            for (long d : s.shape()) shape.add(d);
            long end = offset + s.byteSize();
            t.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json;
        try {
            json = SafeTensors.JSON.writeValueAsBytes(root);
        } catch (IOException e) {
            throw new T2rException(target + ": cannot encode the header (" + e.getMessage() + ")", e);
        }
        int padded = (json.length + 7) & ~7;
        if (padded > SafeTensors.MAX_HEADER_BYTES) {
            throw new T2rException(target + ": header of " + padded + " bytes exceeds the format's limit of "
                    + SafeTensors.MAX_HEADER_BYTES);
        }
        byte[] out = new byte[8 + padded];
        Arrays.fill(out, 8 + json.length, out.length, (byte) ' ');
        System.arraycopy(json, 0, out, 8, json.length);
        MemorySegment.ofArray(out).set(Floats.LE_LONG, 0, padded);
        return out;
    }

    /**
     * {@code specs} reordered so that every tensor starts at a multiple of its element size: widest
     * dtypes first, the given order kept within a dtype width.
     */
    public static List<TensorSpec> alignedOrder(List<TensorSpec> specs) {
        List<TensorSpec> sorted = new ArrayList<>(specs);
        sorted.sort((a, b) -> Integer.compare(b.dtype().byteSize(), a.dtype().byteSize()));
        return sorted;
    }

    /** Writes tensors held in the heap to one file, in the map's order (a convenience for tests and small outputs). */
    public static void write(Path target, Map<String, HeapTensor> tensors) {
        write(target, tensors, Map.of());
    }

    public static void write(Path target, Map<String, HeapTensor> tensors, Map<String, String> metadata) {
        List<TensorSpec> specs = new ArrayList<>();
        tensors.forEach((name, t) -> specs.add(t.spec(name)));
        try (SafeTensorsWriter w = create(target, specs, metadata)) {
            tensors.forEach((name, t) -> w.write(name, t.bytes()));
            w.commit();
        }
    }

    public Path target() {
        return target;
    }

    public List<TensorSpec> specs() {
        return specs;
    }

    /** The size the finished file will have. */
    public long fileSize() {
        return fileSize;
    }

    /** Whether the file is finished and in place under its final name. */
    public boolean committed() {
        return committed;
    }

    /** Whether every declared tensor has been written. */
    public boolean complete() {
        return next == specs.size() && open == null;
    }

    @Override
    public TensorSink stream(String name) {
        checkUsable();
        if (open != null) {
            throw fail("tensor '" + name + "' started while tensor '" + open.spec.name() + "' is still open");
        }
        if (next >= specs.size()) {
            throw fail("tensor '" + name + "' written after all " + specs.size() + " declared tensors"
                    + (specs.stream().anyMatch(s -> s.name().equals(name)) ? " (twice?)" : " (it was not declared)"));
        }
        TensorSpec spec = specs.get(next);
        if (!spec.name().equals(name)) {
            boolean declared = specs.stream().anyMatch(s -> s.name().equals(name));
            throw fail("tensor '" + name + "' written where '" + spec.name() + "' comes next"
                    + (declared ? " (tensors must be written in the declared order)" : " ('" + name + "' was not declared)"));
        }
        open = new Sink(spec);
        return open;
    }

    @Override
    public void commit() {
        if (committed) return;
        checkUsable();
        if (open != null) throw fail("commit while tensor '" + open.spec.name() + "' is still open");
        if (next < specs.size()) {
            int missing = specs.size() - next;
            throw fail("tensor '" + specs.get(next).name() + "'" + (missing > 1 ? " and " + (missing - 1) + " more" : "")
                    + " declared but never written");
        }
        try {
            flush();
            long size = channel.size();
            if (size != fileSize) throw fail("wrote " + size + " bytes, expected " + fileSize);
            channel.force(true);
            channel.close();
            AtomicFiles.moveAtomically(temp, target);
        } catch (IOException e) {
            throw fail("cannot finish (" + AtomicFiles.oneLine(e) + ")", e);
        }
        AtomicFiles.keepOnShutdown(temp);
        committed = true;
        AtomicFiles.fsyncDirectory(target.toAbsolutePath().getParent());
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (committed) return;
        try {
            channel.close();
        } catch (IOException ignored) {
            // Closing to delete; a failure here changes nothing.
        }
        try {
            Files.deleteIfExists(temp);
            AtomicFiles.keepOnShutdown(temp);
        } catch (IOException ignored) {
            // Left as a hidden temp file (the shutdown hook tries again); the error that made us
            // abort is the one to report.
        }
    }

    // ---------------------------------------------------------------- internals

    private void checkUsable() {
        if (committed) throw new T2rException(target + ": already committed");
        if (closed) throw new T2rException(target + ": writer is closed");
        if (failed) throw new T2rException(target + ": an earlier write failed; nothing more can be written");
    }

    private T2rException fail(String problem) {
        return fail(problem, null);
    }

    private T2rException fail(String problem, Throwable cause) {
        failed = true;
        return new T2rException(target + ": " + problem, cause);
    }

    private void flush() {
        staging.flip();
        writeFully(staging);
        staging.clear();
    }

    private void writeFully(ByteBuffer buf) {
        try {
            while (buf.hasRemaining()) channel.write(buf);
        } catch (IOException e) {
            throw fail("cannot write (" + AtomicFiles.oneLine(e) + ")", e);
        }
    }

    /** Room in the staging buffer, flushing it first when full. */
    private int room() {
        if (!staging.hasRemaining()) flush();
        return staging.remaining();
    }

    private final class Sink implements TensorSink {
        private final TensorSpec spec;
        private long remaining;
        private boolean done;

        Sink(TensorSpec spec) {
            this.spec = spec;
            this.remaining = spec.byteSize();
        }

        @Override
        public TensorSpec spec() {
            return spec;
        }

        @Override
        public long remainingBytes() {
            return remaining;
        }

        @Override
        public void expectRemaining(long bytes, String what) {
            if (bytes != remaining) {
                throw fail("tensor '" + spec.name() + "' " + spec.dtype() + spec.shapeString() + " needs "
                        + remaining + " more bytes, got " + what + " (" + bytes + " bytes)");
            }
        }

        private void begin(long bytes, String what) {
            checkUsable();
            if (done) throw fail("tensor '" + spec.name() + "' is already closed");
            if (bytes > remaining) {
                throw fail("tensor '" + spec.name() + "' " + spec.dtype() + spec.shapeString() + " holds "
                        + spec.byteSize() + " bytes; " + what + " would go " + (bytes - remaining) + " bytes past its end");
            }
        }

        @Override
        public void putBytes(MemorySegment bytes) {
            long n = bytes.byteSize();
            begin(n, n + " more bytes");
            for (long copied = 0; copied < n; ) {
                int k = (int) Math.min(room(), n - copied);
                MemorySegment.copy(bytes, copied, stagingSegment, staging.position(), k);
                staging.position(staging.position() + k);
                copied += k;
            }
            remaining -= n;
        }

        @Override
        public void putFloats(float[] values, int offset, int count) {
            requireFloatDType("floats");
            putValues(count, (done, k, at) -> Floats.encode(values, offset + done, k, spec.dtype(), stagingSegment, at));
        }

        @Override
        public void putDoubles(double[] values, int offset, int count) {
            requireFloatDType("doubles");
            putValues(count, (done, k, at) -> Floats.encode(values, offset + done, k, spec.dtype(), stagingSegment, at));
        }

        @Override
        public void putLongs(long[] values, int offset, int count) {
            if (!spec.dtype().isInteger()) {
                throw fail("tensor '" + spec.name() + "' is " + spec.dtype() + "; integers can be written only"
                        + " to integer or BOOL tensors");
            }
            putValues(count, (done, k, at) -> {
                int bad = Floats.encode(values, offset + done, k, spec.dtype(), stagingSegment, at);
                if (bad >= 0) {
                    throw fail("tensor '" + spec.name() + "': value " + values[bad] + " (index " + (bad - offset)
                            + ") does not fit " + spec.dtype());
                }
            });
        }

        private void requireFloatDType(String what) {
            if (!Floats.canEncodeFloats(spec.dtype())) {
                throw fail("tensor '" + spec.name() + "' is " + spec.dtype() + "; " + what + " can be written only to"
                        + " F32, F64, F16 or BF16 (write its bytes instead)");
            }
        }

        /** Values {@code [done, done + k)} of a put, encoded into the staging buffer at byte {@code at}. */
        private interface Run {
            void encode(int done, int k, long at);
        }

        /** Stages {@code count} values of the tensor's dtype, in runs that fit the staging buffer. */
        private void putValues(int count, Run run) {
            int size = spec.dtype().byteSize();
            begin((long) count * size, count + " more values");
            for (int done = 0; done < count; ) {
                int k = Math.min(room() / size, count - done);
                if (k == 0) {
                    flush();
                    continue;
                }
                run.encode(done, k, staging.position());
                staging.position(staging.position() + k * size);
                done += k;
            }
            remaining -= (long) count * size;
        }

        @Override
        public void close() {
            if (done) return;
            done = true;
            open = null;
            if (failed || closed || committed) return;   // the error that got us here is already on its way
            if (remaining != 0) {
                throw fail("tensor '" + spec.name() + "' " + spec.dtype() + spec.shapeString() + " closed with "
                        + remaining + " of its " + spec.byteSize() + " bytes unwritten");
            }
            next++;
        }
    }
}
