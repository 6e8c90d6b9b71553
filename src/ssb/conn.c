/* conn — one secure session over a lower transport (see conn.h).
 *
 * Life of a conn:
 *
 *   CONN_HANDSHAKE ──(msg4 sent / verified)──► CONN_OPEN
 *        │                                        │ our goodbye, or the peer's
 *        │ failure, timeout, EOF                  ▼
 *        │                                   CONN_CLOSING ──(peer EOF or linger)─┐
 *        ▼                                                                       ▼
 *   CONN_CLOSED ◄────────────────────────────────────────────────────────────────┘
 *        │ timer, idle and lower released (uv_close callbacks)
 *        ▼
 *   conn_final(): mrpc_free (streams see "session closed"), on_close, free
 *
 * Freeing only after the libuv close callbacks makes conn_close() safe from
 * anywhere, including a muxrpc handler running inside conn_lower_input(). */
#include "conn.h"
#include "uvw.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "boxs.h"
#include "log.h"
#include "psc.h"
#include "shs.h"
#include "util.h"

#define CONN_LINGER_MS 2000  /* wait this long for the peer's goodbye */

struct conn {
	enum conn_state state;
	struct conn_cfg cfg;
	bool is_client;
	const struct conn_lower_ops *ops;
	void *lower;

	/* handshake (freed once open) */
	struct shs *shs;
	uint8_t hs_buf[SHS_MSG3_BYTES];  /* the largest message we read */
	size_t hs_have;

	/* session */
	uint8_t remote_pk[32];
	char remote_id[KEYS_ID_LEN + 1];
	char peer_name[160];
	struct boxs enc;
	struct boxs_dec *dec;
	struct psc_dec pdec;
	struct mrpc *rpc;
	bool goodbye_sent;   /* muxrpc and box-stream goodbyes are out */

	/* output: plaintext waiting to fill a 4096-byte frame; allocated
	 * once the handshake is done, so that a pending handshake holds only
	 * its SHS state (issue 11: a flood of msg1s must stay cheap) */
	uint8_t *out;
	size_t out_len;
	uint8_t *wire;        /* sealed frames not yet handed down (TCP) */
	size_t wire_len;
	size_t lower_queued;  /* bytes the lower still holds (TCP: libuv queue) */

	uv_timer_t timer;     /* handshake deadline, then closing linger */
	uv_idle_t flush;      /* seals a partial frame at the next iteration */
	int pending;          /* handles + lower not yet released */
	char *reason;         /* why it closed (NULL: clean) */
	bool failed_once;     /* reason already logged */
	bool lower_reset;     /* the lower saw a reset (TCP RST) */
	bool closing_told;    /* cfg.on_closing called */
	bool tunneled;        /* lower is a muxrpc stream */
	unsigned pausers;     /* conn_pause_input(true) calls not yet undone */
	void (*drain_fn)(struct conn *c, void *ud);
	void *drain_ud;
	size_t drain_low;
	uint64_t last_rx;     /* uv_now() of the last input */
	void *ud;
};

static const char *const state_names[] = {
#define XX(s) #s,
	CONN_STATES(XX)
#undef XX
};

const char *conn_state_name(enum conn_state s)
{
	/* "CONN_OPEN" -> "OPEN" */
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] + 5 : "?";
}

static void conn_enter_state(struct conn *c, enum conn_state s)
{
	log_debug("conn %s: %s -> %s", c->peer_name, conn_state_name(c->state), conn_state_name(s));
	c->state = s;
}

/* ---------------------------------------------------------------- output */

/* Sealed frames wait in `wire` (TCP only) and go down in one write when
 * it holds WIRE_BATCH bytes or at the next loop iteration: one syscall
 * per eight frames instead of per frame. Tunneled sessions hand each
 * frame down at once, so that a portal relaying them sees chunks of at
 * most one frame (what its scheduler's latency promises are sized for). */
#define WIRE_BATCH (32u << 10)

static void flush_cb(uv_idle_t *h);

static int flush_wire(struct conn *c)
{
	int rc = 0;

	if (c->wire_len > 0)
		rc = c->ops->write(c->lower, c->wire, c->wire_len);
	c->wire_len = 0;
	return rc;
}

