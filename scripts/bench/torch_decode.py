#!/usr/bin/env python3
"""Decoding speed in PyTorch, the reference for gsat2r.gpumodels.DecodeBench: the same models' shapes (read from the
config.json files DecodeBench wrote, or Llama-3.2-1B's with a vocabulary of 8192), random bf16 weights, one token of each
of B sequences per step at context C, in a hand-written static-cache loop (no fla, no torch.compile):

  teacher  Llama: RMSNorm, q/k/v projections, RoPE (rotate_half), the new key and value written into a preallocated
           [B, Hkv, C + 1, D] cache, SDPA over the whole static cache (every row visible: the cache ends at the new
           token, so no mask, and the flash backend applies; GQA by enable_gqa), o_proj, SwiGLU MLP, head;
  student  GSA: the projections, silu feature maps, gates g = logsigmoid(f)/tau, s = 1 - exp(g), both recurrences on
           an fp32 [B, Hkv, K, M] / [B, Hkv, M, V] state updated in place, slot softmax, read, output norm gate.

Each step is captured once in a CUDA graph (torch.cuda.CUDAGraph) and replayed, so the comparison is with PyTorch at
its best without a compiler; where capture fails the eager step is timed instead (mode=eager). Caches hold zeros up to
position C (the speed of a step does not depend on the values), as in DecodeBench. Timing: CUDA events around each
replay, median after warm-up.

  python3 scripts/bench/torch_decode.py [--teacher DIR] [--student DIR] [--contexts 512,4096,32768]
      [--batches 1,64,256] [--steps 16] [--warmup 3] [--models teacher,student]

Prints one line per case: TORCH-DECODE <model> ctx=C batch=B ms=... tokens_per_s=... mode=graph|eager
"""
import argparse
import json
import math
import os
import statistics
import sys

import torch
import torch.nn.functional as F

DEV = "cuda"
DT = torch.bfloat16


def load_config(path, default):
    if path and os.path.isfile(os.path.join(path, "config.json")):
        with open(os.path.join(path, "config.json")) as f:
            return {**default, **json.load(f)}
    return dict(default)


LLAMA_1B = dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8, head_dim=64,
                intermediate_size=8192, vocab_size=8192, rms_norm_eps=1e-5, rope_theta=500000.0)
GSA_1B = dict(hidden_size=2048, num_hidden_layers=16, num_heads=32, num_kv_heads=8, num_slots=64, expand_k=1.0, expand_v=1.0,
              intermediate_size=8192, vocab_size=8192, norm_eps=1e-5, gate_logit_normalizer=8.0)


def rand(*shape, std=0.02):
    return (torch.randn(*shape, device=DEV, dtype=torch.float32) * std).to(DT)


def rmsnorm(x, w, eps):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(DT) * w


class Mlp:
    def __init__(self, d, i):
        self.norm, self.gate, self.up, self.down = torch.ones(d, device=DEV, dtype=DT), rand(i, d), rand(i, d), rand(d, i)

    def __call__(self, h, eps):
        x = rmsnorm(h, self.norm, eps)
        return h + F.linear(F.silu(F.linear(x, self.gate)) * F.linear(x, self.up), self.down)


