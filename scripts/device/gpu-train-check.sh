#!/usr/bin/env bash
# Runs ON the GPU machine, from the repository root: unpacks the t2r bundle (scripts/device/make-train-bundle.sh)
# to /tmp/t2r-bundle, then
#   tests  the gpu-tagged tests of gpu-train (contract in fp32, CUDA vs CPU backend in fp32 and bf16,
#          teacher and student logits and decoding against the CPU models), but for the data-parallel
#          ones, which scripts/device/cuda-dp-check.sh runs;
#   bench  DistillBench: one distill training step of tiny-llama's shape at 16x512 and 32x512 and of
#          Llama-3.2-1B's at 8x512 and 16x512 (random weights), tokens/s and MFU;
#   e2e    t2r finetune of the KJV demo recipe on cuda, t2r eval --device cuda (lm), t2r logits and
#          generate on cuda against cpu;
# writes logs under $OUT and prints a summary last.
#
#   bash scripts/device/gpu-train-check.sh [tests] [bench] [e2e]     (default: all three)
set -uo pipefail
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu-train-out}
mkdir -p "$OUT"
B=/tmp/t2r-bundle
TAR=${BUNDLE:-$ROOT/.bundle/t2r-bundle.tar.xz}
PHASES=${*:-tests bench e2e}
if [ -f "$TAR" ]; then
    rm -rf "$B.new" && mkdir -p "$B.new" && tar -xJf "$TAR" -C "$B.new" --strip-components=1 && rm -rf "$B" && mv "$B.new" "$B"
fi
[ -x "$B/bin/t2r" ] || { echo "error: no bundle at $B and none at $TAR" >&2; exit 2; }
# the device scripts beside the bundle (bash /tmp/t2r-bundle/scripts/distill-tiny-llama.sh works without them in the checkout)
mkdir -p "$B/scripts" && cp "$(dirname "${BASH_SOURCE[0]}")"/*.sh "$B/scripts/" 2>/dev/null
JAVA=$B/jre/bin/java
CP="$B/test-classes:$(ls "$B"/testlib/*.jar "$B"/lib/*.jar | tr '\n' ':')"
JOPTS=(--enable-native-access=ALL-UNNAMED -Xss4m -XX:+UseParallelGC -Djava.awt.headless=true)
{
    echo "bundle commit $(cat "$B/COMMIT")"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1
} | tee "$OUT/machine.txt"

for phase in $PHASES; do
    case $phase in
    tests)
        echo "== tests"
        timeout 170 "$JAVA" "${JOPTS[@]}" -Xmx16g -jar "$B/junit-platform-console-standalone.jar" execute --disable-banner \
            --class-path "$CP" --scan-class-path "$B/test-classes" --include-tag gpu --details=tree \
            --exclude-classname '.*DataParallel.*' \
            --reports-dir "$OUT/junit" > "$OUT/tests.log" 2>&1
        echo "tests exit $?" | tee -a "$OUT/summary.txt"
        grep -h '^GPU-METRIC' "$OUT/tests.log" > "$OUT/metrics.txt" || true
        ;;
    bench)
        echo "== bench"
        timeout 150 "$JAVA" "${JOPTS[@]}" -Xmx40g -cp "$CP" gsat2r.bench.DistillBench --work /tmp/t2r-bench \
            --preset tiny-llama --shapes 16x512,32x512 --preset llama-3.2-1b --shapes 8x512,16x512 --steps 8 --warmup 2 \
            > "$OUT/bench.log" 2>&1
        echo "bench exit $?" | tee -a "$OUT/summary.txt"
        ;;
    e2e)
        echo "== e2e (KJV demo recipe on cuda)"
        W=/tmp/t2r-e2e
        rm -rf "$W" && mkdir -p "$W"
        python3 - "$ROOT" "$W" <<'PY'
import json, sys
root, w = sys.argv[1], sys.argv[2]
r = json.load(open(f"{root}/recipes/demo.json"))
r["teacher"] = f"{root}/models/kjv-llama"
r["data"] = {"train": f"{root}/data/kjv/train.jsonl.xz", "validation": f"{root}/data/kjv/validation.jsonl"}
r["device"] = "cuda"
r.pop("$schema", None)
json.dump(r, open(f"{w}/demo-cuda.json", "w"), indent=1)
PY
        {
            T0=$(date +%s)
            timeout 100 "$B/bin/t2r" finetune --recipe "$W/demo-cuda.json" --out "$W/run"
            echo "finetune exit $? in $(( $(date +%s) - T0 )) s"
            tail -n 4 "$W/run/metrics.jsonl" 2>/dev/null
            timeout 60 "$B/bin/t2r" eval --teacher "$ROOT/models/kjv-llama" --student "$W/run/final" --data "$ROOT/data/kjv/validation.jsonl" \
                --tasks lm --max-tokens 8192 --context 256 --device cuda --out "$W/eval"
            echo "eval exit $?"
            python3 -c "import json;r=json.load(open('$W/eval/report.json'));print(json.dumps(r.get('lm', r)) [:600])" 2>&1
            for dev in cpu cuda; do
                "$B/bin/t2r" logits --model "$ROOT/models/kjv-llama" --text "In the beginning God" --device $dev > "$W/logits-teacher-$dev.json"
                "$B/bin/t2r" logits --model "$W/run/final" --text "In the beginning God" --all-positions --device $dev > "$W/logits-student-$dev.json"
                echo "generate $dev: $("$B/bin/t2r" generate --model "$W/run/final" --prompt "In the beginning" --max-new-tokens 24 --greedy --device $dev --format json)"
            done
            python3 - "$W" <<'PY'
import json, math, sys
w = sys.argv[1]
for m in ("teacher", "student"):
    a = json.load(open(f"{w}/logits-{m}-cpu.json"))["logits"]; b = json.load(open(f"{w}/logits-{m}-cuda.json"))["logits"]
    num = sum((x - y) ** 2 for ra, rb in zip(a, b) for x, y in zip(ra, rb)); den = sum(x * x for r in a for x in r)
    print(f"t2r logits {m}: cuda (bf16) vs cpu relative L2 {math.sqrt(num / den):.3e}")
PY
        } > "$OUT/e2e.log" 2>&1
        cp "$W/run/metrics.jsonl" "$OUT/e2e-metrics.jsonl" 2>/dev/null
        echo "e2e done" | tee -a "$OUT/summary.txt"
        ;;
    esac
done

echo
echo "================ gpu-train check (logs in $OUT) ================"
cat "$OUT/summary.txt" 2>/dev/null
if [ -f "$OUT/tests.log" ]; then
    grep -E 'tests (successful|failed|aborted|skipped)|containers failed' "$OUT/tests.log"
    grep -E '✘|MethodSource|=> ' "$OUT/tests.log" | head -30
    sort -u "$OUT/metrics.txt" | awk '{printf "%-60s %s (tol %s)\n", $2, $3, $4}' | head -120
fi
[ -f "$OUT/bench.log" ] && { grep -E '^==|distill step|error|Exception' "$OUT/bench.log" | head -20; sed -n '/^| model/,$p' "$OUT/bench.log"; }
[ -f "$OUT/e2e.log" ] && tail -n 30 "$OUT/e2e.log"