/* Seals len plaintext bytes (≤ 4096) as one frame. */
static int seal_and_write(struct conn *c, const uint8_t *p, size_t len)
{
	uint8_t frame[BOXS_SEALED_MAX(BOXS_MAX_BODY)];
	size_t n;

	if (c->tunneled) {
		n = boxs_seal(&c->enc, p, len, frame);
		return c->ops->write(c->lower, frame, n);
	}
	if (c->wire == NULL) {
		c->wire = malloc(WIRE_BATCH + sizeof(frame));
		if (c->wire == NULL)
			return -ENOMEM;
	}
	c->wire_len += boxs_seal(&c->enc, p, len, c->wire + c->wire_len);
	if (!uv_is_active((uv_handle_t *)&c->flush))
		uv_idle_start(&c->flush, flush_cb);
	return c->wire_len >= WIRE_BATCH ? flush_wire(c) : 0;
}

/* Tells the drain callback when what the lower holds is down to its low
 * mark; our own batch leaves at the next iteration anyway. */
static void notify_drain(struct conn *c)
{
	size_t held = c->ops->queued != NULL ? c->ops->queued(c->lower) : c->lower_queued;

	if (c->drain_fn != NULL && c->state != CONN_CLOSED && held <= c->drain_low)
		c->drain_fn(c, c->drain_ud);
}

static int flush_out(struct conn *c)
{
	int rc = 0;

	if (c->out_len > 0) {
		rc = seal_and_write(c, c->out, c->out_len);
		c->out_len = 0;
	}
	if (rc == 0)
		rc = flush_wire(c);
	/* An idle connection keeps no batch buffer (10 000 idle hosts). */
	free(c->wire);
	c->wire = NULL;
	uv_idle_stop(&c->flush);
	if (rc == 0)
		notify_drain(c);   /* last: it may queue more on us */
	return rc;
}

static void flush_cb(uv_idle_t *h)
{
	struct conn *c = h->data;
	int rc = flush_out(c);

	if (rc < 0)
		conn_close(c, "write failed");
}

/* Appends plaintext; every full 4096 bytes leave at once as a frame, the
 * rest at the next loop iteration. Coalescing a packet's 9-byte header
 * with its body (and small packets with each other) costs one memcpy and
 * saves a 34-byte boxed header and two secretbox calls per packet. */
static int out_append(struct conn *c, const uint8_t *p, size_t len)
{
	while (len > 0) {
		size_t n = BOXS_MAX_BODY - c->out_len;

		if (n > len)
			n = len;
		memcpy(c->out + c->out_len, p, n);
		c->out_len += n;
		p += n;
		len -= n;
		if (c->out_len == BOXS_MAX_BODY) {
			int rc = seal_and_write(c, c->out, c->out_len);

			c->out_len = 0;
			if (rc < 0)
				return rc;
		}
	}
	if (c->out_len > 0 && !uv_is_active((uv_handle_t *)&c->flush))
		uv_idle_start(&c->flush, flush_cb);
	return 0;
}

/* muxrpc's send function. */
static int conn_send_packet(void *io, const uint8_t hdr[PSC_HEADER_BYTES],
                            const uint8_t *body, size_t len)
{
	struct conn *c = io;
	int rc;

	if (c->state != CONN_OPEN || c->goodbye_sent)
		return -EPIPE;
	rc = out_append(c, hdr, PSC_HEADER_BYTES);
	if (rc == 0 && len > 0)
		rc = out_append(c, body, len);
	return rc;
}

/* Sends the muxrpc goodbye and the box-stream goodbye, then ends our
 * direction of the lower. */
static void send_goodbyes(struct conn *c)
{
	uint8_t bye[BOXS_GOODBYE_BYTES];

	if (c->goodbye_sent || c->rpc == NULL)
		return;
	(void)mrpc_goodbye(c->rpc);
	c->goodbye_sent = true;
	if (flush_out(c) == 0) {
		boxs_goodbye(&c->enc, bye);
		(void)c->ops->write(c->lower, bye, sizeof(bye));
	}
	if (c->ops->shutdown != NULL)
		c->ops->shutdown(c->lower);
}

/* --------------------------------------------------------------- closing */

static void conn_final(struct conn *c)
{
	if (c->rpc != NULL)
		mrpc_free(c->rpc);   /* open streams see "session closed" */
	c->rpc = NULL;
	if (c->cfg.on_close != NULL)
		c->cfg.on_close(c, c->reason, c->cfg.ud);
	if (c->shs != NULL) {
		shs_wipe(c->shs);
		free(c->shs);
	}
	if (c->dec != NULL) {
		boxs_dec_wipe(c->dec);
		free(c->dec);
	}
	psc_dec_free(&c->pdec);
	free(c->out);
	free(c->wire);
	boxs_wipe(&c->enc);
	free(c->reason);
	sodium_memzero(c, sizeof(*c));
	free(c);
}

