#!/usr/bin/env bash
# Builds a fresh clone of this repository as a machine without the CUDA toolkit would: no nvcc on the
# PATH, CUDA_HOME unset, and the default toolkit directory (/usr/local/cuda) hidden from the build
# (-Dgpu.cuda.home.default). Then checks what README promises for such a machine: the build succeeds
# with one notice, `t2r generate` runs on the CPU, and `--device cuda` fails with one line that says the
# build has no kernels. Used by .ci/run; needs the Maven dependencies already in ~/.m2 (it runs offline).
set -euo pipefail

export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
export PATH="$JAVA_HOME/bin:$PATH"
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git clone -q "$repo" "$work/clone"
cd "$work/clone"

# The PATH minus every directory that holds an nvcc.
path=""
IFS=: read -ra dirs <<< "$PATH"
for d in "${dirs[@]}"; do
  [[ -n "$d" && ! -x "$d/nvcc" ]] && path="${path:+$path:}$d"
done
run() { env -u CUDA_HOME PATH="$path" "$@"; }
if run bash -c 'command -v nvcc' >/dev/null; then echo "no-nvcc-build: nvcc is still on the PATH" >&2; exit 1; fi

echo "-- mvn package -DskipTests (cli and what it needs), without nvcc"
run mvn -B -ntp -o package -DskipTests -pl cli -am -Dgpu.cuda.home.default=/nonexistent > "$work/build.log" 2>&1 \
  || { tail -n 50 "$work/build.log"; exit 1; }
notices=$(grep -c "gpu: no nvcc found" "$work/build.log" || true)
grep "gpu: no nvcc found" "$work/build.log"
[[ "$notices" == 1 ]] || { echo "no-nvcc-build: expected one notice, got $notices" >&2; exit 1; }
[[ ! -e gpu/target/classes/gsat2r/gpu/kernels.fatbin ]] || { echo "no-nvcc-build: a fatbin was built" >&2; exit 1; }

echo "-- ./t2r --version"
run ./t2r --version
echo "-- ./t2r generate --greedy"
run ./t2r generate --prompt "In the beginning" --max-new-tokens 12 --greedy

echo "-- ./t2r generate --device cuda (must fail with one line)"
set +e
run ./t2r generate --prompt "In the beginning" --max-new-tokens 2 --greedy --device cuda > "$work/out" 2> "$work/err"
status=$?
set -e
cat "$work/err"
[[ $status == 1 ]] || { echo "no-nvcc-build: exit status $status, expected 1" >&2; exit 1; }
[[ $(wc -l < "$work/err") == 1 ]] && grep -q "^error: this t2r was built without its CUDA kernels" "$work/err" \
  || { echo "no-nvcc-build: unexpected error output" >&2; exit 1; }

echo "-- NoKernelsTest in the build without kernels"
run mvn -B -ntp -o -q test -pl gpu -am -Dgpu.cuda.home.default=/nonexistent -Dtest=NoKernelsTest -Dsurefire.failIfNoSpecifiedTests=false > "$work/test.log" 2>&1 \
  || { tail -n 50 "$work/test.log"; exit 1; }
echo "no-nvcc-build: ok"
