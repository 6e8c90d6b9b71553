/* sched — the portal's fair scheduler (design.md "The scheduler's promises").
 *
 *   link  rate = rate-up × (100 − sub%)/100, paced by a token bucket (l_key)
 *    │
 *    ├── local class   rate = link × local%, ceil = link      goes first while green
 *    │
 *    └── users (implicit parent: rate = link − local, ceil = link)
 *         ├── user A    rate (guarantee), ceil (borrow = no: ceil = rate)
 *         │    ├── interactive ┐ strict priority, each only within
 *         │    ├── normal      ┘ ia/normal_prio_percent of A's rate
 *         │    └── bulk          (above that the three bands share by DRR)
 *         │         └── flows: DRR with exact per-flow FIFOs (one per tunnel direction)
 *         ├── user B …
 *         └── guest (peers in no user: one more class, made by the caller)
 *
 * This is Fair NAT's tree (HTB per user, PRIO bands, SFQ per band), with
 * three changes of mechanism, each for a reason:
 *
 * 1. Between classes: not HTB's own algorithm but two virtual clocks and a
 *    ceiling bucket per class, kept in three binary heaps.
 *      G heap, key r_key: the time at which the class's guarantee bucket
 *        is empty. r_key ≤ now means "green" (under its rate); serving the
 *        smallest r_key first is Virtual Clock (Zhang 1990): with Σrates ≤
 *        link every backlogged class gets its rate, whatever the others do.
 *      B heap, key b_tag: a start-time fair queueing tag advanced by
 *        len/rate for bytes sent *above* the guarantee. When no class is
 *        green, the smallest tag borrows: the excess is shared in
 *        proportion to rates exactly, whatever the chunk sizes.
 *      W heap, key c_key: classes over their ceiling, until c_key ≤ now
 *        (minus a small reserve that only the interactive band may use,
 *        so a user at its ceiling still gets keystrokes through at once).
 *    Why not HTB: HTB's modes (can send / may borrow / can't) change with
 *    time alone, so it needs an event queue of mode changes, and its DRR
 *    quantum (rate/r2q) must be tuned against the packet size. Here every
 *    "mode" is a key compared with now, so a heap top answers "is anyone
 *    green?" in O(1), each send re-keys one class in O(log classes), and
 *    chunks of 1 byte and of 64 KiB are charged exactly, no quantum
 *    involved. HTB's result is the same: guarantee first, then borrowing
 *    in proportion to rate, ceilings as hard caps.
 * 2. Between bands: PRIO bounded by a rate (HTB's "prio within rate"): a
 *    band's priority is a token bucket charged with all of the band's
 *    bytes, so a band sending under ia/normal_prio_percent of the class's
 *    rate always goes first, and one sending more has no priority left and
 *    just takes DRR turns with the other bands: a flood classified
 *    interactive cannot starve its user's bulk (Fair NAT's quirk Q8).
 *    Interactive backlog of a green class also goes before other classes
 *    (the `ia` list), which is what keeps a ping within a few ms.
 * 3. Between flows: DRR over exact per-flow queues instead of SFQ's hash
 *    buckets: no collisions, so two tunnels never share a queue; the
 *    deficit may go negative (one chunk of any size goes when the deficit
 *    is positive), so a quantum smaller than a chunk costs a few extra
 *    visits, amortised O(1).
 *
 * One sched_dequeue, in order:
 *   link bucket empty                        → NULL, *next = when it refills
 *   between batches (bucket < pace_ns of tokens and no batch under way):
 *            only the local class and interactive backlog may go, else
 *                                            → NULL, *next = when a batch is due
 *   W heap: classes whose ceiling recovered  → back to G and B
 *   the local class, if green                → it
 *   ia list: a green class with interactive backlog within its band's
 *            priority bucket (round robin)   → it, its interactive band
 *   G heap top, if green                     → it (guarantee)
 *   B heap top                               → it (borrowing)
 *   nothing                                  → NULL, *next = W top or NEVER
 * and inside the class: a band (priority buckets, else DRR of bands), a
 * flow (DRR), its oldest chunk.
 *
 * Token buckets are kept as "keys" (the time the bucket was or will be
 * empty): sending len bytes adds len/rate ns, a key more than `burst` in the
 * past is pulled up to now − burst. One 64-bit compare says whether the
 * bucket has tokens, and the key itself is when to come back.
 *
 * Blocking: a blocked flow leaves its ring at once; a blocked *destination*
 * is found lazily when one of its flows reaches the head of a ring, parked
 * on the destination, and put back (at the head if its turn was not over)
 * when the destination unblocks: O(1) per flow, however many flows share a
 * connection. */
#include "sched.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NS SCHED_NS_PER_S
/* Batches of 2 ms of the link: half the pump's wakeups at 20 mbit, and no
 * more than 2 ms of bulk ahead of a ping in a modem's queue downstream. */
#define PACE_DEFAULT_NS (2 * NS / 1000)
#define KIB 1024ull

/* rates estimator: ticks of 2^27 ns (134 ms), EWMA weight 1/4 */
#define EST_SHIFT 27
#define EST_MAX_IDLE 40
/* delay histogram: 4 buckets per octave of 1.024 µs units, up to ~34 s */
#define HIST_N 96

enum { H_G, H_B, H_W, H_COUNT };
enum { C_IDLE, C_ELIG, C_WAIT };          /* where a class is */
enum { F_OUT, F_RING, F_PARKED };         /* where a flow is */
enum { M_GREEN, M_IA, M_BORROW };         /* why a class was picked */

struct est {
	uint64_t tick, acc, rate;
};

struct hist {
	uint32_t n[HIST_N];
	uint64_t max;
	uint64_t sum;   /* ns, for a Prometheus histogram's _sum */
};

/* Doubly linked list of flows: a band's DRR ring or a dest's parked list. */
struct ring {
	struct sched_flow *head, *tail;
	uint32_t n;
};

struct heap {
	struct sched_class **a;
	size_t n, cap;
};

struct sched_flow {
	struct sched_class *cls;
	struct sched_dest *dest;
	void *ud;
	struct sched_chunk *head, *tail;
	uint64_t qbytes, qchunks;
	struct sched_flow *prev, *next;   /* ring or parked list */
	struct sched_flow *cprev, *cnext; /* the class's flows */
	int64_t deficit;
	uint8_t band, fixed, where;
	bool blocked, over;
	uint64_t m_key;                   /* interactive meter */
	uint64_t busy_since, idle_since, over_since;
	uint64_t limit, low;
	uint64_t bytes_in, bytes, chunks, over_count, blocks;
	struct est est;
	struct hist hist;
};

