/* kl_live.c — see kl_live.h. */
#include "keylistener/kl_live.h"
#include "keylistener/kl_text.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kl_live {
    pthread_mutex_t mu;
    unsigned serial;          /* the recording the worker is on */
    int started;              /* serial is valid */
    unsigned cancelled;       /* the last recording cancelled, with has_cancelled */
    int has_cancelled;
    char inflight[KL_LIVE_ID_MAX + 1];  /* "" none */
    int cancel_sent;          /* a cancel for inflight was sent (by either side) */
    char cancel_id[KL_LIVE_ID_MAX + 1];  /* its id, "" none or collected */
    char *text;
    size_t len;
    int chunks;
};

kl_live *kl_live_new(void)
{
    kl_live *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    if (!(l->text = calloc(1, 1))) { free(l); return NULL; }
    pthread_mutex_init(&l->mu, NULL);
    return l;
}

void kl_live_free(kl_live *l)
{
    if (!l) return;
    pthread_mutex_destroy(&l->mu);
    free(l->text);
    free(l);
}

static int is_cancelled(const kl_live *l, unsigned serial)
{
    return l->has_cancelled && l->cancelled == serial;
}

int kl_live_begin(kl_live *l, unsigned serial)
{
    pthread_mutex_lock(&l->mu);
    if (!l->started || serial != l->serial) {
        l->serial = serial;
        l->started = 1;
        l->text[0] = 0;
        l->len = 0;
        l->chunks = 0;
    }
    l->inflight[0] = 0;
    l->cancel_sent = 0;
    int c = is_cancelled(l, serial);
    pthread_mutex_unlock(&l->mu);
    return c;
}

int kl_live_submitted(kl_live *l, const char *id)
{
    pthread_mutex_lock(&l->mu);
    size_t k = strlen(id);
    if (k > KL_LIVE_ID_MAX) k = KL_LIVE_ID_MAX;
    memcpy(l->inflight, id, k);
    l->inflight[k] = 0;
    int send = is_cancelled(l, l->serial) && !l->cancel_sent;
    if (send) l->cancel_sent = 1;
    pthread_mutex_unlock(&l->mu);
    return send;
}

int kl_live_finished(kl_live *l)
{
    pthread_mutex_lock(&l->mu);
    l->inflight[0] = 0;
    int c = is_cancelled(l, l->serial);
    pthread_mutex_unlock(&l->mu);
    return c;
}

int kl_live_add(kl_live *l, const char *text)
{
    size_t k = strlen(text);
    if (!k) return 0;
    pthread_mutex_lock(&l->mu);
    char *t = realloc(l->text, l->len + k + 2);
    if (!t) { pthread_mutex_unlock(&l->mu); return -1; }
    l->text = t;
    /* a space between chunks, as between dictations (kl_text_join_space): none in Chinese or
     * Japanese, where "你好。 今天" had been typed at every cut */
    if (l->len && kl_text_join_space(l->text, text)) t[l->len++] = ' ';
    memcpy(t + l->len, text, k + 1);
    l->len += k;
    l->chunks++;
    pthread_mutex_unlock(&l->mu);
    return 0;
}

char *kl_live_text(kl_live *l)
{
    pthread_mutex_lock(&l->mu);
    char *t = strdup(l->text);
    pthread_mutex_unlock(&l->mu);
    return t;
}

int kl_live_chunks(kl_live *l)
{
    pthread_mutex_lock(&l->mu);
    int c = l->chunks;
    pthread_mutex_unlock(&l->mu);
    return c;
}

void kl_live_prompt(kl_live *l, const char *initial, char *out, size_t n)
{
    pthread_mutex_lock(&l->mu);
    kl_live_prompt_build(initial, l->text, out, n);
    pthread_mutex_unlock(&l->mu);
}

int kl_live_cancel(kl_live *l, unsigned serial, char id[KL_LIVE_ID_MAX + 1])
{
    pthread_mutex_lock(&l->mu);
    l->cancelled = serial;
    l->has_cancelled = 1;
    int send = l->started && l->serial == serial && l->inflight[0] && !l->cancel_sent;
    if (send) {
        memcpy(id, l->inflight, sizeof l->inflight);
        l->cancel_sent = 1;
    }
    pthread_mutex_unlock(&l->mu);
    return send;
}

void kl_live_cancel_sent(kl_live *l, const char *cid)
{
    pthread_mutex_lock(&l->mu);
    snprintf(l->cancel_id, sizeof l->cancel_id, "%s", cid);
    pthread_mutex_unlock(&l->mu);
}

int kl_live_take_cancel(kl_live *l, char cid[KL_LIVE_ID_MAX + 1])
{
    pthread_mutex_lock(&l->mu);
    int had = l->cancel_id[0] != 0;
    if (had) memcpy(cid, l->cancel_id, sizeof l->cancel_id);
    l->cancel_id[0] = 0;
    pthread_mutex_unlock(&l->mu);
    return had;
}

/* How far past a cut a space is looked for to start on a whole word: a long word, not a
 * text without spaces (Chinese, Japanese: a space found far on had cut the context to a
 * few bytes) */
#define KL_PROMPT_WORD_MAX 48

void kl_live_prompt_build(const char *initial, const char *sofar, char *out, size_t n)
{
    if (!n) return;
    if (n > KL_PROMPT_MAX + 1) n = KL_PROMPT_MAX + 1;
    out[0] = 0;
    size_t il = initial ? strlen(initial) : 0, sl = sofar ? strlen(sofar) : 0;
    if (il >= n) il = 0;                /* longer than the option allows; be safe */
    if (il) memcpy(out, initial, il);
    size_t room = n - 1 - il;           /* il < n */
    if (il && room) room--;             /* the space between: a 4096-byte initial prompt
                                         * leaves none (room had wrapped around) */
    const char *s = sofar ? sofar : "";
    if (sl > room) {                    /* keep the newest words */
        s = sofar + (sl - room);
        const char *sp = memchr(s, ' ', strnlen(s, KL_PROMPT_WORD_MAX));
        if (sp) s = sp + 1;             /* at a word's start */
        while ((*s & 0xC0) == 0x80) s++;   /* else at a character's */
        sl = strlen(s);
    }
    size_t o = il;
    if (il && sl) out[o++] = ' ';
    memcpy(out + o, s, sl);
    out[o + sl] = 0;
}
