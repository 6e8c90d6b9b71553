/* sched — the portal's fair scheduler (Fair NAT's class tree, for tunnels).
 *
 *   link (rate = rate-up × (100 − sub%)/100, paced)
 *    ├─ local class (rate-local-percent; goes first within its rate)
 *    └─ users (implicit parent: what the link has left)
 *        ├─ user class (rate = guarantee, ceil; guest is one more user)
 *        │    ├─ band interactive ─ flows (DRR, exact queues)
 *        │    ├─ band normal      ─ flows
 *        │    └─ band bulk        ─ flows
 *        └─ …
 *
 * A flow is one direction of one tunnel: a FIFO of chunks charged to the
 * class of the peer that sent them. Pure: no clock, no I/O, no RNG; time
 * is passed in as monotonic nanoseconds (uv_hrtime() fits), never goes
 * backwards (earlier values are treated as the latest seen). Chunks are
 * the caller's: the scheduler links them through sched_chunk.next and
 * never copies, allocates or frees per chunk. Allocation happens only in
 * the *_new functions.
 *
 * The caller's loop (see sched.c for the algorithm):
 *
 *   on a chunk from the source:  if (sched_enqueue(s, f, &b->chunk, now) == 1)
 *                                        stop reading the source connection;
 *                                 pump();
 *   on a destination writable:    sched_dest_block(d, false); pump();
 *   pump():  while ((c = sched_dequeue(s, now, &f, &next)) != NULL) {
 *                write c; if the destination is now full: sched_dest_block(d, true);
 *                if the source was stopped and !sched_flow_over_limit(f): resume it;
 *            }
 *            if (next != SCHED_NEVER) arm a timer for next.
 *
 * Rates are bytes per second (as in policy.h); 0 as a ceiling means "the
 * link". Errors are 0/-errno. */
#ifndef FAIRWAY_SCHED_H
#define FAIRWAY_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "Nothing to do until something is enqueued or unblocked." */
#define SCHED_NEVER UINT64_MAX
#define SCHED_NS_PER_S 1000000000ull
#define SCHED_PACE_NONE UINT64_MAX

enum sched_band {
	SCHED_INTERACTIVE = 0,  /* sends little and rarely: served first, within a bound */
	SCHED_NORMAL = 1,
	SCHED_BULK = 2,         /* keeps a backlog */
	SCHED_AUTO = 3,         /* for sched_flow_new: classify by behaviour */
};
#define SCHED_BANDS 3

/* Embedded in the caller's buffer struct (container_of to get it back).
 * The caller sets len (1..UINT32_MAX bytes charged, payload plus any
 * framing it wants counted); the scheduler owns next and t_enq while the
 * chunk is queued. */
struct sched_chunk {
	struct sched_chunk *next;
	uint64_t t_enq;         /* set by sched_enqueue: for the delay statistics */
	uint32_t len;
};

struct sched;
struct sched_class;
struct sched_flow;
struct sched_dest;

/* Knobs; sched_cfg_default() fills them, 0 in a field also means default. */
struct sched_cfg {
	uint64_t link_rate;     /* B/s after rate-sub-percent; 0 = not paced */
	/* Bytes allowed back to back after idle; 0 (the default): two batches,
	 * at least 4 ms of the rate and 4 KiB. It bounds what a late timer
	 * sends at once into the queue of a modem behind the portal. */
	uint64_t link_burst;
	/* A paced link sends all but interactive bytes in batches: it waits
	 * until pace_ns of the link's rate has gathered (at most link_burst),
	 * then sends until the bucket is empty. The local class and
	 * interactive bands go as soon as the bucket is out of debt, so they
	 * wait less, not more; the batches cut the pump's wakeups per byte.
	 * 0: the default, 2 ms; SCHED_PACE_NONE: one chunk as soon as it
	 * fits. At most half of link_burst. */
	uint64_t pace_ns;
	uint32_t quantum;       /* DRR quantum per flow and band, bytes (16 KiB) */
	uint64_t flow_limit;    /* queue bytes above which the source must stop (1 MiB) */
	uint64_t flow_low;      /* ...and at or below which it may read again (256 KiB) */
	/* Classification (sched.c, "Bands"): a flow is interactive while its
	 * arrivals fit a token bucket of ia_rate B/s and ia_burst bytes; it is
	 * bulk once its queue has held ≥ bulk_bytes or stayed non-empty for
	 * bulk_ns; it leaves bulk after quiet_ns with an empty queue. */
	uint64_t ia_rate;       /* 8 KiB/s */
	uint64_t ia_burst;      /* 16 KiB */
	uint64_t bulk_bytes;    /* 128 KiB */
	uint64_t bulk_ns;       /* 200 ms */
	uint64_t quiet_ns;      /* 200 ms */
	/* A class's interactive / normal band is served before its lower
	 * bands only up to this % of the class's rate (HTB's "prio within
	 * rate"); above it the bands share round-robin. */
	unsigned ia_prio_percent;     /* 50 */
	unsigned normal_prio_percent; /* 100 */
};

