/* kl_clip.h — the clipboard, saved and put back: wl-copy/wl-paste on Wayland (WAYLAND_DISPLAY),
 * else xclip on X11 (DISPLAY), CLIPBOARD selection.
 *
 * Saving keeps one representation of what the user had copied, the most faithful one that
 * the tools can serve again: an image type when there is one (image/png first), else UTF-8
 * text, else the first data type offered. Restoring puts exactly those bytes back under that
 * type — but only while the clipboard still holds the text we put there, so something the
 * user copied in the meantime is never overwritten. An empty clipboard is restored as empty
 * (wl-copy --clear; on X11 an empty text). */
#ifndef KL_CLIP_H
#define KL_CLIP_H

#include <stddef.h>

typedef struct {
    int valid;          /* something was saved (possibly "empty") */
    int wayland;
    int empty;
    char type[128];
    char *data;
    size_t len;
} kl_clip_saved;

/* Which tool set is usable now: 1 Wayland, 0 X11, -1 none. */
int kl_clip_kind(void);
/* Saves the clipboard into s (s->valid set). 0, or with a message -1 (no tool) or -2 (its
 * content cannot be read: over 64 MiB, or its owner does not answer; nothing to restore). */
int kl_clip_save(kl_clip_saved *s, char *err, size_t n);
/* Puts text on the clipboard. 0, or -1 with a message; how names the tool. */
int kl_clip_set_text(const char *text, char *how, size_t hn, char *err, size_t n);
/* The clipboard's text (malloc'd), or NULL when it holds none. */
char *kl_clip_get_text(int wayland);
/* Restores s when the clipboard still holds ours (NULL: unconditionally). Returns 1 restored,
 * 0 left alone (the user copied something else), -1 on error (err). Frees s's data. */
int kl_clip_restore(kl_clip_saved *s, const char *ours, char *err, size_t n);
void kl_clip_saved_free(kl_clip_saved *s);

/* Sends a key chord ("ctrl+v", "ctrl+shift+v", "shift+Insert", "Return") to the focused
 * window with wtype (Wayland), dotool, ydotool, xtest (X11, built in: kl_xtest.h) or xdotool; typer
 * forces one ("auto": probe). 0 with
 * how naming the tool, or -1 with a message. */
int kl_send_chord(const char *chord, const char *typer, char *how, size_t hn, char *err, size_t n);

#endif