struct sched_class {
	struct sched *s;
	void *ud;
	bool local, in_ia;
	uint8_t where, bcur;
	uint64_t rate, ceil, burst, cburst;
	uint64_t r_burst_ns, c_burst_ns, c_res_ns, p_burst_ns[2], prate[2];
	uint64_t r_key, c_key, p_key[2], b_tag, b_lag;
	struct ring band[SCHED_BANDS];
	int64_t bdef[SCHED_BANDS];
	uint32_t n_ring;                  /* flows in the three rings */
	size_t hi[H_COUNT];               /* index in each heap */
	struct sched_class *ia_next;
	struct sched_flow *flows;
	struct sched_class *prev, *next;
	uint64_t nflows, qbytes, qchunks;
	uint64_t bytes_in, bytes, chunks, borrowed, over_count, blocks;
	struct est est;
	struct hist hist;
	struct hist bhist[SCHED_BANDS];   /* by the band a chunk left from */
};

struct sched_dest {
	struct sched *s;
	bool blocked;
	struct ring parked;
	uint64_t nflows, blocks;
};

struct sched {
	struct sched_cfg cfg;
	uint64_t l_burst_ns, l_key, now, vtime;
	uint64_t l_pace_ns;     /* tokens a batch waits for (≤ l_burst_ns) */
	bool l_open;            /* a batch is being sent: until the bucket is empty */
	uint64_t ia_burst_ns;
	struct heap h[H_COUNT];
	struct sched_class *local, *ia_head, *ia_tail, *classes;
	uint64_t nclasses, ndests, qbytes, qchunks;
	uint64_t bytes_in, bytes, chunks, borrowed, blocks, overhead;
	struct est est;
	struct hist hist;
};

/* ------------------------------------------------------------- helpers */

static uint64_t sat_sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* Hot path: len ≤ 2^32, so len × 1e9 fits in 64 bits. */
static uint64_t ns_for(uint32_t len, uint64_t rate)
{
	return (uint64_t)len * NS / rate;
}

/* Config time: bytes may be large; saturate rather than wrap. */
static uint64_t bytes_ns(uint64_t bytes, uint64_t rate)
{
	double v = (double)bytes * (double)NS / (double)rate;

	return v >= 1.8e19 ? UINT64_MAX / 4 : (uint64_t)v;
}

/* Charges len to a bucket kept as a key (see the top of the file). */
static uint64_t key_charge(uint64_t key, uint64_t now, uint64_t burst_ns, uint64_t cost)
{
	uint64_t floor = sat_sub(now, burst_ns);

	return (key > floor ? key : floor) + cost;
}

