/* transcribe — speech to text from the command line.
 *
 *   transcribe --model ggml-base.en.bin talk.wav            plain text on stdout
 *   transcribe --model M --output-format srt --vad a.mp3 b.flac
 *
 * Options are named as in faster-whisper / whisper's CLI (see usage()). With several inputs
 * on stdout, txt/srt/vtt outputs follow one another (srt/vtt numbering restarts per file; a
 * "# FILE" line — in vtt a "NOTE FILE" block after each document's WEBVTT line — names each);
 * json and verbose_json print one JSON document per line (JSON Lines). --output-dir DIR
 * writes one file per input instead, DIR/NAME.EXT as whisper's --output_dir does, each a
 * whole document, renamed into place when complete (with --output-format all: a file per
 * format). srt/vtt cues are segments, or shaped from the words by --max-line-width,
 * --max-line-count, --max-words-per-line, --highlight-words (subtitles.c).
 * Oracle mode (owned by the engine): any --dump-logits hands over to transcribe_oracle_main.
 *
 * Exit codes: 0 ok, 2 usage, 3 model could not be loaded, 4 an audio input could not be read
 * (the others are still transcribed), 5 transcription failed, 6 output error,
 * 130 interrupted (SIGINT/SIGTERM; a second signal exits at once). */
#include "common/dynbuf.h"
#include "common/utf8.h"
#include "oracle.h"
#include "subtitles.h"
#include "speech.h"
#include "speech_audio.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { EX_OK = 0, EX_USAGE = 2, EX_MODEL = 3, EX_INPUT = 4, EX_ENGINE = 5, EX_OUTPUT = 6, EX_INTR = 130 };

static volatile int g_cancel;
static volatile sig_atomic_t g_signals;

static void on_signal(int sig)
{
    (void)sig;
    if (g_signals++) _exit(EX_INTR);
    g_cancel = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: transcribe --model MODEL [options] AUDIO...\n"
        "\n"
        "Transcribes (or translates) audio files with a Whisper model; plain text on stdout.\n"
        "AUDIO \"-\" reads the audio from stdin (any format below, up to 1 GiB).\n"
        "An option's value is the next argument or follows '=' (--beam-size=1). faster-whisper's\n"
        "and openai-whisper's spellings are taken too: -m, -t, -f, -o for --model, --threads,\n"
        "--output-format, --output-dir; --beam_size, --best_of, --output_format, --output_dir,\n"
        "--word_timestamps, --max_line_width, --max_line_count, --max_words_per_line,\n"
        "--highlight_words; --without-timestamps, --vad-filter, --logprob-threshold for\n"
        "--no-timestamps, --vad, --log-prob-threshold.\n"
        "\n"
        "  --model PATH                    ggml model file or CTranslate2 model directory (required)\n"
        "  --language CODE                 en, de, ... (or a name: German), or auto (default: detect;\n"
        "                                  English-only models: en)\n"
        "  --languages en,de               detection only among these (with --language auto)\n"
        "  --task transcribe|translate     (default transcribe)\n"
        "  --beam-size N                   beams at temperature 0, 1..16; 1 = greedy (default 5)\n"
        "  --best-of N                     samples at temperature > 0, 1..16 (default 5)\n"
        "  --patience F                    beam search patience (default 1.0)\n"
        "  --length-penalty F              0 = average log-prob (default), else GNMT alpha\n"
        "  --temperature T[,T...]          fallback ladder (default 0,0.2,0.4,0.6,0.8,1.0)\n"
        "  --compression-ratio-threshold F (default 2.4; 0 disables)\n"
        "  --log-prob-threshold F          (default -1.0; -inf disables)\n"
        "  --no-speech-threshold F         (default 0.6; 0 disables)\n"
        "  --condition-on-previous-text True|False   (default True)\n"
        "  --initial-prompt TEXT           prompt for the first window\n"
        "  --prefix TEXT                   forced start of the first window's text\n"
        "  --hotwords TEXT                 words to favour (in every window's prompt)\n"
        "  --suppress-tokens LIST          ids to suppress; -1 = non-speech symbols (default -1)\n"
        "  --no-suppress-blank             allow a blank first token\n"
        "  --no-timestamps                 decode without timestamp tokens\n"
        "  --max-initial-timestamp F       (default 1.0; 0 forces <|0.00|>, 30 or more: no limit)\n"
        "  --word-timestamps               per-word times (json, verbose_json \"words\"; alignment pass per window)\n"
        "  --audio-ctx N|auto              encoder positions per window (default: the full 1500 = 30 s);\n"
        "                                  auto = the window's audio + a margin: faster on short clips,\n"
        "                                  the models were trained on full windows\n"
        "  --clip START[,END]              transcribe only this range (seconds of the recording, also with --vad)\n"
        "  --vad                           drop non-speech first (voice activity detection)\n"
        "  --vad-model PATH                Silero VAD: whisper.cpp's ggml file, faster-whisper's\n"
        "                                  silero_vad_v6.onnx or silero-vad's silero_vad.onnx\n"
        "                                  (default: energy detector)\n"
        "  --output-format FMT             txt (default), json, srt, vtt, tsv, verbose_json (OpenAI's shape),\n"
        "                                  all (with --output-dir: txt, json, srt, vtt, tsv and verbose_json,\n"
        "                                  the last as NAME.verbose.json)\n"
        "  --output-dir DIR                one file per input, DIR/NAME.txt|json|srt|vtt|tsv (NAME: the input's\n"
        "                                  name without its extension; \"-\" is stdin), instead of stdout\n"
        "  srt and vtt cues from the words, as openai-whisper's (each needs --word-timestamps):\n"
        "  --max-line-width N              at most N characters in a line, then a line break\n"
        "  --max-line-count N              at most N lines in a cue, then a new cue (with --max-line-width)\n"
        "  --max-words-per-line N          a new cue every N words of a segment (does not limit a line\n"
        "                                  with --max-line-width)\n"
        "  --highlight-words               a cue per word, the word underlined (<u>word</u>)\n"
        "  --threads N                     compute threads, 0..256 (default 0: one per physical core it may use)\n"
        "  --device D                      auto (default, or $SPEECH_SESSION_DEVICE), cpu, cuda, cuda:N\n"
        "                                  (gpu = cuda);\n"
        "                                  when a GPU was asked for but is not usable: the CPU, and why on stderr\n"
        "  --compute C                     the CPU's products (default auto, or $SPEECH_SESSION_COMPUTE): auto =\n"
        "                                  a quantized model's weights x int8 activations (AVX2 CPUs), int8 =\n"
        "                                  f16/f32 weights too, quantized to q8_0 at load; exact = all in f32\n"
        "  --seed N                        sampling seed (default 0)\n"
        "  --progress | --no-progress      progress bar on stderr (default: on a terminal for audio >= 60 s)\n"
        "  -h, --help\n"
        "\n"
        "Oracle mode (the logits after a prompt and forced tokens; README \"transcribe — oracle mode\"):\n"
        "  transcribe --model MODEL (--mel F.f32 | AUDIO) --prompt \"IDS\" [--force \"IDS\"]\n"
        "             --dump-logits OUT.f32 [--threads N]\n"
        "\n"
        "Exit codes: 0 ok, 2 usage, 3 model, 4 audio input, 5 transcription failed, 6 output, 130 interrupted.\n");
}

