/* fuzz_fairnat — Fair NAT 0.80 fairnat.config text → policy_parse_fairnat.
 * Invariants: no crash or leak; error return iff errors recorded; every
 * diagnostic line lies inside the text; a config that parsed resolves on
 * a /24 and yields rates with ceil >= rate and class marks 10..2540. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy p;
	struct policy_rates r;
	int rc, lines = 1;

	if (size > 65536)
		return 0;
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	policy_init(&p, POLICY_FMT_FAIRNAT);
	rc = policy_parse_fairnat(&p, (const char *)data, size, "fuzz.config");
	if ((rc == 0) != (p.n_errors == 0) && rc != -12 /* -ENOMEM */)
		__builtin_trap();
	for (size_t i = 0; i < p.n_diags; i++)
		if (p.diags[i].line < 0 || p.diags[i].line > lines)
			__builtin_trap();
	if (rc == 0 && policy_resolve_lan(&p, 0xc0a80101, 24) == 0 &&
	    policy_compute(&p, POLICY_PLANE_ROUTER, &r) == 0) {
		for (size_t i = 0; i < r.n; i++) {
			if (r.u[i].ceil_up < r.u[i].rate_up || r.u[i].ceil_down < r.u[i].rate_down)
				__builtin_trap();
			if (r.u[i].mark < 10 || r.u[i].mark > 2540)
				__builtin_trap();
		}
		policy_rates_free(&r);
	}
	policy_free(&p);
	return 0;
}
