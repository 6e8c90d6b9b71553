/* fwd — see fwd.h. */
#include "fwd.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define FWD_HIGH_WATER (256u << 10)
#define FWD_LOW_WATER (64u << 10)
/* Bytes held while the TCP side connects. Above FWD_HIGH_WATER the
 * session stops being read, so this cap only has to absorb what was
 * already decoded when the pause took effect. */
#define FWD_PENDING_MAX (8u << 20)

/* One forwarded TCP connection spliced to one duplex stream. */
struct pipe {
	uv_tcp_t tcp;
	uv_timer_t drain;
	uv_connect_t creq;
	uv_shutdown_t sreq;
	struct mrpc_stream *s;   /* NULL once freed */
	struct conn *carrier;    /* session carrying s; NULL with s */
	bool connected;          /* TCP usable */
	bool tcp_closing;
	bool paused_carrier;     /* we paused the session: TCP is backed up */
	bool tcp_paused;         /* we stopped reading TCP: the session is backed up */
	bool got_data;           /* an item came from the stream */
	char service[64];        /* -L side: the service asked for; "" on the host */
	/* Half-close (shutdown(SHUT_WR) on either end) travels as a half-close:
	 * TCP EOF → our END on the stream; the peer's END → shutdown of the
	 * TCP write side once every queued byte is written. The socket
	 * closes only when both directions are done. */
	bool tcp_eof;            /* TCP said EOF: we sent (or will send) END */
	bool remote_ended;       /* the peer's END arrived: no more bytes to write */
	bool shutdown_sent;      /* uv_shutdown queued behind the pending writes */
	bool wr_done;            /* the write side is shut down (or failed) */
	size_t tcp_queued;
	uint8_t *pending;        /* items that came before the TCP connect finished */
	size_t pending_len;
	int refs;                /* tcp handle, drain timer, stream */
};

struct tcp_write {
	uv_write_t req;
	struct pipe *p;
	size_t len;
	uint8_t data[];
};

static uint8_t fwd_read_buf[65536];

static int resolve(struct fwd_service *svc, char *err, size_t errlen);

static void pipe_unref(struct pipe *p)
{
	if (--p->refs == 0) {
		free(p->pending);
		free(p);
	}
}

static void pipe_handle_closed(uv_handle_t *h)
{
	pipe_unref(h->data);
}

static void pipe_close_tcp(struct pipe *p)
{
	if (p->tcp_closing)
		return;
	p->tcp_closing = true;
	if (p->paused_carrier && p->carrier != NULL)
		conn_pause_input(p->carrier, false);
	p->paused_carrier = false;
	uv_close((uv_handle_t *)&p->tcp, pipe_handle_closed);
	uv_close((uv_handle_t *)&p->drain, pipe_handle_closed);
}

static void pipe_fail(struct pipe *p, const char *why)
{
	log_info("forward%s%s ended: %s", p->carrier != NULL ? " with " : "",
	         p->carrier != NULL ? conn_remote_id(p->carrier) : "", why);
	if (p->s != NULL && !mrpc_stream_local_ended(p->s))
		mrpc_stream_end(p->s, why);
	pipe_close_tcp(p);
}

/* ---- session → TCP ---- */

static void tcp_write_cb(uv_write_t *req, int status)
{
	struct tcp_write *w = (struct tcp_write *)req;
	struct pipe *p = w->p;

	p->tcp_queued -= w->len;
	free(w);
	if (p->tcp_closing)
		return;
	if (status < 0) {
		pipe_fail(p, uv_strerror(status));
		return;
	}
	if (p->paused_carrier && p->tcp_queued <= FWD_LOW_WATER) {
		p->paused_carrier = false;
		if (p->carrier != NULL)
			conn_pause_input(p->carrier, false);
	}
}

static int tcp_send(struct pipe *p, const uint8_t *data, size_t len)
{
	struct tcp_write *w = malloc(sizeof(*w) + len);
	uv_buf_t b;
	int rc;

	if (w == NULL)
		return -ENOMEM;
	memcpy(w->data, data, len);
	w->p = p;
	w->len = len;
	b = uv_buf_init((char *)w->data, (unsigned)len);
	rc = uv_write(&w->req, (uv_stream_t *)&p->tcp, &b, 1, tcp_write_cb);
	if (rc < 0) {
		free(w);
		return rc;
	}
	p->tcp_queued += len;
	if (!p->paused_carrier && p->tcp_queued > FWD_HIGH_WATER && p->carrier != NULL) {
		p->paused_carrier = true;
		conn_pause_input(p->carrier, true);
	}
	return 0;
}