/* ------------------------------------------------------------------ output */

/* A JSON string. Text is valid UTF-8 (the tokenizer repairs it) but a file name is any
 * bytes: an invalid byte becomes U+FFFD, so the document stays parseable. */
static void json_str(FILE *f, const char *s)
{
    char *fixed = NULL;
    const size_t len = strlen(s);
    if (!sp_utf8_valid(s, len) && (fixed = malloc(3 * len + 1))) {
        sp_utf8_repair(s, len, fixed);
        s = fixed;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
    free(fixed);
}

/* JSON number: finite, short */
static void json_num(FILE *f, double v)
{
    if (!isfinite(v)) v = v > 0 ? 1e30 : -1e30;
    fprintf(f, "%.4g", v);
}
static void json_time(FILE *f, double v) { fprintf(f, "%.2f", v); }

/* text.strip() of ASCII whitespace into buf */
static const char *stripped(const char *s, char *buf, size_t n)
{
    size_t l;
    s = sub_strip_ascii(s, &l);
    if (l >= n) l = n - 1;
    memcpy(buf, s, l);
    buf[l] = 0;
    return buf;
}

static void full_text(FILE *f, const sp_result *r)
{
    /* the concatenated segment texts, as OpenAI's "text" */
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) return;
    for (int i = 0; i < r->n_segments; i++) fputs(r->segments[i].text, m);
    fclose(m);
    json_str(f, buf ? buf : "");
    free(buf);
}

/* [{"word","start","end"[,"probability"]}...] of one segment; first: no leading comma */
static void json_words(FILE *f, const sp_segment *s, int with_prob, int first)
{
    for (int k = 0; k < s->n_words; k++) {
        const sp_word *w = &s->words[k];
        fputs(first && k == 0 ? "{\"word\":" : ",{\"word\":", f);
        json_str(f, w->text);
        fputs(",\"start\":", f); json_time(f, w->start);
        fputs(",\"end\":", f); json_time(f, w->end);
        if (with_prob) { fputs(",\"probability\":", f); json_num(f, w->probability); }
        fputc('}', f);
    }
}

/* A file name on one comment line: a line break would end the block and "-->" is not
 * allowed in a WebVTT NOTE, so both are written defused. */
static void note_path(FILE *f, const char *p)
{
    for (; *p; p++) {
        if (*p == '\n' || *p == '\r') fputc(' ', f);
        else if (p[0] == '-' && p[1] == '-' && p[2] == '>') { fputs("--\xe2\x86\x92", f); p += 2;   /* "-->" as "--→" */ }
        else fputc(*p, f);
    }
}

