/* tunnel — see tunnel.h. */
#include "tunnel.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "relay.h"
#include "wsconn.h"

static unsigned active_splices;
static uint64_t ended_by[TUNNEL_END_COUNT];

unsigned tunnel_active_count(void)
{
	return active_splices;
}

const char *tunnel_end_name(enum tunnel_end why)
{
	static const char *const names[TUNNEL_END_COUNT] = {
		[TUNNEL_END_CLOSED] = "closed", [TUNNEL_END_ERROR] = "error",
		[TUNNEL_END_CONN_LOST] = "connection_lost", [TUNNEL_END_STALLED] = "stalled",
		[TUNNEL_END_NOMEM] = "out_of_memory",
	};

	return (unsigned)why < TUNNEL_END_COUNT ? names[why] : "?";
}

uint64_t tunnel_ended_count(enum tunnel_end why)
{
	return (unsigned)why < TUNNEL_END_COUNT ? ended_by[why] : 0;
}

/* ---------------------------------------------------------------- splice */

/* Side 0 is the origin's stream (+n), side 1 the target's (+m). f[i]
 * carries what side i sends to side !i, charged to side i's user. */
struct splice {
	struct mrpc_stream *s[2];
	struct relay_port *port[2];
	struct relay_flow *f[2];
	char *end_err[2];        /* side i's END, forwarded once f[i] drains */
	bool end_true[2];
	int live;                /* streams not yet freed */
	unsigned *origin_count;  /* the origin's open-tunnel count, or NULL */
	bool over;               /* uncounted: one side has ended */
	bool why_set;
	enum tunnel_end why;     /* counted in ended_by when over */
	struct splice *prev, *next;
};

/* The tunnel stops counting (tunnels_open, the origin's limit) once
 * either side has ended it: JS muxrpc never answers the END of a duplex
 * it opened, so waiting for both streams to be freed would count it until
 * the origin's connection closes. */
static void splice_over(struct splice *sp)
{
	if (sp->over)
		return;
	sp->over = true;
	active_splices--;
	/* a stream freed with no END seen: its connection went */
	ended_by[sp->why_set ? sp->why : TUNNEL_END_CONN_LOST]++;
	if (sp->origin_count != NULL) {
		(*sp->origin_count)--;
		sp->origin_count = NULL;
	}
}

static struct splice *splices;   /* all of them, for the blocked sweep */

static int side_of(const struct splice *sp, const struct mrpc_stream *s)
{
	return sp->s[1] == s;
}

/* The relay hands us a chunk for side `to`'s stream. */
static int deliver(struct splice *sp, int to, enum psc_type type, const uint8_t *body, size_t len)
{
	if (sp->s[to] == NULL || mrpc_stream_local_ended(sp->s[to]))
		return -EPIPE;
	return mrpc_stream_send(sp->s[to], type, body, len);
}

static int deliver_to1(void *ud, enum psc_type type, const uint8_t *body, size_t len)
{
	return deliver(ud, 1, type, body, len);
}

static int deliver_to0(void *ud, enum psc_type type, const uint8_t *body, size_t len)
{
	return deliver(ud, 0, type, body, len);
}

/* Everything side `from` sent has gone out: now its END follows. */
static void forward_end(struct splice *sp, int from)
{
	int to = !from;
	char *err = sp->end_err[from];

	sp->end_err[from] = NULL;
	if (sp->s[to] != NULL && !mrpc_stream_local_ended(sp->s[to]))
		mrpc_stream_end(sp->s[to], sp->end_true[from] ? NULL : err);   /* may free sp's side */
	free(err);
}

static void ended0(void *ud) { forward_end(ud, 0); }
static void ended1(void *ud) { forward_end(ud, 1); }

static const struct relay_flow_ops flow_ops[2] = {
	{ .deliver = deliver_to1, .ended = ended0 },   /* f[0]: origin -> target */
	{ .deliver = deliver_to0, .ended = ended1 },   /* f[1]: target -> origin */
};

/* The first reason given is the one counted. */
static void splice_why(struct splice *sp, enum tunnel_end why)
{
	if (!sp->why_set) {
		sp->why_set = true;
		sp->why = why;
	}
}

/* Ends both sides with an error (each side's END goes out once). */
static void splice_abort(struct splice *sp, const char *why)
{
	log_info("%s", why);
	for (int k = 0; k < 2; k++)
		if (sp->s[k] != NULL && !mrpc_stream_local_ended(sp->s[k]))
			mrpc_stream_end(sp->s[k], why);
}