static void stream_data(struct mrpc_stream *s, struct psc_packet *pkt, void *ud)
{
	struct pipe *p = ud;
	uint8_t *grown;

	p->got_data = true;
	if (p->tcp_closing || pkt->len == 0)
		return;
	if (p->connected) {
		if (tcp_send(p, pkt->body, pkt->len) < 0)
			pipe_fail(p, "write to the forwarded service failed");
		return;
	}
	if (p->pending_len + pkt->len > FWD_PENDING_MAX) {
		pipe_fail(p, "too much data before the service accepted the connection");
		return;
	}
	grown = realloc(p->pending, p->pending_len + pkt->len);
	if (grown == NULL) {
		pipe_fail(p, "out of memory");
		return;
	}
	p->pending = grown;
	memcpy(p->pending + p->pending_len, pkt->body, pkt->len);
	p->pending_len += pkt->len;
	/* A fast sender gets megabytes in before a connect() completes on a
	 * busy loop: pause it instead of failing the pipe. tcp_write_cb (or
	 * pipe_close_tcp) resumes once the pending bytes have drained. */
	if (!p->paused_carrier && p->pending_len > FWD_HIGH_WATER && p->carrier != NULL) {
		p->paused_carrier = true;
		conn_pause_input(p->carrier, true);
	}
}

/* Both directions are over: the socket can go. */
static void pipe_maybe_close(struct pipe *p)
{
	if (p->wr_done && (p->tcp_eof || p->s == NULL))
		pipe_close_tcp(p);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	struct pipe *p = req->data;

	p->wr_done = true;
	if (p->tcp_closing)
		return;
	if (status < 0 && status != UV_ENOTCONN) {
		pipe_fail(p, uv_strerror(status));
		return;
	}
	pipe_maybe_close(p);
}

/* The peer sent its END: write what is queued, then shut down our write
 * side. libuv runs the shutdown after every write queued before it. */
static void pipe_shutdown_write(struct pipe *p)
{
	if (p->shutdown_sent || p->tcp_closing || !p->connected)
		return;
	p->shutdown_sent = true;
	p->sreq.data = p;
	if (uv_shutdown(&p->sreq, (uv_stream_t *)&p->tcp, shutdown_cb) != 0) {
		p->wr_done = true;
		pipe_maybe_close(p);
	}
}

static void stream_end(struct mrpc_stream *s, const char *err, void *ud)
{
	struct pipe *p = ud;

	if (p->tcp_closing)
		return;
	if (err != NULL && p->service[0] != '\0' && !p->got_data) {
		/* An error before any byte is the host refusing the forward
		 * ("no such service: x"): the local client only sees a close, so
		 * say why here. */
		log_warn("forward to '%s'%s%s refused by the host: %s", p->service,
		         p->carrier != NULL ? " on " : "",
		         p->carrier != NULL ? conn_remote_id(p->carrier) : "", err);
		if (!mrpc_stream_local_ended(s))
			mrpc_stream_end(s, NULL);
		pipe_close_tcp(p);
		return;
	}
	if (err != NULL) {
		/* An error (or the session went away) ends both directions. */
		log_info("forward%s%s ended by the peer: %s", p->carrier != NULL ? " with " : "",
		         p->carrier != NULL ? conn_remote_id(p->carrier) : "", err);
		if (!mrpc_stream_local_ended(s))
			mrpc_stream_end(s, NULL);
		pipe_close_tcp(p);
		return;
	}
	/* END true: the peer's direction is over, ours goes on until TCP EOF. */
	p->remote_ended = true;
	pipe_shutdown_write(p);   /* not yet connected: connected_cb does it */
}

static void stream_free(struct mrpc_stream *s, void *ud)
{
	struct pipe *p = ud;

	p->s = NULL;
	if (p->paused_carrier && p->carrier != NULL)
		conn_pause_input(p->carrier, false);
	p->paused_carrier = false;
	p->carrier = NULL;
	/* Both sides ended cleanly: the socket goes once its queued bytes
	 * and the shutdown are written. Otherwise, at once. */
	if (p->remote_ended && p->tcp_eof && p->shutdown_sent && !p->wr_done)
		; /* shutdown_cb closes it */
	else
		pipe_close_tcp(p);
	pipe_unref(p);
}

static const struct mrpc_stream_cbs pipe_cbs = {
	.on_data = stream_data,
	.on_end = stream_end,
	.on_free = stream_free,
};

