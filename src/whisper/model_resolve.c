/* model_resolve.c — a model name ("base.en", "large-v3", "distil-large-v3", "turbo") to a
 * path, the way faster-whisper users expect: the models/ directory first (a CTranslate2
 * directory models/NAME/, or whisper.cpp's models/ggml-NAME.bin), then the Hugging Face cache
 * faster-whisper downloads into (the repository names of faster-whisper's utils.py _MODELS).
 * Nothing is downloaded (model hubs are not reachable at run time); when nothing is found the
 * error says where it looked and how to get the model. */
#include "model.h"
#include "common/errbuf.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* faster-whisper 1.2 utils.py _MODELS */
static const struct { const char *name, *repo; } k_repos[] = {
    {"tiny.en", "Systran/faster-whisper-tiny.en"}, {"tiny", "Systran/faster-whisper-tiny"},
    {"base.en", "Systran/faster-whisper-base.en"}, {"base", "Systran/faster-whisper-base"},
    {"small.en", "Systran/faster-whisper-small.en"}, {"small", "Systran/faster-whisper-small"},
    {"medium.en", "Systran/faster-whisper-medium.en"}, {"medium", "Systran/faster-whisper-medium"},
    {"large-v1", "Systran/faster-whisper-large-v1"}, {"large-v2", "Systran/faster-whisper-large-v2"},
    {"large-v3", "Systran/faster-whisper-large-v3"}, {"large", "Systran/faster-whisper-large-v3"},
    {"distil-large-v2", "Systran/faster-distil-whisper-large-v2"},
    {"distil-medium.en", "Systran/faster-distil-whisper-medium.en"},
    {"distil-small.en", "Systran/faster-distil-whisper-small.en"},
    {"distil-large-v3", "Systran/faster-distil-whisper-large-v3"},
    {"distil-large-v3.5", "distil-whisper/distil-large-v3.5-ct2"},
    {"large-v3-turbo", "mobiuslabsgmbh/faster-whisper-large-v3-turbo"},
    {"turbo", "mobiuslabsgmbh/faster-whisper-large-v3-turbo"},
};

static int is_file(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISREG(st.st_mode); }

/* snprintf that says whether the whole string fit: a truncated path must never be looked up
 * (it names another file) */
#define FITS(r, n) ((r) >= 0 && (size_t)(r) < (n))

/* The hub cache root, in huggingface_hub's order: $HF_HUB_CACHE, its older name
 * $HUGGINGFACE_HUB_CACHE (still read by the library, and set in many existing set-ups),
 * $HF_HOME/hub, $XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub; 0, -1 none of them
 * set, -2 the path is too long */
static int hub_root(char *out, size_t n)
{
    const char *v;
    int r;
    if ((v = getenv("HF_HUB_CACHE")) && *v) r = snprintf(out, n, "%s", v);
    else if ((v = getenv("HUGGINGFACE_HUB_CACHE")) && *v) r = snprintf(out, n, "%s", v);
    else if ((v = getenv("HF_HOME")) && *v) r = snprintf(out, n, "%s/hub", v);
    else if ((v = getenv("XDG_CACHE_HOME")) && *v) r = snprintf(out, n, "%s/huggingface/hub", v);
    else if ((v = getenv("HOME")) && *v) r = snprintf(out, n, "%s/.cache/huggingface/hub", v);
    else return -1;
    return FITS(r, n) ? 0 : -2;
}

/* A snapshot of repo holding model.bin: the one refs/main names, else any; -1 none (or a
 * path too long to name it) */
static int hub_snapshot(const char *root, const char *repo, char *out, size_t n)
{
    char dir[2048], ref[128] = "", p[4096];
    int k = snprintf(dir, sizeof dir, "%s/models--", root);
    if (!FITS(k, sizeof dir)) return -1;
    for (const char *s = repo; *s; s++) {   /* "/" becomes "--" */
        if (k + 3 > (int)sizeof dir) return -1;
        if (*s == '/') { dir[k++] = '-'; dir[k++] = '-'; }
        else dir[k++] = *s;
    }
    dir[k] = 0;
    FILE *f = FITS(snprintf(p, sizeof p, "%s/refs/main", dir), sizeof p) ? fopen(p, "r") : NULL;
    if (f) {
        if (!fgets(ref, sizeof ref, f)) ref[0] = 0;
        fclose(f);
        ref[strcspn(ref, "\r\n")] = 0;
        if (ref[0] && !strchr(ref, '/') && FITS(snprintf(p, sizeof p, "%s/snapshots/%s/model.bin", dir, ref), sizeof p) &&
            is_file(p))
            return FITS(snprintf(out, n, "%s/snapshots/%s", dir, ref), n) ? 0 : -1;
    }
    DIR *d = FITS(snprintf(p, sizeof p, "%s/snapshots", dir), sizeof p) ? opendir(p) : NULL;
    struct dirent *e;
    int found = -1;
    while (d && found && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (FITS(snprintf(p, sizeof p, "%s/snapshots/%s/model.bin", dir, e->d_name), sizeof p) && is_file(p))
            found = FITS(snprintf(out, n, "%s/snapshots/%s", dir, e->d_name), n) ? 0 : -1;
    }
    if (d) closedir(d);
    return found;
}

int wh_model_is_name(const char *s)
{
    for (size_t i = 0; i < sizeof k_repos / sizeof k_repos[0]; i++)
        if (!strcmp(s, k_repos[i].name)) return 1;
    return 0;
}

sp_status wh_model_resolve(const char *name, char *out, size_t n, char *err, size_t en)
{
    const char *repo = NULL;
    for (size_t i = 0; i < sizeof k_repos / sizeof k_repos[0]; i++)
        if (!strcmp(name, k_repos[i].name)) repo = k_repos[i].repo;
    if (!repo) { sp_errf(err, en, "'%s' is not a model file, directory or known model name", name); return SP_ERR_INVALID_ARG; }
    const char *md = getenv("SPEECH_SESSION_MODELS");
    if (!md || !*md) md = "models";
    char p[4096], root[2048];
    if (FITS(snprintf(p, sizeof p, "%s/%s/model.bin", md, name), sizeof p) && is_file(p))
        return FITS(snprintf(out, n, "%s/%s", md, name), n) ? SP_OK : SP_ERR_INVALID_ARG;
    if (FITS(snprintf(p, sizeof p, "%s/ggml-%s.bin", md, name), sizeof p) && is_file(p))
        return FITS(snprintf(out, n, "%s", p), n) ? SP_OK : SP_ERR_INVALID_ARG;
    const int rr = hub_root(root, sizeof root);
    if (rr == 0 && hub_snapshot(root, repo, out, n) == 0) return SP_OK;
    sp_errf(err, en, "model '%s' not found: looked for %s/%s/ (CTranslate2), %s/ggml-%s.bin and %s in %s; get it with "
            "scripts/get-model.sh %s (whisper.cpp ggml), or download %s from the Hugging Face hub (faster-whisper's files)",
            name, md, name, md, name, repo,
            rr == 0 ? root : rr == -2 ? "the Hugging Face cache (its path is too long)" : "the Hugging Face cache (no HOME)",
            name, repo);
    return SP_ERR_IO;
}
