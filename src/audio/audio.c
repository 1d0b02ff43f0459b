/* audio.c — sp_audio_* entry points: safe open (spool-reliability.md T12), container sniff
 * (T13), dispatch to the WAV fast path or FFmpeg, limits (T15) and the empty-audio
 * pre-filter. See docs/audio.md for the contracts. */
#include "audio/audio_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/* pseudo file systems whose "regular files" are generated on read (linux/magic.h) */
#define PROC_SUPER_MAGIC_ 0x9fa0
#define SYSFS_MAGIC_      0x62656572
#define DEBUGFS_MAGIC_    0x64626720
#define TRACEFS_MAGIC_    0x74726163
#define SECURITYFS_MAGIC_ 0x73636673
#define CGROUP_MAGIC_     0x27e0eb
#define CGROUP2_MAGIC_    0x63677270

#define ID3_MAX_TAGS 8            /* consecutive ID3v2 tags skipped in front of the audio */
#define ID3_MAX_PAD  65536        /* zero bytes skipped after them, in all */

/* Why a file is refused when it looks like none of the formats at all (compared by address:
 * a tag in front of such bytes still announces an MP3, see after_id3). */
static const char UNKNOWN_FORMAT[] = "not a WAV, FLAC, MP3, M4A/MP4, Ogg or WebM file";

/* The length in bytes of the MPEG audio layer III frame whose header is at h (4 bytes), or 0
 * when h holds none: 11-bit sync, version not reserved, layer III, bitrate index 1..14 (0 is
 * free format, whose length the header does not give), sample-rate index not reserved.
 * 144 * bitrate / rate + padding for MPEG-1, 72 * ... for MPEG-2 and 2.5 (ISO 11172-3
 * 2.4.2.3, ISO 13818-3 2.4.2.3); at most 1441 bytes. */
static size_t mp3_frame_len(const uint8_t *h)
{
    static const unsigned kbps[2][15] = {
        { 0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320 },   /* MPEG-1 */
        { 0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160 },       /* MPEG-2, 2.5 */
    };
    static const unsigned hz[3] = { 44100, 48000, 32000 };
    if (h[0] != 0xFF || (h[1] & 0xE0) != 0xE0) return 0;
    const int version = (h[1] >> 3) & 3, layer = (h[1] >> 1) & 3, br = h[2] >> 4, sr = (h[2] >> 2) & 3;
    if (version == 1 || layer != 1 || br == 0 || br == 15 || sr == 3) return 0;
    const int mpeg1 = version == 3;
    const unsigned long rate = hz[sr] >> (mpeg1 ? 0 : version == 2 ? 1 : 2);
    return (size_t)((mpeg1 ? 144000ul : 72000ul) * kbps[!mpeg1][br] / rate) + ((h[2] >> 1) & 1);
}

/* The offset of the first layer III frame in p[0..n) that starts before AUD_MP3_SCAN_BYTES and
 * is followed, exactly one frame length later, by a header of the same stream (version, layer,
 * sample rate), or -1. A file that does not start on a frame header (leading zeros or junk,
 * a piece split off an MP3 with split or tail -c, a damaged first sync word) is still an
 * MP3, and FFmpeg decodes it; two headers in a row keep the bytes of other files from being
 * taken for one by chance (one header: 1 in ~16 000 offsets of random data; two: 1 in
 * ~10^9). */
static int64_t mp3_resync(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < AUD_MP3_SCAN_BYTES && i + 4 <= n; i++) {
        const size_t len = p[i] == 0xFF ? mp3_frame_len(p + i) : 0;
        if (!len || i + len + 4 > n) continue;
        const uint8_t *q = p + i + len;
        if (mp3_frame_len(q) && (q[1] & 0xFE) == (p[i + 1] & 0xFE) && (q[2] & 0x0C) == (p[i + 2] & 0x0C))
            return (int64_t)i;
    }
    return -1;
}

