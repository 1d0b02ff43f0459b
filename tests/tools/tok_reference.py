#!/usr/bin/env python3
"""tok_reference.py — an independent tiktoken-style reference encoder (tiktoken is not
installed here) and the 39 "hard" texts of the model/tokenizer audit; writes
tests/data/tokenizer-hard-texts.txt, which test_tokenizer reads.

The encoder reads the GPT-2 pre-split pattern directly ('s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+|
?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+, Unicode categories from Python's unicodedata,
\\s = White_Space) and runs tiktoken's byte_pair_merge (lowest rank first, leftmost on ties)
over openai's rank files. It is not derived from tokenizer.c. On the real CTranslate2
vocabularies (tiny.en, base) tokenizer.c gives these ids for all 39 texts.

    python3 tests/tools/tok_reference.py .venv/lib/python3.11/site-packages/whisper/assets \\
        > tests/data/tokenizer-hard-texts.txt
Output: one line per (vocabulary, text): "gpt2|multilingual HEX(text) id,id,..." ('-' for none).
"""
import base64
import os
import sys
import unicodedata

WS = set([*range(9, 14), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000])

T = [" Hello world.", "Hello", "  leading spaces", " trailing  ", " Grüße aus Köln, naïve café, Ærøskøbing",
     " 東京タワーに行きました。", " 你好，世界！我们在北京。", " 안녕하세요 여러분", " Привет, мир!", " مرحبا بالعالم",
     " नमस्ते दुनिया", " 🙂🙂 emoji 👍🏽 family 👨\u200d👩\u200d👧", " 12345678901234567890 3.14159 1,000,000",
     " <|endoftext|>", " <|startoftranscript|><|en|><|transcribe|>", "<|endoftext|>",
     " it's they'll we've I'd you're THEY'RE", " tabs\tand\nnewlines\n\n x", " \u00a0nbsp\u3000ideographic",
     " a" * 300, " " + "x" * 3000, " supercalifragilisticexpialidocious antidisestablishmentarianism",
     " ÀÉÎÕÜ àéîõü ñ ç ß œ", " ½ ² ³ Ⅻ ①", " \u0301combining e\u0301", " Ελληνικά γράμματα", " ไทย ภาษา",
     " ♪♫ music ♪", " --- ((( ))) [[", " kubectl get pods -n kube-system", " Dr. O'Neil's 2nd-place finish",
     " PostgreSQL, Kubernetes, gRPC, OAuth2", " ＦＵＬＬＷＩＤＴＨ ｶﾀｶﾅ", " 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math", "'s'S'll'LL",
     " ...!!!???", "   ", "\n", ""]


def isL(c): return unicodedata.category(c)[0] == 'L'
def isN(c): return unicodedata.category(c)[0] == 'N'
def isS(c): return ord(c) in WS
def other(c): return not (isS(c) or isL(c) or isN(c))


def presplit(t):
    out = []
    i, n = 0, len(t)
    while i < n:
        m = None
        for c in ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d"):
            if t.startswith(c, i):
                m = i + len(c)
                break
        if m is None:
            for pred in (isL, isN, other):
                j = i + 1 if t[i] == ' ' else i
                if j < n and pred(t[j]):
                    while j < n and pred(t[j]):
                        j += 1
                    m = j
                    break
        if m is None and isS(t[i]):
            j = i
            while j < n and isS(t[j]):
                j += 1
            k = j   # \s+(?!\S): give the last space back when a non-space follows
            while k > i and (k < n and not isS(t[k])):
                k -= 1
            m = k if k > i else j
        out.append(t[i:m])
        i = m
    return out


def load(path):
    r = {}
    for line in open(path, 'rb'):
        a, b = line.split()
        r[base64.b64decode(a)] = int(b)
    return r


def bpe(ranks, piece):
    if piece in ranks:
        return [ranks[piece]]
    parts = [piece[i:i + 1] for i in range(len(piece))]
    while True:
        best = None
        for i in range(len(parts) - 1):
            rk = ranks.get(parts[i] + parts[i + 1])
            if rk is not None and (best is None or rk < best[0]):
                best = (rk, i)
        if best is None:
            break
        i = best[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return [ranks[p] for p in parts]


def encode(ranks, text):
    ids = []
    for p in presplit(text):
        ids += bpe(ranks, p.encode('utf-8'))
    return ids


if __name__ == '__main__':
    for name in ('gpt2', 'multilingual'):
        ranks = load(os.path.join(sys.argv[1], name + '.tiktoken'))
        for t in T:
            ids = encode(ranks, t)
            print(name, t.encode().hex() or '-', ','.join(map(str, ids)) or '-')