void sched_cfg_default(struct sched_cfg *cfg, uint64_t link_rate);

/* cfg NULL: defaults with an unpaced link. Returns NULL on ENOMEM. */
struct sched *sched_new(const struct sched_cfg *cfg);
/* Frees the scheduler; every class, flow and dest must be freed first
 * (returns -EBUSY and frees nothing otherwise). */
int sched_free(struct sched *s);
/* Reload: a new link rate and burst (0 = default burst). */
void sched_set_link(struct sched *s, uint64_t link_rate, uint64_t link_burst);
/* Reload: a new pace_ns (0 = default, SCHED_PACE_NONE = off). */
void sched_set_pace(struct sched *s, uint64_t pace_ns);
/* The link's rate in B/s (0: not paced). */
uint64_t sched_link_rate(const struct sched *s);
/* The batch a paced link waits for, in ns (pace_ns after defaults, at most
 * half the link's burst); 0 when unpaced or pacing is off. */
uint64_t sched_link_pace(const struct sched *s);

/* --- classes (one per user, the guest class, the local class) -------- */

#define SCHED_CLASS_LOCAL 1u    /* the portal's own traffic: at most one */

/* rate: the guarantee, ≥ 1 B/s. ceil: ≥ rate, 0 = no ceiling but the link
 * (borrow = no: pass ceil = rate). The rates of all classes should sum to
 * at most the link rate for the guarantees to hold (policy checks that).
 * Returns 0, -EINVAL (rates), -EEXIST (a second local class), -ENOMEM. */
int sched_class_new(struct sched *s, uint64_t rate, uint64_t ceil, unsigned flags,
                    void *ud, struct sched_class **out);
/* Reload. burst/cburst: bytes the class may send at once above its rate /
 * ceiling after being idle (0 = defaults: 100 ms of rate, 5 ms of ceil,
 * at least 16 KiB each). */
int sched_class_set(struct sched_class *c, uint64_t rate, uint64_t ceil,
                    uint64_t burst, uint64_t cburst);
/* -EBUSY while the class has flows. */
int sched_class_free(struct sched_class *c);
void *sched_class_ud(const struct sched_class *c);
/* Iteration for `fairway info`: prev NULL gives the first; NULL at the end. */
struct sched_class *sched_class_next(const struct sched *s, const struct sched_class *prev);

/* --- destinations: where a flow's bytes are written (a connection) ---- */

/* A blocked destination (its socket is full) is skipped by sched_dequeue
 * without stalling anything else, and its flows keep their place: a flow
 * interrupted in the middle of its DRR turn resumes that turn first.
 * Blocking is O(1) however many flows share the destination. */
int sched_dest_new(struct sched *s, struct sched_dest **out);
void sched_dest_block(struct sched_dest *d, bool blocked);
bool sched_dest_blocked(const struct sched_dest *d);
/* -EBUSY while flows still name it. */
int sched_dest_free(struct sched_dest *d);

/* --- flows ----------------------------------------------------------- */

/* dest may be NULL (never blocked except by sched_flow_block). band:
 * SCHED_AUTO, or a band the flow stays in. */
int sched_flow_new(struct sched_class *c, struct sched_dest *dest, enum sched_band band,
                   void *ud, struct sched_flow **out);
/* Frees the flow and hands back its queued chunks, oldest first, linked
 * through next (NULL if none): the caller frees them. */
struct sched_chunk *sched_flow_free(struct sched_flow *f);
/* Moves a flow, with its queue, to another class (a reload regrouped its
 * user). The flow's place in its old class's rotation is lost. */
void sched_flow_set_class(struct sched_flow *f, struct sched_class *c);
/* Per-flow block (e.g. the flow's stream is paused); independent of the
 * destination's. */
void sched_flow_block(struct sched_flow *f, bool blocked);
/* Queue limits for this flow (0 = the cfg's). */
void sched_flow_set_limit(struct sched_flow *f, uint64_t limit, uint64_t low);
/* True from the enqueue that took the queue above its limit until a
 * dequeue brings it down to its low mark: while true, don't read the
 * source. sched_flow_over_since() says since when (to end a tunnel that
 * blocks its source too long). */
