/* audio_wav.c — the WAV fast path: RIFF/RF64 chunk walk, fmt validation, streaming PCM
 * decode into the shared sink. Follows Microsoft's RIFF/WAVE and WAVEFORMATEXTENSIBLE
 * definitions (mmreg.h, ksmedia.h) and EBU Tech 3306 for RF64's ds64 chunk. Reads through
 * aud_src only (pread on our fd), never trusts a size field for an allocation, and decodes
 * what is there when the file is shorter than it claims.
 *
 * Policy (docs/audio.md): PCM 8/16/24/32-bit, IEEE float 32/64, A-law, µ-law, directly or
 * inside WAVE_FORMAT_EXTENSIBLE; ADPCM and compressed payloads (MP3-in-WAV, GSM, ...) are
 * refused as unsupported; RIFX (big-endian) is refused. */
#include "audio/audio_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAVE_FORMAT_PCM        0x0001
#define WAVE_FORMAT_ADPCM      0x0002
#define WAVE_FORMAT_IEEE_FLOAT 0x0003
#define WAVE_FORMAT_ALAW       0x0006
#define WAVE_FORMAT_MULAW      0x0007
#define WAVE_FORMAT_IMA_ADPCM  0x0011
#define WAVE_FORMAT_EXTENSIBLE 0xFFFE

/* arecord writes these data lengths until it finishes (aplay.c begin_wave); we also treat
 * any length beyond the end of the file as "up to the current end", and 0 — a header never
 * filled in by a streaming writer — as FFmpeg's demuxer does: up to the end (it had decoded
 * an 11 s file with sizes 0 to nothing, without a word). */
#define WAV_PLACEHOLDER_A 0x7fffff00u
#define WAV_PLACEHOLDER_B 0xffffffffu
#define WAV_MAX_CHUNKS 4096
#define WAV_MAX_META_CHUNKS 64   /* chunks after an empty data chunk (it had been 16) */
#define WAV_MAX_TAIL_ZEROS 8     /* zero bytes after the last chunk, to the end of the file */

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

typedef struct {
    aud_fmt fmt;
    const char *codec;
    int channels, rate, block_align;
} wav_fmt;

/* KSDATAFORMAT_SUBTYPE_* GUIDs share these 14 bytes after the 2-byte format tag. */
static const uint8_t ks_guid_tail[14] = { 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00,
                                          0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71 };

