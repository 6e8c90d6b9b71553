# Sourced by tests/cli/run.sh (B, d, ok, not_ok, freeport): issue 16 item
# 14. `fairway info` says which fairway and how long it has run (text and
# --json); an unpaced portal says "unpaced", not a made-up 1gbit; JSON
# reals are rounded (no 0.51200000000000001); every rate a person reads
# is in bits with tc's units, never "bps".
ID_S=$("$B" id --secret "$d/s")
"$B" keygen --secret "$d/ip" >/dev/null 2>&1; "$B" keygen --secret "$d/ih" >/dev/null 2>&1
info_portal() { # POLICY_TEXT: starts the portal, sets ipid, IP
	printf '%s\n' "$1" >"$d/ip.conf"
	rm -f "$d/ip.out"
	"$B" portal -c "$d/ip.conf" --secret "$d/ip" --listen 127.0.0.1:0 --ctl "$d/ip.sock" >"$d/ip.out" 2>"$d/ip.err" &
	ipid=$!
	for _ in $(seq 50); do [ -s "$d/ip.out" ] && [ -S "$d/ip.sock" ] && break; sleep 0.1; done
	IP=$(head -1 "$d/ip.out")
}
info_portal "$(printf '[portal]\n[user alice]\nid = %s\n' "$ID_S")"
sleep 1.1
out=$("$B" info --ctl "$d/ip.sock" 2>&1)
grep -qE '^ fairway [0-9][^ ]*  up [0-9]+s \(since [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z\)' <<<"$out" &&
	ok "info: the version and uptime" || not_ok "info version/uptime" "$out"
grep -q '^link unpaced (no rate-up)' <<<"$out" && grep -qE '^ class alice +unpaced ' <<<"$out" &&
	! grep -qiE 'gbit|bps' <<<"$out" &&
	ok "info, unpaced portal: link and classes say unpaced (no 1gbit weight shown as a rate)" || not_ok "unpaced info" "$out"
json=$("$B" info --json --ctl "$d/ip.sock" 2>&1)
python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert isinstance(j["version"],str) and j["version"]; assert isinstance(j["uptime_s"],int) and j["uptime_s"]>=1; assert j["started"].endswith("Z")' "$json" 2>/dev/null &&
	ok "info --json: version, uptime_s (integer), started (UTC)" || not_ok "info --json version" "$json"
kill "$ipid"; wait "$ipid" 2>/dev/null
# paced, with traffic: delays are real numbers, rounded to the microsecond
info_portal "$(printf '[portal]\nprivacy = open\nrate-up = 20mbit\n[user alice]\nid = %s\n' "$ID_S")"
python3 -c '
import socket, threading
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); print(s.getsockname()[1], flush=True)
def sink(c):
    while c.recv(65536): pass
    c.close()
while True: threading.Thread(target=sink, args=(s.accept()[0],), daemon=True).start()
' >"$d/isink" &
ispid=$!
for _ in $(seq 50); do [ -s "$d/isink" ] && break; sleep 0.1; done
"$B" host --portal "$IP" --secret "$d/ih" --expose "sink=127.0.0.1:$(cat "$d/isink")" >"$d/ih.out" 2>"$d/ih.err" &
ihpid=$!
for _ in $(seq 100); do [ -s "$d/ih.out" ] && break; sleep 0.1; done
IL=$(freeport)
"$B" connect "$(head -1 "$d/ih.out")" --portal "$IP" --secret "$d/s" -L "$IL:sink" --verbose >"$d/ic.out" 2>"$d/ic.err" &
icpid=$!
for _ in $(seq 100); do grep -q '^forwarding' "$d/ic.out" 2>/dev/null && break; sleep 0.1; done
python3 -c 'import socket,sys,time; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); end=time.time()+2.5
while time.time()<end: s.sendall(b"x"*65536)
' "$IL" 2>/dev/null &
ilpid=$!
sleep 1.5
json=$("$B" info --json --ctl "$d/ip.sock" 2>&1)
out=$("$B" info --ctl "$d/ip.sock" 2>&1)
wait "$ilpid" 2>/dev/null
python3 -c '
import json, re, sys
text = sys.argv[1]; j = json.loads(text)
long = re.findall(r"[0-9]+\.[0-9]{4,}", text)
assert not long, long
cls = [c for c in j["scheduler"]["classes"] if c["name"] == "alice"][0]
assert cls["bytes"] > 0 and cls["delay_p99_ms"] > 0, cls
' "$json" 2>"$d/ijson.err" &&
	ok "info --json under load: every real has at most 3 decimals (delays to the microsecond)" || not_ok "JSON reals" "$(cat "$d/ijson.err"; head -c 1500 <<<"$json")"
grep -qE '^link 19mbit ' <<<"$out" && grep -qE '^ class alice +rate [0-9.]+(k|m)bit ceil ' <<<"$out" &&
	grep -qE 'now [0-9.]+(k|m)?bit' <<<"$out" && ! grep -qE 'bps|Mbit|Kbit|Gbit' <<<"$out" &&
	ok "info, paced portal: rates in bits with tc's units (mbit, kbit), bytes only where labelled" || not_ok "paced info units" "$out"
share=$(grep -m1 '^share: ' "$d/ic.out")
grep -qE '^share: alice guarantee [0-9.]+(k|m)bit ceiling [0-9.]+(k|m)bit rate [0-9.]+(k|m|g)?bit borrowed [0-9.]+(k|m|g)?bit' <<<"$share" &&
	ok "connect --verbose share line: rates in bits, tc's units" || not_ok "share line" "$(cat "$d/ic.out")"
kill "$icpid" "$ihpid" "$ipid" "$ispid" 2>/dev/null; wait "$icpid" "$ihpid" "$ipid" "$ispid" 2>/dev/null
out=$("$B" check -c examples/portal.ini 2>&1)
grep -q 'user alice *up [0-9.]*mbit ceil 10mbit, down unpaced' <<<"$out" && ! grep -q 'bps' <<<"$out" &&
	ok "check: rates in bits, an unpaced direction says unpaced" || not_ok "check units" "$out"
out=$("$B" nat start --dry-run --lan-net 192.168.1.1/24 --mtu 1500 tests/nat/configs/example.config 2>&1)
grep -qE '^# user2 +1:20 +29.57kbit +124.51kbit' <<<"$out" && grep -q 'htb rate 29568bit ceil 124512bit' <<<"$out" &&
	! grep -qE '[0-9]bps' <<<"$out" &&
	ok "nat --dry-run: the summary and the tc script in bits, no bps" || not_ok "nat units" "$(grep -m5 'bps\|user2' <<<"$out")"
