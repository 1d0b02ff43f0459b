/* ss_opt.h — the values of command-line options and config settings, parsed the same way by
 * every program (session_daemon, session_client, key_listener), so that one spelling is
 * accepted or refused everywhere alike. */
#ifndef SS_OPT_H
#define SS_OPT_H

/* A number from lo to hi: the whole of s (strtod syntax), finite, without a range error.
 * 0 with *out set, or -1 (NULL s included) with *out unchanged. */
int ss_opt_num(const char *s, double lo, double hi, double *out);
/* --audio-ctx: "auto" (SP_AUDIO_CTX_AUTO) or a whole number of encoder positions, 1..1500.
 * 0 with *out set, or -1. */
int ss_opt_audio_ctx(const char *s, int *out);

#endif
