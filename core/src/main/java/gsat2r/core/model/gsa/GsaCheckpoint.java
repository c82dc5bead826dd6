package gsat2r.core.model.gsa;

import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.io.AtomicDirectory;
import gsat2r.core.io.OutputKind;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.ShardedSafeTensorsWriter;
import gsat2r.core.safetensors.TensorInfo;
import gsat2r.core.safetensors.TensorSpec;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Reads and writes students in fla's checkpoint layout: {@code config.json} ({@link GsaConfig}) and
 * safetensors under the keys of {@link GsaLayout}, one file or shards with an index, as fla's
 * {@code save_pretrained} writes them.
 */
public final class GsaCheckpoint {

    /** What --force may replace with a student: a directory whose config.json says it is one (never a teacher). */
    public static final OutputKind STUDENT = new OutputKind("t2r student", "config.json of model_type gsa", GsaCheckpoint::isStudent);

    private static boolean isStudent(Path dir) {
        try {
            return gsat2r.core.model.ModelDirectory.open(dir).isStudent();
        } catch (RuntimeException unreadable) {
            return false;
        }
    }
    private GsaCheckpoint() {}

    /**
     * Loads {@code dir}: every tensor the config implies, shape-checked (one line naming the file and
     * the tensor otherwise), widened to fp32 into the model's parameter buffer one tensor at a time. A
     * tensor the config does not account for is refused (config and weights disagree), except an
     * {@code lm_head.weight} saved beside tied embeddings, which fla ignores too.
     */
    public static GsaModel read(Path dir) {
        return read(ModelDirectory.open(dir));
    }

    /** {@link #read(Path)} of a directory already opened. */
    public static GsaModel read(ModelDirectory dir) {
        GsaConfig config = dir.studentConfig();
        GsaLayout layout = new GsaLayout(config);
        layout.requireArray(dir.configFile().toString());
        float[] params = new float[Math.toIntExact(layout.size())];
        try (SafeTensors st = dir.openWeights()) {
            Set<String> used = new HashSet<>();
            for (ParameterView v : layout.views()) {
                readView(st, v, params, v.arrayOffset());
                used.add(v.name());
            }
            for (String name : st.tensors().keySet()) {
                boolean ignorable = config.tieWordEmbeddings() && name.equals("lm_head.weight");
                if (!used.contains(name) && !ignorable) {
                    throw new T2rException(st.info(name).file() + ": unexpected tensor '" + name
                            + "' for this config.json (" + config.layerPlan() + ")");
                }
            }
        }
        return new GsaModel(config, params);
    }

    /** Tensor {@code v} as fp32 into {@code dst} from {@code offset}, checked against its shape and for a floating type. */
    static void readView(SafeTensors st, ParameterView v, float[] dst, int offset) {
        TensorInfo info = st.expect(v.name(), v.shape());
        if (!info.dtype().isFloating()) {
            throw new T2rException(info.file() + ": tensor '" + v.name() + "' is " + info.dtype() + ", expected a floating type");
        }
        SafeTensors.toFloats(info.dtype(), st.bytes(v.name()), dst, offset, v.arraySize(), v.name());
    }

    /** The tensor specs of a checkpoint of {@code layout} stored in {@code dtype}, in layout order. */
    public static List<TensorSpec> specs(GsaLayout layout, DType dtype) {
        List<TensorSpec> specs = new ArrayList<>();
        for (ParameterView v : layout.views()) specs.add(TensorSpec.of(v.name(), dtype, v.shape()));
        return specs;
    }

    /** The config.json spelling of a storage type. */
    public static String dtypeName(DType dtype) {
        return switch (dtype) {
            case F32 -> "float32";
            case BF16 -> "bfloat16";
            case F16 -> "float16";
            default -> throw new T2rException("a student is stored in f32, bf16 or f16, not " + dtype);
        };
    }

    /**
     * Writes {@code model}'s config.json and weights (in {@code dtype}) into the existing directory
     * {@code dir}; for callers that manage their own {@link AtomicDirectory} (and add files to it).
     */
    public static void writeInto(GsaModel model, Path dir, DType dtype) {
        float[] p = model.parameters();
        writeInto(model.config(), dir, dtype, w -> {
            for (ParameterView v : model.layout().views()) w.write(v.name(), sink -> sink.putFloats(p, v.arrayOffset(), v.arraySize()));
        });
    }

    /**
     * Writes a student of {@code config} into the existing directory {@code dir}: config.json, and the
     * weights that {@code tensors} writes (every tensor of the layout, in layout order) in {@code dtype},
     * sharded as transformers shards (5 GB) and streamed: no whole-model array is needed.
     */
    public static void writeInto(GsaConfig config, Path dir, DType dtype, java.util.function.Consumer<gsat2r.core.safetensors.TensorWriter> tensors) {
        config.withDtype(dtypeName(dtype)).write(dir);
        try (ShardedSafeTensorsWriter w = ShardedSafeTensorsWriter.create(dir, specs(new GsaLayout(config), dtype),
                ShardedSafeTensorsWriter.DEFAULT_MAX_SHARD_BYTES)) {
            tensors.accept(w);
            w.commit();
        }
    }

    /** Writes a new checkpoint directory atomically (see {@link GsaModel#save}). */
    public static void save(GsaModel model, Path dir, DType dtype, boolean replace) {
        try (AtomicDirectory out = AtomicDirectory.create(dir, replace, STUDENT)) {
            writeInto(model, out.path(), dtype);
            out.commit();
        }
    }
}
