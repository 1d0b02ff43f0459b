/* kl_output.h — delivering the text: typed into the focused window, copied to the
 * clipboard, or printed.
 *
 * Typing tools are probed in this order, each only when its environment fits:
 *   wtype   (WAYLAND_DISPLAY set; needs the virtual-keyboard protocol: sway, Hyprland, ...)
 *   dotool  (/dev/uinput writable)
 *   ydotool (a ydotoold socket: $YDOTOOL_SOCKET, $XDG_RUNTIME_DIR/.ydotool_socket, /tmp/.ydotool_socket)
 *   xtest   (DISPLAY set; in-process XTest, kl_xtest.h: characters without a key are bound to
 *            spare keycodes for the whole text, which xdotool does per key and loses)
 *   xdotool (DISPLAY set)
 * A tool that fails (e.g. wtype on GNOME) falls through to the next; when none typed, the
 * text goes to the clipboard (wl-copy on Wayland, else xclip) so it can be pasted — except
 * after kl_xtest_interrupt (a termination signal): then the output fails as it is.
 * Chords (the paste chord, --enter's Return) go through wtype, dotool, ydotool, xtest, xdotool.
 * Before typing, the caller-supplied mods_held() is polled until no modifier is held
 * (bounded by modifier_wait_ms), so a still-held Ctrl/Alt/Super cannot turn the text into
 * shortcuts. Every tool runs with a bounded wait and is killed past it. */
#ifndef KL_OUTPUT_H
#define KL_OUTPUT_H

#include <stddef.h>

#include "keylistener/kl_clip.h"

/* KL_OUT_PASTE: the user's clipboard is saved, the text put on the clipboard, the paste chord
 * sent, and after paste_delay_ms the saved clipboard put back (kl_clip.h). */
typedef enum { KL_OUT_TYPE = 0, KL_OUT_COPY, KL_OUT_PRINT, KL_OUT_PASTE } kl_out_mode;

/* How kl_output_text got the text out: typed by a tool, pasted with the chord, left on the
 * clipboard (--output copy, or a fallback: the user has to paste it), printed; NONE when it
 * did not. The caller needs to tell these apart: only typed or pasted text is in the
 * focused window (Return after a --live dictation depends on it). */
typedef enum { KL_DONE_NONE = 0, KL_DONE_TYPED, KL_DONE_PASTED, KL_DONE_CLIPBOARD,
               KL_DONE_PRINTED } kl_out_done;

typedef struct {
    kl_out_mode mode;
    const char *typer;         /* "auto" or one tool name to use (no probing) */
    int type_delay_ms;         /* between keystrokes, for tools that take one */
    int modifier_wait_ms;
    int (*mods_held)(void *u); /* may be NULL */
    void *mods_u;
    const char *paste_chord;   /* NULL: "ctrl+v" */
    int paste_delay_ms;
    int enter;                 /* press Return after the text (type and paste modes) */
    /* Set by kl_output_text when the text was left on the clipboard for the user to paste
     * (typing fell back to it, or the chord could not be sent): the user's clipboard as it
     * was, for the caller to restore later (kl_clip_restore with the text). May be NULL. */
    kl_clip_saved *keep;
    kl_out_done *done;         /* set by kl_output_text to how the text went out; may be NULL */
} kl_output_opts;

/* On this thread, kl_run_n waits for its tool to its timeout even after a termination
 * signal (1), or not (0, the default): for the clean-up that runs because of the signal. */
void kl_run_uninterrupted(int on);

/* Delivers text (non-empty). On success 0 and how names what was done ("xdotool",
 * "clipboard (wl-copy)", "stdout"); -1 with a message otherwise. */
int kl_output_text(const kl_output_opts *o, const char *text, char *how, size_t hn,
                   char *err, size_t n);
/* Presses Return once (after waiting, like kl_output_text, until no modifier is held), with
 * the first tool that can send keys (o->typer when forced). 0 with the tool's name in via,
 * -1 with a message. For text typed in pieces (--live) whose Return comes at its end. */
int kl_output_enter(const kl_output_opts *o, char *via, size_t vn, char *err, size_t n);
/* The script dotool is given to type text (malloc'd; NULL when out of memory): one "type"
 * command per line of the text, "key enter" between lines, so no text is read as a command. */
char *kl_output_dotool_script(const char *text, int delay);
/* ydotool's arguments after "key" for chord ("ctrl+shift+v": "29:1" "42:1" "47:1" "47:0"
 * "42:0" "29:0"; Linux input key codes, pressed and released), into args (room for max).
 * How many, or -1 when a name is not known or they do not fit. */
int kl_output_ydotool_chord(const char *chord, char args[][12], int max);
/* The typing tool that would be tried first, or NULL. */
const char *kl_output_probe(const char *typer);
/* 1 when prog is an executable in $PATH. */
int kl_in_path(const char *prog);
/* Runs argv with text on stdin, stdout to /dev/null, stderr kept (its first line goes to
 * err); waits at most timeout seconds (then SIGKILL), the writing of the text included.
 * Returns the exit status, -2 when it was killed at the timeout (a typing tool may have sent
 * part of its text by then), or -1 (also when the tool did not take the whole text). */
int kl_run(char *const argv[], const char *text, double timeout, char *err, size_t n);
/* The same with len bytes of data (binary-safe; NULL: nothing). */
int kl_run_n(char *const argv[], const void *data, size_t len, double timeout, char *err, size_t n);
/* Runs argv in a process group of its own: in_len bytes of in on stdin (NULL: empty), stdout
 * captured into *out (malloc'd, NUL-terminated, length *out_len; more than max bytes is an
 * error), stderr's first line kept for messages. Past timeout seconds the whole group is
 * killed (a shell's children too). Returns the exit status (0..255), 128+signal, or -1
 * (cannot run, timed out, output too large); err says why whenever it is not 0.
 * The caller ignores SIGPIPE (a child may not read its input). */
int kl_run_io(char *const argv[], const void *in, size_t in_len, double timeout,
              char **out, size_t *out_len, size_t max, char *err, size_t n);
/* Starts argv detached (a sound player); never waits for it. */
void kl_run_detached(char *const argv[]);

/* The output mode named by s ("copy", "print", "paste"; anything else: type). */
kl_out_mode kl_out_mode_parse(const char *s);
/* Plays file ("" nothing) with player, detached: `sh -c 'PLAYER "$1"'` with the file as $1
 * (the player is a command line: "pw-play --volume 0.5"). */
void kl_play_sound(const char *player, const char *file);
/* 0 when player's program can be found (or is shell syntax, left to sh), else -1 with a
 * message: the player runs detached and its failure is seen nowhere else. */
int kl_sound_player_check(const char *player, char *err, size_t n);
/* A desktop notification through notify-send when enabled and installed, detached; it
 * replaces key_listener's previous one instead of stacking up. */
void kl_notify(int enabled, const char *summary, const char *body);

#endif
