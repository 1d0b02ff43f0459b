# speech-session — one Makefile for the engine library, the programs and the tests.
#
#   make            release build: every program into bin/
#   make test       sanitizer build (ASan+UBSan) of everything, then the whole test suite
#   make fuzz       libFuzzer targets into build/fuzz/ (clang); `make fuzz-run` fuzzes for a while
#   make bench      release build, then bin/bench on synthetic models
#
# Layout convention (so modules can be added without touching this file):
#   src/common src/whisper src/audio   -> build/<v>/libspeech.a (the engine library)
#   src/<dir>/main_<prog>.c           -> bin/<prog>; the other .c files of <dir> form
#                                        build/<v>/lib<dir>.a, linked into <dir>'s programs
#   tools/main_<prog>.c, bench/main_<prog>.c -> bin/<prog>
#   tests/unit/test_<name>.c          -> build/<v>/tests/test_<name>
#   fuzz/fuzz_<name>.c                -> build/fuzz/fuzz_<name>
#   *_avx2.c files are compiled with -mavx2 -mfma -mf16c and only called after a
#   runtime CPU check; *_avx512.c likewise with AVX-512F; *_avx2.S and *_avx512.S (hand-written
#   micro-kernels in the engine's directories) are assembled and called the same way.

.DEFAULT_GOAL := all
CC      ?= cc
V       ?= release
WERROR  ?= -Werror
PKGS    := libavformat libavcodec libswresample libavutil jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter $(WERROR)
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -Iinclude -Isrc $(WARN) $(PKG_CFLAGS) -MMD -MP -pthread
ifeq ($(V),release)
  OPT := -O2 -g
  SAN :=
  BINDIR := bin
else ifeq ($(V),san)
  # -O2, not -O1: the engine's loops under ASan+UBSan took 4.6x the CPU time at -O1
  # (test_transcribe 289 s vs 62 s user), and the checks are the same at either level.
  OPT := -O2 -g -fno-omit-frame-pointer
  SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
  BINDIR := build/san/bin
else ifeq ($(V),fuzz)
  OPT := -O1 -g
  SAN :=
  BINDIR := build/fuzz/bin
else
  OPT := -O0 -g
  SAN :=
  BINDIR := build/$(V)/bin
endif
CFLAGS  := $(BASE_CFLAGS) $(OPT) $(SAN) $(EXTRA_CFLAGS)
LDLIBS  := $(PKG_LIBS) -lz -lm -lpthread
LDFLAGS := $(SAN) -pthread

B := build/$(V)

LIB_DIRS := src/common src/whisper src/audio
LIB_SRC  := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c))
LIB_ASM  := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.S))
LIB_OBJ  := $(patsubst %.c,$(B)/%.o,$(LIB_SRC)) $(patsubst %.S,$(B)/%.o,$(LIB_ASM))
LIB      := $(B)/libspeech.a

