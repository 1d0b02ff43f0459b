/* kl_app.h — per-application rules: the focused window's class (X11: _NET_ACTIVE_WINDOW, else
 * the input focus, then its WM_CLASS, through xprop/xdotool; sway: the focused node's app_id or
 * X11 class from `swaymsg -t get_tree` when SWAYSOCK is set; Hyprland, niri, KDE (kdotool) and
 * GNOME (the Window Calls extension, through gdbus) by their own tools) picks the first rule
 * "PATTERN: key=value, ..." whose pattern (shell glob, case-insensitive, alternatives with |,
 * blanks around them ignored)
 * matches. Keys: output (type|paste|copy|print), paste-chord, enter (yes|no), profile. */
#ifndef KL_APP_H
#define KL_APP_H

#include <stddef.h>

#include "keylistener/kl_config.h"

typedef struct {
    char output[16];       /* "" unchanged */
    char paste_chord[64];
    int enter;             /* -1 unchanged */
    char profile[64];
    char pattern[256];     /* the rule that matched ("" none) */
} kl_app_rule;

/* The focused application's names ("instance\tclass", or the sway app_id); 0, or -1. */
int kl_focused_app(char *names, size_t n);
/* The string gdbus prints for a method's one string result, GVariant text "('...',)" (glib's
 * g_variant_print: quoted with ' or ", escapes \\ \' \" \n \t ... \uXXXX \UXXXXXXXX), decoded:
 * malloc'd, or NULL when text is not that. */
char *kl_gvariant_string(const char *text);
/* Checks a rule "PATTERN: key=value, ..." as kl_app_match reads it (at start-up, so a typo
 * stops the listener instead of failing at dictation time); 0, or -1 with why. */
int kl_app_check(const char *rule, char *err, size_t n);
/* The first rule matching names; 1 matched, 0 none, -1 a malformed rule (err). */
int kl_app_match(const kl_list *apps, const char *names, kl_app_rule *out, char *err, size_t n);

#endif
