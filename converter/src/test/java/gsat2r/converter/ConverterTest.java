package gsat2r.converter;

import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.config.LlamaConfig;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.core.model.llama.LlamaModel;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.Floats;
import gsat2r.core.safetensors.HeapTensor;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.ShardedSafeTensorsWriter;
import gsat2r.core.testing.Fixtures;
import gsat2r.core.testing.Numerics;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Conversion of the transformers-made tiny teachers of core's fixtures: hf-tiny-mistral (fp32, 1 kv
 * head, head_dim 32 ≠ 96/4, sliding window 16, untied, with a tokenizer) and hf-tiny-llama (bf16, GQA,
 * tied, llama3 RoPE scaling).
 */
class ConverterTest {
    @TempDir
    Path tmp;

    private Path teacher(String fixture) {
        return Fixtures.copy(fixture, tmp.resolve("teacher-" + fixture));
    }

    @Test
    void mistralStudentReusesEveryTeacherTensorBitExactly() throws IOException {
        Path teacher = teacher("hf-tiny-mistral"), out = tmp.resolve("student");
        Files.writeString(teacher.resolve("chat_template.jinja"), "{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}");
        Files.write(teacher.resolve("tokenizer.model"), new byte[] {10, 3, 'a', 'b', 'c'});
        ConversionReport r = Converter.convert(teacher, out, ConvertOptions.defaults(), false);
        GsaConfig c = GsaConfig.load(out);
        assertEquals(4, c.numHeads());
        assertEquals(1, c.numKvHeads());
        assertEquals(64, c.numSlots());
        assertEquals(32, c.headKDim(), "head_dim 32 kept through expand_k = 128/96");
        assertEquals(32, c.headVDim());
        assertEquals(1e-6, c.normEps());
        assertEquals("float32", c.dtype());
        assertNotNull(c.flaCompatibility(), "value dim 128 != hidden 96: not loadable by fla");
        assertEquals(r.copiedTensors(), r.bitExactCopies());

        try (SafeTensors t = SafeTensors.open(teacher); SafeTensors s = SafeTensors.open(out)) {
            assertIdentical(t, "model.embed_tokens.weight", s, "model.embeddings.weight");
            assertIdentical(t, "model.norm.weight", s, "model.norm.weight");
            assertIdentical(t, "lm_head.weight", s, "lm_head.weight");
            for (int l = 0; l < 2; l++) {
                String tp = "model.layers." + l + ".", sp = "model.layers." + l + ".";
                assertIdentical(t, tp + "input_layernorm.weight", s, sp + "attn_norm.weight");
                assertIdentical(t, tp + "post_attention_layernorm.weight", s, sp + "mlp_norm.weight");
                for (String p : List.of("q", "k", "v", "o")) {
                    assertIdentical(t, tp + "self_attn." + p + "_proj.weight", s, sp + "attn." + p + "_proj.weight");
                }
                for (String p : List.of("gate", "up", "down")) {
                    assertIdentical(t, tp + "mlp." + p + "_proj.weight", s, sp + "mlp." + p + "_proj.weight");
                }
                assertArrayEquals(new long[] {64, 96}, s.info(sp + "attn.f_proj.weight").shape());
                float[] gNorm = s.floats(sp + "attn.g_norm.weight");
                assertEquals(128, gNorm.length);
                for (float g : gNorm) assertEquals(1f, g);
                float[] f = s.floats(sp + "attn.f_proj.weight");
                double ss = 0;
                for (float x : f) ss += x * x;
                assertEquals(GateInit.RANDOM_STD, Math.sqrt(ss / f.length), 0.002, "f_proj ~ N(0, 0.02)");
            }
        }
        for (String f : List.of("tokenizer.json", "tokenizer_config.json", "generation_config.json", "chat_template.jinja", "tokenizer.model")) {
            assertEquals(-1, Files.mismatch(teacher.resolve(f), out.resolve(f)), f);
        }
        try (GsaModel m = GsaModel.load(out)) {
            float[][] logits = m.forward(new int[] {1, 5, 9, 200, 17, 3});
            for (float[] row : logits) Numerics.assertAllFinite("student logits", row);
        }
        List<String> summary = r.summary();
        assertTrue(summary.stream().anyMatch(s -> s.startsWith("parameters ") && s.contains("+12,544")), summary.toString());
        assertTrue(summary.stream().anyMatch(s -> s.startsWith("note ")), summary.toString());
    }

