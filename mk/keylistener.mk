# key_listener (src/keylistener, docs/key_listener.md): capture through libpulse-simple
# (PulseAudio/PipeWire) with the ALSA fallback, and typing on X11 through libXtst + libX11
# (the "xtest" typer). Only kl_source.c and kl_xtest.c call these libraries, and only
# bin/key_listener and the tests below pull those files out of build/<v>/libkeylistener.a,
# so the other programs link as before.
KL_X11_LIBS := -lXtst -lX11 -lXau
EXTRA_LDLIBS_key_listener := -lpulse-simple -lpulse -lasound $(KL_X11_LIBS)
EXTRA_LDLIBS_test_keylistener := -lpulse-simple -lpulse -lasound $(KL_X11_LIBS)
EXTRA_LDLIBS_test_keylistener_xtest := $(KL_X11_LIBS)
# fuzz/fuzz_post.c's replay and libFuzzer builds: kl_post's hook runner sits in kl_output.c,
# next to the xtest typer
EXTRA_LDLIBS_replay_post := $(KL_X11_LIBS)
EXTRA_LDLIBS_fuzz_post := $(KL_X11_LIBS)
