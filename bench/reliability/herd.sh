#!/bin/bash
# The thundering herd of issue 11, by hand:
#   bench/reliability/herd.sh BUILD_DIR [HOSTS [PORTAL_ARGS…]]
# HOSTS announced hosts (herd: one process, host.c's backoff and
# jitter) on a portal; the portal is killed (-9) and started again on the
# same port. Prints the time until all are announced again, refusals
# during the return, and the portal's peak RSS — first, second start.
set -eu
build=$(cd "${1:?usage: $0 BUILD_DIR [HOSTS [PORTAL_ARGS…]]}" && pwd)
n=${2:-5000}
shift $(( $# < 2 ? $# : 2 ))
# one socket per host in the herd and in the portal, plus some
need=$((n + 1024))
[ "$(ulimit -n)" -ge "$need" ] || ulimit -n "$need" || { echo "$0: cannot raise ulimit -n to $need" >&2; exit 2; }
dir=$(mktemp -d /tmp/fairway-herd.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
export HOME=$dir FAIRWAY_HOME=$dir/.fairway
cd "$dir"
"$build/fairway" keygen --secret portal.secret >/dev/null
info() { "$build/fairway" info --json --secret portal.secret 2>/dev/null || echo '{}'; }
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)" 2>/dev/null || echo 0; }
start_portal() {
	"$build/fairway" portal --listen "127.0.0.1:${port:-0}" --secret portal.secret "$@" >portal.out 2>>portal.log &
	pp=$!
	for _ in $(seq 100); do grep -q '^net:' portal.out 2>/dev/null && break; sleep 0.1; done
	addr=$(grep '^net:' portal.out); port=${addr#net:127.0.0.1:}; port=${port%%~*}
}
# Seconds until all n are attendants; 120 s at most.
wait_all() {
	local t0 a
	t0=$(date +%s.%N)
	for _ in $(seq 1200); do
		a=$(info | field 'd.get("attendants",0)')
		[ "$a" -ge "$n" ] && break
		sleep 0.1
	done
	echo "$(python3 -c "print('%.1f' % ($(date +%s.%N) - $t0))") s, $a of $n announced"
}
start_portal "$@"
"$build/herd" "$addr" "$n" 2>herd.log &
echo "first start:   $(wait_all); portal peak RSS $(awk '/VmHWM/{print $2}' /proc/$pp/status) kB"
kill -9 $pp; wait $pp 2>/dev/null || true
sleep 1
rm -f portal.sock
start_portal "$@"
echo "after restart: $(wait_all); portal peak RSS $(awk '/VmHWM/{print $2}' /proc/$pp/status) kB"
echo "refused during the return: $(info | field 'sum(v for k,v in d["counters"].items() if k.startswith("refused") or k.startswith("evicted"))')"
