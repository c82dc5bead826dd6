#!/usr/bin/env bash
# lm-evaluation-harness (its `local-completions` model) against `t2r serve`, checked against `t2r eval`'s own harness
# tasks on the same model and the same files (docs/serve.md, "Log-probabilities and lm-evaluation-harness"):
#   bash scripts/harness-via-serve.sh [MODEL=models/kjv-llama]
# Starts `./t2r serve` on a free loopback port, runs `lm_eval` on the shipped example task files
# (docs/examples/task-data) through the harness's own task definitions, runs `t2r eval --add-bos-token false` on the
# same files, and prints per task how many scored requests are equal bit for bit, the largest difference, and both
# metrics. Needs cli/target/t2r.jar and a Python with lm_eval (HARNESS_PYTHON; made as a virtual environment under
# $WORK when absent: `pip install lm-eval datasets aiohttp tenacity requests`, which needs a package index).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
MODEL=${1:-models/kjv-llama}
WORK=${WORK:-/tmp/t2r-harness-via-serve}
TASKS=arc_easy,arc_challenge,hellaswag,piqa,winogrande,lambada_openai,wikitext
mkdir -p "$WORK"
PY=${HARNESS_PYTHON:-$WORK/venv/bin/python}
if [ ! -x "$PY" ]; then
  python3 -m venv "$WORK/venv"
  # lm_eval's own requirements that its log-likelihood path never imports (evaluate, sqlitedict, ...) are left out.
  "$WORK/venv/bin/pip" install -q --no-deps lm-eval
  "$WORK/venv/bin/pip" install -q datasets numpy jinja2 sacrebleu scikit-learn dill more_itertools typing_extensions tqdm \
    requests aiohttp tenacity
fi
HARNESS_TASKS=$("$PY" -c 'import lm_eval.tasks, os; print(os.path.dirname(lm_eval.tasks.__file__))')
"$PY" scripts/harness/write_tasks.py "$HARNESS_TASKS" "$PWD/docs/examples/task-data" "$WORK/tasks"

source scripts/serve-start.sh
serve_start "$WORK/serve.log" --model "$MODEL" --model-name model
CONTEXT=$(curl -s "${URL}tokenizer_info" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["model_max_length"])')
BOS=$(curl -s "${URL}tokenizer_info" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["bos_token"] or "")')
PREFIX=
if [ -n "$BOS" ]; then
  # The harness takes a BOS id of 0 for none (Python's `0 or eos`) and would condition rolling windows on EOS.
  PREFIX=,custom_prefix_token_id=$(curl -s "${URL}tokenize" -d "{\"prompt\": \"$BOS\", \"add_special_tokens\": false}" \
    | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["tokens"][0])')
fi
rm -rf "$WORK/harness" "$WORK/t2r"
HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 "$PY" -m lm_eval --model local-completions --include_path "$WORK/tasks" \
  --tasks "$(echo "$TASKS" | sed 's/[^,]*/local_&/g'),local_generation" --batch_size 16 --output_path "$WORK/harness" --log_samples \
  --model_args "base_url=${URL}v1/completions,model=model,num_concurrent=4,max_length=$CONTEXT$PREFIX" >"$WORK/lm_eval.log" 2>&1 \
  || { grep -q "No module named 'pytablewriter'" "$WORK/lm_eval.log" && compgen -G "$WORK/harness/*/results_*.json" >/dev/null; } \
  || { tail -20 "$WORK/lm_eval.log"; exit 1; }        # its results are written before the table it prints needs pytablewriter
# The harness keeps one token of its max_length for the token each request generates.
./t2r eval --model "$MODEL" --tasks "$TASKS" --task-data docs/examples/task-data --add-bos-token false \
  --max-length $((CONTEXT - 1)) --log-samples --out "$WORK/t2r" >"$WORK/t2r-eval.log" 2>&1
# The generation task's prompts as the harness sent them (ids without BOS, through /tokenize), continued by t2r generate.
"$PY" scripts/harness/generations.py "$WORK"/harness/*/samples_local_generation_*.jsonl "${URL}tokenize" > "$WORK/generation-ids.txt"
: > "$WORK/generation-expected.jsonl"
while read -r doc ids; do
  ./t2r generate --model "$MODEL" --ids "$ids" --greedy --max-new-tokens 16 --stop . --format json >> "$WORK/generation-expected.jsonl"
done < "$WORK/generation-ids.txt"
echo "lm_eval $("$PY" -c 'import importlib.metadata as m; print(m.version("lm_eval"))') through t2r serve ($MODEL) against t2r eval:"
"$PY" scripts/harness/compare.py "$WORK/t2r" "$(dirname "$(ls "$WORK"/harness/*/results_*.json | head -n 1)")" "$TASKS"
"$PY" scripts/harness/generations.py "$WORK"/harness/*/samples_local_generation_*.jsonl --expected "$WORK/generation-expected.jsonl"
