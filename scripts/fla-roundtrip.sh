#!/usr/bin/env bash
# fla round trip: does fla 0.5.2's GSAForCausalLM compute what t2r computes for students t2r wrote?
# Two steps, because a device call carries at most 64 MiB (the repo alone is ~17 MiB, fla ~6 MiB, the
# Java bundle ~30 MiB, and one tiny-llama student in bf16 ~32 MiB):
#
#   here (CPU, ./t2r built):
#     bash scripts/fla-roundtrip.sh prepare STUDENT_DIR NAME [STUDENT_DIR NAME ...]
#       copies each student (config, weights, tokenizer) to .carry/roundtrip/NAME/ and saves beside it
#       `t2r logits --all-positions --format json` of two texts, xz-compressed: a short one (T <= 64: fla's
#       fp32 fused-recurrent kernel) and a long one (T > 128: fla's chunk kernels, tf32). Prints the size
#       that will travel.
#
#   on the GPU machine (carry .carry, which holds fla/ and roundtrip/):
#     bash scripts/fla-roundtrip.sh check [NAME ...]          (default: every folder of .carry/roundtrip)
#       for each student: if its t2r logits are not there yet, makes them with the t2r of the GPU bundle
#       (.bundle/t2r-gpu.tar.xz from scripts/gpu-check.sh); then runs scripts/fla_roundtrip.py (PYTHONPATH=.carry)
#       and prints a table last. Exit status 0 when every check is OK.
#
# `prepare --no-logits STUDENT NAME` copies the student only: `check` then makes its logits on the GPU
# machine with the GPU bundle, which must travel too (only small students fit beside it).
# The device call sends the main checkout: carry [".carry/fla", ".carry/roundtrip"].
set -uo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
ROOT=$PWD
CARRY=$ROOT/.carry/roundtrip

# Public-domain text (KJV, Genesis 1): the short one is well under 64 tokens for tiny-llama's and the
# demo's tokenizers, the long one well over 128 (three chunks of 64).
SHORT="In the beginning God created the heaven and the earth. And the earth was without form, and void."
LONG="In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters. And God said, Let there be light: and there was light. And God saw the light, that it was good: and God divided the light from the darkness. And God called the light Day, and the darkness he called Night. And the evening and the morning were the first day. And God said, Let there be a firmament in the midst of the waters, and let it divide the waters from the waters. And God made the firmament, and divided the waters which were under the firmament from the waters which were above the firmament: and it was so. And God called the firmament Heaven. And the evening and the morning were the second day."

logits() {   # logits T2R_COMMAND... STUDENT OUT_PREFIX
    local student=${*: -2:1} out=${*: -1}
    local cmd=("${@:1:$#-2}")
    "${cmd[@]}" logits --model "$student" --text "$SHORT" --all-positions --format json | xz -T0 -6 > "$out-short.json.xz" \
        && "${cmd[@]}" logits --model "$student" --text "$LONG" --all-positions --format json | xz -T0 -6 > "$out-long.json.xz"
}

