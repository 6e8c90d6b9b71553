/* nat — policy → nft / iptables-restore / tc -batch, and applying them.
 * The tree and the steering are described in nat.h; Fair NAT's original
 * in fairnat.md. */
#include "nat.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"

#define STATE_DIR "/run/fairway"

/* DSCP values of Fair NAT's TOS bytes (TOS = DSCP << 2):
 * Minimize-Delay 0x10, Maximize-Throughput 0x08; CS1 marks the P2P stand-in. */
#define DSCP_INTERACTIVE 0x04
#define DSCP_BULK        0x02
#define DSCP_P2P         0x08

enum dir { DIR_UP, DIR_DOWN };

/* ---- text buffer ------------------------------------------------------- */

void nat_buf_free(struct nat_buf *b)
{
	free(b->s);
	memset(b, 0, sizeof(*b));
}

void nat_buf_printf(struct nat_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = -EINVAL;
			return;
		}
		if (b->s && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *s = realloc(b->s, cap);
		if (s == NULL) {
			b->err = -ENOMEM;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

/* ---- helpers ----------------------------------------------------------- */

static void ip_str(uint32_t ip, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

/* "80" or "80-90" (nft) / "80:90" (iptables). */
static void port_range_str(const struct policy_forward *fw, char sep, char *out, size_t len)
{
	if (fw->lo == fw->hi)
		snprintf(out, len, "%u", fw->lo);
	else
		snprintf(out, len, "%u%c%u", fw->lo, sep, fw->hi);
}

void nat_table_name(const struct policy *p, char *out, size_t len)
{
	size_t i;

	for (i = 0; p->nat.prefix[i] && i + 1 < len; i++)
		out[i] = (char)tolower((unsigned char)p->nat.prefix[i]);
	out[i] = '\0';
}

/* The uplinks: dev_net, then the ones after it (dev-net = ppp0 wwan0). */
static size_t n_uplinks(const struct policy *p)
{
	return 1 + p->nat.n_more;
}

static const char *uplink_dev(const struct policy *p, size_t i)
{
	return i == 0 ? p->nat.dev_net : p->nat.more[i - 1].dev;
}

/* The uplinks as an nft name match: "ppp0", or { "ppp0", "wwan0" }. */
static const char *nft_nets(const struct policy *p, char *buf, size_t len)
{
	size_t at;

	if (p->nat.n_more == 0) {
		snprintf(buf, len, "\"%s\"", p->nat.dev_net);
		return buf;
	}
	at = (size_t)snprintf(buf, len, "{ \"%s\"", p->nat.dev_net);
	for (size_t k = 0; k < p->nat.n_more && at < len; k++)
		at += (size_t)snprintf(buf + at, len - at, ", \"%s\"", p->nat.more[k].dev);
	if (at < len)
		snprintf(buf + at, len - at, " }");
	return buf;
}

/* An uplink's own rates: the policy computed with that line's upload. */
static int uplink_rates(const struct policy *p, size_t i, struct policy_rates *out)
{
	struct policy q = *p;   /* shallow: policy_compute only reads */

	if (i > 0) {
		q.link.rate_up = p->nat.more[i - 1].rate_up;
		q.link.ceil_user_up = 0;
	}
	return policy_compute(&q, POLICY_PLANE_ROUTER, out);
}

static unsigned n_bands(const struct policy *p)
{
	return p->nat.ipp2p ? 4 : 3;
}

/* The class id a user's packets get for a band (1 interactive, 2 normal,
 * 3 bulk, 4 P2P), as the decimal digits tc and nft read as hex. */
static unsigned band_minor(const struct policy *p, unsigned mark, unsigned band)
{
	if (p->nat.leaf == POLICY_LEAF_SFQ && p->nat.class_mode == POLICY_CLASS_DEFAULT)
		return mark;    /* PRIO picks the band from the TOS byte */
	if (p->nat.class_mode == POLICY_CLASS_WONDER) {
		if (band == 1)
			return mark + 1;
		if (band == 4)
			return mark + 3;
		return mark + 2;
	}
	return mark + band;
}

static void user_addr_set(const struct policy_user *u, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < u->n_addrs && at + 18 < len; i++) {
		char ip[20];

		ip_str(u->addrs[i].ip, ip, sizeof(ip));
		at += (size_t)snprintf(buf + at, len - at, "%s%s", i ? ", " : "", ip);
	}
}

static void htb_opts(const struct policy *p, const struct nat_env *env, char *buf, size_t len)
{
	int n = snprintf(buf, len, "quantum %u", env->mtu);

	if (n > 0 && p->nat.htb_mpu)
		n += snprintf(buf + n, len - (size_t)n, " mpu %u", p->nat.htb_mpu);
	if (n > 0 && p->nat.htb_overhead)
		snprintf(buf + n, len - (size_t)n, " overhead %u", p->nat.htb_overhead);
}

/* ---- nftables ---------------------------------------------------------- */

static void nft_tos_rules(const struct policy *p, struct nat_buf *b)
{
	/* fairnat.md §2, in the original's order */
	nat_buf_printf(b, "\t\t# Fair NAT's TOS rules: ICMP, ssh, telnet, ftp control -> Minimize-Delay\n"
	               "\t\tip protocol icmp ip dscp set 0x%02x\n"
	               "\t\ttcp dport { 21, 22, 23 } ip dscp set 0x%02x\n"
	               "\t\ttcp sport { 21, 22, 23 } ip dscp set 0x%02x\n"
	               "\t\t# ftp-data -> Maximize-Throughput\n"
	               "\t\ttcp dport 20 ip dscp set 0x%02x\n"
	               "\t\ttcp sport 20 ip dscp set 0x%02x\n"
	               "\t\t# CHK_TOS: big \"interactive\" packets are bulk\n"
	               "\t\tip dscp 0x%02x ip protocol tcp meta length > 512 ip dscp set 0x%02x\n"
	               "\t\tip dscp 0x%02x ip protocol udp meta length > 1024 ip dscp set 0x%02x\n"
	               "\t\t# ACK_TOS: normal TCP with ACK: small -> interactive, big -> bulk\n"
	               "\t\tip dscp 0x00 tcp flags & (syn | rst | ack) == ack meta length <= 256 ip dscp set 0x%02x\n"
	               "\t\tip dscp 0x00 tcp flags & (syn | rst | ack) == ack meta length > 256 ip dscp set 0x%02x\n",
	               DSCP_INTERACTIVE, DSCP_INTERACTIVE, DSCP_INTERACTIVE, DSCP_BULK, DSCP_BULK,
	               DSCP_INTERACTIVE, DSCP_BULK, DSCP_INTERACTIVE, DSCP_BULK,
	               DSCP_INTERACTIVE, DSCP_BULK);
	(void)p;
}

static void nft_steer(const struct policy *p, const struct policy_rates *r, enum dir d,
                      struct nat_buf *b)
{
	const char *dev = d == DIR_UP ? p->nat.dev_net : p->nat.dev_lan;
	const char *match = d == DIR_UP ? "ip saddr" : "ip daddr";
	char oif[200];

	if (d == DIR_UP)
		nft_nets(p, oif, sizeof(oif));
	else
		snprintf(oif, sizeof(oif), "\"%s\"", dev);
	nat_buf_printf(b, "\t\t# %s: users into their HTB class on %s (skb->priority = class id)\n",
	               d == DIR_UP ? "upload" : "download", d == DIR_UP && p->nat.n_more ? oif : dev);
	for (size_t i = 0; i < p->n_users; i++) {
		const struct policy_user *u = &p->users[i];
		unsigned m = r->u[i].mark;
		char set[1024];

		user_addr_set(u, set, sizeof(set));
		nat_buf_printf(b, "\t\toifname %s %s { %s } counter meta priority set 1:%u comment \"%s %s\"\n",
		               oif, match, set, band_minor(p, m, 2), u->name, d == DIR_UP ? "up" : "down");
		if (band_minor(p, m, 1) == band_minor(p, m, 2))
			continue;   /* sfq: PRIO picks the band */
		nat_buf_printf(b, "\t\toifname %s %s { %s } meta priority set ip dscp map { 0x%02x : 1:%u, 0x%02x : 1:%u",
		               oif, match, set, DSCP_INTERACTIVE, band_minor(p, m, 1), DSCP_BULK,
		               band_minor(p, m, 3));
		if (p->nat.ipp2p)
			nat_buf_printf(b, ", 0x%02x : 1:%u", DSCP_P2P, band_minor(p, m, 4));
		nat_buf_printf(b, " }\n");
	}
}

/* ---- nftables, dual stack (inet) --------------------------------------- */

static const char nd_types[] = "{ nd-router-solicit, nd-router-advert, nd-neighbor-solicit, "
                               "nd-neighbor-advert, nd-redirect }";

/* The TOS rules for one family; v6 reads and writes the traffic class. */
static void inet_tos_rules(bool v6, struct nat_buf *b)
{
	const char *fam = v6 ? "meta nfproto ipv6" : "meta nfproto ipv4";
	const char *ds = v6 ? "ip6 dscp" : "ip dscp";

	nat_buf_printf(b, "\t\t%s meta l4proto %s %s set 0x%02x\n", fam, v6 ? "ipv6-icmp" : "icmp", ds,
	               DSCP_INTERACTIVE);
	nat_buf_printf(b, "\t\t%s tcp dport { 21, 22, 23 } %s set 0x%02x\n", fam, ds, DSCP_INTERACTIVE);
	nat_buf_printf(b, "\t\t%s tcp sport { 21, 22, 23 } %s set 0x%02x\n", fam, ds, DSCP_INTERACTIVE);
	nat_buf_printf(b, "\t\t%s tcp dport 20 %s set 0x%02x\n", fam, ds, DSCP_BULK);
	nat_buf_printf(b, "\t\t%s tcp sport 20 %s set 0x%02x\n", fam, ds, DSCP_BULK);
	nat_buf_printf(b, "\t\t%s %s 0x%02x meta l4proto tcp meta length > 512 %s set 0x%02x\n", fam, ds,
	               DSCP_INTERACTIVE, ds, DSCP_BULK);
	nat_buf_printf(b, "\t\t%s %s 0x%02x meta l4proto udp meta length > 1024 %s set 0x%02x\n", fam, ds,
	               DSCP_INTERACTIVE, ds, DSCP_BULK);
	nat_buf_printf(b, "\t\t%s %s 0x00 tcp flags & (syn | rst | ack) == ack meta length <= 256 %s set 0x%02x\n",
	               fam, ds, ds, DSCP_INTERACTIVE);
	nat_buf_printf(b, "\t\t%s %s 0x00 tcp flags & (syn | rst | ack) == ack meta length > 256 %s set 0x%02x\n",
	               fam, ds, ds, DSCP_BULK);
}

/* "elements = { a : 1:22, … }" of one map, or nothing when empty. */
static void inet_elem_sep(struct nat_buf *b, bool *first)
{
	nat_buf_printf(b, "%s", *first ? "\t\telements = { " : ",\n\t\t\t     ");
	*first = false;
}

static void inet_maps(const struct policy *p, const struct policy_rates *r, struct nat_buf *b)
{
	bool first;
	char a[64];
	size_t n4 = 0, n6 = 0, nmac = 0;

	for (size_t i = 0; i < p->n_users; i++) {
		n4 += p->users[i].n_addrs;
		n6 += p->users[i].n_nets6;
		nmac += p->users[i].n_macs;
	}
	nat_buf_printf(b, "\t# who: a packet's user, looked up once (no rule per user); the value is\n"
	               "\t# the user's normal-band class, which skb->priority carries to HTB\n");
	if (n4) {
		nat_buf_printf(b, "\tmap addr4 {\n\t\ttype ipv4_addr : classid\n");
		first = true;
		for (size_t i = 0; i < p->n_users; i++)
			for (size_t j = 0; j < p->users[i].n_addrs; j++) {
				inet_elem_sep(b, &first);
				ip_str(p->users[i].addrs[j].ip, a, sizeof(a));
				nat_buf_printf(b, "%s : 1:%u", a, band_minor(p, r->u[i].mark, 2));
			}
		nat_buf_printf(b, " }\n\t}\n");
	}
	if (n6) {
		nat_buf_printf(b, "\tmap addr6 {\n\t\ttype ipv6_addr : classid\n\t\tflags interval\n");
		first = true;
		for (size_t i = 0; i < p->n_users; i++)
			for (size_t j = 0; j < p->users[i].n_nets6; j++) {
				inet_elem_sep(b, &first);
				nat_buf_printf(b, "%s : 1:%u", policy_net6_str(&p->users[i].nets6[j], a, sizeof(a)),
				               band_minor(p, r->u[i].mark, 2));
			}
		nat_buf_printf(b, " }\n\t}\n");
	}
	if (nmac) {
		/* a MAC is seen on the way out only: it marks the connection, and
		 * the mark finds the class both ways (privacy addresses too) */
		nat_buf_printf(b, "\tmap mac {\n\t\ttype ether_addr : mark\n");
		first = true;
		for (size_t i = 0; i < p->n_users; i++)
			for (size_t j = 0; j < p->users[i].n_macs; j++) {
				inet_elem_sep(b, &first);
				nat_buf_printf(b, "%s : %u", policy_mac_str(&p->users[i].macs[j], a, sizeof(a)),
				               r->u[i].mark);
			}
		nat_buf_printf(b, " }\n\t}\n\tmap markclass {\n\t\ttype mark : classid\n");
		first = true;
		for (size_t i = 0; i < p->n_users; i++)
			if (p->users[i].n_macs) {
				inet_elem_sep(b, &first);
				nat_buf_printf(b, "%u : 1:%u", r->u[i].mark, band_minor(p, r->u[i].mark, 2));
			}
		nat_buf_printf(b, " }\n\t}\n");
	}
	/* bands: a user's normal class -> its interactive / bulk / P2P class */
	for (unsigned band = 1; band <= n_bands(p); band++) {
		if (band == 2)
			continue;
		first = true;
		for (size_t i = 0; i < p->n_users; i++) {
			unsigned m = r->u[i].mark;

			if (band_minor(p, m, band) == band_minor(p, m, 2))
				continue;
			if (first)
				nat_buf_printf(b, "\tmap band%u {\n\t\ttype classid : classid\n", band);
			inet_elem_sep(b, &first);
			nat_buf_printf(b, "1:%u : 1:%u", band_minor(p, m, 2), band_minor(p, m, band));
		}
		if (!first)
			nat_buf_printf(b, " }\n\t}\n");
	}
	if (n4 && (p->nat.features & POLICY_F_NAT)) {
		nat_buf_printf(b, "\tset nat4 {\n\t\ttype ipv4_addr\n");
		first = true;
		for (size_t i = 0; i < p->n_users; i++)
			for (size_t j = 0; j < p->users[i].n_addrs; j++) {
				inet_elem_sep(b, &first);
				ip_str(p->users[i].addrs[j].ip, a, sizeof(a));
				nat_buf_printf(b, "%s", a);
			}
		nat_buf_printf(b, " }\n\t}\n");
	}
}

/* The IPv6 destinations a forward opens: "to ADDR6", else the user's. */
static void fwd6_set(const struct policy *p, const struct policy_forward *fw, char *buf, size_t len)
{
	size_t at = 0;
	char a[64];

	buf[0] = '\0';
	if (fw->to6.plen) {
		policy_net6_str(&fw->to6, buf, len);
		return;
	}
	if (!fw->own || fw->user == SIZE_MAX)
		return;   /* an explicit IPv4 target: IPv4 only */
	for (size_t j = 0; j < p->users[fw->user].n_nets6 && at + 52 < len; j++)
		at += (size_t)snprintf(buf + at, len - at, "%s%s", j ? ", " : "",
		                       policy_net6_str(&p->users[fw->user].nets6[j], a, sizeof(a)));
}

static int render_inet(const struct policy *p, const struct policy_rates *r,
                       const struct nat_env *env, struct nat_buf *b)
{
	char t[POLICY_PREFIX_MAX], ip[64];
	unsigned f = p->nat.features;
	const char *lan = p->nat.dev_lan;
	char net[200];   /* "ppp0" or { "ppp0", "wwan0" }, quoted for nft */
	bool up = f & POLICY_F_QOS_UP, down = f & POLICY_F_QOS_DOWN;
	bool any4 = false, any6 = false, anymac = false;

	for (size_t i = 0; i < p->n_users; i++) {
		any4 |= p->users[i].n_addrs > 0;
		any6 |= p->users[i].n_nets6 > 0;
		anymac |= p->users[i].n_macs > 0;
	}
	nft_nets(p, net, sizeof(net));
	nat_table_name(p, t, sizeof(t));
	nat_buf_printf(b, "#!/usr/sbin/nft -f\n# fairway nat: %s (dual stack: IPv4 NATed, IPv6 routed)\n"
	               "# One transaction: the table is created, emptied and filled atomically;\n"
	               "# an IPv4-only table of the same name from an earlier start goes with it.\n",
	               p->file);
	if (env->reset)
		nat_buf_printf(b, "# RESET requested with --reset: the whole ruleset is flushed first\n"
		               "flush ruleset\n");
	nat_buf_printf(b, "table ip %s\ndelete table ip %s\ntable inet %s\ndelete table inet %s\n"
	               "table inet %s {\n", t, t, t, t, t);
	inet_maps(p, r, b);
	/* prerouting (mangle): TTL / hop limit, TOS / traffic class, P2P stand-in */
	nat_buf_printf(b, "\tchain prerouting {\n\t\ttype filter hook prerouting priority mangle; policy accept;\n");
	if (p->nat.ttl_set)
		nat_buf_printf(b, "\t\tiifname \"%s\" ip ttl set %u\n\t\tiifname \"%s\" ip6 hoplimit set %u\n",
		               lan, p->nat.ttl_set, lan, p->nat.ttl_set);
	if (f & POLICY_F_TOS) {
		nat_buf_printf(b, "\t\t# Fair NAT's TOS rules, for IPv4 (TOS) and IPv6 (traffic class)\n");
		inet_tos_rules(false, b);
		inet_tos_rules(true, b);
	}
	if (p->nat.ipp2p) {
		nat_buf_printf(b, "\t\t# no ipp2p in mainline kernels: demote connections past %llu bytes\n",
		               (unsigned long long)p->nat.p2p_bytes);
		for (int v6 = 0; v6 < 2; v6++)
			nat_buf_printf(b, "\t\tmeta nfproto %s meta l4proto %s ct bytes > %llu %s set 0x%02x\n",
			               v6 ? "ipv6" : "ipv4", p->nat.ipp2p_udp ? "{ tcp, udp }" : "tcp",
			               (unsigned long long)p->nat.p2p_bytes, v6 ? "ip6 dscp" : "ip dscp", DSCP_P2P);
	}
	nat_buf_printf(b, "\t}\n");
	/* IPv4 port forwards: DNAT */
	if (f & POLICY_F_FORWARD) {
		bool open = false;

		for (size_t i = 0; i < p->n_fwds; i++) {
			const struct policy_forward *fw = &p->fwds[i];
			char ports[16];

			if (fw->to.ip == 0)
				continue;
			if (!open)
				nat_buf_printf(b, "\tchain portfwd {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n");
			open = true;
			ip_str(fw->to.ip, ip, sizeof(ip));
			port_range_str(fw, '-', ports, sizeof(ports));
			for (unsigned pr = POLICY_PROTO_TCP; pr <= POLICY_PROTO_UDP; pr <<= 1)
				if (fw->protos & pr)
					nat_buf_printf(b, "\t\tiifname %s %s dport %s dnat ip to %s\n", net,
					               pr == POLICY_PROTO_TCP ? "tcp" : "udp", ports, ip);
		}
		if (open)
			nat_buf_printf(b, "\t}\n");
	}
	/* IPv6 is routed: what NAT gives IPv4 hosts for free (nothing reaches
	 * them unasked) a stateful filter gives IPv6 hosts; forwards open it */
	if (f & POLICY_F_NAT) {
		nat_buf_printf(b, "\tchain inbound6 {\n\t\ttype filter hook forward priority filter; policy accept;\n"
		               "\t\t# routed, not NATed: from the Internet only what a LAN host asked for,\n"
		               "\t\t# the ICMPv6 errors it needs, pings, and the port forwards\n"
		               "\t\tiifname %s meta nfproto ipv6 ct state { established, related } accept\n"
		               "\t\tiifname %s icmpv6 type { destination-unreachable, packet-too-big, "
		               "time-exceeded, parameter-problem, echo-request } accept\n", net, net);
		for (size_t i = 0; (f & POLICY_F_FORWARD) && i < p->n_fwds; i++) {
			const struct policy_forward *fw = &p->fwds[i];
			char ports[16], set[1024];

			fwd6_set(p, fw, set, sizeof(set));
			if (set[0] == '\0')
				continue;
			port_range_str(fw, '-', ports, sizeof(ports));
			for (unsigned pr = POLICY_PROTO_TCP; pr <= POLICY_PROTO_UDP; pr <<= 1)
				if (fw->protos & pr)
					nat_buf_printf(b, "\t\tiifname %s ip6 daddr { %s } %s dport %s accept\n", net, set,
					               pr == POLICY_PROTO_TCP ? "tcp" : "udp", ports);
		}
		nat_buf_printf(b, "\t\tiifname %s meta nfproto ipv6 drop\n\t}\n", net);
	}
	/* forward (mangle): MSS (both families), then steering by maps */
	nat_buf_printf(b, "\tchain steer {\n\t\ttype filter hook forward priority mangle; policy accept;\n");
	if (p->nat.mss_clamp < 0)
		nat_buf_printf(b, "\t\ttcp flags & (syn | rst) == syn tcp option maxseg size set rt mtu\n");
	else if (p->nat.mss_clamp > 0)
		nat_buf_printf(b, "\t\ttcp flags & (syn | rst) == syn tcp option maxseg size set %d\n",
		               p->nat.mss_clamp);
	nat_buf_printf(b, "\t\t# neighbour discovery and router advertisements: never a user's\n"
	               "\t\ticmpv6 type %s accept\n", nd_types);
	if (up || down) {
		char oifs[256];

		if (up && down)
			snprintf(oifs, sizeof(oifs), "{ %.*s, \"%s\" }", (int)(p->nat.n_more ?
			         strlen(net) - 4 : strlen(net)), p->nat.n_more ? net + 2 : net, lan);
		else
			snprintf(oifs, sizeof(oifs), up ? "%s" : "\"%s\"", up ? net : lan);
		if (anymac)
			nat_buf_printf(b, "\t\tiifname \"%s\" ct mark set ether saddr map @mac\n"
			               "\t\toifname %s meta priority set ct mark map @markclass\n", lan, oifs);
		for (int d = 0; d < 2; d++) {
			char dev[200];

			snprintf(dev, sizeof(dev), d == 0 ? "%s" : "\"%s\"", d == 0 ? net : lan);
			const char *dir = d == 0 ? "saddr" : "daddr";

			if ((d == 0 && !up) || (d == 1 && !down))
				continue;
			if (any4)
				nat_buf_printf(b, "\t\toifname %s meta priority set ip %s map @addr4\n", dev, dir);
			if (any6)
				nat_buf_printf(b, "\t\toifname %s meta priority set ip6 %s map @addr6\n", dev, dir);
		}
		/* the band inside the user's class, by DSCP / traffic class */
		for (unsigned band = 1; band <= n_bands(p); band++) {
			static const unsigned dscp[5] = { 0, DSCP_INTERACTIVE, 0, DSCP_BULK, DSCP_P2P };
			bool used = false;

			if (band == 2)
				continue;
			for (size_t i = 0; i < p->n_users && !used; i++)
				used = band_minor(p, r->u[i].mark, band) != band_minor(p, r->u[i].mark, 2);
			if (!used)
				continue;
			nat_buf_printf(b, "\t\tip dscp 0x%02x meta priority set meta priority map @band%u\n"
			               "\t\tip6 dscp 0x%02x meta priority set meta priority map @band%u\n",
			               dscp[band], band, dscp[band], band);
		}
	}
	nat_buf_printf(b, "\t}\n");
	/* the router's own ND / RA on the LAN: its class, whatever a socket asked */
	nat_buf_printf(b, "\tchain output {\n\t\ttype filter hook output priority mangle; policy accept;\n"
	               "\t\toifname \"%s\" icmpv6 type %s meta priority set 1:3\n\t}\n", lan, nd_types);
	if ((f & POLICY_F_NAT) && (any4 || anymac)) {
		nat_buf_printf(b, "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
		if (any4)
			nat_buf_printf(b, "\t\toifname %s ip saddr @nat4 masquerade\n", net);
		if (anymac) {
			/* a MAC user's IPv4, whatever address DHCP gave it: by its mark */
			nat_buf_printf(b, "\t\toifname %s meta nfproto ipv4 ct mark {", net);
			for (size_t i = 0, k = 0; i < p->n_users; i++)
				if (p->users[i].n_macs)
					nat_buf_printf(b, "%s %u", k++ ? "," : "", r->u[i].mark);
			nat_buf_printf(b, " } masquerade\n");
		}
		nat_buf_printf(b, "\t}\n");
	}
	nat_buf_printf(b, "}\n");
	return b->err;
}

int nat_render_nft(const struct policy *p, const struct policy_rates *r,
                   const struct nat_env *env, struct nat_buf *b)
{
	char t[POLICY_PREFIX_MAX], ip[20];
	unsigned f = p->nat.features;

	char nets[200];

	if (policy_is_dual(p))
		return render_inet(p, r, env, b);
	nft_nets(p, nets, sizeof(nets));
	nat_table_name(p, t, sizeof(t));
	nat_buf_printf(b, "#!/usr/sbin/nft -f\n# fairway nat: %s\n"
	               "# One transaction: the table is created, emptied and filled atomically.\n",
	               p->file);
	if (env->reset)
		nat_buf_printf(b, "# RESET requested with --reset: the whole ruleset is flushed first\n"
		               "flush ruleset\n");
	nat_buf_printf(b, "table ip %s\ndelete table ip %s\ntable ip %s {\n", t, t, t);
	/* prerouting (mangle): TTL, TOS, P2P stand-in */
	nat_buf_printf(b, "\tchain prerouting {\n\t\ttype filter hook prerouting priority mangle; policy accept;\n");
	if (p->nat.ttl_set)
		nat_buf_printf(b, "\t\tiifname \"%s\" ip ttl set %u\n", p->nat.dev_lan, p->nat.ttl_set);
	if (f & POLICY_F_TOS)
		nft_tos_rules(p, b);
	if (p->nat.ipp2p)
		nat_buf_printf(b, "\t\t# no ipp2p in mainline kernels: demote connections past %llu bytes\n"
		               "\t\tmeta l4proto %s ct bytes > %llu ip dscp set 0x%02x\n",
		               (unsigned long long)p->nat.p2p_bytes, p->nat.ipp2p_udp ? "{ tcp, udp }" : "tcp",
		               (unsigned long long)p->nat.p2p_bytes, DSCP_P2P);
	nat_buf_printf(b, "\t}\n");
	/* port forwards */
	if ((f & POLICY_F_FORWARD) && p->n_fwds) {
		nat_buf_printf(b, "\tchain portfwd {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n");
		for (size_t i = 0; i < p->n_fwds; i++) {
			const struct policy_forward *fw = &p->fwds[i];
			char ports[16];

			ip_str(fw->to.ip, ip, sizeof(ip));
			port_range_str(fw, '-', ports, sizeof(ports));
			for (unsigned pr = POLICY_PROTO_TCP; pr <= POLICY_PROTO_UDP; pr <<= 1)
				if (fw->protos & pr)
					nat_buf_printf(b, "\t\tiifname %s %s dport %s dnat to %s\n", nets,
					               pr == POLICY_PROTO_TCP ? "tcp" : "udp", ports, ip);
		}
		nat_buf_printf(b, "\t}\n");
	}
	/* forward (mangle): MSS, steering */
	nat_buf_printf(b, "\tchain steer {\n\t\ttype filter hook forward priority mangle; policy accept;\n");
	if (p->nat.mss_clamp < 0)
		nat_buf_printf(b, "\t\ttcp flags & (syn | rst) == syn tcp option maxseg size set rt mtu\n");
	else if (p->nat.mss_clamp > 0)
		nat_buf_printf(b, "\t\ttcp flags & (syn | rst) == syn tcp option maxseg size set %d\n",
		               p->nat.mss_clamp);
	if (f & POLICY_F_QOS_UP)
		nft_steer(p, r, DIR_UP, b);
	if (f & POLICY_F_QOS_DOWN)
		nft_steer(p, r, DIR_DOWN, b);
	nat_buf_printf(b, "\t}\n");
	if (f & POLICY_F_NAT) {
		nat_buf_printf(b, "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
		for (size_t i = 0; i < p->n_users; i++) {
			char set[1024];

			user_addr_set(&p->users[i], set, sizeof(set));
			nat_buf_printf(b, "\t\toifname %s ip saddr { %s } masquerade\n", nets, set);
		}
		nat_buf_printf(b, "\t}\n");
	}
	nat_buf_printf(b, "}\n");
	return b->err;
}

/* ---- iptables-restore -------------------------------------------------- */

static void ipt_tos_rules(const char *c, struct nat_buf *b)
{
	nat_buf_printf(b,
	    "-A %s -p icmp -j DSCP --set-dscp 0x%02x\n"
	    "-A %s -p tcp -m multiport --dports 21,22,23 -j DSCP --set-dscp 0x%02x\n"
	    "-A %s -p tcp -m multiport --sports 21,22,23 -j DSCP --set-dscp 0x%02x\n"
	    "-A %s -p tcp --dport 20 -j DSCP --set-dscp 0x%02x\n"
	    "-A %s -p tcp --sport 20 -j DSCP --set-dscp 0x%02x\n"
	    "-A %s -p tcp -m dscp --dscp 0x%02x -m length --length 513:65535 -j DSCP --set-dscp 0x%02x\n"
	    "-A %s -p udp -m dscp --dscp 0x%02x -m length --length 1025:65535 -j DSCP --set-dscp 0x%02x\n"
	    "-A %s -p tcp --tcp-flags SYN,RST,ACK ACK -m dscp --dscp 0x00 -m length --length 0:256 -j DSCP --set-dscp 0x%02x\n"
	    "-A %s -p tcp --tcp-flags SYN,RST,ACK ACK -m dscp --dscp 0x00 -m length --length 257:65535 -j DSCP --set-dscp 0x%02x\n",
	    c, DSCP_INTERACTIVE, c, DSCP_INTERACTIVE, c, DSCP_INTERACTIVE, c, DSCP_BULK, c, DSCP_BULK,
	    c, DSCP_INTERACTIVE, DSCP_BULK, c, DSCP_INTERACTIVE, DSCP_BULK, c, DSCP_INTERACTIVE, c, DSCP_BULK);
}

/* One match's CLASSIFY rules: the normal band, then the DSCP bands. */
static void ipt_classify(const struct policy *p, const char *chain, const char *dev, const char *match,
                         const char *name, enum dir d, unsigned m, struct nat_buf *b)
{
	nat_buf_printf(b, "-A %s -o %s %s -m comment --comment \"%s %s\" -j CLASSIFY --set-class 1:%u\n",
	               chain, dev, match, name, d == DIR_UP ? "up" : "down", band_minor(p, m, 2));
	if (band_minor(p, m, 1) == band_minor(p, m, 2))
		return;
	nat_buf_printf(b, "-A %s -o %s %s -m dscp --dscp 0x%02x -j CLASSIFY --set-class 1:%u\n",
	               chain, dev, match, DSCP_INTERACTIVE, band_minor(p, m, 1));
	nat_buf_printf(b, "-A %s -o %s %s -m dscp --dscp 0x%02x -j CLASSIFY --set-class 1:%u\n",
	               chain, dev, match, DSCP_BULK, band_minor(p, m, 3));
	if (p->nat.ipp2p)
		nat_buf_printf(b, "-A %s -o %s %s -m dscp --dscp 0x%02x -j CLASSIFY --set-class 1:%u\n",
		               chain, dev, match, DSCP_P2P, band_minor(p, m, 4));
}

/* MAC users: the host's frames mark the connection (CONNMARK), the mark
 * classifies both ways; address rules after these win. */
static void ipt_mac_marks(const struct policy *p, const struct policy_rates *r, const char *chain,
                          struct nat_buf *b)
{
	char mac[24];

	for (size_t i = 0; i < p->n_users; i++)
		for (size_t j = 0; j < p->users[i].n_macs; j++)
			nat_buf_printf(b, "-A %s -i %s -m mac --mac-source %s -j CONNMARK --set-mark %u\n", chain,
			               p->nat.dev_lan, policy_mac_str(&p->users[i].macs[j], mac, sizeof(mac)),
			               r->u[i].mark);
}

/* v6: false = the IPv4 addresses (iptables), true = the IPv6 entries (ip6tables). */
static void ipt_steer_fam(const struct policy *p, const struct policy_rates *r, enum dir d,
                          const char *chain, bool v6, struct nat_buf *b)
{
	const char *opt = d == DIR_UP ? "-s" : "-d";

	/* upload: the same rules on every uplink */
	for (size_t up = 0; up < (d == DIR_UP ? n_uplinks(p) : 1); up++)
	for (size_t i = 0; i < p->n_users; i++) {
		const char *dev = d == DIR_UP ? uplink_dev(p, up) : p->nat.dev_lan;
		unsigned m = r->u[i].mark;
		char match[96], ip[64];

		if (p->users[i].n_macs) {
			snprintf(match, sizeof(match), "-m connmark --mark %u", m);
			ipt_classify(p, chain, dev, match, p->users[i].name, d, m, b);
		}
		for (size_t a = 0; !v6 && a < p->users[i].n_addrs; a++) {
			ip_str(p->users[i].addrs[a].ip, ip, sizeof(ip));
			snprintf(match, sizeof(match), "%s %s", opt, ip);
			ipt_classify(p, chain, dev, match, p->users[i].name, d, m, b);
		}
		for (size_t a = 0; v6 && a < p->users[i].n_nets6; a++) {
			snprintf(match, sizeof(match), "%s %s", opt,
			         policy_net6_str(&p->users[i].nets6[a], ip, sizeof(ip)));
			ipt_classify(p, chain, dev, match, p->users[i].name, d, m, b);
		}
	}
}

static void ipt_steer(const struct policy *p, const struct policy_rates *r, enum dir d,
                      const char *chain, struct nat_buf *b)
{
	ipt_steer_fam(p, r, d, chain, false, b);
}

int nat_render_iptables(const struct policy *p, const struct policy_rates *r,
                        const struct nat_env *env, struct nat_buf *b)
{
	const char *P = p->nat.prefix;
	unsigned f = p->nat.features;
	char pre[64], fwd[64], post[64], ip[20];
	bool dnat = (f & POLICY_F_FORWARD) && p->n_fwds;

	snprintf(pre, sizeof(pre), "%s_PREROUTING", P);
	snprintf(fwd, sizeof(fwd), "%s_FORWARD", P);
	snprintf(post, sizeof(post), "%s_POSTROUTING", P);
	nat_buf_printf(b, "# fairway nat: %s\n# iptables-restore %s: own chains %s_*, %s\n", p->file,
	               env->reset ? "(RESET requested with --reset: tables flushed)" : "--noflush",
	               P, env->reset ? "hooked from the emptied built-ins" :
	               "hooked by one jump each from the built-in chains");
	nat_buf_printf(b, "*mangle\n");
	if (env->reset)
		nat_buf_printf(b, ":PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
		               ":OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n");
	nat_buf_printf(b, ":%s - [0:0]\n:%s - [0:0]\n", pre, fwd);
	if (env->reset || !(env->jumps_present & NAT_JUMP_MANGLE_PRE))
		nat_buf_printf(b, "-A PREROUTING -j %s\n", pre);
	if (env->reset || !(env->jumps_present & NAT_JUMP_MANGLE_FWD))
		nat_buf_printf(b, "-A FORWARD -j %s\n", fwd);
	if (p->nat.ttl_set)
		nat_buf_printf(b, "-A %s -i %s -j TTL --ttl-set %u\n", pre, p->nat.dev_lan, p->nat.ttl_set);
	if (f & POLICY_F_TOS)
		ipt_tos_rules(pre, b);
	if (p->nat.ipp2p)
		nat_buf_printf(b, "-A %s -p %s -m connbytes --connbytes %llu: --connbytes-dir both "
		               "--connbytes-mode bytes -j DSCP --set-dscp 0x%02x\n", pre,
		               p->nat.ipp2p_udp ? "all" : "tcp", (unsigned long long)p->nat.p2p_bytes + 1,
		               DSCP_P2P);
	if (p->nat.mss_clamp < 0)
		nat_buf_printf(b, "-A %s -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu\n", fwd);
	else if (p->nat.mss_clamp > 0)
		nat_buf_printf(b, "-A %s -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss %d\n", fwd,
		               p->nat.mss_clamp);
	if (f & (POLICY_F_QOS_UP | POLICY_F_QOS_DOWN))
		ipt_mac_marks(p, r, fwd, b);
	if (f & POLICY_F_QOS_UP)
		ipt_steer(p, r, DIR_UP, fwd, b);
	if (f & POLICY_F_QOS_DOWN)
		ipt_steer(p, r, DIR_DOWN, fwd, b);
	nat_buf_printf(b, "COMMIT\n*nat\n");
	if (env->reset)
		nat_buf_printf(b, ":PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
		               ":POSTROUTING ACCEPT [0:0]\n");
	nat_buf_printf(b, ":%s - [0:0]\n:%s - [0:0]\n", pre, post);
	if (env->reset || !(env->jumps_present & NAT_JUMP_NAT_PRE))
		nat_buf_printf(b, "-A PREROUTING -j %s\n", pre);
	if (env->reset || !(env->jumps_present & NAT_JUMP_NAT_POST))
		nat_buf_printf(b, "-A POSTROUTING -j %s\n", post);
	for (size_t i = 0; dnat && i < p->n_fwds; i++) {
		const struct policy_forward *fw = &p->fwds[i];
		char ports[16];

		if (fw->to.ip == 0)
			continue;   /* IPv6 only: ip6tables opens it */
		ip_str(fw->to.ip, ip, sizeof(ip));
		port_range_str(fw, ':', ports, sizeof(ports));
		for (size_t up = 0; up < n_uplinks(p); up++)
			for (unsigned pr = POLICY_PROTO_TCP; pr <= POLICY_PROTO_UDP; pr <<= 1)
				if (fw->protos & pr)
					nat_buf_printf(b, "-A %s -i %s -p %s --dport %s -j DNAT --to-destination %s\n", pre,
					               uplink_dev(p, up), pr == POLICY_PROTO_TCP ? "tcp" : "udp", ports, ip);
	}
	for (size_t up = 0; up < n_uplinks(p); up++) {
		for (size_t i = 0; (f & POLICY_F_NAT) && i < p->n_users; i++)
			for (size_t a = 0; a < p->users[i].n_addrs; a++) {
				ip_str(p->users[i].addrs[a].ip, ip, sizeof(ip));
				nat_buf_printf(b, "-A %s -o %s -s %s -j MASQUERADE\n", post, uplink_dev(p, up), ip);
			}
		for (size_t i = 0; (f & POLICY_F_NAT) && i < p->n_users; i++)
			if (p->users[i].n_macs)   /* a MAC user's IPv4, by its connection mark */
				nat_buf_printf(b, "-A %s -o %s -m connmark --mark %u -j MASQUERADE\n", post,
				               uplink_dev(p, up), r->u[i].mark);
	}
	nat_buf_printf(b, "COMMIT\n");
	if (env->reset)
		nat_buf_printf(b, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n");
	return b->err;
}

/* ---- ip6tables-restore (dual stack, iptables backend) ------------------ */

void nat_ip6tables_cmd(const struct policy *p, char *out, size_t len)
{
	/* iptables -> ip6tables, iptables-legacy -> ip6tables-legacy,
	 * /usr/sbin/iptables-nft -> /usr/sbin/ip6tables-nft */
	const char *base = strrchr(p->nat.iptables, '/');
	size_t dir = base ? (size_t)(base + 1 - p->nat.iptables) : 0;

	base = p->nat.iptables + dir;
	if (strncmp(base, "iptables", 8) == 0)
		snprintf(out, len, "%.*sip6%s", (int)dir, p->nat.iptables, base + 2);
	else
		snprintf(out, len, "ip6tables");
}

int nat_render_ip6tables(const struct policy *p, const struct policy_rates *r,
                         const struct nat_env *env, struct nat_buf *b)
{
	const char *P = p->nat.prefix, *net = p->nat.dev_net;
	unsigned f = p->nat.features;
	char pre[64], fwd[64], in6[64], ports[16], set[64];

	snprintf(pre, sizeof(pre), "%s_PREROUTING", P);
	snprintf(fwd, sizeof(fwd), "%s_FORWARD", P);
	snprintf(in6, sizeof(in6), "%s_INBOUND", P);
	nat_buf_printf(b, "# fairway nat: %s — IPv6, routed (no nat table)\n# ip6tables-restore %s\n",
	               p->file, env->reset ? "(RESET requested with --reset: tables flushed)" : "--noflush");
	nat_buf_printf(b, "*mangle\n");
	if (env->reset)
		nat_buf_printf(b, ":PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
		               ":OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n");
	nat_buf_printf(b, ":%s - [0:0]\n:%s - [0:0]\n", pre, fwd);
	if (env->reset || !(env->jumps_present6 & NAT_JUMP_MANGLE_PRE))
		nat_buf_printf(b, "-A PREROUTING -j %s\n", pre);
	if (env->reset || !(env->jumps_present6 & NAT_JUMP_MANGLE_FWD))
		nat_buf_printf(b, "-A FORWARD -j %s\n", fwd);
	if (p->nat.ttl_set)
		nat_buf_printf(b, "-A %s -i %s -j HL --hl-set %u\n", pre, p->nat.dev_lan, p->nat.ttl_set);
	if (f & POLICY_F_TOS) {
		struct nat_buf t = { 0 };

		/* the same rules; ICMPv6 for ICMP, the traffic class for TOS */
		ipt_tos_rules(pre, &t);
		if (t.s) {
			for (char *l = t.s, *e; *l; l = e + 1) {
				e = strchr(l, '\n');
				if (e == NULL)
					break;
				const char *rest = l + 3 + strlen(pre);   /* after "-A <chain>" */

				if (strncmp(rest, " -p icmp ", 9) == 0)
					nat_buf_printf(b, "-A %s -p ipv6-icmp %.*s\n", pre, (int)(e - (rest + 9)), rest + 9);
				else
					nat_buf_printf(b, "%.*s\n", (int)(e - l), l);
			}
		}
		b->err = b->err ? b->err : t.err;
		nat_buf_free(&t);
	}
	if (p->nat.ipp2p)
		nat_buf_printf(b, "-A %s -p %s -m connbytes --connbytes %llu: --connbytes-dir both "
		               "--connbytes-mode bytes -j DSCP --set-dscp 0x%02x\n", pre,
		               p->nat.ipp2p_udp ? "all" : "tcp", (unsigned long long)p->nat.p2p_bytes + 1,
		               DSCP_P2P);
	if (p->nat.mss_clamp < 0)
		nat_buf_printf(b, "-A %s -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu\n", fwd);
	else if (p->nat.mss_clamp > 0)
		nat_buf_printf(b, "-A %s -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss %d\n", fwd,
		               p->nat.mss_clamp);
	/* neighbour discovery is never forwarded; nothing of it reaches a user's class */
	if (f & (POLICY_F_QOS_UP | POLICY_F_QOS_DOWN))
		ipt_mac_marks(p, r, fwd, b);
	if (f & POLICY_F_QOS_UP)
		ipt_steer_fam(p, r, DIR_UP, fwd, true, b);
	if (f & POLICY_F_QOS_DOWN)
		ipt_steer_fam(p, r, DIR_DOWN, fwd, true, b);
	nat_buf_printf(b, "COMMIT\n");
	if (!(f & POLICY_F_NAT))
		return b->err;
	/* what NAT gives IPv4 hosts, a stateful filter gives IPv6 ones */
	nat_buf_printf(b, "*filter\n");
	if (env->reset)
		nat_buf_printf(b, ":INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
	nat_buf_printf(b, ":%s - [0:0]\n", in6);
	if (env->reset || !(env->jumps_present6 & NAT_JUMP_FILTER_FWD))
		nat_buf_printf(b, "-A FORWARD -j %s\n", in6);
	for (size_t up = 0; up < n_uplinks(p); up++) {
		net = uplink_dev(p, up);
		nat_buf_printf(b, "-A %s -i %s -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n", in6, net);
		for (unsigned t = 0; t < 5; t++) {
			static const char *const types[5] = { "destination-unreachable", "packet-too-big",
			                                      "time-exceeded", "parameter-problem", "echo-request" };

			nat_buf_printf(b, "-A %s -i %s -p ipv6-icmp --icmpv6-type %s -j ACCEPT\n", in6, net, types[t]);
		}
		for (size_t i = 0; (f & POLICY_F_FORWARD) && i < p->n_fwds; i++) {
			const struct policy_forward *fw = &p->fwds[i];
			const struct policy_net6 *dst;
			size_t n;

			if (fw->to6.plen) {
				dst = &fw->to6;
				n = 1;
			} else if (fw->own && fw->user != SIZE_MAX) {
				dst = p->users[fw->user].nets6;
				n = p->users[fw->user].n_nets6;
			} else {
				continue;
			}
			port_range_str(fw, ':', ports, sizeof(ports));
			for (size_t k = 0; k < n; k++)
				for (unsigned pr = POLICY_PROTO_TCP; pr <= POLICY_PROTO_UDP; pr <<= 1)
					if (fw->protos & pr)
						nat_buf_printf(b, "-A %s -i %s -d %s -p %s --dport %s -j ACCEPT\n", in6, net,
						               policy_net6_str(&dst[k], set, sizeof(set)),
						               pr == POLICY_PROTO_TCP ? "tcp" : "udp", ports);
		}
	}
	for (size_t up = 0; up < n_uplinks(p); up++)
		nat_buf_printf(b, "-A %s -i %s -j DROP\n", in6, uplink_dev(p, up));
	nat_buf_printf(b, "COMMIT\n");
	return b->err;
}

/* ---- tc ---------------------------------------------------------------- */

/* Leaf queue limits scale with the class's ceiling: ~100 ms of packets,
 * 16 at least (README.patches' SFQ_DEPTH), 10000 at most. A fixed 40
 * packets cost Fair NAT a third of a 100 mbit line (testbed.md). */
static unsigned leaf_limit(uint64_t ceil, unsigned mtu)
{
	uint64_t n = ceil / 10 / (mtu ? mtu : 1500);

	return n < 16 ? 16 : n > 10000 ? 10000 : (unsigned)n;
}

static void tc_leaf(const struct policy *p, const struct nat_env *env, const char *dev,
                    unsigned parent_minor, unsigned handle, uint64_t ceil, unsigned perturb,
                    struct nat_buf *b)
{
	unsigned lim = leaf_limit(ceil, env->mtu);

	nat_buf_printf(b, "qdisc add dev %s parent 1:%u handle %u: ", dev, parent_minor, handle);
	switch (p->nat.leaf) {
	case POLICY_LEAF_SFQ:
		nat_buf_printf(b, "sfq perturb %u limit %u\n", perturb, lim);
		break;
	case POLICY_LEAF_PFIFO:
		nat_buf_printf(b, "pfifo limit %u\n", lim);
		break;
	case POLICY_LEAF_CAKE:
		/* HTB above does the shaping; cake keeps flows apart and short */
		nat_buf_printf(b, "cake unlimited besteffort flows\n");
		break;
	case POLICY_LEAF_FQ_CODEL: {
		/* CoDel's 5 ms target is below one packet's time on slow
		 * classes: raise it to 1.5 MTU-times, interval along with it */
		uint64_t target = ceil ? (uint64_t)env->mtu * 1500000u / ceil : 0;

		if (target > 5000)
			nat_buf_printf(b, "fq_codel target %lluus interval %lluus\n",
			               (unsigned long long)target, (unsigned long long)(target + 95000));
		else
			nat_buf_printf(b, "fq_codel\n");
		break;
	}
	}
}

/* Fair NAT's PRIO under a class: bands by TOS (u32 on the TOS byte, since
 * skb->priority now carries the HTB class), an SFQ on each band. */
static void tc_prio(const struct policy *p, const struct nat_env *env, const char *dev,
                    unsigned parent_minor, unsigned handle, unsigned first_leaf, uint64_t ceil,
                    struct nat_buf *b)
{
	unsigned bands = n_bands(p);

	nat_buf_printf(b, "qdisc add dev %s parent 1:%u handle %u: prio bands %u\n", dev, parent_minor,
	               handle, bands);
	for (unsigned i = 1; i <= bands; i++)
		nat_buf_printf(b, "qdisc add dev %s parent %u:%u handle %u: sfq perturb %u limit %u\n", dev,
		               handle, i, first_leaf + i - 1, 8 + i, leaf_limit(ceil, env->mtu));
	nat_buf_printf(b, "filter add dev %s parent %u: protocol ip prio 1 u32 match ip tos 0x%02x 0xfc flowid %u:1\n",
	               dev, handle, DSCP_INTERACTIVE << 2, handle);
	nat_buf_printf(b, "filter add dev %s parent %u: protocol ip prio 2 u32 match ip tos 0x%02x 0xfc flowid %u:3\n",
	               dev, handle, DSCP_BULK << 2, handle);
	if (bands == 4)
		nat_buf_printf(b, "filter add dev %s parent %u: protocol ip prio 3 u32 match ip tos 0x%02x 0xfc flowid %u:4\n",
		               dev, handle, DSCP_P2P << 2, handle);
	if (policy_is_dual(p)) {
		/* IPv6's traffic class picks the band the same way */
		nat_buf_printf(b, "filter add dev %s parent %u: protocol ipv6 prio 11 u32 match ip6 priority 0x%02x 0xfc flowid %u:1\n",
		               dev, handle, DSCP_INTERACTIVE << 2, handle);
		nat_buf_printf(b, "filter add dev %s parent %u: protocol ipv6 prio 12 u32 match ip6 priority 0x%02x 0xfc flowid %u:3\n",
		               dev, handle, DSCP_BULK << 2, handle);
		if (bands == 4)
			nat_buf_printf(b, "filter add dev %s parent %u: protocol ipv6 prio 13 u32 match ip6 priority 0x%02x 0xfc flowid %u:4\n",
			               dev, handle, DSCP_P2P << 2, handle);
	}
}

/* tc's rates in bits ("rate 124512bit"), as people read them: exact,
 * since every rate here is whole bytes per second. */
static unsigned long long tc_bits(uint64_t bytes_per_s)
{
	return (unsigned long long)bytes_per_s * 8;
}

static void render_tc_dev(const struct policy *p, const struct policy_rates *r,
                          const struct nat_env *env, enum dir d, const char *dev, struct nat_buf *b)
{
	uint64_t dev_rate = d == DIR_UP ? r->line_up : r->lan;
	uint64_t local = d == DIR_UP ? r->local_up : r->local_down;
	uint64_t local_ceil = d == DIR_UP ? r->line_up : r->lan;
	uint64_t users = d == DIR_UP ? r->users_up : r->users_down;
	uint64_t users_ceil = d == DIR_UP ? r->line_up : r->line_down;
	char o[64];
	char rb[48];

	htb_opts(p, env, o, sizeof(o));
	nat_buf_printf(b, "# %s on %s: %s\n", d == DIR_UP ? "upload" : "download", dev,
	               policy_rate_str(dev_rate, rb, sizeof(rb)));
	nat_buf_printf(b, "qdisc add dev %s root handle 1: htb default 3\n", dev);
	nat_buf_printf(b, "class add dev %s parent 1: classid 1:2 htb rate %llubit ceil %llubit %s\n", dev,
	               tc_bits(dev_rate), tc_bits(dev_rate), o);
	nat_buf_printf(b, "class add dev %s parent 1:2 classid 1:3 htb rate %llubit ceil %llubit %s prio 5\n",
	               dev, tc_bits(local), tc_bits(local_ceil), o);
	if (p->nat.leaf == POLICY_LEAF_SFQ)
		tc_prio(p, env, dev, 3, 2, 3, local_ceil, b);
	else
		tc_leaf(p, env, dev, 3, 2, local_ceil, 10, b);
	nat_buf_printf(b, "class add dev %s parent 1:2 classid 1:1 htb rate %llubit ceil %llubit %s\n", dev,
	               tc_bits(users), tc_bits(users_ceil), o);
	for (size_t i = 0; i < p->n_users; i++) {
		const struct policy_user_rates *u = &r->u[i];
		uint64_t rate = d == DIR_UP ? u->rate_up : u->rate_down;
		uint64_t ceil = d == DIR_UP ? u->ceil_up : u->ceil_down;
		unsigned m = u->mark;

		nat_buf_printf(b, "# user %s\n", p->users[i].name);
		nat_buf_printf(b, "class add dev %s parent 1:1 classid 1:%u htb rate %llubit ceil %llubit %s\n",
		               dev, m, tc_bits(rate), tc_bits(ceil), o);
		if (p->nat.class_mode == POLICY_CLASS_WONDER) {
			/* Wondershaper's children, rates from the user's ceil (Q5) */
			static const unsigned tenth[3] = { 10, 9, 8 };
			unsigned nc = p->nat.ipp2p ? 3 : 2;

			for (unsigned c = 0; c < nc; c++) {
				uint64_t cr = ceil * tenth[c] / 10;

				nat_buf_printf(b, "class add dev %s parent 1:%u classid 1:%u htb rate %llubit ceil %llubit burst 6k %s prio %u\n",
				               dev, m, m + c + 1, tc_bits(cr), tc_bits(cr), o, c + 1);
				if (p->nat.leaf == POLICY_LEAF_SFQ)
					nat_buf_printf(b, "qdisc add dev %s parent 1:%u handle %u: sfq perturb 10 limit %u\n",
					               dev, m + c + 1, m + c + 1, leaf_limit(cr, env->mtu));
				else
					tc_leaf(p, env, dev, m + c + 1, m + c + 1, cr, 10, b);
			}
		} else if (p->nat.leaf == POLICY_LEAF_SFQ) {
			tc_prio(p, env, dev, m, m, m + 1, ceil, b);
		} else {
			/* fairway's bands: interactive 3/10, normal 4/10, bulk the
			 * rest (3/10 each and P2P 1/10 with P2P demotion); all may
			 * borrow up to the user's ceil, interactive first. */
			static const unsigned share3[3] = { 3, 4, 3 }, share4[4] = { 3, 3, 3, 1 };
			const unsigned *share = n_bands(p) == 4 ? share4 : share3;
			uint64_t left = rate;

			for (unsigned c = 0; c < n_bands(p); c++) {
				uint64_t br = c + 1 == n_bands(p) ? left : rate * share[c] / 10;

				if (br == 0)
					br = 1;
				left = left > br ? left - br : 1;
				nat_buf_printf(b, "class add dev %s parent 1:%u classid 1:%u htb rate %llubit ceil %llubit %s prio %u\n",
				               dev, m, m + c + 1, tc_bits(br), tc_bits(ceil), o, c);
				tc_leaf(p, env, dev, m + c + 1, m + c + 1, ceil, 10, b);
			}
		}
	}
}

int nat_render_tc(const struct policy *p, const struct policy_rates *r,
                  const struct nat_env *env, struct nat_buf *b)
{
	nat_buf_printf(b, "# fairway nat: %s — tc -batch; rates in bit/s, class ids as in "
	               "Fair NAT: user 1:<first octet × 10>\n", p->file);
	for (size_t up = 0; (p->nat.features & POLICY_F_QOS_UP) && up < n_uplinks(p); up++) {
		struct policy_rates rr;

		if (up == 0) {
			render_tc_dev(p, r, env, DIR_UP, p->nat.dev_net, b);
			continue;
		}
		/* another uplink: its own tree, each user's share of that line */
		if (uplink_rates(p, up, &rr) != 0) {
			b->err = -ENOMEM;
			break;
		}
		render_tc_dev(p, &rr, env, DIR_UP, uplink_dev(p, up), b);
		policy_rates_free(&rr);
	}
	if (p->nat.features & POLICY_F_QOS_DOWN)
		render_tc_dev(p, r, env, DIR_DOWN, p->nat.dev_lan, b);
	return b->err;
}

/* ---- summary (info / dry-run) ------------------------------------------ */

int nat_render_summary(const struct policy *p, const struct policy_rates *r,
                       const struct nat_env *env, struct nat_buf *b)
{
	char f[128], r1[48], r2[48], r3[48], t[POLICY_PREFIX_MAX];
	bool fn = p->format == POLICY_FMT_FAIRNAT;

	nat_table_name(p, t, sizeof(t));
	nat_buf_printf(b, "# input: %s (%s)\n", p->file,
	               fn ? "Fair NAT 0.80 fairnat.config" : "fairway policy");
	if (fn)
		nat_buf_printf(b, "# units: Fair NAT's, 1kbit = 1024 bit/s (quirk Q4); tc's are 1000-based\n");
	nat_buf_printf(b, "# features: %s%s\n", policy_feature_names(p->nat.features, f, sizeof(f)),
	               (p->nat.features & POLICY_F_RESET) && !env->reset ?
	               " (RESET ignored: fairway only replaces its own table; --reset honours it)" : "");
	nat_buf_printf(b, "# devices: LAN %s, Internet %s", p->nat.dev_lan, p->nat.dev_net);
	for (size_t up = 1; up < n_uplinks(p); up++)
		nat_buf_printf(b, ", %s", uplink_dev(p, up));
	nat_buf_printf(b, " (MTU %u = HTB quantum)\n", env->mtu);
	for (size_t up = 1; up < n_uplinks(p); up++) {
		/* each further uplink: its own tree, the users' shares of its line */
		struct policy_rates rr;
		char u1[48], u2[48], u3[48], u4[48];

		if (uplink_rates(p, up, &rr) != 0) {
			b->err = -ENOMEM;
			return b->err;
		}
		nat_buf_printf(b, "# uplink %s: upload line %s - %u%% = %s; router %s; %zu users x %s\n",
		               uplink_dev(p, up),
		               policy_rate_str(p->nat.more[up - 1].rate_up, u1, sizeof(u1)), p->link.sub_percent,
		               policy_rate_str(rr.line_up, u2, sizeof(u2)),
		               policy_rate_str(rr.local_up, u3, sizeof(u3)), p->n_users,
		               policy_rate_str(rr.user_up, u4, sizeof(u4)));
		policy_rates_free(&rr);
	}
	if (policy_is_dual(p)) {
		nat_buf_printf(b, "# dual stack: IPv4 NATed, IPv6 routed; LAN IPv6");
		for (size_t i = 0; i < p->nat.n_lan6; i++) {
			struct policy_net6 n = p->nat.lan6[i];
			char a[64], net[64];

			/* the router's address on the prefix, and the prefix itself */
			n.plen = 128;
			policy_net6_str(&n, a, sizeof(a));
			for (unsigned bit = p->nat.lan6[i].plen; bit < 128; bit++)
				n.a[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
			policy_net6_str(&n, net, sizeof(net));
			nat_buf_printf(b, "%s %s/%u (router %s)", i ? "," : "", net, p->nat.lan6[i].plen, a);
		}
		if (p->nat.n_lan6 == 0)
			nat_buf_printf(b, " none");
		nat_buf_printf(b, "\n");
	}
	nat_buf_printf(b, "# firewall: %s %s; tree: class mode %s, leaf %s, borrow %s\n",
	               p->nat.backend == POLICY_BACKEND_NFT ?
	               (policy_is_dual(p) ? "nft table inet" : "nft table ip") :
	               (policy_is_dual(p) ? "iptables + ip6tables chains" : "iptables chains"),
	               p->nat.backend == POLICY_BACKEND_NFT ? t : p->nat.prefix,
	               p->nat.class_mode == POLICY_CLASS_WONDER ? "wonder" : "default",
	               policy_leaf_name(p->nat.leaf), p->link.borrow ? "yes" : "no");
	{
		char r4[48], r5[48], r6[48];

		nat_buf_printf(b, "# upload:   line %s - %u%% = %s; router %s (%u%%); %zu users x %s\n",
		               policy_rate_str(p->link.rate_up, r1, sizeof(r1)), p->link.sub_percent,
		               policy_rate_str(r->line_up, r2, sizeof(r2)),
		               policy_rate_str(r->local_up, r3, sizeof(r3)), p->link.local_percent,
		               p->n_users, policy_rate_str(r->user_up, r4, sizeof(r4)));
		uint64_t down = p->link.rate_down;   /* several uplinks: what all bring in */

		for (size_t up = 1; up < n_uplinks(p); up++)
			down += p->nat.more[up - 1].rate_down;
		nat_buf_printf(b, "# download: line %s - %u%% = %s; %zu users x %s; LAN %s, router gets "
		               "LAN - users = %s (quirk Q6)\n",
		               policy_rate_str(down, r1, sizeof(r1)), p->link.sub_percent,
		               policy_rate_str(r->line_down, r2, sizeof(r2)), p->n_users,
		               policy_rate_str(r->user_down, r3, sizeof(r3)),
		               policy_rate_str(r->lan, r5, sizeof(r5)),
		               policy_rate_str(r->local_down, r6, sizeof(r6)));
	}
	nat_buf_printf(b, "# %-12s %-6s %-11s %-11s %-11s %-11s addresses\n", "user", "class",
	               "up rate", "up ceil", "down rate", "down ceil");
	for (size_t i = 0; i < p->n_users; i++) {
		const struct policy_user_rates *u = &r->u[i];
		char set[1024], cls[16], q[4][24];

		snprintf(cls, sizeof(cls), "1:%u", u->mark);
		user_addr_set(&p->users[i], set, sizeof(set));
		for (size_t j = 0, at = strlen(set); j < p->users[i].n_nets6 + p->users[i].n_macs &&
		     at + 52 < sizeof(set); j++) {
			char a[64];

			if (j < p->users[i].n_nets6)
				policy_net6_str(&p->users[i].nets6[j], a, sizeof(a));
			else
				policy_mac_str(&p->users[i].macs[j - p->users[i].n_nets6], a, sizeof(a));
			at += (size_t)snprintf(set + at, sizeof(set) - at, "%s%s%s", at ? ", " : "",
			                       j < p->users[i].n_nets6 ? "" : "mac ", a);
		}
		nat_buf_printf(b, "# %-12s %-6s %-11s %-11s %-11s %-11s %s\n", p->users[i].name, cls,
		               policy_rate_str(u->rate_up, q[0], sizeof(q[0])),
		               policy_rate_str(u->ceil_up, q[1], sizeof(q[1])),
		               policy_rate_str(u->rate_down, q[2], sizeof(q[2])),
		               policy_rate_str(u->ceil_down, q[3], sizeof(q[3])), set);
	}
	for (size_t i = 0; i < p->n_fwds; i++) {
		char ip[1024];

		if (p->fwds[i].to.ip)
			ip_str(p->fwds[i].to.ip, ip, sizeof(ip));
		else
			snprintf(ip, sizeof(ip), "(no IPv4)");
		if (policy_is_dual(p)) {
			char set[900];

			fwd6_set(p, &p->fwds[i], set, sizeof(set));
			if (set[0])
				snprintf(ip + strlen(ip), sizeof(ip) - strlen(ip), ", IPv6 %s (opened, not NATed)", set);
		}
		nat_buf_printf(b, "# forward %s%s%s %u-%u -> %s%s\n",
		               p->fwds[i].protos & POLICY_PROTO_TCP ? "tcp" : "",
		               p->fwds[i].protos == 3 ? "+" : "",
		               p->fwds[i].protos & POLICY_PROTO_UDP ? "udp" : "", p->fwds[i].lo, p->fwds[i].hi, ip,
		               (p->nat.features & POLICY_F_FORWARD) ? "" : " (FORWARD feature off)");
	}
	for (size_t i = 0; i < r->n_warn; i++)
		nat_buf_printf(b, "# warning: %s\n", r->warn[i].msg);
	return b->err;
}

/* ---- running commands -------------------------------------------------- */

/* Runs argv with input on stdin; collects stdout (if out) and stderr.
 * Returns the exit status (0..255), or -errno if it could not run. */
static int run(const char *const argv[], const char *input, struct nat_buf *out, struct nat_buf *err)
{
	int in[2] = { -1, -1 }, o[2] = { -1, -1 }, e[2] = { -1, -1 };
	size_t off = 0, inlen = input ? strlen(input) : 0;
	pid_t pid;
	int status = 0, rc;
	char buf[4096];

	if (pipe2(in, O_CLOEXEC) || pipe2(o, O_CLOEXEC) || pipe2(e, O_CLOEXEC)) {
		rc = -errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		goto out;
	}
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(o[1], 1);
		dup2(e[1], 2);
		char *const *av;

		memcpy(&av, &argv, sizeof(av));   /* execvp's historical prototype */
		execvp(argv[0], av);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(o[1]);
	close(e[1]);
	in[0] = o[1] = e[1] = -1;
	if (inlen == 0) {
		close(in[1]);
		in[1] = -1;
	}
	{
		/* a closed reader must not kill us with SIGPIPE */
		struct sigaction sa = { .sa_handler = SIG_IGN }, old;

		sigaction(SIGPIPE, &sa, &old);
		while (o[0] >= 0 || e[0] >= 0) {
			struct pollfd pf[3] = { { in[1], POLLOUT, 0 }, { o[0], POLLIN, 0 }, { e[0], POLLIN, 0 } };

			if (poll(pf, 3, -1) < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			if (in[1] >= 0 && (pf[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
				ssize_t w = write(in[1], input + off, inlen - off);

				if (w > 0)
					off += (size_t)w;
				if (w < 0 || off == inlen) {
					close(in[1]);
					in[1] = -1;
				}
			}
			for (int k = 1; k <= 2; k++) {
				int *fd = k == 1 ? &o[0] : &e[0];
				struct nat_buf *dst = k == 1 ? out : err;

				if (*fd < 0 || !(pf[k].revents & (POLLIN | POLLHUP | POLLERR)))
					continue;
				ssize_t n = read(*fd, buf, sizeof(buf));
				if (n <= 0) {
					close(*fd);
					*fd = -1;
				} else if (dst) {
					nat_buf_printf(dst, "%.*s", (int)n, buf);
				}
			}
		}
		sigaction(SIGPIPE, &old, NULL);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
out:
	for (int k = 0; k < 2; k++) {
		if (in[k] >= 0)
			close(in[k]);
		if (o[k] >= 0)
			close(o[k]);
		if (e[k] >= 0)
			close(e[k]);
	}
	return rc;
}

/* Runs and logs a failure with the tool's own words. */
static int run_logged(const char *const argv[], const char *input, struct nat_buf *out)
{
	struct nat_buf err = { 0 };
	int rc = run(argv, input, out, &err);

	if (rc != 0) {
		char cmd[256] = "";
		size_t at = 0;

		for (int i = 0; argv[i] && at < sizeof(cmd) - 1; i++)
			at += (size_t)snprintf(cmd + at, sizeof(cmd) - at, "%s%s", i ? " " : "", argv[i]);
		if (rc < 0)
			log_err("%s: %s", cmd, strerror(-rc));
		else
			log_err("%s failed (exit %d): %s", cmd, rc, err.s ? err.s : "");
	}
	nat_buf_free(&err);
	return rc;
}

static json_t *run_json(const char *const argv[])
{
	struct nat_buf out = { 0 };
	json_t *j = NULL;

	if (run(argv, NULL, &out, NULL) == 0 && out.s)
		j = json_loads(out.s, 0, NULL);
	nat_buf_free(&out);
	return j;
}

int nat_read_lan(const char *dev, uint32_t *ip, unsigned *prefix)
{
	const char *argv[] = { "ip", "-j", "-4", "addr", "show", "dev", dev, NULL };
	json_t *j = run_json(argv), *link, *ai;
	size_t i;
	int rc = -EADDRNOTAVAIL;

	if (j == NULL || !json_is_array(j) || json_array_size(j) == 0) {
		json_decref(j);
		return -ENODEV;
	}
	link = json_array_get(j, 0);
	ai = json_object_get(link, "addr_info");
	json_array_foreach(ai, i, link) {
		const char *fam = json_string_value(json_object_get(link, "family"));
		const char *loc = json_string_value(json_object_get(link, "local"));
		json_int_t pl = json_integer_value(json_object_get(link, "prefixlen"));
		unsigned a, b, c, d;
		char tail;

		if (fam && loc && strcmp(fam, "inet") == 0 && pl >= 8 && pl <= 30 &&
		    sscanf(loc, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 &&
		    a < 256 && b < 256 && c < 256 && d < 256) {
			*ip = a << 24 | b << 16 | c << 8 | d;
			*prefix = (unsigned)pl;
			rc = 0;
			break;
		}
	}
	json_decref(j);
	return rc;
}

int nat_read_lan6(struct policy *p)
{
	const char *argv[] = { "ip", "-j", "-6", "addr", "show", "dev", p->nat.dev_lan, "scope", "global", NULL };
	json_t *j = run_json(argv), *ai, *e;
	size_t i;
	int rc = -EADDRNOTAVAIL;

	if (j == NULL || !json_is_array(j) || json_array_size(j) == 0) {
		json_decref(j);
		return -ENODEV;
	}
	ai = json_object_get(json_array_get(j, 0), "addr_info");
	json_array_foreach(ai, i, e) {
		const char *loc = json_string_value(json_object_get(e, "local"));
		json_int_t pl = json_integer_value(json_object_get(e, "prefixlen"));
		char one[96];

		if (loc == NULL || pl < 16 || pl > 128)
			continue;
		snprintf(one, sizeof(one), "%s/%lld", loc, (long long)pl);
		int r = policy_lan6_add(p, one, 0);
		if (r == -ENOMEM) {
			rc = r;
			break;
		}
		if (r == 0)
			rc = 0;
	}
	json_decref(j);
	return rc;
}

int nat_read_mtu(const char *dev, unsigned *mtu)
{
	const char *argv[] = { "ip", "-j", "link", "show", "dev", dev, NULL };
	json_t *j = run_json(argv);
	json_int_t m;

	if (j == NULL || !json_is_array(j) || json_array_size(j) == 0) {
		json_decref(j);
		return -ENODEV;
	}
	m = json_integer_value(json_object_get(json_array_get(j, 0), "mtu"));
	json_decref(j);
	if (m < 68 || m > 65535)
		return -EINVAL;
	*mtu = (unsigned)m;
	return 0;
}

/* ---- apply / stop ------------------------------------------------------ */

enum root_kind { ROOT_DEFAULT, ROOT_OURS, ROOT_FOREIGN, ROOT_NODEV };

/* Ours = HTB 1: with the classes 1:1, 1:2, 1:3 our tree always has. The
 * kernel's own default root qdiscs have handle 0:. */
static enum root_kind root_kind(const struct policy *p, const char *dev, char *what, size_t len)
{
	const char *qa[] = { p->nat.tc[0] ? p->nat.tc : "tc", "-j", "qdisc", "show", "dev", dev, NULL };
	const char *ca[] = { qa[0], "class", "show", "dev", dev, NULL };
	json_t *q = run_json(qa), *e;
	size_t i;
	enum root_kind k = ROOT_DEFAULT;
	int found = 0;

	if (q == NULL)
		return ROOT_NODEV;
	snprintf(what, len, "none");
	json_array_foreach(q, i, e) {
		const char *kind = json_string_value(json_object_get(e, "kind"));
		const char *h = json_string_value(json_object_get(e, "handle"));

		if (!json_is_true(json_object_get(e, "root")) || !kind || !h)
			continue;
		snprintf(what, len, "%s %s", kind, h);
		if (strcmp(h, "0:") == 0)
			k = ROOT_DEFAULT;
		else if (strcmp(kind, "htb") == 0 && strcmp(h, "1:") == 0)
			k = ROOT_OURS;
		else
			k = ROOT_FOREIGN;
	}
	json_decref(q);
	if (k != ROOT_OURS)
		return k;
	/* iproute2 6.1 prints HTB classes as text even with -j: read text */
	{
		struct nat_buf out = { 0 };

		if (run(ca, NULL, &out, NULL) == 0 && out.s)
			for (int m = 1; m <= 3; m++) {
				char needle[32];

				snprintf(needle, sizeof(needle), "class htb 1:%d ", m);
				found += strstr(out.s, needle) != NULL;
			}
		nat_buf_free(&out);
	}
	return found == 3 ? ROOT_OURS : ROOT_FOREIGN;
}

static void state_path(const struct policy *p, const char *dev, char *out, size_t len)
{
	char t[POLICY_PREFIX_MAX];

	nat_table_name(p, t, sizeof(t));
	snprintf(out, len, "%s/%s-%s.tc", STATE_DIR, t, dev);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	struct nat_buf b = { 0 };
	char buf[4096];
	size_t n;

	if (f == NULL)
		return NULL;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		nat_buf_printf(&b, "%.*s", (int)n, buf);
	fclose(f);
	if (b.err) {
		nat_buf_free(&b);
		return NULL;
	}
	return b.s ? b.s : strdup("");
}

static int tc_del_root(const struct policy *p, const char *dev)
{
	const char *a[] = { p->nat.tc, "qdisc", "del", "dev", dev, "root", NULL };

	return run(a, NULL, NULL, NULL);
}

static int tc_batch(const struct policy *p, const char *script)
{
	const char *a[] = { p->nat.tc, "-batch", "-", NULL };

	return run_logged(a, script, NULL);
}

struct dev_step {
	const char *dev;
	enum dir dir;
	const struct policy_rates *rates;   /* this device's (an uplink's own) */
	enum root_kind before;
	char *prev_batch;       /* our previous tree, to restore on failure */
	bool touched;
};

static void tc_rollback(const struct policy *p, struct dev_step *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!s[i].touched)
			continue;
		tc_del_root(p, s[i].dev);
		if (s[i].before == ROOT_OURS && s[i].prev_batch) {
			if (tc_batch(p, s[i].prev_batch) == 0)
				log_info("%s: previous fairway tree restored", s[i].dev);
			else
				log_err("%s: could not restore the previous tree", s[i].dev);
		} else {
			log_info("%s: back to the kernel's default qdisc", s[i].dev);
		}
	}
}

static bool ipt_has_jump(const char *dump, const char *builtin, const char *target)
{
	char needle[128];

	snprintf(needle, sizeof(needle), "-A %s -j %s\n", builtin, target);
	return dump && strstr(dump, needle) != NULL;
}

/* iptables-save declares each chain on a line ":NAME POLICY [counters]";
 * a plain substring search would also match a foreign MY_FAIRWAY_FORWARD. */
static bool ipt_has_chain(const char *dump, const char *chain)
{
	size_t n = strlen(chain);

	for (const char *l = dump; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
		if (l[0] == ':' && strncmp(l + 1, chain, n) == 0 && l[1 + n] == ' ')
			return true;
	return false;
}

static int stop_cmd(const char *const argv[], bool dry_run, FILE *out);

static char *ipt_save_cmd(const char *base, const char *table)
{
	char cmd[POLICY_PATH_MAX + 8];
	const char *a[] = { cmd, "-t", table, NULL };
	struct nat_buf out = { 0 };

	snprintf(cmd, sizeof(cmd), "%s-save", base);
	if (run(a, NULL, &out, NULL) != 0) {
		nat_buf_free(&out);
		return NULL;
	}
	return out.s ? out.s : strdup("");
}

static char *ipt_save(const struct policy *p, const char *table)
{
	return ipt_save_cmd(p->nat.iptables, table);
}

/* Removes one hook's jumps to chain, then the chain (or prints that). */
static int ipt_drop_chain(const char *cmd, const char *table, const char *hook, const char *chain,
                          const char *dump, bool dry_run, FILE *out)
{
	const char *del[] = { cmd, "-w", "-t", table, "-D", hook, "-j", chain, NULL };
	const char *fl[] = { cmd, "-w", "-t", table, "-F", chain, NULL };
	const char *x[] = { cmd, "-w", "-t", table, "-X", chain, NULL };

	if (!dry_run && !ipt_has_chain(dump, chain))
		return 0;
	for (int k = 0; k < 16 && stop_cmd(del, dry_run, out) == 0 && !dry_run; k++)
		;
	stop_cmd(fl, dry_run, out);
	return stop_cmd(x, dry_run, out) != 0 ? -EIO : 0;
}

static void proc_ipv6_forwarding(const struct policy *p);

/* Whether this kernel has qdisc kind: `tc qdisc add dev lo root KIND` in a
 * network namespace of its own (unshare -n), so nothing here is touched.
 * 1 yes, 0 no ("Specified qdisc kind is unknown"), -1 cannot tell (no
 * unshare, or no right to make a namespace): then tc's own error stands. */
static int qdisc_known(const struct policy *p, const char *kind)
{
	const char *a[] = { "unshare", "-n", p->nat.tc[0] ? p->nat.tc : "tc", "qdisc", "add", "dev", "lo",
	                    "root", kind, NULL };
	struct nat_buf err = { 0 };
	int rc = run(a, NULL, NULL, &err), known;

	known = rc == 0 ? 1 : err.s != NULL && strstr(err.s, "qdisc kind is unknown") != NULL ? 0 : -1;
	nat_buf_free(&err);
	return known;
}

/* The qdiscs each --leaf needs under HTB. */
static const char *const leaf_kinds[4][3] = {
	[POLICY_LEAF_FQ_CODEL] = { "fq_codel" },
	[POLICY_LEAF_CAKE] = { "cake" },
	[POLICY_LEAF_SFQ] = { "prio", "sfq" },
	[POLICY_LEAF_PFIFO] = { "pfifo" },
};

/* Before anything is applied: the tree's qdiscs exist on this kernel, or
 * an error naming the missing one and the --leaf values that work here. */
static int check_leaf(const struct policy *p)
{
	const char *missing = NULL;
	char works[64] = "";

	/* one probe per kind the leaf needs (1 or 2 commands): the rest,
	 * htb included, only when one is missing */
	for (unsigned i = 0; i < 3 && leaf_kinds[p->nat.leaf][i] != NULL && missing == NULL; i++)
		if (qdisc_known(p, leaf_kinds[p->nat.leaf][i]) == 0)
			missing = leaf_kinds[p->nat.leaf][i];
	if (missing == NULL)
		return 0;
	if (qdisc_known(p, "htb") == 0) {
		log_err("this kernel has no htb qdisc (sch_htb): fairway nat cannot shape here; nothing changed");
		return -EOPNOTSUPP;
	}
	for (unsigned l = 0; l < 4; l++) {
		bool ok = true;

		for (unsigned i = 0; i < 3 && leaf_kinds[l][i] != NULL && ok; i++)
			ok = qdisc_known(p, leaf_kinds[l][i]) != 0;
		if (ok)
			snprintf(works + strlen(works), sizeof(works) - strlen(works), "%s%s",
			         works[0] ? ", " : "", policy_leaf_name((enum policy_leaf)l));
	}
	log_err("leaf %s needs the %s qdisc, which this kernel does not have (tc: Specified qdisc kind "
	        "is unknown); nothing changed. --leaf values that work here: %s",
	        policy_leaf_name(p->nat.leaf), missing, works[0] ? works : "none");
	return -EOPNOTSUPP;
}

int nat_apply(const struct policy *p, const struct policy_rates *r, struct nat_env *env)
{
	struct dev_step steps[2 + POLICY_MORE_UPLINKS];
	struct policy_rates more_rates[POLICY_MORE_UPLINKS];
	size_t n = 0, n_more_rates = 0;
	struct nat_buf fw = { 0 };
	char *saved_mangle = NULL, *saved_nat = NULL, *saved6_mangle = NULL, *saved6_filter = NULL;
	struct nat_buf fw6 = { 0 };
	char cmd6[POLICY_PATH_MAX + 16];
	bool v6ipt = p->nat.backend == POLICY_BACKEND_IPTABLES && policy_is_dual(p);
	char what[64], path[POLICY_PATH_MAX + 64], cmd[POLICY_PATH_MAX + 16];
	int rc = 0;

	memset(steps, 0, sizeof(steps));
	memset(more_rates, 0, sizeof(more_rates));
	if (p->nat.features & POLICY_F_QOS_UP) {
		steps[n++] = (struct dev_step){ .dev = p->nat.dev_net, .dir = DIR_UP, .rates = r };
		for (size_t up = 1; up < n_uplinks(p); up++) {
			if (uplink_rates(p, up, &more_rates[n_more_rates]) != 0) {
				rc = -ENOMEM;
				goto out;
			}
			steps[n++] = (struct dev_step){ .dev = uplink_dev(p, up), .dir = DIR_UP,
			                                .rates = &more_rates[n_more_rates++] };
		}
	}
	if (p->nat.features & POLICY_F_QOS_DOWN)
		steps[n++] = (struct dev_step){ .dev = p->nat.dev_lan, .dir = DIR_DOWN, .rates = r };
	/* 1. look before touching anything */
	if (n > 0 && (rc = check_leaf(p)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		steps[i].before = root_kind(p, steps[i].dev, what, sizeof(what));
		if (steps[i].before == ROOT_NODEV) {
			log_err("%s: no such device (or tc cannot read it)", steps[i].dev);
			rc = -ENODEV;
			goto out;
		}
		if (steps[i].before == ROOT_FOREIGN) {
			log_err("%s has a root qdisc fairway did not create (%s); nothing changed. "
			        "Remove it first: tc qdisc del dev %s root", steps[i].dev, what, steps[i].dev);
			rc = -EEXIST;
			goto out;
		}
		if (steps[i].before == ROOT_OURS) {
			state_path(p, steps[i].dev, path, sizeof(path));
			steps[i].prev_batch = read_file(path);
		}
	}
	if (p->nat.backend == POLICY_BACKEND_IPTABLES) {
		char pre[64], fwd[64], post[64];

		saved_mangle = ipt_save(p, "mangle");
		saved_nat = ipt_save(p, "nat");
		if (saved_mangle == NULL || saved_nat == NULL) {
			log_err("%s-save failed: is %s installed and the kernel's ip_tables loaded?",
			        p->nat.iptables, p->nat.iptables);
			rc = -ENOENT;
			goto out;
		}
		snprintf(pre, sizeof(pre), "%s_PREROUTING", p->nat.prefix);
		snprintf(fwd, sizeof(fwd), "%s_FORWARD", p->nat.prefix);
		snprintf(post, sizeof(post), "%s_POSTROUTING", p->nat.prefix);
		env->jumps_present = (ipt_has_jump(saved_mangle, "PREROUTING", pre) ? NAT_JUMP_MANGLE_PRE : 0) |
		                     (ipt_has_jump(saved_mangle, "FORWARD", fwd) ? NAT_JUMP_MANGLE_FWD : 0) |
		                     (ipt_has_jump(saved_nat, "PREROUTING", pre) ? NAT_JUMP_NAT_PRE : 0) |
		                     (ipt_has_jump(saved_nat, "POSTROUTING", post) ? NAT_JUMP_NAT_POST : 0);
		rc = nat_render_iptables(p, r, env, &fw);
		if (rc == 0 && v6ipt) {
			char in6[64];

			nat_ip6tables_cmd(p, cmd6, sizeof(cmd6));
			saved6_mangle = ipt_save_cmd(cmd6, "mangle");
			saved6_filter = ipt_save_cmd(cmd6, "filter");
			if (saved6_mangle == NULL || saved6_filter == NULL) {
				log_err("%s-save failed: is %s installed and the kernel's ip6_tables loaded?",
				        cmd6, cmd6);
				rc = -ENOENT;
				goto out;
			}
			snprintf(in6, sizeof(in6), "%s_INBOUND", p->nat.prefix);
			env->jumps_present6 = (ipt_has_jump(saved6_mangle, "PREROUTING", pre) ? NAT_JUMP_MANGLE_PRE : 0) |
			                      (ipt_has_jump(saved6_mangle, "FORWARD", fwd) ? NAT_JUMP_MANGLE_FWD : 0) |
			                      (ipt_has_jump(saved6_filter, "FORWARD", in6) ? NAT_JUMP_FILTER_FWD : 0);
			rc = nat_render_ip6tables(p, r, env, &fw6);
		}
	} else {
		rc = nat_render_nft(p, r, env, &fw);
	}
	if (rc)
		goto out;
	/* 2. tc, device by device; any failure puts every device back */
	for (size_t i = 0; i < n; i++) {
		struct nat_buf b = { 0 };

		render_tc_dev(p, steps[i].rates, env, steps[i].dir, steps[i].dev, &b);
		if (b.err) {
			rc = b.err;
			nat_buf_free(&b);
			tc_rollback(p, steps, i);
			goto out;
		}
		steps[i].touched = true;
		if (steps[i].before == ROOT_OURS)
			tc_del_root(p, steps[i].dev);
		if (tc_batch(p, b.s) != 0) {
			log_err("%s: tc failed; rolling back", steps[i].dev);
			nat_buf_free(&b);
			tc_rollback(p, steps, i + 1);
			rc = -EIO;
			goto out;
		}
		nat_buf_free(&b);
	}
	/* 3. the firewall, atomically */
	if (p->nat.backend == POLICY_BACKEND_IPTABLES) {
		const char *a[] = { cmd, env->reset ? NULL : "--noflush", NULL };

		snprintf(cmd, sizeof(cmd), "%s-restore", p->nat.iptables);
		if (run_logged(a, fw.s, NULL) != 0) {
			/* restore commits table by table: put both tables back */
			const char *t1[] = { cmd, NULL };

			log_err("firewall rules refused; restoring the previous tables and tc trees");
			/* Debian's plain "iptables" is iptables-nft, which needs
			 * nftables in the kernel (the UML test kernel has none) */
			if (strstr(p->nat.iptables, "legacy") == NULL)
				log_err("if this kernel has no nftables, use the legacy flavour: "
				        "--iptables iptables-legacy (BIN_IPT, or iptables = in [nat])");
			run_logged(t1, saved_mangle, NULL);
			run_logged(t1, saved_nat, NULL);
			tc_rollback(p, steps, n);
			rc = -EIO;
			goto out;
		}
		if (v6ipt) {
			char cmd6r[POLICY_PATH_MAX + 24];
			const char *a6[] = { cmd6r, env->reset ? NULL : "--noflush", NULL };
			const char *r4[] = { cmd, NULL }, *r6[] = { cmd6r, NULL };

			snprintf(cmd6r, sizeof(cmd6r), "%s-restore", cmd6);
			if (run_logged(a6, fw6.s, NULL) != 0) {
				log_err("IPv6 firewall rules refused; restoring the previous tables (both "
				        "families) and tc trees");
				run_logged(r6, saved6_mangle, NULL);
				run_logged(r6, saved6_filter, NULL);
				run_logged(r4, saved_mangle, NULL);
				run_logged(r4, saved_nat, NULL);
				tc_rollback(p, steps, n);
				rc = -EIO;
				goto out;
			}
		}
	} else {
		const char *a[] = { "nft", "-f", "-", NULL };
		char t[POLICY_PREFIX_MAX];
		const char *l6[] = { "nft", "list", "table", "inet", t, NULL };

		nat_table_name(p, t, sizeof(t));
		if (!policy_is_dual(p) && run(l6, NULL, NULL, NULL) == 0) {
			/* an earlier dual-stack start: its table goes in the same transaction */
			struct nat_buf both = { 0 };

			nat_buf_printf(&both, "delete table inet %s\n%s", t, fw.s);
			if (both.err) {
				rc = both.err;
				nat_buf_free(&both);
				tc_rollback(p, steps, n);
				goto out;
			}
			nat_buf_free(&fw);
			fw = both;
		}
		if (run_logged(a, fw.s, NULL) != 0) {
			log_err("nft refused the ruleset (nothing changed there); rolling back tc");
			tc_rollback(p, steps, n);
			rc = -EIO;
			goto out;
		}
	}
	/* 4. remember what we applied (for a rollback of the next start) */
	mkdir(STATE_DIR, 0755);
	for (size_t i = 0; i < n; i++) {
		struct nat_buf b = { 0 };
		FILE *f;

		render_tc_dev(p, steps[i].rates, env, steps[i].dir, steps[i].dev, &b);
		state_path(p, steps[i].dev, path, sizeof(path));
		f = fopen(path, "w");
		if (f && b.s) {
			fputs(b.s, f);
		}
		if (f)
			fclose(f);
		nat_buf_free(&b);
	}
	if (p->nat.features & POLICY_F_PROC) {
		FILE *f = fopen("/proc/sys/net/ipv4/ip_forward", "w");

		if (f == NULL || fputs("1\n", f) < 0)
			log_warn("PROC: cannot enable /proc/sys/net/ipv4/ip_forward: %s", strerror(errno));
		if (f)
			fclose(f);
	}
	if ((p->nat.features & POLICY_F_PROC) && policy_is_dual(p))
		proc_ipv6_forwarding(p);
out:
	for (size_t i = 0; i < n; i++)
		free(steps[i].prev_batch);
	for (size_t i = 0; i < n_more_rates; i++)
		policy_rates_free(&more_rates[i]);
	free(saved_mangle);
	free(saved_nat);
	free(saved6_mangle);
	free(saved6_filter);
	nat_buf_free(&fw);
	nat_buf_free(&fw6);
	return rc;
}

/* IPv6 forwarding on. A forwarding host ignores router advertisements
 * unless accept_ra is 2: the uplink keeps its own (SLAAC) route that way. */
static void proc_ipv6_forwarding(const struct policy *p)
{
	char path[128], cur[8];
	FILE *f;

	for (size_t up = 0; up < n_uplinks(p); up++) {
		cur[0] = '\0';
		snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_ra", uplink_dev(p, up));
		f = fopen(path, "r");
		if (f) {
			if (fgets(cur, sizeof(cur), f) == NULL)
				cur[0] = '\0';
			fclose(f);
		}
		if (strcmp(cur, "1\n") == 0 && (f = fopen(path, "w")) != NULL) {
			if (fputs("2\n", f) < 0)
				log_warn("PROC: cannot set %s to 2: %s", path, strerror(errno));
			fclose(f);
		}
	}
	f = fopen("/proc/sys/net/ipv6/conf/all/forwarding", "w");
	if (f == NULL || fputs("1\n", f) < 0)
		log_warn("PROC: cannot enable /proc/sys/net/ipv6/conf/all/forwarding: %s", strerror(errno));
	if (f)
		fclose(f);
}

/* Runs (or prints) one stop command; returns its status. */
static int stop_cmd(const char *const argv[], bool dry_run, FILE *out)
{
	int rc = dry_run ? 0 : run(argv, NULL, NULL, NULL);

	/* a dry run prints what it would run; a real one what it removed */
	if (rc == 0) {
		fputs(dry_run ? "" : "removed: ", out);
		for (int i = 0; argv[i]; i++)
			fprintf(out, "%s%s", i ? " " : "", argv[i]);
		fputc('\n', out);
	}
	return rc;
}

int nat_stop(const struct policy *p, bool dry_run, FILE *out)
{
	char t[POLICY_PREFIX_MAX], what[64], path[POLICY_PATH_MAX + 64];
	const char *devs[2 + POLICY_MORE_UPLINKS] = { p->nat.dev_net, p->nat.dev_lan };
	size_t n_devs = 2;
	int rc = 0;

	for (size_t up = 1; up < n_uplinks(p); up++)
		devs[n_devs++] = uplink_dev(p, up);
	nat_table_name(p, t, sizeof(t));
	/* nftables: our table, if there is one */
	{
		const char *list[] = { "nft", "list", "table", "ip", t, NULL };
		const char *del[] = { "nft", "delete", "table", "ip", t, NULL };
		const char *list6[] = { "nft", "list", "table", "inet", t, NULL };
		const char *del6[] = { "nft", "delete", "table", "inet", t, NULL };

		if (dry_run ? !policy_is_dual(p) : run(list, NULL, NULL, NULL) == 0)
			if (stop_cmd(del, dry_run, out) != 0)
				rc = -EIO;
		/* the dual-stack table (a dual-stack policy, or an earlier one) */
		if (dry_run ? policy_is_dual(p) : run(list6, NULL, NULL, NULL) == 0)
			if (stop_cmd(del6, dry_run, out) != 0)
				rc = -EIO;
	}
	/* iptables: the jumps to our chains, then the chains */
	{
		static const char *const tabs[2] = { "mangle", "nat" };
		char cmd[POLICY_PATH_MAX];

		snprintf(cmd, sizeof(cmd), "%s", p->nat.iptables);
		for (int ti = 0; ti < 2; ti++) {
			char *dump = dry_run ? NULL : ipt_save(p, tabs[ti]);
			static const char *const hooks[2][2] = { { "PREROUTING", "FORWARD" },
			                                         { "PREROUTING", "POSTROUTING" } };

			if (!dry_run && (dump == NULL || strstr(dump, p->nat.prefix) == NULL)) {
				free(dump);
				continue;
			}
			for (int h = 0; h < 2; h++) {
				char chain[64];
				const char *del[] = { cmd, "-w", "-t", tabs[ti], "-D", hooks[ti][h], "-j", chain, NULL };
				const char *fl[] = { cmd, "-w", "-t", tabs[ti], "-F", chain, NULL };
				const char *x[] = { cmd, "-w", "-t", tabs[ti], "-X", chain, NULL };

				snprintf(chain, sizeof(chain), "%s_%s", p->nat.prefix, hooks[ti][h]);
				if (!dry_run && !ipt_has_chain(dump, chain))
					continue;
				/* a jump may have been added twice by hand: remove all */
				for (int k = 0; k < 16 && stop_cmd(del, dry_run, out) == 0 && !dry_run; k++)
					;
				stop_cmd(fl, dry_run, out);
				if (stop_cmd(x, dry_run, out) != 0)
					rc = -EIO;
			}
			free(dump);
		}
	}
	/* ip6tables (dual stack on the iptables backend): mangle and the inbound guard */
	if (dry_run ? policy_is_dual(p) && p->nat.backend == POLICY_BACKEND_IPTABLES : true) {
		char cmd6[POLICY_PATH_MAX + 16], chain[64];
		static const char *const tabs6[2] = { "mangle", "filter" };

		nat_ip6tables_cmd(p, cmd6, sizeof(cmd6));
		for (int ti = 0; ti < 2; ti++) {
			char *dump = dry_run ? NULL : ipt_save_cmd(cmd6, tabs6[ti]);

			if (!dry_run && (dump == NULL || strstr(dump, p->nat.prefix) == NULL)) {
				free(dump);
				continue;
			}
			if (ti == 0) {
				snprintf(chain, sizeof(chain), "%s_PREROUTING", p->nat.prefix);
				rc = ipt_drop_chain(cmd6, "mangle", "PREROUTING", chain, dump, dry_run, out) ? -EIO : rc;
				snprintf(chain, sizeof(chain), "%s_FORWARD", p->nat.prefix);
				rc = ipt_drop_chain(cmd6, "mangle", "FORWARD", chain, dump, dry_run, out) ? -EIO : rc;
			} else {
				snprintf(chain, sizeof(chain), "%s_INBOUND", p->nat.prefix);
				rc = ipt_drop_chain(cmd6, "filter", "FORWARD", chain, dump, dry_run, out) ? -EIO : rc;
			}
			free(dump);
		}
	}
	/* tc: our root qdiscs only */
	for (size_t i = 0; i < n_devs; i++) {
		const char *del[] = { p->nat.tc, "qdisc", "del", "dev", devs[i], "root", NULL };
		enum root_kind k = dry_run ? ROOT_OURS : root_kind(p, devs[i], what, sizeof(what));

		if (k == ROOT_FOREIGN)
			log_warn("%s: root qdisc %s is not fairway's; left alone", devs[i], what);
		if (k != ROOT_OURS)
			continue;
		if (stop_cmd(del, dry_run, out) != 0)
			rc = -EIO;
		state_path(p, devs[i], path, sizeof(path));
		if (!dry_run)
			unlink(path);
	}
	return rc;
}

/* ---- live counters ----------------------------------------------------- */

int nat_print_counters(const struct policy *p, const struct policy_rates *r, FILE *out)
{
	const char *devs[2 + POLICY_MORE_UPLINKS] = { p->nat.dev_net, p->nat.dev_lan };
	static const char *const dname[2] = { "upload", "download" };
	char t[POLICY_PREFIX_MAX];
	size_t n_devs = 2;
	int rc = 0;

	for (size_t up = 1; up < n_uplinks(p); up++)
		devs[n_devs++] = uplink_dev(p, up);
	for (size_t d = 0; d < n_devs; d++) {
		const char *a[] = { p->nat.tc, "-s", "class", "show", "dev", devs[d], NULL };
		struct nat_buf txt = { 0 };

		fprintf(out, "%s on %s:\n", dname[d == 1], devs[d]);
		if (run(a, NULL, &txt, NULL) != 0 || txt.s == NULL || strstr(txt.s, "class htb 1:") == NULL) {
			fprintf(out, "  no classes (not started, or the device is gone)\n");
			nat_buf_free(&txt);
			rc = -ENOENT;
			continue;
		}
		fprintf(out, "  %-14s %-8s %14s %10s %8s %8s\n", "user", "class", "bytes", "packets", "drops",
		        "backlog");
		for (long u = -1; u < (long)p->n_users; u++) {
			char want[32];
			const char *name = u < 0 ? "(router/other)" : p->users[u].name;
			const char *c, *sent;
			unsigned long long bytes = 0, pkts = 0, drops = 0, bl = 0;

			/* "class htb 1:20 parent …\n Sent 123 bytes 4 pkt (dropped 0, …)\n
			 *  backlog 0b 0p requeues 0" */
			snprintf(want, sizeof(want), "class htb 1:%u ", u < 0 ? 3u : r->u[u].mark);
			c = strstr(txt.s, want);
			if (c == NULL)
				continue;
			sent = strstr(c, " Sent ");
			if (sent && sscanf(sent, " Sent %llu bytes %llu pkt (dropped %llu", &bytes, &pkts, &drops) < 3)
				continue;
			if (sent && (sent = strstr(sent, " backlog ")) != NULL)
				sscanf(sent, " backlog %*s %llup", &bl);
			fprintf(out, "  %-14s 1:%-6u %14llu %10llu %8llu %8llu\n", name,
			        u < 0 ? 3u : r->u[u].mark, bytes, pkts, drops, bl);
		}
		nat_buf_free(&txt);
	}
	/* nft's per-user counters (first steering rule of each user) */
	nat_table_name(p, t, sizeof(t));
	if (p->nat.backend == POLICY_BACKEND_NFT) {
		const char *a[] = { "nft", "-j", "list", "chain", policy_is_dual(p) ? "inet" : "ip", t, "steer", NULL };
		json_t *j = run_json(a), *arr = json_object_get(j, "nftables"), *e;
		size_t i;

		if (arr)
			fprintf(out, "nft table %s %s, chain steer:\n", policy_is_dual(p) ? "inet" : "ip", t);
		json_array_foreach(arr, i, e) {
			json_t *rule = json_object_get(e, "rule"), *x;
			const char *c = json_string_value(json_object_get(rule, "comment"));
			size_t k;

			if (!rule || !c)
				continue;
			json_array_foreach(json_object_get(rule, "expr"), k, x) {
				json_t *cnt = json_object_get(x, "counter");

				if (cnt)
					fprintf(out, "  %-20s %14lld bytes %10lld packets\n", c,
					        (long long)json_integer_value(json_object_get(cnt, "bytes")),
					        (long long)json_integer_value(json_object_get(cnt, "packets")));
			}
		}
		json_decref(j);
	}
	return rc;
}

/* ------------------------------------------------ stats for metrics/dot */

/* A tc size ("1514b", "15Kb", "1.5Mb") in bytes: tc prints K/M for 1024s. */
static uint64_t tc_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || v < 0)
		return 0;
	if (*end == 'K')
		v *= 1024;
	else if (*end == 'M')
		v *= 1024 * 1024;
	else if (*end == 'G')
		v *= 1024.0 * 1024 * 1024;
	return (uint64_t)v;
}

/* One class's block of `tc -s class show`:
 *   class htb 1:110 parent 1:1 prio 0 rate 2Mbit ceil 10Mbit burst …
 *    Sent 123 bytes 4 pkt (dropped 0, overlimits 0 requeues 0)
 *    backlog 0b 0p requeues 0
 *    lended: 0 borrowed: 0 giants: 0 */
static void tc_class_parse(const char *txt, unsigned minor, struct nat_class_stat *o)
{
	char want[32];
	const char *c, *end, *x;
	unsigned long long a = 0, b = 0, d = 0, ov = 0;

	memset(o, 0, sizeof(*o));
	snprintf(want, sizeof(want), "class htb 1:%u ", minor);
	for (c = strstr(txt, want); c != NULL && c != txt && c[-1] != '\n'; c = strstr(c + 1, want))
		;
	if (c == NULL)
		return;
	end = strstr(c + 1, "\nclass ");
	o->found = true;
	if ((x = strstr(c, " rate ")) != NULL && (end == NULL || x < end))
		sscanf(x, " rate %31s", o->rate);
	if ((x = strstr(c, " ceil ")) != NULL && (end == NULL || x < end))
		sscanf(x, " ceil %31s", o->ceil);
	if ((x = strstr(c, " Sent ")) != NULL && (end == NULL || x < end) &&
	    sscanf(x, " Sent %llu bytes %llu pkt (dropped %llu, overlimits %llu", &a, &b, &d, &ov) >= 3) {
		o->bytes = a;
		o->packets = b;
		o->drops = d;
		o->overlimits = ov;
	}
	if ((x = strstr(c, " backlog ")) != NULL && (end == NULL || x < end)) {
		o->backlog_bytes = tc_size(x + 9);
		if ((x = strchr(x + 9, ' ')) != NULL && sscanf(x, " %llup", &a) == 1)
			o->backlog_pkts = a;
	}
	if ((x = strstr(c, " lended: ")) != NULL && (end == NULL || x < end) &&
	    sscanf(x, " lended: %llu borrowed: %llu", &a, &b) == 2) {
		o->lended = a;
		o->borrowed = b;
	}
}

unsigned nat_stat_minor(const struct policy_rates *r, size_t slot)
{
	return slot == NAT_SLOT_DEV ? 2 : slot == NAT_SLOT_USERS ? 1 : slot == NAT_SLOT_OTHER ? 3
	     : r->u[slot - NAT_SLOT_USER0].mark;
}

int nat_read_stats(const struct policy *p, const struct policy_rates *r, struct nat_class_stat *out)
{
	const char *devs[2] = { p->nat.dev_net, p->nat.dev_lan };
	size_t n = NAT_SLOT_USER0 + r->n;
	int rc = 0;

	for (int d = 0; d < 2; d++) {
		const char *a[] = { p->nat.tc, "-s", "class", "show", "dev", devs[d], NULL };
		struct nat_buf txt = { 0 };

		if (run(a, NULL, &txt, NULL) != 0 || txt.s == NULL || strstr(txt.s, "class htb 1:") == NULL) {
			for (size_t i = 0; i < n; i++)
				memset(&out[d * n + i], 0, sizeof(out[0]));
			rc = -ENOENT;
		} else {
			for (size_t i = 0; i < n; i++)
				tc_class_parse(txt.s, nat_stat_minor(r, i), &out[d * n + i]);
		}
		nat_buf_free(&txt);
	}
	return rc;
}

static const char *slot_name(const struct policy *p, size_t slot)
{
	return slot == NAT_SLOT_DEV ? "(device)" : slot == NAT_SLOT_USERS ? "(users)"
	     : slot == NAT_SLOT_OTHER ? "(router/other)" : p->users[slot - NAT_SLOT_USER0].name;
}

int nat_render_prometheus(const struct policy *p, const struct policy_rates *r,
                          const struct nat_class_stat *st, struct prom_buf *b)
{
	static const char *const dirs[2] = { "up", "down" };
	size_t n = NAT_SLOT_USER0 + r->n;
	static const struct { const char *name, *type, *help; size_t off; } fam[] = {
		{ "fairway_nat_class_bytes_total", "counter", "Bytes sent by the class (tc).",
		  offsetof(struct nat_class_stat, bytes) },
		{ "fairway_nat_class_packets_total", "counter", "Packets sent by the class.",
		  offsetof(struct nat_class_stat, packets) },
		{ "fairway_nat_class_drops_total", "counter", "Packets the class dropped.",
		  offsetof(struct nat_class_stat, drops) },
		{ "fairway_nat_class_overlimits_total", "counter", "Times the class was over its rate.",
		  offsetof(struct nat_class_stat, overlimits) },
		{ "fairway_nat_class_borrowed_total", "counter",
		  "Packets the class sent on capacity borrowed from its parent (HTB).",
		  offsetof(struct nat_class_stat, borrowed) },
		{ "fairway_nat_class_backlog_bytes", "gauge", "Bytes queued in the class.",
		  offsetof(struct nat_class_stat, backlog_bytes) },
		{ "fairway_nat_class_backlog_packets", "gauge", "Packets queued in the class.",
		  offsetof(struct nat_class_stat, backlog_pkts) },
	};

	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		prom_family(b, fam[f].name, fam[f].type, fam[f].help);
		for (int d = 0; d < 2; d++)
			for (size_t i = 0; i < n; i++) {
				const struct nat_class_stat *s = &st[(size_t)d * n + i];
				char cls[16];

				if (!s->found)
					continue;
				snprintf(cls, sizeof(cls), "1:%u", nat_stat_minor(r, i));
				prom_sample(b, fam[f].name,
				            (struct prom_label[]){ { "user", slot_name(p, i) }, { "dir", dirs[d] },
				                                   { "class", cls } }, 3,
				            (double)*(const uint64_t *)(const void *)((const char *)s + fam[f].off));
			}
	}
	prom_family(b, "fairway_nat_user_rate_bytes_per_second", "gauge", "A user's guaranteed rate (the policy's).");
	for (int d = 0; d < 2; d++)
		for (size_t u = 0; u < r->n; u++)
			prom_sample(b, "fairway_nat_user_rate_bytes_per_second",
			            (struct prom_label[]){ { "user", p->users[u].name }, { "dir", dirs[d] } }, 2,
			            (double)(d ? r->u[u].rate_down : r->u[u].rate_up));
	prom_family(b, "fairway_nat_user_ceiling_bytes_per_second", "gauge", "A user's ceiling (the policy's).");
	for (int d = 0; d < 2; d++)
		for (size_t u = 0; u < r->n; u++)
			prom_sample(b, "fairway_nat_user_ceiling_bytes_per_second",
			            (struct prom_label[]){ { "user", p->users[u].name }, { "dir", dirs[d] } }, 2,
			            (double)(d ? r->u[u].ceil_down : r->u[u].ceil_up));
	prom_family(b, "fairway_nat_up", "gauge", "1 when both devices have fairway's classes.");
	prom_sample(b, "fairway_nat_up", NULL, 0, st[NAT_SLOT_DEV].found && st[n + NAT_SLOT_DEV].found);
	return b->err;
}

int nat_render_dot(const struct policy *p, const struct policy_rates *r,
                   const struct nat_class_stat *st0, const struct nat_class_stat *st1, double dt,
                   struct dot_buf *b)
{
	static const char *const dname[2] = { "upload", "download" };
	const char *devs[2] = { p->nat.dev_net, p->nat.dev_lan };
	size_t n = NAT_SLOT_USER0 + r->n;

	dot_begin(b, "fairway nat");
	for (int d = 0; d < 2; d++) {
		char root[96], id[128], parent[128], label[512], now[32], br[32];

		snprintf(root, sizeof(root), "%s %s", dname[d], devs[d]);
		dot_node(b, root, (struct dot_attr[]){ { "label", root }, { "shape", "plaintext" } }, 2);
		for (size_t i = 0; i < n; i++) {
			const struct nat_class_stat *a = &st0[(size_t)d * n + i], *z = &st1[(size_t)d * n + i];
			uint64_t rate = dt > 0 && z->bytes >= a->bytes ? (uint64_t)((double)(z->bytes - a->bytes) / dt) : 0;
			uint64_t conf = i >= NAT_SLOT_USER0
			              ? (d ? r->u[i - NAT_SLOT_USER0].rate_down : r->u[i - NAT_SLOT_USER0].rate_up) : 0;
			bool borrowing = i >= NAT_SLOT_USER0 && z->borrowed > a->borrowed && rate > conf;

			if (!z->found)
				continue;
			snprintf(id, sizeof(id), "%s 1:%u", root, nat_stat_minor(r, i));
			snprintf(label, sizeof(label), "%s 1:%u\nrate %s ceil %s\nnow %s\nbacklog %llub %llup",
			         slot_name(p, i), nat_stat_minor(r, i), z->rate[0] ? z->rate : "?",
			         z->ceil[0] ? z->ceil : "?", policy_rate_str(rate, now, sizeof(now)),
			         (unsigned long long)z->backlog_bytes, (unsigned long long)z->backlog_pkts);
			dot_node(b, id, (struct dot_attr[]){ { "label", label },
			                                     { "color", borrowing ? "#d95f02" : "black" } }, 2);
			if (i == NAT_SLOT_DEV)
				snprintf(parent, sizeof(parent), "%s", root);
			else if (i == NAT_SLOT_USERS || i == NAT_SLOT_OTHER)
				snprintf(parent, sizeof(parent), "%s 1:2", root);
			else
				snprintf(parent, sizeof(parent), "%s 1:1", root);
			dot_edge(b, parent, id, NULL, 0);
			if (borrowing) {
				snprintf(label, sizeof(label), "borrowing %s", policy_rate_str(rate - conf, br, sizeof(br)));
				dot_edge(b, parent, id, (struct dot_attr[]){ { "label", label }, { "style", "dashed" },
				                                             { "color", "#d95f02" },
				                                             { "fontcolor", "#d95f02" } }, 4);
			}
		}
	}
	dot_end(b);
	return b->err;
}
