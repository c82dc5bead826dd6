#!/usr/bin/env bash
# Decoding and scoring on the GPU machine, checked and timed in one call (about 4 minutes on an H200). Runs ON the GPU
# machine from the repository root, with the bundle of scripts/device/make-train-bundle.sh carried:
#
#   here:        SM90_ONLY=1 scripts/device/make-train-bundle.sh .bundle
#   the device:  bash scripts/device/decode-check.sh            (carry .bundle; OUT defaults to ./decode-check-out)
#
# Phases (each skipped with a message when it fails or the time is up; the table is printed either way):
#   1. GPU tests: DecodeKernelsGpuTest (the decode kernels against float64 / the CPU twins, graph replay bit for bit),
#      GpuDecodingGpuTest (batched against one by one, against the CPU models, states, prefillAll, scoring),
#      GpuModelsGpuTest (whole models, decoding through the new step);
#   2. DecodeBench: a random 1B-shaped teacher (vocab 8192, bf16) and its GSA student, contexts 512, 4K, 32K, batches
#      1, 64, 256 (what fits), device ms per step (CUDA events, median after warm-up), tokens/s, bytes over time against
#      4.8 TB/s; multiple-choice scoring items/s;
#   3. scripts/bench/torch_decode.py: the same shapes in PyTorch (hand-written static-cache loop in a CUDA graph);
#   4. the table: tests per class, our decoding next to PyTorch's, scoring.
# Logs under $OUT: machine.txt, tests-kernels.log, tests-models.log (and both in tests.log), junit/, bench.log,
# torch.log, table.txt.
set -euo pipefail
ROOT=$PWD
OUT=${OUT:-$ROOT/decode-check-out}
mkdir -p "$OUT"
BUNDLE=${BUNDLE:-$ROOT/.bundle/t2r-bundle.tar.xz}
B=/tmp/t2r-bundle
WORK=${DECODE_WORK:-/tmp/decode-bench}
CONTEXTS=${CONTEXTS:-512,4096,32768}
BATCHES=${BATCHES:-1,64,256}
BUDGET=${BUDGET:-230}   # seconds for the whole script
START=$(date +%s)
elapsed() { echo $(( $(date +%s) - START )); }
left() { echo $(( BUDGET - $(date +%s) + START )); }
phase() { echo; echo "=== $* ($(elapsed) s)"; }

phase "0. bundle and machine"
if [ ! -x "$B/jre/bin/java" ]; then
    if [ ! -f "$BUNDLE" ]; then
        echo "error: no bundle at $BUNDLE (make it here with: SM90_ONLY=1 scripts/device/make-train-bundle.sh .bundle)" >&2
        exit 2
    fi
    tar -xJf "$BUNDLE" -C /tmp
fi
JAVA=$B/jre/bin/java
CP="$B/test-classes:$( (ls "$B"/testlib/*.jar "$B"/lib/*.jar 2>/dev/null || true) | tr '\n' ':')"
JOPTS=(--enable-native-access=ALL-UNNAMED -Xss4m -XX:+UseParallelGC -Djava.awt.headless=true)
{
    echo "bundle commit $(cat "$B/COMMIT" 2>/dev/null || echo unknown)"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv 2>&1 || true
    python3 -c "import torch; print('torch', torch.__version__)" 2>&1 || true
} | tee "$OUT/machine.txt"

phase "1. GPU tests (decode kernels, batched decoding, states, scoring)"
TEST_RC=0
run_tests() {   # name, timeout, classes...
    local name=$1 limit=$2 rc=0
    shift 2
    local select=()
    for c in "$@"; do select+=(--select-class "$c"); done
    timeout "$limit" "$JAVA" "${JOPTS[@]}" -Xmx16g -jar "$B/junit-platform-console-standalone.jar" execute --disable-banner \
        --class-path "$CP" --include-tag gpu "${select[@]}" --details=tree --reports-dir "$OUT/junit/$name" \
        > "$OUT/tests-$name.log" 2>&1 || rc=$?
    echo "$name tests exit $rc$([ "$rc" = 124 ] && echo ' (timed out)')"
    [ "$rc" = 0 ] || TEST_RC=$rc
}
run_tests kernels 45 gsat2r.gpu.ops.DecodeKernelsGpuTest
run_tests models 100 gsat2r.gpumodels.GpuDecodingGpuTest gsat2r.gpumodels.GpuModelsGpuTest
cat "$OUT"/tests-*.log > "$OUT/tests.log" 2>/dev/null || true

phase "2. DecodeBench (random 1B-shaped teacher and student, bf16)"
BENCH_RC=skipped
T=$(( $(left) - 75 ))
if [ "$T" -gt 30 ]; then
    BENCH_RC=0
    timeout "$T" "$JAVA" "${JOPTS[@]}" -Xmx24g -cp "$CP" gsat2r.gpumodels.DecodeBench --work "$WORK" \
        --contexts "$CONTEXTS" --batches "$BATCHES" --steps 16 --warmup 3 --scoring-batches 3 > "$OUT/bench.log" 2>&1 || BENCH_RC=$?
    echo "DecodeBench exit $BENCH_RC"
    [ "$BENCH_RC" = 0 ] || tail -5 "$OUT/bench.log"
