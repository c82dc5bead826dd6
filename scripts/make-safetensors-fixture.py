#!/usr/bin/env python3
"""Writes the safetensors test fixture that core's PythonFixtureTest reads.

The Python `safetensors` package is not available where the project is developed, so this is an
independent writer that follows the format specification and the Rust reference writer's layout
(as `safetensors.torch.save_file` produces it), using only numpy:

  * 8-byte little-endian u64 header length N, then N bytes of compact UTF-8 JSON, padded with
    spaces so that N is a multiple of 8, then the data;
  * "__metadata__" first, then the tensors sorted by dtype width (widest first) and name, laid out
    contiguously in that order, offsets relative to the start of the data area;
  * bf16 rounded from float32 by a nearest-candidate comparison in float64 (ties to even), an
    implementation deliberately different from the bit trick used in Java.

It also writes expected.json: per tensor the dtype, shape, raw bytes (hex), the values, and for the
bf16/f16 tensors the float32 bits they were rounded from, so the Java test checks the reader and
the converters against numpy.

Usage: python3 scripts/make-safetensors-fixture.py [OUT_DIR]
(default core/src/test/resources/gsat2r/core/safetensors/python). Deterministic; commit the output.
"""
import json
import math
import os
import struct
import sys

import numpy as np

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "core", "src", "test", "resources",
    "gsat2r", "core", "safetensors", "python")

# dtype name -> (numpy dtype, element size)
DTYPES = {
    "F64": ("<f8", 8), "F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2),
    "I64": ("<i8", 8), "I32": ("<i4", 4), "I16": ("<i2", 2), "I8": ("i1", 1),
    "U64": ("<u8", 8), "U32": ("<u4", 4), "U16": ("<u2", 2), "U8": ("u1", 1), "BOOL": ("?", 1),
}


def bf16_bits(f32):
    """float32 array -> bf16 bit patterns (uint16), round to nearest, ties to even, NaN kept NaN."""
    f32 = np.ascontiguousarray(f32, dtype="<f4")
    u = f32.view("<u4").astype(np.uint64)
    lo = (u & 0xFFFF0000).astype(np.uint32)
    hi = (lo.astype(np.uint64) + 0x10000).astype(np.uint32)
    with np.errstate(invalid="ignore", over="ignore"):
        x = f32.astype(np.float64)
        lo_val = lo.view("<f4").astype(np.float64)
        hi_val = hi.view("<f4").astype(np.float64)
        # Past the largest finite bf16 the next candidate is infinity, which IEEE rounding treats as
        # the value 2^128 (one ulp further): the overflow threshold is max + half an ulp.
        hi_val = np.where(np.isinf(hi_val) & ~np.isinf(x), np.copysign(2.0 ** 128, x), hi_val)
        d_lo = np.abs(x - lo_val)
        d_hi = np.abs(hi_val - x)
    lo_even = ((lo >> 16) & 1) == 0
    pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & ~lo_even)
    out = np.where(pick_hi, hi >> 16, lo >> 16).astype(np.uint16)
    # Exact bf16 values and infinities are their own upper half; NaN keeps sign and upper payload.
    exact = (u & 0xFFFF) == 0
    out = np.where(exact, (u >> 16).astype(np.uint16), out)
    nan = np.isnan(f32)
    nan_hi = (u >> 16).astype(np.uint16)
    nan_hi = np.where((nan_hi & 0x7F) == 0, nan_hi | 0x40, nan_hi)
    return np.where(nan, nan_hi, out).astype(np.uint16)


def special_f32():
    return np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, math.pi,
                     np.finfo(np.float32).max, np.finfo(np.float32).tiny, 1e-45, -2.5e-40], dtype="<f4")


