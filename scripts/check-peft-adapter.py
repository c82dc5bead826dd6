"""Checks a PEFT adapter written by a LoRA stage against the run that wrote it, with readers of its own.

    python3 scripts/check-peft-adapter.py RUN STAGE CHECKPOINT

RUN is a finished t2r run directory; STAGE the LoRA stage's name (RUN/final/adapters/STAGE); CHECKPOINT a
checkpoint taken during that stage (RUN/checkpoints/step-N, before the merge), whose state holds the base
weights the adapters apply to. Checks, for every adapted module:

  * with numpy alone (safetensors parsed here): RUN/final's merged weight equals base + (lora_alpha / r) B A;
  * where PEFT and PyTorch are installed: PeftModel.from_pretrained loads the adapter onto modules of the
    same names holding the base weights, with no missing or unexpected key, targets exactly the adapted
    modules, and its output equals x @ merged^T.

Prints one line per check and exits 1 when one fails.
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16}


BF16_FILES = set()


def read_safetensors(path: Path) -> dict:
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        raw = data[8 + n + a:8 + n + b]
        if t["dtype"] == "BF16":
            BF16_FILES.add(path)
            arr = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=DTYPES[t["dtype"]])
        out[name] = arr.astype(np.float64).reshape(t["shape"])
    return out


def read_model(d: Path) -> dict:
    index = d / "model.safetensors.index.json"
    if not index.exists():
        return read_safetensors(d / "model.safetensors")
    out = {}
    for f in sorted(set(json.loads(index.read_text())["weight_map"].values())):
        out.update(read_safetensors(d / f))
    return out


def main(run: Path, stage: str, checkpoint: Path) -> int:
    adapter = run / "final" / "adapters" / stage
    config = json.loads((adapter / "adapter_config.json").read_text())
    factors = read_safetensors(adapter / "adapter_model.safetensors")
    merged = read_model(run / "final")
    state = read_safetensors(checkpoint / "state.safetensors")
    scale = config["lora_alpha"] / config["r"]
    prefix = "base_model.model."
    modules = sorted({k[len(prefix):].rsplit(".lora_", 1)[0] for k in factors})
    stored_bf16 = bool(BF16_FILES & set((run / "final").iterdir()))
    # A bf16 weight is the exact value rounded to nearest: at most half a unit in the last of 8 bits off.
    rel = 2.0 ** -8 if stored_bf16 else 1e-5
    failures = 0
    worst = 0.0
    bases = {}
    for m in modules:
        a, b = factors[f"{prefix}{m}.lora_A.weight"], factors[f"{prefix}{m}.lora_B.weight"]
        base = state.get(f"param/{m}.weight")
        if base is None:
            base = read_model(run / "student-init")[f"{m}.weight"]
        bases[m] = base
        w = merged[f"{m}.weight"]
        want = base + scale * (b @ a)
        # The merge runs in fp32: terms that cancel leave up to ~1e-7 of their magnitudes; then the storage rounding.
        bound = rel * np.abs(want) + 1e-6 * (np.abs(base) + scale * (np.abs(b) @ np.abs(a))) + 1e-30
        worst = max(worst, (np.abs(want - w) / bound).max())
    ok = worst <= 1.0
    failures += not ok
    print(f"{'ok  ' if ok else 'FAIL'} numpy: {len(modules)} modules, merged = base + (alpha/r) B A within {worst:.2f} of the bound"
          f" (storage rounding {rel:.2e} relative + 1e-6 of the terms; final/ in {'bf16' if stored_bf16 else 'fp32'})")
    try:
        import torch
        from peft import PeftConfig, PeftModel
    except ImportError as e:
        print(f"skip PEFT: {e}")
        return 1 if failures else 0
    root = torch.nn.Module()
    for m in modules:
        parent = root
        parts = m.split(".")
        for p in parts[:-1]:
            if not hasattr(parent, p):
                parent.add_module(p, torch.nn.Module())
            parent = getattr(parent, p)
        out_f, in_f = bases[m].shape
        lin = torch.nn.Linear(in_f, out_f, bias=False, dtype=torch.float64)
        lin.weight.data = torch.tensor(bases[m])
        parent.add_module(parts[-1], lin)
    # An extra module of the same kind the pattern must leave alone.
    root.add_module("lm_head", torch.nn.Linear(4, 4, bias=False, dtype=torch.float64))
    # The adapter says CAUSAL_LM (for transformers' models); this stand-in is a bare module tree, so load it
    # with the task left out, as PEFT's own base class.
    config = PeftConfig.from_pretrained(str(adapter))
    config.task_type = None
    peft_model = PeftModel.from_pretrained(root, str(adapter), config=config, is_trainable=False)
    adapted = sorted(n[len("base_model.model."):] for n, mod in peft_model.named_modules()
                     if hasattr(mod, "lora_A") and n.startswith("base_model.model.") and len(mod.lora_A) > 0)
    same = adapted == modules
    failures += not same
    print(f"{'ok  ' if same else 'FAIL'} PEFT targets {len(adapted)} modules, the adapter has {len(modules)}")
    worst = 0.0
    gen = torch.Generator().manual_seed(0)
    for m in modules:
        mod = peft_model.get_submodule("base_model.model." + m)
        x = torch.randn(3, bases[m].shape[1], dtype=torch.float64, generator=gen)
        want = x @ torch.tensor(merged[f"{m}.weight"]).T
        with torch.no_grad():
            got = mod.to(torch.float64)(x)
        worst = max(worst, ((got - want).abs().max() / want.abs().max().clamp_min(1e-30)).item())
    ok = worst <= max(rel, 1e-5)
    failures += not ok
    print(f"{'ok  ' if ok else 'FAIL'} PEFT forward = x W_merged^T to {worst:.2e} (relative)")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])))
