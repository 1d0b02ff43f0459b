/* search.c — logit filters, beam search, greedy / best_of sampling (see search.h;
 * openai/whisper whisper/decoding.py: SuppressBlank, SuppressTokens, ApplyTimestampRules,
 * GreedyDecoder, BeamSearchDecoder, MaximumLikelihoodRanker; utils.py compression_ratio). */
#include "search.h"
#include "kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ------------------------------------------------------------------ RNG */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void wh_rng_seed(wh_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t wh_rng_next(wh_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double wh_rng_uniform(wh_rng *r) { return (double)(wh_rng_next(r) >> 11) * 0x1.0p-53; }

/* ------------------------------------------------------------------ maths */

float wh_logsumexp(const float *x, int n)
{
    return n > 0 ? wh_lse(x, n) : -INFINITY;
}

float wh_compression_ratio(const char *text, size_t len)
{
    if (len == 0) return 0.0f;
    uLongf cl = compressBound((uLong)len);
    unsigned char stackbuf[4096], *buf = cl <= sizeof stackbuf ? stackbuf : malloc(cl);
    if (!buf) return 0.0f;
    float r = 0.0f;
    if (compress2(buf, &cl, (const Bytef *)text, (uLong)len, 6) == Z_OK && cl > 0) r = (float)len / (float)cl;
    if (buf != stackbuf) free(buf);
    return r;
}

double wh_rank_score(double sum_logprob, int length, float length_penalty)
{
    double pen = length_penalty > 0 ? pow((5.0 + length) / 6.0, length_penalty) : (double)length;
    if (pen <= 0) pen = 1;   /* openai divides by 0 for an empty sequence: rank it by its sum */
    return sum_logprob / pen;
}

/* ------------------------------------------------------------------ filters */

void wh_filter_suppress_blank(const wh_filter *f, int n_sampled, float *logits)
{
    if (n_sampled != 0) return;
    if (f->blank_id >= 0 && f->blank_id < f->n_vocab) logits[f->blank_id] = -INFINITY;
    logits[f->sp.eot] = -INFINITY;
}

void wh_filter_suppress_tokens(const wh_filter *f, float *logits)
{
    for (int i = 0; i < f->n_suppress; i++)
        if (f->suppress[i] >= 0 && f->suppress[i] < f->n_vocab) logits[f->suppress[i]] = -INFINITY;
}

static void mask(float *l, int a, int b)   /* [a, b) */
{
    for (int i = a < 0 ? 0 : a; i < b; i++) l[i] = -INFINITY;
}

void wh_filter_timestamp_rules(const wh_filter *f, const int *seq, int n, float *logits)
{
    const int tb = f->sp.timestamp_begin, eot = f->sp.eot, V = f->n_vocab;
    /* (1) notimestamps is never sampled */
    logits[f->sp.notimestamps] = -INFINITY;
    /* (2) pairing */
    const int last_ts = n >= 1 && seq[n - 1] >= tb;
    const int penult_ts = n < 2 || seq[n - 2] >= tb;
    if (last_ts) {
        if (penult_ts) mask(logits, tb, V);    /* two in a row (or one at the start): text next */
        else mask(logits, 0, eot);             /* text then a timestamp: a timestamp or EOT next */
    }
    /* (3) monotonic: not below the last timestamp; strictly above it unless it closed a pair
     * (a segment must have a non-zero length) */
    int last = -1;
    for (int i = n - 1; i >= 0; i--) if (seq[i] >= tb) { last = seq[i]; break; }
    if (last >= 0) {
        int lim = last_ts && !penult_ts ? last : last + 1;
        mask(logits, tb, lim < V ? lim : V);
    }
    /* (4) the first sampled token is a timestamp, at most max_initial_ts */
    if (n == 0) {
        mask(logits, 0, tb);
        if (f->max_initial_ts >= 0) mask(logits, tb + f->max_initial_ts + 1, V);
    }
    /* (5) if the timestamps together are likelier than any single text token, sample one */
    float ts_lse = wh_logsumexp(logits + tb, V - tb);
    float max_text = wh_max(logits, tb);
    /* both sides are log-probs minus the same logsumexp of the row: compare directly */
    if (ts_lse > max_text) mask(logits, 0, tb);
}

