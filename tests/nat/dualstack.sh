#!/bin/bash
# dualstack.sh BUILD_DIR — `fairway nat start|stop` with a dual-stack policy
# in real network namespaces on this machine's kernel (root, iproute2,
# nftables; pfifo leaves): an IPv6-only user and a dual-stack user.
#
#   [LAN] 10.200.1.12  2001:db8:1::11 (v6only)  2001:db8:1::12 (dual)
#     lan0 ──veth── r-lan [RTR] r-wan ──veth── w-in [WAN] 10.200.3.2, 2001:db8:3::2 (lo)
#
# Checks: the inet table and its maps; IPv6 forwarding turned on by
# FEATURES proc; ping6 and TCP over IPv6 from each user land in that user's
# class on both devices (tc -s class show), and nobody else's; the dual
# user's IPv4 lands in the same class as its IPv6; IPv6 is routed, not
# NATed (the WAN sees the LAN address); inbound IPv6 is refused except the
# port forward — on both backends (nft inet table; iptables + ip6tables); a v6 address outside the LAN prefix is refused with exit 2
# before anything is touched; stop removes the table and the trees.
# Prints "N passed, N failed" last; exit status non-zero on any failure.
set -u
BUILD=$(cd "${1:?usage: dualstack.sh BUILD_DIR}" && pwd)
FW=${FAIRWAY:-$BUILD/fairway}
[ -x "$FW" ] || { echo "dualstack.sh: no fairway binary at $FW" >&2; exit 2; }
FW=$(cd "$(dirname "$FW")" && pwd)/$(basename "$FW")
[ "$(id -u)" = 0 ] || { echo "dualstack.sh: needs root (network namespaces)"; exit 77; }
P=nat2-$$
LAN=$P-lan RTR=$P-rtr WAN=$P-wan
PREFIX=NATD$$
TABLE=$(echo "$PREFIX" | tr A-Z a-z)
TMP=$(mktemp -d /tmp/fairway-dual.XXXXXX)
. "$(dirname "$0")/lib.sh"
PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for ns in $LAN $RTR $WAN; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$TMP" /run/fairway/"$TABLE"-*.tc
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT

nat_testbed
# IPv6 beside it (nodad: usable at once)
ip -n $LAN addr add 2001:db8:1::11/64 dev lan0 nodad
ip -n $LAN addr add 2001:db8:1::12/64 dev lan0 nodad
ip -n $LAN route add default via 2001:db8:1::1
ip -n $RTR addr add 2001:db8:1::1/64 dev r-lan nodad
ip -n $RTR addr add 2001:db8:2::1/64 dev r-wan nodad
ip -n $RTR route add 2001:db8:3::/64 via 2001:db8:2::2
ip -n $WAN addr add 2001:db8:2::2/64 dev w-in nodad
ip -n $WAN addr add 2001:db8:3::2/128 dev lo
ip -n $WAN route add 2001:db8:1::/64 via 2001:db8:2::1
# a third host on the LAN, known by its MAC only (a macvlan beside lan0)
ip -n $LAN link add mv0 link lan0 address 02:00:00:00:00:99 type macvlan mode bridge
ip -n $LAN addr add 2001:db8:1::99/64 dev mv0 nodad
ip -n $LAN addr add 10.200.1.99/24 dev mv0
ip -n $LAN link set mv0 up
ip -n $LAN route add default via 2001:db8:1::1 dev mv0 metric 2048
ip -n $LAN route add default via 10.200.1.1 dev mv0 metric 2048
r sysctl -qw net.ipv6.conf.all.forwarding=0

cat >"$TMP/policy.ini" <<INI
[nat]
dev-lan = r-lan
dev-net = r-wan
rate-lan = 100mbit
rate-up = 10mbit
rate-down = 50mbit
leaf = pfifo
prefix = $PREFIX
features = proc nat forward qos-down qos-up tos
[user v6only]
addr = 2001:db8:1::11
[user dual]
addr = 10.200.1.12, 2001:db8:1::12
forward = 2222 tcp
[user phone]
mac = 02:00:00:00:00:99
INI
# a prefix outside the LAN (the router's r-lan is 2001:db8:1::/64)
sed 's/^addr = 2001:db8:1::11$/addr = 2001:db8:9::11/' "$TMP/policy.ini" >"$TMP/outside6.ini"
sed 's/^addr = 2001:db8:1::11$/addr = 2001:db8:1::12/' "$TMP/policy.ini" >"$TMP/dup6.ini"

