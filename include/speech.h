/* speech.h — the speech-session engine: Whisper inference in C, on the CPU or an NVIDIA GPU.
 *
 * Usage:
 *
 *     sp_context *ctx; char err[256];
 *     sp_context_params cp = sp_context_default_params();
 *     if (sp_context_open("ggml-base.en.bin", &cp, &ctx, err, sizeof err) != SP_OK) die(err);
 *     float *pcm; size_t n;                                  // 16 kHz mono, [-1, 1]
 *     if (sp_audio_load("talk.wav", 0, 0, &pcm, &n, NULL, err, sizeof err) != SP_OK) die(err);
 *     sp_transcribe_params tp = sp_transcribe_default_params();
 *     sp_result *res;
 *     if (sp_transcribe(ctx, pcm, n, &tp, &res, err, sizeof err) == SP_OK)
 *         for (int i = 0; i < res->n_segments; i++) puts(res->segments[i].text);
 *     sp_result_free(res); free(pcm); sp_context_free(ctx);
 *
 * Contracts:
 * - Every function returning sp_status returns SP_OK (0) on success; on failure it leaves
 *   its out-parameters NULL/zero and, when given an err buffer, writes a one-line message
 *   that names the problem. Every *_free accepts NULL.
 * - Threading: an sp_context is used by one thread at a time (it owns the KV caches and a
 *   persistent pool of n_threads - 1 worker threads that it drives). Distinct contexts are
 *   independent. No function keeps hidden global state except a once-initialised CPU
 *   feature probe.
 * - The model file is mapped read-only (mmap); weights are borrowed views into it.
 * - Devices: sp_context_params.device picks the CPU or a CUDA GPU. The GPU code is a shared
 *   object (libspeech_cuda.so) loaded on first use; without a usable GPU the context runs on
 *   the CPU and sp_context_device_info() says why. A once-initialised probe of the CUDA
 *   driver library is the only other process-wide state.
 */
#ifndef SPEECH_H
#define SPEECH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Numbered, append-only. */
typedef enum {
    SP_OK = 0,
    SP_ERR_INVALID_ARG = 1,   /* caller error: NULL, out of range, bad option */
    SP_ERR_IO = 2,            /* open/read/mmap failed */
    SP_ERR_MODEL_FORMAT = 3,  /* model file malformed */
    SP_ERR_NOMEM = 4,
    SP_ERR_UNSUPPORTED = 5,   /* valid but not supported (tensor type, codec, ...) */
    SP_ERR_AUDIO_FORMAT = 6,  /* audio file malformed or not a whitelisted format */
    SP_ERR_AUDIO_UNSAFE = 7,  /* audio path refused: symlink, FIFO, device, not ours ... */
    SP_ERR_CANCELLED = 8,
    SP_ERR_INTERNAL = 9,
    SP_ERR_TOO_LARGE = 10,    /* input exceeds a configured limit */
    SP_ERR_DEVICE = 11,       /* the GPU failed (out of memory, a CUDA error); the context
                               * has moved to the CPU, so the call can be repeated */
} sp_status;

const char *sp_status_str(sp_status s);   /* "model format error", ... never NULL */

/* ------------------------------------------------------------------ context */

typedef struct sp_context sp_context;

typedef struct {
    int n_threads;        /* CPU threads (mel, and the CPU backend); 0 = one per physical core
                             this process may run on, at most its cgroup's CPU quota */
    const char *device;   /* "auto" (GPU when usable, else CPU), "cpu", "cuda", "cuda:N";
                           * NULL = "auto". Invalid strings: SP_ERR_INVALID_ARG. */
    int skip_self_check;  /* 1: do not compare the GPU against the CPU at open (benchmarks) */
    const char *compute;  /* the CPU's products: "auto" (NULL too): a quantized model's matrices
                           * (ggml's types; CTranslate2's int8 rows, requantized to q8_0 at open)
                           * multiplied with int8-quantized activations on a CPU with AVX2, f16/f32
                           * ones exactly; "int8" (CPUs with AVX2; elsewhere exact): f16/f32 matrices
                           * too, quantized to q8_0 at open
                           * (the weights' memory and bytes per token about halved: what faster-whisper's
                           * compute_type int8 does on the CPU); "exact": every product in f32
                           * on the file's weights. The GPU ignores it. Invalid: SP_ERR_INVALID_ARG. */
} sp_context_params;