void wh_filter_apply(const wh_filter *f, const int *seq, int n, int n_forced, float *logits)
{
    /* after a prefix too: the first sampled token is neither a blank nor the end (a prefix
     * holding the whole utterance had ended there, the prefix alone as the text) */
    if (f->suppress_blank) wh_filter_suppress_blank(f, n - n_forced, logits);
    wh_filter_suppress_tokens(f, logits);
    if (f->timestamps) wh_filter_timestamp_rules(f, seq, n, logits);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int wh_parse_suppress(const char *spec, const int *nonspeech, int n_nonspeech, const wh_specials *sp,
                      int n_vocab, int *out, int cap)
{
    int n = 0;
#define PUT(x) do { if (n >= cap) return -1; out[n++] = (x); } while (0)
    const char *p = spec ? spec : "";
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t') p++;
        if (!*p) break;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && *end != ' ' && *end != ',' && *end != '\t')) return -1;
        if (v == -1) {
            for (int i = 0; i < n_nonspeech; i++) PUT(nonspeech[i]);
        } else if (v < 0 || v >= n_vocab) {
            return -1;
        } else {
            PUT((int)v);
        }
        p = end;
    }
    PUT(sp->transcribe); PUT(sp->translate); PUT(sp->sot); PUT(sp->startofprev); PUT(sp->startoflm); PUT(sp->nospeech);
#undef PUT
    qsort(out, (size_t)n, sizeof(int), cmp_int);
    int m = 0;
    for (int i = 0; i < n; i++) if (!m || out[m - 1] != out[i]) out[m++] = out[i];
    return m;
}

/* ------------------------------------------------------------------ beam bookkeeping */

/* v (row[i]) into the sorted top m of at most k */
static void topk_insert(float v, int i, int k, int *m, int *ids, float *vals)
{
    int j = *m < k ? (*m)++ : k - 1;
    while (j > 0 && v > vals[j - 1]) { vals[j] = vals[j - 1]; ids[j] = ids[j - 1]; j--; }
    vals[j] = v;
    ids[j] = i;
}

/* top k of row (descending; lower id first on ties) into ids/vals; k <= 32. Once k are held
 * only a value above the k-th can enter (a NaN never does): wh_find_gt skips to the next
 * one, 16 compares a step where the scalar loop compared and branched per element (five beam
 * rows of 51865 logits: most of a step's search) */
static void topk(const float *row, int n, int k, int *ids, float *vals)
{
    int m = 0, i = 0;
    for (; i < n && m < k; i++) topk_insert(row[i], i, k, &m, ids, vals);
    if (m < k) return;
    while ((i += wh_find_gt(row + i, n - i, vals[k - 1])) < n) {
        topk_insert(row[i], i, k, &m, ids, vals);
        i++;
    }
}

static int cand_cmp(const void *a, const void *b)
{
    const wh_cand *x = a, *y = b;
    if (x->score > y->score) return -1;
    if (x->score < y->score) return 1;
    /* stable: insertion order (beam, then rank) is encoded in src and logprob order */
    if (x->src != y->src) return x->src - y->src;
    if (x->logprob != y->logprob) return x->logprob > y->logprob ? -1 : 1;
    return x->token - y->token;
}

