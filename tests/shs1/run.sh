#!/bin/bash
# Runs the npm shs1-test@1.1.1 conformance suites (protocol.md §3.5) against
# the adapters built in BUILD_DIR:
#
#   tests/shs1/run.sh BUILD_DIR          (SHS1_SEED=N to replay a run)
#
# How the harness reports: one "Failed: <why>" paragraph per failing case,
# then "Passed the <role> test suite =)" or "Total <role> test failures: N",
# and process.exit(N). It can also crash with exit 1 and no summary at all
# (an unhandled EPIPE when the adapter exits before reading msg1, as
# /bin/false does). So a suite passes only when the exit status is 0 AND the
# "Passed" line is there AND no "Failed:" line is; a crash counts as every
# case failed. Prints one line per suite, "# pass N" / "# fail N", and the
# closing line "shs1: N passed, N failed"; exits 1 if any case failed.
set -u

if [ $# -ne 1 ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
build=$(cd "$1" && pwd) || exit 2
root=$(cd "$(dirname "$0")/../.." && pwd)
interop=$root/tests/interop
cases=45 # per suite in shs1-test 1.1.1: 20 well-behaved + 25 malicious peers
# chalk would colour the lines we grep for if the environment forced it.
export FORCE_COLOR=0
seed=${SHS1_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}

if [ ! -x "$interop/node_modules/.bin/shs1testserver" ]; then
	echo "shs1: harness missing: run 'npm ci' in tests/interop" >&2
	echo "shs1: 0 passed, $((2 * cases)) failed"
	exit 1
fi

total_pass=0
total_fail=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for role in server client; do
	adapter=$build/shs1_$role
	(cd "$interop" && timeout 120 "./node_modules/.bin/shs1test$role" "$adapter" "$seed") \
		>"$log" 2>&1
	rc=$?
	failed=$(grep -c '^Failed:' "$log")
	if [ "$rc" -eq 0 ] && [ "$failed" -eq 0 ] &&
	   grep -q "^Passed the $role test suite" "$log"; then
		passed=$cases
	else
		# Exit status = number of failed cases, unless the harness crashed
		# or timed out: then we cannot tell which cases ran, count them all.
		[ "$failed" -eq 0 ] && failed=$cases
		passed=$((cases - failed))
		sed 's/^/  | /' "$log" | head -n 60
	fi
	echo "shs1 $role suite (seed $seed, harness exit $rc): $passed/$cases cases passed"
	total_pass=$((total_pass + passed))
	total_fail=$((total_fail + failed))
done

# tape-style totals (what scripts/test counts), then the plain closing line
echo "# pass $total_pass"
echo "# fail $total_fail"
echo "shs1: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
