#!/usr/bin/env bash
# Multiple-choice scoring throughput on the GPU machine (the lead runs it; needs the train bundle of
# make-train-bundle.sh, or t2r.jar and a JDK 25): a random 1B-shaped Llama (RandomCheckpoint) and the
# ScoringBench entry point, CPU reference path and --device cuda, four-choice items of 100 + 4 x 30 tokens.
# Target: >= 200 items/s on one H200. The GPU models score a batch as one padded forward with the logits reduced on the
# device (GpuScorer); scripts/device/decode-check.sh measures the same on a random 1B-shaped pair (DecodeBench).
set -euo pipefail
jar=${T2R_JAR:-cli/target/t2r.jar}
java=${JAVA:-java}
model=${1:?usage: eval-scoring-bench.sh MODEL_DIR (a 1B-shaped Llama or GSA student) [items] [batch]}
items=${2:-512}
batch=${3:-64}
"$java" --enable-native-access=ALL-UNNAMED -cp "$jar" gsat2r.eval.harness.ScoringBench "$model" cuda "$items" "$batch" 100 30
"$java" --enable-native-access=ALL-UNNAMED -cp "$jar" gsat2r.eval.harness.ScoringBench "$model" cpu 16 8 100 30