const char *aud_sniff(const uint8_t *p, size_t n, const char **why, int64_t *at)
{
    const char *dummy;
    int64_t at_dummy;
    if (!why) why = &dummy;
    if (!at) at = &at_dummy;
    *why = NULL;
    *at = 0;
    if (n >= 12 && (!memcmp(p, "RIFF", 4) || !memcmp(p, "RF64", 4)) && !memcmp(p + 8, "WAVE", 4))
        return "wav";
    if (n >= 4 && !memcmp(p, "RIFX", 4)) { *why = "big-endian RIFX WAV is not supported"; return NULL; }
    if (n >= 4 && !memcmp(p, "fLaC", 4)) return "flac";
    if (n >= 4 && !memcmp(p, "OggS", 4)) return "ogg";
    if (n >= 4 && p[0] == 0x1A && p[1] == 0x45 && p[2] == 0xDF && p[3] == 0xA3) return "webm";
    if (n >= 8 && (!memcmp(p + 4, "ftyp", 4) || !memcmp(p + 4, "moov", 4) ||
                   !memcmp(p + 4, "mdat", 4) || !memcmp(p + 4, "free", 4) ||
                   !memcmp(p + 4, "wide", 4) || !memcmp(p + 4, "skip", 4)))
        return "mp4";
    if (n >= 10 && !memcmp(p, "ID3", 3) && p[3] < 0xff && p[4] < 0xff) return "mp3";
    /* An MPEG audio frame header: 11-bit sync, version not reserved, layer III, bitrate
     * index not "bad", sample-rate index not reserved (ISO 11172-3 2.4.2.3). */
    if (n >= 4 && p[0] == 0xFF && (p[1] & 0xE0) == 0xE0) {
        int version = (p[1] >> 3) & 3, layer = (p[1] >> 1) & 3;
        int br = p[2] >> 4, sr = (p[2] >> 2) & 3;
        if (layer == 0 && version != 1) { *why = "raw AAC (ADTS) is not supported; use M4A"; return NULL; }
        if (version != 1 && layer == 1 && br != 15 && sr != 3) return "mp3";
        if (layer == 2 || layer == 3) { *why = "MPEG layer I/II audio is not supported"; return NULL; }
    }
    if (n >= 4 && !memcmp(p, "#EXTM3U", n < 7 ? n : 7)) { *why = "playlists are refused"; return NULL; }
    /* Last, so that every format above is told exactly as before: MP3 frames further in. */
    const int64_t off = mp3_resync(p, n);
    if (off >= 0) { *at = off; return "mp3"; }
    *why = UNKNOWN_FORMAT;
    return NULL;
}

const char *sp_audio_sniff(const void *data, size_t size)
{
    return data ? aud_sniff(data, size, NULL, NULL) : NULL;
}

/* The length of the ID3v2 tag whose header is at h (n bytes there), or 0 when h holds no
 * valid one: "ID3", major version 2..4, a revision byte that is not 0xff, four syncsafe
 * size bytes (each < 0x80), plus 10 for a footer (flag 0x10) — id3v2.4.0-structure §3.1. */
static int64_t id3_len(const uint8_t *h, size_t n)
{
    if (n < 10 || memcmp(h, "ID3", 3) || h[3] < 2 || h[3] > 4 || h[4] == 0xff || ((h[6] | h[7] | h[8] | h[9]) & 0x80))
        return 0;
    int64_t len = 10 + ((int64_t)h[6] << 21 | (int64_t)h[7] << 14 | (int64_t)h[8] << 7 | h[9]);
    return h[5] & 0x10 ? len + 10 : len;
}

/* Where what follows the ID3v2 tags at the start of s begins: consecutive valid tags (up to
 * ID3_MAX_TAGS: a tagger that adds a tag rather than rewriting one leaves several) and the
 * zero bytes after them (padding written outside the tag's size; up to ID3_MAX_PAD in all).
 * Each step moves past a tag or at least one zero byte, or stops. */
