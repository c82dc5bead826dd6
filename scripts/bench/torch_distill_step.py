#!/usr/bin/env python3
"""The distillation step that gsat2r.bench.DistillBench times, written in PyTorch + fla, timed
the same way on the same GPU: the baseline that issue 4 compares the CUDA backend with.

One step: the teacher's forward (transformers' LlamaForCausalLM, bf16 weights, SDPA attention, no grad),
the GSA student's forward and backward (fla 0.5.2's GSAForCausalLM built from the student's config.json as
t2r writes it; fp32 master weights under bf16 autocast, as t2r's backend keeps fp32 masters and computes in
bf16), KL(teacher || student) at tau = 1 over the whole vocabulary in fp32, gradient clipping at 1.0 and a
fused AdamW step on every student parameter. Also the teacher's forward alone. Random weights and random
tokens (only the shapes matter); CUDA events, median of the timed steps after warm-up.

fla is not a dependency of the project: carry its pure-Python package and put its parent on PYTHONPATH.
Its Triton kernels compile and autotune on the first step (minutes without a warm TRITON_CACHE_DIR).

    python3 scripts/bench/torch_distill_step.py --teacher T_DIR --student S_DIR --shapes 16x512,32x512 [--steps 10]

Prints one line per shape and a BENCH-STEP JSON line each.
"""
import argparse
import json
import os
import statistics
import sys
import time
import warnings


def build_teacher(d, torch):
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig.from_pretrained(d)
    cfg._attn_implementation = "sdpa"
    with torch.device("cuda"):
        m = LlamaForCausalLM(cfg).to(torch.bfloat16)
    return m.eval().requires_grad_(False)


def build_student(d, torch):
    from fla.models import GSAConfig, GSAForCausalLM
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    tied = bool(cfg.get("tie_word_embeddings", False))
    kwargs = {k: v for k, v in cfg.items() if k not in ("architectures", "model_type", "t2r", "dtype", "torch_dtype",
                                                         "transformers_version", "auto_map")}
    # fla 0.5.2 cannot build a tied GSA model under transformers 5 (docs/deploy.md): build it untied and tie by hand
    kwargs.update(tie_word_embeddings=False, fuse_cross_entropy=False, fuse_linear_cross_entropy=False)
    with torch.device("cuda"):
        m = GSAForCausalLM(GSAConfig(**kwargs)).float()
    if tied:
        m.lm_head.weight = m.model.embeddings.weight
    return m.train()


def events_median(fn, steps, warmup, torch):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    ms = []
    for _ in range(steps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ms.append(a.elapsed_time(b))
    return statistics.median(ms), min(ms), max(ms)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher", required=True)
    p.add_argument("--student", required=True)
    p.add_argument("--shapes", default="16x512")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--name", default=None)
    a = p.parse_args()
    import torch
    import torch.nn.functional as F
    warnings.filterwarnings("ignore")
    name = a.name or os.path.basename(os.path.normpath(a.teacher))
    t0 = time.time()
    teacher = build_teacher(a.teacher, torch)
    student = build_student(a.student, torch)
    vocab = teacher.config.vocab_size
    opt = torch.optim.AdamW(student.parameters(), lr=3e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0, fused=True)
    print(f"{name}: teacher {sum(x.numel() for x in teacher.parameters()) / 1e6:.1f}M bf16, "
          f"student {sum(x.numel() for x in student.parameters()) / 1e6:.1f}M fp32 masters, built in {time.time() - t0:.1f} s",
          flush=True)
    for shape in a.shapes.split(","):
        B, T = (int(x) for x in shape.split("x"))
        gen = torch.Generator(device="cuda").manual_seed(0)
        ids = torch.randint(0, vocab, (B, T), device="cuda", generator=gen)

        def step():
            with torch.no_grad():
                zt = teacher(input_ids=ids, use_cache=False).logits
            with torch.autocast("cuda", dtype=torch.bfloat16):
                zs = student(input_ids=ids, use_cache=False).logits
            loss = F.kl_div(F.log_softmax(zs.float().view(-1, vocab), -1), F.log_softmax(zt.float().view(-1, vocab), -1),
                            log_target=True, reduction="sum") / (B * T)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)

        def teacher_forward():
            with torch.no_grad():
                teacher(input_ids=ids, use_cache=False).logits

        t1 = time.time()
        torch.cuda.reset_peak_memory_stats()
        med, lo, hi = events_median(step, a.steps, a.warmup, torch)
        peak = torch.cuda.max_memory_allocated()
        tmed, tlo, thi = events_median(teacher_forward, a.steps, 2, torch)
        tok = B * T
        print(f"{name} B={B} T={T}: PyTorch+fla distill step median {med:.2f} ms (min {lo:.2f}, max {hi:.2f}) = "
              f"{tok / med * 1e3:,.0f} tokens/s, peak {peak / 2**30:.1f} GiB; teacher forward {tmed:.2f} ms = "
              f"{tok / tmed * 1e3:,.0f} tokens/s ({time.time() - t1:.0f} s with warm-up)", flush=True)
        print("BENCH-STEP " + json.dumps({"impl": "pytorch+fla", "model": name, "B": B, "T": T, "step_ms": round(med, 3),
                                          "tokens_per_s": round(tok / med * 1e3), "teacher_forward_ms": round(tmed, 3),
                                          "teacher_tokens_per_s": round(tok / tmed * 1e3), "peak_gib": round(peak / 2**30, 2)}),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
