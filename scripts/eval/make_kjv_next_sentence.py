#!/usr/bin/env python3
"""Builds data/kjv/next-sentence.jsonl, the example multiple-choice task of `t2r eval --tasks mc:FILE`.

Each item gives two consecutive sentences of a held-out KJV chapter (data/kjv/validation.jsonl, public
domain) as the context and asks which of four sentences comes next: the real next sentence, or one
of three sentences drawn from other held-out chapters with about the same length (within a factor of
1.5, so that length alone does not give the answer away). The order of the choices is random; "label"
is the index of the real one. Deterministic: the same input gives the same file.

    python3 scripts/eval/make_kjv_next_sentence.py [--items 200] [--seed 0]

Standard library only. Line format (what t2r eval reads; "source" is for people):
    {"context": "...", "choices": ["...", "...", "...", "..."], "label": 2, "source": "kjv:Gen40"}
"""
import argparse
import json
import os
import random
import re

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z])")


def sentences(text):
    return [s.strip() for s in SENTENCE_END.split(text) if 20 <= len(s.strip()) <= 300]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", default=os.path.join(ROOT, "data", "kjv", "validation.jsonl"))
    ap.add_argument("--output", default=os.path.join(ROOT, "data", "kjv", "next-sentence.jsonl"))
    ap.add_argument("--items", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    chapters = []
    with open(args.input, encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            chapters.append((doc.get("source", "kjv"), sentences(doc["text"])))
    rnd = random.Random(args.seed)

    # Every (chapter, position) whose two sentences before and the next one are all kept, in a random order.
    candidates = [(c, i) for c, (_, s) in enumerate(chapters) for i in range(2, len(s))]
    rnd.shuffle(candidates)
    items = []
    for c, i in candidates:
        if len(items) == args.items:
            break
        source, sents = chapters[c]
        answer = sents[i]
        others = [s for d, (_, ss) in enumerate(chapters) if d != c for s in ss
                  if len(answer) / 1.5 <= len(s) <= len(answer) * 1.5 and s != answer]
        if len(others) < 3:
            continue
        choices = rnd.sample(others, 3) + [answer]
        rnd.shuffle(choices)
        items.append({"context": sents[i - 2] + " " + sents[i - 1], "choices": choices,
                      "label": choices.index(answer), "source": source})

    with open(args.output, "w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(f"{len(items)} items from {len(chapters)} chapters -> {os.path.relpath(args.output, ROOT)}")


if __name__ == "__main__":
    main()
