/* audio_ffmpeg.c — everything that is not our own WAV path goes through FFmpeg, fenced in
 * the way spool-reliability.md T13 asks:
 * - FFmpeg never sees a path or URL: it reads through a custom AVIOContext over aud_src
 *   (pread on the fd we opened and checked, or memory);
 * - the container was sniffed by us (aud_sniff) and the demuxer is named explicitly, so no
 *   probing can pick HLS, concat, image2 or any other demuxer that opens further files;
 * - format_whitelist / codec_whitelist / protocol_whitelist are set, and io_open is
 *   replaced by a function that refuses, so a demuxer cannot open nested resources (mov
 *   drefs, playlists) even if asked;
 * - the audio stream's codec must be on our list before a decoder is opened.
 * API use follows FFmpeg 5.1's doc/examples/demux_decode.c (send/receive decoding). */
#include "audio/audio_internal.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/log.h>

#define AVIO_BUF 32768
#define MAX_DECODE_ERRORS 1000   /* consecutive packet errors before we give up */
#define REACH_PACKETS 256        /* packets read after the seek that checks a header's length */

static const char FORMAT_WHITELIST[] = "wav,flac,mp3,mov,mp4,m4a,ogg,matroska,webm";
static const char CODEC_WHITELIST[] =
    "pcm_u8,pcm_s8,pcm_s16le,pcm_s16be,pcm_s24le,pcm_s24be,pcm_s32le,pcm_s32be,"
    "pcm_f32le,pcm_f32be,pcm_f64le,pcm_f64be,pcm_alaw,pcm_mulaw,flac,mp3,mp3float,"
    "aac,aac_fixed,alac,opus,libopus,vorbis,libvorbis";

static int codec_allowed(enum AVCodecID id)
{
    switch (id) {
    case AV_CODEC_ID_PCM_U8: case AV_CODEC_ID_PCM_S8:
    case AV_CODEC_ID_PCM_S16LE: case AV_CODEC_ID_PCM_S16BE:
    case AV_CODEC_ID_PCM_S24LE: case AV_CODEC_ID_PCM_S24BE:
    case AV_CODEC_ID_PCM_S32LE: case AV_CODEC_ID_PCM_S32BE:
    case AV_CODEC_ID_PCM_F32LE: case AV_CODEC_ID_PCM_F32BE:
    case AV_CODEC_ID_PCM_F64LE: case AV_CODEC_ID_PCM_F64BE:
    case AV_CODEC_ID_PCM_ALAW: case AV_CODEC_ID_PCM_MULAW:
    case AV_CODEC_ID_FLAC: case AV_CODEC_ID_MP3: case AV_CODEC_ID_AAC:
    case AV_CODEC_ID_ALAC: case AV_CODEC_ID_OPUS: case AV_CODEC_ID_VORBIS:
        return 1;
    default:
        return 0;
    }
}

/* The container as messages name it: "webm" is what we call every Matroska file (one
 * demuxer reads both), and an .mkv had been called "webm". */
static const char *container_label(const char *container)
{
    return !strcmp(container, "webm") ? "Matroska/WebM" : container;
}

/* FFmpeg logs to stderr by default; a daemon decoding hostile files would fill its log
 * with decoder complaints. Quiet once per process unless SP_AUDIO_FFMPEG_LOG is set. */
static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static void quiet_ffmpeg(void)
{
    if (!getenv("SP_AUDIO_FFMPEG_LOG")) av_log_set_level(AV_LOG_QUIET);
}

static int io_read(void *opaque, uint8_t *buf, int size)
{
    ssize_t r = aud_src_read(opaque, buf, (size_t)size);
    if (r < 0) return AVERROR(EIO);
    return r == 0 ? AVERROR_EOF : (int)r;
}

static int64_t io_seek(void *opaque, int64_t offset, int whence)
{
    aud_src *s = opaque;
    whence &= ~AVSEEK_FORCE;
    if (whence == AVSEEK_SIZE) return aud_src_size(s);
    int64_t np;
    if (whence == SEEK_SET) np = offset;
    else if (whence == SEEK_CUR) np = s->pos + offset;
    else if (whence == SEEK_END) {
        int64_t sz = aud_src_size(s);
        if (sz < 0) return AVERROR(ENOSYS);
        np = sz + offset;
    } else return AVERROR(EINVAL);
    if (np < 0) return AVERROR(EINVAL);
    s->pos = np;
    return np;
}

