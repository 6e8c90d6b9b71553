#!/bin/sh
# Runs the portal tests (membership, privacy, limits, policy file, reload,
# control socket, tunnel.connect bad input) against BUILD_DIR/fairway.
#
#   tests/portal/run.sh BUILD_DIR
#
# Uses the pinned JS stack of tests/interop (npm ci there when its
# node_modules is missing), runs every *.test.js with node's built-in test
# runner (TAP output) and ends with "portal: N passed, N failed, N todo".
# The exit status is non-zero when any test fails or the run itself does.
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

if [ ! -d "$here/../interop/node_modules" ]; then
	echo "# installing the pinned JS stack (npm ci in tests/interop)"
	(cd "$here/../interop" && npm ci --no-audit --no-fund >&2)
fi

cd "$here"
export FAIRWAY_BIN="$build/fairway"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# Two files at a time: the longest file (tunnels, ~18 s, most of it
# waiting for a host's 15 s handshake timeout) overlaps the others, and
# the timing checks have margins for a loaded two-core machine. Every test
# has its own timeout; the outer one is a last resort.
status=0
timeout 300 node --test --test-reporter=tap --test-concurrency=2 --test-timeout=120000 \
	./*.test.js >"$out" 2>&1 || status=$?
cat "$out"

pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$out" | tail -n 1)
fail=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$out" | tail -n 1)
cancelled=$(sed -n 's/^# cancelled \([0-9]*\)$/\1/p' "$out" | tail -n 1)
todo=$(sed -n 's/^# todo \([0-9]*\)$/\1/p' "$out" | tail -n 1)
pass=${pass:-0}
fail=$(( ${fail:-0} + ${cancelled:-0} ))
if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then
	# The runner died without a summary (timeout, crash): that is a failure.
	fail=1
fi
# todo tests document known bugs (see the test names); they never fail the run.
echo "portal: $pass passed, $fail failed, ${todo:-0} todo"
[ "$status" -eq 0 ] && [ "$fail" -eq 0 ]