else
    echo "skipped: $(left) s left"
fi

phase "3. PyTorch reference (scripts/bench/torch_decode.py)"
TORCH_RC=skipped
T=$(( $(left) - 8 ))
if [ "$T" -gt 20 ]; then
    TORCH_RC=0
    timeout "$T" python3 scripts/bench/torch_decode.py --teacher "$WORK/teacher-1b-v8192" --student "$WORK/student-1b-v8192" \
        --contexts "$CONTEXTS" --batches "$BATCHES" --steps 16 --warmup 3 > "$OUT/torch.log" 2>&1 || TORCH_RC=$?
    echo "torch_decode exit $TORCH_RC"
    [ "$TORCH_RC" = 0 ] || tail -3 "$OUT/torch.log"
else
    echo "skipped: $(left) s left"
fi

phase "4. table"
python3 - "$OUT" "$TEST_RC" "$BENCH_RC" "$TORCH_RC" <<'PY' | tee "$OUT/table.txt"
import glob, os, re, sys, xml.etree.ElementTree as ET
out, test_rc, bench_rc, torch_rc = sys.argv[1:5]

def kv(line):
    return dict(re.findall(r"(\w+)=([^\s]+)", line))

classes, fails = {}, []
for f in glob.glob(os.path.join(out, "junit", "**", "*.xml"), recursive=True):
    for tc in ET.parse(f).getroot().iter("testcase"):
        cls = tc.get("classname", "?").split(".")[-1]
        c = classes.setdefault(cls, [0, 0, 0])
        bad = tc.find("failure") if tc.find("failure") is not None else tc.find("error")
        if bad is not None:
            c[1] += 1
            msg = (bad.get("message") or bad.text or "").strip().splitlines()
            fails.append(f"{cls}.{tc.get('name')}: {msg[0][:200] if msg else '?'}")
        elif tc.find("skipped") is not None:
            c[2] += 1
        else:
            c[0] += 1
print(f"tests (exit {test_rc}):")
print("| test class | passed | failed | skipped |")
print("|---|---:|---:|---:|")
for k in sorted(classes):
    print(f"| {k} | {classes[k][0]} | {classes[k][1]} | {classes[k][2]} |")
for f in fails[:8]:
    print("FAILED " + f)
metrics = []
p = os.path.join(out, "tests.log")
for line in open(p, errors="replace") if os.path.exists(p) else []:
    m = re.match(r".*GPU-METRIC (\S+) (\S+) (\S+)", line)
    if m and any(s in m.group(1) for s in ("decode", "batched", "steps_vs", "restored", "state", "scores", "scoring", "fused", "prefill")):
        metrics.append(m.groups())
if metrics:
    worst = {}
    for name, err, tol in metrics:
        key = re.sub(r"\.(step\d|B\d+)$", "", name)
        if key not in worst or float(err) > float(worst[key][0]):
            worst[key] = (err, tol)
    print("\nworst error per check (relative L2, tolerance):")
    for k in sorted(worst):
        print(f"  {k:60s} {float(worst[k][0]):.2e}  (tol {worst[k][1]})")

ours, theirs, scoring, skipped = {}, {}, {}, []
for name, target in (("bench.log", ours), ("torch.log", theirs)):
    p = os.path.join(out, name)
    for line in open(p, errors="replace") if os.path.exists(p) else []:
        if "skipped" in line and ("DECODE" in line):
            skipped.append(line.strip())
            continue
        if line.startswith("DECODE ") or line.startswith("TORCH-DECODE "):
            parts = line.split()
            d = kv(line)
            target[(parts[1], int(d["ctx"]), int(d["batch"]))] = d
        elif line.startswith("SCORING "):
            scoring[line.split()[1]] = kv(line)
print(f"\ndecoding, bf16, one token per sequence per step (bench exit {bench_rc}, torch exit {torch_rc}):")
print("| model | context | batch | ours ms/step | ours tokens/s | GB/step | TB/s | of 4.8 TB/s | launch | PyTorch ms/step | PyTorch tokens/s | speed-up |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
for key in sorted(set(ours) | set(theirs)):
    o, t = ours.get(key, {}), theirs.get(key, {})
    om, tm = o.get("device_ms"), t.get("ms")
    sp = f"{float(tm) / float(om):.2f}x" if om and tm else ""
    launch = (o.get("mode", "") + ("+fused" if o.get("fused") == "true" else "")) if o else ""
    print(f"| {key[0]} | {key[1]} | {key[2]} | {om or ''} | {o.get('tokens_per_s', '')} | {o.get('GB_per_step', '')} | "
          f"{o.get('TB_per_s', '')} | {o.get('roofline', '')} | {launch} | {tm or ''} | {t.get('tokens_per_s', '')} | {sp} |")
for s in skipped[:6]:
    print("  " + s)
for k, v in scoring.items():
    print(f"scoring {k}: {v.get('items_per_s')} items/s (4 choices x 30 tokens after 100; target >= 200)")
PY