    private static void assertIdentical(SafeTensors t, String tn, SafeTensors s, String sn) {
        assertEquals(t.info(tn).dtype(), s.info(sn).dtype(), sn);
        assertArrayEquals(t.info(tn).shape(), s.info(sn).shape(), sn);
        assertEquals(-1, t.bytes(tn).mismatch(s.bytes(sn)), sn + " is not byte-identical to " + tn);
    }

    /**
     * Kept attention layers are the teacher's attention exactly: for a hybrid student, the mixer of a
     * kept layer on the teacher's normed residual reproduces the teacher's attention output (sliding
     * window, head_dim ≠ hidden/heads, llama3 RoPE scaling through the t2r extensions).
     */
    @Test
    void keptAttentionLayersComputeTheTeachersAttention() {
        for (String fixture : List.of("hf-tiny-mistral", "hf-tiny-llama")) {
            Path teacher = teacher(fixture), out = tmp.resolve("hybrid-" + fixture);
            Converter.convert(teacher, out, ConvertOptions.defaults().withKeepAttention(List.of(1)).withDtype(DType.F32),
                    false);
            GsaModel s = GsaModel.load(out);
            assertTrue(s.config().isGsaLayer(0));
            assertFalse(s.config().isGsaLayer(1));
            LlamaModel t = LlamaModel.load(teacher, DType.F32);   // exact RoPE frequencies, as fla computes them
            int[] ids = new int[40];
            for (int i = 0; i < ids.length; i++) ids[i] = (i * 37 + 11) % t.vocabSize();
            LlamaModel.Trace trace = t.trace(ids);
            float[] x = s.attnNorm(1, trace.residuals()[1], ids.length);
            float[] mixed = s.layerForward(1, x, 1, ids.length).out();
            double err = Numerics.relL2(mixed, trace.attentionOutputs()[1]);
            System.out.printf("%s: kept attention layer vs teacher %.2e%n", fixture, err);
            Numerics.assertRelL2(fixture + " kept attention layer", mixed, trace.attentionOutputs()[1], 1e-6);
        }
    }

