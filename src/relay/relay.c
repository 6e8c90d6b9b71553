/* relay — see relay.h.
 *
 * The pump, the only writer of tunnel bytes:
 *
 *   while (chunk = sched_dequeue(now))      the scheduler picks user, band, flow
 *       deliver(chunk)                      mrpc item on the destination stream
 *       destination backed up?  block it    (unblocked by its drain callback)
 *       flow under its low mark? resume its source connection
 *       flow empty and ending?   forward the END
 *   arm the timer for `next`                 pacing and ceilings
 *
 * Each chunk is charged what it costs on the wire: the item plus its
 * 9-byte packet header, the 34-byte box-stream header of every frame it
 * spans and the TCP/IP/Ethernet headers of its segments, so the
 * configured rate is the rate on the line. */
#include "relay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxs.h"
#include "conn.h"
#include "log.h"
#include "util.h"

/* Block a destination whose connection holds more than this unsent, and
 * unblock it when it is down to DEST_LOW: enough to keep the socket busy
 * for a few ms, little enough to keep the ordering ours. */
#define DEST_HIGH (64u << 10)
#define DEST_LOW (16u << 10)

struct relay {
	uv_loop_t *loop;
	struct sched *s;
	uv_timer_t timer;
	bool in_pump, pump_again;
	struct relay_port *seen;      /* ports that carried bytes since segs_at (paced) */
	uint64_t segs_at;
};

struct relay_class {
	char name[64];
	uint64_t bytes_down;  /* delivered to ports of this class (metrics.h) */
};

struct relay_port {
	struct relay *r;
	struct conn *c;       /* NULL once the connection has gone */
	struct sched_dest *dest;
	struct sched_class *cls;
	unsigned pausers;     /* flows holding this connection's input stopped */
	unsigned refs;        /* the connection + flows still sending from it + `seen` */
	struct relay_port *seen_next;
	bool listed;          /* on relay.seen */
	uint32_t segs;        /* conn_segs_sent() when last charged */
	struct relay_acct *acct;  /* borrowed, may be NULL (relay_port_set_acct) */
};

struct relay_flow {
	struct relay *r;
	struct sched_flow *f;
	struct relay_port *from, *to;
	const struct relay_flow_ops *ops;
	void *ud;
	bool pausing;         /* this flow stopped from's input */
	bool end_pending;
};

/* First member: a sched_chunk pointer is a relay_chunk pointer. */
struct relay_chunk {
	struct sched_chunk sc;
	enum psc_type type;
	uint32_t len;
	uint8_t *body;
};

static void pump(struct relay *r);

/* What a TCP/IPv4 segment adds on Ethernet: 14 + 20 + 32 (TCP with
 * timestamps) bytes, which is also a bare ACK's whole frame. */
#define SEGMENT_OVERHEAD 66

static uint64_t now_ns(void)
{
	return uv_hrtime();
}

static void timer_cb(uv_timer_t *t)
{
	pump(t->data);
}

struct relay *relay_new(uv_loop_t *loop, const struct sched_cfg *cfg)
{
	struct relay *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->s = sched_new(cfg);
	if (r->s == NULL) {
		free(r);
		return NULL;
	}
	r->loop = loop;
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	return r;
}

static void relay_closed(uv_handle_t *h)
{
	free(h->data);
}

static void segs_forget(struct relay *r);

void relay_free(struct relay *r)
{
	if (r == NULL)
		return;
	segs_forget(r);
	if (sched_free(r->s) != 0)
		log_warn("relay: scheduler freed with classes or flows left");
	uv_close((uv_handle_t *)&r->timer, relay_closed);
}

struct sched *relay_sched(struct relay *r)
{
	return r->s;
}

int relay_class_new(struct relay *r, const char *name, uint64_t rate, uint64_t ceil,
                    unsigned flags, struct sched_class **out)
{
	struct relay_class *rc = calloc(1, sizeof(*rc));
	int err;

	if (rc == NULL)
		return -ENOMEM;
	snprintf(rc->name, sizeof(rc->name), "%s", name);
	err = sched_class_new(r->s, rate, ceil, flags, rc, out);
	if (err != 0)
		free(rc);
	return err;
}

