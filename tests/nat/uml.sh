#!/bin/bash
# uml.sh BUILD_DIR — `fairway nat start|info|stop` with the leaves this
# machine's kernel lacks (fq_codel, Fair NAT's PRIO+SFQ, cake), applied for
# real inside user-mode Linux (tests/nat/uml-boot.sh) with the iptables
# backend (UML's kernel has iptables-legacy, no nftables ip/inet).
#
# UML_CASES=fq_codel,sfq,cake,fairnat (the default) picks the cycles to run;
# UML_LIMIT=240 bounds the whole UML run (seconds).
#
#   [P-lan] .11 .12 ──veth── r-lan [P-rtr] r-wan ──veth── [P-wan] 10.200.3.2
#
# Per leaf: the tc tree has the right qdiscs per user on both devices; ICMP
# from each LAN address lands in its user's interactive leaf (tc -s), a TCP
# upload in its bulk leaf, replies in the download tree; start twice = once;
# info prints counters; broken configs change nothing; stop removes exactly
# what start added and leaves foreign iptables rules and chains alone. Then
# once more from a Fair NAT fairnat.config (BIN_IPT, --leaf sfq).
# UML mounts its own tmpfs on /tmp: a checkout or binary under /tmp is
# staged under /var/tmp first (CI's clone may live anywhere).
# Needs: user-mode-linux, iptables, iproute2, iperf3, a C compiler (the
# XSAVE shim). Root is not needed on the host. Prints "N passed, N failed"
# last; exit status non-zero on any failure.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" != --guest ]; then
	BUILD=$(cd "${1:?usage: uml.sh BUILD_DIR}" && pwd)
	FW=${FAIRWAY:-$BUILD/fairway}
	[ -x "$FW" ] || { echo "uml.sh: no fairway binary at $FW"; echo "0 passed, 1 failed"; exit 1; }
	FW=$(cd "$(dirname "$FW")" && pwd)/$(basename "$FW")
	case "$HERE:$FW" in
	/tmp/*|*:/tmp/*)
		STAGE=$(mktemp -d /var/tmp/fairway-uml-stage.XXXXXX)
		cp -r "$HERE" "$STAGE/nat" && cp "$FW" "$STAGE/fairway" || {
			echo "uml.sh: cannot stage the test outside /tmp"; echo "0 passed, 1 failed"
			rm -rf "$STAGE"; exit 1; }
		FAIRWAY="$STAGE/fairway" "$STAGE/nat/uml.sh" "$BUILD"
		rc=$?
		rm -rf "$STAGE"
		exit $rc
		;;
	esac
	if ! command -v linux.uml >/dev/null; then
		echo "FAIL user-mode Linux is missing: apt-get install user-mode-linux (scripts/deps)"
		echo "0 passed, 1 failed"
		exit 1
	fi
	OUT=$(mktemp -d /tmp/fairway-uml-test.XXXXXX)
	trap 'rm -rf "$OUT"' EXIT
	# the whole UML part: boot ~2 s, tests ~45 s on an idle machine, 2-3 times
	# that when the machine is busy (UML's syscalls go through ptrace)
	"$HERE/uml-boot.sh" "$OUT" "${UML_LIMIT:-240}" "$HERE/uml.sh" --guest "$FW" ${UML_CASES:+"${UML_CASES//,/+}"} | grep -v -E '^[0-9]+ passed, [0-9]+ failed$'
	rc=${PIPESTATUS[0]}
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$OUT/guest.log" 2>/dev/null | tail -1)
	if [ -z "$summary" ]; then
		echo "FAIL the UML run did not report (uml-boot exit $rc)"
		echo "0 passed, 1 failed"
		exit 1
	fi
	echo "$summary"
	[ "$rc" = 0 ]
	exit
fi

# ---- inside UML (root, our own kernel) --------------------------------
FW=$2
CASES=${3:-fq_codel+sfq+cake+fairnat}   # '+': commas separate uml-boot's arguments
IPT=iptables-legacy
LAN=u-lan RTR=u-rtr WAN=u-wan
TMP=$(mktemp -d)
. "$HERE/lib.sh"

nat_testbed noipv6
# permanent neighbours: the router's own ARP would go to its class 1:3
mac() { ip -n "$1" -br link show "$2" | awk '{ print $3 }'; }
ip -n $RTR neigh replace 10.200.2.2 lladdr "$(mac $WAN w-in)" nud permanent dev r-wan
for a in 11 12; do ip -n $RTR neigh replace 10.200.1.$a lladdr "$(mac $LAN lan0)" nud permanent dev r-lan; done
# one packet per skb, so that packet counters mean packets
ip netns exec $LAN ethtool -K lan0 tso off gso off gro off >/dev/null 2>&1
for d in r-lan r-wan; do r ethtool -K $d tso off gso off gro off >/dev/null 2>&1; done

cat >"$TMP/policy.ini" <<INI
[nat]
dev-lan = r-lan
dev-net = r-wan
rate-lan = 100mbit
rate-up = 10mbit
rate-down = 50mbit
iptables = $IPT
[user alice]
addr = 10.200.1.11
forward = 2222 tcp
[user bob]
addr = 12
INI
bad_policies
cat >"$TMP/fairnat.config" <<CFG
# Fair NAT 0.80 style, as a user would have it
FEATURES="NAT FORWARD QOS_DOWN QOS_UP TOS"
DEV_LAN=r-lan
RATE_LAN=100000kbit
DEV_NET=r-wan
RATE_UP=10000kbit
RATE_DOWN=50000kbit
USERS="11 12"
PORTS="11 2222"
BIN_IPT=$IPT
CFG

# a firewall fairway did not write: must survive everything below
r $IPT -t mangle -A FORWARD -p udp --dport 9 -j RETURN
r $IPT -t nat -A POSTROUTING -o r-wan -d 10.200.9.9 -j RETURN
r $IPT -t filter -A FORWARD -s 10.200.1.99 -j ACCEPT
r $IPT -t mangle -N FAIRWAYX_FORWARD
r $IPT -t mangle -A FAIRWAYX_FORWARD -j RETURN
r $IPT -t nat -N MY_FAIRWAY_POSTROUTING
r $IPT -t nat -A POSTROUTING -j MY_FAIRWAY_POSTROUTING

snapshot() { # everything fairway may touch, without counters
	{ r $IPT-save | grep -v '^#' | sed -E 's/\[[0-9]+:[0-9]+\]//'
	  for d in r-wan r-lan; do
		# (fq_codel, cake and sfq list their live flows as classes)
		r tc qdisc show dev $d; r tc class show dev $d | grep -v -E '^class (fq_codel|cake|sfq) '
		r tc filter show dev $d
		for q in $(r tc qdisc show dev $d | awk '$2 == "prio" { print $3 }'); do
			r tc filter show dev $d parent "$q"
		done
	  done; } 2>&1
}
qdisc_pkts() { # DEV HANDLE -> packets sent by that qdisc, -1 if none
	r tc -s qdisc show dev "$1" | awk -v h="$2" '
		$1 == "qdisc" { cur = $3 }
		$1 == "Sent" && cur == h { print $4; found = 1; exit }
		END { if (!found) print -1 }'
}
has_qdisc() { # DEV KIND HANDLE PARENT
	r tc qdisc show dev "$1" | grep -q "^qdisc $2 $3 parent $4 "
}
wan_seen() { # SOURCE -> packets the WAN host received from it
	ip netns exec $WAN $IPT -vnxL INPUT | awk -v s="$1" '{ for (i = 3; i <= NF; i++) if ($i == s) { print $1; exit } }'
}
ip netns exec $WAN $IPT -A INPUT -s 10.200.2.1
ip netns exec $WAN $IPT -A INPUT -s 10.200.1.0/24
S0=$(snapshot)

# apply_test LABEL LEAF FILE [ARGS...]: the whole cycle for one tree
apply_test() {
	local label=$1 leaf=$2 file=$3 rc d S S1 out b n
	shift 3
	echo "== $label"
	r "$FW" nat start "$@" "$file" 2>"$TMP/start.err"; rc=$?
	check "$label: start exits 0" test $rc = 0
	[ $rc = 0 ] || cat "$TMP/start.err"
	for d in r-wan r-lan; do
		check "$label: htb root on $d" bash -c "ip netns exec $RTR tc qdisc show dev $d | grep -q '^qdisc htb 1: root'"
		check "$label: classes 1:110 and 1:120 on $d" bash -c \
			"ip netns exec $RTR tc class show dev $d | grep -q 'class htb 1:110 parent 1:1 ' &&
			 ip netns exec $RTR tc class show dev $d | grep -q 'class htb 1:120 parent 1:1 '"
		for u in 11 12; do
			if [ "$leaf" = sfq ]; then
				check "$label: $d user .$u: prio ${u}0: with sfq ${u}1: ${u}2: ${u}3:" bash -c \
					"$(declare -f has_qdisc r); RTR=$RTR; has_qdisc $d prio ${u}0: 1:${u}0 &&
					 has_qdisc $d sfq ${u}1: ${u}0:1 && has_qdisc $d sfq ${u}2: ${u}0:2 &&
					 has_qdisc $d sfq ${u}3: ${u}0:3"
			else
				check "$label: $d user .$u: $leaf in bands 1:${u}1 1:${u}2 1:${u}3" bash -c \
					"$(declare -f has_qdisc r); RTR=$RTR; has_qdisc $d $leaf ${u}1: 1:${u}1 &&
					 has_qdisc $d $leaf ${u}2: 1:${u}2 && has_qdisc $d $leaf ${u}3: 1:${u}3"
			fi
		done
	done
	n=$(r $IPT-save -t mangle | grep -c -- '-j CLASSIFY')
	check "$label: iptables CLASSIFY rules loaded ($n)" test "$n" -ge 4
	S1=$(snapshot)

	# traffic: ICMP is interactive (band 1), a TCP upload's data bulk (band 3)
	local own=$(class_pkts r-wan 1:3)
	ip netns exec $LAN ping -q -c 5 -i 0.2 -I 10.200.1.11 10.200.3.2 >/dev/null
	ip netns exec $LAN ping -q -c 3 -i 0.2 -I 10.200.1.12 10.200.3.2 >/dev/null
	check "$label: alice's pings in her interactive leaf 111: on r-wan (>= 5)" test "$(qdisc_pkts r-wan 111:)" -ge 5
	check "$label: alice's replies in 111: on r-lan (>= 5)" test "$(qdisc_pkts r-lan 111:)" -ge 5
	check "$label: bob's pings in his leaf 121: on r-wan (>= 3)" test "$(qdisc_pkts r-wan 121:)" -ge 3
	check "$label: bob's pings not in alice's class 1:110" test "$(class_pkts r-wan 1:110)" -lt 8
	n=$(class_pkts r-wan 1:3)
	check "$label: router's own class 1:3 saw no user ping ($own -> $n)" test "$n" -lt $((own + 3))
	timeout 20 ip netns exec $WAN iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
	for n in $(seq 50); do ip netns exec $WAN ss -ltn | grep -q ':5201 ' && break; sleep 0.1; done
	timeout 15 ip netns exec $LAN iperf3 -c 10.200.3.2 -B 10.200.1.11 -t 1 -C cubic >"$TMP/iperf.out" 2>&1 ||
		cat "$TMP/iperf.out"
	wait
	check "$label: alice's TCP upload in her bulk leaf 113: on r-wan (> 200 pkts)" test "$(qdisc_pkts r-wan 113:)" -gt 200
	check "$label: its small ACKs in 111: on r-lan (> 100)" test "$(qdisc_pkts r-lan 111:)" -gt 100
	check "$label: bob's bulk leaf untouched" test "$(qdisc_pkts r-wan 123:)" -lt 5
	check "$label: masqueraded: the WAN saw only the router's address" \
		test "$(wan_seen 10.200.2.1)" -gt 0 -a "$(wan_seen 10.200.1.0/24)" = 0
	ip netns exec $WAN $IPT -Z INPUT

	# info
	out=$(r "$FW" nat info "$@" "$file" 2>/dev/null); rc=$?
	check "$label: info exits 0" test $rc = 0
	check "$label: info shows alice's live counters" grep -qE '^  [a-z0-9]+ +1:110 +[1-9]' <<<"$out"
	grep -qE '^  [a-z0-9]+ +1:110 +[1-9]' <<<"$out" || echo "$out"

	# start twice = once
	r "$FW" nat start "$@" "$file" 2>/dev/null; rc=$?
	check "$label: second start exits 0" test $rc = 0
	S=$(snapshot)
	check "$label: second start leaves the same state" test "$S1" = "$S"
	[ "$S1" = "$S" ] || diff <(echo "$S1") <(echo "$S") | head -20

	# broken configs: refused, nothing changes
	if [ "$file" = "$TMP/policy.ini" ]; then
		for b in typo outside nodev; do
			r "$FW" nat start "$@" "$TMP/$b.ini" 2>"$TMP/$b.err"; rc=$?
			check "$label: $b config refused with exit 2" test $rc = 2
			check "$label: $b config changed nothing" test "$S1" = "$(snapshot)"
		done
		# a failure halfway: the tc trees go in, then the firewall is refused
		# (iptables-nft on a kernel without nftables): all rolled back
		r "$FW" nat start "$@" --iptables iptables-nft "$file" 2>"$TMP/half.err"; rc=$?
		check "$label: firewall refused after tc: exit 1" test $rc = 1
		S=$(snapshot)
		check "$label: ... and the previous state is back" test "$S1" = "$S"
		check "$label: ... with a hint at iptables-legacy" grep -q -- "--iptables iptables-legacy" "$TMP/half.err"
		[ "$S1" = "$S" ] || { cat "$TMP/half.err"; diff <(echo "$S1") <(echo "$S") | head; }
	fi

	# stop removes exactly what start added
	r "$FW" nat stop "$@" "$file" 2>"$TMP/stop.err"; rc=$?
	check "$label: stop exits 0" test $rc = 0
	[ $rc = 0 ] || cat "$TMP/stop.err"
	S=$(snapshot)
	check "$label: stop restored the state before start" test "$S0" = "$S"
	[ "$S0" = "$S" ] || diff <(echo "$S0") <(echo "$S") | head -20
	r "$FW" nat stop "$@" "$file" 2>/dev/null; rc=$?
	check "$label: stop twice exits 0 and changes nothing" bash -c "test $rc = 0 && test \"\$1\" = \"\$2\"" _ "$S0" "$(snapshot)"
}

want() { [[ "+$CASES+" == *"+$1+"* ]]; }
want fq_codel && apply_test fq_codel fq_codel "$TMP/policy.ini" --backend iptables
want sfq && apply_test sfq sfq "$TMP/policy.ini" --backend iptables --leaf sfq
want cake && apply_test cake cake "$TMP/policy.ini" --backend iptables --leaf cake
want fairnat && apply_test "fairnat.config+sfq" sfq "$TMP/fairnat.config" --backend iptables --leaf sfq
check "typo reported with file:line" grep -q "typo.ini:2: error: unknown key \"dev-lann\"" "$TMP/typo.err"
check "foreign chains FAIRWAYX_FORWARD, MY_FAIRWAY_POSTROUTING kept" \
	bash -c "ip netns exec $RTR $IPT -t mangle -S FAIRWAYX_FORWARD && ip netns exec $RTR $IPT -t nat -S MY_FAIRWAY_POSTROUTING" >/dev/null

for ns in $LAN $RTR $WAN; do ip netns del "$ns"; done
rm -rf "$TMP"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