def tensors():
    rng = np.random.default_rng(20240531)
    t = {}
    normal = rng.standard_normal(48).astype("<f4")
    t["model.weight"] = ("F32", np.concatenate([special_f32(), normal[:36]]).reshape(6, 8))
    t["scalar"] = ("F32", np.array(2.5, dtype="<f4").reshape(()))
    t["empty"] = ("F32", np.zeros((0,), dtype="<f4"))
    t["empty.matrix"] = ("BF16", np.zeros((2, 0), dtype="<u2"))
    t["f64"] = ("F64", np.array([math.pi, -1e300, 5e-324, 0.1, np.nan, -np.inf], dtype="<f8").reshape(2, 3))
    # bf16 sources: random values, exact ties (low half 0x8000) both odd and even, near-ties, overflow.
    ties = np.array([0x3F808000, 0x3F818000, 0x3F80_7FFF, 0x3F80_8001, 0x7F7F_FFFF, 0xFF7F_8000,
                     0x7F80_0001, 0x0000_8000, 0x0001_8000, 0x8000_0001], dtype="<u4").view("<f4")
    bf_src = np.concatenate([rng.standard_normal(22).astype("<f4") * np.float32(3), ties])
    t["bf16"] = ("BF16", bf16_bits(bf_src).reshape(4, 8), bf_src)
    f16_src = np.concatenate([rng.standard_normal(12).astype("<f4"),
                              np.array([65504.0, 65520.0, 1e-8, 6.1e-5, 2049.0, 2051.0, -0.0, np.inf],
                                       dtype="<f4")])
    with np.errstate(over="ignore"):
        t["f16"] = ("F16", f16_src.astype("<f2").reshape(5, 4), f16_src)
    t["ids"] = ("I64", np.array([0, 1, -1, 2**63 - 1, -2**63, 128000], dtype="<i8"))
    t["i32"] = ("I32", np.array([[7, -7], [2**31 - 1, -2**31]], dtype="<i4"))
    t["i16"] = ("I16", np.array([-32768, 32767, 3], dtype="<i2"))
    t["i8"] = ("I8", np.array([-128, 127, 0, 5], dtype="i1"))
    t["u64"] = ("U64", np.array([0, 2**63 - 1], dtype="<u8"))
    t["u32"] = ("U32", np.array([0, 2**32 - 1, 12345], dtype="<u4"))
    t["u16"] = ("U16", np.array([0, 65535], dtype="<u2"))
    t["u8"] = ("U8", np.arange(250, 256, dtype="u1").reshape(2, 3))
    t["mask"] = ("BOOL", np.array([[True, False, True], [False, False, True]], dtype="?"))
    t["gewicht.ü/schicht 0"] = ("F32", np.array([1.5, -2.25], dtype="<f4"))
    return t


def file_bytes(items, metadata):
    """items: {name: (dtype, array)} -> bytes of a safetensors file."""
    order = sorted(items, key=lambda n: (-DTYPES[items[n][0]][1], n))
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name in order:
        dtype, arr = items[name][0], items[name][1]
        raw = np.ascontiguousarray(arr, dtype=DTYPES[dtype][0]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def json_value(v):
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def expected(items):
    out = {}
    for name, item in items.items():
        dtype, arr = item[0], item[1]
        raw = np.ascontiguousarray(arr, dtype=DTYPES[dtype][0]).tobytes()
        if dtype == "BF16":
            values = (arr.astype(np.uint32) << 16).view("<f4").astype(np.float64).ravel().tolist()
        elif dtype in ("F16", "F32", "F64"):
            values = arr.astype(np.float64).ravel().tolist()
        else:
            values = [int(x) for x in arr.astype(object).ravel().tolist()]
        e = {"dtype": dtype, "shape": list(arr.shape), "hex": raw.hex(),
             "values": [json_value(v) for v in values]}
        if len(item) > 2:
            e["source_f32_bits"] = [int(x) for x in np.ascontiguousarray(item[2], dtype="<f4").view("<u4")]
        out[name] = e
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    items = tensors()
    meta = {"format": "pt", "writer": "scripts/make-safetensors-fixture.py (numpy)", "note": "ünïcödé ✓"}
    with open(os.path.join(OUT, "numpy-writer.safetensors"), "wb") as f:
        f.write(file_bytes(items, meta))
    with open(os.path.join(OUT, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"metadata": meta, "tensors": expected(items)}, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")

    # A sharded checkpoint as transformers saves one: two shards and the index.
    shard_dir = os.path.join(OUT, "sharded")
    os.makedirs(shard_dir, exist_ok=True)
    names = ["model.weight", "f64", "bf16", "ids", "mask", "scalar"]
    shards = [names[:3], names[3:]]
    weight_map, total = {}, 0
    for k, shard in enumerate(shards):
        fname = "model-%05d-of-%05d.safetensors" % (k + 1, len(shards))
        part = {n: items[n] for n in shard}
        with open(os.path.join(shard_dir, fname), "wb") as f:
            f.write(file_bytes(part, {"format": "pt"}))
        for n in shard:
            weight_map[n] = fname
            total += np.ascontiguousarray(items[n][1], dtype=DTYPES[items[n][0]][0]).nbytes
    params = sum(int(np.prod(items[n][1].shape)) for n in names)
    index = {"metadata": {"total_parameters": params, "total_size": total}, "weight_map": weight_map}
    with open(os.path.join(shard_dir, "model.safetensors.index.json"), "w") as f:
        f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
