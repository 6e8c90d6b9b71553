/* policy_addr — LAN addresses: IPv4 (Fair NAT's octets included), IPv6
 * addresses and prefixes, MACs: parsing, printing, comparing. */
#include "policy.h"
#include "policy_int.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

bool policy_parse_ipv4(const char *s, uint32_t *ip)
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
		if (!policy_parse_uint(buf, 255, &o) || (n > 1 && buf[0] == '0'))
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

void policy_ip_str(uint32_t ip, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

void policy_addr_str(const struct policy_addr *a, char *buf, size_t len)
{
	if (a->octet_only)
		snprintf(buf, len, "x.x.x.%u", a->ip & 255);
	else
		policy_ip_str(a->ip, buf, len);
}


bool policy_addr_eq(const struct policy_addr *a, const struct policy_addr *b)
{
	if (a->octet_only || b->octet_only)
		return (a->ip & 255) == (b->ip & 255) && (a->octet_only == b->octet_only);
	return a->ip == b->ip;
}

bool policy_parse_net6(const char *s, struct policy_net6 *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	uint64_t plen = 128;
	struct policy_net6 v = { 0 };

	if (n == 0 || n >= sizeof(buf) || strchr(s, ':') == NULL)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET6, buf, v.a) != 1)
		return false;
	if (slash && (!policy_parse_uint(slash + 1, 128, &plen) || plen == 0 ||
	              (slash[1] == '0' && slash[2] != '\0')))
		return false;
	v.plen = (unsigned)plen;
	/* host bits must be zero: "2001:db8::1/64" is an address or a typo */
	for (unsigned bit = v.plen; bit < 128; bit++)
		if (v.a[bit / 8] & (0x80u >> (bit % 8)))
			return false;
	v.line = out->line;
	*out = v;
	return true;
}

const char *policy_net6_str(const struct policy_net6 *n, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (inet_ntop(AF_INET6, n->a, a, sizeof(a)) == NULL)
		snprintf(a, sizeof(a), "?");
	if (n->plen == 128)
		snprintf(buf, len, "%s", a);
	else
		snprintf(buf, len, "%s/%u", a, n->plen);
	return buf;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

bool policy_parse_mac(const char *s, struct policy_mac *out)
{
	struct policy_mac m = { .line = out->line };
	unsigned any = 0;

	if (strlen(s) != 17)
		return false;
	for (int i = 0; i < 6; i++) {
		int h = hexval(s[i * 3]), l = hexval(s[i * 3 + 1]);

		if (h < 0 || l < 0 || (i < 5 && s[i * 3 + 2] != ':' && s[i * 3 + 2] != '-') ||
		    (i < 5 && s[i * 3 + 2] != s[2]))
			return false;
		m.a[i] = (uint8_t)(h << 4 | l);
		any |= m.a[i];
	}
	if (any == 0 || (m.a[0] & 1))
		return false;   /* all-zero, or a group (multicast) address */
	*out = m;
	return true;
}

const char *policy_mac_str(const struct policy_mac *m, char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", m->a[0], m->a[1], m->a[2], m->a[3],
	         m->a[4], m->a[5]);
	return buf;
}

/* The first plen bits of a and b agree. */
static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned plen)
{
	unsigned full = plen / 8, rest = plen % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	return rest == 0 || ((a[full] ^ b[full]) & (0xffu << (8 - rest))) == 0;
}

bool policy_net6_overlap(const struct policy_net6 *a, const struct policy_net6 *b)
{
	return prefix_eq(a->a, b->a, a->plen < b->plen ? a->plen : b->plen);
}

bool policy_net6_inside(const struct policy_net6 *a, const struct policy_net6 *b)
{
	return b->plen >= a->plen && prefix_eq(a->a, b->a, a->plen);
}
