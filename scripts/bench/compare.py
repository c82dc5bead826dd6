#!/usr/bin/env python3
"""Joins the BENCH-JSON lines of GsaBench (ours) and fla_bench.py (fla, sdpa) by measurement name
and prints one markdown table: milliseconds, TFLOP/s (the FLOP count of GsaBench's Javadoc, the
same for both sides) and the speedup (their time / ours).

    python3 scripts/bench/compare.py OURS_LOG THEIRS_LOG
"""
import json
import sys


def rows(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("BENCH-JSON "):
                    out.append(json.loads(line[len("BENCH-JSON "):]))
    except FileNotFoundError:
        pass
    return out


def main():
    ours = {r["name"]: r for r in rows(sys.argv[1])}
    theirs = {}
    for r in rows(sys.argv[2]):
        theirs[r["name"]] = r
    print("| measurement (bf16) | ours ms | theirs ms | ours TFLOP/s | theirs TFLOP/s | speedup | theirs |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, o in ours.items():
        t = theirs.get(name)
        if t is None:
            print(f"| {name} | {o['ms']:.3f} | n/a | {o['tflops']:.1f} | | | |")
            continue
        tf = o["tflops"] * o["ms"] / t["ms"]
        note = t["impl"] + (" (" + t["note"] + ")" if t.get("note") else "")
        print(f"| {name} | {o['ms']:.3f} | {t['ms']:.3f} | {o['tflops']:.1f} | {tf:.1f} | {t['ms'] / o['ms']:.2f}x | {note} |")


if __name__ == "__main__":
    main()
