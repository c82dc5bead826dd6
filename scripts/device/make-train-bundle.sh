#!/usr/bin/env bash
# Builds, here, what the GPU machine needs to run t2r end to end (it has no Java): a jlinked Temurin 25
# runtime (with java.desktop, which eval's plots need), every project jar and its runtime dependencies
# (the GSA export's ND4J jars excepted), the GPU tests of the it module with the finetune contract they
# extend, the JUnit console launcher, and bin/t2r. Packed as DEST/t2r-bundle.tar.xz, with the device
# scripts (scripts/device/*.sh) beside it, so that a checkout without them can run `bash .bundle/<script>.sh`.
#
#   SM90_ONLY=1 [NO_TESTS=1] scripts/device/make-train-bundle.sh [DEST]        (default .bundle, ignored by git)
#
# NO_TESTS=1 leaves out the test classes, the test jars and the JUnit launcher (t2r alone: what
# recall-check.sh needs, a few MB less to carry).
#
# SM90_ONLY=1 (default) stores an sm_90-only kernel image in the gpu jar (the GPU machines are Hopper;
# the committed build keeps sm_80, sm_90 and PTX); the demo model inside the cli jar is left out
# (models/kjv-llama is in every checkout).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DEST=${1:-.bundle}
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
JUNIT_PLATFORM=${JUNIT_PLATFORM:-1.14.4}
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
STAGE_PARENT=$(mktemp -d)
trap 'rm -rf "$STAGE_PARENT"' EXIT
STAGE=$STAGE_PARENT/t2r-bundle
mkdir -p "$STAGE/lib" "$STAGE/bin"

echo "== building jars (mvn package, tests skipped)"
mvn -q -B -DskipTests package "$DEP_PLUGIN:copy-dependencies" -DincludeScope=test \
    -DexcludeGroupIds=org.junit.jupiter,org.junit.platform,org.opentest4j,org.apiguardian \
    -DoutputDirectory="$STAGE/lib"
cp cli/target/gsa-t2r-cli-*.jar gpu-models/target/gsa-t2r-gpu-models-*.jar "$STAGE/lib/"
rm -f "$STAGE"/lib/gsa-t2r-cli-*-tests.jar "$STAGE"/lib/gsa-t2r-gpu-*-tests.jar "$STAGE"/lib/gsa-t2r-core-*-tests.jar \
      "$STAGE"/lib/gsa-t2r-eval-*-tests.jar "$STAGE"/lib/gsa-t2r-converter-*-tests.jar
mkdir -p "$STAGE/testlib"
if [ "${NO_TESTS:-0}" = 1 ]; then
    rm -f "$STAGE"/lib/*-tests.jar
else
    # the GPU tests live in the it module since gpu-train became gpu-models
    cp -r it/target/test-classes "$STAGE/test-classes"
    # the gpu module's NCCL tests (a one-rank communicator on one GPU, one rank per GPU on more) and their support class
    mkdir -p "$STAGE/test-classes/gsat2r/gpu/nccl"
    cp gpu/target/test-classes/gsat2r/gpu/nccl/*.class "$STAGE/test-classes/gsat2r/gpu/nccl/"
    cp gpu/target/test-classes/gsat2r/gpu/GpuTestSupport*.class "$STAGE/test-classes/gsat2r/gpu/"
    # The finetune test jar (TrainingBackendContract) registers a toy backend and converter: tests only, off t2r's class path.
    mv "$STAGE"/lib/*-tests.jar "$STAGE/testlib/"
fi

FATBIN=""
if [ "${SM90_ONLY:-1}" = 1 ]; then
    FATBIN=$STAGE_PARENT/kernels-sm90.fatbin
    echo "== nvcc: sm_90 only kernel image"
    (cd gpu/src/main/cuda && nvcc -fatbin -gencode arch=compute_90,code=sm_90 -O3 -std=c++17 -lineinfo --compress-mode=none \
        -o "$FATBIN" kernels.cu > "$STAGE_PARENT/ptxas.txt" 2>&1)
fi
python3 - "$STAGE/lib" "$FATBIN" <<'PY'
import glob, os, re, sys, zipfile
lib, fatbin = sys.argv[1], sys.argv[2]
other = re.compile(r"(^|/)(linux-aarch64|linux-arm|linux-ppc|linux-s390|linux-riscv|linux-loongarch|linux-mips|linux-x86/|"
                   r"osx|darwin|win|aix|sunos|freebsd|openbsd|dragonflybsd)[^/]*/")
