#!/usr/bin/env bash
# Builds the project's licence-clean demo corpus: the King James Version of the Bible (1611,
# public domain), one JSON document per chapter, from Debian's `bible-kjv` package.
#   data/kjv/train.jsonl.xz     1160 chapters
#   data/kjv/validation.jsonl   every 40th chapter (29 chapters), never seen in training
# Needs: apt-get install bible-kjv (provides /usr/bin/bible and the text), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v bible >/dev/null || { echo "error: the 'bible' program is missing: apt-get install bible-kjv" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
bible -f "Gen1:1-Rev22:21" > "$tmp/kjv.txt"
python3 - "$tmp/kjv.txt" data/kjv <<'PY'
import json, re, sys, os
src, out = sys.argv[1], sys.argv[2]
chapters, order = {}, []
for line in open(src, encoding="utf-8"):
    m = re.match(r"^(\S+?)(\d+):(\d+) (.*)$", line.rstrip("\n"))
    if not m:
        raise SystemExit(f"unexpected line: {line!r}")
    key = f"{m.group(1)}{m.group(2)}"
    if key not in chapters:
        chapters[key] = []
        order.append(key)
    chapters[key].append(m.group(4).strip())
train, valid = [], []
for i, key in enumerate(order):
    doc = {"text": " ".join(chapters[key]), "source": f"kjv:{key}"}
    (valid if i % 40 == 39 else train).append(doc)
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "train.jsonl"), "w", encoding="utf-8") as f:
    for d in train: f.write(json.dumps(d, ensure_ascii=False) + "\n")
with open(os.path.join(out, "validation.jsonl"), "w", encoding="utf-8") as f:
    for d in valid: f.write(json.dumps(d, ensure_ascii=False) + "\n")
print(f"{len(order)} chapters: {len(train)} train, {len(valid)} validation")
PY
xz -9 -f data/kjv/train.jsonl
ls -l data/kjv
