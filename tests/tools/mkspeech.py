#!/usr/bin/env python3
"""Builds test speech with espeak-ng: sentences spoken one by one, resampled to 16 kHz mono
s16 (sox), joined with pauses into one WAV, plus the reference text and where each sentence's
speech really is (first and last sample above -40 dBFS, so espeak's own leading/trailing
silence does not count).

  mkspeech.py OUT_PREFIX [--voice V] [--set en|de|es] [--rounds N] [--pause S] [--first N]
              [--clips MARGIN]

Writes OUT_PREFIX.wav, OUT_PREFIX.txt (reference, one sentence a line) and OUT_PREFIX.json
({"sentences": [{"text", "start", "end"}], "duration"}). --clips: also one file per sentence,
OUT_PREFIX.clipNN.wav with MARGIN seconds of the file's own silence around the speech (the
shape of a push-to-talk dictation) and its text in OUT_PREFIX.clipNN.txt. Round r speaks the set rotated by
r * 7 sentences, so a long file never repeats a window's text exactly."""
import json
import os
import struct
import subprocess
import sys
import tempfile
import wave

SETS = {
    "en": [
        "The quick brown fox jumps over the lazy dog.",
        "Please call Stella and ask her to bring these things with her from the store.",
        "The weather today is cold and windy with a chance of rain in the evening.",
        "My brother bought a new car last week and drove it to the mountains.",
        "She opened the window to let the fresh air into the room.",
        "The meeting will start at nine in the morning and end before lunch.",
        "Reading books every night helps children learn new words quickly.",
        "The train to the city leaves from the second platform every hour.",
        "He forgot his umbrella at home and got wet on the way to work.",
        "Our team finished the project two days before the deadline.",
        "The old man walked slowly along the river with his small dog.",
        "Turn left at the next corner and the library is on your right.",
        "We planted tomatoes and carrots in the garden this spring.",
        "The doctor told him to drink more water and sleep longer.",
        "Most people enjoy a warm cup of coffee on a cold morning.",
        "The children played football in the park until it got dark.",
        "I will send you the report as soon as I get back to the office.",
        "The restaurant on the main street serves excellent fish and chips.",
        "Music can make a long journey feel much shorter.",
        "The museum is closed on Mondays but open late on Fridays.",
        "She learned to play the piano when she was seven years old.",
        "Please remember to turn off the lights when you leave the house.",
        "The price of fresh fruit goes up every winter.",
        "They watched the sun set behind the hills from the balcony.",
    ],
    "de": [
        "Guten Morgen, wie geht es Ihnen heute?",
        "Das Wetter ist heute sehr schön und die Sonne scheint.",
        "Ich möchte gerne eine Tasse Kaffee und ein Stück Kuchen bestellen.",
        "Der Zug nach Berlin fährt um acht Uhr vom dritten Gleis ab.",
    ],
    "es": [
        "Buenos días, ¿cómo está usted hoy?",
        "El tiempo es muy agradable y el sol brilla en el cielo.",
        "Me gustaría pedir una taza de café y un trozo de pastel.",
        "El tren a Madrid sale a las ocho de la mañana del andén tres.",
    ],
}
VOICE = {"en": "en-us", "de": "de", "es": "es"}


def speak(text, voice, tmp):
    raw, out = os.path.join(tmp, "raw.wav"), os.path.join(tmp, "s.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", raw, text], check=True)
    subprocess.run(["sox", "-G", "-D", raw, "-r", "16000", "-c", "1", "-b", "16", out], check=True)
    with wave.open(out, "rb") as w:
        return list(struct.unpack("<%dh" % w.getnframes(), w.readframes(w.getnframes())))


def extent(samples):
    thr = int(32768 * 0.01)   # -40 dBFS
    idx = [i for i, v in enumerate(samples) if abs(v) > thr]
    return (idx[0], idx[-1] + 1) if idx else (0, 0)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    opt = lambda k, d: argv[argv.index(k) + 1] if k in argv else d
    lang = opt("--set", "en")
    voice = opt("--voice", VOICE[lang])
    rounds, pause = int(opt("--rounds", "1")), float(opt("--pause", "1.0"))
    sents = SETS[lang][: int(opt("--first", str(len(SETS[lang]))))]
    pcm, meta, cache = [], [], {}
    gap = [0] * int(16000 * pause)
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            k = (r * 7) % len(sents)
            for text in sents[k:] + sents[:k]:
                if text not in cache:
                    cache[text] = speak(text, voice, tmp)
                s = cache[text]
                a, b = extent(s)
                meta.append({"text": text, "start": (len(pcm) + a) / 16000.0, "end": (len(pcm) + b) / 16000.0})
                pcm += s + gap
    with wave.open(argv[1] + ".wav", "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(struct.pack("<%dh" % len(pcm), *pcm))
    with open(argv[1] + ".txt", "w", encoding="utf-8") as f:
        f.write("\n".join(m["text"] for m in meta) + "\n")
    with open(argv[1] + ".json", "w", encoding="utf-8") as f:
        json.dump({"sentences": meta, "duration": len(pcm) / 16000.0}, f, indent=1)
    if "--clips" in argv:
        margin = float(opt("--clips", "0.25"))
        for i, m in enumerate(meta):
            a = max(0, int((m["start"] - margin) * 16000))
            b = min(len(pcm), int((m["end"] + margin) * 16000))
            with wave.open("%s.clip%02d.wav" % (argv[1], i), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(16000)
                w.writeframes(struct.pack("<%dh" % (b - a), *pcm[a:b]))
            with open("%s.clip%02d.txt" % (argv[1], i), "w", encoding="utf-8") as f:
                f.write(m["text"] + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
