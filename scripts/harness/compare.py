"""Compares the per-request scores and the metrics of two lm-evaluation-harness runs of the same tasks: t2r eval's
(OUT of `t2r eval --tasks ... --log-samples`) and the harness's own (its --output_path/MODEL directory, tasks named
local_TASK). Prints one row per task; exits 1 when a greedy flag differs or a score by more than 1e-4 nats.

    python compare.py T2R_OUT HARNESS_MODEL_DIR TASK,TASK,...
"""
import glob
import json
import os
import sys

TOLERANCE = 1e-4


def score(resp):
    """(log-likelihood, greedy) of one logged response; a rolling log-likelihood has no greedy flag."""
    if isinstance(resp, list):
        return float(resp[0]), resp[1] in (True, "True")
    return float(resp), None


def main(ours_dir, harness_dir, tasks):
    harness = json.load(open(glob.glob(os.path.join(harness_dir, "results_*.json"))[0]))["results"]
    ours = json.load(open(os.path.join(ours_dir, "results.json")))["results"]
    print(f"| task | documents | requests | bit-equal | largest difference (nats) | harness through t2r serve | t2r eval |")
    print("|---|---:|---:|---:|---:|---|---|")
    ok = True
    for task in tasks.split(","):
        theirs = [json.loads(l) for l in open(glob.glob(os.path.join(harness_dir, f"samples_local_{task}_*.jsonl"))[0])]
        mine = {d["doc_id"]: d for d in map(json.loads, open(os.path.join(ours_dir, f"samples_{task}.jsonl")))}
        if any(d["doc_id"] not in mine for d in theirs):
            print(f"{task}: the harness scored documents t2r eval did not")
            sys.exit(1)
        requests = equal = 0
        worst = 0.0
        if sorted(d["doc_id"] for d in theirs) != sorted(mine):
            print(f"{task}: the runs scored different documents")
            ok = False
        for doc in theirs:
            if len(doc["resps"]) != len(mine[doc["doc_id"]]["resps"]):
                print(f"{task}: document {doc['doc_id']} has {len(doc['resps'])} responses against {len(mine[doc['doc_id']]['resps'])}")
                ok = False
            for a, b in zip(doc["resps"], mine[doc["doc_id"]]["resps"]):
                (la, ga), (lb, gb) = score(a[0]), score(b[0])
                requests += 1
                equal += la == lb and ga == gb
                worst = max(worst, abs(la - lb))
                ok &= ga == gb and abs(la - lb) <= TOLERANCE
        metrics = [k for k in harness[f"local_{task}"] if k.endswith(",none") and "stderr" not in k]
        show = lambda r: ", ".join(f"{k.split(',')[0]} {r.get(k, float('nan')):.4g}" for k in metrics)
        print(f"| {task} | {len(theirs)} | {requests} | {equal} | {worst:.2g} | {show(harness[f'local_{task}'])} | {show(ours[task])} |")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main(*sys.argv[1:4])
