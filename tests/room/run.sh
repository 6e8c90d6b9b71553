#!/bin/sh
# The room server's HTTP side (invites, aliases, pages, bad input) against
# BUILD_DIR/fairway, with the real ssb-http-invite-client:
#   tests/room/run.sh BUILD_DIR
set -eu
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
[ -x "$build/room_fixture" ] || { echo "room: $build/room_fixture is missing (ninja -C $1)" >&2; exit 2; }
exec "$here/../node-run.sh" room "$here" "$1" 2 300 120000 "$here" "$here/../interop"
