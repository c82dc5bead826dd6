#!/usr/bin/env bash
# Recall that survives distillation, measured on the GPU machine in one call (267 s on one H200):
#   (a) t2r plan: which 2 of recall-llama's 8 layers keep softmax attention (the teacher's induction and
#       previous-token heads; short attention transfer, recall probes of every set of 2 layers);
#   (b) recipes/recall-llama-gsa.json (every layer GSA);
#   (c) recipes/recall-llama-hybrid.json as committed (its layers chosen by the measurements in docs/recall.md), and
#       the same recipe with the planner's layers ("planned");
#   (d) the same hybrid recipe with the naive plan (first and last layers, the same budget);
#   (e) t2r eval --context 1024 --tasks lm,recall,passkey,niah_single,niah_multikey,niah_multivalue,vt --device cuda
#       of each student against the teacher (the teacher's numbers are in every report);
#   (f) recipes/tiny-llama.json (no-regression: t2r eval's lm perplexity at 512 tokens on 65,536 positions against
#       9.81, the measure that gave it), when tiny-llama was carried and time is left;
#   then, if time is left, the needle tasks at 4,096 tokens for (b) and (c).
# Every phase has a banner, a log, and a time limit (its own cap, or what is left of DEADLINE seconds); a failed,
# timed-out or skipped phase is reported and the later ones still run (a failed plan: the hybrid recipe's own
# layers). The table is printed last.
#
# Runs from the repository root, with
#   the t2r bundle   /tmp/t2r-gpu (bin/t2r: left by an earlier gpu-suite.sh call while the machine is warm), or
#                    .bundle/t2r-gpu.tar.xz to unpack there (scripts/gpu-check.sh)
#   the shared files .bundle/shared/, or .bundle/shared.tar.xz to unpack there (scripts/device/make-recall-carry.sh):
#                      recall-llama/  config.json generation_config.json model-0000{1,2,3}-of-00003.safetensors
#                                     model.safetensors.index.json tokenizer.json tokenizer_config.json
#                      english-mix/   train.jsonl.xz validation.jsonl
#                      tiny-llama/    (optional, for (f)) the same files as recall-llama/
# Writes to $OUT (at most 8 files, none over 16 MiB): recall-check.tar.xz (the eval reports eval/<name>/
# report.json, report.md and plots; plan/plan.json and plan.md; each run's recipe and metrics.jsonl; the logs),
# summary.txt (the table) and summary.json.
#
#   [DEADLINE=560] [OUT=DIR] [SAMPLES=30] bash scripts/device/recall-check.sh
#
# SAMPLES: prompts per point of recall, passkey and the needle tasks in every evaluation (t2r eval --samples; default 30,
# the committed every-layer report's count: one prompt is 3.3 points of a passkey length, 10 with SAMPLES=10; DRY=1
# uses 1 whatever it says). MET_SAMPLES (default 30; 0: never): a grid
# student with every layer GSA that meets the three lines (scripts/device/recall_lines.py) is evaluated again on every
# task on this many prompts a point, into eval/met-grid-NAME (a report to commit, beside its recipes/grid-NAME.json).
#
# GRID="NAME:BASE:WEIGHT[:KEEP[:CE[:SET]]] ..." adds variants after (d), each trained and evaluated (lm, recall, passkey)
# like the naive plan and reported in the table without acceptance checks (a student without attention layers gets a
# "lines:" row: its perplexity, MQAR at 16 pairs and passkey at 1,024 against every-layer GSA's three lines): BASE is gsa, hybrid (the committed recipe)
# or naive, WEIGHT the distill stage's recall_weight (docs/recipes.md), KEEP the layers kept as full attention (e.g.
# 0,4; empty: the base's), CE the distill stage's ce_weight, SET more settings joined by + (bare=, filler=: kv-recall's
# bare_share, needles' filler_share; facts=, decoys=: kv-recall's fact_share, decoy_share; ndecoys=: needles' decoy_share; kv=, needles=, repeats=: shares; at=, distill=: stage tokens; lr=: distill lr;
# batch=: sequences a step (the same tokens in more, smaller steps: 8 takes twice the steps of 16);
# norm=, slots=, kvh=, init=, conv=, cinit=, clr=: gate normalizer, slots, the GSA layers' kv heads (student.kv_heads), gate
# init, short convolutions' taps, init and learning-rate scale (every stage); seed=: the data's and the student's seed (dseed=, sseed=: the data's alone, the student's conversion's alone); hs=: the attention-transfer stage's hidden_states;
# at2=: a second attention-transfer stage of that many tokens on the student's hidden states, after the first; ce=: the
# distill stages' ce_weight; aw=: the distill stages' answer_weight (a tail= given after it keeps it); aw.kv=, aw.needles=,
# aw.repeats=, aw.variables=: their answer weight of that kind's answers alone (answer_weights); pairs=A-B: kv-recall's min_pairs and max_pairs; teacher=: the teacher's folder; tail=N: the
# distill stage's last N tokens as a stage of their own, distill-tail, with a synthetic mix of its own (at first the
# recipe's), which t.kv=, t.needles=, t.facts= ... (every mix setting above with t.) set as the settings without t. do
# the recipe's, and t.lr=, t.ce=, t.w= its lr, ce_weight and recall_weight; give tail= before them); a.kv=, a.facts= ... (the same with a.):
# the first attention-transfer stage's own mix (at first the recipe's as set so far: give them after the recipe's; at2=
# given after them copies that mix, given before them keeps the recipe's); sw=N: after N tokens of the distill stage its
# data switches to a mix of its own (stages[i].synthetic_switch: the optimizer and the learning-rate schedule go on,
# unlike tail=), at first the recipe's, which s.kv=, s.facts= ... (the same with s.) set (give sw= before them), e.g.
# k47b:hybrid:4:4,7:0.5:bare=0.5+filler=0.5. GRID_TASKS: the tasks of the grid's evaluations (default
# lm,recall,passkey). PARALLEL=N: up to N grid students at once, spread over the machine's GPUs (below). NEEDLES_4K=0 skips the needle tasks at 4,096 tokens; ONLY_GRID=1
# skips (a) to (d) (the committed hybrid recipe is then the hybrid base); ONLY_GSA=1 runs (b) alone of them (with (e) of
# it); TINY=1 still runs (f).
# PROG="NAME:KEEP:AT1:D1:AT2:D2[:SET[:SET2]] ..." adds progressive conversions: the hybrid base with KEEP kept as
# attention (and SET) trains AT1 tokens of attention transfer and D1 of distillation; t2r convert --student --to-gsa
# KEEP then makes those layers GSA, and the every-layer-GSA student trains AT2 (0: no attention transfer) and D2 tokens
# more on the corpus in the next seed's order, with SET2's stage settings; SET2's teacher=kept makes its teacher the
# original one with the trained hybrid's KEEP layers grafted in (scripts/device/graft-attention.py: its attention
# transfer then learns the hybrid's own attention; give its distillation ce=1). KEEP none: the first part is the
# every-layer-GSA base and the second trains on from it (a curriculum: SET2 changes the data); evaluated like the grid (as grid-NAME;
# grid-NAME-1 is the first run, evaluated too with PROG_EVAL_FIRST=1).
#
# SOUP="NAME:A,B[,C...][:WA,WB...] ..." averages the final weights of grid students A, B, ... (of one architecture,
# converted alike: the same student seed, which seed= also sets; scripts/device/average-students.py), equally unless
# one weight per student is given, into grid-NAME (not a grid student's name), evaluated like the grid; e.g. SOUP="ab:gsa3,n10d10:0.5,0.5" after GRID="gsa3:gsa:4::0.9 n10d10:gsa:4::0.9:kv=0.9+needles=0.1+…".
#
# GATES=0 skips t2r gates of each grid and progressive student (on english-mix and on the passkey task's filler; in
# eval/NAME/gates*.json and the table).
# DRY=1 checks the script itself anywhere (device cpu, sequences of 128 tokens, two steps per stage, contexts of
# 256 tokens, one prompt per point): every phase runs, no number means anything.
set -euo pipefail
ROOT=$PWD
OUT=${OUT:-$ROOT/recall-out}
T0=$(date +%s)
DEADLINE=${DEADLINE:-560}
B=${T2R_BUNDLE:-/tmp/t2r-gpu}
T2R=$B/bin/t2r
SHARED=${SHARED:-$ROOT/.bundle/shared}
W=${WORK:-/tmp/recall-check}
TASKS=lm,recall,passkey,niah_single,niah_multikey,niah_multivalue,vt
GRID_TASKS=${GRID_TASKS:-lm,recall,passkey}
DRY=${DRY:-0}
DEVICE=cuda CONTEXT=1024 LONG=4096 SAMPLES=${SAMPLES:-30} MET_SAMPLES=${MET_SAMPLES:-30} AT_TOKENS=1048576 PROBES=8 MAX_TOKENS=32768
CAP_SCALE=1
[ "$DRY" = 1 ] && DEVICE=cpu CONTEXT=256 LONG=512 SAMPLES=1 MET_SAMPLES=$([ "$MET_SAMPLES" = 0 ] && echo 0 || echo 1) AT_TOKENS=256 PROBES=1 MAX_TOKENS=512 CAP_SCALE=10
export T2R_JAVA_OPTS=${T2R_JAVA_OPTS:--Xmx32g}
export W T2R TASKS DEVICE SAMPLES MAX_TOKENS CONTEXT

