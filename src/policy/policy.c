/* policy — both readers (fairway INI, Fair NAT 0.80 fairnat.config), the
 * validation shared by the portal and the router, and Fair NAT's rate
 * arithmetic. See policy.h for the model. */
#include "policy.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define MARK_OFFSET 10            /* Fair NAT: MARK = first IP's octet × 10 */
#define DEFAULT_P2P_BYTES 10000000u /* IPP2P fallback: demote after 10 MB */

/* ---- diagnostics ------------------------------------------------------- */

__attribute__((format(printf, 4, 5)))
static void diag(struct policy *p, enum policy_diag_level lvl, int line, const char *fmt, ...)
{
	struct policy_diag *d;
	va_list ap;

	if (lvl == POLICY_ERROR)
		p->n_errors++;
	d = realloc(p->diags, (p->n_diags + 1) * sizeof(*d));
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

#define perr(p, line, ...)  diag((p), POLICY_ERROR, (line), __VA_ARGS__)
#define pwarn(p, line, ...) diag((p), POLICY_WARNING, (line), __VA_ARGS__)
#define pnote(p, line, ...) diag((p), POLICY_NOTE, (line), __VA_ARGS__)

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
	free(p->diags);
	p->users = NULL;
	p->fwds = NULL;
	p->diags = NULL;
	p->n_users = p->n_fwds = p->n_diags = 0;
}

/* ---- small parsers ----------------------------------------------------- */

