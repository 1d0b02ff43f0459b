/* subtitles.h — bin/transcribe's srt/vtt cue writers and its TSV writer.
 *
 * Without shaping options a cue is a segment (its times, its text). With any of
 * --max-line-width, --max-line-count, --max-words-per-line, --highlight-words the cues are
 * made from the words (word timestamps), as openai-whisper's SubtitlesWriter makes them:
 * the same line breaks, the same cue splits, the same times for the same segments and words.
 * Cue text is escaped the same way in both: a line break inside a text is a space, "-->"
 * becomes "->", and WebVTT's '&' and '<' are written as entities (the line breaks the
 * shaping puts in and the <u>...</u> of --highlight-words are markup, written as they are). */
#ifndef SS_SUBTITLES_H
#define SS_SUBTITLES_H

#include "speech.h"

#include <stdio.h>

typedef struct {
    int max_line_width;       /* characters (code points) in a line; 0: not given */
    int max_line_count;       /* lines in a cue; 0: not given (only with max_line_width) */
    int max_words_per_line;   /* 0: not given */
    int highlight_words;      /* each word in a cue of its own time, underlined */
} sub_opts;

/* 1 when the cues are made from the words (any shaping option given) */
int sub_shaped(const sub_opts *o);

/* HH:MM:SS<sep>mmm of t seconds (negative: 0), milliseconds rounded */
void sub_ts(FILE *f, double t, char sep);

/* One cue's text, escaped (see above); vtt: WebVTT's escapes too */
void sub_cue_text(FILE *f, const char *s, int vtt);

/* s without leading and trailing ASCII whitespace (Python's str.strip() on ASCII): its
 * start, its length in *len */
const char *sub_strip_ascii(const char *s, size_t *len);

/* The cues of r (the part of an srt or vtt document after its header): one per segment,
 * or shaped by *o from the words. srt: numbered from 1, ',' before the milliseconds; vtt:
 * '.'. Returns 0, or -1 when out of memory (what was written stays). */
int sub_write_cues(FILE *f, const sp_result *r, const sub_opts *o, int srt);

/* openai-whisper's TSV: a "start\tend\ttext" header, then per segment integer milliseconds
 * and the text stripped, its tabs (and line breaks) as spaces. */
void sub_write_tsv(FILE *f, const sp_result *r);

#endif
