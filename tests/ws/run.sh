#!/bin/sh
# SSB over WebSocket against BUILD_DIR/fairway and BUILD_DIR/ws_gate (the
# test-only upgrade listener in front of portal_accept_ws):
#   tests/ws/run.sh BUILD_DIR
# Borrows the pinned JS stack (secret-stack, multiserver's ws transport)
# from tests/interop; no npm packages of its own.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$1/ws_gate" ] || { echo "ws: $1/ws_gate is missing (ninja -C $1 ws_gate)" >&2; exit 2; }
exec "$here/../node-run.sh" ws "$here" "$1" 2 240 60000 "$here/../interop"
