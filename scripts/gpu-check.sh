#!/usr/bin/env bash
# The GPU entry point, here (no GPU needed): builds the bundle that the GPU machine runs (it has no Java)
# and says how to run it there. The bundle, DEST/t2r-gpu.tar.xz (default DEST .bundle, ignored by git):
#   jre/            a jlinked Temurin 25 runtime (java.desktop for eval's plots, java.net.http for the HTTP client
#                   of the serve tests)
#   lib/            every project jar and its runtime dependencies (linux-x86_64 natives only; never ND4J)
#   testlib/        the test jars the GPU tests build on (core, training, finetune, ...)
#   test-classes/   the GPU tests of gpu, gpu-models and it, one folder each
#   bin/t2r         the CLI;  bin/java-cp CLASS  any main class (benchmarks) with everything on the class path
#   junit-platform-console-standalone.jar, COMMIT, kernels-ptxas.txt
# Every jar's entries are stored uncompressed (xz packs class files and the kernel image far better than
# deflate does); the kernel image holds sm_90 machine code only (the GPU machines are Hopper), unless
# --all-archs keeps the build's sm_80 + sm_90 + PTX. The scripts of scripts/device and scripts/bench travel beside the tarball.
#
#   scripts/gpu-check.sh [--all-archs] [DEST]
#
# Then, with the device tool, carry [".bundle"] (and ".carry/..." for the phases that need it):
#   bash scripts/device/gpu-suite.sh [--skip-tests] [--tests REGEX] [PHASE[=ARG] ...]
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
ROOT=$PWD
ALL_ARCHS=0
DEST=.bundle
for a in "$@"; do
    case "$a" in
        --all-archs) ALL_ARCHS=1 ;;
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "error: unknown option $a (scripts/gpu-check.sh [--all-archs] [DEST])" >&2; exit 2 ;;
        *) DEST=$a ;;
    esac
done
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
JUNIT_PLATFORM=${JUNIT_PLATFORM:-1.14.4}   # the platform release of JUnit Jupiter 5.14.4 (parent pom)
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
LIMIT_MIB=56                               # a device call carries at most 64 MiB, the checkout's own files included
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
STAGE_PARENT=$(mktemp -d)
trap 'rm -rf "$STAGE_PARENT"' EXIT
STAGE=$STAGE_PARENT/t2r-gpu
mkdir -p "$STAGE/lib" "$STAGE/testlib" "$STAGE/test-classes" "$STAGE/bin"

echo "== mvn package (tests compiled, not run) and every module's runtime and test dependencies"
# export-samediff skips copy-dependencies (mdep.skip): ND4J never lands in the bundle.
mvn -q -B -ntp ${MVN_FLAGS:-} -DskipTests package "$DEP_PLUGIN:copy-dependencies" -DincludeScope=test \
    -DexcludeGroupIds=org.junit.jupiter,org.junit.platform,org.opentest4j,org.apiguardian \
    -DoutputDirectory="$STAGE/lib"
for m in core gpu training cpu-train gpu-models converter finetune datasets eval serve cli bench; do
    cp "$m"/target/gsa-t2r-"$m"-[0-9]*.jar "$STAGE/lib/"