static void released(struct conn *c)
{
	if (--c->pending == 0)
		conn_final(c);
}

static void handle_closed(uv_handle_t *h)
{
	released(h->data);
}

void conn_lower_closed(struct conn *c)
{
	released(c);
}

/* Stops all I/O now; the rest happens in the close callbacks. */
static void tell_closing(struct conn *c)
{
	if (c->closing_told)
		return;
	c->closing_told = true;
	if (c->cfg.on_closing != NULL)
		c->cfg.on_closing(c, c->cfg.ud);
}

static void conn_finish(struct conn *c, const char *reason)
{
	if (c->state == CONN_CLOSED)
		return;
	tell_closing(c);
	if (reason != NULL && c->reason == NULL)
		c->reason = strdup(reason);
	if (reason != NULL && c->state == CONN_HANDSHAKE && c->cfg.owner_logs_handshake &&
	    c->remote_id[0] == '\0')
		log_debug("connection %s closed: %s", c->peer_name, reason);
	else if (reason != NULL)
		log_info("connection %s%s%s closed: %s", c->peer_name,
		         c->remote_id[0] ? " " : "", c->remote_id, reason);
	else
		log_debug("connection %s %s closed cleanly", c->peer_name, c->remote_id);
	conn_enter_state(c, CONN_CLOSED);
	uv_close((uv_handle_t *)&c->timer, handle_closed);
	uv_close((uv_handle_t *)&c->flush, handle_closed);
	c->ops->close(c->lower);
}

static void linger_cb(uv_timer_t *t)
{
	conn_finish(t->data, NULL);
}

void conn_close(struct conn *c, const char *reason)
{
	if (c->state == CONN_CLOSED || c->state == CONN_CLOSING)
		return;
	if (reason != NULL || c->state != CONN_OPEN) {
		conn_finish(c, reason != NULL ? reason : "closed during handshake");
		return;
	}
	/* Clean close: goodbyes out, then wait a moment for the peer's. */
	tell_closing(c);
	send_goodbyes(c);
	conn_enter_state(c, CONN_CLOSING);
	uv_timer_start(&c->timer, linger_cb, CONN_LINGER_MS, 0);
}

/* ----------------------------------------------------------------- input */

static void become_open(struct conn *c)
{
	struct shs_outcome o;

	if (shs_outcome(c->shs, &o) != 0) {
		conn_finish(c, "handshake ended in a bad state");
		return;
	}
	c->dec = malloc(sizeof(*c->dec));
	c->out = malloc(BOXS_MAX_BODY);
	if (c->dec == NULL || c->out == NULL) {
		shs_outcome_wipe(&o);
		conn_finish(c, "out of memory");
		return;
	}
	boxs_init(&c->enc, o.enc_key, o.enc_nonce);
	boxs_dec_init(c->dec, o.dec_key, o.dec_nonce);
	memcpy(c->remote_pk, o.remote_pk, 32);
	keys_id_format(c->remote_id, c->remote_pk);
	shs_outcome_wipe(&o);
	shs_wipe(c->shs);
	free(c->shs);
	c->shs = NULL;
	uv_timer_stop(&c->timer);

	psc_dec_init(&c->pdec, PSC_DEFAULT_MAX_BODY);
	struct mrpc_cfg mc = { .api = c->cfg.api, .send = conn_send_packet, .io = c };
	c->rpc = mrpc_new(&mc);
	if (c->rpc == NULL) {
		conn_finish(c, "out of memory");
		return;
	}
	conn_enter_state(c, CONN_OPEN);
	log_info("connection %s: authenticated %s", c->peer_name, c->remote_id);
	if (c->cfg.on_ready != NULL)
		c->cfg.on_ready(c, c->cfg.ud);
}

/* One complete handshake message is in hs_buf: check it and answer.
 * Returns 0, or a reason for closing. */
