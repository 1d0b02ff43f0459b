# Audio module (src/audio, tests/unit/test_audio*.c, test_vad.c, bench/main_bench_audio.c,
# fuzz/fuzz_wav.c, fuzz/fuzz_audio.c). FFmpeg's libraries (libavformat, libavcodec,
# libswresample, libavutil) are already in the top Makefile's PKGS for every program, so
# nothing extra is linked here.
