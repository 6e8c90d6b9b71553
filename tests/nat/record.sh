#!/bin/bash
# record.sh BUILD_DIR — issue 16 item 13: `nat start` records what it
# started in /run/fairway/nat.started, so `nat info` (text and --json) and
# `nat stop` work without FILE; `nat stop` prints what it removed; info and
# stop never say "not applied". Real netns, nft and tc (needs root).
# Prints "N passed, N failed" last.
set -u
BUILD=$(cd "${1:?usage: record.sh BUILD_DIR}" && pwd)
FW=${FAIRWAY:-$BUILD/fairway}
[ -x "$FW" ] || { echo "record.sh: no fairway binary at $FW" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "record.sh: needs root (network namespaces)"; exit 77; }
P=ux3rc$$
LAN=$P-lan RTR=$P-rtr WAN=$P-wan
TMP=$(mktemp -d /tmp/fairway-record.XXXXXX)
REC=/run/fairway/nat.started
. "$(dirname "$0")/lib.sh"
[ -e "$REC" ] && cp "$REC" "$TMP/saved.rec"
cleanup() {
	for ns in $LAN $RTR $WAN; do ip netns del "$ns" 2>/dev/null; done
	rm -f "$REC"; [ -e "$TMP/saved.rec" ] && cp "$TMP/saved.rec" "$REC"
	rm -rf "$TMP"
}
trap cleanup EXIT
pass=0 fail=0
check() { local what=$1; shift; if "$@"; then pass=$((pass+1)); echo "ok   $what"; else fail=$((fail+1)); echo "FAIL $what"; fi; }
nat_testbed
cat >"$TMP/policy.ini" <<INI
[nat]
dev-lan = r-lan
dev-net = r-wan
rate-lan = 100mbit
rate-up = 10mbit
rate-down = 50mbit
prefix = UX3RC
[user alice]
addr = 10.200.1.11
INI
rx() { ip netns exec "$RTR" "$@"; }
out=$(rx "$FW" nat start --leaf pfifo "$TMP/policy.ini" 2>&1); rc=$?
check "start (exit $rc)" [ "$rc" = 0 ]
check "start recorded the file, its options and devices in $REC" \
	bash -c "grep -qx 'file $TMP/policy.ini' $REC && grep -qx 'arg --leaf' $REC && grep -qx 'arg pfifo' $REC && grep -qx 'dev r-wan' $REC"
out=$(cd / && rx "$FW" nat info 2>&1); rc=$?
check "info without FILE: the recorded one, with counters (exit $rc)" \
	bash -c '[ "$1" = 0 ] && grep -q "as recorded by nat start" <<<"$2" && grep -q "leaf pfifo" <<<"$2" && grep -qE "^upload on r-wan" <<<"$2" && ! grep -q "not applied" <<<"$2"' _ "$rc" "$out"
[ "$rc" = 0 ] || echo "$out" | sed 's/^/#   /'
json=$(rx "$FW" nat info --json 2>/dev/null); rc=$?
check "info --json: file, devices, users with rates in bit/s and live counters" python3 -c '
import json, sys
j = json.loads(sys.argv[1])
assert j["started"] is True and j["dev_net"] == "r-wan" and j["leaf"] == "pfifo", j
u = j["users"][0]
assert u["name"] == "alice" and u["rate_up_bit"] > 0 and u["ceil_down_bit"] > 0 and "bytes" in u["up"], u
' "$json"
out=$(rx "$FW" nat stop 2>&1); rc=$?
check "stop without FILE prints what it removed (exit $rc)" \
	bash -c '[ "$1" = 0 ] && grep -q "^removed: nft delete table ip ux3rc" <<<"$2" && grep -q "^removed: tc qdisc del dev r-wan root" <<<"$2" && grep -q "^stopped: " <<<"$2"' _ "$rc" "$out"
[ "$rc" = 0 ] || echo "$out" | sed 's/^/#   /'
check "stop removed the table and the record" bash -c "! ip netns exec $RTR nft list table ip ux3rc >/dev/null 2>&1 && [ ! -e $REC ]"
sed 's/^dev-lan = r-lan/dev-lann = r-lan/' "$TMP/policy.ini" >"$TMP/typo.ini"
for v in info stop; do
	out=$(rx "$FW" nat $v "$TMP/typo.ini" 2>&1); rc=$?
	check "nat $v with a broken file: exit 2, never 'not applied'" \
		bash -c '[ "$1" = 2 ] && grep -q "nothing was changed" <<<"$2" && ! grep -q "not applied" <<<"$2"' _ "$rc" "$out"
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
