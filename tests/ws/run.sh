#!/bin/sh
# SSB over WebSocket against BUILD_DIR/fairway (fairway portal --http):
#   tests/ws/run.sh BUILD_DIR
# Node peers from ./node_modules (ssb-room-client, secret-stack 6.4.1,
# multiserver ws; puppeteer-core and esbuild for the browser test) and
# the pinned stack of tests/interop (secret-stack 6.4.2).
set -eu
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../node-run.sh" ws "$here" "$1" 2 420 130000 "$here" "$here/../interop"
