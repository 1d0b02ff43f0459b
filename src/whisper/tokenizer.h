/* tokenizer.h — Whisper's byte-level BPE over a ggml model's vocabulary
 * (whisper-reference.md §3, §8; openai/whisper whisper/tokenizer.py, tiktoken).
 *
 * - Decoding concatenates the raw bytes of the ids below eot and repairs the result to valid
 *   UTF-8: each maximal invalid subsequence becomes U+FFFD (as Python's
 *   bytes.decode("utf-8", "replace"), tiktoken and HF do). Invalid UTF-8 never comes out.
 * - Encoding matches tiktoken: the GPT-2 pre-split regex, implemented by hand over Unicode
 *   letters/numbers (\p{L}, \p{N}), then rank-based BPE where rank = token id (no merges
 *   file: the lowest-ranked adjacent pair whose concatenation is a token merges first).
 *
 * - ggml files (whisper.cpp's converters) store the tokens that are not valid UTF-8 on their
 *   own as their bytes decoded with U+FFFD. Bytes 0x80..0xFF come back from GPT-2's byte
 *   order, the multi-byte fragments (216 gpt2, 1348 multilingual) from openai's rank files
 *   (token_bytes.h, tools/gen_token_bytes.py), only for a vocabulary that is then exactly
 *   openai's; decoding and encoding are then tiktoken's on ggml files too.
 *
 * A tokenizer borrows the vocabulary bytes (the model mapping) unless it was loaded with
 * wh_tok_load_file, which owns them. Immutable after construction: thread-safe to share. */
#ifndef WH_TOKENIZER_H
#define WH_TOKENIZER_H

#include <stddef.h>
#include "wh_engine.h"

typedef struct wh_tokenizer wh_tokenizer;

/* vocab[0 .. n_tokens) borrowed; eot = first special id (ids >= eot are never text). */
sp_status wh_tok_new(const wh_token_bytes *vocab, int n_tokens, int eot, wh_tokenizer **out);
/* Reads only the header and vocabulary of a ggml Whisper model file (header-only files such
 * as ../shared/data/for-tests-ggml-base.bin work); *n_vocab gets the file's n_vocab. */
sp_status wh_tok_load_file(const char *path, wh_tokenizer **out, int *n_vocab, char *err, size_t err_size);
void wh_tok_free(wh_tokenizer *t);
/* How many fragment tokens (ids >= 256) had their real bytes put back: 0 for CTranslate2 and
 * Transformers vocabularies (already right) and for any vocabulary that is not openai's. */
int wh_tok_n_restored(const wh_tokenizer *t);

int wh_tok_eot(const wh_tokenizer *t);
int wh_tok_n_tokens(const wh_tokenizer *t);


/* Text of ids: bytes of ids in [0, min(eot, n_tokens)) concatenated, repaired. Other ids
 * (specials, timestamps, out of range) are dropped. malloc'd; NULL only on OOM. */
char *wh_tok_decode(const wh_tokenizer *t, const int *ids, int n);

/* BPE encoding of text[0..len) (invalid UTF-8 in text is repaired first). *ids malloc'd
 * (non-NULL on success, even for 0 tokens). Returns the count, or -1 on OOM. */
int wh_tok_encode(const wh_tokenizer *t, const char *text, size_t len, int **ids);

/* Id of exactly these bytes, or -1. */
int wh_tok_find(const wh_tokenizer *t, const char *bytes, size_t len);

/* The non-speech set ("-1" in suppress_tokens) as openai computes it
 * (tokenizer.py: non_speech_tokens) with this tokenizer's BPE. Sorted, distinct; returns the
 * count (<= cap), or -1 on OOM. */
int wh_tok_nonspeech_compute(const wh_tokenizer *t, int *out, int cap);
/* The same set as listed in whisper-reference.md §4 for real vocabularies: gpt2/.en (84 ids)
 * or multilingual/v3 (82 ids). Sorted. */
int wh_nonspeech_table(int multilingual, const int **ids);

/* Unicode classes used by the pre-split (exposed for tests). */
int wh_uc_is_letter(uint32_t cp);
int wh_uc_is_number(uint32_t cp);
int wh_uc_is_space(uint32_t cp);

/* Pre-split of valid UTF-8 text into pieces: calls fn(piece, len, user) for each; fn
 * returning non-zero stops (and is returned). */
int wh_tok_presplit(const char *text, size_t len, int (*fn)(const char *p, size_t n, void *user), void *user);

#endif
