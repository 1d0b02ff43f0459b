/* engine.c — the engine's context: the immutable model, the active backend (backend.h),
 * and what is the same on every device — sequence lengths, the encoded window, the
 * tokenizer, the mel front end — plus the device choice, the GPU self-check at open and
 * the move to the CPU when the GPU fails.
 *
 * Device policy (docs/engine.md, "Backends"):
 *   "cpu"          the CPU backend, no probe of CUDA at all.
 *   "auto", "cuda" the CUDA backend when the driver, the library and a GPU are there, the
 *   "cuda:N"       model fits and the self-check passes; else the CPU, with the reason kept
 *                  for sp_context_device_info() (a daemon must come up, so an unusable GPU
 *                  is reported, not fatal).
 *   A device fault during a request (SP_ERR_DEVICE) frees the GPU state, opens the CPU
 *   backend and keeps the reason; sp_transcribe repeats the request once on the CPU. */
#include "wh_engine.h"
#include "backend.h"
#include "mel.h"
#include "model.h"
#include "common/errbuf.h"
#include "ops.h"
#include "tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sp_context {
    wh_model *m;
    wh_exec ex;            /* CPU thread pool: mel, and the CPU backend */
    float *mel_basis;      /* [402][400] */
    wh_backend *be;        /* the active backend */
    int actx, tctx, n_vocab, n_head;
    int n_past[WH_MAX_SEQ];
    int encoded;
    int cur;               /* audio positions of the encoded window (<= actx) */
    int *row_seq, *row_pos;   /* [tctx] layout of the pass in flight */
    wh_tokenizer *tok;     /* built on first use */
    char fallback[256];    /* why we are on the CPU although a GPU was allowed; "" if not */
    wh_cpu_mode cpu_mode;  /* sp_context_params.compute, for the CPU backend (and a fallback to it) */
    /* the voice activity detector of the last transcription that used one (wh_ctx_vad) */
    sp_vad *vad;
    char *vad_path;        /* its model path, "" for the energy detector */
    struct stat vad_st;    /* the model file when opened: a replaced file is reopened */
};

/* ------------------------------------------------------------------ device choice */

sp_context_params sp_context_default_params(void)
{
    sp_context_params p = {0};
    const char *env = getenv("SPEECH_SESSION_DEVICE");
    p.device = env && *env ? env : "auto";
    env = getenv("SPEECH_SESSION_COMPUTE");
    p.compute = env && *env ? env : "auto";
    return p;
}

/* "auto" (or NULL) | "int8" | "exact" -> the CPU backend's mode; -1 when invalid */
static int parse_compute(const char *s)
{
    if (!s || !strcmp(s, "auto")) return WH_CPU_AUTO;
    if (!strcmp(s, "int8")) return WH_CPU_INT8;
    if (!strcmp(s, "exact")) return WH_CPU_EXACT;
    return -1;
}

int sp_compute_valid(const char *compute) { return compute && parse_compute(compute) >= 0; }

enum { DEV_CPU, DEV_AUTO, DEV_CUDA };

/* "auto" | "cpu" | "cuda" | "cuda:N" -> kind and index; -1 when invalid */
static int parse_device(const char *d, int *index)
{
    *index = 0;
    if (!d || !strcmp(d, "auto")) return DEV_AUTO;
    if (!strcmp(d, "cpu")) return DEV_CPU;
    if (!strcmp(d, "cuda") || !strcmp(d, "gpu")) return DEV_CUDA;
    if (!strncmp(d, "cuda:", 5) && d[5] >= '0' && d[5] <= '9') {
        char *e;
        long v = strtol(d + 5, &e, 10);
        if (*e || v < 0 || v > 63) return -1;
        *index = (int)v;
        return DEV_CUDA;
    }
    return -1;
}

int sp_device_valid(const char *d)
{
    int index;
    return d && parse_device(d, &index) >= 0;
}