bool sched_flow_over_limit(const struct sched_flow *f);
uint64_t sched_flow_over_since(const struct sched_flow *f);
enum sched_band sched_flow_band(const struct sched_flow *f);
uint64_t sched_flow_queued(const struct sched_flow *f);   /* bytes */
void *sched_flow_ud(const struct sched_flow *f);
struct sched_class *sched_flow_class(const struct sched_flow *f);
/* The class's flows: prev NULL gives the first. */
struct sched_flow *sched_flow_next(const struct sched_class *c, const struct sched_flow *prev);

/* --- the data path --------------------------------------------------- */

/* Queues c (len ≥ 1) at the tail of f; the scheduler owns c->next until
 * c comes back from sched_dequeue or sched_flow_free (a chunk can be in
 * one queue only; that is not checked). Returns 0, 1 when the flow is
 * over its limit (stop reading the source), or -EINVAL for len 0. O(1). */
int sched_enqueue(struct sched *s, struct sched_flow *f, struct sched_chunk *c, uint64_t now);

/* The chunk that may leave now, with its flow in *flow, or NULL: then
 * *next is the time to ask again (pacing or a ceiling), or SCHED_NEVER
 * when nothing is waiting that could go (empty, or all blocked).
 * O(log classes) amortised. */
struct sched_chunk *sched_dequeue(struct sched *s, uint64_t now, struct sched_flow **flow,
                                  uint64_t *next);

/* Bytes the link carried that no chunk accounts for, known after the fact:
 * the TCP/IP headers the kernel put around the chunks and the portal's own
 * ACKs of what it reads (relay.c counts them). The link's bucket goes into
 * debt for them, so a portal shaped a few % below a modem stays below it.
 * Always counted (the link's stats, `overhead`); on an unpaced link that
 * is all it does. O(1). */
void sched_link_charge(struct sched *s, uint64_t bytes, uint64_t now);

/* --- statistics ------------------------------------------------------ */

/* Queueing-delay histogram as exported (Prometheus buckets): bucket j
 * counts delays < sched_delay_bound_ns(j) = 2^(16+j) ns (65.5 µs ...
 * 4.3 s) not counted in a lower one; bucket SCHED_DELAY_NB the rest. */
#define SCHED_DELAY_NB 17
#define SCHED_DELAY_SHIFT0 16
uint64_t sched_delay_bound_ns(unsigned j);

struct sched_stats {
	uint64_t rate, ceil;          /* configured, B/s (flows: their class's) */
	uint64_t cur_rate;            /* B/s sent, moving average over ~0.5 s */
	uint64_t bytes, chunks;       /* sent */
	uint64_t borrowed;            /* bytes sent above the guarantee */
	uint64_t bytes_in;            /* enqueued */
	uint64_t overhead;            /* link: sched_link_charge() bytes */
	uint64_t queued_bytes, queued_chunks;
	uint64_t delay_p50, delay_p99, delay_max; /* queueing delay, ns (±12 %) */
	uint64_t delay_sum;           /* ns, all dequeued chunks */
	uint64_t delay_hist[SCHED_DELAY_NB + 1]; /* per bucket, not cumulative */
	uint64_t over_limit;          /* times the source had to stop */
	uint64_t blocks;              /* times blocked (flow or destination) */
	uint64_t flows;               /* classes: flows; link: classes */
	enum sched_band band;         /* flows */
};

void sched_link_stats(const struct sched *s, uint64_t now, struct sched_stats *out);
void sched_class_stats(const struct sched_class *c, uint64_t now, struct sched_stats *out);
void sched_flow_stats(const struct sched_flow *f, uint64_t now, struct sched_stats *out);
/* The class's queueing delays of chunks that left from band b (its part
 * of the class's histogram): exported buckets as in sched_stats, and
 * their sum in ns. Counters since the class was made. */
void sched_class_band_delay(const struct sched_class *c, enum sched_band b,
                            uint64_t hist[SCHED_DELAY_NB + 1], uint64_t *sum_ns);
const char *sched_band_name(enum sched_band b);

/* Walks every structure and checks the invariants (queue sums, rings,
 * heaps, deficits, keys). O(everything): for tests and fuzzing. Returns 0
 * or -EFAULT with the first broken invariant's line in *line. */
int sched_check(const struct sched *s, int *line);

#endif
