# Sourced by tests/cli/run.sh (B, d, ok, not_ok, expect, freeport): issue 16
# item 2, `fairway connect` keeps its -L port when the host or the portal
# goes away and re-opens the tunnel on the next local connection, with
# backoff while the portal is away; --once exits as before.
echo_server() { # prints its port; echoes each connection, for 60 s at most
	python3 -c '
import socket, threading, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); print(s.getsockname()[1], flush=True)
def echo(c):
    while (b := c.recv(4096)): c.sendall(b)
    c.close()
s.settimeout(60)
end = time.time() + 60
while time.time() < end:
    try: threading.Thread(target=echo, args=(s.accept()[0],), daemon=True).start()
    except OSError: break
'
}
# roundtrip PORT: "hello" through the forward, or the error
roundtrip() {
	python3 -c '
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    s.sendall(b"hello\n"); s.shutdown(socket.SHUT_WR); print(s.recv(100).decode().strip() or "(closed)")
except Exception as e: print("error:", e)' "$1" 2>&1
}
wait_line() { # FILE REGEX: up to 10 s
	for _ in $(seq 100); do grep -qE -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1
}
start_host() {
	"$B" host --portal "$RP" --secret "$d/rh" --expose "echo=127.0.0.1:$EP" >"$d/rh.out" 2>"$d/rh.err" &
	rhpid=$!
	wait_line "$d/rh.out" '^tunnel:'
}
start_portal() {
	"$B" portal --secret "$d/rp" --listen "127.0.0.1:$RPORT" --ctl none >"$d/rp.out" 2>>"$d/rp.err" &
	rppid=$!
	wait_line "$d/rp.out" '^net:'
}
"$B" keygen --secret "$d/rp" >/dev/null 2>&1; "$B" keygen --secret "$d/rh" >/dev/null 2>&1
echo_server >"$d/recho" & repid=$!
for _ in $(seq 50); do [ -s "$d/recho" ] && break; sleep 0.1; done
EP=$(cat "$d/recho")
RPORT=$(freeport)
start_portal; RP=$(head -1 "$d/rp.out")
start_host; RT=$(head -1 "$d/rh.out")
RL=$(freeport)
"$B" connect "$RT" --portal "$RP" --secret "$d/s" -L "$RL:echo" >"$d/rc.out" 2>"$d/rc.err" &
rcpid=$!
wait_line "$d/rc.out" '^forwarding'
[ "$(roundtrip "$RL")" = hello ] && ok "connect: the forward works" || not_ok "connect forward" "$(cat "$d/rc.err")"
# the host goes away: connect stays, its port stays
kill "$rhpid"; wait "$rhpid" 2>/dev/null
wait_line "$d/rc.err" 'tunnel: open -> idle: .*-L ports stay open' &&
	kill -0 "$rcpid" 2>/dev/null && python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),timeout=2)' "$RL" 2>/dev/null &&
	ok "host gone: connect keeps running and its -L port open, logging the change" ||
	not_ok "connect after the host left" "$(tail -5 "$d/rc.err")"
start_host
got=$(roundtrip "$RL")
[ "$got" = hello ] && grep -qE 'tunnel: idle -> re-opening: a local connection is waiting' "$d/rc.err" &&
	grep -qE 'tunnel: re-opening -> open' "$d/rc.err" &&
	ok "host back: the next local connection re-opens the tunnel and is forwarded" ||
	not_ok "re-open after the host came back ($got)" "$(tail -5 "$d/rc.err")"
# the portal goes away: backoff, a local connection is refused, not hung
kill "$rppid" "$rhpid"; wait "$rppid" "$rhpid" 2>/dev/null
wait_line "$d/rc.err" 'tunnel: open -> idle' 
t0=$(date +%s%N); got=$(roundtrip "$RL"); t1=$(date +%s%N)
wait_line "$d/rc.err" 'tunnel: re-opening -> backing off: .*; next try in [0-9]+ ms' &&
	[ "$got" != hello ] && [ $(( (t1 - t0) / 1000000 )) -lt 5000 ] && kill -0 "$rcpid" 2>/dev/null &&
	ok "portal gone: the waiting connection is closed at once (${got}), connect backs off and keeps running" ||
	not_ok "portal gone ($got)" "$(tail -5 "$d/rc.err")"
got=$(roundtrip "$RL")   # during (or after) the backoff: refused again, backoff grows
start_portal; start_host
for _ in $(seq 20); do got=$(roundtrip "$RL"); [ "$got" = hello ] && break; sleep 0.5; done
d1=$(grep -oE 'connection refused; next try in [0-9]+ ms' "$d/rc.err" | head -1 | grep -oE '[0-9]+')
d2=$(grep -oE 'connection refused; next try in [0-9]+ ms' "$d/rc.err" | sed -n 2p | grep -oE '[0-9]+')
[ "$got" = hello ] && kill -0 "$rcpid" 2>/dev/null &&
	ok "portal back: the tunnel re-opens and forwards (backoff ${d1:-?} ms, then ${d2:-none} ms)" ||
	not_ok "re-open after the portal came back ($got)" "$(tail -8 "$d/rc.err")"
[ -n "$d1" ] && [ -n "$d2" ] && [ "$d1" -ge 375 ] && [ "$d1" -le 625 ] && [ "$d2" -ge 750 ] && [ "$d2" -le 1250 ] &&
	ok "backoff doubles with jitter (host's: 500 ms ±25 %, then 1 s ±25 %)" || not_ok "backoff $d1 $d2" "$(grep 'next try' "$d/rc.err")"
kill "$rcpid"; wait "$rcpid" 2>/dev/null
# --once: exit when the tunnel ends, as before
"$B" connect "$RT" --portal "$RP" --secret "$d/s" -L "$(freeport):echo" --once >"$d/ro.out" 2>"$d/ro.err" &
ropid=$!
wait_line "$d/ro.out" '^forwarding'
kill "$rhpid"; wait "$rhpid" 2>/dev/null
for _ in $(seq 50); do kill -0 "$ropid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$ropid" 2>/dev/null; then not_ok "connect --once still running after the host left" "$(cat "$d/ro.err")"; kill "$ropid"
else wait "$ropid"; rc=$?; [ "$rc" = 1 ] && grep -q 'session ended' "$d/ro.err" &&
	ok "connect --once: exits 1 when the tunnel ends" || not_ok "--once exit $rc" "$(cat "$d/ro.err")"; fi
wait "$ropid" 2>/dev/null
kill "$rppid" "$repid" 2>/dev/null; wait "$rppid" "$repid" 2>/dev/null