    /**
     * A window per kept layer: one attn spec per window. Within the window the layer is the teacher's attention
     * (the first positions, to 1e-6), beyond it the window changes the output.
     */
    @Test
    void keptLayersMayAttendInASlidingWindowOfTheirOwn() {
        Path teacher = teacher("hf-tiny-llama"), out = tmp.resolve("windowed");
        ConvertOptions.Kept kept = ConvertOptions.parseKept(List.of("1:8"));
        Converter.convert(teacher, out, ConvertOptions.defaults().withKeepAttention(kept.layers(), kept.windows()).withDtype(DType.F32), false);
        GsaModel s = GsaModel.load(out);
        assertEquals(8, s.config().attentionAt(1).window());
        LlamaModel t = LlamaModel.load(teacher, DType.F32);
        int[] ids = new int[40];
        for (int i = 0; i < ids.length; i++) ids[i] = (i * 37 + 11) % t.vocabSize();
        LlamaModel.Trace trace = t.trace(ids);
        float[] mixed = s.layerForward(1, s.attnNorm(1, trace.residuals()[1], ids.length), 1, ids.length).out();
        int d = s.config().hiddenSize();
        float[] teacherOut = trace.attentionOutputs()[1];
        Numerics.assertRelL2("inside the window", java.util.Arrays.copyOf(mixed, 8 * d), java.util.Arrays.copyOf(teacherOut, 8 * d), 1e-6);
        assertTrue(Numerics.relL2(java.util.Arrays.copyOfRange(mixed, 30 * d, 40 * d), java.util.Arrays.copyOfRange(teacherOut, 30 * d, 40 * d)) > 1e-3,
                "beyond it the window cuts the context");

        Path three = tmp.resolve("three-layers");                 // only the config matters to studentConfig
        try {
            Files.createDirectories(three);
            Files.writeString(three.resolve("config.json"), Files.readString(teacher.resolve("config.json"))
                    .replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3"));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        GsaConfig two = Converter.studentConfig(gsat2r.core.config.LlamaConfig.load(three),
                ConvertOptions.defaults().withKeepAttention(List.of(0, 1), new java.util.TreeMap<>(java.util.Map.of(1, 4))).withSlots(4), "t");
        assertEquals(2, two.attn().size(), "a spec per window");
        assertEquals(List.of(0), two.attn().get(0).layers());
        assertNull(two.attn().get(0).windowSize(), "no window given: the teacher's (full) attention");
        assertEquals(4, two.attn().get(1).windowSize());
    }

    @Test
    void keptLayersAreSpeltLayerOrLayerColonWindow() {
        ConvertOptions.Kept k = ConvertOptions.parseKept(List.of("0", " 7:256"));
        assertEquals(List.of(0, 7), k.layers());
        assertEquals(java.util.Map.of(7, 256), k.windows());
        assertEquals("0,7:256", k.spelling());
        for (String bad : List.of("x", "1:", "1:2:3", ":4")) {
            T2rException e = assertThrows(T2rException.class, () -> ConvertOptions.parseKept(List.of(bad)));
            assertTrue(e.getMessage().startsWith("--keep-attention: '" + bad + "' is not LAYER or LAYER:WINDOW"), e.getMessage());
        }
        T2rException zero = assertThrows(T2rException.class, () -> ConvertOptions.defaults().withKeepAttention(k.layers(), new java.util.TreeMap<>(java.util.Map.of(7, 0))));
        assertTrue(zero.getMessage().contains("the window of layer 7 must be a positive number of tokens"), zero.getMessage());
        T2rException notKept = assertThrows(T2rException.class, () -> ConvertOptions.defaults().withKeepAttention(List.of(0), new java.util.TreeMap<>(java.util.Map.of(3, 16))));
        assertTrue(notKept.getMessage().contains("a window for layer 3, which is not kept as attention"), notKept.getMessage());
    }

    @Test
    void llamaStudentInBf16AndF32() {
        Path teacher = teacher("hf-tiny-llama");
        ConversionReport bf16 = Converter.convert(teacher, tmp.resolve("bf16"), ConvertOptions.defaults(), false);
        assertEquals(DType.BF16, bf16.studentType());
        assertEquals(bf16.copiedTensors(), bf16.bitExactCopies());
        GsaConfig c = GsaConfig.load(tmp.resolve("bf16"));
        assertTrue(c.tieWordEmbeddings());
        assertNull(c.flaCompatibility(), "4 heads x 16 = hidden 64: fla builds it as is");

        ConversionReport f32 = Converter.convert(teacher, tmp.resolve("f32"), ConvertOptions.defaults().withDtype(DType.F32),
                false);
        assertEquals(0, f32.bitExactCopies());
        try (SafeTensors t = SafeTensors.open(teacher); SafeTensors s = SafeTensors.open(tmp.resolve("f32"))) {
            assertEquals(DType.F32, s.info("model.embeddings.weight").dtype());
            assertArrayEquals(t.floats("model.embed_tokens.weight"), s.floats("model.embeddings.weight"),
                    "bf16 widens to f32 exactly");
            assertFalse(s.has("lm_head.weight"), "tied");
        }
        try (SafeTensors a = SafeTensors.open(tmp.resolve("bf16")); SafeTensors b = SafeTensors.open(tmp.resolve("f32"))) {
            float[] fa = a.floats("model.layers.1.attn.f_proj.weight"), fb = b.floats("model.layers.1.attn.f_proj.weight");
            for (int i = 0; i < fa.length; i++) assertEquals(Floats.fromBF16(Floats.toBF16(fb[i])), fa[i], "same draws");
        }
    }

    /** key-pool with M ≤ dk: each f_proj row is exactly the mean of its band of the teacher's W_k rows. */
    @Test
    void keyPoolAveragesBandsOfTheKeyProjection() {
        Path teacher = teacher("hf-tiny-llama");
        ConvertOptions o = ConvertOptions.defaults().withGateInit(GateInit.KEY_POOL).withSlots(6).withDtype(DType.F32);
        Converter.convert(teacher, tmp.resolve("s"), o, false);
        LlamaConfig tc = LlamaConfig.load(teacher);
        int d = tc.hiddenSize(), dk = tc.headDim(), M = 6;
        try (SafeTensors t = SafeTensors.open(teacher); SafeTensors s = SafeTensors.open(tmp.resolve("s"))) {
            float[] wk = t.floats("model.layers.0.self_attn.k_proj.weight");
            float[] f = s.floats("model.layers.0.attn.f_proj.weight");
            assertEquals(tc.numKeyValueHeads() * M * d, f.length);
            for (int kv = 0; kv < tc.numKeyValueHeads(); kv++) {
                for (int m = 0; m < M; m++) {
                    int lo = m * dk / M, hi = ((m + 1) * dk + M - 1) / M;   // [0,3) [2,6) [5,8) ... for dk 16
                    for (int i = 0; i < d; i++) {
                        double mean = 0;
                        for (int r = lo; r < hi; r++) mean += wk[(kv * dk + r) * d + i];
                        assertEquals((float) (mean / (hi - lo)), f[(kv * M + m) * d + i], kv + "," + m + "," + i);
                    }
                }
            }
        }
        // M > dk: bands repeat, and noise keeps the rows apart.
        Converter.convert(teacher, tmp.resolve("s64"), o.withSlots(64), false);
        try (SafeTensors s = SafeTensors.open(tmp.resolve("s64"))) {
            float[] f = s.floats("model.layers.0.attn.f_proj.weight");
            for (int m = 1; m < 64; m++) {
                assertFalse(java.util.Arrays.equals(f, (m - 1) * d, m * d, f, m * d, (m + 1) * d), "rows " + (m - 1) + ", " + m);
            }
        }
    }

    @Test
    void sameSeedSameStudentOtherSeedOtherGates() throws IOException {
        Path teacher = teacher("hf-tiny-llama");
        Converter.convert(teacher, tmp.resolve("a"), ConvertOptions.defaults(), false);
        Converter.convert(teacher, tmp.resolve("b"), ConvertOptions.defaults(), false);
        assertEquals(-1, Files.mismatch(tmp.resolve("a/model.safetensors"), tmp.resolve("b/model.safetensors")));
        assertEquals(-1, Files.mismatch(tmp.resolve("a/config.json"), tmp.resolve("b/config.json")));
        ConvertOptions other = new ConvertOptions(64, 8, GateInit.RANDOM, 7, null, List.of());
        Converter.convert(teacher, tmp.resolve("c"), other, false);
        try (SafeTensors a = SafeTensors.open(tmp.resolve("a")); SafeTensors c = SafeTensors.open(tmp.resolve("c"))) {
            assertFalse(java.util.Arrays.equals(a.floats("model.layers.0.attn.f_proj.weight"),
                    c.floats("model.layers.0.attn.f_proj.weight")));
            assertEquals(-1, a.bytes("model.embeddings.weight").mismatch(c.bytes("model.embeddings.weight")));
        }
    }

    @Test
    void truncatedShardFailsNamingTheFileAndLeavesNoOutput() throws IOException {
        Path src = teacher("hf-tiny-llama"), teacher = tmp.resolve("sharded");
        Files.createDirectories(teacher);
        Map<String, HeapTensor> tensors = new LinkedHashMap<>();
        try (SafeTensors st = SafeTensors.open(src)) {
            for (String name : st.tensors().keySet()) {
                tensors.put(name, HeapTensor.ofBytes(st.info(name).dtype(), st.bytes(name).toArray(
                        java.lang.foreign.ValueLayout.JAVA_BYTE), st.info(name).shape()));
            }
        }
        ShardedSafeTensorsWriter.write(teacher, tensors, 60_000);
        Files.copy(src.resolve("config.json"), teacher.resolve("config.json"));
        Path shard = teacher.resolve("model-00002-of-00004.safetensors");
        assertTrue(Files.isRegularFile(shard));
        try (RandomAccessFile f = new RandomAccessFile(shard.toFile(), "rw")) {
            f.setLength(f.length() - 100);
        }
        Path out = tmp.resolve("out");
        T2rException e = assertThrows(T2rException.class,
                () -> Converter.convert(teacher, out, ConvertOptions.defaults(), false));
        assertTrue(e.getMessage().startsWith(shard.toString()), e.getMessage());
        assertFalse(Files.exists(out));
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(List.of(), s.filter(p -> p.getFileName().toString().startsWith(".")).toList(), "no temp dirs");
        }
    }