static const char *hs_step(struct conn *c)
{
	uint8_t msg[SHS_MSG3_BYTES];
	const char *why = NULL;

	switch (c->shs->step) {
	case SHS_CLIENT_WAIT_HELLO:
		if (shs_client_verify_hello(c->shs, c->hs_buf) != 0)
			return "server's hello (msg2) invalid: wrong network key?";
		if (shs_client_auth(c->shs, msg) != 0)
			return "cannot build client auth (msg3)";
		if (c->ops->write(c->lower, msg, SHS_MSG3_BYTES) < 0)
			return "write failed during handshake";
		return NULL;
	case SHS_CLIENT_WAIT_ACCEPT:
		if (shs_client_verify_accept(c->shs, c->hs_buf) != 0)
			return "server's accept (msg4) invalid";
		become_open(c);
		return NULL;
	case SHS_SERVER_WAIT_HELLO:
		if (shs_server_verify_hello(c->shs, c->hs_buf) != 0)
			return "client's hello (msg1) invalid: not SHS, or another network key";
		if (shs_server_hello(c->shs, msg) != 0)
			return "cannot build server hello (msg2)";
		if (c->ops->write(c->lower, msg, SHS_MSG2_BYTES) < 0)
			return "write failed during handshake";
		return NULL;
	case SHS_SERVER_WAIT_AUTH:
		if (shs_server_verify_auth(c->shs, c->hs_buf) != 0)
			return "client's auth (msg3) invalid: it dialled another key?";
		keys_id_format(c->remote_id, c->shs->remote_pk);
		if (c->cfg.authorize != NULL &&
		    c->cfg.authorize(c->shs->remote_pk, &why, c->cfg.ud) != 0)
			return why != NULL ? why : "not authorized";
		if (shs_server_accept(c->shs, msg) != 0)
			return "cannot build server accept (msg4)";
		if (c->ops->write(c->lower, msg, SHS_MSG4_BYTES) < 0)
			return "write failed during handshake";
		become_open(c);
		return NULL;
	default:
		return "handshake out of order";
	}
}

static void packet_input(struct conn *c, const uint8_t *p, size_t len)
{
	while (len > 0 && c->state == CONN_OPEN) {
		struct psc_packet pkt;
		size_t used = 0;
		enum psc_result r = psc_dec_feed(&c->pdec, p, len, &used, &pkt);

		p += used;
		len -= used;
		switch (r) {
		case PSC_AGAIN:
			return;
		case PSC_PACKET:
			if (mrpc_on_packet(c->rpc, &pkt) < 0)
				conn_finish(c, "muxrpc protocol error");
			break;
		case PSC_GOODBYE:
			/* The peer is done: answer with ours and wait for EOF. */
			mrpc_on_goodbye(c->rpc);
			if (c->state != CONN_OPEN)
				return;
			send_goodbyes(c);
			conn_enter_state(c, CONN_CLOSING);
			uv_timer_start(&c->timer, linger_cb, CONN_LINGER_MS, 0);
			return;
		default:
			conn_finish(c, psc_strerror(r));
			return;
		}
	}
}

static void box_input(struct conn *c, const uint8_t *p, size_t len)
{
	while (len > 0 && (c->state == CONN_OPEN || c->state == CONN_CLOSING)) {
		const uint8_t *plain;
		size_t used = 0, plain_len = 0;
		enum boxs_result r = boxs_dec_feed(c->dec, p, len, &used, &plain, &plain_len);

		p += used;
		len -= used;
		switch (r) {
		case BOXS_AGAIN:
			return;
		case BOXS_FRAME:
			if (c->state == CONN_OPEN)
				packet_input(c, plain, plain_len);
			break;
		case BOXS_END:
			/* The peer's box-stream goodbye: a clean end. */
			send_goodbyes(c);
			conn_finish(c, NULL);
			return;
		default:
			conn_finish(c, boxs_strerror(r));
			return;
		}
	}
}

void conn_lower_input(struct conn *c, const uint8_t *p, size_t len)
{
	c->last_rx = uv_now(c->cfg.loop);
	if (c->cfg.on_input != NULL)
		c->cfg.on_input(c, len, c->ud);
	while (len > 0 && c->state == CONN_HANDSHAKE) {
		unsigned want = shs_want(c->shs);
		size_t n;
		const char *why;

		if (want == 0) {
			conn_finish(c, "handshake out of order");
			return;
		}
		n = want - c->hs_have;
		if (n > len)
			n = len;
		memcpy(c->hs_buf + c->hs_have, p, n);
		c->hs_have += n;
		p += n;
		len -= n;
		if (c->hs_have < want)
			return;
		c->hs_have = 0;
		why = hs_step(c);
		if (why != NULL) {
			conn_finish(c, why);
			return;
		}
	}
	if (len > 0)
		box_input(c, p, len);
}