static int64_t id3_end(aud_src *s)
{
    uint8_t b[4096];
    int64_t off = 0, pad = 0;
    for (int tags = 0;;) {
        s->pos = off;
        ssize_t r = aud_src_read(s, b, sizeof b);
        if (r <= 0) break;
        size_t z = 0;
        while (z < (size_t)r && !b[z] && pad + (int64_t)z < ID3_MAX_PAD) z++;
        if (z) {
            off += (int64_t)z;
            pad += (int64_t)z;
            if (pad >= ID3_MAX_PAD) break;
            continue;
        }
        const int64_t len = tags < ID3_MAX_TAGS ? id3_len(b, (size_t)r) : 0;
        if (!len) break;
        off += len;
        tags++;
    }
    s->pos = 0;
    return off;
}

/* An ID3v2 tag is not only an MP3's: taggers put it in front of FLAC, WAV and Ogg files
 * too (FFmpeg and libFLAC skip one). The container is what follows the tags and their
 * padding, when that is one we take (*start: where it begins, for the caller to shift the
 * source to, so its decoder sees the file as it would be without them; several tags or
 * zero padding had left the MP3 demuxer on a FLAC file: "no audio could be decoded"); else
 * the MP3 the tag announced (*start 0: FFmpeg's MP3 demuxer reads the tags and skips to the
 * first frame itself). Only a valid tag header counts: a bare MPEG frame header is sniffed
 * as mp3 too, and its bytes 6-9 (side info, or past the end of a 4-byte file: read
 * uninitialised) had been taken for a tag size, sending an MP3 whose bytes there happened
 * to say fLaC to the FLAC demuxer (0 samples). What follows the tags and is refused for
 * what it is (raw ADTS AAC, MPEG layer I/II, RIFX) is refused as it is without a tag
 * (NULL, *why): the reason had been dropped (ADTS: "mp3 file: no audio could be decoded"),
 * and a tagged MP2 had gone to the MP3 decoder while a bare one was refused. */
static const char *after_id3(aud_src *s, const uint8_t *h, size_t n, int64_t *start, const char **why)
{
    *start = 0;
    if (!id3_len(h, n)) return "mp3";
    const int64_t off = id3_end(s);
    uint8_t next[64];
    s->pos = off;
    ssize_t got = aud_src_read(s, next, sizeof next);
    s->pos = 0;
    const char *inner_why = NULL;
    const char *c = got > 0 ? aud_sniff(next, (size_t)got, &inner_why, NULL) : NULL;
    if (!c && inner_why && inner_why != UNKNOWN_FORMAT) { *why = inner_why; return NULL; }
    if (!c || !strcmp(c, "mp3") || !strcmp(c, "mp4")) return "mp3";   /* an MP4 box after a tag: not a real case */
    *start = off;
    return c;
}

/* The container of the source, from its first SP_AUDIO_SNIFF_BYTES (*start: where it
 * begins, when tags or junk come first), or NULL with *why; SP_OK, or an I/O error or an
 * empty file in err. */
static sp_status sniff_src(aud_src *s, const char **container, int64_t *start, const char **why, char *err,
                           size_t es)
{
    *container = NULL;
    *start = 0;
    uint8_t *head = malloc(SP_AUDIO_SNIFF_BYTES);
    if (!head) { aud_seterr(err, es, "out of memory"); return SP_ERR_NOMEM; }
    sp_status st = SP_OK;
    s->pos = 0;
    ssize_t got = aud_src_read(s, head, SP_AUDIO_SNIFF_BYTES);
    s->pos = 0;
    if (got < 0) {
        aud_seterr(err, es, "read error: %s", strerror(s->io_errno));
        st = SP_ERR_IO;
        goto cleanup;
    }
    if (got == 0) {
        aud_seterr(err, es, "empty file (0 bytes)");
        st = SP_ERR_AUDIO_FORMAT;
        goto cleanup;
    }
    int64_t at = 0;
    *container = aud_sniff(head, (size_t)got, why, &at);
    /* MP3 frames found further in: the decoder starts on the first of them, as on a clean
     * file (FFmpeg's demuxer would resync too, but only within what it scans itself). */
    if (*container && at > 0) *start = at;
    else if (*container && !strcmp(*container, "mp3")) *container = after_id3(s, head, (size_t)got, start, why);
cleanup:
    free(head);
    return st;
}

