#!/bin/sh
# The portal tests (membership, privacy, limits, policy file, reload,
# control socket, multi-hop, tunnel.connect bad input) against
# BUILD_DIR/fairway:   tests/portal/run.sh BUILD_DIR
# Two files at a time: the longest (tunnels, ~18 s, mostly a host's 15 s
# handshake timeout) overlaps the others; the timing checks have margins
# for a loaded two-core machine.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../node-run.sh" portal "$here" "$1" 2 300 120000 "$here/../interop"
