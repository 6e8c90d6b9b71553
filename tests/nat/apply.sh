#!/bin/bash
# apply.sh BUILD_DIR — `fairway nat start|info|stop` in real network
# namespaces on this machine's kernel (needs root, iproute2, nftables; the
# leaves are pfifo since the host kernel may lack fq_codel/sfq/cake).
#
#   [P-lan] .11 .12 ──veth── r-lan [P-rtr] r-wan ──veth── [P-wan] 10.200.3.2
#
# Checks: the table and the qdiscs exist; ICMP from each LAN address lands
# in its user's interactive class in both directions; start twice = once;
# info prints counters; a broken config changes nothing; a tc failure
# halfway rolls back to the previous state; stop removes exactly what start
# added and leaves a foreign nft table and chain alone.
# Prints "N passed, N failed" last; exit status non-zero on any failure.
set -u
BUILD=$(cd "${1:?usage: apply.sh BUILD_DIR}" && pwd)
FW=${FAIRWAY:-$BUILD/fairway}
[ -x "$FW" ] || { echo "apply.sh: no fairway binary at $FW" >&2; exit 2; }
FW=$(cd "$(dirname "$FW")" && pwd)/$(basename "$FW")
[ "$(id -u)" = 0 ] || { echo "apply.sh: needs root (network namespaces)"; exit 77; }
P=nt$$
LAN=$P-lan RTR=$P-rtr WAN=$P-wan
TMP=$(mktemp -d /tmp/fairway-apply.XXXXXX)
. "$(dirname "$0")/lib.sh"
cleanup() {
	for ns in $LAN $RTR $WAN; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$TMP" /run/fairway/"$(echo $P | tr A-Z a-z)"-*.tc
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT

nat_testbed

PREFIX=$(echo "$P" | tr a-z A-Z)
TABLE=$P
cat >"$TMP/policy.ini" <<INI
[nat]
dev-lan = r-lan
dev-net = r-wan
rate-lan = 100mbit
rate-up = 10mbit
rate-down = 50mbit
leaf = pfifo
prefix = $PREFIX
[user alice]
addr = 10.200.1.11
forward = 2222 tcp
[user bob]
addr = 12
INI
bad_policies

# a firewall fairway did not write: must survive everything below
r nft -f - <<NFT
table inet foreign {
	chain keep {
		type filter hook forward priority 10; policy accept;
		counter
	}
}
table ip ${TABLE}x {
	chain other {
		counter
	}
}
NFT
r nft list table inet foreign | sed 's/packets [0-9]* bytes [0-9]*//' >"$TMP/foreign.before"

snapshot() { # the state fairway manages, without counters
	{ r nft list table ip "$TABLE" 2>/dev/null | sed -E 's/packets [0-9]+ bytes [0-9]+//'
	  r tc qdisc show dev r-wan; r tc class show dev r-wan
	  r tc qdisc show dev r-lan; r tc class show dev r-lan; } 2>&1
}

# 1. start
r "$FW" nat start "$TMP/policy.ini"; rc=$?
check "start exits 0" test $rc = 0
check "nft table ip $TABLE exists" bash -c "ip netns exec $RTR nft list table ip $TABLE >/dev/null"
check "htb root on r-wan" bash -c "ip netns exec $RTR tc qdisc show dev r-wan | grep -q '^qdisc htb 1: root'"
check "htb root on r-lan" bash -c "ip netns exec $RTR tc qdisc show dev r-lan | grep -q '^qdisc htb 1: root'"
check "user class 1:110 with band 1:111" bash -c "ip netns exec $RTR tc class show dev r-wan | grep -q 'class htb 1:111 parent 1:110'"
S1=$(snapshot)

# 2. traffic lands in the right class (ICMP = interactive band), both ways
ip netns exec $LAN ping -q -c 5 -i 0.2 -I 10.200.1.11 10.200.3.2 >/dev/null
ip netns exec $LAN ping -q -c 3 -i 0.2 -I 10.200.1.12 10.200.3.2 >/dev/null
check "alice's pings in 1:111 on r-wan (>= 5)" test "$(class_pkts r-wan 1:111)" -ge 5
check "alice's replies in 1:111 on r-lan (>= 5)" test "$(class_pkts r-lan 1:111)" -ge 5
check "bob's pings in 1:121 on r-wan (3)" test "$(class_pkts r-wan 1:121)" -ge 3
check "bob's pings not in alice's class" test "$(class_pkts r-wan 1:111)" -lt 8
check "masqueraded (wan sees the router)" bash -c "ip netns exec $WAN ping -c1 -W1 10.200.2.1 >/dev/null"

# 3. start twice = once
r "$FW" nat start "$TMP/policy.ini" 2>/dev/null; rc=$?
check "second start exits 0" test $rc = 0
check "second start leaves the same state" test "$S1" = "$(snapshot)"

# 4. info
out=$(r "$FW" nat info "$TMP/policy.ini" 2>/dev/null); rc=$?
check "info exits 0" test $rc = 0
check "info shows alice's counters" bash -c "grep -q 'alice .*1:110' <<<'$out'"
check "info shows nft per-user counters" bash -c "grep -q 'alice up' <<<'$out'"
# 4b. info for programs: promtool and dot must take it as it is (fresh
# pings first: the second start rebuilt the classes, counters at 0)
ip netns exec $LAN ping -q -c 5 -i 0.2 -I 10.200.1.11 10.200.3.2 >/dev/null
r "$FW" nat info --prometheus "$TMP/policy.ini" >"$TMP/nat.prom" 2>"$TMP/nat.prom.err"; rc=$?
check "info --prometheus exits 0" test $rc = 0
check "promtool check metrics: zero problems" bash -c "promtool check metrics <'$TMP/nat.prom' >'$TMP/promtool.out' 2>&1 && ! test -s '$TMP/promtool.out'"
check "info --prometheus: alice's upload bytes (>= her pings)" \
	bash -c "awk '/^fairway_nat_class_bytes_total\\{user=\"alice\",dir=\"up\",class=\"1:110\"\\}/ {exit !(\$2 >= 420)}' '$TMP/nat.prom'"
check "info --prometheus: fairway_nat_up 1" grep -qx 'fairway_nat_up 1' "$TMP/nat.prom"
r "$FW" nat info --dot "$TMP/policy.ini" >"$TMP/nat.dot" 2>/dev/null; rc=$?
check "info --dot exits 0" test $rc = 0
check "dot -Tsvg renders info --dot without warnings" bash -c "dot -Tsvg '$TMP/nat.dot' -o '$TMP/nat.svg' 2>'$TMP/dot.err' && ! test -s '$TMP/dot.err' && grep -q alice '$TMP/nat.svg'"
r "$FW" nat info --prometheus --dot "$TMP/policy.ini" >/dev/null 2>&1; rc=$?
check "info --prometheus --dot: exit 2" test $rc = 2

# 5. bad input changes nothing
for b in typo outside nodev; do
	r "$FW" nat start "$TMP/$b.ini" 2>"$TMP/$b.err"; rc=$?
	check "$b config refused with exit 2" test $rc = 2
	check "$b config changed nothing" test "$S1" = "$(snapshot)"
done
check "typo reported with file:line" grep -q "typo.ini:2: error: unknown key \"dev-lann\"" "$TMP/typo.err"
check "outside address reported with line" grep -q "outside.ini:13: error: .*outside the LAN 10.200.1.0/24" "$TMP/outside.err"

# 6. a tc failure halfway rolls back: tc (the policy's `tc` key) is a
# wrapper whose first batch for r-lan loads a few lines, then fails as tc
# does.
# (A leaf this kernel lacks no longer gets this far: tests/nat/leaf.sh.)
cat >"$TMP/tc-fail" <<'SH'
#!/bin/bash
if [ "${1:-}" = -batch ]; then
	in=$(cat)
	if grep -q 'dev r-lan' <<<"$in" && [ ! -e "$0.failed" ]; then   # the first only: not the restore
		touch "$0.failed"
		head -3 <<<"$in" | tc -batch - ; echo "Command failed -:4" >&2; exit 1
	fi
	exec tc -batch - <<<"$in"
fi
exec tc "$@"
SH
chmod +x "$TMP/tc-fail"
sed "/^\[nat\]/a tc = $TMP/tc-fail" "$TMP/policy.ini" >"$TMP/half.ini"
r "$FW" nat start "$TMP/half.ini" 2>"$TMP/half.err"; rc=$?
check "failing tc exits 1" test $rc = 1
S2=$(snapshot)
check "failing tc restored the previous trees and table" test "$S1" = "$S2"
[ "$S1" = "$S2" ] || { diff <(echo "$S1") <(echo "$S2") | head -20; cat "$TMP/half.err"; }

# 7. a foreign root qdisc is not replaced
r "$FW" nat stop "$TMP/policy.ini" >/dev/null 2>&1
r tc qdisc add dev r-lan root handle 5: tbf rate 1mbit burst 10k latency 50ms
r "$FW" nat start "$TMP/policy.ini" 2>/dev/null; rc=$?
check "foreign root qdisc: start refused (exit 2)" test $rc = 2
check "foreign root qdisc kept" bash -c "ip netns exec $RTR tc qdisc show dev r-lan | grep -q 'tbf 5: root'"
check "nothing loaded after the refusal" bash -c "! ip netns exec $RTR nft list table ip $TABLE >/dev/null 2>&1"
r tc qdisc del dev r-lan root

# 8. stop removes exactly what start added
r "$FW" nat start "$TMP/policy.ini" 2>/dev/null
r "$FW" nat stop "$TMP/policy.ini" 2>/dev/null; rc=$?
check "stop exits 0" test $rc = 0
check "table gone" bash -c "! ip netns exec $RTR nft list table ip $TABLE >/dev/null 2>&1"
check "no htb left on r-wan/r-lan" bash -c "! ip netns exec $RTR tc qdisc show | grep -q htb"
check "foreign table untouched" test "$(r nft list table inet foreign | sed 's/packets [0-9]* bytes [0-9]*//')" = "$(cat "$TMP/foreign.before")"
check "foreign table with a similar name untouched" bash -c "ip netns exec $RTR nft list chain ip ${TABLE}x other >/dev/null"
r "$FW" nat stop "$TMP/policy.ini" 2>/dev/null; rc=$?
check "stop twice exits 0" test $rc = 0

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