/* r as a document of format fmt (not "all") on f. Returns 0, or -1 when out of memory. */
static int write_result(FILE *f, const char *fmt, const sp_result *r, int translate, const char *path, int multi,
                        int words, const sub_opts *so)
{
    static char buf[1 << 16];
    if (!strcmp(fmt, "txt")) {
        if (multi) { fputs("# ", f); note_path(f, path); fputc('\n', f); }   /* a name's newline is not text */
        for (int i = 0; i < r->n_segments; i++) fprintf(f, "%s\n", stripped(r->segments[i].text, buf, sizeof buf));
    } else if (!strcmp(fmt, "tsv")) {
        if (multi) { fputs("# ", f); note_path(f, path); fputc('\n', f); }
        sub_write_tsv(f, r);
    } else if (!strcmp(fmt, "srt") || !strcmp(fmt, "vtt")) {
        int srt = fmt[0] == 's';
        if (!srt) fputs("WEBVTT\n\n", f);   /* first: a WebVTT document must begin with it */
        if (multi) { fputs(srt ? "# " : "NOTE FILE ", f); note_path(f, path); fputs("\n\n", f); }
        if (sub_write_cues(f, r, so, srt)) return -1;
    } else if (!strcmp(fmt, "json")) {
        fputs("{\"file\":", f);
        json_str(f, path);
        fputs(",\"language\":", f);
        json_str(f, r->language);
        fputs(",\"language_probability\":", f);
        json_num(f, r->language_prob);
        fputs(",\"duration\":", f);
        json_time(f, r->duration);
        fputs(",\"text\":", f);
        full_text(f, r);
        fputs(",\"segments\":[", f);
        for (int i = 0; i < r->n_segments; i++) {
            const sp_segment *s = &r->segments[i];
            fprintf(f, "%s{\"seek\":%d,\"start\":", i ? "," : "", s->seek);
            json_time(f, s->start);
            fputs(",\"end\":", f);
            json_time(f, s->end);
            fputs(",\"text\":", f);
            json_str(f, s->text);
            fputs(",\"avg_logprob\":", f); json_num(f, s->avg_logprob);
            fputs(",\"no_speech_prob\":", f); json_num(f, s->no_speech_prob);
            fputs(",\"compression_ratio\":", f); json_num(f, s->compression_ratio);
            fputs(",\"temperature\":", f); json_num(f, s->temperature);
            fputs(",\"tokens\":[", f);
            for (int k = 0; k < s->n_tokens; k++) {
                fprintf(f, "%s{\"id\":%d,\"p\":", k ? "," : "", s->tokens[k].id);
                json_num(f, s->tokens[k].p);
                if (s->tokens[k].t0 >= 0) { fputs(",\"t\":", f); json_time(f, s->tokens[k].t0); }
                if (words && s->tokens[k].t0 >= 0) { fputs(",\"t1\":", f); json_time(f, s->tokens[k].t1); }
                fputc('}', f);
            }
            fputc(']', f);
            if (words) { fputs(",\"words\":[", f); json_words(f, s, 1, 1); fputc(']', f); }
            fputc('}', f);
        }
        fputs("]}\n", f);
    } else {   /* verbose_json: OpenAI's audio API response */
        fputs("{\"task\":", f);
        json_str(f, translate ? "translate" : "transcribe");
        fputs(",\"language\":", f);
        json_str(f, sp_language_name(r->language) ? sp_language_name(r->language) : r->language);
        fputs(",\"duration\":", f);
        json_time(f, r->duration);
        fputs(",\"text\":", f);
        full_text(f, r);
        if (words) {   /* timestamp_granularities[]=word: every word, top level */
            fputs(",\"words\":[", f);
            int first = 1;
            for (int i = 0; i < r->n_segments; i++) {
                json_words(f, &r->segments[i], 0, first);
                if (r->segments[i].n_words) first = 0;
            }
            fputc(']', f);
        }
        fputs(",\"segments\":[", f);
        for (int i = 0; i < r->n_segments; i++) {
            const sp_segment *s = &r->segments[i];
            fprintf(f, "%s{\"id\":%d,\"seek\":%d,\"start\":", i ? "," : "", i, s->seek);
            json_time(f, s->start);
            fputs(",\"end\":", f);
            json_time(f, s->end);
            fputs(",\"text\":", f);
            json_str(f, s->text);
            fputs(",\"tokens\":[", f);
            for (int k = 0; k < s->n_tokens; k++) fprintf(f, "%s%d", k ? "," : "", s->tokens[k].id);
            fputs("],\"temperature\":", f); json_num(f, s->temperature);
            fputs(",\"avg_logprob\":", f); json_num(f, s->avg_logprob);
            fputs(",\"compression_ratio\":", f); json_num(f, s->compression_ratio);
            fputs(",\"no_speech_prob\":", f); json_num(f, s->no_speech_prob);
            if (words) { fputs(",\"words\":[", f); json_words(f, s, 1, 1); fputc(']', f); }
            fputc('}', f);
        }
        fputs("]}\n", f);
    }
    return 0;
}

/* ------------------------------------------------------------------ progress */

typedef struct { const char *name; int shown; } prog_state;

static void progress(float frac, void *u)
{
    prog_state *ps = u;
    char bar[41];
    int k = (int)(frac * 40.0f + 0.5f);
    if (k < 0) k = 0;
    if (k > 40) k = 40;
    memset(bar, '#', (size_t)k);
    memset(bar + k, '.', (size_t)(40 - k));
    bar[40] = 0;
    fprintf(stderr, "\r[%s] %3d%% %.40s", bar, (int)(frac * 100.0f + 0.5f), ps->name);
    ps->shown = 1;
}

/* ------------------------------------------------------------------ arguments */

static int parse_float(const char *s, float *v)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end == s || *end || errno || isnan(d)) return -1;   /* "nan" parses, and passes every < test */
    *v = (float)d;
    return 0;
}

static int parse_int(const char *s, long lo, long hi, long *v)
{
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (end == s || *end || errno || x < lo || x > hi) return -1;
    *v = x;
    return 0;
}

