package gsat2r.finetune.toy;

import com.fasterxml.jackson.databind.json.JsonMapper;
import gsat2r.core.data.DataPreparer;
import gsat2r.core.data.SplitMix64;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Everything a training run of the toy model needs, in one directory: a toy teacher
 * ({@code teacher/}), a synthetic corpus with structure worth learning ({@code corpus/train.jsonl},
 * {@code corpus/validation.jsonl}), and the corpus prepared as token shards ({@code data/}).
 */
public final class ToyRuns {
    private ToyRuns() {}

    private static final String[] SUBJECTS = {"the king", "a shepherd", "the people", "his servant", "the prophet", "my brother"};
    private static final String[] VERBS = {"went up to", "spoke unto", "looked upon", "gave bread to", "came down from", "blessed"};
    private static final String[] OBJECTS = {"the city", "the mountain", "the river", "the house of god", "the field", "the gate"};

    /** Documents of a few sentences each, drawn from a small grammar (so a language model can learn them). */
    public static List<String> corpus(int documents, long seed) {
        SplitMix64 rng = new SplitMix64(seed);
        List<String> docs = new ArrayList<>();
        for (int d = 0; d < documents; d++) {
            StringBuilder sb = new StringBuilder();
            int sentences = 2 + rng.nextInt(4);
            for (int s = 0; s < sentences; s++) {
                String subject = SUBJECTS[rng.nextInt(SUBJECTS.length)];
                sb.append(Character.toUpperCase(subject.charAt(0))).append(subject.substring(1)).append(' ')
                        .append(VERBS[rng.nextInt(VERBS.length)]).append(' ').append(OBJECTS[rng.nextInt(OBJECTS.length)])
                        .append(rng.nextInt(3) == 0 ? ", and it was good. " : ". ");
            }
            docs.add(sb.toString().strip());
        }
        return docs;
    }

    /** Writes teacher/, corpus/ and data/ under {@code root}; returns root. */
    public static Path create(Path root) {
        try {
            ToyModels.teacher(root.resolve("teacher"), 12, 2, 11);
            Path corpus = Files.createDirectories(root.resolve("corpus"));
            JsonMapper json = JsonMapper.builder().build();
            List<String> train = new ArrayList<>(), validation = new ArrayList<>();
            for (String t : corpus(160, 1)) train.add(json.createObjectNode().put("text", t).toString());
            for (String t : corpus(12, 2)) validation.add(json.createObjectNode().put("text", t).toString());
            Files.write(corpus.resolve("train.jsonl"), train);
            Files.write(corpus.resolve("validation.jsonl"), validation);
            DataPreparer.prepare(new DataPreparer.Request(root.resolve("teacher"), List.of(corpus.resolve("train.jsonl")),
                    List.of(corpus.resolve("validation.jsonl")), "text", 0, DataPreparer.DEFAULT_SHARD_TOKENS,
                    root.resolve("data"), false), p -> {});
            return root;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * A recipe over {@link #create}'s files: attention transfer (attention), distillation with LoRA,
     * then plain fine-tuning (all), {@code steps} steps each, batch 4 (2 x 2 accumulated) of 24 tokens,
     * a checkpoint every {@code checkpointInterval} steps. Paths are relative to the recipe file, which
     * is written to {@code root/name}.
     */
    public static Path recipe(Path root, String name, int steps, int checkpointInterval) throws IOException {
        String text = """
                {
                  "description": "toy: attention transfer, distillation with LoRA, fine-tuning",
                  "teacher": "teacher",
                  "student": {"slots": 4, "seed": 3},
                  "data": {"prepared": "data"},
                  "seq_len": 24,
                  "batch": 4,
                  "micro_batch": 2,
                  "seed": 1234,
                  "checkpoint_interval": %d,
                  "keep_checkpoints": 2,
                  "eval_tokens": 96,
                  "stages": [
                    {"name": "at", "type": "attention-transfer", "steps": %d, "lr": 0.01, "warmup_steps": 2, "eval_interval": 5},
                    {"name": "kd", "type": "distill", "steps": %d, "lr": 0.01, "warmup_steps": 2, "trainable": "lora:4",
                     "temperature": 2.0, "ce_weight": 0.1, "eval_interval": 5, "weight_decay": 0.01},
                    {"name": "ft", "type": "finetune", "steps": %d, "lr": 0.003, "trainable": "all", "weight_decay": 0.1}
                  ]
                }
                """.formatted(checkpointInterval, steps, steps, steps);
        Path file = root.resolve(name);
        Files.writeString(file, text);
        return file;
    }
}
