#!/usr/bin/env bash
# Builds the CPU simulator tests of the attention and GSA kernels (gpu/src/test/sim) with g++ and
# runs them with a few scheduling seeds (-fno-strict-aliasing: the kernels move 16-byte packs through
# int4 casts, which nvcc allows and g++ may otherwise optimise away). Needs g++ and the CUDA headers (cuda_bf16.h), no GPU.
#
#   scripts/cuda-sim-test.sh [TEST] [SEEDS...]      TEST: gsa | attention | gates | conv | train | decode (default all)
set -euo pipefail
cd "$(dirname "$0")/.."
CUDA_INC=${CUDA_HOME:-/usr/local/cuda}/include
OUT=${SIM_OUT:-gpu/target/sim}
mkdir -p "$OUT"
TESTS=${1:-all}
shift || true
SEEDS=("$@")
[ ${#SEEDS[@]} -gt 0 ] || SEEDS=(1 2)
for t in gsa attention gates conv train decode; do
    [ "$TESTS" = all ] || [ "$TESTS" = "$t" ] || continue
    src=gpu/src/test/sim/${t}_sim_test.cpp
    [ -f "$src" ] || continue
    echo "== building $t"
    g++ -std=c++17 -O2 -g -fno-strict-aliasing -Wall -Wno-unused-variable -Wno-unused-but-set-variable -Wno-unknown-pragmas \
        -I"$CUDA_INC" -Igpu/src/test/sim "$src" -o "$OUT/${t}_sim"
    for s in "${SEEDS[@]}"; do
        echo "== $t, seed $s"
        "$OUT/${t}_sim" "$s" ${SIM_ONLY:-}
    done
done