static int parse_bool(const char *s, int *v)
{
    if (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes")) { *v = 1; return 0; }
    if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no")) { *v = 0; return 0; }
    return -1;
}

static int bad(const char *opt, const char *val)
{
    fprintf(stderr, "transcribe: bad value for %s: '%s'\n", opt, val ? val : "");
    fprintf(stderr, "Try 'transcribe --help'.\n");
    return EX_USAGE;
}

/* What the command line asked for. */
typedef struct {
    sp_transcribe_params tp;
    sp_context_params cp;
    const char *model, *fmt;      /* fmt: one format, or "all" (--output-dir only) */
    sub_opts sub;                  /* srt/vtt cue shaping (--max-line-width ...) */
    const char *out_dir;           /* --output-dir, or NULL: stdout */
    int out_fd;                    /* out_dir opened (O_DIRECTORY), else -1 */
    const char **inputs;
    int n_inputs, want_progress;   /* -1: progress on a terminal for long files */
    float temps[32];
} cli_opts;

/* The formats --output-format all writes, in this order, each to its own file */
static const char *const all_fmts[] = {"txt", "json", "srt", "vtt", "tsv", "verbose_json"};
#define N_ALL_FMTS ((int)(sizeof all_fmts / sizeof *all_fmts))

/* A format's file extension in --output-dir, NULL when fmt is not one. verbose_json is
 * NAME.json alone, NAME.verbose.json among "all"'s files (beside json's NAME.json). */
static const char *fmt_ext(const char *fmt, int in_all)
{
    if (!strcmp(fmt, "verbose_json")) return in_all ? "verbose.json" : "json";
    for (int k = 0; k < N_ALL_FMTS; k++)
        if (!strcmp(fmt, all_fmts[k])) return all_fmts[k];
    return NULL;
}

/* The formats each input is written in: their count, *fmts the list */
static int out_formats(const cli_opts *o, const char *const **fmts)
{
    if (!strcmp(o->fmt, "all")) { *fmts = all_fmts; return N_ALL_FMTS; }
    *fmts = &o->fmt;
    return 1;
}

/* "T[,T...]" into o->temps; -1 when malformed */
static int parse_temperatures(cli_opts *o, const char *v)
{
    int n = 0;
    const char *p = v;
    while (*p) {
        char *end;
        errno = 0;
        double d = strtod(p, &end);
        if (end == p || errno || !(d >= 0 && d <= 10) || n == 32) return -1;
        o->temps[n++] = (float)d;
        p = end;
        if (*p == ',') p++;
        else if (*p) return -1;
    }
    if (!n) return -1;
    o->tp.temperatures = o->temps;
    o->tp.n_temperatures = n;
    return 0;
}

/* "START[,END]" in seconds; -1 when malformed */
static int parse_clip(sp_transcribe_params *tp, const char *v)
{
    char *end;
    errno = 0;
    double s0 = strtod(v, &end), s1 = 0;
    if (end == v || errno || !(s0 >= 0)) return -1;   /* NaN too */
    if (*end == ',') {
        char *e2;
        s1 = strtod(end + 1, &e2);
        if (e2 == end + 1 || *e2 || !(s1 > s0)) return -1;
    } else if (*end) {
        return -1;
    }
    tp->clip_start = (float)s0;
    tp->clip_end = (float)s1;
    return 0;
}

static int parse_seed(sp_transcribe_params *tp, const char *v)
{
    char *end;
    errno = 0;
    if (*v < '0' || *v > '9') return -1;   /* strtoull takes "-1" as 2^64 - 1 */
    unsigned long long s = strtoull(v, &end, 10);
    if (end == v || *end || errno) return -1;
    tp->seed = (uint64_t)s;
    return 0;
}

/* An option that takes a value: 0 applied, -1 invalid value, 1 not such an option. */
static int value_option(cli_opts *o, const char *a, const char *v)
{
    sp_transcribe_params *tp = &o->tp;
    long l;
    float fv;
#define IS(s) (!strcmp(a, s))
    if (IS("--model") || IS("-m")) o->model = v;
    else if (IS("--language")) {   /* a code checked here, so the error names the option, not a file */
        if (!*v || (!sp_language_auto(v) && sp_language_index(v) < 0)) return -1;   /* "" had passed */
        tp->language = sp_language_auto(v) ? "auto" : v;
    }
    else if (IS("--task")) {
        if (!strcmp(v, "transcribe")) tp->translate = 0;
        else if (!strcmp(v, "translate")) tp->translate = 1;
        else return -1;
    }
    else if (IS("--beam-size") || IS("--beam_size")) { if (parse_int(v, 1, 16, &l)) return -1; tp->beam_size = (int)l; }
    else if (IS("--best-of") || IS("--best_of")) { if (parse_int(v, 1, 16, &l)) return -1; tp->best_of = (int)l; }
    else if (IS("--patience")) { if (parse_float(v, &fv) || !(fv > 0 && fv <= 4)) return -1; tp->patience = fv; }
    else if (IS("--length-penalty")) { if (parse_float(v, &fv) || fv < 0) return -1; tp->length_penalty = fv; }
    else if (IS("--temperature")) return parse_temperatures(o, v);
    else if (IS("--compression-ratio-threshold")) { if (parse_float(v, &fv)) return -1; tp->compression_ratio_threshold = fv; }
    else if (IS("--log-prob-threshold") || IS("--logprob-threshold")) {
        if (parse_float(v, &fv)) return -1;
        tp->logprob_threshold = isinf(fv) ? -1e30f : fv;
    }
    else if (IS("--no-speech-threshold")) { if (parse_float(v, &fv)) return -1; tp->no_speech_threshold = fv; }
    else if (IS("--condition-on-previous-text")) { if (parse_bool(v, &tp->condition_on_previous_text)) return -1; }
    else if (IS("--initial-prompt")) tp->initial_prompt = v;
    else if (IS("--prefix")) tp->prefix = v;
    else if (IS("--hotwords")) tp->hotwords = v;
    else if (IS("--languages")) {   /* each a code (the model's own range is checked at load) */
        if (sp_language_list(v, NULL, 128, NULL) <= 0) return -1;
        tp->languages = v;
    }
    else if (IS("--suppress-tokens")) tp->suppress_tokens = v;
    else if (IS("--max-initial-timestamp")) { if (parse_float(v, &fv) || fv < 0) return -1; tp->max_initial_timestamp = fv; }
    else if (IS("--clip")) return parse_clip(tp, v);
    else if (IS("--vad-model")) { tp->vad_model = v; tp->vad = 1; }
    else if (IS("--output-format") || IS("--output_format") || IS("-f")) {
        if (strcmp(v, "all") && !fmt_ext(v, 0)) return -1;
        o->fmt = v;
    }
    else if (IS("--max-line-width") || IS("--max_line_width")) {
        if (parse_int(v, 1, 1000000, &l)) return -1;
        o->sub.max_line_width = (int)l;
    }
    else if (IS("--max-line-count") || IS("--max_line_count")) {
        if (parse_int(v, 1, 1000000, &l)) return -1;
        o->sub.max_line_count = (int)l;
    }
    else if (IS("--max-words-per-line") || IS("--max_words_per_line")) {
        if (parse_int(v, 1, 1000000, &l)) return -1;
        o->sub.max_words_per_line = (int)l;
    }
    else if (IS("--output-dir") || IS("--output_dir") || IS("-o")) { if (!*v) return -1; o->out_dir = v; }
    else if (IS("--threads") || IS("-t")) { if (parse_int(v, 0, 256, &l)) return -1; o->cp.n_threads = (int)l; }
    else if (IS("--device")) {   /* checked here: the error names the option, not the model */
        if (!sp_device_valid(v)) return -1;
        o->cp.device = v;
    }
    else if (IS("--compute")) {
        if (!sp_compute_valid(v)) return -1;
        o->cp.compute = v;
    }
    else if (IS("--audio-ctx")) {
        if (!strcmp(v, "auto")) tp->audio_ctx = SP_AUDIO_CTX_AUTO;
        else if (parse_int(v, 0, 100000, &l)) return -1;
        else tp->audio_ctx = (int)l;
    }
    else if (IS("--seed")) return parse_seed(tp, v);
    else return 1;
#undef IS
    return 0;
}

/* A flag without a value: 0 applied, 1 not such a flag. */
static int flag_option(cli_opts *o, const char *a)
{
    if (!strcmp(a, "--no-suppress-blank")) o->tp.suppress_blank = 0;
    else if (!strcmp(a, "--no-timestamps") || !strcmp(a, "--without-timestamps")) o->tp.without_timestamps = 1;
    else if (!strcmp(a, "--word-timestamps") || !strcmp(a, "--word_timestamps")) o->tp.word_timestamps = 1;
    else if (!strcmp(a, "--vad") || !strcmp(a, "--vad-filter")) o->tp.vad = 1;
    else if (!strcmp(a, "--highlight-words") || !strcmp(a, "--highlight_words")) o->sub.highlight_words = 1;
    else if (!strcmp(a, "--progress")) o->want_progress = 1;
    else if (!strcmp(a, "--no-progress")) o->want_progress = 0;
    else return 1;
    return 0;
}

/* One "--name=value" argument: -1 applied, else the exit code (the usage error said). The
 * name is copied out (argv stays as it is); a flag given a value is an error, as getopt_long's. */
static int long_eq_option(cli_opts *o, const char *a, const char *eq)
{
    char name[64];
    const size_t len = (size_t)(eq - a);
    if (len >= sizeof name) {
        fprintf(stderr, "transcribe: unknown option %.*s\nTry 'transcribe --help'.\n", (int)len, a);
        return EX_USAGE;
    }
    memcpy(name, a, len);
    name[len] = 0;
    if (!strcmp(name, "--help") || flag_option(&(cli_opts){0}, name) == 0) {
        fprintf(stderr, "transcribe: option %s takes no value\nTry 'transcribe --help'.\n", name);
        return EX_USAGE;
    }
    const int r = value_option(o, name, eq + 1);
    if (r == 0) return -1;
    if (r < 0) return bad(name, eq + 1);
    fprintf(stderr, "transcribe: unknown option %s\nTry 'transcribe --help'.\n", name);
    return EX_USAGE;
}

/* The command line into *o (o->inputs: argc slots, caller frees). Returns -1 to go on, else
 * the exit code (help printed, or a usage error said). */
static int parse_args(int argc, char **argv, cli_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {   /* a help that cannot be written is an output error */
            usage(stdout);
            if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "transcribe: write error: %s\n", strerror(errno));
                return EX_OUTPUT;
            }
            return EX_OK;
        }
        if (!strcmp(a, "--")) { for (i++; i < argc; i++) o->inputs[o->n_inputs++] = argv[i]; break; }
        if (a[0] != '-' || !a[1]) { o->inputs[o->n_inputs++] = a; continue; }
        const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
        if (eq) {   /* --name=value (GNU style, as the other programs' getopt_long): a value that
                     * starts with '-' or is empty is taken as it stands */
            int r = long_eq_option(o, a, eq);
            if (r >= 0) return r;
            continue;
        }
        if (flag_option(o, a) == 0) continue;
        int r = v ? value_option(o, a, v) : 1;
        if (r == 0) { i++; continue; }
        if (r < 0) return bad(a, v);
        if (!v && value_option(o, a, "") != 1) { fprintf(stderr, "transcribe: %s needs a value\n", a); return EX_USAGE; }
        fprintf(stderr, "transcribe: unknown option %s\nTry 'transcribe --help'.\n", a);
        return EX_USAGE;
    }
    if (!o->model || o->n_inputs == 0) {
        fprintf(stderr, "transcribe: %s\n", !o->model ? "--model is required" : "no audio file given");
        usage(stderr);
        return EX_USAGE;
    }
    /* the cue shaping options, by openai-whisper's rules: each needs the words' times (a
     * usage error there too); a line count without a width, words per line with a width
     * are said (but passed on as there: its writer still starts a cue every N words of a
     * segment when a width is given without a count) */
    const sub_opts *so = &o->sub;
    const char *need = so->highlight_words ? "--highlight-words" : so->max_line_count ? "--max-line-count"
                     : so->max_line_width ? "--max-line-width" : so->max_words_per_line ? "--max-words-per-line" : NULL;
    if (need && !o->tp.word_timestamps) {
        fprintf(stderr, "transcribe: %s requires --word-timestamps\nTry 'transcribe --help'.\n", need);
        return EX_USAGE;
    }
    if (need && strcmp(o->fmt, "srt") && strcmp(o->fmt, "vtt") && strcmp(o->fmt, "all"))
        fprintf(stderr, "transcribe: warning: %s shapes srt and vtt cues only: no effect on %s\n", need, o->fmt);
    if (so->max_line_count && !so->max_line_width)
        fprintf(stderr, "transcribe: warning: --max-line-count has no effect without --max-line-width\n");
    if (so->max_words_per_line && so->max_line_width)
        fprintf(stderr, "transcribe: warning: --max-words-per-line does not limit a line's words with --max-line-width%s\n",
                so->max_line_count ? "" : " (a segment's cues still start every N words, as openai-whisper's)");
    if (!strcmp(o->fmt, "all") && !o->out_dir) {
        fprintf(stderr, "transcribe: --output-format all writes one file per format: it needs --output-dir\n"
                        "Try 'transcribe --help'.\n");
        return EX_USAGE;
    }
    /* "-" is stdin, read whole once: a second one would be empty; on a terminal it would
     * wait, silently, for audio typed at the keyboard (gzip refuses the same way) */
    int dashes = 0;
    for (int i = 0; i < o->n_inputs; i++) dashes += !strcmp(o->inputs[i], "-");
    if (dashes > 1) {
        fprintf(stderr, "transcribe: '-' (stdin) given %d times: stdin can be read once\n", dashes);
        return EX_USAGE;
    }
    if (dashes && isatty(0)) {
        fprintf(stderr, "transcribe: '-' reads the audio from stdin, which is a terminal: pipe it in "
                        "(cat a.wav | transcribe --model M -)\n");
        return EX_USAGE;
    }
    return -1;
}

