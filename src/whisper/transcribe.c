/* transcribe.c — sp_transcribe: long-form transcription over 30 s windows with temperature
 * fallback, no-speech skipping, prompts, language detection and VAD
 * (whisper-reference.md §4–§5; openai/whisper whisper/transcribe.py: transcribe,
 * decode_with_fallback; faster-whisper transcribe.py: generate_segments,
 * generate_with_fallback, get_prompt; detect_language).
 *
 * Where openai and faster-whisper differ we follow faster-whisper (what the original daemon
 * ran): the fallback keeps the best avg_logprob among results under the compression
 * threshold; instantaneous or blank segments are dropped and not added to the context;
 * segment text is not stripped; the prefix applies to the first window only, after
 * <|0.00|>; hotwords go after <|startofprev|> when there is no prefix.
 * Our additions: input the original system pre-filtered as empty (< 150 ms or silent in
 * every 30 s stretch, sp_audio_is_empty) and windows that are silent themselves
 * (sp_audio_is_silent: dither, faint hiss — not quiet speech) are skipped without running
 * the model (Whisper invents text there); segment times are clamped to the window's audio. */
#include "speech.h"
#include "common/errbuf.h"
#include "common/utf8.h"
#include "speech_audio.h"
#include "wh_engine.h"
#include "search.h"
#include "tokenizer.h"
#include "align.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_FRAMES 3000          /* mel frames per 30 s window */
#define HOP 160
#define SR 16000
#define TIME_PRECISION 0.02f   /* seconds per timestamp token (input stride 2 frames) */

static const float k_default_temps[] = {0.0f, 0.2f, 0.4f, 0.6f, 0.8f, 1.0f};

sp_transcribe_params sp_transcribe_default_params(void)
{
    sp_transcribe_params p;
    memset(&p, 0, sizeof p);
    p.language = NULL;
    p.translate = 0;
    p.beam_size = 5;
    p.best_of = 5;
    p.patience = 1.0f;
    p.length_penalty = 0.0f;
    p.temperatures = NULL;
    p.n_temperatures = 0;
    p.compression_ratio_threshold = 2.4f;
    p.logprob_threshold = -1.0f;
    p.no_speech_threshold = 0.6f;
    p.condition_on_previous_text = 1;
    p.prompt_reset_on_temperature = 0.5f;
    p.without_timestamps = 0;
    p.max_initial_timestamp = 1.0f;
    p.suppress_blank = 1;
    p.suppress_tokens = "-1";
    p.seed = 0;
    return p;
}

static void segment_free(sp_segment *s)
{
    free(s->text);
    free(s->tokens);
    for (int k = 0; k < s->n_words; k++) free(s->words[k].text);
    free(s->words);
}

void sp_result_free(sp_result *r)
{
    if (!r) return;
    for (int i = 0; i < r->n_segments; i++) segment_free(&r->segments[i]);
    free(r->segments);
    free(r);
}

/* ------------------------------------------------------------------ state */

/* VAD: speech chunks concatenated; times mapped back (faster-whisper SpeechTimestampsMap) */
typedef struct {
    sp_span *spans;
    int n;
    size_t *cum;   /* [n + 1] start of each chunk in the concatenated audio */
    double pad;    /* the segmenter's speech padding, samples: silence at each chunk's edges */
} vad_map;

/* the chunk holding concatenated position s (samples); an end on a boundary is the earlier's */
static int map_chunk(const vad_map *m, double s, int is_end)
{
    int c = 0;
    while (c < m->n - 1 && (is_end ? s > (double)m->cum[c + 1] : s >= (double)m->cum[c + 1])) c++;
    return c;
}

static float map_at(const vad_map *m, double s, int c)
{
    return (float)((s - (double)m->cum[c] + (double)m->spans[c].start) / SR);
}

static float map_time(const vad_map *m, float t, int is_end)
{
    const double s = (double)t * SR;
    return map_at(m, s, map_chunk(m, s, is_end));
}

/* whether silence was taken out after chunk c (apart: each side kept its whole padding;
 * neighbours closer than two paddings split the silence and touch, nothing removed) */
static int map_cut_after(const vad_map *m, int c)
{
    return c + 1 < m->n && m->spans[c + 1].start > m->spans[c].end;
}

/* A span [*t0, *t1] (a segment; a word: map_word) mapped back as one. Whisper puts the start of what
 * follows a removed silence inside the padding that ends the chunk before it (and an end
 * inside the padding that starts the next): mapped point by point, such a span took in the
 * whole removed silence — a subtitle shown 20 s before its words (jfk.wav, 20 s of silence,
 * a sentence: 11.0 → 38.9 s for 31.0–35.9 s of speech), a word "And" over a 3 s gap. A start
 * within the padding (and 0.1 s: Whisper's starts lead the voice) that closes a
 * chunk followed by a cut, with the end in a later chunk, starts at the next chunk; an end as
 * far into the opening of a chunk after a cut, with the start in an earlier one, ends at the
 * chunk before. (faster-whisper maps each time by itself, or a word by its middle's chunk.) */
static void map_span(const vad_map *m, float *t0, float *t1)
{
    const double near = m->pad + 0.1 * SR;
    double s0 = (double)*t0 * SR, s1 = (double)*t1 * SR;
    int c = map_chunk(m, s0, 0), d = map_chunk(m, s1, 1);
    if (c < d && map_cut_after(m, c) && s0 >= (double)m->cum[c + 1] - near) s0 = (double)m->cum[++c];
    if (c < d && map_cut_after(m, d - 1) && s1 <= (double)m->cum[d] + near) s1 = (double)m->cum[d--];
    *t0 = map_at(m, s0, c);
    *t1 = map_at(m, s1, d);
}

/* A word [*t0, *t1] mapped back: never across a cut. map_span's rules are for the start of
 * what follows a cut placed in the padding before it, and a segment may hold speech from both
 * sides; a word holds one side's. Mapped by them, a word Whisper starts 0.63-0.66 s before a
 * cut (past the padding + 0.1 s they look at) kept its start before the removed silence and
 * its end after it: " and" over 21 s (jfk.wav with 20 s of silence, tiny.en, the energy
 * detector), " Turn" and " He" over 2-6 s; and " right." (0.42 s before a cut, 0.12 s after)
 * was moved wholly after it, the sentence's end 2.6 s late (a VAD audit). The word now goes
 * into the stretch of chunks without a cut between them that holds most of it, clamped to
 * that stretch (faster-whisper maps a word by its middle's chunk, its times unclamped). */
static void map_word(const vad_map *m, float *t0, float *t1)
{
    double s0 = (double)*t0 * SR, s1 = (double)*t1 * SR;
    const int c = map_chunk(m, s0, 0), d = map_chunk(m, s1, 1);
    double most = -1, lo = s0, hi = s1;
    for (int g0 = c; g0 <= d;) {   /* stretches [g0, g1] of chunks that touch */
        int g1 = g0;
        while (g1 < d && !map_cut_after(m, g1)) g1++;
        const double a = fmax(s0, (double)m->cum[g0]), b = fmin(s1, (double)m->cum[g1 + 1]);
        if (b - a > most) { most = b - a; lo = a; hi = b; }
        g0 = g1 + 1;
    }
    if (hi < lo) hi = lo;
    *t0 = map_at(m, lo, map_chunk(m, lo, 0));
    *t1 = map_at(m, hi, map_chunk(m, hi, 1));
}

/* A segment's times (and its tokens' and words') from the VAD-concatenated audio back to
 * the original audio. */
static void map_segment(const vad_map *vm, sp_segment *s)
{
    map_span(vm, &s->start, &s->end);
    for (int k = 0; k < s->n_tokens; k++) {
        sp_token *t = &s->tokens[k];
        if (t->t0 < 0) continue;
        if (t->t1 == t->t0) t->t0 = t->t1 = map_time(vm, t->t0, 0);
        else { t->t0 = map_time(vm, t->t0, 0); t->t1 = map_time(vm, t->t1, 1); }
        if (t->t1 < t->t0) t->t1 = t->t0;   /* an empty span on a chunk boundary */
    }
    for (int k = 0; k < s->n_words; k++) {
        map_word(vm, &s->words[k].start, &s->words[k].end);
        if (s->words[k].end < s->words[k].start) s->words[k].end = s->words[k].start;
        if (k > 0 && s->words[k].start < s->words[k - 1].end) {   /* in order, as before mapping */
            s->words[k].start = s->words[k - 1].end;
            if (s->words[k].end < s->words[k].start) s->words[k].end = s->words[k].start;
        }
    }
    /* with words, the segment's edges are its words' (as they are before mapping, and as
     * faster-whisper maps them): a segment that opens with a short word just before a cut
     * had its start moved past its own first words by map_span ("So" then 2.5 s of silence:
     * the segment at 13.4 s, its "So" at 11.0 s) */
    if (s->n_words > 0) {
        s->start = s->words[0].start;
        s->end = s->words[s->n_words - 1].end;
        for (int k = 0; k < s->n_tokens; k++) {   /* mapped point by point: kept inside */
            sp_token *t = &s->tokens[k];
            if (t->t0 < 0) continue;
            t->t0 = fminf(fmaxf(t->t0, s->start), s->end);
            t->t1 = fminf(fmaxf(t->t1, t->t0), s->end);
        }
    }
}

