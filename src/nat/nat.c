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

	nat_buf_printf(b, "\t\t# %s: users into their HTB class on %s (skb->priority = class id)\n",
	               d == DIR_UP ? "upload" : "download", dev);
	for (size_t i = 0; i < p->n_users; i++) {
		const struct policy_user *u = &p->users[i];
		unsigned m = r->u[i].mark;
		char set[1024];

		user_addr_set(u, set, sizeof(set));
		nat_buf_printf(b, "\t\toifname \"%s\" %s { %s } counter meta priority set 1:%u comment \"%s %s\"\n",
		               dev, match, set, band_minor(p, m, 2), u->name, d == DIR_UP ? "up" : "down");
		if (band_minor(p, m, 1) == band_minor(p, m, 2))
			continue;   /* sfq: PRIO picks the band */
		nat_buf_printf(b, "\t\toifname \"%s\" %s { %s } meta priority set ip dscp map { 0x%02x : 1:%u, 0x%02x : 1:%u",
		               dev, match, set, DSCP_INTERACTIVE, band_minor(p, m, 1), DSCP_BULK,
		               band_minor(p, m, 3));
		if (p->nat.ipp2p)
			nat_buf_printf(b, ", 0x%02x : 1:%u", DSCP_P2P, band_minor(p, m, 4));
		nat_buf_printf(b, " }\n");
	}
}