# A student's training starts only with time left for its evaluation too (about 30 s on the GPU after 31-36 s of
# training), and a progressive student's first stage with time for its second: one trained but not evaluated is
# device time spent for nothing.
TRAIN_NEED=90
elapsed() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( DEADLINE - $(elapsed) )); }

# phase NAME SECONDS_NEEDED CAP CMD...: CMD with a time limit of CAP seconds or what is left, whichever is less, its
# output in $W/logs/NAME.log; never stops the script.
phase() {
    local name=$1 need=$2 cap=$3 l rc=0 s d
    shift 3
    l=$(left)
    echo "==== [$(elapsed) s] $name"
    if [ "$l" -lt "$need" ]; then
        echo "skipped: $l s left, it needs about $need"
        record "$name|skipped: $l s left"
        return 0
    fi
    cap=$(( cap * CAP_SCALE ))
    [ "$l" -gt "$cap" ] && l=$cap
    s=$(date +%s)
    if declare -F "$1" > /dev/null; then          # a function of this script: timeout runs programs only
        timeout --kill-after=10 "$l" bash -c "$(declare -f "$1"); \"\$@\"" "$1" "$@" > "$W/logs/$name.log" 2>&1 || rc=$?
    else
        timeout --kill-after=10 "$l" "$@" > "$W/logs/$name.log" 2>&1 || rc=$?
    fi
    d=$(( $(date +%s) - s ))
    tail -n 4 "$W/logs/$name.log" | cut -c1-300
    if [ "$rc" -eq 0 ]; then
        record "$name|ok in $d s"
    else
        record "$name|FAILED (exit $rc) after $d s: $(grep -v '^\s*$' "$W/logs/$name.log" | tail -n 1 | cut -c1-200)"
    fi
    return 0
}
# record LINE: one phase's status, kept in a file that the summary reads back.
record() { echo "$1" >> "$W/status.txt"; }

echo "==== [0 s] setup"
mkdir -p "$OUT"
rm -rf "$W" && mkdir -p "$W/logs" "$W/recipes" "$W/eval" && : > "$W/status.txt"
if [ ! -x "$T2R" ] && [ -f "$ROOT/.bundle/t2r-gpu.tar.xz" ]; then
    mkdir -p "$(dirname "$B")" && tar -xJf "$ROOT/.bundle/t2r-gpu.tar.xz" -C "$(dirname "$B")"
    [ "$(basename "$B")" = t2r-gpu ] || mv "$(dirname "$B")/t2r-gpu" "$B"
