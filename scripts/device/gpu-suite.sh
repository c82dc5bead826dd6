#!/usr/bin/env bash
# The GPU suite, ON the GPU machine, from the checkout's root, with the bundle of scripts/gpu-check.sh carried
# (.bundle/t2r-gpu.tar.xz, or $BUNDLE). Unpacks it into /tmp/t2r-gpu (kept while the machine stays warm: a
# later call with the same bundle reuses it), runs the @Tag("gpu") tests of gpu, gpu-models and it, then the
# phases named on the command line, in order. Full logs under $OUT (default ./gpu-suite-out); a short table last.
#
#   bash scripts/device/gpu-suite.sh [--skip-tests] [--tests REGEX] [PHASE[=ARG] ...]
#
#   --tests REGEX     only the test classes whose name matches (JUnit's --include-classname), e.g.
#                     '.*ops.*GpuTest' or '.*DataParallel.*': one device call runs 10 minutes at most, so the
#                     whole suite may need two calls
#   kernels           GpuBench: copy bandwidth, cuBLASLt ceilings, the elementwise and loss kernels
#   gsa               GsaBench gsa: the GSA chunk kernels at three shapes, per-kernel breakdown, occupancy
#   attention         GsaBench attention: flash attention at tiny-llama's and Llama-3.2-1B's shapes (+ window 512)
#   fla               fla 0.5.2's chunk_gsa and SDPA at the same shapes, joined with ours (needs .carry/gpu-kernels:
#                     fla.tar.xz and, to skip minutes of Triton autotuning, triton-cache.tar.xz.* of an earlier run,
#                     which this phase leaves in $OUT for the next)
#   distill           DistillBench: one distill training step at tiny-llama's shape (16x512, 32x512) and
#                     Llama-3.2-1B's (8x512, 16x512), random weights; TeacherForwardBench: the teacher alone
#   torch             the same step in PyTorch + fla (scripts/bench/torch_distill_step.py; .carry/gpu-kernels)
#   dp[=1,2,4,8]      DataParallelBench: the Llama-3.2-1B-shaped distill step on 1..N GPUs (default 1, 2, 4, ... all)
#   size[=1b,8b,7b]   SizeBench: a shipped recipe at its model's real size, stages cut short (default 1b)
#   infer[=8b,7b,3b]  inference at size: a random teacher of the shape converted by t2r convert (timed), then
#                     t2r logits --device cuda of teacher and student after 512 ids in fp32 and bf16 (wall time,
#                     peak device memory, the last position's logits in bf16 against fp32) (default 8b)
#   scoring[=DIR]     ScoringBench: multiple-choice items/s on cuda and cpu (default a random Llama-3.2-1B)
#   decode[=teacher,student]
#                     DecodeBench: batched decoding of a random Llama-3.2-1B-shaped teacher (vocab 8192, bf16) and its
#                     GSA student (conv: the student with short convolutions of 4 taps, DecodeBench only) at contexts CONTEXTS (512,4096,32768) and batches BATCHES (1,64,256), device ms per
#                     step, tokens/s, bytes over time against 4.8 TB/s, and scoring items/s; then the same shapes in
#                     PyTorch (scripts/bench/torch_decode.py, a static-cache loop in a CUDA graph; needs torch) and one
#                     table of both; then DecodeBench --breakdown: per kernel (per role for the linear ones) ms
#                     per step at batch 1, contexts BREAKDOWN_CONTEXTS (512,32768), kernels launched one by one (lines
#                     DECODE-BREAKDOWN). With its GPU tests: --tests '.*(Decod|GpuModelsGpu).*' decode
#   e2e               t2r finetune of the demo recipe on cuda, t2r eval --device cuda, logits and generate cuda vs cpu
#   peft              the demo recipe on cuda with a LoRA distill stage, its PEFT adapter checked by
#                     scripts/check-peft-adapter.py (numpy; PEFT's own loader where torch and peft are installed)
#   torchrun          the demo recipe cut short on cpu (its distill stage as LoRA: docs/distributed.md, "How
#                     exact"), two ranks started by torchrun --no-python against one process: the same student,
#                     bit for bit
#   dp-e2e            t2r finetune --gpus N against one process (with one GPU: --gpus 2 must refuse in one line)
#   nccl              one process per GPU (as --gpus starts ranks), all-reduce checked and timed (>= 2 GPUs)
#   logits[=DIR]      t2r logits --device cuda (fp32, bf16) against cpu: tiny-llama (.carry/tiny) or the demo
#                     teacher, its converted student, and DIR when given
#   tiny-llama[=random,key-pool]
#                     recipes/tiny-llama.json on cuda (budget scaled to TRAIN_SECONDS), evaluated on the GPU, once
#                     per gate init (needs .carry/tiny: tiny-llama/ and english-mix/)
set -uo pipefail
ROOT=$PWD
HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
BENCH_PY=$(cd "$HERE/../bench" 2>/dev/null && pwd || echo "$ROOT/scripts/bench")
OUT=${OUT:-$ROOT/gpu-suite-out}
TAR=${BUNDLE:-$ROOT/.bundle/t2r-gpu.tar.xz}
B=/tmp/t2r-gpu
WORK=${WORK:-/tmp/t2r-bench}
RUN_TESTS=1
TEST_FILTER=""
PHASES=()
while [ $# -gt 0 ]; do
    case "$1" in
        --skip-tests) RUN_TESTS=0 ;;
        --tests) TEST_FILTER=${2:?--tests needs a class-name pattern}; shift ;;
        -h|--help) sed -n '2,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) PHASES+=("$1") ;;
    esac
    shift