typedef struct {          /* one window's chosen decode, copied out of the search buffers */
    int *tok;
    float *prob;
    int n, n_forced;
    float avg_logprob, no_speech_prob, temperature, compression_ratio;
} win_result;

typedef struct {
    sp_context *ctx;
    const sp_transcribe_params *p;
    const wh_tokenizer *tok;      /* the context's (wh_context_tokenizer) */
    const wh_specials *sp;
    int n_vocab, n_text_ctx, multilingual, n_mels;
    wh_search *search;
    wh_filter filter;
    int suppress[512];
    wh_rng rng;
    int lang_token;             /* -1 for English-only models */
    unsigned char lang_ok[128]; /* detection's candidates (index < n_lang): the languages
                                 * parameter's, else all */
    int task_token;
    int *all;                   /* context: tokens of the kept segments (and the initial prompt) */
    int n_all, cap_all, reset_since;
    int *hot, n_hot, *prefix, n_prefix;
    int *init;                  /* [n_text_ctx] */
    float *win;                 /* [n_mels][3000] the window's mel, zero-padded */
    win_result cand[2];         /* best under the ratio threshold, best overall */
    win_result res;
    sp_result *out;
    int cap_seg;
    /* word timestamps (NULL/unused when off): the alignment pass and its per-window arrays */
    wh_align *align;
    int *al_text;               /* [n_text_ctx] the window's text tokens */
    float *al_times, *al_probs; /* [n_text_ctx + 1], [n_text_ctx] */
    float *al_dur;              /* [n_text_ctx] the window's word durations as aligned */
    int *al_ends;               /* [n_text_ctx] word ends */
    int unicode_words;
    float last_speech;          /* end of the last segment with words (s), across windows */
    /* the window's last word as aligned, before the clamp into its segment (s; start < 0:
     * none): where the next window starts (word_seek) */
    float seek_w0, seek_w1, seek_seg_end;
    float win_med;              /* the window's median word duration (median_duration) */
    int win_seek;               /* the window being split into segments: its first frame */
    int win_single_end;         /* its tokens end in one timestamp (the speech runs on) */
    const vad_map *vm;          /* VAD: segment times to map back, NULL without VAD */
} tx;

static int wr_alloc(win_result *w, int n)
{
    w->tok = malloc(sizeof(int) * (size_t)n);
    w->prob = malloc(sizeof(float) * (size_t)n);
    return w->tok && w->prob ? 0 : -1;
}

static void wr_free(win_result *w) { free(w->tok); free(w->prob); }

static void wr_set(win_result *w, const wh_decode_result *d, float cr)
{
    memcpy(w->tok, d->tokens, sizeof(int) * (size_t)d->n_tokens);
    memcpy(w->prob, d->probs, sizeof(float) * (size_t)d->n_tokens);
    w->n = d->n_tokens;
    w->n_forced = d->n_forced;
    w->avg_logprob = d->avg_logprob;
    w->no_speech_prob = d->no_speech_prob;
    w->temperature = d->temperature;
    w->compression_ratio = cr;
}

static void wr_copy(win_result *d, const win_result *s)
{
    memcpy(d->tok, s->tok, sizeof(int) * (size_t)s->n);
    memcpy(d->prob, s->prob, sizeof(float) * (size_t)s->n);
    d->n = s->n;
    d->n_forced = s->n_forced;
    d->avg_logprob = s->avg_logprob;
    d->no_speech_prob = s->no_speech_prob;
    d->temperature = s->temperature;
    d->compression_ratio = s->compression_ratio;
}

static int is_blank(const char *s)
{
    size_t b, e;
    sp_py_strip_span(s, &b, &e);
    return b == e;
}

/* encode(" " + text.strip()), truncated to max tokens (tokenizer.py; faster-whisper) */
static sp_status encode_prompt(const wh_tokenizer *t, const char *text, int max, int **ids, int *n)
{
    *ids = NULL;
    *n = 0;
    if (!text) return SP_OK;
    size_t b, e;
    sp_py_strip_span(text, &b, &e);
    if (b == e) return SP_OK;
    char *buf = malloc(e - b + 2);
    if (!buf) return SP_ERR_NOMEM;
    buf[0] = ' ';
    memcpy(buf + 1, text + b, e - b);
    int k = wh_tok_encode(t, buf, e - b + 1, ids);
    free(buf);
    if (k < 0) return SP_ERR_NOMEM;
    *n = k < max ? k : max;
    return SP_OK;
}

static int all_push(tx *x, const int *t, int n)
{
    if (x->n_all + n > x->cap_all) {
        int nc = x->cap_all ? x->cap_all : 1024;
        while (nc < x->n_all + n) nc *= 2;
        int *na = realloc(x->all, sizeof(int) * (size_t)nc);
        if (!na) return -1;
        x->all = na;
        x->cap_all = nc;
    }
    memcpy(x->all + x->n_all, t, sizeof(int) * (size_t)n);
    x->n_all += n;
    return 0;
}

/* ------------------------------------------------------------------ one window */

/* --max-initial-timestamp in timestamp tokens: -1 none (0, or not a number), at most a window's
 * 1500 (an infinite or huge value had gone through lroundf into an int: undefined) */
/* faster-whisper's index: round(seconds / 0.02), so 0 forces <|0.00|> first (openai reads 0
 * as "no limit", which had changed base's text on German speech against faster-whisper's);
 * a negative value or NaN is no limit */
static int initial_ts_limit(float seconds)
{
    if (!(seconds >= 0.0f)) return -1;
    return seconds >= 30.0f ? 1500 : (int)lroundf(seconds / TIME_PRECISION);
}

/* Builds the decoder input (faster-whisper get_prompt) into x->init. */
static int build_prompt(tx *x, int first_window, int *sot_index, int *n_forced)
{
    const sp_transcribe_params *p = x->p;
    const int half = x->n_text_ctx / 2 - 1;   /* 223 */
    int n = 0;
    const int use_prefix = first_window && x->n_prefix > 0;
    const int use_hot = x->n_hot > 0 && !use_prefix;
    /* the whole input within the text context, one position left to decode: the start of
     * transcript, language, task, no-timestamps, the prefix (each half of the context alone,
     * a long --prefix beside a long --initial-prompt had run past it — past x->init's
     * n_text_ctx entries); the previous text gives way first, then the prefix's start */
    const int sot_part = 1 + (x->lang_token >= 0 ? 2 : 0) + (p->without_timestamps ? 1 : 0);
    int n_prefix = use_prefix ? x->n_prefix : 0;
    const int ts_begin = use_prefix && !p->without_timestamps;
    if (sot_part + ts_begin + n_prefix > x->n_text_ctx - 1)
        n_prefix = x->n_text_ctx - 1 - sot_part - ts_begin > 0 ? x->n_text_ctx - 1 - sot_part - ts_begin : 0;
    int lim = x->n_text_ctx - 1 - sot_part - ts_begin - n_prefix - 1;   /* after startofprev */
    if (lim > half) lim = half;
    if (lim < 0) lim = 0;
    int n_prev = x->n_all - x->reset_since;
    if (n_prev > lim) n_prev = lim;
    int n_hot = use_hot ? x->n_hot : 0;
    if (n_hot > lim) n_hot = lim;
    if (n_hot + n_prev > lim) n_prev = lim - n_hot;   /* keep the total within 223 and the context */
    if (n_prev > 0 || n_hot > 0) {
        x->init[n++] = x->sp->startofprev;
        for (int i = 0; i < n_hot; i++) x->init[n++] = x->hot[i];
        for (int i = x->n_all - n_prev; i < x->n_all; i++) x->init[n++] = x->all[i];
    }
    *sot_index = n;
    x->init[n++] = x->sp->sot;
    if (x->lang_token >= 0) {
        x->init[n++] = x->lang_token;
        x->init[n++] = x->task_token;
    }
    if (p->without_timestamps) x->init[n++] = x->sp->notimestamps;
    int nf = 0;
    if (use_prefix) {
        if (ts_begin) { x->init[n++] = x->sp->timestamp_begin; nf++; }
        for (int i = x->n_prefix - n_prefix; i < x->n_prefix; i++) x->init[n++] = x->prefix[i];
        nf += n_prefix;
    }
    *n_forced = nf;
    return n;
}

