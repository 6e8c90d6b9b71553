/* http — libmicrohttpd driven from the libuv loop (see http.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "util.h"

#define HTTP_MAX_ROUTES 64

struct route {
	char *method;            /* NULL: any */
	char *path;
	size_t path_len;
	enum http_match match;
	http_handler fn;
	void *ud;
};

struct http {
	struct http_cfg cfg;
	struct MHD_Daemon *d;
	int listen_fd;
	uint16_t port;
	uv_poll_t poll;
	uv_timer_t timer;
	int open_handles;
	bool stopped;
	struct route routes[HTTP_MAX_ROUTES];
	size_t n_routes;
	struct route upgrade;   /* http_set_upgrade: any path, before the routes */
};

/* One per request (MHD's con_cls): the body as it arrives. */
struct reqctx {
	const struct route *route;
	char *body;
	size_t len, cap;
	bool too_big;
};

static void http_update(struct http *h);

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct http *h = p->data;

	(void)status;
	(void)events;
	MHD_run(h->d);
	http_update(h);
}

static void on_timer(uv_timer_t *t)
{
	struct http *h = t->data;

	MHD_run(h->d);
	http_update(h);
}

/* After every MHD_run: MHD may have work that no fd will announce
 * (timeouts, connections whose edge-triggered events it has buffered). */
static void http_update(struct http *h)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (h->stopped)
		return;
	if (MHD_get_timeout(h->d, &ms) == MHD_YES)
		uv_timer_start(&h->timer, on_timer, ms > 60000 ? 60000 : (uint64_t)ms, 0);
	else
		uv_timer_start(&h->timer, on_timer, 1000, 0);
}

__attribute__((format(printf, 2, 0)))
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_debug("http: %s", buf);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct reqctx *rc = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (rc != NULL) {
		free(rc->body);
		free(rc);
		*con_cls = NULL;
	}
}

/* The most specific route whose path matches (longest path; exact before
 * prefix at the same length), then among those the one for the method.
 * *path_matched: some route has this path (405 rather than 404). */
static const struct route *route_find(const struct http *h, const char *method,
                                      const char *path, bool *path_matched)
{
	const struct route *best = NULL;
	size_t plen = strlen(path), best_len = 0;
	bool best_exact = false;

	*path_matched = false;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < h->n_routes; i++) {
			const struct route *r = &h->routes[i];
			bool hit = r->match == HTTP_EXACT ? strcmp(r->path, path) == 0
			         : plen >= r->path_len && memcmp(r->path, path, r->path_len) == 0;

			if (!hit)
				continue;
			if (pass == 0) {   /* find the most specific path */
				if (!*path_matched || r->path_len > best_len ||
				    (r->path_len == best_len && r->match == HTTP_EXACT && !best_exact)) {
					best_len = r->path_len;
					best_exact = r->match == HTTP_EXACT;
				}
				*path_matched = true;
				continue;
			}
			if (r->path_len != best_len || (r->match == HTTP_EXACT) != best_exact)
				continue;
			/* HEAD is served by the GET route (MHD drops the body) */
			if (r->method != NULL && strcmp(r->method, method) != 0 &&
			    !(strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0))
				continue;
			if (best == NULL || best->method == NULL)
				best = r;   /* a route for this method beats one for any */
		}
	return best;
}

static enum MHD_Result add_headers_and_queue(struct MHD_Connection *c, unsigned status,
                                             struct MHD_Response *resp)
{
	enum MHD_Result ret;

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Security-Policy",
	                        "default-src 'self'; img-src 'self' data:; "
	                        "frame-ancestors 'none'; form-action 'self'");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
	if (MHD_get_response_header(resp, "Cache-Control") == NULL)
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result plain(struct MHD_Connection *c, unsigned status, const char *text)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(strlen(text), (void *)(uintptr_t)text,
		                                MHD_RESPMEM_PERSISTENT);

	if (resp != NULL)
		MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
	return add_headers_and_queue(c, status, resp);
}

