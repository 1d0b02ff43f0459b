#!/bin/sh
# key_listener on Wayland: sway headless (WLR_BACKENDS=headless, pixman renderer) run as an
# unprivileged user (wlroots refuses root) with a foot terminal running `cat > FILE`, focused;
# the text is typed with wtype (virtual-keyboard protocol) and lands in FILE; --output copy
# puts it on the Wayland clipboard (read back with wl-paste); a wtype that fails falls back
# to the clipboard and the log says why; a wl-copy left serving the clipboard holds none of
# the listener's descriptors (a restarted listener is not refused).
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/keylistener_common.inc

for p in sway swaymsg wl-copy wl-paste wtype foot setpriv paplay; do
    command -v $p >/dev/null || { skip "Wayland typing and clipboard" "$p not installed"; finish; exit $?; }
done
# wlroots refuses root: as root, sway runs as nobody, in a runtime directory of its own
SRT=$(mktemp -d /tmp/kl-wl.XXXXXX)
AS=""; WLUID=$(id -u)
if [ "$WLUID" -eq 0 ]; then
    WLUID=65534; AS="setpriv --reuid=$WLUID --regid=$WLUID --clear-groups"
    chown "$WLUID:$WLUID" "$SRT"
fi
chmod 700 "$SRT"
WL="$SRT/wayland-kl"        # an absolute WAYLAND_DISPLAY: clients need not share SRT
# anything still connected to our compositor (a wl-copy serving the clipboard exits with
# sway; this only makes sure) — found by our unique socket path, never by name
wl_leftovers() {
    for _e in /proc/[0-9]*/environ; do
        grep -qaF "WAYLAND_DISPLAY=$WL" "$_e" 2>/dev/null || continue
        _p=${_e#/proc/}; echo "${_p%/environ}"
    done
}
wl_cleanup() {
    cleanup
    for _p in $(wl_leftovers); do kill -9 "$_p" 2>/dev/null; done
    rm -rf "$SRT" 2>/dev/null
}
trap wl_cleanup EXIT
trap 'exit 143' INT TERM    # stop here (the EXIT trap cleans up) rather than go on

start_pulse || { skip "Wayland typing and clipboard" "pulseaudio cannot start"; finish; exit $?; }
# the first 1.2 s of the speech, played into virt during each recording
CLIP="$ROOT/clip.wav"
sox "$SPEECH" "$CLIP" trim 0 1.2 2>/dev/null || cp "$SPEECH" "$CLIP"

cat >"$SRT/sway.conf" <<EOF
xwayland disable
output HEADLESS-1 resolution 1024x768
default_border none
EOF
chmod 644 "$SRT/sway.conf"
# sway opens a free wayland-N in its runtime dir; clients reach it through the link $WL
bg env -i PATH="$PATH" HOME="$SRT" XDG_RUNTIME_DIR="$SRT" XDG_CONFIG_HOME="$SRT" \
    WLR_BACKENDS=headless WLR_LIBINPUT_NO_DEVICES=1 WLR_RENDERER=pixman \
    $AS sway -c "$SRT/sway.conf" >"$ROOT/sway.log" 2>&1
sock_in() { for _s in "$SRT"/$1; do [ -S "$_s" ] && { echo "$_s"; return 0; }; done; return 1; }
sway_up() { sock_in 'wayland-[0-9]*' >/dev/null && sock_in 'sway-ipc.*.sock' >/dev/null; }
if ! wait_for 30 sway_up; then
    nok "sway headless up (as uid $WLUID)" "$(tail -3 "$ROOT/sway.log")"; finish; exit $?
fi
ln -s "$(sock_in 'wayland-[0-9]*')" "$WL"
IPC=$(sock_in 'sway-ipc.*.sock')
# wl-paste exits 1 on an empty clipboard, 2+ when it cannot connect
check "sway headless up (as uid $WLUID), its socket usable" sh -c 'WAYLAND_DISPLAY="$0" timeout 5 \
    wl-paste --list-types >/dev/null 2>&1; [ $? -le 1 ] && swaymsg -s "$1" -t get_outputs | grep -q HEADLESS' "$WL" "$IPC"

# a keyboard on the seat for the whole test, as a desktop has: with WLR_LIBINPUT_NO_DEVICES
# the seat has none, and a client learns of wtype's keyboard (seat capability, then
# get_keyboard) only as wtype's first key is already sent, which it then misses
bg env WAYLAND_DISPLAY="$WL" wtype -s 600000
# the focused client: foot running `cat > FILE` (no echo, no line buffering)
TYPED="$ROOT/typed.txt"
bg env WAYLAND_DISPLAY="$WL" foot -o main.font=monospace:size=8 \
    sh -c "stty -icanon -echo; exec cat > '$TYPED'" >"$ROOT/foot.log" 2>&1
focused_foot() {
    swaymsg -s "$IPC" -t get_tree 2>/dev/null | python3 -c '
import json, sys
def walk(n):
    if n.get("focused") and n.get("app_id") == "foot": return True
    return any(walk(c) for c in n.get("nodes", []) + n.get("floating_nodes", []))
sys.exit(0 if walk(json.load(sys.stdin)) else 1)'
}
check "foot started, its cat running" wait_for 30 sh -c '[ -e "$0" ]' "$TYPED"
check "foot has the keyboard focus" wait_for 20 focused_foot

start_fake_daemon
TEXT='Typed by key_listener on Wayland, café.'
printf '%s' '[" Typed  by ", "key_listener on Wayland, café."]' >"$ROOT/fake_results.json"
# one recording through the control socket, the clip played into the virtual microphone
record() {
    "$KL" start >/dev/null; paplay -d virt "$CLIP"; "$KL" stop >/dev/null
}
listener_up() { wait_for 10 sh -c '"$0" status >/dev/null 2>&1' "$KL"; }
listener_quit() { "$KL" quit >/dev/null 2>&1; wait_for 10 sh -c '! "$0" status >/dev/null 2>&1' "$KL"; }
# results delivered (or not) so far, and a bounded wait for one more
nout() { _c=$(grep -c ' request .* chars ' "$ROOT/key_listener.log" 2>/dev/null); echo "${_c:-0}"; }
wait_delivered() { wait_for 20 sh -c '[ "$(grep -c " request .* chars " "$0" 2>/dev/null)" -gt "$1" ]' "$ROOT/key_listener.log" "$1"; }
typed_is() { [ "$(cat "$TYPED")" = "$TEXT" ]; }
# dictate RESULTS [OPTION...]: a listener with these options (and no history) started, one
# recording made, the stand-in daemon's RESULTS delivered
dictate() {
    printf '%s' "$1" >"$ROOT/fake_results.json"; shift
    bg env WAYLAND_DISPLAY="$WL" "$KL" --no-config --trigger none --source virt.monitor --no-start \
        --history 0 "$@" 2>>"$ROOT/kl.err"
    listener_up
    n0=$(nout); record; wait_delivered "$n0"
}

# 1. typing with wtype into the focused foot
bg env WAYLAND_DISPLAY="$WL" "$KL" --no-config --trigger none --source virt.monitor --no-start \
    --timeout 20 --type-delay 1 2>"$ROOT/kl.err"
listener_up
check "wtype probed as the typing tool" wait_for 5 grep_log "output type (wtype)"
record
check "text typed into foot, exactly: '$TEXT'" wait_for 20 typed_is
check "log says typed with wtype" wait_for 5 grep_log "output wtype in"
listener_quit

# 2. --output copy: on the Wayland clipboard
bg env WAYLAND_DISPLAY="$WL" "$KL" --no-config --trigger none --source virt.monitor --no-start \
    --timeout 20 --output copy 2>>"$ROOT/kl.err"
listener_up
n0=$(nout); record
wait_delivered "$n0"
check "--output copy: text on the Wayland clipboard (wl-paste)" \
    sh -c '[ "$(WAYLAND_DISPLAY="$0" timeout 5 wl-paste -n 2>/dev/null)" = "$1" ]' "$WL" "$TEXT"
check "log says output clipboard (wl-copy)" grep_log "output clipboard (wl-copy) in"
# the wl-copy left serving the clipboard must not hold the listener's files or sockets
leak=""; owners=0
for p in $(wl_leftovers); do
    [ "$(cat /proc/"$p"/comm 2>/dev/null)" = wl-copy ] || continue
    owners=$((owners + 1))
    for f in /proc/"$p"/fd/*; do
        l=$(readlink "$f" 2>/dev/null) || continue
        case "$l" in "$ROOT"/*|"$RT"/*) leak="$leak $p:$l" ;; esac
    done
done
check "the wl-copy serving the clipboard holds none of the listener's files${leak:+ (held:$leak)}" \
    [ "$owners" -ge 1 -a -z "$leak" ]
listener_quit
check "nothing typed by --output copy" typed_is

# 3. a wtype that fails (as on compositors without the virtual-keyboard protocol): the text
# goes to the clipboard and the log keeps wtype's reason
FB="$ROOT/fakebin"; mkdir -p "$FB"
printf '#!/bin/sh\necho "Compositor does not support the virtual keyboard protocol" >&2\nexit 1\n' >"$FB/wtype"
chmod +x "$FB/wtype"
printf '%s' '["Fallback", "text."]' >"$ROOT/fake_results.json"
bg env WAYLAND_DISPLAY="$WL" PATH="$FB:$PATH" "$KL" --no-config --trigger none --source virt.monitor \
    --no-start --timeout 20 2>>"$ROOT/kl.err"
check "a listener restarted while wl-copy serves the clipboard is not refused" listener_up
n0=$(nout); record
wait_delivered "$n0"
check "failing wtype: text on the clipboard instead" \
    sh -c '[ "$(WAYLAND_DISPLAY="$0" timeout 5 wl-paste -n 2>/dev/null)" = "Fallback text." ]' "$WL"
check "log keeps wtype's reason next to the fallback" \
    grep_log "output clipboard (wl-copy) after: wtype exited with 1: Compositor does not support"
listener_quit
check "nothing typed by the failing wtype" typed_is

# 3b. two fallbacks in a row with the user copying between them: the user's newer copy comes
# back after --clipboard-restore (the first saved content had, and the copy was lost); then a
# SIGTERM (systemd stopping the listener) puts the user's content back at once (its wl-copy
# had been killed as the listener shut down: the dictation stayed on the clipboard)
wlp() { WAYLAND_DISPLAY="$WL" timeout 5 wl-paste "$@" 2>/dev/null; }
printf 'ORIGINAL' | WAYLAND_DISPLAY="$WL" wl-copy
printf '%s' '["Fallback A."]' >"$ROOT/fake_results.json"
bg env WAYLAND_DISPLAY="$WL" PATH="$FB:$PATH" "$KL" --no-config --trigger none --source virt.monitor \
    --no-start --timeout 20 --clipboard-restore 4 --history 0 2>>"$ROOT/kl.err"
KLP=$!
listener_up
n0=$(nout); record; wait_delivered "$n0"
wait_for 5 sh -c '[ "$(WAYLAND_DISPLAY="$0" timeout 5 wl-paste -n 2>/dev/null)" = "Fallback A." ]' "$WL"
printf 'USER-X' | WAYLAND_DISPLAY="$WL" wl-copy
printf '%s' '["Fallback B."]' >"$ROOT/fake_results.json"
n0=$(nout); record; wait_delivered "$n0"
check "second fallback: its text on the clipboard" wait_for 5 sh -c '[ "$(WAYLAND_DISPLAY="$0" timeout 5 wl-paste -n 2>/dev/null)" = "Fallback B." ]' "$WL"
check "after --clipboard-restore: the user's newer copy is back, not the first content" \
    wait_for 8 sh -c '[ "$(WAYLAND_DISPLAY="$0" timeout 5 wl-paste -n 2>/dev/null)" = "USER-X" ]' "$WL"
printf '%s' '["Fallback C."]' >"$ROOT/fake_results.json"
n0=$(nout); record; wait_delivered "$n0"
wait_for 5 sh -c '[ "$(WAYLAND_DISPLAY="$0" timeout 5 wl-paste -n 2>/dev/null)" = "Fallback C." ]' "$WL"
kill -TERM "$KLP"
wait_for 10 sh -c '! kill -0 "$0" 2>/dev/null' "$KLP"
check "SIGTERM with a restore pending: the user's content is back at once" [ "$(wlp -n)" = "USER-X" ]
check "nothing typed by the fallbacks" typed_is

# 3c. --type-delay 0 with the real wtype (it refuses "-d 0": every dictation had gone to the
# clipboard)
dictate '["Zero delay."]' --timeout 20 --type-delay 0
TEXT="$TEXT""Zero delay."
check "--type-delay 0: typed into foot by wtype" wait_for 20 typed_is
check "log says typed with wtype" grep_log "output wtype in"
listener_quit

# 3d. a listener started without a UTF-8 locale in its environment (LANG=C, unset, or naming
# a locale that is not installed): wtype decodes its stdin in the environment's locale, and
# typed "Caf" of "Café au lait, 日本." and exited 0 (logged as typed); it is now run in C.UTF-8
printf '%s' '["Café au lait, 日本."]' >"$ROOT/fake_results.json"
bg env -u LC_ALL -u LC_CTYPE LANG=C WAYLAND_DISPLAY="$WL" "$KL" --no-config --trigger none \
    --source virt.monitor --no-start --history 0 --timeout 20 2>>"$ROOT/kl.err"
listener_up
n0=$(nout); record; wait_delivered "$n0"
TEXT="$TEXT""Café au lait, 日本."
check "LANG=C in the listener's environment: wtype types é and 日本 all the same" wait_for 20 typed_is
typed_is || echo "#   typed: $(cat "$TYPED")"
listener_quit

# 4. paste mode: the user's clipboard text is saved, the text pasted with Ctrl+Shift+V (foot's
# paste chord, sent with wtype), and the user's text put back
printf 'user text' | WAYLAND_DISPLAY="$WL" wl-copy
dictate '["Pasted", "text."]' --timeout 20 --output paste --paste-chord ctrl+shift+v
TEXT="$TEXT""Pasted text."
check "paste mode: text pasted into foot with wtype ctrl+shift+v" wait_for 20 typed_is
check "paste mode: the user's clipboard text is back (wl-paste)" [ "$(wlp -n)" = "user text" ]
check "log: paste via wtype, clipboard restored" grep_log "output paste (wtype ctrl+shift+v, clipboard (wl-copy)), clipboard restored"
listener_quit

# 4b. paste mode with a clipboard too big to save (70 MB: over the 64 MiB kept): the text is
# typed instead and the user's clipboard is left alone (it had been wiped, the log saying
# "restored"; then the dictation had failed)
head -c 70000000 /dev/zero | tr '\0' x | WAYLAND_DISPLAY="$WL" wl-copy
dictate '["Typed", "instead."]' --timeout 30 --output paste --paste-chord ctrl+shift+v
TEXT="$TEXT""Typed instead."
check "paste mode, a 70 MB clipboard: the text typed instead" wait_for 20 typed_is
check "... and the user's 70 MB are still on the clipboard" \
    sh -c '[ "$(WAYLAND_DISPLAY="$0" timeout 20 wl-paste -n 2>/dev/null | wc -c)" -eq 70000000 ]' "$WL"
listener_quit

# 5. a per-app rule chosen through sway's IPC (app_id foot) pastes; a PNG image on the
# clipboard is back byte for byte afterwards
python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108020000009077" "53de0000000c4944415478da63f8cfc000000301010018dd8db00000000049454e44ae426082"))' >"$ROOT/img.png"
WAYLAND_DISPLAY="$WL" wl-copy -t image/png <"$ROOT/img.png"
printf '%s' '["Rule", "pasted."]' >"$ROOT/fake_results.json"
bg env WAYLAND_DISPLAY="$WL" SWAYSOCK="$IPC" "$KL" --no-config --trigger none --source virt.monitor --no-start \
    --timeout 20 --history 0 --app 'foot: output=paste, paste-chord=ctrl+shift+v' 2>>"$ROOT/kl.err"
listener_up
n0=$(nout); record; wait_delivered "$n0"
TEXT="$TEXT""Rule pasted."
check "per-app rule by sway app_id foot: pasted" wait_for 20 typed_is
check "log names the focused app_id and the rule" grep_log 'focused "foot": app rule "foot"'
check "the PNG image is back on the Wayland clipboard, byte for byte" sh -c 'WAYLAND_DISPLAY="$0" timeout 5 wl-paste -t image/png 2>/dev/null | cmp -s - "$1"' "$WL" "$ROOT/img.png"
listener_quit
check "no sanitizer report from key_listener" sh -c "! grep -q 'Sanitizer' '$ROOT/kl.err'"
finish
