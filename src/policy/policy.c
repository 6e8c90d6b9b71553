/* policy — the shared model: init and free, diagnostics, loading (which
 * reader a file gets), the cross-checks both readers end with, the LAN
 * resolution and the lookups. The readers are policy_ini.c and
 * policy_fairnat.c, the rate arithmetic policy_rate.c, the small lexers
 * policy_lex.c; policy_int.h is what they share. See policy.h. */
#include "policy.h"
#include "policy_int.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- diagnostics ------------------------------------------------------- */

void policy_diag_add(struct policy *p, enum policy_diag_level lvl, int line, const char *fmt, ...)
{
	struct policy_diag *d;
	va_list ap;

	if (lvl == POLICY_ERROR)
		p->n_errors++;
	d = policy_grow(p->diags, p->n_diags, sizeof(*d));
	if (d == NULL)
		return;   /* the count above still makes the parse fail */
	p->diags = d;
	d = &p->diags[p->n_diags++];
	d->level = lvl;
	d->line = line;
	va_start(ap, fmt);
	vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
	va_end(ap);
}


static const char *const level_names[] = { "error", "warning", "note" };

size_t policy_format_diags(const struct policy *p, enum policy_diag_level max_level,
                           char *out, size_t outlen)
{
	size_t need = 0;

	if (outlen > 0)
		out[0] = '\0';
	for (size_t i = 0; i < p->n_diags; i++) {
		const struct policy_diag *d = &p->diags[i];
		char line[POLICY_PATH_MAX + POLICY_MSG_MAX + 40];
		int n;

		if (d->level > max_level)
			continue;
		if (d->line > 0)
			n = snprintf(line, sizeof(line), "%s:%d: %s: %s\n", p->file, d->line,
			             level_names[d->level], d->msg);
		else
			n = snprintf(line, sizeof(line), "%s: %s: %s\n", p->file,
			             level_names[d->level], d->msg);
		if (n < 0)
			continue;
		if (need + (size_t)n < outlen)
			memcpy(out + need, line, (size_t)n + 1);
		need += (size_t)n;
	}
	return need;
}

/* ---- init / free ------------------------------------------------------- */

void policy_init(struct policy *p, enum policy_format fmt)
{
	memset(p, 0, sizeof(*p));
	p->format = fmt;
	snprintf(p->file, sizeof(p->file), "%s", "(policy)");
	p->link.sub_percent = 5;
	p->link.local_percent = 5;
	p->link.borrow = true;
	p->nat.class_mode = POLICY_CLASS_DEFAULT;
	p->nat.leaf = POLICY_LEAF_FQ_CODEL;
	p->nat.backend = POLICY_BACKEND_NFT;
	p->nat.p2p_bytes = 0;
	snprintf(p->nat.iptables, sizeof(p->nat.iptables), "iptables");
	snprintf(p->nat.tc, sizeof(p->nat.tc), "tc");
	snprintf(p->portal.listen, sizeof(p->portal.listen), "127.0.0.1:8008");
	p->portal.privacy = POLICY_PRIVACY_COMMUNITY;
	p->portal.guest = true;
	/* the same defaults as `fairway portal` without a file */
	p->portal.conns_per_ip = 128;
	p->portal.pending_handshakes = 512;
	p->portal.tunnels_per_peer = 256;
	p->portal.idle_timeout_ms = 600000;
	p->portal.handshake_timeout_ms = 15000;
	p->portal.pace_ms = -1;
	if (fmt == POLICY_FMT_FAIRNAT) {
		/* Fair NAT 0.80 configure() defaults; FEATURES is resolved after
		 * reading (quirk Q1). Rates are kbit in 1024 units: 128 kbit =
		 * 16384 B/s. */
		snprintf(p->nat.dev_lan, sizeof(p->nat.dev_lan), "eth0");
		snprintf(p->nat.dev_net, sizeof(p->nat.dev_net), "ppp0");
		p->link.rate_lan = 5000u * 128u;
		p->link.rate_up = 128u * 128u;
		p->link.rate_down = 768u * 128u;
		p->nat.leaf = POLICY_LEAF_SFQ;
		snprintf(p->nat.prefix, sizeof(p->nat.prefix), "FAIRNAT");
		p->has_nat = true;
	} else {
		p->nat.features = POLICY_F_NAT | POLICY_F_FORWARD | POLICY_F_QOS_DOWN |
		                  POLICY_F_QOS_UP | POLICY_F_TOS;
		snprintf(p->nat.prefix, sizeof(p->nat.prefix), "FAIRWAY");
	}
}

