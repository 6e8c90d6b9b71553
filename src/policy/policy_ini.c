/* policy_ini — fairway's own INI policy (inih): [portal], [nat],
 * [user NAME]. Fills the model in policy.h; policy_validate ends it. */
#include "policy.h"
#include "policy_int.h"

#define INI_ADDR_LIST_MAX 4096

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fairway INI reader ------------------------------------------------ */

enum gkey {
	K_RATE_UP, K_RATE_DOWN, K_SUB, K_LOCAL, K_BORROW, K_CEIL_UP, K_CEIL_DOWN,
	K_DEV_LAN, K_DEV_NET, K_RATE_LAN, K_FEATURES, K_CLASS_MODE, K_LEAF, K_BACKEND,
	K_MSS, K_TTL, K_MPU, K_OVERHEAD, K_PREFIX, K_P2P, K_LAN_NET, K_MTU, K_IPTABLES, K_TC,
	K_LAN_NET6,
	K_LISTEN, K_ADVERTISE, K_PRIVACY, K_GUEST, K_NAME, K_CONNS_PER_IP, K_PENDING, K_PENDING_PER_IP,
	K_TUNNELS_PER_PEER,
	K_IDLE, K_HANDSHAKE, K_MULTIHOP, K_PACE, K_DB, K_METRICS_MAX_USERS, K_HTTP, K_PUBLIC_URL,
	K_TRUST_PROXY, K_WS_ORIGIN, K__COUNT
};

enum scope { S_LINK = 1, S_NAT = 2, S_PORTAL = 4 };

static const struct {
	const char *name;
	unsigned scope;
} gkeys[K__COUNT] = {
	[K_RATE_UP] = { "rate-up", S_LINK }, [K_RATE_DOWN] = { "rate-down", S_LINK },
	[K_SUB] = { "rate-sub-percent", S_LINK }, [K_LOCAL] = { "rate-local-percent", S_LINK },
	[K_BORROW] = { "borrow", S_LINK }, [K_CEIL_UP] = { "user-ceil-up", S_LINK },
	[K_CEIL_DOWN] = { "user-ceil-down", S_LINK },
	[K_DEV_LAN] = { "dev-lan", S_NAT }, [K_DEV_NET] = { "dev-net", S_NAT },
	[K_RATE_LAN] = { "rate-lan", S_NAT }, [K_FEATURES] = { "features", S_NAT },
	[K_CLASS_MODE] = { "class-mode", S_NAT }, [K_LEAF] = { "leaf", S_NAT },
	[K_BACKEND] = { "backend", S_NAT }, [K_MSS] = { "mss-clamp", S_NAT },
	[K_TTL] = { "ttl-set", S_NAT }, [K_MPU] = { "htb-mpu", S_NAT },
	[K_OVERHEAD] = { "htb-overhead", S_NAT }, [K_PREFIX] = { "prefix", S_NAT },
	[K_P2P] = { "p2p-demote-bytes", S_NAT }, [K_LAN_NET] = { "lan-net", S_NAT },
	[K_MTU] = { "mtu", S_NAT }, [K_IPTABLES] = { "iptables", S_NAT }, [K_TC] = { "tc", S_NAT },
	[K_LAN_NET6] = { "lan-net6", S_NAT },
	[K_LISTEN] = { "listen", S_PORTAL }, [K_PRIVACY] = { "privacy", S_PORTAL },
	[K_ADVERTISE] = { "advertise", S_PORTAL },
	[K_GUEST] = { "guest", S_PORTAL }, [K_NAME] = { "name", S_PORTAL },
	[K_CONNS_PER_IP] = { "max-conns-per-ip", S_PORTAL },
	[K_PENDING] = { "max-pending-handshakes", S_PORTAL },
	[K_PENDING_PER_IP] = { "pending-per-ip", S_PORTAL },
	[K_TUNNELS_PER_PEER] = { "max-tunnels-per-peer", S_PORTAL },
	[K_IDLE] = { "idle-timeout", S_PORTAL }, [K_HANDSHAKE] = { "handshake-timeout", S_PORTAL },
	[K_MULTIHOP] = { "allow-multihop", S_PORTAL }, [K_PACE] = { "pace", S_PORTAL },
	[K_DB] = { "db", S_PORTAL },
	[K_METRICS_MAX_USERS] = { "metrics-max-users", S_PORTAL },
	[K_HTTP] = { "http", S_PORTAL }, [K_PUBLIC_URL] = { "public-url", S_PORTAL },
	[K_TRUST_PROXY] = { "trust-proxy", S_PORTAL }, [K_WS_ORIGIN] = { "ws-origin", S_PORTAL },
};