int wh_beam_select(const float *const *rows, const double *sums, int n_live, int n_vocab, int beam_size,
                   int eot, wh_cand *scratch, wh_cand *next, wh_cand *finished, int *n_finished)
{
    int K = beam_size + 1, nc = 0;
    int ids[33];
    float vals[33];
    if (K > 33) K = 33;
    for (int j = 0; j < n_live; j++) {
        float lse = wh_logsumexp(rows[j], n_vocab);
        topk(rows[j], n_vocab, K, ids, vals);
        for (int r = 0; r < K; r++) {
            float lp = lse == -INFINITY || vals[r] == -INFINITY ? -INFINITY : vals[r] - lse;
            scratch[nc++] = (wh_cand){j, ids[r], lp, sums[j] + (double)lp};
        }
    }
    qsort(scratch, (size_t)nc, sizeof *scratch, cand_cmp);
    /* CTranslate2's BeamSearch (what faster-whisper runs): of the best 2·beam_size
     * candidates, an EOT among the first beam_size finishes its hypothesis and the next
     * non-EOT candidate from rank beam_size on takes its place; an EOT ranked lower is
     * passed over, not finished. (openai's decoder finished every EOT ranked before the
     * beam_size-th non-EOT one: with several beams ending at once the finished list filled
     * sooner and the search stopped early - on 40 s of noise, 31 tokens at avg_logprob -0.18
     * where faster-whisper decodes 222 at -0.015, which the fallback then judges.) */
    const int lim = nc < 2 * beam_size ? nc : 2 * beam_size;
    int kept = 0, nf = 0, sec = beam_size;
    for (int k = 0; k < beam_size && k < nc; k++) {
        if (scratch[k].token != eot) { next[kept++] = scratch[k]; continue; }
        finished[nf++] = scratch[k];
        while (sec < lim && scratch[sec].token == eot) sec++;
        if (sec < lim) next[kept++] = scratch[sec++];
    }
    *n_finished = nf;
    return kept;
}

/* ------------------------------------------------------------------ the decoder */

struct wh_search {
    sp_context *ctx;
    int V, L, G;               /* n_vocab, n_text_ctx (max tokens), max group */
    float *logits;             /* [G][V] */
    float *sot_logits;         /* [V] */
    float *probs;              /* [V]: a sampled row's e^((x − max) / T) */
    int *tok[2];               /* [G][L] per beam / sample: forced + sampled tokens */
    float *lp[2];              /* [G][L] their log-probs (0 for forced) */
    int len[2][WH_MAX_SEQ];
    double sum[2][WH_MAX_SEQ];
    int phys[2][WH_MAX_SEQ];   /* decoder sequence of each beam */
    int fin_cap;
    int *fin_tok;              /* [fin_cap][L] */
    float *fin_lp;
    int *fin_len;
    double *fin_sum;
    wh_cand *cand, *next, *fin;   /* [G * (G + 1)] */
    int *out_tok;              /* [L] */
    float *out_prob;
};

void wh_search_free(wh_search *s)
{
    if (!s) return;
    free(s->logits); free(s->sot_logits); free(s->probs);
    for (int i = 0; i < 2; i++) { free(s->tok[i]); free(s->lp[i]); }
    free(s->fin_tok); free(s->fin_lp); free(s->fin_len); free(s->fin_sum);
    free(s->cand); free(s->next); free(s->fin);
    free(s->out_tok); free(s->out_prob);
    free(s);
}

#define FIN_PATIENCE_MAX 4   /* finished candidates kept: up to G * FIN_PATIENCE_MAX + G */

