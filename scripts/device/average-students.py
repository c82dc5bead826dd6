#!/usr/bin/env python3
"""A weighted average of students of one architecture (a model soup), tensor by tensor.

    python3 scripts/device/average-students.py OUT_DIR STUDENT[@WEIGHT] STUDENT[@WEIGHT] ...

Each STUDENT is a t2r student (config.json, model*.safetensors). Their config.json must agree on every key but the
storage dtype; their provenance ("t2r": how each was converted, so where its training started) must be the same; their
tensors must agree on names and shapes. WEIGHT (default 1) is relative: the weights are divided by their sum. OUT_DIR
gets the first student's files with every tensor replaced by the average: computed in float64 from the tensors widened
to fp32, rounded to fp32, then stored in the first student's dtype (bf16 rounded to nearest even). Its config.json's
"t2r" says of which students, at which weights.

Why: students distilled from one teacher, converted alike (the same student seed), but trained on different data
can keep different skills (one its lookups, another the passkey); if they are close enough in weight space, the
average may keep some of both. Whether it does is measured (scripts/device/recall-check.sh, SOUP=).

Pure Python and numpy (safetensors_np.py beside it); writes into OUT_DIR.tmp and renames, so a failure leaves no
half-written student.
"""
import json
import math
import os
import sys

import numpy as np

from safetensors_np import Bad, copy_checkpoint, load_tensor, read_header, tensor_files

UNCOMPARED = ("torch_dtype", "dtype", "t2r")                # storage and provenance: compared apart


def fail(msg):
    print(f"average-students: {msg}", file=sys.stderr)
    sys.exit(1)


def parse(arg):
    path, at, weight = arg.rpartition("@")
    if not at or os.path.isdir(arg):                           # no weight, or a folder whose name has an @
        path, weight = arg, ""
    try:
        w = float(weight) if weight else 1.0
    except ValueError:
        raise Bad(f"{arg}: the weight after @ is not a number")
    if not (math.isfinite(w) and w >= 0):
        raise Bad(f"{arg}: a weight must be a finite number, 0 or more")
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise Bad(f"{path}: no config.json (not a student directory)")
    return path, w


def read_config(path):
    try:
        return json.load(open(os.path.join(path, "config.json")))
    except ValueError as e:
        raise Bad(f"{path}/config.json: not valid JSON ({e})")


def config(path):
    return {k: v for k, v in read_config(path).items() if k not in UNCOMPARED}


def check_alike(students):
    first = students[0][0]
    c0, files0 = config(first), tensor_files(first)
    shapes0 = {n: read_header(f)[1][n]["shape"] for n, f in files0.items()}
    for path, _ in students[1:]:
        c = config(path)
        for key in sorted(set(c0) | set(c)):
            if c0.get(key) != c.get(key):
                raise Bad(f"{path}/config.json: {key} is {c.get(key)!r}, {first}'s {c0.get(key)!r}: not one architecture")
        start0, start = read_config(first).get("t2r"), read_config(path).get("t2r")
        if start0 != start:
            key = next((k for k in sorted(set(start0 or {}) | set(start or {})) if (start0 or {}).get(k) != (start or {}).get(k)), "t2r")
            raise Bad(f"{path}/config.json: t2r.{key} is {(start or {}).get(key)!r}, {first}'s {(start0 or {}).get(key)!r}: "
                      "not converted alike (a soup's students must start from the same weights)")
        files = tensor_files(path)
        if set(files) != set(files0):
            extra = sorted(set(files) ^ set(files0))[0]
            raise Bad(f"{path}: tensor {extra} is in one student and not the other")
        for n, f in files.items():
            shape = read_header(f)[1][n]["shape"]
            if shape != shapes0[n]:
                raise Bad(f"{f}: tensor {n} is {shape}, {first}'s {shapes0[n]}")
    return files0


def write_config(students, total, dst):
    """The first student's config.json with the provenance ("t2r") saying which students, at which weights."""
    c = read_config(students[0][0])
    c["t2r"] = {"averaged_from": [{"student": os.path.abspath(p), "weight": w / total, "t2r": read_config(p).get("t2r")}
                                  for p, w in students]}
    with open(dst, "w") as f:
        json.dump(c, f, indent=2)
        f.write("\n")


def main():
    if len(sys.argv) < 4:
        fail("usage: average-students.py OUT_DIR STUDENT[@WEIGHT] STUDENT[@WEIGHT] ...")
    out = sys.argv[1]
    students = [parse(a) for a in sys.argv[2:]]
    total = sum(w for _, w in students)
    if total <= 0:
        raise Bad("the weights add up to 0")
    files0 = check_alike(students)
    files = [tensor_files(path) for path, _ in students]
    shards = {}                                                # first student's shard -> {name: average}
    for name, shard in files0.items():
        acc = np.zeros(read_header(shard)[1][name]["shape"], dtype=np.float64)
        for (_, w), f in zip(students, files):
            if w:
                acc += (w / total) * load_tensor(f[name], name).astype(np.float64)
        shards.setdefault(shard, {})[name] = acc.astype(np.float32)
    copy_checkpoint(students[0][0], out, shards, {"config.json": lambda dst: write_config(students, total, dst)})
    weights = ", ".join(f"{p} {w / total:.3f}" for p, w in students)
    print(f"average-students: {out}: {len(files0)} tensors, the average of {weights}")


if __name__ == "__main__":
    try:
        main()
    except Bad as e:
        fail(str(e))