done
mkdir -p "$OUT" "$WORK"
SUMMARY=$OUT/summary.txt
TABLES=$OUT/tables.txt
: > "$SUMMARY"
: > "$TABLES"
START=$(date +%s)
elapsed() { echo $(( $(date +%s) - START )); }
note() { echo "$*" | tee -a "$SUMMARY"; }
table() { tee -a "$TABLES"; }

# ---- the bundle -----------------------------------------------------------------------------------------
if [ -f "$TAR" ]; then
    want=$(tar -xJOf "$TAR" t2r-gpu/COMMIT 2>/dev/null)
    if [ ! -f "$B/COMMIT" ] || [ "$(cat "$B/COMMIT")" != "$want" ] || [ "$TAR" -nt "$B/COMMIT" ]; then
        rm -rf "$B.new" && mkdir -p "$B.new" && tar -xJf "$TAR" -C "$B.new" --strip-components=1 && rm -rf "$B" && mv "$B.new" "$B"
    fi
fi
[ -x "$B/bin/t2r" ] || { echo "error: no bundle at $TAR and none unpacked in $B (make it with scripts/gpu-check.sh)" >&2; exit 2; }
JAVA=$B/jre/bin/java
TESTS_CP="$B/test-classes/gpu:$B/test-classes/gpu-models:$B/test-classes/it:$(ls "$B"/testlib/*.jar "$B"/lib/*.jar | tr '\n' ':')"
JOPTS=(--enable-native-access=ALL-UNNAMED -Xss4m -XX:+UseParallelGC -Djava.awt.headless=true)
GPUS=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null | wc -l)
{
    echo "bundle commit $(cat "$B/COMMIT"), $GPUS GPU(s)"
    nvidia-smi --query-gpu=index,name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv 2>&1
} | tee "$OUT/machine.txt"
cp "$B/kernels-ptxas.txt" "$OUT/" 2>/dev/null || true

bench() {   # bench LOG TIMEOUT HEAP CLASS ARGS...: a main class of the bundle
    local log=$1 limit=$2 heap=$3
    shift 3
    timeout "$limit" "$JAVA" "${JOPTS[@]}" -Xmx"$heap" -cp "$TESTS_CP" "$@" > "$log" 2>&1
}
ptxas() {   # registers and spills of the named kernels, from the build's ptxas report
    for k in "$@"; do
        grep -A4 "entry function '$k'" "$OUT/kernels-ptxas.txt" 2>/dev/null | grep -E "spill|registers" | sed "s/^/ptxas $k: /"
    done
}
random_teacher() {   # random_teacher PRESET: a random checkpoint of that shape in $WORK (kept for later calls)
    local dir=$WORK/$1-teacher
    [ -f "$dir/config.json" ] || bench "$OUT/random-$1.log" 300 16g gsat2r.bench.RandomCheckpoint --out "$dir" --preset "$1" >&2
    echo "$dir"
}
demo_recipe() {      # demo_recipe FILE MICRO: recipes/demo.json on cuda, with the checkout's paths
    python3 - "$ROOT" "$1" "$2" <<'PY'
import json, sys
root, out, micro = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = json.load(open(f"{root}/recipes/demo.json"))
r.pop("$schema", None)
r.update(teacher=f"{root}/models/kjv-llama", device="cuda", micro_batch=micro,
         data={"train": f"{root}/data/kjv/train.jsonl.xz", "validation": f"{root}/data/kjv/validation.jsonl"})
json.dump(r, open(out, "w"), indent=1)
PY
}
fla_env() {          # fla's package and the Triton cache from .carry/gpu-kernels
    local carry=${CARRY:-$ROOT/.carry/gpu-kernels}
    [ -f "$carry/fla.tar.xz" ] || { note "$1: skipped, no $carry/fla.tar.xz"; return 1; }
    export TRITON_CACHE_DIR=/tmp/triton-cache PYTHONUNBUFFERED=1
    if [ ! -d "$TRITON_CACHE_DIR" ] && ls "$carry"/triton-cache.tar.xz.* > /dev/null 2>&1; then
        cat "$carry"/triton-cache.tar.xz.* | xz -d | tar -x -C /tmp
    fi
    mkdir -p /tmp/fla-pkg "$TRITON_CACHE_DIR"
    [ -d /tmp/fla-pkg/fla ] || tar -xJf "$carry/fla.tar.xz" -C /tmp/fla-pkg
    export PYTHONPATH=/tmp/fla-pkg
}

