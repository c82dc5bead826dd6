#!/usr/bin/env bash
# The NCCL suite (issue 8), run ON the GPU machine from the repository root, with the bundle that
# scripts/make-device-bundle.sh made here (it holds the gpu module's test classes):
#
#   1. NcclGpuTest (JUnit, tag gpu): a one-rank communicator on GPU 0 (every collective exact, the
#      error path), and with two GPUs or more one rank per GPU on threads of one JVM (sums against
#      the host's, all-gather/broadcast exact, bus bandwidth);
#   2. with two GPUs or more: one PROCESS per GPU (NcclRankCheck, started as t2r finetune --gpus
#      starts its ranks: RANK, WORLD_SIZE, LOCAL_RANK, ...), all-reduce checked and timed.
#
# Logs go under $OUT (default ./nccl-suite-out); a short table is printed last.
#
#   bash scripts/device/nccl-suite.sh [BUNDLE.tar.xz]
#
# With the run tool: make the bundle here, copy it into the checkout's .bundle/, carry .bundle, and
# run on the kind with the GPUs wanted (nvidia-h200-x2 or more for parts 1b and 2), e.g.
#   bash scripts/device/nccl-suite.sh
set -uo pipefail
BUNDLE=${1:-$(ls .bundle/gsa-t2r-gpu*.tar.xz 2>/dev/null | head -1)}
if [ -z "$BUNDLE" ] || [ ! -f "$BUNDLE" ]; then
    echo "error: no bundle (.bundle/gsa-t2r-gpu.tar.xz); make it with scripts/make-device-bundle.sh" >&2
    exit 2
fi
OUT=${OUT:-$PWD/nccl-suite-out}
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
tar -xJf "$BUNDLE" -C "$WORK"
B=$WORK/gsa-t2r-gpu
JAVA=$B/jre/bin/java
CP=$B/test-classes:$(ls "$B"/lib/*.jar | tr '\n' ':')
JOPTS=(--enable-native-access=ALL-UNNAMED -Xss4m -XX:+UseParallelGC)
GPUS=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null | wc -l)

{
    echo "bundle commit $(cat "$B/COMMIT")"
    nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv 2>&1
    nvidia-smi topo -m 2>&1
    ls -l /usr/lib/x86_64-linux-gnu/libnccl.so* 2>&1
} | tee "$OUT/machine.txt"

echo "== 1. NcclGpuTest"
"$JAVA" "${JOPTS[@]}" -jar "$B/junit-platform-console-standalone.jar" execute \
    --disable-banner --class-path "$CP" --select-class gsat2r.gpu.nccl.NcclGpuTest --include-tag gpu \
    --details=tree --reports-dir "$OUT/junit" > "$OUT/tests.log" 2>&1
TEST_RC=$?

PROC_RC=skipped
if [ "$GPUS" -ge 2 ]; then
    echo "== 2. one process per GPU ($GPUS)"
    ID_FILE=$WORK/nccl-id
    pids=()
    for ((r = 0; r < GPUS; r++)); do
        RANK=$r WORLD_SIZE=$GPUS LOCAL_RANK=$r LOCAL_WORLD_SIZE=$GPUS MASTER_ADDR=127.0.0.1 MASTER_PORT=0 NCCL_ID_FILE=$ID_FILE \
            "$JAVA" "${JOPTS[@]}" -cp "$CP" gsat2r.gpu.nccl.NcclRankCheck > "$OUT/rank-$r.log" 2>&1 &
        pids+=($!)
    done
    PROC_RC=0
    for p in "${pids[@]}"; do wait "$p" || PROC_RC=1; done
fi

echo
echo "================ NCCL suite (logs in $OUT) ================"
grep -h '^GPU-INFO\|^GPU-NOTE\|^GPU-METRIC' "$OUT/tests.log" | cut -c1-220
python3 - "$OUT" <<'PY'
import glob, os, sys, xml.etree.ElementTree as ET
out = sys.argv[1]
print("| test | result |")
print("|---|---|")
for f in glob.glob(os.path.join(out, "junit", "*.xml")):
    for tc in ET.parse(f).getroot().iter("testcase"):
        bad = tc.find("failure") if tc.find("failure") is not None else tc.find("error")
        skipped = tc.find("skipped")
        result = "FAILED: " + ((bad.get("message") or "").splitlines() or ["?"])[0][:160] if bad is not None else \
            "skipped: " + ((skipped.get("message") or "") if skipped is not None else "") if skipped is not None else "passed"
        print(f"| {tc.get('name')} | {result} |")
PY
if [ "$PROC_RC" != skipped ]; then cat "$OUT"/rank-*.log | grep -h 'nccl-rank' ; fi
echo "junit exit status $TEST_RC, processes: $PROC_RC"
[ "$TEST_RC" = 0 ] && { [ "$PROC_RC" = 0 ] || [ "$PROC_RC" = skipped ]; }
