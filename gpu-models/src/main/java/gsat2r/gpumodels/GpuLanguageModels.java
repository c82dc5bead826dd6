package gsat2r.gpumodels;

import gsat2r.core.T2rException;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.Precision;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.Cuda;

import java.util.Arrays;

/**
 * Whole models on the GPU behind the {@link LanguageModel} interface that the CLI ({@code t2r logits},
 * {@code generate}, {@code eval} with {@code --device cuda}) and the evaluator use: a Llama/Mistral teacher
 * ({@link LlamaModel}, decoding with a KV cache) or a GSA student ({@link GsaModel}, decoding with its
 * constant-size recurrent state). Each model holds its own {@link Gpu} (closed with the model).
 */
public final class GpuLanguageModels {
    private GpuLanguageModels() {}

    /** The model of {@code dir} (teacher or student, as the directory says) on GPU {@code ordinal}, in {@code precision}. */
    public static LanguageModel load(ModelDirectory dir, Precision precision, int ordinal) {
        Cuda.requireAvailable();
        ElementType type = ComputeType.of(precision);
        if (dir.isStudent()) GsaModel.checkSupported(dir.studentConfig(), dir.configFile());
        else LlamaModel.checkSupported(dir.teacherConfig(), dir.path());
        Gpu gpu = Gpu.open(ordinal);
        try {
            return dir.isStudent() ? new Student(gpu, new GsaModel(gpu, dir, type, null)) : new Teacher(gpu, LlamaModel.load(gpu, dir, type));
        } catch (RuntimeException e) {
            gpu.close();
            throw e;
        }
    }

    private static float[][] rows(float[] flat, int T, int V) {
        float[][] out = new float[T][];
        for (int t = 0; t < T; t++) out[t] = Arrays.copyOfRange(flat, t * V, (t + 1) * V);
        return out;
    }

    /** The decoders of both models: the position they have reached; each feeds its ids to its model's decode at it. */
    private abstract static class GpuDecoder implements LanguageModel.Decoder {
        private final int vocab;
        private int position;

        GpuDecoder(int vocab) {
            this.vocab = vocab;
        }

        /** Runs {@code ids} from {@code position} through the model's decoding state; the logits after the last. */
        abstract float[] decode(int[] ids, int position);

        @Override
        public float[] prefill(int[] ids) {
            checkIds(ids, vocab);
            float[] logits = decode(ids, position);
            position += ids.length;
            return logits;
        }

        @Override
        public float[] next(int id) {
            return prefill(new int[] {id});
        }

        @Override
        public int position() {
            return position;
        }
    }

    private static void checkIds(int[] ids, int vocab) {
        if (ids.length == 0) throw new T2rException("no tokens to run the model on");
        for (int id : ids) {
            if (id < 0 || id >= vocab) throw new T2rException("token id " + id + " is outside the vocabulary (0.." + (vocab - 1) + ")");
        }
    }

    /** A teacher on the GPU. */
    static final class Teacher implements LanguageModel {
        private final Gpu gpu;
        final LlamaModel model;

        Teacher(Gpu gpu, LlamaModel model) {
            this.gpu = gpu;
            this.model = model;
        }

        @Override
        public int vocabSize() {
            return model.vocabSize();
        }

        @Override
        public float[][] forward(int[] ids) {
            checkIds(ids, vocabSize());
            try (DeviceBatch b = DeviceBatch.ofIds(gpu, ids, 1, ids.length, vocabSize()); DeviceBuffer logits = model.forward(b, null, true)) {
                return rows(logits.toFloatArray(), ids.length, vocabSize());
            }
        }

        @Override
        public Decoder newDecoder() {
            KvRing[] caches = model.newCaches(256);
            return new GpuDecoder(vocabSize()) {
                @Override
                float[] decode(int[] ids, int position) {
                    return model.decode(ids, position, caches);
                }

                @Override
                public long stateBytes() {
                    long n = 0;
                    for (KvRing c : caches) n += c.bytes();
                    return n;
                }
            };
        }

        @Override
        public void close() {
            try {
                model.close();
            } finally {
                gpu.close();
            }
        }
    }

    /** A GSA student on the GPU. */
    static final class Student implements LanguageModel {
        private final Gpu gpu;
        final GsaModel model;

        Student(Gpu gpu, GsaModel model) {
            this.gpu = gpu;
            this.model = model;
        }

        @Override
        public int vocabSize() {
            return model.vocabSize();
        }

        @Override
        public float[][] forward(int[] ids) {
            checkIds(ids, vocabSize());
            try (DeviceBatch b = DeviceBatch.ofIds(gpu, ids, 1, ids.length, vocabSize());
                 GsaModel.Forward f = model.forward(b, GsaModel.Memory.NONE, true)) {
                return rows(f.logits.toFloatArray(), ids.length, vocabSize());
            }
        }

        @Override
        public Decoder newDecoder() {
            GsaModel.DecodeState state = model.new DecodeState(256);
            return new GpuDecoder(vocabSize()) {
                @Override
                float[] decode(int[] ids, int position) {
                    return model.decode(ids, position, state);
                }

                @Override
                public long stateBytes() {
                    return state.bytes();
                }
            };
        }

        @Override
        public void close() {
            try {
                model.close();
            } finally {
                gpu.close();
            }
        }
    }
}
