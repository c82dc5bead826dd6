#!/usr/bin/env python3
"""fla's chunk_gsa and PyTorch's scaled_dot_product_attention (flash backend), bf16, timed at the
shapes gsat2r.bench.GsaBench times ours, with the same inputs' distribution and the same
timing (CUDA events, warm-up, median of batches of >= 5 ms). Prints BENCH-JSON lines for
scripts/bench/compare.py.

fla is not a dependency of the project: carry its pure-Python package (v0.5.2) and put its parent
folder on PYTHONPATH. Its Triton kernels compile and autotune on their first call (minutes); run
once with --warm and keep TRITON_CACHE_DIR.

    PYTHONPATH=.carry python3 scripts/bench/fla_bench.py [--warm] [--deadline SECONDS] [--only gsa|attention]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

GSA_SHAPES = [  # name, B, T, H, K, V, M  (H == Hkv)
    ("gsa B4 T2048 H32 K128 V128 M64", 4, 2048, 32, 128, 128, 64),
    ("gsa B8 T2048 H4 K512 V512 M64", 8, 2048, 4, 512, 512, 64),
    ("gsa B16 T512 H6 K64 V64 M64", 16, 512, 6, 64, 64, 64),
]
ATTN_SHAPES = [  # name, B, T, H, Hkv, D
    ("attn tiny-llama B16 T512 H6/2 D64", 16, 512, 6, 2, 64),
    ("attn llama-3.2-1b B4 T2048 H32/8 D64", 4, 2048, 32, 8, 64),
]


def emit(impl, name, ms, note=""):
    print("BENCH-JSON " + json.dumps({"impl": impl, "name": name, "ms": round(ms, 5), "note": note}), flush=True)


def timed(fn, warmup=3, reps=15):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    inner = 1
    while True:
        start.record()
        for _ in range(inner):
            fn()
        stop.record()
        stop.synchronize()
        if start.elapsed_time(stop) >= 5.0 or inner >= 256:
            break
        inner *= 2
    ms = []
    for _ in range(reps):
        start.record()
        for _ in range(inner):
            fn()
        stop.record()
        stop.synchronize()
        ms.append(start.elapsed_time(stop) / inner)
    return statistics.median(ms)


def gsa_inputs(B, T, H, K, V, M, grad):
    torch.manual_seed(0)
    dev, bf = "cuda", torch.bfloat16
    q = torch.randn(B, T, H, K, device=dev, dtype=bf)
    k = torch.randn(B, T, H, K, device=dev, dtype=bf)
    v = torch.randn(B, T, H, V, device=dev, dtype=bf)
    g = torch.empty(B, T, H, M, device=dev, dtype=bf).uniform_(-0.6, -0.001)
    s = torch.empty(B, T, H, M, device=dev, dtype=bf).uniform_(0.001, 0.45)
    xs = [q, k, v, s, g]
    if grad:
        for x in xs:
            x.requires_grad_(True)
    return xs


WARMED = os.path.join(os.environ.get("TRITON_CACHE_DIR", "/tmp"), "fla-warmed.txt")


def warmed():
    try:
        with open(WARMED) as f:
            return {line.strip() for line in f}
    except FileNotFoundError:
        return set()


def bench_gsa(warm, deadline, t0, cold):
    from fla.ops.gsa import chunk_gsa
    done = warmed()
    for name, B, T, H, K, V, M in GSA_SHAPES:
        if time.time() - t0 > deadline:
            print(f"skipped {name}: past the deadline of {deadline} s", flush=True)
            continue
        if warm and name in done:
            print(f"already warm: {name}", flush=True)
            continue
        if not warm and name not in done and not cold:
            print(f"skipped {name}: fla not warmed for it (its first call compiles for minutes)", flush=True)
            continue
        q, k, v, s, g = gsa_inputs(B, T, H, K, V, M, True)
        do = torch.randn(B, T, H, V, device="cuda", dtype=torch.bfloat16)

        def fwd():
            with torch.no_grad():
                chunk_gsa(q, k, v, s, g, scale=1.0)

        def fwd_bwd():
            for x in (q, k, v, s, g):
                x.grad = None
            o, _ = chunk_gsa(q, k, v, s, g, scale=1.0)
            o.backward(do)

        if warm:
            a = time.time()
            fwd_bwd()
            fwd()
            torch.cuda.synchronize()
            print(f"warmed {name} in {time.time() - a:.1f} s", flush=True)
            with open(WARMED, "a") as f:
                f.write(name + "\n")
            continue
        emit("fla", name + " fwd", timed(fwd))
        emit("fla", name + " fwd+bwd", timed(fwd_bwd))
        del q, k, v, s, g, do
        torch.cuda.empty_cache()


def bench_attention():
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    for name, B, T, H, Hkv, D in ATTN_SHAPES:
        torch.manual_seed(0)
        q = torch.randn(B, H, T, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        k = torch.randn(B, Hkv, T, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        v = torch.randn(B, Hkv, T, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        do = torch.randn(B, H, T, D, device="cuda", dtype=torch.bfloat16)
        note = "flash backend, enable_gqa"
        gqa = {"enable_gqa": True}
        try:
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                F.scaled_dot_product_attention(q, k, v, is_causal=True, **gqa)
        except RuntimeError:
            # The flash backend may not take grouped kv heads: repeat them (outside the timed call).
            k = k.detach().repeat_interleave(H // Hkv, dim=1).requires_grad_(True)
            v = v.detach().repeat_interleave(H // Hkv, dim=1).requires_grad_(True)
            gqa, note = {}, "flash backend, kv heads repeated"

        def fwd():
            with torch.no_grad(), sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                F.scaled_dot_product_attention(q, k, v, is_causal=True, **gqa)

        def fwd_bwd():
            for x in (q, k, v):
                x.grad = None
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                o = F.scaled_dot_product_attention(q, k, v, is_causal=True, **gqa)
            o.backward(do)

        emit("sdpa", name + " fwd", timed(fwd, 5), note)
        emit("sdpa", name + " fwd+bwd", timed(fwd_bwd, 5), note)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--warm", action="store_true", help="only compile and autotune fla's kernels")
    ap.add_argument("--deadline", type=float, default=1e9, help="start no new GSA shape after this many seconds")
    ap.add_argument("--only", choices=["gsa", "attention"], default=None)
    ap.add_argument("--cold", action="store_true", help="also time GSA shapes that were not warmed")
    a = ap.parse_args()
    t0 = time.time()
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}", flush=True)
    if a.only in (None, "attention") and not a.warm:
        bench_attention()
    if a.only in (None, "gsa"):
        bench_gsa(a.warm, a.deadline, t0, a.cold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