static void peer_text(struct MHD_Connection *c, char *out, size_t outlen)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

	snprintf(out, outlen, "?");
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)outlen);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, (socklen_t)outlen);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
	struct http *h = cls;
	struct reqctx *rc = *con_cls;
	struct http_req req;
	char peer[INET6_ADDRSTRLEN + 1];
	const char *host;

	(void)version;
	if (rc == NULL) {
		/* First call: headers only. Refuse what we can before any body. */
		bool path_matched;
		const struct route *r = route_find(h, method, url, &path_matched);
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
		const char *up = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Upgrade");

		/* An upgrade on any path (as go-ssb-room): answered from the head,
		 * a request that carries a body is no upgrade of ours. */
		if (up != NULL && h->upgrade.fn != NULL && strcasecmp(up, "websocket") == 0) {
			host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
			peer_text(c, peer, sizeof(peer));
			req = (struct http_req){
				.conn = c, .method = method, .path = url, .rest = url,
				.host = host != NULL ? host : "", .peer = peer, .body = "",
				.ud = h->upgrade.ud,
			};
			if (cl != NULL && strcmp(cl, "0") != 0)
				return plain(c, MHD_HTTP_BAD_REQUEST, "an upgrade request has no body\n");
			return h->upgrade.fn(&req);
		}

		if (r == NULL)
			return plain(c, path_matched ? MHD_HTTP_METHOD_NOT_ALLOWED : MHD_HTTP_NOT_FOUND,
			             path_matched ? "method not allowed\n" : "not found\n");
		if (cl != NULL && strtoull(cl, NULL, 10) > h->cfg.max_body)
			return plain(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
		rc = calloc(1, sizeof(*rc));
		if (rc == NULL)
			return MHD_NO;
		rc->route = r;
		*con_cls = rc;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;   /* consumed (or dropped when too big) */
		if (rc->too_big || rc->len + n > h->cfg.max_body) {
			rc->too_big = true;
			return MHD_YES;
		}
		if (rc->len + n + 1 > rc->cap) {
			size_t cap = rc->cap == 0 ? 1024 : rc->cap;
			char *grown;

			while (cap < rc->len + n + 1)
				cap *= 2;
			grown = realloc(rc->body, cap);
			if (grown == NULL)
				return MHD_NO;
			rc->body = grown;
			rc->cap = cap;
		}
		memcpy(rc->body + rc->len, upload_data, n);
		rc->len += n;
		rc->body[rc->len] = '\0';
		return MHD_YES;
	}
	if (rc->too_big)
		return plain(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
	host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
	peer_text(c, peer, sizeof(peer));
	req = (struct http_req){
		.conn = c, .method = method, .path = url,
		.rest = url + (strlen(url) >= rc->route->path_len ? rc->route->path_len : strlen(url)),
		.host = host != NULL ? host : "", .peer = peer,
		.body = rc->body != NULL ? rc->body : "", .body_len = rc->len,
		.ud = rc->route->ud,
	};
	return rc->route->fn(&req);
}

enum MHD_Result http_reply(struct http_req *r, unsigned status, const char *ctype,
                           const char *body, size_t len)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);

	if (resp != NULL && ctype != NULL)
		MHD_add_response_header(resp, "Content-Type", ctype);
	return add_headers_and_queue(r->conn, status, resp);
}

enum MHD_Result http_queue(struct http_req *r, unsigned status, struct MHD_Response *resp)
{
	return add_headers_and_queue(r->conn, status, resp);
}

const char *http_query(struct http_req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_header(struct http_req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, key);
}

void http_set_upgrade(struct http *h, http_handler fn, void *ud)
{
	h->upgrade.fn = fn;
	h->upgrade.ud = ud;
}

int http_route(struct http *h, const char *method, const char *path,
               enum http_match match, http_handler fn, void *ud)
{
	struct route *r;

	for (size_t i = 0; i < h->n_routes; i++)
		if (h->routes[i].match == match && strcmp(h->routes[i].path, path) == 0 &&
		    ((method == NULL && h->routes[i].method == NULL) ||
		     (method != NULL && h->routes[i].method != NULL &&
		      strcmp(method, h->routes[i].method) == 0)))
			return -EEXIST;
	if (h->n_routes == HTTP_MAX_ROUTES)
		return -ENOSPC;
	r = &h->routes[h->n_routes];
	*r = (struct route){ .match = match, .fn = fn, .ud = ud, .path_len = strlen(path) };
	r->path = strdup(path);
	r->method = method != NULL ? strdup(method) : NULL;
	if (r->path == NULL || (method != NULL && r->method == NULL)) {
		free(r->path);
		free(r->method);
		return -ENOMEM;
	}
	h->n_routes++;
	return 0;
}

static int listen_socket(const char *host, uint16_t port, int *fd_out, uint16_t *port_out,
                         bool *v6, char *err, size_t errlen)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl;
	int fd, one = 1, e;

	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		sl = sizeof(*s4);
		*v6 = false;
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		sl = sizeof(*s6);
		*v6 = true;
	} else {
		util_set_err(err, errlen, "--http: '%s' is not a numeric IPv4 or IPv6 address", host);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		e = errno;
		util_set_err(err, errlen, "--http: socket: %s", strerror(e));
		return -e;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 512) != 0) {
		e = errno;
		util_set_err(err, errlen, "--http: cannot listen on %s:%u: %s", host, port, strerror(e));
		close(fd);
		return -e;
	}
	sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	*port_out = ntohs(ss.ss_family == AF_INET ? s4->sin_port : s6->sin6_port);
	*fd_out = fd;
	return 0;
}

