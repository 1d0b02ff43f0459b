/* wh_engine.h — the engine's internal interface between the forward pass (model, encoder,
 * decoder: src/whisper/{model,encoder,decoder}.c) and the decoding layer (search, tokenizer,
 * transcription loop). Not public: users see include/speech.h.
 *
 * A context holds n_seq_max decoder sequences (beams / best_of samples), each with its own
 * self-attention KV cache and length; all share the window's cross-attention K/V. */
#ifndef WH_ENGINE_H
#define WH_ENGINE_H

#include "speech.h"
#include "speech_audio.h"

/* special token ids of a model (whisper-reference.md §3) */
typedef struct {
    int eot, sot, lang_first, n_lang, translate, transcribe, startoflm, startofprev;
    int nospeech, notimestamps, timestamp_begin;
} wh_specials;

typedef struct {
    const char *bytes;   /* raw token bytes (points into the mapped file), not NUL-terminated */
    uint32_t len;
} wh_token_bytes;

/* The vocabulary as stored in the file: ids 0 .. n_tokens-1 (n_tokens <= n_vocab). */
const wh_token_bytes *wh_vocab(const sp_context *ctx, int *n_tokens);
const wh_specials *wh_special_tokens(const sp_context *ctx);
int wh_n_vocab(const sp_context *ctx);
int wh_n_text_ctx(const sp_context *ctx);

/* Maximum number of decoder sequences usable at once (beams, samples). */
#define WH_MAX_SEQ 16

/* Resets sequence seq to empty (n_past 0). */
void wh_seq_reset(sp_context *ctx, int seq);
/* Copies sequence src's KV cache and length into dst (beam reordering). SP_ERR_NOMEM when
 * dst's cache cannot be allocated (its first use), SP_ERR_INVALID_ARG for bad ids. */
sp_status wh_seq_copy(sp_context *ctx, int dst, int src);
int  wh_seq_len(const sp_context *ctx, int seq);

/* Feeds n tokens into sequence seq (appending after its n_past). Writes the logits of the
 * last token to logits[n_vocab] (unfiltered, f32). */
sp_status wh_decode_seq(sp_context *ctx, int seq, const int *tokens, int n, float *logits);

/* Teacher-forced pass for word alignment: like wh_decode_seq, but writes the logits of
 * every row (logits [n][n_vocab], may be NULL) and the cross-attention probabilities of
 * every decoder layer and head: attn [n_text_layer][n][n_head][wh_encoded_ctx()]. */
sp_status wh_decode_seq_attn(sp_context *ctx, int seq, const int *tokens, int n, float *logits, float *attn);
int wh_encoded_ctx(const sp_context *ctx);   /* audio positions of the encoded window, 0 if none */
int wh_encoded_ctx_max(const sp_context *ctx);   /* the model's n_audio_ctx (1500) */
/* the encoder positions audio_ctx auto gives `heard` positions of audio (50 a second) in a
 * model of `full` (transcribe.c says why) */
int wh_audio_ctx_auto(int heard, int full);
int wh_n_text_layer(const sp_context *ctx);
/* The alignment heads the model's own config gives ([layer, head] pairs; wh_model
 * align_heads); 0 and *heads NULL when it gives none. */
int wh_model_align_heads(const sp_context *ctx, const uint16_t (**heads)[2]);
int wh_n_head(const sp_context *ctx);

/* One step for several sequences at once, batched through the weight matmuls: token
 * tokens[i] is appended to sequence seqs[i]; logits is [n][n_vocab]. Sequences must be
 * distinct. */
sp_status wh_decode_step(sp_context *ctx, int n, const int *seqs, const int *tokens,
                         float *logits);

/* The context's tokenizer over the model's vocabulary, built on first use and kept until
 * sp_context_free (building the BPE index of ~50k tokens costs milliseconds per call
 * otherwise). NULL on allocation failure. Owned by the context. */
struct wh_tokenizer;
const struct wh_tokenizer *wh_context_tokenizer(sp_context *ctx);
/* The context's voice activity detector for model path (NULL: the energy detector), kept
 * from the previous call when the same file is asked for; owned by the context. */
sp_status wh_ctx_vad(sp_context *ctx, const char *path, sp_vad **out, char *err, size_t err_size);

/* Language id a multilingual model's token id maps to ("en", ...), or NULL. */
const char *wh_language_code(int index);
int wh_language_index(const char *code);   /* -1 if unknown */

#endif
