/* policy_addr — LAN addresses: parsing, printing, comparing. */
#include "policy.h"
#include "policy_int.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
