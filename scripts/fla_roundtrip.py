#!/usr/bin/env python3
"""Checks that fla computes what t2r computes for a GSA student directory written by t2r (convert or
finetune): loads the directory into fla 0.5.2's GSAForCausalLM (torch, CUDA, fp32) and compares its logits
with `t2r logits --all-positions --format json` output saved beforehand for the same student.

    PYTHONPATH=.carry python3 scripts/fla_roundtrip.py STUDENT_DIR OURS.json [OURS2.json ...] [--name NAME]

Each OURS file (plain, .xz or .gz) is one JSON object {"ids": [...], "logits": [[...], ...]} with a row
per position. fla runs the same ids; per file the script prints one line with the sequence length T,
the kernel fla used, the max absolute error, the max error relative to the largest |logit|, the relative
L2 error and the argmax agreement, then OK or FAIL. The check is the relative L2 error against
  1e-4 for T <= 64   (fla's GSA layer runs its fp32 fused recurrent kernel: exact up to fp32 rounding)
  1e-3 for T  > 64   (fla's chunk kernels, whose triton dots run in tf32)
(--tol overrides both). Exit status 0 when every file is OK, 1 otherwise, 2 on a usage or load error.
A last line `ROUNDTRIP name|T|kernel|max_abs|max_rel|rel_l2|argmax|tol|verdict` per file is for
scripts/fla-roundtrip.sh, which prints the table.

What the script adapts on its own side (fla is carried unmodified, never committed):
- fla 0.5.2's `Attention` (hybrid layers) imports flash_attn, which the GPU machine lacks: when it is
  absent, `fla.layers.attn.flash_attn_func` is replaced by a stand-in on
  torch.nn.functional.scaled_dot_product_attention with flash-attn's semantics (causal, window
  (w-1, 0) = the query sees itself and the w-1 keys before it, kv heads shared by query-head groups).
- transformers 5.17 cannot build fla's GSA model with tie_word_embeddings=True (fla's
  `_tied_weights_keys` is a list where transformers 5 expects a dict): the model is built untied and
  lm_head gets the embeddings' tensor.
- t2r extensions that fla 0.5.2 cannot compute (head_dim or rope_scaling in an attention spec,
  expand_v != 1) make the student unfit for fla: reported as FAIL with the reason, not hidden.
Everything about the layout (key names, shapes, config keys) is used as t2r wrote it: a difference there
is a bug on t2r's side, and strict loading reports it.
"""
import argparse
import gzip
import json
import lzma
import math
import os
import sys
import warnings

LOAD_ERROR = 2