# ---- phases ---------------------------------------------------------------------------------------------
phase_tests() {
    local filter=()
    [ -n "$TEST_FILTER" ] && filter=(--include-classname "$TEST_FILTER")
    timeout "${TESTS_S:-560}" "$JAVA" "${JOPTS[@]}" -Xmx32g -jar "$B/junit-platform-console-standalone.jar" execute --disable-banner \
        --class-path "$TESTS_CP" --scan-class-path "$B/test-classes/gpu" --scan-class-path "$B/test-classes/gpu-models" \
        --scan-class-path "$B/test-classes/it" \
        --include-tag gpu "${filter[@]}" --details=tree --reports-dir "$OUT/junit" > "$OUT/tests.log" 2>&1
    local rc=$?
    grep -h '^GPU-METRIC' "$OUT/tests.log" > "$OUT/metrics.txt" || true
    grep -h '^GPU-INFO\|^GPU-NOTE' "$OUT/tests.log" | sort -u | cut -c1-200 | table
    python3 - "$OUT" <<'PY' | table
import glob, os, sys, xml.etree.ElementTree as ET
out = sys.argv[1]
classes, failures = {}, []
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
    print(f"... and {len(failures) - 12} more failures (tests.log)")
fams = {}
for line in open(os.path.join(out, "metrics.txt")):
    p = line.split()
    try:
        name, v, t = p[1], float(p[2]), float(p[3])
    except (IndexError, ValueError):
        continue                                   # timings and rates: no tolerance
    fam = name.split(".")[0]
    ratio = v / t if t > 0 else 0.0
    cur = fams.get(fam)
    n = (cur[4] if cur else 0) + 1
    fams[fam] = (ratio, name, v, t, n) if cur is None or ratio > cur[0] else cur[:4] + (n,)
if fams:
    print()
    print("| kernel family | checks | worst relative error | tolerance | worst case |")
    print("|---|---:|---:|---:|---|")
    for fam in sorted(fams):
        r, name, v, t, n = fams[fam]
        print(f"| {fam} | {n} | {v:.2e} | {t:.0e} | {name} |")
print(f"{sum(c[0] for c in classes.values())} passed, {sum(c[1] for c in classes.values())} failed, "
      f"{sum(c[2] for c in classes.values())} skipped")
PY
    return $rc
}

phase_kernels() {
    bench "$OUT/kernels.log" 300 8g gsat2r.bench.GpuBench
    local rc=$?
    { grep -h '^device:' "$OUT/kernels.log"; sed -n '/^| measurement/,$p' "$OUT/kernels.log"; } | table
    return $rc
}

gsa_bench() {        # gsa_bench gsa|attention
    bench "$OUT/$1.log" 200 16g gsat2r.bench.GsaBench "$1"
    local rc=$?
    {
        grep -h "^OCCUPANCY" "$OUT/$1.log" | sed 's/^OCCUPANCY //'
        grep -h "^BREAKDOWN" "$OUT/$1.log" | sed 's/^BREAKDOWN //'
        sed -n '/^| measurement (ours/,$p' "$OUT/$1.log"
    } | table
    return $rc
}
phase_gsa() {
    ptxas gsa_bwd_chunk_m64_bf16 gsa_fwd_out_m64_bf16 | table
    gsa_bench gsa
}
phase_attention() {
    ptxas attn_fwd_d64_bf16 attn_bwd_dq_d64_bf16 attn_bwd_dkdv_d64_bf16 | table
    gsa_bench attention
}

phase_fla() {
    fla_env fla || return 0
    timeout "${FLA_BENCH_S:-400}" python3 "$BENCH_PY/fla_bench.py" > "$OUT/fla.log" 2>&1
    local rc=$?
    (cd /tmp && tar -cf - triton-cache | xz -T0 -3 | split -b 15M - "$OUT/triton-cache.tar.xz.")
    [ -f "$OUT/gsa.log" ] || bench "$OUT/gsa.log" 200 16g gsat2r.bench.GsaBench gsa
    [ -f "$OUT/attention.log" ] || bench "$OUT/attention.log" 200 16g gsat2r.bench.GsaBench attention
    cat "$OUT/gsa.log" "$OUT/attention.log" > "$OUT/ours.log"
    python3 "$BENCH_PY/compare.py" "$OUT/ours.log" "$OUT/fla.log" | table
    return $rc
}

phase_distill() {
    bench "$OUT/distill.log" 300 40g gsat2r.bench.DistillBench --work "$WORK" \
        --preset tiny-llama --shapes 16x512,32x512 --preset llama-3.2-1b --shapes 8x512,16x512 --steps 10 --warmup 3
    local rc=$?
    for p in "tiny-llama 16x512,32x512" "llama-3.2-1b 8x512,16x512"; do
        set -- $p
        bench "$OUT/teacher-forward-$1.log" 120 16g gsat2r.bench.TeacherForwardBench "$WORK/$1-teacher" "$2" 10 3 || rc=$?
    done
    { sed -n '/^| model/,$p' "$OUT/distill.log"; cat "$OUT"/teacher-forward-*.log | grep "^teacher forward"; } | table
    return $rc
}

