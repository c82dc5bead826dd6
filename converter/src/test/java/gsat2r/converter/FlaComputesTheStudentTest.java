package gsat2r.converter;

import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.testing.Numerics;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The student that {@code t2r convert} makes from the shipped demo teacher ({@code models/kjv-llama}),
 * against the logits fla 0.5.2's own {@code GSAForCausalLM} computes on the same weights (see
 * {@code fla-kjv-student/README.md}): the conversion's layout and config are what fla reads, and the
 * student computes what fla computes, within 1e-4 relative L2 (measured 4.4e-7).
 */
class FlaComputesTheStudentTest {
    @TempDir
    Path tmp;

    @Test
    void convertedDemoStudentMatchesFla() throws URISyntaxException {
        Path teacher = Path.of("..", "models", "kjv-llama");
        assertTrue(Files.isRegularFile(teacher.resolve("config.json")), "the demo teacher ships in the repository");
        Path out = tmp.resolve("student");
        Converter.convert(teacher, out, ConvertOptions.defaults().withGateInit(GateInit.KEY_POOL).withDtype(DType.F32), false);
        GsaModel m = GsaModel.load(out);
        for (int l = 0; l < 4; l++) {
            assertArrayEquals(m.tensor("model.layers." + l + ".attn.k_proj.weight"),
                    m.tensor("model.layers." + l + ".attn.f_proj.weight"), "key-pool with M = dk is k_proj");
        }
        Path expected = Path.of(getClass().getResource("/fla-kjv-student/expected.safetensors").toURI());
        try (SafeTensors e = SafeTensors.open(expected)) {
            int[] ids = Arrays.stream(e.longs("input_ids")).mapToInt(Math::toIntExact).toArray();
            float[] logits = m.forward(ids, 2, 40, GsaModel.Memory.KEEP).logits();
            double err = Numerics.relL2(logits, e.floats("logits"));
            System.out.printf("converted demo student vs fla GSAForCausalLM: %.2e%n", err);
            Numerics.assertRelL2("logits", logits, e.floats("logits"), 1e-4);
        }
        assertTrue(List.of("tokenizer.json", "config.json").stream().allMatch(f -> Files.isRegularFile(out.resolve(f))));
    }
}