const char *policy_diag_str(const struct policy *p, const struct policy_diag *d,
                            char *buf, size_t len)
{
	static const char *const lv[] = { "error", "warning", "note" };

	if (d->line > 0)
		snprintf(buf, len, "%s:%d: %s: %s", p->file, d->line, lv[d->level], d->msg);
	else
		snprintf(buf, len, "%s: %s: %s", p->file, lv[d->level], d->msg);
	return buf;
}

void policy_free(struct policy *p)
{
	for (size_t i = 0; i < p->n_users; i++) {
		for (size_t j = 0; j < p->users[i].n_ids; j++)
			free(p->users[i].ids[j]);
		free(p->users[i].ids);
		free(p->users[i].addrs);
		free(p->users[i].nets6);
		free(p->users[i].macs);
	}
	for (size_t i = 0; i < p->portal.n_deny; i++)
		free(p->portal.deny[i]);
	free(p->portal.deny);
	free(p->portal.deny_lines);
	p->portal.deny = NULL;
	p->portal.deny_lines = NULL;
	p->portal.n_deny = 0;
	free(p->users);
	free(p->fwds);
	free(p->nat.lan6);
	p->nat.lan6 = NULL;
	p->nat.n_lan6 = 0;
	free(p->diags);
	p->users = NULL;
	p->fwds = NULL;
	p->diags = NULL;
	p->n_users = p->n_fwds = p->n_diags = 0;
}

/* ---- loading ----------------------------------------------------------- */

int policy_load(struct policy *p, const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	const char *s;
	int rc;

	policy_init(p, POLICY_FMT_FAIRWAY);
	snprintf(p->file, sizeof(p->file), "%s", path);
	if (f == NULL) {
		rc = -errno;
		perr(p, 0, "cannot open: %s", strerror(errno));
		return rc;
	}
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *n;

			cap = cap ? cap * 2 : 8192;
			if (cap > (1u << 24)) {
				perr(p, 0, "file larger than 16 MB");
				rc = -EFBIG;
				goto out;
			}
			n = realloc(buf, cap);
			if (n == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			buf = n;
		}
		size_t r = fread(buf + len, 1, 4096, f);
		len += r;
		if (r < 4096)
			break;
	}
	if (ferror(f)) {
		rc = -EIO;
		perr(p, 0, "read error");
		goto out;
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		rc = -EINVAL;
		perr(p, 0, "binary file (NUL byte)");
		goto out;
	}
	/* The first meaningful line decides: "[…]" is fairway's INI. */
	for (s = buf; *s;) {
		s += strspn(s, " \t\r\n");
		if (*s == '#' || *s == ';')
			s += strcspn(s, "\n");
		else
			break;
	}
	if (*s == '[') {
		rc = policy_parse_ini(p, buf, path);
	} else {
		policy_free(p);
		policy_init(p, POLICY_FMT_FAIRNAT);
		rc = policy_parse_fairnat(p, buf, len, path);
	}
out:
	free(buf);
	fclose(f);
	return rc;
}

/* ---- validation -------------------------------------------------------- */