phase_torch() {
    fla_env torch || return 0
    local rc=0
    for p in "tiny-llama 16x512,32x512" "llama-3.2-1b 8x512,16x512"; do
        set -- $p
        [ -d "$WORK/$1-student" ] || { note "torch: no $WORK/$1-student (run the distill phase first)"; rc=1; continue; }
        timeout "${TORCH_S:-250}" python3 "$BENCH_PY/torch_distill_step.py" --teacher "$WORK/$1-teacher" --student "$WORK/$1-student" \
            --shapes "$2" --name "$1" >> "$OUT/torch.log" 2>&1 || rc=$?
    done
    grep -v "^BENCH-STEP" "$OUT/torch.log" | grep -E "PyTorch|teacher|Error|error" | tail -8 | table
    return $rc
}

phase_dp() {
    local args=(--work "$WORK" --preset "${PRESET:-llama-3.2-1b}" --shape "${SHAPE:-8x512}" --steps "${STEPS:-10}" --warmup "${WARMUP:-3}")
    [ -n "${1:-}" ] && args+=(--gpus "$1")
    bench "$OUT/dp.log" 560 $(( 8 + 7 * GPUS ))g gsat2r.bench.DataParallelBench "${args[@]}"   # each rank holds the 1B student's host copy while it loads
    local rc=$?
    sed -n '/^| GPUs/,$p' "$OUT/dp.log" | table
    [ $rc -eq 0 ] || tail -5 "$OUT/dp.log" | table
    return $rc
}

phase_size() {
    local rc=0 m preset recipe
    for m in ${1//,/ }; do
        case $m in
            1b) preset=llama-3.2-1b; recipe=recipes/llama-3.2-1b.json ;;
            8b) preset=llama-3.1-8b; recipe=recipes/llama-3-8b.json ;;
            7b) preset=mistral-7b; recipe=recipes/mistral-7b.json ;;
            *) note "size: unknown model '$m' (1b, 8b, 7b)"; rc=2; continue ;;
        esac
        bench "$OUT/size-$m.log" 560 64g gsat2r.bench.SizeBench --preset "$preset" --recipe "$ROOT/$recipe" --work "$WORK/size-$m" || rc=$?
        sed -n '/^| model/,$p' "$OUT/size-$m.log" | table
    done
    return $rc
}

phase_infer() {
    local rc=0 m preset teacher student ids entry name dir p
    ids=$(python3 -c "import random; random.seed(7); print(','.join(str(random.randrange(1, 32000)) for _ in range(512)))")
    for m in ${1//,/ }; do
        case $m in
            8b) preset=llama-3.1-8b ;;
            7b) preset=mistral-7b ;;
            3b) preset=llama-3.2-3b ;;
            *) note "infer: unknown model '$m' (8b, 7b, 3b)"; rc=2; continue ;;
        esac
        teacher=$(random_teacher "$preset"); student=$WORK/$preset-student
        local t0=$(date +%s.%N)
        "$B/bin/t2r" convert --teacher "$teacher" --out "$student" --force > "$OUT/infer-$m-convert.log" 2>&1 \
            || { note "infer $m: convert failed"; rc=1; continue; }
        echo "convert $(python3 -c "import time; print(f'{time.time() - $t0:.1f}')") s" >> "$OUT/infer-$m-convert.log"
        for entry in "teacher=$teacher" "student=$student"; do
            name=${entry%%=*}; dir=${entry#*=}
            for p in fp32 bf16; do
                nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 -lms 200 > "$OUT/infer-$m-$name-$p.mem" &
                local smi=$!
                t0=$(date +%s.%N)
                "$B/bin/t2r" logits --model "$dir" --ids "$ids" --device cuda --precision $p \
                    > "$WORK/infer-$m-$name-$p.json" 2>> "$OUT/infer-$m.log" || rc=1
                python3 -c "import time; print(f'{time.time() - $t0:.1f}')" > "$OUT/infer-$m-$name-$p.time"
                kill $smi 2>/dev/null; wait $smi 2>/dev/null
            done
        done
        python3 - "$WORK" "$OUT" "$m" "$(tail -n 1 "$OUT/infer-$m-convert.log")" <<'PY' | table
import json, sys
import numpy as np
work, out, m, convert = sys.argv[1:5]
print(f"{m}: {convert}")
print("| model | precision | wall (load + 512 positions) | peak device memory | finite | rel L2 bf16 vs fp32 | argmax agreement |")
print("|---|---|---:|---:|---|---:|---:|")
for name in ("teacher", "student"):
    z = {}
    for p in ("fp32", "bf16"):
        try:
            z[p] = np.array(json.load(open(f"{work}/infer-{m}-{name}-{p}.json"))["logits"], dtype=np.float64).reshape(1, -1)
        except Exception as e:
            print(f"| {name} | {p} | | | no logits ({type(e).__name__}) | | |"); continue
    for p in z:
        wall = open(f"{out}/infer-{m}-{name}-{p}.time").read().split()[-1]
        mem = max([int(x) for x in open(f"{out}/infer-{m}-{name}-{p}.mem").read().split() if x.isdigit()] or [0])
        cmp = ""
        if p == "bf16" and "fp32" in z:
            a, b = z["fp32"], z["bf16"]
            cmp = f"{np.linalg.norm(a - b) / np.linalg.norm(a):.2e} | {100 * np.mean(a.argmax(-1) == b.argmax(-1)):.1f}%"
        else:
            cmp = " | "
        print(f"| {name} | {p} | {wall} s | {mem / 1024:.1f} GiB | {bool(np.isfinite(z[p]).all())} | {cmp} |")
PY
    done
    return $rc
}