/* ---- TCP → session ---- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	buf->base = (char *)fwd_read_buf;
	buf->len = sizeof(fwd_read_buf);
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

static void drain_cb(uv_timer_t *t)
{
	struct pipe *p = t->data;

	if (p->tcp_closing || p->carrier == NULL)
		return;
	if (conn_write_queue_size(p->carrier) <= FWD_LOW_WATER) {
		uv_timer_stop(t);
		p->tcp_paused = false;
		uv_read_start((uv_stream_t *)&p->tcp, alloc_cb, read_cb);
	}
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct pipe *p = st->data;

	if (p->tcp_closing)
		return;
	if (n == UV_EOF) {
		/* Our direction is over; the peer's may go on (half-close). */
		uv_read_stop(st);
		p->tcp_eof = true;
		if (p->s != NULL && !mrpc_stream_local_ended(p->s))
			mrpc_stream_end(p->s, NULL);   /* may free p->s (both ended) */
		if (!p->tcp_closing)
			pipe_maybe_close(p);
		return;
	}
	if (n < 0) {
		pipe_fail(p, uv_strerror((int)n));
		return;
	}
	if (n == 0 || p->s == NULL)
		return;
	if (mrpc_stream_send(p->s, PSC_BINARY, (const uint8_t *)buf->base, (size_t)n) < 0) {
		pipe_close_tcp(p);
		return;
	}
	/* The session is backed up: stop reading until it drains. */
	if (p->carrier != NULL && conn_write_queue_size(p->carrier) > FWD_HIGH_WATER) {
		uv_read_stop(st);
		p->tcp_paused = true;
		uv_timer_start(&p->drain, drain_cb, 2, 2);
	}
}

static struct pipe *pipe_new(uv_loop_t *loop)
{
	struct pipe *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	uv_tcp_init(loop, &p->tcp);
	uv_timer_init(loop, &p->drain);
	p->tcp.data = p;
	p->drain.data = p;
	p->creq.data = p;
	p->refs = 2;  /* the two handles; the stream adds one when attached */
	return p;
}

static void pipe_attach(struct pipe *p, struct mrpc_stream *s)
{
	p->s = s;
	mrpc_stream_set_half_close(s);
	p->carrier = mrpc_io(mrpc_stream_session(s));
	p->refs++;
}

/* ---- host side: forward.connect ---- */

struct fwd_ctx {
	struct fwd_services *services;
	uv_loop_t *loop;
};

static void connected_cb(uv_connect_t *req, int status)
{
	struct pipe *p = req->data;

	if (p->tcp_closing)
		return;
	if (status < 0) {
		char why[128];

		snprintf(why, sizeof(why), "the service refused the connection: %s", uv_strerror(status));
		pipe_fail(p, why);
		return;
	}
	uv_tcp_nodelay(&p->tcp, 1);
	p->connected = true;
	if (p->pending_len > 0 && tcp_send(p, p->pending, p->pending_len) < 0) {
		pipe_fail(p, "write to the forwarded service failed");
		return;
	}
	free(p->pending);
	p->pending = NULL;
	p->pending_len = 0;
	uv_read_start((uv_stream_t *)&p->tcp, alloc_cb, read_cb);
	if (p->remote_ended)   /* the caller half-closed before we connected */
		pipe_shutdown_write(p);
}

static void forward_connect(struct mrpc_stream *call, json_t *args, void *ud)
{
	struct fwd_ctx *ctx = ud;
	const char *name = json_string_value(json_object_get(json_array_get(args, 0), "service"));
	const struct fwd_service *svc = NULL;
	struct pipe *p;
	char msg[128];

	for (size_t i = 0; name != NULL && i < ctx->services->n; i++)
		if (strcmp(ctx->services->v[i].name, name) == 0)
			svc = &ctx->services->v[i];
	if (svc == NULL) {
		snprintf(msg, sizeof(msg), "no such service: %.64s", name ? name : "(none given)");
		log_info("forward.connect from %s refused: %s",
		         conn_remote_id(mrpc_io(mrpc_stream_session(call))), msg);
		mrpc_stream_end(call, msg);
		return;
	}
	p = pipe_new(ctx->loop);
	if (p == NULL) {
		mrpc_stream_end(call, "out of memory");
		return;
	}
	pipe_attach(p, call);
	mrpc_stream_set_cbs(call, &pipe_cbs, p);
	log_info("forward: %s -> %s (%s%s%s:%u, %s)", conn_remote_id(p->carrier), svc->name,
	         strchr(svc->host, ':') ? "[" : "", svc->host, strchr(svc->host, ':') ? "]" : "",
	         svc->port, svc->addr);
	if (uv_tcp_connect(&p->creq, &p->tcp, (const struct sockaddr *)&svc->sa, connected_cb) < 0)
		pipe_fail(p, "cannot connect to the service");
}

