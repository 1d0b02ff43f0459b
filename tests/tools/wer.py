#!/usr/bin/env python3
"""Word error rate of a hypothesis against a reference, after a simple normalisation
(lower case, punctuation dropped, hyphens split, a few number words folded to digits).

  wer.py REF_FILE HYP_FILE [--max-wer F] [--max-run N] [--json]

Prints "wer=F ref=N sub=S del=D ins=I longest_run=R" where longest_run is the longest run of
consecutive inserted or deleted words in the alignment: a phrase lost or doubled at a window
seam shows up as such a run, while recognition errors are mostly substitutions. Exit 1 if
--max-wer or --max-run is exceeded. Standard library only."""
import json
import re
import sys

NUM = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
       "seven": "7", "eight": "8", "nine": "9", "ten": "10"}


def norm(text):
    text = text.lower().replace("-", " ")
    text = re.sub(r"[^\w\s']", " ", text)
    return [NUM.get(w, w) for w in text.replace("'", "").split()]


def align(ref, hyp):
    """Levenshtein alignment; returns (sub, dele, ins, ops) with ops a list of 'c','s','d','i'."""
    n, m = len(ref), len(hyp)
    d = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        d[i][0] = i
    for j in range(m + 1):
        d[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            c = 0 if ref[i - 1] == hyp[j - 1] else 1
            d[i][j] = min(d[i - 1][j - 1] + c, d[i - 1][j] + 1, d[i][j - 1] + 1)
    ops, i, j = [], n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and d[i][j] == d[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            ops.append("c" if ref[i - 1] == hyp[j - 1] else "s")
            i, j = i - 1, j - 1
        elif i > 0 and d[i][j] == d[i - 1][j] + 1:
            ops.append("d")
            i -= 1
        else:
            ops.append("i")
            j -= 1
    ops.reverse()
    return ops.count("s"), ops.count("d"), ops.count("i"), ops


def longest_run(ops):
    best = cur = 0
    for o in ops:
        cur = cur + 1 if o in "di" else 0
        best = max(best, cur)
    return best


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    ref = norm(open(argv[1], encoding="utf-8").read())
    hyp = norm(open(argv[2], encoding="utf-8").read())
    max_wer = float(argv[argv.index("--max-wer") + 1]) if "--max-wer" in argv else None
    max_run = int(argv[argv.index("--max-run") + 1]) if "--max-run" in argv else None
    s, dl, ins, ops = align(ref, hyp)
    wer = (s + dl + ins) / max(1, len(ref))
    run = longest_run(ops)
    r = {"wer": round(wer, 4), "ref": len(ref), "sub": s, "del": dl, "ins": ins, "longest_run": run}
    print(json.dumps(r) if "--json" in argv else " ".join(f"{k}={v}" for k, v in r.items()))
    bad = (max_wer is not None and wer > max_wer) or (max_run is not None and run > max_run)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
