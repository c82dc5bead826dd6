"""Task files for lm-evaluation-harness that read the shipped example task data (docs/examples/task-data) instead of
the Hugging Face hub: each includes the harness's own definition of the task and changes only where its documents
come from (and drops the splits the example files do not have).

    python write_tasks.py HARNESS_TASKS_DIR TASK_DATA_DIR OUT_DIR
"""
import os
import sys

# task: (harness definition under lm_eval/tasks, loader, split, file under the task data)
TASKS = {
    "arc_easy": ("arc/arc_easy.yaml", "parquet", "test", "allenai/ai2_arc/ARC-Easy/test-00000-of-00001.parquet"),
    "arc_challenge": ("arc/arc_challenge.yaml", "parquet", "test", "allenai/ai2_arc/ARC-Challenge/test-00000-of-00001.parquet"),
    "hellaswag": ("hellaswag/hellaswag.yaml", "parquet", "validation", "Rowan/hellaswag/data/validation-00000-of-00001.parquet"),
    "piqa": ("piqa/piqa.yaml", "json", "validation", "baber/piqa/data/validation.jsonl"),
    "winogrande": ("winogrande/default.yaml", "parquet", "validation",
                   "allenai/winogrande/winogrande_xl/validation-00000-of-00001.parquet"),
    "lambada_openai": ("lambada/lambada_openai.yaml", "json", "test", "EleutherAI/lambada_openai/default/test.jsonl"),
    "wikitext": ("wikitext/wikitext.yaml", "parquet", "test",
                 "EleutherAI/wikitext_document_level/wikitext-2-raw-v1/test-00000-of-00001.parquet"),
}


# A generation task of our own (the harness's generation tasks need datasets not shipped): the first six words of each
# lambada text, continued greedily up to 16 tokens or a full stop; t2r generate --greedy --stop . gives the reference.
GENERATION = """task: local_generation
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{text.split(' ')[:6]|join(' ')}}}}"
doc_to_target: "{{{{text}}}}"
generation_kwargs:
  until: ["."]
  max_gen_toks: 16
  do_sample: false
  temperature: 0
process_results: !function generation.process
metric_list:
  - metric: chars
    aggregation: mean
    higher_is_better: true
"""


def main(harness_tasks, task_data, out):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "local_generation.yaml"), "w") as f:
        f.write(GENERATION.format(data=os.path.join(task_data, TASKS["lambada_openai"][3])))
    with open(os.path.join(out, "generation.py"), "w") as f:
        f.write("def process(doc, results):\n    return {'chars': len(results[0])}\n")
    for task, (definition, loader, split, data) in TASKS.items():
        splits = {s: (s if s == split else "null") for s in ("validation", "test")}
        with open(os.path.join(out, f"local_{task}.yaml"), "w") as f:
            f.write(f"include: {os.path.join(harness_tasks, definition)}\n"
                    f"task: local_{task}\n"
                    f"tag: null\n"
                    f"dataset_path: {loader}\n"
                    f"dataset_name: null\n"
                    f"dataset_kwargs:\n  data_files:\n    {split}: {os.path.join(task_data, data)}\n"
                    f"training_split: null\n"
                    f"validation_split: {splits['validation']}\n"
                    f"test_split: {splits['test']}\n"
                    f"fewshot_split: null\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
