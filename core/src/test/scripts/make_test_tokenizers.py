#!/usr/bin/env python3
"""Writes the two small tokenizer.json files used by the tokenizer tests.

They are real Hugging Face tokenizers (the `tokenizers` library and DJL load them), trained here by
plain BPE on a few verses of the King James Bible (public domain), so that the tests need neither
the network nor ../shared:

  byte-level-bpe/      Llama 3 style: Split(regex) + ByteLevel pre-tokenizer, ByteLevel decoder,
                       BOS <|begin_of_text|> added by a TemplateProcessing post-processor,
                       specials after the merged vocabulary (like Llama 3's 128000+).
  sentencepiece-bpe/   Llama 2 / Mistral style: Metaspace pre-tokenizer (prepend "first"), BPE with
                       byte_fallback (<0x00>..<0xFF>), decoder Replace+ByteFallback+Fuse+Strip,
                       <unk>=0 <s>=1 </s>=2, BOS <s> added by TemplateProcessing.

Beside each tokenizer, expected.json holds the ids of a few texts as computed by the small BPE
encoder below (written from the algorithm's description, not from the Rust code): the independent
reference that the Java tests compare DJL's ids with.

Run: python3 core/src/test/scripts/make_test_tokenizers.py  (writes under core/src/test/resources;
needs the `regex` module for Llama 3's \\p{L} split pattern). Deterministic: same inputs, same files.
"""
import collections
import json
import os
import re

import regex

CORPUS = """In the beginning God created the heaven and the earth.
And the earth was without form, and void; and darkness was upon the face of the deep.
And the Spirit of God moved upon the face of the waters.
And God said, Let there be light: and there was light.
And God saw the light, that it was good: and God divided the light from the darkness.
And God called the light Day, and the darkness he called Night.
And the evening and the morning were the first day.
And God said, Let there be a firmament in the midst of the waters,
and let it divide the waters from the waters.
And God made the firmament, and divided the waters which were under the firmament
from the waters which were above the firmament: and it was so.
And God called the firmament Heaven. And the evening and the morning were the second day.
Jesus wept. Blessed are the meek: for they shall inherit the earth.
QUICK ZEPHYRS BLOW, VEXING DAFT JIM! 0123456789 #$%&'()*+,-./:;<=>?@[\\]^_`{|}~
"""

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resources", "gsat2r", "core", "tokenizer")


def bytes_to_unicode():
    """GPT-2's reversible map from the 256 byte values to printable unicode characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def learn_merges(words, n_merges):
    """Plain BPE: repeatedly merge the most frequent adjacent pair (ties broken by the pair itself)."""
    counts = collections.Counter(tuple(w) for w in words)
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in counts.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], [-ord(ch) for ch in kv[0][0] + kv[0][1]]))[0]
        if pairs[best] < 2:
            break
        merges.append(best)
        merged = collections.Counter()
        for w, c in counts.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] += c
        counts = merged
    return merges


def added(id_, content):
    return {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


def template(bos, bos_id):
    return {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}},
    }


def byte_level():
    b2u = bytes_to_unicode()
    # Llama 3's split pattern, approximated with Python's re for training only (the tokenizer
    # itself uses the real pattern below).
    words = ["".join(b2u[b] for b in w.encode("utf-8")) for w in re.findall(r" ?[A-Za-z]+| ?[0-9]| ?[^\sA-Za-z0-9]+|\s+", CORPUS)]
    merges = learn_merges(words, 300)
    vocab = {}
    for b in range(256):
        vocab[b2u[b]] = len(vocab)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    bos, eos = "<|begin_of_text|>", "<|end_of_text|>"
    n = len(vocab)
    split = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
             r"|\s*[\r\n]+|\s+(?!\S)|\s+")
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(n, bos), added(n + 1, eos)],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": split}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": template(bos, n),
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": True, "vocab": vocab, "merges": [[a, b] for a, b in merges]},
    }, {"bos_token": bos, "eos_token": eos, "model_max_length": 131072,
        "tokenizer_class": "PreTrainedTokenizerFast"}


def sentencepiece():
    text = "▁" + CORPUS.replace(" ", "▁")
    words = [w for w in re.findall(r"▁?[^▁]*", text) if w]
    merges = learn_merges([list(w) for w in words], 300)
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for ch in sorted(set(text)):
        vocab.setdefault(ch, len(vocab))
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")],
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False},
        "post_processor": template("<s>", 1),
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True,
                  "ignore_merges": False, "vocab": vocab, "merges": [[a, b] for a, b in merges]},
    }, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": True,
        "add_eos_token": False, "model_max_length": 32768, "tokenizer_class": "LlamaTokenizer"}


TEXTS = [
    "In the beginning God created the heaven and the earth.",
    "And God said, Let there be light: and there was light.",
    "It's 12345 o'clock, isn't it?  Two  spaces\nand a newline.",
    "Caf\u00e9 na\u00efve \u4e2d\u6587 \U0001F600 done",
]


def apply_merges(symbols, ranks):
    """Merges the adjacent pair of lowest rank (leftmost first) until no pair has a rank."""
    symbols = list(symbols)
    while len(symbols) > 1:
        best = None
        for i in range(len(symbols) - 1):
            r = ranks.get((symbols[i], symbols[i + 1]))
            if r is not None and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            break
        i = best[1]
        symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]
    return symbols


def reference_ids(tokenizer, text):
    model = tokenizer["model"]
    vocab = model["vocab"]
    ranks = {tuple(m): r for r, m in enumerate(model["merges"])}
    ids = []
    if model["byte_fallback"]:          # Metaspace(prepend "first", split false): one word
        word = text.replace(" ", "\u2581")
        if not word.startswith("\u2581"):
            word = "\u2581" + word
        symbols = []
        for ch in word:
            if ch in vocab:
                symbols.append(ch)
            else:
                symbols.extend("<0x%02X>" % b for b in ch.encode("utf-8"))
        ids = [vocab[t] for t in apply_merges(symbols, ranks)]
    else:                               # Split(regex, Isolated) + ByteLevel
        b2u = bytes_to_unicode()
        pattern = tokenizer["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"]
        for piece in regex.findall(pattern, text):
            word = "".join(b2u[b] for b in piece.encode("utf-8"))
            if model["ignore_merges"] and word in vocab:
                ids.append(vocab[word])
            else:
                ids.extend(vocab[t] for t in apply_merges(word, ranks))
    bos = tokenizer["post_processor"]["special_tokens"]
    bos_id = next(iter(bos.values()))["ids"][0]
    return {"text": text, "ids": [bos_id] + ids, "plain_ids": ids}


def write(name, tokenizer, config):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False, indent=1)
        f.write("\n")
    with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=1)
        f.write("\n")
    with open(os.path.join(d, "expected.json"), "w", encoding="utf-8") as f:
        cases = [json.dumps(reference_ids(tokenizer, t), ensure_ascii=False) for t in TEXTS]
        f.write("[\n" + ",\n".join(cases) + "\n]\n")
    print(name, "vocab", len(tokenizer["model"]["vocab"]), "merges", len(tokenizer["model"]["merges"]))


if __name__ == "__main__":
    write("byte-level-bpe", *byte_level())
    write("sentencepiece-bpe", *sentencepiece())
