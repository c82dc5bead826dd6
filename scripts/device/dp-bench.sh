#!/usr/bin/env bash
# The data-parallel distill step's throughput on 1..N GPUs of this machine (issue 8), run ON the GPU machine
# from the repository root, with the t2r bundle (scripts/device/make-train-bundle.sh) in
# .bundle/t2r-bundle.tar.xz or already unpacked in /tmp/t2r-bundle. DataParallelBench: the Llama-3.2-1B-shaped
# student (random weights, 64 slots) distilled from its random teacher, micro-batch 8 x 512 per GPU, one rank
# per GPU (threads of one JVM; NCCL when it loads, else the host transport, which the table names), bf16.
# Prints per GPU count the step time, tokens/s of all GPUs together and the scaling efficiency
# tokens/s(N) / (N x tokens/s(1)); 1 GPU is the plain backend.
#
#   bash scripts/device/dp-bench.sh [GPU counts, e.g. 1,2,4,8 (default: 1, 2, 4, ... up to all)]
# Environment: PRESET (llama-3.2-1b), SHAPE (8x512), STEPS (10), WARMUP (3), BUCKET_MIB (25), WORK (/tmp/t2r-bench).
set -uo pipefail
ROOT=$PWD
B=/tmp/t2r-bundle
TAR=${BUNDLE:-$ROOT/.bundle/t2r-bundle.tar.xz}
if [ ! -x "$B/bin/t2r" ] && [ -f "$TAR" ]; then
    rm -rf "$B.new" && mkdir -p "$B.new" && tar -xJf "$TAR" -C "$B.new" --strip-components=1 && rm -rf "$B" && mv "$B.new" "$B"
fi
[ -x "$B/bin/t2r" ] || { echo "error: no bundle at $B and none at $TAR (scripts/device/make-train-bundle.sh)" >&2; exit 2; }
JAVA=$B/jre/bin/java
CP="$B/test-classes:$(ls "$B"/testlib/*.jar "$B"/lib/*.jar | tr '\n' ':')"
GPUS=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null | wc -l)
[ "$GPUS" -ge 1 ] || { echo "error: no GPU visible (nvidia-smi)" >&2; exit 2; }
HEAP_GB=$(( 8 + 7 * GPUS ))           # each rank holds the 1B student's host copy (about 5 GiB) while it loads
echo "bundle commit $(cat "$B/COMMIT"); $GPUS GPU(s); heap ${HEAP_GB}g"
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader
ARGS=(--work "${WORK:-/tmp/t2r-bench}" --preset "${PRESET:-llama-3.2-1b}" --shape "${SHAPE:-8x512}" --steps "${STEPS:-10}"
      --warmup "${WARMUP:-3}" --bucket-mib "${BUCKET_MIB:-25}")
[ $# -ge 1 ] && ARGS+=(--gpus "$1")
timeout 580 "$JAVA" --enable-native-access=ALL-UNNAMED -Xss4m -XX:+UseParallelGC -Xmx${HEAP_GB}g -cp "$CP" \
    gsat2r.bench.DataParallelBench "${ARGS[@]}"
