#!/usr/bin/env python3
"""convert-openai-pt.py — an openai-whisper checkpoint (.pt, as `whisper.load_model` downloads
into ~/.cache/whisper) to the whisper.cpp ggml file speech-session loads.

  .venv/bin/python scripts/convert-openai-pt.py MODEL.pt OUT.bin [--assets DIR]
                  [--f32 | --q8_0 | --q5_0 | --q5_1 | --q4_0 | --q4_1]

MODEL.pt   a checkpoint in PyTorch's zip format (every file openai publishes; torch >= 1.6)
OUT.bin    the ggml file to write (written to OUT.bin.part, renamed when complete)
--assets   openai-whisper's `whisper/assets` directory (mel_filters.npz, gpt2.tiktoken,
           multilingual.tiktoken): the checkpoint holds neither the tokenizer nor the mel
           filterbank. Default: the installed `whisper` package's (found without importing it).
--f32      keep every tensor in float32 (default: matrices and convolutions in float16, the
           rest float32, as whisper.cpp's files are)
--q8_0     the matrices in q8_0 (blocks of 32: an f16 scale max|x|/127 and 32 int8), as
           whisper.cpp's `quantize ... q8_0` writes them; convolutions f16, the rest float32
--q5_0     the same with q5_0 (an f16 scale, 32 five-bit values), as `quantize ... q5_0`
--q5_1, --q4_0, --q4_1
           likewise (q5_1/q4_1: an f16 scale and minimum per block; q4_0: four-bit values)
Any other argument starting with "-" is a usage error (name such a file ./-x, or put it after --).

Needs numpy only — not torch. The .venv that scripts/install-deps.sh makes has it (hence
.venv/bin/python above); or apt install python3-numpy and run the script directly. The
checkpoint's pickle is read by a restricted unpickler that accepts nothing but the classes a
plain state dict needs (OrderedDict, tensor rebuilds and their storages), so a malicious .pt
cannot run code here. Layout of the output:
../shared/docs/model-format.md (docs/real-weights.md says how it was checked).
Exit: 0 ok, 1 conversion failed (with the reason), 2 usage or no numpy."""
import collections
import importlib.util
import os
import pickle
import struct
import sys
import zipfile
import zlib

# numpy is imported here but required only by a conversion (main says so), so that --help
# and usage errors work on a system Python without it: setup's numpy is in .venv only.
try:
    import numpy as np
except ImportError:
    np = None
NO_NUMPY = ("convert-openai-pt: needs numpy: run it with the Python of scripts/install-deps.sh"
            " (.venv/bin/python scripts/convert-openai-pt.py ...), or apt install python3-numpy"
            " (openai-whisper's Python has it too)")

GGML_MAGIC = 0x67676D6C
DIMS = ("n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
        "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer", "n_mels")
# tensors whisper.cpp keeps in float32 even in a float16 file (besides every 1-D tensor)
F32_NAMES = {"encoder.conv1.bias", "encoder.conv2.bias",
             "encoder.positional_embedding", "decoder.positional_embedding"}
# numpy dtype names (strings, so that nothing here needs numpy before main has checked it)
STORAGES = {"HalfStorage": "float16", "FloatStorage": "float32", "DoubleStorage": "float64",
            "BFloat16Storage": "bfloat16"}


class Fail(Exception):
    pass


def _rebuild_tensor(storage, offset, size, stride, *_ignored):
    """torch._utils._rebuild_tensor_v2: a view of a storage (offset, shape, strides in elements)."""
    if len(size) != len(stride):
        raise Fail("malformed tensor record (shape %r, stride %r)" % (size, stride))
    need = offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1 if all(size) else offset
    if offset < 0 or need > storage.size:
        raise Fail("a tensor reaches past its storage")
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size),
                                           strides=tuple(s * item for s in stride))
    return np.array(view)   # a copy: the storage may be shared by several views


def _rebuild_parameter(data, *_ignored):
    return data


