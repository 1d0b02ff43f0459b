# key_listener (src/keylistener, docs/key_listener.md): capture through libpulse-simple
# (PulseAudio/PipeWire) with the ALSA fallback. Only kl_source.c calls these libraries, and
# only bin/key_listener pulls that file out of build/<v>/libkeylistener.a, so the other
# programs link as before.
EXTRA_LDLIBS_key_listener := -lpulse-simple -lpulse -lasound
EXTRA_LDLIBS_test_keylistener := -lpulse-simple -lpulse -lasound
