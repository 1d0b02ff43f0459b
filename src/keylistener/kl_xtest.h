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
 * Caps Lock: keys of the keymap are chosen with the locked modifiers taken into account. A
 * Latin-1 letter with a case pair (é/É) is bound to its spare keycode as lower/upper in the
 * first two columns of both groups, so the server gives the key the ALPHABETIC type, whose
 * level the application picks from Shift XOR Lock, and the key is pressed with Shift when
 * that gives the wanted case. Bound the same in every column, xterm upper-cased é under
 * Caps Lock (Xlib's case conversion for an unconsumed Lock). Everything else is still bound
 * the same in every column: the server does not pair Unicode keysyms (ж/Ж as a pair came
 * out Ж), and xterm left ß, ж, Ω alone under Caps Lock. Not covered: an application that
 * upper-cases non-Latin-1 keysyms itself under Caps Lock (xkbcommon-based ones may), ÿ.
 *
 * Bounded: every call first connects to the display (its local socket, or TCP for a host as
 * in ssh's "localhost:10.0") and waits at most KL_XTEST_REPLY_MS in all for the connection
 * and an answer to a connection setup (a stopped server accepts the connection, or queues
 * it, and never answers, and XOpenDisplay would wait for ever). After that a guard
 * thread shuts the connection's socket down when one step — a round trip, a key, the
 * flush of a full buffer — took longer than KL_XTEST_REPLY_MS (the waits between keys and
 * the hold do not count); Xlib then fails at once with an I/O error. So a server that stops
 * answering costs at most KL_XTEST_REPLY_MS plus the step's own waits; spare keycodes bound
 * at that moment stay bound (nothing can reach the server to undo it). Not bounded: a
 * server that stops between the probe and XOpenDisplay's reply, a display of a form the
 * probe does not read (a socket path). The probe's setup carries the display's cookie from
 * the Xauthority file, as Xlib finds it (a refused probe is an answer too, but servers log
 * it, and ssh's X forwarding prints it on the user's terminal). The caller ignores SIGPIPE
 * (a write to the shut socket would raise it).
 *
 * Interruption: kl_xtest_interrupt (async-signal-safe) makes a call in progress stop
 * before its next key, put the keymap back (the hold included) and fail, and every later
 * call fail at once: a termination signal must not leave spare keycodes bound, and Xlib
 * cannot be called from a signal handler. kl_xtest_quiesce waits for that.
 *
 * A modifier still held by the user is not handled here: the caller waits until none is
 * (kl_output.h, --modifier-wait). That wait stands in for xdotool's --clearmodifiers for
 * chords too; Caps Lock is not a held modifier and is left as it is (an application matches
 * Ctrl+V with or without it). */
#ifndef KL_XTEST_H
#define KL_XTEST_H

#include <stddef.h>

/* Waits, in ms: after binding spare keycodes before the first key (clients that re-read the
 * keymap on MappingNotify do it meanwhile), and after the last key typed with them before
 * the binding changes again (the hold above). KL_XTEST_HOLD_MS in the environment (0..5000)
 * overrides the hold, for measuring. */
#define KL_XTEST_BIND_WAIT_MS 20
#define KL_XTEST_HOLD_MS 200
/* The longest one step may wait for the X server (above, "Bounded"), in ms. */
#define KL_XTEST_REPLY_MS 4000
/* Modifiers in a chord, at most. */
#define KL_XTEST_MAX_MODS 4

/* Types text (UTF-8; invalid bytes become U+FFFD) into the focused window of $DISPLAY,
 * delay_ms between keys (0: none). 0 when typed; -1 with err when not: no DISPLAY, the
 * display cannot be opened, no XTest or XKB extension, a character with no key and no spare
 * keycode (these before any key is pressed), an X error on the way, a server that does not
 * answer within the bound, an interruption (kl_xtest_interrupt). -2 when that happened after
 * keys of the text were pressed (or when putting the keymap back failed after all of them):
 * the window holds some or all of it, so typing it again elsewhere would repeat it. The
 * original keymap is restored on every path on which the display still answers. Calls are
 * serialized. */
int kl_xtest_type(const char *text, int delay_ms, char *err, size_t n);
/* Sends a chord ("ctrl+v", "ctrl+shift+v", "shift+Insert", "Return"; kl_xtest_chord_parse)
 * to the focused window of $DISPLAY: the modifiers pressed in the order written, Shift when
 * the key needs it and the chord has none, the key, all released in reverse — also on
 * every error path while the display answers. A key the keymap lacks is bound to a spare
 * keycode for the chord (with the bind wait and hold above). 0, or -1 with err. */
int kl_xtest_chord(const char *chord, char *err, size_t n);
/* Async-signal-safe: typing in progress stops before its next key with the keymap put
 * back, and every later kl_xtest_type / kl_xtest_chord fails ("interrupted"). For good: it
 * is meant for a process that is shutting down. */
void kl_xtest_interrupt(void);
/* 1 once kl_xtest_interrupt was called. */
int kl_xtest_interrupted(void);
/* kl_xtest_interrupt, then waits up to ms for a call in progress to end (its keymap put
 * back). 0 when none is in progress any more, -1 when one still is. Not from a signal
 * handler. */
int kl_xtest_quiesce(int ms);

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
/* Splits "mod+mod+key": modifiers (case-insensitive) ctrl/control, shift, alt, super/meta/
 * logo become the keysyms Control_L, Shift_L, Alt_L, Super_L in mods (room for
 * KL_XTEST_MAX_MODS; a repeated one counts once); the key is an X keysym name
 * (XStringToKeysym: "v", "Return", "Insert", "F5", "plus"), else the same capitalized
 * ("return"), "enter" for Return; a single letter is that letter's key whatever its case
 * ("ctrl+V" is Ctrl+v, not Ctrl+Shift+v). 0, or -1 when malformed or unknown. */
int kl_xtest_chord_parse(const char *chord, unsigned long *mods, size_t *nmods, unsigned long *key);
/* The per keysyms binding a spare keycode gets for ks: a case pair (XConvertCase; ks one of
 * them, both Latin-1: see above) as lower, upper in columns 0-3 (both groups) and NoSymbol
 * beyond, when per >= 2; anything else ks in every column. Returns 1 for a case pair. */
int kl_xtest_spare_row(unsigned long ks, int per, unsigned long *row);

#endif
