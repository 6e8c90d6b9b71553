#!/usr/bin/env bash
# The command line as a new user meets it (issue 16): exit codes (0 ok,
# 1 run time, 2 usage or configuration), -h/--help on every command, one
# strict parser for numbers and durations with messages naming the option,
# FAIRWAY_LOG and --log-format, and the log line format.
# TAP output. Usage: tests/cli/run.sh BUILD_DIR
set -uo pipefail
cd "$(dirname "$0")/../.."
B=$PWD/${1:-build-test}/fairway
n=0 fails=0
ok() { n=$((n+1)); echo "ok $n - $1"; }
not_ok() { n=$((n+1)); fails=$((fails+1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/#   /' <<<"$2"; }
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
export FAIRWAY_HOME=$d/home
"$B" keygen --secret "$d/s" >/dev/null 2>&1
BADKEY='net:127.0.0.1:1~shs:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='

# expect CODE REGEX DESCRIPTION CMD...: exit status and a stderr+stdout match
expect() {
	local code=$1 re=$2 what=$3; shift 3
	local out rc
	out=$(timeout 10 "$@" 2>&1); rc=$?
	if [ "$rc" -eq "$code" ] && grep -qE -- "$re" <<<"$out"; then ok "$what"
	else not_ok "$what (exit $rc, want $code)" "$out"; fi
}

for c in keygen id portal host connect ping info stop reload nat check call; do
	expect 0 "usage: fairway $c" "fairway $c --help: usage, exit 0" "$B" "$c" --help
	expect 0 "usage: fairway $c" "fairway $c -h: usage, exit 0" "$B" "$c" -h
done
expect 0 'usage: fairway <command>' "fairway help: exit 0" "$B" help
expect 2 "unknown command 'bogus'" "fairway help bogus: exit 2" "$B" help bogus
expect 2 "unknown command 'bogus'" "fairway bogus: exit 2" "$B" bogus
expect 2 'usage' "fairway with nothing: exit 2" "$B"

# numbers and durations
expect 2 "ping: -c: '-1' is not a whole number" "ping -c -1: exit 2, names -c" "$B" ping "$BADKEY" -c -1
expect 2 "ping: -c: '0' is not a whole number" "ping -c 0" "$B" ping "$BADKEY" -c 0
expect 2 "ping: -c: '5x' is not a whole number" "ping -c 5x (no silent 5)" "$B" ping "$BADKEY" -c 5x
expect 2 "ping: -i: '-5' is not a duration" "ping -i -5" "$B" ping "$BADKEY" -i -5
expect 2 "ping: -i: 'abc' is not a duration" "ping -i abc (no silent 0)" "$B" ping "$BADKEY" -i abc
expect 2 "call: --timeout: 'x' is not a duration" "call --timeout x" "$B" call "$BADKEY" whoami --timeout x
expect 2 "portal: --idle-timeout: '15x' is not a duration" "portal --idle-timeout 15x" "$B" portal --secret "$d/s" --idle-timeout 15x
expect 2 "portal: --max-conns-per-ip: 'lots' is not a whole number" "portal --max-conns-per-ip lots" "$B" portal --secret "$d/s" --max-conns-per-ip lots
# a duration the policy file takes is taken on the command line too
out=$(timeout 3 "$B" portal --secret "$d/s" --listen 127.0.0.1:0 --ctl none --idle-timeout 15s --handshake-timeout 500ms 2>&1 | head -1)
[[ $out == net:127.0.0.1:* ]] && ok "portal --idle-timeout 15s --handshake-timeout 500ms start" || not_ok "durations with units" "$out"
expect 2 "not a numeric IPv4 or IPv6" "--listen nosuchhost.invalid:8010: exit 2" "$B" portal --secret "$d/s" --ctl none --listen nosuchhost.invalid:8010
expect 2 "not a numeric IPv4 or IPv6" "--listen 999.1.1.1:80: exit 2" "$B" portal --secret "$d/s" --ctl none --listen 999.1.1.1:80
expect 2 "is not HOST:PORT" "--listen 127.0.0.1:99999: exit 2" "$B" portal --secret "$d/s" --ctl none --listen 127.0.0.1:99999

# item 5: a --portal whose key is not the tunnel address's portal
K1=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
K2=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=
K3=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAI=
for c in ping connect call; do
	extra=(); [ $c = connect ] && extra=(-L 65000:web); [ $c = call ] && extra=(whoami)
	expect 2 "the portal's key differs: the tunnel address names portal @$K1.ed25519, but net:127.0.0.1:1 has key @$K2.ed25519" \
		"$c --portal with another key: both keys named" \
		"$B" $c "tunnel:@$K1.ed25519:@$K3.ed25519~shs:$K3" "${extra[@]}" --portal "net:127.0.0.1:1~shs:$K2" --secret "$d/s"
done

# item 12: --advertise names the printed address; an unspecified one warns
adv() { timeout 2 "$B" portal --secret "$d/s" --ctl none "$@" 2>&1; }
out=$(adv --listen 0.0.0.0:0)
grep -q 'warning: the address printed, net:0.0.0.0:[0-9]*~shs:.*, names no host (0.0.0.0 means every local address).*--advertise' <<<"$out" &&
	ok "--listen 0.0.0.0: a warning names the undialable address" || not_ok "0.0.0.0 warning" "$out"
out=$(adv --listen '[::]:0')
grep -q 'the address printed, net::::[0-9]*~shs:.*(\[::\] means every local address)' <<<"$out" &&
	ok "--listen [::]: the warning brackets ::" || not_ok ":: warning" "$out"
out=$(adv --listen 0.0.0.0:0 --advertise room.example:9000)
[[ $(head -1 <<<"$out") == net:room.example:9000~shs:* ]] && ! grep -q warning <<<"$out" &&
	ok "--advertise HOST:PORT is the printed address, no warning" || not_ok "--advertise host:port" "$out"
out=$(adv --listen 127.0.0.1:0 --advertise '[2001:db8::1]:8008')
[[ $(head -1 <<<"$out") == net:2001:db8::1:8008~shs:* ]] &&
	ok "--advertise [v6]:PORT: multiserver writes IPv6 bare" || not_ok "--advertise v6" "$out"
out=$(adv --listen 127.0.0.1:0 --advertise 203.0.113.5)
[[ $(head -1 <<<"$out") =~ ^net:203\.0\.113\.5:[0-9]+~shs: ]] && ! [[ $(head -1 <<<"$out") =~ :0~ ]] &&
	ok "--advertise HOST keeps the listening port" || not_ok "--advertise host only" "$out"
expect 2 "--advertise: 'a b:1' is not HOST\\[:PORT\\]" "--advertise with a bad host: exit 2" "$B" portal --secret "$d/s" --ctl none --advertise 'a b:1'
expect 2 "--advertise: 'x:0' is not HOST" "--advertise port 0: exit 2" "$B" portal --secret "$d/s" --ctl none --advertise x:0
printf '[portal]\nlisten = 0.0.0.0:0\nadvertise = room.example.org:9000\n' >"$d/adv.conf"
out=$(adv -c "$d/adv.conf")
[[ $(head -1 <<<"$out") == net:room.example.org:9000~shs:* ]] && ! grep -q warning <<<"$out" &&
	ok "policy key advertise is the printed address" || not_ok "policy advertise" "$out"
printf '[portal]\nadvertise = a b\n' >"$d/adv2.conf"
expect 2 "adv2.conf:2: error: advertise: expected HOST\\[:PORT\\]" "policy advertise = a b: file:line, exit 2" \
	"$B" portal -c "$d/adv2.conf" --secret "$d/s" --ctl none

# issue 16 item 15: the README's example policy checks without a warning
id1=$("$B" id --secret "$d/s"); id2=$("$B" keygen --secret "$d/readme2" >/dev/null 2>&1; "$B" id --secret "$d/readme2")
awk '/^```ini/ {on = 1; next} on && /^```/ {exit} on' README.md |
	awk -v a="$id1" -v b="$id2" '/^id = / {n++; print "id = " (n == 1 ? a : b); next} {print}' >"$d/readme.conf"
out=$("$B" check -c "$d/readme.conf" 2>&1); rc=$?
[ "$rc" -eq 0 ] && grep -q '^\[user alice\]' "$d/readme.conf" && ! grep -qi 'warning' <<<"$out" &&
	ok "the README's example policy: fairway check, no warning" || not_ok "README example policy (exit $rc)" "$out"
# IPv6 in brackets wherever a person reads HOST:PORT (the net: address
# itself stays bare, as multiserver writes it)
"$B" keygen --secret "$d/v6" >/dev/null 2>&1
"$B" portal --secret "$d/v6" --ctl none --listen '[::1]:0' >"$d/v6.out" 2>/dev/null &
vpid=$!
for _ in $(seq 50); do [ -s "$d/v6.out" ] && break; sleep 0.1; done
out=$(head -1 "$d/v6.out")
if [[ $out == net:::1:* ]]; then
	out=$(timeout 5 "$B" call "$out" whoami --secret "$d/s" 2>&1)
	grep -qE 'connection \[::1\]:[0-9]+: authenticated' <<<"$out" &&
		ok "a dialled IPv6 peer is named [::1]:PORT in logs" || not_ok "IPv6 peer name" "$out"
else
	not_ok "portal --listen [::1]:0 (no IPv6 loopback?)" "$out"
fi
kill "$vpid" 2>/dev/null; wait "$vpid" 2>/dev/null

# logging
expect 2 "FAIRWAY_LOG='loud' is not a log level" "FAIRWAY_LOG=loud is refused" env FAIRWAY_LOG=loud "$B" id --secret "$d/s"
expect 0 '^@' "FAIRWAY_LOG=warn is a level" env FAIRWAY_LOG=warn "$B" id --secret "$d/s"
expect 2 "is not text or json" "--log-format xml is refused" "$B" --log-format xml id --secret "$d/s"
log=$(timeout 2 "$B" portal --secret "$d/s" --listen 127.0.0.1:0 --ctl none 2>&1 >/dev/null)
grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z fairway-portal\[[0-9]+\] info: portal listening' <<<"$log" &&
	ok "log lines carry a UTC timestamp, the component, pid and level" || not_ok "log line format" "$log"
log=$(timeout 2 "$B" portal --log-format json --secret "$d/s" --listen 127.0.0.1:0 --ctl none 2>&1 >/dev/null)
head -1 <<<"$log" | python3 -c 'import json,sys; j=json.loads(sys.stdin.readline()); assert j["level"]=="info" and j["component"]=="fairway-portal" and "portal listening" in j["msg"] and j["time"].endswith("Z")' 2>/dev/null &&
	ok "--log-format json: one JSON object a line" || not_ok "json log" "$log"

# Secrets never reach a log: a portal, a host and a ping at debug level,
# all their output searched for each identity's private key.
"$B" keygen --secret "$d/p" >/dev/null 2>&1; "$B" keygen --secret "$d/h" >/dev/null 2>&1
FAIRWAY_LOG=debug "$B" portal --secret "$d/p" --listen 127.0.0.1:0 --ctl none >"$d/p.out" 2>"$d/p.err" &
ppid=$!
for _ in $(seq 50); do [ -s "$d/p.out" ] && break; sleep 0.1; done
FAIRWAY_LOG=debug "$B" host --portal "$(head -1 "$d/p.out")" --secret "$d/h" >"$d/h.out" 2>"$d/h.err" &
hpid=$!
for _ in $(seq 100); do [ -s "$d/h.out" ] && break; sleep 0.1; done
FAIRWAY_LOG=debug "$B" ping "$(head -1 "$d/h.out")" --portal "$(head -1 "$d/p.out")" --secret "$d/s" -c 2 -i 10 >"$d/c.out" 2>"$d/c.err"
kill "$hpid" "$ppid" 2>/dev/null; wait "$hpid" "$ppid" 2>/dev/null
leaks=""
for k in "$d/p" "$d/h" "$d/s"; do
	priv=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["private"].split(".")[0])' "$k" 2>/dev/null ||
	       sed -n 's/.*"private": *"\([^".]*\).*/\1/p' "$k")
	[ -n "$priv" ] || { leaks+="cannot read the private key of $k; "; continue; }
	grep -lF -- "$priv" "$d"/*.out "$d"/*.err && leaks+="$(basename "$k")'s private key is in a log; "
	grep -lF -- "${priv:0:43}" "$d"/*.out "$d"/*.err && leaks+="$(basename "$k")'s seed is in a log; "
done
lines=$(cat "$d"/*.err | wc -l)
[ -z "$leaks" ] && [ "$lines" -gt 10 ] && ok "no private key in $lines debug log lines of portal, host and ping" \
	|| not_ok "secrets in logs (or no logs: $lines lines)" "$leaks"

# item 4: a host that is not announced: the portal's answer, not a handshake guess
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
"$B" portal --secret "$d/p" --listen 127.0.0.1:0 --ctl none >"$d/q.out" 2>"$d/q.err" &
qpid=$!
for _ in $(seq 50); do [ -s "$d/q.out" ] && break; sleep 0.1; done
P=$(head -1 "$d/q.out"); PK=${P##*~shs:}
NOHOST="tunnel:@$PK.ed25519:@$K3.ed25519~shs:$K3"
for c in ping call connect; do
	extra=(); [ $c = connect ] && extra=(-L "$(freeport):web"); [ $c = call ] && extra=(whoami)
	expect 1 "tunnel refused: could not connect to:@$K3.ed25519 \\(host @$K3.ed25519 is not connected to this portal\\)" \
		"$c to a host that is not announced: the portal's answer" "$B" $c "$NOHOST" "${extra[@]}" --portal "$P" --secret "$d/s"
done
# item 10: connect -L on a port in use fails before it dials the portal
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(30)' >"$d/busy" &
bpid=$!
for _ in $(seq 50); do [ -s "$d/busy" ] && break; sleep 0.1; done
BUSY=$(cat "$d/busy")
nconn=$(grep -c 'handshake\|authenticated\|refused' "$d/q.err")
expect 1 "connect: -L: cannot listen on 127.0.0.1:$BUSY: address already in use" \
	"connect -L on a port in use: exit 1 with the address and the reason" \
	"$B" connect "$NOHOST" -L "$BUSY:web" --portal "$P" --secret "$d/s"
sleep 0.3
[ "$(grep -c 'handshake\|authenticated\|refused' "$d/q.err")" = "$nconn" ] &&
	ok "connect -L on a port in use did not dial the portal" || not_ok "connect dialled the portal first" "$(tail -3 "$d/q.err")"
kill "$bpid" 2>/dev/null; wait "$bpid" 2>/dev/null
# item 3: --expose resolves names once at start, refuses duplicates and
# names that do not exist; a refused forward is logged on both sides.
expect 2 "service 'web' is already exposed \\(as 127.0.0.1:1\\)" "host --expose the same name twice: exit 2" \
	"$B" host --portal "$P" --secret "$d/h" --expose web=127.0.0.1:1 --expose web=127.0.0.1:2
expect 2 "--expose web=nosuchhost.invalid:80: cannot resolve host 'nosuchhost.invalid'" \
	"host --expose with a host that does not exist: exit 2" \
	"$B" host --portal "$P" --secret "$d/h" --expose web=nosuchhost.invalid:80
python3 -c '
import socket, sys, threading
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); print(s.getsockname()[1], flush=True)
def echo(c):
    while (b := c.recv(4096)): c.sendall(b)
    c.close()
for _ in range(4):
    threading.Thread(target=echo, args=(s.accept()[0],), daemon=True).start()
' >"$d/echo" &
epid=$!
for _ in $(seq 50); do [ -s "$d/echo" ] && break; sleep 0.1; done
"$B" host --portal "$P" --secret "$d/h" --expose "echo=localhost:$(cat "$d/echo")" >"$d/e.out" 2>"$d/e.err" &
hpid=$!
for _ in $(seq 100); do [ -s "$d/e.out" ] && break; sleep 0.1; done
L1=$(freeport); L2=$(freeport)
"$B" connect "$(head -1 "$d/e.out")" --portal "$P" --secret "$d/s" -L "localhost:$L1:echo" -L "$L2:nosuch" >"$d/f.out" 2>"$d/f.err" &
cpid=$!
for _ in $(seq 100); do [ -f "$d/f.out" ] && [ "$(wc -l <"$d/f.out")" -ge 2 ] && break; sleep 0.1; done
got=$(python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.sendall(b"hello\n"); s.shutdown(socket.SHUT_WR); print(s.recv(100).decode().strip())' "$L1" 2>&1)
[ "$got" = hello ] && ok "--expose echo=localhost:PORT and -L localhost:PORT:echo: names are resolved, bytes forwarded" || not_ok "--expose localhost" "$got $(cat "$d/e.err")"
python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.sendall(b"x"); s.recv(10)' "$L2" 2>/dev/null
sleep 0.5
grep -q "forward to 'nosuch' on @.* refused by the host: no such service: nosuch" "$d/f.err" &&
	ok "a refused forward: the host's reason is logged on the connect side" || not_ok "connect-side refusal log" "$(cat "$d/f.err")"
grep -q "forward.connect from @.* refused: no such service: nosuch" "$d/e.err" &&
	ok "a refused forward is logged on the host side" || not_ok "host-side refusal log" "$(cat "$d/e.err")"
kill "$cpid" "$hpid" "$epid" 2>/dev/null; wait "$cpid" "$hpid" "$epid" 2>/dev/null
expect 2 "connect: -L: cannot resolve host 'nosuchhost.invalid'" "connect -L with a host that does not exist: exit 2" \
	"$B" connect "$NOHOST" -L "nosuchhost.invalid:$(freeport):web" --portal "$P" --secret "$d/s"
kill "$qpid" 2>/dev/null; wait "$qpid" 2>/dev/null
# fairway nat: Fair NAT's bare form (fairnat.sh CONFIG) and nothing at all
expect 2 'usage: fairway nat' "fairway nat alone: usage, exit 2" "$B" nat
NATCFG=tests/nat/configs/example.config
want=$("$B" nat start --dry-run --lan-net 192.168.1.1/24 --mtu 1500 "$NATCFG" 2>/dev/null)
got=$("$B" nat --dry-run --lan-net 192.168.1.1/24 --mtu 1500 "$NATCFG" 2>/dev/null); rc=$?
[ "$rc" = 0 ] && [ -n "$want" ] && [ "$got" = "$want" ] && ok "fairway nat FILE = fairway nat start FILE" \
	|| not_ok "fairway nat FILE (exit $rc)" "$(diff <(echo "$want") <(echo "$got") | head)"
expect 2 'unknown command "bogus".*no file of that name' "fairway nat bogus: exit 2, names it" "$B" nat bogus
expect 2 'cannot open' "fairway nat ./missing.config: exit 2, cannot open" "$B" nat --dry-run ./missing.config
CAPS_ROOM=1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s=
. tests/cli/reconnect.sh
. tests/cli/info.sh
. tests/cli/room.sh

echo "1..$n"
echo "# pass $((n - fails))"
echo "# fail $fails"
[ "$fails" -eq 0 ]
