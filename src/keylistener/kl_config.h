/* kl_config.h — key_listener's settings: defaults, the config file
 * ($XDG_CONFIG_HOME/speech-session/key_listener.conf, else ~/.config/...) and flags.
 * The file holds "name = value" lines named like the long options ("key = F16",
 * "mode = toggle", "keep-audio = yes"); '#' starts a comment. Flags override the file. */
#ifndef KL_CONFIG_H
#define KL_CONFIG_H

#include <stddef.h>

/* Options that may be given many times (replacement rules, per-app rules): each entry is
 * "NAME\tVALUE", in the order given (file first, then flags). */
typedef struct { char **v; size_t n; } kl_list;

#define KL_KEYS_MAX 4

typedef struct {
    char key_name[128];         /* as given: "Insert", or "Insert,F16:de" */
    int key;                    /* the first key's evdev code */
    int keys[KL_KEYS_MAX];      /* every trigger key's code (keys[0] == key) */
    char key_lang[KL_KEYS_MAX][16];   /* the language a key records in ("" the default) */
    int nkeys;
    int toggle;                 /* mode: 0 hold, 1 toggle */
    char trigger[16];           /* evdev | terminal | none */
    char evdev_dir[256];
    char audio[16];             /* auto | pulse | alsa */
    char source[256];           /* "" default */
    int preroll_ms;
    double max_seconds;
    int min_ms;
    char output[16];            /* type | copy | print */
    char typer[16];
    int type_delay_ms, modifier_wait_ms;
    double timeout;             /* transcription wait */
    char model[1024], daemon[1024];
    double daemon_timeout;      /* < 0: the daemon's default */
    int no_start, keep_audio;
    int send_silence;           /* send recordings the VAD hears no speech in (kl_chunk_speech) */
    char log[1024], socket[1024];
    char start_sound[1024], stop_sound[1024], sound_player[256];
    /* post-processing (kl_post.h) */
    int fillers, punctuation;
    char filler_words[512], hook[1024];
    double hook_timeout;
    kl_list rules;              /* replace, replace-exact, replace-regex */
    /* decoding: sent with every request */
    char vocabulary[4097], initial_prompt[4097];   /* the daemon's 4096 bytes (KL_PROMPT_MAX) */
    char language[16];          /* "" the daemon's default, "auto", or a code */
    char languages[128];        /* "en,de": detection restricted to these */
    int audio_ctx;              /* encoder positions: 0 the daemon's, 1..1500, SP_AUDIO_CTX_AUTO */
    /* paste mode and the clipboard */
    char paste_chord[64];       /* "ctrl+v", "ctrl+shift+v", "shift+Insert" */
    int paste_delay_ms;         /* before the saved clipboard is put back */
    double join_seconds;        /* s: a dictation begun within this of the previous one's typing,
                                 * in the same app, continues it (a space, its text as context); 0 off */
    double clipboard_restore;   /* s: fallback/copy text, then the user's clipboard back; 0 never */
    int enter;                  /* press Enter after the text */
    /* history */
    int history;                /* entries kept; 0 off */
    char history_file[1024];
    /* hands-free */
    int auto_stop_ms;           /* stop after this much silence (0 off) */
    double silence_level;       /* RMS (0..1) below which a 20 ms block is silence */
    int continuous;             /* type each utterance as it ends, keep recording */
    /* chunked dictation (kl_chunk.h): cut at pauses while the key is held */
    double chunk_seconds;       /* speech per chunk before a cut is looked for; 0 off */
    int chunk_pause_ms;         /* shortest pause a cut may fall in */
    char vad_model[1024];       /* Silero ggml file; "" the energy detector */
    int live;                   /* type each chunk's text as soon as it is final */
    /* per-app rules and feedback */
    kl_list apps;               /* "app\tPATTERN: key=value, ..." */
    int notify;
    char ready_sound[1024];
} kl_opts;

void kl_opts_default(kl_opts *o);
/* Frees the lists. */
void kl_opts_free(kl_opts *o);
/* Sets one option by its long name; 0, or -1 with a message. Bool options accept no value
 * (NULL) as "yes". */
int kl_opts_set(kl_opts *o, const char *name, const char *value, char *err, size_t n);
/* Loads a config file; a missing file is fine when !required. 0 or -1 with a message
 * naming the file and line. */
int kl_config_load(kl_opts *o, const char *path, int required, char *err, size_t n);
/* The default config path into buf ("" when neither XDG_CONFIG_HOME nor HOME is set). */
void kl_config_default_path(char *buf, size_t n);

#endif
