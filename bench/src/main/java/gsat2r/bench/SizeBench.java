package gsat2r.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.config.LlamaConfig;
import gsat2r.core.data.DataPreparer;
import gsat2r.core.io.Json;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.Precision;
import gsat2r.finetune.Plugins;
import gsat2r.finetune.Trainer;
import gsat2r.finetune.TrainingListener;
import gsat2r.gpumodels.CudaDevice;
import gsat2r.gpumodels.CudaGsaBackend;
import gsat2r.training.BackendRequest;
import gsat2r.training.Device;
import gsat2r.training.MemoryPlan;
import gsat2r.training.TrainingBackend;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * A shipped recipe at its model's real size, on one GPU, end to end: a teacher of a public model's shape
 * with random weights ({@link RandomCheckpoint}, with the demo teacher's tokenizer), the KJV corpus tokenized
 * with it, and {@code t2r finetune} of the recipe with each stage cut to a few steps (no evaluation, one
 * checkpoint after the first stage, the student written at the end). Per stage: the median step time after
 * warm-up, tokens/s, model FLOPs utilization, the allocator's peak and the device memory in use (everything
 * on the device: the CUDA context and cuBLASLt workspaces too), the size of the lean checkpoint.
 *
 * <pre>
 * java -cp ... gsat2r.bench.SizeBench --preset llama-3.1-8b --recipe recipes/llama-3-8b.json --work /tmp/8b [--steps 8] [--warmup 2]
 *     [--checkpoint true|false]
 * </pre>
 *
 * Model FLOPs per token (what the step must compute, recompute not counted; embedding lookups, norms and
 * elementwise work not counted): 2 per weight of every product of the teacher's forward plus its causal
 * attention; for attention transfer, 3 times the forward of each GSA layer's mixer (forward, input and weight
 * gradients); for distillation, the student's forward (2 per weight) and input gradients (2 per weight), the
 * weight gradients of what trains (2 per trained weight), and the GSA operator (about 8·dk·M per token and
 * head forward, twice that backward).
 */
public final class SizeBench {
    private SizeBench() {}

    /** Dense bf16 tensor-core peak of an H100/H200 SXM, TFLOP/s. */
    static final double PEAK_TFLOPS = 989;

    record StageResult(String model, String stage, String trainable, int micro, int seqLen, double stepMs, double tokensPerSec, double mfu,
                       long allocatorPeak, long deviceUsed) {}

    public static void main(String[] args) throws IOException {
        Map<String, String> a = parse(args);
        String preset = a.get("preset");
        Path recipe = Path.of(a.get("recipe")), work = Path.of(a.get("work"));
        int steps = Integer.parseInt(a.getOrDefault("steps", "8")), warmup = Integer.parseInt(a.getOrDefault("warmup", "2"));
        boolean checkpoint = Boolean.parseBoolean(a.getOrDefault("checkpoint", "true"));
        Path teacher = prepareTeacher(preset, work.resolve("teacher"));
        Path data = prepareData(teacher, work.resolve("data"));
        Path cut = cutRecipe(recipe, teacher, data, steps + warmup, checkpoint, work.resolve("recipe.json"));
        List<StageResult> rows = run(preset, cut, work.resolve("run"), warmup);
        System.out.println();
        System.out.println("| model | stage | trainable | micro-batch x T | step | tokens/s | MFU | allocator peak | device memory in use |");
        System.out.println("|---|---|---|---|---:|---:|---:|---:|---:|");
        for (StageResult r : rows) {
            System.out.printf(Locale.ROOT, "| %s | %s | %s | %d x %d | %.1f ms | %,.0f | %.1f%% | %.1f GiB | %.1f GiB |%n", r.model(), r.stage(), r.trainable(),
                    r.micro(), r.seqLen(), r.stepMs(), r.tokensPerSec(), 100 * r.mfu(), r.allocatorPeak() / GIB, r.deviceUsed() / GIB);
        }
    }

    private static final double GIB = 1L << 30;

