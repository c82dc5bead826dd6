#!/usr/bin/env bash
# The load test of docs/benchmarks.md ("t2r serve"): converts the demo teacher into a student (once, into
# $STUDENT), starts `./t2r serve` on a free loopback port, runs scripts/serve-load/ServeLoad.java against it
# (N concurrent streaming clients, a bounded number of rounds), stops the server with SIGTERM and prints the table.
#   bash scripts/serve-load.sh [CLIENTS=16] [ROUNDS=4] [REQUESTS_PER_ROUND=4] [MAX_TOKENS=64]
# Needs cli/target/t2r.jar (mvn -q -B package -DskipTests). Loopback only; it stops by itself.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
CLIENTS=${1:-16}; ROUNDS=${2:-4}; REQUESTS=${3:-4}; MAX_TOKENS=${4:-64}
STUDENT=${STUDENT:-/tmp/t2r-serve-load/kjv-student}
LOG=$(mktemp -t t2r-serve-load.XXXXXX)

[ -d "$STUDENT" ] || ./t2r convert --teacher models/kjv-llama --out "$STUDENT" >/dev/null
source scripts/serve-start.sh
serve_start "$LOG" --model "$STUDENT" --max-batch "$CLIENTS"
# The JVM's pid is the launcher's child (./t2r execs java, so usually the same process).
PID=$(pgrep -P $SERVER java || echo $SERVER)
echo "server $URL (pid $PID), $(nproc) cores, $("$JAVA_HOME/bin/java" -version 2>&1 | head -n 1)"
"$JAVA_HOME/bin/java" scripts/serve-load/ServeLoad.java --url "$URL" --clients "$CLIENTS" --rounds "$ROUNDS" \
  --requests "$REQUESTS" --max-tokens "$MAX_TOKENS" --pid "$PID" --model kjv-student
kill -TERM $SERVER
wait $SERVER || true
trap - EXIT
grep -c ' POST /v1/completions 200 ' "$LOG" | sed 's/^/requests logged 200: /'
tail -n 2 "$LOG"
