#!/usr/bin/env python3
"""An independent implementation of lm-evaluation-harness's rules, to check `t2r eval` against.

Given the task files (--task-data, read with pyarrow or as JSON lines) and the per-document log-likelihoods a
run logged (`t2r eval --log-samples`: samples_<task>.jsonl, field "filtered_resps"), it rebuilds every
request's (context, continuation) strings from the dataset rows by the harness's prompt rules (written anew
here from the task configurations of lm-evaluation-harness at commit 4e7e0d47f33b), and computes every
metric, standard error and group aggregate from the log-likelihoods alone. Written as JSON:

    {"tasks": {task: {"arguments": [[[ctx, cont], ...] per document], "metrics": {"acc,none": ...}}},
     "groups": {group: {"acc,none": ..., "acc_stderr,none": ...}}}

The Java test (HarnessReferenceTest) compares its own run against this file: the strings exactly, accuracies
exactly, other numbers to 1e-9 relative. Pure Python (pyarrow only reads the Parquet files):

    python3 scripts/eval/harness_reference.py --task-data docs/examples/task-data --samples RUN_DIR \
        --num-fewshot 0 --out eval/src/test/resources/harness/reference-0shot.json

With --num-fewshot N the multiple-choice tasks other than MMLU get N examples drawn from their training split, as the
harness's default sampler draws them (Python's own random.Random(1234).sample, one draw per document in order).
"""
import argparse
import json
import math
import random
import re
from pathlib import Path

MMLU_SUBJECTS = {"astronomy": "stem", "world_religions": "humanities", "philosophy": "humanities"}


def rows(task_data: Path, pattern: str):
    files = sorted(task_data.glob(pattern))
    assert files, pattern
    out = []
    for f in files:
        if f.suffix == ".parquet":
            import pyarrow.parquet as pq
            out += pq.read_table(f).to_pylist()
        else:
            out += [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


def hellaswag_clean(text):
    text = text.strip().replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def requests(task, doc, prefix):
    """(context, continuation) pairs, and the gold index or None."""
    if task == "hellaswag":
        query = hellaswag_clean(doc["activity_label"] + ": " + doc["ctx_a"] + " " + doc["ctx_b"].capitalize())
        return [(prefix + query, " " + hellaswag_clean(e)) for e in doc["endings"]], int(doc["label"]), [hellaswag_clean(e) for e in doc["endings"]]
    if task.startswith("arc_"):
        q = "Question: " + doc["question"] + "\nAnswer:"
        return [(prefix + q, " " + t) for t in doc["choices"]["text"]], doc["choices"]["label"].index(doc["answerKey"]), doc["choices"]["text"]
    if task == "piqa":
        q = "Question: " + doc["goal"] + "\nAnswer:"
        return [(prefix + q, " " + s) for s in (doc["sol1"], doc["sol2"])], doc["label"], [doc["sol1"], doc["sol2"]]
    if task == "winogrande":
        i = doc["sentence"].index("_")
        target = " " + doc["sentence"][i + 1:].strip()
        contexts = [doc["sentence"][:i] + o for o in (doc["option1"], doc["option2"])]
        return [(prefix + c, target) for c in contexts], {"1": 0, "2": 1}[doc["answer"]], contexts
    if task == "lambada_openai":
        words = doc["text"].split(" ")
        return [(prefix + " ".join(words[:-1]), " " + words[-1])], None, None
    if task.startswith("mmlu_"):
        c = doc["choices"]
        q = (doc["question"].strip() + "\nA. " + c[0] + "\nB. " + c[1] + "\nC. " + c[2] + "\nD. " + c[3] + "\nAnswer:")
        return [(prefix + q, " " + x) for x in "ABCD"], doc["answer"], list("ABCD")
    raise ValueError(task)


def detokenize(s):
    s = s.replace("s '", "s'")
    s = re.sub(r"/' [0-9]/", r"/'[0-9]/", s)
    for a, b in ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."), (" : ", ": "), (" ; ", "; "), (" . ", ". "),
                 (" ! ", "! "), (" ? ", "? "), (" , ", ", ")):
        s = s.replace(a, b)
    s = re.sub(r"\(\s*([^\)]*?)\s*\)", r"(\1)", s)
    s = re.sub(r"\[\s*([^\]]*?)\s*\]", r"[\1]", s)
    s = re.sub(r"{\s*([^}]*?)\s*}", r"{\1}", s)
    s = re.sub(r"\"\s*([^\"]*?)\s*\"", r'"\1"', s)
    s = re.sub(r"'\s*([^']*?)\s*'", r"'\1'", s)
    for a, b in (("= = = =", "===="), ("= = =", "==="), ("= =", "=="), (" " + chr(176) + " ", chr(176)),
                 (" \n", "\n"), ("\n ", "\n"), (" N ", " 1 "), (" 's", "'s")):
        s = s.replace(a, b)
    return s


