/* test_audio_ffmpeg.c — the FFmpeg path and the resampler, on files the test makes itself
 * with espeak-ng, sox and ffmpeg (skipped when a tool is missing), plus jfk.wav/jfk.mp3 from
 * ../shared/data when present. Lossless formats must give bit-identical PCM to the WAV,
 * lossy ones must correlate closely. */
#include "harness.h"
#include "test_audio_util.h"

#include <fcntl.h>

static float *load_or_null(const char *path, size_t *n, sp_audio_info *info)
{
    float *pcm = NULL;
    if (tb_load(path, &pcm, n, info) != SP_OK) return NULL;
    return pcm;
}

static void sine_wav(const char *name, unsigned rate, unsigned ch, double f, double amp, double secs)
{
    size_t n = (size_t)(rate * secs);
    int16_t *s = malloc(n * ch * 2);
    for (size_t i = 0; i < n; i++)
        for (unsigned c = 0; c < ch; c++)
            s[i * ch + c] = (int16_t)lrint(32767 * amp * sin(2 * M_PI * f * (double)i / rate));
    tb_buf b = tb_wav_s16(rate, ch, s, n * ch);
    tb_write(tb_path(name), b.p, b.n);
    free(b.p);
    free(s);
}

static void test_resample_44k_stereo(void)
{
    float *pcm = NULL;
    size_t n = 0;
    sp_audio_info info;
    TEST("resample 44.1 kHz stereo: length, frequency and level kept") {
        sine_wav("s441.wav", 44100, 2, 1000, 0.5, 2.0);
        pcm = load_or_null(tb_path("s441.wav"), &n, &info);
        CHECK(pcm && labs((long)n - 32000) <= 2);
        if (pcm) {
            double a = tb_tone(pcm + 1000, 30000, 1000, 16000);
            CHECKF(fabs(a - 0.5) < 0.005, "amplitude %f", a);
            CHECKF(fabs(tb_rms(pcm + 1000, 30000) - 0.5 / sqrt(2)) < 0.004, "rms");
        }
        free(pcm);
    }
}

static void test_resample_48k_antialias(void)
{
    float *pcm = NULL;
    size_t n = 0;
    sp_audio_info info;
    TEST("resample 48 kHz: tones above 8 kHz are removed, not aliased") {
        sine_wav("s48hi.wav", 48000, 1, 10000, 0.9, 1.0);   /* would alias to 6 kHz */
        pcm = load_or_null(tb_path("s48hi.wav"), &n, &info);
        CHECK(pcm && labs((long)n - 16000) <= 2);
        if (pcm) {
            double r = tb_rms(pcm + 500, 15000);
            CHECKF(r < 1e-3, "rms of a 10 kHz tone after resampling: %g", r);
            CHECKF(tb_tone(pcm + 500, 15000, 6000, 16000) < 1e-3, "alias at 6 kHz");
        }
        free(pcm);
        sine_wav("s48.wav", 48000, 1, 7000, 0.5, 1.0);        /* in-band, near the edge */
        pcm = load_or_null(tb_path("s48.wav"), &n, &info);
        if (pcm) {
            double a = tb_tone(pcm + 500, 15000, 7000, 16000);
            CHECKF(fabs(a - 0.5) < 0.01, "7 kHz amplitude %f", a);
        }
        free(pcm);
    }
}

static void test_resample_8k_up(void)
{
    float *pcm = NULL;
    size_t n = 0;
    sp_audio_info info;
    TEST("resample 8 kHz up to 16 kHz") {
        sine_wav("s8.wav", 8000, 1, 440, 0.3, 1.0);
        pcm = load_or_null(tb_path("s8.wav"), &n, &info);
        CHECK(pcm && labs((long)n - 16000) <= 2 && info.source_rate == 8000);
        if (pcm) CHECKF(fabs(tb_tone(pcm + 500, 15000, 440, 16000) - 0.3) < 0.005, "440 Hz");
        free(pcm);
    }
}

static void test_sine_sweep(void)
{
    float *pcm = NULL;
    size_t n = 0;
    sp_audio_info info;
    char err[256];
    TEST("sine sweep 100 Hz..7.5 kHz at 44.1 kHz keeps its level") {
        size_t rate = 44100, len = rate * 3;
        int16_t *s = malloc(len * 2);
        for (size_t i = 0; i < len; i++) {
            double t = (double)i / rate, f0 = 100, f1 = 7500, T = 3.0;
            double ph = 2 * M_PI * f0 * T / log(f1 / f0) * (exp(t / T * log(f1 / f0)) - 1);
            s[i] = (int16_t)lrint(16000 * sin(ph));
        }
        tb_buf b = tb_wav_s16((unsigned)rate, 1, s, len);
        CHECK(sp_audio_load_mem(b.p, b.n, 0, &pcm, &n, &info, err, sizeof err) == SP_OK);
        if (pcm) {
            double r = tb_rms(pcm + 1000, n - 2000);
            CHECKF(fabs(r - 16000 / 32768.0 / sqrt(2)) < 0.01, "sweep rms %f", r);
        }
        free(pcm); free(b.p); free(s);
    }
}

