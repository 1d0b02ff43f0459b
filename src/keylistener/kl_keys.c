/* kl_keys.c — see kl_keys.h. Codes from <linux/input-event-codes.h>. */
#include "keylistener/kl_keys.h"

#include <ctype.h>
#include <errno.h>
#include <linux/input-event-codes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct { const char *name; int code; } keys[] = {
    { "Insert", KEY_INSERT }, { "Delete", KEY_DELETE }, { "Home", KEY_HOME },
    { "End", KEY_END }, { "PageUp", KEY_PAGEUP }, { "PageDown", KEY_PAGEDOWN },
    { "Pause", KEY_PAUSE }, { "ScrollLock", KEY_SCROLLLOCK }, { "CapsLock", KEY_CAPSLOCK },
    { "NumLock", KEY_NUMLOCK }, { "SysRq", KEY_SYSRQ }, { "Print", KEY_SYSRQ },
    { "Menu", KEY_COMPOSE }, { "Compose", KEY_COMPOSE },
    { "Esc", KEY_ESC }, { "Escape", KEY_ESC }, { "Tab", KEY_TAB }, { "Space", KEY_SPACE },
    { "Enter", KEY_ENTER }, { "Return", KEY_ENTER }, { "Backspace", KEY_BACKSPACE },
    { "Up", KEY_UP }, { "Down", KEY_DOWN }, { "Left", KEY_LEFT }, { "Right", KEY_RIGHT },
    { "LeftShift", KEY_LEFTSHIFT }, { "RightShift", KEY_RIGHTSHIFT },
    { "LeftCtrl", KEY_LEFTCTRL }, { "RightCtrl", KEY_RIGHTCTRL },
    { "LeftAlt", KEY_LEFTALT }, { "RightAlt", KEY_RIGHTALT }, { "AltGr", KEY_RIGHTALT },
    { "LeftMeta", KEY_LEFTMETA }, { "RightMeta", KEY_RIGHTMETA }, { "Super", KEY_LEFTMETA },
    { "F1", KEY_F1 }, { "F2", KEY_F2 }, { "F3", KEY_F3 }, { "F4", KEY_F4 }, { "F5", KEY_F5 },
    { "F6", KEY_F6 }, { "F7", KEY_F7 }, { "F8", KEY_F8 }, { "F9", KEY_F9 },
    { "F10", KEY_F10 }, { "F11", KEY_F11 }, { "F12", KEY_F12 }, { "F13", KEY_F13 },
    { "F14", KEY_F14 }, { "F15", KEY_F15 }, { "F16", KEY_F16 }, { "F17", KEY_F17 },
    { "F18", KEY_F18 }, { "F19", KEY_F19 }, { "F20", KEY_F20 }, { "F21", KEY_F21 },
    { "F22", KEY_F22 }, { "F23", KEY_F23 }, { "F24", KEY_F24 },
    { "Mute", KEY_MUTE }, { "Mic", KEY_MICMUTE }, { "MicMute", KEY_MICMUTE },
    { "VoiceCommand", KEY_VOICECOMMAND }, { "Record", KEY_RECORD }, { "Help", KEY_HELP },
    { "KPEnter", KEY_KPENTER }, { "KP0", KEY_KP0 }, { "KPPlus", KEY_KPPLUS },
    { "KPMinus", KEY_KPMINUS }, { "KPAsterisk", KEY_KPASTERISK }, { "KPSlash", KEY_KPSLASH },
    { "BTN_LEFT", BTN_LEFT }, { "BTN_RIGHT", BTN_RIGHT }, { "BTN_MIDDLE", BTN_MIDDLE },
    { "BTN_SIDE", BTN_SIDE }, { "BTN_EXTRA", BTN_EXTRA }, { "BTN_FORWARD", BTN_FORWARD },
    { "BTN_BACK", BTN_BACK }, { "MouseMiddle", BTN_MIDDLE }, { "MouseBack", BTN_SIDE },
    { "MouseForward", BTN_EXTRA },
};

static int letter_or_digit(const char *s)
{
    static const int letters[26] = {
        KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I, KEY_J, KEY_K, KEY_L,
        KEY_M, KEY_N, KEY_O, KEY_P, KEY_Q, KEY_R, KEY_S, KEY_T, KEY_U, KEY_V, KEY_W, KEY_X,
        KEY_Y, KEY_Z };
    static const int digits[10] = { KEY_0, KEY_1, KEY_2, KEY_3, KEY_4, KEY_5, KEY_6, KEY_7,
                                    KEY_8, KEY_9 };
    if (!s[0] || s[1]) return -1;
    int c = tolower((unsigned char)s[0]);
    if (c >= 'a' && c <= 'z') return letters[c - 'a'];
    if (c >= '0' && c <= '9') return digits[c - '0'];
    return -1;
}

int kl_key_parse(const char *name)
{
    if (!name || !*name) return -1;
    if (isdigit((unsigned char)name[0]) && name[1]) {   /* "110", "0x6e"; "1" is the key 1 */
        char *e;
        errno = 0;
        long v = strtol(name, &e, 0);
        if (errno || *e || v <= 0 || v > KEY_MAX) return -1;
        return (int)v;
    }
    const char *n = name;
    if (!strncasecmp(n, "KEY_", 4)) n += 4;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (!strcasecmp(n, keys[i].name) || !strcasecmp(name, keys[i].name)) return keys[i].code;
        /* kernel spellings of table names: KEY_PAGEUP, KEY_LEFTCTRL, KEY_COMPOSE, ... */
    }
    static const struct { const char *k; int code; } kernel[] = {
        { "PAGEUP", KEY_PAGEUP }, { "PAGEDOWN", KEY_PAGEDOWN }, { "SCROLLLOCK", KEY_SCROLLLOCK },
        { "CAPSLOCK", KEY_CAPSLOCK }, { "NUMLOCK", KEY_NUMLOCK }, { "MICMUTE", KEY_MICMUTE },
    };
    for (size_t i = 0; i < sizeof kernel / sizeof kernel[0]; i++)
        if (!strcasecmp(n, kernel[i].k)) return kernel[i].code;
    return letter_or_digit(n);
}

const char *kl_key_name(int code)
{
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (keys[i].code == code) return keys[i].name;
    return NULL;
}

int kl_key_is_modifier(int code)
{
    switch (code) {
    case KEY_LEFTSHIFT: case KEY_RIGHTSHIFT: case KEY_LEFTCTRL: case KEY_RIGHTCTRL:
    case KEY_LEFTALT: case KEY_RIGHTALT: case KEY_LEFTMETA: case KEY_RIGHTMETA:
        return 1;
    default:
        return 0;
    }
}
