package gsat2r.gpumodels;

import gsat2r.bench.RandomCheckpoint;
import gsat2r.converter.ConvertOptions;
import gsat2r.converter.Converter;
import gsat2r.converter.GateInit;
import gsat2r.core.model.Continuations;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.Precision;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ops.KernelTimes;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Locale;
import java.util.Random;

/**
 * Decoding and scoring speed of the GPU models: a teacher and its GSA student (random weights; by default Llama-3.2-1B's
 * shape with a vocabulary of 8192, written under {@code --work} on first use; {@code --models conv}: the student with
 * short convolutions of 4 taps) decode B sequences at context C, one token
 * each per step through the batched step ({@link DecodeRuntime}); per (model, C, B) it prints the median device time of a
 * step (CUDA events around its table copy, kernels and logits copy) after warm-up steps, the host time of a step, tokens/s,
 * the bytes a step must read (weights once, each sequence's state or KV rows) over the device time, and that as a share of
 * the H200's 4.8 TB/s. Sequences are placed at position C with zeroed KV rows rather than prefilled (the speed of a step does
 * not depend on the values). Then multiple-choice scoring: items of a 100-token context and four 30-token choices,
 * {@code scoreContinuations} in batches of 64 items, median items/s.
 *
 * <p>{@code --breakdown 512,32768} instead: where a step's time goes, kernel by kernel. The steps are launched one kernel at a
 * time (it sets {@code gsat2r.decode.graphs=false} before loading: no graph, no programmatic launch), each kernel bracketed by
 * CUDA events and waited for ({@link KernelTimes#enableAll}); per (model, context, batch: 1 unless {@code --batches} says)
 * one line per kernel, and for the linear kernels per role (the layers' input projections, output projections, gate and
 * up, down; the head), with the milliseconds per step, launches per step, microseconds per launch, share of the kernels'
 * time and, for the linear kernels, the weights they stream per step (N·K·2 bytes) over their time; then a line of the
 * totals with the median device time of an untimed step launched the same way. Each launch's time includes what waiting
 * for it adds (a few microseconds), and nothing overlaps: the sum is above a graph's step.
 * <pre>
 * java -cp ... gsat2r.gpumodels.DecodeBench --work DIR [--teacher DIR --student DIR] [--contexts 512,4096,32768]
 *     [--batches 1,64,256] [--steps 24] [--warmup 4] [--scoring-batches 4] [--models teacher,student] [--breakdown CONTEXTS]
 * </pre>
 * Lines start with {@code DECODE}, {@code SCORING} and {@code DECODE-BREAKDOWN} (the {@code decode} phase of
 * scripts/device/gpu-suite.sh tabulates them).
 */
public final class DecodeBench {
    private DecodeBench() {}

    /** The H200's HBM3e bandwidth by its datasheet, the roofline of a memory-bound step. */
    static final double PEAK_BYTES_PER_S = 4.8e12;