/* ------------------------------------------------------------------ self-check
 * A broken driver or a miscompiled kernel must not type wrong text: before the GPU is
 * used, a short deterministic window and seven teacher-forced tokens go through both
 * backends, and their logits must agree as tightly as the reference tests ask of the CPU
 * (tests/unit/test_engine_ref.c): max |a - b| <= tol * std(a) per row, and the GPU's pick
 * scores within that error of the CPU's best. The window has SELF_CHECK_ACTX encoder
 * positions so that the attention kernels take the paths every real window takes (the
 * decoder's cross-attention over 264 positions: five chunks of 64 (k_attn_part) and their
 * combination (k_attn_combine); softmax rows over 256 columns; 32 positions had tested only
 * one-chunk paths). Rows 0-3 go to sequence 0 in one pass; rows 4-6 to a second sequence
 * copied from it (a beam's cache: seq_copy and a second cache's table entry), one step each:
 * row 4 runs directly, the GPU captures that step as a CUDA graph at row 5 and runs both
 * rows 5 and 6 from it, their self-attention over the whole text context's chunks, most of
 * them empty. A
 * failure at row 5 or 6 alone therefore points at the graphs (SPEECH_SESSION_CUDA_GRAPHS=0
 * tells). */
#define SELF_CHECK_ACTX 264

static double row_agreement(const float *a, const float *b, int n, int *pick_ok)
{
    double mean = 0, var = 0, maxd = 0;
    int ia = 0, ib = 0;
    for (int i = 0; i < n; i++) mean += a[i];
    mean /= n;
    for (int i = 0; i < n; i++) {
        var += (a[i] - mean) * (a[i] - mean);
        double d = fabs((double)a[i] - b[i]);
        if (isnan(d)) maxd = INFINITY;   /* a NaN anywhere is a mismatch, and stays one */
        else if (d > maxd) maxd = d;
        if (a[i] > a[ia]) ia = i;
        if (b[i] > b[ib]) ib = i;
    }
    double sd = sqrt(var / n);
    *pick_ok = ia == ib || (double)a[ia] - a[ib] <= 2 * maxd;
    return sd > 0 ? maxd / sd : maxd;
}

sp_status wh_backend_compare(const wh_model *m, wh_backend *ref, wh_backend *test, double tol, double *worst,
                             char *why, size_t wn)
{
    const int nm = m->hp.n_mels, nv = m->hp.n_vocab;
    const int actx = m->hp.n_audio_ctx < SELF_CHECK_ACTX ? m->hp.n_audio_ctx : SELF_CHECK_ACTX, T = 2 * actx;
    const int rows = 7, nt = m->hp.n_text_ctx < rows ? m->hp.n_text_ctx : rows;
    int tokens[7] = {m->sp.sot, m->sp.sot + 1, m->sp.notimestamps, 220, 290, 318, 257};
    int seqs[7] = {0, 0, 0, 0, 1, 1, 1}, pos[7] = {0, 1, 2, 3, 4, 5, 6};
    for (int i = 0; i < rows; i++)
        if (tokens[i] < 0 || tokens[i] >= nv) tokens[i] = i;
    float *mel = malloc(sizeof(float) * (size_t)nm * T);
    float *la = malloc(sizeof(float) * rows * (size_t)nv), *lb = malloc(sizeof(float) * rows * (size_t)nv);
    sp_status st = SP_ERR_NOMEM;
    *worst = 0;
    if (!mel || !la || !lb) goto done;
    for (int c = 0; c < nm; c++)   /* a log-mel-like pattern in [-1, 1.5] */
        for (int t = 0; t < T; t++) mel[(size_t)c * T + t] = 0.25f + 1.2f * sinf(0.37f * c + 0.11f * t) * cosf(0.05f * t);
    wh_backend *be[2] = {ref, test};
    float *lg[2] = {la, lb};
    for (int k = 0; k < 2; k++) {
        /* rows 0..3 on sequence 0; then sequence 1 = a copy of its first 4 positions, and
         * rows 4, 5, 6 on it one step each: the same shape three times, so a GPU backend's
         * decoder graph (wh_cuda.cu) is captured at the second and replayed at the third,
         * at moving positions — checked here, before any request, like the rest (a model
         * whose text context is shorter checks what fits) */
        wh_rows r0 = {nt < 4 ? nt : 4, tokens, seqs, pos, 0, lg[k], NULL, actx};
        if (!(st = be[k]->ops->encode(be[k], mel, T, 0, actx)) && !(st = be[k]->ops->decode(be[k], &r0)) && nt > 4)
            st = be[k]->ops->seq_copy(be[k], 1, 0, 4);
        for (int i = 4; !st && i < nt; i++) {
            wh_rows ri = {1, tokens + i, seqs + i, pos + i, 0, lg[k] + (size_t)i * nv, NULL, actx};
            st = be[k]->ops->decode(be[k], &ri);
        }
        if (st) {
            if (k == 0) snprintf(why, wn, "the CPU reference failed: %s", sp_status_str(st));
            else snprintf(why, wn, "%s", test->error[0] ? test->error : sp_status_str(st));
            goto done;
        }
    }
    for (int i = 0; i < nt; i++) {
        int pick_ok;
        double e = row_agreement(la + (size_t)i * nv, lb + (size_t)i * nv, nv, &pick_ok);
        if (!(e <= *worst)) *worst = e;
        if (!(e <= tol) || !pick_ok) {
            snprintf(why, wn, "logits differ from the CPU on row %d (error %.3g x std, tolerance %.2g%s)", i, e, tol,
                     pick_ok ? "" : ", different best token");
            st = SP_ERR_INTERNAL;
            goto done;
        }
    }
    st = SP_OK;
done:
    free(mel);
    free(la);
    free(lb);
    return st;
}