class_bytes() { # DEV CLASSID -> bytes sent
	r tc -s class show dev "$1" | awk -v c="$2" '
		$1 == "class" { cur = $3 }
		$1 == "Sent" && cur == c { print $2; found = 1; exit }
		END { if (!found) print -1 }'
}
user_bytes() { # DEV MARK -> bytes over the user's band classes
	local s=0 b
	for m in $(($2 + 1)) $(($2 + 2)) $(($2 + 3)); do
		b=$(class_bytes "$1" 1:$m); [ "$b" -ge 0 ] && s=$((s + b))
	done
	echo $s
}
tcp_send() { # SRC DST PORT BYTES [DEV]: a TCP upload from LAN to WAN; prints bytes received and the peer
	ip netns exec $WAN python3 -c '
import socket,sys
s=socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", int(sys.argv[1]))); s.listen(1); s.settimeout(20)
c,a=s.accept(); n=0
while True:
    d=c.recv(65536)
    if not d: break
    n+=len(d)
print(n, a[0])' "$3" >"$TMP/recv.out" &
	local spid=$!
	sleep 0.3
	ip netns exec $LAN python3 -c '
import socket,sys
fam = socket.AF_INET6 if ":" in sys.argv[2] else socket.AF_INET
s = socket.socket(fam); s.settimeout(20)
if len(sys.argv) > 5: s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, sys.argv[5].encode())
s.bind((sys.argv[1], 0)); s.connect((sys.argv[2], int(sys.argv[3])))
s.sendall(b"x" * int(sys.argv[4])); s.close()' "$1" "$2" "$3" "$4" ${5:-}
	wait $spid
	cat "$TMP/recv.out"
}

# 0. bad IPv6 input: refused, exit 2, nothing touched
out=$(r "$FW" nat start "$TMP/outside6.ini" 2>&1); rc=$?
check "v6 address outside the LAN prefix: exit 2" test $rc = 2
out_outside=$out
check "  ... names file:line and the prefix" grep -q "outside6.ini:1[0-9]: error: user v6only: 2001:db8:9::11 is outside every LAN IPv6 prefix (2001:db8:1::/64" <<<"$out"
out=$(r "$FW" nat start "$TMP/dup6.ini" 2>&1); rc=$?
check "one v6 address in two users: exit 2, named" bash -c "test $rc = 2 && grep -q 'address 2001:db8:1::12 is listed twice' <<<'$out'"
check "  ... nothing was touched (no table, no htb)" bash -c "! ip netns exec $RTR nft list table inet $TABLE >/dev/null 2>&1 && ! ip netns exec $RTR tc qdisc show dev r-wan | grep -q htb"