/* decode_with_fallback → x->res. max_temps > 0: only the first max_temps temperatures of
 * the ladder; *failed = 1 when the result kept still needed a fallback (every temperature
 * tried failed the compression or log-probability test). */
/* What a failed engine call says: SP_ERR_MODEL_FORMAT from a decode is the engine's
 * non-finite logits (engine.c run_rows), which "model format error" alone did not explain. */
static const char *fail_reason(sp_status st)
{
    return st == SP_ERR_MODEL_FORMAT ? "the model produced non-finite values (NaN or infinity: damaged weights?)"
                                     : sp_status_str(st);
}

static sp_status decode_window(tx *x, int first_window, int max_temps, int *failed)
{
    const sp_transcribe_params *p = x->p;
    const float *temps = p->temperatures && p->n_temperatures > 0 ? p->temperatures : k_default_temps;
    int nt = p->temperatures && p->n_temperatures > 0 ? p->n_temperatures : 6;
    if (max_temps > 0 && max_temps < nt) nt = max_temps;
    *failed = 0;
    int sot_index, n_forced;
    int n_init = build_prompt(x, first_window, &sot_index, &n_forced);
    const int lp_on = p->logprob_threshold > -1e9f, cr_on = p->compression_ratio_threshold > 0;
    const int ns_on = p->no_speech_threshold > 0;
    int have_below = 0, have_all = 0;
    for (int ti = 0; ti < nt; ti++) {
        wh_decode_opts o = {
            .temperature = temps[ti], .beam_size = p->beam_size, .best_of = p->best_of, .patience = p->patience,
            .length_penalty = p->length_penalty, .sample_len = x->n_text_ctx / 2, .filter = &x->filter,
            .rng = &x->rng, .cancel = p->cancel};
        wh_decode_result d;
        sp_status st = wh_search_run(x->search, x->init, n_init, sot_index, n_forced, &o, &d);
        if (st != SP_OK) return st;
        char *text = wh_tok_decode(x->tok, d.tokens, d.n_tokens);
        if (!text) return SP_ERR_NOMEM;
        size_t b, e;
        sp_py_strip_span(text, &b, &e);
        float cr = wh_compression_ratio(text + b, e - b);
        free(text);
        int needs = 0;
        if (cr_on && cr > p->compression_ratio_threshold) needs = 1;
        if (lp_on && d.avg_logprob < p->logprob_threshold) needs = 1;
        if (ns_on && lp_on && d.no_speech_prob > p->no_speech_threshold && d.avg_logprob < p->logprob_threshold)
            needs = 0;   /* silence: the caller skips it */
        if (!needs) { wr_set(&x->res, &d, cr); return SP_OK; }
        /* remember the candidates faster-whisper picks from when every temperature fails */
        if (needs && (!cr_on || cr <= p->compression_ratio_threshold) &&
            (!have_below || d.avg_logprob > x->cand[0].avg_logprob)) {
            wr_set(&x->cand[0], &d, cr);
            have_below = 1;
        }
        if (!have_all || d.avg_logprob > x->cand[1].avg_logprob) {
            wr_set(&x->cand[1], &d, cr);
            have_all = 1;
        }
    }
    wr_copy(&x->res, have_below ? &x->cand[0] : &x->cand[1]);
    /* the ladder's last temperature, not the kept candidate's: faster-whisper passes it on
     * "for prompt_reset_on_temperature" (openai keeps the last decode whole), so a window that
     * failed at every temperature resets the prompt and does not condition the next one */
    x->res.temperature = temps[nt - 1];
    *failed = 1;
    return SP_OK;
}

/* ------------------------------------------------------------------ segments */

static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

static sp_status add_segment(tx *x, const win_result *r, int from, int to, float start, float end, float t_off)
{
    char *text = wh_tok_decode(x->tok, r->tok + from, to - from);
    if (!text) return SP_ERR_NOMEM;
    /* faster-whisper: instantaneous or blank segments are not yielded nor kept as context */
    if (start == end || is_blank(text)) { free(text); return SP_OK; }
    sp_result *o = x->out;
    if (o->n_segments == x->cap_seg) {
        int nc = x->cap_seg ? x->cap_seg * 2 : 16;
        sp_segment *ns = realloc(o->segments, sizeof *ns * (size_t)nc);
        if (!ns) { free(text); return SP_ERR_NOMEM; }
        o->segments = ns;
        x->cap_seg = nc;
    }
    sp_segment *s = &o->segments[o->n_segments];
    memset(s, 0, sizeof *s);
    s->tokens = malloc(sizeof(sp_token) * (size_t)(to - from > 0 ? to - from : 1));
    if (!s->tokens) { free(text); return SP_ERR_NOMEM; }
    const int tb = x->sp->timestamp_begin;
    for (int i = from; i < to; i++) {
        sp_token *t = &s->tokens[i - from];
        t->id = r->tok[i];
        t->p = r->prob[i];
        t->t0 = t->t1 = -1.0f;
        /* inside the segment, which is cut to the window (or the clip's end): a closing token
         * past a clip's end had said 31.00 in a segment ending at 30.00 */
        if (t->id >= tb) t->t0 = t->t1 = clampf(t_off + (float)(t->id - tb) * TIME_PRECISION, start, end);
    }
    s->n_tokens = to - from;
    s->text = text;
    s->start = start;
    s->end = end;
    s->avg_logprob = r->avg_logprob;
    s->no_speech_prob = r->no_speech_prob;
    s->compression_ratio = r->compression_ratio;
    s->temperature = r->temperature;
    s->seek = x->win_seek;
    o->n_segments++;
    if (all_push(x, r->tok + from, to - from)) return SP_ERR_NOMEM;
    return SP_OK;
}

/* ------------------------------------------------------------------ word timestamps */

/* timing.py's median word duration: of d[0..n) (durations in s; those of zero length
 * ignored), capped at 0.7 s; 0 when none has a length. Sorts d in place. */
static float median_duration(float *d, int n)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        const float v = d[i];
        if (!(v > 0)) continue;
        int j = m++;   /* insertion sort: a window has a few hundred words at most */
        while (j > 0 && d[j - 1] > v) { d[j] = d[j - 1]; j--; }
        d[j] = v;
    }
    float med = m == 0 ? 0 : (m & 1) ? d[m / 2] : 0.5f * (d[m / 2 - 1] + d[m / 2]);
    return med < 0.7f ? med : 0.7f;
}

/* timing.py's punctuation sets. Membership is Python's `x in STRING`, a substring test
 * ("" included), which byte-wise strstr reproduces on valid UTF-8. */
static const char k_prepended[] = "\"'\u201c\u00bf([{-";
static const char k_appended[] = "\"'.\u3002,\uff0c!\uff01?\uff1f:\uff1a\u201d)]}\u3001";
static const char k_sentence_end[] = ".\u3002!\uff01?\uff1f";

static int in_set(const char *set, const char *w, size_t n) /* w[0..n) is a substring of set */
{
    for (const char *p = set; *p; p++)
        if (strncmp(p, w, n) == 0) return 1;
    return n == 0;
}

/* timing.py merge_punctuations' closing rule: word w joins prev, the word before it (prev not
 * ending in a space, w a closing mark) */
static int joins_previous(const char *prev, const char *w)
{
    const size_t n = strlen(prev);
    return !(n > 0 && prev[n - 1] == ' ') && in_set(k_appended, w, strlen(w));
}

/* timing.py's first heuristic, over the window's words in order (before punctuation is
 * merged): a word longer than 2 medians that is a sentence end mark keeps 2 medians from its
 * start; one that follows a mark keeps 2 medians up to its end. Alignment stretches these
 * into the pause between sentences. */
static void clip_sentence_edges(sp_result *o, int seg0, float maxd)
{
    const sp_word *prev = NULL;
    for (int i = seg0; i < o->n_segments; i++)
        for (int k = 0; k < o->segments[i].n_words; k++) {
            sp_word *w = &o->segments[i].words[k];
            if (prev && w->end - w->start > maxd) {
                if (in_set(k_sentence_end, w->text, strlen(w->text))) w->end = w->start + maxd;
                else if (in_set(k_sentence_end, prev->text, strlen(prev->text))) w->start = w->end - maxd;
            }
            prev = w;
        }
}

/* Glues s + t into a new string for *dst (freeing the old one); -1 on no memory. */
static int join_text(char **dst, const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *r = malloc(na + nb + 1);
    if (!r) return -1;
    memcpy(r, a, na);
    memcpy(r + na, b, nb + 1);
    free(*dst);
    *dst = r;
    return 0;
}

/* timing.py merge_punctuations within one segment: an opening mark (" with a leading space,
 * "(", "¿" ...) joins the word after it, a closing one ("." "," "?" ...) the word before it, so
 * "dog." is one word with dog's times rather than "dog" plus a "." that alignment stretches
 * across the following pause. The merged word keeps its own times and probability. */