int http_start(const struct http_cfg *cfg, struct http **out, char *err, size_t errlen)
{
	struct http *h;
	const union MHD_DaemonInfo *di;
	bool v6 = false;
	int rc;

	*out = NULL;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	h->cfg = *cfg;
	if (h->cfg.max_body == 0)
		h->cfg.max_body = 16 * 1024;
	if (h->cfg.timeout_s == 0)
		h->cfg.timeout_s = 15;
	if (h->cfg.max_conns == 0)
		h->cfg.max_conns = 1024;
	h->listen_fd = -1;
	rc = listen_socket(cfg->host, cfg->port, &h->listen_fd, &h->port, &v6, err, errlen);
	if (rc != 0)
		goto fail;
	h->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG |
	                        (v6 ? MHD_USE_IPv6 : 0),
	                        0, NULL, NULL, on_request, h,
	                        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)h->listen_fd,
	                        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)h->cfg.timeout_s,
	                        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)h->cfg.per_ip,
	                        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)h->cfg.max_conns,
	                        /* request line + headers must fit in this */
	                        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(16 * 1024),
	                        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
	                        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
	                        MHD_OPTION_END);
	if (h->d == NULL) {
		util_set_err(err, errlen, "--http: libmicrohttpd did not start on %s:%u", cfg->host, h->port);
		rc = -EIO;
		goto fail;
	}
	di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
	if (di == NULL) {
		util_set_err(err, errlen, "--http: libmicrohttpd has no epoll fd");
		rc = -EIO;
		goto fail;
	}
	uv_poll_init(cfg->loop, &h->poll, di->epoll_fd);
	uv_timer_init(cfg->loop, &h->timer);
	h->poll.data = h->timer.data = h;
	h->open_handles = 2;
	uv_poll_start(&h->poll, UV_READABLE, on_poll);
	http_update(h);
	*out = h;
	return 0;
fail:
	if (h->d != NULL)
		MHD_stop_daemon(h->d);
	else if (h->listen_fd >= 0)
		close(h->listen_fd);
	free(h);
	return rc;
}

uint16_t http_port(const struct http *h) { return h->port; }

static void on_closed(uv_handle_t *hd)
{
	struct http *h = hd->data;

	h->open_handles--;
}

void http_stop(struct http *h)
{
	if (h == NULL || h->stopped)
		return;
	h->stopped = true;
	uv_close((uv_handle_t *)&h->poll, on_closed);
	uv_close((uv_handle_t *)&h->timer, on_closed);
}

void http_free(struct http *h)
{
	if (h == NULL)
		return;
	if (!h->stopped)
		http_stop(h);
	/* The handles are closed (the loop ran after http_stop). */
	MHD_stop_daemon(h->d);   /* closes connections and the listen socket */
	for (size_t i = 0; i < h->n_routes; i++) {
		free(h->routes[i].path);
		free(h->routes[i].method);
	}
	free(h);
}

/* ---- decoding ---------------------------------------------------------- */

int http_form_parse(const char *text, size_t len, size_t max_pairs,
                    http_form_cb cb, void *ctx)
{
	size_t pos = 0, pairs = 0;
	char *buf = NULL;
	int rc = 0;

	if (len == 0)
		return 0;
	buf = malloc(len + 1);
	if (buf == NULL)
		return -ENOMEM;
	while (pos <= len && rc == 0) {
		const char *seg = text + pos;
		const char *amp = memchr(seg, '&', len - pos);
		size_t slen = amp != NULL ? (size_t)(amp - seg) : len - pos;
		char *eq, *key, *val;
		size_t klen, vlen;

		pos += slen + 1;
		if (slen == 0)
			continue;             /* "a=1&&b=2", trailing '&' */
		if (++pairs > max_pairs) {
			rc = -E2BIG;
			break;
		}
		if (memchr(seg, '\0', slen) != NULL) {
			rc = -EINVAL;
			break;
		}
		memcpy(buf, seg, slen);
		buf[slen] = '\0';
		eq = strchr(buf, '=');
		key = buf;
		val = eq != NULL ? eq + 1 : buf + slen;
		if (eq != NULL)
			*eq = '\0';
		for (char *p = buf; p < buf + slen; p++)
			if (*p == '+')
				*p = ' ';
		/* MHD_http_unescape decodes %XX in place; a %00 would cut the
		 * text short, which we refuse rather than silently truncate. */
		klen = MHD_http_unescape(key);
		vlen = MHD_http_unescape(val);
		if (klen == 0 || klen != strlen(key) || vlen != strlen(val)) {
			rc = -EINVAL;
			break;
		}
		rc = cb(ctx, key, val);
	}
	free(buf);
	return rc;
}

int http_media_type(const char *ctype, char *out, size_t outlen)
{
	size_t n = 0;
	const char *p = ctype;

	if (ctype == NULL || outlen == 0)
		return -EINVAL;
	while (*p == ' ' || *p == '\t')
		p++;
	for (; *p != '\0' && *p != ';' && *p != ' ' && *p != '\t'; p++) {
		char ch = *p;

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      strchr("/+-.!#$&^_", ch) != NULL))
			return -EINVAL;
		if (n + 1 >= outlen)
			return -EINVAL;
		out[n++] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
	}
	out[n] = '\0';
	if (n == 0 || strchr(out, '/') == NULL)
		return -EINVAL;
	return 0;
}