    static Map<String, String> parse(String[] args) {
        Map<String, String> out = new LinkedHashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) out.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        for (String k : List.of("preset", "recipe", "work")) {
            if (!out.containsKey(k)) throw new IllegalArgumentException("usage: SizeBench --preset P --recipe R --work DIR [--steps N] [--warmup W]");
        }
        return out;
    }

    /** A random teacher of {@code preset}'s shape (bf16, 5 GB shards) with the demo teacher's tokenizer, unless there already. */
    static Path prepareTeacher(String preset, Path dir) throws IOException {
        if (Files.isDirectory(dir)) return dir;
        long t0 = System.nanoTime();
        RandomCheckpoint.write(dir, RandomCheckpoint.LlamaShape.preset(preset), RandomCheckpoint.Options.defaults(), false);
        for (String f : List.of("tokenizer.json", "tokenizer_config.json")) {
            Files.copy(Path.of("models/kjv-llama").resolve(f), dir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        }
        System.out.printf(Locale.ROOT, "== random %s teacher in %s (%.0f s)%n", preset, dir, (System.nanoTime() - t0) / 1e9);
        return dir;
    }

    static Path prepareData(Path teacher, Path dir) {
        if (Files.isDirectory(dir)) return dir;
        DataPreparer.prepare(new DataPreparer.Request(teacher, List.of(Path.of("data/kjv/train.jsonl.xz")), List.of(Path.of("data/kjv/validation.jsonl")),
                "text", 0, DataPreparer.DEFAULT_SHARD_TOKENS, dir, false), p -> {});
        return dir;
    }

    /**
     * The recipe with this teacher and data, every stage {@code steps} long, no evaluation, and one checkpoint
     * after the first stage when {@code checkpoint} (off where the disk cannot hold another copy of the model).
     */
    static Path cutRecipe(Path recipe, Path teacher, Path data, int steps, boolean checkpoint, Path out) throws IOException {
        ObjectNode r = (ObjectNode) Json.STRICT.readTree(recipe.toFile());
        r.put("teacher", teacher.toAbsolutePath().toString());
        r.putObject("data").put("prepared", data.toAbsolutePath().toString());
        r.put("eval_tokens", 0);
        r.put("checkpoint_interval", checkpoint ? steps : 0);
        r.put("keep_checkpoints", 1);
        for (JsonNode s : r.withArray("stages")) {
            ObjectNode stage = (ObjectNode) s;
            stage.remove("tokens");
            stage.put("steps", steps);
            stage.put("eval_interval", 0);
            if (stage.has("warmup_steps")) stage.put("warmup_steps", 1);
        }
        Files.writeString(out, Json.PRETTY.writeValueAsString(r));
        return out;
    }

    /** Runs the cut recipe, timing each stage's steps after {@code warmup}. */
    static List<StageResult> run(String model, Path recipe, Path out, int warmup) {
        Recorder recorder = new Recorder();
        Plugins plugins = new Plugins(List.<Device>of(recorder), List.copyOf(Plugins.discover().converters()));
        Map<String, List<Double>> times = new LinkedHashMap<>();
        Map<String, long[]> memory = new LinkedHashMap<>();
        long[] last = {System.nanoTime()};
        String[] lastStage = {""};
        Trainer.Result result = Trainer.run(new Trainer.Options(recipe, out, false, true), plugins, new TrainingListener() {
            @Override
            public void note(String message) {
                System.out.println("   " + message);
            }

            @Override
            public void step(StepReport r) {
                long now = System.nanoTime();
                if (!r.stage().equals(lastStage[0])) {
                    lastStage[0] = r.stage();
                    last[0] = now;
                    return;                             // the first step of a stage carries its setup
                }
                boolean profiled = r.step() == r.steps();      // the last step of a stage runs with every launch timed
                if (r.step() > warmup && !profiled) times.computeIfAbsent(r.stage(), k -> new ArrayList<>()).add((now - last[0]) / 1e6);
                if (profiled) printBreakdown(r.stage(), (now - last[0]) / 1e6, recorder.backend);
                else if (r.step() == r.steps() - 1) gsat2r.gpu.ops.KernelTimes.enableAll(recorder.backend.gpu(), true);
                last[0] = now;
                long[] m = memory.computeIfAbsent(r.stage(), k -> new long[2]);
                Map<String, Long> stats = recorder.backend.memoryStats();
                var info = recorder.backend.gpu().context().memoryInfo();
                m[0] = Math.max(m[0], stats.get("peak_in_use_bytes"));
                m[1] = Math.max(m[1], info.total() - info.free());
                System.out.printf(Locale.ROOT, "   %s step %d: loss %.4f%n", r.stage(), r.step(), r.loss());
            }

            @Override
            public void checkpoint(Path dir, long globalStep) {
                try {
                    System.out.printf(Locale.ROOT, "   checkpoint %s: %.2f GiB%n", dir, Files.size(dir.resolve("state.safetensors")) / GIB);
                } catch (IOException e) {
                    System.out.println("   checkpoint " + dir);
                }
            }
        });
        JsonNode resolved;
        try {
            resolved = Json.STRICT.readTree(recipe.toFile());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        ModelDirectory teacherDir = ModelDirectory.open(Path.of(resolved.get("teacher").asText()));
        ModelDirectory student = ModelDirectory.open(out.resolve("student-init"));
        List<StageResult> rows = new ArrayList<>();
        int micro = resolved.path("micro_batch").asInt(resolved.path("batch").asInt()), T = resolved.get("seq_len").asInt();
        int batch = resolved.get("batch").asInt();
        for (JsonNode s : resolved.get("stages")) {
            String name = s.path("name").asText(s.get("type").asText());
            List<Double> t = times.getOrDefault(name, List.of(Double.NaN));
            double[] ms = t.stream().mapToDouble(Double::doubleValue).toArray();
            double med = DistillBench.median(ms);
            double tokens = (double) batch * T;
            double flops = tokens * flopsPerToken(teacherDir.teacherConfig(), student.studentConfig(), s.get("type").asText(),
                    s.path("trainable").asText(s.get("type").asText().equals("attention-transfer") ? "attention" : "all"), T);
            long[] m = memory.getOrDefault(name, new long[2]);
            rows.add(new StageResult(model, name, s.path("trainable").asText("default"), micro, T, med, tokens / (med / 1e3),
                    flops / (med / 1e3) / (PEAK_TFLOPS * 1e12), m[0], m[1]));
        }
        System.out.println("   final student: " + result.finalDir());
        return rows;
    }

    /** Every launch of the stage's last step, timed one by one with events: where a step's time goes. */
    static void printBreakdown(String stage, double wallMs, CudaGsaBackend backend) {
        gsat2r.gpu.ops.KernelTimes.enableAll(backend.gpu(), false);
        Map<String, double[]> t = gsat2r.gpu.ops.KernelTimes.drain();
        double total = t.values().stream().mapToDouble(x -> x[0]).sum();
        System.out.printf(Locale.ROOT, "   breakdown of %s's last step: %.1f ms on the device in %,d launches (%.1f ms wall, launches serialized)%n",
                stage, total, (long) t.values().stream().mapToDouble(x -> x[1]).sum(), wallMs);
        t.entrySet().stream().sorted((a, b) -> Double.compare(b.getValue()[0], a.getValue()[0])).limit(25).forEach(e ->
                System.out.printf(Locale.ROOT, "     %8.2f ms %5.1f%% %6d x  %s%n", e.getValue()[0], 100 * e.getValue()[0] / total, (long) e.getValue()[1], e.getKey()));
    }

    /** Model FLOPs per token of one training step of a stage (see the class comment). */
    static double flopsPerToken(LlamaConfig t, GsaConfig s, String type, String trainable, int T) {
        double teacherFwd = DistillBench.teacherForwardFlops(t, 1, T) / T;
        long d = s.hiddenSize();
        double mixer = d * (double) (s.keyDim() + s.kvKeyDim() + s.kvValueDim() + (long) s.numKvHeads() * s.numSlots() + s.valueDim());
        double gsaOp = 8.0 * s.numHeads() * s.headKDim() * s.numSlots();
        double layerWeights = mixer + 3.0 * d * s.intermediateSize();
        double all = s.numHiddenLayers() * layerWeights + d * (double) s.vocabSize();
        int gsaLayers = s.gsaLayerCount();
        if (type.equals("attention-transfer")) {
            double teacherToLastLayer = teacherFwd - 2.0 * d * t.vocabSize();
            return teacherToLastLayer + gsaLayers * 3 * (2 * mixer + gsaOp);
        }
        double trained = switch (trainable) {
            case "all" -> all;
            case "attention" -> gsaLayers * mixer;
            case "gates" -> gsaLayers * d * (double) s.numKvHeads() * s.numSlots();
            default -> 0;                                  // lora:R: the factors' products are rank R, negligible at these sizes
        };
        double student = 2 * all + 2 * all + 2 * trained + gsaLayers * 3 * gsaOp;
        return (type.equals("distill") ? teacherFwd : 0) + student;
    }

    /** The CUDA device, keeping the backend it opened (for its memory statistics). */
    static final class Recorder implements Device {
        private final CudaDevice cuda = new CudaDevice();
        CudaGsaBackend backend;

        @Override
        public String name() {
            return cuda.name();
        }

        @Override
        public List<Precision> precisions() {
            return cuda.precisions();
        }

        @Override
        public LanguageModel load(ModelDirectory dir, Precision precision, int index) {
            return cuda.load(dir, precision, index);
        }

        @Override
        public TrainingBackend openTraining(BackendRequest request) {
            backend = (CudaGsaBackend) cuda.openTraining(request);
            return backend;
        }

        @Override
        public boolean plansMemory() {
            return true;
        }

        @Override
        public Optional<MemoryPlan> plan(MemoryPlan.Request request) {
            return cuda.plan(request);
        }
    }
}