int policy_validate(struct policy *p)
{
	char b1[64], b2[64];
	uint64_t sum_up = 0, sum_down = 0, line_up, line_down, avail_up;
	int tip_up = 0, tip_down = 0;   /* the user whose rate tips it over */

	for (size_t i = 0; i < p->n_users; i++) {
		struct policy_user *u = &p->users[i];

		if (p->format == POLICY_FMT_FAIRWAY && u->n_ids == 0 && u->n_addrs == 0 &&
		    u->n_nets6 == 0 && u->n_macs == 0)
			perr(p, u->line, "user %s has neither an id (portal) nor an addr (router)", u->name);
		for (size_t j = 0; j < u->n_ids; j++)
			for (size_t k = i; k < p->n_users; k++)
				for (size_t m = (k == i ? j + 1 : 0); m < p->users[k].n_ids; m++)
					if (strcmp(u->ids[j], p->users[k].ids[m]) == 0)
						perr(p, u->line, "identity %.12s… is listed twice (users %s and %s)",
						     u->ids[j], u->name, p->users[k].name);
		for (size_t j = 0; j < u->n_addrs; j++)
			for (size_t k = i; k < p->n_users; k++)
				for (size_t m = (k == i ? j + 1 : 0); m < p->users[k].n_addrs; m++)
					if (policy_addr_eq(&u->addrs[j], &p->users[k].addrs[m])) {
						policy_addr_str(&u->addrs[j], b1, sizeof(b1));
						perr(p, p->users[k].addrs[m].line, "address %s is listed twice "
						     "(users %s and %s; first at line %d)", b1, u->name,
						     p->users[k].name, u->addrs[j].line);
					}
		if (u->rate_up && u->ceil_up && u->ceil_up < u->rate_up)
			pwarn(p, u->line, "user %s: ceil-up is below rate-up; the rate is lowered to the ceil",
			      u->name);
		if (u->rate_down && u->ceil_down && u->ceil_down < u->rate_down)
			pwarn(p, u->line, "user %s: ceil-down is below rate-down; the rate is lowered to the "
			      "ceil", u->name);
		sum_up += u->rate_up;
		sum_down += u->rate_down;
		if (u->rate_up)
			tip_up = u->line;
		if (u->rate_down)
			tip_down = u->line;
	}
	/* IPv6 entries and MACs: one user each, no prefix overlapping another */
	{
		size_t classes = 0;

		for (size_t i = 0; i < p->n_users; i++) {
			struct policy_user *u = &p->users[i];

			classes++;
			for (size_t j = 0; j < u->n_nets6; j++)
				for (size_t k = i; k < p->n_users; k++)
					for (size_t m = (k == i ? j + 1 : 0); m < p->users[k].n_nets6; m++) {
						const struct policy_net6 *x = &u->nets6[j], *y = &p->users[k].nets6[m];

						if (!policy_net6_overlap(x, y))
							continue;
						policy_net6_str(x, b1, sizeof(b1));
						policy_net6_str(y, b2, sizeof(b2));
						if (x->plen == y->plen)
							perr(p, y->line, "address %s is listed twice (users %s and %s; "
							     "first at line %d)", b1, u->name, p->users[k].name, x->line);
						else
							perr(p, y->line, "%s overlaps %s (users %s and %s, line %d): "
							     "an address belongs to one user only", b2, b1, p->users[k].name,
							     u->name, x->line);
					}
			for (size_t j = 0; j < u->n_macs; j++)
				for (size_t k = i; k < p->n_users; k++)
					for (size_t m = (k == i ? j + 1 : 0); m < p->users[k].n_macs; m++)
						if (memcmp(u->macs[j].a, p->users[k].macs[m].a, 6) == 0)
							perr(p, p->users[k].macs[m].line, "MAC %s is listed twice (users "
							     "%s and %s; first at line %d)", policy_mac_str(&u->macs[j], b1,
							     sizeof(b1)), u->name, p->users[k].name, u->macs[j].line);
		}
		if (p->has_nat && classes > 254)
			perr(p, 0, "%zu users: the router plane has class ids for 254", classes);
	}
	/* the class ids derive from the first address' last octet */
	for (size_t i = 0; i < p->n_users; i++)
		for (size_t k = i + 1; k < p->n_users; k++)
			if (p->users[i].n_addrs && p->users[k].n_addrs &&
			    (p->users[i].addrs[0].ip & 255) == (p->users[k].addrs[0].ip & 255) &&
			    !policy_addr_eq(&p->users[i].addrs[0], &p->users[k].addrs[0]))
				perr(p, p->users[k].line, "users %s and %s both start with an address ending "
				     "in .%u: class ids derive from that octet, list another address first",
				     p->users[i].name, p->users[k].name, p->users[i].addrs[0].ip & 255);
	/* forwards: a target, and no two overlapping per protocol */
	for (size_t i = 0; i < p->n_fwds; i++) {
		struct policy_forward *f = &p->fwds[i];

		if (f->to.ip == 0 && f->user != SIZE_MAX) {
			if (p->users[f->user].n_addrs == 0 && p->users[f->user].n_ids == 0 &&
			    p->users[f->user].n_nets6 == 0)
				perr(p, f->line, "forward in user %s needs an addr (or \"to ADDRESS\")",
				     p->users[f->user].name);
		}
		for (size_t k = 0; k < i; k++) {
			struct policy_forward *g = &p->fwds[k];

			if ((f->protos & g->protos) && f->lo <= g->hi && g->lo <= f->hi)
				perr(p, f->line, "port forward %u-%u overlaps %u-%u (line %d): a port can "
				     "be forwarded to one host only", f->lo, f->hi, g->lo, g->hi, g->line);
		}
		if (f->user == SIZE_MAX && f->to.octet_only)
			for (size_t k = 0; k < p->n_users; k++)
				for (size_t m = 0; m < p->users[k].n_addrs; m++)
					if (policy_addr_eq(&p->users[k].addrs[m], &f->to))
						f->user = k;
		if (f->user == SIZE_MAX && f->to.ip != 0) {
			policy_addr_str(&f->to, b1, sizeof(b1));
			pwarn(p, f->line, "ports %u-%u go to %s, which is in no user: its download is "
			      "shaped in the default class", f->lo, f->hi, b1);
		}
	}
	if (!p->has_nat && !p->has_portal)
		return p->n_errors ? -EINVAL : 0;
	/* rates that do not fit */
	line_up = p->link.rate_up * (100 - p->link.sub_percent) / 100;
	line_down = p->link.rate_down * (100 - p->link.sub_percent) / 100;
	for (size_t k = 0; k < p->nat.n_more; k++)
		line_down += p->nat.more[k].rate_down * (100 - p->link.sub_percent) / 100;
	avail_up = line_up * (100 - p->link.local_percent) / 100;
	/* a portal without link rates relays unshaped; a router needs them */
	if (p->link.rate_up == 0 && p->has_nat)
		perr(p, 0, "rate-up (the line's upload rate) is not set");
	if (p->link.rate_down == 0 && p->has_nat)
		perr(p, 0, "rate-down (the line's download rate) is not set");
	if (p->link.rate_up && sum_up > avail_up)
		perr(p, tip_up, "the users' upload rates add up to %s, above the %s the line gives users",
		     policy_rate_str(sum_up, b1, sizeof(b1)), policy_rate_str(avail_up, b2, sizeof(b2)));
	if (p->link.rate_down && sum_down > line_down)
		perr(p, tip_down, "the users' download rates add up to %s, above the line's %s",
		     policy_rate_str(sum_down, b1, sizeof(b1)), policy_rate_str(line_down, b2, sizeof(b2)));
	if (p->has_nat) {
		/* more uplinks: each needs its rates, and the users' must fit each */
		for (size_t k = 0; k < p->nat.n_more; k++) {
			const struct policy_uplink *u = &p->nat.more[k];
			uint64_t avail = u->rate_up * (100 - p->link.sub_percent) / 100 *
			                 (100 - p->link.local_percent) / 100;

			if (u->rate_up == 0 || u->rate_down == 0)
				perr(p, u->line, "uplink %s needs its rates: [uplink %s] rate-up = … and "
				     "rate-down = …", u->dev, u->dev);
			else if (sum_up > avail)
				perr(p, tip_up, "the users' upload rates add up to %s, above the %s uplink %s "
				     "gives users", policy_rate_str(sum_up, b1, sizeof(b1)),
				     policy_rate_str(avail, b2, sizeof(b2)), u->dev);
			if (strcmp(u->dev, p->nat.dev_lan) == 0)
				perr(p, u->line, "%s is both a LAN and an uplink", u->dev);
		}
		if (p->nat.dev_lan[0] == '\0' || p->nat.dev_net[0] == '\0')
			perr(p, 0, "[nat] needs dev-lan and dev-net");
		else if (strcmp(p->nat.dev_lan, p->nat.dev_net) == 0)
			perr(p, 0, "the LAN and the Internet device are both %s", p->nat.dev_lan);
		if (p->link.rate_lan == 0 && p->format == POLICY_FMT_FAIRWAY)
			perr(p, 0, "rate-lan (the LAN device's rate) is not set");
		else if (p->link.rate_lan < line_down && p->link.rate_down)
			perr(p, 0, "the LAN rate %s is below the shaped download rate %s: the download "
			     "tree cannot hold the users' classes", policy_rate_str(p->link.rate_lan, b1,
			     sizeof(b1)), policy_rate_str(line_down, b2, sizeof(b2)));
		if (p->n_users == 0)
			perr(p, 0, "no users: the router plane needs at least one user with an address");
		for (size_t i = 0; i < p->n_users; i++)
			if (p->users[i].n_addrs == 0 && p->users[i].n_nets6 == 0 &&
			    p->users[i].n_macs == 0 && p->format == POLICY_FMT_FAIRWAY)
				perr(p, p->users[i].line, "user %s has no addr: the router plane steers "
				     "users by LAN address", p->users[i].name);
		if (p->nat.ipp2p && p->nat.class_mode == POLICY_CLASS_WONDER)
			pnote(p, 0, "wonder mode with P2P demotion adds a third class per user");
		if (p->nat.class_mode == POLICY_CLASS_WONDER)
			pwarn(p, 0, "CLASS_MODE wonder gives each user two child classes whose rates (the "
			      "ceil and 9/10 of it) exceed the user's own rate: HTB's rule that children "
			      "sum to at most their parent is broken, as in Fair NAT 0.80 (quirk Q5)");
	}
	return p->n_errors ? -EINVAL : 0;
}

