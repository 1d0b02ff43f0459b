/* oracle.c — see oracle.h. Exit codes: 0 ok, 2 usage, 3 model, 4 input, 5 engine, 6 output. */
#include "oracle.h"
#include "common/dynbuf.h"
#include "speech.h"
#include "speech_audio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int parse_ids(const char *s, int **out, int *n)
{
    *out = NULL;
    *n = 0;
    if (!s) return 0;
    sp_dynbuf v;
    sp_dynbuf_init(&v, 1000000 * sizeof(int));   /* far more ids than any context holds */
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        int id = (int)x;
        if (end == p || errno || x < 0 || x > 1000000 || sp_dynbuf_add(&v, &id, sizeof id) != 0) {
            sp_dynbuf_free(&v);
            return -1;
        }
        p = end;
    }
    *n = (int)sp_dynbuf_n(&v, int);
    *out = sp_dynbuf_take(&v, NULL);
    if (!*out) *out = malloc(sizeof(int));   /* as before: an array even when empty */
    if (!*out) return -1;
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: transcribe --model M (--mel F.f32 | AUDIO) --prompt \"IDS\" [--force \"IDS\"] "
                    "--dump-logits OUT.f32 [--threads N]\n");
}

/* --mel: exactly [n_mels][3000] float32, the size checked first (a larger file had been read
 * one value past the buffer, a trailing partial value accepted), then all of it; 0 or 4 */
static int mel_from_file(const char *melf, int n_mels, float **out)
{
    const size_t want = (size_t)n_mels * 3000;
    FILE *f = fopen(melf, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        fprintf(stderr, "transcribe: %s: %s\n", melf, strerror(errno));
        if (f) fclose(f);
        return 4;
    }
    float *mel = malloc(want * sizeof(float));
    const int size_ok = S_ISREG(st.st_mode) && (size_t)st.st_size == want * sizeof(float);
    const size_t got = size_ok && mel ? fread(mel, sizeof(float), want, f) : 0;
    fclose(f);
    if (!size_ok || got != want) {
        fprintf(stderr, "transcribe: %s: expected %zu float32 values ([%d][3000], %zu bytes) for this model, %s\n",
                melf, want, n_mels, want * sizeof(float),
                !S_ISREG(st.st_mode) ? "not a regular file" : size_ok ? "could not read them all" : "the file has another size");
        free(mel);
        return 4;
    }
    *out = mel;
    return 0;
}

/* AUDIO: the first window exactly as openai's transcribe() feeds it — the content frames (at
 * most 3000), right-padded with 0.0 (pad_or_trim), not the log-mel of the 30 s of zeros
 * appended before the STFT; 0, 4 (audio) or 5 (mel) */
static int mel_from_audio(sp_context *ctx, const char *audio, int n_mels, float **out)
{
    char err[512];
    float *pcm = NULL, *full = NULL;
    size_t n = 0;
    if (sp_audio_load(audio, 0, 0, &pcm, &n, NULL, err, sizeof err) != SP_OK) {
        fprintf(stderr, "transcribe: %s\n", err);
        return 4;
    }
    int nfull = 0, content = 0;
    const sp_status st = sp_mel(ctx, pcm, n, &full, &nfull, &content);
    free(pcm);
    if (st != SP_OK) {
        fprintf(stderr, "transcribe: mel computation failed\n");
        return 5;
    }
    float *mel = calloc((size_t)n_mels * 3000, sizeof(float));
    if (!mel) { free(full); return 5; }
    const int keep = content < 3000 ? content : 3000;
    for (int m = 0; m < n_mels; m++)
        memcpy(mel + (size_t)m * 3000, full + (size_t)m * nfull, (size_t)keep * sizeof(float));
    free(full);
    *out = mel;
    return 0;
}