static void test_lossless_formats(const char *speech, int have_speech)
{
    float *pcm = NULL;
    size_t n = 0;
    sp_audio_info info;
    TEST("lossless formats give identical PCM: FLAC, ALAC, WAV through FFmpeg, Ogg FLAC") {
        if (!have_speech) { printf("# skip: sox/ffmpeg/espeak-ng missing\n"); continue; }
        size_t nref = 0;
        float *ref = load_or_null(speech, &nref, &info);
        CHECK(ref && nref > 16000);
        const char *enc[4][2] = {
            { "speech.flac", "-c:a flac" }, { "speech_alac.m4a", "-c:a alac" },
            { "speech_flac.ogg", "-c:a flac" }, { "speech_flac.mkv", "-c:a flac" },
        };
        for (int k = 0; k < 4; k++) {
            if (tb_sh("ffmpeg -loglevel error -y -i %s %s %s", speech, enc[k][1], tb_path(enc[k][0])))
                continue;
            pcm = load_or_null(tb_path(enc[k][0]), &n, &info);
            CHECKF(pcm && n == nref && ref && memcmp(pcm, ref, n * sizeof *pcm) == 0,
                   "%s: %zu vs %zu samples", enc[k][0], n, nref);
            free(pcm);
        }
        /* a 44.1 kHz stereo version: WAV (our reader) and FLAC (FFmpeg) agree bit for bit */
        tb_sh("sox %s -r 44100 -c 2 %s", speech, tb_path("st.wav"));
        tb_sh("sox %s %s", tb_path("st.wav"), tb_path("st.flac"));   /* sox dithers: convert once */
        size_t n2 = 0;
        float *a = load_or_null(tb_path("st.wav"), &n, &info);
        float *b = load_or_null(tb_path("st.flac"), &n2, &info);
        CHECK(a && b && n == n2 && memcmp(a, b, n * sizeof *a) == 0);
        CHECK(!strcmp(info.container, "flac") && info.source_rate == 44100 && info.source_channels == 2);
        free(a); free(b);
        /* 24-bit FLAC at the same level as 16-bit */
        tb_sh("sox %s -b 24 %s", speech, tb_path("s24.flac"));   /* exact: 16 -> 24 bits */
        pcm = load_or_null(tb_path("s24.flac"), &n, &info);
        CHECK(pcm && ref && n == nref && fabs(tb_rms(pcm, n) - tb_rms(ref, nref)) < 1e-4);
        free(pcm);
        free(ref);
    }
}

/* An ID3v2 tag in front of a FLAC, WAV or Ogg file (taggers do that): the audio after it,
 * bit for bit. They had been sniffed as MP3 and refused ("no audio could be decoded"). */
static void test_id3_prefix(const char *speech, int have_speech)
{
    sp_audio_info info;
    TEST("ID3v2 tag in front of FLAC, WAV and Ogg FLAC: the same PCM as without it") {
        if (!have_speech) { printf("# skip: sox/ffmpeg/espeak-ng missing\n"); continue; }
        uint8_t tag[10 + 110] = { 'I', 'D', '3', 3, 0, 0, 0, 0, 0, 110 };   /* 110 bytes of padding */
        CHECK(tb_write(tb_path("tag.bin"), tag, sizeof tag) == 0);
        size_t nref = 0;
        float *ref = load_or_null(speech, &nref, &info);
        const char *src[3] = { "speech.wav", "speech.flac", "speech_flac.ogg" };
        for (int k = 0; k < 3; k++) {
            char out[64];
            snprintf(out, sizeof out, "id3-%s", src[k]);
            if (tb_sh("ffmpeg -loglevel error -y -i %s %s", speech, tb_path("speech.flac")) ||
                tb_sh("ffmpeg -loglevel error -y -i %s -c:a flac %s", speech, tb_path("speech_flac.ogg")) ||
                tb_sh("cat %s %s > %s", tb_path("tag.bin"), k ? tb_path(src[k]) : speech, tb_path(out)))
                continue;
            size_t n = 0;
            float *pcm = load_or_null(tb_path(out), &n, &info);
            CHECKF(pcm && ref && n == nref && memcmp(pcm, ref, n * sizeof *pcm) == 0, "%s: %zu vs %zu samples",
                   out, n, nref);
            free(pcm);
        }
        free(ref);
    }
}

/* Several ID3v2 tags in a row (a tagger that adds one rather than rewriting), or zero bytes
 * after the tag (padding outside its size), before FLAC, Ogg or WAV: the audio after them,
 * bit for bit. Only the first tag had been skipped, and only without padding: what followed
 * was sniffed as MP3 and refused ("mp3 file: no audio could be decoded"); FFmpeg decodes them. */