/* Bytes move unmodified; the item type is kept (JS sends binary). */
static void splice_data(struct mrpc_stream *s, struct psc_packet *pkt, void *ud)
{
	struct splice *sp = ud;
	int from = side_of(sp, s);
	int rc;

	if (sp->f[from] == NULL || pkt->len == 0)
		return;
	/* The relay takes the body as it is: no copy. */
	rc = relay_flow_push(sp->f[from], psc_type(pkt), pkt->body, pkt->len);
	pkt->body = NULL;
	/* Part of an item may be queued and the rest lost: the byte stream
	 * is broken, so the tunnel ends rather than deliver a gap. */
	if (rc == -ENOMEM) {
		splice_why(sp, TUNNEL_END_NOMEM);
		splice_abort(sp, "tunnel ended: the portal ran out of memory");
	}
}

static void splice_end(struct mrpc_stream *s, const char *err, void *ud)
{
	struct splice *sp = ud;
	int from = side_of(sp, s), to = !from;

	if (err != NULL && strcmp(err, "session closed") == 0) {
		err = "tunnel closed";
		splice_why(sp, TUNNEL_END_CONN_LOST);
	}
	splice_why(sp, err == NULL ? TUNNEL_END_CLOSED : TUNNEL_END_ERROR);
	splice_over(sp);
	/* JS does not keep half-open tunnels: this side is done both ways, so
	 * what was queued towards it can go. What it sent still goes out, and
	 * then its END. */
	relay_flow_free(sp->f[to]);
	sp->f[to] = NULL;
	if (!mrpc_stream_local_ended(s))
		mrpc_stream_end(s, NULL);
	sp->end_true[from] = err == NULL;
	sp->end_err[from] = err != NULL ? strdup(err) : NULL;
	if (sp->f[from] != NULL)
		relay_flow_end(sp->f[from]);     /* forward_end once drained; may free */
	else
		forward_end(sp, from);
}

static void splice_free(struct mrpc_stream *s, void *ud)
{
	struct splice *sp = ud;
	int i = side_of(sp, s);

	sp->s[i] = NULL;
	/* The flow aimed at this side dies with it. */
	relay_flow_free(sp->f[!i]);
	sp->f[!i] = NULL;
	/* The origin's stream goes before the origin's peer record does. */
	if (i == 0)
		splice_over(sp);
	if (--sp->live > 0)
		return;
	splice_over(sp);
	relay_flow_free(sp->f[i]);
	free(sp->end_err[0]);
	free(sp->end_err[1]);
	if (sp->prev != NULL)
		sp->prev->next = sp->next;
	else
		splices = sp->next;
	if (sp->next != NULL)
		sp->next->prev = sp->prev;
	free(sp);
}

static const struct mrpc_stream_cbs splice_cbs = {
	.on_data = splice_data,
	.on_end = splice_end,
	.on_free = splice_free,
};

int tunnel_splice(struct relay *r, struct mrpc_stream *from_origin, struct relay_port *origin,
                  struct relay_port *target, struct conn *target_conn, json_t *fwd_args,
                  unsigned *origin_count)
{
	struct splice *sp = calloc(1, sizeof(*sp));
	struct mrpc *trpc = conn_rpc(target_conn);

	if (sp == NULL || trpc == NULL) {
		free(sp);
		json_decref(fwd_args);
		mrpc_stream_end(from_origin, "could not connect: target unavailable");
		return -ENOMEM;
	}
	sp->s[0] = from_origin;
	sp->port[0] = origin;
	sp->port[1] = target;
	sp->live = 1;
	sp->origin_count = origin_count;
	if (origin_count != NULL)
		(*origin_count)++;
	sp->next = splices;
	if (splices != NULL)
		splices->prev = sp;
	splices = sp;
	active_splices++;
	sp->f[0] = relay_flow_new(r, origin, target, &flow_ops[0], sp);
	sp->f[1] = relay_flow_new(r, target, origin, &flow_ops[1], sp);
	/* Take the origin's stream first: items it sent right after the
	 * request (inner SHS msg1) queue on f[0] and leave as soon as the
	 * target's stream exists, which is now. */
	mrpc_stream_set_cbs(from_origin, &splice_cbs, sp);
	if (sp->f[0] == NULL || sp->f[1] == NULL) {
		splice_why(sp, TUNNEL_END_NOMEM);
		mrpc_stream_end(from_origin, "could not connect: out of memory");
		return -ENOMEM;
	}
	sp->s[1] = mrpc_open(trpc, "tunnel.connect", fwd_args, MRPC_DUPLEX, &splice_cbs, sp);
	if (sp->s[1] == NULL) {
		splice_why(sp, TUNNEL_END_ERROR);
		mrpc_stream_end(from_origin, "could not connect: target connection failed");
		return -EPIPE;
	}
	sp->live = 2;
	return 0;
}

