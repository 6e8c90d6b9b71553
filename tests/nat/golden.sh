#!/bin/bash
# golden.sh BUILD_DIR [--update]
# `fairway nat start --dry-run` (and `stop --dry-run`) for every config in
# configs/ and bad/, compared with golden/NAME.out (stdout, stderr, exit
# status). Exits non-zero on any difference. Touches nothing in the kernel:
# --lan-net and --mtu stand in for the devices.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:?usage: golden.sh BUILD_DIR [--update]}" && pwd)
UPDATE=${2:-}
FW=${FAIRWAY:-$BUILD/fairway}
[ -x "$FW" ] || { echo "golden.sh: no fairway binary at $FW" >&2; exit 2; }
cd "$HERE" || exit 2
pass=0 fail=0
run_one() { # FILE -> the text that must match
	local f=$1 args
	args=$(grep -m1 -o 'golden-args:.*' "$f" | sed 's/golden-args://')
	# shellcheck disable=SC2086
	"$FW" nat start --dry-run --lan-net 192.168.1.1/24 --mtu 1500 $args "$f" 2>&1
	echo "exit: $?"
	if [ "${f#configs/}" != "$f" ]; then
		echo "### stop --dry-run"
		"$FW" nat stop --dry-run $args "$f" 2>/dev/null
		echo "exit: $?"
	fi
}
for f in configs/* bad/*; do
	name=$(basename "$f"); name=${name%.*}
	[ "${f#bad/}" != "$f" ] && name=bad-$name
	exp=golden/$name.out
	got=$(run_one "$f" | sed -E 's/^[0-9]{4}-[0-9-]+T[0-9:.]+Z fairway(-[a-z]+)?\[[0-9]+\]/fairway[PID]/')
	if [ "$UPDATE" = --update ]; then
		printf '%s\n' "$got" >"$exp"; echo "updated $exp"; continue
	fi
	if diff -u "$exp" <(printf '%s\n' "$got") >/tmp/golden-diff.$$ 2>&1; then
		pass=$((pass + 1)); echo "ok   $f"
	else
		fail=$((fail + 1)); echo "FAIL $f"; head -40 /tmp/golden-diff.$$
	fi
done
rm -f /tmp/golden-diff.$$
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
