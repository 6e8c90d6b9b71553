/* wsconn — see wsconn.h. One struct per connection: the TCP handle, a
 * timer (the set-up deadline, then ws keep-alive ticks) and the ws
 * framing context. States (one transition function, wsl_enter):
 *
 *   client: RESOLVING ─► CONNECTING ─► UPGRADING ─► OPEN ─► CLOSED
 *   server:                                          OPEN ─► CLOSED
 *
 * Writes never wait in wslay: what the kernel refuses goes to libuv's
 * queue (counted in uvq), as conn.c's TCP lower does, so ops->queued and
 * the drain callback see one number. */
#include "wsconn.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "log.h"
#include "util.h"
#include "uvw.h"
#include "ws.h"

#define WSCONN_TICK_MS 5000      /* keep-alive granularity (ping at 30 s, dead at 60 s) */
#define WSCONN_SETUP_TICK_MS 250 /* set-up deadline granularity */

enum wsl_state { WSL_RESOLVING, WSL_CONNECTING, WSL_UPGRADING, WSL_OPEN, WSL_CLOSED };

struct wsl {
	uv_tcp_t tcp;
	uv_timer_t tick;
	struct conn *c;
	struct ws *w;                /* from the 101 on (client), from the start (server) */
	enum wsl_state st;
	union {
		uv_connect_t connect;
		uv_getaddrinfo_t gai;
	} req;
	uint64_t deadline;           /* loop ms by which the 101 must be in */
	char key[WS_KEY_LEN + 1];
	char host[ADDR_HOST_MAX + 1];
	char path[ADDR_PATH_MAX + 1];
	uint16_t port;
	unsigned sndbuf;             /* cfg->sndbuf, for the socket once connected */
	uint8_t *head;               /* client: the response head so far */
	size_t headlen;
	size_t uvq;                  /* bytes in libuv's write queue */
	int handles;                 /* tcp + tick not yet closed */
	bool gai_pending;            /* l must outlive a running getaddrinfo */
	bool detached;               /* the conn is done with us: no more upcalls */
	bool shut;                   /* uv_close called */
	bool feeding;                /* inside ws_feed: closing waits for its end */
	bool close_after_feed;
	bool paused, reading;
};

static const char *const state_names[] = { "RESOLVING", "CONNECTING", "UPGRADING", "OPEN",
                                           "CLOSED" };

static void wsl_enter(struct wsl *l, enum wsl_state s)
{
	log_debug("ws %s: %s -> %s", l->c != NULL ? conn_peer_name(l->c) : "?",
	          state_names[l->st], state_names[s]);
	l->st = s;
}

/* One read buffer for every socket, as conn.c's: each read is consumed
 * before the next. */
static uint8_t read_buf[65536];

/* ---------------------------------------------------------------- output */

static void write_cb(uv_write_t *req, int status)
{
	struct uvw_req *w = (struct uvw_req *)req;
	struct wsl *l = w->owner;

	l->uvq -= w->len;
	if (!l->detached) {
		if (status < 0) {
			char why[96];

			snprintf(why, sizeof(why), "write: %s", uv_strerror(status));
			conn_close(l->c, why);
		} else {
			conn_lower_drained(l->c);
		}
	}
	free(w);
}

/* Raw bytes to the socket: the kernel first, libuv's queue for the rest.
 * All of p is taken (0) or the connection is broken (-errno). */
static int raw_send(struct wsl *l, const uint8_t *p, size_t len)
{
	size_t queued;
	int rc;

	if (l->shut)
		return -EPIPE;
	rc = uvw_write((uv_stream_t *)&l->tcp, p, len, l->uvq == 0, write_cb, l, &queued);
	if (rc == 0)
		l->uvq += queued;
	return rc;
}

/* ------------------------------------------------------------ ws events */

static long ws_op_send(void *arg, const uint8_t *p, size_t len)
{
	int rc = raw_send(arg, p, len);

	return rc < 0 ? rc : (long)len;
}

static void ws_op_message(void *arg, const uint8_t *p, size_t len)
{
	struct wsl *l = arg;

	if (!l->detached)
		conn_lower_input(l->c, p, len);
}

static void ws_op_finished(void *arg, uint16_t code, const char *why)
{
	struct wsl *l = arg;
	char r[128];

	if (l->detached)
		return;
	if (code == 1000) {
		conn_lower_eof(l->c, NULL);   /* clean if our goodbyes are out */
		return;
	}
	snprintf(r, sizeof(r), "WebSocket closed (%u: %s)", (unsigned)code, why);
	conn_lower_eof(l->c, r);
}

static void ws_op_random(void *arg, uint8_t *p, size_t len)
{
	(void)arg;
	randombytes_buf(p, len);
}