unsigned tunnel_end_blocked(uint64_t limit_ms)
{
	unsigned n = 0;

	for (struct splice *sp = splices, *next; sp != NULL; sp = next) {
		next = sp->next;
		for (int i = 0; i < 2; i++) {
			uint64_t ms = sp->f[i] != NULL ? relay_flow_blocked_for(sp->f[i]) : 0;
			char why[128];

			if (ms <= limit_ms)
				continue;
			/* Its receiver does not read: end it, so the sender's other
			 * tunnels (stalled with it) can move again. */
			snprintf(why, sizeof(why), "tunnel ended: the receiver did not take its bytes for %llu s",
			         (unsigned long long)(ms / 1000));
			n++;
			splice_why(sp, TUNNEL_END_STALLED);
			splice_abort(sp, why);
			break;
		}
	}
	return n;
}

/* ----------------------------------------------------------- inner conns */

/* A duplex stream as a conn's lower transport. */
struct stream_lower {
	struct mrpc_stream *s;  /* NULL once freed */
	struct conn *c;         /* NULL once the conn let go */
	struct conn *outer;     /* the connection carrying s (for pausing) */
	bool paused;            /* we hold outer's input stopped */
};

static int sl_write(void *lower, const uint8_t *p, size_t len)
{
	struct stream_lower *l = lower;

	if (l->s == NULL)
		return -EPIPE;
	return mrpc_stream_send(l->s, PSC_BINARY, p, len);
}

static void sl_pause(void *lower, bool paused)
{
	struct stream_lower *l = lower;

	/* A muxrpc stream cannot be paused alone: pause its carrier. */
	if (l->s == NULL || l->outer == NULL || l->paused == paused)
		return;
	l->paused = paused;
	conn_pause_input(l->outer, paused);
}

static void sl_close(void *lower)
{
	struct stream_lower *l = lower;
	struct conn *c = l->c;

	l->c = NULL;
	sl_pause(l, false);   /* a closed session holds nothing stopped */
	if (l->s != NULL && !mrpc_stream_local_ended(l->s))
		mrpc_stream_end(l->s, NULL);
	if (l->s == NULL)
		free(l);
	conn_lower_closed(c);
}

/* An inner session's backlog is its carrier's. */
static size_t sl_queued(void *lower)
{
	struct stream_lower *l = lower;

	return l->outer != NULL ? conn_write_queue_size(l->outer) : 0;
}

static const struct conn_lower_ops stream_lower_ops = {
	.write = sl_write,
	.queued = sl_queued,
	.pause = sl_pause,
	.shutdown = NULL,
	.close = sl_close,
};

static void sl_data(struct mrpc_stream *s, struct psc_packet *pkt, void *ud)
{
	struct stream_lower *l = ud;

	if (l->c != NULL)
		conn_lower_input(l->c, pkt->body, pkt->len);
}

static void sl_end(struct mrpc_stream *s, const char *err, void *ud)
{
	struct stream_lower *l = ud;

	/* An error END before the inner handshake is done is the portal's (or
	 * the host's) refusal of the tunnel: that text is the cause, not the
	 * handshake step we were waiting in ("hung up after our hello"). A
	 * carrier that is going ends its streams itself ("session closed"). */
	if (l->c != NULL && err != NULL && conn_state(l->c) == CONN_HANDSHAKE &&
	    l->outer != NULL && conn_state(l->outer) == CONN_OPEN) {
		char why[320];

		snprintf(why, sizeof(why), "tunnel refused: %s", err);
		conn_close(l->c, why);
	} else if (l->c != NULL)
		conn_lower_eof(l->c, err);
	else if (!mrpc_stream_local_ended(s))
		mrpc_stream_end(s, NULL);
}

static void sl_free(struct mrpc_stream *s, void *ud)
{
	struct stream_lower *l = ud;

	l->s = NULL;
	l->outer = NULL;
	if (l->c == NULL)
		free(l);
}

static const struct mrpc_stream_cbs stream_lower_cbs = {
	.on_data = sl_data,
	.on_end = sl_end,
	.on_free = sl_free,
};