/* n_threads 0, skip_self_check 0, device = $SPEECH_SESSION_DEVICE when set, else "auto",
 * compute = $SPEECH_SESSION_COMPUTE when set, else "auto". */
sp_context_params sp_context_default_params(void);
/* 1 when device is a valid sp_context_params.device string, else 0 (option parsing) */
int sp_device_valid(const char *device);
/* 1 when compute is a valid sp_context_params.compute string ("auto", "int8", "exact"), else 0 */
int sp_compute_valid(const char *compute);

sp_status sp_context_open(const char *model_path, const sp_context_params *params,
                          sp_context **out, char *err, size_t err_size);
void sp_context_free(sp_context *ctx);

typedef struct {
    int n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer;
    int n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels;
    int ftype;            /* file's ftype % 1000: 0 f32, 1 f16, 2 q4_0, 3 q4_1, 7 q8_0, 8 q5_0, 9 q5_1;
                           * 64: CTranslate2 int8 with per-row scales */
    int multilingual;     /* n_vocab >= 51865 */
    int n_languages;
    const char *size_name;  /* "tiny", "base", ..., "large-v3", "large-v3-turbo", or "custom" */
    const char *type_name;  /* "f32", "f16", "q5_0", ... */
    size_t file_size;
    int n_tokens_restored;  /* byte-fragment tokens (e.g. the first half of an emoji) that a
                             * whisper.cpp ggml file stores as U+FFFD, put back from openai's
                             * rank files (216 .en, 1348 multilingual); 0 for other formats */
} sp_model_info;

void sp_context_info(const sp_context *ctx, sp_model_info *info);
/* The model file the context maps, now against when it was opened (a stat of the path it
 * was opened by): SAME; REWRITTEN in place (same file, other size or modification time: the
 * weights, views into a private mapping the kernel does not copy, now show the new bytes,
 * and reading past a shorter end kills the process with SIGBUS); REPLACED (another file at
 * the path — a rename, a repointed symlink —: the mapping keeps the old file, safe, but a new
 * open would load another model); GONE (nothing at the path; the mapping keeps the old file).
 * why, when not NULL, says which, naming the path. Reads only what the open recorded, so any
 * thread may ask, also while another uses the context. A model from memory: SAME. */
typedef enum {
    SP_MODEL_FILE_SAME = 0, SP_MODEL_FILE_REWRITTEN = 1, SP_MODEL_FILE_REPLACED = 2, SP_MODEL_FILE_GONE = 3
} sp_model_file_state;
sp_model_file_state sp_context_model_file(const sp_context *ctx, char *why, size_t why_size);
/* "cuda" or "cpu": the device the next operation runs on (a GPU fault moves a context
 * to the CPU for good). */
const char *sp_context_device(const sp_context *ctx);

typedef struct {
    const char *device;        /* as sp_context_device */
    char name[96];             /* "NVIDIA H200", "CPU (AVX2)" */
    size_t mem_used;           /* bytes of GPU memory held by the context (0 on the CPU) */
    size_t mem_total;          /* the GPU's memory, 0 on the CPU */
    char fallback[256];        /* why the context is on the CPU although the GPU was asked
                                * for or allowed ("no CUDA driver", "no GPU", "out of GPU
                                * memory: need ...", "GPU self-check failed: ..."); "" when
                                * not falling back (device "cpu" asked, or on the GPU) */
} sp_device_info;

void sp_context_device_info(const sp_context *ctx, sp_device_info *info);

/* Whisper's language codes in token order ("en", "zh", …, "yue": 100). Returns the index of
 * code (its token is sot + 1 + index), or -1 when it is not one; sp_language_code is the
 * reverse (NULL out of range). A model knows the first sp_model_info.n_languages of them.
 * As openai-whisper's --language, the English name or one of its aliases is taken too, in
 * any case ("EN", "English", "haitian creole", "castilian"); sp_language_code(index) is then
 * the code to pass on or show. */
