# lib.sh — sourced by apply.sh (this machine's kernel) and uml.sh (inside
# user-mode Linux): the check counters, the testbed both run on, and the
# probes both read it with. The caller sets LAN RTR WAN (namespace names)
# and TMP (a scratch folder), and prints "$pass passed, $fail failed" last.
#
#   [LAN] .11 .12 lan0 ──veth── r-lan [RTR] r-wan ──veth── w-in [WAN] 10.200.3.2 (on lo)
#         10.200.1.0/24          .1         10.200.2.1       .2

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
r() { ip netns exec "$RTR" "$@"; }

# nat_testbed [noipv6]: the namespaces and links above, the router forwarding.
# noipv6: no IPv6 chatter (router solicitations, MLD) in the router's classes.
nat_testbed() {
	local ns
	for ns in $LAN $RTR $WAN; do
		ip netns add "$ns" || exit 1
		[ "${1:-}" = noipv6 ] &&
			ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
		ip -n "$ns" link set lo up
	done
	ip link add lan0 netns $LAN type veth peer name r-lan netns $RTR
	ip link add r-wan netns $RTR type veth peer name w-in netns $WAN
	ip -n $LAN addr add 10.200.1.11/24 dev lan0
	ip -n $LAN addr add 10.200.1.12/24 dev lan0
	ip -n $LAN link set lan0 up
	ip -n $LAN route add default via 10.200.1.1
	ip -n $RTR addr add 10.200.1.1/24 dev r-lan
	ip -n $RTR addr add 10.200.2.1/24 dev r-wan
	ip -n $RTR link set r-lan up; ip -n $RTR link set r-wan up
	ip -n $WAN addr add 10.200.2.2/24 dev w-in
	ip -n $WAN addr add 10.200.3.2/32 dev lo
	ip -n $WAN link set w-in up
	ip -n $WAN route add 10.200.1.0/24 via 10.200.2.1
	ip -n $RTR route add 10.200.3.0/24 via 10.200.2.2
	r sysctl -qw net.ipv4.ip_forward=1
}

# bad_policies: three broken copies of $TMP/policy.ini, each refused before
# anything is touched: a typo'd key, a user outside the LAN, a missing device.
bad_policies() {
	sed 's/^dev-lan = r-lan/dev-lann = r-lan/' "$TMP/policy.ini" >"$TMP/typo.ini"
	sed 's/^addr = 12/addr = 10.200.9.12/' "$TMP/policy.ini" >"$TMP/outside.ini"
	sed 's/^dev-net = r-wan/dev-net = nosuchdev0/' "$TMP/policy.ini" >"$TMP/nodev.ini"
}

class_pkts() { # DEV CLASSID -> packets sent (tc 6.1 has no JSON for HTB classes)
	r tc -s class show dev "$1" | awk -v c="$2" '
		$1 == "class" { cur = $3 }
		$1 == "Sent" && cur == c { print $4; found = 1; exit }
		END { if (!found) print -1 }'
}