run_backend() { # nft | iptables
BK=$1 POL=$TMP/policy-$1.ini
sed "s/^leaf = pfifo$/leaf = pfifo\nbackend = $1/" "$TMP/policy.ini" >"$POL"
r sysctl -qw net.ipv6.conf.all.forwarding=0
# 1. start
r "$FW" nat start "$POL" >"$TMP/start.out" 2>&1; rc=$?
check "[$BK] start exits 0" test $rc = 0 || cat "$TMP/start.out"
if [ "$BK" = nft ]; then
	check "nft table inet $TABLE with maps addr4, addr6" bash -c "ip netns exec $RTR nft list table inet $TABLE | grep -q 'map addr6' && ip netns exec $RTR nft list table inet $TABLE | grep -q 'map addr4'"
else
	check "ip6tables chains ${PREFIX}_FORWARD and ${PREFIX}_INBOUND" bash -c "ip netns exec $RTR ip6tables -t mangle -S ${PREFIX}_FORWARD | grep -q CLASSIFY && ip netns exec $RTR ip6tables -S ${PREFIX}_INBOUND | grep -q DROP"
fi
check "FEATURES proc turned IPv6 forwarding on" test "$(r sysctl -n net.ipv6.conf.all.forwarding)" = 1
V6=$(r "$FW" nat info --lan-net 10.200.1.1/24 "$POL" 2>/dev/null | awk '$2 == "v6only" && $3 ~ /^1:/ { print $3 }'); V6=${V6#1:}
DU=$(r "$FW" nat info --lan-net 10.200.1.1/24 "$POL" 2>/dev/null | awk '$2 == "dual" && $3 ~ /^1:/ { print $3 }'); DU=${DU#1:}
PH=$(r "$FW" nat info --lan-net 10.200.1.1/24 "$POL" 2>/dev/null | awk '$2 == "phone" && $3 ~ /^1:/ { print $3 }'); PH=${PH#1:}
check "info shows the users' classes ($V6, $DU, $PH)" test -n "$V6" -a -n "$DU" -a -n "$PH"

# start twice = once (without counters)
snap() { { r nft list ruleset 2>/dev/null | sed -E 's/packets [0-9]+ bytes [0-9]+//'; r ip6tables-save 2>/dev/null | grep -v '^#' | sed -E 's/\[[0-9]+:[0-9]+\]//'
           r tc qdisc show dev r-wan; r tc class show dev r-wan; r tc class show dev r-lan; } 2>&1; }
snap >"$TMP/snap1"
r "$FW" nat start "$POL" >/dev/null 2>&1
snap >"$TMP/snap2"
check "[$BK] start twice = once" cmp -s "$TMP/snap1" "$TMP/snap2"

# 2. ping6 from the v6-only user: its interactive class, both ways
u0=$(class_bytes r-wan 1:$((V6 + 1))); d0=$(class_bytes r-lan 1:$((V6 + 1)))
o0=$(user_bytes r-wan "$DU")
ip netns exec $LAN ping -6 -q -c 20 -i 0.05 -s 1000 -I 2001:db8:1::11 2001:db8:3::2 >/dev/null 2>&1
check "ping6 from the v6-only user gets through" test $? = 0
u1=$(class_bytes r-wan 1:$((V6 + 1))); d1=$(class_bytes r-lan 1:$((V6 + 1)))
check "  ... its 20 requests in v6only's class 1:$((V6 + 1)) on r-wan ($((u1 - u0)) bytes)" test $((u1 - u0)) -ge 20000
check "  ... its 20 replies in v6only's class 1:$((V6 + 1)) on r-lan ($((d1 - d0)) bytes)" test $((d1 - d0)) -ge 20000
check "  ... none in the dual user's classes" test "$(user_bytes r-wan "$DU")" = "$o0"

# 3. TCP over IPv6 from the dual user: 2 MB upload in its classes
du0=$(user_bytes r-wan "$DU"); vu0=$(user_bytes r-wan "$V6"); dd0=$(user_bytes r-lan "$DU")
got=$(tcp_send 2001:db8:1::12 2001:db8:3::2 7001 2000000)
check "TCP over IPv6: 2000000 bytes arrive ($got)" test "${got%% *}" = 2000000
check "  ... from the LAN address itself: routed, not NATed" test "${got#* }" = 2001:db8:1::12
du1=$(user_bytes r-wan "$DU"); vu1=$(user_bytes r-wan "$V6"); dd1=$(user_bytes r-lan "$DU")
check "  ... upload in the dual user's classes on r-wan ($((du1 - du0)) bytes)" test $((du1 - du0)) -ge 2000000
check "  ... its ACKs in the dual user's classes on r-lan ($((dd1 - dd0)) bytes)" test $((dd1 - dd0)) -gt 0
check "  ... not in v6only's ($((vu1 - vu0)) bytes)" test $((vu1 - vu0)) -lt 2000
# TCP over IPv6 from the v6-only user, for its classes too
vu0=$(user_bytes r-wan "$V6")
got=$(tcp_send 2001:db8:1::11 2001:db8:3::2 7002 500000)
vu1=$(user_bytes r-wan "$V6")
check "TCP over IPv6 from v6only: 500000 bytes in its classes ($((vu1 - vu0)))" bash -c "test '${got%% *}' = 500000 && test $((vu1 - vu0)) -ge 500000"

# 4. the dual user's IPv4 lands in the same class as its IPv6
i0=$(class_bytes r-wan 1:$((DU + 1)))
ip netns exec $LAN ping -q -c 10 -i 0.05 -s 1000 -I 10.200.1.12 10.200.3.2 >/dev/null 2>&1
i1=$(class_bytes r-wan 1:$((DU + 1)))
check "IPv4 ping of the dual user in its class 1:$((DU + 1)) ($((i1 - i0)) bytes)" test $((i1 - i0)) -ge 10000

# 5. inbound IPv6: refused unless forwarded
ip netns exec $LAN python3 -c '
import socket
s=socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 2222)); s.listen(4)
t=socket.socket(socket.AF_INET6); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("::", 2223)); t.listen(4)
import time; time.sleep(30)' &
LPID=$!
sleep 0.3
conn() { ip netns exec $WAN python3 -c '
import socket,sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2); print("open")
except Exception as e: print("closed")' "$1" "$2"; }
check "inbound IPv6 to the forwarded port 2222 of dual: open" test "$(conn 2001:db8:1::12 2222)" = open
check "inbound IPv6 to an unforwarded port 2223: refused" test "$(conn 2001:db8:1::12 2223)" = closed
check "inbound IPv6 to v6only (no forward): refused" test "$(conn 2001:db8:1::11 2222)" = closed

kill $LPID 2>/dev/null; wait $LPID 2>/dev/null

# 5b. the host known by its MAC: IPv6 (a privacy-like address nobody listed) and IPv4
p0=$(class_bytes r-wan 1:$((PH + 1))); q0=$(class_bytes r-lan 1:$((PH + 1)))
ip netns exec $LAN ping -6 -q -c 10 -i 0.05 -s 1000 -I mv0 2001:db8:3::2 >/dev/null 2>&1
check "ping6 from the MAC-only host gets through" test $? = 0
ip netns exec $LAN ping -q -c 10 -i 0.05 -s 1000 -I mv0 10.200.3.2 >/dev/null 2>&1
p1=$(class_bytes r-wan 1:$((PH + 1))); q1=$(class_bytes r-lan 1:$((PH + 1)))
check "  ... its v6 and v4 requests in phone's class 1:$((PH + 1)) on r-wan ($((p1 - p0)) bytes)" test $((p1 - p0)) -ge 20000
check "  ... the replies too (the connection's mark) on r-lan ($((q1 - q0)) bytes)" test $((q1 - q0)) -ge 20000
p0=$(user_bytes r-wan "$PH")
got=$(tcp_send 10.200.1.99 10.200.3.2 7003 300000 mv0)
p1=$(user_bytes r-wan "$PH")
check "TCP over IPv4 from the MAC-only host: in its classes ($((p1 - p0)) bytes)" bash -c "test '${got%% *}' = 300000 && test $((p1 - p0)) -ge 300000"
check "  ... and NATed, its address never listed ($got)" test "${got#* }" = ::ffff:10.200.2.1
# 6. stop
r "$FW" nat stop "$POL" >/dev/null 2>&1; rc=$?
check "stop exits 0" test $rc = 0
check "  ... the inet table and the ip6tables chains are gone" bash -c "! ip netns exec $RTR nft list table inet $TABLE >/dev/null 2>&1 && ! ip netns exec $RTR ip6tables -t mangle -S ${PREFIX}_FORWARD >/dev/null 2>&1 && ! ip netns exec $RTR ip6tables -S ${PREFIX}_INBOUND >/dev/null 2>&1"
check "  ... the htb trees are gone" bash -c "! ip netns exec $RTR tc qdisc show dev r-wan | grep -q htb && ! ip netns exec $RTR tc qdisc show dev r-lan | grep -q htb"

}
run_backend nft
run_backend iptables