int sp_language_index(const char *code);
const char *sp_language_code(int index);
/* 1 when s asks for detection: "auto" in any case ("AUTO" had been refused where "DE" and
 * "German" were taken); front ends pass it on as "auto" */
int sp_language_auto(const char *s);
/* 1 when s names a language other than English ("de", "German"; not NULL, "", "auto", "en",
 * "English"): what an English-only model cannot do, said by each front end that takes it */
int sp_language_not_english(const char *s);
/* A list of codes ("en,de", "en de": commas and/or white space between them) as indexes
 * into idx (room for max; duplicates kept once; NULL: only counted). Returns how many (0 for
 * an empty list), or -1 when an entry is not a code (or "auto"), or there are more than max:
 * bad (16 bytes, or NULL) then holds that entry (cut at 15 bytes). */
int sp_language_list(const char *list, int *idx, int max, char bad[16]);
/* the language's English name as whisper and OpenAI's verbose_json give it ("en" ->
 * "english", "yue" -> "cantonese"); NULL when code is not one of them */
const char *sp_language_name(const char *code);

/* ------------------------------------------------------------ low level (oracle)
 * The pieces the tests and bin/transcribe --dump-logits use to compare against reference
 * implementations. A typical oracle run: sp_mel → sp_encode(window) → sp_decode. */

/* Log-mel spectrogram of 16 kHz mono PCM, openai/whisper semantics
 * (whisper-reference.md §1): the audio is right-padded with 30 s of zeros, so the result has
 * n_samples/160 + 3000 frames; *n_content_frames = n_samples/160. mel is [n_mels][n_frames]
 * row-major, malloc'd, owned by the caller. */
sp_status sp_mel(sp_context *ctx, const float *pcm, size_t n_samples,
                 float **mel, int *n_frames, int *n_content_frames);

/* Runs the encoder on mel[:, offset : offset + 3000] of a [n_mels][n_frames] matrix; frames
 * past n_frames are 0.0 (openai's pad_or_trim). Also computes every decoder layer's
 * cross-attention K/V for this window, and resets the decoder's KV cache. */
sp_status sp_encode(sp_context *ctx, const float *mel, int n_frames, int offset);

/* Same over a shorter window: audio_ctx encoder positions (2·audio_ctx mel frames) instead
 * of the model's n_audio_ctx (1500 = 30 s); 0 = full. Much faster for short clips, but the
 * models were trained on full windows, so accuracy can drop (whisper.cpp's audio_ctx). */
sp_status sp_encode_ctx(sp_context *ctx, const float *mel, int n_frames, int offset, int audio_ctx);

/* Feeds n tokens to the decoder after those already fed since sp_encode (teacher forcing)
 * and writes the logits after each of them: logits is [n][n_vocab] (or only the last row
 * when last_only). Needs n_past + n <= n_text_ctx. */
sp_status sp_decode(sp_context *ctx, const int *tokens, int n, float *logits, int last_only);

/* --------------------------------------------------------------- transcription */

typedef struct {
    int id;
    float p;           /* probability of the token when chosen */
    float t0, t1;      /* seconds, -1 when unknown: timestamp tokens t0 == t1 = their time;
                        * text tokens with word_timestamps: aligned span */
} sp_token;

typedef struct {
    float start, end;          /* seconds in the original audio, inside the segment */
    char *text;                /* the word's text as decoded (usually a leading space) */
    float probability;         /* mean probability of its tokens */
} sp_word;

typedef struct {
    float start, end;          /* seconds in the original audio */
    char *text;                /* valid UTF-8, as decoded (usually a leading space) */
    sp_token *tokens;
    int n_tokens;
    float avg_logprob, no_speech_prob, compression_ratio, temperature;
    sp_word *words;            /* word_timestamps only (else NULL, 0): in order, monotonic;
                                * their texts concatenate to the segment's text */
    int n_words;
    int seek;                  /* the first mel frame (10 ms) of the window it was decoded in:
                                * openai's and faster-whisper's "seek" (with VAD: in the speech
                                * kept, as theirs) */
} sp_segment;

