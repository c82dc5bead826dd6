#!/usr/bin/env bash
# Runs ON the GPU machine, from the repository root: unpacks the bundle that
# scripts/make-device-bundle.sh made, runs the gpu-tagged JUnit tests with the console launcher and
# then the benchmark (gsat2r.bench.GpuBench), writes full logs under $OUT (or ./gpu-suite-out),
# and prints a short table last: tests per class, the worst error per kernel family against its
# tolerance, and the benchmark table.
#
#   bash scripts/gpu-suite.sh [BUNDLE.tar.xz] [--tests-only|--bench-only]
set -uo pipefail
BUNDLE=""
MODE=all
for a in "$@"; do
    case "$a" in
        --tests-only) MODE=tests ;;
        --bench-only) MODE=bench ;;
        *) BUNDLE=$a ;;
    esac
done
[ -n "$BUNDLE" ] || BUNDLE=$(ls .bundle/gsa-t2r-gpu*.tar.xz 2>/dev/null | head -1)
if [ -z "$BUNDLE" ] || [ ! -f "$BUNDLE" ]; then
    echo "error: no bundle (.bundle/gsa-t2r-gpu.tar.xz); make it with scripts/make-device-bundle.sh" >&2
    exit 2
fi
OUT=${OUT:-$PWD/gpu-suite-out}
mkdir -p "$OUT"
WORK=$(mktemp -d)
tar -xJf "$BUNDLE" -C "$WORK"
B=$WORK/gsa-t2r-gpu
JAVA=$B/jre/bin/java
CP=$B/test-classes:$(ls "$B"/lib/*.jar | tr '\n' ':')
JOPTS=(--enable-native-access=ALL-UNNAMED -Xss4m -XX:+UseParallelGC)

{
    echo "bundle commit $(cat "$B/COMMIT")"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv 2>&1
} | tee "$OUT/machine.txt"

TEST_RC=0
if [ "$MODE" != bench ]; then
    "$JAVA" "${JOPTS[@]}" -jar "$B/junit-platform-console-standalone.jar" execute \
        --disable-banner --class-path "$CP" --scan-class-path "$B/test-classes" --include-tag gpu \
        --details=tree --reports-dir "$OUT/junit" > "$OUT/tests.log" 2>&1
    TEST_RC=$?
    grep -h '^GPU-METRIC' "$OUT/tests.log" > "$OUT/metrics.txt" || true
fi
BENCH_RC=0
if [ "$MODE" != tests ]; then
    "$JAVA" "${JOPTS[@]}" -cp "$CP" gsat2r.bench.GpuBench > "$OUT/bench.log" 2>&1
    BENCH_RC=$?
fi

echo
echo "================ GPU suite (logs in $OUT) ================"
if [ "$MODE" != bench ]; then
    grep -h '^GPU-INFO\|^GPU-NOTE' "$OUT/tests.log" | cut -c1-200
    python3 - "$OUT" <<'PY'
import glob, os, sys, xml.etree.ElementTree as ET
out = sys.argv[1]
classes = {}
failures = []
for f in glob.glob(os.path.join(out, "junit", "*.xml")):
    for tc in ET.parse(f).getroot().iter("testcase"):
        cls = tc.get("classname", "?").split(".")[-1]
        c = classes.setdefault(cls, [0, 0, 0])
        bad = tc.find("failure") if tc.find("failure") is not None else tc.find("error")
        if bad is not None:
            c[1] += 1
            msg = (bad.get("message") or bad.text or "").strip().splitlines()
            failures.append(f"{cls}.{tc.get('name')}: {msg[0][:220] if msg else '?'}")
        elif tc.find("skipped") is not None:
            c[2] += 1
        else:
            c[0] += 1
print("| test class | passed | failed | skipped |")
print("|---|---:|---:|---:|")
for k in sorted(classes):
    print(f"| {k} | {classes[k][0]} | {classes[k][1]} | {classes[k][2]} |")
for f in failures[:12]:
    print("FAILED " + f)
if len(failures) > 12:
    print(f"... and {len(failures) - 12} more failures (see tests.log)")
fams = {}
for line in open(os.path.join(out, "metrics.txt")):
    p = line.split()
    if len(p) < 4:
        continue
    name, val, tol = p[1], p[2], p[3]
    try:
        v, t = float(val), float(tol)
    except ValueError:
        continue
    fam = name.split(".")[0]
    if t > 0 or v == 0:
        ratio = v / t if t > 0 else 0.0
        cur = fams.get(fam)
        if cur is None or ratio > cur[0]:
            fams[fam] = (ratio, name, v, t, (cur[4] + 1) if cur else 1)
        else:
            fams[fam] = cur[:4] + (cur[4] + 1,)
print()
print("| kernel family | checks | worst relative error | tolerance | worst case |")
print("|---|---:|---:|---:|---|")
for fam in sorted(fams):
    r, name, v, t, n = fams[fam]
    print(f"| {fam} | {n} | {v:.2e} | {t:.0e} | {name} |")
PY
fi
if [ "$MODE" != tests ]; then
    echo
    grep -h '^device:' "$OUT/bench.log"
    sed -n '/^| measurement/,$p' "$OUT/bench.log"
    [ $BENCH_RC -eq 0 ] || { echo "benchmark failed (exit $BENCH_RC):"; tail -15 "$OUT/bench.log"; }
fi
echo "tests exit $TEST_RC, bench exit $BENCH_RC"
[ $TEST_RC -eq 0 ] && [ $BENCH_RC -eq 0 ]