void conn_lower_eof(struct conn *c, const char *why)
{
	switch (c->state) {
	case CONN_HANDSHAKE:
		if (c->is_client && c->lower_reset)
			conn_finish(c, "server refused the connection (reset during the handshake): "
			               "it is busy, or at its limit for our address; try again later");
		else if (c->shs != NULL && c->shs->step == SHS_CLIENT_WAIT_HELLO)
			conn_finish(c, "server hung up after our hello: wrong network key, or it refused us");
		else if (c->shs != NULL && c->shs->step == SHS_CLIENT_WAIT_ACCEPT)
			conn_finish(c, "server hung up after our auth: wrong server key, or it refused us");
		else
			conn_finish(c, why != NULL ? why : "hung up during handshake");
		break;
	case CONN_OPEN:
		/* EOF without a box-stream goodbye may be a truncation. */
		conn_finish(c, why != NULL ? why : "unexpected hangup (no goodbye)");
		break;
	case CONN_CLOSING:
		conn_finish(c, NULL);
		break;
	case CONN_CLOSED:
		break;
	}
}

static void hs_timeout_cb(uv_timer_t *t)
{
	struct conn *c = t->data;
	char why[64];

	snprintf(why, sizeof(why), "handshake timed out after %u ms", c->cfg.handshake_timeout_ms);
	conn_finish(c, why);
}

/* ----------------------------------------------------------- construction */

struct conn *conn_new(const struct conn_cfg *cfg, bool is_client, const uint8_t *server_pk,
                      const struct conn_lower_ops *ops, void *lower)
{
	struct conn *c = calloc(1, sizeof(*c));
	uint8_t eph[32];

	if (c == NULL)
		return NULL;
	c->shs = malloc(sizeof(*c->shs));
	if (c->shs == NULL) {
		free(c);
		return NULL;
	}
	c->cfg = *cfg;
	if (c->cfg.handshake_timeout_ms == 0)
		c->cfg.handshake_timeout_ms = CONN_DEFAULT_HANDSHAKE_MS;
	c->is_client = is_client;
	c->ops = ops;
	c->lower = lower;
	c->ud = cfg->ud;
	snprintf(c->peer_name, sizeof(c->peer_name), "?");

	randombytes_buf(eph, sizeof(eph));
	if (is_client)
		shs_client_init(c->shs, cfg->net_key, cfg->id->pk, cfg->id->sk, server_pk, eph);
	else
		shs_server_init(c->shs, cfg->net_key, cfg->id->pk, cfg->id->sk, eph);
	sodium_memzero(eph, sizeof(eph));
	if (is_client)
		keys_id_format(c->remote_id, server_pk);

	uv_timer_init(cfg->loop, &c->timer);
	uv_idle_init(cfg->loop, &c->flush);
	c->timer.data = c;
	c->flush.data = c;
	c->pending = 3;  /* timer, idle, lower */
	c->last_rx = uv_now(cfg->loop);
	c->state = CONN_HANDSHAKE;
	return c;
}

void conn_start(struct conn *c)
{
	uint8_t msg1[SHS_MSG1_BYTES];

	if (c->state != CONN_HANDSHAKE)
		return;
	uv_timer_start(&c->timer, hs_timeout_cb, c->cfg.handshake_timeout_ms, 0);
	if (!c->is_client)
		return;
	if (shs_client_hello(c->shs, msg1) != 0 ||
	    c->ops->write(c->lower, msg1, sizeof(msg1)) < 0)
		conn_finish(c, "cannot send hello");
}

/* -------------------------------------------------------------- accessors */

struct mrpc *conn_rpc(struct conn *c)
{
	return c->state == CONN_OPEN ? c->rpc : NULL;
}

const uint8_t *conn_remote_pk(const struct conn *c) { return c->remote_pk; }
const char *conn_remote_id(const struct conn *c) { return c->remote_id; }
const char *conn_peer_name(const struct conn *c) { return c->peer_name; }

void conn_set_peer_name(struct conn *c, const char *name)
{
	snprintf(c->peer_name, sizeof(c->peer_name), "%s", name);
}
enum conn_state conn_state(const struct conn *c) { return c->state; }
uint64_t conn_last_rx(const struct conn *c) { return c->last_rx; }
bool conn_is_tunneled(const struct conn *c) { return c->tunneled; }
void conn_set_tunneled(struct conn *c) { c->tunneled = true; }