typedef struct {
    const char *language;       /* "en", "de", ...; NULL or "auto" = detect (multilingual) */
    int translate;              /* task translate instead of transcribe */
    int beam_size;              /* 1 = greedy; default 5 */
    int best_of;                /* samples at temperature > 0; default 5 */
    float patience;             /* default 1.0 */
    float length_penalty;       /* <= 0: plain average (default); else ((5+L)/6)^a */
    const float *temperatures;  /* fallback ladder; NULL = 0.0 0.2 0.4 0.6 0.8 1.0 */
    int n_temperatures;
    float compression_ratio_threshold;  /* 2.4; <= 0 disables */
    float logprob_threshold;            /* -1.0; <= -1e9 disables */
    float no_speech_threshold;          /* 0.6; <= 0 disables */
    int condition_on_previous_text;     /* 1 */
    float prompt_reset_on_temperature;  /* 0.5 */
    int without_timestamps;             /* 0 */
    float max_initial_timestamp;        /* 1.0; 0 allows only <|0.00|> (faster-whisper), < 0 or >= 30 no limit */
    int suppress_blank;                 /* 1 */
    const char *suppress_tokens;        /* "-1" = non-speech set; comma/space list of ids */
    const char *initial_prompt, *prefix, *hotwords;   /* NULL = none */
    float clip_start, clip_end;         /* seconds; clip_end <= 0 = to the end */
    uint64_t seed;                      /* sampling RNG seed */
    int vad;                            /* drop non-speech before decoding (see speech_audio.h) */
    const char *vad_model;              /* Silero ggml file; NULL = energy detector */
    void (*progress)(float fraction, void *user);
    void *progress_user;
    volatile int *cancel;               /* set non-zero from another thread to stop */
    int audio_ctx;                      /* encoder positions per window: 0 = the model's full
                                         * 30 s window (default, what the models were trained
                                         * on); N = N positions (2N mel frames, N/50 s),
                                         * raised to auto's where fewer than the window's
                                         * audio (the rest would go unheard);
                                         * SP_AUDIO_CTX_AUTO = the window's audio rounded up
                                         * (+ 64 positions of margin, to a multiple of 64):
                                         * much faster for short clips, accuracy may drop */
    int word_timestamps;                /* 0; 1 = per-word times (sp_segment.words) and text
                                         * token times (sp_token.t0/t1) from cross-attention
                                         * alignment (openai timing.py; docs/decoding.md) */
    /* Live use (appended: older callers that zero the struct get none of it). */
    void (*on_segment)(const sp_segment *seg, int index, void *user);
                                        /* called once per segment as soon as it is final
                                         * (after its window, with its words when
                                         * word_timestamps; times as in the result), in
                                         * order, index = its index in the result; a retry
                                         * on the CPU after a GPU fault does not repeat an
                                         * index already given */
    void *on_segment_user;
    void (*on_window)(float t_offset, void *user);
                                        /* called at each 30 s window boundary after the
                                         * first (before the next window is encoded), on
                                         * the calling thread: the place to pause. It may
                                         * run other sp_transcribe calls on the same
                                         * context: this call keeps everything it needs
                                         * across windows in its own state, and the next
                                         * window is encoded afresh */
    void *on_window_user;
    const char *languages;              /* detection restricted to these codes ("en,de"),
                                         * when language is NULL/"auto" on a multilingual
                                         * model: the likeliest of them is taken, and
                                         * language_prob is its share among them. NULL/"" =
                                         * all the model knows. A code the model does not
                                         * know: SP_ERR_INVALID_ARG */
} sp_transcribe_params;

#define SP_AUDIO_CTX_AUTO (-1)

/* faster-whisper's transcribe() defaults (whisper-reference.md §5). */
sp_transcribe_params sp_transcribe_default_params(void);

typedef struct {
    sp_segment *segments;
    int n_segments;
    char language[16];
    float language_prob;
    float duration;            /* seconds of input audio */
} sp_result;

sp_status sp_transcribe(sp_context *ctx, const float *pcm, size_t n_samples,
                        const sp_transcribe_params *params, sp_result **out,
                        char *err, size_t err_size);
void sp_result_free(sp_result *res);

#ifdef __cplusplus
}
#endif
#endif
