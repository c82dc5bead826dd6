package gsat2r.core.model.gsa;

import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.Floats;
import gsat2r.core.safetensors.HeapTensor;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.SafeTensorsWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Saving and loading students in fla's layout. */
class StudentCheckpointTest {
    @TempDir
    Path tmp;

    @Test
    void f32RoundTripIsBitExact() {
        GsaModel m = TestStudents.random(StudentGradientTest.untiedHybrid(), 51);
        m.save(tmp.resolve("s"), DType.F32, false);
        GsaModel back = GsaModel.load(tmp.resolve("s"));
        assertEquals(m.config().withDtype("float32"), back.config());
        assertArrayEquals(m.parameters(), back.parameters());
        try (SafeTensors st = SafeTensors.open(tmp.resolve("s"))) {
            List<String> names = new ArrayList<>(st.tensors().keySet());
            assertEquals(m.layout().views().stream().map(ParameterView::name).toList(), names, "fla's key order");
        }
    }

    /** A student with short convolutions: fla's kernel tensors, in fla's order (after f_proj), round-trip. */
    @Test
    void shortConvolutionKernelsRoundTrip() {
        GsaModel m = TestStudents.random(StudentGradientTest.untiedHybrid().withShortConv(4), 56);
        m.save(tmp.resolve("s"), DType.F32, false);
        GsaModel back = GsaModel.load(tmp.resolve("s"));
        assertEquals(m.config().withDtype("float32"), back.config());
        assertArrayEquals(m.parameters(), back.parameters());
        List<String> layer0 = back.layout().views().stream().filter(v -> v.layer() == 0 && v.kind().isMixer())
                .map(v -> v.name().substring("model.layers.0.attn.".length()) + java.util.Arrays.toString(v.shape())).toList();
        assertEquals(List.of("q_proj.weight[16, 16]", "k_proj.weight[8, 16]", "v_proj.weight[8, 16]", "f_proj.weight[12, 16]",
                "q_conv1d.weight[16, 1, 4]", "k_conv1d.weight[8, 1, 4]", "v_conv1d.weight[8, 1, 4]", "g_norm.weight[16]",
                "o_proj.weight[16, 16]"), layer0);
    }

    @Test
    void bf16RoundsEveryValueOnceAndRoundTrips() {
        GsaModel m = TestStudents.random(StudentGradientTest.tiedHybrid(), 52);
        m.save(tmp.resolve("a"), DType.BF16, false);
        GsaModel back = GsaModel.load(tmp.resolve("a"));
        assertEquals("bfloat16", back.config().dtype());
        for (int i = 0; i < m.parameters().length; i++) {
            assertEquals(Floats.fromBF16(Floats.toBF16(m.parameters()[i])), back.parameters()[i]);
        }
        back.save(tmp.resolve("b"), DType.BF16, false);
        try (SafeTensors a = SafeTensors.open(tmp.resolve("a")); SafeTensors b = SafeTensors.open(tmp.resolve("b"))) {
            for (String name : a.tensors().keySet()) {
                assertEquals(-1, a.bytes(name).mismatch(b.bytes(name)), name);
            }
        }
    }

    @Test
    void configJsonHasFlasKeys() throws IOException {
        GsaModel m = TestStudents.random(StudentGradientTest.untiedHybrid(), 53);
        m.save(tmp.resolve("s"), DType.F32, false);
        String json = Files.readString(tmp.resolve("s/config.json"));
        for (String key : List.of("\"model_type\": \"gsa\"", "\"GSAForCausalLM\"", "\"num_slots\": 6",
                "\"gate_logit_normalizer\": 8", "\"feature_map\": \"swish\"", "\"expand_k\": 1", "\"expand_v\": 1",
                "\"use_norm\": true", "\"use_output_gate\": false", "\"use_short_conv\": false",
                "\"fuse_norm\": false", "\"dtype\": \"float32\"", "\"window_size\": 5", "\"qkv_bias\": true")) {
            assertTrue(json.contains(key), key + " in\n" + json);
        }
    }

    @Test
    void refusesMissingMisshapenAndUnexpectedTensors() throws IOException {
        GsaModel m = TestStudents.random(TestStudents.config(16, 1, 2, 2, 4, 1.0, 8, 24, 32, true, List.of()), 54);
        Path dir = tmp.resolve("s");
        m.save(dir, DType.F32, false);
        Map<String, HeapTensor> tensors = new LinkedHashMap<>();
        try (SafeTensors st = SafeTensors.open(dir)) {
            for (String name : st.tensors().keySet()) {
                tensors.put(name, HeapTensor.f32(st.floats(name), st.info(name).shape()));
            }
        }
        Path file = dir.resolve("model.safetensors");

        Map<String, HeapTensor> extra = new LinkedHashMap<>(tensors);
        extra.put("model.layers.0.attn.q_conv1d.weight", HeapTensor.f32(new float[4], 4));
        SafeTensorsWriter.write(file, extra);
        T2rException e = assertThrows(T2rException.class, () -> GsaModel.load(dir));
        assertTrue(e.getMessage().contains("unexpected tensor 'model.layers.0.attn.q_conv1d.weight'"), e.getMessage());

        Map<String, HeapTensor> missing = new LinkedHashMap<>(tensors);
        missing.remove("model.layers.0.attn.f_proj.weight");
        SafeTensorsWriter.write(file, missing);
        e = assertThrows(T2rException.class, () -> GsaModel.load(dir));
        assertTrue(e.getMessage().contains("model.layers.0.attn.f_proj.weight"), e.getMessage());

        Map<String, HeapTensor> misshapen = new LinkedHashMap<>(tensors);
        misshapen.put("model.layers.0.attn.f_proj.weight", HeapTensor.f32(new float[16 * 16], 16, 16));
        SafeTensorsWriter.write(file, misshapen);
        e = assertThrows(T2rException.class, () -> GsaModel.load(dir));
        assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("f_proj.weight' has shape [16, 16], expected [8, 16]"), e.getMessage());
    }

    @Test
    void saveIsAtomic() throws IOException {
        GsaModel m = TestStudents.random(StudentGradientTest.untiedHybrid(), 55);
        Path dir = tmp.resolve("s");
        m.save(dir, DType.F32, false);
        T2rException e = assertThrows(T2rException.class, () -> m.save(dir, DType.F32, false));
        assertTrue(e.getMessage().contains("not empty"), e.getMessage());
        m.save(dir, DType.BF16, true);
        assertEquals("bfloat16", GsaConfig.load(dir).dtype());
        try (var s = Files.list(tmp)) {
            assertFalse(s.anyMatch(p -> p.getFileName().toString().startsWith(".")), "no temp siblings left");
        }
    }
}
