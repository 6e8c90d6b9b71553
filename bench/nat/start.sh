#!/bin/bash
# start.sh [BUILD_DIR] — how long `fairway nat start` takes for 4 and 254
# users (and what 4096 gets), IPv4-only (Fair NAT's `ip` table, one rule per
# user) and dual stack (the `inet` table steering by maps), each beside its
# floor measured in the same run: the same nft and tc scripts loaded
# directly (`nft -f` + `tc -batch`), i.e. what the kernel tools alone cost.
# Root; network namespaces nat2b-PID-*; pfifo leaves. Median of ROUNDS=5.
# Prints a markdown table.
set -u
BUILD=$(cd "${1:-build-test}" && pwd)
FW=$BUILD/fairway
[ -x "$FW" ] || { echo "start.sh: no fairway binary at $FW" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "start.sh: needs root (network namespaces)"; exit 77; }
ROUNDS=${ROUNDS:-5}
NS=nat2b-$$
TMP=$(mktemp -d /tmp/fairway-bench-start.XXXXXX)
trap 'ip netns del $NS 2>/dev/null; rm -rf "$TMP" /run/fairway/nat2b$$-*.tc' EXIT
ip netns add $NS
ip -n $NS link add r-lan type veth peer name r-wan
ip -n $NS addr add 10.0.0.1/16 dev r-lan
ip -n $NS addr add 2001:db8:1::1/64 dev r-lan nodad
ip -n $NS link set r-lan up; ip -n $NS link set r-wan up
r() { ip netns exec $NS "$@"; }

policy() { # N dual -> a policy with N users on stdout
	printf '[nat]\ndev-lan = r-lan\ndev-net = r-wan\nrate-lan = 1gbit\nrate-up = 100mbit\nrate-down = 500mbit\n'
	printf 'leaf = pfifo\nprefix = NAT2B%s\n' $$
	[ "$2" = dual ] && printf 'lan-net6 = 2001:db8:1::1/64\n'
	for i in $(seq 1 "$1"); do
		# class ids come from the last octet: 2..254, then 10.0.1.1, then repeats
		if [ "$i" -le 253 ]; then a=10.0.0.$((i + 1)); elif [ "$i" = 254 ]; then a=10.0.1.1; else a=10.0.$((i / 253)).$((i % 253 + 1)); fi
		printf '[user u%d]\naddr = %s\n' "$i" "$a"
		[ "$2" = dual ] && printf 'addr = 2001:db8:1::1:%x\nmac = 02:00:00:00:%02x:%02x\n' "$i" $((i / 256)) $((i % 256))
	done
}
ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1; local rc=$?; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)) $rc; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

echo "| users | stack | fairway nat start (ms, median of $ROUNDS) | nft -f + tc -batch alone (ms) | nft rules in steer | result |"
echo "|---|---|---|---|---|---|"
for n in 4 254 4096; do
	for stack in ip dual; do
		policy $n $stack >"$TMP/p.ini"
		if ! r "$FW" nat start --dry-run "$TMP/p.ini" >"$TMP/dry.out" 2>"$TMP/err"; then
			echo "| $n | $stack | refused (exit 2): $(grep -m1 error "$TMP/err" | sed 's/^[^:]*:[^:]*: //') | | | |"
			continue
		fi
		awk '/^### nft/{on=1;next} /^### tc/{on=0} on' "$TMP/dry.out" >"$TMP/fw.nft"
		awk '/^### tc/{on=1;next} /^### PROC/{on=0} on' "$TMP/dry.out" | grep -v '^#' >"$TMP/tc.txt"
		: >"$TMP/a"; : >"$TMP/b"; res=ok
		for k in $(seq 1 "$ROUNDS"); do
			r "$FW" nat stop "$TMP/p.ini" >/dev/null 2>&1
			set -- $(ms r "$FW" nat start "$TMP/p.ini"); echo "$1" >>"$TMP/a"; [ "$2" = 0 ] || res="start exit $2"
			rules=$(r nft list chain $( [ $stack = dual ] && echo inet || echo ip ) nat2b$$ steer | grep -c 'priority set')
			r "$FW" nat stop "$TMP/p.ini" >/dev/null 2>&1
			t0=$(date +%s%N)
			r nft -f "$TMP/fw.nft" && r tc -batch "$TMP/tc.txt" || res="floor failed"
			t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)) >>"$TMP/b"
			r tc qdisc del dev r-wan root 2>/dev/null; r tc qdisc del dev r-lan root 2>/dev/null
		done
		r "$FW" nat stop "$TMP/p.ini" >/dev/null 2>&1
		echo "| $n | $stack | $(median <"$TMP/a") | $(median <"$TMP/b") | $rules | $res |"
	done
done
