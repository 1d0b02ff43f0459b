#!/usr/bin/python3
"""A stand-in for GNOME Shell's window-listing extensions on a session bus, for the tests of
key_listener's per-app rules on GNOME (src/keylistener/kl_app.c, focused_gnome).

Owns org.gnome.Shell and exports, as the extensions do:
  mode "list": /org/gnome/Shell/Extensions/Windows, org.gnome.Shell.Extensions.Windows.List ->
               a JSON array of windows (wm_class, wm_class_instance, title, focus, ...), the
               "Window Calls" extension (extensions.gnome.org 4724);
  mode "ext":  /org/gnome/Shell/Extensions/WindowsExt, ...WindowsExt.FocusClass -> the class,
               "Window Calls Extended" (4974).
Usage: gnome_shell_windows.py MODE FOCUSED_CLASS FOCUSED_INSTANCE TITLE READY_FILE
(FOCUSED_CLASS "": List answers with no window focused)
Writes READY_FILE once the name is owned; runs until killed."""
import json
import sys

import gi
gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

mode, cls, inst, title, ready = sys.argv[1:6]
IFACE = {
    "list": ("/org/gnome/Shell/Extensions/Windows", "org.gnome.Shell.Extensions.Windows", "List"),
    "ext": ("/org/gnome/Shell/Extensions/WindowsExt", "org.gnome.Shell.Extensions.WindowsExt", "FocusClass"),
}[mode]
XML = f"""<node><interface name="{IFACE[1]}">
  <method name="{IFACE[2]}"><arg type="s" direction="out" name="win"/></method>
</interface></node>"""


def windows():
    other = {"wm_class": "firefox", "wm_class_instance": "Navigator", "title": "Mozilla Firefox",
             "pid": 41, "id": 1001, "frame_type": 0, "window_type": 0, "focus": False,
             "in_current_workspace": True, "workspace": 0}
    # an empty FOCUSED_CLASS: no window has the focus (the desktop, an overview)
    focused = dict(other, wm_class=cls or "gnome-terminal", wm_class_instance=inst or None, title=title, pid=42,
                   id=1002, focus=bool(cls))
    # as GNOME Shell's JSON.stringify writes it: no spaces, UTF-8 as is
    return json.dumps([other, focused], ensure_ascii=False, separators=(",", ":"))


def on_call(conn, sender, path, iface, method, params, invocation):
    answer = windows() if mode == "list" else cls
    invocation.return_value(GLib.Variant("(s)", (answer,)))


def on_bus(conn, name):
    node = Gio.DBusNodeInfo.new_for_xml(XML)
    conn.register_object(IFACE[0], node.interfaces[0], on_call, None, None)


def on_name(conn, name):
    open(ready, "w").close()


Gio.bus_own_name(Gio.BusType.SESSION, "org.gnome.Shell", Gio.BusNameOwnerFlags.NONE,
                 on_bus, on_name, lambda *a: sys.exit(1))
GLib.MainLoop().run()