static sp_status merge_punctuation(sp_segment *s)
{
    sp_word *w = s->words;
    const int n = s->n_words;
    for (int i = n - 2, j = n - 1; i >= 0; i--) {
        const char *t = w[i].text;
        size_t a, b;
        sp_py_strip_span(t, &a, &b);   /* previous.word.strip() */
        if (t[0] == ' ' && in_set(k_prepended, t + a, b - a)) {
            if (join_text(&w[j].text, t, w[j].text) < 0) return SP_ERR_NOMEM;
            w[i].text[0] = 0;
        } else {
            j = i;
        }
    }
    for (int i = 0, j = 1; j < n; j++) {
        if (joins_previous(w[i].text, w[j].text)) {
            if (join_text(&w[i].text, w[i].text, w[j].text) < 0) return SP_ERR_NOMEM;
            w[j].text[0] = 0;
        } else {
            i = j;
        }
    }
    int m = 0;   /* drop the emptied words */
    for (int k = 0; k < n; k++) {
        if (w[k].text[0] == 0) { free(w[k].text); continue; }
        w[m++] = w[k];
    }
    s->n_words = m;
    return SP_OK;
}

/* What openai's and faster-whisper's add_word_timestamps do once a window has words:
 * sentence edges clipped, punctuation merged (above), then per segment
 * - the first word after a pause (ending more than 4 median word lengths after the last
 *   speech) that is longer than 2 medians — alignment tends to stretch it back into the
 *   silence — keeps at most 2 medians (and if the second word is also too long, the two
 *   split at a boundary no earlier than the second word's end minus 2 medians);
 * - the segment's start and end move to its first word's start and last word's end, so a
 *   segment no longer begins or ends inside the pause around its words (its timestamp
 *   tokens only say "somewhere in that pause").
 * Words here are already clamped into their segment (segment_times), so timing.py's "prefer the segment's
 * own time when the word is much longer" branches cannot apply. That clamp departs from
 * timing.py on purpose, measured: letting last words run past the closing timestamp (as
 * timing.py does) moved sentence ends 0.26-0.84 s past the speech on the 41 s espeak-ng
 * file with tiny.en (real_speech.sh's 0.6 s tolerance failed; clamped: within 0.35 s) and
 * on four copies of jfk.wav with base gave "country." +0.11 s late where clamped it was
 * 0.19 s early. The tokens' times follow their segment when it moves. */
static sp_status snap_segments(sp_result *o, int seg0, float med, float *last_speech)
{
    const float maxd = 2 * med;
    if (med > 0) clip_sentence_edges(o, seg0, maxd);
    for (int i = seg0; i < o->n_segments; i++) {
        sp_segment *s = &o->segments[i];
        if (s->n_words == 0) continue;
        sp_status st = merge_punctuation(s);
        if (st != SP_OK) return st;
        if (s->n_words == 0) continue;
        sp_word *w = s->words;
        if (med > 0 && w[0].end - *last_speech > 4 * med &&
            (w[0].end - w[0].start > maxd || (s->n_words > 1 && w[1].end - w[0].start > 2 * maxd))) {
            if (s->n_words > 1 && w[1].end - w[1].start > maxd) {
                float b = fmaxf(w[1].end / 2, w[1].end - maxd);
                if (b > w[0].start && b < w[1].end) w[0].end = w[1].start = b;
            }
            w[0].start = fmaxf(w[0].start, w[0].end - maxd);
        }
        s->start = w[0].start;
        s->end = w[s->n_words - 1].end;
        *last_speech = s->end;
        for (int k = 0; k < s->n_tokens; k++) {   /* the tokens inside the moved segment */
            sp_token *t = &s->tokens[k];
            if (t->t0 < 0) continue;   /* no time (-1) */
            t->t0 = clampf(t->t0, s->start, s->end);
            t->t1 = clampf(t->t1, t->t0, s->end);
        }
    }
    return SP_OK;
}

/* The segment's last word once closing punctuation is merged into it (merge_punctuation's
 * rule; its own times, not the punctuation's: a "." is often aligned across the pause after). */
static int last_word(const sp_segment *s)
{
    int k = s->n_words - 1;
    while (k > 0 && joins_previous(s->words[k - 1].text, s->words[k].text)) k--;
    return k;
}

/* How far a segment's words may be shown past its timestamps (absolute s). A timestamp token
 * bounds the words under way at it: alignment runs a sentence's last word 0.3-0.8 s into
 * the pause after it where the timestamp does not (tiny.en, the 41 s espeak-ng file of
 * real_speech.sh), so words are clamped into their segment. But a last word that the
 * alignment starts at or after the closing timestamp e (w0 >= e: the timestamp came early,
 * tiny.en's whole seconds on the 4 min file) would be shown with no length there: it keeps its
 * own end, at most 0.5 s past e (word_seek's bound). The same at the start: a first word
 * aligned to end by the opening timestamp keeps its start, at most 0.5 s before it. */
static float segment_end_limit(float w0, float w1, float e)
{
    return w0 < e || w0 >= e + 0.5f ? e : fminf(w1, e + 0.5f);
}

static float segment_start_limit(float w0, float w1, float s)
{
    return w1 > s || w1 <= s - 0.5f ? s : fmaxf(w0, s - 0.5f);
}

/* Whether segment s's timestamp tokens are not where its speech is: more than half of its
 * words (as aligned, s from the window's start) lie, by their middle, over 0.5 s outside
 * them. The clamp into the segment (segment_times) is for a word the alignment stretches
 * into the pause around a sentence; it had collapsed whole sentences. A window of five
 * German sentences whose timestamps said 28.56-43.4 s while the alignment put them at
 * 44.16-58.5 s, where they were spoken (the model had skipped 15 s of French and Spanish
 * before them), gave words of no length and drop_instant removed four of the five
 * segments: decoded speech lost (a multilingual audit; faster-whisper kept them at the
 * aligned times, which such a segment then takes, as it does). */
static int timestamps_astray(const sp_segment *s, float t_off)
{
    int out = 0;
    for (int w = 0; w < s->n_words; w++) {
        const float mid = t_off + 0.5f * (s->words[w].start + s->words[w].end);
        out += mid < s->start - 0.5f || mid > s->end + 0.5f;
    }
    return 2 * out > s->n_words;
}

/* Phase 1 of window_words for segment s (its text tokens from al_text[g], nt of them): its
 * words with their texts and raw times as aligned (s from the window's start), their
 * durations appended to al_dur[*n_dur]; *closed: its tokens before any that close no group
 * (wh_split_words). Returns the number of words, -1 on no memory. */
static int segment_words(tx *x, sp_segment *s, int g, int nt, int *n_dur, int *closed)
{
    int nw = nt > 0 ? wh_split_words(x->tok, x->al_text + g, nt, x->unicode_words, x->al_ends, closed) : 0;
    if (nw <= 0) return nw;
    if (!(s->words = calloc((size_t)nw, sizeof *s->words))) return -1;
    for (int w = 0, a = 0; w < nw; w++) {
        const int b = x->al_ends[w];
        sp_word *wd = &s->words[w];
        if (!(wd->text = wh_tok_decode(x->tok, x->al_text + g + a, b - a))) return -1;
        s->n_words = w + 1;
        wd->start = x->al_times[g + a];
        /* tokens that close no group (the last word's tail) get no time of their own: a
         * byte loop's alignment runs over whatever audio follows */
        wd->end = x->al_times[g + (b > *closed ? (*closed > a ? *closed : a) : b)];
        x->al_dur[(*n_dur)++] = wd->end - wd->start;
        double ps = 0;
        for (int q = a; q < b; q++) ps += x->al_probs[g + q];
        wd->probability = (float)(ps / (b - a));
        a = b;
    }
    return nw;
}

/* Phase 3: segment s's token and word times (raw, from phase 1) clamped into the segment as
 * its limits above extend it, no earlier than `floor` (the words given before it) unless
 * that lies past the segment's end, monotonic. */
static void segment_times(tx *x, sp_segment *s, int g, float t_off, float floor)
{
    const int eot = x->sp->eot;
    float lo = s->start, hi = s->end;
    if (s->n_words > 0 && timestamps_astray(s, t_off)) {
        lo = t_off + s->words[0].start;
        hi = fmaxf(lo, t_off + s->words[s->n_words - 1].end);
    } else if (s->n_words > 0) {
        const int k = last_word(s);
        hi = segment_end_limit(t_off + s->words[k].start, t_off + s->words[k].end, s->end);
        lo = segment_start_limit(t_off + s->words[0].start, t_off + s->words[0].end, s->start);
    }
    lo = fmaxf(lo, fminf(floor, s->end));
    float prev = lo;
    for (int k = 0, q = g; k < s->n_tokens; k++) {
        sp_token *t = &s->tokens[k];
        if (t->id >= eot) continue;
        float a = clampf(t_off + x->al_times[q], lo, hi), b = clampf(t_off + x->al_times[q + 1], lo, hi);
        if (a < prev) a = prev;
        if (b < a) b = a;
        t->t0 = a;
        t->t1 = prev = b;
        q++;
    }
    prev = lo;
    for (int w = 0; w < s->n_words; w++) {
        sp_word *wd = &s->words[w];
        float t0 = clampf(t_off + wd->start, lo, hi);
        float t1 = clampf(t_off + wd->end, lo, hi);
        if (t0 < prev) t0 = prev;
        if (t1 < t0) t1 = t0;
        wd->start = t0;
        wd->end = prev = t1;
    }
}