static bool streq_ci(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

/* Unsigned decimal integer, whole string, <= max. */
static bool parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

struct unit {
	const char *name;
	uint64_t factor;
	bool bits;      /* divide by 8 */
};

/* tc's units (tc(8) "RATES"): SI multipliers, "bps" is bytes per second. */
static const struct unit tc_units[] = {
	{ "bit", 1, true }, { "kbit", 1000, true }, { "mbit", 1000000, true },
	{ "gbit", 1000000000, true }, { "kibit", 1024, true }, { "mibit", 1048576, true },
	{ "gibit", 1073741824, true }, { "bps", 1, false }, { "kbps", 1000, false },
	{ "mbps", 1000000, false }, { "gbps", 1000000000, false },
	{ "kibps", 1024, false }, { "mibps", 1048576, false },
};

/* Fair NAT 0.79's conversion: 1024-based, no unit = kbit (fairnat.md Q4). */
static const struct unit fairnat_units[] = {
	{ "", 1024, true }, { "kbit", 1024, true }, { "mbit", 1048576, true },
	{ "bps", 1, false }, { "kbps", 1024, false }, { "mbps", 1048576, false },
};

int policy_parse_rate(const char *s, bool fairnat, uint64_t *bps, char *err, size_t errlen)
{
	uint64_t num = 0, den = 1;
	const struct unit *u = NULL;
	const struct unit *tab = fairnat ? fairnat_units : tc_units;
	size_t ntab = fairnat ? sizeof(fairnat_units) / sizeof(fairnat_units[0])
	                      : sizeof(tc_units) / sizeof(tc_units[0]);
	const char *q = s;
	bool digits = false;
	uint64_t v, q1, rem;

	for (; *q >= '0' && *q <= '9'; q++, digits = true)
		if (__builtin_mul_overflow(num, 10, &num) ||
		    __builtin_add_overflow(num, (uint64_t)(*q - '0'), &num))
			goto toobig;
	if (*q == '.' && !fairnat) {
		/* "1.5mbit": keep the fraction exact as num/den */
		for (q++; *q >= '0' && *q <= '9'; q++, digits = true) {
			if (den >= 1000000)
				continue;   /* ignore digits beyond 1e-6 */
			if (__builtin_mul_overflow(num, 10, &num) ||
			    __builtin_add_overflow(num, (uint64_t)(*q - '0'), &num))
				goto toobig;
			den *= 10;
		}
	}
	if (!digits) {
		snprintf(err, errlen, "expected a rate like %s, got \"%s\"",
		         fairnat ? "128kbit (no unit = kbit)" : "10mbit", s);
		return -EINVAL;
	}
	for (size_t i = 0; i < ntab; i++)
		if (streq_ci(q, tab[i].name)) {
			u = &tab[i];
			break;
		}
	if (u == NULL) {
		if (*q == '\0')
			snprintf(err, errlen, "rate \"%s\" needs a unit (bit kbit mbit gbit bps kbps mbps)", s);
		else
			snprintf(err, errlen, "unknown rate unit \"%s\" (expected %s)", q,
			         fairnat ? "kbit mbit kbps mbps bps" : "bit kbit mbit gbit bps kbps mbps gbps");
		return -EINVAL;
	}
	/* floor(num·factor/den) without overflow: den <= 1e6, factor < 2^31 */
	q1 = num / den;
	rem = num % den;
	if (__builtin_mul_overflow(q1, u->factor, &v) ||
	    __builtin_add_overflow(v, rem * u->factor / den, &v))
		goto toobig;
	if (u->bits)
		v /= 8;
	if (v > UINT64_MAX / 1000)
		goto toobig;
	if (v == 0) {
		snprintf(err, errlen, "rate \"%s\" is zero or below 1 byte/s", s);
		return -EINVAL;
	}
	*bps = v;
	return 0;
toobig:
	snprintf(err, errlen, "rate \"%s\" is too large", s);
	return -EINVAL;
}

const char *policy_rate_str(uint64_t bps, char *buf, size_t len)
{
	uint64_t bits = bps * 8;

	if (bits >= 10000000)
		snprintf(buf, len, "%llubps (%.1fmbit)", (unsigned long long)bps, (double)bits / 1e6);
	else
		snprintf(buf, len, "%llubps (%.1fkbit)", (unsigned long long)bps, (double)bits / 1e3);
	return buf;
}

static bool parse_ipv4(const char *s, uint32_t *ip)
{
	uint32_t v = 0;
	int parts = 0;

	while (parts < 4) {
		uint64_t o;
		char buf[4];
		size_t n = 0;

		while (s[n] >= '0' && s[n] <= '9' && n < 3) {
			buf[n] = s[n];
			n++;
		}
		if (n == 0)
			return false;
		buf[n] = '\0';
		if (!parse_uint(buf, 255, &o) || (n > 1 && buf[0] == '0'))
			return false;
		v = (v << 8) | (uint32_t)o;
		s += n;
		parts++;
		if (parts < 4) {
			if (*s != '.')
				return false;
			s++;
		}
	}
	if (*s != '\0')
		return false;
	*ip = v;
	return true;
}

static void ip_str(uint32_t ip, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

static void addr_str(const struct policy_addr *a, char *buf, size_t len)
{
	if (a->octet_only)
		snprintf(buf, len, "x.x.x.%u", a->ip & 255);
	else
		ip_str(a->ip, buf, len);
}

static bool valid_dev(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= POLICY_DEV_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || *s == '"' || *s == '\\' || isspace((unsigned char)*s) ||
		    !isprint((unsigned char)*s))
			return false;
	return true;
}

static bool valid_prefix(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= POLICY_PREFIX_MAX - 8)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

/* "@<44 base64>.ed25519" holding a 32-byte key. */
static bool valid_id(const char *s)
{
	unsigned char pk[32];
	size_t len = 0;

	if (strlen(s) != POLICY_ID_LEN || s[0] != '@' || strcmp(s + 45, ".ed25519") != 0)
		return false;
	if (sodium_base642bin(pk, sizeof(pk), s + 1, 44, NULL, &len, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0)
		return false;
	return len == 32;
}

static struct policy_user *add_user(struct policy *p, const char *name, int line)
{
	struct policy_user *u = realloc(p->users, (p->n_users + 1) * sizeof(*u));

	if (u == NULL)
		return NULL;
	p->users = u;
	u = &p->users[p->n_users++];
	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->line = line;
	return u;
}

static int user_add_addr(struct policy_user *u, struct policy_addr a)
{
	struct policy_addr *n = realloc(u->addrs, (u->n_addrs + 1) * sizeof(*n));

	if (n == NULL)
		return -ENOMEM;
	u->addrs = n;
	u->addrs[u->n_addrs++] = a;
	return 0;
}

static int user_add_id(struct policy_user *u, const char *id)
{
	char **n = realloc(u->ids, (u->n_ids + 1) * sizeof(*n));

	if (n == NULL)
		return -ENOMEM;
	u->ids = n;
	u->ids[u->n_ids] = strdup(id);
	if (u->ids[u->n_ids] == NULL)
		return -ENOMEM;
	u->n_ids++;
	return 0;
}

static int add_forward(struct policy *p, const struct policy_forward *f)
{
	struct policy_forward *n = realloc(p->fwds, (p->n_fwds + 1) * sizeof(*n));

	if (n == NULL)
		return -ENOMEM;
	p->fwds = n;
	p->fwds[p->n_fwds++] = *f;
	return 0;
}

static const char *const leaf_names[] = { "fq_codel", "cake", "sfq", "pfifo" };

const char *policy_leaf_name(enum policy_leaf l)
{
	return (unsigned)l < 4 ? leaf_names[l] : "?";
}

int policy_leaf_parse(const char *s, enum policy_leaf *out)
{
	for (unsigned i = 0; i < 4; i++)
		if (streq_ci(s, leaf_names[i])) {
			*out = (enum policy_leaf)i;
			return 0;
		}
	return -EINVAL;
}

static const char *const feature_names[] = {
	"PROC", "MODULES", "RESET", "NAT", "FORWARD", "QOS_DOWN", "QOS_UP", "TOS",
};

const char *policy_feature_names(unsigned f, char *buf, size_t len)
{
	size_t at = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	for (unsigned i = 0; i < 8; i++)
		if (f & (1u << i)) {
			int n = snprintf(buf + at, len - at, "%s%s", at ? " " : "", feature_names[i]);
			if (n < 0 || (size_t)n >= len - at)
				break;
			at += (size_t)n;
		}
	return buf;
}

/* One FEATURES word; dashes and case are forgiven in fairway's own file.
 * Returns the bit, 0 for unknown. *ipt is set for the IPT_ spellings. */
static unsigned feature_word(const char *w, bool *ipt)
{
	char up[32];
	size_t i;

	*ipt = false;
	for (i = 0; w[i] && i < sizeof(up) - 1; i++)
		up[i] = w[i] == '-' ? '_' : (char)toupper((unsigned char)w[i]);
	up[i] = '\0';
	if (strncmp(up, "IPT_", 4) == 0) {
		*ipt = true;
		memmove(up, up + 4, strlen(up + 4) + 1);
		if (strcmp(up, "RESET") != 0 && strcmp(up, "NAT") != 0 && strcmp(up, "FORWARD") != 0)
			return 0;
	}
	for (unsigned b = 0; b < 8; b++)
		if (strcmp(up, feature_names[b]) == 0)
			return 1u << b;
	return 0;
}

/* "off"/"0" | "pmtu"/"--clamp-mss-to-pmtu" | N / "--set-mss N". */
static bool parse_mss(const char *s, int *out)
{
	uint64_t v;

	while (isspace((unsigned char)*s))
		s++;
	if (strcmp(s, "0") == 0 || streq_ci(s, "off") || streq_ci(s, "no") || *s == '\0') {
		*out = 0;
		return true;
	}
	if (streq_ci(s, "pmtu") || strcmp(s, "--clamp-mss-to-pmtu") == 0) {
		*out = -1;
		return true;
	}
	if (strncmp(s, "--set-mss", 9) == 0 && isspace((unsigned char)s[9])) {
		s += 9;
		while (isspace((unsigned char)*s))
			s++;
	}
	if (parse_uint(s, 65535, &v) && v >= 88) {
		*out = (int)v;
		return true;
	}
	return false;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const t[] = { "1", "yes", "true", "on" };
	static const char *const f[] = { "0", "no", "false", "off" };

	for (int i = 0; i < 4; i++) {
		if (streq_ci(s, t[i])) {
			*out = true;
			return true;
		}
		if (streq_ci(s, f[i])) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* "PORT[-PORT]" or Fair NAT's "PORT[:PORT]". */
static bool parse_port_range(const char *s, char sep, uint16_t *lo, uint16_t *hi)
{
	char a[8], b[8];
	const char *d = strchr(s, sep);
	uint64_t x, y;
	size_t n = d ? (size_t)(d - s) : strlen(s);

	if (n == 0 || n >= sizeof(a))
		return false;
	memcpy(a, s, n);
	a[n] = '\0';
	if (!parse_uint(a, 65535, &x) || x == 0)
		return false;
	y = x;
	if (d) {
		if (strlen(d + 1) == 0 || strlen(d + 1) >= sizeof(b))
			return false;
		snprintf(b, sizeof(b), "%s", d + 1);
		if (!parse_uint(b, 65535, &y) || y < x)
			return false;
	}
	*lo = (uint16_t)x;
	*hi = (uint16_t)y;
	return true;
}

/* ---- fairway INI reader ------------------------------------------------ */

enum gkey {
	K_RATE_UP, K_RATE_DOWN, K_SUB, K_LOCAL, K_BORROW, K_CEIL_UP, K_CEIL_DOWN,
	K_DEV_LAN, K_DEV_NET, K_RATE_LAN, K_FEATURES, K_CLASS_MODE, K_LEAF, K_BACKEND,
	K_MSS, K_TTL, K_MPU, K_OVERHEAD, K_PREFIX, K_P2P, K_LAN_NET, K_MTU, K_IPTABLES, K_TC,
	K_LISTEN, K_ADVERTISE, K_PRIVACY, K_GUEST, K_NAME, K_CONNS_PER_IP, K_PENDING, K_TUNNELS_PER_PEER,
	K_IDLE, K_HANDSHAKE, K_MULTIHOP, K_PACE, K__COUNT
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
	[K_LISTEN] = { "listen", S_PORTAL }, [K_PRIVACY] = { "privacy", S_PORTAL },
	[K_ADVERTISE] = { "advertise", S_PORTAL },
	[K_GUEST] = { "guest", S_PORTAL }, [K_NAME] = { "name", S_PORTAL },
	[K_CONNS_PER_IP] = { "max-conns-per-ip", S_PORTAL },
	[K_PENDING] = { "max-pending-handshakes", S_PORTAL },
	[K_TUNNELS_PER_PEER] = { "max-tunnels-per-peer", S_PORTAL },
	[K_IDLE] = { "idle-timeout", S_PORTAL }, [K_HANDSHAKE] = { "handshake-timeout", S_PORTAL },
	[K_MULTIHOP] = { "allow-multihop", S_PORTAL }, [K_PACE] = { "pace", S_PORTAL },
};

/* "600s", "15000ms", "10min", or bare milliseconds (policy.h). */
bool policy_parse_duration_ms(const char *s, unsigned *out)
{
	static const struct { const char *unit; uint64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "min", 60000 }, { "", 1 },
	};
	char num[24];
	size_t n = strspn(s, "0123456789");
	uint64_t v;

	if (n == 0 || n >= sizeof(num))
		return false;
	memcpy(num, s, n);
	num[n] = '\0';
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(s + n, units[i].unit) == 0 && parse_uint(num, UINT32_MAX, &v) &&
		    v * units[i].ms <= UINT32_MAX) {
			*out = (unsigned)(v * units[i].ms);
			return true;
		}
	return false;
}

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
	if (!parse_uint(s, 99, &v)) {
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

	if (!valid_id(val)) {
		perr(c->p, c->cur_line, "deny: expected an SSB identity @<base64 of 32 bytes>.ed25519, got \"%s\"", val);
		return;
	}
	for (size_t i = 0; i < pp->n_deny; i++)
		if (strcmp(pp->deny[i], val) == 0) {
			perr(c->p, c->cur_line, "deny: %s is already denied at line %d", val, pp->deny_lines[i]);
			return;
		}
	ids = realloc(pp->deny, (pp->n_deny + 1) * sizeof(*ids));
	if (ids != NULL)
		pp->deny = ids;
	lines = realloc(pp->deny_lines, (pp->n_deny + 1) * sizeof(*lines));
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
		if (!parse_bool(val, &b)) {
			perr(p, c->cur_line, "%s: expected yes or no, got \"%s\"", name, val);
			break;
		}
		if (k == K_BORROW)
			p->link.borrow = b;
		else
			p->portal.guest = b;
		break;
	case K_DEV_LAN:
	case K_DEV_NET:
		if (!valid_dev(val)) {
			perr(p, c->cur_line, "%s: \"%s\" is not a network device name", name, val);
			break;
		}
		snprintf(k == K_DEV_LAN ? p->nat.dev_lan : p->nat.dev_net, POLICY_DEV_MAX, "%s", val);
		break;
	case K_FEATURES: {
		char buf[256], *save = NULL, *w;

		snprintf(buf, sizeof(buf), "%s", val);
		p->nat.features = 0;
		for (w = strtok_r(buf, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
			bool ipt;
			unsigned f = feature_word(w, &ipt);

			if (f == 0)
				perr(p, c->cur_line, "features: unknown feature \"%s\" (expected proc modules "
				     "reset nat forward qos-down qos-up tos)", w);
			p->nat.features |= f;
		}
		break;
	}
	case K_CLASS_MODE:
		if (streq_ci(val, "default"))
			p->nat.class_mode = POLICY_CLASS_DEFAULT;
		else if (streq_ci(val, "wonder"))
			p->nat.class_mode = POLICY_CLASS_WONDER;
		else
			perr(p, c->cur_line, "class-mode: expected default or wonder, got \"%s\"", val);
		break;
	case K_LEAF:
		if (policy_leaf_parse(val, &p->nat.leaf) != 0)
			perr(p, c->cur_line, "leaf: expected fq_codel, cake, sfq or pfifo, got \"%s\"", val);
		break;
	case K_BACKEND:
		if (streq_ci(val, "nft") || streq_ci(val, "nftables"))
			p->nat.backend = POLICY_BACKEND_NFT;
		else if (streq_ci(val, "iptables"))
			p->nat.backend = POLICY_BACKEND_IPTABLES;
		else
			perr(p, c->cur_line, "backend: expected nft or iptables, got \"%s\"", val);
		break;
	case K_MSS:
		if (!parse_mss(val, &p->nat.mss_clamp))
			perr(p, c->cur_line, "mss-clamp: expected off, pmtu or an MSS 88..65535, got \"%s\"", val);
		break;
	case K_TTL:
	case K_MPU:
	case K_OVERHEAD:
	case K_MTU: {
		uint64_t max = k == K_TTL ? 255 : k == K_MTU ? 65535 : 4096;

		if (!parse_uint(val, max, &v) || (k == K_MTU && v < 68)) {
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
		if (!valid_prefix(val))
			perr(p, c->cur_line, "prefix: expected letters, digits or '_' (1..15), got \"%s\"", val);
		else
			snprintf(p->nat.prefix, sizeof(p->nat.prefix), "%s", val);
		break;
	case K_P2P:
		if (streq_ci(val, "off") || strcmp(val, "0") == 0)
			p->nat.p2p_bytes = 0;
		else if (parse_uint(val, UINT64_MAX / 2, &v) && v >= 1000)
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
		if (!slash || !parse_ipv4(buf, &p->nat.lan_ip) || !parse_uint(slash, 30, &v) || v < 8) {
			perr(p, c->cur_line, "lan-net: expected the router's LAN address with prefix, "
			     "like 192.168.1.1/24, got \"%s\"", val);
			break;
		}
		p->nat.lan_prefix = (unsigned)v;
		p->nat.lan_set = true;
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
		if (streq_ci(val, "open"))
			p->portal.privacy = POLICY_PRIVACY_OPEN;
		else if (streq_ci(val, "community"))
			p->portal.privacy = POLICY_PRIVACY_COMMUNITY;
		else if (streq_ci(val, "restricted"))
			p->portal.privacy = POLICY_PRIVACY_RESTRICTED;
		else
			perr(p, c->cur_line, "privacy: expected open, community or restricted, got \"%s\"", val);
		break;
	case K_NAME:
		if (*val == '\0' || strlen(val) >= sizeof(p->portal.name))
			perr(p, c->cur_line, "name: expected 1..%zu characters", sizeof(p->portal.name) - 1);
		else
			snprintf(p->portal.name, sizeof(p->portal.name), "%s", val);
		break;
	case K_CONNS_PER_IP:
	case K_PENDING:
	case K_TUNNELS_PER_PEER: {
		unsigned *dst = k == K_CONNS_PER_IP ? &p->portal.conns_per_ip
		              : k == K_PENDING ? &p->portal.pending_handshakes
		                               : &p->portal.tunnels_per_peer;

		if (!parse_uint(val, 100000000, &v))
			perr(p, c->cur_line, "%s: expected a count (0 = no limit), got \"%s\"", name, val);
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
		if (!parse_bool(val, &b))
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
			if (!parse_port_range(w, '-', &f.lo, &f.hi))
				goto bad;
		} else if (streq_ci(w, "tcp") && f.protos == 3 && i == 1) {
			f.protos = POLICY_PROTO_TCP;
		} else if (streq_ci(w, "udp") && f.protos == 3 && i == 1) {
			f.protos = POLICY_PROTO_UDP;
		} else if (streq_ci(w, "to")) {
			w = strtok_r(NULL, " \t", &save);
			if (w == NULL || !parse_ipv4(w, &f.to.ip))
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
	(void)u;
	if (add_forward(c->p, &f) != 0)
		c->nomem = true;
	return;
bad:
	perr(c->p, c->cur_line, "forward: expected PORT[-PORT] [tcp|udp] [to ADDRESS], got \"%s\"", val);
}

static void ini_user(struct ini_ctx *c, const char *name, const char *val)
{
	struct policy *p = c->p;
	struct policy_user *u = &p->users[c->cur_user];
	uint64_t *dst = NULL;

	if (strcmp(name, "id") == 0) {
		if (!valid_id(val))
			perr(p, c->cur_line, "id: expected an SSB identity @<base64 of 32 bytes>.ed25519, got \"%s\"", val);
		else if (user_add_id(u, val) != 0)
			c->nomem = true;
		return;
	}
	if (strcmp(name, "addr") == 0) {
		struct policy_addr a = { .line = c->cur_line };
		uint64_t o;

		if (parse_ipv4(val, &a.ip)) {
			if ((a.ip & 255) == 0 || (a.ip & 255) == 255)
				perr(p, c->cur_line, "addr: %s is a network or broadcast address", val);
		} else if (parse_uint(val, 254, &o) && o > 0) {
			a.ip = (uint32_t)o;
			a.octet_only = true;   /* Fair NAT style: last octet on the LAN */
		} else {
			perr(p, c->cur_line, "addr: expected an IPv4 address (or a last octet 1..254), got \"%s\"", val);
			return;
		}
		if (user_add_addr(u, a) != 0)
			c->nomem = true;
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
		perr(p, c->cur_line, "unknown key \"%s\" in [user %s] (expected id, addr, rate-up, "
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
		if (strncmp(section, "user", 4) == 0 && (section[4] == ' ' || section[4] == '\t')) {
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
				if (add_user(p, n, hl) == NULL) {
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
			perr(p, hl, "unknown section [%s] (expected [portal], [nat] or [user NAME])", section);
		}
	}
	if (value == NULL)
		return 1;
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
	struct ini_ctx c = { .p = p, .text = text, .next_line = 1, .cur_user = -1 };
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
	return policy_validate(p);
}

/* ---- Fair NAT 0.80 fairnat.config reader ------------------------------- */

enum fvar {
	V_FEATURES, V_DEV_LAN, V_RATE_LAN, V_DEV_NET, V_RATE_UP, V_RATE_DOWN, V_SUB, V_LOCAL,
	V_USERS, V_PORTS, V_CLASS_MODE, V_BORROW, V_CEIL_UP, V_CEIL_DOWN, V_IPP2P_ENABLE,
	V_IPP2P_OPTIONS, V_IPP2P_UDP, V_IPP2P_DROP_ALL, V_IPP2P_DROP_MARKED, V_MSS, V_TTL,
	V_MPU, V_OVERHEAD, V_PREFIX, V_BIN_TC, V_BIN_IPT, V_BIN_IFC, V_BIN_GREP, V_BIN_SED,
	V_BIN_ECHO, V_BIN_MODPROBE, V_CONFIG, V__COUNT
};

static const struct {
	const char *name;
	const char *dflt;       /* Fair NAT 0.80 configure() default */
} fvars[V__COUNT] = {
	[V_FEATURES] = { "FEATURES", "PROC MODULES IPT_RESET IPT_NAT IPT_FORWARD QOS_DOWN QOS_UP" },
	[V_DEV_LAN] = { "DEV_LAN", "eth0" }, [V_RATE_LAN] = { "RATE_LAN", "5000" },
	[V_DEV_NET] = { "DEV_NET", "ppp0" }, [V_RATE_UP] = { "RATE_UP", "128" },
	[V_RATE_DOWN] = { "RATE_DOWN", "768" }, [V_SUB] = { "RATE_SUB_PERCENT", "5" },
	[V_LOCAL] = { "RATE_LOCAL_PERCENT", "5" }, [V_USERS] = { "USERS", "1 2 3" },
	[V_PORTS] = { "PORTS", "" }, [V_CLASS_MODE] = { "CLASS_MODE", "default" },
	[V_BORROW] = { "BORROW", "1" }, [V_CEIL_UP] = { "CEIL_USER_UP", "0" },
	[V_CEIL_DOWN] = { "CEIL_USER_DOWN", "0" }, [V_IPP2P_ENABLE] = { "IPP2P_ENABLE", "0" },
	[V_IPP2P_OPTIONS] = { "IPP2P_OPTIONS", "--ipp2p --apple --bit" },
	[V_IPP2P_UDP] = { "IPP2P_UDP", "0" }, [V_IPP2P_DROP_ALL] = { "IPP2P_DROP_ALL", "0" },
	[V_IPP2P_DROP_MARKED] = { "IPP2P_DROP_MARKED", "0" }, [V_MSS] = { "MSS_CLAMPING", "0" },
	[V_TTL] = { "TTL_SET", "0" }, [V_MPU] = { "HTB_MPU", "0" },
	[V_OVERHEAD] = { "HTB_OVERHEAD", "0" }, [V_PREFIX] = { "FAIRNAT_PREFIX", "FAIRNAT" },
	[V_BIN_TC] = { "BIN_TC", "tc" }, [V_BIN_IPT] = { "BIN_IPT", "iptables" },
	[V_BIN_IFC] = { "BIN_IFC", "ifconfig" }, [V_BIN_GREP] = { "BIN_GREP", "grep" },
	[V_BIN_SED] = { "BIN_SED", "sed" }, [V_BIN_ECHO] = { "BIN_ECHO", "echo" },
	[V_BIN_MODPROBE] = { "BIN_MODPROBE", "modprobe" },
	[V_CONFIG] = { "FAIRNAT_CONFIG", "/etc/ppp/fairnat.config" },
};

#define FVAL_MAX 4096

struct fctx {
	struct policy *p;
	char *val[V__COUNT];    /* current value (default, then assignments) */
	int line[V__COUNT];     /* 0 = script default */
	int last[V__COUNT];     /* line the assignment ends on */
	bool nomem;
};

static int fvar_find(const char *name)
{
	for (int i = 0; i < V__COUNT; i++)
		if (strcmp(fvars[i].name, name) == 0)
			return i;
	return -1;
}

struct sbuf {
	char *s;
	size_t len, cap;
	bool overflow;
};

static void sb_putc(struct sbuf *b, char ch)
{
	if (b->len + 1 >= b->cap) {
		b->overflow = true;
		return;
	}
	b->s[b->len++] = ch;
	b->s[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	for (; *s; s++)
		sb_putc(b, *s);
}

/* $NAME / ${NAME}: bash expands what configure() and earlier lines set. */
static const char *f_expand(struct fctx *c, const char **sp, const char *end, int line, bool *bad)
{
	const char *s = *sp + 1;   /* after '$' */
	char name[64];
	size_t n = 0;
	bool brace = false;
	int v;

	if (s < end && *s == '(') {
		perr(c->p, line, "command substitution $(...) is not supported: fairway reads "
		     "the config, it does not run it");
		*bad = true;
		return "";
	}
	if (s < end && *s == '{') {
		brace = true;
		s++;
	}
	while (s < end && (isalnum((unsigned char)*s) || *s == '_') && n < sizeof(name) - 1)
		name[n++] = *s++;
	name[n] = '\0';
	if (brace) {
		if (s >= end || *s != '}') {
			perr(c->p, line, "expected ${NAME}: only plain variable expansion is supported");
			*bad = true;
			return "";
		}
		s++;
	}
	*sp = s;
	if (n == 0)
		return "$";   /* a lone '$' is literal in bash */
	v = fvar_find(name);
	if (v < 0) {
		pwarn(c->p, line, "$%s is not a Fair NAT variable: it expands to nothing", name);
		return "";
	}
	return c->val[v] ? c->val[v] : "";
}

/* One word after NAME=: quotes, backslashes, line continuations and $VAR,
 * the way bash would see it. Advances *sp and *line. */
static bool f_word(struct fctx *c, const char **sp, const char *end, int *line, struct sbuf *out)
{
	const char *s = *sp;
	bool bad = false;
	int start_line = *line;

	while (s < end && !bad) {
		char ch = *s;

		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == ';' || ch == '#' || ch == '\r')
			break;
		if (ch == '\'') {
			for (s++; s < end && *s != '\''; s++) {
				if (*s == '\n')
					(*line)++;
				sb_putc(out, *s);
			}
			if (s >= end) {
				perr(c->p, start_line, "unterminated '...' string");
				*line = start_line;   /* the caller re-reads from the next line */
				return false;
			}
			s++;
		} else if (ch == '"') {
			for (s++; s < end && *s != '"' && !bad;) {
				if (*s == '\\' && s + 1 < end && strchr("\"\\$`\n", s[1])) {
					if (s[1] == '\n')
						(*line)++;   /* continuation: both vanish */
					else
						sb_putc(out, s[1]);
					s += 2;
				} else if (*s == '$') {
					sb_puts(out, f_expand(c, &s, end, *line, &bad));
				} else if (*s == '`') {
					perr(c->p, *line, "command substitution `...` is not supported: fairway "
					     "reads the config, it does not run it");
					bad = true;
				} else {
					if (*s == '\n')
						(*line)++;
					sb_putc(out, *s++);
				}
			}
			if (!bad && s >= end) {
				perr(c->p, start_line, "unterminated \"...\" string");
				*line = start_line;
				return false;
			}
			s++;
		} else if (ch == '\\') {
			if (s + 1 < end && s[1] == '\n') {
				(*line)++;
			} else if (s + 1 < end) {
				sb_putc(out, s[1]);
			}
			s += 2;
		} else if (ch == '$') {
			sb_puts(out, f_expand(c, &s, end, *line, &bad));
		} else if (ch == '`' || ch == '(' || ch == ')' || ch == '|' || ch == '&' ||
		           ch == '<' || ch == '>') {
			perr(c->p, *line, "unexpected '%c': fairway reads VAR=\"value\" assignments, "
			     "it does not run shell code", ch);
			*line = start_line;   /* the caller re-reads from the next line */
			return false;
		} else {
			sb_putc(out, ch);
			s++;
		}
	}
	if (bad) {
		*line = start_line;
		return false;
	}
	*sp = s;
	if (out->overflow) {
		perr(c->p, start_line, "value longer than %d characters", FVAL_MAX - 1);
		return false;
	}
	return !bad;
}

/* Pass 1: collect assignments; later ones win, as when bash sources it. */
static void f_scan(struct fctx *c, const char *text, size_t len)
{
	const char *s = text, *end = text + len;
	int line = 1;
	char *buf = malloc(FVAL_MAX);

	if (buf == NULL) {
		c->nomem = true;
		return;
	}
	while (s < end) {
		char name[64];
		size_t n = 0;
		int v, at;
		struct sbuf out = { .s = buf, .cap = FVAL_MAX };

		buf[0] = '\0';
		while (s < end && (*s == ' ' || *s == '\t' || *s == '\r' || *s == ';'))
			s++;
		if (s >= end)
			break;
		if (*s == '\n') {
			line++;
			s++;
			continue;
		}
		if (*s == '#')
			goto skip_line;
		if (*s == '\\' && s + 1 < end && s[1] == '\n') {
			s += 2;
			line++;
			continue;
		}
		if (end - s > 7 && strncmp(s, "export", 6) == 0 && (s[6] == ' ' || s[6] == '\t'))
			for (s += 6; s < end && (*s == ' ' || *s == '\t'); s++)
				;
		at = line;
		while (s < end && (isalnum((unsigned char)*s) || *s == '_') && n < sizeof(name) - 1)
			name[n++] = *s++;
		name[n] = '\0';
		if (n == 0 || isdigit((unsigned char)name[0]) || s >= end || *s != '=') {
			if (n > 0 && s < end && (*s == ' ' || *s == '\t')) {
				const char *t = s;

				while (t < end && (*t == ' ' || *t == '\t'))
					t++;
				if (t < end && *t == '=') {
					perr(c->p, at, "expected %s=value without spaces around '=' (bash would "
					     "run \"%s\" as a command)", name, name);
					goto skip_line;
				}
			}
			{
				/* the text is not NUL-terminated: bound the quote by end */
				const char *q = s - n;
				int span = 0;

				while (q + span < end && q[span] != '\n' && span < 60)
					span++;
				perr(c->p, at, "expected VAR=\"value\" (a Fair NAT variable assignment) "
				     "or a # comment, got \"%.*s\"", span, q);
			}
			goto skip_line;
		}
		s++;   /* '=' */
		if (!f_word(c, &s, end, &line, &out))
			goto skip_line;
		/* after the value: blanks, then end of line, ';' or a comment */
		while (s < end && (*s == ' ' || *s == '\t' || *s == '\r'))
			s++;
		if (s < end && *s != '\n' && *s != '#' && *s != ';') {
			perr(c->p, line, "unexpected text after the value of %s (quote values with spaces)", name);
			goto skip_line;
		}
		v = fvar_find(name);
		if (v < 0) {
			/* the README's spellings (quirk Q2) */
			if (strcmp(name, "USER_CEIL_UP") == 0 || strcmp(name, "USER_CEIL_DOWN") == 0) {
				v = strcmp(name, "USER_CEIL_UP") == 0 ? V_CEIL_UP : V_CEIL_DOWN;
				pnote(c->p, at, "%s is the README's spelling (quirk Q2); Fair NAT 0.80's script "
				      "reads %s, fairway accepts both", name, fvars[v].name);
			} else if (strcmp(name, "MSS_CLAMP") == 0) {
				v = V_MSS;
				pnote(c->p, at, "MSS_CLAMP is the README's spelling (quirk Q2); Fair NAT 0.80's "
				      "script reads MSS_CLAMPING, fairway accepts both");
			} else {
				perr(c->p, at, "unknown variable %s (not a Fair NAT 0.80 setting; typo?)", name);
				goto skip_line;
			}
		}
		free(c->val[v]);
		c->val[v] = strdup(buf);
		if (c->val[v] == NULL)
			c->nomem = true;
		c->line[v] = at;
		c->last[v] = line;
		continue;
skip_line:
		while (s < end && *s != '\n')
			s++;
	}
	free(buf);
}

static void f_rate(struct fctx *c, int v, uint64_t *dst, bool zero_ok)
{
	char err[160];

	if (zero_ok && strcmp(c->val[v], "0") == 0) {
		*dst = 0;
		return;
	}
	if (policy_parse_rate(c->val[v], true, dst, err, sizeof(err)) != 0)
		perr(c->p, c->line[v], "%s: %s", fvars[v].name, err);
}

static bool f_uint(struct fctx *c, int v, uint64_t max, uint64_t *out)
{
	if (!parse_uint(c->val[v], max, out)) {
		perr(c->p, c->line[v], "%s: expected a whole number 0..%llu, got \"%s\"", fvars[v].name,
		     (unsigned long long)max, c->val[v]);
		return false;
	}
	return true;
}

static bool f_flag(struct fctx *c, int v)
{
	uint64_t x = 0;

	if (strcmp(c->val[v], "0") != 0 && strcmp(c->val[v], "1") != 0) {
		perr(c->p, c->line[v], "%s: expected 0 or 1, got \"%s\"", fvars[v].name, c->val[v]);
		return false;
	}
	(void)parse_uint(c->val[v], 1, &x);
	return x == 1;
}

static bool parse_octet(const char *s, uint32_t *o)
{
	uint64_t v;

	if (!parse_uint(s, 254, &v) || v == 0 || (s[0] == '0'))
		return false;
	*o = (uint32_t)v;
	return true;
}

/* The line of a token inside variable v's (multi-line) value; the value
 * is the unsplit original (strtok_r overwrites the newlines). Newlines
 * that came from expanding another variable ("$USERS ...") are not this
 * assignment's lines, so the count stops at the assignment's last line. */
static int token_line(const struct fctx *c, int v, const char *tok)
{
	int line = c->line[v];

	for (const char *q = c->val[v]; q < tok && line < c->last[v]; q++)
		line += *q == '\n';
	return line;
}

/* USERS="2 5 6:23:25 183@1mbit|100kbit 17@|50" */
static void f_users(struct fctx *c)
{
	struct policy *p = c->p;
	char *save = NULL, *w, *buf = strdup(c->val[V_USERS]);

	if (buf == NULL) {
		c->nomem = true;
		return;
	}
	for (w = strtok_r(buf, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
		char *at = strchr(w, '@'), *ips = w, *save2 = NULL, *ip;
		size_t n_ips = 0;
		struct policy_user *u;
		char name[POLICY_NAME_MAX];
		int line = token_line(c, V_USERS, c->val[V_USERS] + (w - buf));

		if (at)
			*at++ = '\0';
		snprintf(name, sizeof(name), "user%s", ips);
		for (char *q = name; *q; q++)
			if (*q == ':')
				*q = '-';
		u = add_user(p, name, line);
		if (u == NULL) {
			c->nomem = true;
			break;
		}
		if (*ips == '\0')
			perr(p, line, "USERS: \"%s\" has no IP before '@'", w);
		for (ip = strtok_r(ips, ":", &save2); ip; ip = strtok_r(NULL, ":", &save2)) {
			struct policy_addr a = { .octet_only = true, .line = line };

			n_ips++;
			if (!parse_octet(ip, &a.ip)) {
				perr(p, line, "USERS: \"%s\" is not a last IP octet 1..254 (users are given "
				     "by the last number of their IP, groups as 6:23:25)", ip);
				continue;
			}
			if (user_add_addr(u, a) != 0)
				c->nomem = true;
		}
		/* "6::23" is 6 and 23 to bash's word splitting; ":" is nobody */
		if (*ips != '\0' && n_ips == 0)
			perr(p, line, "USERS: \"%s\" names no IP (a group is written 6:23:25)", w);
		if (at) {
			/* 0.79: @down[|up] ceilings in Fair NAT units */
			char *bar = strchr(at, '|');
			char err[160];

			if (bar)
				*bar++ = '\0';
			if (*at && policy_parse_rate(at, true, &u->ceil_down, err, sizeof(err)) != 0)
				perr(p, line, "USERS: download ceil of %s: %s", u->name, err);
			if (bar && *bar && policy_parse_rate(bar, true, &u->ceil_up, err, sizeof(err)) != 0)
				perr(p, line, "USERS: upload ceil of %s: %s", u->name, err);
			if (!*at && !(bar && *bar))
				perr(p, line, "USERS: expected IP@down, IP@down|up or IP@|up after '@'");
		}
	}
	free(buf);
}

/* PORTS="2 4000:6999 183 2000:3999": pairs of user octet and port/range. */
static void f_ports(struct fctx *c)
{
	struct policy *p = c->p;
	int line = c->line[V_PORTS];
	char *save = NULL, *w, *buf = strdup(c->val[V_PORTS]);
	char *ip = NULL;

	if (buf == NULL) {
		c->nomem = true;
		return;
	}
	for (w = strtok_r(buf, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
		struct policy_forward f = { .protos = POLICY_PROTO_TCP | POLICY_PROTO_UDP,
		                            .user = SIZE_MAX, .line = token_line(c, V_PORTS, c->val[V_PORTS] + (w - buf)) };

		if (ip == NULL) {
			ip = w;
			continue;
		}
		f.to.octet_only = true;
		f.to.line = f.line;
		if (!parse_octet(ip, &f.to.ip))
			perr(p, f.line, "PORTS: \"%s\" is not a last IP octet 1..254 (expected pairs "
			     "\"user port-or-range\")", ip);
		else if (!parse_port_range(w, ':', &f.lo, &f.hi))
			perr(p, f.line, "PORTS: \"%s\" is not a port 1..65535 or a range like 4000:6999", w);
		else if (add_forward(p, &f) != 0)
			c->nomem = true;
		ip = NULL;
	}
	if (ip != NULL)
		perr(p, line, "PORTS: \"%s\" has no port after it (expected pairs \"user port\")", ip);
	free(buf);
}

/* Pass 2: interpret every variable, with its line (0 = script default). */
static void f_interpret(struct fctx *c)
{
	struct policy *p = c->p;
	uint64_t v;

	/* FEATURES and quirk Q1 */
	{
		char *save = NULL, *w, *buf = strdup(c->val[V_FEATURES]);

		if (buf == NULL) {
			c->nomem = true;
			return;
		}
		p->nat.features = 0;
		for (w = strtok_r(buf, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
			bool ipt;
			unsigned f = feature_word(w, &ipt);

			if (f == 0) {
				perr(p, c->line[V_FEATURES], "FEATURES: unknown feature \"%s\" (expected PROC "
				     "MODULES RESET NAT FORWARD QOS_DOWN QOS_UP TOS)", w);
			} else if (ipt && c->line[V_FEATURES] == 0) {
				/* the script default: the original never tests these names */
			} else if (ipt) {
				pnote(p, c->line[V_FEATURES], "FEATURES: %s is the spelling of Fair NAT's own "
				      "defaults, which its code never tests (quirk Q1); fairway reads it as %s",
				      w, w + 4);
				p->nat.features |= f;
			} else {
				p->nat.features |= f;
			}
		}
		free(buf);
		if (c->line[V_FEATURES] == 0)
			pnote(p, 0, "FEATURES is not set: Fair NAT 0.80's default (PROC MODULES IPT_RESET "
			      "IPT_NAT IPT_FORWARD QOS_DOWN QOS_UP) names features its code never tests, so "
			      "NAT, port forwarding, RESET and TOS stay off (quirk Q1), as in the original");
	}
	if (!valid_dev(c->val[V_DEV_LAN]))
		perr(p, c->line[V_DEV_LAN], "DEV_LAN: \"%s\" is not a network device name", c->val[V_DEV_LAN]);
	else
		snprintf(p->nat.dev_lan, sizeof(p->nat.dev_lan), "%s", c->val[V_DEV_LAN]);
	if (!valid_dev(c->val[V_DEV_NET]))
		perr(p, c->line[V_DEV_NET], "DEV_NET: \"%s\" is not a network device name", c->val[V_DEV_NET]);
	else
		snprintf(p->nat.dev_net, sizeof(p->nat.dev_net), "%s", c->val[V_DEV_NET]);
	f_rate(c, V_RATE_LAN, &p->link.rate_lan, false);
	f_rate(c, V_RATE_UP, &p->link.rate_up, false);
	f_rate(c, V_RATE_DOWN, &p->link.rate_down, false);
	if (f_uint(c, V_SUB, 99, &v))
		p->link.sub_percent = (unsigned)v;
	if (f_uint(c, V_LOCAL, 99, &v))
		p->link.local_percent = (unsigned)v;
	f_users(c);
	f_ports(c);
	if (strcmp(c->val[V_CLASS_MODE], "default") == 0)
		p->nat.class_mode = POLICY_CLASS_DEFAULT;
	else if (strcmp(c->val[V_CLASS_MODE], "wonder") == 0)
		p->nat.class_mode = POLICY_CLASS_WONDER;
	else
		perr(p, c->line[V_CLASS_MODE], "CLASS_MODE: expected default or wonder (the modes "
		     "Fair NAT 0.80 ships), got \"%s\"", c->val[V_CLASS_MODE]);
	p->link.borrow = f_flag(c, V_BORROW);
	f_rate(c, V_CEIL_UP, &p->link.ceil_user_up, true);
	f_rate(c, V_CEIL_DOWN, &p->link.ceil_user_down, true);
	p->nat.ipp2p = f_flag(c, V_IPP2P_ENABLE);
	p->nat.ipp2p_udp = f_flag(c, V_IPP2P_UDP);
	p->nat.ipp2p_drop_all = f_flag(c, V_IPP2P_DROP_ALL);
	p->nat.ipp2p_drop_marked = f_flag(c, V_IPP2P_DROP_MARKED);
	if (p->nat.ipp2p) {
		p->nat.p2p_bytes = DEFAULT_P2P_BYTES;
		pwarn(p, c->line[V_IPP2P_ENABLE], "IPP2P_ENABLE=1: no mainline kernel has the ipp2p "
		      "match; instead fairway demotes connections that carried more than %u bytes "
		      "(conntrack byte counter) to each user's P2P band%s", DEFAULT_P2P_BYTES,
		      p->nat.ipp2p_udp ? " (TCP and UDP)" : " (TCP only, IPP2P_UDP=0)");
		if (c->line[V_IPP2P_OPTIONS])
			pnote(p, c->line[V_IPP2P_OPTIONS], "IPP2P_OPTIONS \"%s\" has no effect without "
			      "the ipp2p match", c->val[V_IPP2P_OPTIONS]);
		if (p->nat.ipp2p_drop_all)
			pwarn(p, c->line[V_IPP2P_DROP_ALL], "IPP2P_DROP_ALL=1: without ipp2p fairway cannot "
			      "tell P2P from other heavy connections, so it drops nothing; they are demoted");
	} else if (p->nat.ipp2p_drop_all || p->nat.ipp2p_udp) {
		pnote(p, c->line[V_IPP2P_DROP_ALL] ? c->line[V_IPP2P_DROP_ALL] : c->line[V_IPP2P_UDP],
		      "IPP2P_* settings have no effect while IPP2P_ENABLE=0");
	}
	if (!parse_mss(c->val[V_MSS], &p->nat.mss_clamp))
		perr(p, c->line[V_MSS], "MSS_CLAMPING: expected 0, --clamp-mss-to-pmtu or --set-mss N, "
		     "got \"%s\"", c->val[V_MSS]);
	if (f_uint(c, V_TTL, 255, &v))
		p->nat.ttl_set = (unsigned)v;
	if (f_uint(c, V_MPU, 4096, &v))
		p->nat.htb_mpu = (unsigned)v;
	if (f_uint(c, V_OVERHEAD, 4096, &v))
		p->nat.htb_overhead = (unsigned)v;
	if (!valid_prefix(c->val[V_PREFIX]))
		perr(p, c->line[V_PREFIX], "FAIRNAT_PREFIX: expected letters, digits or '_' "
		     "(1..15), got \"%s\"", c->val[V_PREFIX]);
	else
		snprintf(p->nat.prefix, sizeof(p->nat.prefix), "%s", c->val[V_PREFIX]);
	/* Binaries: tc and iptables are used; the rest has no job any more. */
	if (c->line[V_BIN_TC])
		snprintf(p->nat.tc, sizeof(p->nat.tc), "%s", c->val[V_BIN_TC]);
	if (c->line[V_BIN_IPT])
		snprintf(p->nat.iptables, sizeof(p->nat.iptables), "%s", c->val[V_BIN_IPT]);
	for (int i = V_BIN_IFC; i <= V_BIN_MODPROBE; i++)
		if (c->line[i])
			pnote(p, c->line[i], "%s is not needed: fairway reads addresses with ip(8) and "
			      "the kernel loads modules on demand", fvars[i].name);
	if (c->line[V_CONFIG])
		pnote(p, c->line[V_CONFIG], "FAIRNAT_CONFIG inside the config has no effect");
	if (p->nat.features & POLICY_F_MODULES)
		pnote(p, c->line[V_FEATURES], "FEATURES MODULES: nothing to do, the kernel loads "
		      "qdisc and netfilter modules on demand");
	pnote(p, 0, "rates use Fair NAT's units: 1kbit = 1024 bit/s (128kbit = 16384 bytes/s; "
	      "tc's kbit is 1000, quirk Q4)");
}

int policy_parse_fairnat(struct policy *p, const char *text, size_t len, const char *file)
{
	struct fctx c = { .p = p };
	int rc = 0;

	if (file)
		snprintf(p->file, sizeof(p->file), "%s", file);
	p->format = POLICY_FMT_FAIRNAT;
	p->has_nat = true;
	for (int i = 0; i < V__COUNT; i++) {
		c.val[i] = strdup(fvars[i].dflt);
		if (c.val[i] == NULL)
			c.nomem = true;
	}
	if (!c.nomem)
		f_scan(&c, text, len);
	if (!c.nomem)
		f_interpret(&c);
	for (int i = 0; i < V__COUNT; i++)
		free(c.val[i]);
	if (c.nomem)
		return -ENOMEM;
	rc = policy_validate(p);
	return rc;
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

static bool addr_eq(const struct policy_addr *a, const struct policy_addr *b)
{
	if (a->octet_only || b->octet_only)
		return (a->ip & 255) == (b->ip & 255) && (a->octet_only == b->octet_only);
	return a->ip == b->ip;
}

int policy_validate(struct policy *p)
{
	char b1[48], b2[48];
	uint64_t sum_up = 0, sum_down = 0, line_up, line_down, avail_up;
	int tip_up = 0, tip_down = 0;   /* the user whose rate tips it over */

	for (size_t i = 0; i < p->n_users; i++) {
		struct policy_user *u = &p->users[i];

		if (p->format == POLICY_FMT_FAIRWAY && u->n_ids == 0 && u->n_addrs == 0)
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
					if (addr_eq(&u->addrs[j], &p->users[k].addrs[m])) {
						addr_str(&u->addrs[j], b1, sizeof(b1));
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
	/* the class ids derive from the first address' last octet */
	for (size_t i = 0; i < p->n_users; i++)
		for (size_t k = i + 1; k < p->n_users; k++)
			if (p->users[i].n_addrs && p->users[k].n_addrs &&
			    (p->users[i].addrs[0].ip & 255) == (p->users[k].addrs[0].ip & 255) &&
			    !addr_eq(&p->users[i].addrs[0], &p->users[k].addrs[0]))
				perr(p, p->users[k].line, "users %s and %s both start with an address ending "
				     "in .%u: class ids derive from that octet, list another address first",
				     p->users[i].name, p->users[k].name, p->users[i].addrs[0].ip & 255);
	/* forwards: a target, and no two overlapping per protocol */
	for (size_t i = 0; i < p->n_fwds; i++) {
		struct policy_forward *f = &p->fwds[i];

		if (f->to.ip == 0 && f->user != SIZE_MAX) {
			if (p->users[f->user].n_addrs == 0 && p->users[f->user].n_ids == 0)
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
					if (addr_eq(&p->users[k].addrs[m], &f->to))
						f->user = k;
		if (f->user == SIZE_MAX && f->to.ip != 0) {
			addr_str(&f->to, b1, sizeof(b1));
			pwarn(p, f->line, "ports %u-%u go to %s, which is in no user: its download is "
			      "shaped in the default class", f->lo, f->hi, b1);
		}
	}
	if (!p->has_nat && !p->has_portal)
		return p->n_errors ? -EINVAL : 0;
	/* rates that do not fit */
	line_up = p->link.rate_up * (100 - p->link.sub_percent) / 100;
	line_down = p->link.rate_down * (100 - p->link.sub_percent) / 100;
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
			if (p->users[i].n_addrs == 0 && p->format == POLICY_FMT_FAIRWAY)
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

	ip_str(net, b2, sizeof(b2));
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
			ip_str(a->ip, b1, sizeof(b1));
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

		if (a->ip == 0 && p->fwds[i].user != SIZE_MAX && p->users[p->fwds[i].user].n_addrs) {
			*a = p->users[p->fwds[i].user].addrs[0];
			a->line = p->fwds[i].line;
		} else if (a->octet_only) {
			a->ip = (lan_ip & 0xffffff00u) | (a->ip & 255);
			a->octet_only = false;
		}
		ip_str(a->ip, b1, sizeof(b1));
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
						ip_str(p->users[i].addrs[j].ip, b1, sizeof(b1));
						perr(p, p->users[k].addrs[m].line, "address %s is listed twice", b1);
					}
	return p->n_errors > before ? -EINVAL : 0;
}

/* ---- rates (fairnat.md §1 derived values, §3) -------------------------- */

int policy_compute(const struct policy *p, enum policy_plane plane, struct policy_rates *r)
{
	const struct policy_link *l = &p->link;
	uint64_t fixed_up = 0, fixed_down = 0;
	size_t unset_up = 0, unset_down = 0, shares_up, shares_down;
	char b1[48], b2[48];

	memset(r, 0, sizeof(*r));
	r->n = p->n_users;
	r->u = calloc(p->n_users ? p->n_users : 1, sizeof(*r->u));
	if (r->u == NULL)
		return -ENOMEM;
	/* RATE_UP=$(($RATE_UP*(100-$RATE_SUB_PERCENT)/100)) in bash integers */
	r->line_up = l->rate_up * (100 - l->sub_percent) / 100;
	r->line_down = l->rate_down * (100 - l->sub_percent) / 100;
	r->lan = l->rate_lan;
	r->local_up = l->local_percent * r->line_up / 100;
	for (size_t i = 0; i < p->n_users; i++) {
		fixed_up += p->users[i].rate_up;
		fixed_down += p->users[i].rate_down;
		unset_up += p->users[i].rate_up == 0;
		unset_down += p->users[i].rate_down == 0;
	}
	shares_up = unset_up + (plane == POLICY_PLANE_PORTAL && p->portal.guest);
	shares_down = unset_down + (plane == POLICY_PLANE_PORTAL && p->portal.guest);
	/* RATE_USER_UP=$(((100-LOCAL)*RATE_UP/(NUM_USERS*100))): one division,
	 * which equals floor(floor(x/100)/N) when nobody has a fixed rate. */
	if (shares_up) {
		uint64_t avail = (100 - l->local_percent) * r->line_up;
		uint64_t fixed100 = fixed_up * 100;

		r->user_up = avail > fixed100 ? (avail - fixed100) / (shares_up * 100) : 0;
	}
	if (shares_down)
		r->user_down = r->line_down > fixed_down ? (r->line_down - fixed_down) / shares_down : 0;
	if (plane == POLICY_PLANE_PORTAL && p->portal.guest) {
		r->guest_up = r->user_up;
		r->guest_down = r->user_down;
	}
	for (size_t i = 0; i < p->n_users; i++) {
		const struct policy_user *u = &p->users[i];
		struct policy_user_rates *ur = &r->u[i];

		ur->rate_up = u->rate_up ? u->rate_up : r->user_up;
		ur->rate_down = u->rate_down ? u->rate_down : r->user_down;
		ur->ceil_up = u->ceil_up ? u->ceil_up : l->ceil_user_up ? l->ceil_user_up : r->line_up;
		ur->ceil_down = u->ceil_down ? u->ceil_down :
		                l->ceil_user_down ? l->ceil_user_down : r->line_down;
		if (ur->ceil_up > r->line_up) {
			struct policy_diag *w = realloc(r->warn, (r->n_warn + 1) * sizeof(*w));

			if (w) {
				r->warn = w;
				w[r->n_warn] = (struct policy_diag){ .level = POLICY_WARNING, .line = u->line };
				snprintf(w[r->n_warn++].msg, POLICY_MSG_MAX, "user %s: upload ceil %s is above "
				         "the shaped line %s; the line is the real limit", u->name,
				         policy_rate_str(ur->ceil_up, b1, sizeof(b1)),
				         policy_rate_str(r->line_up, b2, sizeof(b2)));
			}
		}
		if (ur->ceil_down > r->line_down) {
			struct policy_diag *w = realloc(r->warn, (r->n_warn + 1) * sizeof(*w));

			if (w) {
				r->warn = w;
				w[r->n_warn] = (struct policy_diag){ .level = POLICY_WARNING, .line = u->line };
				snprintf(w[r->n_warn++].msg, POLICY_MSG_MAX, "user %s: download ceil %s is "
				         "above the shaped line %s; the line is the real limit", u->name,
				         policy_rate_str(ur->ceil_down, b1, sizeof(b1)),
				         policy_rate_str(r->line_down, b2, sizeof(b2)));
			}
		}
		/* Fair NAT: a ceil below the rate lowers the rate ("Underfull link") */
		for (int d = 0; d < 2; d++) {
			uint64_t *rate = d ? &ur->rate_down : &ur->rate_up;
			uint64_t ceil = d ? ur->ceil_down : ur->ceil_up;

			if (ceil < *rate) {
				struct policy_diag *w = realloc(r->warn, (r->n_warn + 1) * sizeof(*w));

				if (w) {
					r->warn = w;
					w[r->n_warn] = (struct policy_diag){ .level = POLICY_WARNING,
					                                     .line = u->line };
					snprintf(w[r->n_warn++].msg, POLICY_MSG_MAX, "Underfull link: user %s's "
					         "%s ceil %s is below its rate %s; the rate is lowered to the ceil "
					         "and the rest of the link stays unused by guarantees", u->name,
					         d ? "download" : "upload", policy_rate_str(ceil, b1, sizeof(b1)),
					         policy_rate_str(*rate, b2, sizeof(b2)));
				}
				*rate = ceil;
			}
		}
		if (!l->borrow) {
			ur->ceil_up = ur->rate_up;
			ur->ceil_down = ur->rate_down;
		}
		if (ur->rate_up == 0)
			ur->rate_up = 1;     /* HTB needs a nonzero rate */
		if (ur->rate_down == 0)
			ur->rate_down = 1;
		if (ur->ceil_up < ur->rate_up)
			ur->ceil_up = ur->rate_up;
		if (ur->ceil_down < ur->rate_down)
			ur->ceil_down = ur->rate_down;
		ur->mark = u->n_addrs ? (u->addrs[0].ip & 255) * MARK_OFFSET : 0;
		r->users_up += ur->rate_up;
		r->users_down += ur->rate_down;
	}
	/* Q6: download gives the router whatever of the LAN rate users do not get */
	r->local_down = r->lan > r->users_down ? r->lan - r->users_down : 1;
	if (r->local_up == 0)
		r->local_up = 1;
	return 0;
}

void policy_rates_free(struct policy_rates *r)
{
	free(r->u);
	free(r->warn);
	r->u = NULL;
	r->warn = NULL;
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