void conn_peer_ip(const struct conn *c, char *out, size_t len)
{
	const char *colon = strrchr(c->peer_name, ':');
	const char *start = c->peer_name;
	size_t n;

	out[0] = '\0';
	if (c->tunneled || colon == NULL || len == 0)
		return;
	if (*start == '[') {   /* "[v6]:port" */
		start++;
		colon--;
	}
	n = (size_t)(colon - start);
	if (n >= len)
		n = len - 1;
	memcpy(out, start, n);
	out[n] = '\0';
}
void *conn_ud(const struct conn *c) { return c->ud; }
void conn_set_ud(struct conn *c, void *ud) { c->ud = ud; }
uv_loop_t *conn_loop(const struct conn *c) { return c->cfg.loop; }
size_t conn_write_queue_size(const struct conn *c)
{
	if (c->state == CONN_CLOSED)
		return 0;
	return c->out_len + c->wire_len +
	       (c->ops->queued != NULL ? c->ops->queued(c->lower) : c->lower_queued);
}

uint32_t conn_segs_sent(const struct conn *c)
{
	if (c->state == CONN_CLOSED || c->ops->segs_sent == NULL)
		return 0;
	return c->ops->segs_sent(c->lower);
}

void conn_set_drain_cb(struct conn *c, void (*fn)(struct conn *c, void *ud), void *ud, size_t low)
{
	c->drain_fn = fn;
	c->drain_ud = ud;
	c->drain_low = low;
}

/* Counted: several tunnels may hold one connection stopped, and it reads
 * again only when the last lets go. */
void conn_pause_input(struct conn *c, bool paused)
{
	if (paused) {
		if (c->pausers++ > 0)
			return;
	} else {
		if (c->pausers == 0 || --c->pausers > 0)
			return;
	}
	if (c->state != CONN_CLOSED)
		c->ops->pause(c->lower, paused);
}

/* ------------------------------------------------------------ TCP lower */

struct tcp_lower {
	uv_tcp_t tcp;
	struct conn *c;
	union {
		uv_connect_t connect;
		uv_getaddrinfo_t gai;
	} req;
	uv_shutdown_t shut;
	uint16_t port;
	bool gai_pending;     /* t must outlive a running getaddrinfo */
	bool handle_closed;
	bool closing;
	bool paused;
	bool reading;
};

/* One read buffer for every socket: the loop is single-threaded and each
 * read is consumed (copied into decoders) before the next. Per-connection
 * 64 KiB buffers would cost 640 MB for 10 000 idle hosts. */
static uint8_t tcp_read_buf[65536];

static void tcp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	buf->base = (char *)tcp_read_buf;
	buf->len = sizeof(tcp_read_buf);
}

static void tcp_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct tcp_lower *t = s->data;

	if (t->closing)
		return;
	if (nread > 0) {
		conn_lower_input(t->c, (const uint8_t *)buf->base, (size_t)nread);
	} else if (nread == UV_EOF) {
		uv_read_stop(s);
		t->reading = false;
		conn_lower_eof(t->c, NULL);
	} else if (nread < 0) {
		char why[96];

		snprintf(why, sizeof(why), "read: %s", uv_strerror((int)nread));
		t->c->lower_reset = nread == UV_ECONNRESET;
		conn_lower_eof(t->c, why);
	}
}

static void tcp_write_cb(uv_write_t *req, int status)
{
	struct uvw_req *w = (struct uvw_req *)req;
	struct tcp_lower *t = w->owner;

	if (!t->closing) {
		struct conn *c = t->c;

		c->lower_queued -= w->len;
		if ((status == UV_ECONNRESET || status == UV_EPIPE) && c->state == CONN_HANDSHAKE) {
			c->lower_reset = true;   /* reported like the read side's reset */
			conn_lower_eof(c, "write: connection reset by peer");
		} else if (status < 0) {
			char why[96];

			snprintf(why, sizeof(why), "write: %s", uv_strerror(status));
			conn_close(c, why);
		} else {
			notify_drain(c);
		}
	}
	free(w);
}

static int tcp_write(void *lower, const uint8_t *p, size_t len)
{
	struct tcp_lower *t = lower;
	uv_stream_t *s = (uv_stream_t *)&t->tcp;
	size_t queued;
	int rc;

	if (t->closing)
		return -EPIPE;
	/* Try the kernel first; libuv's queue only gets what it refuses. */
	rc = uvw_write(s, p, len, uv_stream_get_write_queue_size(s) == 0, tcp_write_cb, t, &queued);
	if (rc == 0)
		t->c->lower_queued += queued;
	return rc;
}

static void tcp_pause(void *lower, bool paused)
{
	struct tcp_lower *t = lower;

	t->paused = paused;
	if (t->closing || !t->reading)
		return;
	if (paused)
		uv_read_stop((uv_stream_t *)&t->tcp);
	else
		uv_read_start((uv_stream_t *)&t->tcp, tcp_alloc_cb, tcp_read_cb);
}