static void test_id3_several_and_padding(const char *speech, int have_speech)
{
    sp_audio_info info;
    TEST("two ID3v2 tags, or a tag and zero padding, before FLAC, Ogg, WAV: the same PCM") {
        if (!have_speech) { printf("# skip: sox/ffmpeg/espeak-ng missing\n"); continue; }
        uint8_t tag[10 + 20] = { 'I', 'D', '3', 4, 0, 0, 0, 0, 0, 20 };
        uint8_t zeros[300] = { 0 };
        CHECK(tb_write(tb_path("tag.bin"), tag, sizeof tag) == 0);
        CHECK(tb_write(tb_path("zeros.bin"), zeros, sizeof zeros) == 0);
        size_t nref = 0;
        float *ref = load_or_null(speech, &nref, &info);
        if (tb_sh("ffmpeg -loglevel error -y -i %s %s", speech, tb_path("speech.flac")) ||
            tb_sh("ffmpeg -loglevel error -y -i %s -c:a flac %s", speech, tb_path("speech_flac.ogg")))
            continue;
        char src[3][512];   /* tb_path's buffers are reused */
        snprintf(src[0], sizeof src[0], "%s", tb_path("speech.flac"));
        snprintf(src[1], sizeof src[1], "%s", tb_path("speech_flac.ogg"));
        snprintf(src[2], sizeof src[2], "%s", speech);
        const char *cont[3] = { "flac", "ogg", "wav" };
        for (int k = 0; k < 6; k++) {
            if (tb_sh("cat %s %s %s > %s", tb_path("tag.bin"), k < 3 ? tb_path("tag.bin") : tb_path("zeros.bin"),
                      src[k % 3], tb_path("tagged.bin")))
                continue;
            size_t n = 0;
            float *pcm = load_or_null(tb_path("tagged.bin"), &n, &info);
            CHECKF(pcm && ref && n == nref && memcmp(pcm, ref, n * sizeof *pcm) == 0 &&
                   !strcmp(info.container, cont[k % 3]), "%s %s: %zu vs %zu samples", k < 3 ? "two tags" : "padding",
                   cont[k % 3], n, nref);
            free(pcm);
        }
        /* through sp_audio_load_fd from an offset: the skip is relative to where it starts */
        if (tb_sh("(head -c 100 /dev/zero; cat %s %s %s) > %s", tb_path("tag.bin"), tb_path("tag.bin"), src[0],
                  tb_path("tagged.bin")) == 0) {
            int fd = open(tb_path("tagged.bin"), O_RDONLY);
            size_t n = 0;
            float *pcm = NULL;
            char err[256] = "";
            CHECK(fd >= 0 && lseek(fd, 100, SEEK_SET) == 100);
            CHECKF(sp_audio_load_fd(fd, 0, &pcm, &n, &info, err, sizeof err) == SP_OK && ref && n == nref &&
                   memcmp(pcm, ref, n * sizeof *pcm) == 0, "load_fd: %zu vs %zu samples (%s)", n, nref, err);
            if (fd >= 0) close(fd);
            free(pcm);
        }
        free(ref);
    }
}

/* A bare MPEG frame header (no ID3 tag) is no tag: its bytes 6-9 had been read as a tag
 * size, so an MP3 whose bytes at that offset say fLaC went to the FLAC demuxer and decoded
 * as 0 samples, and a 4-byte file was read past its end (valgrind: "Conditional jump depends
 * on uninitialised value"). */
static void test_bare_mp3_not_id3(int tools)
{
    char err[256] = "";
    sp_audio_info info;
    TEST("bare MP3 frame header: not read as an ID3 tag (fLaC at the implied offset; 4-byte file)") {
        const uint8_t four[4] = { 0xff, 0xfb, 0x90, 0x00 };
        float *pcm = NULL;
        size_t n = 0;
        sp_status st = sp_audio_load_mem(four, sizeof four, 0, &pcm, &n, &info, err, sizeof err);
        CHECKF(st == SP_ERR_AUDIO_FORMAT && !pcm, "4 bytes: %d %s", st, err);
        if (!tools) { printf("# skip: tools missing\n"); continue; }
        if (tb_sh("ffmpeg -loglevel error -y -f lavfi -i sine=f=440:r=16000 -t 2 -c:a libmp3lame -b:a 32k "
                  "-write_xing 0 -id3v2_version 0 -f mp3 %s", tb_path("bare.mp3")))
            continue;
        FILE *f = fopen(tb_path("bare.mp3"), "rb");
        uint8_t buf[65536];
        size_t len = f ? fread(buf, 1, sizeof buf, f) : 0;
        if (f) fclose(f);
        CHECK(len > 1000 && buf[0] == 0xff);
        if (len <= 1000) continue;
        size_t nref = 0;
        float *ref = NULL;
        CHECK(sp_audio_load_mem(buf, len, 0, &ref, &nref, &info, err, sizeof err) == SP_OK && nref > 16000);
        /* sizes 0 and "fLaC" where the old reading put the end of the tag (+10 for its
         * "footer" flag, which is a bit of the frame header here) */
        const size_t off = buf[5] & 0x10 ? 20 : 10;
        memset(buf + 6, 0, 4);
        memcpy(buf + off, "fLaC", 4);
        st = sp_audio_load_mem(buf, len, 0, &pcm, &n, &info, err, sizeof err);
        CHECKF(st == SP_OK && !strcmp(info.container, "mp3") && n == nref, "%d %s: %zu vs %zu samples (%s)", st,
               info.container, n, nref, err);
        free(pcm);
        free(ref);
    }
}

