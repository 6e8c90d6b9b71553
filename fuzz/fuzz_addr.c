/* fuzz_addr: arbitrary bytes as a ';'-separated multiserver address list.
 * Invariant: every NET/TUNNEL/WS address prints canonically and the printed
 * form parses back to the same address, IPv6 %zone included. */
#include <stdint.h>
#include <string.h>

#include "addr.h"

#define MAXN 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const struct addr *a, const struct addr *b)
{
	if (a->kind != b->kind || a->has_shs != b->has_shs || a->has_seed != b->has_seed ||
	    memcmp(a->shs_pk, b->shs_pk, 32) != 0 || memcmp(a->shs_seed, b->shs_seed, 32) != 0)
		return 0;
	if (a->kind == ADDR_WS)
		return a->port == b->port && a->secure == b->secure &&
		       strcmp(a->host, b->host) == 0 && strcmp(a->path, b->path) == 0;
	if (a->kind == ADDR_NET)
		return a->port == b->port && strcmp(a->host, b->host) == 0;
	return memcmp(a->portal, b->portal, 32) == 0 && memcmp(a->target, b->target, 32) == 0 &&
	       a->has_instance == b->has_instance && a->instance == b->instance;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addr a[MAXN], b;
	char out[ADDR_TEXT_MAX + 1], out2[ADDR_TEXT_MAX + 1], err[200];
	size_t n;
	int len;

	if (addr_parse_multi((const char *)data, size, a, MAXN, &n, err, sizeof(err)) != 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (a[i].kind == ADDR_OTHER)
			continue;
		len = addr_format(&a[i], out, sizeof(out));
		if (len <= 0 || (size_t)len != strlen(out))
			__builtin_trap();
		if (addr_parse(out, (size_t)len, &b, err, sizeof(err)) != 0 || !same(&a[i], &b))
			__builtin_trap();
		/* canonical text is a fixed point */
		if (addr_format(&b, out2, sizeof(out2)) != len || memcmp(out2, out, (size_t)len) != 0)
			__builtin_trap();
	}
	return 0;
}
