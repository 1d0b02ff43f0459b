/* ss_partial.h — the partial files of streamed requests (docs/daemon.md "Live requests"):
 * responses/.{id}.partial, one JSON line per finished segment, appended by the loop thread
 * with one write() per line while the request runs, removed after its final response is
 * in place (or when it is cancelled or fails). Dot-named, so the spec's clients never see
 * it; created 0600 with O_EXCL|O_NOFOLLOW in the response directory. */
#ifndef SS_PARTIAL_H
#define SS_PARTIAL_H

#include <stddef.h>

/* Creates (replacing a stale one of ours) the partial file of id. Returns its fd, or -1
 * (errno): the request then streams nothing and its final response is all there is. */
int ss_partial_open(int respfd, const char *id);
/* Appends complete '\n'-terminated lines, one write() each (a reader consuming up to the
 * last '\n' never sees half a line). Returns 0, or -1 (errno) at the first failed line. */
int ss_partial_append(int fd, const char *lines, size_t len);
/* Closes fd (when >= 0) and removes the partial file of id. */
void ss_partial_remove(int respfd, int fd, const char *id);
/* Removes every .*.partial left in the response directory (at start: none is live).
 * Returns how many. */
int ss_partial_clean(int respfd);
/* 1 when name is a partial file's name. */
int ss_partial_name(const char *name);

#endif