/* An MP3 that does not start on a frame header: leading zeros, leading junk, a piece split
 * off a file (starts mid-frame), a damaged first sync word. FFmpeg decodes them; they had
 * been refused ("not a WAV, FLAC, MP3, M4A/MP4, Ogg or WebM file"), also by sp_audio_sniff
 * (session_http's 400 invalid_file_format). Bytes of other kinds stay refused. */
static void test_mp3_resync(const char *speech, int have_speech)
{
    char err[256] = "";
    sp_audio_info info;
    TEST("MP3 after zeros, junk, mid-frame, damaged first header: decoded; random bytes, raw PCM: refused") {
        if (!have_speech) { printf("# skip: tools missing\n"); continue; }
        if (tb_sh("ffmpeg -loglevel error -y -i %s -c:a libmp3lame -b:a 64k %s", speech, tb_path("ref.mp3")))
            continue;
        size_t nref = 0;
        float *ref = load_or_null(tb_path("ref.mp3"), &nref, &info);
        CHECK(ref && nref > 16000);
        if (!ref) continue;
        const char *make[4][2] = {
            { "zeros.mp3", "(head -c 417 /dev/zero; cat %s) > %s" },
            { "junk.mp3", "(seq 1 700 | tr -d '\\n'; cat %s) > %s" },
            { "midframe.mp3", "tail -c +1001 %s > %s" },
            { "damaged.mp3", "cp %s %s && printf 'XYZW' | dd of=%s bs=1 conv=notrunc 2>/dev/null" },
        };
        for (int k = 0; k < 4; k++) {
            char out[512];
            snprintf(out, sizeof out, "%s", tb_path(make[k][0]));
            if (tb_sh(make[k][1], tb_path("ref.mp3"), out, out)) continue;
            /* the damaged file: its ID3 tag is overwritten too, so the first frame header
             * comes after bytes we do not know */
            FILE *f = fopen(out, "rb");
            uint8_t *head = malloc(SP_AUDIO_SNIFF_BYTES);
            size_t got = f && head ? fread(head, 1, SP_AUDIO_SNIFF_BYTES, f) : 0;
            if (f) fclose(f);
            const char *c = head ? sp_audio_sniff(head, got) : NULL;
            CHECKF(c && !strcmp(c, "mp3"), "%s: sniffed as %s", make[k][0], c ? c : "nothing");
            free(head);
            float *pcm = NULL;
            size_t n = 0;
            sp_status st = sp_audio_load(out, 0, 0, &pcm, &n, &info, err, sizeof err);
            int lag = 0;
            double corr = st == SP_OK ? tb_xcorr(ref, nref, pcm, n, 1200, &lag) : 0;
            CHECKF(st == SP_OK && !strcmp(info.container, "mp3") && labs((long)n - (long)nref) < 2400 && corr > 0.9,
                   "%s: status %d, %zu vs %zu samples, correlation %.3f: %s", make[k][0], st, n, nref, corr, err);
            printf("# %s: %zu samples, correlation %.4f at lag %d\n", make[k][0], n, corr, lag);
            free(pcm);
        }
        free(ref);
        /* 1 MB of pseudo-random bytes and the speech as headerless PCM (after 4 bytes that no
         * header check at offset 0 takes, so the scan sees it all): still refused */
        uint8_t *rnd = malloc(1 << 20);
        uint32_t x = 12345;
        for (size_t i = 0; rnd && i < (1u << 20); i++) {
            x = x * 1664525u + 1013904223u;
            rnd[i] = (uint8_t)(x >> 24);
        }
        CHECK(rnd && tb_write(tb_path("random.bin"), rnd, 1u << 20) == 0);
        free(rnd);
        tb_sh("(printf 'PCM:'; sox %s -t raw -) > %s", speech, tb_path("speech.raw"));
        const char *neg[2] = { "random.bin", "speech.raw" };
        for (int k = 0; k < 2; k++) {
            float *pcm = NULL;
            size_t n = 0;
            sp_status st = sp_audio_load(tb_path(neg[k]), 0, 0, &pcm, &n, &info, err, sizeof err);
            CHECKF(st == SP_ERR_AUDIO_FORMAT && !pcm && strstr(err, "not a WAV"), "%s: %d %s", neg[k], st, err);
        }
    }
}

