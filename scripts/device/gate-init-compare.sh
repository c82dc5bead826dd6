#!/usr/bin/env bash
# recipes/tiny-llama.json in full on the GPU twice, with the student's gate init random and key-pool
# (the ablation's two best variants at 4.2M tokens), each evaluated on the GPU on the same 65,536
# validation tokens (scripts/device/distill-tiny-llama.sh; same prerequisites: /tmp/t2r-bundle and
# .carry/tiny). Prints both tables last; nothing comes back but the logs.
#
#   bash scripts/device/gate-init-compare.sh
set -uo pipefail
for g in random key-pool; do
    GATE_INIT=$g WORK=/tmp/t2r-distill-$g OUT=/tmp/distill-out-$g EVAL_TOKENS=${EVAL_TOKENS:-65536} \
        bash scripts/device/distill-tiny-llama.sh > /tmp/distill-$g.log 2>&1
    echo "$g: exit $?"
done
mkdir -p "${OUT:-/tmp/out}"
for g in random key-pool; do
    cp /tmp/distill-$g.log "${OUT:-/tmp/out}/" 2>/dev/null
    echo "================ gate init $g"
    sed -n '/================ tiny-llama distillation/,$p' /tmp/distill-$g.log
done