const char *relay_class_name(const struct sched_class *c)
{
	const struct relay_class *rc = sched_class_ud(c);

	return rc != NULL ? rc->name : "?";
}

void relay_classes_free(struct relay *r)
{
	struct sched_class *c;

	while ((c = sched_class_next(r->s, NULL)) != NULL) {
		void *ud = sched_class_ud(c);

		if (sched_class_free(c) != 0) {
			log_warn("relay: class %s still has flows", relay_class_name(c));
			return;
		}
		free(ud);
	}
}

/* ---------------------------------------------------------------- ports */

static void port_drained(struct conn *c, void *ud)
{
	relay_port_writable(ud);
}

struct relay_port *relay_port_new(struct relay *r, struct conn *c, struct sched_class *cls)
{
	struct relay_port *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	if (sched_dest_new(r->s, &p->dest) != 0) {
		free(p);
		return NULL;
	}
	p->r = r;
	p->c = c;
	p->cls = cls;
	p->refs = 1;
	p->segs = conn_segs_sent(c);
	conn_set_drain_cb(c, port_drained, p, DEST_LOW);
	return p;
}

static void port_unref(struct relay_port *p)
{
	if (--p->refs == 0)
		free(p);
}

/* A chunk is charged its payload and box-stream headers when it leaves;
 * what TCP/IP/Ethernet wrap around it is known only after the kernel has
 * cut it into segments, and the portal's ACKs of what it reads leave by
 * the same uplink (bare ACKs: ~2 % of the rate read). Headers are ~5 %
 * of a modem's line: without them a portal shaped 5 % below a modem is
 * not below it. Estimating them per chunk missed short segments and the
 * ACKs (the modem ran at 97–99 %, bench/fair (b)), so the kernel's own
 * count is charged instead: every port that carried bytes is listed, and
 * every SEGS_POLL_NS its segments sent since the last look are charged to
 * the link, SEGMENT_OVERHEAD each. Only listed ports are asked, a few
 * getsockopt()s per poll. */
#define SEGS_POLL_NS (10 * 1000 * 1000ull)

static void segs_note(struct relay_port *p)
{
	if (p->listed || p->c == NULL || sched_link_rate(p->r->s) == 0)
		return;
	p->listed = true;
	p->seen_next = p->r->seen;
	p->r->seen = p;
	p->refs++;
}

/* Takes the next port off the list; the caller drops its reference. */
static struct relay_port *seen_pop(struct relay *r)
{
	struct relay_port *p = r->seen;

	if (p != NULL) {
		r->seen = p->seen_next;
		p->listed = false;
	}
	return p;
}

static void segs_charge(struct relay *r, uint64_t now)
{
	struct relay_port *p;

	if (r->seen == NULL || now - r->segs_at < SEGS_POLL_NS)
		return;
	r->segs_at = now;
	while ((p = seen_pop(r)) != NULL) {
		if (p->c != NULL) {
			uint32_t n = conn_segs_sent(p->c), d = n - p->segs;

			p->segs = n;
			sched_link_charge(r->s, (uint64_t)d * SEGMENT_OVERHEAD, now);
		}
		port_unref(p);
	}
}

static void segs_forget(struct relay *r)
{
	struct relay_port *p;

	while ((p = seen_pop(r)) != NULL)
		port_unref(p);
}

/* What a connection sent before it went may still be draining towards
 * the other side: those flows keep the port (not the connection). */
void relay_port_free(struct relay_port *p)
{
	if (p == NULL)
		return;
	conn_set_drain_cb(p->c, NULL, NULL, 0);
	p->c = NULL;
	if (sched_dest_free(p->dest) != 0)
		log_warn("relay: a connection left with flows still aimed at it");
	p->dest = NULL;
	port_unref(p);
}

void relay_port_set_class(struct relay_port *p, struct sched_class *cls)
{
	p->cls = cls;
}

struct sched_class *relay_port_class(const struct relay_port *p)
{
	return p->cls;
}