static void test_lossy_formats(const char *speech, int have_speech)
{
    float *pcm = NULL;
    size_t n = 0;
    sp_audio_info info;
    TEST("lossy formats close to the WAV: MP3, AAC/M4A, Vorbis, Opus, WebM") {
        if (!have_speech) { printf("# skip: tools missing\n"); continue; }
        size_t nref = 0;
        float *ref = load_or_null(speech, &nref, &info);
        const char *enc[6][3] = {
            { "speech.mp3", "-c:a libmp3lame -b:a 128k", "mp3" },
            { "speech.m4a", "-c:a aac -b:a 128k", "mp4" },
            { "speech.ogg", "-c:a libvorbis -q:a 5", "ogg" },
            { "speech.opus", "-c:a libopus -b:a 64k", "ogg" },
            { "speech.webm", "-c:a libopus -b:a 64k", "webm" },
            { "speech44.mp3", "-ar 44100 -ac 2 -c:a libmp3lame -b:a 128k", "mp3" },
        };
        for (int k = 0; k < 6 && ref; k++) {
            if (tb_sh("ffmpeg -loglevel error -y -i %s %s %s", speech, enc[k][1], tb_path(enc[k][0])))
                continue;
            pcm = load_or_null(tb_path(enc[k][0]), &n, &info);
            CHECKF(pcm != NULL, "%s", enc[k][0]);
            if (!pcm) continue;
            CHECKF(!strcmp(info.container, enc[k][2]), "%s: %s", enc[k][0], info.container);
            CHECKF(labs((long)n - (long)nref) < 2400, "%s: %zu vs %zu", enc[k][0], n, nref);
            int lag = 0;
            double c = tb_xcorr(ref, nref, pcm, n, 1200, &lag);
            CHECKF(c > 0.9, "%s: correlation %.3f at lag %d", enc[k][0], c, lag);
            printf("# %s: %s/%s, %zu samples, correlation %.4f at lag %d\n", enc[k][0],
                   info.container, info.codec, n, c, lag);
            free(pcm);
        }
        free(ref);
    }
}

static void test_container_sniffing(const char *speech, int have_speech)
{
    float *pcm = NULL;
    size_t n = 0;
    sp_audio_info info;
    char err[256];
    TEST("M4A named .wav is sniffed as MP4; video-only MP4 refused; moov at end") {
        if (!have_speech) { printf("# skip: tools missing\n"); continue; }
        tb_sh("ffmpeg -loglevel error -y -i %s -c:a aac -f mp4 %s", speech, tb_path("fake.wav"));
        pcm = load_or_null(tb_path("fake.wav"), &n, &info);
        CHECK(pcm && !strcmp(info.container, "mp4") && !strcmp(info.codec, "aac"));
        free(pcm);
        tb_sh("ffmpeg -loglevel error -y -i %s -c:a aac -movflags +faststart %s", speech, tb_path("fast.m4a"));
        pcm = load_or_null(tb_path("fast.m4a"), &n, &info);
        CHECK(pcm && n > 16000);
        free(pcm);
        if (tb_sh("ffmpeg -loglevel error -y -f lavfi -i color=c=black:s=32x32:d=1 -c:v mpeg4 %s",
                  tb_path("video.mp4")) == 0) {
            sp_status st = sp_audio_load(tb_path("video.mp4"), 0, 0, &pcm, &n, &info, err, sizeof err);
            CHECKF(st == SP_ERR_AUDIO_FORMAT && strstr(err, "no audio"), "%s", err);
        }
        /* an M4A whose moov is cut off */
        FILE *f = fopen(tb_path("fake.wav"), "rb");
        if (f) {
            uint8_t buf[65536];
            size_t got = fread(buf, 1, sizeof buf, f);
            fclose(f);
            sp_status st = sp_audio_load_mem(buf, got / 2, 0, &pcm, &n, &info, err, sizeof err);
            CHECKF(st != SP_OK || pcm, "cut m4a: %s", err);
            free(pcm);
        }
    }
}