/* Aligns the text tokens of segments [seg0, n_segments) (this window's) and gives them
 * words and token times (openai timing.py add_word_timestamps / find_alignment; see
 * align.h). Words are split per segment, so a segment's words concatenate to its text.
 * Times are clamped into the segment (its end as segment_end_limit extends it) and made
 * monotonic. A window whose alignment sequence does not fit the text context keeps its
 * segments without words. */
static sp_status window_words(tx *x, int seg0, float t_off, int num_frames)
{
    sp_result *o = x->out;
    const int eot = x->sp->eot;
    int n_text = 0;
    for (int i = seg0; i < o->n_segments; i++)
        for (int k = 0; k < o->segments[i].n_tokens; k++)
            if (o->segments[i].tokens[k].id < eot && n_text < x->n_text_ctx) x->al_text[n_text++] = o->segments[i].tokens[k].id;
    x->seek_w0 = -1;
    if (n_text == 0 || num_frames < 2) return SP_OK;
    x->unicode_words = wh_align_unicode_lang(o->language);   /* known once detected */
    int sot[3], n_sot = 0;
    sot[n_sot++] = x->sp->sot;
    if (x->lang_token >= 0) { sot[n_sot++] = x->lang_token; sot[n_sot++] = x->task_token; }
    sp_status st = wh_align_run(x->align, sot, n_sot, x->al_text, n_text, num_frames, x->al_times, x->al_probs);
    if (st == SP_ERR_TOO_LARGE) return SP_OK;
    if (st != SP_OK) return st;
    /* phase 1: words and their durations as aligned (not clamped, punctuation apart):
     * timing.py's median is of these; each word has a token, so n_text bounds them */
    int n_dur = 0;
    int g = 0;   /* index of the segment's first text token in al_text */
    for (int i = seg0; i < o->n_segments; i++) {
        sp_segment *s = &o->segments[i];
        int nt = 0;
        for (int k = 0; k < s->n_tokens; k++) nt += s->tokens[k].id < eot;
        int closed = nt;
        const int nw = segment_words(x, s, g, nt, &n_dur, &closed);
        if (nw < 0) return SP_ERR_NOMEM;
        if (nw > 0) {
            /* the last word as aligned, inside the window (for word_seek): the word that
             * closing punctuation will be merged into, with that word's own times - a "."
             * is often aligned across the whole pause after it - and without the tokens that
             * close no group, which openai and faster-whisper drop: a byte loop at a window's
             * end ("鮮�鮮��") was aligned over 19 s of speech that the next window then
             * skipped (a multilingual audit; faster-whisper went on from the last character) */
            int k = last_word(s);
            int ka = k > 0 ? x->al_ends[k - 1] : 0, kb = x->al_ends[k];
            if (kb > closed) {
                if (closed > ka) kb = closed;
                else if (k > 0) { k--; kb = x->al_ends[k]; ka = k > 0 ? x->al_ends[k - 1] : 0; }
            }
            const float w_end = t_off + (float)num_frames * HOP / SR;
            x->seek_w0 = clampf(t_off + x->al_times[g + ka], t_off, w_end);
            x->seek_w1 = clampf(t_off + x->al_times[g + kb], x->seek_w0, w_end);
            x->seek_seg_end = s->end;
        }
        g += nt;
    }
    /* phase 2 */
    x->win_med = median_duration(x->al_dur, n_dur);
    /* phase 3: the times given. The window starts at the last word's end rounded to a 10 ms
     * frame (openai's and faster-whisper's seek), up to 5 ms before it: times stay after the
     * words already given */
    float floor = x->last_speech;
    g = 0;
    for (int i = seg0; i < o->n_segments; i++) {
        sp_segment *s = &o->segments[i];
        segment_times(x, s, g, t_off, floor);
        if (s->n_words > 0) floor = fmaxf(floor, s->words[s->n_words - 1].end);
        for (int k = 0; k < s->n_tokens; k++) g += s->tokens[k].id < eot;
    }
    return snap_segments(o, seg0, x->win_med, &x->last_speech);
}

/* The end of the last word among segments seg0.. (faster-whisper's get_end), else the last
 * segment's end. */
static float last_word_end(const sp_result *o, int seg0)
{
    for (int i = o->n_segments - 1; i >= seg0; i--)
        if (o->segments[i].n_words > 0) return o->segments[i].words[o->segments[i].n_words - 1].end;
    return o->segments[o->n_segments - 1].end;
}

/* Whisper's and faster-whisper's long-form loop: with word times the next window starts where
 * the last word ends, not at the last timestamp token - which can lie past words the window
 * never got to (a sentence at 82.2 s of a 108 s recording was lost: the timestamp said
 * 82.0 s and the next window decoded its audio as part of a later sentence). A window that
 * ends in a single timestamp goes on to its end as without words.
 * The end is the word's as aligned, not the one given (clamped into its segment, see
 * snap_segments): the closing timestamp often comes 0.3-0.6 s before the speech ends (tiny.en
 * on real_speech.sh's 110 s file: 19.00 for speech ending at 19.30, 85.94 for 86.55), and a
 * window starting there began inside the last word - its tail, or the 0.4 s after the
 * file's last word, could be read as words never said ("with water with water ...").
 * As faster-whisper, a word running more than 0.5 s past its segment's closing timestamp
 * ends there instead (or a median word length after its start, if later); one that starts
 * past it (faster-whisper would seek to its end) ends 0.5 s after it: a model without a
 * sensible alignment (the synthetic test models) put the last word at the window's end, and a
 * window that skips ahead of its timestamps could skip speech never transcribed. Never
 * before the end given to the word. */
static int word_seek(const tx *x, int seg0, float t_off, int seek)
{
    const sp_result *o = x->out;
    if (x->win_single_end || o->n_segments <= seg0) return seek;
    const float given = last_word_end(o, seg0);
    float end = given;
    if (x->seek_w0 >= 0) {
        end = x->seek_w1;
        if (x->seek_seg_end + 0.5f < end)
            end = x->seek_seg_end > x->seek_w0 ? fmaxf(x->seek_w0 + x->win_med, x->seek_seg_end)
                                               : x->seek_seg_end + 0.5f;
        end = fmaxf(end, given);
    }
    return end > t_off ? (int)lroundf(end * SR / HOP) : seek;
}

/* faster-whisper's rule, applied again once words have moved a segment's times: a segment
 * of no length is neither given nor kept as context (its tokens leave the prompt history,
 * pushed from all0 on by this window). With --no-timestamps the window after the last
 * word could otherwise yield a cue like 10.88 --> 10.88. */
static sp_status drop_instant(tx *x, int seg0, int all0)
{
    sp_result *o = x->out;
    int k = seg0, dropped = 0;
    for (int i = seg0; i < o->n_segments; i++) {
        if (o->segments[i].end <= o->segments[i].start) { segment_free(&o->segments[i]); dropped = 1; continue; }
        o->segments[k++] = o->segments[i];
    }
    o->n_segments = k;
    if (!dropped) return SP_OK;
    x->n_all = all0;
    for (int i = seg0; i < o->n_segments; i++)
        for (int t = 0; t < o->segments[i].n_tokens; t++)
            if (all_push(x, &o->segments[i].tokens[t].id, 1)) return SP_ERR_NOMEM;
    return SP_OK;
}