fi
if [ ! -d "$SHARED/recall-llama" ] && [ -f "$ROOT/.bundle/shared.tar.xz" ]; then
    mkdir -p "$SHARED" && tar -xJf "$ROOT/.bundle/shared.tar.xz" -C "$SHARED"
fi
[ -x "$T2R" ] || { echo "error: no t2r bundle at $B (bin/t2r) and no .bundle/t2r-gpu.tar.xz" >&2; exit 2; }
for f in recall-llama/config.json recall-llama/tokenizer.json recall-llama/model.safetensors.index.json \
         english-mix/train.jsonl.xz english-mix/validation.jsonl; do
    [ -f "$SHARED/$f" ] || { echo "error: $SHARED/$f is missing (scripts/device/make-recall-carry.sh packs it)" >&2; exit 2; }
done
TEACHER=$SHARED/recall-llama
VALID=$SHARED/english-mix/validation.jsonl
export TEACHER VALID
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
echo "bundle $(cat "$B/COMMIT" 2>/dev/null || echo '?'), checkout $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'); deadline ${DEADLINE} s"

# The recipes with the carried files, the data tokenized once (recall-llama and tiny-llama share a tokenizer.json),
# no checkpoints (nothing here resumes).
recipes() {
    python3 - "$ROOT" "$SHARED" "$W" "$DRY" <<'PY'
import json, os, sys
root, shared, w, dry = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
def rewrite(src, dst, teacher, keep=None):
    r = json.load(open(os.path.join(root, "recipes", src)))
    r.pop("$schema", None)
    r["teacher"] = os.path.join(shared, teacher)
    r["data"] = {"prepared": os.path.join(w, "data"), **({"synthetic": r["data"]["synthetic"]} if "synthetic" in r["data"] else {})}
    r["checkpoint_interval"] = 0
    if keep is not None:
        r["student"]["keep_attention"] = keep
    if dry:                               # the script's own check: tiny and on the CPU
        r.update({"device": "cpu", "seq_len": 128, "batch": 2, "micro_batch": 2, "eval_tokens": 256})
        r.pop("precision", None)
        for s in r["stages"]:
            for k in ("tokens", "warmup_steps", "warmup_fraction", "eval_interval"):
                s.pop(k, None)
            s["steps"] = 2
    json.dump(r, open(os.path.join(w, "recipes", dst), "w"), indent=1)
rewrite("recall-llama-gsa.json", "gsa.json", "recall-llama")
rewrite("recall-llama-hybrid.json", "hybrid.json", "recall-llama")
rewrite("recall-llama-hybrid.json", "naive.json", "recall-llama", keep=[0, 7])
if os.path.isdir(os.path.join(shared, "tiny-llama")):
    rewrite("tiny-llama.json", "tiny.json", "tiny-llama")
print("recipes:", ", ".join(sorted(os.listdir(os.path.join(w, "recipes")))))
PY
}
recipes

phase data 60 120 "$T2R" data prepare --tokenizer "$TEACHER" --input "$SHARED/english-mix/train.jsonl.xz" --validation "$VALID" --out "$W/data"
evaluate() {      # evaluate NAME RUN CONTEXT [TASKS [SAMPLES]]
    [ -d "$W/$2/final" ] || { echo "no student: $W/$2/final"; return 1; }
    "$T2R" eval --teacher "$TEACHER" --student "$W/$2/final" --data "$VALID" --context "$3" --tasks "${4:-$TASKS}" \
        --samples "${5:-$SAMPLES}" --max-tokens "$MAX_TOKENS" --device "$DEVICE" --out "$W/eval/$1"
}
# gates NAME RUN: t2r gates of the student on english-mix and on the passkey task's filler (its haystack without the
# needle), into eval/NAME/gates.json and gates-filler.json.
gates() {
    [ -d "$W/$2/final" ] || { echo "no student: $W/$2/final"; return 1; }
    mkdir -p "$W/eval/$1"
    "$T2R" gates --student "$W/$2/final" --data "$VALID" --context "$CONTEXT" --windows 4 --format json > "$W/eval/$1/gates.json"
    "$T2R" gates --student "$W/$2/final" --data "$W/filler.jsonl" --context "$CONTEXT" --windows 1 --format json \
        > "$W/eval/$1/gates-filler.json"
}
# the passkey task's filler, from its one definition
FILLER=$(sed -n 's/.*static final String FILLER = "\(.*\)";/\1/p' "$ROOT/eval/src/main/java/gsat2r/eval/PasskeyTask.java")
[ -n "$FILLER" ] || { echo "error: no FILLER in eval/src/main/java/gsat2r/eval/PasskeyTask.java" >&2; exit 2; }
FILLER=$FILLER python3 -c 'import json, os; print(json.dumps({"text": os.environ["FILLER"] * 400}))' > "$W/filler.jsonl"
MAIN=1
[ "${ONLY_GRID:-0}" = 1 ] && MAIN=0
HYBRID=$W/recipes/hybrid.json
PLANNED=$W/plan/recipe.json
NAIVE=$W/recipes/naive.json
if [ "$MAIN" = 1 ]; then
    [ "${ONLY_GSA:-0}" != 1 ] && phase plan 150 170 "$T2R" plan --recipe "$W/recipes/hybrid.json" --budget 2 --at-tokens "$AT_TOKENS" --probes "$PROBES" \
        --windows 64,256 --out "$W/plan"
    [ -f "$W/plan/plan.md" ] && head -n 5 "$W/plan/plan.md" | tail -n 1 | cut -c1-400
    [ -f "$W/plan/recipe-naive.json" ] && NAIVE=$W/plan/recipe-naive.json
    phase gsa "$TRAIN_NEED" 160 "$T2R" finetune --recipe "$W/recipes/gsa.json" --out "$W/gsa"
    phase eval-gsa 30 100 evaluate recall-llama-gsa gsa "$CONTEXT"