# program directories: each main_<prog>.c is a program, the rest is a helper archive.
# Each directory's programs link the helper archives named in USES_<dir> (users before what
# they use), as redis' Makefile lists each binary's objects: a wrong-way dependency (the
# HTTP server or the client library reaching into src/daemon/) fails at link time. The
# session layer (src/session/: paths, safe directories, temp + rename, the request and
# response schemas, the logger, clocks) is what the programs share. A directory without a
# USES_ line links every helper archive.
PROG_DIRS := $(filter-out $(LIB_DIRS),$(wildcard src/*)) tools bench
USES_src/daemon      := daemon session
USES_src/clients     := clients session
USES_src/http        := http clients session
USES_src/keylistener := keylistener clients session
USES_src/cli         := cli
USES_src/session     := session
USES_tools           :=
USES_bench           := bench session
uses_ars = $(if $(filter undefined,$(origin USES_$(1))),$(HELPER_ARS),$(foreach n,$(USES_$(1)),$(B)/lib$(n).a))
define prog_dir
$(1)_MAINS := $$(wildcard $(1)/main_*.c)
$(1)_HELP  := $$(filter-out $$($(1)_MAINS),$$(wildcard $(1)/*.c))
$(1)_AR    := $$(if $$($(1)_HELP),$(B)/lib$$(notdir $(1)).a)
PROGS += $$(patsubst $(1)/main_%.c,$(BINDIR)/%,$$($(1)_MAINS))
HELPER_ARS += $$($(1)_AR)
$$($(1)_AR): $$(patsubst %.c,$(B)/%.o,$$($(1)_HELP))
	@mkdir -p $$(@D)
	@rm -f $$@   # a file moved to another directory must not linger in this archive
	$$(AR) rcs $$@ $$^
endef
$(foreach d,$(PROG_DIRS),$(eval $(call prog_dir,$(d))))
define prog_link
$(BINDIR)/%: $(B)/$(1)/main_%.o $(call uses_ars,$(1)) $(LIB)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$< $(call uses_ars,$(1)) $(LIB) $$(LDLIBS) $$(EXTRA_LDLIBS_$$(notdir $$@))
endef
$(foreach d,$(PROG_DIRS),$(eval $(call prog_link,$(d))))

# extra libraries per program (modules append here)
-include mk/*.mk

TEST_SRC  := $(wildcard tests/unit/test_*.c)
TESTS     := $(patsubst tests/unit/%.c,$(B)/tests/%,$(TEST_SRC))

.PHONY: all test check fuzz fuzz-run bench clean programs
all: $(PROGS)
programs: $(PROGS)

# The compiler flags are part of every object's inputs: build/<v>/.cflags is rewritten only
# when they change (a new -O level, EXTRA_CFLAGS), and every object depends on it, so a
# build never mixes objects compiled with different flags.
FLAGS_STAMP := $(B)/.cflags
$(shell mkdir -p $(B) && (echo '$(CC) $(CFLAGS) $(LDFLAGS)' | cmp -s - $(FLAGS_STAMP) || \
        echo '$(CC) $(CFLAGS) $(LDFLAGS)' > $(FLAGS_STAMP)))

$(B)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<
$(B)/%_avx2.o: %_avx2.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -mavx2 -mfma -mf16c -c -o $@ $<
$(B)/%_avx512.o: %_avx512.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -mavx512f -mavx512bw -mavx512vl -mfma -mf16c -c -o $@ $<
# hand-written kernels (x86-64 ELF only; elsewhere the file assembles to nothing)
$(B)/%.o: %.S $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) -g -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

# Tests link every helper archive, in directory order rather than users-before-used (http
# before clients): as one group, so the linker looks back for what a later archive needs.
TEST_ARS = -Wl,--start-group $(HELPER_ARS) -Wl,--end-group
$(B)/tests/%: tests/unit/%.c $(HELPER_ARS) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -Itests/unit -o $@ $< $(TEST_ARS) $(LIB) $(LDLIBS) $(TEST_LDLIBS) $(EXTRA_LDLIBS_$(notdir $@))

# Fuzz targets double as regression tests: the same LLVMFuzzerTestOneInput linked with a
# plain main() that replays fuzz/corpus/<name>/ (works with gcc, under the sanitizers).
REPLAYS := $(patsubst fuzz/fuzz_%.c,$(B)/tests/replay_%,$(wildcard fuzz/fuzz_*.c))
$(B)/tests/replay_%: fuzz/fuzz_%.c tests/replay_main.c $(HELPER_ARS) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< tests/replay_main.c $(TEST_ARS) $(LIB) $(LDLIBS) $(EXTRA_LDLIBS_$(notdir $@))

tests-build: $(PROGS) $(TESTS) $(REPLAYS)

# The test suite always runs the sanitizer build (ASan + UBSan), so every test is also a
# memory-safety check. tests/run.sh prints "N passed, N failed" last.
test:
	$(MAKE) V=san tests-build
	$(MAKE) V=release all cuda-emu build/release/tests/test_gpu
	V=san BIN=build/san/bin TESTBIN=build/san/tests sh tests/run.sh
check: test

FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN := $(patsubst fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
fuzz:
	$(MAKE) V=fuzz CC=clang EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address,undefined" $(FUZZ_BIN)
build/fuzz/%: fuzz/%.c $(HELPER_ARS) $(B)/libspeech.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(TEST_ARS) $(B)/libspeech.a $(LDLIBS) $(EXTRA_LDLIBS_$(notdir $@))
fuzz-run: fuzz
	for f in $(FUZZ_BIN); do n=$$(basename $$f); mkdir -p build/fuzz/corpus-$$n; \
	  $$f -max_total_time=$${FUZZ_SECONDS:-300} build/fuzz/corpus-$$n fuzz/corpus/$${n#fuzz_}; done

bench: all
	bin/bench

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
