#!/bin/sh
# Live dictation over HTTP with real speech and real weights (issue 12): JFK's 11 s through
# faster-whisper's tiny.en (.cache/weights, scripts/fetch-test-weights.sh; skipped without
# them) behind a real session_daemon — the word timestamps the official OpenAI Python SDK
# gets from verbose_json are the words of the text, in order, at plausible times, and a
# stream=true answer (curl -N) carries the real text. The synthetic model of http_live.sh
# checks the shapes and the timing; this checks that the words are right.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/http_common.inc
VENV=${SPEECH_SESSION_VENV:-.venv}
skip() { echo "ok - $1 # SKIP $2"; }
WD=${SS_WEIGHTS:-.cache/weights}
JFK="$SHARED/data/jfk.wav"
if ! scripts/fetch-test-weights.sh --check >/dev/null 2>&1 || [ ! -f "$JFK" ]; then
    skip "real words over HTTP" "no real weights in $WD or no $JFK"; finish; exit 0
fi
"$SD" --fork --beam-size 1 --model "$(realpath "$WD/tiny.en")" 120; check "a daemon with tiny.en" [ $? -eq 0 ]
start_server; check "server starts" [ -n "$PORT" ]
T="$URL/v1/audio/transcriptions"

# ---- stream=true: the real sentence, its deltas adding up to it
curl -sN --max-time 300 -F "file=@$JFK" -F model=whisper-1 -F stream=true -F priority=interactive \
     "$T" >"$DATA/s"
check "curl -N stream=true: done says 'ask not what your country can do for you', = the deltas joined" \
    python3 - "$DATA/s" <<'PY'
import json, sys
ev = [json.loads(b[6:]) for b in open(sys.argv[1]).read().split("\n\n") if b.startswith("data: ")]
text = ev[-1]["text"]
sys.exit(not (ev[-1]["type"] == "transcript.text.done" and "ask not what your country can do for you" in text
              and "".join(e["delta"] for e in ev[:-1]) == text))
PY

# ---- word timestamps through the SDK
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import openai' 2>/dev/null; then
    "$BIN/transcribe" --model "$WD/tiny.en" --beam-size 1 -f verbose_json "$JFK" >"$DATA/cli.json" 2>/dev/null
    "$VENV/bin/python" - "$URL" "$JFK" "$DATA/cli.json" <<'PY'
import re, sys
from openai import OpenAI
c = OpenAI(base_url=sys.argv[1] + "/v1", api_key="sk-local", max_retries=0, timeout=300)
with open(sys.argv[2], "rb") as f:
    v = c.audio.transcriptions.create(model="whisper-1", file=f, response_format="verbose_json",
                                      timestamp_granularities=["word", "segment"])
norm = lambda s: re.sub(r"[^a-z ]", "", s.lower()).split()
w = v.words or []
print(f"# {len(w)} words, first {w[0].word!r} {w[0].start}-{w[0].end} s, "
      f"last {w[-1].word!r} {w[-1].start}-{w[-1].end} s" if w else "# no words")
good = (norm(" ".join(x.word for x in w)) == norm(v.text) and len(w) >= 20
        and all(x.start <= x.end for x in w) and all(a.start <= b.start for a, b in zip(w, w[1:]))
        and w[0].start < 1.5 and w[-1].end > 8.0 and w[-1].end <= v.duration + 0.01
        and bool(v.segments))
print(("ok - " if good else "not ok - ") + "SDK verbose_json words: the text's words in order, "
      "times ascending within the 11 s (first < 1.5 s, last ends > 8 s), segments too", flush=True)
# bare words, as OpenAI's whisper-1 answers (the text keeps its punctuation; Remotion's
# openAiWhisperApiToCaptions puts it back from there): "And", "so", ..., "country" — the
# daemon's words carry Whisper's ("so,", "country."). Greedy tiny.en punctuates JFK only
# after a punctuated prompt
import unicodedata
with open(sys.argv[2], "rb") as f:
    p = c.audio.transcriptions.create(model="whisper-1", file=f, response_format="verbose_json",
                                      timestamp_granularities=["word"], prompt="And so, my fellow citizens.")
pw = p.words or []
edge = lambda x: unicodedata.category(x)[0] in "PZ" or x.isspace()
dirty = [x.word for x in pw if not x.word or edge(x.word[0]) or edge(x.word[-1])]
print(f"# {p.text!r}: {' '.join(x.word for x in pw)!r}")
good = (len(pw) >= 20 and not dirty and "," in p.text and "." in p.text
        and [x.word.lower() for x in pw] == norm(p.text))
print(("ok - " if good else "not ok - ") + "SDK verbose_json words bare: no punctuation at their ends "
      f"(the text keeps its ','s and '.'s), the text's words otherwise (with it: {dirty[:5]})", flush=True)
americans = [x for x in w if norm(x.word) == ["americans"]]
good = len(americans) == 1 and 1.0 < americans[0].start < 3.5
print(("ok - " if good else "not ok - ") + f"SDK: 'Americans' (said at about 2 s) at "
      f"{americans[0].start if americans else None} s", flush=True)
# every field of OpenAI's TranscriptionSegment, with the CLI's values for the same decode
# (the HTTP answer had carried no avg_logprob/compression_ratio/no_speech_prob/temperature
# and empty tokens: an SDK user reading them got an AttributeError)
import json, math
with open(sys.argv[2], "rb") as f:
    v = c.audio.transcriptions.create(model="whisper-1", file=f, response_format="verbose_json")
cli = json.load(open(sys.argv[3]))["segments"]
got = [s.model_dump() for s in v.segments or []]
fields = ("id", "seek", "start", "end", "text", "tokens", "temperature", "avg_logprob",
          "compression_ratio", "no_speech_prob")
print("# " + " | ".join(f"{g.get('seek')} {g.get('start')} {len(g.get('tokens') or [])} tokens "
                        f"{g.get('avg_logprob')} {g.get('no_speech_prob')}" for g in got))
good = (len(got) == len(cli) > 0 and all(set(fields) <= set(g) for g in got)
        and all(g["seek"] == k["seek"] and g["tokens"] == k["tokens"] and g["temperature"] == k["temperature"]
                and g["text"] == k["text"]   # Whisper's leading space kept, as OpenAI's segments have it
                                             # (the daemon strips it; "text_lead" brings it back)
                and all(math.isclose(g[f], k[f], rel_tol=1e-3)   # the CLI prints 4 digits
                        for f in ("avg_logprob", "compression_ratio", "no_speech_prob"))
                for g, k in zip(got, cli)))
print(("ok - " if good else "not ok - ") + "SDK verbose_json segments: every TranscriptionSegment "
      "field, seek/tokens/text/figures equal to the CLI's (text with its leading space)", flush=True)
# segment texts joined as whisper users join them ("".join) read as the text: the stripped
# texts had run words together ("you,ask")
joined = "".join(g["text"] for g in got).strip()
print(("ok - " if joined == v.text.strip() else "not ok - ") + f"SDK: the segments' texts joined = the text "
      f"({joined[:50]!r}...)", flush=True)
# OpenAI names the language; "en" had been passed on as the daemon's code
print(("ok - " if v.language == "english" else "not ok - ") + f"SDK verbose_json language {v.language!r} "
      "(OpenAI's 'english', not the code)", flush=True)
PY
else
    skip "SDK word timestamps with real weights" "no $VENV with openai"
fi

stop_server "$SPID"; check "server stops cleanly" [ $? -eq 0 ]
san_clean
finish
