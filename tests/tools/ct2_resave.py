#!/usr/bin/env python3
"""Rewrites a CTranslate2 Whisper model with CTranslate2's own writer and quantizer, so the
engine's CTranslate2 reader is tested on files the format's reference tool wrote, in every
weight type (the PyPI models are float16 only).

  ct2_resave.py IN_DIR OUT_DIR QUANTIZATION     (float32, float16, int8, int8_float16, ...)

IN_DIR's model.bin is read with numpy (the layout in src/whisper/model_ct2.c), its variables
are set on a ctranslate2.specs.WhisperSpec, and WhisperSpec.optimize(QUANTIZATION) + save()
write OUT_DIR exactly as ct2-transformers-converter --quantization would (model.bin,
vocabulary.json, config.json). Needs the ctranslate2 package (scripts/check-reference.sh's
venv has it)."""
import json
import os
import re
import shutil
import struct
import sys

import numpy as np
from ctranslate2.specs import whisper_spec

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ct2_read import read_model  # noqa: E402


def set_path(spec, name, value):
    obj = spec
    parts = name.split("/")
    for p in parts[:-1]:
        m = re.fullmatch(r"(\w+?)_(\d+)", p)
        if m and isinstance(getattr(obj, m.group(1), None), list):
            obj = getattr(obj, m.group(1))[int(m.group(2))]
        else:
            obj = getattr(obj, p)
    setattr(obj, parts[-1], value)


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    src, dst, quant = argv[1:]
    v = read_model(os.path.join(src, "model.bin"))
    n_enc = len({k.split("/")[1] for k in v if re.match(r"encoder/layer_\d+/", k)})
    n_dec = len({k.split("/")[1] for k in v if re.match(r"decoder/layer_\d+/", k)})
    spec = whisper_spec.WhisperSpec(n_enc, int(v["encoder/num_heads"]), n_dec, int(v["decoder/num_heads"]))
    for name, value in v.items():
        if value.ndim == 0 or name.endswith("_scale"):
            continue   # flags and head counts: the spec sets its own; scales: re-derived
        if value.dtype == np.int8:
            scale = v[name + "_scale"].astype(np.float32)
            value = (value.astype(np.float32).reshape(value.shape[0], -1) / scale[:, None]).reshape(value.shape)
        set_path(spec, name, np.ascontiguousarray(value))
    # the converter ties the output projection to the embedding; optimize() turns the
    # identical pair into the alias the file carries
    spec.decoder.projection.weight = spec.decoder.embeddings.weight
    cfg = json.load(open(os.path.join(src, "config.json")))
    for k in ("suppress_ids", "suppress_ids_begin", "lang_ids", "alignment_heads"):
        if k in cfg:
            setattr(spec.config, k, cfg[k])
    if os.path.exists(os.path.join(src, "vocabulary.json")):
        tokens = json.load(open(os.path.join(src, "vocabulary.json"), encoding="utf-8"))
    else:
        tokens = open(os.path.join(src, "vocabulary.txt"), encoding="utf-8").read().split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
    spec.register_vocabulary(tokens)
    spec.validate()
    spec.optimize(quantization=quant)
    os.makedirs(dst, exist_ok=True)
    spec.save(dst)
    # as ct2-transformers-converter --copy_files tokenizer.json does (faster-whisper needs it)
    for f in ("tokenizer.json", "preprocessor_config.json"):
        if os.path.exists(os.path.join(src, f)):
            shutil.copy(os.path.join(src, f), os.path.join(dst, f))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
