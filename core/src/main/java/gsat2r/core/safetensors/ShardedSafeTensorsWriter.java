package gsat2r.core.safetensors;

import gsat2r.core.T2rException;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.io.AtomicFiles;
import gsat2r.core.io.PythonJson;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Streams a checkpoint split over {@code model-0000k-of-0000n.safetensors} shards plus the
 * {@code model.safetensors.index.json} that names the shard of every tensor, as transformers'
 * {@code save_pretrained} writes it. The split is decided up front by {@link #planShards}, the
 * algorithm of {@code huggingface_hub.split_state_dict_into_shards_factory}; a checkpoint that fits
 * one shard is written as a single {@code model.safetensors} with no index, as transformers does.
 *
 * <p>Tensors are written in the declared order; each shard file is committed (renamed into place)
 * as soon as its last tensor is written, and the index last, by {@link #commit}. Closing without a
 * commit deletes every shard written. Each shard's own layout is that of {@link SafeTensorsWriter}.
 */
public final class ShardedSafeTensorsWriter implements TensorWriter {

    /** transformers' (4.x) default {@code max_shard_size}, "5GB". */
    public static final long DEFAULT_MAX_SHARD_BYTES = 5_000_000_000L;

    private final Path dir;
    private final List<TensorSpec> specs;
    private final List<List<TensorSpec>> shards;
    private final List<Path> files;
    private final Map<String, Integer> shardOf;
    private final Map<String, String> metadata;
    private final SafeTensorsWriter[] writers;
    private final int[] left;
    private int next;
    private TensorSink open;
    private boolean failed;
    private boolean committed;
    private boolean closed;

    private ShardedSafeTensorsWriter(Path dir, List<TensorSpec> specs, List<List<TensorSpec>> shards,
                                     Map<String, String> metadata) {
        this.dir = dir;
        this.specs = specs;
        this.shards = shards;
        this.metadata = Map.copyOf(metadata);
        this.files = new ArrayList<>();
        this.shardOf = new HashMap<>();
        this.writers = new SafeTensorsWriter[shards.size()];
        this.left = new int[shards.size()];
        for (int k = 0; k < shards.size(); k++) {
            files.add(dir.resolve(shardFileName(k, shards.size())));
            left[k] = shards.get(k).size();
            for (TensorSpec s : shards.get(k)) shardOf.put(s.name(), k);
        }
    }

    public static ShardedSafeTensorsWriter create(Path dir, List<TensorSpec> specs, long maxShardBytes) {
        return create(dir, specs, maxShardBytes, Map.of());
    }

    /**
     * Starts writing a checkpoint into directory {@code dir} (created if absent). Shards hold at most
     * {@code maxShardBytes} of tensor data each, except a tensor larger than that, which gets a shard
     * of its own. {@code metadata} goes into every shard's {@code __metadata__} (with
     * {@code "format": "pt"}).
     */
    public static ShardedSafeTensorsWriter create(Path dir, List<TensorSpec> specs, long maxShardBytes,
                                                  Map<String, String> metadata) {
        List<TensorSpec> list = List.copyOf(specs);
        // Duplicate names and bad metadata are caught here, before any file exists.
        SafeTensorsWriter.header(dir.resolve(SafeTensors.SINGLE_FILE), list, metadata);
        if (list.isEmpty()) throw new T2rException(dir + ": a checkpoint needs at least one tensor");
        if (Files.exists(dir) && !Files.isDirectory(dir)) throw new T2rException(dir + ": exists and is not a directory");
        return new ShardedSafeTensorsWriter(dir, list, planShards(list, maxShardBytes), metadata);
    }

    /**
     * Splits tensors into shards in their order, as huggingface_hub does: a tensor larger than the
     * limit becomes a shard of its own at once; otherwise a tensor that would push the current shard
     * over the limit closes it and starts the next. Not optimal packing, but what transformers
     * writes, so our shard files match theirs for the same order and limit.
     */
    public static List<List<TensorSpec>> planShards(List<TensorSpec> specs, long maxShardBytes) {
        if (maxShardBytes <= 0) throw new T2rException("max shard size must be positive, got " + maxShardBytes);
        List<List<TensorSpec>> shards = new ArrayList<>();
        List<TensorSpec> current = new ArrayList<>();
        long currentBytes = 0;
        for (TensorSpec s : specs) {
            long size = s.byteSize();
            if (size > maxShardBytes) {
                shards.add(List.of(s));
                continue;
            }
            if (currentBytes + size > maxShardBytes) {
                shards.add(List.copyOf(current));
                current.clear();
                currentBytes = 0;
            }
            current.add(s);
            currentBytes += size;
        }
        if (!current.isEmpty()) shards.add(List.copyOf(current));
        return shards;
    }

    /** {@code model.safetensors} alone, else {@code model-00001-of-00003.safetensors} and so on (k from 0). */
    public static String shardFileName(int k, int count) {
        if (count == 1) return SafeTensors.SINGLE_FILE;
        return String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", k + 1, count);
    }

    /**
     * Parses a shard size as transformers does ({@code "5GB"} = 5·10^9 bytes, also KB, MB, TB) or
     * with binary units (KiB, MiB, GiB, TiB), or a plain number of bytes.
     */
    public static long parseSize(String text) {
        String s = text.strip().toUpperCase(Locale.ROOT);
        long unit = 1;
        String[][] units = {{"KIB", "1024"}, {"MIB", "1048576"}, {"GIB", "1073741824"}, {"TIB", "1099511627776"},
                {"KB", "1000"}, {"MB", "1000000"}, {"GB", "1000000000"}, {"TB", "1000000000000"}, {"B", "1"}};
        for (String[] u : units) {
            if (s.endsWith(u[0])) {
                unit = Long.parseLong(u[1]);
                s = s.substring(0, s.length() - u[0].length()).strip();
                break;
            }
        }
        try {
            double v = Double.parseDouble(s);
            if (!(v > 0) || v * unit > Long.MAX_VALUE) throw new NumberFormatException();
            return (long) (v * unit);
        } catch (NumberFormatException e) {
            throw new T2rException("'" + text + "' is not a size (examples: 5GB, 500MB, 2GiB, 1000000)");
        }
    }

    /** Writes tensors held in the heap as a (possibly sharded) checkpoint, in the map's order. */
    public static void write(Path dir, Map<String, HeapTensor> tensors, long maxShardBytes) {
        List<TensorSpec> specs = new ArrayList<>();
        tensors.forEach((name, t) -> specs.add(t.spec(name)));
        try (ShardedSafeTensorsWriter w = create(dir, specs, maxShardBytes)) {
            tensors.forEach((name, t) -> w.write(name, t.bytes()));
            w.commit();
        }
    }

    public Path directory() {
        return dir;
    }

    /** The shard files, in shard order. */
    public List<Path> files() {
        return List.copyOf(files);
    }

    /** The planned shards: which tensors go to which file. */
    public List<List<TensorSpec>> shards() {
        return shards;
    }

    @Override
    public TensorSink stream(String name) {
        checkUsable();
        if (open != null) throw fail("tensor '" + name + "' started while tensor '" + open.spec().name() + "' is still open");
        if (next >= specs.size()) {
            throw fail("tensor '" + name + "' written after all " + specs.size() + " declared tensors");
        }
        TensorSpec spec = specs.get(next);
        if (!spec.name().equals(name)) {
            throw fail("tensor '" + name + "' written where '" + spec.name() + "' comes next"
                    + (shardOf.containsKey(name) ? " (tensors must be written in the declared order)"
                    : " ('" + name + "' was not declared)"));
        }
        int k = shardOf.get(name);
        try {
            if (writers[k] == null) {
                writers[k] = SafeTensorsWriter.create(files.get(k), shards.get(k), metadata);
            }
            TensorSink inner = writers[k].stream(name);
            open = new ShardSink(inner, k);
            return open;
        } catch (RuntimeException e) {
            failed = true;
            throw e;
        }
    }

    /** Forwards to the shard's writer; on close, commits the shard when this was its last tensor. */
    private final class ShardSink implements TensorSink {
        private final TensorSink inner;
        private final int shard;
        private boolean done;

        ShardSink(TensorSink inner, int shard) {
            this.inner = inner;
            this.shard = shard;
        }

        private <T extends RuntimeException> T failing(T e) {
            failed = true;
            return e;
        }

        @Override public TensorSpec spec() { return inner.spec(); }
        @Override public long remainingBytes() { return inner.remainingBytes(); }

        @Override
        public void expectRemaining(long bytes, String what) {
            try { inner.expectRemaining(bytes, what); } catch (RuntimeException e) { throw failing(e); }
        }

        @Override
        public void putBytes(MemorySegment bytes) {
            try { inner.putBytes(bytes); } catch (RuntimeException e) { throw failing(e); }
        }

        @Override
        public void putFloats(float[] values, int offset, int count) {
            try { inner.putFloats(values, offset, count); } catch (RuntimeException e) { throw failing(e); }
        }

        @Override
        public void putDoubles(double[] values, int offset, int count) {
            try { inner.putDoubles(values, offset, count); } catch (RuntimeException e) { throw failing(e); }
        }

        @Override
        public void putLongs(long[] values, int offset, int count) {
            try { inner.putLongs(values, offset, count); } catch (RuntimeException e) { throw failing(e); }
        }

        @Override
        public void close() {
            if (done) return;
            done = true;
            open = null;
            try {
                inner.close();
                if (failed || closed || committed) return;
                next++;
                if (--left[shard] == 0) writers[shard].commit();
            } catch (RuntimeException e) {
                throw failing(e);
            }
        }
    }

    @Override
    public void commit() {
        if (committed) return;
        checkUsable();
        if (open != null) throw fail("commit while tensor '" + open.spec().name() + "' is still open");
        if (next < specs.size()) {
            int missing = specs.size() - next;
            throw fail("tensor '" + specs.get(next).name() + "'" + (missing > 1 ? " and " + (missing - 1) + " more" : "")
                    + " declared but never written");
        }
        if (files.size() > 1) {
            try {
                AtomicFiles.writeString(dir.resolve(SafeTensors.INDEX_FILE), indexJson());
            } catch (RuntimeException e) {
                failed = true;
                throw e;
            }
        }
        committed = true;
    }

    /**
     * The index as transformers writes it: Python's {@code json.dumps(index, indent=2,
     * sort_keys=True) + "\n"}, metadata with {@code total_parameters} and {@code total_size}.
     */
    public String indexJson() {
        long totalSize = 0, totalParameters = 0;
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        ObjectNode meta = root.putObject("metadata");
        ObjectNode weightMap = root.putObject("weight_map");
        for (int k = 0; k < shards.size(); k++) {
            for (TensorSpec s : shards.get(k)) {
                totalSize += s.byteSize();
                totalParameters += s.numel();
                weightMap.put(s.name(), files.get(k).getFileName().toString());
            }
        }
        meta.put("total_parameters", totalParameters);
        meta.put("total_size", totalSize);
        return PythonJson.dumps(root) + "\n";
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (committed) return;
        for (SafeTensorsWriter w : writers) {
            if (w != null) w.close();
        }
        // Shards already committed are whole files under their final names: take them back.
        for (int k = 0; k < files.size(); k++) {
            if (writers[k] != null && writers[k].committed()) {
                try {
                    Files.deleteIfExists(files.get(k));
                } catch (IOException ignored) {
                    // Best effort; the error that made us abort is the one to report.
                }
            }
        }
    }

    private void checkUsable() {
        if (committed) throw new T2rException(dir + ": already committed");
        if (closed) throw new T2rException(dir + ": writer is closed");
        if (failed) throw new T2rException(dir + ": an earlier write failed; nothing more can be written");
    }

    private T2rException fail(String problem) {
        failed = true;
        return new T2rException(dir + ": " + problem);
    }
}
