#!/bin/bash
# run.sh [BUILD_DIR] — issue 4's fair-sharing benchmark, fairway's portal
# beside the JS ssb-tunnel portal in the same run, same fairway hosts and
# clients (only the portal changes). Run by hand as root (setting (b) makes
# network namespaces), not in CI: ~6 minutes. Use a release build:
#   meson setup build-rel --buildtype=release && ninja -C build-rel fairway
#   sudo bench/fair/run.sh build-rel
#
# Workload (bench/fair/fair.py): U1..U4 with 1, 2, 4, 8 bulk tunnels (one
# `fairway connect` each, all sent by one Python process), U5 one tunnel
# pinging every 100 ms (`fairway ping -i 100`), one `fairway host` whose
# services u1..u4 are ports of one counting sink. Each run: 8 s idle pings,
# bulk starts, 3 s warm-up, a 10 s measurement window, then U4 stops and
# the others' uptake is sampled at 50 ms (until U4's queued bytes have
# drained, at most 18 s).
#
# (a) loopback: fairway's rate-up 20mbit less rate-sub-percent 5 is the
#     bottleneck (the JS portal has no rate: it runs as fast as the CPU lets it);
#     then fairway with no rate at all, for the relay efficiency with shaping off.
# (b) a dumb modem: the portal alone in namespace fair-p (10.200.50.1) behind
#     veth fp0, whose egress is HTB 10mbit + pfifo 1000 packets; everything
#     else in fair-c (10.200.50.2). Offloads off, cubic on both routes.
#     fairway: rate-up 10mbit, rate-sub-percent 5.
#
# Setting b also runs b-sub12 (fairway with rate-sub-percent 12).
# Extra runs (EXTRA=1): b-off (fairway unshaped behind the modem), a-200
# (fairway at 200mbit: U4's hand-off, its backlog drains in time), and eff-* (relay efficiency: fairway at 20 and 800 mbit, unshaped, and the JS
# portal; no `fairway info` sampling, no stop phase).
# Environment: SETTINGS="a b" RUNS="fairway js" EXTRA=1, FAIR_ARGS (more
# fair.py run options for every row, e.g. "--win 30 --tail 0"), PACE,
# OUT=dir (default a new /tmp/fairway-bench-fair.*; kept).
# Prints a markdown table (fair.py report).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd) || exit 2
export FAIRWAY_BIN=$BUILD/fairway
[ -x "$FAIRWAY_BIN" ] || { echo "run.sh: no fairway binary at $FAIRWAY_BIN" >&2; exit 2; }
[ -d "$ROOT/tests/interop/node_modules/ssb-tunnel" ] ||
	{ echo "run.sh: the JS stack is missing: (cd tests/interop && npm ci)" >&2; exit 2; }
SETTINGS=${SETTINGS:-a b} RUNS=${RUNS:-fairway js} EXTRA=${EXTRA:-1}
OUT=${OUT:-$(mktemp -d /tmp/fairway-bench-fair.XXXXXX)}
mkdir -p "$OUT" || exit 2
NSP=fair-p NSC=fair-c

down() {
	ip netns del $NSP 2>/dev/null
	ip netns del $NSC 2>/dev/null
	true
}

up() {
	down
	ip netns add $NSP && ip netns add $NSC || return 1
	ip link add fp0 netns $NSP type veth peer name fc0 netns $NSC || return 1
	ip -n $NSP addr add 10.200.50.1/24 dev fp0
	ip -n $NSC addr add 10.200.50.2/24 dev fc0
	for x in "$NSP fp0" "$NSC fc0"; do
		set -- $x
		ip -n $1 link set lo up
		ip -n $1 link set $2 up
		# a pfifo limit counts skbs: a 64 KB GSO skb would be one packet
		ip netns exec $1 ethtool -K $2 tso off gso off gro off >/dev/null 2>&1
		# the default here is bbr, which keeps a FIFO short: model ordinary senders
		ip -n $1 route replace 10.200.50.0/24 dev $2 congctl cubic
	done
	# the modem: the portal's uplink is a rate and a deep FIFO
	ip netns exec $NSP tc qdisc add dev fp0 root handle 1: htb default 10
	ip netns exec $NSP tc class add dev fp0 parent 1: classid 1:10 htb rate 10mbit ceil 10mbit
	ip netns exec $NSP tc qdisc add dev fp0 parent 1:10 handle 10: pfifo limit 1000
}

trap 'down' EXIT
trap 'exit 130' INT TERM

files=()
# one LABEL SETTING PORTAL RATE_MBIT SUB_PERCENT [fair.py run options]
one() {
	local label=$1 s=$2 p=$3 rate=$4 sub=$5
	shift 5
	local f=$OUT/$label-$p.json
	echo "== $label: setting $s, portal $p, rate ${rate}mbit less $sub %" >&2
	if [ "$s" = a ]; then
		RATE_MBIT=$rate SUB_PERCENT=$sub timeout 180 \
			python3 "$HERE/fair.py" run --setting a --label "$label" --portal "$p" --out "$f" "$@" ${FAIR_ARGS:-}
	else
		# the driver, sink, senders, host and clients in fair-c; the portal in fair-p
		PORTAL_NS=$NSP PORTAL_IP=10.200.50.1 RATE_MBIT=$rate SUB_PERCENT=$sub TC_DEV=fp0 timeout 180 \
			ip netns exec $NSC python3 "$HERE/fair.py" run --setting b --label "$label" --portal "$p" --out "$f" "$@" ${FAIR_ARGS:-}
	fi
	[ -s "$f" ] && files+=("$f")
}

for s in $SETTINGS; do
	case $s in
	a)
		for p in $RUNS; do one a a $p 20 5; done
		;;
	b)
		up || { echo "run.sh: cannot build the namespaces (root?)" >&2; exit 1; }
		for p in $RUNS; do one b b $p 10 5; done
		# the same with a margin that covers TCP/IP framing and the ACKs
		one b-sub12 b fairway 10 12
		# shaping off behind the same modem: the same throughput, so its
		# MB per CPU-second is the baseline for relay efficiency at 10 mbit
		[ "$EXTRA" = 1 ] && one b-off b fairway-noshape 10 0
		down
		;;
	esac
done
if [ "$EXTRA" = 1 ]; then
	# U4's hand-off where its backlog can drain inside the phase (190 mbit)
	one a-200 a fairway 200 5
	# relay efficiency, shaping on vs off: no `fairway info` sampling, no stop phase
	one eff-20 a fairway 20 5 --no-sample --idle 2 --tail 0
	one eff-800 a fairway 800 5 --no-sample --idle 2 --tail 0
	one eff-off a fairway-noshape 0 0 --no-sample --idle 2 --tail 0
	one eff-js a js 0 0 --no-sample --idle 2 --tail 0
fi
echo
echo "results in $OUT"
[ ${#files[@]} -gt 0 ] && python3 "$HERE/fair.py" report "${files[@]}" | tee "$OUT/table.md"
