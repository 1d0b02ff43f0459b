#!/usr/bin/env python3
"""The official OpenAI Python SDK (`openai`) and Python `requests` against session_http, as
users call them. Run with the project's private virtual environment (.venv, made by
scripts/install-deps.sh) by tests/integration/http_clients.sh; prints "ok - NAME" or
"not ok - NAME" per check.

  sdk_python_check.py BASE_URL TOKEN SPEECH_WAV SILENCE_WAV NOT_AUDIO_FILE
"""
import inspect
import sys
import traceback
import warnings

import openai
import requests
from openai import OpenAI

warnings.simplefilter("ignore", DeprecationWarning)   # the SDK's own notes, not ours
URL, TOKEN, SPEECH, SILENCE, NOTAUDIO = sys.argv[1:6]
failed = 0


def check(name, fn):
    global failed
    try:
        res = fn()
        good = res is None or res is True
    except Exception:   # noqa: BLE001 — any exception is a failed check, printed
        traceback.print_exc()
        good = False
    print(("ok - " if good else "not ok - ") + name, flush=True)
    failed += not good


def raises(exc_class, fn, code=None, param=None):
    """fn() must raise exc_class (the SDK's mapping of the status) with our code/param."""
    try:
        fn()
    except exc_class as e:
        body = e.body if isinstance(e.body, dict) else {}
        if code is not None and body.get("code") != code:
            print("#   code %r, expected %r: %r" % (body.get("code"), code, body))
            return False
        if param is not None and body.get("param") != param:
            print("#   param %r, expected %r" % (body.get("param"), param))
            return False
        return True
    print("#   no %s raised" % exc_class.__name__)
    return False


client = OpenAI(base_url=URL + "/v1", api_key=TOKEN, max_retries=0, timeout=120)
print("# openai %s, requests %s" % (openai.__version__, requests.__version__))


def speech_json():
    with open(SPEECH, "rb") as f:
        r = client.audio.transcriptions.create(model="whisper-1", file=f)
    return isinstance(r.text, str) and r.text.strip() != ""


check("SDK: transcription of speech, json (Transcription.text non-empty)", speech_json)


def every_format(api, task):
    def run():
        with open(SILENCE, "rb") as f:
            data = f.read()
        for fmt in ("json", "text", "srt", "vtt", "verbose_json"):
            r = api.create(model="whisper-1", file=("silence.wav", data), response_format=fmt)
            if fmt == "json":
                assert r.text == "", r
            elif fmt == "verbose_json":
                assert r.text == "" and abs(r.duration - 0.5) < 0.01 and r.segments == [], r
                assert getattr(r, "task", task) == task, r
            elif fmt == "vtt":
                assert isinstance(r, str) and r.startswith("WEBVTT"), repr(r)
            else:
                assert isinstance(r, str) and r.strip() == "", repr(r)
        return True
    return run


check("SDK: transcriptions in json, text, srt, vtt, verbose_json",
      every_format(client.audio.transcriptions, "transcribe"))
check("SDK: translations in json, text, srt, vtt, verbose_json",
      every_format(client.audio.translations, "translate"))


def options():
    with open(SILENCE, "rb") as f:
        r = client.audio.transcriptions.create(
            model="whisper-1", file=f, response_format="verbose_json",
            timestamp_granularities=["segment"], language="en", prompt="Grüße", temperature=0.2)
    # silence is answered without model work: no language detected or used
    return abs(r.duration - 0.5) < 0.01 and r.language in (None, "english") and r.segments == []


check("SDK: timestamp_granularities=['segment'], language, prompt (UTF-8), temperature", options)


def segment_json():
    """OpenAI takes timestamp_granularities=['segment'] with json (only 'word' needs
    verbose_json): fedirz/faster-whisper-server's tests against its API."""
    with open(SILENCE, "rb") as f:
        r = client.audio.transcriptions.create(model="whisper-1", file=f, timestamp_granularities=["segment"])
    return type(r).__name__ == "Transcription" and r.text == ""


check("SDK: timestamp_granularities=['segment'] with json: a Transcription", segment_json)


def word_json():
    with open(SILENCE, "rb") as f:
        client.audio.transcriptions.create(model="whisper-1", file=f, timestamp_granularities=["word"])


check("SDK: timestamp_granularities=['word'] with json raises BadRequestError (as OpenAI)",
      lambda: raises(openai.BadRequestError, word_json, param="timestamp_granularities"))


