package gsat2r.gpumodels;

import gsat2r.api.Session;
import gsat2r.api.T2rModel;
import gsat2r.converter.GateInit;
import gsat2r.core.generate.Sampler;
import gsat2r.core.model.BatchDecoder;
import gsat2r.core.model.ContinuationScorer;
import gsat2r.core.model.Continuations;
import gsat2r.core.model.DecoderState;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.Precision;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.llama.LlamaModel;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Decoding and scoring of the GPU models against their references: the batched step ({@link DecodeRuntime}) against
 * each decoder's own {@code next} while sequences join and leave (bit for bit where the kernels sum the same way at any
 * batch: the GSA students at up to 16 rows, a kept attention layer included while its contexts are short enough for
 * split-KV attention to cut them into the same splits at every batch; a stated tolerance where split-KV attention or
 * cuBLASLt cut the sums differently); the step against the CPU models' decoding (fp32 1e-5, bf16 2e-2); the graph replay against the kernels
 * launched one by one (bit for bit) and the fused kernels against the op-by-op step; saved states restored into GPU
 * decoders (bit for bit) and into the CPU models' decoders (the host format is shared); {@code prefillAll} against
 * the forward pass; and batched scoring against the CPU's {@link ContinuationScorer}.
 */
@Tag("gpu")
class GpuDecodingGpuTest {

    @TempDir
    static Path models;
    static Path llama, mistral, mistral64, mistral100, student, hybrid, hybrid64, conv, kv;

    @BeforeAll
    static void models() {
        llama = TestModels.kjvTeacher();
        mistral = TestModels.mistralTeacher(models.resolve("mistral"), 40);
        mistral64 = TestModels.mistralTeacher(models.resolve("mistral64"), 64);
        mistral100 = TestModels.mistralTeacher(models.resolve("mistral100"), 100);
        student = TestModels.student(llama, models.resolve("student"), 64, GateInit.RANDOM, List.of());
        hybrid = TestModels.student(mistral, models.resolve("hybrid"), 32, GateInit.KEY_POOL, List.of(2));
        hybrid64 = TestModels.student(mistral64, models.resolve("hybrid64"), 32, GateInit.KEY_POOL, List.of(2));
        conv = TestModels.convStudent(llama, models.resolve("conv"), 64, 4);
        kv = TestModels.kvHeadsStudent(llama, models.resolve("kv4"), 64, 4);
    }

    @AfterEach
    void properties() {
        System.clearProperty("gsat2r.decode.graphs");
        System.clearProperty("gsat2r.decode.fused");
    }

    static LanguageModel gpu(Path dir, Precision p) {
        return GpuLanguageModels.load(ModelDirectory.open(dir), p, 0);
    }

    static LanguageModel cpu(Path dir) {
        return ModelDirectory.open(dir).isStudent() ? GsaModel.load(dir) : LlamaModel.load(dir);
    }

    static int[] ids(Random r, int n, int vocab) {
        int[] x = new int[n];
        for (int i = 0; i < n; i++) x[i] = r.nextInt(vocab);
        return x;
    }

    // ------------------------------------------------------------------ batched against alone

    @Test
    void theStudentsBatchedStepIsEachDecoderAloneBitForBit() {
        for (Path dir : List.of(student, conv, kv)) {
            try (LanguageModel m = gpu(dir, Precision.BF16)) {
                double err = batchedAgainstAlone(m, 9, 30);
                assertEquals(0.0, err, "the fused steps do not depend on the batch: " + dir.getFileName());
            }
        }
    }

    @Test
    void batchedStepsOfEveryModelMatchEachDecoderAlone() {
        for (Path dir : List.of(llama, mistral, student, hybrid, conv, kv)) {
            for (Precision p : Precision.values()) {
                try (LanguageModel m = gpu(dir, p)) {
                    double tol = p == Precision.FP32 ? 1e-5 : 1e-2;
                    metric(p + "_batched_vs_alone_" + dir.getFileName(), batchedAgainstAlone(m, 6, 25), tol);
                    // A batch past the fused kernels' 16 rows (cuBLASLt, padded to a bucket).
                    metric(p + "_batched40_vs_alone_" + dir.getFileName(), batchedAgainstAlone(m, 40, 6), tol);
                }
            }
        }
    }

