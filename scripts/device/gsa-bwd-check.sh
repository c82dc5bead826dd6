#!/usr/bin/env bash
# Runs ON the GPU machine (an H100), from the repository root, with .bundle carried (made here by
# `SM90_ONLY=1 scripts/bench/make-bundle.sh .bundle`): checks and times the GSA chunk kernels.
#   1. the gpu module's GSA GPU tests (GsaGpuTest, GsaGatesGpuTest, tag gpu) against the CPU oracles;
#   2. gsat2r.bench.GsaBench gsa: forward, forward + backward and the per-kernel breakdown at
#      B4 T2048 H32 K=V=128 M64, B8 T2048 H4 K=V=512 M64 and tiny-llama's B16 T512 H6 K=V=64 M64;
#   3. a short table last: ours against the numbers of docs/benchmarks.md (the run before this
#      branch, and fla 0.5.2's chunk_gsa, which is not re-run).
# Logs under $OUT (default ./gsa-bwd-out).
#
#   bash scripts/device/gsa-bwd-check.sh [--skip-tests]
set -uo pipefail
SKIP_TESTS=0
[ "${1:-}" = --skip-tests ] && SKIP_TESTS=1
ROOT=$PWD
OUT=${OUT:-$ROOT/gsa-bwd-out}
mkdir -p "$OUT"
BUNDLE=${BUNDLE:-$ROOT/.bundle/gsa-t2r-gpu.tar.xz}
[ -f "$BUNDLE" ] || { echo "error: no bundle at $BUNDLE (SM90_ONLY=1 scripts/bench/make-bundle.sh .bundle)" >&2; exit 2; }
WORK=$(mktemp -d)
tar -xJf "$BUNDLE" -C "$WORK"
B=$WORK/gsa-t2r-gpu
JAVA=$B/jre/bin/java
CP=$B/test-classes:$(ls "$B"/lib/*.jar | tr '\n' ':')
JOPTS=(--enable-native-access=ALL-UNNAMED -Xss4m -XX:+UseParallelGC)
{
    echo "bundle commit $(cat "$B/COMMIT")"
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv 2>&1
} | tee "$OUT/machine.txt"
cp "$B/kernels-ptxas.txt" "$OUT/" 2>/dev/null || true

TEST_RC=skipped
if [ $SKIP_TESTS -eq 0 ]; then
    echo "== GSA GPU tests"
    timeout 400 "$JAVA" "${JOPTS[@]}" -jar "$B/junit-platform-console-standalone.jar" execute --disable-banner \
        --class-path "$CP" --scan-class-path "$B/test-classes" --include-tag gpu --include-classname '.*Gsa.*GpuTest' \
        --details=tree --reports-dir "$OUT/junit" > "$OUT/tests.log" 2>&1
    TEST_RC=$?
    grep -h '^GPU-METRIC' "$OUT/tests.log" > "$OUT/metrics.txt" || true
    echo "tests exit $TEST_RC"
fi

echo "== GsaBench gsa"
timeout 150 "$JAVA" "${JOPTS[@]}" -cp "$CP" gsat2r.bench.GsaBench gsa > "$OUT/bench.log" 2>&1
BENCH_RC=$?
echo "bench exit $BENCH_RC"
[ $BENCH_RC -eq 0 ] || tail -20 "$OUT/bench.log"

echo
echo "================ gsa-bwd-check (logs in $OUT) ================"
grep -A4 "entry function 'gsa_bwd_chunk_m64_bf16'" "$OUT/kernels-ptxas.txt" 2>/dev/null | grep -E "spill|registers" | sed 's/^/ptxas gsa_bwd_chunk_m64_bf16: /'
grep -h "^OCCUPANCY" "$OUT/bench.log" | sed 's/^OCCUPANCY //'
python3 - "$OUT" "$TEST_RC" <<'PY'
import glob, os, re, sys, xml.etree.ElementTree as ET
out, test_rc = sys.argv[1], sys.argv[2]
if test_rc != "skipped":
    passed = failed = skipped = 0
    fails = []
    for f in glob.glob(os.path.join(out, "junit", "*.xml")):
        for tc in ET.parse(f).getroot().iter("testcase"):
            bad = tc.find("failure") if tc.find("failure") is not None else tc.find("error")
            if bad is not None:
                failed += 1
                msg = (bad.get("message") or bad.text or "").strip().splitlines()
                fails.append(f"{tc.get('classname', '?').split('.')[-1]}.{tc.get('name')}: {msg[0][:200] if msg else '?'}")
            elif tc.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
    print(f"GSA GPU tests: {passed} passed, {failed} failed, {skipped} skipped (exit {test_rc})")
    for f in fails[:10]:
        print("FAILED " + f)
    fams = {}
    for line in open(os.path.join(out, "metrics.txt")):
        p = line.split()
        try:
            v, t = float(p[2]), float(p[3])
        except (IndexError, ValueError):
            continue
        if t <= 0:
            continue
        fam = p[1].split(".")[0]
        cur = fams.get(fam)
        if cur is None or v / t > cur[0]:
            fams[fam] = (v / t, p[1], v, t, (cur[4] if cur else 0) + 1)
        else:
            fams[fam] = cur[:4] + (cur[4] + 1,)
    print("| family | checks | worst error | tol | worst case |")
    print("|---|---:|---:|---:|---|")
    for fam in sorted(fams):
        r, name, v, t, n = fams[fam]
        print(f"| {fam} | {n} | {v:.2e} | {t:.0e} | {name} |")
    print()
ours, kern = {}, {}
for line in open(os.path.join(out, "bench.log")):
    m = re.match(r'BENCH-JSON .*"name": "([^"]+)", "ms": ([0-9.]+)', line)
    if m:
        ours[m.group(1)] = float(m.group(2))
    m = re.match(r"BREAKDOWN (gsa B\S+ T\S+ H\S+ K\S+ V\S+ M\S+)\s+(\S+)\s+([0-9.]+) ms", line)
    if m:
        kern[(m.group(1), re.sub(r"_m\d+_bf16$", "", m.group(2)))] = float(m.group(3))
# docs/benchmarks.md, run of 2026-11-24 (before this branch): ours fwd+bwd, gsa_bwd_chunk; fla chunk_gsa fwd+bwd
before = {"gsa B4 T2048 H32 K128 V128 M64": (5.745, 3.763, 4.965),
          "gsa B8 T2048 H4 K512 V512 M64": (3.732, 2.154, 3.270),
          "gsa B16 T512 H6 K64 V64 M64": (0.753, 0.457, 3.677)}
kernels = ["gsa_fwd_states", "gsa_fwd_out", "gsa_bwd_dp", "gsa_bwd_states", "gsa_bwd_chunk"]
print("| shape | " + " | ".join(kernels) + " |")
print("|---|" + "---:|" * len(kernels))
for shape in before:
    print(f"| {shape[4:]} | " + " | ".join(f"{kern.get((shape, k), float('nan')):.3f}" for k in kernels) + " |")
print()
print("| shape (bf16) | fwd ms | fwd+bwd ms | before | fla | vs fla | gsa_bwd_chunk ms | before |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for shape, (fb0, ch0, fla) in before.items():
    fwd, fb = ours.get(shape + " fwd", float("nan")), ours.get(shape + " fwd+bwd", float("nan"))
    ch = kern.get((shape, "gsa_bwd_chunk"), float("nan"))
    print(f"| {shape[4:]} | {fwd:.3f} | **{fb:.3f}** | {fb0:.3f} | {fla:.3f} | {fla / fb:.2f}x | **{ch:.3f}** | {ch0:.3f} |")
PY
echo "tests exit $TEST_RC, bench exit $BENCH_RC"
[ "$TEST_RC" = 0 ] || [ "$TEST_RC" = skipped ] && [ $BENCH_RC -eq 0 ]
