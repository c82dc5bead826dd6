package gsat2r.gpumodels;

import gsat2r.core.model.Precision;
import gsat2r.converter.GateInit;
import gsat2r.core.data.SplitMix64;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.llama.LlamaModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Whole models on the GPU against the CPU references: the teacher's logits against {@link LlamaModel}
 * (transformers to 4e-7) on the demo teacher kjv-llama and a Mistral variant with a window, the GSA
 * student's against {@link GsaModel}, in fp32 (1e-5) and bf16 (2e-2); and decoding (prefill, then token by
 * token: the KV ring, the recurrent GSA step) against the same models' full forward.
 */
@Tag("gpu")
class GpuModelsGpuTest {

    @TempDir
    static Path models;
    static Path llama, mistral, student, hybrid;

    @BeforeAll
    static void models() {
        llama = TestModels.kjvTeacher();
        mistral = TestModels.mistralTeacher(models.resolve("mistral"), 40);
        student = TestModels.student(llama, models.resolve("student"), 64, GateInit.RANDOM, List.of());
        hybrid = TestModels.student(mistral, models.resolve("hybrid"), 32, GateInit.KEY_POOL, List.of(2));
    }

    static int[] ids(int n, long seed) {
        SplitMix64 r = new SplitMix64(seed);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = r.nextInt(4096);
        return ids;
    }

    @Test
    void teacherLogitsMatchLlamaModel() {
        for (Path dir : List.of(llama, mistral)) {
            LlamaModel cpu = LlamaModel.load(dir);
            int[] ids = ids(150, 3);
            float[][] ref = cpu.forward(ids);
            for (Precision p : Precision.values()) {
                double tol = p == Precision.FP32 ? 1e-5 : 2e-2;
                try (LanguageModel gpu = GpuLanguageModels.load(gsat2r.core.model.ModelDirectory.open(dir), p, 0)) {
                    check(p + " teacher " + dir.getFileName() + " logits", gpu.forward(ids), ref, tol);
                    check(p + " teacher " + dir.getFileName() + " decode", decode(gpu, ids, 100), ref, tol);
                }
            }
        }
    }

    @Test
    void studentLogitsMatchGsaModel() {
        for (Path dir : List.of(student, hybrid)) {
            GsaModel cpu = GsaModel.load(dir);
            int[] ids = ids(150, 4);
            float[][] ref = cpu.forward(ids);
            for (Precision p : Precision.values()) {
                double tol = p == Precision.FP32 ? 1e-5 : 2e-2;
                try (LanguageModel gpu = GpuLanguageModels.load(gsat2r.core.model.ModelDirectory.open(dir), p, 0)) {
                    check(p + " student " + dir.getFileName() + " logits", gpu.forward(ids), ref, tol);
                    check(p + " student " + dir.getFileName() + " decode", decode(gpu, ids, 70), ref, tol);
                }
            }
        }
    }

    /** Rows {@code prefix-1 ..} of the logits from a decoder: prefill {@code prefix} tokens, then one at a time. */
    static float[][] decode(LanguageModel m, int[] ids, int prefix) {
        float[][] out = new float[ids.length][];
        LanguageModel.Decoder d = m.newDecoder();
        out[prefix - 1] = d.prefill(java.util.Arrays.copyOf(ids, prefix));
        for (int t = prefix; t < ids.length; t++) out[t] = d.next(ids[t]);
        return out;
    }

    /** Relative L2 over the rows both have (null rows of {@code got} are skipped). */
    static void check(String name, float[][] got, float[][] ref, double tol) {
        double num = 0, den = 0;
        for (int t = 0; t < ref.length; t++) {
            if (got[t] == null) continue;
            for (int j = 0; j < ref[t].length; j++) {
                double d = (double) got[t][j] - ref[t][j];
                num += d * d;
                den += (double) ref[t][j] * ref[t][j];
            }
        }
        double err = Math.sqrt(num / den);
        System.out.printf("GPU-METRIC %s %.3e %.0e%n", name.replace(' ', '_'), err, tol);
        assertTrue(err <= tol, name + ": relative L2 " + err + " > " + tol);
    }
}