# from dual stack to IPv4 only and back, on nft: one table of the name at a time
grep -v -e '^addr = 2001' -e '^mac =' -e '^\[user v6only\]' -e '^\[user phone\]' "$TMP/policy.ini" |
	sed 's/, 2001:db8:1::12$//' >"$TMP/v4.ini"
r "$FW" nat start "$TMP/policy-nft.ini" >/dev/null 2>&1
r "$FW" nat start "$TMP/v4.ini" >"$TMP/v4.out" 2>&1; rc=$?
check "dual -> IPv4-only start exits 0" test $rc = 0 || cat "$TMP/v4.out"
check "  ... table ip $TABLE in, table inet $TABLE gone" bash -c "ip netns exec $RTR nft list table ip $TABLE >/dev/null && ! ip netns exec $RTR nft list table inet $TABLE >/dev/null 2>&1"
r "$FW" nat start "$TMP/policy-nft.ini" >/dev/null 2>&1; rc=$?
check "IPv4-only -> dual: table inet in, table ip gone" bash -c "test $rc = 0 && ip netns exec $RTR nft list table inet $TABLE >/dev/null && ! ip netns exec $RTR nft list table ip $TABLE >/dev/null 2>&1"
r "$FW" nat stop "$TMP/policy-nft.ini" >/dev/null 2>&1

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
