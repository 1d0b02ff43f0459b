#!/usr/bin/env python3
"""Writes a CTranslate2 Whisper directory's real weights as an openai-whisper checkpoint in
PyTorch's zip format, to test scripts/convert-openai-pt.py without torch.

  make_openai_pt.py CT2_DIR OUT.pt [--evil]

The file is what torch.save({"dims": ..., "model_state_dict": ...}) writes: a zip holding
NAME/data.pkl (pickle protocol 2; tensors as torch._utils._rebuild_tensor_v2 over storages
referenced by persistent ids ("storage", torch.HalfStorage, key, "cpu", numel)),
NAME/data/<key> (raw little-endian storage bytes), NAME/version and NAME/byteorder. Two
tensors share one storage (query and key of the first encoder layer are views of one
stacked storage, with an offset) as torch's own views do. The pickler refers to torch's
names through stand-in modules, so no torch is needed. --evil adds a reference to os.system
that a safe loader must refuse. Names: openai's model.py (whisper.cpp keeps them). Needs numpy."""
import os
import pickle
import sys
import types
import zipfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ct2_read import read_model  # noqa: E402

# stand-ins so pickle writes GLOBAL torch._utils _rebuild_tensor_v2 / torch HalfStorage
torch = types.ModuleType("torch")
tutils = types.ModuleType("torch._utils")


def _rebuild_tensor_v2(*a):
    raise RuntimeError("stand-in")


_rebuild_tensor_v2.__module__ = "torch._utils"
tutils._rebuild_tensor_v2 = _rebuild_tensor_v2
HalfStorage = type("HalfStorage", (), {"__module__": "torch"})
FloatStorage = type("FloatStorage", (), {"__module__": "torch"})
torch.HalfStorage, torch.FloatStorage, torch._utils = HalfStorage, FloatStorage, tutils
sys.modules.update({"torch": torch, "torch._utils": tutils})


class Storage:
    def __init__(self, key, array):
        self.key, self.array = key, array


class Tensor:
    def __init__(self, storage, offset, shape):
        self.storage, self.offset, self.shape = storage, offset, shape

    def __reduce__(self):
        stride, s = [], 1
        for n in reversed(self.shape):
            stride.insert(0, s)
            s *= n
        import collections
        return (_rebuild_tensor_v2, (self.storage, self.offset, tuple(self.shape), tuple(stride),
                                     False, collections.OrderedDict()))


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            typ = HalfStorage if obj.array.dtype == np.float16 else FloatStorage
            return ("storage", typ, obj.key, "cpu", obj.array.size)
        return None


def openai_state(v):
    n = v["encoder/conv1/weight"].shape[0]
    st = {}
    st["encoder.conv1.weight"], st["encoder.conv1.bias"] = v["encoder/conv1/weight"], v["encoder/conv1/bias"]
    st["encoder.conv2.weight"], st["encoder.conv2.bias"] = v["encoder/conv2/weight"], v["encoder/conv2/bias"]
    st["encoder.positional_embedding"] = v["encoder/position_encodings/encodings"]

    def lin(o, c, bias=True):
        st[o + ".weight"] = v[c + "/weight"]
        if bias:
            st[o + ".bias"] = v[c + "/bias"]

    def ln(o, c):
        st[o + ".weight"], st[o + ".bias"] = v[c + "/gamma"], v[c + "/beta"]

    for side in ("encoder", "decoder"):
        i = 0
        while "%s/layer_%d/ffn/linear_0/weight" % (side, i) in v:
            c, o = "%s/layer_%d" % (side, i), "%s.blocks.%d" % (side, i)
            w, b = v[c + "/self_attention/linear_0/weight"], v[c + "/self_attention/linear_0/bias"]
            for j, p in enumerate(("query", "key", "value")):
                st["%s.attn.%s.weight" % (o, p)] = w[j * n:(j + 1) * n]
                if p != "key":
                    st["%s.attn.%s.bias" % (o, p)] = b[j * n:(j + 1) * n]
            lin(o + ".attn.out", c + "/self_attention/linear_1")
            ln(o + ".attn_ln", c + "/self_attention/layer_norm")
            if side == "decoder":
                lin(o + ".cross_attn.query", c + "/attention/linear_0")
                kv, kvb = v[c + "/attention/linear_1/weight"], v[c + "/attention/linear_1/bias"]
                st[o + ".cross_attn.key.weight"] = kv[:n]
                st[o + ".cross_attn.value.weight"], st[o + ".cross_attn.value.bias"] = kv[n:], kvb[n:]
                lin(o + ".cross_attn.out", c + "/attention/linear_2")
                ln(o + ".cross_attn_ln", c + "/attention/layer_norm")
            lin(o + ".mlp.0", c + "/ffn/linear_0")
            lin(o + ".mlp.2", c + "/ffn/linear_1")
            ln(o + ".mlp_ln", c + "/ffn/layer_norm")
            i += 1
    ln("encoder.ln_post", "encoder/layer_norm")
    st["decoder.token_embedding.weight"] = v["decoder/embeddings/weight"]
    st["decoder.positional_embedding"] = v["decoder/position_encodings/encodings"]
    ln("decoder.ln", "decoder/layer_norm")
    return st


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    v = read_model(os.path.join(argv[1], "model.bin"))
    st = openai_state(v)
    n_enc = sum(1 for k in st if k.startswith("encoder.blocks.") and k.endswith(".mlp.0.weight"))
    n_dec = sum(1 for k in st if k.startswith("decoder.blocks.") and k.endswith(".mlp.0.weight"))
    n = st["encoder.conv1.weight"].shape[0]
    dims = {"n_mels": int(st["encoder.conv1.weight"].shape[1]), "n_vocab": int(st["decoder.token_embedding.weight"].shape[0]),
            "n_audio_ctx": int(st["encoder.positional_embedding"].shape[0]), "n_audio_state": n,
            "n_audio_head": int(v["encoder/num_heads"]), "n_audio_layer": n_enc,
            "n_text_ctx": int(st["decoder.positional_embedding"].shape[0]), "n_text_state": n,
            "n_text_head": int(v["decoder/num_heads"]), "n_text_layer": n_dec}
    import collections
    state, storages = collections.OrderedDict(), []
    # query and key of encoder layer 0 share one storage, key at an offset (a torch view)
    q, k = st["encoder.blocks.0.attn.query.weight"], st["encoder.blocks.0.attn.key.weight"]
    shared = Storage("0", np.ascontiguousarray(np.concatenate([q.ravel(), k.ravel()])))
    storages.append(shared)
    for name, a in st.items():
        a = np.ascontiguousarray(a)
        if name == "encoder.blocks.0.attn.query.weight":
            state[name] = Tensor(shared, 0, a.shape)
        elif name == "encoder.blocks.0.attn.key.weight":
            state[name] = Tensor(shared, q.size, a.shape)
        else:
            s = Storage(str(len(storages)), a.ravel())
            storages.append(s)
            state[name] = Tensor(s, 0, a.shape)
    ck = {"dims": dims, "model_state_dict": state}
    if "--evil" in argv:
        ck["extra"] = Evil()
    import io
    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(ck)
    prefix = os.path.splitext(os.path.basename(argv[2]))[0]
    with zipfile.ZipFile(argv[2], "w", zipfile.ZIP_STORED) as z:
        z.writestr(prefix + "/data.pkl", buf.getvalue())
        z.writestr(prefix + "/byteorder", "little")
        for s in storages:
            z.writestr(prefix + "/data/" + s.key, s.array.astype(s.array.dtype.newbyteorder("<")).tobytes())
        z.writestr(prefix + "/version", "3\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
