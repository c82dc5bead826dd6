#!/usr/bin/env python3
"""Writes the Parquet fixtures of the datasets module's tests, the way Hugging Face publishes datasets.

Each fixture is written by `datasets` (Dataset.to_parquet: Snappy, dictionary encoding, content-defined
chunking, page index) or by pyarrow directly for the variants `datasets` never writes (several row
groups, gzip, data page v2, no dictionary), together with a JSON-lines file of the same rows that the
Java test compares against. The rows are made up here (licence-clean).

    python3 -m venv /tmp/v && /tmp/v/bin/pip install datasets pyarrow
    /tmp/v/bin/python scripts/datasets/make_parquet_fixtures.py datasets/src/test/resources/gsat2r/datasets
"""
import json
import sys
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

ROWS = [
    {"id": "Mercury_7175875", "question": "Which of these do the heavens declare?",
     "choices": {"text": ["the glory of God", "the height of the hills", "the depth of the sea", "nothing"],
                 "label": ["A", "B", "C", "D"]},
     "answerKey": "A", "endings": ["one", "two"], "label": 0, "score": 0.25, "flag": True, "note": None},
    {"id": "row-2", "question": "Naïve café – “quotes”, emoji 🙂 and a\nnewline",
     "choices": {"text": ["x", "y", "z"], "label": ["1", "2", "3"]},
     "answerKey": "3", "endings": [], "label": 1, "score": -1.5e-3, "flag": False, "note": "present"},
    {"id": "row-3", "question": "", "choices": {"text": ["only"], "label": ["A"]},
     "answerKey": "A", "endings": ["a", "b", "c", "d"], "label": 1, "score": 1e300, "flag": True, "note": None},
]

FEATURES = datasets.Features({
    "id": datasets.Value("string"),
    "question": datasets.Value("string"),
    "choices": {"text": datasets.Sequence(datasets.Value("string")), "label": datasets.Sequence(datasets.Value("string"))},
    "answerKey": datasets.Value("string"),
    "endings": datasets.Sequence(datasets.Value("string")),
    "label": datasets.ClassLabel(names=["first", "second"]),
    "score": datasets.Value("float64"),
    "flag": datasets.Value("bool"),
    "note": datasets.Value("string"),
})


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "rows.jsonl", "w", encoding="utf-8") as f:
        for r in ROWS:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    ds = datasets.Dataset.from_list(ROWS, features=FEATURES)
    ds.to_parquet(str(out / "hf-datasets.parquet"))
    table = ds.data.table
    many = pa.concat_tables([table] * 40)                       # 120 rows in 4 row groups
    pq.write_table(many, out / "row-groups.parquet", row_group_size=32, compression="snappy")
    pq.write_table(table, out / "gzip-v2-plain.parquet", compression="gzip", data_page_version="2.0",
                   use_dictionary=False)
    (out / "not-parquet.parquet").write_bytes(b"PAR1 this is not a parquet file")
    print("wrote", sorted(p.name for p in out.iterdir()))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
