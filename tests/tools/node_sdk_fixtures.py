#!/usr/bin/env python3
"""Writes tests/data/http/node-sdk/*.req: whole HTTP requests (request line, headers, body)
as the official OpenAI Node SDK (npm `openai` 4.x, Node 18+, default node-fetch transport)
sends them. They are CONSTRUCTED to match that SDK's wire format, not captured from it (npm
is unreachable where they were made): the body is form-data-encoder's (the SDK's encoder
under node-fetch): boundary "form-data-boundary-" + 16 characters of [a-z0-9], each part
`--B CRLF Content-Disposition: form-data; name="N"[; filename="F" CRLF Content-Type: T]
CRLF CRLF value CRLF`, a file part's type application/octet-stream when the File has none,
names with CR, LF and '"' escaped as %0D, %0A, %22, and the footer `--B-- CRLF CRLF` (the
epilogue that our old parser refused, issue 16). Form fields are appended in the order of
the create() call's object, arrays as `key[]` once per element, booleans and numbers as
their String(). Headers as node-fetch writes them: lower-case names from the SDK and
node-fetch, then Node's own Host and Connection.

Usage: node_sdk_fixtures.py SPEECH_WAV OUTDIR   (run once; the outputs are committed and
replayed byte for byte by tests/integration/http_clients.sh)."""
import io
import sys
import wave

BOUNDARY = "form-data-boundary-k3v9x1m0qz7b2c4d"   # the encoder's shape, fixed for replay


def wav_clip(path, start, seconds):
    """16 kHz mono 16-bit WAV bytes: `seconds` of path from `start`, or silence if path is None."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        if path is None:
            w.writeframes(b"\0\0" * int(16000 * seconds))
        else:
            with wave.open(path, "rb") as r:
                assert r.getframerate() == 16000 and r.getnchannels() == 1 and r.getsampwidth() == 2
                r.setpos(int(16000 * start))
                w.writeframes(r.readframes(int(16000 * seconds)))
    return out.getvalue()


def escape_name(s):
    return s.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


def encode(fields):
    """fields: list of (name, value) where value is str or (filename, bytes, type)."""
    crlf = b"\r\n"
    body = b""
    for name, value in fields:
        head = "--%s\r\nContent-Disposition: form-data; name=\"%s\"" % (BOUNDARY, escape_name(name))
        if isinstance(value, tuple):
            filename, data, ctype = value
            head += "; filename=\"%s\"\r\nContent-Type: %s" % (escape_name(filename),
                                                               ctype or "application/octet-stream")
        else:
            data = value.encode("utf-8")
        body += (head + "\r\n\r\n").encode("utf-8") + data + crlf
    return body + ("--%s--\r\n\r\n" % BOUNDARY).encode("ascii")


def request(path, body):
    headers = [
        ("accept", "application/json"),
        ("content-type", "multipart/form-data; boundary=" + BOUNDARY),
        ("user-agent", "OpenAI/JS 4.104.0"),
        ("x-stainless-lang", "js"),
        ("x-stainless-package-version", "4.104.0"),
        ("x-stainless-os", "Linux"),
        ("x-stainless-arch", "x64"),
        ("x-stainless-runtime", "node"),
        ("x-stainless-runtime-version", "v20.18.0"),
        ("authorization", "Bearer sk-local"),
        ("x-stainless-retry-count", "0"),
        ("x-stainless-timeout", "600"),
        ("content-length", str(len(body))),
        ("accept-encoding", "gzip,deflate"),
        ("Host", "127.0.0.1:8080"),
        ("Connection", "keep-alive"),
    ]
    head = "POST %s HTTP/1.1\r\n" % path + "".join("%s: %s\r\n" % h for h in headers) + "\r\n"
    return head.encode("ascii") + body


def main():
    speech_path, outdir = sys.argv[1], sys.argv[2]
    speech = wav_clip(speech_path, 0.5, 0.6)
    silence = wav_clip(None, 0, 0.5)
    oct_ = "application/octet-stream"
    fixtures = {
        # openai.audio.transcriptions.create({ file: fs.createReadStream('speech.wav'), model: 'whisper-1' })
        "transcription-json": ("/v1/audio/transcriptions",
                               [("file", ("speech.wav", speech, "")), ("model", "whisper-1")]),
        # { file, model, response_format: 'verbose_json', timestamp_granularities: ['segment'],
        #   language: 'en', temperature: 0 }
        "transcription-verbose": ("/v1/audio/transcriptions",
                                  [("file", ("silence.wav", silence, "")), ("model", "whisper-1"),
                                   ("response_format", "verbose_json"),
                                   ("timestamp_granularities[]", "segment"),
                                   ("language", "en"), ("temperature", "0")]),
        # openai.audio.translations.create({ file, model, response_format: 'srt' })
        "translation-srt": ("/v1/audio/translations",
                            [("file", ("silence.wav", silence, "")), ("model", "whisper-1"),
                             ("response_format", "srt")]),
        # { model, prompt: 'Grüße, ça va', response_format: 'vtt',
        #   file: await toFile(buf, 'réunion "été".wav', { type: 'audio/wav' }) }
        "transcription-vtt-utf8": ("/v1/audio/transcriptions",
                                   [("model", "whisper-1"), ("prompt", "Grüße, ça va"),
                                    ("response_format", "vtt"),
                                    ("file", ('réunion "été".wav', silence, "audio/wav"))]),
        # { file, model, response_format: 'text' }
        "transcription-text": ("/v1/audio/transcriptions",
                               [("file", ("silence.wav", silence, oct_)), ("model", "whisper-1"),
                                ("response_format", "text")]),
        # { file, model, stream: true } — live streaming is not served yet: a clear 400
        "transcription-stream": ("/v1/audio/transcriptions",
                                 [("file", ("silence.wav", silence, "")), ("model", "whisper-1"),
                                  ("stream", "true")]),
    }
    for name, (path, fields) in fixtures.items():
        with open("%s/%s.req" % (outdir, name), "wb") as f:
            f.write(request(path, encode(fields)))


if __name__ == "__main__":
    main()
