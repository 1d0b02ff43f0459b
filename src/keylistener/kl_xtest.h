/* kl_xtest.h — typing text into the focused X11 window with XTest, in-process (the typing
 * tool "xtest"; docs/key_listener.md, "Output").
 *
 * Why not xdotool: for a character with no key in the keymap, xdotool 3.20160805 binds it to
 * a spare keycode, presses it and reverts the binding at once. The application learns of
 * the change from MappingNotify and re-reads the keymap with a round trip, often after the
 * revert, so it reads the key with the old (empty) binding: é, —, “, €, Cyrillic, CJK were
 * dropped or garbled. A longer --delay only narrows that race.
 *
 * Here the text is decoded to keysyms first. Those the current keymap has (level 0, or
 * level 1 with Shift, in the current group, with the locked modifiers) are typed with their
 * own keys. All the others of a batch are bound at once, each to its own spare keycode (a
 * keycode without any keysym), every column of it, so any group or Shift state gives the
 * keysym; the batch is typed, and the binding is kept KL_XTEST_HOLD_MS after its last key
 * before the next batch is bound or the spare keycodes are put back as they were. More
 * distinct missing keysyms than spare keycodes make more batches: a batch ends before the
 * first keysym that would need one spare too many.
 *
 * Why the hold: an Xlib client (xterm) re-reads the keymap only when it processes the first
 * key after the MappingNotify, with a round trip that answers with the keymap as it is then.
 * Once read, that keymap serves every key up to the next MappingNotify, so the binding must
 * outlast the client's lag in processing events, not the typing. Measured in Xvfb + xterm
 * with 4 busy loops on 2 cores (docs/key_listener.md): a hold of 30 ms lost characters in 7
 * of 20 runs, 200 ms in 2 of 110 (xterm stalled longer than that).
 *
 * Not covered: Caps Lock on with a character typed through a spare keycode (an application
 * may upper-case it, as for a real key); a modifier still held by the user (the caller
 * waits for none first, kl_output.h). */
#ifndef KL_XTEST_H
#define KL_XTEST_H

#include <stddef.h>

/* Waits, in ms: after binding spare keycodes before the first key (clients that re-read the
 * keymap on MappingNotify do it meanwhile), and after the last key typed with them before
 * the binding changes again (the hold above). KL_XTEST_HOLD_MS in the environment (0..5000)
 * overrides the hold, for measuring. */
#define KL_XTEST_BIND_WAIT_MS 20
#define KL_XTEST_HOLD_MS 200

/* Types text (UTF-8; invalid bytes become U+FFFD) into the focused window of $DISPLAY,
 * delay_ms between keys (0: none). 0 when typed; -1 with err when not: no DISPLAY, the
 * display cannot be opened, no XTest or XKB extension, a character with no key and no spare
 * keycode (these before any key is pressed), or an X error on the way. The original keymap
 * is restored on every path on which the display still answers. Calls are serialized. */
int kl_xtest_type(const char *text, int delay_ms, char *err, size_t n);

/* The pure parts, for the unit tests. */

/* The keysym typing code point cp gives: '\n' and '\r' Return, '\t' Tab; Latin-1
 * (0x20-0x7e, 0xa0-0xff) the keysym of the same value; other control characters 0 (NoSymbol:
 * nothing typed); everything else 0x01000000 + cp. */
unsigned long kl_xtest_keysym(unsigned long cp);
/* Decodes len bytes of UTF-8 into keysyms in out (room for len entries), "\r\n" as one
 * Return; each maximal invalid subsequence becomes U+FFFD. Returns how many. */
size_t kl_xtest_decode(const char *text, size_t len, unsigned long *out);
/* Splits n keysyms into batches for nspare spare keycodes. missing[i] says syms[i] has no key.
 * For each missing i, slot[i] is the spare (0..nspare-1) bound to syms[i] in its batch: the
 * same keysym shares a slot, different ones never do. ends[b] is where batch b ends
 * (exclusive; room for n entries), *nb the number of batches (0 when n is 0). Linear time.
 * -1 when a keysym is missing and nspare is 0, or out of memory. */
int kl_xtest_batches(const unsigned long *syms, const unsigned char *missing, size_t n,
                     size_t nspare, unsigned *slot, size_t *ends, size_t *nb);

#endif
