#!/usr/bin/env bash
# The issue-5/issue-7 session on the GPU machine, after scripts/device/distill-tiny-llama.sh's setup:
# /tmp/t2r-bundle holds the unpacked Java bundle, /tmp/flacarry/fla fla 0.5.2's package, and
# .carry/tiny/ the teacher and english-mix (see distill-tiny-llama.sh). Steps, each bounded in time:
#   1. the tiny-llama distillation (recipes/tiny-llama.json on cuda) and its evaluation;
#   2. the fla round trip of the converted and of the distilled student (fla's fp32 fused recurrent
#      kernel, T <= 64): fla's GSAForCausalLM must reproduce `t2r logits`;
#   3. an ablation on a smaller budget (1M tokens of attention transfer + 3M of distillation, or 4M of
#      distillation alone), each variant's final validation perplexity and top-1 agreement.
# Files in $OUT are distill-tiny-llama.sh's; the round trip and the ablation print to stdout.
set -uo pipefail
ROOT=$PWD
T2R=/tmp/t2r-bundle/bin/t2r
W=/tmp/t2r-distill
export PYTHONUNBUFFERED=1 T2R_JAVA_OPTS=${T2R_JAVA_OPTS:--Xmx24g}
START=$(date +%s)
elapsed() { echo $(( $(date +%s) - START )); }

echo "== 1. distillation"
TRAIN_SECONDS=${TRAIN_SECONDS:-270} EVAL_TOKENS=${EVAL_TOKENS:-65536} bash scripts/device/distill-tiny-llama.sh > /tmp/distill.out 2>&1
echo "distill-tiny-llama.sh exit $? after $(elapsed) s"

echo "== 2. fla round trip ($(elapsed) s)"
TEXT="In the beginning God created the heaven and the earth. And the earth was without form, and void."
RT=/tmp/roundtrip.out; : > $RT
for s in student-init final; do
    d=$W/run/$s
    [ -d "$d" ] || { echo "ROUNDTRIP $s|missing" >> $RT; continue; }
    "$T2R" logits --model "$d" --text "$TEXT" --all-positions --format json > /tmp/ours-$s.json 2>/tmp/ours-$s.err \
        || { echo "ROUNDTRIP $s|t2r logits failed: $(tail -1 /tmp/ours-$s.err)" >> $RT; continue; }
    PYTHONPATH=/tmp/flacarry timeout 240 python3 scripts/fla_roundtrip.py "$d" /tmp/ours-$s.json --name "$s" 2>&1 \
        | grep -v -i warn | tail -3 >> $RT
done

echo "== 3. ablation ($(elapsed) s)"
AB=/tmp/ablation.out; : > $AB
if [ "$(elapsed)" -lt 330 ] && [ -f $W/tiny-llama-cuda.json ] && [ -d $W/run/data ]; then
    python3 - $W/tiny-llama-cuda.json $W/run/data $W/ablation <<'PY'
import copy, json, os, sys
base, data, out = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
os.makedirs(out, exist_ok=True)
step = base["batch"] * base["seq_len"]
base["data"] = {"prepared": data}
base["checkpoint_interval"] = 100000
at, dist = base["stages"]
def stage(s, tokens, **kw):
    s = copy.deepcopy(s); s["tokens"] = tokens; n = tokens // step
    s["warmup_steps"] = min(s.get("warmup_steps", 0), n // 4); s["eval_interval"] = n; s.update(kw); return s
variants = {
    "random, AT + distill all": dict(),
    "key-pool, AT + distill all": dict(gate_init="key-pool"),
    "random, AT + distill attention": dict(trainable="attention"),
    "random, AT + distill gates": dict(trainable="gates"),
    "random, distill all only": dict(no_at=True),
}
for i, (name, v) in enumerate(variants.items()):
    r = copy.deepcopy(base)
    r["description"] = f"ablation: {name}"
    if "gate_init" in v: r["student"]["gate_init"] = v["gate_init"]
    d = stage(dist, 3 * 2**20 if not v.get("no_at") else 4 * 2**20, **({"trainable": v["trainable"]} if "trainable" in v else {}))
    r["stages"] = [d] if v.get("no_at") else [stage(at, 2**20), d]
    json.dump(r, open(f"{out}/v{i}.json", "w"), indent=1)
    open(f"{out}/v{i}.name", "w").write(name)
PY
    for r in $W/ablation/v*.json; do
        [ "$(elapsed)" -lt 520 ] || { echo "$(cat ${r%.json}.name)|skipped: time" >> $AB; continue; }
        "$T2R" finetune --recipe "$r" --out "${r%.json}-run" > "${r%.json}.log" 2>&1
        rc=$?
        python3 - "${r%.json}-run/metrics.jsonl" "$(cat ${r%.json}.name)" "$rc" >> $AB <<'PY'
import json, sys, os
f, name, rc = sys.argv[1], sys.argv[2], sys.argv[3]
ev = [json.loads(l) for l in open(f)] if os.path.exists(f) else []
ev = [e for e in ev if e.get("type") == "eval" and "val_ppl" in e]
steps = [json.loads(l) for l in open(f) if '"step"' in l] if os.path.exists(f) else []
tok = max((s.get("tokens", 0) for s in steps), default=0)
print(f"{name}|{ev[-1]['val_ppl']:.2f}|{100 * ev[-1]['val_top1']:.1f}%|{tok:,}|exit {rc}" if ev else f"{name}|no eval|exit {rc}")
PY
    done
else
    echo "skipped (elapsed $(elapsed) s)" >> $AB
fi

echo
echo "================ results ($(elapsed) s) ================"
tail -n 25 /tmp/distill.out
echo "-- fla round trip (T <= 64, fla fp32 fused recurrent): name|T|kernel|max_abs|max_rel|rel_l2|argmax|tol|verdict"
grep -h "ROUNDTRIP" $RT || cat $RT
echo "-- ablation: variant|val ppl|top-1|tokens|exit"
cat $AB
