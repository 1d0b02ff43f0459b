#!/usr/bin/env python3
"""Reference speech probabilities of an ONNX Silero VAD file, one per line, as the silero-vad
package's own OnnxWrapper and get_speech_timestamps compute them: 512-sample chunks of 16 kHz
audio (the last zero-padded), each with the previous input's last 64 samples in front (zeros
before the first), the LSTM state carried from chunk to chunk, onnxruntime on one thread.

    python3 silero_probs.py MODEL.onnx AUDIO.wav > NAME.probs.txt

Needs numpy and onnxruntime; reads 16-bit mono 16 kHz WAV (int16 / 32768, as the engine's
loader). The *.silero-v6.2.3.probs.txt files beside it were made with silero-vad 6.2.3's
silero_vad.onnx (scripts/get-model.sh --vad-silero), onnxruntime 1.32.0 and numpy 2.4.6."""
import sys
import wave

import numpy as np
import onnxruntime as ort


def load(path):
    w = wave.open(path)
    if w.getframerate() != 16000 or w.getnchannels() != 1 or w.getsampwidth() != 2:
        sys.exit(f"{path}: not 16-bit mono 16 kHz")
    return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def main():
    model, wav = sys.argv[1], sys.argv[2]
    opts = ort.SessionOptions()
    opts.inter_op_num_threads = opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
    wanted = {i.name for i in sess.get_inputs()}   # some variants take no "sr"
    x = load(wav)
    state = np.zeros((2, 1, 128), np.float32)
    context = np.zeros((1, 64), np.float32)
    for i in range(0, len(x), 512):
        chunk = x[i:i + 512]
        if len(chunk) < 512:
            chunk = np.pad(chunk, (0, 512 - len(chunk)))
        inp = np.concatenate([context, chunk[None, :]], axis=1)
        feed = {"input": inp, "state": state, "sr": np.array(16000, dtype=np.int64)}
        out, state = sess.run(None, {k: v for k, v in feed.items() if k in wanted})
        context = inp[:, -64:]
        print("%.9g" % float(out.reshape(-1)[0]))


if __name__ == "__main__":
    main()
