#!/usr/bin/env python3
"""Reference transcripts from faster-whisper (the original system's engine) with the same
CTranslate2 weights, on the CPU, without any model hub.

  fw_ref.py MODEL_DIR AUDIO [--language L] [--beam-size N] [--compute-type T] [--json]

Prints the text (segments joined with newlines), or with --json {"language", "text",
"seconds"}. Run it from the private venv scripts/check-reference.sh builds."""
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from faster_whisper import WhisperModel  # noqa: E402


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    opt = lambda k, d: argv[argv.index(k) + 1] if k in argv else d
    model = WhisperModel(argv[1], device="cpu", compute_type=opt("--compute-type", "float32"),
                         cpu_threads=int(opt("--threads", "2")))
    t0 = time.time()
    segs, info = model.transcribe(argv[2], language=opt("--language", None),
                                  beam_size=int(opt("--beam-size", "5")))
    text = "\n".join(s.text.strip() for s in segs)
    dt = time.time() - t0
    if "--json" in argv:
        print(json.dumps({"language": info.language, "text": text, "seconds": round(dt, 2)}))
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
