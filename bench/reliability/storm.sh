#!/bin/bash
# The storms of issue 11 at full rate, by hand:
#   bench/reliability/storm.sh BUILD_DIR [MODE SOCKETS SOURCES SECONDS [PORTAL_ARGS…]]
# MODE: connect | msg1 | drip | garbage (see tests/reliability/storm.c).
# Prints, beside the same portal idle in the same run: a legitimate
# client's 20-ping run from another address (min/median/p99), the control
# socket's answer time, portal RSS before/during/after, log lines written.
# PORTAL_CPUS / STORM_CPUS (taskset lists, e.g. 0 and 1) pin the portal
# (and the legitimate client) and the attacker apart, to tell CPU
# contention from the portal's own queuing.
set -eu
build=$(cd "${1:?usage: $0 BUILD_DIR [MODE SOCKETS SOURCES SECONDS [PORTAL_ARGS…]]}" && pwd)
mode=${2:-connect} n=${3:-1000} src=${4:-20} secs=${5:-20}
shift $(( $# < 5 ? $# : 5 ))
dir=$(mktemp -d /tmp/fairway-storm.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
export HOME=$dir FAIRWAY_HOME=$dir/.fairway
cd "$dir"
# taskset execs the command: $! stays the portal's pid
pin_portal=() pin_storm=()
[ -z "${PORTAL_CPUS:-}" ] || pin_portal=(taskset -c "$PORTAL_CPUS")
[ -z "${STORM_CPUS:-}" ] || pin_storm=(taskset -c "$STORM_CPUS")
for k in portal h c; do "$build/fairway" keygen --secret $k.secret >/dev/null; done
"${pin_portal[@]}" "$build/fairway" portal --listen 127.0.0.1:0 --secret portal.secret "$@" >portal.out 2>portal.log &
pp=$!
for _ in $(seq 50); do grep -q '^net:' portal.out 2>/dev/null && break; sleep 0.1; done
addr=$(grep '^net:' portal.out); port=${addr#net:127.0.0.1:}; port=${port%%~*}
"$build/fairway" host --portal "$addr" --secret h.secret >host.out 2>host.log &
for _ in $(seq 50); do grep -q '^tunnel:' host.out 2>/dev/null && break; sleep 0.1; done
tun=$(grep '^tunnel:' host.out)
rss() { awk '/VmRSS/{print $2}' /proc/$pp/status; }
ctl() {
	python3 - "$dir/portal.sock" <<'P'
import socket, sys, time
t = time.time(); s = socket.socket(socket.AF_UNIX); s.settimeout(10)
try:
    s.connect(sys.argv[1]); s.sendall(b'{"cmd":"info"}\n'); d = b''
    while not d.endswith(b'\n'):
        x = s.recv(65536)
        if not x: break
        d += x
    print("%.1f" % ((time.time() - t) * 1000))
except Exception as e:
    print("timeout")
P
}
pings() { "${pin_portal[@]}" timeout 30 "$build/fairway" ping "$tun" --portal "$addr" --secret c.secret -c 20 -i 50 2>&1 | sed -n 's/^rtt .* = //p'; }
idle_rss=$(rss)
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "idle:   ping min/median/p99/max/avg $(pings); control $(ctl) ms; RSS $idle_rss kB"
lines0=$(wc -l <portal.log)
"${pin_storm[@]}" "$build/storm" -p "$port" -n "$n" -s "$src" -t "$secs" -m "$mode" >storm.out &
sp=$!
sleep 2
c1=$(ctl); c2=$(ctl); c3=$(ctl)
echo "storm:  ping min/median/p99/max/avg $(pings); control $c1 $c2 $c3 ms; RSS $(rss) kB"
wait $sp
echo "storm:  $(cat storm.out) ($mode, $n sockets from $src addresses)"
echo "after:  RSS $(rss) kB at once; $(sleep 3; rss) kB 3 s later; $(( $(wc -l <portal.log) - lines0 )) log lines"