/* Splits the window's tokens at consecutive timestamps (transcribe.py) and advances *seek. */
static sp_status window_segments(tx *x, int *seek, int segment_size, float t_off)
{
    const win_result *r = &x->res;
    const int tb = x->sp->timestamp_begin, n = r->n;
    const float seg_dur = (float)segment_size * HOP / SR, t_end = t_off + seg_dur;
    const int *t = r->tok;
    sp_status st;
    int single_end = n >= 2 ? (t[n - 2] < tb && t[n - 1] >= tb) : (n == 1 && t[0] >= tb);
    int n_cons = 0;
    x->win_seek = *seek;
    x->win_single_end = single_end;
    for (int i = 0; i + 1 < n; i++) if (t[i] >= tb && t[i + 1] >= tb) n_cons++;
    if (n_cons > 0) {
        int last = 0;
        for (int i = 1; i <= n; i++) {
            int cut = (i < n && t[i - 1] >= tb && t[i] >= tb) || (i == n && single_end);
            if (!cut) continue;
            float s = t_off + (float)(t[last] - tb) * TIME_PRECISION;
            float e = t_off + (float)(t[i - 1] - tb) * TIME_PRECISION;
            if (t[last] < tb) s = t_off;   /* a forced prefix without timestamps: from the window start */
            if ((st = add_segment(x, r, last, i, clampf(s, t_off, t_end), clampf(e, t_off, t_end), t_off))) return st;
            last = i;
        }
        if (single_end) {
            *seek += segment_size;
        } else {
            int adv = (t[last - 1] - tb) * 2;   /* input stride: 2 mel frames per timestamp */
            *seek += adv > 0 && adv <= segment_size ? adv : segment_size;
        }
    } else {
        float dur = seg_dur;
        int last_ts = -1;
        for (int i = 0; i < n; i++) if (t[i] >= tb) last_ts = t[i];
        if (last_ts > tb) dur = (float)(last_ts - tb) * TIME_PRECISION;
        if ((st = add_segment(x, r, 0, n, t_off, clampf(t_off + dur, t_off, t_end), t_off))) return st;
        *seek += segment_size;
    }
    return SP_OK;
}

/* ------------------------------------------------------------------ language */

static sp_status detect_language(tx *x, char lang[16], float *prob)
{
    const int V = x->n_vocab, first = x->sp->lang_first, nl = x->sp->n_lang;
    float *l = malloc(sizeof(float) * (size_t)V);
    if (!l) return SP_ERR_NOMEM;
    wh_seq_reset(x->ctx, 0);
    sp_status st = wh_decode_seq(x->ctx, 0, &x->sp->sot, 1, l);
    if (st == SP_OK) {
        /* the candidates' logits alone: the others as -inf for the argmax and the share */
        int best = -1;
        for (int i = 0; i < nl; i++) {
            if (!x->lang_ok[i]) l[first + i] = -INFINITY;
            else if (best < 0 || l[first + i] > l[first + best]) best = i;
        }
        float lse = wh_logsumexp(l + first, nl);
        *prob = expf(l[first + best] - lse);
        const char *code = wh_language_code(best);
        snprintf(lang, 16, "%s", code ? code : "en");
    }
    wh_seq_reset(x->ctx, 0);
    free(l);
    return st;
}

/* ------------------------------------------------------------------ main loop */

static void free_tx(tx *x)
{
    wh_search_free(x->search);
    free(x->all);
    free(x->hot);
    free(x->prefix);
    free(x->init);
    free(x->win);
    wr_free(&x->cand[0]);
    wr_free(&x->cand[1]);
    wr_free(&x->res);
    wh_align_free(x->align);
    free(x->al_text);
    free(x->al_times);
    free(x->al_probs);
    free(x->al_dur);
    free(x->al_ends);
}

/* the encoder input of the window at seek: mel[:, seek : seek + size], zero-padded to 3000
 * frames (transcribe.py: pad_or_trim of the segment, not the padded audio's mel) */
static void window_mel(tx *x, const float *mel, int n_frames, int seek, int size)
{
    for (int m = 0; m < x->n_mels; m++) {
        float *dst = x->win + (size_t)m * N_FRAMES;
        memcpy(dst, mel + (size_t)m * n_frames + seek, sizeof(float) * (size_t)size);
        memset(dst + size, 0, sizeof(float) * (size_t)(N_FRAMES - size));
    }
}

/* audio_ctx auto for `heard` positions of audio: 64 positions (1.28 s) of margin after them,
 * rounded up to a multiple of 32, at most `full`. The margin is what the models need (they
 * were trained on full windows, and see the end of the speech followed by silence); the
 * rounding only keeps the products' shapes whole (the attention pads to 32). It had been a
 * multiple of 64, so the margin ran from 64 to 127 positions: a 3 s clip took 256 where 224
 * keep the same least margin. The 24 one-sentence espeak-ng clips of
 * bench/audio_ctx_accuracy.sh (2-4 s each): 16 of them get a shorter window (mean 307 -> 285
 * positions), and not one of their 48 transcripts (tiny.en, base) changed. */
int wh_audio_ctx_auto(int heard, int full)
{
    const int n = (heard + 64 + 31) / 32 * 32;
    return n < full ? n : full;
}

/* encoder positions for a window of `size` mel frames (sp_transcribe_params.audio_ctx). A
 * number too small for the window's audio is raised to auto's: the encoder would not hear
 * the rest, and the window — skipped as silence or cut short — lost its speech without a
 * word (audio_ctx 1-24 gave an empty transcript of an 11 s speech clip with tiny.en). */
static int window_ctx(const tx *x, int size)
{
    const int full = wh_encoded_ctx_max(x->ctx), want = x->p->audio_ctx;
    const int heard = (size + 1) / 2;   /* positions of the window's audio (conv stride 2) */
    if (want == SP_AUDIO_CTX_AUTO || (want > 0 && want < heard)) return wh_audio_ctx_auto(heard, full);
    return want > 0 && want < full ? want : full;
}

/* The window's segments [seg0, n_segments) are final: their times in the original audio,
 * then the caller's per-segment callback (live output). */
static void publish_segments(tx *x, int seg0)
{
    sp_result *o = x->out;
    for (int i = seg0; i < o->n_segments; i++) {
        if (x->vm) map_segment(x->vm, &o->segments[i]);
        if (x->p->on_segment) x->p->on_segment(&o->segments[i], i, x->p->on_segment_user);
    }
}

static sp_status run(tx *x, const float *pcm, size_t n_samples, char *err, size_t es)
{
    const sp_transcribe_params *p = x->p;
    sp_result *o = x->out;
    sp_status st;
    float *mel = NULL;
    int n_frames = 0, content = 0;
    if ((st = sp_mel(x->ctx, pcm, n_samples, &mel, &n_frames, &content)) != SP_OK) {
        sp_errf(err, es, "log-mel spectrogram failed: %s", sp_status_str(st));
        return st;
    }
    /* in frames, compared before converting: 1e10 s or inf overflowed the int (a start of
     * 1e10 had transcribed from 0, an end of 1e10 nothing) */
    const double c0 = (double)p->clip_start * 100.0, c1 = (double)p->clip_end * 100.0;
    int clip0 = c0 < content ? (int)lround(c0) : content;
    int clip1 = p->clip_end > 0 && c1 < content ? (int)lround(c1) : content;
    if (clip0 < 0) clip0 = 0;
    if (clip1 > content) clip1 = content;
    int seek = clip0, first = 1, detected = 0;
    while (seek < clip1) {
        /* A window boundary: everything the next window needs is in x, mel and seek, and
         * the next sp_encode resets the context's per-window state, so the caller may run
         * other transcriptions on this context here (a daemon's pending interactive
         * request). The cancel check follows, so a cancel set meanwhile is seen at once. */
        if (seek > clip0 && p->on_window) p->on_window((float)seek * HOP / SR, p->on_window_user);
        if (p->cancel && *p->cancel) { st = SP_ERR_CANCELLED; sp_errf(err, es, "cancelled"); break; }
        const float t_off = (float)seek * HOP / SR;
        int size = N_FRAMES;
        if (content - seek < size) size = content - seek;
        if (clip1 - seek < size) size = clip1 - seek;
        size_t s0 = (size_t)seek * HOP, s1 = (size_t)(seek + size) * HOP;
        if (s1 > n_samples) s1 = n_samples;
        if (s1 <= s0 || sp_audio_is_silent(pcm + s0, s1 - s0)) {   /* no speech Whisper could hear */
            seek += size;
            goto progress;
        }
        window_mel(x, mel, n_frames, seek, size);
        const int actx = window_ctx(x, size), short_ctx = actx < wh_encoded_ctx_max(x->ctx);
        if ((st = sp_encode_ctx(x->ctx, x->win, N_FRAMES, 0, actx)) != SP_OK) {
            sp_errf(err, es, "encoder failed: %s", sp_status_str(st));
            break;
        }
        if (!detected) {
            detected = 1;
            if (x->lang_token == -2) {   /* detect on the first window that has sound */
                if ((st = detect_language(x, o->language, &o->language_prob)) != SP_OK) {
                    sp_errf(err, es, "language detection failed: %s", fail_reason(st));
                    break;
                }
                x->lang_token = x->sp->lang_first + wh_language_index(o->language);
            }
        }
        /* A shortened window (audio_ctx) gets one try at the first temperature; if that
         * fails the quality tests (a short window can leave the decoder repeating the clip
         * instead of ending it: base did so on 1 of 24 dictation clips), the window is
         * encoded in full and decoded with the whole ladder, as without audio_ctx. */
        int failed = 0;
        st = decode_window(x, first, short_ctx ? 1 : 0, &failed);
        if (st == SP_OK && failed && short_ctx) {
            if ((st = sp_encode_ctx(x->ctx, x->win, N_FRAMES, 0, 0)) != SP_OK) {
                sp_errf(err, es, "encoder failed: %s", sp_status_str(st));
                break;
            }
            st = decode_window(x, first, 0, &failed);
        }
        if (st != SP_OK) {
            sp_errf(err, es, "%s", st == SP_ERR_CANCELLED ? "cancelled" : "decoder failed");
            if (st != SP_ERR_CANCELLED) sp_errf(err, es, "decoder failed: %s", fail_reason(st));
            break;
        }
        first = 0;
        const win_result *r = &x->res;
        if (p->no_speech_threshold > 0 && r->no_speech_prob > p->no_speech_threshold &&
            !(p->logprob_threshold > -1e9f && r->avg_logprob > p->logprob_threshold)) {
            seek += size;   /* silence */
            goto progress;
        }
        int before = seek, seg0 = o->n_segments, all0 = x->n_all;
        if ((st = window_segments(x, &seek, size, t_off)) != SP_OK) { sp_errf(err, es, "out of memory"); break; }
        if (p->word_timestamps && (st = window_words(x, seg0, t_off, size)) != SP_OK) {
            sp_errf(err, es, "word alignment failed: %s", sp_status_str(st));
            break;
        }
        if (p->word_timestamps) {
            seek = word_seek(x, seg0, t_off, seek);
            if ((st = drop_instant(x, seg0, all0)) != SP_OK) { sp_errf(err, es, "out of memory"); break; }
        }
        publish_segments(x, seg0);
        if (seek <= before) seek = before + size;
        if (!p->condition_on_previous_text || r->temperature > p->prompt_reset_on_temperature) x->reset_since = x->n_all;
    progress:
        if (p->progress) p->progress(clip1 > clip0 ? (float)(seek - clip0) / (float)(clip1 - clip0) : 1.0f, p->progress_user);
    }
    free(mel);
    return st;
}