int fwd_add_methods(struct mrpc_api *api, struct fwd_services *s, uv_loop_t *loop)
{
	struct fwd_ctx *ctx;

	if (s->n == 0)
		return 0;
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL)
		return -ENOMEM;
	ctx->services = s;
	ctx->loop = loop;
	/* ctx lives as long as the services list: freed with it. */
	if (mrpc_api_add(api, "forward.connect", MRPC_DUPLEX, forward_connect, ctx) != 0) {
		free(ctx);
		return -ENOMEM;
	}
	s->ctx = ctx;
	return 0;
}

/* Resolves svc->host once: a forward then never waits on DNS, and a name
 * that does not exist is refused at start, not at the first connection. */
static int resolve(struct fwd_service *svc, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL, *pick = NULL;
	char ip[INET6_ADDRSTRLEN];
	const char *h = svc->host;
	char unbr[sizeof(svc->host)];
	int rc;

	/* "[::1]" as well as "::1" */
	if (h[0] == '[' && strlen(h) > 2 && h[strlen(h) - 1] == ']') {
		snprintf(unbr, sizeof(unbr), "%.*s", (int)strlen(h) - 2, h + 1);
		h = unbr;
	}
	rc = getaddrinfo(h, NULL, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot resolve host '%s': %s", svc->host,
		         rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return rc == EAI_AGAIN || rc == EAI_SYSTEM || rc == EAI_MEMORY ? -EAGAIN : -EINVAL;
	}
	for (struct addrinfo *a = res; a != NULL && pick == NULL; a = a->ai_next)
		if (a->ai_family == AF_INET)
			pick = a;
	for (struct addrinfo *a = res; a != NULL && pick == NULL; a = a->ai_next)
		if (a->ai_family == AF_INET6)
			pick = a;
	if (pick == NULL) {
		freeaddrinfo(res);
		snprintf(err, errlen, "host '%s' has no IPv4 or IPv6 address", svc->host);
		return -EINVAL;
	}
	memcpy(&svc->sa, pick->ai_addr, pick->ai_addrlen);
	freeaddrinfo(res);
	if (svc->sa.ss_family == AF_INET) {
		((struct sockaddr_in *)&svc->sa)->sin_port = htons(svc->port);
		uv_ip4_name((struct sockaddr_in *)&svc->sa, ip, sizeof(ip));
		snprintf(svc->addr, sizeof(svc->addr), "%s:%u", ip, svc->port);
	} else {
		((struct sockaddr_in6 *)&svc->sa)->sin6_port = htons(svc->port);
		uv_ip6_name((struct sockaddr_in6 *)&svc->sa, ip, sizeof(ip));
		snprintf(svc->addr, sizeof(svc->addr), "[%s]:%u", ip, svc->port);
	}
	return 0;
}

int fwd_service_parse(struct fwd_services *s, const char *spec, char *err, size_t errlen)
{
	const char *eq = strchr(spec, '='), *colon;
	struct fwd_service *v, svc = { 0 };
	char *end;
	unsigned long port;
	int rc;

	if (eq == NULL || eq == spec || (size_t)(eq - spec) >= sizeof(svc.name)) {
		snprintf(err, errlen, "expected NAME=HOST:PORT");
		return -EINVAL;
	}
	colon = strrchr(eq, ':');
	if (colon == NULL || colon == eq + 1 || (size_t)(colon - eq - 1) >= sizeof(svc.host)) {
		snprintf(err, errlen, "expected NAME=HOST:PORT");
		return -EINVAL;
	}
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || end == colon + 1 || port == 0 || port > 65535) {
		snprintf(err, errlen, "port must be 1..65535");
		return -EINVAL;
	}
	memcpy(svc.name, spec, (size_t)(eq - spec));
	memcpy(svc.host, eq + 1, (size_t)(colon - eq - 1));
	svc.port = (uint16_t)port;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].name, svc.name) == 0) {
			snprintf(err, errlen, "service '%s' is already exposed (as %s)", svc.name,
			         s->v[i].addr);
			return -EINVAL;
		}
	if ((rc = resolve(&svc, err, errlen)) != 0)
		return rc;
	v = realloc(s->v, (s->n + 1) * sizeof(*v));
	if (v == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->v = v;
	s->v[s->n++] = svc;
	return 0;
}

void fwd_services_free(struct fwd_services *s)
{
	free(s->v);
	free(s->ctx);
	s->v = NULL;
	s->ctx = NULL;
	s->n = 0;
}

/* ---- client side: -L ---- */

#define FWD_WAITING_MAX 64

