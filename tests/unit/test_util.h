/* test_util.h — helpers shared by the unit tests: test data paths (the repository's copies
 * first, then $SHARED/ref), audio through the real loader, whole files. */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H
#include <stdio.h>
#include <stdlib.h>
#include "speech_audio.h"

/* tests/data/models/NAME, else $SHARED/ref/models/NAME (the path is returned either way) */
static inline const char *tu_model_path(const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "tests/data/models/%s", name);
    FILE *f = fopen(buf, "rb");
    if (f) { fclose(f); return buf; }
    const char *shared = getenv("SHARED");
    snprintf(buf, n, "%s/ref/models/%s", shared ? shared : "../shared", name);
    return buf;
}

/* 16 kHz mono float through sp_audio_load; NULL on failure */
static inline float *tu_load_audio(const char *path, size_t *n)
{
    float *pcm = NULL;
    char err[256];
    *n = 0;
    if (sp_audio_load(path, 0, 0, &pcm, n, NULL, err, sizeof err) != SP_OK) {
        fprintf(stderr, "  cannot load %s: %s\n", path, err);
        return NULL;
    }
    return pcm;
}

/* whole file; *n bytes; NULL on failure */
static inline void *tu_slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    *n = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = malloc(sz > 0 ? (size_t)sz : 1);
    if (b && sz > 0 && fread(b, 1, (size_t)sz, f) != (size_t)sz) { free(b); b = NULL; }
    fclose(f);
    if (b) *n = (size_t)sz;
    return b;
}

/* writes n bytes to path (created or truncated); 0 ok, -1 on failure */
static inline int tu_spit(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(b, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}
#endif
