package gsat2r.core.model.gsa;

import gsat2r.core.model.LanguageModel;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.testing.Numerics;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * The student against checkpoints and logits made by fla 0.5.2's own {@code GSAForCausalLM}: every
 * {@code fixtures/fla-gsa-*} folder of the test resources (config.json, model.safetensors,
 * expected.safetensors with {@code input_ids [B,T]} and {@code logits [B,T,V]}) is loaded, run in one
 * batch, and must match within 1e-4 relative L2 (fla ran those in fp32). A folder may add
 * {@code logits_first40} (the first 40 tokens alone, fla's fp32 recurrent kernel: 1e-4) beside longer
 * {@code logits} made by fla's chunk kernels, which use tf32 (about 2.5e-4 off exact): 1e-3.
 */
class FlaCheckpointsTest {

    static final double EXACT = 1e-4, TF32 = 1e-3;

    static List<Path> fixtureDirs() throws IOException, URISyntaxException {
        Path root = Path.of(FlaCheckpointsTest.class.getResource("/fixtures").toURI());
        List<Path> dirs = new ArrayList<>();
        try (Stream<Path> s = Files.list(root)) {
            s.filter(p -> p.getFileName().toString().startsWith("fla-gsa-"))
                    .filter(p -> Files.isRegularFile(p.resolve("config.json")))
                    .sorted().forEach(dirs::add);
        }
        return dirs;
    }

    @TestFactory
    Stream<DynamicTest> everyFlaCheckpointMatchesFla() throws IOException, URISyntaxException {
        List<Path> dirs = fixtureDirs();
        assertFalse(dirs.isEmpty(), "no fixtures/fla-gsa-* folders");
        return dirs.stream().map(dir -> DynamicTest.dynamicTest(dir.getFileName().toString(), () -> check(dir)));
    }

    private static void check(Path dir) {
        GsaModel model = GsaModel.load(dir);
        int V = model.vocabSize();
        try (SafeTensors expected = SafeTensors.open(dir.resolve("expected.safetensors"))) {
            long[] shape = expected.info("input_ids").shape();
            int B = (int) shape[0], T = (int) shape[1];
            int[] ids = Arrays.stream(expected.longs("input_ids")).mapToInt(Math::toIntExact).toArray();
            boolean chunkKernels = expected.has("logits_first40");
            float[] logits = model.forward(ids, B, T, GsaModel.Memory.KEEP).logits();
            double tol = chunkKernels ? TF32 : EXACT;
            double err = Numerics.relL2(logits, expected.floats("logits"));
            System.out.printf("%s: logits [%d,%d,%d] relative L2 %.2e (tolerance %.0e)%n", dir.getFileName(), B, T, V, err, tol);
            Numerics.assertRelL2(dir.getFileName() + " logits", logits, expected.floats("logits"), tol);
            if (chunkKernels) {
                int T40 = (int) expected.info("logits_first40").shape()[1];
                float[] first = new float[B * T40 * V];
                for (int b = 0; b < B; b++) {
                    // Each sequence alone, through the LanguageModel API (batch of one).
                    float[][] rows = model.forward(Arrays.copyOfRange(ids, b * T, b * T + T40));
                    assertEquals(T40, rows.length);
                    System.arraycopy(Numerics.flatten(rows), 0, first, b * T40 * V, T40 * V);
                }
                double e40 = Numerics.relL2(first, expected.floats("logits_first40"));
                System.out.printf("%s: logits_first40 relative L2 %.2e (tolerance %.0e)%n", dir.getFileName(), e40, EXACT);
                Numerics.assertRelL2(dir.getFileName() + " logits_first40", first, expected.floats("logits_first40"), EXACT);
            }
        }
    }
}