static const struct ws_ops ws_cbs = { ws_op_send, ws_op_message, ws_op_finished, ws_op_random };

/* Feeds socket bytes to wslay; a close asked for meanwhile happens after. */
static void do_close(struct wsl *l);

static void feed(struct wsl *l, const uint8_t *p, size_t len)
{
	l->feeding = true;
	(void)ws_feed(l->w, p, len, uv_now(l->tcp.loop));
	l->feeding = false;
	if (l->close_after_feed)
		do_close(l);
}

/* ---------------------------------------------------------------- closing */

static void wsl_free(struct wsl *l)
{
	ws_free(l->w);
	free(l->head);
	sodium_memzero(l, sizeof(*l));
	free(l);
}

static void handle_closed(uv_handle_t *h)
{
	struct wsl *l = h->data;
	struct conn *c = l->c;

	if (--l->handles > 0)
		return;
	l->c = NULL;
	if (!l->gai_pending)
		wsl_free(l);
	if (c != NULL)
		conn_lower_closed(c);
}

static void do_close(struct wsl *l)
{
	if (l->shut)
		return;
	/* A close frame if there is still time for one (the clean path has
	 * sent its 1000 already: ws_close is then a no-op). */
	if (l->w != NULL && !ws_is_finished(l->w))
		(void)ws_close(l->w, 1001, "going away");
	l->shut = true;
	wsl_enter(l, WSL_CLOSED);
	uv_close((uv_handle_t *)&l->tcp, handle_closed);
	uv_close((uv_handle_t *)&l->tick, handle_closed);
}

/* ------------------------------------------------------ conn lower ops */

static int lo_write(void *lower, const uint8_t *p, size_t len)
{
	struct wsl *l = lower;

	if (l->detached || l->w == NULL)
		return -EPIPE;
	return ws_send(l->w, p, len);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	buf->base = (char *)read_buf;
	buf->len = sizeof(read_buf);
}

static void lo_pause(void *lower, bool paused)
{
	struct wsl *l = lower;

	l->paused = paused;
	if (l->shut || !l->reading)
		return;
	if (paused) {
		uv_read_stop((uv_stream_t *)&l->tcp);
	} else {
		/* its pongs waited in the socket while we did not read */
		if (l->w != NULL)
			ws_alive(l->w, uv_now(l->tcp.loop));
		uv_read_start((uv_stream_t *)&l->tcp, alloc_cb, read_cb);
	}
}

static size_t lo_queued(void *lower)
{
	struct wsl *l = lower;

	return l->uvq + (l->w != NULL ? ws_queued(l->w) : 0);
}

static uint32_t lo_segs_sent(void *lower)
{
	struct wsl *l = lower;
	uv_os_fd_t fd;
	uint32_t n = 0;

	if (l->shut || uv_fileno((uv_handle_t *)&l->tcp, &fd) != 0 ||
	    util_tcp_segs_out(fd, &n) != 0)
		return 0;
	return n;
}

/* End of our output after the SSB goodbyes: a clean close frame; the
 * peer's answer finishes it (ws_op_finished, code 1000). */
static void lo_shutdown(void *lower)
{
	struct wsl *l = lower;

	if (!l->shut && l->w != NULL)
		(void)ws_close(l->w, 1000, "goodbye");
}

static void lo_close(void *lower)
{
	struct wsl *l = lower;

	if (l->detached)
		return;
	l->detached = true;
	if (l->feeding)
		l->close_after_feed = true;   /* wslay is on the stack */
	else
		do_close(l);
}

static const struct conn_lower_ops lower_ops = {
	.write = lo_write,
	.pause = lo_pause,
	.queued = lo_queued,
	.segs_sent = lo_segs_sent,
	.shutdown = lo_shutdown,
	.close = lo_close,
};

/* ------------------------------------------------------------------ input */

static void start_ticks(struct wsl *l);

static void fail(struct wsl *l, const char *why)
{
	if (!l->detached)
		conn_lower_eof(l->c, why);
}

