/* kl_history.h — the last transcripts, kept privately so `key_listener paste-last` can type
 * one again. The file ($XDG_STATE_HOME/speech-session/key_listener.history, else
 * ~/.local/state/...) is created 0600 in a 0700 directory and rewritten through a temporary
 * file and a rename, keeping the newest `cap` entries; one entry per line,
 * "<unix time>\t<text>" with "\\" and "\n" escaped as \\\\ and \\n. */
#ifndef KL_HISTORY_H
#define KL_HISTORY_H

#include <stddef.h>

/* "" when neither XDG_STATE_HOME nor HOME is set. */
void kl_history_default_path(char *buf, size_t n);
/* Appends text and keeps the newest cap entries. 0, or -1 with a message. */
int kl_history_add(const char *path, int cap, const char *text, char *err, size_t n);
/* Entry back (0: the newest), malloc'd and unescaped; NULL when there is none. */
char *kl_history_get(const char *path, int back);

#endif
