package gsat2r.finetune.plan;

import gsat2r.converter.ConvertOptions;
import gsat2r.converter.Converter;
import gsat2r.converter.GateInit;
import gsat2r.core.config.LlamaConfig;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.core.model.llama.LlamaModel;
import gsat2r.core.safetensors.DType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A restored layer computes the teacher's attention (relative L2 below 1e-6, fp32 against fp32), its tensors are those
 * of the teacher's own conversion of that layer kept, and every other tensor is the trained student's, bit for bit;
 * also when the student's GSA layers have more kv heads than the teacher's (copies of its heads).
 */
class HybridsTest {

    @TempDir
    Path tmp;

    @Test
    void restoredLayersAreTheTeachersAttentionAndTheRestIsTheTrainedStudent() {
        for (int kvHeads : new int[] {0, 4}) restore(new ConvertOptions(16, 8, GateInit.RANDOM, 1, DType.F32, List.of()).withKvHeads(kvHeads));
    }

    private void restore(ConvertOptions options) {
        Path teacher = Path.of("..", "models", "kjv-llama"), dir = tmp.resolve("kv" + options.kvHeads());
        Converter.convert(teacher, dir.resolve("converted"), options, false);
        Converter.convert(teacher, dir.resolve("kept"), options.withKeepAttention(List.of(1, 2)), false);
        GsaModel converted = GsaModel.load(dir.resolve("converted")), kept = GsaModel.load(dir.resolve("kept"));
        GsaModel trained = GsaModel.load(dir.resolve("converted"));
        Random rnd = new Random(7);                           // "training" moved every parameter
        float[] p = trained.parameters();
        for (int i = 0; i < p.length; i++) p[i] += 0.01f * (float) rnd.nextGaussian();

        GsaModel hybrid = Hybrids.restore(trained, converted, LlamaConfig.load(teacher), options, List.of(1, 2), new TreeMap<>());
        for (ParameterView v : hybrid.layout().views()) {
            boolean restored = (v.layer() == 1 || v.layer() == 2) && v.kind().isMixer();
            assertArrayEquals((restored ? kept : trained).tensor(v.name()), hybrid.tensor(v.name()), v.name());
        }
        LlamaModel t = LlamaModel.load(teacher, DType.F32);
        int[] ids = new int[48];
        for (int i = 0; i < ids.length; i++) ids[i] = (i * 131 + 7) % t.vocabSize();
        LlamaModel.Trace trace = t.trace(ids);
        for (int l : new int[] {1, 2}) {
            // the layer's input through the teacher's norm (the trained student's norm moved too, here)
            float[] out = hybrid.layerForward(l, converted.attnNorm(l, trace.residuals()[l], ids.length), 1, ids.length).out();
            double num = 0, den = 0;
            for (int i = 0; i < out.length; i++) {
                double d = out[i] - trace.attentionOutputs()[l][i];
                num += d * d;
                den += (double) trace.attentionOutputs()[l][i] * trace.attentionOutputs()[l][i];
            }
            assertTrue(Math.sqrt(num / den) < 1e-6, options.kvHeads() + " kv heads, layer " + l + ": " + Math.sqrt(num / den));
        }
        GsaModel windowed = Hybrids.restore(trained, converted, LlamaConfig.load(teacher), options, List.of(2),
                new TreeMap<>(java.util.Map.of(2, 16)));
        assertTrue(windowed.config().attentionAt(2).window() == 16 && windowed.config().isGsaLayer(1));
    }
}