/* ------------------------------------------------------------------ context */

void sp_context_free(sp_context *c)
{
    if (!c) return;
    if (c->be) c->be->ops->free(c->be);
    free(c->row_seq);
    free(c->row_pos);
    free(c->mel_basis);
    wh_tok_free(c->tok);
    sp_vad_free(c->vad);
    free(c->vad_path);
    if (c->ex.pool) wh_exec_deinit(&c->ex);
    wh_model_free(c->m);
    free(c);
}

/* Opening the Silero model reads and validates its file, and a daemon's requests all name
 * the same one, so the detector of the last call is kept (an sp_vad holds no state between
 * calls; the context is one thread's). It is reopened when the path changes, or the file does
 * (another inode, size or mtime: a model replaced in place is read again). */
sp_status wh_ctx_vad(sp_context *c, const char *path, sp_vad **out, char *err, size_t en)
{
    const char *key = path ? path : "";
    struct stat st = {0};
    if (path && stat(path, &st) != 0) memset(&st, 0, sizeof st);   /* sp_vad_open says why */
    if (c->vad && !strcmp(c->vad_path, key) && (!path || (st.st_ino == c->vad_st.st_ino &&
        st.st_dev == c->vad_st.st_dev && st.st_size == c->vad_st.st_size &&
        st.st_mtim.tv_sec == c->vad_st.st_mtim.tv_sec && st.st_mtim.tv_nsec == c->vad_st.st_mtim.tv_nsec))) {
        *out = c->vad;
        return SP_OK;
    }
    sp_vad_free(c->vad);
    free(c->vad_path);
    c->vad = NULL;
    c->vad_path = NULL;
    *out = NULL;
    char *k = strdup(key);
    if (!k) return SP_ERR_NOMEM;
    sp_status s = sp_vad_open(path, &c->vad, err, en);
    if (s != SP_OK) { free(k); return s; }
    c->vad_path = k;
    c->vad_st = st;
    *out = c->vad;
    return SP_OK;
}

static int is_quantized(const wh_model *m) { return m->hp.ftype >= 2; }

/* Tries the GPU; on any failure leaves c->be NULL and the reason in c->fallback. */
static void open_gpu(sp_context *c, int index, int self_check)
{
    char why[200] = "";
    wh_backend *gpu = NULL;
    if (wh_cuda_backend_load(c->m, index, &gpu, why, sizeof why) != SP_OK) {
        snprintf(c->fallback, sizeof c->fallback, "%s", why[0] ? why : "CUDA backend unavailable");
        return;
    }
    if (self_check) {
        wh_backend *cpu = NULL;
        double worst = 0;
        /* the reference is the exact f32 path, whatever the context's CPU products would be */
        sp_status st = wh_cpu_backend_open(c->m, &c->ex, WH_CPU_EXACT, &cpu, why, sizeof why);
        if (st == SP_OK)
            st = wh_backend_compare(c->m, cpu, gpu, is_quantized(c->m) ? 0.10 : 0.05, &worst, why, sizeof why);
        if (cpu) cpu->ops->free(cpu);
        if (st != SP_OK) {
            snprintf(c->fallback, sizeof c->fallback, "GPU self-check failed: %s", why);
            gpu->ops->free(gpu);
            return;
        }
    }
    c->be = gpu;
}