static void test_unsupported_codecs(const char *speech, int have_speech)
{
    float *pcm = NULL;
    size_t n = 0;
    sp_audio_info info;
    char err[256];
    TEST("unsupported codecs refused: ADPCM WAV, MP2, raw AAC, AC-3 in MKV") {
        if (!have_speech) { printf("# skip: tools missing\n"); continue; }
        const char *cases[4][2] = {
            { "adpcm.wav", "-c:a adpcm_ima_wav" }, { "mp2.mp3", "-c:a mp2 -f mp2" },
            { "raw.aac", "-c:a aac -f adts" }, { "ac3.mkv", "-c:a ac3" },
        };
        for (int k = 0; k < 4; k++) {
            if (tb_sh("ffmpeg -loglevel error -y -i %s %s %s", speech, cases[k][1], tb_path(cases[k][0])))
                continue;
            sp_status st = sp_audio_load(tb_path(cases[k][0]), 0, 0, &pcm, &n, &info, err, sizeof err);
            CHECKF(st == SP_ERR_UNSUPPORTED || st == SP_ERR_AUDIO_FORMAT, "%s: %d", cases[k][0], st);
            CHECK(pcm == NULL);
            printf("# %s: %s\n", cases[k][0], err);
        }
    }
}

/* Behind an ID3v2 tag, raw ADTS AAC and MPEG layer II are refused as they are without one:
 * the tagged ADTS file had been "mp3 file: no audio could be decoded" (the reason dropped),
 * and a tagged MP2 had been decoded by the MP3 decoder while a bare one was refused. */
static void test_id3_refusals(const char *speech, int have_speech)
{
    char err[256] = "";
    sp_audio_info info;
    TEST("ID3 tag in front of ADTS AAC or MP2: refused with the reason a bare file gets") {
        if (!have_speech) { printf("# skip: tools missing\n"); continue; }
        uint8_t tag[10 + 20] = { 'I', 'D', '3', 4, 0, 0, 0, 0, 0, 20 };
        CHECK(tb_write(tb_path("tag.bin"), tag, sizeof tag) == 0);
        const char *cases[3][3] = {
            { "tagged.aac", "ffmpeg -loglevel error -y -i %s -c:a aac -f adts -write_id3v2 1 %s", "raw AAC (ADTS)" },
            { "bare.mp2", "ffmpeg -loglevel error -y -i %s -c:a mp2 -f mp2 %s", "MPEG layer I/II" },
            { "tagged.mp2", "cat %s %s > %s", "MPEG layer I/II" },
        };
        for (int k = 0; k < 3; k++) {
            char out[512];
            snprintf(out, sizeof out, "%s", tb_path(cases[k][0]));
            int r = k < 2 ? tb_sh(cases[k][1], speech, out) : tb_sh(cases[k][1], tb_path("tag.bin"), tb_path("bare.mp2"), out);
            if (r) continue;
            float *pcm = NULL;
            size_t n = 0;
            sp_status st = sp_audio_load(out, 0, 0, &pcm, &n, &info, err, sizeof err);
            CHECKF(st == SP_ERR_AUDIO_FORMAT && !pcm && strstr(err, cases[k][2]), "%s: %d %s", cases[k][0], st, err);
            free(pcm);
        }
    }
}

/* With several audio streams, the default one when its codec is allowed, else the first
 * allowed one: only the first had been tried (AC-3 then AAC: "codec ac3 in webm is not
 * supported"; a silent first track and the speech in the default one: silence). A file
 * with no allowed stream names its codecs and calls Matroska "Matroska/WebM", not "webm". */
static void test_stream_choice(const char *speech, int have_speech)
{
    char err[256] = "";
    sp_audio_info info;
    TEST("several audio streams: the default one, else the first allowed; none allowed: codecs named") {
        if (!have_speech) { printf("# skip: tools missing\n"); continue; }
        size_t nref = 0;
        float *ref = load_or_null(speech, &nref, &info);
        CHECK(ref != NULL);
        const char *cases[4][2] = {
            { "ac3-aac.mkv", "ffmpeg -loglevel error -y -i %s -map 0:a -map 0:a -c:a:0 ac3 -c:a:1 aac %s" },
            { "ac3-aac.mp4", "ffmpeg -loglevel error -y -i %s -map 0:a -map 0:a -c:a:0 ac3 -c:a:1 aac %s" },
            { "quiet-default.mkv", "ffmpeg -loglevel error -y -i %s -f lavfi -i anullsrc=r=16000:cl=mono -map 1:a "
                                   "-map 0:a -c:a aac -shortest -disposition:a:0 0 -disposition:a:1 default %s" },
            { "quiet-default.mp4", "ffmpeg -loglevel error -y -i %s -f lavfi -i anullsrc=r=16000:cl=mono -map 1:a "
                                   "-map 0:a -c:a aac -shortest -disposition:a:0 0 -disposition:a:1 default %s" },
        };
        for (int k = 0; k < 4 && ref; k++) {
            if (tb_sh(cases[k][1], speech, tb_path(cases[k][0]))) continue;
            float *pcm = NULL;
            size_t n = 0;
            sp_status st = sp_audio_load(tb_path(cases[k][0]), 0, 0, &pcm, &n, &info, err, sizeof err);
            int lag = 0;
            double c = st == SP_OK ? tb_xcorr(ref, nref, pcm, n, 1200, &lag) : 0;
            CHECKF(st == SP_OK && !strcmp(info.codec, "aac") && c > 0.9, "%s: status %d, correlation %.3f: %s",
                   cases[k][0], st, c, err);
            free(pcm);
        }
        free(ref);
        const char *none[2][3] = {
            { "ac3.mka", "-c:a ac3", "codec ac3 in Matroska/WebM is not supported" },
            { "ac3-mp2.mka", "-map 0:a -map 0:a -c:a:0 ac3 -c:a:1 mp2", "codecs ac3, mp2 in Matroska/WebM are not supported" },
        };
        for (int k = 0; k < 2; k++) {
            if (tb_sh("ffmpeg -loglevel error -y -i %s %s %s", speech, none[k][1], tb_path(none[k][0]))) continue;
            float *pcm = NULL;
            size_t n = 0;
            sp_status st = sp_audio_load(tb_path(none[k][0]), 0, 0, &pcm, &n, &info, err, sizeof err);
            CHECKF(st == SP_ERR_UNSUPPORTED && !pcm && strstr(err, none[k][2]), "%s: %d %s", none[k][0], st, err);
        }
    }
}