done
mv "$STAGE"/lib/*-tests.jar "$STAGE/testlib/"      # test jars: on the tests' class path, never on t2r's
for m in gpu gpu-models it; do cp -r "$m/target/test-classes" "$STAGE/test-classes/$m"; done
cp gpu/target/kernels-ptxas.txt "$STAGE/" 2>/dev/null || true

FATBIN=""
if [ $ALL_ARCHS -eq 0 ]; then
    # Kept in a cache keyed by the kernel sources: nvcc takes minutes, and most bundles change only Java.
    CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/gsa-t2r
    KEY=$(cd gpu/src/main/cuda && find . -name '*.cu' -o -name '*.cuh' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
    FATBIN=$CACHE/kernels-sm90-$KEY.fatbin
    if [ -f "$FATBIN" ] && [ -f "$FATBIN.ptxas.txt" ]; then
        echo "== the sm_90-only kernel image of these sources, from $CACHE"
        cp "$FATBIN.ptxas.txt" "$STAGE/kernels-ptxas.txt"
    else
        echo "== nvcc: an sm_90-only kernel image"
        NVCC=${CUDA_HOME:-/usr/local/cuda}/bin/nvcc
        [ -x "$NVCC" ] || NVCC=nvcc
        mkdir -p "$CACHE"
        (cd gpu/src/main/cuda && "$NVCC" -fatbin -gencode arch=compute_90,code=sm_90 -O3 -std=c++17 -lineinfo --compress-mode=none \
            -Xptxas -v,-warn-spills,-warn-lmem-usage -o "$FATBIN.tmp" kernels.cu > "$STAGE/kernels-ptxas.txt" 2>&1)
        cp "$STAGE/kernels-ptxas.txt" "$FATBIN.ptxas.txt" && mv "$FATBIN.tmp" "$FATBIN"
    fi
fi
echo "== JUnit console launcher $JUNIT_PLATFORM"
mvn -q -B -ntp ${MVN_FLAGS:-} "$DEP_PLUGIN:copy" -Dartifact="org.junit.platform:junit-platform-console-standalone:$JUNIT_PLATFORM:jar" \
    -DoutputDirectory="$STAGE" -Dmdep.stripVersion=true

# Other platforms' native libraries out (DJL's tokenizers alone carries four copies of its Rust library), the
# demo model out of the cli jar (every checkout has models/kjv-llama), the sm_90 kernel image in, and every jar's
# entries stored rather than deflated: xz packs stored class files and the kernel image far better than deflate
# does (the jars of lib/ and testlib/ and the console launcher take about 20 MiB less in the tarball).
python3 - "$STAGE" "$FATBIN" <<'PY'
import glob, os, re, sys, zipfile
stage, fatbin = sys.argv[1], sys.argv[2]
other = re.compile(r"(^|/)(linux-aarch64|linux-arm|linux-ppc|linux-s390|linux-riscv|linux-loongarch|linux-mips|linux-x86/|"
                   r"osx|darwin|win|aix|sunos|freebsd|openbsd|dragonflybsd|macos|Mac|Windows|AIX|SunOS|FreeBSD)[^/]*/"
                   r"|(^|/)[Ll]inux/(?!x86_64/|amd64/)[^/]+/")
jars = sorted(glob.glob(os.path.join(stage, "lib", "*.jar")) + glob.glob(os.path.join(stage, "testlib", "*.jar"))
              + glob.glob(os.path.join(stage, "*.jar")))
for jar in jars:
    name = os.path.basename(jar)
    is_gpu = re.match(r"gsa-t2r-gpu-\d", name) is not None
    is_cli = name.startswith("gsa-t2r-cli-")
    with zipfile.ZipFile(jar) as z:
        infos = z.infolist()
        drop = {i.filename for i in infos if not i.is_dir()
                and (other.search(i.filename) or (is_cli and i.filename.startswith("gsat2r/demo/")))}
        tmp = jar + ".tmp"
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as out:
            for i in infos:
                if i.filename in drop:
                    continue
                data = z.read(i.filename)
                if i.filename.endswith(".fatbin") and fatbin:
                    data = open(fatbin, "rb").read()
                i.compress_type = zipfile.ZIP_STORED
                out.writestr(i, data)
            if is_gpu and fatbin and not any(i.filename.endswith(".fatbin") for i in infos):
                # Built with -Dgpu.kernels.skip on a fresh checkout: the jar has no image to replace, so add it.
                out.writestr(zipfile.ZipInfo("gsat2r/gpu/kernels.fatbin", (1980, 1, 1, 0, 0, 0)), open(fatbin, "rb").read())
    os.replace(tmp, jar)
    if drop or is_gpu:
        print(f"   {name}: {len(drop)} files dropped" + (", the sm_90 kernel image" if is_gpu and fatbin else ""))
print(f"   {len(jars)} jars with their entries stored")
PY

