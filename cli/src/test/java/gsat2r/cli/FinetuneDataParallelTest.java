package gsat2r.cli;

import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.testing.Fixtures;
import gsat2r.finetune.toy.ToyRuns;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code t2r finetune --gpus 2} end to end on the CPU backend: the command starts two child JVMs, they
 * meet at the TCP rendezvous, rank 0 converts the teacher and tokenizes the corpus while rank 1 waits,
 * and both train the real GSA student data-parallel. With one micro-batch per rank and step, the
 * result must be bit-identical to one process accumulating the same two micro-batches (weights and
 * metrics.jsonl but for the clock). And a recipe whose batch does not split over the ranks makes both
 * ranks fail; the launcher reports it and exits 1.
 */
class FinetuneDataParallelTest {

    @TempDir
    Path root;

    static final JsonMapper JSON = JsonMapper.builder().build();

    Path recipe(int batch) throws IOException {
        return recipe(root, batch);
    }

    /** The teacher, a corpus and a recipe of {@code batch} sequences a step, under {@code root}. */
    static Path recipe(Path root, int batch) throws IOException {
        Fixtures.copy("hf-tiny-mistral", root.resolve("teacher"));
        Path corpus = Files.createDirectories(root.resolve("corpus"));
        List<String> train = new ArrayList<>(), validation = new ArrayList<>();
        for (String t : ToyRuns.corpus(80, 1)) train.add(JSON.createObjectNode().put("text", t).toString());
        for (String t : ToyRuns.corpus(8, 2)) validation.add(JSON.createObjectNode().put("text", t).toString());
        Files.write(corpus.resolve("train.jsonl"), train);
        Files.write(corpus.resolve("validation.jsonl"), validation);
        Path recipe = root.resolve("recipe-" + batch + ".json");
        Files.writeString(recipe, """
                {
                  "teacher": "teacher",
                  "student": {"slots": 8, "gate_init": "key-pool"},
                  "data": {"train": "corpus/train.jsonl", "validation": "corpus/validation.jsonl"},
                  "seq_len": 16, "batch": %d, "micro_batch": 1, "seed": 3, "checkpoint_interval": 2, "eval_tokens": 48,
                  "stages": [
                    {"name": "at", "type": "attention-transfer", "steps": 2, "lr": 1e-2, "eval_interval": 2},
                    {"name": "kd", "type": "distill", "steps": 2, "lr": 1e-2, "trainable": "lora:2", "temperature": 2.0, "eval_interval": 2}
                  ]
                }
                """.formatted(batch));
        return recipe;
    }

    @Test
    void twoRanksStartedByT2rTrainAsOneProcessAccumulatingTheirMicroBatches() throws IOException {
        Path recipe = recipe(2);
        Path one = root.resolve("one"), two = root.resolve("two");
        CliRun single = CliRun.run(DataPrepareCommandTest.NO_MODELS, root.resolve("cache"), "finetune", "--recipe", recipe.toString(),
                "--out", one.toString());
        assertEquals(0, single.exit(), single.toString());

        CliRun parallel = CliRun.run(DataPrepareCommandTest.NO_MODELS, root.resolve("cache"), "finetune", "--recipe", recipe.toString(),
                "--out", two.toString(), "--gpus", "2");
        assertEquals(0, parallel.exit(), parallel.toString());
        assertEquals(two.toAbsolutePath().resolve("final").toString(), parallel.out().strip(), "rank 0's stdout: the student, unprefixed");
        assertTrue(parallel.err().contains("[rank 0] t2r: opening the cpu backend in fp32 on each of 2 ranks (micro-batch 1 per rank, 1 accumulated)"),
                parallel.err());
        assertFalse(parallel.err().lines().anyMatch(l -> l.startsWith("[rank 1] t2r:")), "rank 0 reports for the group: " + parallel.err());
        assertArrayEquals(Files.readAllBytes(one.resolve("final/model.safetensors")), Files.readAllBytes(two.resolve("final/model.safetensors")));
        assertEquals(withoutClock(one), withoutClock(two));
    }

    @Test
    void aBatchThatDoesNotSplitIsOneLineBeforeAnyRankStarts() throws IOException {
        Path recipe = recipe(3);
        CliRun r = CliRun.run(DataPrepareCommandTest.NO_MODELS, root.resolve("cache"), "finetune", "--recipe", recipe.toString(),
                "--out", root.resolve("bad").toString(), "--gpus", "2");
        assertEquals(1, r.exit(), r.toString());
        assertEquals(List.of("error: " + recipe + ": batch 3 is not a multiple of micro_batch 1 x 2 ranks = 2;"
                + " no micro_batch fits 2 ranks: use a number of ranks that divides the batch (1, 3)"), r.errLines());
        assertFalse(Files.exists(root.resolve("bad")));
    }

    static List<String> withoutClock(Path run) throws IOException {
        List<String> out = new ArrayList<>();
        for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            ObjectNode n = (ObjectNode) JSON.readTree(l);
            n.remove("elapsed_s");
            out.add(n.toString());
        }
        return out;
    }
}