/* No demuxer may open anything besides the stream we hand it. */
static int refuse_io_open(struct AVFormatContext *s, AVIOContext **pb, const char *url,
                          int flags, AVDictionary **options)
{
    return AVERROR(EPERM);
}

static int map_fmt(enum AVSampleFormat f, aud_fmt *out, int *planar)
{
    *planar = av_sample_fmt_is_planar(f);
    switch (av_get_packed_sample_fmt(f)) {
    case AV_SAMPLE_FMT_U8:  *out = AUD_U8; return 0;
    case AV_SAMPLE_FMT_S16: *out = AUD_S16; return 0;
    case AV_SAMPLE_FMT_S32: *out = AUD_S32; return 0;
    case AV_SAMPLE_FMT_FLT: *out = AUD_F32; return 0;
    case AV_SAMPLE_FMT_DBL: *out = AUD_F64; return 0;
    default: return -1;
    }
}

typedef struct {
    aud_sink *k;
    float *mono;
    size_t mono_cap;
    sp_audio_info *info;
    char *err;
    size_t es;
} dec_state;

static sp_status push_frame(dec_state *d, const AVFrame *fr)
{
    int ch = fr->ch_layout.nb_channels;
    if (ch < 1 || ch > AUD_MAX_CHANNELS) {
        aud_seterr(d->err, d->es, "%d channels (1..%d supported)", ch, AUD_MAX_CHANNELS);
        return SP_ERR_AUDIO_FORMAT;
    }
    aud_fmt fmt;
    int planar;
    if (map_fmt(fr->format, &fmt, &planar) != 0) {
        aud_seterr(d->err, d->es, "decoder produced unsupported sample format %s",
                   av_get_sample_fmt_name(fr->format) ? av_get_sample_fmt_name(fr->format) : "?");
        return SP_ERR_UNSUPPORTED;
    }
    if (fr->nb_samples <= 0) return SP_OK;
    sp_status st = aud_sink_rate(d->k, fr->sample_rate, d->err, d->es);
    if (st != SP_OK) return st;
    if (d->info && !d->info->source_rate) {
        d->info->source_rate = fr->sample_rate;
        d->info->source_channels = ch;
    }
    size_t n = (size_t)fr->nb_samples;
    if (n > d->mono_cap) {
        float *p = realloc(d->mono, n * sizeof *p);
        if (!p) { aud_seterr(d->err, d->es, "out of memory"); return SP_ERR_NOMEM; }
        d->mono = p;
        d->mono_cap = n;
    }
    const uint8_t *planes[AUD_MAX_CHANNELS];
    for (int c = 0; c < (planar ? ch : 1); c++) planes[c] = fr->extended_data[c];
    aud_downmix(fmt, planes, planar, ch, n, d->mono);
    return aud_sink_push(d->k, d->mono, n, d->err, d->es);
}

/* Drains decoded frames; counts decoder errors in *errors. */
static sp_status receive_all(dec_state *d, AVCodecContext *cc, AVFrame *fr, int *errors)
{
    while (1) {
        int r = avcodec_receive_frame(cc, fr);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return SP_OK;
        if (r < 0) { (*errors)++; return SP_OK; }
        sp_status st = push_frame(d, fr);
        av_frame_unref(fr);
        if (st != SP_OK) return st;
        *errors = 0;
    }
}

/* The FFmpeg handles of one decode, released together by ff_close. */
typedef struct {
    AVIOContext *avio;
    AVFormatContext *fc;
    AVCodecContext *cc;
    AVPacket *pkt;
    AVFrame *fr;
    int si;             /* the audio stream */
    double declared_s;  /* the length its header announces, seconds; <= 0: none */
} ff_handles;

/* What the headers say the audio stream lasts. The stream's own duration is what the
 * demuxers fill in while reading the header (FLAC's STREAMINFO, an MP3's Xing/Info frame,
 * Ogg's last granule, Matroska's Duration); the container's only MP4 sets without
 * avformat_find_stream_info, which is not called (it would decode to probe). */
