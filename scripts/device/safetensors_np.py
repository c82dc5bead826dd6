"""Reading and rewriting safetensors checkpoints with numpy alone (the GPU machine's scripts; no torch, no
safetensors package needed): headers, tensors widened to fp32, fp32 values encoded back in a tensor's own dtype
(bf16 rounded to nearest even), shard by shard. Errors raise Bad with a one-line message that names the file."""
import glob
import json
import os
import shutil
import struct

import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None}


class Bad(Exception):
    """Bad input: the message is one line and names the file."""


def read_header(path):
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise Bad(f"{path}: not a safetensors file (shorter than 8 bytes)")
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
        raise Bad(f"{where}: dtype {dtype} is not a float type this script reads")
    return np.frombuffer(raw, dtype=np.dtype(DTYPES[dtype]).newbyteorder("<")).astype(np.float32).reshape(shape)


def encode(values, dtype):
    values = np.ascontiguousarray(values, dtype=np.float32)
    if dtype == "BF16":
        bits = values.view(np.uint32)
        rounded = bits + 0x7FFF + ((bits >> 16) & 1)          # round to nearest even (no NaNs in weights)
        return (rounded >> 16).astype("<u2").tobytes()
    return values.astype(np.dtype(DTYPES[dtype]).newbyteorder("<")).tobytes()


def tensor_files(directory):
    """Each tensor's shard: from the index when there is one, else from every *.safetensors file's header."""
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
        raise Bad(f"{directory}: no *.safetensors files")
    return files


def rewrite_shard(src, dst, replacements):
    """src's tensors into dst in the same order and dtypes, those named in replacements with those values."""
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
                    raise Bad(f"{src}:{name}: the replacement has {len(blob)} bytes, the tensor {hi - lo}")
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


def copy_checkpoint(src_dir, out, replacements, written=None):
    """src_dir's files into out: the shards named in replacements ({shard path: {tensor: values}}) rewritten with those
    values, the files named in written ({file name: function of the destination path}) made by it, the others copied.
    Written into out.tmp and renamed, so a failure leaves no half-written folder (and no out.tmp)."""
    written = written or {}
    tmp = out.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        for name in sorted(os.listdir(src_dir)):           # contents only: the source folder may be read-only
            src, dst = os.path.join(src_dir, name), os.path.join(tmp, name)
            if name in written:
                written[name](dst)
            elif src in replacements:
                rewrite_shard(src, dst, replacements[src])
            elif os.path.isfile(src):
                shutil.copyfile(src, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