void relay_port_set_acct(struct relay_port *p, struct relay_acct *a)
{
	if (p != NULL)
		p->acct = a;
}

uint64_t relay_class_bytes_down(const struct sched_class *c)
{
	const struct relay_class *rc = sched_class_ud(c);

	return rc != NULL ? rc->bytes_down : 0;
}

const struct relay_acct *relay_flow_acct(const struct sched_flow *sf)
{
	const struct relay_flow *f = sched_flow_ud(sf);

	return f != NULL ? f->from->acct : NULL;
}

/* A chunk has left: charged to the sender's class by the scheduler; here
 * to the receiver's class and to both ends' accounts. len: its cost. */
static void count_out(struct relay_flow *f, uint32_t len)
{
	struct relay_class *rc = f->to->cls != NULL ? sched_class_ud(f->to->cls) : NULL;

	if (rc != NULL)
		rc->bytes_down += len;
	if (f->from->acct != NULL)
		f->from->acct->up += len;
	if (f->to->acct != NULL)
		f->to->acct->down += len;
}

void relay_port_writable(struct relay_port *p)
{
	if (!sched_dest_blocked(p->dest))
		return;
	sched_dest_block(p->dest, false);
	pump(p->r);
}

/* ---------------------------------------------------------------- flows */

struct relay_flow *relay_flow_new(struct relay *r, struct relay_port *from, struct relay_port *to,
                                  const struct relay_flow_ops *ops, void *ud)
{
	struct relay_flow *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	if (sched_flow_new(from->cls, to->dest, SCHED_AUTO, f, &f->f) != 0) {
		free(f);
		return NULL;
	}
	f->r = r;
	f->from = from;
	f->to = to;
	f->ops = ops;
	f->ud = ud;
	from->refs++;
	return f;
}

static void unpause(struct relay_flow *f)
{
	if (!f->pausing)
		return;
	f->pausing = false;
	if (--f->from->pausers == 0 && f->from->c != NULL)
		conn_pause_input(f->from->c, false);
}

/* Cost of an item when it leaves: body, packet header and a box header
 * per frame; segment headers are charged later (segs_charge). */

static uint32_t wire_len(uint32_t len)
{
	uint64_t plain = (uint64_t)len + PSC_HEADER_BYTES;
	uint64_t boxed = plain + BOXS_HEADER_BOXED_BYTES * ((plain + BOXS_MAX_BODY - 1) / BOXS_MAX_BODY);

	return boxed > UINT32_MAX ? UINT32_MAX : (uint32_t)boxed;
}

/* A piece of a cut item (below) shares its frames with the pieces around
 * it, so it pays its part of their headers, not whole ones. */
static uint32_t piece_wire_len(uint32_t len)
{
	uint64_t plain = (uint64_t)len + PSC_HEADER_BYTES;

	return (uint32_t)(plain + plain * BOXS_HEADER_BOXED_BYTES / BOXS_MAX_BODY);
}

/* Queues one chunk; 1: the flow is now over its limit. Takes body. */
static int push_one(struct relay_flow *f, enum psc_type type, uint8_t *body, uint32_t len,
                    uint32_t cost)
{
	struct relay_chunk *c = malloc(sizeof(*c));
	int rc;

	if (c == NULL) {
		free(body);
		return -ENOMEM;
	}
	c->type = type;
	c->len = len;
	c->body = body;
	c->sc.len = cost;
	rc = sched_enqueue(f->r->s, f->f, &c->sc, now_ns());
	if (rc < 0) {
		free(body);
		free(c);
	}
	return rc;
}

/* On a slow paced link a whole 4 KiB item is 3.5 ms of a 10 mbit line,
 * and a ping that reaches the modem behind one waits that long. Tunnel
 * bytes are a byte stream (the inner box-stream does its own framing), so
 * binary items are cut into pieces of half a batch (`pace`), at least
 * 1 ms of the link (the default) and 1 KiB. With the default pace nothing is cut
 * at 33 mbit and above; a longer pace (fewer wakeups, more bytes at once
 * in a modem's queue anyway) cuts less, and each piece costs a packet and
 * a box. */
