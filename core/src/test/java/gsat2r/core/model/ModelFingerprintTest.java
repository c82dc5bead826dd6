package gsat2r.core.model;

import gsat2r.core.config.GsaConfig;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.llama.LlamaModel;
import gsat2r.core.safetensors.DType;
import gsat2r.core.testing.Fixtures;
import gsat2r.core.testing.Students;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * A model directory's fingerprint read tensor by tensor (what GPU models are identified by) equals the fingerprint
 * of the CPU model loaded from it, so decoding states move between the two; one changed weight changes it.
 */
class ModelFingerprintTest {
    @TempDir
    Path tmp;

    @Test
    void aStudentDirectorysFingerprintIsItsCpuModels() {
        List<GsaConfig> configs = List.of(Students.gsaConfig(), Students.hybridConfig(24), Students.gsaConfig().withShortConv(4));
        for (int i = 0; i < configs.size(); i++) {
            for (DType dtype : new DType[] {DType.F32, DType.BF16}) {
                GsaModel m = Students.random(configs.get(i), 30 + i);
                Path dir = tmp.resolve("s" + i + dtype);
                m.save(dir, dtype, false);
                ModelDirectory md = ModelDirectory.open(dir);
                assertEquals(GsaModel.load(md).fingerprint(), GsaModel.fingerprintOf(md), dir.getFileName().toString());

                m.parameters()[m.parameters().length - 1] += 1f;
                Path changed = tmp.resolve("c" + i + dtype);
                m.save(changed, dtype, false);
                assertNotEquals(GsaModel.fingerprintOf(md), GsaModel.fingerprintOf(ModelDirectory.open(changed)));
            }
        }
    }

    @Test
    void aTeacherDirectorysFingerprintIsItsCpuModels() {
        for (String fixture : List.of("hf-tiny-llama", "hf-tiny-mistral")) {
            ModelDirectory md = ModelDirectory.open(Fixtures.copy(fixture, tmp.resolve(fixture)));
            assertEquals(LlamaModel.load(md, null).fingerprint(), LlamaModel.fingerprintOf(md), fixture);
            assertNotEquals(LlamaModel.load(md, DType.F32).fingerprint(), LlamaModel.load(md, DType.BF16).fingerprint(),
                    "RoPE's frequency type is part of the computation");
        }
        ModelDirectory demo = ModelDirectory.open(Path.of("..", "models", "kjv-llama"));
        assertEquals(LlamaModel.load(demo, null).fingerprint(), LlamaModel.fingerprintOf(demo), "the demo teacher (tied embeddings)");
    }
}
