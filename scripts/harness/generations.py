"""The generation task of harness-via-serve.sh (write_tasks.py's local_generation).

    python generations.py SAMPLES.jsonl TOKENIZE_URL             prints "doc_id ids" a line: each prompt as the harness
                                                                  sent it (its text through the server's /tokenize)
    python generations.py SAMPLES.jsonl --expected OUTPUTS.jsonl  compares the harness's generations with t2r generate's
                                                                  JSON outputs, one a line in the same order; exits 1 on
                                                                  a difference
"""
import json
import sys
import urllib.request


def samples(path):
    return sorted((json.loads(line) for line in open(path)), key=lambda d: d["doc_id"])


def prompt(doc):
    args = doc["arguments"]
    return args["gen_args_0"]["arg_0"] if isinstance(args, dict) else args[0][0]


def ids(path, url):
    for doc in samples(path):
        body = json.dumps({"prompt": prompt(doc), "add_special_tokens": False}).encode()
        tokens = json.load(urllib.request.urlopen(urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})))["tokens"]
        print(doc["doc_id"], ",".join(map(str, tokens)))


def compare(path, expected):
    docs, outputs = samples(path), [json.loads(line)["text"] for line in open(expected)]
    if len(docs) != len(outputs):
        sys.exit(f"{len(docs)} generations against {len(outputs)} outputs of t2r generate")
    equal = sum(d["resps"][0][0] == o for d, o in zip(docs, outputs))
    for d, o in zip(docs, outputs):
        if d["resps"][0][0] != o:
            print(f"  document {d['doc_id']}: harness {d['resps'][0][0]!r}, t2r generate {o!r}")
    print(f"generation (greedy, up to 16 tokens or '.'): {equal} of {len(docs)} equal to t2r generate --greedy --stop .")
    sys.exit(0 if equal == len(docs) else 1)


if __name__ == "__main__":
    if sys.argv[2] == "--expected":
        compare(sys.argv[1], sys.argv[3])
    else:
        ids(sys.argv[1], sys.argv[2])