static uint32_t piece_max(const struct relay *r)
{
	uint64_t rate = sched_link_rate(r->s), pace_us = sched_link_pace(r->s) / 1000;
	uint64_t n = rate / 2 * (pace_us > 2000 ? pace_us : 2000) / 1000000;

	if (rate == 0)
		return UINT32_MAX;
	return n < 1024 ? 1024 : n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

int relay_flow_push(struct relay_flow *f, enum psc_type type, uint8_t *body, uint32_t len)
{
	uint32_t piece = type == PSC_BINARY ? piece_max(f->r) : UINT32_MAX;
	int rc = 0, over = 0;

	if (len == 0 || f->end_pending) {
		free(body);
		return len == 0 ? 0 : -EPIPE;
	}
	segs_note(f->from);
	if (len <= piece) {
		rc = push_one(f, type, body, len, wire_len(len));
		over = rc == 1;
	} else {
		for (uint32_t off = 0; off < len && rc >= 0; off += piece) {
			uint32_t n = len - off < piece ? len - off : piece;
			uint8_t *p = malloc(n);

			if (p == NULL) {
				rc = -ENOMEM;
				break;
			}
			memcpy(p, body + off, n);
			rc = push_one(f, type, p, n, piece_wire_len(n));
			over |= rc == 1;
		}
		free(body);
	}
	/* Over its limit: stop reading the connection that feeds it. */
	if (over && !f->pausing && f->from->c != NULL) {
		f->pausing = true;
		if (f->from->pausers++ == 0)
			conn_pause_input(f->from->c, true);
	}
	/* Out of memory: no pump, which could end (and free) the caller's
	 * tunnel before it has ended it for the lost bytes. */
	if (rc == -ENOMEM)
		return rc;
	pump(f->r);
	return rc < 0 ? rc : 0;
}

void relay_flow_end(struct relay_flow *f)
{
	f->end_pending = true;
	if (sched_flow_queued(f->f) == 0) {
		f->end_pending = false;
		f->ops->ended(f->ud);   /* may free f */
	}
}

void relay_flow_free(struct relay_flow *f)
{
	struct sched_chunk *sc;

	if (f == NULL)
		return;
	unpause(f);
	sc = sched_flow_free(f->f);
	while (sc != NULL) {
		struct relay_chunk *c = (struct relay_chunk *)sc;

		sc = sc->next;
		free(c->body);
		free(c);
	}
	port_unref(f->from);
	free(f);
}

int relay_reclass(struct relay *r)
{
	size_t n = 0, cap = 0;
	struct sched_flow **all = NULL;

	/* Collect first: moving a flow changes the lists being walked. */
	for (struct sched_class *c = sched_class_next(r->s, NULL); c != NULL;
	     c = sched_class_next(r->s, c))
		for (struct sched_flow *sf = sched_flow_next(c, NULL); sf != NULL;
		     sf = sched_flow_next(c, sf)) {
			if (n == cap) {
				struct sched_flow **grown;

				cap = cap ? cap * 2 : 64;
				grown = realloc(all, cap * sizeof(*all));
				if (grown == NULL) {
					free(all);
					return -ENOMEM;
				}
				all = grown;
			}
			all[n++] = sf;
		}
	for (size_t i = 0; i < n; i++) {
		struct relay_flow *f = sched_flow_ud(all[i]);

		if (sched_flow_class(all[i]) != f->from->cls)
			sched_flow_set_class(all[i], f->from->cls);
	}
	free(all);
	return 0;
}

uint64_t relay_flow_blocked_for(const struct relay_flow *f)
{
	uint64_t since;

	if (!sched_flow_over_limit(f->f))
		return 0;
	since = sched_flow_over_since(f->f);
	return (now_ns() - since) / 1000000;
}

/* ----------------------------------------------------------------- pump */

static void arm(struct relay *r, uint64_t next, uint64_t now)
{
	uint64_t ms;

	if (next == SCHED_NEVER) {
		uv_timer_stop(&r->timer);
		return;
	}
	/* libuv timers count whole ms: round up, never early. */
	ms = next > now ? (next - now + 999999) / 1000000 : 0;
	uv_timer_start(&r->timer, timer_cb, ms, 0);
}

static void pump(struct relay *r)
{
	/* deliver() can end a stream, which can end a tunnel, which can push
	 * or free flows: a nested call just asks the running loop to go on. */
	if (r->in_pump) {
		r->pump_again = true;
		return;
	}
	r->in_pump = true;
	segs_charge(r, now_ns());
	do {
		r->pump_again = false;
		for (;;) {
			uint64_t now = now_ns(), next = SCHED_NEVER;
			struct sched_flow *sf = NULL;
			struct sched_chunk *sc = sched_dequeue(r->s, now, &sf, &next);
			struct relay_chunk *c = (struct relay_chunk *)sc;
			struct relay_flow *f;

			if (sc == NULL) {
				arm(r, next, now);
				break;
			}
			f = sched_flow_ud(sf);
			(void)f->ops->deliver(f->ud, c->type, c->body, c->len);
			count_out(f, c->sc.len);
			segs_note(f->to);
			free(c->body);
			free(c);
			if (f->to->c != NULL && conn_write_queue_size(f->to->c) > DEST_HIGH)
				sched_dest_block(f->to->dest, true);
			if (f->pausing && !sched_flow_over_limit(f->f))
				unpause(f);
			if (f->end_pending && sched_flow_queued(f->f) == 0) {
				f->end_pending = false;
				f->ops->ended(f->ud);   /* last: may free f */
			}
		}
	} while (r->pump_again);
	r->in_pump = false;
}

/* ----------------------------------------------------------------- info */

static json_t *stats_json(const struct sched_stats *st)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:I,s:I}",
		"rate", (json_int_t)st->rate, "ceil", (json_int_t)st->ceil,
		"cur_rate", (json_int_t)st->cur_rate, "bytes", (json_int_t)st->bytes,
		"borrowed", (json_int_t)st->borrowed, "queued_bytes", (json_int_t)st->queued_bytes,
		"queued_chunks", (json_int_t)st->queued_chunks, "over_limit", (json_int_t)st->over_limit,
		"delay_p50_ms", util_ms_of_ns(st->delay_p50), "delay_p99_ms", util_ms_of_ns(st->delay_p99),
		"blocks", (json_int_t)st->blocks, "flows", (json_int_t)st->flows);
}