static sp_status parse_fmt(const uint8_t *f, uint32_t size, wav_fmt *w, char *err, size_t es)
{
    if (size < 16) {
        aud_seterr(err, es, "WAV fmt chunk too small (%u bytes, need 16)", size);
        return SP_ERR_AUDIO_FORMAT;
    }
    unsigned tag = le16(f), ch = le16(f + 2), bits = le16(f + 14), align = le16(f + 12);
    uint32_t rate = le32(f + 4);
    if (tag == WAVE_FORMAT_EXTENSIBLE) {
        if (size < 40 || le16(f + 16) < 22) {
            aud_seterr(err, es, "WAVE_FORMAT_EXTENSIBLE fmt chunk too small (%u bytes)", size);
            return SP_ERR_AUDIO_FORMAT;
        }
        unsigned valid = le16(f + 18);
        if (memcmp(f + 26, ks_guid_tail, sizeof ks_guid_tail) != 0) {
            aud_seterr(err, es, "WAVE_FORMAT_EXTENSIBLE with an unknown sub-format GUID");
            return SP_ERR_UNSUPPORTED;
        }
        if (valid > bits) {
            aud_seterr(err, es, "WAV valid bits %u exceed the container's %u", valid, bits);
            return SP_ERR_AUDIO_FORMAT;
        }
        tag = le16(f + 24);
        /* samples are left-justified in their container, so decoding the container
         * (e.g. 24 valid bits in 32) gives the right level without a shift */
    }
    if (ch < 1 || ch > AUD_MAX_CHANNELS) {
        aud_seterr(err, es, "WAV has %u channels (1..%d supported)", ch, AUD_MAX_CHANNELS);
        return SP_ERR_AUDIO_FORMAT;
    }
    if (rate < AUD_MIN_RATE || rate > AUD_MAX_RATE) {
        aud_seterr(err, es, "WAV sample rate %u Hz out of range (%d..%d)", rate, AUD_MIN_RATE,
                   AUD_MAX_RATE);
        return SP_ERR_AUDIO_FORMAT;
    }
    unsigned bytes = (bits + 7) / 8;
    switch (tag) {
    case WAVE_FORMAT_PCM:
        if (bits < 1 || bits > 32) goto bad_bits;
        w->fmt = bytes == 1 ? AUD_U8 : bytes == 2 ? AUD_S16 : bytes == 3 ? AUD_S24 : AUD_S32;
        w->codec = bytes == 1 ? "pcm_u8" : bytes == 2 ? "pcm_s16le"
                 : bytes == 3 ? "pcm_s24le" : "pcm_s32le";
        break;
    case WAVE_FORMAT_IEEE_FLOAT:
        if (bits != 32 && bits != 64) goto bad_bits;
        w->fmt = bits == 32 ? AUD_F32 : AUD_F64;
        w->codec = bits == 32 ? "pcm_f32le" : "pcm_f64le";
        break;
    case WAVE_FORMAT_ALAW:
    case WAVE_FORMAT_MULAW:
        if (bits != 8) goto bad_bits;
        w->fmt = tag == WAVE_FORMAT_ALAW ? AUD_ALAW : AUD_ULAW;
        w->codec = tag == WAVE_FORMAT_ALAW ? "pcm_alaw" : "pcm_mulaw";
        break;
    case WAVE_FORMAT_ADPCM:
    case WAVE_FORMAT_IMA_ADPCM:
        aud_seterr(err, es, "WAV ADPCM (format 0x%04x) is not supported; convert to PCM", tag);
        return SP_ERR_UNSUPPORTED;
    default:
        aud_seterr(err, es, "WAV format tag 0x%04x is not supported (PCM, float, A-law, "
                   "mu-law only)", tag);
        return SP_ERR_UNSUPPORTED;
    }
    if (align != ch * bytes) {
        aud_seterr(err, es, "WAV block_align %u does not match %u channels x %u bits", align,
                   ch, bits);
        return SP_ERR_AUDIO_FORMAT;
    }
    w->channels = (int)ch;
    w->rate = (int)rate;
    w->block_align = (int)align;
    return SP_OK;
bad_bits:
    aud_seterr(err, es, "WAV format 0x%04x with %u bits per sample is not supported", tag, bits);
    return SP_ERR_AUDIO_FORMAT;
}

/* Where the samples are: the chunk walk fills *w and the data chunk's offset and declared
 * length. */
typedef struct {
    int64_t off;
    uint64_t len;
    int64_t riff_end;   /* 8 + the RIFF (or ds64) size; -1 for a placeholder (0, 0xFFFFFFFF) */
} wav_data;

static sp_status read_error(aud_src *s, char *err, size_t es)
{
    aud_seterr(err, es, "read error: %s", strerror(s->io_errno));
    return SP_ERR_IO;
}

