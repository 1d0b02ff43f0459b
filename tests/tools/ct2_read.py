#!/usr/bin/env python3
"""Reads a CTranslate2 model.bin into {variable name: numpy array} (the layout
src/whisper/model_ct2.c reads), for the test tools that rewrite real weights in other
formats (ct2_resave.py, ct2_to_hf.py, make_openai_pt.py). Needs numpy."""
import struct

import numpy as np

DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_model(path):
    b = open(path, "rb").read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, b, pos)
        pos += struct.calcsize("<" + fmt)
        return v

    def string():
        nonlocal pos
        (n,) = take("H")
        s = b[pos:pos + n - 1].decode()
        pos += n
        return s

    take("I")
    string()
    take("I")
    (nv,) = take("I")
    out = {}
    for _ in range(nv):
        name = string()
        (rank,) = take("B")
        dims = take("I" * rank) if rank else ()
        dtype, nbytes = take("BI")
        out[name] = np.frombuffer(b, DTYPES[dtype], count=nbytes // np.dtype(DTYPES[dtype]).itemsize, offset=pos).reshape(dims)
        pos += nbytes
    return out
