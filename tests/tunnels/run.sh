#!/bin/sh
# Runs the tunnel interop matrix (issue 3, item 7) against BUILD_DIR/fairway:
# every *.test.js here, one cell per file, with node's built-in test runner
# (TAP output; the CI script counts "# pass N" / "# fail N").
#
#   tests/tunnels/run.sh BUILD_DIR
#
# The JS peers come from two pinned stacks: tests/interop/node_modules
# (ssb-tunnel 2.0.0, secret-stack 6.4.2) and tests/tunnels/rooms/node_modules
# (ssb-room-client 2.0.2, secret-stack 6.4.1); both are installed with
# `npm ci` when missing. Exits non-zero when any test fails.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd) || { echo "$0: no build directory '$1'" >&2; exit 2; }
if [ ! -x "$build/fairway" ]; then
	echo "$0: $build/fairway is missing (run: ninja -C $1 fairway)" >&2
	exit 2
fi
command -v node >/dev/null || { echo "$0: node (>= 20) is not installed" >&2; exit 2; }

for dir in "$here/../interop" "$here/rooms"; do
	if [ ! -d "$dir/node_modules" ]; then
		echo "# npm ci in $dir" >&2
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
	fi
done

cd "$here"
export FAIRWAY_BIN="$build/fairway"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# One cell at a time: each pushes a few hundred MB through loopback and
# the CI machines have two cores. Every test has its own timeout; the
# outer one is a last resort.
status=0
timeout 600 node --test --test-reporter=tap --test-concurrency=1 --test-timeout=180000 \
	./*.test.js >"$out" 2>&1 || status=$?
cat "$out"

pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$out" | tail -n 1)
fail=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$out" | tail -n 1)
cancelled=$(sed -n 's/^# cancelled \([0-9]*\)$/\1/p' "$out" | tail -n 1)
pass=${pass:-0}
fail=$(( ${fail:-0} + ${cancelled:-0} ))
if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then
	# The runner died without a summary (timeout, crash): that is a failure.
	fail=1
fi
echo "tunnels: $pass passed, $fail failed"
[ "$status" -eq 0 ] && [ "$fail" -eq 0 ]
