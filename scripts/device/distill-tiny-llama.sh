#!/usr/bin/env bash
# Distils tiny-llama into a GSA student on the GPU with `t2r finetune`, then measures it. Runs ON the GPU
# machine, from the repository root, with
#   /tmp/t2r-bundle          the Java bundle unpacked (scripts/device/make-train-bundle.sh; bin/t2r)
#   .carry/tiny/tiny-llama/  the teacher (config, 3 bf16 shards, index, tokenizer)
#   .carry/tiny/english-mix/ train.jsonl.xz, validation.jsonl
# Steps: recipes/tiny-llama.json with its paths rewritten to .carry/tiny and device cuda, its token budget
# scaled down to what TRAIN_SECONDS of training at TOKENS_PER_S allows (both stages alike, printed);
# t2r finetune; t2r eval --tasks lm on the GPU (teacher vs converted student, teacher vs final student:
# validation perplexity, top-1 agreement, KL); the final student re-saved in bf16 in shards under 15 MiB.
# Copies to $OUT (at most 8 files, each under 16 MiB): metrics.jsonl, run.log, eval.json, config.json,
# model.safetensors.index.json and the shards. Prints a table last.
#
#   TOKENS_PER_S=... TRAIN_SECONDS=270 EVAL_TOKENS=65536 [GATE_INIT=random|key-pool] bash scripts/device/distill-tiny-llama.sh
set -uo pipefail
ROOT=$PWD
OUT=${OUT:-$ROOT/distill-out}
B=${T2R_BUNDLE:-/tmp/t2r-bundle}
T2R=$B/bin/t2r
CARRY=$ROOT/.carry/tiny
W=${WORK:-/tmp/t2r-distill}
RATE=${TOKENS_PER_S:-500000}          # DistillBench measured 727K tokens/s for the bf16 distill step at 32x512 on the H100; the trainer adds data, evaluations, checkpoints
TRAIN_SECONDS=${TRAIN_SECONDS:-270}
EVAL_TOKENS=${EVAL_TOKENS:-131072}
export T2R_JAVA_OPTS=${T2R_JAVA_OPTS:--Xmx24g}
mkdir -p "$OUT"
[ -x "$T2R" ] || { echo "error: no t2r bundle at $B (bin/t2r)" >&2; exit 2; }
for f in tiny-llama/config.json english-mix/train.jsonl.xz english-mix/validation.jsonl; do
    [ -f "$CARRY/$f" ] || { echo "error: $CARRY/$f is missing" >&2; exit 2; }
done
rm -rf "$W" && mkdir -p "$W"
START=$(date +%s)

python3 - "$ROOT/recipes/tiny-llama.json" "$W/tiny-llama-cuda.json" "$CARRY" "$RATE" "$TRAIN_SECONDS" "${GATE_INIT:-}" > "$W/budget.txt" <<'PY'
import json, sys
src, dst, carry, rate, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
gate_init = sys.argv[6]
r = json.load(open(src))
r.pop("$schema", None)
if gate_init:
    r["student"]["gate_init"] = gate_init
