#!/usr/bin/env bash
# Runs ON the GPU machine, from the checkout's root, with .bundle (scripts/bench/make-bundle.sh) and
# .carry (fla's Python package, and a Triton cache from an earlier run) carried:
#   1. fla's Triton kernels compile and autotune in the background (TRITON_CACHE_DIR=/tmp/triton-cache,
#      restored from .carry/triton-cache.tar.xz.* when there), while
#   2. the GPU test suite runs (every @Tag("gpu") test: correctness first);
#   3. the Triton cache is packed into $OUT (so that the next run starts warm);
#   4. fla / SDPA and our kernels are timed one after the other, and one table is printed last.
# Logs: $OUT/logs.tar.xz.
# With a warm cache, --fla-first times fla before anything else runs on the GPU, and --retune drops
# fla's cached autotuning choices first, so that it re-tunes (re-benchmarks the compiled configs,
# under a minute) alone on the GPU, undisturbed by the tests.
#   bash .bundle/device-run.sh [--skip-tests] [--skip-fla] [--fla-first] [--retune]
set -uo pipefail
SKIP_TESTS=0
SKIP_FLA=0
FLA_FIRST=0
RETUNE=0
for a in "$@"; do
    case "$a" in
        --skip-tests) SKIP_TESTS=1 ;;
        --skip-fla) SKIP_FLA=1 ;;
        --fla-first) FLA_FIRST=1 ;;
        --retune) RETUNE=1 ;;
    esac
done
ROOT=$PWD
OUT=${OUT:-$ROOT/device-out}
LOGS=$(mktemp -d)/logs
mkdir -p "$OUT" "$LOGS"
T0=$(date +%s)
elapsed() { echo $(( $(date +%s) - T0 )); }
export TRITON_CACHE_DIR=/tmp/triton-cache PYTHONUNBUFFERED=1
mkdir -p "$TRITON_CACHE_DIR"
# fla and the Triton cache of an earlier run travel packed in $CARRY (default .carry/gpu-kernels).
CARRY=${CARRY:-.carry/gpu-kernels}
if ls "$CARRY"/triton-cache.tar.xz.* > /dev/null 2>&1; then
    cat "$CARRY"/triton-cache.tar.xz.* | xz -d | tar -x -C /tmp && echo "triton cache restored ($(du -sh $TRITON_CACHE_DIR | cut -f1))"
fi
mkdir -p /tmp/fla-pkg
if [ -f "$CARRY/fla.tar.xz" ]; then
    tar -xJf "$CARRY/fla.tar.xz" -C /tmp/fla-pkg
    export PYTHONPATH=/tmp/fla-pkg${PYTHONPATH:+:$PYTHONPATH}
else
    export PYTHONPATH=$ROOT/.carry${PYTHONPATH:+:$PYTHONPATH}
fi
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv > "$LOGS/machine.txt" 2>&1
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" >> "$LOGS/machine.txt" 2>&1
cat "$LOGS/machine.txt"

if [ $RETUNE -eq 1 ]; then
    echo "dropping $(find "$TRITON_CACHE_DIR" -name '*.autotune.json' | wc -l) cached autotuning results"
    find "$TRITON_CACHE_DIR" -name '*.autotune.json' -delete
fi
if [ $SKIP_FLA -eq 0 ] && [ $FLA_FIRST -eq 1 ]; then
    echo "== fla / sdpa first, alone on the GPU ($(elapsed) s)"
    timeout "${FLA_BENCH_S:-240}" python3 .bundle/fla_bench.py > "$LOGS/fla-bench.log" 2>&1
    echo "fla/sdpa bench exit $? ($(elapsed) s)"
    grep -v "^BENCH-JSON" "$LOGS/fla-bench.log" | tail -5
fi
WARM_PID=""
if [ $SKIP_FLA -eq 0 ] && [ $FLA_FIRST -eq 0 ]; then
    ( timeout "${FLA_WARM_S:-380}" python3 .bundle/fla_bench.py --warm --only gsa --deadline "${FLA_DEADLINE_S:-300}" \
        > "$LOGS/fla-warm.log" 2>&1; echo "warm-up exit $?" >> "$LOGS/fla-warm.log" ) &
    WARM_PID=$!
fi

BUNDLE=.bundle/gsa-t2r-gpu.tar.xz
WORK=$(mktemp -d)
tar -xJf "$BUNDLE" -C "$WORK"
B=$WORK/gsa-t2r-gpu
JAVA=$B/jre/bin/java
CP=$B/test-classes:$(ls "$B"/lib/*.jar | tr '\n' ':')
JOPTS=(--enable-native-access=ALL-UNNAMED -Xss4m -XX:+UseParallelGC)
cp "$B/kernels-ptxas.txt" "$LOGS/" 2>/dev/null || true

TEST_RC=0
if [ $SKIP_TESTS -eq 0 ]; then
    echo "== GPU tests ($(elapsed) s)"
    OUT=$LOGS/suite bash .bundle/gpu-suite.sh "$BUNDLE" --tests-only > "$LOGS/suite-summary.txt" 2>&1
    TEST_RC=$?
    echo "== GPU tests done, exit $TEST_RC ($(elapsed) s)"
fi

if [ -n "$WARM_PID" ]; then
    wait "$WARM_PID"
    echo "== fla warm-up done ($(elapsed) s):"
    grep -E "warmed|skipped|exit|Error|error" "$LOGS/fla-warm.log" | tail -8
    tar -C /tmp -cf - triton-cache | xz -T0 -6 | split -b 15M - "$OUT/triton-cache.tar.xz."
    ls -la "$OUT"/triton-cache.tar.xz.*
fi

echo "== benchmarks ($(elapsed) s)"
if [ $SKIP_FLA -eq 0 ] && [ $FLA_FIRST -eq 0 ]; then
    timeout "${FLA_BENCH_S:-90}" python3 .bundle/fla_bench.py > "$LOGS/fla-bench.log" 2>&1
    echo "fla/sdpa bench exit $? ($(elapsed) s)"
fi
timeout "${OURS_BENCH_S:-110}" "$JAVA" "${JOPTS[@]}" -cp "$CP" gsat2r.bench.GsaBench > "$LOGS/ours-bench.log" 2>&1
echo "ours bench exit $? ($(elapsed) s)"
tail -3 "$LOGS/ours-bench.log" | grep -i -E "exception|error" && tail -30 "$LOGS/ours-bench.log"

tar -C "$(dirname "$LOGS")" -cf - logs | xz -T0 -6 > "$OUT/logs.tar.xz"
echo
echo "================ device run ($(elapsed) s; logs in logs.tar.xz) ================"
cat "$LOGS/suite-summary.txt" 2>/dev/null | sed -n '/^| test class/,$p' | head -60
echo
grep -h "^BREAKDOWN" "$LOGS/ours-bench.log" | sed 's/^BREAKDOWN //'
echo
python3 .bundle/compare.py "$LOGS/ours-bench.log" "$LOGS/fla-bench.log"
echo "tests exit $TEST_RC"
