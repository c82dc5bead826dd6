#!/usr/bin/env bash
# The distillation step side by side (issue 4), ON the GPU machine, from the repository root, with the
# Java bundle already unpacked in /tmp/t2r-bundle (scripts/device/make-train-bundle.sh; an earlier call of
# the same warm machine, as in docs/benchmarks.md) and .carry/gpu-kernels carried (fla.tar.xz, fla's
# package, and triton-cache.tar.xz.*, the Triton cache of an earlier run):
#   1. NcclGpuTest: NCCL with a one-rank communicator on this GPU (issue 8's single-GPU test);
#   2. DistillBench: our distill step at tiny-llama's shape (16x512, 32x512) and Llama-3.2-1B's (8x512,
#      16x512), random weights, bf16, and TeacherForwardBench: the teacher's forward alone;
#   3. scripts/bench/torch_distill_step.py: the same step and teacher forward in PyTorch + fla on the
#      same random checkpoints' configs;
#   4. the Triton cache packed into $OUT for the next run; a table last.
#
#   bash scripts/device/step-bench.sh
set -uo pipefail
ROOT=$PWD
OUT=${OUT:-$ROOT/step-bench-out}
mkdir -p "$OUT"
B=/tmp/t2r-bundle
JAVA=$B/jre/bin/java
[ -x "$JAVA" ] || { echo "error: no bundle at $B" >&2; exit 2; }
CP="$B/test-classes:$(ls "$B"/testlib/*.jar "$B"/lib/*.jar | tr '\n' ':')"
JOPTS=(--enable-native-access=ALL-UNNAMED -Xss4m -XX:+UseParallelGC -Djava.awt.headless=true)
START=$(date +%s)
elapsed() { echo $(( $(date +%s) - START )); }
export TRITON_CACHE_DIR=/tmp/triton-cache PYTHONUNBUFFERED=1
CARRY=${CARRY:-.carry/gpu-kernels}
if [ ! -d "$TRITON_CACHE_DIR" ] && ls "$CARRY"/triton-cache.tar.xz.* > /dev/null 2>&1; then
    cat "$CARRY"/triton-cache.tar.xz.* | xz -d | tar -x -C /tmp && echo "triton cache restored ($(du -sh $TRITON_CACHE_DIR | cut -f1))"
fi
mkdir -p /tmp/fla-pkg
[ -d /tmp/fla-pkg/fla ] || tar -xJf "$CARRY/fla.tar.xz" -C /tmp/fla-pkg
export PYTHONPATH=/tmp/fla-pkg
{
    echo "bundle commit $(cat "$B/COMMIT")"
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv 2>&1
    python3 -c "import torch, triton, transformers; print('torch', torch.__version__, 'triton', triton.__version__, 'transformers', transformers.__version__)" 2>&1
} | tee "$OUT/machine.txt"

echo "== 1. NcclGpuTest ($(elapsed) s)"
timeout 120 "$JAVA" "${JOPTS[@]}" -jar "$B/junit-platform-console-standalone.jar" execute --disable-banner \
    --class-path "$CP" --select-class gsat2r.gpu.nccl.NcclGpuTest --include-tag gpu --details=tree > "$OUT/nccl.log" 2>&1
echo "NcclGpuTest exit $?"

echo "== 2. DistillBench, TeacherForwardBench ($(elapsed) s)"
timeout 200 "$JAVA" "${JOPTS[@]}" -Xmx40g -cp "$CP" gsat2r.bench.DistillBench --work /tmp/t2r-bench \
    --preset tiny-llama --shapes 16x512,32x512 --preset llama-3.2-1b --shapes 8x512,16x512 --steps 10 --warmup 3 > "$OUT/distill-bench.log" 2>&1
echo "DistillBench exit $?"
for p in "tiny-llama 16x512,32x512" "llama-3.2-1b 8x512,16x512"; do
    set -- $p
    timeout 90 "$JAVA" "${JOPTS[@]}" -Xmx16g -cp "$CP" gsat2r.bench.TeacherForwardBench /tmp/t2r-bench/$1-teacher $2 10 3 \
        >> "$OUT/teacher-bench.log" 2>&1
    echo "TeacherForwardBench $1 exit $?"
done

echo "== 3. PyTorch + fla ($(elapsed) s)"
for p in "tiny-llama 16x512,32x512" "llama-3.2-1b 8x512,16x512"; do
    set -- $p
    left=$(( 560 - $(elapsed) ))
    [ "$left" -gt 30 ] || { echo "skipped $1: time" | tee -a "$OUT/torch-bench.log"; continue; }
    timeout "$left" python3 scripts/bench/torch_distill_step.py --teacher /tmp/t2r-bench/$1-teacher \
        --student /tmp/t2r-bench/$1-student --shapes $2 --name $1 >> "$OUT/torch-bench.log" 2>&1
    echo "torch_distill_step $1 exit $? ($(elapsed) s)"
done

echo "== 4. Triton cache ($(elapsed) s)"
(cd /tmp && tar -cf - triton-cache | xz -T0 -3 | split -b 15M - "$OUT/triton-cache.tar.xz.")
ls -la "$OUT"

echo
echo "================ distill step, H100 ($(elapsed) s) ================"
cat "$OUT/machine.txt"
grep -E "tests (successful|failed)|\[X\]" "$OUT/nccl.log" | head -8
sed -n '/^| model/,$p' "$OUT/distill-bench.log"
grep "^teacher forward" "$OUT/teacher-bench.log"
grep -v "^BENCH-STEP" "$OUT/torch-bench.log" | grep -E "PyTorch|teacher|Error|error" | tail -8
