#!/bin/bash
# leaf.sh BUILD_DIR — issue 16 item 6: `fairway nat start` with a --leaf
# whose qdisc this kernel lacks is refused before anything is applied
# (exit 2), naming the missing qdisc and the --leaf values that work here.
# Real netns, real tc/nft (needs root). Prints "N passed, N failed" last.
set -u
BUILD=$(cd "${1:?usage: leaf.sh BUILD_DIR}" && pwd)
FW=${FAIRWAY:-$BUILD/fairway}
[ -x "$FW" ] || { echo "leaf.sh: no fairway binary at $FW" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "leaf.sh: needs root (network namespaces)"; exit 77; }
P=ux3lf$$
LAN=$P-lan RTR=$P-rtr WAN=$P-wan
TMP=$(mktemp -d /tmp/fairway-leaf.XXXXXX)
. "$(dirname "$0")/lib.sh"
cleanup() { for ns in $LAN $RTR $WAN; do ip netns del "$ns" 2>/dev/null; done; rm -rf "$TMP"; }
trap cleanup EXIT
pass=0 fail=0
check() { local what=$1; shift; if "$@"; then pass=$((pass+1)); echo "ok   $what"; else fail=$((fail+1)); echo "FAIL $what"; fi; }
nat_testbed
# the qdiscs this kernel has, asked the same way as fairway asks (own netns)
has() { unshare -n tc qdisc add dev lo root "$1" 2>/dev/null; }
missing=""
for l in fq_codel cake sfq; do has "$l" || { missing=$l; break; }; done
works=""
for l in fq_codel cake sfq pfifo; do
	k=$l; [ $l = sfq ] && { has prio && has sfq; } && k=ok
	if [ $l = sfq ]; then [ $k = ok ] && works+="${works:+, }$l"; elif has "$l"; then works+="${works:+, }$l"; fi
done
if [ -z "$missing" ]; then
	# every leaf is there: nothing to refuse, and pfifo must start
	echo "ok   (this kernel has fq_codel, cake and sfq: the refusal cannot be shown here)"
	pass=$((pass+1))
else
	cat >"$TMP/policy.ini" <<INI
[nat]
dev-lan = r-lan
dev-net = r-wan
rate-lan = 100mbit
rate-up = 10mbit
rate-down = 50mbit
leaf = $missing
prefix = UX3LF
[user alice]
addr = 10.200.1.11
INI
	out=$(ip netns exec "$RTR" "$FW" nat start "$TMP/policy.ini" 2>&1); rc=$?
	check "leaf $missing on a kernel without it: exit 2 (got $rc)" [ "$rc" = 2 ]
	check "the message names the missing qdisc" grep -qE "leaf $missing needs the (prio|sfq|$missing) qdisc, which this kernel does not have" <<<"$out"
	check "the message lists the leaves that work here ($works)" grep -qF -- "--leaf values that work here: $works" <<<"$out"
	check "no tc script line number in the message" bash -c '! grep -q "Command failed" <<<"$1"' _ "$out"
	check "nothing applied: no nft table" bash -c "! ip netns exec $RTR nft list table ip ux3lf >/dev/null 2>&1"
	check "nothing applied: no htb root on r-wan or r-lan" bash -c "! ip netns exec $RTR tc qdisc show | grep -q htb"
	[ "$fail" = 0 ] || echo "$out" | sed 's/^/#   /'
	out=$(ip netns exec "$RTR" "$FW" nat start --leaf pfifo "$TMP/policy.ini" 2>&1); rc=$?
	check "--leaf pfifo (listed as working) starts (exit $rc)" [ "$rc" = 0 ]
	ip netns exec "$RTR" "$FW" nat stop --leaf pfifo "$TMP/policy.ini" >/dev/null 2>&1
fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
