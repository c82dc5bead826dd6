#!/usr/bin/env bash
# Runs ON the GPU machine (an H100), from the repository root, with .bundle carried (made here by
# `SM90_ONLY=1 scripts/bench/make-bundle.sh .bundle`): checks and times the flash-attention kernels.
#   1. the gpu module's attention GPU tests (AttentionGpuTest, tag gpu) against the CPU oracle, and
#      the occupancy check (CTAs per SM of the bf16 D = 64 tile kernels);
#   2. gsat2r.bench.GsaBench attention: forward, forward + backward and the per-kernel breakdown
#      at tiny-llama's B16 T512 H6/2 D64, Llama-3.2-1B's B4 T2048 H32/8 D64 and the same with a
#      sliding window of 512, plus the OCCUPANCY lines (CTAs per SM, shared memory, registers);
#   3. a short table last: ours against the numbers of docs/benchmarks.md (ours before this branch,
#      and PyTorch SDPA's flash backend, which is not re-run).
# Logs under $OUT (default ./attn-out).
#
#   BUNDLE=.bundle/gsa-t2r-gpu.tar.xz bash scripts/device/attn-check.sh [--skip-tests]
set -uo pipefail
SKIP_TESTS=0
[ "${1:-}" = --skip-tests ] && SKIP_TESTS=1
ROOT=$PWD
OUT=${OUT:-$ROOT/attn-out}
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
    echo "== attention GPU tests"
    timeout 400 "$JAVA" "${JOPTS[@]}" -jar "$B/junit-platform-console-standalone.jar" execute --disable-banner \
        --class-path "$CP" --scan-class-path "$B/test-classes" --include-tag gpu --include-classname '.*AttentionGpuTest' \
        --details=tree --reports-dir "$OUT/junit" > "$OUT/tests.log" 2>&1
    TEST_RC=$?
    grep -h '^GPU-METRIC' "$OUT/tests.log" > "$OUT/metrics.txt" || true
    echo "tests exit $TEST_RC"
fi

echo "== GsaBench attention"
timeout 150 "$JAVA" "${JOPTS[@]}" -cp "$CP" gsat2r.bench.GsaBench attention > "$OUT/bench.log" 2>&1
BENCH_RC=$?
echo "bench exit $BENCH_RC"
[ $BENCH_RC -eq 0 ] || tail -20 "$OUT/bench.log"

echo
echo "================ attn-check (logs in $OUT) ================"
for k in attn_fwd_d64_bf16 attn_bwd_dq_d64_bf16 attn_bwd_dkdv_d64_bf16; do
    grep -A4 "entry function '$k'" "$OUT/kernels-ptxas.txt" 2>/dev/null | grep -E "spill|registers" | sed "s/^/ptxas $k: /"
done
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
    print(f"attention GPU tests: {passed} passed, {failed} failed, {skipped} skipped (exit {test_rc})")
    for f in fails[:10]:
        print("FAILED " + f)
    fams = {}
    path = os.path.join(out, "metrics.txt")
    for line in open(path) if os.path.exists(path) else []:
        p = line.split()
        try:
            v, t = float(p[2]), float(p[3])
        except (IndexError, ValueError):
            continue
        if t <= 0:
            continue
        fam = p[1].split(".")[0] + "." + p[1].split(".")[1] if p[1].count(".") >= 2 else p[1].split(".")[0]
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
    if line.startswith("BREAKDOWN "):
        p = line.split()
        if len(p) >= 5 and p[-1] == "ms":
            kern[(" ".join(p[1:-3]), p[-3])] = float(p[-2])
# docs/benchmarks.md (one H100 run before this branch): ours fwd, fwd+bwd; SDPA (flash) fwd, fwd+bwd
before = {"attn tiny-llama B16 T512 H6/2 D64": (0.036, 0.189, 0.041, 0.264),
          "attn llama-3.2-1b B4 T2048 H32/8 D64": (0.464, 2.392, 0.283, 1.279),
          "attn llama-3.2-1b B4 T2048 H32/8 D64 W512": (0.226, 1.127, None, None)}
kernels = ["attn_fwd", "attn_bwd_delta", "attn_bwd_dq", "attn_bwd_dkdv"]
kbefore = {"attn llama-3.2-1b B4 T2048 H32/8 D64": (0.467, 0.054, 0.586, 1.303)}
print("| shape (kernel ms) | " + " | ".join(kernels) + " |")
print("|---|" + "---:|" * len(kernels))
for shape in before:
    print(f"| {shape[5:]} | " + " | ".join(f"{kern.get((shape, k), float('nan')):.3f}" for k in kernels) + " |")
    if shape in kbefore:
        print(f"| (before) | " + " | ".join(f"{x:.3f}" for x in kbefore[shape]) + " |")
print()
nan = float("nan")
print("| shape (bf16) | fwd ms | before | SDPA | vs SDPA | fwd+bwd ms | before | SDPA | vs SDPA |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for shape, (f0, fb0, sf, sfb) in before.items():
    fwd, fb = ours.get(shape + " fwd", nan), ours.get(shape + " fwd+bwd", nan)
    vs = lambda theirs, o: f"{theirs / o:.2f}x" if theirs else "-"
    s = lambda x: f"{x:.3f}" if x else "-"
    print(f"| {shape[5:]} | **{fwd:.3f}** | {f0:.3f} | {s(sf)} | {vs(sf, fwd)} | **{fb:.3f}** | {fb0:.3f} | {s(sfb)} | {vs(sfb, fb)} |")
print("(vs SDPA: SDPA's time / ours, above 1 is faster than SDPA; SDPA's numbers are docs/benchmarks.md's, not re-run)")
PY
echo "tests exit $TEST_RC, bench exit $BENCH_RC"
[ "$TEST_RC" = 0 ] || [ "$TEST_RC" = skipped ] && [ $BENCH_RC -eq 0 ]
