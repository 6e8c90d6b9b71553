#!/bin/bash
# uplinks.sh BUILD_DIR — `fairway nat start|stop` with two uplinks in real
# network namespaces (root, iproute2, nftables; pfifo leaves):
#
#   [LAN] .11 alice, .12 bob ── r-lan [RTR] r-wan  ── w-in  [WAN] 10.200.3.2 (lo)
#                                           r-wan2 ── w-in2       (10.200.4.0/24)
#   the router sends bob's traffic out r-wan2 (ip rule from .12), alice's out r-wan
#
# Checks: a tree on each uplink with that uplink's rate; each user's upload
# lands in its class on the uplink the kernel routed it to, and not on the
# other; the download in its class on the LAN; masquerade on the second
# uplink; an uplink without rates is refused with nothing touched; stop
# removes all three trees. Prints "N passed, N failed" last.
set -u
BUILD=$(cd "${1:?usage: uplinks.sh BUILD_DIR}" && pwd)
FW=${FAIRWAY:-$BUILD/fairway}
[ -x "$FW" ] || { echo "uplinks.sh: no fairway binary at $FW" >&2; exit 2; }
FW=$(cd "$(dirname "$FW")" && pwd)/$(basename "$FW")
[ "$(id -u)" = 0 ] || { echo "uplinks.sh: needs root (network namespaces)"; exit 77; }
P=nat2u-$$
LAN=$P-lan RTR=$P-rtr WAN=$P-wan
PREFIX=NATU$$
TABLE=$(echo "$PREFIX" | tr A-Z a-z)
TMP=$(mktemp -d /tmp/fairway-uplinks.XXXXXX)
. "$(dirname "$0")/lib.sh"
cleanup() {
	for ns in $LAN $RTR $WAN; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$TMP" /run/fairway/"$TABLE"-*.tc
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT

nat_testbed noipv6
ip link add r-wan2 netns $RTR type veth peer name w-in2 netns $WAN
ip -n $RTR addr add 10.200.4.1/24 dev r-wan2
ip -n $WAN addr add 10.200.4.2/24 dev w-in2
ip -n $RTR link set r-wan2 up; ip -n $WAN link set w-in2 up
ip -n $RTR rule add from 10.200.1.12 lookup 100 pref 100
ip -n $RTR route add 10.200.3.0/24 via 10.200.4.2 dev r-wan2 table 100

cat >"$TMP/policy.ini" <<INI
[nat]
dev-lan = r-lan
dev-net = r-wan r-wan2
rate-lan = 100mbit
leaf = pfifo
prefix = $PREFIX
[uplink r-wan]
rate-up = 10mbit
rate-down = 50mbit
[uplink r-wan2]
rate-up = 4mbit
rate-down = 20mbit
[user alice]
addr = 10.200.1.11
[user bob]
addr = 10.200.1.12
INI
sed '/^rate-up = 4mbit$/d' "$TMP/policy.ini" >"$TMP/norate.ini"

class_bytes() { # DEV CLASSID -> bytes sent
	r tc -s class show dev "$1" | awk -v c="$2" '
		$1 == "class" { cur = $3 }
		$1 == "Sent" && cur == c { print $2; found = 1; exit }
		END { if (!found) print -1 }'
}

out=$(r "$FW" nat start "$TMP/norate.ini" 2>&1); rc=$?
check "an uplink without rates: exit 2, named" bash -c "test $rc = 2 && grep -q 'norate.ini:[0-9]*: error: uplink r-wan2 needs its rates' <<<'$out'"
check "  ... nothing touched" bash -c "! ip netns exec $RTR tc qdisc show dev r-wan2 | grep -q htb && ! ip netns exec $RTR nft list table ip $TABLE >/dev/null 2>&1"

r "$FW" nat start "$TMP/policy.ini" >"$TMP/start.out" 2>&1; rc=$?
check "start exits 0" test $rc = 0 || cat "$TMP/start.out"
for d in r-wan r-wan2 r-lan; do
	check "htb root on $d" bash -c "ip netns exec $RTR tc qdisc show dev $d | grep -q '^qdisc htb 1: root'"
done
check "r-wan's tree has its line (9500Kbit)" bash -c "ip netns exec $RTR tc class show dev r-wan | grep -q 'class htb 1:2 root .*rate 9500Kbit'"
check "r-wan2's tree has its own line (3800Kbit)" bash -c "ip netns exec $RTR tc class show dev r-wan2 | grep -q 'class htb 1:2 root .*rate 3800Kbit'"

a0=$(class_bytes r-wan 1:111); a2=$(class_bytes r-wan2 1:111)
b0=$(class_bytes r-wan 1:121); b2=$(class_bytes r-wan2 1:121)
bl=$(class_bytes r-lan 1:121)
ip netns exec $LAN ping -q -c 20 -i 0.05 -s 1000 -I 10.200.1.11 10.200.3.2 >/dev/null 2>&1
check "alice's ping gets through" test $? = 0
ip netns exec $LAN ping -q -c 20 -i 0.05 -s 1000 -I 10.200.1.12 10.200.3.2 >/dev/null 2>&1
check "bob's ping gets through (routed out r-wan2)" test $? = 0
check "alice's upload in her class on r-wan ($(( $(class_bytes r-wan 1:111) - a0 )) bytes)" test $(( $(class_bytes r-wan 1:111) - a0 )) -ge 20000
check "  ... none of it on r-wan2" test "$(class_bytes r-wan2 1:111)" = "$a2"
check "bob's upload in his class on r-wan2 ($(( $(class_bytes r-wan2 1:121) - b2 )) bytes)" test $(( $(class_bytes r-wan2 1:121) - b2 )) -ge 20000
check "  ... none of it on r-wan" test "$(class_bytes r-wan 1:121)" = "$b0"
check "bob's download in his class on r-lan ($(( $(class_bytes r-lan 1:121) - bl )) bytes)" test $(( $(class_bytes r-lan 1:121) - bl )) -ge 20000
ip netns exec $WAN python3 -c '
import socket
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 7010)); s.listen(1); s.settimeout(10)
c,a=s.accept(); print(a[0])' >"$TMP/peer" &
spid=$!
sleep 0.3
ip netns exec $LAN python3 -c '
import socket
s=socket.socket(); s.settimeout(10); s.bind(("10.200.1.12", 0)); s.connect(("10.200.3.2", 7010)); s.close()'
wait $spid
check "bob is masqueraded on r-wan2 (the WAN sees $(cat "$TMP/peer"))" test "$(cat "$TMP/peer")" = 10.200.4.1

r "$FW" nat stop "$TMP/policy.ini" >/dev/null 2>&1; rc=$?
check "stop exits 0" test $rc = 0
check "  ... all three trees and the table are gone" bash -c "! ip netns exec $RTR tc qdisc show | grep -q htb && ! ip netns exec $RTR nft list table ip $TABLE >/dev/null 2>&1"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
