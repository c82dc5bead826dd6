#!/usr/bin/env python3
"""Checks that files written by our Java safetensors writer load in the Python ecosystem.

Run it where torch, safetensors (and for --transformers, transformers) are installed, e.g. on the
GPU machine:

    python3 scripts/check-safetensors-compat.py PATH [PATH ...] [--expect expected.json] [--transformers]

Each PATH is a .safetensors file or a directory (its *.safetensors files and, if present, its
model.safetensors.index.json). For every file it prints one line, OK or FAIL:
  * safetensors.torch.load_file reads every tensor;
  * safe_open(framework="pt") reads the metadata ("format": "pt" is required by transformers)
    and every tensor again, equal to load_file's;
  * with --expect, each tensor's dtype, shape and raw little-endian bytes equal the expectation
    (expected.json: {"tensors": {name: {"dtype", "shape", "hex"}}}, as written by
    gsat2r.bench.CompatSamples (bench test sources) or scripts/make-safetensors-fixture.py).
For an index it checks that every weight_map entry is in the shard it names and that every
tensor of the shards is listed. With --transformers, a directory holding config.json is loaded
with AutoModelForCausalLM.from_pretrained (no missing or unexpected keys allowed) and run on a
few tokens (finite logits). Exit status 0 when everything is OK, 1 otherwise.
"""
import argparse
import glob
import json
import os
import sys
import traceback

import torch
from safetensors import safe_open
from safetensors.torch import load_file

TORCH_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}
for _name, _attr in [("U16", "uint16"), ("U32", "uint32"), ("U64", "uint64"),
                     ("F8_E4M3", "float8_e4m3fn"), ("F8_E5M2", "float8_e5m2")]:
    if hasattr(torch, _attr):
        TORCH_DTYPES[_name] = getattr(torch, _attr)


def raw_bytes(t):
    """The tensor's little-endian bytes (x86 is little-endian)."""
    flat = t.detach().cpu().contiguous().reshape(-1)
    if flat.numel() == 0:
        return b""
    return bytes(flat.view(torch.uint8).numpy().tobytes())


def same(a, b):
    return a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape) and raw_bytes(a) == raw_bytes(b)


def check_file(path, expected):
    tensors = load_file(path)
    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
        keys = set(f.keys())
        if keys != set(tensors):
            raise AssertionError(f"safe_open keys {sorted(keys)} != load_file keys {sorted(tensors)}")
        for k in keys:
            if not same(f.get_tensor(k), tensors[k]):
                raise AssertionError(f"tensor {k!r}: safe_open and load_file differ")
    if meta.get("format") != "pt":
        raise AssertionError(f"metadata {meta} lacks format=pt (transformers refuses such files)")
    checked = 0
    if expected is not None:
        for name, t in tensors.items():
            e = expected.get(name)
            if e is None:
                continue
            want_dtype = TORCH_DTYPES.get(e["dtype"])
            if want_dtype is not None and t.dtype != want_dtype:
                raise AssertionError(f"tensor {name!r}: dtype {t.dtype}, expected {e['dtype']}")
            if list(t.shape) != e["shape"]:
                raise AssertionError(f"tensor {name!r}: shape {list(t.shape)}, expected {e['shape']}")
            if raw_bytes(t).hex() != e["hex"]:
                raise AssertionError(f"tensor {name!r}: bytes differ from the expectation")
            checked += 1
    dtypes = sorted({str(t.dtype).replace("torch.", "") for t in tensors.values()})
    return f"{len(tensors)} tensors ({', '.join(dtypes)}), metadata {meta}" + (
        f", {checked} compared byte for byte" if expected is not None else "")


def check_index(index_path):
    d = os.path.dirname(index_path)
    with open(index_path) as f:
        index = json.load(f)
    weight_map = index["weight_map"]
    in_files = {}
    for shard in sorted(set(weight_map.values())):
        with safe_open(os.path.join(d, shard), framework="pt") as f:
            for k in f.keys():
                in_files[k] = shard
    for name, shard in weight_map.items():
        if in_files.get(name) != shard:
            raise AssertionError(f"{name!r} listed in {shard} but found in {in_files.get(name)}")
    unlisted = set(in_files) - set(weight_map)
    if unlisted:
        raise AssertionError(f"tensors in shards but not in the index: {sorted(unlisted)[:5]}")
    total = index.get("metadata", {}).get("total_size")
    return f"{len(weight_map)} tensors in {len(set(weight_map.values()))} shards, total_size {total}"


def check_transformers(d):
    from transformers import AutoModelForCausalLM
    model, info = AutoModelForCausalLM.from_pretrained(d, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    if bad:
        raise AssertionError(f"loading info: {bad}")
    ids = torch.tensor([[0, 1, 2, 3, 4]])
    with torch.no_grad():
        logits = model(ids).logits
    if not torch.isfinite(logits).all():
        raise AssertionError("non-finite logits")
    n = sum(p.numel() for p in model.parameters())
    return f"{type(model).__name__}, {n:,} parameters, dtype {model.dtype}, logits {tuple(logits.shape)} finite"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--expect", help="expected.json with per-tensor dtype, shape and hex bytes")
    ap.add_argument("--transformers", action="store_true", help="also load directories with config.json")
    args = ap.parse_args()
    expected = None
    if args.expect:
        with open(args.expect) as f:
            expected = json.load(f)["tensors"]
    ok = True

    def run(label, fn, *a):
        nonlocal ok
        try:
            print(f"OK   {label}: {fn(*a)}")
        except Exception as e:  # report every failure, keep checking the rest
            ok = False
            print(f"FAIL {label}: {type(e).__name__}: {e}")
            traceback.print_exc(limit=3, file=sys.stdout)

    for p in args.paths:
        if os.path.isdir(p):
            for f in sorted(glob.glob(os.path.join(p, "*.safetensors"))):
                run(f, check_file, f, expected)
            index = os.path.join(p, "model.safetensors.index.json")
            if os.path.exists(index):
                run(index, check_index, index)
            if args.transformers and os.path.exists(os.path.join(p, "config.json")):
                run(f"{p} (transformers)", check_transformers, p)
        else:
            run(p, check_file, p, expected)
    print("ALL OK" if ok else "SOME FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
