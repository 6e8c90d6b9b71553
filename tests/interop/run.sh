#!/bin/sh
# The JavaScript interop tests (issue 2) against BUILD_DIR/fairway:
#   tests/interop/run.sh BUILD_DIR
# One test file at a time: the handshake-timeout checks measure time, and
# CI machines have two cores. Every test has its own timeout; the outer one
# is a last resort.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../node-run.sh" interop "$here" "$1" 1 900 300000 "$here"