struct ini_ctx {
	struct policy *p;
	const char *text;       /* reader position */
	int cur_line, next_line;
	int long_line;          /* first line that did not fit inih's buffer */
	int section_seq, seen_seq; /* "[" headers read / handled */
	int section_line;       /* line of the latest header */
	char last_section[POLICY_NAME_MAX + 8];
	long cur_user;
	int seen[K__COUNT];
	/* [uplink NAME] sections, matched to dev-net when the file is read */
	struct policy_uplink upl[POLICY_MORE_UPLINKS + 1];
	size_t n_upl;
	long cur_upl;
	bool nomem;
};

/* inih's fgets-style reader over a string, counting lines so the handler
 * knows where it is (Debian's inih has no INI_HANDLER_LINENO). */
static char *ini_read_line(char *str, int num, void *stream)
{
	struct ini_ctx *c = stream;
	const char *s = c->text;
	size_t n = 0, max = num > 1 ? (size_t)num - 1 : 0;

	if (*s == '\0')
		return NULL;
	c->cur_line = c->next_line++;
	/* inih calls us only for keys: note headers here, so that a section
	 * repeated with the same name is still seen as a new one */
	n = strspn(s, " \t");
	if (s[n] == '[') {
		c->section_seq++;
		c->section_line = c->cur_line;
	}
	n = 0;
	while (s[n] != '\0' && s[n] != '\n' && n < max)
		n++;
	memcpy(str, s, n);
	str[n] = '\0';
	if (s[n] != '\0' && s[n] != '\n') {
		/* longer than inih's line buffer: report and skip the rest */
		if (c->long_line == 0)
			c->long_line = c->cur_line;
		while (s[n] != '\0' && s[n] != '\n')
			n++;
	}
	c->text = s + n + (s[n] == '\n');
	return str;
}

static int set_rate(struct ini_ctx *c, const char *key, const char *val, uint64_t *dst)
{
	char err[160];

	if (policy_parse_rate(val, false, dst, err, sizeof(err)) != 0) {
		perr(c->p, c->cur_line, "%s: %s", key, err);
		return -1;
	}
	return 0;
}

static int set_percent(struct ini_ctx *c, const char *key, const char *val, unsigned *dst)
{
	uint64_t v;
	const char *s = val;
	char buf[8];
	size_t n = strlen(s);

	if (n > 0 && s[n - 1] == '%' && n < sizeof(buf)) {
		memcpy(buf, s, n - 1);
		buf[n - 1] = '\0';
		s = buf;
	}
	if (!policy_parse_uint(s, 99, &v)) {
		perr(c->p, c->cur_line, "%s: expected a percentage 0..99, got \"%s\"", key, val);
		return -1;
	}
	*dst = (unsigned)v;
	return 0;
}

/* deny = @id, repeatable: refused right after the handshake. */
static void ini_deny(struct ini_ctx *c, const char *val)
{
	struct policy_portal *pp = &c->p->portal;
	char **ids;
	int *lines;

	if (!policy_valid_id(val)) {
		perr(c->p, c->cur_line, "deny: expected an SSB identity @<base64 of 32 bytes>.ed25519, got \"%s\"", val);
		return;
	}
	for (size_t i = 0; i < pp->n_deny; i++)
		if (strcmp(pp->deny[i], val) == 0) {
			perr(c->p, c->cur_line, "deny: %s is already denied at line %d", val, pp->deny_lines[i]);
			return;
		}
	ids = policy_grow(pp->deny, pp->n_deny, sizeof(*ids));
	if (ids != NULL)
		pp->deny = ids;
	lines = policy_grow(pp->deny_lines, pp->n_deny, sizeof(*lines));
	if (lines != NULL)
		pp->deny_lines = lines;
	if (ids == NULL || lines == NULL || (pp->deny[pp->n_deny] = strdup(val)) == NULL) {
		c->nomem = true;
		return;
	}
	pp->deny_lines[pp->n_deny++] = c->cur_line;
}