sp_status wh_search_new(sp_context *ctx, int max_group, wh_search **out)
{
    *out = NULL;
    if (!ctx || max_group < 1 || max_group > WH_MAX_SEQ) return SP_ERR_INVALID_ARG;
    wh_search *s = calloc(1, sizeof *s);
    if (!s) return SP_ERR_NOMEM;
    s->ctx = ctx;
    s->V = wh_n_vocab(ctx);
    s->L = wh_n_text_ctx(ctx);
    s->G = max_group;
    const size_t G = (size_t)max_group, V = (size_t)s->V, L = (size_t)s->L;
    s->fin_cap = max_group * FIN_PATIENCE_MAX + max_group;
    s->logits = malloc(sizeof(float) * G * V);
    s->sot_logits = malloc(sizeof(float) * V);
    s->probs = malloc(sizeof(float) * V);
    for (int i = 0; i < 2; i++) {
        s->tok[i] = malloc(sizeof(int) * G * L);
        s->lp[i] = malloc(sizeof(float) * G * L);
    }
    s->fin_tok = malloc(sizeof(int) * (size_t)s->fin_cap * L);
    s->fin_lp = malloc(sizeof(float) * (size_t)s->fin_cap * L);
    s->fin_len = malloc(sizeof(int) * (size_t)s->fin_cap);
    s->fin_sum = malloc(sizeof(double) * (size_t)s->fin_cap);
    s->cand = malloc(sizeof(wh_cand) * G * (G + 1));
    s->next = malloc(sizeof(wh_cand) * G * (G + 1));
    s->fin = malloc(sizeof(wh_cand) * G * (G + 1));
    s->out_tok = malloc(sizeof(int) * L);
    s->out_prob = malloc(sizeof(float) * L);
    if (!s->logits || !s->sot_logits || !s->probs || !s->tok[0] || !s->tok[1] || !s->lp[0] || !s->lp[1] || !s->fin_tok ||
        !s->fin_lp || !s->fin_len || !s->fin_sum || !s->cand || !s->next || !s->fin || !s->out_tok || !s->out_prob) {
        wh_search_free(s);
        return SP_ERR_NOMEM;
    }
    *out = s;
    return SP_OK;
}

/* samples from softmax(row / T) over the finite entries: p = e^((x − max) / T) by the
 * softmax's vector exponentials (wh_softmax_unnorm on x / T), their total in double, then
 * the first token whose running total (the same sums, in the same order) passes u·total.
 * The double exp() of every logit, twice, had taken 420 µs a row (Xeon slice): best_of 5 at
 * a fallback temperature spent 2 ms a step on it, more than the base q5_0 step itself. */
int wh_sample_row(const float *row, int n, float T, wh_rng *rng, float *p)
{
    const float m = wh_max(row, n);   /* the largest non-NaN logit, and its first index */
    if (m == -INFINITY) return 0;
    const int am = wh_find_ge(row, n, m);
    const float it = 1.0f / T;
    for (int i = 0; i < n; i++) p[i] = row[i] * it;   /* −inf stays −inf: its e^ is 0 */
    wh_softmax_unnorm(p, n);
    double tot = 0;
    for (int i = 0; i < n; i++) tot += p[i];
    const double u = wh_rng_uniform(rng) * tot;
    double acc = 0;
    for (int i = 0; i < n; i++) {   /* a zero (a suppressed token) never passes u */
        acc += p[i];
        if (acc > u) return i;
    }
    return am;   /* a NaN total */
}

static void emit(wh_search *s, const int *tok, const float *lp, int len, int n_forced, double sum, int hit_eot,
                 wh_decode_result *out)
{
    for (int i = 0; i < len; i++) {
        s->out_tok[i] = tok[i];
        s->out_prob[i] = i < n_forced ? 1.0f : expf(lp[i]);
    }
    out->tokens = s->out_tok;
    out->probs = s->out_prob;
    out->n_tokens = len;
    out->n_forced = n_forced;
    out->sum_logprob = sum;
    /* the forced prefix counts in the length, as in CTranslate2's scores (faster-whisper's
     * avg_logprob = cum / (len(sequence with the prefix) + 1)): without it a --prefix made the
     * average lower than faster-whisper's (jfk.wav, tiny.en, "And so my": -0.353 vs -0.302)
     * and the fallback retried where it stopped (a prefix that is most of a 0.7 s clip ran
     * the ladder to T = 1.0 and an invented ", but it's not true.") */
    out->avg_logprob = (float)(sum / (double)(len + 1));
    out->hit_eot = hit_eot;
}

/* The prompt, split at sot for the no-speech probability (decoding.py: probs_at_sot); leaves
 * the next-token logits of sequence 0 in s->logits. */
