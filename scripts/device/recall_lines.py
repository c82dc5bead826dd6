"""The three lines an every-layer GSA student of recall-llama is held to (docs/recall.md), read from a `t2r eval`
report: perplexity within 5% of the teacher's, MQAR top-1 at 16 pairs at least 50% of the teacher's, passkey at 1,024
tokens at least 80% of the teacher's.

recall-check.sh imports it for its table, and runs it to decide whether a grid student earns a full evaluation:

    python3 recall_lines.py REPORT.json STUDENT_CONFIG.json

prints the lines and exits 0 when the student has every layer GSA and meets all three, 1 otherwise.
"""
import json
import sys


CHECKS = {"perplexity": "perplexity within 5% of the teacher's",
          "MQAR@16": "MQAR at 16 pairs >= 50% of the teacher's",
          "passkey@1024": "passkey at 1,024 >= 80% of the teacher's"}


def each_line(results):
    """(name, value, line, ok, format) of each line whose measure the report has, in the order of CHECKS."""
    lm, rc, pk = results.get("lm"), results.get("recall"), results.get("passkey")
    p1024 = [p for p in (pk or {}).get("points", []) if p["length"] == 1024]
    q16 = [p for p in (rc or {}).get("points", []) if p["pairs"] == 16]
    got = []
    if lm:
        ppl, teacher_ppl = lm["student_perplexity"], lm["teacher_perplexity"]
        got.append(("perplexity", ppl, 1.05 * teacher_ppl, ppl <= 1.05 * teacher_ppl, "{:.2f}"))
    if q16:
        q, qt = q16[0]["student_accuracy"], q16[0]["teacher_accuracy"]
        got.append(("MQAR@16", 100 * q, 50 * qt, q >= 0.5 * qt, "{:.1f}%"))
    if p1024:
        k, kt = p1024[0]["student"]["accuracy"], p1024[0]["teacher"]["accuracy"]
        got.append(("passkey@1024", 100 * k, 80 * kt, k >= 0.8 * kt, "{:.0f}%"))
    return got


def lines(results):
    """each_line's three lines, or None when the report lacks a measure they need."""
    got = each_line(results)
    return got if len(got) == len(CHECKS) else None


def met(results):
    got = lines(results)
    return got is not None and all(ok for _, _, _, ok, _ in got)


def verdict(results):
    """One line for the table, or None."""
    got = lines(results)
    if got is None:
        return None
    return ("  lines: " + "; ".join(f"{n} {f.format(v)} (line {f.format(l)}) {'ok' if ok else 'NO'}" for n, v, l, ok, f in got)
            + ("  -> ALL THREE MET" if met(results) else ""))


def every_layer(config):
    """Whether a student's config.json has no attention layers."""
    return not config.get("attn")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: recall_lines.py REPORT.json STUDENT_CONFIG.json")
    def read(path, what):
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            sys.exit(f"recall_lines.py: {path}: not a readable {what} ({e})")
    report = read(sys.argv[1], "t2r eval report")
    if not isinstance(report, dict) or not isinstance(report.get("results"), dict):
        sys.exit(f"recall_lines.py: {sys.argv[1]}: a t2r eval report has a 'results' object")
    results = report["results"]
    v = verdict(results)
    config = read(sys.argv[2], "student config.json")
    if not isinstance(config, dict):
        sys.exit(f"recall_lines.py: {sys.argv[2]}: a config.json is a JSON object")
    gsa = every_layer(config)
    print((v.strip() if v else "the report lacks lm, recall at 16 pairs or passkey at 1,024")
          + ("" if gsa else " (but the student keeps attention layers: these lines are every-layer GSA's)"))
    sys.exit(0 if gsa and met(results) else 1)
