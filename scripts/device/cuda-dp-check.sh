#!/usr/bin/env bash
# The CUDA training backend as a data-parallel rank (issue 8), run ON the GPU machine from the repository
# root, with the bundle of scripts/device/make-train-bundle.sh in .bundle/t2r-bundle.tar.xz (or one already
# unpacked in /tmp/t2r-bundle by an earlier call):
#   tests  CudaDataParallelGpuTest (JUnit, tag gpu) on the demo teacher's student: 2 ranks sharing GPU 0
#          (threads, host transport) vs 1 rank accumulating their micro-batches (fp32 and bf16, 3 AdamW
#          steps), a one-rank NCCL group vs no data parallelism (fp32, bit for bit), a checkpoint written by
#          2 ranks resumed in one process; with 2 GPUs or more, one rank per GPU over NCCL vs one GPU with
#          the whole batch (bf16); CudaDataParallelTrainerGpuTest: the same through the trainer (attention
#          transfer, LoRA distillation, attention finetuning; checkpoints; resume of the 2-rank run in one process);
#   e2e    with 2 GPUs or more: t2r finetune of the KJV demo recipe on cuda, --gpus N (micro-batch 8/N per
#          rank) against one process, the last metrics side by side; with one GPU: --gpus 2 must stop with
#          one error line (GPU 1 is not visible);
#   bench  scripts/device/dp-bench.sh: the data-parallel distill step's tokens/s on 1..N GPUs.
# Logs under $OUT (default ./cuda-dp-out); a summary last.
#
#   bash scripts/device/cuda-dp-check.sh [tests] [e2e] [bench]       (default: tests e2e)
set -uo pipefail
ROOT=$PWD
OUT=${OUT:-$ROOT/cuda-dp-out}
mkdir -p "$OUT"
: > "$OUT/summary.txt"
B=/tmp/t2r-bundle
TAR=${BUNDLE:-$ROOT/.bundle/t2r-bundle.tar.xz}
PHASES=${*:-tests e2e}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -f "$TAR" ]; then
    rm -rf "$B.new" && mkdir -p "$B.new" && tar -xJf "$TAR" -C "$B.new" --strip-components=1 && rm -rf "$B" && mv "$B.new" "$B"
fi
[ -x "$B/bin/t2r" ] || { echo "error: no bundle at $B and none at $TAR (scripts/device/make-train-bundle.sh)" >&2; exit 2; }
JAVA=$B/jre/bin/java
CP="$B/test-classes:$(ls "$B"/testlib/*.jar "$B"/lib/*.jar | tr '\n' ':')"
JOPTS=(--enable-native-access=ALL-UNNAMED -Xss4m -XX:+UseParallelGC -Djava.awt.headless=true)
GPUS=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null | wc -l)
{
    echo "bundle commit $(cat "$B/COMMIT")"
    nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv 2>&1
    ls -l /usr/lib/x86_64-linux-gnu/libnccl.so* /usr/local/cuda/lib64/libnccl.so* 2>&1 | grep -v 'No such'
    echo "GPUs: $GPUS"
} | tee "$OUT/machine.txt"

for phase in $PHASES; do
    case $phase in
    tests)
        echo "== tests"
        timeout 300 "$JAVA" "${JOPTS[@]}" -Xmx16g -jar "$B/junit-platform-console-standalone.jar" execute --disable-banner \
            --class-path "$CP" --select-class gsat2r.gpumodels.CudaDataParallelGpuTest \
            --select-class gsat2r.gpumodels.CudaDataParallelTrainerGpuTest --include-tag gpu --details=tree \
            --reports-dir "$OUT/junit" > "$OUT/tests.log" 2>&1
        echo "tests exit $?" | tee -a "$OUT/summary.txt"
        ;;
    e2e)
        W=/tmp/t2r-dp-e2e
        rm -rf "$W" && mkdir -p "$W"
        N=$GPUS
        [ "$N" -gt 8 ] && N=8
        if [ "$N" -lt 2 ]; then
            echo "== e2e: one GPU: t2r finetune --gpus 2 must refuse"
            python3 - "$ROOT" "$W" 4 <<'PY'
import json, sys
root, w, micro = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = json.load(open(f"{root}/recipes/demo.json"))
r.update(teacher=f"{root}/models/kjv-llama", device="cuda", micro_batch=micro,
         data={"train": f"{root}/data/kjv/train.jsonl.xz", "validation": f"{root}/data/kjv/validation.jsonl"})
r.pop("$schema", None)
json.dump(r, open(f"{w}/demo-cuda.json", "w"), indent=1)
PY
            timeout 120 "$B/bin/t2r" finetune --recipe "$W/demo-cuda.json" --out "$W/run2" --gpus 2 > "$OUT/e2e.log" 2>&1
            rc=$?
            echo "--gpus 2 on one GPU: exit $rc (expected 1); its errors:" | tee -a "$OUT/summary.txt"
            grep -E 'error' "$OUT/e2e.log" | head -4 | tee -a "$OUT/summary.txt"
        else
            echo "== e2e: t2r finetune --gpus $N against one process"
            for micro in 4 $((8 / N)); do
                python3 - "$ROOT" "$W" "$micro" <<'PY'
import json, sys
root, w, micro = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = json.load(open(f"{root}/recipes/demo.json"))
r.update(teacher=f"{root}/models/kjv-llama", device="cuda", micro_batch=micro,
         data={"train": f"{root}/data/kjv/train.jsonl.xz", "validation": f"{root}/data/kjv/validation.jsonl"})
r.pop("$schema", None)
json.dump(r, open(f"{w}/demo-cuda-micro{micro}.json", "w"), indent=1)
PY
            done
            {
                T0=$(date +%s)
                timeout 200 "$B/bin/t2r" finetune --recipe "$W/demo-cuda-micro4.json" --out "$W/one"
                echo "one process: exit $? in $(( $(date +%s) - T0 )) s"
                T0=$(date +%s)
                timeout 200 "$B/bin/t2r" finetune --recipe "$W/demo-cuda-micro$((8 / N)).json" --out "$W/many" --gpus "$N"
                echo "--gpus $N: exit $? in $(( $(date +%s) - T0 )) s"
            } > "$OUT/e2e.log" 2>&1
            grep -E '^(one process|--gpus)|error|note' "$OUT/e2e.log" | tee -a "$OUT/summary.txt"
            for run in one many; do
                echo "$run: $(grep -h '"val_' "$W/$run/metrics.jsonl" 2>/dev/null | tail -n 1)" | tee -a "$OUT/summary.txt"
                cp "$W/$run/metrics.jsonl" "$OUT/e2e-$run-metrics.jsonl" 2>/dev/null
            done
        fi
        ;;
    bench)
        bash "$HERE/dp-bench.sh" 2>&1 | tee "$OUT/bench.log" | tail -n 12
        ;;
    esac
done

echo
echo "================ CUDA data-parallel check (logs in $OUT) ================"
cat "$OUT/machine.txt" | tail -n 1
cat "$OUT/summary.txt"
if [ -f "$OUT/tests.log" ]; then
    grep -E 'tests (successful|failed|aborted|skipped)|containers failed' "$OUT/tests.log"
    grep -E '✘|✔|↷|=> |GPU-INFO' "$OUT/tests.log" | head -40
    grep -h '^GPU-METRIC' "$OUT/tests.log" | sort -u | awk '{printf "%-60s %s (tol %s)\n", $2, $3, $4}'
fi
