#!/bin/sh
# The reliability suite (issue 11): half-close through all three roles,
# faults (kill -9, SIGSTOP) of client, portal and host, against
# BUILD_DIR/fairway:   tests/reliability/run.sh BUILD_DIR
set -eu
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../node-run.sh" reliability "$here" "$1" 1 300 120000 "$here/../interop"
