#!/bin/bash
# eff.sh BUILD_DIR RATE|off [TUNNELS] — the portal's CPU per MB relayed over a
# 10 s window, on loopback: one fairway portal, host and TUNNELS (4) `fairway
# connect` clients, each fed by a Python sender, into one counting-free sink.
# By hand, not in CI; ~20 s. Prints one line:
#   rate=20mbit n=4 wire MB 24.0  cpu s 0.183  MB/cpu-s 131.5
# wire MB is the scheduler's own count (`fairway info`), cpu s the portal's
# utime+stime from /proc/PID/schedstat.
#
# RATE is the portal's rate-up (tc units) or "off" (no shaping). To compare
# at the same throughput, limit the senders instead: SRCRATE=B/s per sender,
# e.g. `SRCRATE=593750 eff.sh build off` is 19 mbit in total with 4 senders,
# what `eff.sh build 20mbit` relays. POLICY_EXTRA adds lines to [portal]
# (e.g. POLICY_EXTRA='pace = 20ms'); PERF=1 records `perf record -g` of the
# portal over the window into $WORK/perf.data.
set -u
BUILD=$(cd "${1:?build dir}" && pwd) || exit 2
RATE=${2:?rate or off}
N=${3:-4}
F=$BUILD/fairway
KEEP=${WORK:+1}${PERF:+1}
WORK=${WORK:-$(mktemp -d /tmp/fairway-eff.XXXXXX)}
cd "$WORK" || exit 2
if [ "$RATE" = off ]; then
	printf '[portal]\nprivacy = open\n%s\n' "${POLICY_EXTRA:-}" > pol.ini
else
	printf '[portal]\nprivacy = open\nrate-up = %s\nrate-down = 10gbit\n%s\n' \
		"$RATE" "${POLICY_EXTRA:-}" > pol.ini
fi
for k in s1 h1 $(seq -f 'b%g' 1 "$N"); do
	[ -f "$k" ] || "$F" keygen --secret "$k" > /dev/null || exit 1
done
PIDS=()
cleanup() {
	kill "${PIDS[@]}" 2> /dev/null
	wait 2> /dev/null
	[ -n "$KEEP" ] || rm -rf "$WORK"
}
trap cleanup EXIT

"$F" portal --listen 127.0.0.1:0 --secret s1 -c pol.ini > p.out 2> p.err & PP=$!
PIDS+=($PP)
sleep 0.3
P=$(head -1 p.out)
[ -n "$P" ] || { echo "eff.sh: the portal did not start: $(cat p.err)" >&2; exit 1; }
SP=$((20000 + RANDOM % 5000))
python3 -c "
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $SP)); s.listen(64)
def drain(c):
    while c.recv(1 << 16): pass
while True:
    c, _ = s.accept(); threading.Thread(target=drain, args=(c,), daemon=True).start()
" & PIDS+=($!)
"$F" host --portal "$P" --secret h1 --expose bulk=127.0.0.1:$SP > h.out 2> h.err & PIDS+=($!)
sleep 0.5
T=$(head -1 h.out)
for i in $(seq "$N"); do
	"$F" connect "$T" --portal "$P" -L 127.0.0.1:$((SP + 100 + i)):bulk --secret "b$i" \
		> /dev/null 2>&1 & PIDS+=($!)
done
sleep 0.7
for i in $(seq "$N"); do
	timeout 20 python3 -c "
import socket, time
c = socket.create_connection(('127.0.0.1', $((SP + 100 + i))))
d = b'x' * 65536; t = time.time(); r = float('${SRCRATE:-0}'); n = 0
while time.time() - t < 18:
    c.sendall(d); n += len(d)
    if r > 0:
        w = t + n / r - time.time()
        if w > 0: time.sleep(w)
" 2> /dev/null & PIDS+=($!)
done
sleep 3
wire() { "$F" info --secret s1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["scheduler"]["bytes"])'; }
b0=$(wire); c0=$(awk '{print $1}' /proc/$PP/schedstat)
if [ -n "${PERF:-}" ]; then
	perf record -g -p "$PP" -o "$WORK/perf.data" -- sleep 10 > /dev/null 2>&1
else
	sleep 10
fi
c1=$(awk '{print $1}' /proc/$PP/schedstat); b1=$(wire)
python3 -c "
b = ($b1 - $b0) / 1e6; c = ($c1 - $c0) / 1e9
print('rate=$RATE n=$N wire MB %.1f  cpu s %.3f  MB/cpu-s %.1f' % (b, c, b / c if c else 0))"
