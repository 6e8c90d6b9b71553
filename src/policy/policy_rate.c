/* policy_rate — rates and durations as the files write them, and Fair NAT's
 * rate arithmetic (fairnat.md §1 derived values, §3): policy_compute. */
#include "policy.h"
#include "policy_int.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MARK_OFFSET 10            /* Fair NAT: MARK = first IP's octet × 10 */

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
		if (policy_streq_ci(q, tab[i].name)) {
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

const char *policy_rate_str(uint64_t bytes_per_s, char *buf, size_t len)
{
	static const struct { const char *name; double factor; } units[] = {
		{ "gbit", 1e9 }, { "mbit", 1e6 }, { "kbit", 1e3 },
	};
	double bits = (double)bytes_per_s * 8;
	char num[32];
	size_t n;

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (bits >= units[i].factor) {
			snprintf(num, sizeof(num), "%.2f", bits / units[i].factor);
			/* "124.50" -> "124.5", "10.00" -> "10" */
			n = strlen(num);
			while (n > 0 && num[n - 1] == '0')
				num[--n] = '\0';
			if (n > 0 && num[n - 1] == '.')
				num[--n] = '\0';
			snprintf(buf, len, "%s%s", num, units[i].name);
			return buf;
		}
	snprintf(buf, len, "%.0fbit", bits);
	return buf;
}

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
		if (strcmp(s + n, units[i].unit) == 0 && policy_parse_uint(num, UINT32_MAX, &v) &&
		    v * units[i].ms <= UINT32_MAX) {
			*out = (unsigned)(v * units[i].ms);
			return true;
		}
	return false;
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
	/* several uplinks: the LANs receive what all of them bring in */
	for (size_t k = 0; k < p->nat.n_more; k++)
		r->line_down += p->nat.more[k].rate_down * (100 - l->sub_percent) / 100;
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
			struct policy_diag *w = policy_grow(r->warn, r->n_warn, sizeof(*w));

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
			struct policy_diag *w = policy_grow(r->warn, r->n_warn, sizeof(*w));

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
				struct policy_diag *w = policy_grow(r->warn, r->n_warn, sizeof(*w));

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
		if (u->n_addrs == 0 && (u->n_nets6 || u->n_macs)) {
			/* no IPv4 to name the class: the first octet nobody's first
			 * IPv4 address ends in and no earlier such user took */
			for (unsigned o = 1; o <= 254 && ur->mark == 0; o++) {
				bool used = false;

				for (size_t k = 0; k < p->n_users && !used; k++)
					used = (p->users[k].n_addrs && (p->users[k].addrs[0].ip & 255) == o) ||
					       (k < i && r->u[k].mark == o * MARK_OFFSET);
				if (!used)
					ur->mark = o * MARK_OFFSET;
			}
		}
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