class Teacher:
    def __init__(self, c):
        self.d, self.L, self.H, self.Hkv = c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"], c["num_key_value_heads"]
        self.D = c.get("head_dim") or self.d // self.H
        self.eps, self.V = c["rms_norm_eps"], c["vocab_size"]
        theta = (c.get("rope_parameters") or {}).get("rope_theta", c.get("rope_theta", 10000.0))
        self.inv = 1.0 / (theta ** (torch.arange(0, self.D, 2, device=DEV, dtype=torch.float32) / self.D))
        self.emb, self.norm = rand(self.V, self.d), torch.ones(self.d, device=DEV, dtype=DT)
        self.layers = [dict(norm=torch.ones(self.d, device=DEV, dtype=DT), q=rand(self.H * self.D, self.d), k=rand(self.Hkv * self.D, self.d),
                            v=rand(self.Hkv * self.D, self.d), o=rand(self.d, self.H * self.D), mlp=Mlp(self.d, c["intermediate_size"]))
                       for _ in range(self.L)]

    def state(self, B, cmax):
        return [(torch.zeros(B, self.Hkv, cmax, self.D, device=DEV, dtype=DT), torch.zeros(B, self.Hkv, cmax, self.D, device=DEV, dtype=DT))
                for _ in range(self.L)]

    def rope(self, x, pos):
        ang = pos.float()[:, None] * self.inv[None, :]                        # [B, D/2]
        cos, sin = torch.cat([ang.cos(), ang.cos()], -1)[:, None, :], torch.cat([ang.sin(), ang.sin()], -1)[:, None, :]
        x1, x2 = x[..., : self.D // 2], x[..., self.D // 2:]
        return (x.float() * cos + torch.cat([-x2, x1], -1).float() * sin).to(DT)

    def step(self, ids, pos, caches):
        """ids [B], pos [B]: the new token's position, the last row of the caches."""
        B = ids.shape[0]
        h = self.emb[ids]
        for lw, (kc, vc) in zip(self.layers, caches):
            x = rmsnorm(h, lw["norm"], self.eps)
            q = self.rope(F.linear(x, lw["q"]).view(B, self.H, self.D), pos)
            k = self.rope(F.linear(x, lw["k"]).view(B, self.Hkv, self.D), pos)
            v = F.linear(x, lw["v"]).view(B, self.Hkv, self.D)
            idx = pos.view(B, 1, 1, 1).expand(B, self.Hkv, 1, self.D)
            kc.scatter_(2, idx, k.unsqueeze(2))
            vc.scatter_(2, idx, v.unsqueeze(2))
            a = F.scaled_dot_product_attention(q.unsqueeze(2), kc, vc, enable_gqa=True)
            h = h + F.linear(a.reshape(B, self.H * self.D), lw["o"])
            h = lw["mlp"](h, self.eps)
        return F.linear(rmsnorm(h, self.norm, self.eps), self.emb).float()


class Student:
    def __init__(self, c):
        self.d, self.L, self.H, self.Hkv, self.M = c["hidden_size"], c["num_hidden_layers"], c["num_heads"], c["num_kv_heads"], c["num_slots"]
        self.K = int(self.d * c["expand_k"]) // self.H
        self.Vd = int(self.d * c["expand_v"]) // self.H
        self.tau, self.eps, self.V = c["gate_logit_normalizer"], c["norm_eps"], c["vocab_size"]
        self.emb, self.norm = rand(self.V, self.d), torch.ones(self.d, device=DEV, dtype=DT)
        self.layers = [dict(norm=torch.ones(self.d, device=DEV, dtype=DT), q=rand(self.H * self.K, self.d), k=rand(self.Hkv * self.K, self.d),
                            v=rand(self.Hkv * self.Vd, self.d), f=rand(self.Hkv * self.M, self.d), g=torch.ones(self.H * self.Vd, device=DEV, dtype=DT),
                            o=rand(self.d, self.H * self.Vd), mlp=Mlp(self.d, c["intermediate_size"])) for _ in range(self.L)]

    def state(self, B, cmax):
        return [(torch.zeros(B, self.Hkv, self.K, self.M, device=DEV), torch.zeros(B, self.Hkv, self.M, self.Vd, device=DEV))
                for _ in range(self.L)]

    def step(self, ids, pos, states):
        B, G = ids.shape[0], self.H // self.Hkv
        h = self.emb[ids]
        for lw, (hk, hv) in zip(self.layers, states):
            x = rmsnorm(h, lw["norm"], self.eps)
            q = F.silu(F.linear(x, lw["q"])).float().view(B, self.Hkv, G, self.K)
            k = F.silu(F.linear(x, lw["k"])).float().view(B, self.Hkv, self.K)
            v = F.silu(F.linear(x, lw["v"])).float().view(B, self.Hkv, self.Vd)
            g = F.logsigmoid(F.linear(x, lw["f"]).float()).view(B, self.Hkv, self.M) / self.tau
            decay, s = g.exp(), 1 - g.exp()
            hk.mul_(decay[:, :, None, :]).add_(k[:, :, :, None] * s[:, :, None, :])
            hv.mul_(decay[:, :, :, None]).add_(s[:, :, :, None] * v[:, :, None, :])
            p = torch.softmax(torch.einsum("bhgk,bhkm->bhgm", q, hk), -1)
            o = torch.einsum("bhgm,bhmv->bhgv", p, hv).reshape(B, self.H * self.Vd)
            y = rmsnorm(F.silu(o).to(DT), lw["g"], 1e-5)
            h = h + F.linear(y, lw["o"])
            h = lw["mlp"](h, self.eps)
        return F.linear(rmsnorm(h, self.norm, self.eps), self.emb).float()


def bench(model, kind, C, B, steps, warmup):
    cmax = C + 1
    free = torch.cuda.mem_get_info()[0]
    if kind == "teacher":
        need = 2 * model.L * B * model.Hkv * cmax * model.D * 2
    else:
        need = model.L * B * model.Hkv * model.M * (model.K + model.Vd) * 4
    if need > 0.8 * free:
        print(f"TORCH-DECODE {kind} ctx={C} batch={B} skipped: its state needs {need / 1e9:.1f} GB, {free / 1e9:.1f} GB free", flush=True)
        return
    state = model.state(B, cmax)
    ids = torch.randint(1, model.V, (B,), device=DEV)
    pos = torch.full((B,), C, device=DEV, dtype=torch.long)
    times, mode = [], "graph"
    with torch.no_grad():
        try:
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(2):
                    model.step(ids, pos, state)
            torch.cuda.current_stream().wait_stream(s)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                model.step(ids, pos, state)
            run = graph.replay
        except Exception as e:  # capture refused: time the eager step
            print(f"# {kind} ctx={C} batch={B}: CUDA graph capture failed ({type(e).__name__}: {e}); eager", file=sys.stderr, flush=True)
            mode = "eager"
            run = lambda: model.step(ids, pos, state)
        for i in range(warmup + steps):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            run()
            b.record()
            torch.cuda.synchronize()
            if i >= warmup:
                times.append(a.elapsed_time(b))
    ms = statistics.median(times)
    print(f"TORCH-DECODE {kind} ctx={C} batch={B} ms={ms:.3f} tokens_per_s={B * 1000 / ms:.0f} mode={mode}", flush=True)
    del state
    torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--teacher")
    ap.add_argument("--student")
    ap.add_argument("--contexts", default="512,4096,32768")
    ap.add_argument("--batches", default="1,64,256")
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--models", default="teacher,student")
    a = ap.parse_args()
    torch.manual_seed(0)
    print(f"# torch {torch.__version__}, {torch.cuda.get_device_name()}", flush=True)
    for kind in a.models.split(","):
        model = Teacher(load_config(a.teacher, LLAMA_1B)) if kind == "teacher" else Student(load_config(a.student, GSA_1B))
        for C in map(int, a.contexts.split(",")):
            for B in map(int, a.batches.split(",")):
                try:
                    bench(model, kind, C, B, a.steps, a.warmup)
                except torch.cuda.OutOfMemoryError as e:
                    print(f"TORCH-DECODE {kind} ctx={C} batch={B} skipped: out of memory ({str(e).splitlines()[0]})", flush=True)
                    torch.cuda.empty_cache()
        del model
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