phase_scoring() {
    local dir=${1:-$(random_teacher llama-3.2-1b)} rc
    bench "$OUT/scoring.log" 300 24g gsat2r.bench.ScoringBench "$dir" cuda 512 64 100 30
    rc=$?
    bench "$OUT/scoring-cpu.log" 200 24g gsat2r.bench.ScoringBench "$dir" cpu 16 8 100 30 || rc=$?
    grep -h "^scoring" "$OUT/scoring.log" "$OUT/scoring-cpu.log" | table
    return $rc
}

phase_decode() {     # decode [teacher,student]: DecodeBench, then torch_decode.py at the same shapes, one table
    local models=${1:-teacher,student} dir=$WORK/decode rc torch_rc=skipped
    local contexts=${CONTEXTS:-512,4096,32768} batches=${BATCHES:-1,64,256}
    ptxas decode_linear_rms_store_b8 decode_linear_plain_add_b8 decode_linear_rms_swiglu_b16 gsa_decode_step_bf16 attention_decode_d64_g4_bf16 \
        score_continuations_bf16 | table
    bench "$OUT/decode.log" "${DECODE_S:-300}" 24g gsat2r.gpumodels.DecodeBench --work "$dir" --models "$models" \
        --contexts "$contexts" --batches "$batches" --steps "${DECODE_STEPS:-16}" --warmup 3 --scoring-batches 3
    rc=$?
    [ $rc -eq 0 ] || tail -5 "$OUT/decode.log" | sed 's/^/DecodeBench: /' | table
    local torch_models
    torch_models=$(tr "," "\n" <<< "$models" | { grep -vx conv || true; } | paste -sd, -)    # PyTorch has no short-convolution student here
    if [ -z "$torch_models" ]; then
        note "decode: only the conv student, which torch_decode.py does not model: the PyTorch columns stay empty"
    elif python3 -c "import torch; assert torch.cuda.is_available()" > /dev/null 2>&1; then
        timeout "${TORCH_DECODE_S:-180}" python3 "$BENCH_PY/torch_decode.py" --teacher "$dir/teacher-1b-v8192" \
            --student "$dir/student-1b-v8192" --models "$torch_models" --contexts "$contexts" --batches "$batches" \
            --steps "${DECODE_STEPS:-16}" --warmup 3 > "$OUT/torch-decode.log" 2>&1
        torch_rc=$?
        [ $torch_rc -eq 0 ] || tail -3 "$OUT/torch-decode.log" | sed 's/^/torch_decode.py: /' | table
    else
        note "decode: no PyTorch with CUDA here, the PyTorch columns stay empty"
    fi
    # where a step's time goes at batch 1: kernels launched one by one (no graph, no PDL), each timed by CUDA events
    bench "$OUT/decode-breakdown.log" "${DECODE_BREAKDOWN_S:-240}" 24g gsat2r.gpumodels.DecodeBench --work "$dir" \
        --models "$models" --breakdown "${BREAKDOWN_CONTEXTS:-512,32768}" --batches 1 --steps "${DECODE_STEPS:-16}" --warmup 3
    local brc=$?
    [ $brc -eq 0 ] || tail -5 "$OUT/decode-breakdown.log" | sed 's/^/DecodeBench --breakdown: /' | table
    python3 - "$OUT" "$rc" "$torch_rc" <<'PY' | table
import os, re, sys
out, bench_rc, torch_rc = sys.argv[1:4]
kv = lambda line: dict(re.findall(r"(\w+)=([^\s]+)", line))
ours, theirs, scoring, skipped = {}, {}, {}, []
for name, target in (("decode.log", ours), ("torch-decode.log", theirs)):
    p = os.path.join(out, name)
    for line in open(p, errors="replace") if os.path.exists(p) else []:
        if "skipped" in line and "DECODE" in line:
            skipped.append(line.strip())
        elif line.startswith("DECODE ") or line.startswith("TORCH-DECODE "):
            d = kv(line)
            target[(line.split()[1], int(d["ctx"]), int(d["batch"]))] = d
        elif line.startswith("SCORING "):
            scoring[line.split()[1]] = kv(line)
print(f"decoding, bf16, one token per sequence per step (DecodeBench exit {bench_rc}, torch_decode.py exit {torch_rc}):")
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
    grep -h "^DECODE-BREAKDOWN" "$OUT/decode-breakdown.log" 2>/dev/null | table
    [ $rc -ne 0 ] || rc=$brc
    return $rc
}