/* ------------------------------------------------------------------ --output-dir */

/* The file an input's result goes to in --output-dir: its name without directories and
 * without its last extension, then the format's (whisper's --output_dir names). -1 when it
 * does not fit dst or would be empty or hidden-only. */
static int out_name(const char *path, const char *ext, char *dst, size_t n)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    if (!strcmp(path, "-")) b = "stdin";
    const char *dot = strrchr(b, '.');
    size_t len = dot && dot > b ? (size_t)(dot - b) : strlen(b);
    if (len == 0) return -1;
    int w = snprintf(dst, n, "%.*s.%s", (int)len, b, ext);
    return w > 0 && (size_t)w < n ? 0 : -1;
}

/* Two inputs writing the same file would lose one result: refused before any work (exit 2).
 * An input no name can be made from ("dir/") is left to its turn: it fails as an input, as
 * without --output-dir, and the others are transcribed. With "all" every format's name is
 * compared ("a.verbose.wav"'s NAME.json is "a.wav"'s verbose_json file). The names are
 * sorted, so many inputs cost n log n; the pair said is the one a scan of the inputs in
 * order meets first. */
typedef struct { char *name; int input; } out_entry;

static int out_entry_cmp(const void *a, const void *b)
{
    const out_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->input > y->input) - (x->input < y->input);
}

