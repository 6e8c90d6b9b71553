#!/bin/sh
# The room's muxrpc (room.metadata per mode, aliases, members, denied keys,
# member removal) against the real ssb-room-client 2.0.2 and BUILD_DIR/fairway:
#   tests/roomrpc/run.sh BUILD_DIR
set -eu
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../node-run.sh" roomrpc "$here" "$1" 1 300 120000 "$here" "$here/../interop"