int transcribe_oracle_main(int argc, char **argv)
{
    const char *model = NULL, *melf = NULL, *audio = NULL, *prompt = NULL, *force = NULL, *outf = NULL;
    int threads = 0, rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--model") && v) { model = v; i++; }
        else if (!strcmp(a, "--mel") && v) { melf = v; i++; }
        else if (!strcmp(a, "--prompt") && v) { prompt = v; i++; }
        else if (!strcmp(a, "--force") && v) { force = v; i++; }
        else if (!strcmp(a, "--dump-logits") && v) { outf = v; i++; }
        else if (!strcmp(a, "--threads") && v) {   /* as the CLI's: 0 (all cores) .. 256 */
            char *end;
            errno = 0;
            const long t = strtol(v, &end, 10);
            if (errno || end == v || *end || t < 0 || t > 256) {
                fprintf(stderr, "transcribe: --threads: '%s' is not a whole number in 0..256\n", v);
                return 2;
            }
            threads = (int)t;
            i++;
        }
        else if (a[0] != '-' && !audio) audio = a;
        else { fprintf(stderr, "transcribe: unknown or incomplete option '%s'\n", a); usage(); return 2; }
    }
    if (!model || !outf || (!melf == !audio) || !prompt) { usage(); return 2; }
    int *ptok = NULL, *ftok = NULL, np = 0, nf = 0;
    if (parse_ids(prompt, &ptok, &np) || np < 1 || parse_ids(force, &ftok, &nf)) {
        fprintf(stderr, "transcribe: --prompt/--force must be lists of token ids\n");
        free(ptok); free(ftok);
        return 2;
    }
    char err[512];
    sp_context *ctx = NULL;
    float *mel = NULL, *logits = NULL;
    FILE *fo = NULL;
    sp_context_params cp = sp_context_default_params();
    cp.n_threads = threads;
    if (sp_context_open(model, &cp, &ctx, err, sizeof err) != SP_OK) {
        fprintf(stderr, "transcribe: %s\n", err);
        rc = 3;
        goto done;
    }
    sp_model_info mi;
    sp_context_info(ctx, &mi);
    const int n_frames = 3000;
    rc = melf ? mel_from_file(melf, mi.n_mels, &mel) : mel_from_audio(ctx, audio, mi.n_mels, &mel);
    if (rc) goto done;
    if (np + nf > mi.n_text_ctx) { fprintf(stderr, "transcribe: %d tokens exceed n_text_ctx %d\n", np + nf, mi.n_text_ctx); rc = 2; goto done; }
    for (int i = 0; i < np; i++) if (ptok[i] >= mi.n_vocab) { fprintf(stderr, "transcribe: token %d >= n_vocab\n", ptok[i]); rc = 2; goto done; }
    for (int i = 0; i < nf; i++) if (ftok[i] >= mi.n_vocab) { fprintf(stderr, "transcribe: token %d >= n_vocab\n", ftok[i]); rc = 2; goto done; }
    logits = malloc(sizeof(float) * (size_t)mi.n_vocab * (size_t)(nf > 1 ? nf : 1));
    if (!logits) { rc = 5; goto done; }
    sp_status st = sp_encode(ctx, mel, n_frames, 0);
    if (st == SP_OK) st = sp_decode(ctx, ptok, np, logits, 1);
    if (st != SP_OK) { fprintf(stderr, "transcribe: engine: %s\n", sp_status_str(st)); rc = 5; goto done; }
    fo = fopen(outf, "wb");
    if (!fo || fwrite(logits, sizeof(float), (size_t)mi.n_vocab, fo) != (size_t)mi.n_vocab) { rc = 6; goto done; }
    if (nf > 0) {
        st = sp_decode(ctx, ftok, nf, logits, 0);
        if (st != SP_OK) { fprintf(stderr, "transcribe: engine: %s\n", sp_status_str(st)); rc = 5; goto done; }
        if (fwrite(logits, sizeof(float), (size_t)mi.n_vocab * nf, fo) != (size_t)mi.n_vocab * nf) { rc = 6; goto done; }
    }
    if (fclose(fo) != 0) { fo = NULL; rc = 6; goto done; }
    fo = NULL;
    rc = 0;
done:
    if (rc == 6) fprintf(stderr, "transcribe: cannot write %s\n", outf);
    if (fo) fclose(fo);
    free(ptok); free(ftok); free(mel); free(logits);
    sp_context_free(ctx);
    return rc;
}
