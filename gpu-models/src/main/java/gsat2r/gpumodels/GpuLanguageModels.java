package gsat2r.gpumodels;

import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.Cuda;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Whole models on the GPU behind the {@link LanguageModel} interface that the CLI ({@code t2r logits},
 * {@code generate}, {@code eval} with {@code --device cuda}) and the evaluator use: a Llama/Mistral teacher
 * ({@link TeacherGpu}, decoding with a KV cache) or a GSA student ({@link StudentGpu}, decoding with its
 * constant-size recurrent state). Each model holds its own {@link Gpu} (closed with the model).
 */
public final class GpuLanguageModels {
    private GpuLanguageModels() {}

    /** The model of a directory by its {@code config.json} {@code model_type}, on GPU 0, in {@code precision}. */
    public static LanguageModel load(Path dir, Precision precision) {
        Cuda.requireAvailable();
        Path config = dir.resolve("config.json");
        if (!Files.isRegularFile(config)) throw new T2rException(config + ": no such file (not a model directory?)");
        boolean student;
        try {
            student = GsaConfig.MODEL_TYPE.equals(GsaConfig.modelType(new com.fasterxml.jackson.databind.ObjectMapper().readTree(config.toFile())));
        } catch (java.io.IOException e) {
            throw new T2rException(config + ": cannot read: " + e.getMessage(), e);
        }
        return student ? student(dir, precision) : teacher(dir, precision);
    }

    /** {@link #load} in the configured precision. */
    public static LanguageModel load(Path dir) {
        return load(dir, Precision.configured());
    }

    static LanguageModel teacher(Path dir, Precision precision) {
        Gpu gpu = Gpu.open();
        try {
            return new Teacher(gpu, TeacherGpu.load(gpu, dir, precision.type()));
        } catch (RuntimeException e) {
            gpu.close();
            throw e;
        }
    }

    static LanguageModel student(Path dir, Precision precision) {
        GsaModel host = GsaModel.load(dir);
        Gpu gpu = Gpu.open();
        try {
            return new Student(gpu, new StudentGpu(gpu, host, precision.type(), dir.resolve(GsaConfig.FILE_NAME)));
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
        final TeacherGpu model;

        Teacher(Gpu gpu, TeacherGpu model) {
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
            KvRingGpu[] caches = model.newCaches(256);
            return new GpuDecoder(vocabSize()) {
                @Override
                float[] decode(int[] ids, int position) {
                    return model.decode(ids, position, caches);
                }

                @Override
                public long stateBytes() {
                    long n = 0;
                    for (KvRingGpu c : caches) n += c.bytes();
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
        final StudentGpu model;

        Student(Gpu gpu, StudentGpu model) {
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
                 StudentGpu.Forward f = model.forward(b, StudentGpu.Memory.NONE)) {
                return rows(f.logits.toFloatArray(), ids.length, vocabSize());
            }
        }

        @Override
        public Decoder newDecoder() {
            StudentGpu.DecodeState state = model.new DecodeState(256);
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
