#!/bin/sh
# SSB over WebSocket against BUILD_DIR/fairway (fairway portal --http):
#   tests/ws/run.sh BUILD_DIR
# Borrows the pinned JS stack (secret-stack, multiserver's ws transport)
# from tests/interop; no npm packages of its own.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../node-run.sh" ws "$here" "$1" 2 240 60000 "$here/../interop"
