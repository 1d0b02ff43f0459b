#!/usr/bin/env python3
"""openai-whisper's own subtitle/TSV writers (whisper/utils.py: WriteSRT, WriteVTT, WriteTSV)
run on the segments and words of a bin/transcribe JSON document, for byte-for-byte
comparison with bin/transcribe's srt/vtt/tsv (tests/integration/transcribe_subtitles.sh).

  whisper_writers.py --find                       print the utils.py found, exit 1 if none
  whisper_writers.py FMT DOC.json [--max-line-width N] [--max-line-count N]
                     [--max-words-per-line N] [--highlight-words] [--vtt-hours]

FMT: srt, vtt or tsv; the document goes to stdout. Only whisper/utils.py is loaded (by its
path: the whisper package's __init__ would import torch); it is looked for with the running
Python's import path, or taken from $OPENAI_WHISPER_UTILS. --vtt-hours: WebVTT timestamps
with hours always (HH:MM:SS.mmm, as bin/transcribe writes them) instead of openai-whisper's
MM:SS.mmm under an hour; nothing else changes."""
import importlib.util
import io
import json
import os
import sys


def find_utils():
    p = os.environ.get("OPENAI_WHISPER_UTILS")
    if p:
        return p if os.path.isfile(p) else None
    try:
        spec = importlib.util.find_spec("whisper")   # locates the package, runs nothing of it
    except (ImportError, ValueError):
        return None
    for d in (spec.submodule_search_locations or []) if spec else []:
        u = os.path.join(d, "utils.py")
        if os.path.isfile(u):
            return u
    return None


def load_utils(path):
    spec = importlib.util.spec_from_file_location("openai_whisper_utils", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv):
    if argv[:1] == ["--find"]:
        u = find_utils()
        if u:
            print(u)
        return 0 if u else 1
    fmt, doc = argv[0], argv[1]
    opts, i = {}, 2
    vtt_hours = False
    while i < len(argv):
        a = argv[i]
        if a == "--highlight-words":
            opts["highlight_words"] = True
        elif a == "--vtt-hours":
            vtt_hours = True
        elif a in ("--max-line-width", "--max-line-count", "--max-words-per-line"):
            opts[a[2:].replace("-", "_")] = int(argv[i + 1])
            i += 1
        else:
            raise SystemExit("whisper_writers.py: unknown argument " + a)
        i += 1
    u = find_utils()
    if not u:
        raise SystemExit("whisper_writers.py: openai-whisper's whisper/utils.py not found")
    w = load_utils(u)
    d = json.load(open(doc, encoding="utf-8"))
    segs = []
    for s in d["segments"]:
        seg = {"start": s["start"], "end": s["end"], "text": s["text"]}
        if "words" in s:
            seg["words"] = [{"word": x["word"], "start": x["start"], "end": x["end"],
                             "probability": x.get("probability", 1.0)} for x in s["words"]]
        segs.append(seg)
    result = {"text": d.get("text", ""), "segments": segs, "language": d.get("language", "en")}
    cls = {"srt": w.WriteSRT, "vtt": w.WriteVTT, "tsv": w.WriteTSV}[fmt]
    if fmt == "vtt" and vtt_hours:
        cls = type("WriteVTTHours", (w.WriteVTT,), {"always_include_hours": True})
    out = io.StringIO()
    cls(".").write_result(result, file=out, **opts)
    sys.stdout.buffer.write(out.getvalue().encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