int policy_resolve_lan(struct policy *p, uint32_t lan_ip, unsigned prefix)
{
	uint32_t mask = prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
	uint32_t net = lan_ip & mask;
	size_t before = p->n_errors;
	char b1[24], b2[24];

	policy_ip_str(net, b2, sizeof(b2));
	for (size_t i = 0; i < p->n_users + 1; i++) {
		struct policy_addr *list;
		size_t n;

		if (i < p->n_users) {
			list = p->users[i].addrs;
			n = p->users[i].n_addrs;
		} else {
			list = NULL;
			n = 0;
		}
		for (size_t j = 0; j < n; j++) {
			struct policy_addr *a = &list[j];

			if (a->octet_only) {
				/* Fair NAT: the first three octets of DEV_LAN's address */
				a->ip = (lan_ip & 0xffffff00u) | (a->ip & 255);
				a->octet_only = false;
			}
			policy_ip_str(a->ip, b1, sizeof(b1));
			if ((a->ip & mask) != net)
				perr(p, a->line, "user %s: address %s is outside the LAN %s/%u",
				     p->users[i].name, b1, b2, prefix);
			else if (a->ip == lan_ip)
				perr(p, a->line, "user %s: %s is the router's own LAN address",
				     p->users[i].name, b1);
			else if ((a->ip & ~mask) == ~mask)
				perr(p, a->line, "user %s: %s is the LAN's broadcast address",
				     p->users[i].name, b1);
		}
	}
	for (size_t i = 0; i < p->n_fwds; i++) {
		struct policy_addr *a = &p->fwds[i].to;

		/* an IPv6-only forward (to ADDR6, or a user with no IPv4) has no
		 * IPv4 target: policy_resolve_lan6 checks it */
		if (a->ip == 0 && !a->octet_only && (p->fwds[i].to6.plen ||
		    (p->fwds[i].user != SIZE_MAX && p->users[p->fwds[i].user].n_addrs == 0)))
			continue;
		if (a->ip == 0 && p->fwds[i].user != SIZE_MAX && p->users[p->fwds[i].user].n_addrs) {
			*a = p->users[p->fwds[i].user].addrs[0];
			a->line = p->fwds[i].line;
		} else if (a->octet_only) {
			a->ip = (lan_ip & 0xffffff00u) | (a->ip & 255);
			a->octet_only = false;
		}
		policy_ip_str(a->ip, b1, sizeof(b1));
		if ((a->ip & mask) != net)
			perr(p, p->fwds[i].line, "port forward target %s is outside the LAN %s/%u",
			     b1, b2, prefix);
	}
	/* two spellings of one host (octet and full address) */
	for (size_t i = 0; i < p->n_users; i++)
		for (size_t j = 0; j < p->users[i].n_addrs; j++)
			for (size_t k = i; k < p->n_users; k++)
				for (size_t m = (k == i ? j + 1 : 0); m < p->users[k].n_addrs; m++)
					if (p->users[i].addrs[j].ip == p->users[k].addrs[m].ip &&
					    p->users[k].addrs[m].line != p->users[i].addrs[j].line) {
						policy_ip_str(p->users[i].addrs[j].ip, b1, sizeof(b1));
						perr(p, p->users[k].addrs[m].line, "address %s is listed twice", b1);
					}
	return p->n_errors > before ? -EINVAL : 0;
}

