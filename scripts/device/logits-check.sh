#!/usr/bin/env bash
# `t2r logits --device cuda` against `--device cpu` (issue 4), ON the GPU machine, from the repository root,
# with the Java bundle unpacked in /tmp/t2r-bundle and .carry/tiny/tiny-llama carried: tiny-llama itself,
# its converted GSA student (t2r convert, defaults) and, when given as $1, another student directory; each
# in fp32 and bf16 on the GPU, every position of a 3-sentence text: relative L2 error, max relative error
# and argmax agreement against the CPU's fp32. A table last.
#
#   bash scripts/device/logits-check.sh [STUDENT_DIR]
set -uo pipefail
T2R=/tmp/t2r-bundle/bin/t2r
TEACHER=.carry/tiny/tiny-llama
W=$(mktemp -d)
TEXT="In the beginning God created the heaven and the earth. The quick brown fox jumps over the lazy dog, and the dog sleeps on. Once upon a time there was a little girl who lived in a village near the forest."
"$T2R" convert --teacher "$TEACHER" --out "$W/student" > "$W/convert.log" 2>&1 || { echo "convert failed: $(tail -1 $W/convert.log)"; exit 1; }
MODELS="tiny-llama=$TEACHER converted-student=$W/student"
[ $# -ge 1 ] && MODELS="$MODELS extra-student=$1"
for entry in $MODELS; do
    name=${entry%%=*}; dir=${entry#*=}
    "$T2R" logits --model "$dir" --text "$TEXT" --all-positions > "$W/$name-cpu.json" 2> "$W/$name-cpu.err" || echo "$name cpu: $(tail -1 $W/$name-cpu.err)"
    for p in fp32 bf16; do
        T2R_CUDA_PRECISION=$p "$T2R" logits --model "$dir" --text "$TEXT" --all-positions --device cuda > "$W/$name-$p.json" 2> "$W/$name-$p.err" \
            || echo "$name cuda $p: $(tail -1 $W/$name-$p.err)"
    done
done
python3 - "$W" $MODELS <<'PY'
import json, sys
import numpy as np
w = sys.argv[1]
print("| model | GPU precision | T | rel L2 vs CPU fp32 | max rel | argmax agreement |")
print("|---|---|---:|---:|---:|---:|")
for entry in sys.argv[2:]:
    name = entry.split("=")[0]
    try:
        ref = json.load(open(f"{w}/{name}-cpu.json"))
    except Exception as e:
        print(f"| {name} | - | - | no CPU logits ({e}) | | |"); continue
    r = np.array(ref["logits"], dtype=np.float64)
    for p in ("fp32", "bf16"):
        try:
            o = json.load(open(f"{w}/{name}-{p}.json"))
        except Exception as e:
            print(f"| {name} | {p} | - | no GPU logits ({e}) | | |"); continue
        g = np.array(o["logits"], dtype=np.float64)
        assert o["ids"] == ref["ids"], "different token ids"
        rel = np.linalg.norm(g - r) / np.linalg.norm(r)
        mrel = np.abs(g - r).max() / np.abs(r).max()
        agree = int((g.argmax(-1) == r.argmax(-1)).sum())
        print(f"| {name} | {p} | {len(ref['ids'])} | {rel:.2e} | {mrel:.2e} | {agree}/{len(ref['ids'])} |")
PY
