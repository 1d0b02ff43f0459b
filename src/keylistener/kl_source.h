/* kl_source.h — capture sources for kl_capture: PulseAudio/PipeWire (libpulse-simple, the
 * name resolved with the introspection API) and ALSA. Only bin/key_listener links this
 * file (mk/keylistener.mk adds -lpulse-simple -lpulse -lasound).
 *
 * Device names: an exact PulseAudio source name ("virt.monitor",
 * "alsa_input.usb-Blue_Yeti-00.analog-stereo"), else the first source whose name or
 * description contains the given text (case-insensitive; monitors only when the text
 * says "monitor"). ALSA: an exact PCM name ("default", "hw:CARD=Device,DEV=0",
 * "plughw:1"), else the first card whose id or name contains the text (opened as
 * plughw:CARD=<id>). Resolution happens at every open. */
#ifndef KL_SOURCE_H
#define KL_SOURCE_H

#include "keylistener/kl_capture.h"

/* backend: "pulse", "alsa" or "auto" (PulseAudio when a server answers, else ALSA).
 * Returns 0, or -1 with a message. */
int kl_source_select(const char *backend, kl_source_ops *ops, char *err, size_t n);
/* Prints the sources of the backend, one per line ("NAME\tDESCRIPTION"). */
int kl_source_list(const char *backend, char *err, size_t n);

#endif
