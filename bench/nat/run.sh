#!/bin/bash
# run.sh [BUILD_DIR] — Fair NAT's headline on a testbed: ping under upload
# load through a dumb FIFO modem, with and without the router's shaping.
# Run by hand (not in CI): ~4 minutes. Everything runs inside one user-mode
# Linux boot (tests/nat/uml-boot.sh: its kernel has sfq, prio, fq_codel,
# cake and netem; this machine's has none of them), so every scenario is
# measured in the same kernel, the same run.
#
#  [b-lan] .11 pinger       r-lan [b-rtr] r-wan     m-lan [b-mdm] m-wan     w-in [b-wan]
#          .12 4 flows  ──veth──  router  ──veth──  modem: HTB UP +  ──veth── 10.200.3.2
#          .13-.15 1 flow each    under test        pfifo 1000       netem DELAY ms
#
# Scenarios (the router's shaping; the modem is always the bottleneck):
#   fifo      none: masquerade only, the modem's deep FIFO fills
#   fairnat   fairway nat --leaf sfq: Fair NAT's HTB → PRIO → SFQ tree
#   fairway   fairway nat (default leaf fq_codel)
#   pfifo     fairway nat --leaf pfifo (the leaf the host kernel has)
#   cake      cake bandwidth <line - 5%> dual-srchost nat (CAKE's per-host mode)
# fairway's line is UP - 5% (RATE_SUB_PERCENT), cake gets the same rate.
#
# Settings (environment): SCEN="fifo fairnat fairway pfifo cake" UP=10 (mbit)
# DELAY=20 (ms, base RTT) DUR=30 (s of upload per scenario) PINGS=200 (at
# 0.1 s, from 5 s into the load) HEAVY=4 (streams of user .12) CC=cubic
# ROUNDS=1 (the scenario list is repeated; pings are pooled, throughput
# averaged) OUT=dir (default a new /tmp/fairway-bench-nat.*; kept). BUILD_DIR must not
# be under /tmp (UML hides it). Prints a markdown table (bench/nat/stats.py).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" != --guest ]; then
	ROOT=$(cd "$HERE/../.." && pwd)
	BUILD=$(cd "${1:-$ROOT/build}" && pwd) || exit 2
	FW=${FAIRWAY:-$BUILD/fairway}
	[ -x "$FW" ] || { echo "run.sh: no fairway binary at $FW" >&2; exit 2; }
	case $FW in /tmp/*) echo "run.sh: $FW is under /tmp, which UML hides" >&2; exit 2 ;; esac
	SCEN=${SCEN:-fifo fairnat fairway pfifo cake}
	UP=${UP:-10} DELAY=${DELAY:-20} DUR=${DUR:-30} PINGS=${PINGS:-200} HEAVY=${HEAVY:-4} CC=${CC:-cubic}
	ROUNDS=${ROUNDS:-1}
	for v in "$UP" "$DELAY" "$DUR" "$PINGS" "$HEAVY" "$ROUNDS"; do
		case $v in '' | *[!0-9]*) echo "run.sh: UP DELAY DUR PINGS HEAVY are whole numbers" >&2; exit 2 ;; esac
	done
	OUT=${OUT:-$(mktemp -d /tmp/fairway-bench-nat.XXXXXX)}
	mkdir -p "$OUT" || exit 2
	n=$(echo $SCEN | wc -w)
	limit=$((ROUNDS * n * (DUR + 30) + 60))
	echo "run.sh: $ROUNDS x $n scenarios x ${DUR} s, UML time limit $limit s, results in $OUT"
	"$HERE/../../tests/nat/uml-boot.sh" "$OUT" "$limit" "$HERE/run.sh" --guest "$FW" \
		"$(echo $SCEN | tr ' ' +)" "$UP" "$DELAY" "$DUR" "$PINGS" "$HEAVY" "$CC" "$ROUNDS"
	rc=$?
	echo
	echo "UP=${UP}mbit DELAY=${DELAY}ms DUR=${DUR}s PINGS=$PINGS HEAVY=$HEAVY CC=$CC ROUNDS=$ROUNDS"
	echo "(user .11 pings; .12 uploads with $HEAVY streams and pings too, .13-.15 upload with 1)"
	python3 "$HERE/stats.py" "$OUT" $SCEN | tee "$OUT/table.md"
	exit $rc
fi

# ---- inside UML -------------------------------------------------------
FW=$2 SCEN=${3//+/ } UP=$4 DELAY=$5 DUR=$6 PINGS=$7 HEAVY=$8 CC=$9 ROUNDS=${10}
OUT=/run/out
IPT=iptables-legacy
LAN=b-lan RTR=b-rtr MDM=b-mdm WAN=b-wan
SERVER=10.200.3.2 PINGER=10.200.1.11
SHAPE_KBIT=$((UP * 1000 * 95 / 100))
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
log() { echo "[$(cut -d' ' -f1 /proc/uptime)] $*"; }

for ns in $LAN $RTR $MDM $WAN; do
	ip netns add $ns; nsx $ns ip link set lo up
	nsx $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip link add lan0 netns $LAN type veth peer name r-lan netns $RTR
ip link add r-wan netns $RTR type veth peer name m-lan netns $MDM
ip link add m-wan netns $MDM type veth peer name w-in netns $WAN
for i in 11 12 13 14 15; do nsx $LAN ip addr add 10.200.1.$i/24 dev lan0; done
nsx $RTR ip addr add 10.200.1.1/24 dev r-lan
nsx $RTR ip addr add 10.200.2.1/24 dev r-wan
nsx $MDM ip addr add 10.200.2.2/24 dev m-lan
nsx $MDM ip addr add 10.200.3.1/24 dev m-wan
nsx $WAN ip addr add $SERVER/24 dev w-in
for x in "$LAN lan0" "$RTR r-lan" "$RTR r-wan" "$MDM m-lan" "$MDM m-wan" "$WAN w-in"; do
	set -- $x
	nsx $1 ip link set $2 up
	# a 64 KB GSO packet would count as one in a pfifo limit
	nsx $1 ethtool -K $2 tso off gso off gro off >/dev/null 2>&1 || log "ethtool: offloads stay on for $2"
done
nsx $LAN ip route add 10.200.0.0/16 via 10.200.1.1
nsx $RTR ip route add 10.200.0.0/16 via 10.200.2.2
nsx $MDM ip route add 10.200.1.0/24 via 10.200.2.1
nsx $WAN ip route add 10.200.0.0/16 via 10.200.3.1
for ns in $RTR $MDM; do nsx $ns sysctl -qw net.ipv4.ip_forward=1; done
# the wire's base delay (both directions' worth, on the way back)
nsx $WAN tc qdisc add dev w-in root netem delay ${DELAY}ms limit 100000

modem() { # a dumb modem: the line rate and a deep FIFO; fresh counters
	nsx $MDM tc qdisc del dev m-wan root 2>/dev/null
	nsx $MDM tc qdisc add dev m-wan root handle 1: htb default 1
	nsx $MDM tc class add dev m-wan parent 1: classid 1:1 htb rate ${UP}mbit ceil ${UP}mbit
	nsx $MDM tc qdisc add dev m-wan parent 1:1 handle 10: pfifo limit 1000
	nsx $MDM tc qdisc del dev m-lan root 2>/dev/null
	nsx $MDM tc qdisc add dev m-lan root handle 1: htb default 1
	nsx $MDM tc class add dev m-lan parent 1: classid 1:1 htb rate $((UP * 5))mbit ceil $((UP * 5))mbit
	nsx $MDM tc qdisc add dev m-lan parent 1:1 handle 10: pfifo limit 1000
}

POLICY=/tmp/bench.ini
{
	printf '[nat]\ndev-lan = r-lan\ndev-net = r-wan\nrate-lan = 1000mbit\n'
	printf 'rate-up = %smbit\nrate-down = %smbit\n' "$UP" $((UP * 5))
	printf 'backend = iptables\niptables = %s\n' $IPT
	for i in 11 12 13 14 15; do printf '[user u%s]\naddr = 10.200.1.%s\n' $i $i; done
} >$POLICY

shape() { # SCENARIO: the router's shaping
	case $1 in
	fifo) nsx $RTR $IPT -t nat -A POSTROUTING -o r-wan -j MASQUERADE ;;
	cake)
		nsx $RTR $IPT -t nat -A POSTROUTING -o r-wan -j MASQUERADE
		nsx $RTR tc qdisc add dev r-wan root cake bandwidth ${SHAPE_KBIT}kbit dual-srchost nat
		;;
	fairnat) nsx $RTR "$FW" nat start --leaf sfq $POLICY ;;
	fairway) nsx $RTR "$FW" nat start $POLICY ;;
	pfifo) nsx $RTR "$FW" nat start --leaf pfifo $POLICY ;;
	*) log "unknown scenario $1"; return 1 ;;
	esac
}
unshape() {
	nsx $RTR "$FW" nat stop $POLICY >/dev/null 2>&1
	nsx $RTR tc qdisc del dev r-wan root 2>/dev/null
	nsx $RTR $IPT -t nat -D POSTROUTING -o r-wan -j MASQUERADE 2>/dev/null
	true
}

measure() { # LABEL: idle ping, then ping while the uploads run
	local label=$1 i par pids=()
	modem
	for i in 12 13 14 15; do
		timeout $((DUR + 20)) ip netns exec $WAN iperf3 -s -1 -p $((5200 + i)) >/dev/null 2>&1 &
		pids+=($!)
	done
	sleep 0.5
	nsx $LAN ping -n -I $PINGER -i 0.1 -c 30 $SERVER >$OUT/$label.idle.ping 2>&1
	for i in 12 13 14 15; do
		par=1; [ $i = 12 ] && par=$HEAVY
		timeout $((DUR + 15)) ip netns exec $LAN iperf3 -c $SERVER -p $((5200 + i)) -B 10.200.1.$i \
			-P $par -t $DUR -C $CC -J >$OUT/$label.iperf.$i.json 2>&1 &
		pids+=($!)
	done
	sleep 5   # let the queues build
	# the heavy uploader's own interactive traffic, next to its bulk flows
	timeout $((DUR + 5)) ip netns exec $LAN ping -n -I 10.200.1.12 -i 0.1 -c $PINGS $SERVER \
		>$OUT/$label.own.ping 2>&1 &
	pids+=($!)
	timeout $((DUR + 5)) ip netns exec $LAN ping -n -I $PINGER -i 0.1 -c $PINGS $SERVER >$OUT/$label.load.ping 2>&1
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	{ nsx $MDM tc -s qdisc show dev m-wan; echo; nsx $RTR tc -s qdisc show dev r-wan
	  nsx $RTR tc -s class show dev r-wan; } >$OUT/$label.tc 2>&1
	log "$label: $(grep -o 'rtt.*' $OUT/$label.load.ping)"
}

modem
for r in $(seq 1 "$ROUNDS"); do
	for s in $SCEN; do
		log "== $s, round $r"
		unshape
		shape $s || continue
		[ "$s" = fifo ] || [ "$s" = cake ] || nsx $RTR "$FW" nat info $POLICY >$OUT/$s.info 2>&1
		measure $s.r$r
	done
done
unshape
for ns in $LAN $RTR $MDM $WAN; do ip netns del $ns; done
