#!/bin/sh
# bin/transcribe's oracle mode, as outside checks call it: --mel and audio input, the
# reference logits of ../shared/ref (copied to tests/data), usage errors.
set -u
cd "$(dirname "$0")/../.."
BIN=${BIN:-bin}
T=$(mktemp -d /tmp/ss-oracle.XXXXXX)
trap 'rm -rf "$T"' EXIT
ok() { echo "ok - $1"; }
nok() { echo "not ok - $1"; }
if [ ! -x "$BIN/transcribe" ]; then nok "bin/transcribe exists"; exit 1; fi

ids() { grep -v '^#' "$1" | cut -f2 | tr '\n' ' '; }
prompt() { sed -n 's/^# prompt: //p' "$1"; }

for m in micro-f16:51865 micro.en-f16:51864 micro-v3-f16:51866 micro-q5_0:51865; do
    name=${m%%:*}; nv=${m##*:}
    tsv=tests/data/logits/$name.tokens.tsv
    mel=tests/data/speech-16k.mel80.f32
    [ "$nv" = 51866 ] && mel=tests/data/speech-16k.mel128.f32
    tol=0.05; am=--argmax
    case $name in *q*) tol=0.10; am= ;; esac
    if "$BIN/transcribe" --model tests/data/models/$name.bin --mel $mel --prompt "$(prompt $tsv)" \
        --force "$(ids $tsv)" --dump-logits "$T/$name.f32" --threads 2 2>"$T/err" &&
       python3 tests/tools/compare_logits.py "$T/$name.f32" tests/data/logits/$name.logits.f32 $nv $tol $am >"$T/cmp"; then
        ok "oracle --mel matches the reference: $name ($(tail -1 "$T/cmp"))"
    else
        nok "oracle --mel matches the reference: $name"; cat "$T/err" "$T/cmp" 2>/dev/null
    fi
done

# from audio: the engine's own mel; compares with the reference within the same bar
tsv=tests/data/logits/micro-f16.tokens.tsv
if "$BIN/transcribe" --model tests/data/models/micro-f16.bin tests/data/speech-16k.wav --prompt "$(prompt $tsv)" \
    --force "$(ids $tsv)" --dump-logits "$T/audio.f32" 2>"$T/err" &&
   python3 tests/tools/compare_logits.py "$T/audio.f32" tests/data/logits/micro-f16.logits.f32 51865 0.05 --argmax >"$T/cmp"; then
    ok "oracle from speech-16k.wav matches the reference ($(tail -1 "$T/cmp"))"
else
    nok "oracle from speech-16k.wav matches the reference"; cat "$T/err" "$T/cmp"
fi

# row count: 1 + number of forced tokens
"$BIN/transcribe" --model tests/data/models/micro-f16.bin --mel tests/data/speech-16k.mel80.f32 --prompt "50258 50259 50359" \
    --dump-logits "$T/one.f32" 2>/dev/null
[ "$(stat -c %s "$T/one.f32" 2>/dev/null)" = $((51865 * 4)) ] && ok "no --force: one row" || nok "no --force: one row"

# errors: missing model, bad token ids, short mel file, unknown option
"$BIN/transcribe" --model /nonexistent.bin --mel tests/data/speech-16k.mel80.f32 --prompt 50258 --dump-logits "$T/x" 2>/dev/null
[ $? -eq 3 ] && ok "missing model exits 3" || nok "missing model exits 3"
"$BIN/transcribe" --model tests/data/models/micro-f16.bin --mel tests/data/speech-16k.mel80.f32 --prompt "50258 abc" --dump-logits "$T/x" 2>/dev/null
[ $? -eq 2 ] && ok "bad token list exits 2" || nok "bad token list exits 2"
"$BIN/transcribe" --model tests/data/models/micro-f16.bin --mel tests/data/speech-16k.mel80.f32 --prompt "99999" --dump-logits "$T/x" 2>/dev/null
[ $? -eq 2 ] && ok "token id >= n_vocab exits 2" || nok "token id >= n_vocab exits 2"
head -c 1000 tests/data/speech-16k.mel80.f32 > "$T/short.f32"
"$BIN/transcribe" --model tests/data/models/micro-f16.bin --mel "$T/short.f32" --prompt 50258 --dump-logits "$T/x" 2>/dev/null
[ $? -eq 4 ] && ok "short mel file exits 4" || nok "short mel file exits 4"