fi
if [ "$MAIN" = 1 ] && [ "${ONLY_GSA:-0}" != 1 ]; then
    phase hybrid "$TRAIN_NEED" 160 "$T2R" finetune --recipe "$HYBRID" --out "$W/hybrid"
    phase eval-hybrid 30 100 evaluate recall-llama-hybrid hybrid "$CONTEXT"
    phase naive "$TRAIN_NEED" 160 "$T2R" finetune --recipe "$NAIVE" --out "$W/naive"
    phase eval-naive 30 80 evaluate recall-llama-naive naive "$CONTEXT" lm,recall,passkey
    if [ -f "$PLANNED" ]; then
        phase planned "$TRAIN_NEED" 160 "$T2R" finetune --recipe "$PLANNED" --out "$W/planned"
        phase eval-planned 30 80 evaluate recall-llama-planned planned "$CONTEXT" lm,recall,passkey
    fi
fi
# grid_recipe NAME BASE_RECIPE WEIGHT [KEEP [CE [SET]]]: the base recipe with the distill stages' recall_weight (kept
# layers, ce_weight, and SET's settings) set.
grid_recipe() {
    python3 - "$1" "$2" "$3" "$W" "${4:-}" "${5:-}" "${6:-}" <<'PY'
import json, os, sys
name, base, weight, w, keep, ce, extra = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
r = json.load(open(base))
for s in r["stages"]:
    if s["type"] == "distill":
        s["recall_weight"] = weight
        if ce:
            s["ce_weight"] = float(ce)
if keep:
    r["student"]["keep_attention"] = [int(l) for l in keep.split(",")]
def conversion(key, value):                           # an option of the student's conversion: only where the recipe converts
    if not isinstance(r["student"], dict):
        sys.exit(f"GRID {name}: {key} is an option of the student's conversion, and this part trains an existing student "
                 f"({r['student']})")
    r["student"][key] = value
def seed(v):                                          # the data's seed, and the conversion's where the recipe converts
    r["seed"] = int(v)
    if isinstance(r["student"], dict):
        r["student"]["seed"] = int(v)
def entry(mix, kind):                                 # the mix's entry of kind, added at share 0 when it has none
    e = next((e for e in mix if e["kind"] == kind), None)
    if e is None:
        e = {"kind": kind, "share": 0}
        mix.append(e)
    return e
def copy(x):
    return json.loads(json.dumps(x))
def first(kind):                                      # the recipe's first stage of a type
    return next(s for s in r["stages"] if s["type"] == kind)
def synthetic(kind):
    return entry(r["data"]["synthetic"], kind)
def stage(kind):
    s = first(kind)
    return {} if "steps" in s else s                  # DRY=1 counts steps: token counts do not apply
def own_stage(tokens):
    at = first("attention-transfer")
    own = dict(copy(at), name="attention-transfer-own", hidden_states="student")
    if "steps" not in own:
        own["tokens"] = tokens
    r["stages"].insert(r["stages"].index(at) + 1, own)
def split_tail(tokens):
    d = first("distill")
    t = dict(copy(d), name="distill-tail", synthetic=copy(r["data"]["synthetic"]))
    if "steps" not in d:                              # DRY=1 counts steps: both keep them
        d["tokens"] -= int(tokens)
        t["tokens"] = int(tokens)
    r["stages"].insert(r["stages"].index(d) + 1, t)
def tail():
    return next(s for s in r["stages"] if s["name"] == "distill-tail")
def mix_switch(tokens):                               # within the distill stage: its optimizer and schedule go on
    d = first("distill")
    at = {"after_steps": 1} if "steps" in d else {"tokens": int(tokens)}    # DRY=1 counts steps
    d["synthetic_switch"] = dict(at, synthetic=copy(r["data"]["synthetic"]))
# The settings of a mix (NAME: the kind's entry and its key), and the mixes they set: the recipe's (NAME=), the tail
# stage's (t.NAME=), the distill stage's switch (s.NAME=), and the attention-transfer stage's own (a.NAME=: at first
# the recipe's).
MIX_SETTINGS = {"kv": ("kv-recall", "share"), "needles": ("needles", "share"), "repeats": ("repeats", "share"),
                "bare": ("kv-recall", "bare_share"), "facts": ("kv-recall", "fact_share"), "decoys": ("kv-recall", "decoy_share"),
                "filler": ("needles", "filler_share"), "ndecoys": ("needles", "decoy_share")}
MIXES = {"": lambda: r["data"]["synthetic"], "t.": lambda: tail()["synthetic"],
         "s.": lambda: first("distill")["synthetic_switch"]["synthetic"],
         "a.": lambda: first("attention-transfer").setdefault("synthetic", copy(r["data"]["synthetic"]))}
setters = {prefix + name: (lambda v, mix=mix, kind=kind, key=key: entry(mix(), kind).__setitem__(key, float(v)))
           for prefix, mix in MIXES.items() for name, (kind, key) in MIX_SETTINGS.items()}
setters.update({
    "tail": split_tail,
    "t.lr": lambda v: tail().__setitem__("lr", float(v)),
    "t.ce": lambda v: tail().__setitem__("ce_weight", float(v)),
    "t.w": lambda v: tail().__setitem__("recall_weight", float(v)),
    "aw": lambda v: [s.__setitem__("answer_weight", float(v)) for s in r["stages"] if s["type"] == "distill"],
    **{f"aw.{short}": (lambda v, kind=kind: [s.setdefault("answer_weights", {}).__setitem__(kind, float(v))
                                             for s in r["stages"] if s["type"] == "distill"])
       for short, kind in (("kv", "kv-recall"), ("needles", "needles"), ("repeats", "repeats"), ("variables", "variables"))},
    "sw": mix_switch,
    "at": lambda v: stage("attention-transfer").__setitem__("tokens", int(v)),
    "distill": lambda v: stage("distill").__setitem__("tokens", int(v)),
    "lr": lambda v: stage("distill").__setitem__("lr", float(v)),
    "batch": lambda v: r.update(batch=int(v), micro_batch=min(int(v), r.get("micro_batch", int(v)))),
    "norm": lambda v: conversion("gate_normalizer", float(v)),
    "slots": lambda v: conversion("slots", int(v)),
    "kvh": lambda v: conversion("kv_heads", int(v)),
    "init": lambda v: conversion("gate_init", v),
    "conv": lambda v: conversion("short_conv", int(v)),
    "cinit": lambda v: conversion("short_conv_init", v),
    "clr": lambda v: [s.__setitem__("conv_lr_scale", float(v)) for s in r["stages"]],
    "seed": seed,
    "dseed": lambda v: r.__setitem__("seed", int(v)),
    "sseed": lambda v: conversion("seed", int(v)),
    "hs": lambda v: first("attention-transfer").__setitem__("hidden_states", v),
    "at2": lambda v: own_stage(int(v)),
    "ce": lambda v: [s.__setitem__("ce_weight", float(v)) for s in r["stages"] if s["type"] == "distill"],
    "pairs": lambda v: synthetic("kv-recall").update(zip(("min_pairs", "max_pairs"), map(int, v.split("-")))),
    "teacher": lambda v: r.__setitem__("teacher", v),
})
for item in filter(None, extra.split("+")):
    key, _, value = item.partition("=")
    if key not in setters:
        sys.exit(f"GRID {name}: unknown setting {key} (known: {', '.join(setters)})")
    setters[key](value)
json.dump(r, open(os.path.join(w, "recipes", "grid-" + name + ".json"), "w"), indent=1)
PY
}
# grid_student NAME: trains grid student NAME and, once trained, evaluates it.
grid_student() {
    phase "grid-$1" "$TRAIN_NEED" "$GRID_CAP" "$T2R" finetune --recipe "$W/recipes/grid-$1.json" --out "$W/grid-$1"
    [ -d "$W/grid-$1/final" ] || return 0               # not trained (skipped or failed): nothing to evaluate
    phase "eval-grid-$1" 30 $(( 80 * PER_GPU )) evaluate "grid-$1" "grid-$1" "$CONTEXT" "$GRID_TASKS"
    [ "${GATES:-1}" = 1 ] && phase "gates-grid-$1" 10 $(( 60 * PER_GPU )) gates "grid-$1" "grid-$1"
    # a student with every layer GSA that meets the three lines: every task, on MET_SAMPLES prompts a point
    if [ "$MET_SAMPLES" != 0 ] && [ -f "$W/eval/grid-$1/report.json" ] \
        && python3 "$ROOT/scripts/device/recall_lines.py" "$W/eval/grid-$1/report.json" "$W/grid-$1/final/config.json" > /dev/null; then
        phase "met-grid-$1" 40 $(( 120 * PER_GPU )) evaluate "met-grid-$1" "grid-$1" "$CONTEXT" "$TASKS" "$MET_SAMPLES"
    fi
    return 0
}
# PARALLEL=N trains and evaluates up to N grid students at once, each in processes of its own; their output is
# printed in the grid's order once all are done. On a machine of several GPUs the students are spread over them (each
# sees one, CUDA_VISIBLE_DEVICES: slot i runs on GPU i mod GPUS), so PARALLEL=8 on eight GPUs trains eight at full
# speed; on one GPU they share it (two recall-llama students at once took 67 s each on an H100; one alone 31 s on an H200).
PARALLEL=${PARALLEL:-1}
[[ "$PARALLEL" =~ ^[1-9][0-9]*$ ]] || { echo "PARALLEL must be a whole number of 1 or more, got '$PARALLEL'"; exit 1; }
GPUS=${GPUS:-$( (nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null || true) | wc -l)}
[[ "$GPUS" =~ ^[0-9]+$ ]] || { echo "GPUS must be a whole number, got '$GPUS'"; exit 1; }
PER_GPU=$(( GPUS > 1 ? (PARALLEL + GPUS - 1) / GPUS : PARALLEL ))   # students sharing one GPU at most
GRID_CAP=$(( 160 * PER_GPU ))
[ "$PARALLEL" -gt 1 ] && echo "grid: up to $PARALLEL students at once on $(( GPUS > 1 ? GPUS : 1 )) GPU(s)"
SLOT_PIDS=()
# free_slot: the first of the PARALLEL slots whose student has ended (or that never had one).
free_slot() {
    local i
    for (( i = 0; i < PARALLEL; i++ )); do
        if [ -z "${SLOT_PIDS[i]:-}" ] || ! kill -0 "${SLOT_PIDS[i]}" 2>/dev/null; then echo "$i"; return; fi
    done
    echo 0
}
GRID_NAMES=()
for g in ${GRID:-}; do
    IFS=: read -r gname gbase gweight gkeep gce gset <<< "$g"
    case "$gbase" in gsa) gsrc=$W/recipes/gsa.json ;; hybrid) gsrc=$HYBRID ;; naive) gsrc=$NAIVE ;; *) echo "GRID: unknown base $gbase"; continue ;; esac
    if [[ " ${GRID_NAMES[*]:-} " == *" $gname "* ]]; then echo "GRID $gname: a name given twice"; continue; fi
    grid_recipe "$gname" "$gsrc" "$gweight" "$gkeep" "$gce" "$gset" || continue
    GRID_NAMES+=("$gname")
    if [ "$PARALLEL" -le 1 ]; then
        grid_student "$gname"
        continue
    fi
    while [ "$(jobs -rp | wc -l)" -ge "$PARALLEL" ]; do wait -n || true; done
    slot=$(free_slot)
    (
        if [ "$GPUS" -gt 1 ]; then
            export CUDA_VISIBLE_DEVICES=$(( slot % GPUS ))
            echo "==== grid-$gname on GPU $CUDA_VISIBLE_DEVICES"
        fi
        grid_student "$gname"
    ) > "$W/logs/grid-student-$gname.out" 2>&1 &
    SLOT_PIDS[slot]=$!
    sleep 2                                              # the JVMs start one after the other