/* Client: the server's answer to our upgrade request, then frames. */
static void upgrade_input(struct wsl *l, const uint8_t *p, size_t len)
{
	char err[160];
	uint8_t *nh = realloc(l->head, l->headlen + len);
	int hl;

	if (nh == NULL) {
		fail(l, "out of memory");
		return;
	}
	l->head = nh;
	memcpy(l->head + l->headlen, p, len);
	l->headlen += len;
	hl = ws_client_response(l->head, l->headlen, l->key, err, sizeof(err));
	if (hl == 0)
		return;
	if (hl < 0) {
		fail(l, err);
		return;
	}
	l->w = ws_new(true, WSCONN_MAX_MSG, &ws_cbs, l, uv_now(l->tcp.loop));
	if (l->w == NULL) {
		fail(l, "out of memory");
		return;
	}
	wsl_enter(l, WSL_OPEN);
	start_ticks(l);
	conn_start(l->c);                      /* SHS msg1, as one binary message */
	if (!l->detached && l->headlen > (size_t)hl)
		feed(l, l->head + hl, l->headlen - (size_t)hl);
	free(l->head);
	l->head = NULL;
	l->headlen = 0;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct wsl *l = s->data;

	if (l->detached)
		return;
	if (nread > 0) {
		if (l->st == WSL_UPGRADING)
			upgrade_input(l, (const uint8_t *)buf->base, (size_t)nread);
		else
			feed(l, (const uint8_t *)buf->base, (size_t)nread);
	} else if (nread == UV_EOF) {
		uv_read_stop(s);
		l->reading = false;
		fail(l, l->st == WSL_UPGRADING ? "the server hung up during the WebSocket upgrade"
		                               : NULL);
	} else if (nread < 0) {
		char why[96];

		snprintf(why, sizeof(why), "read: %s", uv_strerror((int)nread));
		fail(l, why);
	}
}

static void start_reading(struct wsl *l)
{
	l->reading = true;
	if (!l->paused)
		uv_read_start((uv_stream_t *)&l->tcp, alloc_cb, read_cb);
}

/* The set-up deadline, then keep-alive. */
static void tick_cb(uv_timer_t *t)
{
	struct wsl *l = t->data;
	uint64_t now = uv_now(t->loop);

	if (l->detached)
		return;
	if (l->st != WSL_OPEN) {
		if (now >= l->deadline) {
			char why[96];

			snprintf(why, sizeof(why), "WebSocket set-up (%s) timed out",
			         l->st == WSL_UPGRADING ? "upgrade" : "connect");
			fail(l, why);
		}
		return;
	}
	if (l->paused)
		ws_alive(l->w, now);
	else
		(void)ws_tick(l->w, now);   /* -EPIPE: ws_op_finished has run */
}

static void start_ticks(struct wsl *l)
{
	uv_timer_start(&l->tick, tick_cb, WSCONN_TICK_MS, WSCONN_TICK_MS);
}

/* ------------------------------------------------------------- client */

static void connect_cb(uv_connect_t *req, int status)
{
	struct wsl *l = req->data;
	char why[256], request[ADDR_HOST_MAX + ADDR_PATH_MAX + 256];
	uint8_t nonce[16];
	int n;

	if (l->detached)
		return;
	if (status < 0) {
		snprintf(why, sizeof(why), "connect to %s failed: %s", conn_peer_name(l->c),
		         uv_strerror(status));
		fail(l, why);
		return;
	}
	conn_tcp_tune(&l->tcp, l->sndbuf);
	randombytes_buf(nonce, sizeof(nonce));
	ws_client_key(nonce, l->key);
	n = ws_client_request(request, sizeof(request), l->host, l->port, l->path, l->key);
	wsl_enter(l, WSL_UPGRADING);
	if (n < 0 || raw_send(l, (const uint8_t *)request, (size_t)n) != 0) {
		fail(l, "cannot send the WebSocket upgrade request");
		return;
	}
	start_reading(l);
}

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct wsl *l = req->data;
	int rc;

	l->gai_pending = false;
	if (l->detached) {
		uv_freeaddrinfo(res);
		if (l->handles == 0)
			wsl_free(l);
		return;
	}
	if (status < 0 || res == NULL) {
		char why[256];

		snprintf(why, sizeof(why), "cannot resolve %s: %s", conn_peer_name(l->c),
		         uv_strerror(status));
		uv_freeaddrinfo(res);
		fail(l, why);
		return;
	}
	wsl_enter(l, WSL_CONNECTING);
	l->req.connect.data = l;
	rc = uv_tcp_connect(&l->req.connect, &l->tcp, res->ai_addr, connect_cb);
	uv_freeaddrinfo(res);
	if (rc < 0) {
		char why[256];

		snprintf(why, sizeof(why), "connect to %s failed: %s", conn_peer_name(l->c),
		         uv_strerror(rc));
		fail(l, why);
	}
}

static struct wsl *wsl_new(uv_loop_t *loop)
{
	struct wsl *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	uv_tcp_init(loop, &l->tcp);
	uv_timer_init(loop, &l->tick);
	l->tcp.data = l;
	l->tick.data = l;
	l->handles = 2;
	return l;
}

/* Closes a wsl that never got a conn. */
static void wsl_close_bare(struct wsl *l)
{
	l->detached = true;
	do_close(l);
}