/* Phase 1: the RIFF/RF64 header and the chunk walk up to fmt and data (either order). */
static sp_status walk_chunks(aud_src *s, wav_fmt *w, wav_data *d, char *err, size_t es)
{
    uint8_t h[12];
    int have_fmt = 0;
    uint64_t ds64_data = 0;
    d->off = -1;
    d->len = 0;
    s->pos = 0;
    if (aud_src_read(s, h, 12) != 12 || (memcmp(h, "RIFF", 4) && memcmp(h, "RF64", 4)) ||
        memcmp(h + 8, "WAVE", 4)) {
        aud_seterr(err, es, "not a RIFF/WAVE file");
        return SP_ERR_AUDIO_FORMAT;
    }
    const int rf64 = !memcmp(h, "RF64", 4);
    const uint32_t riff = le32(h + 4);
    d->riff_end = rf64 || riff == 0 || riff == 0xffffffffu ? -1 : 8 + (int64_t)riff;
    /* The RIFF size is ignored for the walk: writers lie (arecord, streams), the file's end is
     * the truth. It only helps tell metadata after an empty data chunk (chunks_to_end). */
    int64_t pos = 12;
    for (int i = 0; i < WAV_MAX_CHUNKS; i++) {
        s->pos = pos;
        ssize_t r = aud_src_read(s, h, 8);
        if (r < 0) return read_error(s, err, es);
        if (r < 8) break;                               /* end of chunks */
        uint32_t size = le32(h + 4);
        int64_t body = pos + 8;
        if (!memcmp(h, "fmt ", 4) && !have_fmt) {
            uint8_t f[40] = { 0 };
            uint32_t want = size < sizeof f ? size : (uint32_t)sizeof f;
            r = aud_src_read(s, f, want);
            if (r < 0) return read_error(s, err, es);
            if ((uint32_t)r < want) {
                aud_seterr(err, es, "WAV fmt chunk cut short (file truncated)");
                return SP_ERR_AUDIO_FORMAT;
            }
            sp_status st = parse_fmt(f, size, w, err, es);
            if (st != SP_OK) return st;
            have_fmt = 1;
            if (d->off >= 0) break;                     /* data came before fmt */
        } else if (!memcmp(h, "ds64", 4) && rf64 && size >= 24) {
            uint8_t q[24];
            if (aud_src_read(s, q, 24) == 24) {
                ds64_data = le64(q + 8);
                if (le64(q) > 0 && le64(q) < (uint64_t)INT64_MAX - 8) d->riff_end = 8 + (int64_t)le64(q);
            }
        } else if (!memcmp(h, "data", 4) && d->off < 0) {
            d->off = body;
            d->len = size;
            if (rf64 && size == 0xffffffffu && ds64_data) d->len = ds64_data;
            if (have_fmt) break;        /* don't walk past a data chunk still being written */
        }
        /* chunks are padded to even sizes (RIFF spec); a huge size simply ends the walk */
        pos = body + (int64_t)size + (size & 1);
    }
    if (!have_fmt) {
        aud_seterr(err, es, "WAV without a fmt chunk");
        return SP_ERR_AUDIO_FORMAT;
    }
    if (d->off < 0) {
        aud_seterr(err, es, "WAV without a data chunk");
        return SP_ERR_AUDIO_FORMAT;
    }
    return SP_OK;
}

/* Phase 3: the samples, block by block, downmixed into the sink. to_end: read until EOF, so
 * a file still being written decodes to its current end. */
static sp_status stream_data(aud_src *s, aud_sink *k, const wav_fmt *w, const wav_data *d, int to_end,
                             sp_audio_info *info, char *err, size_t es)
{
    size_t nf = 16384 / (size_t)w->block_align + 1;     /* frames per block */
    size_t bsz = nf * (size_t)w->block_align;
    uint8_t *buf = malloc(bsz);
    float *mono = malloc(nf * sizeof *mono);
    sp_status st = SP_OK;
    if (!buf || !mono) {
        aud_seterr(err, es, "out of memory");
        st = SP_ERR_NOMEM;
        goto done;
    }
    uint64_t left = to_end ? UINT64_MAX : d->len;
    s->pos = d->off;
    while (left > 0) {
        size_t want = left < bsz ? (size_t)left : bsz;
        ssize_t r = aud_src_read(s, buf, want);
        if (r < 0) { st = read_error(s, err, es); goto done; }
        size_t frames = (size_t)r / (size_t)w->block_align;
        if (frames) {
            const uint8_t *planes[1] = { buf };
            aud_downmix(w->fmt, planes, 0, w->channels, frames, mono);
            if ((st = aud_sink_push(k, mono, frames, err, es)) != SP_OK) goto done;
        }
        if ((size_t)r < want) {
            /* shorter than declared, or a partial frame at the end: decode what is there */
            if (info && (!to_end || (size_t)r % (size_t)w->block_align)) info->truncated = 1;
            break;
        }
        if (!to_end) left -= (uint64_t)r;
    }
done:
    free(buf);
    free(mono);
    return st;
}