    @Test
    void refusesWhatCannotBeConvertedWithOneLine() throws IOException {
        Path teacher = teacher("hf-tiny-llama"), out = tmp.resolve("out");
        assertRefused(teacher, out, ConvertOptions.defaults().withKeepAttention(List.of(2)),
                "--keep-attention (student.keep_attention): layer 2 does not exist (the teacher has layers 0..1)");
        assertRefused(teacher, out, ConvertOptions.defaults().withKeepAttention(List.of(0, 1)),
                "--keep-attention (student.keep_attention) keeps all 2 layers: the student would have no GSA layer");
        String config = Files.readString(teacher.resolve("config.json"));
        Files.writeString(teacher.resolve("config.json"), config.replace("\"attention_bias\": false", "\"attention_bias\": true"));
        assertRefused(teacher, out, ConvertOptions.defaults(), "the teacher has attention biases (attention_bias: true)");
        Files.writeString(teacher.resolve("config.json"), config.replace("\"mlp_bias\": false", "\"mlp_bias\": true"));
        assertRefused(teacher, out, ConvertOptions.defaults(), "the teacher has MLP biases");
        Files.writeString(teacher.resolve("config.json"), config.replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1"));
        assertRefused(teacher, out, ConvertOptions.defaults(), teacher.resolve("model.safetensors")
                + ": unexpected tensor 'model.layers.1.");
        Files.writeString(teacher.resolve("config.json"), config.replace("\"intermediate_size\": 128", "\"intermediate_size\": 96"));
        assertRefused(teacher, out, ConvertOptions.defaults(), teacher.resolve("model.safetensors")
                + ": tensor 'model.layers.0.mlp.gate_proj.weight' has shape [128, 64], expected [96, 64]");
        assertThrows(T2rException.class, () -> new ConvertOptions(0, 8, GateInit.RANDOM, 0, null, List.of()));
        assertThrows(T2rException.class, () -> new ConvertOptions(64, 8, GateInit.RANDOM, 0, DType.F16, List.of()));
        assertEquals(GateInit.KEY_POOL, GateInit.parse("key-pool"));
    }

    /**
     * --kv-heads: every teacher kv head copied into as many GSA kv heads (keys, values, gates and convolutions
     * alike), so the student computes what the student with the teacher's kv heads computes, to the bit (its
     * query heads read copies of the head they read before); kept attention layers keep the teacher's kv heads.
     */
    @Test
    void moreKvHeadsStartAsCopiesOfTheTeachersAndComputeTheSame() {
        Path llama = teacher("hf-tiny-llama"), mistral = teacher("hf-tiny-mistral");
        ConvertOptions o = ConvertOptions.defaults().withGateInit(GateInit.KEY_POOL).withDtype(DType.F32)
                .withShortConv(4, ShortConvInit.RANDOM).withKeepAttention(List.of(1));
        Converter.convert(llama, tmp.resolve("kv2"), o, false);
        ConversionReport r = Converter.convert(llama, tmp.resolve("kv4"), o.withKvHeads(4), false);
        GsaModel two = GsaModel.load(tmp.resolve("kv2")), four = GsaModel.load(tmp.resolve("kv4"));
        assertEquals(4, four.config().numKvHeads());
        assertEquals(2, four.config().attn().get(0).numKvHeads(), "the kept layer attends with the teacher's kv heads");
        assertEquals(2, four.config().provenance().get("kv_heads_copied_from").asInt());
        assertTrue(r.summary().stream().anyMatch(l -> l.contains("k/v projections of 4 kv heads copied from the teacher's 2, 1 x [64 + 64, 64]")),
                String.join("\n", r.summary()));
        String p = "model.layers.0.attn.";
        assertCopies(two.tensor(p + "k_proj.weight"), four.tensor(p + "k_proj.weight"), 2, 2);
        assertCopies(two.tensor(p + "v_proj.weight"), four.tensor(p + "v_proj.weight"), 2, 2);
        assertCopies(two.tensor(p + "f_proj.weight"), four.tensor(p + "f_proj.weight"), 2, 2);
        assertCopies(two.tensor(p + "k_conv1d.weight"), four.tensor(p + "k_conv1d.weight"), 2, 2);
        assertCopies(two.tensor(p + "v_conv1d.weight"), four.tensor(p + "v_conv1d.weight"), 2, 2);
        assertArrayEquals(two.tensor(p + "q_conv1d.weight"), four.tensor(p + "q_conv1d.weight"));
        assertArrayEquals(two.tensor("model.layers.1.attn.k_proj.weight"), four.tensor("model.layers.1.attn.k_proj.weight"));
        int[] ids = {1, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50};
        float[][] a = two.forward(ids), b = four.forward(ids);
        for (int t = 0; t < ids.length; t++) assertArrayEquals(a[t], b[t], "logits at " + t);
        // one GSA layer, 2 more kv heads: their slots (64 x (16 + 16) fp32) and 3 more rows of their k and v convolutions
        assertEquals(two.config().recurrentStateBytes() + 2 * 64 * 32 * 4 + 3 * 2 * 32 * 4, four.config().recurrentStateBytes());

        ConversionReport bf16 = Converter.convert(llama, tmp.resolve("kv4-bf16"), ConvertOptions.defaults().withKvHeads(4), false);
        assertEquals(bf16.copiedTensors(), bf16.bitExactCopies(), "copies of a bf16 teacher's heads keep its bits");
        assertCopies(two.tensor(p + "k_proj.weight"), GsaModel.load(tmp.resolve("kv4-bf16")).tensor(p + "k_proj.weight"), 2, 2);

        ConvertOptions m = ConvertOptions.defaults().withDtype(DType.F32);
        Converter.convert(mistral, tmp.resolve("m1"), m, false);
        Converter.convert(mistral, tmp.resolve("m4"), m.withKvHeads(4), false);
        GsaModel one = GsaModel.load(tmp.resolve("m1")), all = GsaModel.load(tmp.resolve("m4"));
        assertCopies(one.tensor(p + "f_proj.weight"), all.tensor(p + "f_proj.weight"), 1, 4);
        float[][] c = one.forward(ids), d = all.forward(ids);
        for (int t = 0; t < ids.length; t++) assertArrayEquals(c[t], d[t], "mistral logits at " + t);
    }

    /** {@code more} holds every one of {@code heads} blocks of {@code base} {@code copies} times in a row. */
    private static void assertCopies(float[] base, float[] more, int heads, int copies) {
        assertEquals(base.length * copies, more.length);
        int block = base.length / heads;
        for (int h = 0; h < heads; h++) {
            float[] want = java.util.Arrays.copyOfRange(base, h * block, (h + 1) * block);
            for (int c = 0; c < copies; c++) {
                int at = (h * copies + c) * block;
                assertArrayEquals(want, java.util.Arrays.copyOfRange(more, at, at + block), "head " + h + " copy " + c);
            }
        }
    }

    @Test
    void kvHeadsMustBeAMultipleOfTheTeachersThatDividesItsHeads() throws IOException {
        Path teacher = teacher("hf-tiny-llama"), out = tmp.resolve("out");
        assertRefused(teacher, out, ConvertOptions.defaults().withKvHeads(3),
                "--kv-heads (student.kv_heads) 3: the GSA layers' kv heads must be a multiple of the teacher's 2 that divides its 4 query heads");
        assertRefused(teacher, out, ConvertOptions.defaults().withKvHeads(8), "--kv-heads (student.kv_heads) 8: ");
        assertThrows(T2rException.class, () -> ConvertOptions.defaults().withKvHeads(-1));
        ConvertOptions random = ConvertOptions.defaults().withShortConv(4, ShortConvInit.RANDOM);
        Converter.convert(teacher, out, random.withKvHeads(2), false);
        Converter.convert(teacher, tmp.resolve("default"), random, false);
        assertEquals(GsaConfig.load(tmp.resolve("default")), GsaConfig.load(out), "the teacher's own kv heads: the same config");
        for (String f : List.of("config.json", "model.safetensors")) {
            assertArrayEquals(Files.readAllBytes(tmp.resolve("default").resolve(f)), Files.readAllBytes(out.resolve(f)), f);
        }
    }

    private void assertRefused(Path teacher, Path out, ConvertOptions o, String messageStart) throws IOException {
        T2rException e = assertThrows(T2rException.class, () -> Converter.convert(teacher, out, o, false));
        assertTrue(e.getMessage().startsWith(messageStart), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
        assertFalse(Files.exists(out));
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(List.of(), s.filter(p -> p.getFileName().toString().startsWith(".")).toList());
        }
    }

    @Test
    void studentDecodesWithConstantState() {
        Path teacher = teacher("hf-tiny-mistral"), out = tmp.resolve("s");
        Converter.convert(teacher, out, ConvertOptions.defaults(), false);
        GsaModel m = GsaModel.load(out);
        GsaModel.StudentDecoder dec = m.newDecoder();
        int[] ids = {1, 40, 41, 42, 43, 44, 45, 46};
        float[] last = dec.prefill(ids);
        long bytes = dec.stateBytes();
        Numerics.assertRelL2("prefill vs forward", last, m.forward(ids)[ids.length - 1], 1e-5);
        for (int i = 0; i < 100; i++) last = dec.next(50 + i);
        assertEquals(bytes, dec.stateBytes());
        assertEquals(m.config().recurrentStateBytes(), bytes);
        Numerics.assertAllFinite("logits", last);
        assertEquals(2L * 1 * 64 * (32 + 32) * 4, bytes);
        LanguageModel lm = m;
        assertEquals(384, lm.vocabSize());
        assertEquals(ParameterView.Kind.F_PROJ, m.layout().find("model.layers.0.attn.f_proj.weight").kind());
    }

    /**
     * --short-conv: fla's q/k/v convolution kernels in every GSA layer, the identity (tap K − 1 is 1), so each
     * convolution passes its projection through unchanged; the config says use_short_conv and conv_size.
     */
    @Test
    void shortConvolutionsStartAsTheIdentity() {
        Path teacher = teacher("hf-tiny-llama"), out = tmp.resolve("conv");
        ConversionReport r = Converter.convert(teacher, out, ConvertOptions.defaults().withShortConv(4).withDtype(DType.F32)
                .withKeepAttention(List.of(1)), false);
        GsaModel s = GsaModel.load(out);
        assertEquals(4, s.config().shortConv());
        assertTrue(r.summary().stream().anyMatch(l -> l.contains("q/k/v short convolutions 1 x [64 + 32 + 32, 1, 4] (identity)")),
                String.join("\n", r.summary()));
        for (String n : List.of("q", "k", "v")) {
            float[] w = s.tensor("model.layers.0.attn." + n + "_conv1d.weight");
            for (int i = 0; i < w.length; i++) assertEquals(i % 4 == 3 ? 1f : 0f, w[i], n + " tap " + i);
        }
        assertNull(s.layout().find("model.layers.1.attn.q_conv1d.weight"), "attention layers have none");
        assertThrows(T2rException.class, () -> ConvertOptions.defaults().withShortConv(-1));
    }

    /**
     * --short-conv-init random: every tap within PyTorch's Conv1d bound 1/√K, spread over it (not all one sign, not
     * all tiny), the same bits for the same seed and others for another; everything else is the identity
     * conversion's, bit for bit (the gates draw from their own stream).
     */
    @Test
    void randomShortConvolutionsFollowPyTorchsBoundAndTheSeed() {
        Path teacher = teacher("hf-tiny-llama");
        ConvertOptions identity = ConvertOptions.defaults().withShortConv(4).withDtype(DType.F32);
        ConversionReport r = Converter.convert(teacher, tmp.resolve("rand"), identity.withShortConv(4, ShortConvInit.RANDOM), false);
        Converter.convert(teacher, tmp.resolve("rand2"), identity.withShortConv(4, ShortConvInit.RANDOM), false);
        Converter.convert(teacher, tmp.resolve("id"), identity, false);
        Converter.convert(teacher, tmp.resolve("seed"), new ConvertOptions(64, 8, GateInit.RANDOM, 1, DType.F32, List.of(), null, 4,
                ShortConvInit.RANDOM), false);
        assertTrue(r.summary().stream().anyMatch(l -> l.contains("1, 4] (random)")), String.join("\n", r.summary()));
        GsaModel a = GsaModel.load(tmp.resolve("rand")), b = GsaModel.load(tmp.resolve("rand2")), id = GsaModel.load(tmp.resolve("id"));
        GsaModel other = GsaModel.load(tmp.resolve("seed"));
        for (ParameterView v : a.layout().views()) {
            float[] w = a.tensor(v.name());
            boolean conv = v.kind() == ParameterView.Kind.Q_CONV || v.kind() == ParameterView.Kind.K_CONV || v.kind() == ParameterView.Kind.V_CONV;
            assertArrayEquals(w, b.tensor(v.name()), v.name() + ": the same seed");
            if (!conv) {
                assertArrayEquals(id.tensor(v.name()), w, v.name() + ": as the identity conversion's");
                continue;
            }
            assertFalse(java.util.Arrays.equals(w, other.tensor(v.name())), v.name() + ": another seed");
            double bound = 0.5, max = 0;
            int negative = 0;
            for (float x : w) {
                assertTrue(Math.abs(x) <= bound, v.name() + ": " + x + " beyond 1/sqrt(4)");
                max = Math.max(max, Math.abs(x));
                if (x < 0) negative++;
            }
            assertTrue(max > 0.45 && negative > w.length / 4 && negative < 3 * w.length / 4, v.name() + ": uniform over the bound");
        }
        assertEquals("random", a.config().provenance().path("short_conv_init").asText());
        assertThrows(T2rException.class, () -> ShortConvInit.parse("shift"));
    }
}