    /**
     * {@code n} sequences (prompts of 1 to 70 tokens, one joining late) stepped together for {@code steps} steps, each
     * sitting out every fourth step, against twins stepped alone; returns the worst relative L2 error of a row.
     */
    static double batchedAgainstAlone(LanguageModel m, int n, int steps) {
        Random rnd = new Random(11);
        int[] lengths = {1, 3, 17, 40, 70, 2, 64, 65};
        List<LanguageModel.Decoder> batched = new ArrayList<>(), alone = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            batched.add(m.newDecoder());
            alone.add(m.newDecoder());
        }
        BatchDecoder step = m.batchDecoder();
        double worst = 0;
        for (int s = 0; s < steps; s++) {
            List<LanguageModel.Decoder> members = new ArrayList<>();
            List<Integer> who = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int joins = i == n - 1 ? Math.min(5, steps - 1) : 0;
                if (s == joins) {
                    int[] prompt = ids(rnd, lengths[i % lengths.length], m.vocabSize());
                    assertArrayEquals(alone.get(i).prefill(prompt), batched.get(i).prefill(prompt), "prefill " + i);
                }
                if (s >= joins && (s + i) % 4 != 0) {
                    members.add(batched.get(i));
                    who.add(i);
                }
            }
            int[] tokens = new int[members.size()];
            for (int j = 0; j < tokens.length; j++) tokens[j] = rnd.nextInt(m.vocabSize());
            BatchDecoder.Step out = step.next(members, tokens);
            for (int j = 0; j < tokens.length; j++) {
                int i = who.get(j);
                float[] ref = alone.get(i).next(tokens[j]);
                worst = Math.max(worst, relative(out.logits()[j], ref));
                assertEquals(alone.get(i).position(), batched.get(i).position());
            }
        }
        return worst;
    }

    @Test
    void aWrongRowFailsAloneAndTheRestAreStepped() {
        try (LanguageModel m = gpu(student, Precision.BF16); LanguageModel other = gpu(llama, Precision.BF16)) {
            LanguageModel.Decoder good = m.newDecoder(), alone = m.newDecoder(), outside = m.newDecoder(), foreign = other.newDecoder();
            for (LanguageModel.Decoder d : List.of(good, alone, outside, foreign)) d.prefill(new int[] {5, 6, 7});
            BatchDecoder.Step step = m.batchDecoder().next(List.of(good, outside, foreign), new int[] {9, m.vocabSize(), 9});
            assertArrayEquals(alone.next(9), step.logits()[0]);
            assertTrue(step.failures()[1].getMessage().contains("outside the vocabulary"), step.failures()[1].getMessage());
            assertNull(step.logits()[1]);
            assertTrue(step.failures()[2].getMessage().contains("not one of this GPU model's"), step.failures()[2].getMessage());
            assertEquals(3, outside.position());
            assertEquals(3, foreign.position());
            assertThrows(IllegalArgumentException.class, () -> m.batchDecoder().next(List.of(good, good), new int[] {1, 2}));
        }
    }

    // ------------------------------------------------------------------ against the CPU models

    @Test
    void stepsMatchTheCpuModelsDecoding() {
        for (Path dir : List.of(llama, mistral, student, hybrid, conv, kv)) {
            LanguageModel ref = cpu(dir);
            Random rnd = new Random(3);
            int[] prompt = ids(rnd, 50, ref.vocabSize()), next = ids(rnd, 60, ref.vocabSize());   // past Mistral's window of 40
            for (Precision p : Precision.values()) {
                try (LanguageModel m = gpu(dir, p)) {
                    LanguageModel.Decoder a = m.newDecoder(), b = ref.newDecoder();
                    double worst = relative(a.prefill(prompt), b.prefill(prompt));
                    for (int id : next) worst = Math.max(worst, relative(a.next(id), b.next(id)));
                    metric(p + "_steps_vs_cpu_" + dir.getFileName(), worst, p == Precision.FP32 ? 1e-5 : 2e-2);
                }
            }
        }
    }

    /**
     * A student with short convolutions decodes with the convolutions' last inputs in its state: its prompts (the
     * multi-token pass) and its steps (the batched step's convolution kernel) follow the forward pass, a state saved
     * on the GPU goes on the same after a restore and on the CPU, the CPU's goes on on the GPU, and a batched step
     * follows the forward pass too.
     */
    @Test
    void aStudentWithShortConvolutionsDecodesWithItsConvolutionRows() {
        LanguageModel ref = cpu(conv);
        try (LanguageModel m = gpu(conv, Precision.FP32)) {
            int[] ids = ids(new Random(23), 40, m.vocabSize());
            float[][] full = m.forward(ids);
            LanguageModel.Decoder d = m.newDecoder();
            assertEquals("GpuStudentDecoder", d.getClass().getSimpleName());
            double worst = relative(d.prefill(Arrays.copyOf(ids, 30)), full[29]);
            for (int t = 30; t < 35; t++) worst = Math.max(worst, relative(d.next(ids[t]), full[t]));
            float[][] rest = d.prefillAll(Arrays.copyOfRange(ids, 35, 40));
            for (int t = 0; t < 5; t++) worst = Math.max(worst, relative(rest[t], full[35 + t]));
            metric("fp32_conv_decode_vs_forward", worst, 1e-5);

            gsat2r.core.model.DecoderState saved = d.saveState();
            assertTrue(d.stateBytes() > 0);
            float[] after = d.next(ids[0]);
            d.restoreState(saved);
            assertEquals(40, d.position());
            assertArrayEquals(after, d.next(ids[0]), "a restored state goes on bit for bit");
            LanguageModel.Decoder onCpu = ref.newDecoder();
            onCpu.restoreState(saved);
            metric("fp32_conv_state_gpu_to_cpu", relative(onCpu.next(ids[0]), after), 1e-5);
            LanguageModel.Decoder fromCpu = ref.newDecoder(), onGpu = m.newDecoder();
            fromCpu.prefill(ids);
            onGpu.restoreState(fromCpu.saveState());
            metric("fp32_conv_state_cpu_to_gpu", relative(onGpu.next(ids[1]), fromCpu.next(ids[1])), 1e-5);

            LanguageModel.Decoder e = m.newDecoder();
            e.prefill(Arrays.copyOf(ids, 31));
            BatchDecoder.Step step = m.batchDecoder().next(List.of(e), new int[] {ids[31]});
            metric("fp32_conv_batch_vs_forward", relative(step.logits()[0], full[31]), 1e-5);
            assertEquals(32, e.position());
        }
    }

    // ------------------------------------------------------------------ launch forms

    @Test
    void graphReplaysEqualLaunchesOneByOneAndTheFusedStepTheOpByOneStep() {
        for (Path dir : List.of(student, hybrid, llama, conv, kv)) {
            float[][] graphs = run(dir, null, null), eager = run(dir, "false", null), byOps = run(dir, null, "false");
            for (int i = 0; i < graphs.length; i++) assertArrayEquals(eager[i], graphs[i], "graph replay against eager launches, row " + i);
            double worst = 0;
            for (int i = 0; i < graphs.length; i++) worst = Math.max(worst, relative(graphs[i], byOps[i]));
            metric("bf16_fused_vs_op_by_op_" + dir.getFileName(), worst, 1e-2);
        }
    }

    /** Four sequences, 12 steps, with the decode system properties set as given (null: default). */
    static float[][] run(Path dir, String graphs, String fused) {
        if (graphs != null) System.setProperty("gsat2r.decode.graphs", graphs);
        if (fused != null) System.setProperty("gsat2r.decode.fused", fused);
        try (LanguageModel m = gpu(dir, Precision.BF16)) {
            Random rnd = new Random(5);
            List<LanguageModel.Decoder> ds = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                LanguageModel.Decoder d = m.newDecoder();
                d.prefill(ids(rnd, 3 + 20 * i, m.vocabSize()));
                ds.add(d);
            }
            List<float[]> rows = new ArrayList<>();
            for (int s = 0; s < 12; s++) rows.addAll(Arrays.asList(m.batchDecoder().next(ds, ids(rnd, 4, m.vocabSize())).logits()));
            return rows.toArray(float[][]::new);
        } finally {
            System.clearProperty("gsat2r.decode.graphs");
            System.clearProperty("gsat2r.decode.fused");
        }
    }

    // ------------------------------------------------------------------ states

    @Test
    void savedStatesRestoreIntoGpuDecodersBitForBitAndIntoTheCpuModels() {
        for (Path dir : List.of(student, hybrid, mistral, conv, kv)) {
            LanguageModel ref = cpu(dir);
            for (Precision p : Precision.values()) {
                try (LanguageModel m = gpu(dir, p)) {
                    Random rnd = new Random(9);
                    LanguageModel.Decoder a = m.newDecoder();
                    a.prefill(ids(rnd, 70, m.vocabSize()));
                    for (int i = 0; i < 3; i++) a.next(rnd.nextInt(m.vocabSize()));
                    DecoderState saved = a.saveState();
                    int[] more = ids(rnd, 6, m.vocabSize());
                    LanguageModel.Decoder b = m.newDecoder(), c = ref.newDecoder();
                    b.restoreState(saved);
                    c.restoreState(saved);
                    assertEquals(saved.position(), b.position());
                    double worst = 0;
                    for (int id : more) {
                        float[] x = a.next(id);
                        assertArrayEquals(x, b.next(id), "a restored GPU decoder continues as the one saved");
                        worst = Math.max(worst, relative(x, c.next(id)));
                    }
                    metric(p + "_restored_into_cpu_" + dir.getFileName(), worst, p == Precision.FP32 ? 1e-5 : 2e-2);
                    // And a CPU state into a GPU decoder.
                    LanguageModel.Decoder d = m.newDecoder();
                    d.restoreState(c.saveState());
                    metric(p + "_cpu_state_into_gpu_" + dir.getFileName(), relative(d.next(7), c.next(7)), p == Precision.FP32 ? 1e-5 : 2e-2);
                }
            }
        }
    }

    /** The embedding API over a GPU model: a session saved on the GPU goes on in a CPU session, and scores alike. */
    @Test
    void aSessionOnTheGpuContinuesOnTheCpuAndScoresAlike() {
        for (Path dir : List.of(student, hybrid, llama)) {
            try (T2rModel onGpu = T2rModel.of(gpu(dir, Precision.FP32), null); T2rModel onCpu = T2rModel.load(dir)) {
                Random rnd = new Random(23);
                Session g = onGpu.newSession(), c = onCpu.newSession();
                int[] prompt = ids(rnd, 90, onGpu.vocabSize());
                double err = relative(g.append(prompt), c.append(prompt));
                for (int i = 0; i < 4; i++) assertEquals(c.step(Sampler.greedy()), g.step(Sampler.greedy()));
                Path file = models.resolve(dir.getFileName() + "-gpu.state");
                g.save(file);
                Session restored = onCpu.restore(file);
                err = Math.max(err, relative(restored.append(5, 6), g.append(5, 6)));
                c.append(5, 6);
                int[][] choices = {ids(rnd, 8, onGpu.vocabSize()), ids(rnd, 1, onGpu.vocabSize())};
                Continuations.Score[] sg = g.score(choices), sc = c.score(choices);
                for (int i = 0; i < choices.length; i++) {
                    err = Math.max(err, Math.abs(sg[i].logLikelihood() - sc[i].logLikelihood()) / Math.abs(sc[i].logLikelihood()));
                }
                // And back: a state saved on the CPU goes on in a GPU session.
                Path back = models.resolve(dir.getFileName() + "-cpu.state");
                c.save(back);
                err = Math.max(err, relative(onGpu.restore(back).append(9), c.append(9)));
                metric("fp32_api_session_gpu_vs_cpu_" + dir.getFileName(), err, 1e-5);
            }
        }
    }

    /** Closing a session gives its device memory back at once, and the session refuses further use. */
    @Test
    void closingASessionGivesItsDeviceMemoryBack() {
        try (T2rModel api = T2rModel.of(gpu(hybrid, Precision.BF16), null)) {
            var allocator = ((GpuLanguageModels.Student) api.model()).gpu().allocator();
            int[] prompt = ids(new Random(29), 300, api.vocabSize());
            try (Session warm = api.newSession()) {
                warm.append(prompt);         // the runtime's own buffers, made once
            }
            long before = allocator.stats().inUseBytes();
            Session s = api.newSession();
            s.append(prompt);
            s.step(Sampler.greedy());
            long held = allocator.stats().inUseBytes();
            s.close();
            assertTrue(held > before, "a session holds device memory: " + held + " > " + before);
            assertEquals(before, allocator.stats().inUseBytes(), "and gives all of it back when closed");
            assertEquals("the session is closed", assertThrows(gsat2r.core.T2rException.class, () -> s.append(1)).getMessage());
            s.close();
            Session outlives = api.newSession();
            outlives.append(prompt);
            api.close();
            outlives.close();   // after the model: nothing left to give back, and no error
        }
    }

    @Test
    void aPromptAfterARestoredPrefixMatchesOneWholePrefill() {
        for (Path dir : List.of(student, hybrid, mistral, kv)) {
            for (Precision p : Precision.values()) {
                try (LanguageModel m = gpu(dir, p)) {
                    int[] prompt = ids(new Random(17), 150, m.vocabSize());
                    LanguageModel.Decoder whole = m.newDecoder(), cached = m.newDecoder(), prefix = m.newDecoder();
                    float[] a = whole.prefill(prompt);
                    prefix.prefill(Arrays.copyOf(prompt, 128));        // a prefix-cache boundary (multiple of 64)
                    cached.restoreState(prefix.saveState());
                    float[] b = cached.prefill(Arrays.copyOfRange(prompt, 128, 150));
                    double err = Math.max(relative(b, a), relative(cached.next(3), whole.next(3)));
                    metric(p + "_prefill_from_state_vs_one_call_" + dir.getFileName(), err, p == Precision.FP32 ? 1e-5 : 2e-2);
                }
            }
        }
    }

    /**
     * Prompt pieces at every kind of start: off a multiple of 64 (decode kernel up to the next one, flash forward after
     * it), across a window's filling and behind a full window of 64 (flash forward through the kept rows in position
     * order; a teacher's layers and a hybrid's kept one), a window of 100 from 64 kept rows on, behind a full window of
     * 40 (decode kernel throughout); each piece's rows against the forward pass.
     */
    @Test
    void promptPiecesAtAnyPositionMatchTheForwardPass() {
        int[] cuts = {0, 40, 130, 230, 300};
        for (Path dir : List.of(llama, mistral64, hybrid64, mistral100, mistral, hybrid)) {
            for (Precision p : Precision.values()) {
                try (LanguageModel m = gpu(dir, p)) {
                    int[] ids = ids(new Random(19), cuts[cuts.length - 1], m.vocabSize());
                    float[][] full = m.forward(ids);
                    LanguageModel.Decoder d = m.newDecoder();
                    double worst = 0;
                    for (int c = 0; c + 1 < cuts.length; c++) {
                        float[][] rows = d.prefillAll(Arrays.copyOfRange(ids, cuts[c], cuts[c + 1]));
                        for (int t = 0; t < rows.length; t++) worst = Math.max(worst, relative(rows[t], full[cuts[c] + t]));
                    }
                    assertEquals(cuts[cuts.length - 1], d.position());
                    metric(p + "_prompt_pieces_vs_forward_" + dir.getFileName(), worst, p == Precision.FP32 ? 1e-5 : 2e-2);
                }
            }
        }
    }

    @Test
    void aStateOfAnotherModelIsRefusedInOneLine() {
        try (LanguageModel s = gpu(student, Precision.BF16); LanguageModel t = gpu(llama, Precision.BF16)) {
            LanguageModel.Decoder d = t.newDecoder();
            d.prefill(new int[] {1, 2, 3});
            var e = assertThrows(gsat2r.core.T2rException.class, () -> s.newDecoder().restoreState(d.saveState()));
            assertTrue(e.getMessage().startsWith("layer 0: "), e.getMessage());
        }
    }

    @Test
    void prefillAllFromAStateMatchesTheForwardPass() {
        for (Path dir : List.of(llama, student, hybrid)) {
            try (LanguageModel m = gpu(dir, Precision.FP32)) {
                Random rnd = new Random(13);
                int[] ids = ids(rnd, 90, m.vocabSize());
                float[][] full = m.forward(ids);
                LanguageModel.Decoder d = m.newDecoder();
                d.prefill(Arrays.copyOf(ids, 60));
                float[][] rows = d.prefillAll(Arrays.copyOfRange(ids, 60, 90));
                double worst = 0;
                for (int t = 0; t < 30; t++) worst = Math.max(worst, relative(rows[t], full[60 + t]));
                metric("fp32_prefill_all_vs_forward_" + dir.getFileName(), worst, 1e-5);
                assertEquals(90, d.position());
            }
        }
    }

    // ------------------------------------------------------------------ scoring

    @Test
    void batchedScoringMatchesTheCpuScorer() {
        for (Path dir : List.of(llama, mistral, student, hybrid)) {
            LanguageModel ref = cpu(dir);
            List<Continuations> batch = items(new Random(21), ref.vocabSize(), 9);
            List<Continuations.Score[]> want = ContinuationScorer.score(ref, batch);
            for (Precision p : Precision.values()) {
                try (LanguageModel m = gpu(dir, p)) {
                    List<Continuations.Score[]> got = m.scoreContinuations(batch);
                    double worst = 0;
                    int flags = 0, total = 0;
                    for (int i = 0; i < batch.size(); i++) {
                        for (int c = 0; c < want.get(i).length; c++) {
                            double w = want.get(i)[c].logLikelihood(), g = got.get(i)[c].logLikelihood();
                            worst = Math.max(worst, Math.abs(g - w) / Math.max(1, Math.abs(w)));
                            flags += want.get(i)[c].greedy() != got.get(i)[c].greedy() ? 1 : 0;
                            total++;
                        }
                    }
                    metric(p + "_scores_vs_cpu_" + dir.getFileName(), worst, p == Precision.FP32 ? 1e-5 : 2e-2);
                    if (p == Precision.FP32) assertEquals(0, flags, "greedy flags of " + total + " continuations");
                }
            }
        }
    }

    /** Items of a context of 1 to 100 tokens and 1 to 4 continuations of 1 to 30 tokens. */
    static List<Continuations> items(Random rnd, int vocab, int n) {
        List<Continuations> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            List<int[]> choices = new ArrayList<>();
            for (int c = 0; c < 1 + i % 4; c++) choices.add(ids(rnd, 1 + rnd.nextInt(30), vocab));
            out.add(new Continuations(ids(rnd, 1 + rnd.nextInt(100), vocab), choices));
        }
        return out;
    }

    // ------------------------------------------------------------------ helpers

    static double relative(float[] got, float[] ref) {
        double num = 0, den = 0;
        for (int j = 0; j < ref.length; j++) {
            if (!Float.isFinite(got[j])) return Double.POSITIVE_INFINITY;
            double d = (double) got[j] - ref[j];
            num += d * d;
            den += (double) ref[j] * ref[j];
        }
        return Math.sqrt(num / den);
    }

    static void metric(String name, double err, double tol) {
        System.out.printf("GPU-METRIC %s %.3e %.0e%n", name, err, tol);
        assertTrue(err <= tol, name + ": " + err + " > " + tol);
    }
}