static void test_duration_cap(int tools)
{
    float *pcm = NULL;
    size_t n = 0;
    sp_audio_info info;
    char err[256];
    TEST("10 h of silence as tiny FLAC / MP3 refused by the duration cap") {
        if (!tools) { printf("# skip: tools missing\n"); continue; }
        if (tb_sh("sox -n -r 8000 -c 1 %s trim 0 36000", tb_path("long.flac")) == 0) {
            sp_status st = sp_audio_load(tb_path("long.flac"), 0, 600, &pcm, &n, &info, err, sizeof err);
            /* refused from the header, before decoding (it had been decoded up to the cap) */
            CHECKF(st == SP_ERR_TOO_LARGE && pcm == NULL && strstr(err, "header says 36000 s"), "%d %s", st, err);
        }
        /* sox cannot encode long MP3 quickly: 20 minutes at 8 kHz, capped to 60 s */
        if (tb_sh("ffmpeg -loglevel error -y -f lavfi -i anullsrc=r=8000:cl=mono -t 1200 -c:a libmp3lame -b:a 8k %s",
                  tb_path("long.mp3")) == 0) {
            sp_status st = sp_audio_load(tb_path("long.mp3"), 0, 60, &pcm, &n, &info, err, sizeof err);
            CHECKF(st == SP_ERR_TOO_LARGE && pcm == NULL && strstr(err, "header says 1200 s"), "%d %s", st, err);
        }
    }
}

/* A file cut short is reported as such where its header says how long it is (FLAC's
 * STREAMINFO, an MP3's Info frame, Matroska's Duration), as a cut WAV is: it had been
 * decoded as if whole. */
static void test_cut_files(int tools)
{
    sp_audio_info info;
    TEST("FLAC, MP3 and WebM cut in half: decoded and marked truncated; whole: not") {
        if (!tools) { printf("# skip: tools missing\n"); continue; }
        const char *name[3] = { "tone.flac", "tone.mp3", "tone.webm" };
        for (int k = 0; k < 3; k++) {
            if (tb_sh("ffmpeg -loglevel error -y -f lavfi -i sine=f=440:r=16000 -t 10 %s", tb_path(name[k])))
                continue;
            char cut[600];
            snprintf(cut, sizeof cut, "%s", tb_path("cut.bin"));
            tb_sh("head -c $(( $(stat -c%%s %s) / 2 )) %s > %s", tb_path(name[k]), tb_path(name[k]), cut);
            size_t n = 0, nc = 0;
            float *a = load_or_null(tb_path(name[k]), &n, &info);
            const int whole_truncated = info.truncated;
            float *b = load_or_null(cut, &nc, &info);
            CHECKF(a && !whole_truncated && labs((long)n - 160000) < 3200, "%s: %zu samples", name[k], n);
            CHECKF(b && info.truncated && nc > 40000 && nc < 130000, "%s cut: %zu samples, truncated %d",
                   name[k], nc, info.truncated);
            free(a);
            free(b);
        }
    }
}

/* A clip cut with head -c from a long recording keeps the long one's header (an MP3's
 * Xing/Info frame, FLAC's STREAMINFO, Matroska's Duration): the header is a hint, not a
 * verdict. The clip is decoded (marked truncated), with the same PCM as when no check ran;
 * the whole file is still refused from its header. It had been refused ("header says 600 s"),
 * like any clip over HTTP (1 h cap) cut from a recording over an hour. */
