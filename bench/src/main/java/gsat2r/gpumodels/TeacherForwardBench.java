package gsat2r.gpumodels;

import gsat2r.core.model.Precision;
import gsat2r.gpumodels.DeviceBatch;
import gsat2r.gpumodels.LlamaModel;
import gsat2r.core.config.LlamaConfig;
import gsat2r.core.data.SplitMix64;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.Gpu;
import gsat2r.bench.DistillBench;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * Times the teacher's batched forward pass on the GPU, logits included, as the distill step runs it
 * (no hooks): the teacher-only number that the step's time is compared with. Prints the median of
 * {@code steps} timed passes after {@code warmup}, tokens/s and model TFLOP/s
 * ({@link DistillBench#teacherForwardFlops}), per shape.
 *
 * <pre>
 * java -cp ... gsat2r.bench.TeacherForwardBench TEACHER_DIR 8x512,16x512 [steps] [warmup]
 * </pre>
 * Precision from {@code -Dgsat2r.bench.precision} (bf16 by default).
 */
public final class TeacherForwardBench {
    private TeacherForwardBench() {}

    public static void main(String[] args) {
        if (args.length < 2) {
            System.err.println("usage: TeacherForwardBench TEACHER_DIR BxT[,BxT...] [steps] [warmup]");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        int steps = args.length > 2 ? Integer.parseInt(args[2]) : 20, warmup = args.length > 3 ? Integer.parseInt(args[3]) : 3;
        LlamaConfig c = LlamaConfig.load(dir);
        LlamaModel.checkSupported(c, dir);
        gsat2r.core.model.Precision precision = gsat2r.bench.DistillBench.PRECISION;
        try (Gpu gpu = Gpu.open(); LlamaModel teacher = LlamaModel.load(gpu, gsat2r.core.model.ModelDirectory.open(dir), ComputeType.of(precision))) {
            SplitMix64 rng = new SplitMix64(7);
            for (String shape : args[1].split(",")) {
                String[] bt = shape.split("x");
                int B = Integer.parseInt(bt[0]), T = Integer.parseInt(bt[1]);
                double[] ms = new double[steps];
                for (int s = 0; s < warmup + steps; s++) {
                    int[] ids = new int[B * T];
                    for (int i = 0; i < ids.length; i++) ids[i] = rng.nextInt(c.vocabSize());
                    try (DeviceBatch b = DeviceBatch.ofIds(gpu, ids, B, T, c.vocabSize())) {
                        gpu.synchronize();
                        long t0 = System.nanoTime();
                        try (DeviceBuffer logits = teacher.forward(b, null, true)) {
                            gpu.synchronize();
                            if (s >= warmup) ms[s - warmup] = (System.nanoTime() - t0) / 1e6;
                        }
                    }
                }
                double med = DistillBench.median(ms);
                double flops = DistillBench.teacherForwardFlops(c, B, T);
                System.out.printf(Locale.ROOT, "teacher forward %s %s B=%d T=%d: median %.2f ms (min %.2f, max %.2f) = %,.0f tokens/s, %.1f TFLOP/s%n",
                        dir.getFileName(), precision, B, T, med, Arrays.stream(ms).min().orElse(0), Arrays.stream(ms).max().orElse(0), B * T / (med / 1e3), flops / (med / 1e3) / 1e12);
            }
        }
    }
}