sp_status aud_load_src(aud_src *s, double max_seconds, int force_ffmpeg, float **pcm,
                       size_t *n_samples, sp_audio_info *info, char *err, size_t es)
{
    aud_sink *k = NULL;
    const char *why = NULL, *container = NULL;
    int64_t start = 0;
    sp_status st = sniff_src(s, &container, &start, &why, err, es);
    if (st != SP_OK) return st;
    /* The WAV after a tag goes to our reader too (it had gone to FFmpeg, whose demuxer
     * decoded a data length 0 followed by an id3 chunk as noise and flagged no cut file). */
    if (start > 0) aud_src_skip(s, start);
    if (!container) {
        aud_seterr(err, es, "unsupported audio: %s", why ? why : "unknown format");
        return SP_ERR_AUDIO_FORMAT;
    }
    double cap = max_seconds > 0 && max_seconds < SP_AUDIO_MAX_SECONDS ? max_seconds
                                                                       : SP_AUDIO_MAX_SECONDS;
    k = aud_sink_new((size_t)(cap * SP_AUDIO_RATE));
    if (!k) { aud_seterr(err, es, "out of memory"); return SP_ERR_NOMEM; }
    if (!strcmp(container, "wav") && !force_ffmpeg)
        st = aud_wav_decode(s, k, info, err, es);
    else
#ifdef SP_NO_FFMPEG   /* see audio_sink.c */
    {
        aud_seterr(err, es, "%s audio needs FFmpeg, and this build has none (WAV only)", container);
        st = SP_ERR_UNSUPPORTED;
    }
#else
        st = aud_ffmpeg_decode(s, container, k, info, err, es);
#endif
    if (st == SP_OK) st = aud_sink_finish(k, pcm, n_samples, err, es);
    aud_sink_free(k);
    if (st == SP_OK && info) info->duration = (double)*n_samples / SP_AUDIO_RATE;
    return st;
}

static void reset_out(float **pcm, size_t *n, sp_audio_info *info)
{
    if (pcm) *pcm = NULL;
    if (n) *n = 0;
    if (info) memset(info, 0, sizeof *info);
}

static sp_status finish_out(sp_status st, float **pcm, size_t *n, sp_audio_info *info)
{
    if (st != SP_OK) {
        free(*pcm);
        reset_out(pcm, n, info);
    }
    return st;
}

/* Regular file on a real file system, not too big (T12). */
static sp_status check_fd(int fd, const char *name, unsigned flags, char *err, size_t es)
{
    struct stat st;
    struct statfs sf;
    if (fstat(fd, &st) != 0) {
        aud_seterr(err, es, "%s: fstat failed: %s", name, strerror(errno));
        return SP_ERR_IO;
    }
    if (!S_ISREG(st.st_mode)) {
        const char *what = S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO"
                         : S_ISCHR(st.st_mode) ? "a character device"
                         : S_ISBLK(st.st_mode) ? "a block device"
                         : S_ISSOCK(st.st_mode) ? "a socket" : "not a regular file";
        aud_seterr(err, es, "%s is %s (only regular files are read)", name, what);
        return SP_ERR_AUDIO_UNSAFE;
    }
    if (fstatfs(fd, &sf) == 0) {
        long t = (long)sf.f_type;
        if (t == PROC_SUPER_MAGIC_ || t == SYSFS_MAGIC_ || t == DEBUGFS_MAGIC_ ||
            t == TRACEFS_MAGIC_ || t == SECURITYFS_MAGIC_ || t == CGROUP_MAGIC_ ||
            t == CGROUP2_MAGIC_) {
            aud_seterr(err, es, "%s is on /proc, /sys or another pseudo file system (refused)",
                       name);
            return SP_ERR_AUDIO_UNSAFE;
        }
    }
    if ((flags & SP_AUDIO_OWNER_ONLY) && st.st_uid != geteuid() && st.st_uid != 0) {
        aud_seterr(err, es, "%s is owned by uid %u, not by us (refused)", name,
                   (unsigned)st.st_uid);
        return SP_ERR_AUDIO_UNSAFE;
    }
    if ((long long)st.st_size > SP_AUDIO_MAX_FILE_BYTES) {
        aud_seterr(err, es, "%s is %lld bytes, over the %lld-byte limit", name,
                   (long long)st.st_size, (long long)SP_AUDIO_MAX_FILE_BYTES);
        return SP_ERR_TOO_LARGE;
    }
    return SP_OK;
}

