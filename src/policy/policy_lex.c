/* policy_lex — the small parsers both readers use (numbers, yes/no, MSS,
 * port ranges, device and prefix names, SSB identities, FEATURES words)
 * and the model's growing lists (users, addresses, ids, forwards). */
#include "policy.h"
#include "policy_int.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* ---- small parsers ----------------------------------------------------- */


void *policy_grow(void *a, size_t n, size_t size)
{
	if (n & (n - 1))
		return a;   /* not a power of two: the last doubling left room */
	if (n > SIZE_MAX / 2 / size)
		return NULL;
	return realloc(a, (n ? 2 * n : 1) * size);
}

bool policy_streq_ci(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

/* Unsigned decimal integer, whole string, <= max. */
bool policy_parse_uint(const char *s, uint64_t max, uint64_t *out)
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

bool policy_valid_dev(const char *s)
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

bool policy_valid_prefix(const char *s)
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
bool policy_valid_id(const char *s)
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

struct policy_user *policy_add_user(struct policy *p, const char *name, int line)
{
	struct policy_user *u = policy_grow(p->users, p->n_users, sizeof(*u));

	if (u == NULL)
		return NULL;
	p->users = u;
	u = &p->users[p->n_users++];
	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->line = line;
	return u;
}

int policy_user_add_addr(struct policy_user *u, struct policy_addr a)
{
	struct policy_addr *n = policy_grow(u->addrs, u->n_addrs, sizeof(*n));

	if (n == NULL)
		return -ENOMEM;
	u->addrs = n;
	u->addrs[u->n_addrs++] = a;
	return 0;
}

int policy_user_add_net6(struct policy_user *u, struct policy_net6 n)
{
	struct policy_net6 *v = policy_grow(u->nets6, u->n_nets6, sizeof(*v));

	if (v == NULL)
		return -ENOMEM;
	u->nets6 = v;
	u->nets6[u->n_nets6++] = n;
	return 0;
}

int policy_user_add_mac(struct policy_user *u, struct policy_mac m)
{
	struct policy_mac *v = policy_grow(u->macs, u->n_macs, sizeof(*v));

	if (v == NULL)
		return -ENOMEM;
	u->macs = v;
	u->macs[u->n_macs++] = m;
	return 0;
}

int policy_user_add_id(struct policy_user *u, const char *id)
{
	char **n = policy_grow(u->ids, u->n_ids, sizeof(*n));

	if (n == NULL)
		return -ENOMEM;
	u->ids = n;
	u->ids[u->n_ids] = strdup(id);
	if (u->ids[u->n_ids] == NULL)
		return -ENOMEM;
	u->n_ids++;
	return 0;
}

int policy_add_forward(struct policy *p, const struct policy_forward *f)
{
	struct policy_forward *n = policy_grow(p->fwds, p->n_fwds, sizeof(*n));

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
		if (policy_streq_ci(s, leaf_names[i])) {
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
unsigned policy_feature_word(const char *w, bool *ipt)
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
bool policy_parse_mss(const char *s, int *out)
{
	uint64_t v;

	while (isspace((unsigned char)*s))
		s++;
	if (strcmp(s, "0") == 0 || policy_streq_ci(s, "off") || policy_streq_ci(s, "no") || *s == '\0') {
		*out = 0;
		return true;
	}
	if (policy_streq_ci(s, "pmtu") || strcmp(s, "--clamp-mss-to-pmtu") == 0) {
		*out = -1;
		return true;
	}
	if (strncmp(s, "--set-mss", 9) == 0 && isspace((unsigned char)s[9])) {
		s += 9;
		while (isspace((unsigned char)*s))
			s++;
	}
	if (policy_parse_uint(s, 65535, &v) && v >= 88) {
		*out = (int)v;
		return true;
	}
	return false;
}

bool policy_parse_bool(const char *s, bool *out)
{
	static const char *const t[] = { "1", "yes", "true", "on" };
	static const char *const f[] = { "0", "no", "false", "off" };

	for (int i = 0; i < 4; i++) {
		if (policy_streq_ci(s, t[i])) {
			*out = true;
			return true;
		}
		if (policy_streq_ci(s, f[i])) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* "PORT[-PORT]" or Fair NAT's "PORT[:PORT]". */
bool policy_parse_port_range(const char *s, char sep, uint16_t *lo, uint16_t *hi)
{
	char a[8], b[8];
	const char *d = strchr(s, sep);
	uint64_t x, y;
	size_t n = d ? (size_t)(d - s) : strlen(s);

	if (n == 0 || n >= sizeof(a))
		return false;
	memcpy(a, s, n);
	a[n] = '\0';
	if (!policy_parse_uint(a, 65535, &x) || x == 0)
		return false;
	y = x;
	if (d) {
		if (strlen(d + 1) == 0 || strlen(d + 1) >= sizeof(b))
			return false;
		snprintf(b, sizeof(b), "%s", d + 1);
		if (!policy_parse_uint(b, 65535, &y) || y < x)
			return false;
	}
	*lo = (uint16_t)x;
	*hi = (uint16_t)y;
	return true;
}