class CheckpointUnpickler(pickle.Unpickler):
    """Only what a plain state dict pickles to; anything else is refused, never imported."""

    def __init__(self, f, zf, prefix):
        super().__init__(f)
        self.zf, self.prefix, self.cache = zf, prefix, {}

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in STORAGES:
            return STORAGES[name]
        raise Fail("refusing %s.%s: not part of a plain Whisper checkpoint" % (module, name))

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage":
            raise Fail("unknown persistent record %r" % (pid,))
        dtype, key = pid[1], str(pid[2])
        if key not in self.cache:
            try:
                raw = self.zf.read("%s/data/%s" % (self.prefix, key))
            except KeyError:
                raise Fail("storage %s missing from the archive" % key)
            if dtype == "bfloat16":   # the upper half of a float32
                a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
            else:
                a = np.frombuffer(raw, np.dtype(dtype).newbyteorder("<"))
            self.cache[key] = a
        return self.cache[key]


# torch.save's legacy (pre-1.6) format opens with this number pickled (protocol 2)
LEGACY_MAGIC = pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2)


def read_checkpoint(path):
    if not os.path.exists(path):
        raise Fail("%s: no such file" % path)
    if os.path.isdir(path):
        raise Fail("%s is a directory, not a checkpoint file" % path)
    try:
        with open(path, "rb") as f:
            head = f.read(len(LEGACY_MAGIC))
    except OSError as e:
        raise Fail("%s: cannot read it (%s)" % (path, e.strerror or e))
    if not head:
        raise Fail("%s is empty" % path)
    if not zipfile.is_zipfile(path):
        if head.startswith(b"PK"):
            raise Fail("%s is a truncated or damaged zip archive (its central directory is "
                       "missing): download or copy the checkpoint again" % path)
        if head == LEGACY_MAGIC:
            raise Fail("%s is in the legacy format of torch < 1.6, which is not read: load and "
                       "torch.save it once with a current torch" % path)
        raise Fail("%s is not a PyTorch checkpoint (neither the zip format of torch >= 1.6 nor "
                   "the legacy format)" % path)
    try:
        return _read_zip(path)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as e:
        # is_zipfile saw an end record, yet a member is damaged (bad CRC, cut short)
        raise Fail("%s is a damaged zip archive (%s): download or copy the checkpoint again"
                   % (path, e))


def _read_zip(path):
    with zipfile.ZipFile(path) as zf:
        pkls = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise Fail("%s: expected one <name>/data.pkl in the archive" % path)
        prefix = pkls[0].split("/")[0]
        bo = "%s/byteorder" % prefix
        if bo in zf.namelist() and zf.read(bo).strip() != b"little":
            raise Fail("big-endian checkpoints are not supported")
        with zf.open(pkls[0]) as f:
            ck = CheckpointUnpickler(f, zf, prefix).load()
    if not isinstance(ck, dict) or "dims" not in ck or "model_state_dict" not in ck:
        raise Fail("%s is not an openai-whisper checkpoint (no 'dims' and 'model_state_dict')" % path)
    dims = ck["dims"]
    missing = [k for k in DIMS if not isinstance(dims.get(k), int)]
    if missing:
        raise Fail("checkpoint dims lack %s" % ", ".join(missing))
    return dims, ck["model_state_dict"]


def whisper_assets():
    spec = importlib.util.find_spec("whisper")
    if spec and spec.submodule_search_locations:
        for d in spec.submodule_search_locations:
            a = os.path.join(d, "assets")
            if os.path.isfile(os.path.join(a, "mel_filters.npz")):
                return a
    raise Fail("openai-whisper's assets not found: install openai-whisper or pass --assets DIR")


def vocabulary(assets, multilingual):
    """Tokens by rank from the tiktoken file; English-only files end with <|endoftext|> at
    50256 as whisper.cpp's published .en files do (the multilingual list has its own 50256)."""
    import base64
    path = os.path.join(assets, "multilingual.tiktoken" if multilingual else "gpt2.tiktoken")
    ranks = {}
    for line in open(path, "rb"):
        if not line.strip():
            continue
        tok, rank = line.split()
        ranks[int(rank)] = base64.b64decode(tok)
    if sorted(ranks) != list(range(len(ranks))):
        raise Fail("%s: ranks are not 0..N-1" % path)
    toks = [ranks[i] for i in range(len(ranks))]
    if not multilingual:
        toks.append(b"<|endoftext|>")
    return toks


def _signed_max(x):
    """per block of 32 the value of largest magnitude, its sign kept (the first of equals)"""
    idx = np.abs(x).argmax(axis=2)
    return np.take_along_axis(x, idx[:, :, None], axis=2)[:, :, 0]