struct conn *tunnel_conn(struct mrpc_stream *s, const struct conn_cfg *cfg, bool is_client,
                         const uint8_t *server_pk, const char *label)
{
	struct stream_lower *l = calloc(1, sizeof(*l));

	if (l == NULL) {
		mrpc_stream_end(s, "out of memory");
		return NULL;
	}
	l->s = s;
	l->outer = mrpc_io(mrpc_stream_session(s));
	l->c = conn_new(cfg, is_client, server_pk, &stream_lower_ops, l);
	if (l->c == NULL) {
		free(l);
		mrpc_stream_end(s, "out of memory");
		return NULL;
	}
	conn_set_peer_name(l->c, label);
	conn_set_tunneled(l->c);
	mrpc_stream_set_cbs(s, &stream_lower_cbs, l);
	conn_start(l->c);
	return l->c;
}

/* ---------------------------------------------------------------- dialing */

struct dialing {
	struct conn_cfg user;     /* the caller's callbacks, for the inner session */
	struct conn *outer, *inner;
	uint8_t target_pk[32];
	json_t *args;             /* tunnel.connect args, until sent */
	char label[160];
	bool reported;            /* user's on_close has run */
};

static void dial_inner_ready(struct conn *c, void *ud)
{
	struct dialing *d = ud;

	if (d->user.on_ready != NULL)
		d->user.on_ready(c, d->user.ud);
}

static void dial_inner_close(struct conn *c, const char *reason, void *ud)
{
	struct dialing *d = ud;

	d->inner = NULL;
	if (!d->reported && d->user.on_close != NULL)
		d->user.on_close(c, reason, d->user.ud);
	d->reported = true;
	if (d->outer != NULL)
		conn_close(d->outer, NULL);
	else
		free(d);
}

static void dial_outer_ready(struct conn *c, void *ud)
{
	struct dialing *d = ud;
	struct conn_cfg inner = d->user;
	struct mrpc_stream *s;

	s = mrpc_open(conn_rpc(c), "tunnel.connect", d->args, MRPC_DUPLEX, NULL, NULL);
	d->args = NULL;
	if (s == NULL) {
		conn_close(c, "cannot send tunnel.connect");
		return;
	}
	inner.on_ready = dial_inner_ready;
	inner.on_close = dial_inner_close;
	inner.ud = d;
	d->inner = tunnel_conn(s, &inner, true, d->target_pk, d->label);
	if (d->inner == NULL)
		conn_close(c, "cannot start the inner session");
}

static void dial_outer_close(struct conn *c, const char *reason, void *ud)
{
	struct dialing *d = ud;

	d->outer = NULL;
	json_decref(d->args);
	d->args = NULL;
	if (d->inner != NULL)
		return;  /* the inner session ends with its stream; it frees d */
	if (!d->reported && d->user.on_close != NULL)
		d->user.on_close(c, reason != NULL ? reason : "portal closed before the tunnel opened",
		                 d->user.ud);
	free(d);
}

struct conn *tunnel_dial(const struct conn_cfg *cfg, const struct addr *portal_addr,
                         const struct addr *tunnel_addr, char *err, size_t errlen)
{
	struct dialing *d;
	struct conn_cfg outer = *cfg;
	char portal_id[KEYS_ID_LEN + 1], target_id[KEYS_ID_LEN + 1];

	if (wsconn_unsupported(portal_addr) != NULL) {
		snprintf(err, errlen, "%s", wsconn_unsupported(portal_addr));
		return NULL;
	}
	if (tunnel_addr->kind != ADDR_TUNNEL || !tunnel_addr->has_shs) {
		snprintf(err, errlen, "not a tunnel:PORTAL:TARGET~shs:KEY address");
		return NULL;
	}
	if (memcmp(portal_addr->shs_pk, tunnel_addr->portal, 32) != 0) {
		snprintf(err, errlen, "the portal address's key is not the tunnel's portal");
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->user = *cfg;
	memcpy(d->target_pk, tunnel_addr->shs_pk, 32);
	keys_id_format(portal_id, tunnel_addr->portal);
	keys_id_format(target_id, tunnel_addr->target);
	/* portal for Rooms 2.0 / go-ssb-room, instance for ssb-tunnel 2.0. */
	d->args = json_pack("[{s:s,s:s,s:I}]", "target", target_id, "portal", portal_id,
	                    "instance", (json_int_t)tunnel_addr->instance);
	snprintf(d->label, sizeof(d->label), "tunnel:%.20s…:%.20s…", portal_id, target_id);
	outer.on_ready = dial_outer_ready;
	outer.on_close = dial_outer_close;
	outer.ud = d;
	if (wsconn_dial(&outer, portal_addr, &d->outer) < 0 || d->outer == NULL) {
		snprintf(err, errlen, "cannot connect to the portal");
		/* on_close has run or will run and frees d */
		return NULL;
	}
	return d->outer;
}