static double declared_seconds(const AVFormatContext *fc, const AVStream *st)
{
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0 && st->time_base.num > 0 && st->time_base.den > 0)
        return (double)st->duration * av_q2d(st->time_base);
    if (fc->duration != AV_NOPTS_VALUE && fc->duration > 0) return (double)fc->duration / AV_TIME_BASE;
    return 0;
}

static void ff_close(ff_handles *h)
{
    av_frame_free(&h->fr);
    av_packet_free(&h->pkt);
    avcodec_free_context(&h->cc);
    avformat_close_input(&h->fc);
    if (h->avio) av_freep(&h->avio->buffer);
    avio_context_free(&h->avio);
}

/* Phase 1: the demuxer over our byte source, with every outside reach refused (no protocol,
 * no nested opens, whitelisted formats and codecs only). */
static sp_status ff_open_input(ff_handles *h, aud_src *s, const char *container, const AVInputFormat *ifmt,
                               char *err, size_t es)
{
    s->pos = 0;
    uint8_t *iobuf = av_malloc(AVIO_BUF);
    if (iobuf) h->avio = avio_alloc_context(iobuf, AVIO_BUF, 0, s, io_read, NULL, io_seek);
    if (!h->avio) { av_free(iobuf); aud_seterr(err, es, "out of memory"); return SP_ERR_NOMEM; }
    h->fc = avformat_alloc_context();
    if (!h->fc) { aud_seterr(err, es, "out of memory"); return SP_ERR_NOMEM; }
    h->fc->pb = h->avio;
    h->fc->flags |= AVFMT_FLAG_CUSTOM_IO;
    h->fc->io_open = refuse_io_open;
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "format_whitelist", FORMAT_WHITELIST, 0);
    av_dict_set(&opts, "codec_whitelist", CODEC_WHITELIST, 0);
    av_dict_set(&opts, "protocol_whitelist", "none", 0);
    int r = avformat_open_input(&h->fc, NULL, ifmt, &opts);   /* frees fc on failure */
    av_dict_free(&opts);
    if (r < 0) {
        aud_seterr(err, es, "not a valid %s file (%s)", container_label(container), av_err2str(r));
        return SP_ERR_AUDIO_FORMAT;
    }
    return SP_OK;
}

/* The audio stream to decode: the one marked default (the track a player picks) when its
 * codec is allowed, else the first allowed one; -1 when there is none (*any: whether there
 * is an audio stream at all). Only the first audio stream had been tried: an MKV or MP4
 * with an AC-3 track first and an AAC track after was refused, and a silent first track
 * was transcribed (empty) while the default track held the speech. */
static int ff_choose_stream(const AVFormatContext *fc, int *any)
{
    int first_allowed = -1;
    *any = 0;
    for (unsigned i = 0; i < fc->nb_streams; i++) {
        const AVStream *st = fc->streams[i];
        if (st->codecpar->codec_type != AVMEDIA_TYPE_AUDIO) continue;
        *any = 1;
        if (!codec_allowed(st->codecpar->codec_id)) continue;
        if (st->disposition & AV_DISPOSITION_DEFAULT) return (int)i;
        if (first_allowed < 0) first_allowed = (int)i;
    }
    return first_allowed;
}

/* "codec ac3 in Matroska/WebM is not supported": each audio codec of the file once (when
 * several streams are there and none is allowed). */
static void refuse_codecs(const AVFormatContext *fc, const char *container, char *err, size_t es)
{
    char names[160] = "";
    enum AVCodecID seen[8];
    int count = 0;
    for (unsigned i = 0; i < fc->nb_streams && count < 8; i++) {
        const AVCodecParameters *par = fc->streams[i]->codecpar;
        int dup = 0;
        for (int j = 0; j < count; j++) dup |= seen[j] == par->codec_id;
        if (par->codec_type != AVMEDIA_TYPE_AUDIO || dup) continue;
        const size_t len = strlen(names);
        snprintf(names + len, sizeof names - len, "%s%s", count ? ", " : "", avcodec_get_name(par->codec_id));
        seen[count++] = par->codec_id;
    }
    aud_seterr(err, es, "codec%s %s in %s %s not supported", count > 1 ? "s" : "", names,
               container_label(container), count > 1 ? "are" : "is");
}