def _inv(d):
    return np.where(d != 0, np.float32(1) / np.where(d != 0, d, 1), 0).astype(np.float32)


def _nibbles(q):
    """element j's low four bits in byte j (j < 16) or the high nibble of byte j - 16"""
    return ((q[:, :, :16] & 15) | ((q[:, :, 16:] & 15) << 4)).astype(np.uint8)


def _fifth_bits(q):
    """bit 4 of element j in bit j of the little-endian u32 qh"""
    return (((q >> 4) & 1) << np.arange(32, dtype=np.uint32)).sum(axis=2, dtype=np.uint32)


def q8_0_blocks(a):
    """ggml's reference q8_0 quantization of a [rows, K] matrix (K % 32 == 0): per block
    d = max|x| / 127 (stored as f16), q = x · (1/d) rounded half away from zero."""
    x = a.reshape(a.shape[0], a.shape[1] // 32, 32).astype(np.float32)
    d = np.abs(x).max(axis=2) / np.float32(127)
    inv = np.where(d > 0, np.float32(1) / np.where(d > 0, d, 1), 0).astype(np.float32)
    v = x * inv[:, :, None]
    q = (np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))).astype(np.int8)
    blocks = np.empty(d.shape, dtype=[("d", "<f2"), ("q", "i1", (32,))])
    blocks["d"], blocks["q"] = d.astype("<f2"), q
    return blocks.tobytes()