static sp_status open_backends(sp_context *c, const sp_context_params *params, char *err, size_t en)
{
    int index = 0, kind = parse_device(params ? params->device : NULL, &index);
    if (kind < 0) {
        sp_errf(err, en, "unknown device '%s' (auto, cpu, cuda, cuda:N)", params->device);
        return SP_ERR_INVALID_ARG;
    }
    const int mode = parse_compute(params ? params->compute : NULL);
    if (mode < 0) {
        sp_errf(err, en, "unknown compute '%s' (auto, int8, exact)", params->compute);
        return SP_ERR_INVALID_ARG;
    }
    c->cpu_mode = (wh_cpu_mode)mode;
    if (kind != DEV_CPU) open_gpu(c, index, !(params && params->skip_self_check));
    if (c->be) return SP_OK;
    char why[200] = "";
    sp_status st = wh_cpu_backend_open(c->m, &c->ex, c->cpu_mode, &c->be, why, sizeof why);
    if (st != SP_OK) sp_errf(err, en, "%s", why);
    return st;
}

sp_status sp_context_open(const char *path, const sp_context_params *params, sp_context **out,
                          char *err, size_t en)
{
    if (!out) return SP_ERR_INVALID_ARG;
    *out = NULL;
    wh_kernels_init();
    sp_context *c = calloc(1, sizeof *c);
    if (!c) return SP_ERR_NOMEM;
    sp_status st = wh_model_load(path, &c->m, err, en);
    if (st != SP_OK) { free(c); return st; }
    const wh_hparams *hp = &c->m->hp;
    c->actx = hp->n_audio_ctx;
    c->tctx = hp->n_text_ctx;
    c->n_vocab = hp->n_vocab;
    c->n_head = hp->n_audio_head;
    if (hp->n_text_head != hp->n_audio_head) {
        /* every official model has one head count; the run states assume it */
        sp_errf(err, en, "n_text_head %d differs from n_audio_head %d (unsupported)", hp->n_text_head, hp->n_audio_head);
        st = SP_ERR_UNSUPPORTED;
        goto fail;
    }
    int nt = params && params->n_threads > 0 ? params->n_threads : wh_pool_default_threads();
    if (nt < 1) nt = 1;
    if (nt > 64) nt = 64;
    int max_k = 4 * hp->n_audio_state;
    if (3 * hp->n_mels > max_k) max_k = 3 * hp->n_mels;
    if (3 * hp->n_audio_state > max_k) max_k = 3 * hp->n_audio_state;
    if (c->actx > max_k) max_k = c->actx;
    st = SP_ERR_NOMEM;
    if (wh_exec_init(&c->ex, nt, max_k) != 0) goto nomem;
    c->mel_basis = wh_mel_basis_new();
    c->row_seq = calloc((size_t)c->tctx, sizeof(int));
    c->row_pos = calloc((size_t)c->tctx, sizeof(int));
    if (!c->mel_basis || !c->row_seq || !c->row_pos) goto nomem;
    /* built now rather than on first use so that sp_context_info can say how many fragment
     * tokens it restored (ggml files); a failure here is retried on first use */
    if (wh_tok_new(c->m->vocab, c->m->n_tokens, c->m->sp.eot, &c->tok) != SP_OK) c->tok = NULL;
    if ((st = open_backends(c, params, err, en)) != SP_OK) goto fail;
    *out = c;
    return SP_OK;
nomem:
    sp_errf(err, en, "out of memory allocating the run state for '%s'", path);
fail:
    sp_context_free(c);
    return st;
}