static void ini_global(struct ini_ctx *c, unsigned scope, const char *name, const char *val)
{
	struct policy *p = c->p;
	int k;
	uint64_t v;
	bool b;

	for (k = 0; k < K__COUNT; k++)
		if (strcmp(gkeys[k].name, name) == 0)
			break;
	if (k == K__COUNT || !(gkeys[k].scope & (scope | S_LINK))) {
		perr(p, c->cur_line, "unknown key \"%s\" in [%s]%s", name, c->last_section,
		     k < K__COUNT ? " (it belongs in another section)" : "");
		return;
	}
	if (c->seen[k]) {
		perr(p, c->cur_line, "\"%s\" is already set at line %d", name, c->seen[k]);
		return;
	}
	c->seen[k] = c->cur_line;
	switch ((enum gkey)k) {
	case K_RATE_UP: set_rate(c, name, val, &p->link.rate_up); break;
	case K_RATE_DOWN: set_rate(c, name, val, &p->link.rate_down); break;
	case K_RATE_LAN: set_rate(c, name, val, &p->link.rate_lan); break;
	case K_CEIL_UP: set_rate(c, name, val, &p->link.ceil_user_up); break;
	case K_CEIL_DOWN: set_rate(c, name, val, &p->link.ceil_user_down); break;
	case K_SUB: set_percent(c, name, val, &p->link.sub_percent); break;
	case K_LOCAL: set_percent(c, name, val, &p->link.local_percent); break;
	case K_BORROW:
	case K_GUEST:
		if (!policy_parse_bool(val, &b)) {
			perr(p, c->cur_line, "%s: expected yes or no, got \"%s\"", name, val);
			break;
		}
		if (k == K_BORROW)
			p->link.borrow = b;
		else
			p->portal.guest = b;
		break;
	case K_DEV_LAN:
		if (!policy_valid_dev(val)) {
			perr(p, c->cur_line, "%s: \"%s\" is not a network device name", name, val);
			break;
		}
		snprintf(p->nat.dev_lan, POLICY_DEV_MAX, "%s", val);
		break;
	case K_DEV_NET: {
		/* dev-net = ppp0 wwan0: several uplinks, each its own tree */
		char buf[256], *save = NULL, *w;
		int n = 0;

		snprintf(buf, sizeof(buf), "%s", val);
		for (w = strtok_r(buf, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save), n++) {
			if (!policy_valid_dev(w)) {
				perr(p, c->cur_line, "%s: \"%s\" is not a network device name", name, w);
				continue;
			}
			if (n == 0) {
				snprintf(p->nat.dev_net, POLICY_DEV_MAX, "%s", w);
				continue;
			}
			if (p->nat.n_more == POLICY_MORE_UPLINKS) {
				perr(p, c->cur_line, "dev-net: at most %d uplinks", POLICY_MORE_UPLINKS + 1);
				break;
			}
			bool dup = strcmp(w, p->nat.dev_net) == 0;

			for (size_t i = 0; i < p->nat.n_more; i++)
				dup |= strcmp(w, p->nat.more[i].dev) == 0;
			if (dup) {
				perr(p, c->cur_line, "dev-net: %s is listed twice", w);
				continue;
			}
			snprintf(p->nat.more[p->nat.n_more].dev, POLICY_DEV_MAX, "%s", w);
			p->nat.more[p->nat.n_more++].line = c->cur_line;
		}
		if (n == 0)
			perr(p, c->cur_line, "dev-net: expected one or more network devices");
		break;
	}
	case K_FEATURES: {
		char buf[256], *save = NULL, *w;

		snprintf(buf, sizeof(buf), "%s", val);
		p->nat.features = 0;
		for (w = strtok_r(buf, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
			bool ipt;
			unsigned f = policy_feature_word(w, &ipt);

			if (f == 0)
				perr(p, c->cur_line, "features: unknown feature \"%s\" (expected proc modules "
				     "reset nat forward qos-down qos-up tos)", w);
			p->nat.features |= f;
		}
		break;
	}
	case K_CLASS_MODE:
		if (policy_streq_ci(val, "default"))
			p->nat.class_mode = POLICY_CLASS_DEFAULT;
		else if (policy_streq_ci(val, "wonder"))
			p->nat.class_mode = POLICY_CLASS_WONDER;
		else
			perr(p, c->cur_line, "class-mode: expected default or wonder, got \"%s\"", val);
		break;
	case K_LEAF:
		if (policy_leaf_parse(val, &p->nat.leaf) != 0)
			perr(p, c->cur_line, "leaf: expected fq_codel, cake, sfq or pfifo, got \"%s\"", val);
		break;
	case K_BACKEND:
		if (policy_streq_ci(val, "nft") || policy_streq_ci(val, "nftables"))
			p->nat.backend = POLICY_BACKEND_NFT;
		else if (policy_streq_ci(val, "iptables"))
			p->nat.backend = POLICY_BACKEND_IPTABLES;
		else
			perr(p, c->cur_line, "backend: expected nft or iptables, got \"%s\"", val);
		break;
	case K_MSS:
		if (!policy_parse_mss(val, &p->nat.mss_clamp))
			perr(p, c->cur_line, "mss-clamp: expected off, pmtu or an MSS 88..65535, got \"%s\"", val);
		break;
	case K_TTL:
	case K_MPU:
	case K_OVERHEAD:
	case K_MTU: {
		uint64_t max = k == K_TTL ? 255 : k == K_MTU ? 65535 : 4096;

		if (!policy_parse_uint(val, max, &v) || (k == K_MTU && v < 68)) {
			perr(p, c->cur_line, "%s: expected a number %s..%llu, got \"%s\"", name,
			     k == K_MTU ? "68" : "0", (unsigned long long)max, val);
			break;
		}
		if (k == K_TTL)
			p->nat.ttl_set = (unsigned)v;
		else if (k == K_MPU)
			p->nat.htb_mpu = (unsigned)v;
		else if (k == K_OVERHEAD)
			p->nat.htb_overhead = (unsigned)v;
		else
			p->nat.mtu = (unsigned)v;
		break;
	}
	case K_PREFIX:
		if (!policy_valid_prefix(val))
			perr(p, c->cur_line, "prefix: expected letters, digits or '_' (1..15), got \"%s\"", val);
		else
			snprintf(p->nat.prefix, sizeof(p->nat.prefix), "%s", val);
		break;
	case K_P2P:
		if (policy_streq_ci(val, "off") || strcmp(val, "0") == 0)
			p->nat.p2p_bytes = 0;
		else if (policy_parse_uint(val, UINT64_MAX / 2, &v) && v >= 1000)
			p->nat.p2p_bytes = v;
		else
			perr(p, c->cur_line, "p2p-demote-bytes: expected off or a byte count >= 1000, got \"%s\"", val);
		p->nat.ipp2p = p->nat.p2p_bytes > 0;
		break;
	case K_LAN_NET: {
		char buf[32], *slash;

		snprintf(buf, sizeof(buf), "%s", val);
		slash = strchr(buf, '/');
		if (slash)
			*slash++ = '\0';
		if (!slash || !policy_parse_ipv4(buf, &p->nat.lan_ip) || !policy_parse_uint(slash, 30, &v) || v < 8) {
			perr(p, c->cur_line, "lan-net: expected the router's LAN address with prefix, "
			     "like 192.168.1.1/24, got \"%s\"", val);
			break;
		}
		p->nat.lan_prefix = (unsigned)v;
		p->nat.lan_set = true;
		break;
	}
	case K_LAN_NET6: {
		/* lan-net6 = 2001:db8:1::1/64 fd00:1::1/64: the LAN's prefixes, each
		 * given as the router's own address on it and the prefix length */
		char buf[1024], *save = NULL, *w;

		if (strlen(val) >= sizeof(buf)) {
			perr(p, c->cur_line, "lan-net6: list too long");
			break;
		}
		snprintf(buf, sizeof(buf), "%s", val);
		for (w = strtok_r(buf, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
			int rc = policy_lan6_add(p, w, c->cur_line);

			if (rc != 0) {
				if (rc == -ENOMEM)
					c->nomem = true;
				else
					perr(p, c->cur_line, "lan-net6: expected the router's IPv6 address on the "
					     "LAN with its prefix length, like 2001:db8:1::1/64, got \"%s\"", w);
			}
		}
		break;
	}
	case K_IPTABLES:
	case K_TC:
		if (*val == '\0' || strpbrk(val, " \t\"'$`;|&") != NULL)
			perr(p, c->cur_line, "%s: expected a command name or path, got \"%s\"", name, val);
		else
			snprintf(k == K_TC ? p->nat.tc : p->nat.iptables, POLICY_PATH_MAX, "%s", val);
		break;
	case K_LISTEN:
		snprintf(p->portal.listen, sizeof(p->portal.listen), "%s", val);
		if (strchr(val, ':') == NULL)
			perr(p, c->cur_line, "listen: expected HOST:PORT, got \"%s\"", val);
		break;
	case K_ADVERTISE:
		/* the full check (a host a net: address can carry) is the portal's */
		if (*val == '\0' || strpbrk(val, " \t\"'~;") != NULL)
			perr(p, c->cur_line, "advertise: expected HOST[:PORT], got \"%s\"", val);
		else
			snprintf(p->portal.advertise, sizeof(p->portal.advertise), "%s", val);
		break;
	case K_PRIVACY:
		p->portal.privacy_set = true;
		if (policy_streq_ci(val, "open"))
			p->portal.privacy = POLICY_PRIVACY_OPEN;
		else if (policy_streq_ci(val, "community"))
			p->portal.privacy = POLICY_PRIVACY_COMMUNITY;
		else if (policy_streq_ci(val, "restricted"))
			p->portal.privacy = POLICY_PRIVACY_RESTRICTED;
		else
			perr(p, c->cur_line, "privacy: expected open, community or restricted, got \"%s\"", val);
		break;
	case K_HTTP:
		if (strchr(val, ':') == NULL || strlen(val) >= sizeof(p->portal.http))
			perr(p, c->cur_line, "http: expected HOST:PORT, got \"%s\"", val);
		else
			snprintf(p->portal.http, sizeof(p->portal.http), "%s", val);
		break;
	case K_PUBLIC_URL:
		if ((strncmp(val, "http://", 7) != 0 && strncmp(val, "https://", 8) != 0) ||
		    val[strcspn(val, "?#")] != '\0' || strpbrk(val, " \t\"'<>") != NULL ||
		    strlen(val) >= sizeof(p->portal.public_url) || strlen(val) < 9)
			perr(p, c->cur_line, "public-url: expected http://HOST[:PORT][/PATH] or "
			     "https://…, without query or fragment, got \"%s\"", val);
		else
			snprintf(p->portal.public_url, sizeof(p->portal.public_url), "%s", val);
		break;
	case K_TRUST_PROXY:
	case K_WS_ORIGIN:
		/* comma lists, checked entry by entry where they are used
		 * (wsup_attach) */
		if (strlen(val) >= sizeof(p->portal.trust_proxy) || strpbrk(val, "\"'<>") != NULL)
			perr(p, c->cur_line, "%s: expected a comma-separated list, got \"%s\"", name, val);
		else
			snprintf(k == K_TRUST_PROXY ? p->portal.trust_proxy : p->portal.ws_origin,
			         sizeof(p->portal.trust_proxy), "%s", val);
		break;
	case K_METRICS_MAX_USERS:
		if (!policy_parse_uint(val, 1000000, &v) || v == 0)
			perr(p, c->cur_line, "%s: expected a count of 1..1000000, got \"%s\"", name, val);
		else
			p->portal.metrics_max_users = (unsigned)v;
		break;
	case K_DB:
		if (*val == '\0' || strlen(val) >= sizeof(p->portal.db))
			perr(p, c->cur_line, "db: expected a file path of 1..%zu characters", sizeof(p->portal.db) - 1);
		else
			snprintf(p->portal.db, sizeof(p->portal.db), "%s", val);
		break;
	case K_NAME:
		if (*val == '\0' || strlen(val) >= sizeof(p->portal.name))
			perr(p, c->cur_line, "name: expected 1..%zu characters", sizeof(p->portal.name) - 1);
		else
			snprintf(p->portal.name, sizeof(p->portal.name), "%s", val);
		break;
	case K_CONNS_PER_IP:
	case K_PENDING:
	case K_PENDING_PER_IP:
	case K_TUNNELS_PER_PEER: {
		unsigned *dst = k == K_CONNS_PER_IP ? &p->portal.conns_per_ip
		              : k == K_PENDING ? &p->portal.pending_handshakes
		              : k == K_PENDING_PER_IP ? &p->portal.pending_per_ip
		                               : &p->portal.tunnels_per_peer;

		if (!policy_parse_uint(val, 100000000, &v))
			perr(p, c->cur_line, "%s: expected a count (%s), got \"%s\"", name,
			     k == K_PENDING_PER_IP ? "0 = max-pending-handshakes / 32, at least 4"
			                           : "0 = no limit", val);
		else
			*dst = (unsigned)v;
		break;
	}
	case K_IDLE:
	case K_HANDSHAKE:
		if (!policy_parse_duration_ms(val, k == K_IDLE ? &p->portal.idle_timeout_ms
		                                        : &p->portal.handshake_timeout_ms) ||
		    (k == K_HANDSHAKE && p->portal.handshake_timeout_ms == 0))
			perr(p, c->cur_line, "%s: expected a duration like 15s, 500ms or 10min%s, got \"%s\"",
			     name, k == K_IDLE ? " (0 = never)" : "", val);
		break;
	case K_PACE: {
		unsigned ms;

		if (!policy_parse_duration_ms(val, &ms) || ms > 100)
			perr(p, c->cur_line, "%s: expected a duration from 0 to 100ms, like 2ms, got \"%s\"",
			     name, val);
		else
			p->portal.pace_ms = (int)ms;
		break;
	}
	case K_MULTIHOP:
		if (!policy_parse_bool(val, &b))
			perr(p, c->cur_line, "%s: expected yes or no, got \"%s\"", name, val);
		else
			p->portal.allow_multihop = b;
		break;
	case K__COUNT:
		break;
	}
}

/* forward = PORT[-PORT] [tcp|udp] [to ADDR] */
static void ini_forward(struct ini_ctx *c, struct policy_user *u, const char *val)
{
	char buf[128], *save = NULL, *w;
	struct policy_forward f = { .protos = POLICY_PROTO_TCP | POLICY_PROTO_UDP,
	                            .user = (size_t)c->cur_user, .line = c->cur_line };
	int i = 0;

	snprintf(buf, sizeof(buf), "%s", val);
	for (w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save), i++) {
		if (i == 0) {
			if (!policy_parse_port_range(w, '-', &f.lo, &f.hi))
				goto bad;
		} else if (policy_streq_ci(w, "tcp") && f.protos == 3 && i == 1) {
			f.protos = POLICY_PROTO_TCP;
		} else if (policy_streq_ci(w, "udp") && f.protos == 3 && i == 1) {
			f.protos = POLICY_PROTO_UDP;
		} else if (policy_streq_ci(w, "to")) {
			w = strtok_r(NULL, " \t", &save);
			if (w == NULL)
				goto bad;
			f.to6.line = c->cur_line;
			if (!policy_parse_ipv4(w, &f.to.ip) &&
			    (!policy_parse_net6(w, &f.to6) || f.to6.plen != 128))
				goto bad;
			f.to.line = c->cur_line;
			if (strtok_r(NULL, " \t", &save) != NULL)
				goto bad;
			break;
		} else {
			goto bad;
		}
	}
	if (i == 0)
		goto bad;
	f.own = f.to.ip == 0 && f.to6.plen == 0;
	(void)u;
	if (policy_add_forward(c->p, &f) != 0)
		c->nomem = true;
	return;
bad:
	perr(c->p, c->cur_line, "forward: expected PORT[-PORT] [tcp|udp] [to ADDRESS] (IPv4 or IPv6), got \"%s\"", val);
}

/* One entry of an addr list: IPv4, Fair NAT's last octet, IPv6 address or
 * prefix, or a MAC. */
static void ini_addr_one(struct ini_ctx *c, struct policy_user *u, const char *key, const char *w)
{
	struct policy *p = c->p;
	struct policy_addr a = { .line = c->cur_line };
	struct policy_net6 n = { .line = c->cur_line };
	struct policy_mac m = { .line = c->cur_line };
	uint64_t o;
	int rc = 0;

	if (strcmp(key, "mac") == 0) {
		if (!policy_parse_mac(w, &m)) {
			perr(p, c->cur_line, "mac: expected a host's MAC like aa:bb:cc:dd:ee:ff (six hex "
			     "pairs, not a group address), got \"%s\"", w);
			return;
		}
		rc = policy_user_add_mac(u, m);
	} else if (policy_parse_ipv4(w, &a.ip)) {
		if ((a.ip & 255) == 0 || (a.ip & 255) == 255)
			perr(p, c->cur_line, "addr: %s is a network or broadcast address", w);
		rc = policy_user_add_addr(u, a);
	} else if (policy_parse_uint(w, 254, &o) && o > 0) {
		a.ip = (uint32_t)o;
		a.octet_only = true;   /* Fair NAT style: last octet on the LAN */
		rc = policy_user_add_addr(u, a);
	} else if (policy_parse_net6(w, &n)) {
		if (n.a[0] == 0xff)
			perr(p, c->cur_line, "addr: %s is an IPv6 multicast address", w);
		else if (n.a[0] == 0xfe && (n.a[1] & 0xc0) == 0x80)
			perr(p, c->cur_line, "addr: %s is link-local: such addresses are never routed "
			     "(use mac = to cover every address of that host)", w);
		else if (n.plen < 16)
			perr(p, c->cur_line, "addr: the IPv6 prefix %s is wider than /16: not a LAN's", w);
		else
			rc = policy_user_add_net6(u, n);
	} else if (policy_parse_mac(w, &m)) {
		rc = policy_user_add_mac(u, m);
	} else if (strchr(w, '/') && strchr(w, ':')) {
		perr(p, c->cur_line, "addr: \"%s\" is not an IPv6 prefix (ADDR/LEN, LEN 16..128, the "
		     "bits after LEN zero, like 2001:db8:1:42::/64)", w);
		return;
	} else {
		perr(p, c->cur_line, "addr: expected an IPv4 address (or a last octet 1..254), an IPv6 "
		     "address or prefix, or a MAC, got \"%s\"", w);
		return;
	}
	if (rc != 0)
		c->nomem = true;
}

/* addr = A, B C ... (commas or blanks; the key may repeat); mac = likewise. */
static void ini_addr_list(struct ini_ctx *c, struct policy_user *u, const char *key, const char *val)
{
	char buf[INI_ADDR_LIST_MAX], *save = NULL, *w;
	int n = 0;

	if (strlen(val) >= sizeof(buf)) {
		perr(c->p, c->cur_line, "%s: list longer than %zu characters: split it over several "
		     "%s = lines", key, sizeof(buf) - 1, key);
		return;
	}
	snprintf(buf, sizeof(buf), "%s", val);
	for (w = strtok_r(buf, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save), n++)
		ini_addr_one(c, u, key, w);
	if (n == 0)
		perr(c->p, c->cur_line, "%s: empty list", key);
}

static void ini_user(struct ini_ctx *c, const char *name, const char *val)
{
	struct policy *p = c->p;
	struct policy_user *u = &p->users[c->cur_user];
	uint64_t *dst = NULL;

	if (strcmp(name, "id") == 0) {
		if (!policy_valid_id(val))
			perr(p, c->cur_line, "id: expected an SSB identity @<base64 of 32 bytes>.ed25519, got \"%s\"", val);
		else if (policy_user_add_id(u, val) != 0)
			c->nomem = true;
		return;
	}
	if (strcmp(name, "addr") == 0 || strcmp(name, "mac") == 0) {
		ini_addr_list(c, u, name, val);
		return;
	}
	if (strcmp(name, "forward") == 0) {
		ini_forward(c, u, val);
		return;
	}
	if (strcmp(name, "rate-up") == 0)
		dst = &u->rate_up;
	else if (strcmp(name, "ceil-up") == 0)
		dst = &u->ceil_up;
	else if (strcmp(name, "rate-down") == 0)
		dst = &u->rate_down;
	else if (strcmp(name, "ceil-down") == 0)
		dst = &u->ceil_down;
	if (dst == NULL) {
		perr(p, c->cur_line, "unknown key \"%s\" in [user %s] (expected id, addr, mac, rate-up, "
		     "ceil-up, rate-down, ceil-down or forward)", name, u->name);
		return;
	}
	if (*dst != 0) {
		perr(p, c->cur_line, "\"%s\" is already set for user %s", name, u->name);
		return;
	}
	set_rate(c, name, val, dst);
}

static int ini_on_key(void *user, const char *section, const char *name, const char *value)
{
	struct ini_ctx *c = user;
	struct policy *p = c->p;
	bool new_section = strcmp(section, c->last_section) != 0 || c->seen_seq != c->section_seq;

	if (new_section) {
		int hl = c->section_line ? c->section_line : c->cur_line;

		c->seen_seq = c->section_seq;
		snprintf(c->last_section, sizeof(c->last_section), "%s", section);
		c->cur_user = -1;
		c->cur_upl = -1;
		if (strncmp(section, "uplink", 6) == 0 && (section[6] == ' ' || section[6] == '\t')) {
			const char *n = section + 7;

			while (*n == ' ' || *n == '\t')
				n++;
			if (!policy_valid_dev(n)) {
				perr(p, hl, "[%s]: expected [uplink DEVICE]", section);
			} else if (c->n_upl == POLICY_MORE_UPLINKS + 1) {
				perr(p, hl, "[%s]: at most %d uplinks", section, POLICY_MORE_UPLINKS + 1);
			} else {
				for (size_t i = 0; i < c->n_upl; i++)
					if (strcmp(c->upl[i].dev, n) == 0) {
						perr(p, hl, "[uplink %s] is already declared at line %d", n, c->upl[i].line);
						return 1;
					}
				memset(&c->upl[c->n_upl], 0, sizeof(c->upl[0]));
				snprintf(c->upl[c->n_upl].dev, POLICY_DEV_MAX, "%s", n);
				c->upl[c->n_upl].line = hl;
				c->cur_upl = (long)c->n_upl++;
			}
		} else if (strncmp(section, "user", 4) == 0 && (section[4] == ' ' || section[4] == '\t')) {
			const char *n = section + 5;
			size_t len;

			while (*n == ' ' || *n == '\t')
				n++;
			len = strlen(n);
			if (len == 0 || len >= POLICY_NAME_MAX || strspn(n, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len) {
				perr(p, hl, "[%s]: a user name is 1..63 letters, digits, '.', '_' or '-'", section);
			} else {
				for (size_t i = 0; i < p->n_users; i++)
					if (strcmp(p->users[i].name, n) == 0) {
						perr(p, hl, "user %s is already declared at line %d", n,
						     p->users[i].line);
						return 1;
					}
				if (policy_add_user(p, n, hl) == NULL) {
					c->nomem = true;
					return 0;
				}
				c->cur_user = (long)p->n_users - 1;
			}
		} else if (strcmp(section, "portal") == 0) {
			p->has_portal = true;
		} else if (strcmp(section, "nat") == 0) {
			p->has_nat = true;
		} else if (*section == '\0') {
			/* keys before any section: reported per key below */
		} else {
			perr(p, hl, "unknown section [%s] (expected [portal], [nat], [uplink DEVICE] or [user NAME])", section);
		}
	}
	if (value == NULL)
		return 1;
	if (strncmp(section, "uplink", 6) == 0 && (section[6] == ' ' || section[6] == '\t')) {
		if (c->cur_upl >= 0) {
			struct policy_uplink *u = &c->upl[c->cur_upl];
			uint64_t *dst = strcmp(name, "rate-up") == 0 ? &u->rate_up :
			                strcmp(name, "rate-down") == 0 ? &u->rate_down : NULL;

			if (dst == NULL)
				perr(p, c->cur_line, "unknown key \"%s\" in [uplink %s] (expected rate-up or "
				     "rate-down)", name, u->dev);
			else if (*dst)
				perr(p, c->cur_line, "\"%s\" is already set for uplink %s", name, u->dev);
			else
				set_rate(c, name, value, dst);
		}
		return 1;
	}
	if (strncmp(section, "user", 4) == 0 && (section[4] == ' ' || section[4] == '\t')) {
		if (c->cur_user >= 0)
			ini_user(c, name, value);
	} else if (strcmp(section, "portal") == 0) {
		if (strcmp(name, "deny") == 0)
			ini_deny(c, value);
		else
			ini_global(c, S_PORTAL, name, value);
	} else if (strcmp(section, "nat") == 0) {
		ini_global(c, S_NAT, name, value);
	} else if (*section == '\0') {
		perr(p, c->cur_line, "\"%s\" outside any section (expected [portal], [nat] or [user NAME] first)", name);
	}
	return 1;
}

int policy_parse_ini(struct policy *p, const char *text, const char *file)
{
	struct ini_ctx c = { .p = p, .text = text, .next_line = 1, .cur_user = -1, .cur_upl = -1 };
	static char inline_prefixes[] = ";#";
	int rc;

	if (file)
		snprintf(p->file, sizeof(p->file), "%s", file);
	/* Library-wide switches of Debian's inih: our format has no
	 * continuation lines (an indented key must stay a key) and allows
	 * "; …" and "# …" comments after a value. */
	ini_allow_multiline = false;
	ini_allow_inline_comments = true;
	ini_inline_comment_prefixes = inline_prefixes;
	ini_stop_on_first_error = false;
	rc = ini_parse_stream(ini_read_line, &c, ini_on_key, &c);
	if (c.nomem)
		return -ENOMEM;
	if (c.long_line)
		perr(p, c.long_line, "line too long (at most %d characters)", ini_max_line - 3);
	if (rc > 0 && rc != c.long_line) {
		/* inih's own syntax errors: "[section" without "]", no '=' */
		perr(p, rc, "expected [section] or key = value");
	}
	if (rc == -2)
		return -ENOMEM;
	for (size_t i = 0; i < c.n_upl; i++) {
		struct policy_uplink *u = &c.upl[i];
		bool found = false;

		if (strcmp(u->dev, p->nat.dev_net) == 0) {
			found = true;
			if ((u->rate_up && p->link.rate_up) || (u->rate_down && p->link.rate_down))
				perr(p, u->line, "[uplink %s]: its rates are also set in [nat] (rate-up / "
				     "rate-down are the first uplink's)", u->dev);
			if (u->rate_up)
				p->link.rate_up = u->rate_up;
			if (u->rate_down)
				p->link.rate_down = u->rate_down;
		}
		for (size_t k = 0; k < p->nat.n_more; k++)
			if (strcmp(u->dev, p->nat.more[k].dev) == 0) {
				found = true;
				p->nat.more[k].rate_up = u->rate_up;
				p->nat.more[k].rate_down = u->rate_down;
			}
		if (!found)
			perr(p, u->line, "[uplink %s]: %s is not in dev-net", u->dev, u->dev);
	}
	return policy_validate(p);
}
