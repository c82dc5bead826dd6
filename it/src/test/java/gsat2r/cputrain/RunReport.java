package gsat2r.cputrain;

import gsat2r.core.config.GsaConfig;
import gsat2r.core.cpu.LogitLosses;
import gsat2r.core.data.PackedSequences;
import gsat2r.core.data.PreparedDataset;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.core.model.llama.LlamaModel;
import gsat2r.core.safetensors.SafeTensors;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Validation numbers of a finished {@code t2r finetune} run (docs/benchmarks.md): the teacher, the
 * converted student ({@code student-init/}), the student of every checkpoint left in
 * {@code checkpoints/} (rebuilt from its {@code state.safetensors}), and {@code final/}, each on the
 * first ⌈eval_tokens / T⌉ validation windows, as the trainer evaluates: cross-entropy, perplexity,
 * KL(teacher ‖ student) and top-1 agreement with the teacher.
 *
 * <pre>
 * java -cp cli/target/t2r.jar:finetune/target/test-classes gsat2r.cputrain.RunReport RUN TEACHER SEQ_LEN EVAL_TOKENS
 * </pre>
 */
public final class RunReport {
    private RunReport() {}

    public static void main(String[] args) throws Exception {
        Path run = Path.of(args[0]);
        LlamaModel teacher = LlamaModel.load(Path.of(args[1]));
        int T = Integer.parseInt(args[2]);
        long evalTokens = Long.parseLong(args[3]);
        int V = teacher.vocabSize();
        List<int[]> windows = new ArrayList<>();
        try (PreparedDataset data = PreparedDataset.open(run.resolve("data"))) {
            PackedSequences validation = new PackedSequences(data.validation(), T);
            long n = Math.min(validation.count(), (evalTokens + T - 1) / T);
            for (long i = 0; i < n; i++) {
                int[] w = new int[T + 1];
                validation.window(i, w, 0);
                windows.add(w);
            }
        }
        List<float[]> teacherLogits = new ArrayList<>();
        for (int[] w : windows) teacherLogits.add(teacher.logits(java.util.Arrays.copyOf(w, T)));
        System.out.printf(Locale.ROOT, "%d validation windows of %d tokens%n", windows.size(), T);
        System.out.printf(Locale.ROOT, "%-28s %8s %9s %8s %7s%n", "model", "val CE", "val ppl", "KL", "top-1");
        print("teacher", windows, teacherLogits, w -> teacher.logits(java.util.Arrays.copyOf(w, T)), T, V);
        GsaModel init = GsaModel.load(run.resolve("student-init"));
        print("converted student", windows, teacherLogits, w -> logits(init, w, T), T, V);
        try (Stream<Path> s = Files.list(run.resolve("checkpoints"))) {
            for (Path c : s.filter(p -> p.getFileName().toString().startsWith("step-")).sorted().toList()) {
                GsaModel m = fromState(init.config(), c.resolve("state.safetensors"));
                print("checkpoint " + c.getFileName(), windows, teacherLogits, w -> logits(m, w, T), T, V);
            }
        }
        if (Files.isDirectory(run.resolve("final"))) {
            GsaModel fin = GsaModel.load(run.resolve("final"));
            print("final", windows, teacherLogits, w -> logits(fin, w, T), T, V);
        }
    }

    static float[] logits(GsaModel m, int[] window, int T) {
        return m.forward(java.util.Arrays.copyOf(window, T), 1, T, GsaModel.Memory.RECOMPUTE).logits();
    }

    /** The student weights of a training state ({@code param/<name>}). */
    static GsaModel fromState(GsaConfig config, Path state) {
        GsaModel m = new GsaModel(config, new float[Math.toIntExact(new gsat2r.core.model.gsa.GsaLayout(config).size())]);
        try (SafeTensors st = SafeTensors.open(state)) {
            for (ParameterView v : m.layout().views()) {
                float[] values = st.floats("param/" + v.name());
                System.arraycopy(values, 0, m.parameters(), v.arrayOffset(), v.arraySize());
            }
        }
        return m;
    }

    static void print(String name, List<int[]> windows, List<float[]> teacherLogits, java.util.function.Function<int[], float[]> model,
                      int T, int V) {
        double ce = 0, kl = 0;
        long agree = 0, positions = 0;
        for (int i = 0; i < windows.size(); i++) {
            int[] w = windows.get(i);
            float[] z = model.apply(w), zt = teacherLogits.get(i);
            ce += LogitLosses.crossEntropy(z, 0, T, V, java.util.Arrays.copyOfRange(w, 1, T + 1), 0, null, 0, 0f);
            kl += LogitLosses.klDivergence(zt, 0, z, 0, T, V, 1f, null, 0, 0f);
            for (int p = 0; p < T; p++) if (argmax(z, p * V, V) == argmax(zt, p * V, V)) agree++;
            positions += T;
        }
        System.out.printf(Locale.ROOT, "%-28s %8.4f %9.2f %8.4f %6.1f%%%n", name, ce / positions, Math.exp(ce / positions), kl / positions,
                100.0 * agree / positions);
    }

    private static int argmax(float[] z, int off, int n) {
        int best = 0;
        for (int j = 1; j < n; j++) if (z[off + j] > z[off + best]) best = j;
        return best;
    }
}