json_t *relay_info(struct relay *r)
{
	uint64_t now = now_ns();
	struct sched_stats st;
	json_t *link, *classes = json_array();

	sched_link_stats(r->s, now, &st);
	link = stats_json(&st);
	json_object_set_new(link, "overhead", json_integer((json_int_t)st.overhead));
	for (struct sched_class *c = sched_class_next(r->s, NULL); c != NULL;
	     c = sched_class_next(r->s, c)) {
		json_t *cj, *flows = json_array();

		sched_class_stats(c, now, &st);
		cj = stats_json(&st);
		json_object_set_new(cj, "name", json_string(relay_class_name(c)));
		for (struct sched_flow *sf = sched_flow_next(c, NULL); sf != NULL;
		     sf = sched_flow_next(c, sf)) {
			const struct relay_flow *f = sched_flow_ud(sf);
			json_t *fj;

			sched_flow_stats(sf, now, &st);
			fj = stats_json(&st);
			json_object_set_new(fj, "from", json_string(f->from->c ? conn_remote_id(f->from->c) : "(gone)"));
			json_object_set_new(fj, "to", json_string(f->to->c ? conn_remote_id(f->to->c) : "(gone)"));
			json_object_set_new(fj, "band", json_string(sched_band_name(st.band)));
			json_object_set_new(fj, "blocked_source_ms",
			                    json_integer((json_int_t)relay_flow_blocked_for(f)));
			json_array_append_new(flows, fj);
		}
		json_object_set_new(cj, "tunnels", flows);
		json_array_append_new(classes, cj);
	}
	json_object_set_new(link, "classes", classes);
	return link;
}
