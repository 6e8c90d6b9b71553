/* admit: admission bookkeeping per client address — how many connections
 * and pending handshakes each address holds, which address holds the most,
 * and refusals summed up into one log line per address per interval.
 *
 * Why a table: under a storm (issue 11) the portal must decide on each
 * accepted socket before allocating anything for it, in O(1), and must
 * not write one log line per refused connection (tens of thousands a
 * second). Counts are of live connections only: the owner calls
 * admit_leave() as soon as a connection starts closing.
 *
 * Pure: time is passed in (milliseconds); logging goes through log.h. */
#ifndef FAIRWAY_ADMIT_H
#define FAIRWAY_ADMIT_H

#include <stddef.h>
#include <stdint.h>

/* One address's counts. Owned by the table; valid while the address
 * holds a connection (between admit_join and the matching admit_leave). */
struct admit_addr {
	char ip[48];
	unsigned conns;     /* live connections (handshaking or open) */
	unsigned pending;   /* of which still in the handshake */
	/* refusals since the last summary line */
	unsigned long refused;
	char why[96];       /* reason of the last one not logged */
	uint64_t since;     /* ms: when the first of them was logged */
	struct admit_addr *next;   /* hash chain */
};

struct admit;

/* NULL on out of memory. */
struct admit *admit_new(void);
void admit_free(struct admit *a);

/* The entry for ip, created when missing (NULL: out of memory). */
struct admit_addr *admit_get(struct admit *a, const char *ip);
/* A connection from e joins: conns and pending go up. */
void admit_join(struct admit *a, struct admit_addr *e);
/* The handshake of one of e's connections finished (pending goes down). */
void admit_ready(struct admit *a, struct admit_addr *e);
/* One of e's connections leaves; was_pending: it never finished its
 * handshake. e may be freed here: do not use it afterwards. */
void admit_leave(struct admit *a, struct admit_addr *e, int was_pending);

/* Pending handshakes, all addresses together. */
unsigned admit_pending(const struct admit *a);
/* The address holding the most pending handshakes (NULL: none). */
struct admit_addr *admit_busiest(const struct admit *a);

/* A connection from ip (name: "ip:port" as the log shows it) was refused
 * or failed its handshake, for why. The first ADMIT_LOG_BURST of an
 * address in an interval are logged at once, one line each; the rest
 * are counted and summed up in one line by admit_tick(). */
#define ADMIT_LOG_BURST 5
void admit_refused(struct admit *a, const char *ip, const char *name, const char *why,
                   uint64_t now_ms);
/* Once a second or so: writes the summary line of every address whose
 * interval (interval_ms) is over, and forgets addresses that hold
 * nothing. */
void admit_tick(struct admit *a, uint64_t now_ms, uint64_t interval_ms);

#endif