const char *wsconn_unsupported(const struct addr *a)
{
	if (a->kind == ADDR_WS && a->secure)
		return "wss:// needs TLS, which fairway does not speak: run a local TLS proxy "
		       "(stunnel, nginx) to the portal and give its ws://127.0.0.1:PORT address";
	if ((a->kind != ADDR_NET && a->kind != ADDR_WS) || !a->has_shs)
		return "a portal address is net:HOST:PORT~shs:KEY or ws://HOST[:PORT]~shs:KEY";
	return NULL;
}

int wsconn_connect(const struct conn_cfg *cfg, const struct addr *a, struct conn **out)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	char portstr[8];
	struct wsl *l;
	unsigned setup_ms = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms
	                                              : CONN_DEFAULT_HANDSHAKE_MS;
	int rc;

	if (a->kind != ADDR_WS || wsconn_unsupported(a) != NULL)
		return -EPROTONOSUPPORT;
	l = wsl_new(cfg->loop);
	if (l == NULL)
		return -ENOMEM;
	l->c = conn_new(cfg, true, a->shs_pk, &lower_ops, l);
	if (l->c == NULL) {
		wsl_close_bare(l);
		return -ENOMEM;
	}
	snprintf(l->host, sizeof(l->host), "%s", a->host);
	snprintf(l->path, sizeof(l->path), "%s", a->path);
	l->port = a->port;
	l->sndbuf = cfg->sndbuf;
	{
		char name[ADDR_HOST_MAX + 16];

		snprintf(name, sizeof(name), "%s:%u", a->host, (unsigned)a->port);
		conn_set_peer_name(l->c, name);
	}
	l->deadline = uv_now(cfg->loop) + setup_ms;
	uv_timer_start(&l->tick, tick_cb, WSCONN_SETUP_TICK_MS, WSCONN_SETUP_TICK_MS);
	snprintf(portstr, sizeof(portstr), "%u", (unsigned)a->port);
	l->req.gai.data = l;
	if (out != NULL)
		*out = l->c;
	rc = uv_getaddrinfo(cfg->loop, &l->req.gai, resolved_cb, a->host, portstr, &hints);
	if (rc < 0) {
		/* Reported like every other failure: through on_close. */
		conn_close(l->c, "cannot start name resolution");
		return 0;
	}
	l->gai_pending = true;
	return 0;
}

int wsconn_dial(const struct conn_cfg *cfg, const struct addr *a, struct conn **out)
{
	if (wsconn_unsupported(a) != NULL)
		return -EPROTONOSUPPORT;
	if (a->kind == ADDR_NET)
		return conn_tcp_connect(cfg, a->host, a->port, a->shs_pk, out);
	return wsconn_connect(cfg, a, out);
}

/* ------------------------------------------------------------- server */

static void name_peer(struct conn *c, const struct sockaddr *sa)
{
	char ip[INET6_ADDRSTRLEN] = "?", name[INET6_ADDRSTRLEN + 16];

	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		uv_ip4_name(s4, ip, sizeof(ip));
		snprintf(name, sizeof(name), "%s:%u", ip, (unsigned)ntohs(s4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		uv_ip6_name(s6, ip, sizeof(ip));
		snprintf(name, sizeof(name), "[%s]:%u", ip, (unsigned)ntohs(s6->sin6_port));
	} else {
		return;
	}
	conn_set_peer_name(c, name);
}

int wsconn_accept(const struct conn_cfg *cfg, int fd, const uint8_t *extra, size_t n,
                  const struct sockaddr *peer, struct conn **out)
{
	struct wsl *l = wsl_new(cfg->loop);
	int rc;

	if (l == NULL) {
		close(fd);
		return -ENOMEM;
	}
	rc = uv_tcp_open(&l->tcp, fd);
	if (rc < 0) {
		close(fd);            /* not the handle's yet */
		wsl_close_bare(l);
		return rc;
	}
	l->w = ws_new(false, WSCONN_MAX_MSG, &ws_cbs, l, uv_now(cfg->loop));
	l->c = l->w != NULL ? conn_new(cfg, false, NULL, &lower_ops, l) : NULL;
	if (l->c == NULL) {
		wsl_close_bare(l);    /* closes fd with the handle */
		return -ENOMEM;
	}
	l->st = WSL_OPEN;
	name_peer(l->c, peer);
	conn_tcp_tune(&l->tcp, cfg->sndbuf);
	start_reading(l);
	start_ticks(l);
	conn_start(l->c);
	if (out != NULL)
		*out = l->c;
	if (n > 0 && !l->detached)
		feed(l, extra, n);
	return 0;
}
