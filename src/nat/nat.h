/* nat — the router plane: a policy rendered into an nftables (or
 * iptables-restore) script and a `tc -batch` script, and applied.
 *
 * What it builds (fairnat.md §2, §3), on DEV_NET (upload) and DEV_LAN
 * (download):
 *
 *   qdisc 1: htb default 3
 *   class 1:2  htb rate DEV_RATE                 the device
 *    ├─ class 1:3  prio 5                        router + unknown hosts
 *    └─ class 1:1                                all users
 *         └─ class 1:<MARK>  rate/ceil per user  MARK = first octet × 10
 *              └─ bands: PRIO+SFQ (leaf sfq, the original), or HTB children
 *                 1:<MARK+1..3> interactive/normal/bulk (+4 P2P) with
 *                 fq_codel, cake or pfifo leaves (fairway's tree)
 *
 * Packets are steered with no tc filter: the firewall sets skb->priority
 * to the class id (nft `meta priority set 1:21`, iptables `CLASSIFY`),
 * which HTB follows. Fair NAT's TOS rules set the DSCP that picks the band.
 *
 * Dual stack (policy_is_dual: a user with IPv6 or a MAC): one `inet`
 * table instead, steering by maps (addr4, addr6 intervals, MAC -> ct mark
 * -> class; DSCP / traffic class -> band), IPv6 routed behind a stateful
 * inbound chain the port forwards open; iptables backend: ip6tables beside.
 *
 * The render functions are pure (text out). nat_apply/nat_stop/nat_info run
 * `nft`, `iptables-restore`, `tc` and `ip`; they touch only fairway's own
 * table (or FAIRWAY_* chains and the jumps to them) and the root qdiscs of
 * the two devices. */
#ifndef FAIRWAY_NAT_H
#define FAIRWAY_NAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "dot.h"
#include "policy.h"
#include "prom.h"

/* A growing text buffer; err is set (-ENOMEM) instead of failing each call. */
struct nat_buf {
	char *s;
	size_t len, cap;
	int err;
};

void nat_buf_free(struct nat_buf *b);
void nat_buf_printf(struct nat_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What the kernel told us (or the command line overrode). */
struct nat_env {
	unsigned mtu;              /* DEV_NET's MTU: every class's quantum */
	bool reset;                /* --reset: honour Fair NAT's RESET */
	/* iptables only: the jumps from the built-in chains already exist
	 * (so a second start does not add them twice). Bits: NAT_JUMP_* */
	unsigned jumps_present;
	unsigned jumps_present6;   /* the same for ip6tables (dual stack) */
};

enum {
	NAT_JUMP_MANGLE_PRE = 1, NAT_JUMP_MANGLE_FWD = 2,
	NAT_JUMP_NAT_PRE = 4, NAT_JUMP_NAT_POST = 8,
	NAT_JUMP_FILTER_FWD = 16,   /* ip6tables: FORWARD -> <PREFIX>_INBOUND */
};

/* The nft table name: the prefix in lower case ("fairway", "fairnat"). */
void nat_table_name(const struct policy *p, char *out, size_t len);

/* Renderers. p must be resolved (policy_resolve_lan); r from
 * policy_compute(p, POLICY_PLANE_ROUTER). 0 or -ENOMEM. */
int nat_render_nft(const struct policy *p, const struct policy_rates *r,
                   const struct nat_env *env, struct nat_buf *out);
int nat_render_iptables(const struct policy *p, const struct policy_rates *r,
                        const struct nat_env *env, struct nat_buf *out);
/* Dual stack on the iptables backend: the IPv6 half for ip6tables-restore
 * (mangle: TOS / traffic class, MSS, steering; filter: the inbound guard
 * the port forwards open). */
int nat_render_ip6tables(const struct policy *p, const struct policy_rates *r,
                         const struct nat_env *env, struct nat_buf *out);
/* The ip6tables flavour beside p->nat.iptables (iptables-legacy ->
 * ip6tables-legacy). */
void nat_ip6tables_cmd(const struct policy *p, char *out, size_t len);
int nat_render_tc(const struct policy *p, const struct policy_rates *r,
                  const struct nat_env *env, struct nat_buf *out);
/* The human summary `info` and `--dry-run` start with. */
int nat_render_summary(const struct policy *p, const struct policy_rates *r,
                       const struct nat_env *env, struct nat_buf *out);

/* Kernel side. Messages go to the log; return 0, -errno. */

/* The LAN device's first IPv4 address and prefix (`ip -j addr show DEV`).
 * -ENODEV when the device does not exist, -EADDRNOTAVAIL without IPv4. */
int nat_read_lan(const char *dev, uint32_t *ip, unsigned *prefix);
/* DEV_LAN's global IPv6 addresses with their prefix lengths, appended to
 * p->nat.lan6 (`ip -j -6 addr show DEV scope global`). -ENODEV, -ENOMEM,
 * -EADDRNOTAVAIL when it has none. */
int nat_read_lan6(struct policy *p);
/* A device's MTU (`ip -j link show DEV`), -ENODEV. */
int nat_read_mtu(const char *dev, unsigned *mtu);

/* start: tc trees first (rolled back to the previous state on failure),
 * then the firewall in one transaction (tc rolled back if it fails). */
int nat_apply(const struct policy *p, const struct policy_rates *r, struct nat_env *env);
/* stop: our table / chains and jumps, and our root qdiscs. Idempotent. */
int nat_stop(const struct policy *p, bool dry_run, FILE *out);
/* info: live per-user counters from tc and nft, printed to out. */
int nat_print_counters(const struct policy *p, const struct policy_rates *r, FILE *out);

/* Live counters of one HTB class, from `tc -s class show` (found: the
 * class exists). rate/ceil: as tc prints them ("2Mbit"). */
struct nat_class_stat {
	bool found;
	uint64_t bytes, packets, drops, overlimits, lended, borrowed;
	uint64_t backlog_bytes, backlog_pkts;
	char rate[32], ceil[32];
};
/* Slots of a direction's array: the device class 1:2, the users' 1:1,
 * the router/other 1:3, then user u at NAT_SLOT_USER0 + u. */
enum { NAT_SLOT_DEV, NAT_SLOT_USERS, NAT_SLOT_OTHER, NAT_SLOT_USER0 };
unsigned nat_stat_minor(const struct policy_rates *r, size_t slot);
/* out: 2 × (NAT_SLOT_USER0 + r->n) entries, upload (DEV_NET) first.
 * -ENOENT (and zeroed entries) for a device without our tree. */
int nat_read_stats(const struct policy *p, const struct policy_rates *r, struct nat_class_stat *out);
/* `nat info --prometheus`: node-exporter textfile format (text 0.0.4,
 * no timestamps). 0 or -ENOMEM. */
int nat_render_prometheus(const struct policy *p, const struct policy_rates *r,
                          const struct nat_class_stat *st, struct prom_buf *b);
/* `nat info --dot`: both trees; current rates from two reads dt s apart;
 * a user above its rate that HTB lent to gets a dashed orange edge. */
int nat_render_dot(const struct policy *p, const struct policy_rates *r,
                   const struct nat_class_stat *st0, const struct nat_class_stat *st1, double dt,
                   struct dot_buf *b);

#endif
