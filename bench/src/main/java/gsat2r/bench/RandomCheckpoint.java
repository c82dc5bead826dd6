package gsat2r.bench;

import gsat2r.core.safetensors.TensorSink;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.Floats;
import gsat2r.core.safetensors.ShardedSafeTensorsWriter;
import gsat2r.core.safetensors.TensorSpec;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.T2rException;
import gsat2r.core.io.AtomicDirectory;
import gsat2r.core.io.AtomicFiles;
import gsat2r.core.io.PythonJson;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Writes a Llama-shaped Hugging Face checkpoint with random weights: {@code config.json}
 * ({@code LlamaForCausalLM}) and sharded safetensors, for benchmarks and GPU tests at real model
 * sizes without real weights. Matrices are N(0, std²) (std 0.02 by default, transformers'
 * {@code initializer_range}), norm weights are 1.
 *
 * <p>Streams: values are generated in chunks of {@value #CHUNK} elements, in parallel, and written
 * chunk by chunk, so the heap never holds a tensor (a Llama-3.2-1B shape is 2.5 GB in bf16).
 * Deterministic: element i of tensor t depends only on (seed, t's name, i), never on thread count,
 * shard size or JVM (the generator is SplitMix64 with Marsaglia's polar method on
 * {@link StrictMath#log}), so two machines that run this with the same arguments get the same bytes.
 *
 * <pre>
 * java -cp core.jar gsat2r.bench.RandomCheckpoint --out DIR --preset llama-3.2-1b
 * java -cp core.jar gsat2r.bench.RandomCheckpoint --out DIR --hidden 256 --layers 4 --heads 4 \
 *     --kv-heads 2 --head-dim 64 --intermediate 768 --vocab 1024 [--tied] [--dtype bf16]
 *     [--max-shard-size 5GB] [--seed 0] [--std 0.02] [--force]
 * </pre>
 */
public final class RandomCheckpoint {
    private RandomCheckpoint() {}

    /** Elements per independently seeded chunk (even, for the pairwise polar method). */
    public static final int CHUNK = 1 << 20;

    /**
     * The sizes of a Llama decoder; {@code slidingWindow} > 0 makes it a Mistral (MistralForCausalLM, that
     * window, rope theta 10000 as Mistral 7B v0.1), the tensors being the same.
     */
    public record LlamaShape(int hiddenSize, int numLayers, int numHeads, int numKvHeads, int headDim,
                             int intermediateSize, int vocabSize, boolean tiedEmbeddings, int slidingWindow) {
        public LlamaShape(int hiddenSize, int numLayers, int numHeads, int numKvHeads, int headDim, int intermediateSize, int vocabSize,
                          boolean tiedEmbeddings) {
            this(hiddenSize, numLayers, numHeads, numKvHeads, headDim, intermediateSize, vocabSize, tiedEmbeddings, 0);
        }

        public boolean mistral() {
            return slidingWindow > 0;
        }

        public LlamaShape {
            positive("hidden size", hiddenSize);
            positive("layers", numLayers);
            positive("heads", numHeads);
            positive("kv heads", numKvHeads);
            positive("head dim", headDim);
            positive("intermediate size", intermediateSize);
            positive("vocab size", vocabSize);
            if (numHeads % numKvHeads != 0) {
                throw new T2rException("heads (" + numHeads + ") must be a multiple of kv heads (" + numKvHeads + ")");
            }
        }

        private static void positive(String what, int v) {
            if (v <= 0) throw new T2rException(what + " must be positive, got " + v);
        }

        /** Named shapes of public models. */
        public static LlamaShape preset(String name) {
            return switch (name.toLowerCase(Locale.ROOT)) {
                case "llama-3.2-1b" -> new LlamaShape(2048, 16, 32, 8, 64, 8192, 128256, true);
                case "llama-3.2-3b" -> new LlamaShape(3072, 28, 24, 8, 128, 8192, 128256, true);
                case "llama-3.1-8b" -> new LlamaShape(4096, 32, 32, 8, 128, 14336, 128256, false);
                case "tinyllama-1.1b" -> new LlamaShape(2048, 22, 32, 4, 64, 5632, 32000, false);
                case "mistral-7b" -> new LlamaShape(4096, 32, 32, 8, 128, 14336, 32000, false, 4096);
                case "tiny-llama" -> new LlamaShape(384, 8, 6, 2, 64, 1024, 8192, true);
                default -> throw new T2rException("unknown preset '" + name
                        + "' (known: llama-3.2-1b, llama-3.2-3b, llama-3.1-8b, mistral-7b, tinyllama-1.1b, tiny-llama)");
            };
        }

        public long parameterCount() {
            long n = 0;
            for (TensorSpec s : tensorSpecs(this, DType.F32)) n += s.numel();
            return n;
        }
    }

    /** What is not a size: element type, sharding, randomness, and config values. */
    public record Options(DType dtype, long maxShardBytes, long seed, double std,
                          int maxPositionEmbeddings, double ropeTheta, double rmsNormEps) {
        public Options {
            if (!Floats.canEncodeFloats(dtype)) throw new T2rException("dtype must be F32, F16, BF16 or F64, got " + dtype);
            if (maxShardBytes <= 0) throw new T2rException("max shard size must be positive");
            if (!(std >= 0) || Double.isInfinite(std)) throw new T2rException("std must be a non-negative number, got " + std);
        }

        /** bf16, 5 GB shards, seed 0, std 0.02, 4096 positions, rope theta 500000, eps 1e-5. */
        public static Options defaults() {
            return new Options(DType.BF16, ShardedSafeTensorsWriter.DEFAULT_MAX_SHARD_BYTES, 0, 0.02, 4096, 500000.0, 1e-5);
        }

        public Options withDtype(DType d) {
            return new Options(d, maxShardBytes, seed, std, maxPositionEmbeddings, ropeTheta, rmsNormEps);
        }

        public Options withMaxShardBytes(long b) {
            return new Options(dtype, b, seed, std, maxPositionEmbeddings, ropeTheta, rmsNormEps);
        }

        public Options withSeed(long s) {
            return new Options(dtype, maxShardBytes, s, std, maxPositionEmbeddings, ropeTheta, rmsNormEps);
        }

        public Options withStd(double s) {
            return new Options(dtype, maxShardBytes, seed, s, maxPositionEmbeddings, ropeTheta, rmsNormEps);
        }
    }

    /** The tensors of a LlamaForCausalLM state dict, in the order transformers saves them. */
    public static List<TensorSpec> tensorSpecs(LlamaShape s, DType dtype) {
        long d = s.hiddenSize(), q = (long) s.numHeads() * s.headDim(), kv = (long) s.numKvHeads() * s.headDim();
        long ff = s.intermediateSize(), v = s.vocabSize();
        List<TensorSpec> specs = new ArrayList<>();
        specs.add(TensorSpec.of("model.embed_tokens.weight", dtype, v, d));
        for (int l = 0; l < s.numLayers(); l++) {
            String p = "model.layers." + l + ".";
            specs.add(TensorSpec.of(p + "self_attn.q_proj.weight", dtype, q, d));
            specs.add(TensorSpec.of(p + "self_attn.k_proj.weight", dtype, kv, d));
            specs.add(TensorSpec.of(p + "self_attn.v_proj.weight", dtype, kv, d));
            specs.add(TensorSpec.of(p + "self_attn.o_proj.weight", dtype, d, q));
            specs.add(TensorSpec.of(p + "mlp.gate_proj.weight", dtype, ff, d));
            specs.add(TensorSpec.of(p + "mlp.up_proj.weight", dtype, ff, d));
            specs.add(TensorSpec.of(p + "mlp.down_proj.weight", dtype, d, ff));
            specs.add(TensorSpec.of(p + "input_layernorm.weight", dtype, d));
            specs.add(TensorSpec.of(p + "post_attention_layernorm.weight", dtype, d));
        }
        specs.add(TensorSpec.of("model.norm.weight", dtype, d));
        if (!s.tiedEmbeddings()) specs.add(TensorSpec.of("lm_head.weight", dtype, v, d));
        return specs;
    }

    /** Norm weights (rank 1, named {@code ...norm.weight}) are ones; everything else is random. */
    public static boolean isNorm(TensorSpec spec) {
        return spec.shape().length == 1 && spec.name().endsWith("norm.weight");
    }

    /** {@code config.json} as transformers 5 writes it for LlamaForCausalLM or MistralForCausalLM (keys sorted). */
    public static ObjectNode config(LlamaShape s, Options o) {
        ObjectNode c = JsonNodeFactory.instance.objectNode();
        c.putArray("architectures").add(s.mistral() ? "MistralForCausalLM" : "LlamaForCausalLM");
        c.put("attention_bias", false);
        c.put("attention_dropout", 0.0);
        c.put("bos_token_id", 0);
        c.put("dtype", switch (o.dtype()) {
            case BF16 -> "bfloat16";
            case F16 -> "float16";
            case F64 -> "float64";
            default -> "float32";
        });
        c.put("eos_token_id", 1);
        c.put("head_dim", s.headDim());
        c.put("hidden_act", "silu");
        c.put("hidden_size", s.hiddenSize());
        c.put("initializer_range", o.std());
        c.put("intermediate_size", s.intermediateSize());
        c.put("max_position_embeddings", o.maxPositionEmbeddings());
        c.put("mlp_bias", false);
        c.put("model_type", s.mistral() ? "mistral" : "llama");
        c.put("num_attention_heads", s.numHeads());
        c.put("num_hidden_layers", s.numLayers());
        c.put("num_key_value_heads", s.numKvHeads());
        c.putNull("pad_token_id");
        c.put("pretraining_tp", 1);
        c.put("rms_norm_eps", o.rmsNormEps());
        ObjectNode rope = c.putObject("rope_parameters");
        rope.put("rope_theta", s.mistral() ? 10000.0 : o.ropeTheta());
        rope.put("rope_type", "default");
        if (s.mistral()) c.put("sliding_window", s.slidingWindow());
        c.put("tie_word_embeddings", s.tiedEmbeddings());
        c.put("transformers_version", "5.17.0");
        c.put("use_cache", true);
        c.put("vocab_size", s.vocabSize());
        return c;
    }

    /**
     * Writes the checkpoint directory {@code out} atomically (see {@link AtomicDirectory}; an
     * existing non-empty directory is replaced only with {@code force}). Returns {@code out}.
     */
    public static Path write(Path out, LlamaShape shape, Options options, boolean force) {
        try (AtomicDirectory dir = AtomicDirectory.create(out, force, gsat2r.core.io.OutputKind.holding("model directory", "config.json"))) {
            writeInto(dir.path(), shape, options);
            return dir.commit();
        }
    }

    /** Writes config.json and the weights into an existing (empty) directory. */
    public static void writeInto(Path dir, LlamaShape shape, Options options) {
        AtomicFiles.writeString(dir.resolve("config.json"), PythonJson.dumps(config(shape, options)) + "\n");
        List<TensorSpec> specs = tensorSpecs(shape, options.dtype());
        int threads = Math.max(1, Runtime.getRuntime().availableProcessors());
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "random-checkpoint");
            t.setDaemon(true);
            return t;
        });
        float[][] buffers = new float[threads][];          // reused by every tensor, grown to CHUNK at most
        try (ShardedSafeTensorsWriter w = ShardedSafeTensorsWriter.create(dir, specs, options.maxShardBytes())) {
            for (TensorSpec spec : specs) {
                try (TensorSink sink = w.stream(spec.name())) {
                    if (isNorm(spec)) fillOnes(sink, spec.numel());
                    else fillNormal(sink, spec.name(), spec.numel(), options.seed(), options.std(), pool, buffers);
                }
            }
            w.commit();
        } finally {
            pool.shutdownNow();
        }
    }

    private static void fillOnes(TensorSink sink, long numel) {
        float[] ones = new float[(int) Math.min(numel, CHUNK)];
        Arrays.fill(ones, 1f);
        for (long done = 0; done < numel; done += ones.length) {
            sink.putFloats(ones, 0, (int) Math.min(ones.length, numel - done));
        }
    }

    /** Generates a tensor's chunks one batch (one chunk per buffer) at a time, in parallel, and writes them in order. */
    private static void fillNormal(TensorSink sink, String name, long numel, long seed, double std,
                                   ExecutorService pool, float[][] buffers) {
        long chunks = (numel + CHUNK - 1) / CHUNK;
        for (long first = 0; first < chunks; first += buffers.length) {
            int batchSize = (int) Math.min(buffers.length, chunks - first);
            int[] lengths = new int[batchSize];
            List<Future<?>> batch = new ArrayList<>();
            for (int b = 0; b < batchSize; b++) {
                long chunk = first + b;
                int len = (int) Math.min(CHUNK, numel - chunk * CHUNK);
                if (buffers[b] == null || buffers[b].length < len) buffers[b] = new float[len];
                float[] buf = buffers[b];
                lengths[b] = len;
                batch.add(pool.submit(() -> normals(seed, name, chunk, std, buf, len)));
            }
            for (int b = 0; b < batchSize; b++) {
                try {
                    batch.get(b).get();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new T2rException("interrupted while generating '" + name + "'", e);
                } catch (ExecutionException e) {
                    throw new IllegalStateException("generating '" + name + "' failed", e.getCause());
                }
                sink.putFloats(buffers[b], 0, lengths[b]);
            }
        }
    }

    /**
     * Fills {@code out[0..count)} with elements {@code chunk·CHUNK ..} of tensor {@code name}: N(0, std²)
     * values rounded to fp32. The public definition of what {@link #write} stores (before the cast
     * to the checkpoint's dtype).
     */
    public static void normals(long seed, String name, long chunk, double std, float[] out, int count) {
        long state = mix64(mix64(seed) ^ fnv1a64(name)) + chunk * 0x9E37_79B9_7F4A_7C15L;
        int i = 0;
        while (i < count) {
            // Marsaglia's polar method: a point uniform in the unit disc gives two independent normals.
            double u, v, r2;
            do {
                state += 0x9E37_79B9_7F4A_7C15L;
                u = 2 * unit(mix64(state)) - 1;
                state += 0x9E37_79B9_7F4A_7C15L;
                v = 2 * unit(mix64(state)) - 1;
                r2 = u * u + v * v;
            } while (r2 >= 1 || r2 == 0);
            double m = Math.sqrt(-2 * StrictMath.log(r2) / r2) * std;
            out[i++] = (float) (u * m);
            if (i < count) out[i++] = (float) (v * m);
        }
    }

    /** SplitMix64's output function (Steele, Lea, Flood 2014). */
    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58_476D_1CE4_E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D0_49BB_1331_11EBL;
        return z ^ (z >>> 31);
    }

    /** A double in [0, 1) from the top 53 bits. */
    private static double unit(long bits) {
        return (bits >>> 11) * 0x1.0p-53;
    }

    private static long fnv1a64(String s) {
        long h = 0xcbf2_9ce4_8422_2325L;
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x100_0000_01b3L;
        }
        return h;
    }

    // ---------------------------------------------------------------- command line

    public static void main(String[] args) {
        try {
            run(args);
        } catch (T2rException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(e instanceof UsageException ? 2 : 1);
        }
    }

    static final class UsageException extends T2rException {
        UsageException(String message) {
            super(message + " (see --help)");
        }
    }

    /** Parses the arguments, writes the checkpoint, and prints a one-line summary. */
    static Path run(String... args) {
        Path out = null;
        String preset = null;
        Integer hidden = null, layers = null, heads = null, kvHeads = null, headDim = null, inter = null, vocab = null;
        boolean tied = false, force = false;
        Options o = Options.defaults();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--help") || a.equals("-h")) {
                System.out.println(USAGE);
                return null;
            }
            if (a.equals("--tied")) { tied = true; continue; }
            if (a.equals("--force")) { force = true; continue; }
            if (i + 1 >= args.length) throw new UsageException(a.startsWith("--") ? a + " needs a value" : "unexpected argument '" + a + "'");
            String v = args[++i];
            switch (a) {
                case "--out" -> out = Path.of(v);
                case "--preset" -> preset = v;
                case "--hidden" -> hidden = intArg(a, v);
                case "--layers" -> layers = intArg(a, v);
                case "--heads" -> heads = intArg(a, v);
                case "--kv-heads" -> kvHeads = intArg(a, v);
                case "--head-dim" -> headDim = intArg(a, v);
                case "--intermediate" -> inter = intArg(a, v);
                case "--vocab" -> vocab = intArg(a, v);
                case "--dtype" -> {
                    DType d = DType.fromUser(v);
                    if (d == null) throw new UsageException("--dtype: unknown '" + v + "' (bf16, f16, f32, f64)");
                    o = o.withDtype(d);
                }
                case "--max-shard-size" -> o = o.withMaxShardBytes(ShardedSafeTensorsWriter.parseSize(v));
                case "--seed" -> o = o.withSeed(longArg(a, v));
                case "--std" -> o = o.withStd(doubleArg(a, v));
                default -> throw new UsageException("unknown option '" + a + "'");
            }
        }
        if (out == null) throw new UsageException("--out DIR is required");
        LlamaShape shape;
        if (preset != null) {
            LlamaShape p = LlamaShape.preset(preset);
            shape = new LlamaShape(or(hidden, p.hiddenSize()), or(layers, p.numLayers()), or(heads, p.numHeads()),
                    or(kvHeads, p.numKvHeads()), or(headDim, p.headDim()), or(inter, p.intermediateSize()),
                    or(vocab, p.vocabSize()), p.tiedEmbeddings() || tied);
        } else {
            if (hidden == null || layers == null || heads == null || inter == null || vocab == null) {
                throw new UsageException("give --preset, or --hidden, --layers, --heads, --intermediate and --vocab");
            }
            int hd = headDim != null ? headDim : hidden / heads;
            shape = new LlamaShape(hidden, layers, heads, kvHeads != null ? kvHeads : heads, hd, inter, vocab, tied);
        }
        long t0 = System.nanoTime();
        Path written = write(out, shape, o, force);
        double seconds = (System.nanoTime() - t0) / 1e9;
        long params = shape.parameterCount();
        System.out.printf(Locale.ROOT, "%s: %,d parameters, %s, %.2f GB, written in %.1f s%n",
                written, params, o.dtype(), params * o.dtype().byteSize() / 1e9, seconds);
        return written;
    }

    private static int or(Integer v, int d) {
        return v != null ? v : d;
    }

    private static int intArg(String opt, String v) {
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new UsageException(opt + ": '" + v + "' is not an integer");
        }
    }

    private static long longArg(String opt, String v) {
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new UsageException(opt + ": '" + v + "' is not an integer");
        }
    }

    private static double doubleArg(String opt, String v) {
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new UsageException(opt + ": '" + v + "' is not a number");
        }
    }

    private static final String USAGE = """
            Writes a Llama-shaped checkpoint (config.json + safetensors) with random weights.
              --out DIR               output directory (written atomically)
              --preset NAME           llama-3.2-1b, llama-3.2-3b, llama-3.1-8b, tinyllama-1.1b, tiny-llama
                                      (size options below override the preset's)
              --hidden N --layers N --heads N --kv-heads N --head-dim N --intermediate N --vocab N
              --tied                  tie lm_head to the embeddings (no lm_head.weight)
              --dtype bf16|f16|f32|f64 (default bf16)
              --max-shard-size SIZE   e.g. 5GB (default), 500MB, 2GiB
              --seed N (default 0)    --std X (default 0.02)
              --force                 replace a non-empty output directory""";
}
