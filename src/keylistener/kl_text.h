/* kl_text.h — what gets typed: the response's segments joined with single spaces, and the
 * terminal trigger's state machine (hold or press ENTER). */
#ifndef KL_TEXT_H
#define KL_TEXT_H

#include <stddef.h>

#include "keylistener/kl_evdev.h"

/* Joins segments: control characters become spaces, every run of white space becomes one
 * space, each segment is trimmed and empty ones skipped, segments are separated by exactly
 * one space. Returns a malloc'd string ("" when nothing is left), NULL on OOM. */
char *kl_text_join(const char *const *segs, size_t n);
/* The same, but a segment i with tight[i] set joins the one before it without a space
 * (Whisper wrote none: Chinese, Japanese, Thai); tight may be NULL. */
char *kl_text_join_ex(const char *const *segs, const unsigned char *tight, size_t n);

/* One code point from s (n >= 1 bytes); returns the bytes used. An invalid sequence gives
 * U+FFFD and uses its maximal valid prefix (at least one byte), as Unicode recommends. */
size_t kl_utf8_next(const unsigned char *s, size_t n, unsigned long *cp);
/* The UTF-8 of code point cp (< 0x110000) at o; returns the bytes written (1..4). */
size_t kl_utf8_put(unsigned long cp, char *o);

/* Simple (1:1) case mapping of one code point, from a table of its own so that it does not
 * depend on the process's locale: ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic
 * (basic, and the Cyrillic Extended pairs U+0460-U+04FF). Other code points, and those
 * without a 1:1 partner (ß, ı, İ, ſ), map to themselves; final sigma lowers to itself and
 * uppers to Σ. */
unsigned long kl_cp_lower(unsigned long cp);
unsigned long kl_cp_upper(unsigned long cp);

/* Whether a dictation typed right after prev (--join-seconds) needs one space before next:
 * 1 unless prev is empty or ends in white space or an opening mark (( [ { “ ‘ « ¿ ¡), next
 * begins with white space or a mark that closes what comes before it (, . ; : ! ? ) ] } %
 * and … ” ’ »), or either side is text of a script written without spaces (CJK
 * punctuation, kana, ideographs, full-width forms: "你好。" + "今天…" join directly). */
int kl_text_join_space(const char *prev, const char *next);

/* Terminal trigger on a raw-mode tty. ENTER starts a recording. If ENTER repeats within
 * hold_detect seconds (the keyboard's autorepeat), it is a hold and the recording stops
 * when the repeats stop for release_gap seconds; otherwise the recording runs until the
 * next ENTER press (toggle). After a stop, repeats of the same press are ignored. */
typedef struct {
    int state;                 /* 0 idle, 1 pending, 2 holding, 3 latched, 4 ignoring */
    double last;               /* time of the last ENTER */
    double hold_detect, release_gap;
} kl_term;

void kl_term_init(kl_term *t);
kl_ev_action kl_term_enter(kl_term *t, double now);
kl_ev_action kl_term_tick(kl_term *t, double now);
/* The next time kl_term_tick must be called, or a negative value for none. */
double kl_term_deadline(const kl_term *t);
/* The recording was stopped or started by something else (control command, max length). */
void kl_term_reset(kl_term *t, int recording);

#endif