long policy_user_by_id(const struct policy *p, const char *id)
{
	for (size_t i = 0; i < p->n_users; i++)
		for (size_t j = 0; j < p->users[i].n_ids; j++)
			if (strcmp(p->users[i].ids[j], id) == 0)
				return (long)i;
	return -1;
}

long policy_user_by_addr(const struct policy *p, uint32_t ip)
{
	for (size_t i = 0; i < p->n_users; i++)
		for (size_t j = 0; j < p->users[i].n_addrs; j++)
			if (!p->users[i].addrs[j].octet_only && p->users[i].addrs[j].ip == ip)
				return (long)i;
	return -1;
}

/* ---- IPv6 -------------------------------------------------------------- */

bool policy_is_dual(const struct policy *p)
{
	if (p->nat.n_lan6)
		return true;
	for (size_t i = 0; i < p->n_users; i++)
		if (p->users[i].n_nets6 || p->users[i].n_macs)
			return true;
	for (size_t i = 0; i < p->n_fwds; i++)
		if (p->fwds[i].to6.plen)
			return true;
	return false;
}

int policy_lan6_add(struct policy *p, const char *s, int line)
{
	struct policy_net6 n = { .line = line }, *v;
	char buf[64];
	const char *slash = strchr(s, '/');
	uint64_t plen;

	/* the router's address has host bits: parse it as /128, then the length */
	if (slash == NULL || (size_t)(slash - s) >= sizeof(buf) ||
	    !policy_parse_uint(slash + 1, 128, &plen) || plen < 16)
		return -EINVAL;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	if (!policy_parse_net6(buf, &n) || (n.a[0] == 0xfe && (n.a[1] & 0xc0) == 0x80) || n.a[0] == 0xff)
		return -EINVAL;
	n.plen = (unsigned)plen;
	for (size_t i = 0; i < p->nat.n_lan6; i++)
		if (p->nat.lan6[i].plen == n.plen && policy_net6_inside(&p->nat.lan6[i], &n))
			return 0;   /* the same prefix twice (two router addresses on it) */
	v = policy_grow(p->nat.lan6, p->nat.n_lan6, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	p->nat.lan6 = v;
	p->nat.lan6[p->nat.n_lan6++] = n;
	return 0;
}

/* One entry against the LAN prefixes; 0 or an error recorded. */
static void check_lan6(struct policy *p, const struct policy_net6 *e, const char *who)
{
	char b1[64], b2[64];
	bool in = false;

	for (size_t i = 0; i < p->nat.n_lan6 && !in; i++) {
		struct policy_net6 pfx = p->nat.lan6[i];

		if (!policy_net6_inside(&pfx, e))
			continue;
		in = true;
		pfx.plen = 128;
		if (e->plen == 128 && memcmp(pfx.a, e->a, 16) == 0)
			perr(p, e->line, "%s: %s is the router's own LAN address", who,
			     policy_net6_str(e, b1, sizeof(b1)));
	}
	if (in)
		return;
	b2[0] = '\0';
	for (size_t i = 0, at = 0; i < p->nat.n_lan6 && at + 50 < sizeof(b2); i++) {
		char one[64];
		struct policy_net6 pfx = p->nat.lan6[i];

		for (unsigned bit = pfx.plen; bit < 128; bit++)
			pfx.a[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
		policy_net6_str(&pfx, one, sizeof(one));
		at += (size_t)snprintf(b2 + at, sizeof(b2) - at, "%s%s", i ? ", " : "", one);
	}
	perr(p, e->line, "%s: %s is outside every LAN IPv6 prefix (%s)", who,
	     policy_net6_str(e, b1, sizeof(b1)), p->nat.n_lan6 ? b2 : "none: set lan-net6, or give "
	     "DEV_LAN a global IPv6 address");
}

int policy_resolve_lan6(struct policy *p)
{
	size_t before = p->n_errors;
	char who[POLICY_NAME_MAX + 16];

	for (size_t i = 0; i < p->n_users; i++)
		for (size_t j = 0; j < p->users[i].n_nets6; j++) {
			snprintf(who, sizeof(who), "user %s", p->users[i].name);
			check_lan6(p, &p->users[i].nets6[j], who);
		}
	for (size_t i = 0; i < p->n_fwds; i++)
		if (p->fwds[i].to6.plen)
			check_lan6(p, &p->fwds[i].to6, "port forward target");
	return p->n_errors > before ? -EINVAL : 0;
}