static void tcp_shutdown_cb(uv_shutdown_t *req, int status)
{
	(void)req;
	(void)status;
}

static void tcp_shutdown(void *lower)
{
	struct tcp_lower *t = lower;

	if (!t->closing && uv_is_writable((uv_stream_t *)&t->tcp))
		uv_shutdown(&t->shut, (uv_stream_t *)&t->tcp, tcp_shutdown_cb);
}

static void tcp_closed_cb(uv_handle_t *h)
{
	struct tcp_lower *t = h->data;
	struct conn *c = t->c;

	t->handle_closed = true;
	if (!t->gai_pending)
		free(t);
	if (c != NULL)
		conn_lower_closed(c);
}

/* Closes a handle that never got a conn. */
static void tcp_close_bare(struct tcp_lower *t)
{
	t->closing = true;
	t->c = NULL;
	uv_close((uv_handle_t *)&t->tcp, tcp_closed_cb);
}

static void tcp_close(void *lower)
{
	struct tcp_lower *t = lower;

	if (t->closing)
		return;
	t->closing = true;
	/* A pending getaddrinfo/connect completes with UV_ECANCELED and
	 * sees `closing`; the handle itself is closed here. */
	uv_close((uv_handle_t *)&t->tcp, tcp_closed_cb);
}

static uint32_t tcp_segs_sent(void *lower)
{
	struct tcp_lower *t = lower;
	uv_os_fd_t fd;
	uint32_t n = 0;

	if (t->handle_closed || uv_fileno((uv_handle_t *)&t->tcp, &fd) != 0 ||
	    util_tcp_segs_out(fd, &n) != 0)
		return 0;
	return n;
}

static const struct conn_lower_ops tcp_ops = {
	.write = tcp_write,
	.pause = tcp_pause,
	.segs_sent = tcp_segs_sent,
	.shutdown = tcp_shutdown,
	.close = tcp_close,
};

static void tcp_start_reading(struct tcp_lower *t)
{
	t->reading = true;
	if (!t->paused)
		uv_read_start((uv_stream_t *)&t->tcp, tcp_alloc_cb, tcp_read_cb);
}

static void set_peer_name(struct conn *c, const struct sockaddr_storage *ss)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		uv_ip4_name(s4, ip, sizeof(ip));
		port = ntohs(s4->sin_port);
		snprintf(c->peer_name, sizeof(c->peer_name), "%s:%d", ip, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		uv_ip6_name(s6, ip, sizeof(ip));
		port = ntohs(s6->sin6_port);
		snprintf(c->peer_name, sizeof(c->peer_name), "[%s]:%d", ip, port);
	}
}

/* The kernel's send queue is a FIFO we cannot reorder: keep it short.
 * TCP_NOTSENT_LOWAT makes the socket writable only when little is unsent,
 * SO_SNDBUF caps the total. The receive buffer is capped too: when the
 * portal stops reading a peer (backpressure), what that peer already sent
 * waits in it, and a default auto-tuned one holds tens of megabytes —
 * seconds of a user's traffic that keep arriving after it stopped. */
static void short_send_queue(uv_tcp_t *tcp, unsigned sndbuf)
{
	uv_os_fd_t fd;
	int v = (int)sndbuf, lowat = 16384, rcv = 256 * 1024;

	if (uv_fileno((uv_handle_t *)tcp, &fd) != 0)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat)) != 0)
		log_debug("cannot shorten the socket queues: %s", strerror(errno));
}

