/* policy_int — what the policy modules share and nobody else uses: the
 * diagnostic sink, the small lexers (policy_lex.c), the LAN address
 * helpers (policy_addr.c) and the model's list growers. The readers
 * (policy_ini.c, policy_fairnat.c), the rate arithmetic (policy_rate.c)
 * and the model (policy.c) all sit over policy.h; outside src/policy
 * include policy.h only.
 *
 * All pure. The growers return 0 or -ENOMEM (the list is unchanged then). */
#ifndef FAIRWAY_POLICY_INT_H
#define FAIRWAY_POLICY_INT_H

#include "policy.h"

/* Appends a diagnostic; an error also counts in p->n_errors even when the
 * diagnostic itself cannot be stored (out of memory). */
__attribute__((format(printf, 4, 5)))
void policy_diag_add(struct policy *p, enum policy_diag_level lvl, int line, const char *fmt, ...);

#define perr(p, line, ...)  policy_diag_add((p), POLICY_ERROR, (line), __VA_ARGS__)
#define pwarn(p, line, ...) policy_diag_add((p), POLICY_WARNING, (line), __VA_ARGS__)
#define pnote(p, line, ...) policy_diag_add((p), POLICY_NOTE, (line), __VA_ARGS__)

/* ---- lexers (policy_lex.c) ---- */
bool policy_streq_ci(const char *a, const char *b);
/* Unsigned decimal integer, the whole string, at most max. */
bool policy_parse_uint(const char *s, uint64_t max, uint64_t *out);
/* "1 yes true on" / "0 no false off", any case. */
bool policy_parse_bool(const char *s, bool *out);
/* "off"/"0" → 0 | "pmtu"/"--clamp-mss-to-pmtu" → -1 | N or "--set-mss N". */
bool policy_parse_mss(const char *s, int *out);
/* "PORT[<sep>PORT]", 1..65535, lo <= hi. */
bool policy_parse_port_range(const char *s, char sep, uint16_t *lo, uint16_t *hi);
bool policy_valid_dev(const char *s);      /* an interface name */
bool policy_valid_prefix(const char *s);   /* a chain prefix / table name */
bool policy_valid_id(const char *s);       /* "@<base64 of 32 bytes>.ed25519" */
/* One FEATURES word (dashes and case forgiven); the POLICY_F_ bit or 0.
 * *ipt is set for Fair NAT's IPT_ spellings. */
unsigned policy_feature_word(const char *w, bool *ipt);

/* ---- the model's lists (policy_lex.c); pointers into p->users move ---- */
/* Every list grows by appending one item. Capacity is implied by the
 * count: n rounded up to a power of two, so room is added only when n is
 * 0 or a power of two, by doubling — appending n items costs O(n) copies,
 * not O(n^2) (a config with 2 000 bad lines took 57 ms per parse under
 * ASan with one realloc per item). Returns the array with room for item
 * [n] (the caller stores it), or NULL (the old array is still valid). */
void *policy_grow(void *a, size_t n, size_t size);
struct policy_user *policy_add_user(struct policy *p, const char *name, int line);
int policy_user_add_addr(struct policy_user *u, struct policy_addr a);
int policy_user_add_id(struct policy_user *u, const char *id);  /* copies id */
int policy_user_add_net6(struct policy_user *u, struct policy_net6 n);
int policy_user_add_mac(struct policy_user *u, struct policy_mac m);
int policy_add_forward(struct policy *p, const struct policy_forward *f);

/* ---- LAN addresses (policy_addr.c) ---- */
/* Dotted quad, no leading zeros, host byte order. */
bool policy_parse_ipv4(const char *s, uint32_t *ip);
void policy_ip_str(uint32_t ip, char *buf, size_t len);
/* Like policy_ip_str, "x.x.x.N" for an octet-only address. */
void policy_addr_str(const struct policy_addr *a, char *buf, size_t len);
/* The same host (an octet-only address equals only another octet-only one). */
bool policy_addr_eq(const struct policy_addr *a, const struct policy_addr *b);

#endif
