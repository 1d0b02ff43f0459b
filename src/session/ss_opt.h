/* ss_opt.h — the values of command-line options and config settings, parsed the same way by
 * every program (session_daemon, session_client, key_listener), so that one spelling is
 * accepted or refused everywhere alike. */
#ifndef SS_OPT_H
#define SS_OPT_H

#include <stdio.h>

/* A number from lo to hi: the whole of s (strtod syntax), finite, without a range error.
 * 0 with *out set, or -1 (NULL s included) with *out unchanged. */
int ss_opt_num(const char *s, double lo, double hi, double *out);
/* --audio-ctx: "auto" (SP_AUDIO_CTX_AUTO) or a whole number of encoder positions, 1..1500.
 * 0 with *out set, or -1. */
int ss_opt_audio_ctx(const char *s, int *out);

/* A value said on stderr as "PROG: WHAT'VALUE'WHY" (WHY may be NULL), VALUE as the user can
 * read it: its first 60 bytes, never half a character, control characters (C0, DEL, C1)
 * and bytes that are not UTF-8 as \xNN, "..." when cut. */
void ss_opt_say(const char *prog, const char *what, const char *arg, const char *why);
/* A refused option value: "PROG: bad value for --NAME: 'VALUE'WHY" (NAME the long option
 * whose val is ch in lo[]), so the usage that follows is not left to say which of the
 * options was wrong. Nothing for an unknown ch (getopt has said why). */
struct option;
void ss_opt_refused(const char *prog, const struct option *lo, int ch, const char *arg, const char *why);

#endif