prepare() {
    local make_logits=1
    if [ "${1:-}" = --no-logits ]; then make_logits=0; shift; fi
    [ $# -ge 2 ] && [ $(($# % 2)) -eq 0 ] || { echo "usage: $0 prepare [--no-logits] STUDENT_DIR NAME [...]" >&2; exit 2; }
    if [ $make_logits = 1 ] && [ ! -f cli/target/t2r.jar ]; then
        echo "error: cli/target/t2r.jar is missing: mvn -q -B package -DskipTests" >&2; exit 2
    fi
    mkdir -p "$CARRY"
    while [ $# -gt 0 ]; do
        local src=$1 name=$2
        shift 2
        [ -f "$src/config.json" ] || { echo "error: $src/config.json: no such file" >&2; exit 2; }
        local dst=$CARRY/$name
        rm -rf "$dst" && mkdir -p "$dst"
        cp "$src"/config.json "$src"/*.safetensors "$dst"/
        for f in model.safetensors.index.json tokenizer.json tokenizer_config.json generation_config.json; do
            [ -f "$src/$f" ] && cp "$src/$f" "$dst/"
        done
        if [ $make_logits = 1 ]; then
            echo "== $name: t2r logits (here, CPU)"
            logits ./t2r "$dst" "$dst/t2r-logits" || { echo "error: t2r logits failed for $src" >&2; exit 1; }
        fi
        du -sh "$dst"
    done
    echo "== travels with .carry: $(du -sh "$ROOT/.carry" | cut -f1) (limit 64 MiB with the repo's ~$(git ls-files -z | xargs -0 du -cb | tail -1 | awk '{printf "%d", $1/1048576}') MiB)"
    echo "device: bash scripts/fla-roundtrip.sh check      (carry: .carry)"
}

java_cmd() {   # sets JAVA_T2R to the t2r of the GPU bundle (scripts/gpu-check.sh), or fails
    local bundle=${BUNDLE:-.bundle/t2r-gpu.tar.xz}
    if [ ! -f "$bundle" ]; then
        echo "error: no t2r logits for a student, and no Java here to make them: carry .bundle/t2r-gpu.tar.xz" \
             "(scripts/gpu-check.sh), or run 'prepare' without --no-logits" >&2
        return 1
    fi
    local work
    work=$(mktemp -d)
    tar -xJf "$bundle" -C "$work" || return 1
    JAVA_T2R=("$work/t2r-gpu/bin/t2r")
}

check() {
    export PYTHONUNBUFFERED=1 PYTHONPATH=$ROOT/.carry${PYTHONPATH:+:$PYTHONPATH}
    [ -d "$ROOT/.carry/fla" ] || { echo "error: .carry/fla is missing: carry fla 0.5.2's package folder there" >&2; exit 2; }
    local names=("$@")
    if [ ${#names[@]} -eq 0 ]; then
        mapfile -t names < <(ls "$CARRY" 2>/dev/null)
    fi
    [ ${#names[@]} -gt 0 ] || { echo "error: no student in $CARRY: run 'prepare' first" >&2; exit 2; }
    local out=${OUT:-$ROOT/fla-roundtrip-out}
    mkdir -p "$out"
    local rc=0 rows=()
    for name in "${names[@]}"; do
        local dir=$CARRY/$name
        if [ ! -f "$dir/t2r-logits-short.json.xz" ] || [ ! -f "$dir/t2r-logits-long.json.xz" ]; then
            echo "== $name: t2r logits (Java bundle)"
            if [ -z "${JAVA_T2R+x}" ]; then java_cmd || exit 2; fi
            logits "${JAVA_T2R[@]}" "$dir" "$dir/t2r-logits" || { echo "error: t2r logits failed for $name" >&2; rc=1; continue; }
        fi
        echo "== $name: fla"
        python3 scripts/fla_roundtrip.py "$dir" "$dir/t2r-logits-short.json.xz" "$dir/t2r-logits-long.json.xz" \
            --name "$name" 2>&1 | grep -v -i 'warn' | tee "$out/$name.log"
        [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
        while IFS= read -r line; do rows+=("${line#ROUNDTRIP }"); done < <(grep '^ROUNDTRIP ' "$out/$name.log")
        grep -q '^ROUNDTRIP ' "$out/$name.log" || rows+=("$name|-|-|-|-|-|-|-|ERROR (see $out/$name.log)")
    done
    echo
    echo "================ fla round trip (fla 0.5.2 GSAForCausalLM vs t2r logits) ================"
    echo "| student | T | fla kernel | max abs | max rel | rel L2 | argmax | tol | verdict |"
    echo "|---|---:|---|---:|---:|---:|---:|---:|---|"
    for r in "${rows[@]}"; do echo "| ${r//|/ | } |"; done
    return $rc
}

case "${1:-}" in
    prepare) shift; prepare "$@" ;;
    check) shift; check "$@" ;;
    *) sed -n '2,22p' "$0"; exit 2 ;;
esac