def die(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(LOAD_ERROR)


def read_json(path):
    opener = lzma.open if path.endswith(".xz") else gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            obj = json.load(f)
    except (OSError, ValueError, EOFError) as e:
        die(f"{path}: cannot read t2r logits JSON ({e})")
    if not isinstance(obj, dict) or "ids" not in obj or "logits" not in obj:
        die(f'{path}: not `t2r logits` output (needs "ids" and "logits")')
    if len(obj["logits"]) != len(obj["ids"]):
        die(f"{path}: {len(obj['logits'])} rows of logits for {len(obj['ids'])} ids; save it with --all-positions")
    return obj


def fla_incompatibility(cfg):
    """The t2r extensions of config.json that fla 0.5.2 ignores or cannot build (None when there is none)."""
    reasons = []
    for key in ("expand_k", "expand_v"):
        if float(cfg.get(key, 1)) != 1.0:
            reasons.append(f"{key} = {cfg[key]}")
    attn = cfg.get("attn")
    specs = [] if attn is None else attn if isinstance(attn, list) else [attn]
    for s in specs:
        if s.get("head_dim") is not None and s["head_dim"] * s["num_heads"] != cfg["hidden_size"]:
            reasons.append(f"attention head_dim {s['head_dim']}")
        if s.get("rope_scaling") is not None:
            reasons.append(f"attention rope_scaling {s['rope_scaling'].get('rope_type')}")
    return "; ".join(reasons) or None


def install_flash_attn_standin():
    import torch
    import torch.nn.functional as F
    import fla.layers.attn as attn_module
    if attn_module.flash_attn_func is not None:
        return "flash_attn"

    def flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1), **unused):
        # flash-attn layout: q [B, T, H, D], k and v [B, S, Hkv, D]; query head h reads kv head h // (H / Hkv);
        # with S > T the causal diagonal is aligned bottom-right (query i is at position S - T + i).
        B, T, H, D = q.shape
        S, Hkv = k.shape[1], k.shape[2]
        qh = q.transpose(1, 2)
        kh = k.transpose(1, 2).repeat_interleave(H // Hkv, dim=1)
        vh = v.transpose(1, 2).repeat_interleave(H // Hkv, dim=1)
        i = torch.arange(T, device=q.device)[:, None] + (S - T)
        j = torch.arange(S, device=q.device)[None, :]
        allowed = torch.ones(T, S, dtype=torch.bool, device=q.device)
        if causal:
            allowed &= j <= i
        left, right = window_size
        if left >= 0:
            allowed &= j >= i - left
        if right >= 0:
            allowed &= j <= i + right
        o = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=allowed, scale=softmax_scale)
        return o.transpose(1, 2)

    attn_module.flash_attn_func = flash_attn_func
    return "sdpa stand-in"


def load_state_dict(student):
    from safetensors.torch import load_file
    index = os.path.join(student, "model.safetensors.index.json")
    if os.path.isfile(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    sd = {}
    for name in files:
        path = os.path.join(student, name)
        if not os.path.isfile(path):
            die(f"{path}: no such file")
        sd.update(load_file(path))
    return {k: v.float() for k, v in sd.items()}


def build_fla_model(student, cfg):
    import torch
    from fla.models import GSAConfig, GSAForCausalLM
    tied = bool(cfg.get("tie_word_embeddings", False))
    kwargs = {k: v for k, v in cfg.items() if k not in ("architectures", "model_type", "t2r", "dtype", "torch_dtype",
                                                         "transformers_version", "auto_map")}
    kwargs.update(tie_word_embeddings=False, fuse_norm=False, fuse_swiglu=False, fuse_cross_entropy=False,
                  fuse_linear_cross_entropy=False)
    config = GSAConfig(**kwargs)
    model = GSAForCausalLM(config)
    sd = load_state_dict(student)
    if tied:
        if "lm_head.weight" in sd:
            die(f"{student}: config says tie_word_embeddings but the checkpoint has lm_head.weight")
        sd["lm_head.weight"] = sd["model.embeddings.weight"]
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        die(f"{student}: the checkpoint does not match fla's GSAForCausalLM: missing {sorted(missing)[:6]}, "
            f"unexpected {sorted(unexpected)[:6]}")
    if tied:
        model.lm_head.weight = model.model.embeddings.weight
    return model.float().cuda().eval()


def compare(ours, theirs):
    diff = (ours - theirs).abs()
    max_abs = float(diff.max())
    max_rel = max_abs / float(theirs.abs().max())
    rel_l2 = float((ours - theirs).norm() / theirs.norm())
    agree = int((ours.argmax(-1) == theirs.argmax(-1)).sum())
    return max_abs, max_rel, rel_l2, agree


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("student")
    p.add_argument("ours", nargs="+", help="t2r logits --all-positions --format json output (.json, .json.xz, .json.gz)")
    p.add_argument("--name", help="label in the output (default: the student folder's name)")
    p.add_argument("--tol", type=float, help="relative L2 tolerance for every file (default 1e-4 / 1e-3 by T)")
    a = p.parse_args()
    name = a.name or os.path.basename(os.path.normpath(a.student))

    config_path = os.path.join(a.student, "config.json")
    if not os.path.isfile(config_path):
        die(f"{config_path}: no such file")
    with open(config_path) as f:
        cfg = json.load(f)
    if cfg.get("model_type") != "gsa":
        die(f"{config_path}: model_type is {cfg.get('model_type')!r}, not 'gsa' (a t2r student)")
    reason = fla_incompatibility(cfg)
    if reason:
        print(f"{name}: FAIL: fla 0.5.2 cannot compute this student as t2r does ({reason})")
        print(f"ROUNDTRIP {name}|-|-|-|-|-|-|-|FAIL ({reason})")
        return 1

    import torch
    warnings.filterwarnings("ignore", category=ImportWarning)
    torch.backends.cuda.matmul.allow_tf32 = False     # torch's own fp32 matmuls stay fp32 (fla's triton dots are tf32 in chunk mode)
    torch.backends.cudnn.allow_tf32 = False
    attention = install_flash_attn_standin() if cfg.get("attn") else None
    model = build_fla_model(a.student, cfg)
    failures = 0
    for path in a.ours:
        obj = read_json(path)
        ids = torch.tensor([obj["ids"]], dtype=torch.long, device="cuda")
        ours = torch.tensor(obj["logits"], dtype=torch.float32)
        if ours.shape[1] != cfg["vocab_size"]:
            die(f"{path}: rows of {ours.shape[1]} logits, the student's vocabulary is {cfg['vocab_size']}")
        T = ids.shape[1]
        kernel = "fused_recurrent fp32" if T <= 64 else "chunk tf32"
        tol = a.tol if a.tol is not None else (1e-4 if T <= 64 else 1e-3)
        with torch.no_grad():
            theirs = model(input_ids=ids, use_cache=False).logits[0].float().cpu()
        if not torch.isfinite(theirs).all():
            die(f"{path}: fla produced non-finite logits")
        max_abs, max_rel, rel_l2, agree = compare(ours, theirs)
        ok = rel_l2 <= tol and math.isfinite(rel_l2)
        failures += not ok
        extra = f", attention via {attention}" if attention else ""
        print(f"{name} T={T} ({kernel}{extra}): max |diff| {max_abs:.3e}, max rel {max_rel:.3e}, "
              f"rel L2 {rel_l2:.3e} (tol {tol:.0e}), argmax {agree}/{T}: {'OK' if ok else 'FAIL'}", flush=True)
        print(f"ROUNDTRIP {name}|{T}|{kernel}|{max_abs:.2e}|{max_rel:.2e}|{rel_l2:.2e}|{agree}/{T}|{tol:.0e}|"
              f"{'OK' if ok else 'FAIL'}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
