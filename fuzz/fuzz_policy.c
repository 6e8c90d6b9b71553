/* fuzz_policy — fairway's INI policy text → policy_parse_ini.
 * Invariants: no crash or leak; the result agrees with its diagnostics
 * (an error return iff errors were recorded); a policy that parsed has
 * only valid rates and ranges, and computing its rates never fails. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy p;
	struct policy_rates r;
	char *text;
	int rc;

	if (size > 65536)
		return 0;
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';   /* inih reads a C string: stop at the first NUL */
	policy_init(&p, POLICY_FMT_FAIRWAY);
	rc = policy_parse_ini(&p, text, "fuzz.ini");
	if ((rc == 0) != (p.n_errors == 0) && rc != -12 /* -ENOMEM */)
		__builtin_trap();
	if (rc == 0) {
		for (size_t i = 0; i < p.n_fwds; i++)
			if (p.fwds[i].lo == 0 || p.fwds[i].lo > p.fwds[i].hi || p.fwds[i].protos == 0)
				__builtin_trap();
		if (p.link.sub_percent > 99 || p.link.local_percent > 99)
			__builtin_trap();
		if (policy_compute(&p, POLICY_PLANE_PORTAL, &r) == 0) {
			for (size_t i = 0; i < r.n; i++)
				if (r.u[i].ceil_up < r.u[i].rate_up || r.u[i].ceil_down < r.u[i].rate_down)
					__builtin_trap();
			policy_rates_free(&r);
		}
	}
	policy_free(&p);
	free(text);
	return 0;
}