void sp_context_info(const sp_context *c, sp_model_info *info)
{
    memset(info, 0, sizeof *info);
    if (!c) return;
    const wh_hparams *hp = &c->m->hp;
    info->n_vocab = hp->n_vocab; info->n_audio_ctx = hp->n_audio_ctx; info->n_audio_state = hp->n_audio_state;
    info->n_audio_head = hp->n_audio_head; info->n_audio_layer = hp->n_audio_layer; info->n_text_ctx = hp->n_text_ctx;
    info->n_text_state = hp->n_text_state; info->n_text_head = hp->n_text_head; info->n_text_layer = hp->n_text_layer;
    info->n_mels = hp->n_mels; info->ftype = hp->ftype;
    info->multilingual = hp->n_vocab >= 51865;
    info->n_languages = c->m->sp.n_lang;
    info->size_name = wh_model_size_name(hp);
    static const char *names[10] = {"f32", "f16", "q4_0", "q4_1", "?", "?", "?", "q8_0", "q5_0", "q5_1"};
    info->type_name = hp->ftype == WH_FTYPE_I8R ? "int8" : hp->ftype >= 0 && hp->ftype < 10 ? names[hp->ftype] : "?";
    info->file_size = c->m->map_size;
    info->n_tokens_restored = wh_tok_n_restored(c->tok);
}

sp_model_file_state sp_context_model_file(const sp_context *c, char *why, size_t why_size)
{
    if (why && why_size) why[0] = 0;
    if (!c) return SP_MODEL_FILE_SAME;
    return (sp_model_file_state)wh_model_file_state(c->m, why, why_size);
}

const char *sp_context_device(const sp_context *c) { return c && c->be ? c->be->ops->device : "cpu"; }

void sp_context_device_info(const sp_context *c, sp_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->device = sp_context_device(c);
    if (!c || !c->be) return;
    wh_device_info di;
    c->be->ops->info(c->be, &di);
    snprintf(info->name, sizeof info->name, "%s", di.name);
    info->mem_used = di.mem_used;
    info->mem_total = di.mem_total;
    snprintf(info->fallback, sizeof info->fallback, "%s", c->fallback);
}

/* The GPU failed during an operation: its state is freed (giving the memory back, as far as
 * a faulted device allows) and the CPU takes over for the rest of the context's life. The
 * window must be encoded again, so the caller's operation fails with SP_ERR_DEVICE. */
static sp_status device_fault(sp_context *c, sp_status st)
{
    if (st != SP_ERR_DEVICE) return st;
    snprintf(c->fallback, sizeof c->fallback, "GPU failed during a request (%s); running on the CPU",
             c->be->error[0] ? c->be->error : "device error");
    c->be->ops->free(c->be);
    c->be = NULL;
    c->encoded = 0;
    char why[200];
    if (wh_cpu_backend_open(c->m, &c->ex, c->cpu_mode, &c->be, why, sizeof why) != SP_OK) c->be = NULL;
    return SP_ERR_DEVICE;
}

const wh_token_bytes *wh_vocab(const sp_context *c, int *n_tokens)
{
    if (n_tokens) *n_tokens = c->m->n_tokens;
    return c->m->vocab;
}
const wh_specials *wh_special_tokens(const sp_context *c) { return &c->m->sp; }
int wh_n_vocab(const sp_context *c) { return c->n_vocab; }

const wh_tokenizer *wh_context_tokenizer(sp_context *c)
{
    if (!c->tok && wh_tok_new(c->m->vocab, c->m->n_tokens, c->m->sp.eot, &c->tok) != SP_OK) c->tok = NULL;
    return c->tok;
}
int wh_n_text_ctx(const sp_context *c) { return c->tctx; }

/* ------------------------------------------------------------------ mel */

sp_status sp_mel(sp_context *c, const float *pcm, size_t n, float **mel, int *n_frames, int *n_content)
{
    if (mel) *mel = NULL;
    if (n_frames) *n_frames = 0;
    if (n_content) *n_content = 0;
    if (!c || !mel || !n_frames || (!pcm && n)) return SP_ERR_INVALID_ARG;
    sp_status st = wh_mel_compute(&c->ex, c->mel_basis, c->m->filters, c->m->hp.n_mels, pcm, n, mel, n_frames);
    if (st == SP_OK && n_content) *n_content = (int)(n / WH_HOP);
    return st;
}

/* ------------------------------------------------------------------ encoder */

sp_status sp_encode(sp_context *c, const float *mel, int n_frames, int offset)
{
    return sp_encode_ctx(c, mel, n_frames, offset, 0);
}

