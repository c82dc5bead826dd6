#!/usr/bin/env python3
"""A Llama teacher whose chosen layers' attention is a trained hybrid student's.

    python3 scripts/device/graft-attention.py TEACHER_DIR STUDENT_DIR LAYERS OUT_DIR

TEACHER_DIR is a Hugging Face Llama checkpoint (config.json, *.safetensors with or without an index,
tokenizer files); STUDENT_DIR a t2r student (config.json, model*.safetensors) that keeps the layers of
LAYERS (e.g. "4" or "1,4") as softmax attention. OUT_DIR gets a copy of the teacher in which, for each of
those layers, input_layernorm and self_attn.{q,k,v,o}_proj are the student's attn_norm and attn.{q,k,v,o}_proj
(in the teacher tensor's own dtype: bf16 rounds to nearest even). Everything else is the teacher's.

Why: a hybrid student's kept layer has learnt to retrieve on the residual stream its GSA layers write. When
that layer is then made GSA too, attention transfer on the student's own hidden states against this teacher
teaches it the hybrid's working attention on that very residual, where the original teacher's layer was
trained on another one. Only the attention transfer reads the graft; the other layers are the original
teacher's (a distillation stage against it should take ce_weight 1).

Pure Python and numpy; writes into OUT_DIR.tmp and renames, so a failure leaves no half-written teacher.
"""
import glob
import json
import os
import shutil
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None}


def fail(msg):
    print(f"graft-attention: {msg}", file=sys.stderr)
    sys.exit(1)


def read_header(path):
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            fail(f"{path}: not a safetensors file (shorter than 8 bytes)")
        n = struct.unpack("<Q", raw)[0]
        header = json.loads(f.read(n))
    return n, header


def load_tensor(path, name):
    n, header = read_header(path)
    info = header[name]
    lo, hi = info["data_offsets"]
    with open(path, "rb") as f:
        f.seek(8 + n + lo)
        raw = f.read(hi - lo)
    return decode(raw, info["dtype"], info["shape"], f"{path}:{name}")


def decode(raw, dtype, shape, where):
    if dtype == "BF16":
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape)
    if dtype not in DTYPES:
        fail(f"{where}: dtype {dtype} is not a float type this script reads")
    return np.frombuffer(raw, dtype=np.dtype(DTYPES[dtype]).newbyteorder("<")).astype(np.float32).reshape(shape)


def encode(values, dtype):
    values = np.ascontiguousarray(values, dtype=np.float32)
    if dtype == "BF16":
        bits = values.view(np.uint32)
        rounded = bits + 0x7FFF + ((bits >> 16) & 1)          # round to nearest even (no NaNs in weights)
        return (rounded >> 16).astype("<u2").tobytes()
    return values.astype(np.dtype(DTYPES[dtype]).newbyteorder("<")).tobytes()


def tensor_files(directory):
    index = os.path.join(directory, "model.safetensors.index.json")
    if os.path.exists(index):
        weight_map = json.load(open(index))["weight_map"]
        return {name: os.path.join(directory, shard) for name, shard in weight_map.items()}
    files = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.safetensors"))):
        for name in read_header(path)[1]:
            if name != "__metadata__":
                files[name] = path
    if not files:
        fail(f"{directory}: no *.safetensors files")
    return files


def rewrite_shard(src, dst, replacements):
    n, header = read_header(src)
    metadata = header.pop("__metadata__", None)
    names = sorted(header, key=lambda k: header[k]["data_offsets"][0])
    blobs, offset, out_header = [], 0, {}
    with open(src, "rb") as f:
        for name in names:
            info = header[name]
            lo, hi = info["data_offsets"]
            if name in replacements:
                blob = encode(replacements[name], info["dtype"])
                if len(blob) != hi - lo:
                    fail(f"{src}:{name}: the replacement has {len(blob)} bytes, the tensor {hi - lo}")
            else:
                f.seek(8 + n + lo)
                blob = f.read(hi - lo)
            out_header[name] = {"dtype": info["dtype"], "shape": info["shape"], "data_offsets": [offset, offset + len(blob)]}
            blobs.append(blob)
            offset += len(blob)
    if metadata is not None:
        out_header["__metadata__"] = metadata
    text = json.dumps(out_header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def main():
    if len(sys.argv) != 5:
        fail("usage: graft-attention.py TEACHER_DIR STUDENT_DIR LAYERS OUT_DIR")
    teacher, student, layers_arg, out = sys.argv[1:]
    try:
        layers = sorted({int(l) for l in layers_arg.split(",")})
    except ValueError:
        fail(f"layers must be integers joined by commas, got {layers_arg!r}")
    config = json.load(open(os.path.join(student, "config.json")))
    specs = config.get("attn") or []                             # null, one spec or a list of them
    kept = {int(l) for spec in ([specs] if isinstance(specs, dict) else specs) for l in spec.get("layers", [])}
    for l in layers:
        if l not in kept:
            fail(f"{student}/config.json: layer {l} is not kept as attention (attn layers {sorted(kept)})")
    t_files, s_files = tensor_files(teacher), tensor_files(student)
    replacements = {}                                          # shard path -> {teacher tensor name: values}
    for l in layers:
        pairs = [(f"model.layers.{l}.input_layernorm.weight", f"model.layers.{l}.attn_norm.weight")]
        pairs += [(f"model.layers.{l}.self_attn.{p}_proj.weight", f"model.layers.{l}.attn.{p}_proj.weight") for p in "qkvo"]
        for t_name, s_name in pairs:
            if t_name not in t_files:
                fail(f"{teacher}: no tensor {t_name}")
            if s_name not in s_files:
                fail(f"{student}: no tensor {s_name}")
            values = load_tensor(s_files[s_name], s_name)
            _, t_header = read_header(t_files[t_name])
            if list(values.shape) != t_header[t_name]["shape"]:
                fail(f"{s_name} is {list(values.shape)}, the teacher's {t_name} {t_header[t_name]['shape']}")
            replacements.setdefault(t_files[t_name], {})[t_name] = values
    tmp = out.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for name in sorted(os.listdir(teacher)):                   # contents only: the teacher's folder may be read-only
        src = os.path.join(teacher, name)
        if src in replacements:
            rewrite_shard(src, os.path.join(tmp, name), replacements[src])
        elif os.path.isfile(src):
            shutil.copyfile(src, os.path.join(tmp, name))
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    print(f"graft-attention: {out}: layers {layers} from {student} ({sum(len(t) for t in replacements.values())} tensors)")


if __name__ == "__main__":
    main()