r["teacher"] = f"{carry}/tiny-llama"
r["data"] = {"train": f"{carry}/english-mix/train.jsonl.xz", "validation": f"{carry}/english-mix/validation.jsonl"}
r["device"] = "cuda"
r["checkpoint_interval"] = 500
step_tokens = r["batch"] * r["seq_len"]
full = sum(s["tokens"] for s in r["stages"])
scale = min(1.0, rate * seconds / full)
for s in r["stages"]:
    if scale >= 1:
        continue                           # the recipe as it is
    steps = max(8, round(s["tokens"] * scale / step_tokens))
    s["tokens"] = steps * step_tokens
    s["warmup_steps"] = min(s.get("warmup_steps", 0), steps // 4)
    s["eval_interval"] = max(1, steps // 4)
r["description"] = f"tiny-llama on cuda, gate init {r['student']['gate_init']}, budget scaled by {scale:.3f} of the recipe's {full} tokens"
json.dump(r, open(dst, "w"), indent=1)
total = sum(s["tokens"] for s in r["stages"])
print(f"gate init {r['student']['gate_init']}; budget: {total:,} tokens ({scale:.1%} of the recipe's {full:,}): "
      + ", ".join(f"{s['name']} {s['tokens']:,} ({s['tokens'] // step_tokens} steps of {step_tokens})" for s in r["stages"])
      + f"; assumed {rate:,.0f} tokens/s for {seconds:.0f} s")
PY

cat "$W/budget.txt" | tee "$W/run.log"
echo "== t2r finetune"
"$T2R" finetune --recipe "$W/tiny-llama-cuda.json" --out "$W/run" 2>&1 | tee -a "$W/run.log"
FT=${PIPESTATUS[0]}
echo "finetune exit $FT after $(( $(date +%s) - START )) s" | tee -a "$W/run.log"
cp "$W/run/metrics.jsonl" "$OUT/metrics.jsonl" 2>/dev/null
cp "$W/run.log" "$OUT/run.log"

echo "== t2r eval --device cuda (lm, $EVAL_TOKENS tokens)"
for s in student-init final; do
    [ -d "$W/run/$s" ] || continue
    "$T2R" eval --teacher "$CARRY/tiny-llama" --student "$W/run/$s" --data "$CARRY/english-mix/validation.jsonl" --tasks lm \
        --max-tokens "$EVAL_TOKENS" --context 512 --device cuda --out "$W/eval-$s" 2>&1 | tail -n 3
done
python3 - "$W" "$OUT/eval.json" <<'PY'
import json, os, sys
w, out = sys.argv[1], sys.argv[2]
res = {}
for s in ("student-init", "final"):
    f = f"{w}/eval-{s}/report.json"
    if os.path.exists(f):
        lm = json.load(open(f))["results"]["lm"]
        res[s] = {k: lm[k] for k in ("tokens", "teacher_perplexity", "student_perplexity", "kl", "top1_agreement")}
json.dump(res, open(out, "w"), indent=1)
PY

echo "== the final student in bf16, shards under 15 MiB"
if [ -d "$W/run/final" ]; then
    python3 - "$W/run/final" "$OUT" <<'PY'
import json, os, sys
import torch
from safetensors.torch import load_file, save_file
src, out = sys.argv[1], sys.argv[2]
files = sorted(f for f in os.listdir(src) if f.endswith(".safetensors"))
tensors = {}
for f in files:
    tensors.update(load_file(os.path.join(src, f)))
limit = 14 * 1024 * 1024
shards, cur, size = [], {}, 0
for name in tensors:                       # the checkpoint's order
    t = tensors[name].to(torch.bfloat16).contiguous()
    if cur and size + t.numel() * 2 > limit:
        shards.append(cur); cur, size = {}, 0
    cur[name] = t; size += t.numel() * 2
if cur:
    shards.append(cur)
index = {"metadata": {"total_size": sum(t.numel() * 2 for s in shards for t in s.values())}, "weight_map": {}}
for i, s in enumerate(shards):
    fn = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
    save_file(s, os.path.join(out, fn), metadata={"format": "pt"})
    for k in s:
        index["weight_map"][k] = fn
json.dump(index, open(os.path.join(out, "model.safetensors.index.json"), "w"), indent=2)
cfg = json.load(open(os.path.join(src, "config.json")))
cfg["dtype"] = "bfloat16"
cfg.pop("torch_dtype", None)
json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
print(f"{len(shards)} shards, {index['metadata']['total_size'] / 2**20:.1f} MiB")
PY
fi
ls -la "$OUT"

echo
echo "================ tiny-llama distillation on cuda ($(( $(date +%s) - START )) s in all) ================"
cat "$W/budget.txt"
python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
ev = json.load(open(f"{out}/eval.json")) if os.path.exists(f"{out}/eval.json") else {}
steps = [json.loads(l) for l in open(f"{out}/metrics.jsonl")] if os.path.exists(f"{out}/metrics.jsonl") else []
evals = [m for m in steps if m.get("type") == "eval"]
train = [m for m in steps if m.get("type") == "step"]
if train:
    last = train[-1]
    print(f"trained {last['tokens']:,} tokens in {last['elapsed_s']:.0f} s ({last['tokens'] / max(last['elapsed_s'], 1e-9):,.0f} tokens/s overall, evaluations included)")
print("| model | val ppl | top-1 agreement with the teacher | KL(teacher || student) |")
print("|---|---:|---:|---:|")
any_ev = next(iter(ev.values()), None)
if any_ev:
    print(f"| teacher (tiny-llama) | {any_ev['teacher_perplexity']:.2f} | | |")
for name, label in (("student-init", "converted student"), ("final", "final student")):
    e = ev.get(name)
    if e:
        print(f"| {label} | {e['student_perplexity']:.2f} | {100 * e['top1_agreement']:.1f}% | {e['kl']:.4f} |")
if evals:
    print("last in-training evaluation: " + ", ".join(f"{k} {v:.4g}" for k, v in evals[-1].items() if k.startswith("val_")))
PY