sp_status sp_encode_ctx(sp_context *c, const float *mel, int n_frames, int offset, int audio_ctx)
{
    if (!c || !mel || n_frames < 0 || offset < 0 || audio_ctx < 0) return SP_ERR_INVALID_ARG;
    if (!c->be) return SP_ERR_NOMEM;   /* the CPU could not be opened after a GPU fault */
    if (audio_ctx == 0 || audio_ctx > c->actx) audio_ctx = c->actx;
    c->encoded = 0;
    c->cur = audio_ctx;
    for (int s = 0; s < WH_MAX_SEQ; s++) c->n_past[s] = 0;
    sp_status st = c->be->ops->encode(c->be, mel, n_frames, offset, audio_ctx);
    if (st != SP_OK) return device_fault(c, st);
    c->encoded = 1;
    return SP_OK;
}

/* ------------------------------------------------------------------ decoder */

void wh_seq_reset(sp_context *c, int s)
{
    if (s >= 0 && s < WH_MAX_SEQ) c->n_past[s] = 0;
}

int wh_seq_len(const sp_context *c, int s) { return s >= 0 && s < WH_MAX_SEQ ? c->n_past[s] : 0; }

sp_status wh_seq_copy(sp_context *c, int dst, int src)
{
    if (!c || dst < 0 || src < 0 || dst >= WH_MAX_SEQ || src >= WH_MAX_SEQ) return SP_ERR_INVALID_ARG;
    if (dst == src) return SP_OK;
    if (!c->be) return SP_ERR_NOMEM;
    sp_status st = c->be->ops->seq_copy(c->be, dst, src, c->n_past[src]);
    if (st != SP_OK) return device_fault(c, st);
    c->n_past[dst] = c->n_past[src];
    return SP_OK;
}

/* 1 when n floats hold a NaN or an infinity: their sum is then not finite (logits are tens
 * at most, so finite ones never overflow it). Eight partial sums, so it vectorizes. */
static int any_nonfinite(const float *x, size_t n)
{
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += x[i + k];
    for (; i < n; i++) acc[0] += x[i];
    float t = 0;
    for (int k = 0; k < 8; k++) t += acc[k];
    return !isfinite(t);
}

/* Runs the rows laid out in row_seq/row_pos; on success every sequence named advances. A GPU
 * whose logits are not finite failed as surely as one that reported an error (a bad tile, a
 * miscompiled kernel, failing memory: the self-check at open saw none of it): the CPU takes
 * over as after a device error, instead of the search ranking NaNs. On the CPU, non-finite
 * logits mean damaged weights (a NaN or infinity in a matrix, which the load does not scan:
 * only the small f32 tensors are): SP_ERR_MODEL_FORMAT, where the search had taken the argmax
 * of NaNs (token 0, "!!!!" to the length limit) or reported language probability -1e30. */
static sp_status run_rows(sp_context *c, const int *tokens, int rows, float *logits, int first, float *attn)
{
    for (int r = 0; r < rows; r++)
        if (tokens[r] < 0 || tokens[r] >= c->n_vocab) return SP_ERR_INVALID_ARG;
    wh_rows wr = {rows, tokens, c->row_seq, c->row_pos, first, logits, attn, c->cur};
    sp_status st = c->be->ops->decode(c->be, &wr);
    if (st == SP_OK && logits && any_nonfinite(logits, (size_t)(rows - first) * (size_t)c->n_vocab)) {
        if (!strcmp(c->be->ops->device, "cpu")) return SP_ERR_MODEL_FORMAT;
        snprintf(c->be->error, sizeof c->be->error, "non-finite logits");
        st = SP_ERR_DEVICE;
    }
    /* the alignment pass's probabilities too: garbage confined to the attention (the logits
     * finite) would otherwise go straight into the DTW as wrong word times */
    if (st == SP_OK && attn && strcmp(c->be->ops->device, "cpu") &&
        any_nonfinite(attn, (size_t)c->m->hp.n_text_layer * (size_t)rows * (size_t)c->n_head * (size_t)c->cur)) {
        snprintf(c->be->error, sizeof c->be->error, "non-finite alignment probabilities");
        st = SP_ERR_DEVICE;
    }
    if (st != SP_OK) return device_fault(c, st);
    for (int r = 0; r < rows; r++)
        if (c->n_past[c->row_seq[r]] < c->row_pos[r] + 1) c->n_past[c->row_seq[r]] = c->row_pos[r] + 1;
    return SP_OK;
}

