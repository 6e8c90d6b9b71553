#!/bin/sh
# Shared runner of the Node.js test suites (tests/interop, tests/portal,
# tests/tunnels), each of which calls it from its own run.sh:
#
#   node-run.sh NAME SUITE_DIR BUILD_DIR CONCURRENCY OUTER_TIMEOUT_S TEST_TIMEOUT_MS NPM_DIR...
#
# Installs each NPM_DIR's pinned stack (npm ci) when its node_modules is
# missing, runs SUITE_DIR/*.test.js with node's built-in runner (TAP
# output, which scripts/test counts), and ends with
# "NAME: N passed, N failed, N todo". Exits non-zero when a test fails or
# the runner dies without a summary. todo tests document known bugs and
# never fail the run.
set -eu

if [ $# -lt 6 ]; then
	echo "usage: $0 NAME SUITE_DIR BUILD_DIR CONCURRENCY OUTER_TIMEOUT_S TEST_TIMEOUT_MS NPM_DIR..." >&2
	exit 2
fi
name=$1 suite=$2 conc=$4 outer=$5 each=$6
build=$(cd "$3" && pwd) || { echo "$name: no build directory '$3'" >&2; exit 2; }
shift 6
if [ ! -x "$build/fairway" ]; then
	echo "$name: $build/fairway is missing (run: ninja -C $build fairway)" >&2
	exit 2
fi
command -v node >/dev/null || { echo "$name: node (>= 20) is not installed" >&2; exit 2; }
for dir in "$@"; do
	if [ ! -d "$dir/node_modules" ]; then
		echo "# npm ci in $dir" >&2
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
	fi
done

cd "$suite"
export FAIRWAY_BIN="$build/fairway"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
timeout "$outer" node --test --test-reporter=tap --test-concurrency="$conc" \
	--test-timeout="$each" ./*.test.js >"$out" 2>&1 || status=$?
cat "$out"

pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$out" | tail -n 1)
fail=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$out" | tail -n 1)
cancelled=$(sed -n 's/^# cancelled \([0-9]*\)$/\1/p' "$out" | tail -n 1)
todo=$(sed -n 's/^# todo \([0-9]*\)$/\1/p' "$out" | tail -n 1)
pass=${pass:-0}
fail=$(( ${fail:-0} + ${cancelled:-0} ))
if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then
	fail=1   # the runner died without a summary (timeout, crash)
fi
echo "$name: $pass passed, $fail failed, ${todo:-0} todo"
[ "$status" -eq 0 ] && [ "$fail" -eq 0 ]