for jar in glob.glob(os.path.join(lib, "*.jar")):
    name = os.path.basename(jar)
    is_gpu = name.startswith("gsa-t2r-gpu-") and not name.startswith("gsa-t2r-gpu-models")
    is_cli = name.startswith("gsa-t2r-cli-")
    with zipfile.ZipFile(jar) as z:
        infos = z.infolist()
        drop = {i.filename for i in infos if not i.is_dir() and (other.search(i.filename) or (is_cli and i.filename.startswith("gsat2r/demo/")))}
        if not drop and not is_gpu:
            continue
        tmp = jar + ".tmp"
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out:
            for i in infos:
                if i.filename in drop:
                    continue
                data = z.read(i.filename)
                stored = i.filename.endswith(".fatbin")
                if stored and fatbin:
                    data = open(fatbin, "rb").read()
                i.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                out.writestr(i, data)
    os.replace(tmp, jar)
    print(f"   {name}: dropped {len(drop)} files" + (", kernel image stored" if is_gpu else ""))
PY

if [ "${NO_TESTS:-0}" != 1 ]; then
    echo "== JUnit console launcher $JUNIT_PLATFORM"
    mvn -q -B "$DEP_PLUGIN:copy" -Dartifact=org.junit.platform:junit-platform-console-standalone:$JUNIT_PLATFORM:jar \
        -DoutputDirectory="$STAGE" -Dmdep.stripVersion=true
fi

echo "== jlink runtime"
"$JAVA_HOME/bin/jlink" --add-modules java.base,java.compiler,java.desktop,java.logging,java.management,java.naming,java.sql,java.xml,jdk.unsupported,jdk.incubator.vector \
    --strip-debug --no-man-pages --no-header-files --output "$STAGE/jre" 2>&1 | grep -v 'incubator modules' || true

cat > "$STAGE/bin/t2r" <<'SH'
#!/usr/bin/env bash
# t2r from the bundle: its own Java runtime, every jar of lib/. JVM options in T2R_JAVA_OPTS
# (e.g. -Xmx32g -Dgsat2r.cuda.precision=fp32).
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
# shellcheck disable=SC2086
exec "$here/jre/bin/java" --enable-native-access=ALL-UNNAMED -Djava.awt.headless=true ${T2R_JAVA_OPTS:-} -cp "$here/lib/*" gsat2r.cli.T2r "$@"
SH
cat > "$STAGE/bin/java-cp" <<'SH'
#!/usr/bin/env bash
# Runs a main class of the bundle: bin/java-cp [JVM options] CLASS [args], with lib/, testlib/ and the test classes on the class path.
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
exec "$here/jre/bin/java" --enable-native-access=ALL-UNNAMED -Djava.awt.headless=true -cp "$here/test-classes:$here/testlib/*:$here/lib/*" "$@"
SH
chmod +x "$STAGE/bin/t2r" "$STAGE/bin/java-cp"
git -C "$ROOT" rev-parse --short HEAD > "$STAGE/COMMIT" 2>/dev/null || echo unknown > "$STAGE/COMMIT"

echo "== packing $DEST/t2r-bundle.tar.xz"
tar -C "$STAGE_PARENT" -cf - t2r-bundle | xz -T0 -6 > "$DEST/t2r-bundle.tar.xz.tmp"
mv "$DEST/t2r-bundle.tar.xz.tmp" "$DEST/t2r-bundle.tar.xz"
cp "$ROOT"/scripts/device/*.sh "$DEST/"
SIZE=$(stat -c %s "$DEST/t2r-bundle.tar.xz")
ls -la "$DEST"
if [ "$SIZE" -gt $((56 * 1024 * 1024)) ]; then
    echo "error: bundle is $SIZE bytes; a device call carries at most 64 MiB" >&2
    exit 1
fi
echo "bundle: $DEST/t2r-bundle.tar.xz ($((SIZE / 1024 / 1024)) MiB)"