/* Lays out n consecutive positions of sequence s as the rows of the next pass. */
static sp_status seq_rows(sp_context *c, int s, const int *tokens, int n)
{
    if (!c || s < 0 || s >= WH_MAX_SEQ || n < 1 || !tokens) return SP_ERR_INVALID_ARG;
    if (!c->encoded || !c->be) return SP_ERR_INVALID_ARG;
    if (c->n_past[s] + n > c->tctx) return SP_ERR_TOO_LARGE;
    for (int r = 0; r < n; r++) {
        c->row_seq[r] = s;
        c->row_pos[r] = c->n_past[s] + r;
    }
    return SP_OK;
}

sp_status wh_decode_seq(sp_context *c, int s, const int *tokens, int n, float *logits)
{
    sp_status st = seq_rows(c, s, tokens, n);
    return st != SP_OK ? st : run_rows(c, tokens, n, logits, n - 1, NULL);
}

sp_status wh_decode_seq_attn(sp_context *c, int s, const int *tokens, int n, float *logits, float *attn)
{
    if (!attn) return SP_ERR_INVALID_ARG;
    sp_status st = seq_rows(c, s, tokens, n);
    return st != SP_OK ? st : run_rows(c, tokens, n, logits, logits ? 0 : n, attn);
}

int wh_encoded_ctx(const sp_context *c) { return c->encoded ? c->cur : 0; }
int wh_encoded_ctx_max(const sp_context *c) { return c->actx; }
int wh_n_text_layer(const sp_context *c) { return c->m->hp.n_text_layer; }
int wh_model_align_heads(const sp_context *c, const uint16_t (**heads)[2])
{
    *heads = c->m->n_align_heads > 0 ? (const uint16_t (*)[2])c->m->align_heads : NULL;
    return c->m->n_align_heads;
}
int wh_n_head(const sp_context *c) { return c->n_head; }

sp_status wh_decode_step(sp_context *c, int n, const int *seqs, const int *tokens, float *logits)
{
    if (!c || n < 1 || n > WH_MAX_SEQ || !seqs || !tokens) return SP_ERR_INVALID_ARG;
    if (!c->encoded || !c->be) return SP_ERR_INVALID_ARG;
    for (int r = 0; r < n; r++) {
        int s = seqs[r];
        if (s < 0 || s >= WH_MAX_SEQ) return SP_ERR_INVALID_ARG;
        for (int q = 0; q < r; q++) if (seqs[q] == s) return SP_ERR_INVALID_ARG;
        if (c->n_past[s] + 1 > c->tctx) return SP_ERR_TOO_LARGE;
        c->row_seq[r] = s;
        c->row_pos[r] = c->n_past[s];
    }
    return run_rows(c, tokens, n, logits, 0, NULL);
}

sp_status sp_decode(sp_context *c, const int *tokens, int n, float *logits, int last_only)
{
    sp_status st = seq_rows(c, 0, tokens, n);
    return st != SP_OK ? st : run_rows(c, tokens, n, logits, last_only ? n - 1 : 0, NULL);
}

/* ------------------------------------------------------------------ languages */

static const char *const k_langs[] = {
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it", "id",
    "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur", "hr", "bg",
    "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn", "et", "mk", "br",
    "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si", "km", "sn", "yo", "so",
    "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo", "ht", "ps", "tk", "nn", "mt",
    "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue"};

/* their names in whisper's LANGUAGES (tokenizer.py), index for index: OpenAI's verbose_json
 * says "english" where the engine says "en" */
static const char *const k_lang_names[] = {
    "english", "chinese", "german", "spanish", "russian", "korean", "french", "japanese",
    "portuguese", "turkish", "polish", "catalan", "dutch", "arabic", "swedish", "italian",
    "indonesian", "hindi", "finnish", "vietnamese", "hebrew", "ukrainian", "greek", "malay",
    "czech", "romanian", "danish", "hungarian", "tamil", "norwegian", "thai", "urdu", "croatian",
    "bulgarian", "lithuanian", "latin", "maori", "malayalam", "welsh", "slovak", "telugu",
    "persian", "latvian", "bengali", "serbian", "azerbaijani", "slovenian", "kannada", "estonian",
    "macedonian", "breton", "basque", "icelandic", "armenian", "nepali", "mongolian", "bosnian",
    "kazakh", "albanian", "swahili", "galician", "marathi", "punjabi", "sinhala", "khmer", "shona",
    "yoruba", "somali", "afrikaans", "occitan", "georgian", "belarusian", "tajik", "sindhi",
    "gujarati", "amharic", "yiddish", "lao", "uzbek", "faroese", "haitian creole", "pashto",
    "turkmen", "nynorsk", "maltese", "sanskrit", "luxembourgish", "myanmar", "tibetan", "tagalog",
    "malagasy", "assamese", "tatar", "hawaiian", "lingala", "hausa", "bashkir", "javanese",
    "sundanese", "cantonese"};