def languages_extra(how):
    """OpenAI's languages (a parameter of the SDK since it documented it for gpt-transcribe;
    extra_body in one without it): a list, which the SDK sends as languages[] parts,
    restricts the detection; the test model alone says macedonian."""
    def run():
        kw = {"extra_body": {"languages": ["fr", "de"]}} if how == "extra_body" else {"languages": ["fr", "de"]}
        with open(SPEECH, "rb") as f:
            r = client.audio.transcriptions.create(model="whisper-1", file=f, response_format="verbose_json", **kw)
        print("#   language %r" % r.language)
        return r.language in ("french", "german")
    return run


check("SDK: extra_body languages=['fr', 'de'] restricts the detection (french or german)",
      languages_extra("extra_body"))
if "languages" in inspect.signature(client.audio.transcriptions.create).parameters:
    check("SDK: languages=['fr', 'de'] (its own parameter) restricts the detection", languages_extra("param"))
else:
    print("ok - SDK: languages= parameter # SKIP this SDK has none", flush=True)


def models():
    return [m.id for m in client.models.list()] == ["whisper-1"]


check("SDK: models.list()", models)


def not_audio():
    with open(NOTAUDIO, "rb") as f:
        return client.audio.transcriptions.create(model="whisper-1", file=f)


check("SDK: a non-audio file raises BadRequestError (code invalid_file_format)",
      lambda: raises(openai.BadRequestError, not_audio, code="invalid_file_format", param="file"))


def missing_file():
    # the SDK cannot leave out `file`, so its generic post() sends a form without it
    return client.post("/audio/transcriptions", cast_to=object, body={"model": "whisper-1"},
                       files=[("other", ("x.txt", b"x"))],
                       options={"headers": {"Content-Type": "multipart/form-data"}})


check("SDK: a form without a file raises BadRequestError (param file)",
      lambda: raises(openai.BadRequestError, missing_file, code="missing_file", param="file"))


def bad_token():
    bad = OpenAI(base_url=URL + "/v1", api_key="wrong-" + TOKEN, max_retries=0, timeout=30)
    with open(SILENCE, "rb") as f:
        return bad.audio.transcriptions.create(model="whisper-1", file=f)


check("SDK: a bad token raises AuthenticationError (invalid_api_key)",
      lambda: raises(openai.AuthenticationError, bad_token, code="invalid_api_key"))


def stream():
    """stream=True (issue 12): the SDK's Stream of events ends with transcript.text.done,
    whose text the deltas add up to (tests/integration/http_live.sh has the long files)."""
    with open(SPEECH, "rb") as f:
        events = list(client.audio.transcriptions.create(model="whisper-1", file=f, stream=True))
    kinds = [type(e).__name__ for e in events]
    deltas = "".join(e.delta for e in events if e.type == "transcript.text.delta")
    return (kinds[-1] == "TranscriptionTextDoneEvent" and events[-1].text == deltas != ""
            and len(kinds) >= 2 and events[0].logprobs is None
            and all(k == "TranscriptionTextDeltaEvent" for k in kinds[:-1]))


check("SDK: stream=True gives delta events, then done with their text", stream)


def bad_format():
    with open(SILENCE, "rb") as f:
        return client.audio.transcriptions.create(model="whisper-1", file=f,
                                                  response_format="xml")


check("SDK: an unknown response_format raises BadRequestError (param response_format)",
      lambda: raises(openai.BadRequestError, bad_format, param="response_format"))

# ---- Python requests, as a script would post the form
AUTH = {"Authorization": "Bearer " + TOKEN}


def requests_verbose():
    with open(SILENCE, "rb") as f:
        r = requests.post(URL + "/v1/audio/transcriptions", headers=AUTH, timeout=120,
                          files={"file": ("silence.wav", f, "audio/wav")},
                          data={"model": "whisper-1", "response_format": "verbose_json",
                                "timestamp_granularities[]": ["segment", "segment"]})
    d = r.json()
    return r.status_code == 200 and d["text"] == "" and abs(d["duration"] - 0.5) < 0.01


check("requests: verbose_json with repeated timestamp_granularities[]", requests_verbose)


def requests_spec():
    with open(SILENCE, "rb") as f:
        r = requests.post(URL + "/transcribe", headers=AUTH, timeout=120,
                          files={"audio": ("été.wav", f)})
    return r.status_code == 200 and r.json() == {"results": []}


check("requests: the spec's POST /transcribe with a non-ASCII file name", requests_spec)


def requests_error_shape():
    r = requests.post(URL + "/v1/audio/transcriptions", headers=AUTH, timeout=30,
                      files={"file": ("a.wav", b"not audio at all")}, data={"model": "whisper-1"})
    e = r.json()["error"]
    return r.status_code == 400 and set(e) == {"message", "type", "param", "code"}


check("requests: errors in OpenAI's shape {error: {message, type, param, code}}",
      requests_error_shape)
sys.exit(1 if failed else 0)