static int out_names_clash(const cli_opts *o)
{
    const char *const *fmts;
    const int nf = out_formats(o, &fmts);
    const size_t cap = (size_t)o->n_inputs * (size_t)nf;
    out_entry *e = calloc(cap ? cap : 1, sizeof *e);
    if (!e) { fprintf(stderr, "transcribe: out of memory\n"); return 1; }
    size_t n = 0;
    char a[4096];
    for (int i = 0; i < o->n_inputs; i++)
        for (int k = 0; k < nf; k++)
            if (!out_name(o->inputs[i], fmt_ext(fmts[k], nf > 1), a, sizeof a)) {
                if (!(e[n].name = strdup(a))) {
                    fprintf(stderr, "transcribe: out of memory\n");
                    while (n) free(e[--n].name);
                    free(e);
                    return 1;
                }
                e[n++].input = i;
            }
    qsort(e, n, sizeof *e, out_entry_cmp);
    size_t best = n;   /* the first of the chosen pair: e[best], e[best + 1] */
    for (size_t k = 0; k + 1 < n; k++) {
        if (strcmp(e[k].name, e[k + 1].name) || e[k].input == e[k + 1].input) continue;
        if (k > 0 && !strcmp(e[k - 1].name, e[k].name)) continue;   /* a group's first pair only */
        if (best == n || e[k + 1].input < e[best + 1].input ||
            (e[k + 1].input == e[best + 1].input && e[k].input < e[best].input))
            best = k;
    }
    if (best < n)
        fprintf(stderr, "transcribe: %s and %s would both be written to %s/%s\n",
                o->inputs[e[best].input], o->inputs[e[best + 1].input], o->out_dir, e[best].name);
    for (size_t k = 0; k < n; k++) free(e[k].name);
    free(e);
    return best < n;
}

/* What --output-dir can hold, checked once it is open and before any work (exit 6): a
 * directory this process may create files in, and names within its NAME_MAX — found only
 * after transcribing, an hour's input was lost to a read-only directory or a long name. */
static int out_dir_usable(const cli_opts *o)
{
    if (faccessat(o->out_fd, ".", W_OK | X_OK, AT_EACCESS) != 0) {
        fprintf(stderr, "transcribe: --output-dir %s: %s\n", o->out_dir, strerror(errno));
        return 0;
    }
    long max = fpathconf(o->out_fd, _PC_NAME_MAX);
    char a[4096];
    const char *const *fmts;
    const int nf = out_formats(o, &fmts);
    for (int i = 0; i < o->n_inputs; i++)
        for (int k = 0; k < nf; k++)
            if (!out_name(o->inputs[i], fmt_ext(fmts[k], nf > 1), a, sizeof a) && max > 0 && strlen(a) > (size_t)max) {
                fprintf(stderr, "transcribe: %s: its output name is %zu bytes, over the %ld that %s allows\n",
                        o->inputs[i], strlen(a), max, o->out_dir);
                return 0;
            }
    return 1;
}

