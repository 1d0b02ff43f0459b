/* align.h — word-level timestamps from cross-attention (whisper-reference.md §7; openai/whisper
 * whisper/timing.py: find_alignment, dtw_cpu, backtrace, median_filter; tokenizer.py:
 * split_to_word_tokens, split_tokens_on_unicode, split_tokens_on_spaces).
 *
 * One alignment pass per window: the decoder is teacher-forced on
 * [sot_sequence..., notimestamps, text..., eot] in a spare decoder sequence; the
 * cross-attention of the alignment heads (wh_align_select_heads: the model config's, else
 * openai's per-size table, else every head of the last half of the decoder) is cut to the window's first
 * num_frames/2 audio positions and renormalised, standardised per head over tokens, median
 * filtered (width 7) along frames and averaged over heads; the sot rows and the eot row are
 * dropped and DTW on the negated matrix gives a monotonic token → frame path. The time of
 * text row i is the first frame the path reaches it at, / 50.
 *
 * The pure steps are exposed for tests. A wh_align owns its buffers, allocated once per
 * transcription (the head weights grow when a window has more tokens than any before). */
#ifndef WH_ALIGN_H
#define WH_ALIGN_H

#include "wh_engine.h"
#include "tokenizer.h"

#define WH_ALIGN_MEDFILT 7         /* openai medfilt_width */
#define WH_ALIGN_TOKENS_PER_SEC 50 /* audio positions per second (timing.py TOKENS_PER_SECOND) */

/* openai dtw_cpu + backtrace on x [N][M] (row-major, the negated attention matrix):
 * cost [(N+1)][(M+1)] and trace [(N+1)][(M+1)] are scratch; at each cell the predecessor is
 * diagonal (c0) if strictly below both others, else up (c1) if strictly below both others,
 * else left (c2). Writes the path from (0,0) to (N-1,M-1) to text_idx/time_idx (capacity
 * N + M) and returns its length (0 when N or M is 0). */
int wh_dtw(const float *x, int N, int M, float *cost, signed char *trace, int *text_idx, int *time_idx);

/* openai median_filter along one row of n values, in place: reflect padding of width/2
 * (odd width), the middle of the sorted window; rows with n <= width/2 are left as they are.
 * tmp holds n + width - 1 floats. */
void wh_median_filter(float *x, int n, int width, float *tmp);

/* (w - mean) / std per column over the n_rows rows of w [n_rows][n_cols] (population std,
 * torch.std_mean(unbiased=False) along the token axis), in place; a column with std 0
 * becomes 0 (openai would give NaN). */
void wh_standardize(float *w, int n_rows, int n_cols);

/* split_to_word_tokens: groups tokens[0..n) into words; ends[k] gets the (exclusive) token
 * index where word k ends. unicode_only (zh, ja, th, lo, my, yue): every complete UTF-8
 * character group is a word; otherwise a group starts a new word when its first token is
 * special (>= eot), its text starts with a space, or its stripped text is a substring of
 * string.punctuation (the empty string included). Returns the word count, -1 on OOM.
 * Tokens that close no group (an invalid byte sequence at the end) join the last word (ours:
 * openai drops them); *n_closed (NULL: not wanted) gets the tokens before them. */
int wh_split_words(const wh_tokenizer *t, const int *tokens, int n, int unicode_only, int *ends,
                   int *n_closed);

/* 1 for the languages openai splits on Unicode characters (zh ja th lo my yue). */
int wh_align_unicode_lang(const char *lang);

#define WH_ALIGN_MAX_HEADS 1024

/* The heads to average: the model's own (cfg[0..n_cfg), [layer, head] pairs from its
 * config; pairs outside n_layer x n_head are skipped) when it gives them, else openai's
 * table for size_name ("tiny.en" ... "large-v3"), else every head of the last half of the
 * decoder layers. Writes hl/hh (capacity WH_ALIGN_MAX_HEADS); returns the count. */
int wh_align_select_heads(const char *size_name, int n_layer, int n_head, const uint16_t (*cfg)[2], int n_cfg, int *hl,
                          int *hh);

typedef struct wh_align wh_align;

/* Uses decoder sequence seq (reset before each pass); sized for windows of up to
 * wh_n_text_ctx(ctx) tokens and the encoder's positions. */
sp_status wh_align_new(sp_context *ctx, int seq, wh_align **out);
void wh_align_free(wh_align *a);
/* the heads wh_align_new chose (wh_align_select_heads): *layer[i], *head[i]; returns the count */
int wh_align_heads(const wh_align *a, const int **layer, const int **head);

/* Aligns text[0..n_text) (ids < eot) against the window last passed to sp_encode, whose
 * content is num_frames mel frames. sot_seq[0..n_sot) is the window's sot sequence
 * (without notimestamps). times[0..n_text] gets the time (seconds from the window start) of
 * each row: row 0 is notimestamps, row i + 1 text[i]; so text token i spans
 * times[i] .. times[i + 1] (openai's word start/end). probs[i] = softmax over ids < eot of
 * the logits that predicted text[i]. SP_ERR_TOO_LARGE when the sequence does not fit the
 * text context; SP_ERR_INVALID_ARG for num_frames < 2 or nothing to align. */
sp_status wh_align_run(wh_align *a, const int *sot_seq, int n_sot, const int *text, int n_text, int num_frames,
                       float *times, float *probs);

#endif
