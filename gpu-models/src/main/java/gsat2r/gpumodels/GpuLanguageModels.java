package gsat2r.gpumodels;

import gsat2r.core.T2rException;
import gsat2r.core.model.BatchDecoder;
import gsat2r.core.model.Continuations;
import gsat2r.core.model.DirectoryFingerprint;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.ModelFingerprint;
import gsat2r.core.model.Precision;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.Cuda;

import java.util.Arrays;
import java.util.List;

/**
 * Whole models on the GPU behind the {@link LanguageModel} interface that the CLI ({@code t2r logits},
 * {@code generate}, {@code eval}, {@code serve} with {@code --device cuda}) and the evaluator use: a Llama/Mistral
 * teacher ({@link LlamaModel}, decoding with a KV cache) or a GSA student ({@link GsaModel}, decoding with its
 * constant-size recurrent state). Decoding one token at a time, alone or batched, is {@link DecodeRuntime}'s step;
 * scoring continuations is {@link GpuScorer}'s padded forward. Each model holds its own {@link Gpu} (closed with
 * the model).
 */
public final class GpuLanguageModels {
    private GpuLanguageModels() {}

    /** The model of {@code dir} (teacher or student, as the directory says) on GPU {@code ordinal}, in {@code precision}. */
    public static LanguageModel load(ModelDirectory dir, Precision precision, int ordinal) {
        Cuda.requireAvailable();
        ElementType type = ComputeType.of(precision);
        if (dir.isStudent()) GsaModel.checkSupported(dir.studentConfig(), dir.configFile());
        else LlamaModel.checkSupported(dir.teacherConfig(), dir.path());
        DirectoryFingerprint fingerprint = DirectoryFingerprint.of(dir);   // its files noted before the weights are read
        Gpu gpu = Gpu.open(ordinal);
        try {
            return dir.isStudent() ? new Student(gpu, new GsaModel(gpu, dir, type, null), fingerprint)
                    : new Teacher(gpu, LlamaModel.load(gpu, dir, type), fingerprint);
        } catch (RuntimeException e) {
            gpu.close();
            throw e;
        }
    }

    /** {@code flat [T·V]} as T rows of V. */
    static float[][] rows(float[] flat, int T, int V) {
        float[][] out = new float[T][];
        for (int t = 0; t < T; t++) out[t] = Arrays.copyOfRange(flat, t * V, (t + 1) * V);
        return out;
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
        final DecodeRuntime decoding;

        private final DirectoryFingerprint fingerprint;

        Teacher(Gpu gpu, LlamaModel model, DirectoryFingerprint fingerprint) {
            this.gpu = gpu;
            this.model = model;
            this.decoding = DecodeRuntime.of(gpu, model);
            this.fingerprint = fingerprint;
        }

        /** The CPU model's fingerprint of the same directory, so that decoding states move between the two. */
        @Override
        public ModelFingerprint fingerprint() {
            return fingerprint.get();
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
            decoding.releaseAbandoned();
            return new GpuTeacherDecoder(decoding, model);
        }

        @Override
        public BatchDecoder batchDecoder() {
            return decoding;
        }

        @Override
        public List<Continuations.Score[]> scoreContinuations(List<Continuations> batch) {
            return new GpuScorer(gpu, model.type(), model.config.hiddenSize(), vocabSize(), model.head(),
                    b -> model.forwardHidden(b, null, true)).score(batch);
        }

        @Override
        public void close() {
            try {
                decoding.close();
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
        final DecodeRuntime decoding;

        private final DirectoryFingerprint fingerprint;

        Student(Gpu gpu, GsaModel model, DirectoryFingerprint fingerprint) {
            this.gpu = gpu;
            this.model = model;
            this.decoding = DecodeRuntime.of(gpu, model);
            this.fingerprint = fingerprint;
        }

        /** The CPU model's fingerprint of the same directory, so that decoding states move between the two. */
        @Override
        public ModelFingerprint fingerprint() {
            return fingerprint.get();
        }

        /** The batched decoding step (the benchmarks' handle on it). */
        DecodeRuntime decoding() {
            return decoding;
        }

        /** The GPU the student runs on (the tests' handle on its allocator). */
        Gpu gpu() {
            return gpu;
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
            decoding.releaseAbandoned();
            return new GpuStudentDecoder(decoding, model);
        }

        @Override
        public BatchDecoder batchDecoder() {
            return decoding;
        }

        @Override
        public List<Continuations.Score[]> scoreContinuations(List<Continuations> batch) {
            return new GpuScorer(gpu, model.type(), model.config.hiddenSize(), vocabSize(), model.w(model.output()), b -> {
                try (GsaModel.Forward f = model.forward(b, GsaModel.Memory.NONE, false)) {
                    DeviceBuffer normed = f.normed;
                    f.normed = null;   // the scorer closes it
                    return normed;
                }
            }).score(batch);
        }

        @Override
        public void close() {
            try {
                decoding.close();
                model.close();
            } finally {
                gpu.close();
            }
        }
    }
}
