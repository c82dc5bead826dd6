#!/usr/bin/env bash
# Makes the device bundle (scripts/make-device-bundle.sh) into DEST, then re-stores the kernel
# image inside the gpu jar without compression (xz packs the ~100 MB fatbin to a third of what the
# jar's deflate gives: every MiB counts against the 64 MiB a device call carries), and adds the
# benchmark scripts (fla_bench.py, compare.py, device-run.sh), so that a checkout without them can
# run `bash .bundle/device-run.sh` on the GPU machine.
#
#   scripts/bench/make-bundle.sh [DEST]        (default .bundle)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DEST=${1:-$HERE/../../.bundle}
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
"$HERE/../make-device-bundle.sh" "$DEST"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
tar -xJf "$DEST/gsa-t2r-gpu.tar.xz" -C "$TMP"
# Not used by the gpu tests or the benchmarks (the tokenizer's native library, core's test fixtures).
rm -f "$TMP"/gsa-t2r-gpu/lib/tokenizers-*.jar "$TMP"/gsa-t2r-gpu/lib/gsa-t2r-core-*-tests.jar
# The GPU machines are Hopper: with SM90_ONLY=1 the bundle's kernel image holds sm_90 machine code
# only (a third of the size; the committed build keeps sm_80, sm_90 and PTX).
FATBIN=""
if [ "${SM90_ONLY:-0}" = 1 ]; then
    FATBIN=$TMP/kernels-sm90.fatbin
    echo "== nvcc: sm_90 only kernel image for the bundle"
    (cd "$HERE/../../gpu/src/main/cuda" && nvcc -fatbin -gencode arch=compute_90,code=sm_90 -O3 -std=c++17 -lineinfo \
        --compress-mode=none -Xptxas -v,-warn-spills,-warn-lmem-usage -o "$FATBIN" kernels.cu > "$TMP/ptxas-sm90.txt" 2>&1)
    cp "$TMP/ptxas-sm90.txt" "$TMP/gsa-t2r-gpu/kernels-ptxas.txt"
fi
# gsa-t2r-gpu-[0-9]*: the gpu module's jar, not gpu-train's (gsa-t2r-gpu-train-*.jar, also in lib).
python3 - "$TMP"/gsa-t2r-gpu/lib/gsa-t2r-gpu-[0-9]*.jar "$FATBIN" <<'PY'
import os, sys, zipfile
assert len(sys.argv) == 3, f"expected one gpu jar and the kernel image, got {sys.argv[1:]}"
jar, fatbin = sys.argv[1], sys.argv[2]
tmp = jar + ".tmp"
with zipfile.ZipFile(jar) as z, zipfile.ZipFile(tmp, "w") as out:
    for i in z.infolist():
        data = z.read(i.filename)
        stored = i.filename.endswith(".fatbin")
        if stored and fatbin:
            data = open(fatbin, "rb").read()
        i.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        out.writestr(i, data)
os.replace(tmp, jar)
print(f"   {os.path.basename(jar)}: kernel image stored uncompressed ({os.path.getsize(jar) >> 20} MiB)")
PY
tar -C "$TMP" -cf - gsa-t2r-gpu | xz -T0 -6 > "$DEST/gsa-t2r-gpu.tar.xz.tmp"
mv "$DEST/gsa-t2r-gpu.tar.xz.tmp" "$DEST/gsa-t2r-gpu.tar.xz"
cp "$HERE/fla_bench.py" "$HERE/compare.py" "$HERE/device-run.sh" "$DEST/"
ls -la "$DEST"