static sp_status check_params(const sp_transcribe_params *p, char *err, size_t err_size)
{
    if (p->beam_size < 1 || p->beam_size > WH_MAX_SEQ || p->best_of < 1 || p->best_of > WH_MAX_SEQ) {
        sp_errf(err, err_size, "beam_size and best_of must be 1..%d", WH_MAX_SEQ);
        return SP_ERR_INVALID_ARG;
    }
    if (p->temperatures && p->n_temperatures > 0)
        for (int i = 0; i < p->n_temperatures; i++)
            if (!(p->temperatures[i] >= 0 && p->temperatures[i] <= 10)) {
                sp_errf(err, err_size, "temperature %g out of range 0..10", (double)p->temperatures[i]);
                return SP_ERR_INVALID_ARG;
            }
    if (p->audio_ctx < SP_AUDIO_CTX_AUTO) {
        sp_errf(err, err_size, "audio_ctx must be >= 0 or SP_AUDIO_CTX_AUTO");
        return SP_ERR_INVALID_ARG;
    }
    if (!(p->patience > 0 && p->patience <= 4)) { sp_errf(err, err_size, "patience must be in (0, 4]"); return SP_ERR_INVALID_ARG; }
    if (!(p->clip_start >= 0) || isnan(p->clip_end) || (p->clip_end > 0 && p->clip_end <= p->clip_start)) {
        sp_errf(err, err_size, "bad clip range %g..%g", (double)p->clip_start, (double)p->clip_end);
        return SP_ERR_INVALID_ARG;
    }
    return SP_OK;
}

/* detection's candidates: the languages parameter's codes (each one the model knows), or
 * all of the model's when it is NULL/empty; lang (the result's, until detection runs) = the
 * first of them, so audio with nothing to detect on is not reported outside the set */
static sp_status set_candidates(tx *x, const int *idx, int n, char lang[16], char *err, size_t err_size)
{
    const int nl = x->sp->n_lang;
    memset(x->lang_ok, n == 0, sizeof x->lang_ok);
    for (int i = 0; i < n; i++) {
        if (idx[i] >= nl) {
            sp_errf(err, err_size, "language '%s' in languages is not one this model knows", sp_language_code(idx[i]));
            return SP_ERR_INVALID_ARG;
        }
        x->lang_ok[idx[i]] = 1;
    }
    if (n > 0) snprintf(lang, 16, "%s", sp_language_code(idx[0]));
    return SP_OK;
}

/* language and task tokens (x->lang_token: -1 English-only model, -2 detect) */
static sp_status setup_language(tx *x, sp_result *res, char *err, size_t err_size)
{
    const sp_transcribe_params *p = x->p;
    int idx[128];
    char bad[16];
    const int nidx = sp_language_list(p->languages, idx, 128, bad);
    if (nidx < 0) {   /* checked whether it is used or not */
        sp_errf(err, err_size, "unknown language '%s' in languages", bad);
        return SP_ERR_INVALID_ARG;
    }
    if (!x->multilingual) {   /* any known code is accepted and English transcribed; a typo is an error */
        if (p->language && *p->language && !sp_language_auto(p->language) && wh_language_index(p->language) < 0) {
            sp_errf(err, err_size, "unknown language '%s'", p->language);
            return SP_ERR_INVALID_ARG;
        }
        snprintf(res->language, sizeof res->language, "en");
        x->lang_token = -1;
    } else if (!p->language || !*p->language || sp_language_auto(p->language)) {
        x->lang_token = -2;
        snprintf(res->language, sizeof res->language, "en");
        res->language_prob = 0.0f;
        sp_status st = set_candidates(x, idx, nidx, res->language, err, err_size);
        if (st != SP_OK) return st;
    } else {
        int li = wh_language_index(p->language);
        if (li < 0) {
            sp_errf(err, err_size, "unknown language '%s'", p->language);
            return SP_ERR_INVALID_ARG;
        }
        if (li >= x->sp->n_lang) {   /* a Whisper code newer than the model ("yue" before large-v3) */
            sp_errf(err, err_size, "language '%s' is not one this model knows (it has the first %d "
                    "of Whisper's codes; large-v3 has all 100)", wh_language_code(li), x->sp->n_lang);
            return SP_ERR_INVALID_ARG;
        }
        snprintf(res->language, sizeof res->language, "%s", wh_language_code(li));
        x->lang_token = x->sp->lang_first + li;
    }
    x->task_token = p->translate && x->multilingual ? x->sp->translate : x->sp->transcribe;
    return SP_OK;
}

/* tokenizer, filters, prompts */
static sp_status setup_prompts(tx *x, char *err, size_t err_size)
{
    const sp_transcribe_params *p = x->p;
    sp_status st;
    if (!(x->tok = wh_context_tokenizer(x->ctx))) { sp_errf(err, err_size, "tokenizer: out of memory"); return SP_ERR_NOMEM; }
    const int *ns;
    int n_ns = wh_nonspeech_table(x->multilingual, &ns);
    int n_sup = wh_parse_suppress(p->suppress_tokens, ns, n_ns, x->sp, x->n_vocab, x->suppress, 512);
    if (n_sup < 0) {
        sp_errf(err, err_size, "bad suppress_tokens '%s' (ids 0..%d, -1 = non-speech set)", p->suppress_tokens, x->n_vocab - 1);
        return SP_ERR_INVALID_ARG;
    }
    int blank = wh_tok_find(x->tok, " ", 1);
    x->filter = (wh_filter){.n_vocab = x->n_vocab, .sp = *x->sp, .blank_id = blank >= 0 ? blank : 220,
                            .suppress_blank = p->suppress_blank, .suppress = x->suppress, .n_suppress = n_sup,
                            .timestamps = !p->without_timestamps,
                            .max_initial_ts = initial_ts_limit(p->max_initial_timestamp)};
    wh_rng_seed(&x->rng, p->seed);
    const int half = x->n_text_ctx / 2 - 1;
    int *ip = NULL, n_ip = 0;
    if ((st = encode_prompt(x->tok, p->initial_prompt, 1 << 20, &ip, &n_ip)) != SP_OK ||
        (st = encode_prompt(x->tok, p->hotwords, half, &x->hot, &x->n_hot)) != SP_OK ||
        (st = encode_prompt(x->tok, p->prefix, half, &x->prefix, &x->n_prefix)) != SP_OK) {
        free(ip);
        sp_errf(err, err_size, "out of memory");
        return st;
    }
    st = n_ip > 0 && all_push(x, ip, n_ip) ? SP_ERR_NOMEM : SP_OK;
    free(ip);
    return st;
}