phase_e2e() {
    local w=/tmp/t2r-e2e
    rm -rf "$w" && mkdir -p "$w"
    demo_recipe "$w/demo-cuda.json" 4
    {
        local t0=$(date +%s)
        timeout 150 "$B/bin/t2r" finetune --recipe "$w/demo-cuda.json" --out "$w/run"
        echo "finetune exit $? in $(( $(date +%s) - t0 )) s"
        tail -n 2 "$w/run/metrics.jsonl"
        timeout 90 "$B/bin/t2r" eval --teacher "$ROOT/models/kjv-llama" --student "$w/run/final" --data "$ROOT/data/kjv/validation.jsonl" \
            --tasks lm --max-tokens 8192 --context 256 --device cuda --out "$w/eval"
        echo "eval exit $?"
        for dev in cpu cuda; do
            "$B/bin/t2r" logits --model "$ROOT/models/kjv-llama" --text "In the beginning God" --device $dev > "$w/logits-teacher-$dev.json"
            "$B/bin/t2r" logits --model "$w/run/final" --text "In the beginning God" --all-positions --device $dev > "$w/logits-student-$dev.json"
            echo "generate $dev: $("$B/bin/t2r" generate --model "$w/run/final" --prompt "In the beginning" --max-new-tokens 24 --greedy --device $dev --format json)"
        done
    } > "$OUT/e2e.log" 2>&1
    cp "$w/run/metrics.jsonl" "$OUT/e2e-metrics.jsonl" 2>/dev/null
    python3 - "$w" <<'PY' | table
import json, math, sys
w = sys.argv[1]
for m in ("teacher", "student"):
    try:
        a = json.load(open(f"{w}/logits-{m}-cpu.json"))["logits"]; b = json.load(open(f"{w}/logits-{m}-cuda.json"))["logits"]
    except Exception as e:
        print(f"t2r logits {m}: missing ({e})"); continue
    num = sum((x - y) ** 2 for ra, rb in zip(a, b) for x, y in zip(ra, rb)); den = sum(x * x for r in a for x in r)
    print(f"t2r logits {m}: cuda (bf16) against cpu, relative L2 {math.sqrt(num / den):.3e}")
PY
    grep -E "^(finetune|eval) exit|^generate" "$OUT/e2e.log" | cut -c1-200 | table
    grep -q "finetune exit 0" "$OUT/e2e.log"
}

phase_peft() {
    local w=/tmp/t2r-peft
    rm -rf "$w" && mkdir -p "$w"
    demo_recipe "$w/demo-cuda.json" 4
    timeout 150 "$B/bin/t2r" finetune --recipe "$w/demo-cuda.json" --out "$w/run" --set stages.0.steps=12 --set stages.1.steps=12 \
        --set stages.1.trainable=lora:8 --set stages.1.lr=5e-3 --set checkpoint_interval=20 > "$OUT/peft-finetune.log" 2>&1 \
        || { note "peft: finetune failed"; return 1; }
    python3 "$ROOT/scripts/check-peft-adapter.py" "$w/run" distill "$w/run/checkpoints/step-00000020" 2>&1 | tee "$OUT/peft.log" | table
    return "${PIPESTATUS[0]}"
}

phase_torchrun() {
    local w=/tmp/t2r-torchrun sets=(--set stages.0.steps=3 --set stages.1.steps=3 --set stages.0.warmup_steps=1 --set stages.1.warmup_steps=1
        --set stages.1.trainable=lora:8 --set eval_tokens=512 --set checkpoint_interval=0)
    rm -rf "$w" && mkdir -p "$w"
    demo_recipe "$w/demo.json" 4
    sed -i 's/"device": "cuda"/"device": "cpu"/' "$w/demo.json"
    command -v torchrun > /dev/null || { note "torchrun: not installed"; return 1; }
    timeout 200 "$B/bin/t2r" finetune --recipe "$w/demo.json" --out "$w/one" "${sets[@]}" > "$OUT/torchrun-one.log" 2>&1 \
        || { note "torchrun: the one-process run failed"; return 1; }
    timeout 200 torchrun --nproc-per-node 2 --max-restarts 0 --no-python "$B/bin/t2r" finetune --recipe "$w/demo.json" --out "$w/two" \
        "${sets[@]}" > "$OUT/torchrun-two.log" 2>&1 || { note "torchrun: the run under torchrun failed"; tail -n 5 "$OUT/torchrun-two.log"; return 1; }
    local a b
    a=$(sha256sum < "$w/one/final/model.safetensors"); b=$(sha256sum < "$w/two/final/model.safetensors")
    echo "| torchrun 2 ranks vs 1 process (demo, 3 + 3 steps, LoRA distill, cpu) | $([ "$a" = "$b" ] && echo "same bits" || echo "DIFFERENT") |" | table
    [ "$a" = "$b" ]
}