done
if [ "$PARALLEL" -gt 1 ]; then
    wait || true
    for gname in "${GRID_NAMES[@]:-}"; do [ -n "$gname" ] && cat "$W/logs/grid-student-$gname.out"; done
fi
# second_recipe NAME AT2 D2: recipe 2 of a progressive entry: recipe 1's with the converted student, AT2 tokens of
# attention transfer (0: none), D2 of distillation, and the next data seed (the corpus in another order).
second_recipe() {
    python3 - "$W" "$1" "$2" "$3" <<'PY'
import json, os, sys
w, name, at, distill = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
r = json.load(open(os.path.join(w, "recipes", f"grid-{name}-1.json")))
r["student"] = os.path.join(w, f"conv-{name}")
r["seed"] = r["seed"] + 1
stages = []
for s in r["stages"]:
    tokens = at if s["type"] == "attention-transfer" else distill
    if tokens > 0:
        if "steps" not in s:                          # DRY=1 counts steps: token counts do not apply
            s["tokens"] = tokens
        stages.append(s)
r["stages"] = stages
json.dump(r, open(os.path.join(w, "recipes", f"grid-{name}.json"), "w"), indent=1)
PY
}
PACK_EXTRA=()
for g in ${PROG:-}; do
    IFS=: read -r pname pkeep pat1 pd1 pat2 pd2 pset pset2 <<< "$g"
    pbase=$HYBRID
    [ "$pkeep" = none ] && pbase=$W/recipes/gsa.json
    grid_recipe "$pname-1" "$pbase" 4 "${pkeep/none/}" "" "at=$pat1+distill=$pd1${pset:++$pset}" || continue
    PACK_EXTRA+=("grid-$pname-1")
    phase "grid-$pname-1" "$(( 2 * TRAIN_NEED ))" 160 "$T2R" finetune --recipe "$W/recipes/grid-$pname-1.json" --out "$W/grid-$pname-1"
    [ "${PROG_EVAL_FIRST:-0}" = 1 ] && GRID_NAMES+=("$pname-1") && \
        phase "eval-grid-$pname-1" 30 80 evaluate "grid-$pname-1" "grid-$pname-1" "$CONTEXT" lm,recall,passkey
    if [ "$pkeep" = none ]; then
        ln -sfn "$W/grid-$pname-1/final" "$W/conv-$pname"
    else
        phase "convert-$pname" 5 60 "$T2R" convert --student "$W/grid-$pname-1/final" --to-gsa "$pkeep" --gate-init key-pool \
            --out "$W/conv-$pname"
    fi
    second_recipe "$pname" "$pat2" "$pd2" || continue
    if [[ "+$pset2+" == *"+teacher=kept+"* ]]; then
        phase "graft-$pname" 5 60 python3 "$ROOT/scripts/device/graft-attention.py" "$TEACHER" "$W/grid-$pname-1/final" "$pkeep" \
            "$W/teacher-$pname"
        pset2=${pset2//teacher=kept/teacher=$W/teacher-$pname}
    fi
    if [ -n "${pset2:-}" ]; then grid_recipe "$pname" "$W/recipes/grid-$pname.json" 4 "" "" "$pset2" || continue; fi
    GRID_NAMES+=("$pname")
    phase "grid-$pname" "$TRAIN_NEED" 160 "$T2R" finetune --recipe "$W/recipes/grid-$pname.json" --out "$W/grid-$pname"
    [ -d "$W/grid-$pname/final" ] || continue             # not trained (skipped or failed): nothing to evaluate
    phase "eval-grid-$pname" 30 80 evaluate "grid-$pname" "grid-$pname" "$CONTEXT" lm,recall,passkey
    [ "${GATES:-1}" = 1 ] && phase "gates-grid-$pname" 10 60 gates "grid-$pname" "grid-$pname"
done
for g in ${SOUP:-}; do
    IFS=: read -r sname smembers sweights <<< "$g"
    IFS=, read -ra smember <<< "$smembers"
    IFS=, read -ra sweight <<< "${sweights:-}"
    if [[ " ${GRID_NAMES[*]:-} " == *" $sname "* ]]; then echo "SOUP $sname: the name of a grid student"; continue; fi
    if [ -n "${sweights:-}" ] && [ "${#sweight[@]}" != "${#smember[@]}" ]; then
        echo "SOUP $sname: ${#sweight[@]} weights for ${#smember[@]} students"
        continue
    fi
    sargs=()
    for i in "${!smember[@]}"; do sargs+=("$W/grid-${smember[$i]}/final${sweight[$i]:+@${sweight[$i]}}"); done
    mkdir -p "$W/grid-$sname"
    GRID_NAMES+=("$sname")
    phase "soup-$sname" 5 60 python3 "$ROOT/scripts/device/average-students.py" "$W/grid-$sname/final" "${sargs[@]}"
    [ -d "$W/grid-$sname/final" ] || continue             # not trained (skipped or failed): nothing to evaluate
    phase "eval-grid-$sname" 30 80 evaluate "grid-$sname" "grid-$sname" "$CONTEXT" "$GRID_TASKS"
    [ "${GATES:-1}" = 1 ] && phase "gates-grid-$sname" 10 60 gates "grid-$sname" "grid-$sname"
done
export GRID_LIST="${GRID_NAMES[*]:-}"
if [ -f "$W/recipes/tiny.json" ] && { [ "$MAIN" = 1 ] || [ "${TINY:-0}" = 1 ]; }; then
    phase tiny-llama "$TRAIN_NEED" 150 "$T2R" finetune --recipe "$W/recipes/tiny.json" --out "$W/tiny"
    # the measure of the 9.81 it is held to: t2r eval's lm task at 512 tokens on 65,536 positions
    phase eval-tiny-llama 20 80 "$T2R" eval --teacher "$SHARED/tiny-llama" --student "$W/tiny/final" --data "$VALID" --tasks lm \
        --max-tokens 65536 --context 512 --device "$DEVICE" --out "$W/eval/tiny-llama"
else
    record "tiny-llama|skipped: tiny-llama was not carried"
fi
if [ "${NEEDLES_4K:-1}" = 1 ] && [ "$MAIN" = 1 ]; then
    phase needles-4k-gsa 40 80 evaluate recall-llama-gsa-4k gsa "$LONG" niah_single,niah_multikey,niah_multivalue,vt
    phase needles-4k-hybrid 40 80 evaluate recall-llama-hybrid-4k hybrid "$LONG" niah_single,niah_multikey,niah_multivalue,vt
fi

mapfile -t STATUS < "$W/status.txt"
echo "==== [$(elapsed) s] packing $OUT"
mkdir -p "$W/pack"
for r in gsa hybrid naive planned tiny ${GRID_LIST:-} ${PACK_EXTRA[@]:-}; do
    [ -d "$W/$r" ] || r=grid-$r
    [ -d "$W/$r" ] || continue
    mkdir -p "$W/pack/runs/$r"
    cp "$W/$r/run.json" "$W/$r/metrics.jsonl" "$W/pack/runs/$r/" 2>/dev/null || true
    cp "$W/$r/final/config.json" "$W/pack/runs/$r/student-config.json" 2>/dev/null || true
done
[ -d "$W/eval" ] && cp -r "$W/eval" "$W/pack/eval"
if [ -d "$W/plan" ]; then
    mkdir -p "$W/pack/plan"
    cp "$W/plan"/*.json "$W/plan"/*.md "$W/pack/plan/" 2>/dev/null || true
    cp "$W/plan/at/metrics.jsonl" "$W/pack/plan/at-metrics.jsonl" 2>/dev/null || true
fi
cp -r "$W/logs" "$W/recipes" "$W/pack/"
if ROOT=$ROOT MET_SAMPLES=$MET_SAMPLES python3 - "$W" "$OUT" "$(elapsed)" "${STATUS[@]}" <<'PY'
import json, os, sys
w, out, seconds, status = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
sys.path.insert(0, os.path.join(os.environ["ROOT"], "scripts", "device"))
import recall_lines
def report(name):
    f = os.path.join(w, "eval", name, "report.json")
    return json.load(open(f))["results"] if os.path.exists(f) else None
lines, summary, checks = [], {"seconds": int(seconds), "phases": status}, []
def check(what, ok):
    checks.append((what, ok))
    summary.setdefault("checks", []).append({"check": what, "pass": ok})
def ratio(s, t):
    return float("inf") if t == 0 and s > 0 else (s / t if t else 1.0)
def every_layer(run):                                   # a student without attention layers (its config's attn empty)
    f = os.path.join(w, run, "final", "config.json")
    return os.path.exists(f) and recall_lines.every_layer(json.load(open(f)))
grid = []
for g in os.environ.get("GRID_LIST", "").split():
    grid.append((f"grid-{g}", f"grid {g}"))
    if os.path.isdir(os.path.join(w, "eval", f"met-grid-{g}")):        # it met the lines: every task, more prompts
        grid.append((f"met-grid-{g}", f"grid {g} again, every task on {os.environ.get('MET_SAMPLES')} prompts a point"))

for name, label in [("recall-llama-gsa", "every layer GSA"), ("recall-llama-hybrid", "hybrid (recipe)"), ("recall-llama-planned", "hybrid (planned)"),
                    ("recall-llama-naive", "hybrid (naive 0,7)")] + grid:
    r = report(name)
    if r is None:
        lines.append(f"{label}: no report")
        continue
    summary[name] = r
    lm = r.get("lm")
    if lm:
        lines.append(f"{label}: perplexity student {lm['student_perplexity']:.2f}, teacher {lm['teacher_perplexity']:.2f} "
                     f"({100 * (lm['student_perplexity'] / lm['teacher_perplexity'] - 1):+.1f}%), KL {lm['kl']:.3f}, top-1 {100 * lm['top1_agreement']:.1f}%")
    rc = r.get("recall")
    if rc:
        lines.append("  MQAR pairs    " + " ".join(f"{p['pairs']:>6}" for p in rc["points"]))
        lines.append("  teacher       " + " ".join(f"{100 * p['teacher_accuracy']:5.1f}%" for p in rc["points"]))
        lines.append("  student       " + " ".join(f"{100 * p['student_accuracy']:5.1f}%" for p in rc["points"]))
    pk = r.get("passkey")
    if pk:
        lines.append("  passkey       " + "  ".join(f"{p['length']}: {100 * p['student']['accuracy']:.0f}% (teacher {100 * p['teacher']['accuracy']:.0f}%)" for p in pk["points"]))
        answers = pk["points"][-1].get("answers") or []
        if answers:                           # what the student answered at the longest length, first and last depth
            lines.append(f"  passkey answers at {pk['points'][-1]['length']}: " + "  ".join(
                f"depth {a['depth']}: {a['passkey']} -> {''.join(a['student'])!r}" for a in answers[:1] + answers[1:][-1:]))
        last = pk["points"][-1]["student"]
        if "first_token_accuracy" in last:    # whether it finds the passkey, and whether it copies on once started
            later = last.get("later_token_accuracy")
            lines.append(f"  passkey at {pk['points'][-1]['length']}: first token {100 * last['first_token_accuracy']:.0f}%, later tokens "
                         + ("-" if later is None else f"{100 * later:.0f}%")
                         + ("" if "accuracy_by_depth" not in last else
                            "; by the needle's depth 0/¼/½/¾/1: "
                            + "/".join("-" if a is None else f"{100 * a:.0f}" for a in last["accuracy_by_depth"]) + "%"))
    for t in ("niah_single", "niah_multikey", "niah_multivalue", "vt"):
        n = r.get(t)
        if n:
            lines.append(f"  {t:<15} " + "  ".join(f"{p['length']}: {100 * p['student']['accuracy']:.0f}% / values {100 * p['student']['value_recall']:.0f}% "
                                                    f"(teacher {100 * p['teacher']['accuracy']:.0f}% / {100 * p['teacher']['value_recall']:.0f}%)" for p in n["points"]))
    for kind, label2 in (("gates-filler", "slots on the passkey filler"), ("gates", "slots on english-mix")):
        f = os.path.join(w, "eval", name, kind + ".json")
        if os.path.exists(f) and os.path.getsize(f) > 0:
            g = json.load(open(f))
            summary.setdefault(name + "-" + kind, g)
            at = [i for i, d in enumerate(g["distances"]) if d in (256, 512)]
            lines.append(f"  {label2}: layer: median half-life, reach at " + "/".join(str(g["distances"][i]) for i in at) + "  "
                         + "  ".join(f"{l['layer']}: {l['half_life']['median']:.0f}, " + "/".join(f"{l['reach'][i]:.1e}" for i in at)
                                     for l in g["layers"]))
    if "grid-" in name:
        verdict = recall_lines.verdict(r) if every_layer(name[name.index("grid-"):]) else None
        if verdict:
            lines.append(verdict)
        continue
    if name == "recall-llama-gsa":                    # each of the three lines whose measure the report has
        for line_name, _, _, ok, _ in recall_lines.each_line(r):
            check(f"{label}: {recall_lines.CHECKS[line_name]}", ok)
    elif lm:
        check(f"{label}: {recall_lines.CHECKS['perplexity']}", lm["student_perplexity"] <= 1.05 * lm["teacher_perplexity"])
    if name != "recall-llama-gsa" and pk and rc:
        check(f"{label}: passkey >= 95% of the teacher's at every length",
              all(p["student"]["accuracy"] >= 0.95 * p["teacher"]["accuracy"] for p in pk["points"]))
        check(f"{label}: MQAR >= 90% of the teacher's at every point up to 64 pairs",
              all(p["student_accuracy"] >= 0.9 * p["teacher_accuracy"] for p in rc["points"] if p["pairs"] <= 64))
for name in ("recall-llama-gsa-4k", "recall-llama-hybrid-4k"):
    r = report(name)
    if r:
        summary[name] = r
        lines.append(f"{name}: " + "; ".join(f"{t} " + ", ".join(f"{p['length']}: {100 * p['student']['accuracy']:.0f}% (teacher {100 * p['teacher']['accuracy']:.0f}%)"
                                                                   for p in r[t]["points"]) for t in ("niah_single", "niah_multikey", "niah_multivalue", "vt") if r.get(t)))
plan = os.path.join(w, "plan", "plan.json")
if os.path.exists(plan):
    p = json.load(open(plan))
    summary["plan"] = p
    lines.append(f"plan: keep attention at {p['plan']['keep_attention']} (probes {p['plan']['log_prob']:.3f} nats/token, {100 * p['plan']['exact']:.0f}% exact); "
                 f"naive {p['naive']['keep_attention']}: {p['naive']['log_prob']:.3f}, {100 * p['naive']['exact']:.0f}%; teacher {p['teacher']['log_prob']:.3f}, "
                 f"all-GSA {p['all_gsa']['log_prob']:.3f}; AT val MSE by layer " + " ".join(f"{m:.3f}" for m in p["at_val_mse"]))
tiny = os.path.join(w, "tiny", "metrics.jsonl")
if os.path.exists(tiny):
    evals = [m for m in map(json.loads, open(tiny)) if m.get("type") == "eval"]
    if evals and "val_ppl" in evals[-1]:
        summary["tiny_llama_trainer_val_ppl"] = evals[-1]["val_ppl"]
        lines.append(f"tiny-llama (recipes/tiny-llama.json): the trainer's last validation perplexity {evals[-1]['val_ppl']:.2f}")
tiny = report("tiny-llama")
if tiny and tiny.get("lm"):
    ppl = tiny["lm"]["student_perplexity"]
    summary["tiny_llama_eval_ppl"] = ppl
    lines.append(f"tiny-llama: t2r eval lm at 512 on 65,536 positions: student {ppl:.2f} (was 9.81), teacher {tiny['lm']['teacher_perplexity']:.2f}")
    check("tiny-llama: eval perplexity not worse than 9.81", ppl <= 9.81 * 1.005)
for run in ["gsa", "hybrid", "naive", "planned", "tiny"] + [f"grid-{g}" for g in os.environ.get("GRID_LIST", "").split()]:
    f = os.path.join(w, run, "metrics.jsonl")
    if os.path.exists(f):
        steps = [m for m in map(json.loads, open(f)) if m.get("type") == "step"]
        if steps:
            lines.append(f"run {run}: {steps[-1]['tokens']:,} tokens in {steps[-1]['elapsed_s']:.0f} s ({steps[-1]['tokens'] / max(steps[-1]['elapsed_s'], 1e-9):,.0f} tokens/s overall)")
text = "\n".join(["phases:"] + [f"  {s}" for s in status] + [""] + lines + ["", "checks:"] + [f"  {'PASS' if ok else 'FAIL'}  {c}" for c, ok in checks])
open(os.path.join(out, "summary.txt"), "w").write(text + "\n")
json.dump(summary, open(os.path.join(w, "pack", "summary.json"), "w"), indent=1)
import shutil; shutil.copy(os.path.join(w, "pack", "summary.json"), os.path.join(out, "summary.json"))
PY
then :; else echo "the summary failed (above); packing what there is"; fi
tar -C "$W/pack" -cf - . | xz -T0 -6 > "$OUT/recall-check.tar.xz"
ls -la "$OUT"
echo
echo "================ recall check ($(elapsed) s in all) ================"
cat "$OUT/summary.txt" 2>/dev/null || printf '%s\n' "${STATUS[@]}"