echo "== jlink runtime"
"$JAVA_HOME/bin/jlink" --add-modules java.base,java.compiler,java.desktop,java.logging,java.management,java.naming,java.net.http,java.sql,java.xml,jdk.unsupported,jdk.incubator.vector \
    --strip-debug --no-man-pages --no-header-files --output "$STAGE/jre" 2>&1 | grep -v 'incubator modules' || true
# The runtime must hold every JDK module that the project's classes and the GPU tests use (a missing one is found
# only on the GPU machine, as a NoClassDefFoundError): jdeps lists them, and the bundle is refused without them.
NEEDED=$("$JAVA_HOME/bin/jdeps" --ignore-missing-deps --print-module-deps --multi-release 25 \
    "$STAGE"/lib/gsa-t2r-*.jar "$STAGE"/testlib/*.jar "$STAGE"/test-classes/* | tail -1)
HELD=$("$STAGE/jre/bin/java" --list-modules | sed 's/@.*//')
MISSING=$(tr ',' '\n' <<< "$NEEDED" | grep -vxF -f <(echo "$HELD") || true)
if [ -n "$MISSING" ]; then
    echo "error: the jlinked runtime lacks $(echo $MISSING | tr ' ' ','), which the bundle's classes use: add it to jlink's --add-modules in $0" >&2
    exit 1
fi

cat > "$STAGE/bin/t2r" <<'SH'
#!/usr/bin/env bash
# t2r from the bundle: its own Java runtime, the jars of lib/. JVM options in T2R_JAVA_OPTS (e.g. -Xmx32g).
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
# shellcheck disable=SC2086
exec "$here/jre/bin/java" --enable-native-access=ALL-UNNAMED -Djava.awt.headless=true ${T2R_JAVA_OPTS:-} -cp "$here/lib/*" gsat2r.cli.T2r "$@"
SH
cat > "$STAGE/bin/java-cp" <<'SH'
#!/usr/bin/env bash
# A main class of the bundle: bin/java-cp [JVM options] CLASS [args], with the test classes, testlib/ and lib/ on the class path.
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
exec "$here/jre/bin/java" --enable-native-access=ALL-UNNAMED -Djava.awt.headless=true -Xss4m -XX:+UseParallelGC \
    -cp "$here/test-classes/gpu:$here/test-classes/gpu-models:$here/test-classes/it:$here/testlib/*:$here/lib/*" "$@"
SH
chmod +x "$STAGE/bin/t2r" "$STAGE/bin/java-cp"
git -C "$ROOT" rev-parse --short HEAD > "$STAGE/COMMIT" 2>/dev/null || echo unknown > "$STAGE/COMMIT"

TAR=$DEST/t2r-gpu.tar.xz
echo "== packing $TAR"
tar -C "$STAGE_PARENT" -cf - t2r-gpu | xz -T0 -9e > "$TAR.tmp"
mv "$TAR.tmp" "$TAR"
mkdir -p "$DEST/scripts/device" "$DEST/scripts/bench"
cp scripts/device/*.sh "$DEST/scripts/device/"
cp scripts/bench/*.py "$DEST/scripts/bench/"
SIZE=$(stat -c %s "$TAR")
if [ "$SIZE" -gt $((LIMIT_MIB * 1024 * 1024)) ]; then
    echo "error: $TAR is $((SIZE / 1024 / 1024)) MiB; with the checkout it must stay under 64 MiB (limit here $LIMIT_MIB MiB)" >&2
    exit 1
fi
echo
echo "bundle: $TAR ($((SIZE / 1024 / 1024)) MiB, commit $(cat "$STAGE/COMMIT"))"
echo "on the GPU machine (device tool, carry [\"$(realpath --relative-to="$ROOT" "$DEST")\"]):"
echo "  bash scripts/device/gpu-suite.sh                    # the GPU tests of gpu, gpu-models and it"
echo "  bash scripts/device/gpu-suite.sh --skip-tests gsa attention kernels distill dp size ...   (gpu-suite.sh --help)"
echo "  bash scripts/device/gpu-suite.sh --tests '.*(Decod|GpuModelsGpu).*' decode   # decoding: its GPU tests, DecodeBench vs torch_decode.py"
