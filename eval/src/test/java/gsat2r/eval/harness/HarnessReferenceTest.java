package gsat2r.eval.harness;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import gsat2r.core.model.llama.LlamaModel;
import gsat2r.core.tokenizer.Tokenizer;
import gsat2r.eval.Progress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The demo teacher on the shipped task files (docs/examples/task-data), against an independent implementation of
 * the harness's rules (scripts/eval/harness_reference.py, run on the log-likelihoods this code logged): every
 * request's context and continuation strings equal, accuracies exactly equal, perplexities, bits per byte, standard
 * errors (LAMBADA's bootstrapped with Python's own random) and MMLU's size-weighted groups to 1e-6 relative (the
 * log-likelihoods themselves are fp32 model outputs, checked against full forwards in core). Few-shot examples that
 * the harness draws at random are drawn there by Python's own {@code random}.
 */
class HarnessReferenceTest {

    static final Path TASK_DATA = Path.of("..", "docs", "examples", "task-data");
    static final Path REFERENCE = Path.of("src", "test", "resources", "harness");
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @Test
    void zeroShotTasksMatchTheReference() throws IOException {
        check(List.of("hellaswag", "arc_easy", "arc_challenge", "piqa", "winogrande", "lambada_openai", "wikitext", "mmlu"), 0,
                "reference-0shot.json", 30);
    }

    @Test
    void fiveShotMmluMatchesTheReference() throws IOException {
        check(List.of("mmlu"), 5, "reference-5shot.json", 8);
    }

    @Test
    void fiveShotPiqaDrawsItsExamplesAsTheHarnessDoes() throws IOException {
        // The reference draws with Python's own random.Random(1234).sample, n + 1 a document (piqa has no test split).
        check(List.of("piqa"), 5, "reference-5shot-piqa.json", 4);
    }

    @Test
    void threeShotLambadaDrawsItsExamplesFromItsTestSplit() throws IOException {
        // No training or validation split: the harness draws from the test documents themselves, n a document.
        check(List.of("lambada_openai"), 3, "reference-3shot-lambada.json", 4);
    }

    private void check(List<String> tasks, int shots, String reference, int leastMetrics) throws IOException {
        HarnessEval eval = new HarnessEval(new HarnessEval.Settings(HarnessTasks.select(tasks), new TaskData(TASK_DATA),
                new HarnessRunner.Options(shots, 3, HarnessMetrics.BOOTSTRAP_ITERS, null, true), HarnessEncoder.Bos.AUTO, 512,
                true, "cpu", "test"), Progress.silent());
        Path kjv = Path.of("..", "models", "kjv-llama");
        HarnessEval.ModelResults r;
        try (LlamaModel model = LlamaModel.load(kjv); Tokenizer tok = Tokenizer.load(kjv)) {
            r = eval.run("model", kjv, model, tok);
        }
        eval.write(tmp, r);
        JsonNode ref = JSON.readTree(REFERENCE.resolve(reference).toFile());
        JsonNode results = JSON.readTree(tmp.resolve("results.json").toFile()).get("results");
        int compared = 0;
        for (Iterator<Map.Entry<String, JsonNode>> it = ref.get("tasks").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> t = it.next();
            List<String> lines = Files.readAllLines(tmp.resolve("samples_" + t.getKey() + ".jsonl"));
            JsonNode args = t.getValue().get("arguments");
            assertEquals(args.size(), lines.size(), t.getKey());
            for (int d = 0; d < lines.size(); d++) {
                assertEquals(args.get(d), JSON.readTree(lines.get(d)).get("arguments"), t.getKey() + " document " + d);
            }
            compared += compare(t.getKey(), t.getValue().get("metrics"), results.get(t.getKey()));
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = ref.get("groups").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> g = it.next();
            compared += compare(g.getKey(), g.getValue(), results.get(g.getKey()));
        }
        System.out.printf("%d metrics of %d tasks and groups agree with %s%n", compared, results.size(), reference);
        assertTrue(compared >= leastMetrics, "compared " + compared);
    }

    private static int compare(String task, JsonNode expected, JsonNode actual) {
        int n = 0;
        for (Iterator<Map.Entry<String, JsonNode>> it = expected.fields(); it.hasNext(); n++) {
            Map.Entry<String, JsonNode> m = it.next();
            double e = m.getValue().asDouble(), a = actual.get(m.getKey()).asDouble();
            if (m.getKey().startsWith("acc,") || m.getKey().startsWith("acc_norm,")) assertEquals(e, a, 0.0, task + " " + m.getKey());
            else assertEquals(e, a, 1e-6 * Math.abs(e), task + " " + m.getKey());
        }
        return n;
    }
}
