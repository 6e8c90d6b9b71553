/* ctl — see ctl.h. */
#include "ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "keys.h"
#include "log.h"

#define CTL_REQUEST_MAX (512u << 10)   /* one line; room texts reach 64 KiB */
#define CTL_REPLY_MAX (16u << 20)

struct ctl {
	uv_pipe_t server;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	ctl_handler_fn *fn;
	void *ud;
};

/* One client connection. */
struct ctl_client {
	uv_pipe_t pipe;
	struct ctl *ctl;
	size_t len;
	bool answered;
	char buf[CTL_REQUEST_MAX];
};

int ctl_default_path(const char *secret_path, char *out, size_t len)
{
	char secret[4096];
	char *slash;
	int n;

	/* Beside the secret: one identity, one portal, one socket. */
	if (secret_path != NULL)
		n = snprintf(secret, sizeof(secret), "%s", secret_path);
	else
		n = keys_default_path(secret, sizeof(secret)) == 0 ? 1 : -1;
	if (n < 0 || (size_t)n >= sizeof(secret))
		return -ENAMETOOLONG;
	slash = strrchr(secret, '/');
	if (slash != NULL)
		*slash = '\0';
	n = snprintf(out, len, "%s/portal.sock", slash != NULL ? secret : ".");
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void client_closed(uv_handle_t *h)
{
	free(h->data);
}

static void reply_written(uv_write_t *req, int status)
{
	struct ctl_client *cl = req->data;

	free(req);
	uv_close((uv_handle_t *)&cl->pipe, client_closed);
}

static void send_reply(struct ctl_client *cl, json_t *reply)
{
	char *text = json_dumps(reply, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(CTL_REAL_DIGITS));
	size_t n = text != NULL ? strlen(text) : 0;
	struct { uv_write_t req; char data[]; } *w = malloc(sizeof(*w) + n + 1);
	uv_buf_t b;

	cl->answered = true;
	if (w == NULL || text == NULL) {
		free(text);
		free(w);
		uv_close((uv_handle_t *)&cl->pipe, client_closed);
		return;
	}
	memcpy(w->data, text, n);
	w->data[n] = '\n';
	free(text);
	w->req.data = cl;
	b = uv_buf_init(w->data, (unsigned)n + 1);
	if (uv_write(&w->req, (uv_stream_t *)&cl->pipe, &b, 1, reply_written) < 0) {
		free(w);
		uv_close((uv_handle_t *)&cl->pipe, client_closed);
	}
}

static void handle_line(struct ctl_client *cl)
{
	json_error_t jerr;
	json_t *req = json_loadb(cl->buf, cl->len, 0, &jerr), *reply = NULL;
	const char *cmd = json_string_value(json_object_get(req, "cmd"));

	if (cmd != NULL)
		reply = cl->ctl->fn(cmd, req, cl->ctl->ud);
	if (reply == NULL)
		reply = json_pack("{s:b,s:s}", "ok", 0, "error",
		                  cmd == NULL ? "expected {\"cmd\":\"…\"}" : "unknown command");
	send_reply(cl, reply);
	json_decref(reply);
	json_decref(req);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct ctl_client *cl = h->data;

	buf->base = cl->buf + cl->len;
	buf->len = sizeof(cl->buf) - cl->len;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct ctl_client *cl = s->data;
	char *nl;

	if (cl->answered)
		return;
	if (n < 0) {
		uv_close((uv_handle_t *)&cl->pipe, client_closed);
		return;
	}
	cl->len += (size_t)n;
	nl = memchr(cl->buf, '\n', cl->len);
	if (nl == NULL && cl->len < sizeof(cl->buf))
		return;
	uv_read_stop(s);
	if (nl == NULL) {
		json_t *r = json_pack("{s:b,s:s}", "ok", 0, "error", "request too long");

		send_reply(cl, r);
		json_decref(r);
		return;
	}
	cl->len = (size_t)(nl - cl->buf);
	handle_line(cl);
}

static void on_client(uv_stream_t *server, int status)
{
	struct ctl *c = server->data;
	struct ctl_client *cl;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	uv_os_fd_t fd;

	if (status < 0)
		return;
	cl = calloc(1, sizeof(*cl));
	if (cl == NULL)
		return;
	cl->ctl = c;
	uv_pipe_init(server->loop, &cl->pipe, 0);
	cl->pipe.data = cl;
	if (uv_accept(server, (uv_stream_t *)&cl->pipe) < 0) {
		uv_close((uv_handle_t *)&cl->pipe, client_closed);
		return;
	}
	/* The file mode already keeps others out; check anyway, as a socket's
	 * permissions are not honoured everywhere. */
	if (uv_fileno((uv_handle_t *)&cl->pipe, &fd) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 ||
	    (cred.uid != getuid() && cred.uid != 0)) {
		log_warn("control socket: refused a client of another user");
		uv_close((uv_handle_t *)&cl->pipe, client_closed);
		return;
	}
	uv_read_start((uv_stream_t *)&cl->pipe, alloc_cb, read_cb);
}

/* Is something listening on path? A stale file from a crashed portal is
 * safe to replace; a live portal's socket is not. */
static bool socket_alive(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	alive = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return alive;
}

int ctl_start(uv_loop_t *loop, const char *path, ctl_handler_fn *fn, void *ud,
              struct ctl **out, char *err, size_t errlen)
{
	struct ctl *c;
	mode_t old;
	int rc;

	if (strlen(path) >= sizeof(c->path)) {
		snprintf(err, errlen, "control socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	if (socket_alive(path)) {
		snprintf(err, errlen, "%s: another portal is already running there", path);
		return -EADDRINUSE;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->fn = fn;
	c->ud = ud;
	/* Left by a portal that died (kill -9, a crash): nobody answers it. */
	if (unlink(path) == 0)
		log_info("replaced a stale control socket %s (no portal answered on it)", path);
	uv_pipe_init(loop, &c->server, 0);
	c->server.data = c;
	old = umask(077);    /* the socket file is born 0600 */
	rc = uv_pipe_bind(&c->server, path);
	umask(old);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&c->server, 16, on_client);
	if (rc < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", path, uv_strerror(rc));
		uv_close((uv_handle_t *)&c->server, client_closed);
		return rc;
	}
	chmod(path, 0600);
	*out = c;
	return 0;
}

void ctl_stop(struct ctl *c)
{
	if (c == NULL)
		return;
	unlink(c->path);
	uv_close((uv_handle_t *)&c->server, client_closed);
}

/* ---- client ---- */

json_t *ctl_request(const char *path, const char *cmd, char *err, size_t errlen)
{
	json_t *req = json_pack("{s:s}", "cmd", cmd), *r;

	r = req != NULL ? ctl_request_json(path, req, err, errlen) : NULL;
	json_decref(req);
	return r;
}

json_t *ctl_request_json(const char *path, const json_t *req, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *line = NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	json_t *reply = NULL;
	json_error_t jerr;
	int fd = -1, n;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path too long");
		return NULL;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(err, errlen, "%s: %s (is a portal running?)", path, strerror(errno));
		goto out;
	}
	line = json_dumps(req, JSON_COMPACT);
	if (line == NULL || strlen(line) + 1 > CTL_REQUEST_MAX) {
		snprintf(err, errlen, "%s: request too long", path);
		goto out;
	}
	n = (int)strlen(line);
	line[n] = '\n';   /* over the NUL: written by length */
	if (write(fd, line, (size_t)n + 1) != n + 1) {
		snprintf(err, errlen, "%s: write failed", path);
		goto out;
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, 10000) <= 0) {
			snprintf(err, errlen, "%s: no answer within 10 s", path);
			goto out;
		}
		if (len == cap) {
			char *grown;

			if (cap >= CTL_REPLY_MAX) {
				snprintf(err, errlen, "%s: reply too large", path);
				goto out;
			}
			cap = cap ? cap * 2 : 65536;
			grown = realloc(buf, cap);
			if (grown == NULL)
				goto out;
			buf = grown;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	reply = json_loadb(buf, len, 0, &jerr);
	if (reply == NULL)
		snprintf(err, errlen, "%s: bad reply: %s", path, jerr.text);
out:
	if (fd >= 0)
		close(fd);
	free(line);
	free(buf);
	return reply;
}