static void test_cut_long_header(int tools)
{
    char err[256] = "";
    sp_audio_info info;
    TEST("clip cut from a long FLAC, MP3, WebM: decoded and truncated, not refused by the header") {
        if (!tools) { printf("# skip: tools missing\n"); continue; }
        const char *enc[3][2] = {
            { "long10m.flac", "-c:a flac" }, { "long10m.mp3", "-c:a libmp3lame -b:a 8k" },
            { "long10m.webm", "-c:a libopus -b:a 8k" },
        };
        for (int k = 0; k < 3; k++) {
            /* a steady tone, so the bytes grow with the time: 1/20 of the file is ~30 s */
            if (tb_sh("ffmpeg -loglevel error -y -f lavfi -i sine=f=440:r=8000 -t 600 %s %s", enc[k][1],
                      tb_path(enc[k][0])) ||
                tb_sh("head -c $(( $(stat -c%%s %s) / 20 )) %s > %s", tb_path(enc[k][0]), tb_path(enc[k][0]),
                      tb_path("clip.bin")))
                continue;
            float *pcm = NULL, *ref = NULL;
            size_t n = 0, nref = 0;
            sp_status st = sp_audio_load(tb_path("clip.bin"), 0, 60, &pcm, &n, &info, err, sizeof err);
            CHECKF(st == SP_OK && info.truncated && n > 16000 * 15 && n < 16000 * 50 && tb_rms(pcm, n) > 0.05,
                   "%s clip, cap 60 s: status %d, %zu samples, truncated %d: %s", enc[k][0], st, n,
                   info.truncated, err);
            /* under the 4 h default the header is no reason to look: the same PCM */
            CHECK(sp_audio_load(tb_path("clip.bin"), 0, 0, &ref, &nref, &info, err, sizeof err) == SP_OK);
            CHECKF(pcm && ref && n == nref && memcmp(pcm, ref, n * sizeof *pcm) == 0, "%s clip: %zu vs %zu samples",
                   enc[k][0], n, nref);
            free(pcm);
            free(ref);
            pcm = NULL;
            st = sp_audio_load(tb_path(enc[k][0]), 0, 60, &pcm, &n, &info, err, sizeof err);
            CHECKF(st == SP_ERR_TOO_LARGE && !pcm && strstr(err, "header says 600 s"), "%s whole: %d %s",
                   enc[k][0], st, err);
        }
    }
}

static void test_jfk(void)
{
    sp_audio_info info;
    TEST("jfk.wav and jfk.mp3 from ../shared/data agree") {
        const char *shared = getenv("SHARED") ? getenv("SHARED") : "../shared";
        char w[512], m[512];
        snprintf(w, sizeof w, "%s/data/jfk.wav", shared);
        snprintf(m, sizeof m, "%s/data/jfk.mp3", shared);
        if (access(w, R_OK) || access(m, R_OK)) { printf("# skip: jfk files absent\n"); continue; }
        size_t nw = 0, nm = 0;
        float *a = load_or_null(w, &nw, &info);
        CHECK(a && nw == 176000);
        float *b = load_or_null(m, &nm, &info);
        CHECK(b && labs((long)nm - 176000) < 2400);
        if (a && b) {
            int lag = 0;
            double c = tb_xcorr(a, nw, b, nm, 1200, &lag);
            printf("# jfk mp3 vs wav: %zu samples, correlation %.4f at lag %d\n", nm, c, lag);
            CHECK(c > 0.95);
            CHECK(!sp_audio_is_empty(a, nw) && !sp_audio_is_empty(b, nm));
        }
        free(a); free(b);
    }
}

int main(void)
{
    int tools = tb_have("sox") && tb_have("ffmpeg") && tb_have("espeak-ng");

    test_resample_44k_stereo();
    test_resample_48k_antialias();
    test_resample_8k_up();
    test_sine_sweep();

    char speech[512];
    snprintf(speech, sizeof speech, "%s", tb_path("speech.wav"));
    int have_speech = tools &&
        tb_sh("espeak-ng -w %s 'The quick brown fox jumps over the lazy dog. Speech session test.' "
              ">/dev/null 2>&1", tb_path("espeak.wav")) == 0 &&
        tb_sh("sox %s -r 16000 -b 16 -e signed %s", tb_path("espeak.wav"), speech) == 0;

    test_lossless_formats(speech, have_speech);
    test_id3_prefix(speech, have_speech);
    test_id3_several_and_padding(speech, have_speech);
    test_bare_mp3_not_id3(tools);
    test_mp3_resync(speech, have_speech);
    test_lossy_formats(speech, have_speech);
    test_container_sniffing(speech, have_speech);
    test_unsupported_codecs(speech, have_speech);
    test_id3_refusals(speech, have_speech);
    test_stream_choice(speech, have_speech);
    test_cut_files(tools);
    test_duration_cap(tools);
    test_cut_long_header(tools);
    test_jfk();
    tb_cleanup();
    TEST_EXIT();
}
