/* search.h — what happens to the logits between two forward passes: the logit filters,
 * greedy / beam / best_of decoding of one 30 s window, and the quality measures
 * (whisper-reference.md §4; openai/whisper whisper/decoding.py).
 *
 * The filters are pure functions of (sampled tokens, logits row) so each rule can be tested
 * on crafted logits. The decoder (wh_search_run) drives the engine through wh_engine.h:
 * all beams / samples of a step go through one batched wh_decode_step. A wh_search owns
 * every buffer a window needs, allocated once per transcription: nothing is allocated per
 * decoded token. */
#ifndef WH_SEARCH_H
#define WH_SEARCH_H

#include <stddef.h>
#include <stdint.h>
#include "wh_engine.h"

/* ------------------------------------------------------------------ RNG
 * splitmix64-seeded xoshiro256**: same seed, same samples, on every platform. */
typedef struct { uint64_t s[4]; } wh_rng;
void wh_rng_seed(wh_rng *r, uint64_t seed);
uint64_t wh_rng_next(wh_rng *r);
double wh_rng_uniform(wh_rng *r);   /* [0, 1), 53 bits */

/* ------------------------------------------------------------------ filters */
typedef struct {
    int n_vocab;
    wh_specials sp;
    int blank_id;            /* encode(" ")[0]: 220 */
    int suppress_blank;      /* SuppressBlank */
    const int *suppress;     /* SuppressTokens: sorted ids (see wh_parse_suppress) */
    int n_suppress;
    int timestamps;          /* ApplyTimestampRules (off when without_timestamps) */
    int max_initial_ts;      /* max_initial_timestamp / 0.02 rounded; < 0: no limit */
} wh_filter;

/* Each takes the window's tokens so far (after the sot sequence: a forced prefix, then the
 * sampled ones) and one row of logits, modified in place (-INFINITY). */
void wh_filter_suppress_blank(const wh_filter *f, int n_sampled, float *logits);   /* n_sampled: after the prefix */
void wh_filter_suppress_tokens(const wh_filter *f, float *logits);
/* the prefix counts as output here: its text closes with a timestamp like any segment's
 * (faster-whisper puts <|0.00|> before it), and the first-timestamp rule is for a window
 * without one (recent CTranslate2: only at step 0) */
void wh_filter_timestamp_rules(const wh_filter *f, const int *seq, int n, float *logits);
/* all enabled filters in openai's order: SuppressBlank, SuppressTokens, ApplyTimestampRules.
 * seq[0..n) holds n_forced prefix tokens, then the sampled ones: blank and EOT are
 * suppressed at the first step after the prefix (openai's sample_begin, CTranslate2's
 * SuppressTokensBegin at step == prefix length) */
void wh_filter_apply(const wh_filter *f, const int *seq, int n, int n_forced, float *logits);

/* suppress_tokens spec → sorted distinct ids: "-1" = the non-speech set (nonspeech[]),
 * other non-negative ids as given (comma/space separated; "" or NULL = none), plus always
 * transcribe, translate, sot, startofprev, startoflm and nospeech (openai
 * decoding.py:_get_suppress_tokens). Returns the count, or -1 when the spec is malformed or
 * an id is out of [0, n_vocab) (or cap is too small). */
int wh_parse_suppress(const char *spec, const int *nonspeech, int n_nonspeech, const wh_specials *sp,
                      int n_vocab, int *out, int cap);

/* log(sum(exp(x))) over n values; -INFINITY when all are -INFINITY */
float wh_logsumexp(const float *x, int n);
/* len(text) / len(zlib.compress(text)) at level 6 (openai utils.py: compression_ratio);
 * 0 for empty text. */
float wh_compression_ratio(const char *text, size_t len);

/* ------------------------------------------------------------------ beam bookkeeping */
typedef struct {
    int src;          /* index of the live beam it extends */
    int token;
    float logprob;    /* log_softmax of the filtered logits */
    double score;     /* beam sum + logprob */
} wh_cand;

/* One step of beam search for one audio, as CTranslate2's BeamSearch (faster-whisper), pure:
 * rows[j] are the filtered logits of live beam j (n_live of them, sums[j] their cumulative
 * log-probs). Each beam proposes its top beam_size + 1 tokens; candidates are ranked by score
 * (stable: beam order, then token rank); of the first beam_size, EOT candidates go to
 * finished[] and the others to next[], each EOT's place taken by the next non-EOT candidate
 * ranked beam_size .. 2·beam_size - 1 (EOTs there are passed over). scratch holds
 * n_live * (beam_size + 1) entries. Returns the number kept (<= beam_size; *n_finished gets
 * the finished count, <= beam_size). */
/* One draw from softmax(row / T) (T > 0) over the row's finite logits (n of them at most;
 * scratch: n floats); the token index. The first index of the largest logit when the total
 * is not a number. */
int wh_sample_row(const float *row, int n, float T, wh_rng *rng, float *scratch);
int wh_beam_select(const float *const *rows, const double *sums, int n_live, int n_vocab, int beam_size,
                   int eot, wh_cand *scratch, wh_cand *next, wh_cand *finished, int *n_finished);

/* Ranking score of a finished sequence (openai MaximumLikelihoodRanker): sum / length, or
 * with length_penalty > 0: sum / ((5 + length) / 6)^length_penalty. */
double wh_rank_score(double sum_logprob, int length, float length_penalty);

/* ------------------------------------------------------------------ decoding one window */
typedef struct wh_search wh_search;

/* max_group: most beams / samples used at once (1..WH_MAX_SEQ; decoder sequences 0..max_group-1
 * are used); allocates everything for windows of up to wh_n_text_ctx(ctx) tokens. */
sp_status wh_search_new(sp_context *ctx, int max_group, wh_search **out);
void wh_search_free(wh_search *s);

typedef struct {
    float temperature;       /* 0: beam search (beam_size > 1) or greedy; > 0: best_of samples */
    int beam_size, best_of;
    float patience, length_penalty;
    int sample_len;          /* most tokens sampled (224) */
    const wh_filter *filter;
    wh_rng *rng;
    volatile int *cancel;
} wh_decode_opts;

typedef struct {
    const int *tokens;       /* forced + sampled tokens, EOT excluded (owned by the wh_search,
                              * valid until its next run) */
    const float *probs;      /* probability of each when chosen (1 for forced tokens) */
    int n_tokens;
    int n_forced;
    double sum_logprob;      /* includes EOT's log-prob when it was reached */
    float avg_logprob;       /* sum / (sampled + 1) */
    float no_speech_prob;    /* softmax(unfiltered logits at sot)[nospeech] */
    float temperature;
    int hit_eot;
} wh_decode_result;

/* Decodes the window last passed to sp_encode: init[0..n_init) is fed (the prompt, the sot
 * sequence, then n_forced forced tokens that count as output: a prefix), init[sot_index] is
 * sot. Uses decoder sequences 0 .. group-1 (resets them). */
sp_status wh_search_run(wh_search *s, const int *init, int n_init, int sot_index, int n_forced,
                        const wh_decode_opts *o, wh_decode_result *out);

#endif