static sp_status search_prompt(wh_search *s, const int *init, int n_init, int sot_index, const wh_filter *f, int G,
                               wh_decode_result *out)
{
    sp_context *ctx = s->ctx;
    const int V = s->V;
    sp_status st;
    for (int i = 0; i < G; i++) wh_seq_reset(ctx, i);
    if (sot_index < n_init - 1) {
        if ((st = wh_decode_seq(ctx, 0, init, sot_index + 1, s->sot_logits)) != SP_OK) return st;
        if ((st = wh_decode_seq(ctx, 0, init + sot_index + 1, n_init - sot_index - 1, s->logits)) != SP_OK) return st;
    } else {
        if ((st = wh_decode_seq(ctx, 0, init, n_init, s->logits)) != SP_OK) return st;
        memcpy(s->sot_logits, s->logits, sizeof(float) * (size_t)V);
    }
    float lse = wh_logsumexp(s->sot_logits, V);
    out->no_speech_prob = lse == -INFINITY ? 0.0f : expf(s->sot_logits[f->sp.nospeech] - lse);
    return SP_OK;
}

/* Greedy (G = 1) or best_of independent samples. */
static sp_status search_sample(wh_search *s, const int *forced, int n_forced, int G, int max_steps,
                               const wh_decode_opts *o, wh_decode_result *out)
{
    sp_context *ctx = s->ctx;
    const int V = s->V, L = s->L, sampling = o->temperature > 0, eot = o->filter->sp.eot;
    int *tok = s->tok[0];
    float *lp = s->lp[0];
    int *len = s->len[0], done[WH_MAX_SEQ], row_of[WH_MAX_SEQ], seqs[WH_MAX_SEQ], feed[WH_MAX_SEQ];
    double *sum = s->sum[0];
    sp_status st;
    for (int i = 0; i < G; i++) {
        len[i] = n_forced;
        sum[i] = 0;
        done[i] = 0;
        row_of[i] = i;
        for (int k = 0; k < n_forced; k++) { tok[(size_t)i * L + k] = forced[k]; lp[(size_t)i * L + k] = 0; }
        if (i > 0) {
            if ((st = wh_seq_copy(ctx, i, 0)) != SP_OK) return st;
            memcpy(s->logits + (size_t)i * V, s->logits, sizeof(float) * (size_t)V);
        }
    }
    int hit[WH_MAX_SEQ] = {0};
    for (int step = 0; step < max_steps; step++) {
        if (o->cancel && *o->cancel) return SP_ERR_CANCELLED;
        int n_feed = 0;
        for (int i = 0; i < G; i++) {
            if (done[i]) continue;
            float *row = s->logits + (size_t)row_of[i] * V;
            int *ti = tok + (size_t)i * L;
            wh_filter_apply(o->filter, ti, len[i], n_forced, row);
            int t = sampling ? wh_sample_row(row, V, o->temperature, o->rng, s->probs) : wh_argmax(row, V);
            float lse = wh_logsumexp(row, V);
            float l = lse == -INFINITY || row[t] == -INFINITY ? -INFINITY : row[t] - lse;
            sum[i] += l;
            if (t == eot) { done[i] = 1; hit[i] = 1; continue; }
            ti[len[i]] = t;
            lp[(size_t)i * L + len[i]] = l;
            len[i]++;
            seqs[n_feed] = i;
            feed[n_feed] = t;
            n_feed++;
        }
        if (n_feed == 0 || step == max_steps - 1) break;
        if ((st = wh_decode_step(ctx, n_feed, seqs, feed, s->logits)) != SP_OK) return st;
        for (int r = 0; r < n_feed; r++) row_of[seqs[r]] = r;
    }
    int best = 0;
    double bs = -INFINITY;
    for (int i = 0; i < G; i++) {
        double sc = wh_rank_score(sum[i], len[i], o->length_penalty);   /* the prefix counts (emit) */
        if (i == 0 || sc > bs) { bs = sc; best = i; }
    }
    emit(s, tok + (size_t)best * L, lp + (size_t)best * L, len[best], n_forced, sum[best], hit[best], out);
    return SP_OK;
}

