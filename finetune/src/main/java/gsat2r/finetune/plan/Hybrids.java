package gsat2r.finetune.plan;

import gsat2r.converter.ConvertOptions;
import gsat2r.converter.Converter;
import gsat2r.converter.HeadCopies;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.config.LlamaConfig;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.gsa.ParameterView;

import java.util.List;
import java.util.SortedMap;

/**
 * Students that differ from a trained all-GSA student only in which layers are softmax attention again:
 * a restored layer gets the teacher's q/k/v/o (found in the converted student, which copies them for
 * every layer; with more kv heads than the teacher's, its k and v hold copies of the teacher's heads, and the first
 * copy of each is the teacher's) and drops its f_proj and g_norm; every other tensor is the trained student's. The
 * planner's candidates: one layer restored, all but one, a plan.
 */
final class Hybrids {
    private Hybrids() {}

    /**
     * The trained student {@code trained} with {@code layers} restored to attention ({@code windows}: sliding
     * windows of some of them); {@code converted} is the student as converted from the teacher, before training.
     */
    static GsaModel restore(GsaModel trained, GsaModel converted, LlamaConfig teacher, ConvertOptions conversion, List<Integer> layers,
                            SortedMap<Integer, Integer> windows) {
        GsaConfig config = Converter.studentConfig(teacher, conversion.withKeepAttention(layers, windows), "plan")
                .withDtype(trained.config().dtype());
        GsaModel out = new GsaModel(config, new float[Math.toIntExact(new gsat2r.core.model.gsa.GsaLayout(config).size())]);
        float[] params = out.parameters();
        for (ParameterView v : out.layout().views()) {
            boolean restored = v.layer() >= 0 && !config.isGsaLayer(v.layer()) && v.kind().isMixer();
            float[] src = (restored ? converted : trained).tensor(v.name());
            if (src.length != v.arraySize()) {                          // k or v of more kv heads than the attention's
                int heads = teacher.numKeyValueHeads();
                src = HeadCopies.firstCopies(src, heads, v.arraySize() / heads, src.length / v.arraySize());
            }
            System.arraycopy(src, 0, params, v.arrayOffset(), v.arraySize());
        }
        return out;
    }
}
