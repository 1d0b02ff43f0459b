/* kl_keys.h — key names for the trigger (docs/key_listener.md).
 * kl_key_parse accepts, case-insensitively: a name from the table ("Insert", "F16",
 * "RightCtrl", "Pause", "BTN_SIDE"/"MouseBack", ...), the kernel's "KEY_xxx"/"BTN_xxx"
 * spelling of those, or a number ("110", "0x6e"). Returns the evdev code, or -1. */
#ifndef KL_KEYS_H
#define KL_KEYS_H

int kl_key_parse(const char *name);
/* The table's canonical name of code, or NULL. */
const char *kl_key_name(int code);
/* 1 for the eight modifier keys (Shift/Ctrl/Alt/Meta, left and right). */
int kl_key_is_modifier(int code);

#endif