/* errno values of a write into --output-dir that every later file would meet too */
static int dir_wide(int e)
{
    return e == ENOSPC || e == EDQUOT || e == EROFS || e == EACCES || e == EPERM || e == ENOENT ||
           e == ENOTDIR || e == EIO || e == ESTALE;
}

/* The result as out_dir/NAME.EXT: written to a hidden temporary file first and renamed into
 * place when whole, so a reader (or a failed run) never sees half a document and an older
 * file of that name stays until the new one is complete. The temporary name is short and
 * the same length whatever NAME is (".NAME.PID.tmp" had gone past NAME_MAX for a long NAME).
 * Returns 0, or the errno of the failure; *name_only = 1 when only this name is refused — the
 * rename of the written file onto it (another user's file in a sticky directory such as /tmp:
 * EPERM; a directory of that name), which had stopped the whole run as the directory's fault. */
static int write_one_file(const cli_opts *o, const sp_result *res, const char *path, const char *fmt, const char *ext,
                          int *name_only)
{
    *name_only = 0;
    static unsigned seq;
    char name[4096], tmp[64];
    if (out_name(path, ext, name, sizeof name)) {
        fprintf(stderr, "transcribe: %s: no output file name can be made from it\n", path);
        return EINVAL;
    }
    snprintf(tmp, sizeof tmp, ".transcribe.%ld.%u.tmp", (long)getpid(), seq++);
    int fd = openat(o->out_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) goto fail;
    if (write_result(f, fmt, res, o->tp.translate, path, 0, o->tp.word_timestamps, &o->sub)) {
        errno = ENOMEM;
        goto fail;
    }
    if (fflush(f) != 0 || ferror(f)) goto fail;
    int rc = fclose(f);
    f = NULL;
    fd = -1;
    if (rc != 0) goto fail;
    if (renameat(o->out_fd, tmp, o->out_fd, name) != 0) {
        *name_only = errno == EPERM || errno == EACCES || errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST ||
                     errno == EBUSY;
        goto fail;
    }
    return 0;
fail:;
    int e = errno;
    if (f) fclose(f);
    else if (fd >= 0) close(fd);
    unlinkat(o->out_fd, tmp, 0);
    fprintf(stderr, "transcribe: %s/%s: %s\n", o->out_dir, name, strerror(e));
    return e ? e : EIO;
}

/* Every format's file of one input (one, or "all"'s). Returns 0, or the errno of the first
 * failure; after a failure the directory's (dir_wide) the other formats are not tried, and
 * *dir_fault says so to the caller (a refused name alone is that file's failure). */
static int write_out_file(const cli_opts *o, const sp_result *res, const char *path, int *dir_fault)
{
    const char *const *fmts;
    const int nf = out_formats(o, &fmts);
    int first = 0;
    *dir_fault = 0;
    for (int k = 0; k < nf; k++) {
        int name_only;
        int e = write_one_file(o, res, path, fmts[k], fmt_ext(fmts[k], nf > 1), &name_only);
        if (e && !first) first = e;
        if (e && !name_only && dir_wide(e)) {   /* no file can be written */
            *dir_fault = 1;
            break;
        }
        if (e == EINVAL) break;   /* no name */
    }
    return first;
}

/* ------------------------------------------------------------------ input */

#define STDIN_MAX ((size_t)1 << 30)   /* bytes of "-": the daemon's file cap (1 GiB) */

/* "-": the whole of stdin into memory first, as a pipe cannot be sniffed and rewound (the
 * path "/dev/stdin" of a pipe is a FIFO, which the safe open refuses). */
static sp_status load_stdin(float **pcm, size_t *n, sp_audio_info *ai, char *err, size_t es)
{
    sp_dynbuf b;
    sp_dynbuf_init(&b, STDIN_MAX);
    char chunk[1 << 16];
    for (;;) {
        ssize_t r = read(0, chunk, sizeof chunk);
        if (r == 0) break;
        if (r < 0 && errno == EINTR && !g_cancel) continue;
        if (r < 0 || sp_dynbuf_add(&b, chunk, (size_t)r) != 0) {
            const sp_status st = r < 0 ? SP_ERR_IO : errno == EFBIG ? SP_ERR_TOO_LARGE : SP_ERR_NOMEM;
            snprintf(err, es, "%s", st == SP_ERR_IO ? strerror(errno)
                                    : st == SP_ERR_TOO_LARGE ? "more than 1 GiB of audio" : "out of memory");
            sp_dynbuf_free(&b);
            return st;
        }
    }
    sp_status st = sp_audio_load_mem(b.p ? b.p : "", b.len, 0, pcm, n, ai, err, es);
    sp_dynbuf_free(&b);
    return st;
}

/* One input file: load, transcribe, write. Returns EX_OK or the file's exit code; *stop set
 * when no later file can do better (cancelled, options invalid, stdout broken). */