def q5_0_blocks(a):
    """ggml's reference q5_0 quantization: per block of 32 the value of largest magnitude
    (sign kept) gives d = max / -16; q = min(31, trunc(x · (1/d) + 16.5)); element j's low
    four bits in byte j (j < 16) or its high nibble (byte j - 16), its fifth bit in bit j of
    the little-endian u32 qh."""
    x = a.reshape(a.shape[0], a.shape[1] // 32, 32).astype(np.float32)
    d = _signed_max(x) / np.float32(-16)
    q = np.minimum(31, (x * _inv(d)[:, :, None] + np.float32(16.5)).astype(np.int32)).astype(np.uint32)
    blocks = np.empty(d.shape, dtype=[("d", "<f2"), ("qh", "<u4"), ("qs", "u1", (16,))])
    blocks["d"], blocks["qh"], blocks["qs"] = d.astype("<f2"), _fifth_bits(q), _nibbles(q)
    return blocks.tobytes()


def q4_0_blocks(a):
    """ggml's reference q4_0 quantization: d = signed max / -8, q = min(15, trunc(x · (1/d) + 8.5))"""
    x = a.reshape(a.shape[0], a.shape[1] // 32, 32).astype(np.float32)
    d = _signed_max(x) / np.float32(-8)
    q = np.minimum(15, (x * _inv(d)[:, :, None] + np.float32(8.5)).astype(np.int32)).astype(np.uint32)
    blocks = np.empty(d.shape, dtype=[("d", "<f2"), ("qs", "u1", (16,))])
    blocks["d"], blocks["qs"] = d.astype("<f2"), _nibbles(q)
    return blocks.tobytes()


def _min_max_blocks(a, levels):
    """the _1 types: d = (max - min) / levels, m = min, q = trunc((x - min) · (1/d) + 0.5)"""
    x = a.reshape(a.shape[0], a.shape[1] // 32, 32).astype(np.float32)
    lo, hi = x.min(axis=2), x.max(axis=2)
    d = (hi - lo) / np.float32(levels)
    q = ((x - lo[:, :, None]) * _inv(d)[:, :, None] + np.float32(0.5)).astype(np.int32)
    return d, lo, np.minimum(levels, q).astype(np.uint32)


def q4_1_blocks(a):
    """ggml's reference q4_1 quantization: f16 d and min, q = min(15, ...) in nibbles"""
    d, m, q = _min_max_blocks(a, 15)
    blocks = np.empty(d.shape, dtype=[("d", "<f2"), ("m", "<f2"), ("qs", "u1", (16,))])
    blocks["d"], blocks["m"], blocks["qs"] = d.astype("<f2"), m.astype("<f2"), _nibbles(q)
    return blocks.tobytes()


def q5_1_blocks(a):
    """ggml's reference q5_1 quantization: f16 d and min, five-bit q (nibbles and qh)"""
    d, m, q = _min_max_blocks(a, 31)
    blocks = np.empty(d.shape, dtype=[("d", "<f2"), ("m", "<f2"), ("qh", "<u4"), ("qs", "u1", (16,))])
    blocks["d"], blocks["m"], blocks["qh"], blocks["qs"] = d.astype("<f2"), m.astype("<f2"), _fifth_bits(q), _nibbles(q)
    return blocks.tobytes()


# --QUANT: (ggml type, file ftype = 2000 + ggml's ftype, block writer)
QUANTS = {"q8_0": (8, 2007, q8_0_blocks), "q5_0": (6, 2008, q5_0_blocks), "q5_1": (7, 2009, q5_1_blocks),
          "q4_0": (2, 2002, q4_0_blocks), "q4_1": (3, 2003, q4_1_blocks)}


def write_ggml(out, dims, state, filters, tokens, f16, quant=None):
    expect = 11 + 15 * dims["n_audio_layer"] + 24 * dims["n_text_layer"]
    if len(state) != expect:
        raise Fail("the state dict has %d tensors, a Whisper model with these dims %d" % (len(state), expect))
    tmp = out + ".part"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<I", GGML_MAGIC))
        ftype = QUANTS[quant][1] if quant else 1 if f16 else 0
        f.write(struct.pack("<11i", *[dims[k] for k in DIMS], ftype))
        f.write(struct.pack("<ii", *filters.shape))
        f.write(np.ascontiguousarray(filters, "<f4").tobytes())
        f.write(struct.pack("<i", len(tokens)))
        for t in tokens:
            f.write(struct.pack("<I", len(t)) + t)
        for name, a in state.items():
            a = np.asarray(a, np.float32)
            if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
                a = a.reshape(a.shape[0], 1)    # whisper.cpp's [1, n] (ne order)
            half = f16 and a.ndim >= 2 and name not in F32_NAMES
            qt = quant if quant and a.ndim == 2 and name not in F32_NAMES and a.shape[1] % 32 == 0 else None
            data = QUANTS[qt][2](a) if qt else a.astype("<f2" if half else "<f4").tobytes()
            nb = name.encode()
            f.write(struct.pack("<iii", a.ndim, len(nb), QUANTS[qt][0] if qt else 1 if half else 0))
            f.write(struct.pack("<%di" % a.ndim, *reversed(a.shape)))   # ne[0] fastest
            f.write(nb)
            f.write(data)
    os.replace(tmp, out)


def main(argv):
    args, assets, f16, quant = [], None, True, None
    it = iter(argv[1:])
    for a in it:
        if a == "--":                       # the rest are file names, even "-x"
            args.extend(it)
            break
        if a == "--assets":
            assets = next(it, None)
        elif a == "--f32":
            f16 = False
        elif a[2:] in QUANTS and a.startswith("--"):
            quant = a[2:] if quant in (None, a[2:]) else "both"
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        elif a.startswith("-") and a != "-":
            # a mistyped option (--q8) must not become the output file's name
            print("convert-openai-pt: unknown option %s (./%s for a file of that name)" % (a, a),
                  file=sys.stderr)
            print(__doc__, file=sys.stderr)
            return 2
        else:
            args.append(a)
    if len(args) != 2 or (assets is None and "--assets" in argv) or (quant and not f16) or quant == "both":
        print(__doc__, file=sys.stderr)
        return 2
    if np is None:
        print(NO_NUMPY, file=sys.stderr)
        return 2
    src, out = args
    try:
        dims, state = read_checkpoint(src)
        assets = assets or whisper_assets()
        with np.load(os.path.join(assets, "mel_filters.npz")) as z:
            key = "mel_%d" % dims["n_mels"]
            if key not in z:
                raise Fail("no %d-bin mel filterbank in %s" % (dims["n_mels"], assets))
            filters = z[key].astype(np.float32)
        tokens = vocabulary(assets, dims["n_vocab"] >= 51865)
        write_ggml(out, dims, state, filters, tokens, f16, quant)
    except (Fail, OSError, pickle.UnpicklingError, ValueError, EOFError) as e:
        print("convert-openai-pt: %s" % e, file=sys.stderr)
        try:
            os.unlink(out + ".part")
        except OSError:
            pass
        return 1
    print("%s: %d tensors, n_vocab %d, %d mels, %s -> %s" % (
        src, len(state), dims["n_vocab"], dims["n_mels"], quant or ("f16" if f16 else "f32"), out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
