#!/usr/bin/env bash
# Builds what the GPU machine needs to run the GPU test suite and benchmark (it has no Java):
# a jlinked Temurin 25 runtime, the project's jars and their runtime dependencies, the gpu module's
# test classes, and the JUnit console launcher, packed as one .tar.xz (well under the 64 MiB a
# device call may carry). Also copies scripts/gpu-suite.sh beside it, so that a checkout that does
# not have the script yet can run `bash .bundle/gpu-suite.sh`.
#
#   scripts/make-device-bundle.sh [OUT_DIR]        (default .bundle, ignored by git)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT_DIR=${1:-.bundle}
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
JUNIT_PLATFORM=${JUNIT_PLATFORM:-1.14.4}   # the platform release of JUnit Jupiter 5.14.4 (parent pom)
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

STAGE_PARENT=$(mktemp -d)
trap 'rm -rf "$STAGE_PARENT"' EXIT
STAGE=$STAGE_PARENT/gsa-t2r-gpu
mkdir -p "$STAGE/lib"

echo "== building jars (mvn package, tests skipped)"
mvn -q -B -DskipTests package "$DEP_PLUGIN:copy-dependencies" -DincludeScope=test \
    -DexcludeGroupIds=org.junit.jupiter,org.junit.platform,org.opentest4j,org.apiguardian \
    -DoutputDirectory="$STAGE/lib"
# The modules' own jars (copy-dependencies brings core and its test-jar in through gpu's dependencies).
cp gpu/target/gsa-t2r-gpu-*.jar "$STAGE/lib/"
rm -f "$STAGE"/lib/gsa-t2r-gpu-*-tests.jar
cp -r gpu/target/test-classes "$STAGE/test-classes"
# The GPU machine is linux-x86_64: drop the other platforms' native libraries from jars that bundle
# them (DJL tokenizers carries four copies of its Rust library, 13 MB of the bundle otherwise).
python3 - "$STAGE/lib" <<'PY'
import glob, os, re, sys, zipfile
other = re.compile(r"(^|/)(linux-aarch64|linux-arm|linux-ppc|linux-s390|linux-riscv|linux-loongarch|linux-mips|linux-x86/|"
                   r"osx|darwin|win|aix|sunos|freebsd|openbsd|dragonflybsd)[^/]*/")
for jar in glob.glob(os.path.join(sys.argv[1], "*.jar")):
    with zipfile.ZipFile(jar) as z:
        drop = [i for i in z.infolist() if other.search(i.filename) and not i.is_dir()]
        if not drop:
            continue
        keep = [i for i in z.infolist() if i not in drop]
        tmp = jar + ".tmp"
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out:
            for i in keep:
                out.writestr(i, z.read(i.filename))
    os.replace(tmp, jar)
    print(f"   {os.path.basename(jar)}: dropped {len(drop)} files of other platforms")
PY
cp gpu/target/kernels-ptxas.txt "$STAGE/" 2>/dev/null || true

echo "== JUnit console launcher $JUNIT_PLATFORM"
CONSOLE=org.junit.platform:junit-platform-console-standalone:$JUNIT_PLATFORM:jar
mvn -q -B "$DEP_PLUGIN:copy" -Dartifact="$CONSOLE" -DoutputDirectory="$STAGE" -Dmdep.stripVersion=true

echo "== jlink runtime"
"$JAVA_HOME/bin/jlink" --add-modules java.base,jdk.unsupported,java.logging,java.management,jdk.incubator.vector,java.xml \
    --strip-debug --no-man-pages --no-header-files --output "$STAGE/jre" 2>&1 | grep -v 'incubator modules' || true
"$STAGE/jre/bin/java" -version 2>&1 | head -1

git -C "$ROOT" rev-parse --short HEAD > "$STAGE/COMMIT" 2>/dev/null || echo unknown > "$STAGE/COMMIT"

mkdir -p "$OUT_DIR"
TAR="$OUT_DIR/gsa-t2r-gpu.tar.xz"
echo "== packing $TAR"
tar -C "$STAGE_PARENT" -cf - gsa-t2r-gpu | xz -T0 -6 > "$TAR.tmp"
mv "$TAR.tmp" "$TAR"
cp scripts/gpu-suite.sh "$OUT_DIR/gpu-suite.sh"
ls -la "$OUT_DIR"
SIZE=$(stat -c %s "$TAR")
if [ "$SIZE" -gt $((56 * 1024 * 1024)) ]; then
    echo "error: bundle is $SIZE bytes; a device call carries at most 64 MiB" >&2
    exit 1
fi
echo "bundle: $TAR ($((SIZE / 1024 / 1024)) MiB)"