/* Whether n bytes at off are all zero. */
static int zeros_at(aud_src *s, int64_t off, size_t n)
{
    uint8_t b[WAV_MAX_TAIL_ZEROS];
    s->pos = off;
    if (n > sizeof b || aud_src_read(s, b, n) != (ssize_t)n) return 0;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return 0;
    return 1;
}

/* Whether what follows offset off is a run of well-formed chunks (printable ids, sizes) of up
 * to WAV_MAX_META_CHUNKS that ends at the end of the file (exactly, short of a last pad byte,
 * or followed by at most WAV_MAX_TAIL_ZEROS zero bytes: writers pad files) or at the end the
 * RIFF size gives (riff_end; what a tool appended after it is not ours): then a data chunk of
 * length 0 before it is really empty — a header-only WAV with metadata after it — rather
 * than a header a streaming writer never filled in, whose sample bytes would not parse so.
 * (A 16 KB id3 chunk and 1 or 2 NUL bytes, 17 chunks, or junk after the RIFF end had been
 * decoded as 0.51 s of full-scale noise.) At least one chunk: a streaming writer's header
 * may give a RIFF size that ends where the samples begin. */
static int chunks_to_end(aud_src *s, int64_t off, int64_t fsize, int64_t riff_end)
{
    for (int i = 0; i < WAV_MAX_META_CHUNKS && off + 8 <= fsize; i++) {
        uint8_t h[8];
        s->pos = off;
        if (aud_src_read(s, h, 8) != 8) return 0;
        for (int c = 0; c < 4; c++)
            if (h[c] < 0x20 || h[c] > 0x7e) return 0;
        const uint32_t len = le32(h + 4);
        off += 8 + (int64_t)len + (len & 1);
        if (off == fsize || (off == fsize + 1 && (len & 1))) return 1;   /* a last pad byte may be missing */
        if (off == riff_end) return 1;
        if (off < fsize && fsize - off <= WAV_MAX_TAIL_ZEROS && zeros_at(s, off, (size_t)(fsize - off))) return 1;
    }
    return 0;
}

sp_status aud_wav_decode(aud_src *s, aud_sink *k, sp_audio_info *info, char *err, size_t es)
{
    wav_fmt w = { 0 };
    wav_data d;
    sp_status st = walk_chunks(s, &w, &d, err, es);
    if (st != SP_OK) return st;
    if (info) {
        snprintf(info->container, sizeof info->container, "wav");
        snprintf(info->codec, sizeof info->codec, "%s", w.codec);
        info->source_rate = w.rate;
        info->source_channels = w.channels;
    }
    /* Phase 2: how much there is, and whether it may be decoded at all */
    int64_t fsize = aud_src_size(s);
    int64_t avail = fsize > d.off ? fsize - d.off : 0;
    int to_end = d.len == WAV_PLACEHOLDER_A || d.len == WAV_PLACEHOLDER_B ||
                 (d.len == 0 && !chunks_to_end(s, d.off, fsize, d.riff_end));
    if (!to_end && (int64_t)d.len > avail && info) info->truncated = 1;
    if (!to_end && (uint64_t)avail > d.len) avail = (int64_t)d.len;
    /* refuse a long file before decoding it (a check, not an allocation) */
    double secs = (double)avail / w.block_align / w.rate;
    if (secs > aud_sink_max_seconds(k) + 0.5) {
        aud_seterr(err, es, "audio longer than the %.0f s limit (%.0f s)",
                   aud_sink_max_seconds(k), secs);
        return SP_ERR_TOO_LARGE;
    }
    if ((st = aud_sink_rate(k, w.rate, err, es)) != SP_OK) return st;
    return stream_data(s, k, &w, &d, to_end, info, err, es);
}