    public static void main(String[] args) {
        Path work = Path.of("decode-bench"), teacher = null, student = null;
        int[] contexts = {512, 4096, 32768}, batches = {1, 64, 256}, breakdown = null;
        boolean batchesGiven = false;
        int steps = 24, warmup = 4, scoringBatches = 4;
        List<String> kinds = List.of("teacher", "student");
        for (int i = 0; i < args.length; i++) {
            String v = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--work" -> work = Path.of(args[++i]);
                case "--teacher" -> teacher = Path.of(args[++i]);
                case "--student" -> student = Path.of(args[++i]);
                case "--contexts" -> contexts = ints(args[++i]);
                case "--batches" -> {
                    batches = ints(args[++i]);
                    batchesGiven = true;
                }
                case "--breakdown" -> breakdown = ints(args[++i]);
                case "--steps" -> steps = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--scoring-batches" -> scoringBatches = Integer.parseInt(args[++i]);
                case "--models" -> kinds = List.of(args[++i].split(","));
                default -> throw new IllegalArgumentException("unknown argument " + args[i] + (v == null ? "" : " " + v));
            }
        }
        gsat2r.gpu.cuda.Cuda.requireAvailable();   // before writing 4 GB of random checkpoints
        if (breakdown != null) {
            System.setProperty("gsat2r.decode.graphs", "false");   // read when a model's runtime is made: kernels launched one by one
            if (!batchesGiven) batches = new int[] {1};
        }
        boolean random = teacher == null;
        Path conv = work.resolve("student-conv4-1b-v8192");
        if (random) {
            teacher = work.resolve("teacher-1b-v8192");
            student = work.resolve("student-1b-v8192");
        }
        for (String kind : kinds) {
            Path dir = switch (kind) {
                case "teacher" -> teacher;
                case "student" -> student;
                case "conv" -> conv;
                default -> throw new IllegalArgumentException("--models: teacher, student or conv, not " + kind);
            };
            if (random || kind.equals("conv")) prepare(teacher, kind.equals("teacher") ? null : dir, kind.equals("conv") ? 4 : 0);
            try (LanguageModel m = GpuLanguageModels.load(ModelDirectory.open(dir), Precision.BF16, 0)) {
                DecodeRuntime rt = runtime(m);
                rt.timeSteps();
                if (breakdown != null) {
                    for (int C : breakdown) for (int B : batches) breakdown(kind, m, rt, C, B, steps, warmup);
                    continue;
                }
                for (int C : contexts) for (int B : batches) decode(kind, m, rt, C, B, steps, warmup);
                if (scoringBatches > 0) scoring(kind, m, scoringBatches);
            }
        }
    }

    /**
     * A random teacher of Llama-3.2-1B's shape with 8192 tokens (bf16) and, unless null, its GSA student (64 slots, random gates,
     * short convolutions of {@code shortConv} taps when positive).
     */
    static void prepare(Path teacher, Path student, int shortConv) {
        if (!Files.isDirectory(teacher)) {
            System.out.println("== writing a random 1B-shaped teacher into " + teacher);
            RandomCheckpoint.write(teacher, new RandomCheckpoint.LlamaShape(2048, 16, 32, 8, 64, 8192, 8192, true),
                    RandomCheckpoint.Options.defaults(), false);
        }
        if (student != null && !Files.isDirectory(student)) {
            System.out.println("== converting it into a GSA student in " + student);
            Converter.convert(teacher, student, new ConvertOptions(64, 8, GateInit.RANDOM, 0, null, List.of(), null, shortConv), false);
        }
    }

    static DecodeRuntime runtime(LanguageModel m) {
        return switch (m) {
            case GpuLanguageModels.Teacher t -> t.decoding;
            case GpuLanguageModels.Student s -> s.decoding();
            default -> throw new IllegalStateException("not a GPU model: " + m);
        };
    }

    static void decode(String kind, LanguageModel m, DecodeRuntime rt, int C, int B, int steps, int warmup) {
        long need = stateBytes(rt.model, B, C + warmup + steps + 1);
        long free = rt.gpu().context().memoryInfo().free();
        if (need > 0.85 * free) {
            System.out.printf(Locale.ROOT, "DECODE %s ctx=%d batch=%d skipped: its state needs %.1f GB, %.1f GB free%n", kind, C, B, need / 1e9,
                    free / 1e9);
            return;
        }
        List<GpuDecoder> ds = new ArrayList<>();
        try {
            for (int b = 0; b < B; b++) {
                GpuDecoder d = (GpuDecoder) m.newDecoder();
                d.placeAt(C, warmup + steps + 1);
                ds.add(d);
            }
            Random rnd = new Random(C * 31L + B);
            double[] device = new double[steps], host = new double[steps];
            for (int s = 0; s < warmup + steps; s++) {
                int[] ids = new int[B];
                for (int b = 0; b < B; b++) ids[b] = rnd.nextInt(m.vocabSize());
                long t0 = System.nanoTime();
                m.batchDecoder().next(ds, ids);
                long t1 = System.nanoTime();
                if (s >= warmup) {
                    device[s - warmup] = rt.lastStepMillis();
                    host[s - warmup] = (t1 - t0) / 1e6;
                }
            }
            double ms = median(device), wall = median(host);
            double bytes = stepBytes(rt.model, B, C + warmup + steps / 2);
            System.out.printf(Locale.ROOT,
                    "DECODE %s ctx=%d batch=%d device_ms=%.3f host_ms=%.3f tokens_per_s=%.0f host_tokens_per_s=%.0f GB_per_step=%.3f "
                            + "TB_per_s=%.2f roofline=%.0f%% mode=%s fused=%s%n",
                    kind, C, B, ms, wall, B * 1000 / ms, B * 1000 / wall, bytes / 1e9, bytes / (ms * 1e-3) / 1e12,
                    100 * bytes / (ms * 1e-3) / PEAK_BYTES_PER_S, rt.mode(), rt.fused(B));
            System.out.flush();   // each line as it comes: the device script may stop the run at its time limit
        } finally {
            for (GpuDecoder d : ds) d.release();
            rt.gpu().synchronize();
            rt.gpu().allocator().releaseCached();   // the next case's rings are of other sizes
        }
    }

    /**
     * Where a step's time goes (see the class comment): {@code warmup} steps, {@code steps} untimed ones (their median device
     * time), then {@code steps} with every kernel timed.
     */
    static void breakdown(String kind, LanguageModel m, DecodeRuntime rt, int C, int B, int steps, int warmup) {
        String at = String.format(Locale.ROOT, "DECODE-BREAKDOWN %s ctx=%d batch=%d", kind, C, B);
        if (rt.mode() != DecodeGraphs.Mode.EAGER) {
            System.out.println(at + " skipped: steps run as graphs (mode " + rt.mode() + "), whose kernels cannot be timed one by one");
            return;
        }
        long need = stateBytes(rt.model, B, C + warmup + 2 * steps + 1);
        if (need > 0.85 * rt.gpu().context().memoryInfo().free()) {
            System.out.printf(Locale.ROOT, "%s skipped: its state needs %.1f GB%n", at, need / 1e9);
            return;
        }
        List<GpuDecoder> ds = new ArrayList<>();
        List<KernelTimes.Launch> launches;
        double[] device = new double[steps];
        try {
            for (int b = 0; b < B; b++) {
                GpuDecoder d = (GpuDecoder) m.newDecoder();
                d.placeAt(C, warmup + 2 * steps + 1);
                ds.add(d);
            }
            Random rnd = new Random(C * 31L + B);
            Runnable step = () -> {
                int[] ids = new int[B];
                for (int b = 0; b < B; b++) ids[b] = rnd.nextInt(m.vocabSize());
                m.batchDecoder().next(ds, ids);
            };
            for (int s = 0; s < warmup + steps; s++) {
                step.run();
                if (s >= warmup) device[s - warmup] = rt.lastStepMillis();
            }
            rt.gpu().synchronize();
            KernelTimes.drain();
            KernelTimes.enableAll(rt.gpu(), true);
            try {
                for (int s = 0; s < steps; s++) step.run();
            } finally {
                KernelTimes.enableAll(rt.gpu(), false);
            }
            launches = KernelTimes.drainLaunches();
        } finally {
            for (GpuDecoder d : ds) d.release();
            rt.gpu().synchronize();
            rt.gpu().allocator().releaseCached();
        }
        // The linear kernels' roles, in the order a step launches them (DecodeStep's fused step); by name alone where the
        // launches do not match them (the op-by-op step, B > 16).
        List<String> roles = new ArrayList<>();
        List<Double> roleBytes = new ArrayList<>();
        for (DecodeModel.Layer l : rt.model.layers) {
            List<DeviceBuffer> in = switch (l) {
                case DecodeModel.GsaLayer g -> List.of(g.wq(), g.wk(), g.wv(), g.wf());
                case DecodeModel.AttentionLayer a -> List.of(a.wq(), a.wk(), a.wv());
            };
            DeviceBuffer wo = switch (l) {
                case DecodeModel.GsaLayer g -> g.wo();
                case DecodeModel.AttentionLayer a -> a.wo();
            };
            roles.addAll(List.of("in_proj", "o_proj", "gate_up", "down"));
            roleBytes.addAll(List.of(bytes(in), bytes(List.of(wo)), bytes(List.of(l.mlp().gate(), l.mlp().up())), bytes(List.of(l.mlp().down()))));
        }
        roles.add("head");
        roleBytes.add(bytes(List.of(rt.model.head)));
        for (String line : breakdownLines(at, launches, steps, roles, roleBytes)) System.out.println(line);
        System.out.printf(Locale.ROOT, "%s kernel=TOTAL launches=%d ms=%.4f untimed_step_ms=%.3f mode=%s fused=%s%n", at,
                launches.size() / steps, launches.stream().mapToDouble(KernelTimes.Launch::millis).sum() / steps, median(device),
                rt.mode(), rt.fused(B));
        System.out.flush();
    }

    /**
     * The breakdown's lines of {@code steps} steps' launches, one per kernel in first-launch order; the linear kernels
     * ({@code decode_linear_*}) per role where a step launches exactly {@code roles.size()} of them (the i-th of a step
     * has role i, whose weights are {@code roleBytes[i]} bytes), else per name. Lines: {@code AT kernel=NAME [role=ROLE]
     * launches=N ms=MS us_per_launch=US share=P% [weights_MB=MB GB_per_s=R of_peak=P%]}, per step.
     */
    static List<String> breakdownLines(String at, List<KernelTimes.Launch> launches, int steps, List<String> roles, List<Double> roleBytes) {
        long linear = launches.stream().filter(x -> x.kernel().startsWith("decode_linear_")).count();
        boolean byRole = launches.size() % steps == 0 && linear == (long) roles.size() * steps;
        Map<String, double[]> rows = new LinkedHashMap<>();   // label → {ms, launches, bytes}
        int li = 0;
        for (KernelTimes.Launch x : launches) {
            String label = x.kernel();
            double b = 0;
            if (byRole && x.kernel().startsWith("decode_linear_")) {
                int r = li++ % roles.size();
                label += " role=" + roles.get(r);
                b = roleBytes.get(r);
            }
            double[] t = rows.computeIfAbsent(label, k -> new double[3]);
            t[0] += x.millis();
            t[1] += 1;
            t[2] += b;
        }
        double total = launches.stream().mapToDouble(KernelTimes.Launch::millis).sum() / steps;
        List<String> lines = new ArrayList<>();
        for (Map.Entry<String, double[]> e : rows.entrySet()) {
            double ms = e.getValue()[0] / steps, n = e.getValue()[1] / steps, bytes = e.getValue()[2] / steps;
            String traffic = bytes > 0
                    ? String.format(Locale.ROOT, " weights_MB=%.1f GB_per_s=%.0f of_peak=%.0f%%", bytes / 1e6, bytes / (ms * 1e-3) / 1e9,
                            100 * bytes / (ms * 1e-3) / PEAK_BYTES_PER_S)
                    : "";
            lines.add(String.format(Locale.ROOT, "%s kernel=%s launches=%s ms=%.4f us_per_launch=%.2f share=%.1f%%%s", at, e.getKey(),
                    n == Math.rint(n) ? String.valueOf((long) n) : String.format(Locale.ROOT, "%.2f", n), ms, 1000 * ms / n,
                    100 * ms / total, traffic));
        }
        return lines;
    }

    private static double bytes(List<DeviceBuffer> ws) {
        double b = 0;
        for (DeviceBuffer w : ws) b += w.byteSize();
        return b;
    }

    /** Bytes a step must read: every weight once (the embedding table only for the head, when tied), each row's state (GSA: read and written) or visible KV rows. */
    static double stepBytes(DecodeModel m, int B, int context) {
        double b = m.finalNorm.byteSize() + m.head.byteSize();
        for (DecodeModel.Layer l : m.layers) {
            b += weights(l);
            b += switch (l) {
                case DecodeModel.GsaLayer g -> 2.0 * B * (4 * ((long) g.shape().kvHeads() * g.shape().slots() * (g.shape().keyDim() + g.shape().valueDim()))
                        + g.convHistory() * m.type.bytes());
                case DecodeModel.AttentionLayer a -> (double) B * 2 * visible(a, context) * a.kvWidth() * m.type.bytes();
            };
        }
        return b;
    }

    static long stateBytes(DecodeModel m, int B, int context) {
        long b = 0;
        for (DecodeModel.Layer l : m.layers) {
            b += switch (l) {
                case DecodeModel.GsaLayer g -> 8L * B * ((long) g.shape().kvHeads() * g.shape().slots() * (g.shape().keyDim() + g.shape().valueDim()))
                        + B * g.convHistory() * m.type.bytes();
                case DecodeModel.AttentionLayer a -> (long) B * 2 * ringRows(a, context) * a.kvWidth() * m.type.bytes();
            };
        }
        return b;
    }

    private static long visible(DecodeModel.AttentionLayer a, int context) {
        return a.shape().window() > 0 ? Math.min(context, a.shape().window()) : context;
    }

    /** Rows a ring holds at a context: the window, or what KvRing.ensure grows 256 rows to (at least double, at least the context). */
    private static long ringRows(DecodeModel.AttentionLayer a, int context) {
        return a.shape().window() > 0 ? a.shape().window() : context <= 256 ? 256 : Math.max(512, context);
    }

    private static double weights(DecodeModel.Layer l) {
        List<DeviceBuffer> ws = switch (l) {
            case DecodeModel.GsaLayer g -> g.conv() == null ? List.of(g.norm(), g.wq(), g.wk(), g.wv(), g.wf(), g.gateNorm(), g.wo())
                    : List.of(g.norm(), g.wq(), g.wk(), g.wv(), g.wf(), g.gateNorm(), g.wo(), g.conv().q(), g.conv().k(), g.conv().v());
            case DecodeModel.AttentionLayer a -> List.of(a.norm(), a.wq(), a.wk(), a.wv(), a.wo());
        };
        double b = 0;
        for (DeviceBuffer w : ws) b += w.byteSize();
        DecodeModel.Mlp mlp = l.mlp();
        for (DeviceBuffer w : List.of(mlp.norm(), mlp.gate(), mlp.up(), mlp.down())) b += w.byteSize();
        return b;
    }

    /** Items of a 100-token context and four 30-token choices, 64 items a call; median items/s after one warm-up call. */
    static void scoring(String kind, LanguageModel m, int batches) {
        Random r = new Random(0);
        int items = 64;
        double[] rates = new double[batches];
        for (int b = 0; b <= batches; b++) {
            List<Continuations> batch = new ArrayList<>();
            for (int i = 0; i < items; i++) {
                List<int[]> choices = new ArrayList<>();
                for (int c = 0; c < 4; c++) choices.add(ids(r, m.vocabSize(), 30));
                batch.add(new Continuations(ids(r, m.vocabSize(), 100), choices));
            }
            long t0 = System.nanoTime();
            m.scoreContinuations(batch);
            double s = (System.nanoTime() - t0) / 1e9;
            if (b > 0) rates[b - 1] = items / s;
        }
        System.out.printf(Locale.ROOT, "SCORING %s items_per_s=%.1f (4 choices x 30 tokens after 100, %d items a call, median of %d)%n", kind,
                median(rates), items, batches);
        System.out.flush();
    }

    static int[] ids(Random r, int vocab, int n) {
        int[] x = new int[n];
        for (int i = 0; i < n; i++) x[i] = 1 + r.nextInt(vocab - 1);
        return x;
    }

    static int[] ints(String csv) {
        return Arrays.stream(csv.split(",")).mapToInt(Integer::parseInt).toArray();
    }

    static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