static int transcribe_file(sp_context *ctx, cli_opts *o, const char *path, sp_device_info *di, int *stop)
{
    char err[512];
    float *pcm = NULL;
    size_t n = 0;
    sp_audio_info ai;
    sp_status st = !strcmp(path, "-") ? load_stdin(&pcm, &n, &ai, err, sizeof err)
                                      : sp_audio_load(path, 0, 0, &pcm, &n, &ai, err, sizeof err);
    if (st != SP_OK) {
        fprintf(stderr, "transcribe: %s: %s\n", path, err);
        return EX_INPUT;
    }
    if (ai.truncated) fprintf(stderr, "transcribe: %s: warning: the file ends early; transcribing what was there\n", path);
    prog_state ps = {path, 0};
    int show = o->want_progress >= 0 ? o->want_progress : (isatty(2) && n >= (size_t)60 * SP_AUDIO_RATE);
    o->tp.progress = show ? progress : NULL;
    o->tp.progress_user = &ps;
    sp_result *res = NULL;
    st = sp_transcribe(ctx, pcm, n, &o->tp, &res, err, sizeof err);
    if (strcmp(di->device, sp_context_device(ctx))) {   /* a GPU fault moved us to the CPU */
        sp_context_device_info(ctx, di);
        fprintf(stderr, "transcribe: %s\n", di->fallback);
    }
    if (ps.shown) fputs("\r\033[K", stderr);
    free(pcm);
    if (st == SP_ERR_CANCELLED) { *stop = 1; return EX_INTR; }
    if (st != SP_OK) {
        fprintf(stderr, "transcribe: %s: %s\n", path, err);
        *stop = st == SP_ERR_INVALID_ARG;   /* the same options fail for every file */
        return st == SP_ERR_INVALID_ARG ? EX_USAGE : EX_ENGINE;
    }
    if (o->out_fd >= 0) {
        int dir_fault;
        int wr = write_out_file(o, res, path, &dir_fault);
        sp_result_free(res);
        if (wr == 0) return EX_OK;
        *stop = dir_fault;   /* the directory's trouble (full, gone, read-only) is every file's;
                                 * a name's (a directory in its place) is this file's */
        return EX_OUTPUT;
    }
    int wr = write_result(stdout, o->fmt, res, o->tp.translate, path, o->n_inputs > 1, o->tp.word_timestamps, &o->sub);
    sp_result_free(res);
    if (wr) errno = ENOMEM;
    if (wr || fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "transcribe: write error: %s\n", strerror(errno));
        *stop = 1;
        return EX_OUTPUT;
    }
    return EX_OK;
}

/* oracle mode: --dump-logits given as an option — not as another option's value (an
 * --initial-prompt of that text) nor after "--" (a file of that name), which had switched
 * modes too. Options are told apart on a scratch copy of the settings. */
static int wants_oracle(int argc, char **argv)
{
    cli_opts scratch = {.tp = sp_transcribe_default_params(), .cp = sp_context_default_params(), .fmt = "txt"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) return 0;
        if (!strcmp(a, "--dump-logits")) return 1;
        if (a[0] != '-' || !a[1] || flag_option(&scratch, a) == 0) continue;
        const int oracle_value = !strcmp(a, "--mel") || !strcmp(a, "--prompt") || !strcmp(a, "--force");
        if (i + 1 < argc && (oracle_value || value_option(&scratch, a, argv[i + 1]) != 1)) i++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (wants_oracle(argc, argv)) return transcribe_oracle_main(argc, argv);

    cli_opts o = { .tp = sp_transcribe_default_params(), .cp = sp_context_default_params(),
                   .fmt = "txt", .want_progress = -1, .out_fd = -1 };
    if (!(o.inputs = calloc((size_t)argc, sizeof *o.inputs))) return EX_ENGINE;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0) { free(o.inputs); return rc; }
    if (o.out_dir && out_names_clash(&o)) { free(o.inputs); return EX_USAGE; }
    if (o.out_dir && (o.out_fd = open(o.out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "transcribe: --output-dir %s: %s\n", o.out_dir, strerror(errno));
        free(o.inputs);
        return EX_OUTPUT;
    }
    if (o.out_fd >= 0 && !out_dir_usable(&o)) {
        close(o.out_fd);
        free(o.inputs);
        return EX_OUTPUT;
    }

    char err[512];
    sp_status st;
    if (o.tp.vad_model) {   /* a model like the other: refused once, exit 3 (it had failed
                             * each input in turn as a transcription, exit 5) */
        sp_vad *v = NULL;
        if ((st = sp_vad_open(o.tp.vad_model, &v, err, sizeof err)) != SP_OK) {
            fprintf(stderr, "transcribe: --vad-model %s: %s\n", o.tp.vad_model, err);
            if (o.out_fd >= 0) close(o.out_fd);
            free(o.inputs);
            return EX_MODEL;
        }
        sp_vad_free(v);
    }
    sp_context *ctx = NULL;
    st = sp_context_open(o.model, &o.cp, &ctx, err, sizeof err);
    if (st != SP_OK) {
        fprintf(stderr, "transcribe: %s: %s\n", o.model, err);
        if (o.out_fd >= 0) close(o.out_fd);
        free(o.inputs);
        return st == SP_ERR_INVALID_ARG ? EX_USAGE : EX_MODEL;
    }
    sp_device_info di;
    sp_context_device_info(ctx, &di);
    if (di.fallback[0] && o.cp.device && strcmp(o.cp.device, "auto"))   /* a GPU was asked for */
        fprintf(stderr, "transcribe: device cpu: %s\n", di.fallback);
    sp_model_info mi;
    sp_context_info(ctx, &mi);
    if (!mi.multilingual) {   /* as openai's CLI: said, then English */
        if (sp_language_not_english(o.tp.language))
            fprintf(stderr, "transcribe: %s is an English-only model: --language %s ignored, transcribing English\n",
                    o.model, o.tp.language);
        if (o.tp.translate)
            fprintf(stderr, "transcribe: %s is an English-only model: --task translate ignored, transcribing\n", o.model);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    o.tp.cancel = &g_cancel;

    rc = EX_OK;
    int stop = 0;
    for (int k = 0; k < o.n_inputs && !g_cancel && !stop; k++) {
        int r = transcribe_file(ctx, &o, o.inputs[k], &di, &stop);
        /* the first input error is kept; an engine, usage or output error replaces it */
        if (r != EX_OK && (rc == EX_OK || r != EX_INPUT)) rc = r;
    }
    if (g_cancel) rc = EX_INTR;
    sp_context_free(ctx);
    if (o.out_fd >= 0) close(o.out_fd);
    free(o.inputs);
    return rc;
}