phase_dp_e2e() {
    local w=/tmp/t2r-dp-e2e n=$GPUS
    rm -rf "$w" && mkdir -p "$w"
    [ "$n" -gt 8 ] && n=8
    if [ "$n" -lt 2 ]; then
        demo_recipe "$w/demo-cuda.json" 4
        timeout 120 "$B/bin/t2r" finetune --recipe "$w/demo-cuda.json" --out "$w/run2" --gpus 2 > "$OUT/dp-e2e.log" 2>&1
        local rc=$?
        { echo "--gpus 2 on one GPU: exit $rc (expected 1)"; grep -E 'error' "$OUT/dp-e2e.log" | head -2; } | table
        [ $rc -eq 1 ]
        return
    fi
    demo_recipe "$w/one.json" 4
    demo_recipe "$w/many.json" $(( 8 / n ))
    {
        timeout 200 "$B/bin/t2r" finetune --recipe "$w/one.json" --out "$w/one"; echo "one process: exit $?"
        timeout 200 "$B/bin/t2r" finetune --recipe "$w/many.json" --out "$w/many" --gpus "$n"; echo "--gpus $n: exit $?"
    } > "$OUT/dp-e2e.log" 2>&1
    for run in one many; do
        echo "$run: $(grep -h '"val_' "$w/$run/metrics.jsonl" 2>/dev/null | tail -n 1)" | table
    done
    grep -E '^(one process|--gpus)' "$OUT/dp-e2e.log" | table
    ! grep -qE '^(one process|--gpus [0-9]+): exit [1-9]' "$OUT/dp-e2e.log"
}

phase_nccl() {
    [ "$GPUS" -ge 2 ] || { note "nccl: skipped, one GPU (NcclGpuTest of the tests covers one rank)"; return 0; }
    local id=/tmp/t2r-nccl-id pids=() rc=0 r
    rm -f "$id"
    for ((r = 0; r < GPUS; r++)); do
        RANK=$r WORLD_SIZE=$GPUS LOCAL_RANK=$r LOCAL_WORLD_SIZE=$GPUS MASTER_ADDR=127.0.0.1 MASTER_PORT=0 NCCL_ID_FILE=$id \
            timeout 300 "$JAVA" "${JOPTS[@]}" -cp "$TESTS_CP" gsat2r.gpu.nccl.NcclRankCheck > "$OUT/nccl-rank-$r.log" 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    cat "$OUT"/nccl-rank-*.log | grep -h 'nccl-rank' | table
    return $rc
}

