/* bench_tmp.h — what the benchmark programs share about their temporary directories. */
#ifndef BENCH_TMP_H
#define BENCH_TMP_H

/* rm -rf -- dir, by fork + execve of /bin/rm with an empty environment: async-signal-safe,
 * so a signal handler may call it (the tools remove their temp directory on SIGINT/SIGTERM
 * as on a normal exit). Waits for it. */
void bench_rm_rf(const char *dir);

/* The private root in use: cleanup() at exit and on_signal on SIGINT, SIGTERM and SIGHUP (so
 * the root goes on those too), and the programs started see it as SPEECH_SESSION_ROOT. */
void bench_root_guard(const char *root, void (*cleanup)(void), void (*on_signal)(int));

#endif