/* Appends a finished hypothesis (tokens of beam src of list cur, with its score). */
static void beam_keep(wh_search *s, int cur, int src, double score, int *n_fin)
{
    const int L = s->L, ln = s->len[cur][src];
    memcpy(s->fin_tok + (size_t)*n_fin * L, s->tok[cur] + (size_t)src * L, sizeof(int) * (size_t)ln);
    memcpy(s->fin_lp + (size_t)*n_fin * L, s->lp[cur] + (size_t)src * L, sizeof(float) * (size_t)ln);
    s->fin_len[*n_fin] = ln;
    s->fin_sum[*n_fin] = score;
    (*n_fin)++;
}

/* The next beams' token lists (list nx) from the selected candidates of list cur. */
static void beam_advance(wh_search *s, int cur, int n_next, int *feed)
{
    const int L = s->L, nx = cur ^ 1;
    for (int k = 0; k < n_next; k++) {
        const wh_cand *c = &s->next[k];
        int ln = s->len[cur][c->src];
        int *dt = s->tok[nx] + (size_t)k * L;
        float *dl = s->lp[nx] + (size_t)k * L;
        memcpy(dt, s->tok[cur] + (size_t)c->src * L, sizeof(int) * (size_t)ln);
        memcpy(dl, s->lp[cur] + (size_t)c->src * L, sizeof(float) * (size_t)ln);
        dt[ln] = c->token;
        dl[ln] = c->logprob;
        s->len[nx][k] = ln + 1;
        s->sum[nx][k] = c->score;
        feed[k] = c->token;
        s->phys[nx][k] = -1;
    }
}

/* KV caches follow their beams (list cur, sources in list cur ^ 1): a source used once keeps
 * its sequence, others are copied into sequences no new beam comes from. */
static sp_status beam_place_caches(wh_search *s, int cur, int n_next)
{
    const int pc = cur ^ 1;
    int claimed[WH_MAX_SEQ] = {0};
    for (int k = 0; k < n_next; k++) {
        int p = s->phys[pc][s->next[k].src];
        if (!claimed[p]) { claimed[p] = 1; s->phys[cur][k] = p; }
    }
    for (int k = 0; k < n_next; k++) {
        if (s->phys[cur][k] >= 0) continue;
        int fslot = 0;
        while (claimed[fslot]) fslot++;
        claimed[fslot] = 1;
        sp_status st = wh_seq_copy(s->ctx, fslot, s->phys[pc][s->next[k].src]);
        if (st != SP_OK) return st;
        s->phys[cur][k] = fslot;
    }
    return SP_OK;
}

/* Too few finished: add the live beams of list cur, best first; then emit the best by rank. */
static void beam_finish(wh_search *s, int cur, int n_live, int n_fin, int B, int n_forced, const wh_decode_opts *o,
                        const int *forced, wh_decode_result *out)
{
    const int L = s->L, n_fin_eot = n_fin;
    if (n_fin < B) {
        int order[WH_MAX_SEQ];
        for (int j = 0; j < n_live; j++) order[j] = j;
        for (int a = 1; a < n_live; a++)
            for (int b = a; b > 0 && s->sum[cur][order[b]] > s->sum[cur][order[b - 1]]; b--) {
                int t = order[b]; order[b] = order[b - 1]; order[b - 1] = t;
            }
        for (int q = 0; q < n_live && n_fin < B && n_fin < s->fin_cap; q++)
            beam_keep(s, cur, order[q], s->sum[cur][order[q]], &n_fin);
    }
    if (n_fin == 0) {   /* cannot happen (n_live >= 1 unless every candidate was EOT) */
        emit(s, forced, s->lp[0], 0, 0, 0, 0, out);
        return;
    }
    int best = 0;
    double bs = -INFINITY;
    for (int i = 0; i < n_fin; i++) {
        double sc = wh_rank_score(s->fin_sum[i], s->fin_len[i], o->length_penalty);   /* as emit */
        if (i == 0 || sc > bs) { bs = sc; best = i; }
    }
    emit(s, s->fin_tok + (size_t)best * L, s->fin_lp + (size_t)best * L, s->fin_len[best], n_forced, s->fin_sum[best],
         best < n_fin_eot, out);
}

