#!/bin/bash
# with_xvfb.sh COMMAND [ARGS...] - run COMMAND with DISPLAY set to a private Xvfb server.
# Unlike `xvfb-run -a`, which probes for a free display number and can collide with another
# Xvfb starting at the same moment (CI runners, parallel ctest), Xvfb picks the number itself
# here (-displayfd), so concurrent runs never race. 24-bit TrueColor screen, as Vulkan's X11
# WSI needs; local connections only.
set -u
command -v Xvfb >/dev/null || { echo "with_xvfb: Xvfb is missing (Debian xvfb; tools/install-deps)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'kill "$xpid" 2>/dev/null; wait "$xpid" 2>/dev/null; rm -rf "$tmp"' EXIT
mkfifo "$tmp/displayfd"
Xvfb -displayfd 5 -screen 0 1280x1024x24 -nolisten tcp 5>"$tmp/displayfd" 2>"$tmp/xvfb.log" &
xpid=$!
if ! read -r -t 30 num <"$tmp/displayfd"; then
  echo "with_xvfb: Xvfb did not start:" >&2
  cat "$tmp/xvfb.log" >&2
  exit 1
fi
DISPLAY=:$num "$@"
