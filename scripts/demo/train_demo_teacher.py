"""Trains the demo teacher that gsa-t2r ships: a Llama-3-architecture model on the King James
Bible (public domain; data/kjv made by scripts/make-kjv-corpus.sh). Run on the GPU machine
(torch, transformers, tokenizers); about a minute on an H100.

  OUT/config.json, generation_config.json, model.safetensors (bf16), tokenizer.json,
  tokenizer_config.json, reference.json (transformers fp32 outputs for three prompts, same
  layout as ../shared/models/tiny-llama/reference.json), training.json (the run's record)

usage: python3 train_demo_teacher.py data/kjv OUT
"""
import json, lzma, math, os, sys, time
import torch
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM

data, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
torch.manual_seed(20261124)
train_docs = [json.loads(l)["text"] for l in lzma.open(os.path.join(data, "train.jsonl.xz"), "rt", encoding="utf-8")]
valid_docs = [json.loads(l)["text"] for l in open(os.path.join(data, "validation.jsonl"), encoding="utf-8")]

# ---------------------------------------------------------------- tokenizer: Llama-3 style byte-level BPE
VOCAB = 4096
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
tok = Tokenizer(models.BPE(byte_fallback=False))
tok.pre_tokenizer = pre_tokenizers.Sequence([
    pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
    pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<|begin_of_text|>", "<|end_of_text|>"],
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
tok.train_from_iterator(train_docs, trainer)
tok.post_processor = processors.Sequence([
    processors.ByteLevel(trim_offsets=False),
    processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                  special_tokens=[("<|begin_of_text|>", 0)])])
assert tok.token_to_id("<|begin_of_text|>") == 0 and tok.token_to_id("<|end_of_text|>") == 1
tok.save(os.path.join(out, "tokenizer.json"))
json.dump({"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>", "model_max_length": 2048,
           "tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False},
          open(os.path.join(out, "tokenizer_config.json"), "w"), indent=2)


def encode_docs(docs):
    ids = []
    for e in tok.encode_batch(docs):
        ids.extend(e.ids)      # BOS from the post-processor
        ids.append(1)          # EOS between documents
    return torch.tensor(ids, dtype=torch.int64)


train_ids, valid_ids = encode_docs(train_docs), encode_docs(valid_docs)
print(f"tokens: train {len(train_ids):,} valid {len(valid_ids):,}", flush=True)

# ---------------------------------------------------------------- model
cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=256, intermediate_size=768, num_hidden_layers=4,
                  num_attention_heads=4, num_key_value_heads=2, head_dim=64, max_position_embeddings=2048,
                  rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=0, eos_token_id=1,
                  rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
dev = "cuda"
model = LlamaForCausalLM(cfg).to(dev)
params = sum(p.numel() for p in model.parameters())
print(f"params {params:,}", flush=True)

SEQ, BATCH, STEPS, WARMUP, LR = 512, 64, 900, 60, 3e-3
opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.95), weight_decay=0.1)
gen = torch.Generator().manual_seed(1)


def batch(ids, n):
    starts = torch.randint(0, len(ids) - SEQ - 1, (n,), generator=gen)
    x = torch.stack([ids[s:s + SEQ + 1] for s in starts]).to(dev)
    return x[:, :-1], x[:, 1:]


@torch.no_grad()
def validate():
    model.eval()
    losses = []
    for s in range(0, len(valid_ids) - SEQ - 1, SEQ):
        x = valid_ids[s:s + SEQ + 1].to(dev)[None]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(x[:, :-1]).logits.float()
        losses.append(torch.nn.functional.cross_entropy(logits[0], x[0, 1:]).item())
    model.train()
    return sum(losses) / len(losses)


best, best_state, log = float("inf"), None, []
t0 = time.time()
for step in range(1, STEPS + 1):
    lr = LR * step / WARMUP if step <= WARMUP else LR * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - WARMUP) / (STEPS - WARMUP))))
    for gp in opt.param_groups: gp["lr"] = lr
    x, y = batch(train_ids, BATCH)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits = model(x).logits.float()
    loss = torch.nn.functional.cross_entropy(logits.view(-1, VOCAB), y.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    if step % 50 == 0 or step == STEPS:
        v = validate()
        log.append({"step": step, "train_loss": loss.item(), "valid_loss": v, "lr": lr, "seconds": time.time() - t0})
        print(log[-1], flush=True)
        if v < best:
            best, best_state = v, {k: t.detach().clone() for k, t in model.state_dict().items()}

model.load_state_dict(best_state)
model = model.to(torch.bfloat16).cpu()
model.generation_config.bos_token_id, model.generation_config.eos_token_id = 0, 1
model.save_pretrained(out, safe_serialization=True)

# ---------------------------------------------------------------- reference outputs (fp32 from the bf16 weights)
ref = LlamaForCausalLM.from_pretrained(out).float().eval()
prompts = ["In the beginning God created", "And the LORD spake unto Moses, saying,", "Blessed are the"]
recs = []
with torch.no_grad():
    for p in prompts:
        ids = tok.encode(p).ids
        logits = ref(torch.tensor([ids])).logits[0].float()
        g = list(ids)
        for _ in range(40):
            g.append(int(torch.argmax(ref(torch.tensor([g])).logits[0, -1])))
        recs.append({"prompt": p, "ids": ids, "logits_last": logits[-1].tolist(),
                     "argmax": logits.argmax(-1).tolist(), "logsumexp": torch.logsumexp(logits, -1).tolist(),
                     "greedy_40": g, "greedy_text": tok.decode(g[len(ids):])})
        print(p, "->", recs[-1]["greedy_text"], flush=True)
json.dump({"params": params, "validation_loss": best, "validation_perplexity": math.exp(best), "prompts": recs},
          open(os.path.join(out, "reference.json"), "w"))
json.dump({"script": "scripts/demo/train_demo_teacher.py", "corpus": "data/kjv (King James Bible, public domain)",
           "train_tokens": len(train_ids), "valid_tokens": len(valid_ids), "seq": SEQ, "batch": BATCH, "steps": STEPS,
           "lr": LR, "best_valid_loss": best, "torch": torch.__version__, "log": log},
          open(os.path.join(out, "training.json"), "w"), indent=1)
for f in sorted(os.listdir(out)):
    print(f, os.path.getsize(os.path.join(out, f)))
