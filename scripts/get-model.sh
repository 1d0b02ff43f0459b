#!/bin/sh
# get-model.sh — fetch a whisper.cpp ggml Whisper model and verify its SHA-1, or verify a
# file you already have.
#
#   scripts/get-model.sh NAME [DIR]      download ggml-NAME.bin into DIR (default: models/)
#   scripts/get-model.sh --verify FILE   check FILE against the known checksums
#   scripts/get-model.sh --list          names with known checksums
#
# The checksums are the SHA-1 values published with the whisper.cpp model files. A model
# whose checksum is not in the table is still usable (the engine validates every file it
# loads); the script then says it cannot vouch for it. Exit: 0 ok, 1 mismatch/failure,
# 2 usage.
set -eu
URL_BASE=${SPEECH_SESSION_MODEL_URL:-https://huggingface.co/ggerganov/whisper.cpp/resolve/main}

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

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

verify() { # file [expected-name]
    f=$1
    [ -f "$f" ] || { echo "get-model: $f: no such file" >&2; return 1; }
    got=$(sha1sum "$f" | cut -d' ' -f1)
    name=$(sums | awk -v s="$got" '$2 == s { print $1 }')
    if [ -n "$name" ]; then
        if [ -n "${2:-}" ] && [ "$name" != "$2" ]; then
            echo "get-model: $f is ggml-$name.bin, not ggml-$2.bin" >&2; return 1
        fi
        echo "$f: OK (ggml-$name.bin, sha1 $got)"; return 0
    fi
    if [ -n "${2:-}" ] && sums | grep -q "^$2 "; then
        echo "get-model: $f: checksum MISMATCH for ggml-$2.bin (got $got)" >&2; return 1
    fi
    echo "$f: sha1 $got is not in the table of known models (not verified)"; return 0
}

[ $# -ge 1 ] || usage
case "$1" in
    --list) sums | cut -d' ' -f1; exit 0 ;;
    --verify) [ $# -eq 2 ] || usage; verify "$2"; exit $? ;;
    -h|--help) usage ;;
esac
name=$1; dir=${2:-models}
mkdir -p "$dir"
out="$dir/ggml-$name.bin"
if [ -f "$out" ] && verify "$out" "$name" >/dev/null 2>&1; then echo "$out: already present and verified"; exit 0; fi
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
