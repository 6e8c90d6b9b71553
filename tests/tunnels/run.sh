#!/bin/sh
# The tunnel interop matrix (issue 3, item 7) against BUILD_DIR/fairway,
# one cell per file:   tests/tunnels/run.sh BUILD_DIR
# JS peers come from two pinned stacks: tests/interop (ssb-tunnel 2.0.0,
# secret-stack 6.4.2) and tests/tunnels/rooms (ssb-room-client 2.0.2,
# secret-stack 6.4.1). One cell at a time: each pushes a few hundred MB
# through loopback and the CI machines have two cores.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../node-run.sh" tunnels "$here" "$1" 1 600 180000 "$here/../interop" "$here/rooms"