/* Beam search (BeamSearchDecoder): the first step has one live beam, so identical candidates
 * never arise (openai collapses the beam_size copies of the prompt). */
static sp_status search_beam(wh_search *s, const int *forced, int n_forced, int B, int max_steps,
                             const wh_decode_opts *o, wh_decode_result *out)
{
    const int V = s->V, L = s->L, eot = o->filter->sp.eot;
    int max_cand = (int)lround((double)B * (o->patience > 0 ? o->patience : 1.0));
    if (max_cand < 1) max_cand = 1;
    if (max_cand > s->fin_cap - B) max_cand = s->fin_cap - B;
    int cur = 0, n_live = 1, n_fin = 0;
    s->len[0][0] = n_forced;
    s->sum[0][0] = 0;
    s->phys[0][0] = 0;
    for (int k = 0; k < n_forced; k++) { s->tok[0][k] = forced[k]; s->lp[0][k] = 0; }
    const float *rows[WH_MAX_SEQ];
    sp_status st;
    for (int step = 0; step < max_steps; step++) {
        if (o->cancel && *o->cancel) return SP_ERR_CANCELLED;
        for (int j = 0; j < n_live; j++) {
            float *row = s->logits + (size_t)j * V;
            wh_filter_apply(o->filter, s->tok[cur] + (size_t)j * L, s->len[cur][j], n_forced, row);
            rows[j] = row;
        }
        int nf = 0;
        int n_next = wh_beam_select(rows, s->sum[cur], n_live, V, B, eot, s->cand, s->next, s->fin, &nf);
        for (int i = 0; i < nf && n_fin < max_cand; i++) beam_keep(s, cur, s->fin[i].src, s->fin[i].score, &n_fin);
        int feed[WH_MAX_SEQ];
        beam_advance(s, cur, n_next, feed);
        cur ^= 1;
        n_live = n_next;
        if (n_fin >= max_cand || n_next == 0 || step == max_steps - 1) break;
        if ((st = beam_place_caches(s, cur, n_next)) != SP_OK) return st;
        if ((st = wh_decode_step(s->ctx, n_next, s->phys[cur], feed, s->logits)) != SP_OK) return st;
    }
    beam_finish(s, cur, n_live, n_fin, B, n_forced, o, forced, out);
    return SP_OK;
}

sp_status wh_search_run(wh_search *s, const int *init, int n_init, int sot_index, int n_forced,
                        const wh_decode_opts *o, wh_decode_result *out)
{
    memset(out, 0, sizeof *out);
    const int L = s->L;
    if (n_init < 1 || sot_index < 0 || sot_index >= n_init || n_forced < 0 || n_forced > n_init - sot_index - 1 ||
        n_init >= L)
        return SP_ERR_INVALID_ARG;
    const int sampling = o->temperature > 0;
    int G = sampling ? o->best_of : o->beam_size;
    if (G < 1) G = 1;
    if (G > s->G) G = s->G;
    int max_steps = o->sample_len;
    /* CTranslate2 (faster-whisper) allows 448 - (prompt - 1) steps: the last prompt token is
     * its first step; the last token sampled is never fed, so positions stay below L */
    if (max_steps > L - n_init + 1) max_steps = L - n_init + 1;
    if (max_steps < 1) max_steps = 1;
    out->temperature = o->temperature;
    sp_status st = search_prompt(s, init, n_init, sot_index, o->filter, G, out);
    if (st != SP_OK) return st;
    const int *forced = init + n_init - n_forced;
    if (!sampling && G > 1) return search_beam(s, forced, n_forced, G, max_steps, o, out);
    return search_sample(s, forced, n_forced, G, max_steps, o, out);
}