/* Phase 2a: the audio stream, with an allowed codec (ff_choose_stream). (av_find_best_stream
 * skips streams whose rate is not known before decoding, and avformat_find_stream_info would
 * decode twice: the decoder learns rate and layout from the first frames anyway.) */
static sp_status ff_pick_stream(ff_handles *h, const char *container, sp_audio_info *info, char *err, size_t es)
{
    int any = 0;
    h->si = ff_choose_stream(h->fc, &any);
    if (!any) {
        aud_seterr(err, es, "%s file has no audio stream", container_label(container));
        return SP_ERR_AUDIO_FORMAT;
    }
    if (h->si < 0) {
        refuse_codecs(h->fc, container, err, es);
        return SP_ERR_UNSUPPORTED;
    }
    AVCodecParameters *par = h->fc->streams[h->si]->codecpar;
    if (info) {
        snprintf(info->container, sizeof info->container, "%s", container);
        snprintf(info->codec, sizeof info->codec, "%s", avcodec_get_name(par->codec_id));
    }
    h->declared_s = declared_seconds(h->fc, h->fc->streams[h->si]);
    return SP_OK;
}

/* Whether the stream really has audio at cap seconds or later: a seek to just past it, then
 * a packet of the stream stamped at cap + 0.5 s or later (the margin covers an MP3's encoder
 * delay, so such a packet means the decoded audio is longer than the cap). A seek that
 * fails, an end of file or a read error before such a packet: not shown. (A binary search
 * over a cut FLAC lands on its last frame and succeeds, hence the timestamp check.) */
static int ff_reaches(ff_handles *h, double cap)
{
    const AVStream *st = h->fc->streams[h->si];
    if (st->time_base.num <= 0 || st->time_base.den <= 0) return 0;
    const double tb = av_q2d(st->time_base);
    const int64_t start = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
    if (av_seek_frame(h->fc, h->si, start + (int64_t)((cap + 1.0) / tb), 0) < 0) return 0;
    AVPacket *pkt = av_packet_alloc();
    int found = 0;
    for (int i = 0; pkt && !found && i < REACH_PACKETS && av_read_frame(h->fc, pkt) >= 0; i++) {
        const int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
        found = pkt->stream_index == h->si && pkt->size > 0 && ts != AV_NOPTS_VALUE &&
                (double)(ts - start) * tb >= cap + 0.5;
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    return found;
}

/* Phase 2b: a header that announces more than the cap is refused now rather than after
 * decoding it (T15: "10 h of silence as tiny FLAC": a 5 h file had been decoded up to the
 * cap, 930 MB and up to 13 s, before its refusal) — when the stream is seen to reach past
 * the cap. The header alone is a hint, not a verdict: a clip cut with head -c from a 5 h MP3
 * keeps the 5 h Xing frame (FLAC its STREAMINFO, Matroska its Duration), and had been refused
 * on that. Then the demuxer is opened afresh, so decoding starts from the first byte exactly
 * as without the seek, and the sink still refuses at the cap what is really longer. */
static sp_status ff_check_length(ff_handles *h, aud_src *s, const char *container, const AVInputFormat *ifmt,
                                 aud_sink *k, sp_audio_info *info, char *err, size_t es)
{
    const double cap = aud_sink_max_seconds(k), declared = h->declared_s;
    if (declared <= cap + 1.0) return SP_OK;
    if (ff_reaches(h, cap)) {
        aud_seterr(err, es, "audio longer than the %.0f s limit (header says %.0f s)", cap, declared);
        return SP_ERR_TOO_LARGE;
    }
    ff_close(h);   /* only the demuxer and its I/O are open yet */
    sp_status st = ff_open_input(h, s, container, ifmt, err, es);
    if (st == SP_OK) st = ff_pick_stream(h, container, info, err, es);
    h->declared_s = declared;   /* the same header: still what a cut file is measured against */
    return st;
}

/* Phase 2c: the decoder of the chosen stream. */
static sp_status ff_open_decoder(ff_handles *h, char *err, size_t es)
{
    AVCodecParameters *par = h->fc->streams[h->si]->codecpar;
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    if (!codec) {
        aud_seterr(err, es, "no decoder for %s", avcodec_get_name(par->codec_id));
        return SP_ERR_UNSUPPORTED;
    }
    h->cc = avcodec_alloc_context3(codec);
    if (!h->cc || avcodec_parameters_to_context(h->cc, par) < 0) {
        aud_seterr(err, es, "cannot set up the %s decoder", codec->name);
        return SP_ERR_NOMEM;
    }
    h->cc->thread_count = 1;
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "codec_whitelist", CODEC_WHITELIST, 0);
    int r = avcodec_open2(h->cc, codec, &opts);
    av_dict_free(&opts);
    if (r < 0) {
        aud_seterr(err, es, "cannot open the %s decoder (%s)", codec->name, av_err2str(r));
        return SP_ERR_AUDIO_FORMAT;
    }
    h->pkt = av_packet_alloc();
    h->fr = av_frame_alloc();
    if (!h->pkt || !h->fr) { aud_seterr(err, es, "out of memory"); return SP_ERR_NOMEM; }
    return SP_OK;
}