struct fwd_listener {
	uv_tcp_t tcp;
	char service[64];
	struct conn **session;
	/* fwd_listener_wait: connections that came with no session wait
	 * here, accepted but unread, until fwd_listener_flush. */
	void (*want)(void *ud);
	void *want_ud;
	struct pipe *waiting[FWD_WAITING_MAX];
	size_t n_waiting;
};

/* Opens forward.connect on m for an accepted local connection p. */
static void pipe_open_forward(struct pipe *p, struct mrpc *m, const char *service)
{
	struct mrpc_stream *s;

	s = mrpc_open(m, "forward.connect", json_pack("[{s:s}]", "service", service),
	              MRPC_DUPLEX, &pipe_cbs, p);
	if (s == NULL) {
		pipe_close_tcp(p);
		return;
	}
	pipe_attach(p, s);
	uv_read_start((uv_stream_t *)&p->tcp, alloc_cb, read_cb);
}

static void on_accept(uv_stream_t *server, int status)
{
	struct fwd_listener *l = server->data;
	struct mrpc *m = *l->session != NULL ? conn_rpc(*l->session) : NULL;
	struct pipe *p;

	if (status < 0)
		return;
	p = pipe_new(server->loop);
	if (p == NULL)
		return;
	snprintf(p->service, sizeof(p->service), "%s", l->service);
	if (uv_accept(server, (uv_stream_t *)&p->tcp) < 0) {
		pipe_close_tcp(p);
		return;
	}
	uv_tcp_nodelay(&p->tcp, 1);
	p->connected = true;
	if (m == NULL && l->want != NULL && l->n_waiting < FWD_WAITING_MAX) {
		l->waiting[l->n_waiting++] = p;
		l->want(l->want_ud);   /* may flush at once */
		return;
	}
	if (m == NULL) {
		log_warn("forward: no session %s; refusing a local connection for '%s'",
		         l->want != NULL ? "and too many waiting" : "yet", l->service);
		pipe_close_tcp(p);
		return;
	}
	pipe_open_forward(p, m, l->service);
}

void fwd_listener_wait(struct fwd_listener *l, void (*want)(void *ud), void *ud)
{
	l->want = want;
	l->want_ud = ud;
}

size_t fwd_listener_flush(struct fwd_listener *l, const char *why)
{
	struct mrpc *m = *l->session != NULL ? conn_rpc(*l->session) : NULL;
	size_t n = l->n_waiting;

	l->n_waiting = 0;
	for (size_t i = 0; i < n; i++) {
		if (m != NULL) {
			pipe_open_forward(l->waiting[i], m, l->service);
			continue;
		}
		log_warn("forward: refusing a local connection for '%s': %s", l->service,
		         why != NULL ? why : "no session");
		pipe_close_tcp(l->waiting[i]);
	}
	return n;
}

size_t fwd_listener_waiting(const struct fwd_listener *l)
{
	return l->n_waiting;
}

static void listener_closed(uv_handle_t *h)
{
	free(h->data);
}

void fwd_listener_close(struct fwd_listener *l)
{
	if (l == NULL || uv_is_closing((uv_handle_t *)&l->tcp))
		return;
	for (size_t i = 0; i < l->n_waiting; i++)
		pipe_close_tcp(l->waiting[i]);
	l->n_waiting = 0;
	uv_close((uv_handle_t *)&l->tcp, listener_closed);
}

int fwd_listen(uv_loop_t *loop, const char *host, uint16_t port, const char *service,
               struct conn **session, struct fwd_listener **out, char *err, size_t errlen)
{
	struct fwd_listener *l = calloc(1, sizeof(*l));
	struct sockaddr_storage ss;
	int rc;

	if (l == NULL)
		return -ENOMEM;
	snprintf(l->service, sizeof(l->service), "%s", service);
	l->session = session;
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
		/* a name ("localhost"): resolved as --expose's are */
		struct fwd_service tmp = { .port = port };

		snprintf(tmp.host, sizeof(tmp.host), "%s", host);
		if ((rc = resolve(&tmp, err, errlen)) != 0) {
			free(l);
			return rc;
		}
		ss = tmp.sa;
	}
	uv_tcp_init(loop, &l->tcp);
	l->tcp.data = l;
	rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&l->tcp, 64, on_accept);
	if (rc < 0) {
		bool v6 = strchr(host, ':') != NULL;

		snprintf(err, errlen, "cannot listen on %s%s%s:%u: %s", v6 ? "[" : "", host,
		         v6 ? "]" : "", port, uv_strerror(rc));
		uv_close((uv_handle_t *)&l->tcp, listener_closed);
		return rc;
	}
	*out = l;
	return 0;
}
