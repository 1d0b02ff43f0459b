/* kl_post.h — text post-processing between the transcription and the output
 * (docs/key_listener.md, "Post-processing"). In this order:
 *   1. filler words removed (off by default): "um", "uh", ... as whole words, with the comma
 *      that follows them; a capital the filler carried moves to the next word;
 *   2. the replacement table, rules in the order given:
 *        literal   "FROM => TO": whole words, case-insensitive; TO keeps a capital the match
 *                  started with (sentence starts) and is upper-cased when the match was
 *                  written in capitals; otherwise TO is typed as written
 *        exact     "FROM => TO": whole words, case-sensitive, TO as written
 *        regex     "PATTERN => TO": POSIX extended, case-insensitive; \0..\9 in TO
 *      Each rule may start with "[profile] ": it then applies only under that profile
 *      (per-app rules choose the profile); untagged rules apply under every profile;
 *   3. spoken punctuation (option): "comma", "period", "full stop", "question mark",
 *      "exclamation mark", "colon", "semicolon", "new line", "new paragraph", "open/close
 *      paren" become the symbol; punctuation Whisper put around the spoken word is dropped,
 *      the symbol attaches to the previous word and a sentence end capitalizes the next one;
 *   4. an external hook: `sh -c HOOK` gets the text on stdin and prints the text to type.
 *      A hook that fails (exit status, signal, timeout, empty output, output that is not
 *      UTF-8 text) is ignored: the text it was given is typed and the reason reported.
 * Profile "none" turns every step off (raw text). */
#ifndef KL_POST_H
#define KL_POST_H

#include <stddef.h>

typedef struct kl_post kl_post;

typedef enum { KL_RULE_LITERAL = 0, KL_RULE_EXACT, KL_RULE_REGEX } kl_rule_kind;

typedef struct {
    int fillers;               /* remove filler words */
    const char *filler_words;  /* comma-separated; NULL: the built-in list */
    int punctuation;           /* spoken punctuation */
    const char *hook;          /* shell command; NULL/"": none */
    double hook_timeout;       /* seconds */
} kl_post_opts;

/* NULL on out of memory. */
kl_post *kl_post_new(const kl_post_opts *o);
void kl_post_free(kl_post *p);
/* Adds a rule "FROM => TO" (either side may be quoted "..." to keep spaces; TO may be
 * empty to delete). 0, or -1 with a message (no "=>", empty FROM, bad regex). */
int kl_post_add(kl_post *p, kl_rule_kind kind, const char *spec, char *err, size_t n);

/* Steps 1-3 on text under profile (NULL: "default"); a malloc'd result (NULL on OOM). */
char *kl_post_builtin(const kl_post *p, const char *profile, const char *text);
/* Step 4 alone: 0 with *out malloc'd, or -1 with the reason in err (*out NULL). */
int kl_post_hook(const char *hook, double timeout, const char *text, char **out,
                 char *err, size_t n);
/* All steps. Returns the text to type (malloc'd; NULL on OOM); when the hook failed, that is
 * the text the hook was given and err holds why (err is "" otherwise). */
char *kl_post_apply(const kl_post *p, const char *profile, const char *text, char *err, size_t n);

/* kl_post_apply for text that continues text already typed (cont 1: a --live piece after
 * the first, a dictation joined to the previous one): a mark at its start ("comma and then"
 * -> ", and then") is kept, where a text of its own drops it. */
char *kl_post_apply_cont(const kl_post *p, const char *profile, const char *text, int cont,
                         char *err, size_t n);

/* 1 when s is valid UTF-8 without NUL or control characters other than \n and \t. */
int kl_utf8_text(const char *s, size_t len);

#endif