/* the search, window and result buffers, and the alignment pass's */
static sp_status setup_buffers(tx *x, char *err, size_t err_size)
{
    const sp_transcribe_params *p = x->p;
    sp_status st;
    int G = p->beam_size > p->best_of ? p->beam_size : p->best_of;
    if ((st = wh_search_new(x->ctx, G, &x->search)) != SP_OK) { sp_errf(err, err_size, "out of memory"); return st; }
    x->init = malloc(sizeof(int) * (size_t)x->n_text_ctx);
    x->win = malloc(sizeof(float) * (size_t)x->n_mels * N_FRAMES);
    if (!x->init || !x->win || wr_alloc(&x->cand[0], x->n_text_ctx) || wr_alloc(&x->cand[1], x->n_text_ctx) ||
        wr_alloc(&x->res, x->n_text_ctx)) {
        sp_errf(err, err_size, "out of memory");
        return SP_ERR_NOMEM;
    }
    if (p->word_timestamps) {
        /* the alignment pass uses the last decoder sequence: the search uses 0 .. G-1 and is
         * done with the window when it runs (with G = WH_MAX_SEQ it reuses the search's
         * last one, which the next window's search resets) */
        const size_t T = (size_t)x->n_text_ctx;
        x->al_text = malloc(sizeof(int) * T);
        x->al_times = malloc(sizeof(float) * (T + 1));
        x->al_probs = malloc(sizeof(float) * T);
        x->al_dur = malloc(sizeof(float) * T);
        x->al_ends = malloc(sizeof(int) * T);
        if (!x->al_text || !x->al_times || !x->al_probs || !x->al_dur || !x->al_ends ||
            wh_align_new(x->ctx, WH_MAX_SEQ - 1, &x->align) != SP_OK) {
            sp_errf(err, err_size, "out of memory");
            return SP_ERR_NOMEM;
        }
    }
    return SP_OK;
}

/* With VAD: the speech spans joined into *vad_pcm (vm maps positions back); vm->n == 0
 * means no speech at all. */
static sp_status vad_join(sp_context *ctx, const sp_transcribe_params *p, const float *pcm, size_t n_samples,
                          vad_map *vm, float **vad_pcm, char *err, size_t err_size)
{
    sp_vad *vad = NULL;
    char verr[256] = "";
    sp_status st;
    if ((st = wh_ctx_vad(ctx, p->vad_model, &vad, verr, sizeof verr)) != SP_OK) {
        sp_errf(err, err_size, "VAD: %s", verr);
        return st;
    }
    sp_vad_params vp = sp_vad_default_params();
    vm->pad = SR * vp.speech_pad_ms / 1000.0;
    if ((st = sp_vad_segments(vad, pcm, n_samples, &vp, &vm->spans, &vm->n)) != SP_OK) {
        sp_errf(err, err_size, "VAD failed: %s", sp_status_str(st));
        return st;
    }
    /* --clip is in the recording's time: the spans are cut to it here, and the joined audio
     * is transcribed whole (applying the clip to the joined audio, as before, took the
     * wrong stretch once silence was removed, and reported times past the clip's end) */
    if (p->clip_start > 0 || p->clip_end > 0) {
        const double c0 = (double)p->clip_start * SR, c1 = p->clip_end > 0 ? (double)p->clip_end * SR : (double)n_samples;
        const size_t a = c0 < (double)n_samples ? (size_t)c0 : n_samples, b = c1 < (double)n_samples ? (size_t)c1 : n_samples;
        int k = 0;
        for (int i = 0; i < vm->n; i++) {
            sp_span sp = vm->spans[i];
            if (sp.start < a) sp.start = a;
            if (sp.end > b) sp.end = b;
            if (sp.end > sp.start) vm->spans[k++] = sp;
        }
        vm->n = k;
    }
    if (vm->n == 0) return SP_OK;
    vm->cum = malloc(sizeof(size_t) * (size_t)(vm->n + 1));
    if (!vm->cum) return SP_ERR_NOMEM;
    vm->cum[0] = 0;
    for (int i = 0; i < vm->n; i++) {
        size_t a = vm->spans[i].start, b = vm->spans[i].end > n_samples ? n_samples : vm->spans[i].end;
        vm->cum[i + 1] = vm->cum[i] + (b > a ? b - a : 0);
    }
    *vad_pcm = malloc(sizeof(float) * (vm->cum[vm->n] ? vm->cum[vm->n] : 1));
    if (!*vad_pcm) return SP_ERR_NOMEM;
    for (int i = 0; i < vm->n; i++)
        memcpy(*vad_pcm + vm->cum[i], pcm + vm->spans[i].start, sizeof(float) * (vm->cum[i + 1] - vm->cum[i]));
    return SP_OK;
}

static sp_status transcribe_once(sp_context *ctx, const float *pcm, size_t n_samples,
                                 const sp_transcribe_params *params, sp_result **out, char *err, size_t err_size)
{
    if (out) *out = NULL;
    if (!ctx || !out || (!pcm && n_samples)) { sp_errf(err, err_size, "sp_transcribe: NULL argument"); return SP_ERR_INVALID_ARG; }
    sp_transcribe_params defp = sp_transcribe_default_params();
    const sp_transcribe_params *p = params ? params : &defp;
    sp_status st = check_params(p, err, err_size);
    if (st != SP_OK) return st;

    tx x;
    memset(&x, 0, sizeof x);
    x.ctx = ctx;
    x.p = p;
    sp_model_info info;
    sp_context_info(ctx, &info);
    x.n_vocab = wh_n_vocab(ctx);
    x.n_text_ctx = wh_n_text_ctx(ctx);
    x.multilingual = info.multilingual;
    x.n_mels = info.n_mels;
    x.sp = wh_special_tokens(ctx);
    vad_map vm = {0};
    float *vad_pcm = NULL;
    sp_result *res = calloc(1, sizeof *res);
    if (!res) return SP_ERR_NOMEM;
    x.out = res;
    res->duration = (float)n_samples / SR;
    res->language_prob = 1.0f;
    if ((st = setup_language(&x, res, err, err_size)) != SP_OK || (st = setup_prompts(&x, err, err_size)) != SP_OK ||
        (st = setup_buffers(&x, err, err_size)) != SP_OK)
        goto fail;

    /* the original system's empty-audio pre-filter */
    if (n_samples == 0 || sp_audio_is_empty(pcm, n_samples)) goto done;
    const float *src = pcm;
    size_t n_src = n_samples;
    sp_transcribe_params unclipped;
    if (p->vad) {
        if ((st = vad_join(ctx, p, pcm, n_samples, &vm, &vad_pcm, err, err_size)) != SP_OK) goto fail;
        if (vm.n == 0) goto done;
        src = vad_pcm;
        n_src = vm.cum[vm.n];
        x.vm = &vm;   /* run() maps each window's segments as they become final */
        unclipped = *p;   /* the clip is applied to the spans (vad_join) */
        unclipped.clip_start = unclipped.clip_end = 0;
        x.p = &unclipped;
    }
    if ((st = run(&x, src, n_src, err, err_size)) != SP_OK) goto fail;
done:
    free(vad_pcm);
    free(vm.spans);
    free(vm.cum);
    free_tx(&x);
    *out = res;
    return SP_OK;
fail:
    free(vad_pcm);
    free(vm.spans);
    free(vm.cum);
    free_tx(&x);
    sp_result_free(res);
    return st;
}

/* The caller's on_segment, seen through a filter that drops the indices a failed GPU pass
 * already gave, so a live reader never gets one index twice. */
typedef struct {
    void (*fn)(const sp_segment *seg, int index, void *user);
    void *user;
    int given;   /* indices below this were given */
} seg_relay;

static void relay_segment(const sp_segment *seg, int index, void *user)
{
    seg_relay *r = user;
    if (index < r->given) return;
    r->given = index + 1;
    r->fn(seg, index, r->user);
}

sp_status sp_transcribe(sp_context *ctx, const float *pcm, size_t n_samples, const sp_transcribe_params *params,
                        sp_result **out, char *err, size_t err_size)
{
    sp_transcribe_params relayed;
    seg_relay relay = {0};
    if (params && params->on_segment) {
        relayed = *params;
        relay.fn = params->on_segment;
        relay.user = params->on_segment_user;
        relayed.on_segment = relay_segment;
        relayed.on_segment_user = &relay;
        params = &relayed;
    }
    sp_status st = transcribe_once(ctx, pcm, n_samples, params, out, err, err_size);
    if (st == SP_ERR_DEVICE && ctx && !strcmp(sp_context_device(ctx), "cpu")) {
        /* The GPU failed mid-request and the context has moved to the CPU (engine.c):
         * the request is decoded again there from the start, so its answer is complete and
         * the same as a CPU run. The failed pass left nothing in *out. */
        st = transcribe_once(ctx, pcm, n_samples, params, out, err, err_size);
    }
    return st;
}