const char *wh_language_code(int index)
{
    return index >= 0 && index < (int)(sizeof k_langs / sizeof k_langs[0]) ? k_langs[index] : NULL;
}

int sp_language_index(const char *code) { return wh_language_index(code); }
int sp_language_auto(const char *s) { return s && !strcasecmp(s, "auto"); }
int sp_language_not_english(const char *s)
{
    return s && *s && !sp_language_auto(s) && wh_language_index(s) != wh_language_index("en");
}

int sp_language_list(const char *list, int *idx, int max, char bad[16])
{
    unsigned char seen[sizeof k_langs / sizeof k_langs[0]] = {0};
    int n = 0;
    if (bad) bad[0] = 0;
    for (const char *p = list ? list : ""; *p;) {
        p += strspn(p, ", \t\n\r");
        const size_t len = strcspn(p, ", \t\n\r");
        if (!len) break;
        char code[16];
        snprintf(code, sizeof code, "%.*s", (int)(len < 15 ? len : 15), p);
        const int li = len < 15 ? wh_language_index(code) : -1;
        if (li < 0 || (!seen[li] && n >= max)) {
            if (bad) snprintf(bad, 16, "%s", code);
            return -1;
        }
        if (!seen[li]) {
            seen[li] = 1;
            if (idx) idx[n] = li;
            n++;
        }
        p += len;
    }
    return n;
}
const char *sp_language_code(int index) { return wh_language_code(index); }

static int lang_code_index(const char *code)
{
    for (int i = 0; i < (int)(sizeof k_langs / sizeof k_langs[0]); i++)
        if (strcmp(k_langs[i], code) == 0) return i;
    return -1;
}

const char *sp_language_name(const char *code)
{
    _Static_assert(sizeof k_lang_names / sizeof k_lang_names[0] == sizeof k_langs / sizeof k_langs[0],
                   "a name for every code");
    const int i = code ? lang_code_index(code) : -1;   /* a code as the engine reports it, not a name */
    return i >= 0 ? k_lang_names[i] : NULL;
}

/* openai-whisper's other names for some languages (its TO_LANGUAGE_CODE beside the names) */
static const struct { const char *name, *code; } k_lang_aliases[] = {
    {"burmese", "my"}, {"valencian", "ca"}, {"flemish", "nl"}, {"haitian", "ht"}, {"letzeburgesch", "lb"},
    {"pushto", "ps"}, {"panjabi", "pa"}, {"moldavian", "ro"}, {"moldovan", "ro"}, {"sinhalese", "si"},
    {"castilian", "es"}, {"mandarin", "zh"}};

/* A code, else an English name or alias, any case — as openai-whisper's --language (which
 * lowercases, then looks the name up): "en", "EN", "English", "haitian creole", "castilian".
 * Longer than any of them is no language (and is not copied). */
int wh_language_index(const char *code)
{
    char low[16];
    size_t n = 0;
    if (!code) return -1;
    for (; code[n]; n++) {
        if (n + 1 >= sizeof low) return -1;
        low[n] = (char)(code[n] >= 'A' && code[n] <= 'Z' ? code[n] - 'A' + 'a' : code[n]);
    }
    low[n] = 0;
    int i = lang_code_index(low);
    for (int j = 0; i < 0 && j < (int)(sizeof k_lang_names / sizeof k_lang_names[0]); j++)
        if (strcmp(k_lang_names[j], low) == 0) i = j;
    for (size_t j = 0; i < 0 && j < sizeof k_lang_aliases / sizeof k_lang_aliases[0]; j++)
        if (strcmp(k_lang_aliases[j].name, low) == 0) i = lang_code_index(k_lang_aliases[j].code);
    return i;
}
