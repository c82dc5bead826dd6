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

Pure Python and numpy (safetensors_np.py beside it); writes into OUT_DIR.tmp and renames, so a failure leaves no half-written teacher.
"""
import json
import os
import sys

from safetensors_np import Bad, copy_checkpoint, load_tensor, read_header, tensor_files


def fail(msg):
    print(f"graft-attention: {msg}", file=sys.stderr)
    sys.exit(1)


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
    copy_checkpoint(teacher, out, replacements)
    print(f"graft-attention: {out}: layers {layers} from {student} ({sum(len(t) for t in replacements.values())} tensors)")


if __name__ == "__main__":
    try:
        main()
    except Bad as e:
        fail(str(e))
