/* kl_evdev.c — see kl_evdev.h. */
#include "keylistener/kl_evdev.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const int mod_codes[8] = { KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_LEFTCTRL, KEY_RIGHTCTRL,
                                  KEY_LEFTALT, KEY_RIGHTALT, KEY_LEFTMETA, KEY_RIGHTMETA };

unsigned kl_evdev_mod_bit(int code)
{
    for (int i = 0; i < 8; i++)
        if (mod_codes[i] == code) return 1u << i;
    return 0;
}

void kl_evdev_init(kl_evdev *s, int key, int toggle)
{
    memset(s, 0, sizeof *s);
    s->key[0] = key;
    s->nkeys = 1;
    s->toggle = toggle;
}

int kl_evdev_add_key(kl_evdev *s, int key)
{
    for (int k = 0; k < s->nkeys; k++)
        if (s->key[k] == key) return -1;
    if (s->nkeys == KL_EV_KEYS) return -1;
    s->key[s->nkeys] = key;
    return s->nkeys++;
}

/* the index of trigger key code, or -1 */
static int key_index(const kl_evdev *s, int code)
{
    for (int k = 0; k < s->nkeys; k++)
        if (s->key[k] == code) return k;
    return -1;
}

int kl_evdev_add(kl_evdev *s)
{
    for (int i = 0; i < KL_EV_SLOTS; i++)
        if (!s->slot[i].used) {
            memset(&s->slot[i], 0, sizeof s->slot[i]);
            s->slot[i].used = 1;
            return i;
        }
    return -1;
}

int kl_evdev_key_down(const kl_evdev *s)
{
    for (int i = 0; i < KL_EV_SLOTS; i++)
        if (s->slot[i].used && s->slot[i].key_down) return 1;
    return 0;
}

unsigned kl_evdev_mods(const kl_evdev *s)
{
    unsigned m = 0;
    for (int i = 0; i < KL_EV_SLOTS; i++)
        if (s->slot[i].used) m |= s->slot[i].mods;
    return m;
}

/* Sets slot's keys held (a bit per key); the action follows from the aggregate before and
 * after, `pressed` from the lowest key newly down. */
static kl_ev_action set_keys(kl_evdev *s, int slot, unsigned down)
{
    int before = kl_evdev_key_down(s);
    unsigned was = s->slot[slot].key_down, pressed = down & ~was;
    s->slot[slot].key_down = down;
    int after = kl_evdev_key_down(s);
    kl_ev_action a = KL_EV_NONE;
    if (s->toggle) a = pressed ? KL_EV_TOGGLE : KL_EV_NONE;
    else if (!before && after) a = KL_EV_START;
    else if (before && !after) a = KL_EV_STOP;
    if ((a == KL_EV_START || a == KL_EV_TOGGLE) && pressed) s->pressed = __builtin_ctz(pressed);
    return a;
}

kl_ev_action kl_evdev_event(kl_evdev *s, int slot, const struct input_event *ev)
{
    if (slot < 0 || slot >= KL_EV_SLOTS || !s->slot[slot].used) return KL_EV_NONE;
    kl_ev_slot *d = &s->slot[slot];
    if (ev->type == EV_SYN && ev->code == SYN_DROPPED) {
        d->dropped = 1;
        return KL_EV_NONE;
    }
    if (d->dropped) return KL_EV_NONE;   /* until SYN_REPORT; kl_evdev_read resyncs */
    if (ev->type != EV_KEY) return KL_EV_NONE;
    unsigned mb = kl_evdev_mod_bit(ev->code);
    if (mb) {
        if (ev->value == 0) d->mods &= ~mb;
        else d->mods |= mb;
    }
    const int k = key_index(s, ev->code);
    if (k < 0 || ev->value == 2) return KL_EV_NONE;   /* autorepeat */
    return set_keys(s, slot, ev->value ? d->key_down | 1u << k : d->key_down & ~(1u << k));
}

kl_ev_action kl_evdev_resync(kl_evdev *s, int slot, unsigned key_down, unsigned mods)
{
    if (slot < 0 || slot >= KL_EV_SLOTS || !s->slot[slot].used) return KL_EV_NONE;
    s->slot[slot].mods = mods;
    s->slot[slot].dropped = 0;
    int toggle = s->toggle;
    s->toggle = 0;   /* a missed press is not replayed as a toggle */
    kl_ev_action a = set_keys(s, slot, key_down & ((1u << s->nkeys) - 1));
    s->toggle = toggle;
    if (toggle) a = KL_EV_NONE;
    return a;
}

kl_ev_action kl_evdev_remove(kl_evdev *s, int slot)
{
    if (slot < 0 || slot >= KL_EV_SLOTS || !s->slot[slot].used) return KL_EV_NONE;
    kl_ev_action a = kl_evdev_resync(s, slot, 0, 0);
    memset(&s->slot[slot], 0, sizeof s->slot[slot]);
    return a;
}

static void resync_from_device(kl_evdev *s, int slot, int fd, void (*cb)(void *, kl_ev_action),
                               void *u)
{
    unsigned char bits[KEY_MAX / 8 + 1];
    memset(bits, 0, sizeof bits);
    unsigned down = 0, mods = 0;
    if (ioctl(fd, EVIOCGKEY(sizeof bits), bits) >= 0) {
        for (int k = 0; k < s->nkeys; k++) down |= ((bits[s->key[k] / 8] >> (s->key[k] % 8)) & 1u) << k;
        for (int i = 0; i < 8; i++)
            if ((bits[mod_codes[i] / 8] >> (mod_codes[i] % 8)) & 1) mods |= 1u << i;
    }
    kl_ev_action a = kl_evdev_resync(s, slot, down, mods);
    if (a != KL_EV_NONE && cb) cb(u, a);
}

int kl_evdev_read(kl_evdev *s, int slot, int fd, void (*cb)(void *u, kl_ev_action a), void *u)
{
    if (slot < 0 || slot >= KL_EV_SLOTS || !s->slot[slot].used) { errno = EINVAL; return -1; }
    kl_ev_slot *d = &s->slot[slot];
    unsigned char buf[64 * sizeof(struct input_event)];
    for (;;) {
        memcpy(buf, d->part, d->have);
        ssize_t k = read(fd, buf + d->have, sizeof buf - d->have);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            if (errno == ENODEV) return 1;
            return -1;
        }
        if (k == 0) return 1;
        size_t total = d->have + (size_t)k, off = 0;
        while (total - off >= sizeof(struct input_event)) {
            struct input_event ev;
            memcpy(&ev, buf + off, sizeof ev);
            off += sizeof ev;
            int was_dropped = d->dropped;
            kl_ev_action a = kl_evdev_event(s, slot, &ev);
            if (a != KL_EV_NONE && cb) cb(u, a);
            if (was_dropped && ev.type == EV_SYN && ev.code == SYN_REPORT)
                resync_from_device(s, slot, fd, cb, u);
        }
        d->have = total - off;
        memcpy(d->part, buf + off, d->have);
    }
}
