/* kl_evdev.h — the evdev trigger's state machine, fed struct input_event records from any fd
 * (an evdev node, or a pipe in the tests).
 *
 * Each open input device has a slot. A slot tracks which trigger keys it holds (up to
 * KL_EV_KEYS: one per language binding) and which modifiers; the trigger is "down" while any
 * slot holds any of them, so two keyboards (or a keyboard unplugged mid-press) never leave a
 * recording stuck:
 *   hold mode:   first press anywhere -> KL_EV_START; last release or unplug -> KL_EV_STOP
 *   toggle mode: each press (value 1) -> KL_EV_TOGGLE; repeats and releases ignored
 * After a START or TOGGLE, `pressed` is the index of the key that made it (for its language).
 * Autorepeat (value 2) never produces an action. After SYN_DROPPED the slot ignores events
 * up to the next SYN_REPORT, then re-reads the key state with EVIOCGKEY (on a pipe, where
 * that fails, the keys count as released). Not thread-safe; kl_evdev_mods_held may be read
 * from another thread through the atomic it returns from. */
#ifndef KL_EVDEV_H
#define KL_EVDEV_H

#include <linux/input.h>
#include <stddef.h>

#define KL_EV_SLOTS 64

typedef enum { KL_EV_NONE = 0, KL_EV_START, KL_EV_STOP, KL_EV_TOGGLE } kl_ev_action;

#define KL_EV_KEYS 4

typedef struct {
    int used, dropped;
    unsigned key_down;                     /* bit k: trigger key k held */
    unsigned mods;                         /* bit i: modifier i of kl_evdev.c's table held */
    unsigned char part[sizeof(struct input_event)];
    size_t have;                           /* bytes of a split record kept from the last read */
} kl_ev_slot;

typedef struct {
    int key[KL_EV_KEYS], nkeys, toggle;
    int pressed;                           /* the key (index) of the last START/TOGGLE */
    kl_ev_slot slot[KL_EV_SLOTS];
} kl_evdev;

void kl_evdev_init(kl_evdev *s, int key, int toggle);
/* Another trigger key (a code not already one); its index, or -1 when full. */
int kl_evdev_add_key(kl_evdev *s, int key);
/* A free slot, or -1 when all are used. */
int kl_evdev_add(kl_evdev *s);
/* One record. */
kl_ev_action kl_evdev_event(kl_evdev *s, int slot, const struct input_event *ev);
/* The device went away: frees the slot; KL_EV_STOP when it held the last trigger press. */
kl_ev_action kl_evdev_remove(kl_evdev *s, int slot);
/* Sets the slot's state from a snapshot (EVIOCGKEY; key_down: bit k for key k held); may
 * produce START/STOP. */
kl_ev_action kl_evdev_resync(kl_evdev *s, int slot, unsigned key_down, unsigned mods);
/* 1 while any slot holds the trigger key / any modifier. */
int kl_evdev_key_down(const kl_evdev *s);
unsigned kl_evdev_mods(const kl_evdev *s);
/* The modifier bit of an evdev code (0 for other keys). */
unsigned kl_evdev_mod_bit(int code);

/* Reads every available record from fd (non-blocking) and calls cb for each action.
 * Returns 0 (would block), 1 when the device is gone (EOF, ENODEV: call kl_evdev_remove),
 * -1 on another read error (errno set). */
int kl_evdev_read(kl_evdev *s, int slot, int fd, void (*cb)(void *u, kl_ev_action a), void *u);

#endif