/* b_tags live in a wrapping virtual time: compare by difference. */
static bool serial_lt(uint64_t a, uint64_t b)
{
	return ((a - b) >> 63) != 0;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static void est_fold(struct est *e, uint64_t tick)
{
	uint64_t k;

	if (tick <= e->tick)
		return;
	k = tick - e->tick;
	/* bytes per 2^27 ns → B/s: × 1e9 / 2^27 = × 1953125 / 2^18 */
	e->rate = e->rate - e->rate / 4 + ((e->acc * 1953125) >> 18) / 4;
	if (k > EST_MAX_IDLE)
		e->rate = 0;
	for (uint64_t i = 1; i < k && e->rate; i++)
		e->rate -= (e->rate + 3) / 4;
	e->acc = 0;
	e->tick = tick;
}

static void est_add(struct est *e, uint64_t now, uint32_t len)
{
	est_fold(e, now >> EST_SHIFT);
	e->acc += len;
}

static uint64_t est_read(const struct est *e, uint64_t now)
{
	struct est c = *e;

	est_fold(&c, now >> EST_SHIFT);
	return c.rate;
}

static unsigned hist_idx(uint64_t ns)
{
	uint64_t v = ns >> 10;
	unsigned e, i;

	if (v < 4)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	i = 4 * (e - 1) + (unsigned)((v >> (e - 2)) & 3);
	return i < HIST_N ? i : HIST_N - 1;
}

static void hist_add(struct hist *h, uint64_t ns)
{
	h->n[hist_idx(ns)]++;
	h->sum += ns;
	if (ns > h->max)
		h->max = ns;
}

/* Bucket i's upper edge in ns (exclusive): [lo, hi) as hist_idx maps. */
static uint64_t hist_hi(unsigned i)
{
	if (i < 4)
		return (uint64_t)(i + 1) << 10;
	return ((uint64_t)(5 + i % 4) << (i / 4 - 1)) << 10;
}

uint64_t sched_delay_bound_ns(unsigned j)
{
	return 1ull << (SCHED_DELAY_SHIFT0 + j);
}

/* Folds the fine buckets into the exported power-of-two ones. The fine
 * edges include every power of two from 2^10 ns, so this is exact; the
 * last fine bucket also holds everything past it and goes to +Inf. */
static void hist_export(const struct hist *h, uint64_t *out)
{
	memset(out, 0, (SCHED_DELAY_NB + 1) * sizeof(*out));
	for (unsigned i = 0; i < HIST_N; i++) {
		unsigned j = 0;

		if (!h->n[i])
			continue;
		if (i == HIST_N - 1) {
			out[SCHED_DELAY_NB] += h->n[i];
			continue;
		}
		while (j < SCHED_DELAY_NB && hist_hi(i) > sched_delay_bound_ns(j))
			j++;
		out[j] += h->n[i];
	}
}

/* The middle of the bucket holding the p-th permille sample. */
static uint64_t hist_pct(const struct hist *h, unsigned permille)
{
	uint64_t total = 0, want, seen = 0;

	for (unsigned i = 0; i < HIST_N; i++)
		total += h->n[i];
	if (total == 0)
		return 0;
	want = (total * permille + 999) / 1000;
	for (unsigned i = 0; i < HIST_N; i++) {
		uint64_t lo, hi, mid;

		seen += h->n[i];
		if (seen < want)
			continue;
		if (i < 4) {
			lo = (uint64_t)i << 10;
			hi = (uint64_t)(i + 1) << 10;
		} else {
			unsigned e = i / 4 + 1, m = i % 4;

			lo = ((uint64_t)(4 + m) << (e - 2)) << 10;
			hi = ((uint64_t)(5 + m) << (e - 2)) << 10;
		}
		mid = (lo + hi) / 2;
		return mid < h->max ? mid : h->max;
	}
	return h->max;
}

/* --------------------------------------------------------------- heaps */

/* W: when the class's non-interactive bands may send again (the ceiling
 * bucket holds the interactive reserve). */
static uint64_t w_key(const struct sched_class *c)
{
	return c->c_key + c->c_res_ns;
}

static uint64_t h_key(int w, const struct sched_class *c)
{
	return w == H_G ? c->r_key : w == H_B ? c->b_tag : w_key(c);
}

static bool h_less(int w, const struct sched_class *a, const struct sched_class *b)
{
	if (w == H_B)
		return serial_lt(a->b_tag, b->b_tag);
	return h_key(w, a) < h_key(w, b);
}

static void h_set(struct heap *h, int w, size_t i, struct sched_class *c)
{
	h->a[i] = c;
	c->hi[w] = i;
}

static void h_up(struct heap *h, int w, size_t i)
{
	struct sched_class *c = h->a[i];

	while (i > 0 && h_less(w, c, h->a[(i - 1) / 2])) {
		h_set(h, w, i, h->a[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	h_set(h, w, i, c);
}

static void h_down(struct heap *h, int w, size_t i)
{
	struct sched_class *c = h->a[i];

	for (;;) {
		size_t l = 2 * i + 1, m = i;
		struct sched_class *best = c;

		if (l < h->n && h_less(w, h->a[l], best))
			best = h->a[m = l];
		if (l + 1 < h->n && h_less(w, h->a[l + 1], best))
			best = h->a[m = l + 1];
		if (m == i)
			break;
		h_set(h, w, i, best);
		i = m;
	}
	h_set(h, w, i, c);
}

/* Capacity is reserved at class creation, so pushes cannot fail. */
static void h_push(struct sched *s, int w, struct sched_class *c)
{
	struct heap *h = &s->h[w];

	h->a[h->n] = c;
	c->hi[w] = h->n++;
	h_up(h, w, h->n - 1);
}

static void h_del(struct sched *s, int w, struct sched_class *c)
{
	struct heap *h = &s->h[w];
	struct sched_class *m;
	size_t i = c->hi[w];

	if (--h->n == i)
		return;
	/* the last element fills the hole and finds its level */
	m = h->a[h->n];
	h_set(h, w, i, m);
	h_up(h, w, i);
	h_down(h, w, m->hi[w]);
}

static void h_fix(struct sched *s, int w, struct sched_class *c)
{
	h_up(&s->h[w], w, c->hi[w]);
	h_down(&s->h[w], w, c->hi[w]);
}

static struct sched_class *h_top(const struct sched *s, int w)
{
	return s->h[w].n ? s->h[w].a[0] : NULL;
}

/* --------------------------------------------------------------- rings */

static void ring_add(struct ring *r, struct sched_flow *f, bool at_head)
{
	f->prev = f->next = NULL;
	if (r->head == NULL) {
		r->head = r->tail = f;
	} else if (at_head) {
		f->next = r->head;
		r->head->prev = f;
		r->head = f;
	} else {
		f->prev = r->tail;
		r->tail->next = f;
		r->tail = f;
	}
	r->n++;
}

static void ring_del(struct ring *r, struct sched_flow *f)
{
	if (f->prev != NULL)
		f->prev->next = f->next;
	else
		r->head = f->next;
	if (f->next != NULL)
		f->next->prev = f->prev;
	else
		r->tail = f->prev;
	f->prev = f->next = NULL;
	r->n--;
}

/* ----------------------------------------------------- class placement */

/* The `ia` list: green classes with interactive backlog, served before
 * the G heap. Membership is checked lazily at the head. */
static void ia_push(struct sched *s, struct sched_class *c)
{
	if (c->in_ia || c->where == C_IDLE)
		return;
	c->in_ia = true;
	c->ia_next = NULL;
	if (s->ia_tail != NULL)
		s->ia_tail->ia_next = c;
	else
		s->ia_head = c;
	s->ia_tail = c;
}

static void ia_pop(struct sched *s)
{
	struct sched_class *c = s->ia_head;

	s->ia_head = c->ia_next;
	if (s->ia_head == NULL)
		s->ia_tail = NULL;
	c->in_ia = false;
	c->ia_next = NULL;
}

static void elig_enter(struct sched *s, struct sched_class *c)
{
	/* Back where it was relative to the others (b_lag), so leaving and
	 * coming back neither gains nor loses a turn at borrowing. */
	c->b_tag = s->vtime + c->b_lag;
	c->where = C_ELIG;
	h_push(s, H_G, c);
	h_push(s, H_B, c);
	if (c->band[SCHED_INTERACTIVE].n)
		ia_push(s, c);
}

static void elig_leave(struct sched *s, struct sched_class *c)
{
	c->b_lag = serial_lt(c->b_tag, s->vtime) ? 0 : c->b_tag - s->vtime;
	h_del(s, H_G, c);
	h_del(s, H_B, c);
	c->where = C_IDLE;
}

static void class_place(struct sched *s, struct sched_class *c)
{
	if (c->ceil && w_key(c) > s->now) {
		c->where = C_WAIT;
		h_push(s, H_W, c);
		if (c->band[SCHED_INTERACTIVE].n)
			ia_push(s, c);
	} else {
		elig_enter(s, c);
	}
}

static void class_unplace(struct sched *s, struct sched_class *c)
{
	if (c->where == C_ELIG)
		elig_leave(s, c);
	else if (c->where == C_WAIT)
		h_del(s, H_W, c);
	c->where = C_IDLE;
}

/* ------------------------------------------------------ flow placement */

/* A backlogged, unblocked flow joins its band's ring (or, if its
 * destination is blocked, the destination's parked list). */
static void flow_attach(struct sched_flow *f, bool at_head)
{
	struct sched_class *c = f->cls;

	if (f->dest != NULL && f->dest->blocked) {
		ring_add(&f->dest->parked, f, false);
		f->where = F_PARKED;
		return;
	}
	ring_add(&c->band[f->band], f, at_head);
	f->where = F_RING;
	if (c->n_ring++ == 0)
		class_place(c->s, c);
	if (f->band == SCHED_INTERACTIVE)
		ia_push(c->s, c);
}

static void flow_detach(struct sched_flow *f)
{
	struct sched_class *c = f->cls;

	if (f->where == F_PARKED) {
		ring_del(&f->dest->parked, f);
	} else if (f->where == F_RING) {
		ring_del(&c->band[f->band], f);
		if (--c->n_ring == 0)
			class_unplace(c->s, c);
	}
	f->where = F_OUT;
}

static void flow_set_band(struct sched_flow *f, unsigned band)
{
	struct sched_class *c = f->cls;

	if (f->band == band)
		return;
	if (f->where == F_RING) {
		ring_del(&c->band[f->band], f);
		f->band = (uint8_t)band;
		ring_add(&c->band[band], f, false);
		if (band == SCHED_INTERACTIVE)
			ia_push(c->s, c);
	} else {
		f->band = (uint8_t)band;
	}
}

/* Bands by behaviour (the portal cannot look inside a tunnel). Arrivals
 * are metered by a token bucket of ia_rate B/s, ia_burst bytes:
 *   interactive → normal  when an arrival overdraws the meter;
 *   normal → interactive  when the meter has half its burst back;
 *   any → bulk            when the queue holds ≥ bulk_bytes, or has not
 *                         been empty for bulk_ns (it keeps a backlog);
 *   bulk → normal         at an arrival after quiet_ns with an empty queue
 *                         (then the meter decides about interactive).
 * The meter's debt is capped at one burst, so a former bulk flow that
 * turns quiet is interactive again within 1.5 × ia_burst / ia_rate. */
static void classify(struct sched *s, struct sched_flow *f, uint64_t now, uint32_t len,
                     bool was_empty)
{
	const struct sched_cfg *cfg = &s->cfg;
	unsigned nb = f->band;

	if (f->fixed != SCHED_AUTO)
		return;
	f->m_key = key_charge(f->m_key, now, s->ia_burst_ns, ns_for(len, cfg->ia_rate));
	if (f->m_key > now + s->ia_burst_ns)
		f->m_key = now + s->ia_burst_ns;
	if (nb == SCHED_BULK && was_empty && now - f->idle_since >= cfg->quiet_ns)
		nb = SCHED_NORMAL;
	if (nb != SCHED_BULK) {
		if (f->qbytes >= cfg->bulk_bytes ||
		    (!was_empty && now - f->busy_since >= cfg->bulk_ns))
			nb = SCHED_BULK;
		else if (f->m_key > now)
			nb = SCHED_NORMAL;
		else if (nb == SCHED_NORMAL && f->m_key + s->ia_burst_ns / 2 <= now)
			nb = SCHED_INTERACTIVE;
	}
	flow_set_band(f, nb);
}

/* -------------------------------------------------------------- config */

/* The link's bucket, unless link_burst says otherwise, holds twice a
 * batch and at least 4 ms of the rate and one 4 KiB frame. What a late
 * timer lets out at once lands in the queue of whatever follows the
 * portal (a modem's FIFO), ahead of the next ping: the burst bounds that
 * wait, so `pace` is the one knob for it. A fixed 16 KiB floor was 14 ms
 * at 10 mbit, the outliers of bench/fair (b); the tokens a timer later
 * than the burst loses cost under 1 % of the rate there. */
static void link_resolve(struct sched *s)
{
	uint64_t rate = s->cfg.link_rate, pace = s->cfg.pace_ns;

	pace = pace == 0 ? PACE_DEFAULT_NS : pace == SCHED_PACE_NONE ? 0 : pace;
	if (rate == 0)
		s->l_burst_ns = 0;
	else if (s->cfg.link_burst != 0)
		s->l_burst_ns = bytes_ns(s->cfg.link_burst, rate);
	else
		s->l_burst_ns = max_u64(bytes_ns(4 * KIB, rate), max_u64(4 * NS / 1000, 2 * pace));
	/* a batch waits for at most half the bucket: a timer that fires late
	 * must not find the bucket full and tokens lost */
	s->l_pace_ns = pace < s->l_burst_ns / 2 ? pace : s->l_burst_ns / 2;
}

void sched_cfg_default(struct sched_cfg *cfg, uint64_t link_rate)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->link_rate = link_rate;
	cfg->quantum = 16 * KIB;
	cfg->flow_limit = 1024 * KIB;
	cfg->flow_low = 256 * KIB;
	cfg->ia_rate = 8 * KIB;
	cfg->ia_burst = 16 * KIB;
	cfg->bulk_bytes = 128 * KIB;
	cfg->bulk_ns = 200 * NS / 1000;
	cfg->quiet_ns = 200 * NS / 1000;
	cfg->ia_prio_percent = 50;
	cfg->normal_prio_percent = 100;
}

static void fill_defaults(struct sched_cfg *cfg)
{
	struct sched_cfg d;

	sched_cfg_default(&d, cfg->link_rate);
	if (cfg->quantum == 0)
		cfg->quantum = d.quantum;
	if (cfg->flow_limit == 0)
		cfg->flow_limit = d.flow_limit;
	if (cfg->flow_low == 0 || cfg->flow_low > cfg->flow_limit)
		cfg->flow_low = cfg->flow_limit / 4;
	if (cfg->ia_rate == 0)
		cfg->ia_rate = d.ia_rate;
	if (cfg->ia_burst == 0)
		cfg->ia_burst = d.ia_burst;
	if (cfg->bulk_bytes == 0)
		cfg->bulk_bytes = d.bulk_bytes;
	if (cfg->bulk_ns == 0)
		cfg->bulk_ns = d.bulk_ns;
	if (cfg->quiet_ns == 0)
		cfg->quiet_ns = d.quiet_ns;
	if (cfg->ia_prio_percent == 0 || cfg->ia_prio_percent > 100)
		cfg->ia_prio_percent = d.ia_prio_percent;
	if (cfg->normal_prio_percent == 0 || cfg->normal_prio_percent > 100)
		cfg->normal_prio_percent = d.normal_prio_percent;
}

struct sched *sched_new(const struct sched_cfg *cfg)
{
	struct sched *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	if (cfg != NULL)
		s->cfg = *cfg;
	fill_defaults(&s->cfg);
	sched_set_link(s, s->cfg.link_rate, s->cfg.link_burst);
	s->ia_burst_ns = bytes_ns(s->cfg.ia_burst, s->cfg.ia_rate);
	return s;
}

int sched_free(struct sched *s)
{
	if (s == NULL)
		return 0;
	if (s->nclasses || s->ndests)
		return -EBUSY;
	for (int w = 0; w < H_COUNT; w++)
		free(s->h[w].a);
	free(s);
	return 0;
}

void sched_set_link(struct sched *s, uint64_t link_rate, uint64_t link_burst)
{
	s->cfg.link_rate = link_rate;
	s->cfg.link_burst = link_burst;
	link_resolve(s);
	/* A reload forgives the link's debt at the old rate. */
	if (s->l_key > s->now)
		s->l_key = s->now;
}

void sched_set_pace(struct sched *s, uint64_t pace_ns)
{
	s->cfg.pace_ns = pace_ns;
	link_resolve(s);
}

uint64_t sched_link_rate(const struct sched *s)
{
	return s->cfg.link_rate;
}

uint64_t sched_link_pace(const struct sched *s)
{
	return s->cfg.link_rate ? s->l_pace_ns : 0;
}

/* ------------------------------------------------------------- classes */

int sched_class_set(struct sched_class *c, uint64_t rate, uint64_t ceil,
                    uint64_t burst, uint64_t cburst)
{
	struct sched *s = c->s;
	const unsigned pct[2] = { s->cfg.ia_prio_percent, s->cfg.normal_prio_percent };

	if (rate == 0 || (ceil != 0 && ceil < rate))
		return -EINVAL;
	c->rate = rate;
	c->ceil = ceil;
	c->burst = burst ? burst : max_u64(16 * KIB, rate / 10);
	c->cburst = cburst ? cburst : max_u64(16 * KIB, ceil / 200);
	c->r_burst_ns = bytes_ns(c->burst, rate);
	c->c_burst_ns = ceil ? bytes_ns(c->cburst, ceil) : 0;
	c->c_res_ns = ceil ? bytes_ns(c->cburst / 2 < 8 * KIB ? c->cburst / 2 : 8 * KIB, ceil) : 0;
	for (int b = 0; b < 2; b++) {
		c->prate[b] = max_u64(1, rate * pct[b] / 100);
		c->p_burst_ns[b] = bytes_ns(max_u64(4 * KIB, c->prate[b] / 10), c->prate[b]);
		if (c->p_key[b] > s->now)
			c->p_key[b] = s->now;
	}
	/* Debts run up at the old rates are forgiven. */
	if (c->r_key > s->now)
		c->r_key = s->now;
	if (c->c_key > s->now)
		c->c_key = s->now;
	if (c->where != C_IDLE) {
		class_unplace(s, c);
		class_place(s, c);
	}
	return 0;
}

static int heaps_reserve(struct sched *s, size_t n)
{
	for (int w = 0; w < H_COUNT; w++) {
		struct heap *h = &s->h[w];
		struct sched_class **a;

		if (h->cap >= n)
			continue;
		a = realloc(h->a, (n + 8) * sizeof(*a));
		if (a == NULL)
			return -ENOMEM;
		h->a = a;
		h->cap = n + 8;
	}
	return 0;
}

int sched_class_new(struct sched *s, uint64_t rate, uint64_t ceil, unsigned flags,
                    void *ud, struct sched_class **out)
{
	struct sched_class *c;
	int rc;

	*out = NULL;
	if (rate == 0 || (ceil != 0 && ceil < rate))
		return -EINVAL;
	if ((flags & SCHED_CLASS_LOCAL) && s->local != NULL)
		return -EEXIST;
	if ((rc = heaps_reserve(s, s->nclasses + 1)) < 0)
		return rc;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -ENOMEM;
	c->s = s;
	c->ud = ud;
	c->local = flags & SCHED_CLASS_LOCAL;
	c->est.tick = s->now >> EST_SHIFT;
	/* Idle since "forever": full buckets at the first send. */
	c->r_key = c->c_key = c->p_key[0] = c->p_key[1] = 0;
	sched_class_set(c, rate, ceil, 0, 0);
	c->next = s->classes;
	if (s->classes != NULL)
		s->classes->prev = c;
	s->classes = c;
	s->nclasses++;
	if (c->local)
		s->local = c;
	*out = c;
	return 0;
}

int sched_class_free(struct sched_class *c)
{
	struct sched *s;

	if (c == NULL)
		return 0;
	s = c->s;
	if (c->nflows)
		return -EBUSY;
	/* No flows means idle; only the lazy ia list may still name it. */
	if (c->in_ia) {
		struct sched_class **pp = &s->ia_head, *last = NULL;

		while (*pp != c) {
			last = *pp;
			pp = &(*pp)->ia_next;
		}
		*pp = c->ia_next;
		if (s->ia_tail == c)
			s->ia_tail = last;
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->classes = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (s->local == c)
		s->local = NULL;
	s->nclasses--;
	free(c);
	return 0;
}

void *sched_class_ud(const struct sched_class *c)
{
	return c->ud;
}

struct sched_class *sched_class_next(const struct sched *s, const struct sched_class *prev)
{
	return prev == NULL ? s->classes : prev->next;
}

/* --------------------------------------------------------------- dests */

int sched_dest_new(struct sched *s, struct sched_dest **out)
{
	struct sched_dest *d = calloc(1, sizeof(*d));

	*out = d;
	if (d == NULL)
		return -ENOMEM;
	d->s = s;
	s->ndests++;
	return 0;
}

void sched_dest_block(struct sched_dest *d, bool blocked)
{
	if (blocked == d->blocked)
		return;
	d->blocked = blocked;
	if (blocked) {
		d->blocks++;
		return;
	}
	/* A flow parked in the middle of its turn resumes it first. */
	while (d->parked.head != NULL) {
		struct sched_flow *f = d->parked.head;

		ring_del(&d->parked, f);
		f->where = F_OUT;
		flow_attach(f, f->deficit > 0);
	}
}

bool sched_dest_blocked(const struct sched_dest *d)
{
	return d->blocked;
}

int sched_dest_free(struct sched_dest *d)
{
	if (d == NULL)
		return 0;
	if (d->nflows)
		return -EBUSY;
	d->s->ndests--;
	free(d);
	return 0;
}

/* --------------------------------------------------------------- flows */

static void class_link_flow(struct sched_class *c, struct sched_flow *f)
{
	f->cls = c;
	f->cprev = NULL;
	f->cnext = c->flows;
	if (c->flows != NULL)
		c->flows->cprev = f;
	c->flows = f;
	c->nflows++;
	c->qbytes += f->qbytes;
	c->qchunks += f->qchunks;
}

static void class_unlink_flow(struct sched_flow *f)
{
	struct sched_class *c = f->cls;

	if (f->cprev != NULL)
		f->cprev->cnext = f->cnext;
	else
		c->flows = f->cnext;
	if (f->cnext != NULL)
		f->cnext->cprev = f->cprev;
	c->nflows--;
	c->qbytes -= f->qbytes;
	c->qchunks -= f->qchunks;
}

int sched_flow_new(struct sched_class *c, struct sched_dest *dest, enum sched_band band,
                   void *ud, struct sched_flow **out)
{
	struct sched *s = c->s;
	struct sched_flow *f;

	*out = NULL;
	if ((unsigned)band > SCHED_AUTO)
		return -EINVAL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -ENOMEM;
	f->dest = dest;
	f->ud = ud;
	f->fixed = (uint8_t)band;
	/* A new tunnel starts with its handshake: small and interactive. */
	f->band = band == SCHED_AUTO ? SCHED_INTERACTIVE : (uint8_t)band;
	f->deficit = s->cfg.quantum;
	f->limit = s->cfg.flow_limit;
	f->low = s->cfg.flow_low;
	f->idle_since = s->now;
	f->est.tick = s->now >> EST_SHIFT;
	class_link_flow(c, f);
	if (dest != NULL)
		dest->nflows++;
	*out = f;
	return 0;
}

struct sched_chunk *sched_flow_free(struct sched_flow *f)
{
	struct sched *s;
	struct sched_chunk *q;

	if (f == NULL)
		return NULL;
	s = f->cls->s;
	flow_detach(f);
	class_unlink_flow(f);
	s->qbytes -= f->qbytes;
	s->qchunks -= f->qchunks;
	if (f->dest != NULL)
		f->dest->nflows--;
	q = f->head;
	free(f);
	return q;
}

void sched_flow_set_class(struct sched_flow *f, struct sched_class *c)
{
	if (f->cls == c)
		return;
	flow_detach(f);
	class_unlink_flow(f);
	class_link_flow(c, f);
	if (f->qchunks && !f->blocked)
		flow_attach(f, false);
}

void sched_flow_block(struct sched_flow *f, bool blocked)
{
	if (blocked == f->blocked)
		return;
	f->blocked = blocked;
	if (blocked) {
		f->blocks++;
		f->cls->blocks++;
		f->cls->s->blocks++;
		flow_detach(f);
	} else if (f->qchunks) {
		flow_attach(f, f->deficit > 0);
	}
}

void sched_flow_set_limit(struct sched_flow *f, uint64_t limit, uint64_t low)
{
	f->limit = limit ? limit : f->cls->s->cfg.flow_limit;
	f->low = low && low <= f->limit ? low : f->limit / 4;
	if (f->over && f->qbytes <= f->low)
		f->over = false;
}

bool sched_flow_over_limit(const struct sched_flow *f) { return f->over; }
uint64_t sched_flow_over_since(const struct sched_flow *f) { return f->over ? f->over_since : 0; }
enum sched_band sched_flow_band(const struct sched_flow *f) { return (enum sched_band)f->band; }
uint64_t sched_flow_queued(const struct sched_flow *f) { return f->qbytes; }
void *sched_flow_ud(const struct sched_flow *f) { return f->ud; }
struct sched_class *sched_flow_class(const struct sched_flow *f) { return f->cls; }

struct sched_flow *sched_flow_next(const struct sched_class *c, const struct sched_flow *prev)
{
	return prev == NULL ? c->flows : prev->cnext;
}

/* ------------------------------------------------------------ the path */

static uint64_t clamp_now(struct sched *s, uint64_t now)
{
	if (now > s->now)
		s->now = now;
	return s->now;
}

int sched_enqueue(struct sched *s, struct sched_flow *f, struct sched_chunk *c, uint64_t now)
{
	struct sched_class *cl = f->cls;
	bool was_empty = f->qchunks == 0;

	if (c->len == 0)
		return -EINVAL;
	now = clamp_now(s, now);
	c->next = NULL;
	c->t_enq = now;
	if (f->tail != NULL)
		f->tail->next = c;
	else
		f->head = c;
	f->tail = c;
	f->qbytes += c->len;
	f->qchunks++;
	cl->qbytes += c->len;
	cl->qchunks++;
	s->qbytes += c->len;
	s->qchunks++;
	f->bytes_in += c->len;
	cl->bytes_in += c->len;
	s->bytes_in += c->len;
	classify(s, f, now, c->len, was_empty);
	if (was_empty) {
		f->busy_since = now;
		if (!f->blocked)
			flow_attach(f, false);
	}
	if (!f->over && f->qbytes > f->limit) {
		f->over = true;
		f->over_since = now;
		f->over_count++;
		cl->over_count++;
	}
	return f->over ? 1 : 0;
}

/* Classes whose ceiling has recovered go back to the eligible heaps. */
static void wake(struct sched *s, uint64_t now)
{
	struct sched_class *c;

	while ((c = h_top(s, H_W)) != NULL && w_key(c) <= now) {
		h_del(s, H_W, c);
		elig_enter(s, c);
	}
}

/* Who sends next: the local class within its rate, then green classes
 * with interactive backlog (round robin), then the green class most
 * behind its guarantee, then the borrower with the smallest tag.
 * urgent_only (between a paced link's batches): the first two only. */
static struct sched_class *pick_class(struct sched *s, uint64_t now, bool urgent_only, int *mode)
{
	struct sched_class *c = s->local;

	if (c != NULL && c->where == C_ELIG && c->r_key <= now) {
		*mode = M_GREEN;
		return c;
	}
	while ((c = s->ia_head) != NULL) {
		bool under_ceil = c->where == C_ELIG || (c->where == C_WAIT && c->c_key <= now);

		if (under_ceil && c->band[SCHED_INTERACTIVE].n && c->r_key <= now &&
		    c->p_key[SCHED_INTERACTIVE] <= now) {
			*mode = M_IA;
			return c;
		}
		ia_pop(s);
	}
	if (urgent_only)
		return NULL;
	c = h_top(s, H_G);
	if (c != NULL && c->r_key <= now) {
		*mode = M_GREEN;
		return c;
	}
	*mode = M_BORROW;
	return h_top(s, H_B);
}

/* Interactive and normal go first while their priority buckets last;
 * then the non-empty bands take DRR turns of one quantum. */
static unsigned pick_band(struct sched_class *c, uint64_t now, bool *fallback)
{
	int64_t q = c->s->cfg.quantum;

	*fallback = false;
	for (unsigned b = 0; b < 2; b++)
		if (c->band[b].n && c->p_key[b] <= now)
			return b;
	*fallback = true;
	for (;;) {
		unsigned b = c->bcur;

		if (c->band[b].n) {
			if (c->bdef[b] > 0)
				return b;
			c->bdef[b] += q;
		}
		c->bcur = (uint8_t)((b + 1) % SCHED_BANDS);
	}
}

/* The flow whose chunk goes, or NULL if the class ran out of sendable
 * flows (all parked behind blocked destinations). */
static struct sched_flow *pick_flow(struct sched_class *c, uint64_t now, bool urgent_only,
                                    int *mode, unsigned *band, bool *fallback)
{
	int64_t q = c->s->cfg.quantum;

	while (c->n_ring) {
		unsigned b;
		struct sched_flow *f;

		if (*mode == M_IA && c->band[SCHED_INTERACTIVE].n) {
			b = SCHED_INTERACTIVE;
			*fallback = false;
		} else if (*mode == M_IA && urgent_only) {
			return NULL;   /* its interactive backlog is gone; pick_class pops it */
		} else {
			/* the ceiling's reserve is for interactive bytes only */
			if (c->where == C_WAIT)
				return NULL;
			if (*mode == M_IA)
				*mode = M_GREEN;
			b = pick_band(c, now, fallback);
		}
		f = c->band[b].head;
		if (f->dest != NULL && f->dest->blocked) {
			f->blocks++;
			c->blocks++;
			c->s->blocks++;
			flow_detach(f);
			ring_add(&f->dest->parked, f, false);
			f->where = F_PARKED;
			continue;
		}
		if (f->deficit <= 0) {
			f->deficit += q;
			ring_del(&c->band[b], f);
			ring_add(&c->band[b], f, false);
			continue;
		}
		*band = b;
		return f;
	}
	return NULL;
}

/* Could anything go between batches (see pick_class's urgent_only)? A
 * stale ia entry only costs an early wakeup. */
static bool urgent_waiting(const struct sched *s)
{
	return s->ia_head != NULL || (s->local != NULL && s->local->qchunks);
}

struct sched_chunk *sched_dequeue(struct sched *s, uint64_t now, struct sched_flow **flow,
                                  uint64_t *next)
{
	struct sched_class *c;
	struct sched_flow *f = NULL;
	struct sched_chunk *ch;
	unsigned b = 0;
	bool fb = false, urgent;
	int mode = M_GREEN;
	uint32_t len;

	*flow = NULL;
	now = clamp_now(s, now);
	if (s->h[H_G].n == 0 && s->h[H_W].n == 0) {
		*next = SCHED_NEVER;
		return NULL;
	}
	/* A paced link: out of debt, urgent bytes may go; bulk waits for a
	 * batch's worth of tokens, then goes until the bucket is empty. */
	if (s->cfg.link_rate) {
		if (s->l_key > now) {
			s->l_open = false;
			*next = s->l_key + (urgent_waiting(s) ? 0 : s->l_pace_ns);
			return NULL;
		}
		if (!s->l_open && s->l_key + s->l_pace_ns <= now)
			s->l_open = true;
	}
	urgent = s->cfg.link_rate && !s->l_open;
	wake(s, now);
	while (f == NULL) {
		if ((c = pick_class(s, now, urgent, &mode)) == NULL) {
			if (urgent)
				*next = s->l_key + s->l_pace_ns;
			else
				*next = s->h[H_W].n ? w_key(h_top(s, H_W)) : SCHED_NEVER;
			return NULL;
		}
		f = pick_flow(c, now, urgent, &mode, &b, &fb);
	}
	c = f->cls;

	ch = f->head;
	f->head = ch->next;
	if (f->head == NULL)
		f->tail = NULL;
	ch->next = NULL;
	len = ch->len;
	f->qbytes -= len;
	f->qchunks--;
	c->qbytes -= len;
	c->qchunks--;
	s->qbytes -= len;
	s->qchunks--;
	f->deficit -= len;
	if (fb)
		c->bdef[b] -= len;
	if (b < 2)
		c->p_key[b] = key_charge(c->p_key[b], now, c->p_burst_ns[b], ns_for(len, c->prate[b]));

	/* statistics */
	f->bytes += len;
	f->chunks++;
	c->bytes += len;
	c->chunks++;
	s->bytes += len;
	s->chunks++;
	est_add(&f->est, now, len);
	est_add(&c->est, now, len);
	est_add(&s->est, now, len);
	hist_add(&f->hist, now - ch->t_enq);
	hist_add(&c->hist, now - ch->t_enq);
	hist_add(&c->bhist[b < SCHED_BANDS ? b : SCHED_BULK], now - ch->t_enq);
	hist_add(&s->hist, now - ch->t_enq);

	/* charge the buckets: guarantee or borrowing, ceiling, link */
	if (mode == M_BORROW) {
		c->borrowed += len;
		s->borrowed += len;
		s->vtime = c->b_tag;
		c->b_tag += ns_for(len, c->rate);
	} else {
		c->r_key = key_charge(c->r_key, now, c->r_burst_ns, ns_for(len, c->rate));
	}
	if (c->ceil)
		c->c_key = key_charge(c->c_key, now, c->c_burst_ns, ns_for(len, c->ceil));
	if (s->cfg.link_rate)
		s->l_key = key_charge(s->l_key, now, s->l_burst_ns, ns_for(len, s->cfg.link_rate));

	/* the flow: empty, or keeping a backlog (bulk), or back under its limit */
	if (f->qchunks == 0) {
		flow_detach(f);
		f->idle_since = now;
	} else if (f->fixed == SCHED_AUTO && f->band != SCHED_BULK &&
	           now - f->busy_since >= s->cfg.bulk_ns) {
		flow_set_band(f, SCHED_BULK);
	}
	if (f->over && f->qbytes <= f->low)
		f->over = false;

	/* the class: re-key, or to the ceiling's wait heap */
	if (c->where == C_ELIG) {
		if (c->ceil && w_key(c) > now) {
			elig_leave(s, c);
			c->where = C_WAIT;
			h_push(s, H_W, c);
		} else {
			h_fix(s, H_G, c);
			h_fix(s, H_B, c);
		}
	} else if (c->where == C_WAIT) {
		h_fix(s, H_W, c);   /* interactive bytes through the reserve */
	}
	if (mode == M_IA && s->ia_head == c) {
		/* round robin among classes with interactive backlog */
		ia_pop(s);
		if (c->band[SCHED_INTERACTIVE].n)
			ia_push(s, c);
	}
	*flow = f;
	*next = now;
	return ch;
}

void sched_link_charge(struct sched *s, uint64_t bytes, uint64_t now)
{
	now = clamp_now(s, now);
	s->overhead += bytes;
	if (s->cfg.link_rate == 0 || bytes == 0)
		return;
	/* key_charge's floor keeps tokens saved while idle: a portal that has
	 * been quiet pays ACKs out of its burst, like any other bytes */
	s->l_key = key_charge(s->l_key, now, s->l_burst_ns,
	                      ns_for(bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes, s->cfg.link_rate));
}

/* ---------------------------------------------------------- statistics */

static void fill_common(struct sched_stats *o, uint64_t now, const struct est *e,
                        const struct hist *h)
{
	o->cur_rate = est_read(e, now);
	o->delay_p50 = hist_pct(h, 500);
	o->delay_p99 = hist_pct(h, 990);
	o->delay_max = h->max;
	o->delay_sum = h->sum;
	hist_export(h, o->delay_hist);
}

void sched_link_stats(const struct sched *s, uint64_t now, struct sched_stats *o)
{
	memset(o, 0, sizeof(*o));
	o->rate = o->ceil = s->cfg.link_rate;
	o->bytes = s->bytes;
	o->chunks = s->chunks;
	o->borrowed = s->borrowed;
	o->bytes_in = s->bytes_in;
	o->overhead = s->overhead;
	o->queued_bytes = s->qbytes;
	o->queued_chunks = s->qchunks;
	o->blocks = s->blocks;
	o->flows = s->nclasses;
	fill_common(o, now, &s->est, &s->hist);
}

void sched_class_stats(const struct sched_class *c, uint64_t now, struct sched_stats *o)
{
	memset(o, 0, sizeof(*o));
	o->rate = c->rate;
	o->ceil = c->ceil ? c->ceil : c->s->cfg.link_rate;
	o->bytes = c->bytes;
	o->chunks = c->chunks;
	o->borrowed = c->borrowed;
	o->bytes_in = c->bytes_in;
	o->queued_bytes = c->qbytes;
	o->queued_chunks = c->qchunks;
	o->over_limit = c->over_count;
	o->blocks = c->blocks;
	o->flows = c->nflows;
	fill_common(o, now, &c->est, &c->hist);
}

void sched_flow_stats(const struct sched_flow *f, uint64_t now, struct sched_stats *o)
{
	memset(o, 0, sizeof(*o));
	o->rate = f->cls->rate;
	o->ceil = f->cls->ceil ? f->cls->ceil : f->cls->s->cfg.link_rate;
	o->bytes = f->bytes;
	o->chunks = f->chunks;
	o->bytes_in = f->bytes_in;
	o->queued_bytes = f->qbytes;
	o->queued_chunks = f->qchunks;
	o->over_limit = f->over_count;
	o->blocks = f->blocks;
	o->band = (enum sched_band)f->band;
	fill_common(o, now, &f->est, &f->hist);
}

void sched_class_band_delay(const struct sched_class *c, enum sched_band b,
                            uint64_t hist[SCHED_DELAY_NB + 1], uint64_t *sum_ns)
{
	const struct hist *h = &c->bhist[(unsigned)b < SCHED_BANDS ? (unsigned)b : SCHED_BULK];

	hist_export(h, hist);
	*sum_ns = h->sum;
}

const char *sched_band_name(enum sched_band b)
{
	switch (b) {
	case SCHED_INTERACTIVE: return "interactive";
	case SCHED_NORMAL: return "normal";
	case SCHED_BULK: return "bulk";
	case SCHED_AUTO: return "auto";
	}
	return "?";
}

/* ------------------------------------------------------------- checker */

#define CHECK(cond) do { if (!(cond)) { *line = __LINE__; return -EFAULT; } } while (0)

static int check_heap(const struct sched *s, int w, int *line)
{
	const struct heap *h = &s->h[w];

	for (size_t i = 0; i < h->n; i++) {
		CHECK(h->a[i]->hi[w] == i);
		CHECK(h->a[i]->where == (w == H_W ? C_WAIT : C_ELIG));
		if (i > 0)
			CHECK(!h_less(w, h->a[i], h->a[(i - 1) / 2]));
	}
	return 0;
}

static int check_ring(const struct ring *r, int *line)
{
	const struct sched_flow *p = NULL, *f;
	uint32_t n = 0;

	for (f = r->head; f != NULL; p = f, f = f->next, n++) {
		CHECK(f->prev == p);
		CHECK(n <= r->n);
	}
	CHECK(n == r->n && r->tail == p);
	return 0;
}

static int check_flow(const struct sched *s, const struct sched_class *c,
                      const struct sched_flow *f, int *line)
{
	const struct sched_chunk *ch, *last = NULL;
	uint64_t bytes = 0, n = 0;
	const struct sched_flow *g;
	bool found = false;

	CHECK(f->cls == c);
	for (ch = f->head; ch != NULL; last = ch, ch = ch->next) {
		CHECK(ch->len > 0 && n < s->qchunks);
		CHECK(last == NULL || last->t_enq <= ch->t_enq);
		bytes += ch->len;
		n++;
	}
	CHECK(f->tail == last && bytes == f->qbytes && n == f->qchunks);
	/* DRR: a deficit never exceeds a quantum nor falls a chunk below zero */
	CHECK(f->deficit <= (int64_t)s->cfg.quantum && f->deficit > -(int64_t)UINT32_MAX - 1);
	CHECK(f->band < SCHED_BANDS);
	CHECK(f->fixed == SCHED_AUTO || f->fixed == f->band);
	if (f->qchunks && !f->blocked)
		CHECK(f->where == F_RING || f->where == F_PARKED);
	if (f->where == F_RING) {
		CHECK(f->qchunks && !f->blocked);
		for (g = c->band[f->band].head; g != NULL && !found; g = g->next)
			found = g == f;
		CHECK(found);
	} else if (f->where == F_PARKED) {
		CHECK(f->qchunks && !f->blocked && f->dest != NULL && f->dest->blocked);
		for (g = f->dest->parked.head; g != NULL && !found; g = g->next)
			found = g == f;
		CHECK(found);
	}
	CHECK(!f->over || f->qbytes > f->low);
	return 0;
}

int sched_check(const struct sched *s, int *line)
{
	const struct sched_class *c;
	uint64_t qb = 0, qc = 0, ncls = 0, nia = 0;
	int rc;

	*line = 0;
	for (int w = 0; w < H_COUNT; w++)
		if ((rc = check_heap(s, w, line)) < 0)
			return rc;
	CHECK(s->h[H_G].n == s->h[H_B].n);
	for (c = s->classes; c != NULL; c = c->next, ncls++) {
		const struct sched_flow *f;
		uint64_t cb = 0, cc = 0, nf = 0, nr = 0;

		CHECK(c->s == s && ncls < s->nclasses);
		CHECK(c->rate > 0 && (c->ceil == 0 || c->ceil >= c->rate));
		for (int b = 0; b < SCHED_BANDS; b++) {
			if ((rc = check_ring(&c->band[b], line)) < 0)
				return rc;
			nr += c->band[b].n;
			CHECK(c->bdef[b] <= (int64_t)s->cfg.quantum);
		}
		CHECK(nr == c->n_ring);
		CHECK((c->n_ring > 0) == (c->where != C_IDLE));
		if (c->where == C_ELIG) {
			CHECK(s->h[H_G].a[c->hi[H_G]] == c && s->h[H_B].a[c->hi[H_B]] == c);
			CHECK(!serial_lt(c->b_tag, s->vtime));
			CHECK(c->ceil == 0 || w_key(c) <= s->now);
		} else if (c->where == C_WAIT) {
			CHECK(s->h[H_W].a[c->hi[H_W]] == c);
		}
		if (c->in_ia)
			nia++;
		for (f = c->flows; f != NULL; f = f->cnext, nf++) {
			CHECK(nf < c->nflows);
			if ((rc = check_flow(s, c, f, line)) < 0)
				return rc;
			cb += f->qbytes;
			cc += f->qchunks;
		}
		CHECK(nf == c->nflows && cb == c->qbytes && cc == c->qchunks);
		qb += cb;
		qc += cc;
	}
	CHECK(ncls == s->nclasses && qb == s->qbytes && qc == s->qchunks);
	for (c = s->ia_head; c != NULL; c = c->ia_next) {
		CHECK(c->in_ia && nia > 0);
		nia--;
		CHECK(c->ia_next != NULL || s->ia_tail == c);
	}
	CHECK(nia == 0);
	CHECK(s->local == NULL || s->local->local);
	return 0;
}