/* Phase 3: packets of the stream through the decoder into the sink. Up to MAX_DECODE_ERRORS
 * consecutive decoder errors are skipped (a damaged frame); then, or on a read error, what
 * was decoded stands and the result is marked truncated — unless nothing was. */
static sp_status ff_decode_all(ff_handles *h, dec_state *d, const char *container, aud_sink *k, sp_audio_info *info,
                               char *err, size_t es)
{
    int r, errors = 0, total_errors = 0, read_error = 0;
    sp_status st;
    while ((r = av_read_frame(h->fc, h->pkt)) >= 0) {
        st = SP_OK;
        if (h->pkt->stream_index == h->si) {
            int sr = avcodec_send_packet(h->cc, h->pkt);
            if (sr < 0 && sr != AVERROR(EAGAIN)) { errors++; total_errors++; }
            st = receive_all(d, h->cc, h->fr, &errors);
        }
        av_packet_unref(h->pkt);
        if (st != SP_OK) return st;
        if (errors > MAX_DECODE_ERRORS) break;
    }
    if (r < 0 && r != AVERROR_EOF) read_error = 1;
    avcodec_send_packet(h->cc, NULL);                       /* flush the decoder */
    st = receive_all(d, h->cc, h->fr, &errors);
    if (st != SP_OK) return st;
    if (aud_sink_count(k) == 0 && (read_error || total_errors || errors)) {
        aud_seterr(err, es, "%s file: no audio could be decoded", container_label(container));
        return SP_ERR_AUDIO_FORMAT;
    }
    if (info && (read_error || errors > MAX_DECODE_ERRORS)) info->truncated = 1;
    /* a clean end of file well short of what the header announced: a cut file (a download
     * or a recording that stopped), as a WAV's data length tells it. The margin covers
     * encoder delay and padding and headers that round. */
    const double got = (double)aud_sink_count(k) / SP_AUDIO_RATE;
    if (info && h->declared_s > 0 && got < h->declared_s - fmax(1.0, 0.01 * h->declared_s)) info->truncated = 1;
    return SP_OK;
}

sp_status aud_ffmpeg_decode(aud_src *s, const char *container, aud_sink *k,
                            sp_audio_info *info, char *err, size_t es)
{
    pthread_once(&log_once, quiet_ffmpeg);
    const char *demuxer = !strcmp(container, "mp4") ? "mov"
                        : !strcmp(container, "webm") ? "matroska" : container;
    const AVInputFormat *ifmt = av_find_input_format(demuxer);
    if (!ifmt) {
        aud_seterr(err, es, "this FFmpeg has no %s demuxer", demuxer);
        return SP_ERR_UNSUPPORTED;
    }
    ff_handles h = {0};
    dec_state d = { .k = k, .info = info, .err = err, .es = es };
    sp_status st = ff_open_input(&h, s, container, ifmt, err, es);
    if (st == SP_OK) st = ff_pick_stream(&h, container, info, err, es);
    if (st == SP_OK) st = ff_check_length(&h, s, container, ifmt, k, info, err, es);
    if (st == SP_OK) st = ff_open_decoder(&h, err, es);
    if (st == SP_OK) st = ff_decode_all(&h, &d, container, k, info, err, es);
    ff_close(&h);
    free(d.mono);
    return st;
}