def mean(x):
    return sum(x) / len(x)


def stderr_of_mean(x):
    mu = mean(x)
    return math.sqrt(sum((v - mu) ** 2 for v in x) / (len(x) - 1)) / math.sqrt(len(x))


def bootstrap_ppl_stderr(lls, iters):
    res = []
    for i in range(iters // min(1000, iters)):
        rnd = random.Random(i)
        for _ in range(min(1000, iters)):
            res.append(math.exp(-mean(rnd.choices(lls, k=len(lls)))))
    mu = mean(res)
    return math.sqrt(sum((v - mu) ** 2 for v in res) / (len(res) - 1))


DATA = {
    "hellaswag": "Rowan/hellaswag/data/validation*", "arc_easy": "allenai/ai2_arc/ARC-Easy/test*",
    "arc_challenge": "allenai/ai2_arc/ARC-Challenge/test*", "piqa": "baber/piqa/data/validation*",
    "winogrande": "allenai/winogrande/winogrande_xl/validation*", "lambada_openai": "EleutherAI/lambada_openai/default/test*",
    "wikitext": "EleutherAI/wikitext_document_level/wikitext-2-raw-v1/test*",
}


# The splits the harness draws few-shot examples from (the default sampler, random.Random(1234) per task), and
# the tasks without a test split, for which it draws n + 1 and drops the document evaluated (its few-shot split and
# test split are both None, hence equal).
FEWSHOT_SPLIT = {
    "hellaswag": "Rowan/hellaswag/data/train*", "arc_easy": "allenai/ai2_arc/ARC-Easy/train*",
    "arc_challenge": "allenai/ai2_arc/ARC-Challenge/train*", "piqa": "baber/piqa/data/train*",
    "winogrande": "allenai/winogrande/winogrande_xl/train*",
    "lambada_openai": "EleutherAI/lambada_openai/default/test*",    # no training or validation split: the test docs
}
EXCLUDES_EVALUATED = {"hellaswag", "piqa", "winogrande"}


def example(task, doc):
    """A few-shot example: the user turn (query and target delimiter) and the answer with the few-shot delimiter."""
    reqs, gold, choices = requests(task, doc, "")
    if task == "winogrande":          # an empty rest of the sentence is no answer: the context alone, no delimiters
        return reqs[gold][0] + (reqs[gold][1] + "\n\n" if reqs[gold][1].strip() else "")
    if task == "lambada_openai":      # the target delimiter, then the target, which has its own leading space
        return reqs[0][0] + " " + reqs[0][1] + "\n\n"
    return reqs[0][0] + " " + choices[gold] + "\n\n"


def drawn_prefixes(task, docs, pool, shots):
    rnd = random.Random(1234)
    out = []
    for d in docs:
        if task in EXCLUDES_EVALUATED:
            picked = [x for x in rnd.sample(pool, shots + 1) if x != d][:shots]
        else:
            picked = rnd.sample(pool, shots)
        out.append("".join(example(task, x) for x in picked))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task-data", type=Path, required=True)
    ap.add_argument("--samples", type=Path, required=True)
    ap.add_argument("--num-fewshot", type=int, default=0)
    ap.add_argument("--bootstrap-iters", type=int, default=100000)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    out = {"tasks": {}, "groups": {}}
    for sample_file in sorted(a.samples.glob("samples_*.jsonl")):
        task = sample_file.stem[len("samples_"):]
        logged = [json.loads(l) for l in sample_file.read_text(encoding="utf-8").splitlines()]
        if task.startswith("mmlu_"):
            subject = task[5:]
            docs = rows(a.task_data, f"cais/mmlu/{subject}/test*")
            prefix = f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"
            for fs in rows(a.task_data, f"cais/mmlu/{subject}/dev*")[:a.num_fewshot]:
                reqs, gold, choices = requests(task, fs, "")
                prefix += reqs[0][0] + " " + choices[gold] + "\n\n"
        else:
            docs, prefix = rows(a.task_data, DATA[task]), ""
        docs = docs[:len(logged)]
        prefixes = [prefix] * len(docs)
        if a.num_fewshot and task in FEWSHOT_SPLIT:
            prefixes = drawn_prefixes(task, docs, rows(a.task_data, FEWSHOT_SPLIT[task]), a.num_fewshot)
        args, metrics = [], {}
        if task == "wikitext":
            lls = [s["filtered_resps"][0] for s in logged]
            args = [[[detokenize(d["page"])]] for d in docs]
            words = [len(re.split(r"\s+", d["page"])) for d in docs]
            nbytes = [len(d["page"].encode("utf-8")) for d in docs]
            metrics["word_perplexity,none"] = math.exp(-sum(lls) / sum(words))
            metrics["byte_perplexity,none"] = math.exp(-sum(lls) / sum(nbytes))
            metrics["bits_per_byte,none"] = -(sum(lls) / sum(nbytes)) / math.log(2)
        else:
            accs, norms, lls_l = [], [], []
            for d, s, prefix in zip(docs, logged, prefixes):
                reqs, gold, choices = requests(task, d, prefix)
                args.append([list(r) for r in reqs])
                lls = [r[0] for r in s["filtered_resps"]]
                if task == "lambada_openai":
                    lls_l.append(lls[0])
                    accs.append(int(s["filtered_resps"][0][1]))
                    continue
                best = max(range(len(lls)), key=lambda i: (lls[i], -i))
                accs.append(1.0 if best == gold else 0.0)
                lens = [float(len(c)) for c in choices]
                best_norm = max(range(len(lls)), key=lambda i: (lls[i] / lens[i], -i))
                norms.append(1.0 if best_norm == gold else 0.0)
            if task == "lambada_openai":
                metrics["perplexity,none"] = math.exp(-mean(lls_l))
                metrics["perplexity_stderr,none"] = bootstrap_ppl_stderr(lls_l, a.bootstrap_iters)
            metrics["acc,none"] = mean(accs)
            metrics["acc_stderr,none"] = stderr_of_mean(accs)
            if task in ("hellaswag", "arc_easy", "arc_challenge", "piqa"):
                metrics["acc_norm,none"] = mean(norms)
                metrics["acc_norm_stderr,none"] = stderr_of_mean(norms)
        out["tasks"][task] = {"arguments": args, "metrics": metrics, "size": len(docs)}
    # Groups: leaf subjects weighted by size, pooled standard error.
    def group(members):
        vals = [out["tasks"][m]["metrics"]["acc,none"] for m in members]
        errs = [out["tasks"][m]["metrics"]["acc_stderr,none"] for m in members]
        sizes = [out["tasks"][m]["size"] for m in members]
        acc = sum(v * n for v, n in zip(vals, sizes)) / sum(sizes)
        pooled = sum((n - 1) * e ** 2 * n for n, e in zip(sizes, errs)) / (sum(sizes) - len(sizes))
        return {"acc,none": acc, "acc_stderr,none": math.sqrt(pooled / sum(sizes))}
    subjects = [t for t in out["tasks"] if t.startswith("mmlu_")]
    if subjects:
        out["groups"]["mmlu"] = group(subjects)
        for cat in sorted(set(MMLU_SUBJECTS.values())):
            members = [t for t in subjects if MMLU_SUBJECTS[t[5:]] == cat]
            if members:
                out["groups"]["mmlu_" + cat] = group(members)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print("wrote", a.out)


if __name__ == "__main__":
    main()
