#!/usr/bin/env bash
# Packs, here, what recall-check.sh needs of ../shared (the GPU machine has no ../shared) into one file to
# carry: DEST/shared.tar.xz holding recall-llama/ (config, the three bf16 shards, index, tokenizer files)
# and english-mix/ (train.jsonl.xz, validation.jsonl); with TINY=1 also tiny-llama/ for the tiny-llama
# no-regression run (about 22 MB more: check that the bundle, this file and the checkout fit one call).
#
#   [TINY=1] scripts/device/make-recall-carry.sh [SHARED_DIR] [DEST]     (defaults ../shared, .bundle)
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${1:-../shared}
DEST=${2:-.bundle}
MODEL_FILES="config.json generation_config.json model-00001-of-00003.safetensors model-00002-of-00003.safetensors
             model-00003-of-00003.safetensors model.safetensors.index.json tokenizer.json tokenizer_config.json"
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
models=(recall-llama)
[ "${TINY:-0}" = 1 ] && models+=(tiny-llama)
for m in "${models[@]}"; do
    mkdir -p "$STAGE/$m"
    for f in $MODEL_FILES; do
        [ -f "$SHARED/models/$m/$f" ] || { echo "error: $SHARED/models/$m/$f is missing" >&2; exit 1; }
        cp "$SHARED/models/$m/$f" "$STAGE/$m/"
    done
done
mkdir -p "$STAGE/english-mix" "$DEST"
cp "$SHARED/data/english-mix/train.jsonl.xz" "$SHARED/data/english-mix/validation.jsonl" "$STAGE/english-mix/"
# the weights compress to about 70% with xz; the corpus is xz already
tar -C "$STAGE" -cf - . | xz -T0 -9 > "$DEST/shared.tar.xz.tmp"
mv "$DEST/shared.tar.xz.tmp" "$DEST/shared.tar.xz"
ls -la "$DEST"
echo "carry: $DEST/shared.tar.xz ($(( $(stat -c %s "$DEST/shared.tar.xz") / 1024 / 1024 )) MiB; ${models[*]} and english-mix)"
