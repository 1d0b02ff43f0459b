#!/usr/bin/env python3
"""Timestamp accuracy: compares a verbose_json transcript (with --word-timestamps) against
where mkspeech.py says each sentence's speech starts and ends.

  timing.py META_JSON VERBOSE_JSON [--word-tol S] [--seg-tol S] [--snapped]

The transcript's words are aligned to the reference words (wer.py's normalisation and
alignment); for every sentence whose first (last) word was recognised, its start (end) time
is compared with the sentence's speech onset (offset). Segments that begin (end) on a
sentence's first (last) word must begin (end) in the pause before (after) it: their error
is the distance outside that pause. Prints the counts and the mean and worst errors;
exit 1 if a worst error exceeds its tolerance, or if fewer than half of the sentence edges
could be checked (a transcript too wrong to judge the times of). --snapped: the segments'
times were moved to their words (word timestamps on), so a segment edge's error is its
distance from the speech onset (offset) itself, as for words."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wer  # noqa: E402


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    opt = lambda k, d: float(argv[argv.index(k) + 1]) if k in argv else d
    wtol, stol = opt("--word-tol", 0.5), opt("--seg-tol", 0.5)
    meta = json.load(open(argv[1]))["sentences"]
    vj = json.load(open(argv[2]))
    ref, ref_sent = [], []   # reference words and their sentence index
    for i, s in enumerate(meta):
        for w in wer.norm(s["text"]):
            ref.append(w)
            ref_sent.append(i)
    hyp, hyp_t, hyp_seg = [], [], []   # words, (start, end), segment index
    for si, seg in enumerate(vj["segments"]):
        for w in seg.get("words", []):
            for piece in wer.norm(w["word"]):
                hyp.append(piece)
                hyp_t.append((w["start"], w["end"]))
                hyp_seg.append(si)
    _, _, _, ops = wer.align(ref, hyp)
    ref_to_hyp, i, j = {}, 0, 0
    for o in ops:
        if o == "c":
            ref_to_hyp[i] = j
        if o in "cs":
            i, j = i + 1, j + 1
        elif o == "d":
            i += 1
        else:
            j += 1
    first = {}
    last = {}
    for r, s in enumerate(ref_sent):
        first.setdefault(s, r)
        last[s] = r
    werr, serr = [], []
    for s in range(len(meta)):
        for r, key, idx, tref in ((first[s], "start", 0, meta[s]["start"]), (last[s], "end", 1, meta[s]["end"])):
            if r not in ref_to_hyp:
                continue
            h = ref_to_hyp[r]
            werr.append(abs(hyp_t[h][idx] - tref))
            seg = vj["segments"][hyp_seg[h]]
            # the segment's first (last) word is this sentence's first (last) word
            edge = h == 0 or hyp_seg[h - 1] != hyp_seg[h] if idx == 0 else h == len(hyp) - 1 or hyp_seg[h + 1] != hyp_seg[h]
            if edge:
                # Whisper's segment timestamps (openai's too, unless word timestamps move
                # them) mark the pause around the words: a start may come early into the
                # preceding pause, an end late into the following one. The error is the
                # distance outside [previous sentence's end, onset] for a start and
                # [offset, next sentence's onset] for an end.
                if idx == 0:
                    lo, hi = (meta[s - 1]["end"] if s > 0 else 0.0), tref
                else:
                    lo, hi = tref, (meta[s + 1]["start"] if s + 1 < len(meta) else vj.get("duration", tref))
                t = seg[key]
                serr.append(abs(t - tref) if "--snapped" in argv else max(0.0, lo - t, t - hi))
    n_edges = 2 * len(meta)
    res = {
        "edges": n_edges, "word_checked": len(werr), "seg_checked": len(serr),
        "word_mean": round(sum(werr) / max(1, len(werr)), 3), "word_max": round(max(werr, default=0), 3),
        "seg_mean": round(sum(serr) / max(1, len(serr)), 3), "seg_max": round(max(serr, default=0), 3),
    }
    print(" ".join(f"{k}={v}" for k, v in res.items()))
    ok = len(werr) * 2 >= n_edges and res["word_max"] <= wtol and res["seg_max"] <= stol
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
