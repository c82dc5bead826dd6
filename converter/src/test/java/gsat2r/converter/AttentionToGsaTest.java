package gsat2r.converter;

import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Attention layers of a hybrid made GSA layers. The independent reference is the teacher's own conversion:
 * a hybrid fresh from the teacher whose kept layers are then made GSA is the all-GSA student that
 * {@link Converter} builds directly, tensor for tensor and bit for bit (key-pool gates with M ≤ dk draw
 * nothing at random, so both paths compute the same means of the same key rows). With more kv heads in the GSA layers
 * than the teacher's, the kept layer's kv heads are copied as the converter copies the teacher's.
 */
class AttentionToGsaTest {
    static final Path DEMO = Path.of("..", "models", "kjv-llama");

    @TempDir
    Path tmp;

    @Test
    void aFreshHybridMadeGsaIsTheDirectConversion() {
        for (String fixture : List.of("hf-tiny-llama", "hf-tiny-mistral", "kjv-llama")) {
            Path teacher = fixture.equals("kjv-llama") ? DEMO : Fixtures.copy(fixture, tmp.resolve("teacher-" + fixture));
            List<Integer> kept = fixture.equals("kjv-llama") ? List.of(1, 3) : List.of(1);
            for (DType dtype : List.of(DType.BF16, DType.F32)) for (int kvHeads : List.of(0, 4)) {
                int slots = switch (fixture) {                               // = dk: no tie-breaking noise
                    case "hf-tiny-llama" -> 16;
                    case "hf-tiny-mistral" -> 32;
                    default -> 64;
                };
                ConvertOptions o = ConvertOptions.defaults().withGateInit(GateInit.KEY_POOL).withSlots(slots).withDtype(dtype)
                        .withKvHeads(kvHeads);
                String name = fixture + "-" + dtype + "-kv" + kvHeads;
                Path hybrid = tmp.resolve(name + "-hybrid"), direct = tmp.resolve(name + "-gsa"), converted = tmp.resolve(name + "-converted");
                Converter.convert(teacher, hybrid, o.withKeepAttention(kept), false);
                Converter.convert(teacher, direct, o, false);
                GsaConfig c = AttentionToGsa.convert(hybrid, converted, Set.copyOf(kept), GateInit.KEY_POOL, 7, false);
                assertEquals(List.of(), c.attn());
                assertEquals(GsaConfig.load(direct), GsaConfig.load(converted), name + ": config");
                assertEquals(kvHeads == 0 ? GsaConfig.load(hybrid).attn().get(0).numKvHeads() : kvHeads, c.numKvHeads(), name);
                try (SafeTensors a = SafeTensors.open(direct); SafeTensors b = SafeTensors.open(converted)) {
                    assertEquals(a.tensors().keySet(), b.tensors().keySet());
                    for (String tensor : a.tensors().keySet()) {
                        assertEquals(a.info(tensor).dtype(), b.info(tensor).dtype(), tensor);
                        assertArrayEquals(a.floats(tensor), b.floats(tensor), name + ": " + tensor);
                    }
                }
                assertTrue(Files.exists(converted.resolve("tokenizer.json")) == Files.exists(teacher.resolve("tokenizer.json")));
            }
        }
    }

    /** One of two kept layers made GSA: the other stays the hybrid's attention, every trained tensor is kept. */
    @Test
    void keepsWhatItDoesNotConvert() {
        Converter.convert(DEMO, tmp.resolve("hybrid"), ConvertOptions.defaults().withKeepAttention(List.of(1, 3))
                .withDtype(DType.F32), false);
        GsaModel hybrid = GsaModel.load(tmp.resolve("hybrid"));
        float[] p = hybrid.parameters();
        for (int i = 0; i < p.length; i++) p[i] += 1e-3f * (i % 7);           // "trained": no longer the teacher's
        GsaModel s = AttentionToGsa.convert(hybrid, Set.of(1), GateInit.RANDOM, 3);
        assertFalse(s.config().isGsaLayer(3));
        assertTrue(s.config().isGsaLayer(1));
        assertEquals(List.of(3), s.config().attn().getFirst().layers());
        for (var v : hybrid.layout().views()) {
            assertArrayEquals(v.copyFrom(p), s.layout().find(v.name()).copyFrom(s.parameters()), v.name());
        }
        float[] gNorm = s.tensor("model.layers.1.attn.g_norm.weight");
        for (float g : gNorm) assertEquals(1f, g);
        GsaModel again = AttentionToGsa.convert(hybrid, Set.of(1), GateInit.RANDOM, 3);
        assertArrayEquals(s.parameters(), again.parameters(), "same seed, same gates");
    }

    /**
     * A kept layer made GSA in a student whose GSA layers have 4 kv heads (the demo teacher's 2 copied): its k, v and
     * random gates are the 2-kv-head conversion's copied, the same draws, and both students compute the same logits.
     */
    @Test
    void aLayerMadeGsaAmongCopiedKvHeadsIsTheTeachersHeadsCopied() {
        ConvertOptions o = ConvertOptions.defaults().withKeepAttention(List.of(1, 3)).withDtype(DType.F32);
        Converter.convert(DEMO, tmp.resolve("kv2"), o, false);
        Converter.convert(DEMO, tmp.resolve("kv4"), o.withKvHeads(4), false);
        GsaModel two = AttentionToGsa.convert(GsaModel.load(tmp.resolve("kv2")), Set.of(1), GateInit.RANDOM, 3);
        GsaModel four = AttentionToGsa.convert(GsaModel.load(tmp.resolve("kv4")), Set.of(1), GateInit.RANDOM, 3);
        assertEquals(4, four.config().numKvHeads());
        assertEquals(2, four.config().attn().getFirst().numKvHeads(), "layer 3 stays attention with the teacher's");
        for (String t : List.of("k_proj", "v_proj", "f_proj")) {
            float[] a = two.tensor("model.layers.1.attn." + t + ".weight");
            assertArrayEquals(HeadCopies.repeat(a, 2, a.length / 2, 2), four.tensor("model.layers.1.attn." + t + ".weight"), t);
        }
        int[] ids = {1, 17, 300, 5, 42, 42, 7, 1000, 3, 9};
        float[][] a = two.forward(ids), b = four.forward(ids);
        for (int t = 0; t < ids.length; t++) assertArrayEquals(a[t], b[t], "logits at " + t);
    }

    @Test
    void refusesLayersThatAreNotAttentionAndWritesNothing() {
        Path teacher = Fixtures.copy("hf-tiny-llama", tmp.resolve("teacher"));
        Converter.convert(teacher, tmp.resolve("hybrid"), ConvertOptions.defaults().withKeepAttention(List.of(1)), false);
        Path out = tmp.resolve("out");
        T2rException e = assertThrows(T2rException.class,
                () -> AttentionToGsa.convert(tmp.resolve("hybrid"), out, Set.of(0, 1), GateInit.KEY_POOL, 0, false));
        assertTrue(e.getMessage().startsWith("--to-gsa: layers [0] are not attention layers of this student (its plan: GSA 0; attention 1"),
                e.getMessage());
        assertFalse(Files.exists(out));
        e = assertThrows(T2rException.class, () -> AttentionToGsa.convert(tmp.resolve("hybrid"), out, Set.of(), GateInit.KEY_POOL, 0, false));
        assertEquals("no layers to convert: give the attention layers to make GSA", e.getMessage());
    }
}