phase_logits() {
    local w=/tmp/t2r-logits teacher=$ROOT/.carry/tiny/tiny-llama
    [ -f "$teacher/config.json" ] || teacher=$ROOT/models/kjv-llama
    rm -rf "$w" && mkdir -p "$w"
    local text="In the beginning God created the heaven and the earth. The quick brown fox jumps over the lazy dog, and the dog sleeps on. Once upon a time there was a little girl who lived in a village near the forest."
    "$B/bin/t2r" convert --teacher "$teacher" --out "$w/student" > "$OUT/logits-convert.log" 2>&1 || { note "logits: convert failed"; return 1; }
    local models=("teacher=$teacher" "converted-student=$w/student") entry name dir p
    [ -n "${1:-}" ] && models+=("extra-student=$1")
    for entry in "${models[@]}"; do
        name=${entry%%=*}; dir=${entry#*=}
        "$B/bin/t2r" logits --model "$dir" --text "$text" --all-positions > "$w/$name-cpu.json" 2>> "$OUT/logits.log"
        for p in fp32 bf16; do
            "$B/bin/t2r" logits --model "$dir" --text "$text" --all-positions --device cuda --precision $p > "$w/$name-$p.json" 2>> "$OUT/logits.log"
        done
    done
    python3 - "$w" "${models[@]}" <<'PY' | table
import json, sys
import numpy as np
w = sys.argv[1]
print("| model | GPU precision | T | rel L2 vs CPU fp32 | max rel | argmax agreement |")
print("|---|---|---:|---:|---:|---:|")
for entry in sys.argv[2:]:
    name = entry.split("=")[0]
    try:
        ref = json.load(open(f"{w}/{name}-cpu.json"))
    except Exception as e:
        print(f"| {name} | - | - | no CPU logits ({e}) | | |"); continue
    r = np.array(ref["logits"], dtype=np.float64)
    for p in ("fp32", "bf16"):
        try:
            g = np.array(json.load(open(f"{w}/{name}-{p}.json"))["logits"], dtype=np.float64)
        except Exception as e:
            print(f"| {name} | {p} | - | no GPU logits ({e}) | | |"); continue
        rel = np.linalg.norm(g - r) / np.linalg.norm(r)
        mrel = np.abs(g - r).max() / np.abs(r).max()
        agree = int((g.argmax(-1) == r.argmax(-1)).sum())
        print(f"| {name} | {p} | {len(ref['ids'])} | {rel:.2e} | {mrel:.2e} | {agree}/{len(ref['ids'])} |")
PY
}

phase_tiny_llama() {
    local carry=$ROOT/.carry/tiny rc=0 g
    for f in tiny-llama/config.json english-mix/train.jsonl.xz english-mix/validation.jsonl; do
        [ -f "$carry/$f" ] || { note "tiny-llama: skipped, $carry/$f is missing"; return 1; }
    done
    for g in ${1//,/ }; do tiny_llama_run "$g" || rc=$?; done
    return $rc
}
tiny_llama_run() {   # recipes/tiny-llama.json on cuda with gate init $1, budget scaled to TRAIN_SECONDS at TOKENS_PER_S
    local w=/tmp/t2r-distill-$1 carry=$ROOT/.carry/tiny out=$OUT/tiny-llama-$1
    rm -rf "$w" && mkdir -p "$w" "$out"
    python3 - "$ROOT/recipes/tiny-llama.json" "$w/recipe.json" "$carry" "${TOKENS_PER_S:-500000}" "${TRAIN_SECONDS:-270}" "$1" > "$w/budget.txt" <<'PY'
import json, sys
src, dst, carry, rate, seconds, gate_init = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
r = json.load(open(src))
r.pop("$schema", None)
r["student"]["gate_init"] = gate_init
r.update(teacher=f"{carry}/tiny-llama", device="cuda", checkpoint_interval=500,
         data={"train": f"{carry}/english-mix/train.jsonl.xz", "validation": f"{carry}/english-mix/validation.jsonl"})
step_tokens = r["batch"] * r["seq_len"]
full = sum(s["tokens"] for s in r["stages"])
scale = min(1.0, rate * seconds / full)
for s in r["stages"]:
    if scale < 1:
        steps = max(8, round(s["tokens"] * scale / step_tokens))
        s["tokens"] = steps * step_tokens
        s["warmup_steps"] = min(s.get("warmup_steps", 0), steps // 4)
        s["eval_interval"] = max(1, steps // 4)
json.dump(r, open(dst, "w"), indent=1)
print(f"gate init {gate_init}: {sum(s['tokens'] for s in r['stages']):,} tokens ({scale:.1%} of the recipe's {full:,})")
PY
    T2R_JAVA_OPTS=${T2R_JAVA_OPTS:--Xmx24g} "$B/bin/t2r" finetune --recipe "$w/recipe.json" --out "$w/run" > "$out/run.log" 2>&1
    local rc=$?
    cp "$w/run/metrics.jsonl" "$out/" 2>/dev/null
    for s in student-init final; do
        [ -d "$w/run/$s" ] || continue
        T2R_JAVA_OPTS=${T2R_JAVA_OPTS:--Xmx24g} "$B/bin/t2r" eval --teacher "$carry/tiny-llama" --student "$w/run/$s" \
            --data "$carry/english-mix/validation.jsonl" --tasks lm --max-tokens "${EVAL_TOKENS:-65536}" --context 512 --device cuda \
            --out "$w/eval-$s" >> "$out/eval.log" 2>&1
        cp "$w/eval-$s/report.json" "$out/eval-$s.json" 2>/dev/null
    done
    { cat "$w/budget.txt"; echo "finetune exit $rc"; } | table
    python3 - "$out" <<'PY' | table
import json, os, sys
out = sys.argv[1]
print("| model | val ppl | top-1 agreement | KL(teacher || student) |")
print("|---|---:|---:|---:|")
for name, label in (("student-init", "converted student"), ("final", "final student")):
    f = f"{out}/eval-{name}.json"
    if os.path.exists(f):
        lm = json.load(open(f))["results"]["lm"]
        if name == "student-init":
            print(f"| teacher | {lm['teacher_perplexity']:.2f} | | |")
        print(f"| {label} | {lm['student_perplexity']:.2f} | {100 * lm['top1_agreement']:.1f}% | {lm['kl']:.4f} |")
PY
    return $rc
}

# ---- run ------------------------------------------------------------------------------------------------
run_phase() {        # run_phase NAME [ARG]
    local name=$1 arg=${2:-} t0 rc
    t0=$(date +%s)
    echo "== $name${arg:+=$arg} ($(elapsed) s)"
    echo "-- $name${arg:+=$arg}" >> "$TABLES"
    "phase_${name//-/_}" "$arg"
    rc=$?
    note "$(printf '%-12s exit %-3s %5s s' "$name" "$rc" "$(( $(date +%s) - t0 ))")"
    return $rc
}
STATUS=0
[ $RUN_TESTS -eq 1 ] && { run_phase tests || STATUS=1; }
for p in "${PHASES[@]}"; do
    name=${p%%=*}
    arg=""
    [[ "$p" == *=* ]] && arg=${p#*=}
    case $name in
        kernels|gsa|attention|fla|distill|torch|dp|scoring|decode|e2e|peft|torchrun|dp-e2e|nccl|logits) ;;
        size) arg=${arg:-1b} ;;
        infer) arg=${arg:-8b} ;;
        tiny-llama) arg=${arg:-random} ;;
        *) note "unknown phase '$name' (see --help)"; STATUS=2; continue ;;
    esac
    run_phase "$name" "$arg" || STATUS=1
done

echo
echo "================ GPU suite, bundle $(cat "$B/COMMIT"), $GPUS GPU(s), $(elapsed) s (logs in $OUT) ================"
cat "$TABLES"
echo
cat "$SUMMARY"
exit $STATUS