sp_status sp_audio_load(const char *path, unsigned flags, double max_seconds, float **pcm,
                        size_t *n_samples, sp_audio_info *info, char *err, size_t es)
{
    reset_out(pcm, n_samples, info);
    if (!path || !pcm || !n_samples) {
        aud_seterr(err, es, "sp_audio_load: NULL argument");
        return SP_ERR_INVALID_ARG;
    }
    if (!*path) { aud_seterr(err, es, "empty audio path"); return SP_ERR_INVALID_ARG; }
    if (strlen(path) >= PATH_MAX) { aud_seterr(err, es, "audio path too long"); return SP_ERR_INVALID_ARG; }
    if ((flags & SP_AUDIO_ABSOLUTE) && path[0] != '/') {
        aud_seterr(err, es, "relative audio path refused: %s", path);
        return SP_ERR_AUDIO_UNSAFE;
    }
    /* O_NONBLOCK: opening a FIFO without a writer (or a tty, a device) must not hang us;
     * O_NOCTTY: a tty must not become our controlling terminal. */
    int oflags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
    if (flags & SP_AUDIO_NOFOLLOW) oflags |= O_NOFOLLOW;
    int fd = open(path, oflags);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP && (flags & SP_AUDIO_NOFOLLOW)) {
            aud_seterr(err, es, "%s is a symbolic link (refused)", path);
            return SP_ERR_AUDIO_UNSAFE;
        }
        if (e == ENXIO || e == ENODEV) {
            aud_seterr(err, es, "%s is a socket or device (only regular files are read)", path);
            return SP_ERR_AUDIO_UNSAFE;
        }
        aud_seterr(err, es, "cannot open %s: %s", path, strerror(e));
        return e == ENAMETOOLONG ? SP_ERR_INVALID_ARG : SP_ERR_IO;
    }
    sp_status st = check_fd(fd, path, flags, err, es);
    if (st == SP_OK) {
        aud_src s = { .fd = fd };
        st = aud_load_src(&s, max_seconds, 0, pcm, n_samples, info, err, es);
    }
    close(fd);
    return finish_out(st, pcm, n_samples, info);
}

sp_status sp_audio_load_fd(int fd, double max_seconds, float **pcm, size_t *n_samples,
                           sp_audio_info *info, char *err, size_t es)
{
    reset_out(pcm, n_samples, info);
    if (fd < 0 || !pcm || !n_samples) {
        aud_seterr(err, es, "sp_audio_load_fd: bad argument");
        return SP_ERR_INVALID_ARG;
    }
    sp_status st = check_fd(fd, "audio fd", 0, err, es);
    if (st != SP_OK) return st;
    off_t base = lseek(fd, 0, SEEK_CUR);
    aud_src s = { .fd = fd, .base = base > 0 ? (int64_t)base : 0 };
    st = aud_load_src(&s, max_seconds, 0, pcm, n_samples, info, err, es);
    return finish_out(st, pcm, n_samples, info);
}