int nat_render_nft(const struct policy *p, const struct policy_rates *r,
                   const struct nat_env *env, struct nat_buf *b)
{
	char t[POLICY_PREFIX_MAX], ip[20];
	unsigned f = p->nat.features;

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
					nat_buf_printf(b, "\t\tiifname \"%s\" %s dport %s dnat to %s\n", p->nat.dev_net,
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
			nat_buf_printf(b, "\t\toifname \"%s\" ip saddr { %s } masquerade\n", p->nat.dev_net, set);
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

static void ipt_steer(const struct policy *p, const struct policy_rates *r, enum dir d,
                      const char *chain, struct nat_buf *b)
{
	const char *dev = d == DIR_UP ? p->nat.dev_net : p->nat.dev_lan;
	const char *opt = d == DIR_UP ? "-s" : "-d";

	for (size_t i = 0; i < p->n_users; i++) {
		unsigned m = r->u[i].mark;

		for (size_t a = 0; a < p->users[i].n_addrs; a++) {
			char ip[20];

			ip_str(p->users[i].addrs[a].ip, ip, sizeof(ip));
			nat_buf_printf(b, "-A %s -o %s %s %s -m comment --comment \"%s %s\" -j CLASSIFY --set-class 1:%u\n",
			               chain, dev, opt, ip, p->users[i].name, d == DIR_UP ? "up" : "down",
			               band_minor(p, m, 2));
			if (band_minor(p, m, 1) == band_minor(p, m, 2))
				continue;
			nat_buf_printf(b, "-A %s -o %s %s %s -m dscp --dscp 0x%02x -j CLASSIFY --set-class 1:%u\n",
			               chain, dev, opt, ip, DSCP_INTERACTIVE, band_minor(p, m, 1));
			nat_buf_printf(b, "-A %s -o %s %s %s -m dscp --dscp 0x%02x -j CLASSIFY --set-class 1:%u\n",
			               chain, dev, opt, ip, DSCP_BULK, band_minor(p, m, 3));
			if (p->nat.ipp2p)
				nat_buf_printf(b, "-A %s -o %s %s %s -m dscp --dscp 0x%02x -j CLASSIFY --set-class 1:%u\n",
				               chain, dev, opt, ip, DSCP_P2P, band_minor(p, m, 4));
		}
	}
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

		ip_str(fw->to.ip, ip, sizeof(ip));
		port_range_str(fw, ':', ports, sizeof(ports));
		for (unsigned pr = POLICY_PROTO_TCP; pr <= POLICY_PROTO_UDP; pr <<= 1)
			if (fw->protos & pr)
				nat_buf_printf(b, "-A %s -i %s -p %s --dport %s -j DNAT --to-destination %s\n", pre,
				               p->nat.dev_net, pr == POLICY_PROTO_TCP ? "tcp" : "udp", ports, ip);
	}
	for (size_t i = 0; (f & POLICY_F_NAT) && i < p->n_users; i++)
		for (size_t a = 0; a < p->users[i].n_addrs; a++) {
			ip_str(p->users[i].addrs[a].ip, ip, sizeof(ip));
			nat_buf_printf(b, "-A %s -o %s -s %s -j MASQUERADE\n", post, p->nat.dev_net, ip);
		}
	nat_buf_printf(b, "COMMIT\n");
	if (env->reset)
		nat_buf_printf(b, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n");
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
}

static void render_tc_dev(const struct policy *p, const struct policy_rates *r,
                          const struct nat_env *env, enum dir d, struct nat_buf *b)
{
	const char *dev = d == DIR_UP ? p->nat.dev_net : p->nat.dev_lan;
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
	nat_buf_printf(b, "class add dev %s parent 1: classid 1:2 htb rate %llubps ceil %llubps %s\n", dev,
	               (unsigned long long)dev_rate, (unsigned long long)dev_rate, o);
	nat_buf_printf(b, "class add dev %s parent 1:2 classid 1:3 htb rate %llubps ceil %llubps %s prio 5\n",
	               dev, (unsigned long long)local, (unsigned long long)local_ceil, o);
	if (p->nat.leaf == POLICY_LEAF_SFQ)
		tc_prio(p, env, dev, 3, 2, 3, local_ceil, b);
	else
		tc_leaf(p, env, dev, 3, 2, local_ceil, 10, b);
	nat_buf_printf(b, "class add dev %s parent 1:2 classid 1:1 htb rate %llubps ceil %llubps %s\n", dev,
	               (unsigned long long)users, (unsigned long long)users_ceil, o);
	for (size_t i = 0; i < p->n_users; i++) {
		const struct policy_user_rates *u = &r->u[i];
		uint64_t rate = d == DIR_UP ? u->rate_up : u->rate_down;
		uint64_t ceil = d == DIR_UP ? u->ceil_up : u->ceil_down;
		unsigned m = u->mark;

		nat_buf_printf(b, "# user %s\n", p->users[i].name);
		nat_buf_printf(b, "class add dev %s parent 1:1 classid 1:%u htb rate %llubps ceil %llubps %s\n",
		               dev, m, (unsigned long long)rate, (unsigned long long)ceil, o);
		if (p->nat.class_mode == POLICY_CLASS_WONDER) {
			/* Wondershaper's children, rates from the user's ceil (Q5) */
			static const unsigned tenth[3] = { 10, 9, 8 };
			unsigned nc = p->nat.ipp2p ? 3 : 2;

			for (unsigned c = 0; c < nc; c++) {
				uint64_t cr = ceil * tenth[c] / 10;

				nat_buf_printf(b, "class add dev %s parent 1:%u classid 1:%u htb rate %llubps ceil %llubps burst 6k %s prio %u\n",
				               dev, m, m + c + 1, (unsigned long long)cr, (unsigned long long)cr, o, c + 1);
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
				nat_buf_printf(b, "class add dev %s parent 1:%u classid 1:%u htb rate %llubps ceil %llubps %s prio %u\n",
				               dev, m, m + c + 1, (unsigned long long)br, (unsigned long long)ceil, o, c);
				tc_leaf(p, env, dev, m + c + 1, m + c + 1, ceil, 10, b);
			}
		}
	}
}

int nat_render_tc(const struct policy *p, const struct policy_rates *r,
                  const struct nat_env *env, struct nat_buf *b)
{
	nat_buf_printf(b, "# fairway nat: %s — tc -batch; rates in bytes/s (\"bps\"), class ids as in "
	               "Fair NAT: user 1:<first octet × 10>\n", p->file);
	if (p->nat.features & POLICY_F_QOS_UP)
		render_tc_dev(p, r, env, DIR_UP, b);
	if (p->nat.features & POLICY_F_QOS_DOWN)
		render_tc_dev(p, r, env, DIR_DOWN, b);
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
	nat_buf_printf(b, "# devices: LAN %s, Internet %s (MTU %u = HTB quantum)\n", p->nat.dev_lan,
	               p->nat.dev_net, env->mtu);
	nat_buf_printf(b, "# firewall: %s %s; tree: class mode %s, leaf %s, borrow %s\n",
	               p->nat.backend == POLICY_BACKEND_NFT ? "nft table ip" : "iptables chains",
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
		nat_buf_printf(b, "# download: line %s - %u%% = %s; %zu users x %s; LAN %s, router gets "
		               "LAN - users = %s (quirk Q6)\n",
		               policy_rate_str(p->link.rate_down, r1, sizeof(r1)), p->link.sub_percent,
		               policy_rate_str(r->line_down, r2, sizeof(r2)), p->n_users,
		               policy_rate_str(r->user_down, r3, sizeof(r3)),
		               policy_rate_str(r->lan, r5, sizeof(r5)),
		               policy_rate_str(r->local_down, r6, sizeof(r6)));
	}
	nat_buf_printf(b, "# %-12s %-6s %-11s %-11s %-11s %-11s addresses\n", "user", "class",
	               "up rate", "up ceil", "down rate", "down ceil");
	for (size_t i = 0; i < p->n_users; i++) {
		const struct policy_user_rates *u = &r->u[i];
		char set[1024], cls[16];

		snprintf(cls, sizeof(cls), "1:%u", u->mark);
		user_addr_set(&p->users[i], set, sizeof(set));
		nat_buf_printf(b, "# %-12s %-6s %-11llu %-11llu %-11llu %-11llu %s\n", p->users[i].name, cls,
		               (unsigned long long)u->rate_up, (unsigned long long)u->ceil_up,
		               (unsigned long long)u->rate_down, (unsigned long long)u->ceil_down, set);
	}
	for (size_t i = 0; i < p->n_fwds; i++) {
		char ip[20];

		ip_str(p->fwds[i].to.ip, ip, sizeof(ip));
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

static char *ipt_save(const struct policy *p, const char *table)
{
	char cmd[POLICY_PATH_MAX + 8];
	const char *a[] = { cmd, "-t", table, NULL };
	struct nat_buf out = { 0 };

	snprintf(cmd, sizeof(cmd), "%s-save", p->nat.iptables);
	if (run(a, NULL, &out, NULL) != 0) {
		nat_buf_free(&out);
		return NULL;
	}
	return out.s ? out.s : strdup("");
}

int nat_apply(const struct policy *p, const struct policy_rates *r, struct nat_env *env)
{
	struct dev_step steps[2];
	size_t n = 0;
	struct nat_buf fw = { 0 };
	char *saved_mangle = NULL, *saved_nat = NULL;
	char what[64], path[POLICY_PATH_MAX + 64], cmd[POLICY_PATH_MAX + 16];
	int rc = 0;

	memset(steps, 0, sizeof(steps));
	if (p->nat.features & POLICY_F_QOS_UP)
		steps[n++] = (struct dev_step){ .dev = p->nat.dev_net, .dir = DIR_UP };
	if (p->nat.features & POLICY_F_QOS_DOWN)
		steps[n++] = (struct dev_step){ .dev = p->nat.dev_lan, .dir = DIR_DOWN };
	/* 1. look before touching anything */
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
	} else {
		rc = nat_render_nft(p, r, env, &fw);
	}
	if (rc)
		goto out;
	/* 2. tc, device by device; any failure puts every device back */
	for (size_t i = 0; i < n; i++) {
		struct nat_buf b = { 0 };

		render_tc_dev(p, r, env, steps[i].dir, &b);
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
	} else {
		const char *a[] = { "nft", "-f", "-", NULL };

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

		render_tc_dev(p, r, env, steps[i].dir, &b);
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
out:
	for (size_t i = 0; i < n; i++)
		free(steps[i].prev_batch);
	free(saved_mangle);
	free(saved_nat);
	nat_buf_free(&fw);
	return rc;
}

/* Runs (or prints) one stop command; returns its status. */
static int stop_cmd(const char *const argv[], bool dry_run, FILE *out)
{
	if (dry_run) {
		for (int i = 0; argv[i]; i++)
			fprintf(out, "%s%s", i ? " " : "", argv[i]);
		fputc('\n', out);
		return 0;
	}
	return run(argv, NULL, NULL, NULL);
}

int nat_stop(const struct policy *p, bool dry_run, FILE *out)
{
	char t[POLICY_PREFIX_MAX], what[64], path[POLICY_PATH_MAX + 64];
	const char *devs[2] = { p->nat.dev_net, p->nat.dev_lan };
	int rc = 0;

	nat_table_name(p, t, sizeof(t));
	/* nftables: our table, if there is one */
	{
		const char *list[] = { "nft", "list", "table", "ip", t, NULL };
		const char *del[] = { "nft", "delete", "table", "ip", t, NULL };

		if (dry_run || run(list, NULL, NULL, NULL) == 0)
			if (stop_cmd(del, dry_run, out) != 0)
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
	/* tc: our root qdiscs only */
	for (int i = 0; i < 2; i++) {
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
	const char *devs[2] = { p->nat.dev_net, p->nat.dev_lan };
	static const char *const dname[2] = { "upload", "download" };
	char t[POLICY_PREFIX_MAX];
	int rc = 0;

	for (int d = 0; d < 2; d++) {
		const char *a[] = { p->nat.tc, "-s", "class", "show", "dev", devs[d], NULL };
		struct nat_buf txt = { 0 };

		fprintf(out, "%s on %s:\n", dname[d], devs[d]);
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
		const char *a[] = { "nft", "-j", "list", "chain", "ip", t, "steer", NULL };
		json_t *j = run_json(a), *arr = json_object_get(j, "nftables"), *e;
		size_t i;

		if (arr)
			fprintf(out, "nft table ip %s, chain steer:\n", t);
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
