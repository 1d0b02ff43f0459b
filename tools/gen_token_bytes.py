#!/usr/bin/env python3
"""gen_token_bytes.py — writes src/whisper/token_bytes.h: the real bytes of the Whisper BPE
tokens that are not valid UTF-8 on their own ("fragments", e.g. rank 4222 = F0 9F, the first
half of an emoji), for openai's two vocabularies.

Why: whisper.cpp's ggml converters store each such token as its bytes decoded with
replacement characters (4222 -> EF BF BD), so the bytes are lost in every ggml file. The
tokenizer (tokenizer.c) puts the real bytes back from this table when the file's entry is
exactly that lossy form and the whole vocabulary is then openai's (the FNV-1a hash below).

Run by hand (stdlib only); the output is committed:
    python3 tools/gen_token_bytes.py --assets .venv/lib/python3.11/site-packages/whisper/assets \\
        [--check-ct2 .cache/weights/tiny.en --check-ct2 .cache/weights/base] \\
        [--check-ggml ../shared/data/for-tests-ggml-base.bin ...] > src/whisper/token_bytes.h
The checks (optional) verify what the tokenizer assumes: in a real CTranslate2 vocabulary
token id == rank for every rank and <|endoftext|>, <|startoftranscript|> follow at n_ranks,
n_ranks + 1; in a ggml file every token below n_ranks is the rank's bytes or their lossy form.
Data: openai/whisper whisper/assets/{gpt2,multilingual}.tiktoken (MIT licence).
"""
import argparse
import base64
import os
import struct
import sys


def load_ranks(path):
    ranks = []
    with open(path, 'rb') as f:
        for line in f:
            if not line.strip():
                continue
            tok, rank = line.split()
            if int(rank) != len(ranks):
                sys.exit('%s: rank %s out of order' % (path, rank))
            ranks.append(base64.b64decode(tok))
    return ranks


def is_utf8(b):
    try:
        b.decode('utf-8')
        return True
    except UnicodeDecodeError:
        return False


def lossy(b):
    return b.decode('utf-8', 'replace').encode('utf-8')


def fnv1a64(tokens):
    """Over each token: its length as 4 bytes little-endian, then its bytes (tokenizer.c
    vocab_hash does the same)."""
    h = 0xcbf29ce484222325
    for t in tokens:
        for c in struct.pack('<I', len(t)) + t:
            h = ((h ^ c) * 0x100000001b3) & 0xffffffffffffffff
    return h


def bytes_to_unicode():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def check_ct2(d, vocabs):
    dec = bytes_to_unicode()
    with open(os.path.join(d, 'vocabulary.txt'), encoding='utf-8') as f:
        lines = f.read().split('\n')
    if lines and lines[-1] == '':
        lines.pop()
    name = 'multilingual' if len(lines) >= 51865 else 'gpt2'
    ranks = vocabs[name]
    n = len(ranks)
    for i in range(n):
        got = bytes(dec[c] for c in lines[i]) if i or lines[i] else b''
        if got != ranks[i]:
            sys.exit('%s: token %d %r is not rank %d %r' % (d, i, got, i, ranks[i]))
    if lines[n] != '<|endoftext|>' or lines[n + 1] != '<|startoftranscript|>':
        sys.exit('%s: specials not at %d, %d' % (d, n, n + 1))
    print('check %s: %d tokens == %s ranks, <|endoftext|> at %d' % (d, n, name, n), file=sys.stderr)


def check_ggml(path, vocabs):
    with open(path, 'rb') as f:
        b = f.read(16 << 20)
    h = struct.unpack_from('<12i', b, 0)
    pos = 48
    nmel, nfft = struct.unpack_from('<2i', b, pos)
    pos += 8 + nmel * nfft * 4
    ntok, = struct.unpack_from('<i', b, pos)
    pos += 4
    toks = []
    for _ in range(ntok):
        ln, = struct.unpack_from('<i', b, pos)
        toks.append(b[pos + 4:pos + 4 + ln])
        pos += 4 + ln
    name = 'multilingual' if h[1] >= 51865 else 'gpt2'
    ranks = vocabs[name]
    lossy_frag = 0
    for i, r in enumerate(ranks):
        if toks[i] == r:
            continue
        if toks[i] != lossy(r):
            sys.exit('%s: token %d %r is neither rank %d %r nor its lossy form' % (path, i, toks[i], i, r))
        if i >= 256:
            lossy_frag += 1
    print('check %s: %s ranks; %d fragment tokens (ids >= 256) stored lossy' % (path, name, lossy_frag),
          file=sys.stderr)


def c_bytes(b):
    return ''.join('\\x%02x' % c for c in b)


def emit(name, ranks, out):
    frag = [(i, r) for i, r in enumerate(ranks) if i >= 256 and not is_utf8(r)]
    pool = b''.join(r for _, r in frag)
    if len(pool) >= 65536 or any(len(r) > 255 for _, r in frag):
        sys.exit('table does not fit its types')
    out.append('#define WH_FRAG_%s_N %d' % (name.upper(), len(frag)))
    out.append('#define WH_FRAG_%s_RANKS %d' % (name.upper(), len(ranks)))
    out.append('#define WH_FRAG_%s_HASH 0x%016xULL' % (name.upper(), fnv1a64(ranks)))
    out.append('static const uint16_t k_frag_%s_id[%d] = {' % (name, len(frag)))
    for k in range(0, len(frag), 12):
        out.append('    ' + ', '.join(str(i) for i, _ in frag[k:k + 12]) + ',')
    out.append('};')
    out.append('static const uint8_t k_frag_%s_len[%d] = {' % (name, len(frag)))
    for k in range(0, len(frag), 20):
        out.append('    ' + ', '.join(str(len(r)) for _, r in frag[k:k + 20]) + ',')
    out.append('};')
    out.append('static const char k_frag_%s_bytes[] =' % name)
    for k in range(0, len(pool), 24):
        out.append('    "%s"' % c_bytes(pool[k:k + 24]))
    out.append(';')
    return len(frag), len(pool)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--assets', required=True)
    ap.add_argument('--check-ct2', action='append', default=[])
    ap.add_argument('--check-ggml', action='append', default=[])
    a = ap.parse_args()
    vocabs = {n: load_ranks(os.path.join(a.assets, n + '.tiktoken')) for n in ('gpt2', 'multilingual')}
    for d in a.check_ct2:
        check_ct2(d, vocabs)
    for p in a.check_ggml:
        check_ggml(p, vocabs)
    out = ['/* token_bytes.h — GENERATED by tools/gen_token_bytes.py from openai/whisper',
           ' * whisper/assets/{gpt2,multilingual}.tiktoken (MIT licence); do not edit.',
           ' * For each vocabulary: the ids >= 256 whose bytes are not valid UTF-8 on their own',
           ' * (ascending), their lengths, their bytes concatenated in that order; the rank count and',
           ' * the FNV-1a 64 hash of all ranks (4-byte LE length, then bytes, per rank). Included only',
           ' * by tokenizer.c. */',
           '#ifndef WH_TOKEN_BYTES_H', '#define WH_TOKEN_BYTES_H', '', '#include <stdint.h>', '']
    for n in ('gpt2', 'multilingual'):
        k, nb = emit(n, vocabs[n], out)
        out.append('')
        print('%s: %d ranks, %d fragment tokens, %d bytes' % (n, len(vocabs[n]), k, nb), file=sys.stderr)
    out.append('#endif')
    sys.stdout.write('\n'.join(out) + '\n')


if __name__ == '__main__':
    main()