sp_status sp_audio_load_mem(const void *data, size_t size, double max_seconds, float **pcm,
                            size_t *n_samples, sp_audio_info *info, char *err, size_t es)
{
    reset_out(pcm, n_samples, info);
    if ((!data && size) || !pcm || !n_samples) {
        aud_seterr(err, es, "sp_audio_load_mem: NULL argument");
        return SP_ERR_INVALID_ARG;
    }
    aud_src s = { .fd = -1, .mem = data, .mem_size = size };
    sp_status st = aud_load_src(&s, max_seconds, 0, pcm, n_samples, info, err, es);
    return finish_out(st, pcm, n_samples, info);
}

/* the mean square of pcm[0..n) */
static double mean_square(const float *pcm, size_t n)
{
    double total = 0.0;
    for (size_t i = 0; i < n; i += 4096) {
        size_t m = n - i < 4096 ? n - i : 4096;
        float acc = 0.0f;                 /* float blocks vectorise; double across blocks */
        for (size_t j = 0; j < m; j++) acc += pcm[i + j] * pcm[i + j];
        total += acc;
    }
    return n ? total / (double)n : 0.0;
}

/* Below this RMS a stretch is silence whatever it holds: digital silence, dither (a 16-bit
 * LSB is 3e-5), where Whisper invents "Thank you." or "You". */
#define SILENT_RMS 0.00005
/* Below this RMS (the original daemon's pre-filter, whisper-reference.md) a stretch is
 * silence unless the energy VAD finds speech in it. The VAD's level, flatness and peakiness
 * tests tell quiet speech (a far microphone, a low input gain) from the faint hiss that the
 * models also read as "You" or ". . ." (10 s of white noise at RMS 0.00015-0.00045: tiny.en
 * and base both did); the RMS alone had thrown the speech away too: jfk.wav at gain 0.003
 * (RMS 0.00043, peaks at -46 dBFS) gave no text, where faster-whisper transcribes it. */
#define QUIET_RMS 0.0005
#define QUIET_RUN 2   /* 32 ms VAD frames: 64 ms */

int sp_audio_is_silent(const float *pcm, size_t n)
{
    if (!pcm || n == 0) return 1;
    const double ms = mean_square(pcm, n);
    if (ms >= QUIET_RMS * QUIET_RMS) return 0;
    if (ms < SILENT_RMS * SILENT_RMS) return 1;
    sp_vad *v = NULL;
    char err[128];
    if (sp_vad_open(NULL, &v, err, sizeof err) != SP_OK) return 0;   /* cannot tell: Whisper decides */
    float *p = NULL;
    int np = 0, run = 0, longest = 0;
    const int ok = sp_vad_probs(v, pcm, n, &p, &np) == SP_OK;
    for (int i = 0; ok && i < np; i++) {
        run = p[i] >= 0.5f ? run + 1 : 0;
        if (run > longest) longest = run;
    }
    free(p);
    sp_vad_free(v);
    /* voiced for QUIET_RUN frames on end, as a vowel is (quiet speech: runs of 2-3 frames at
     * least, the repository's sentence and an espeak "yes" at RMS 0.00016-0.00044; jfk.wav 8).
     * Knocks and steps (60 ms damped bursts on faint noise), which the VAD's segmenter pads
     * and joins into "speech" and the models read as ". . ." or "... ... ...", are voiced one
     * frame at a time (review of 876762d: tiny.en and base both did, RMS 0.0002-0.00045). */
    return ok && longest < QUIET_RUN;
}

int sp_audio_is_empty(const float *pcm, size_t n)
{
    /* The original daemon's rule (whisper-reference.md): < 150 ms or silent — judged per
     * 30 s stretch, so a clip (up to one window, what the original served) is judged as it
     * was, while in a long recording quiet speech is not averaged away by the silence around
     * it (jfk at -28 dBFS an hour into 2 h of silence had given no text at all). */
    const size_t win = (size_t)SP_AUDIO_RATE * 30;
    if (!pcm || n < (size_t)SP_AUDIO_RATE * 150 / 1000) return 1;
    for (size_t i = 0; i < n; i += win)
        if (!sp_audio_is_silent(pcm + i, n - i < win ? n - i : win)) return 0;
    return 1;
}