int conn_tcp_accept(uv_stream_t *server, const struct conn_cfg *cfg, struct conn **out)
{
	struct tcp_lower *t = calloc(1, sizeof(*t));
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	int rc;

	if (t == NULL)
		return -ENOMEM;
	uv_tcp_init(cfg->loop, &t->tcp);
	t->tcp.data = t;
	rc = uv_accept(server, (uv_stream_t *)&t->tcp);
	if (rc < 0) {
		tcp_close_bare(t);
		return rc;
	}
	if (cfg->admit != NULL) {
		char ip[INET6_ADDRSTRLEN] = "";

		if (uv_tcp_getpeername(&t->tcp, (struct sockaddr *)&ss, &len) == 0)
			uv_ip_name((struct sockaddr *)&ss, ip, sizeof(ip));
		if (!cfg->admit(ip, ntohs(((struct sockaddr_in *)&ss)->sin_port), cfg->ud)) {
			/* Refused before anything is allocated but this handle: a
			 * reset tells the client it was refused (not a wrong key,
			 * which ends with a FIN after its hello). */
			t->closing = true;
			if (uv_tcp_close_reset(&t->tcp, tcp_closed_cb) < 0)
				uv_close((uv_handle_t *)&t->tcp, tcp_closed_cb);
			return -ECONNREFUSED;
		}
		len = sizeof(ss);
	}
	t->c = conn_new(cfg, false, NULL, &tcp_ops, t);
	if (t->c == NULL) {
		tcp_close_bare(t);
		return -ENOMEM;
	}
	uv_tcp_nodelay(&t->tcp, 1);
	if (cfg->sndbuf != 0)
		short_send_queue(&t->tcp, cfg->sndbuf);
	if (uv_tcp_getpeername(&t->tcp, (struct sockaddr *)&ss, &len) == 0)
		set_peer_name(t->c, &ss);
	tcp_start_reading(t);
	conn_start(t->c);
	if (out != NULL)
		*out = t->c;
	return 0;
}

static void tcp_connect_cb(uv_connect_t *req, int status)
{
	struct tcp_lower *t = req->data;

	if (t->closing)
		return;
	if (status < 0) {
		char why[256];

		snprintf(why, sizeof(why), "connect to %s failed: %s", t->c->peer_name,
		         uv_strerror(status));
		/* A portal refusing for load resets the socket it accepted; the
		 * reset may beat the connect's completion to us. */
		t->c->lower_reset = status == UV_ECONNRESET;
		conn_lower_eof(t->c, why);
		return;
	}
	uv_tcp_nodelay(&t->tcp, 1);
	if (t->c->cfg.sndbuf != 0)
		short_send_queue(&t->tcp, t->c->cfg.sndbuf);
	tcp_start_reading(t);
	conn_start(t->c);
}

static void tcp_resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct tcp_lower *t = req->data;
	int rc;

	t->gai_pending = false;
	if (t->closing) {
		uv_freeaddrinfo(res);
		if (t->handle_closed)
			free(t);
		return;
	}
	if (status < 0 || res == NULL) {
		char why[256];

		snprintf(why, sizeof(why), "cannot resolve %s: %s", t->c->peer_name,
		         uv_strerror(status));
		uv_freeaddrinfo(res);
		conn_lower_eof(t->c, why);
		return;
	}
	t->req.connect.data = t;
	rc = uv_tcp_connect(&t->req.connect, &t->tcp, res->ai_addr, tcp_connect_cb);
	uv_freeaddrinfo(res);
	if (rc < 0) {
		char why[256];

		snprintf(why, sizeof(why), "connect to %s failed: %s", t->c->peer_name,
		         uv_strerror(rc));
		conn_lower_eof(t->c, why);
	}
}

int conn_tcp_connect(const struct conn_cfg *cfg, const char *host, uint16_t port,
                     const uint8_t server_pk[32], struct conn **out)
{
	struct tcp_lower *t = calloc(1, sizeof(*t));
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	char portstr[8];
	int rc;

	if (t == NULL)
		return -ENOMEM;
	uv_tcp_init(cfg->loop, &t->tcp);
	t->tcp.data = t;
	t->port = port;
	t->c = conn_new(cfg, true, server_pk, &tcp_ops, t);
	if (t->c == NULL) {
		tcp_close_bare(t);
		return -ENOMEM;
	}
	/* IPv6 in brackets, as accepted peers are named */
	snprintf(t->c->peer_name, sizeof(t->c->peer_name), "%s%s%s:%u", strchr(host, ':') ? "[" : "",
	         host, strchr(host, ':') ? "]" : "", port);
	snprintf(portstr, sizeof(portstr), "%u", port);
	t->req.gai.data = t;
	if (out != NULL)
		*out = t->c;
	rc = uv_getaddrinfo(cfg->loop, &t->req.gai, tcp_resolved_cb, host, portstr, &hints);
	if (rc < 0) {
		/* Reported like every other failure: through on_close. */
		conn_finish(t->c, "cannot start name resolution");
		return 0;
	}
	t->gai_pending = true;
	return 0;
}

void conn_lower_drained(struct conn *c)
{
	notify_drain(c);
}

void conn_tcp_tune(uv_tcp_t *tcp, unsigned sndbuf)
{
	uv_tcp_nodelay(tcp, 1);
	if (sndbuf != 0)
		short_send_queue(tcp, sndbuf);
}
