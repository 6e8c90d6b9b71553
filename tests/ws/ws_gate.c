/* ws_gate — TEST-ONLY, TEMPORARY: a portal (portal_start, TCP as always)
 * plus a bare loopback listener that does the WebSocket opening handshake
 * itself and hands each upgraded socket to portal_accept_ws(), the way
 * the HTTP listener (src/room/http.c, libmicrohttpd's upgrade hook) will.
 * It exists so tests/ws can drive portal_accept_ws from real peers
 * (fairway host/ping over ws://, raw bad frames) before that listener is
 * merged; once `fairway portal --http` serves WebSocket, the tests move
 * to it and this file goes. Not installed, not part of the portal.
 *
 *   ws_gate --secret FILE --caps B64 [--max-conns-per-ip N] [--handshake-timeout MS]
 *   stdout: net:127.0.0.1:P~shs:K
 *           ws://127.0.0.1:G~shs:K
 *
 * Its HTTP is the least a test needs (a head up to 8 KiB, one header
 * lookup); real request parsing is libmicrohttpd's job in the portal. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/socket.h>
#include <uv.h>

#include "keys.h"
#include "log.h"
#include "portal.h"
#include "ws.h"

struct gate_conn {
	uv_tcp_t tcp;
	char buf[8192];
	size_t len;
};

static struct portal *portal;
static uv_tcp_t gate;
static uv_signal_t sigterm, sigint;

static void gc_free(uv_handle_t *h)
{
	free(h->data);
}

static void refuse(struct gate_conn *g, const char *status)
{
	char r[128];
	uv_buf_t b;

	snprintf(r, sizeof(r), "HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	         status);
	b = uv_buf_init(r, (unsigned)strlen(r));
	(void)uv_try_write((uv_stream_t *)&g->tcp, &b, 1);
	uv_close((uv_handle_t *)&g->tcp, gc_free);
}

/* The value of header name (case-insensitive) in the head, or NULL. */
static const char *header(const char *head, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);

	for (const char *l = strstr(head, "\r\n"); l != NULL; l = strstr(l + 2, "\r\n")) {
		const char *s = l + 2, *e = strstr(s, "\r\n");

		if (e == NULL || strncasecmp(s, name, nl) != 0 || s[nl] != ':')
			continue;
		s += nl + 1;
		while (*s == ' ')
			s++;
		*vlen = (size_t)(e - s);
		return s;
	}
	return NULL;
}

static void upgrade(struct gate_conn *g, size_t headlen)
{
	char key[64], acc[WS_ACCEPT_LEN + 1], resp[256];
	const char *v;
	size_t vl;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	uv_os_fd_t fd;
	uv_buf_t b;
	int nfd, n;

	g->buf[headlen - 1] = '\0';   /* the last '\n': keeps "\r\n\r" */
	v = header(g->buf, "Upgrade", &vl);
	if (v == NULL || vl != 9 || strncasecmp(v, "websocket", 9) != 0) {
		refuse(g, "426 Upgrade Required");
		return;
	}
	v = header(g->buf, "Sec-WebSocket-Key", &vl);
	if (v == NULL || vl != WS_KEY_LEN) {
		refuse(g, "400 Bad Request");
		return;
	}
	memcpy(key, v, vl);
	key[vl] = '\0';
	if (ws_accept_key(key, vl, acc) != 0) {
		refuse(g, "500 Internal Server Error");
		return;
	}
	n = snprintf(resp, sizeof(resp), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	             "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acc);
	b = uv_buf_init(resp, (unsigned)n);
	if (uv_try_write((uv_stream_t *)&g->tcp, &b, 1) != n ||
	    uv_fileno((uv_handle_t *)&g->tcp, &fd) != 0 || (nfd = dup(fd)) < 0) {
		uv_close((uv_handle_t *)&g->tcp, gc_free);
		return;
	}
	if (getpeername(nfd, (struct sockaddr *)&ss, &sl) != 0)
		memset(&ss, 0, sizeof(ss));
	/* As libmicrohttpd will: the socket and the bytes read past the head. */
	(void)portal_accept_ws(portal, nfd, g->buf + headlen, g->len - headlen,
	                       (const struct sockaddr *)&ss);
	uv_read_stop((uv_stream_t *)&g->tcp);
	uv_close((uv_handle_t *)&g->tcp, gc_free);
}

static void g_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
	struct gate_conn *g = h->data;

	(void)sz;
	buf->base = g->buf + g->len;
	buf->len = sizeof(g->buf) - g->len - 1;
}

static void g_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct gate_conn *g = s->data;
	char *end;

	(void)buf;
	if (nread < 0) {
		uv_close((uv_handle_t *)s, gc_free);
		return;
	}
	g->len += (size_t)nread;
	g->buf[g->len] = '\0';
	end = strstr(g->buf, "\r\n\r\n");
	if (end != NULL)
		upgrade(g, (size_t)(end + 4 - g->buf));
	else if (g->len >= sizeof(g->buf) - 1)
		refuse(g, "431 Request Header Fields Too Large");
}

static void on_gate(uv_stream_t *server, int status)
{
	struct gate_conn *g;

	if (status < 0 || (g = calloc(1, sizeof(*g))) == NULL)
		return;
	uv_tcp_init(server->loop, &g->tcp);
	g->tcp.data = g;
	if (uv_accept(server, (uv_stream_t *)&g->tcp) != 0) {
		uv_close((uv_handle_t *)&g->tcp, gc_free);
		return;
	}
	uv_read_start((uv_stream_t *)&g->tcp, g_alloc, g_read);
}

static void on_signal(uv_signal_t *s, int sig)
{
	(void)s;
	(void)sig;
	portal_stop(portal);
	uv_close((uv_handle_t *)&gate, NULL);
	uv_close((uv_handle_t *)&sigterm, NULL);
	uv_close((uv_handle_t *)&sigint, NULL);
}

int main(int argc, char **argv)
{
	static struct keys id;
	uint8_t net_key[32];
	const char *secret = NULL, *caps = NULL;
	struct portal_cfg cfg = { .host = "127.0.0.1", .privacy = PORTAL_OPEN };
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int sl = sizeof(ss), c;
	char err[256], b64[KEYS_B64_LEN + 1];

	while ((c = getopt_long(argc, argv, "", (const struct option[]){
	                { "secret", required_argument, NULL, 's' },
	                { "caps", required_argument, NULL, 'k' },
	                { "max-conns-per-ip", required_argument, NULL, 'm' },
	                { "handshake-timeout", required_argument, NULL, 't' },
	                { NULL, 0, NULL, 0 } }, NULL)) != -1) {
		switch (c) {
		case 's': secret = optarg; break;
		case 'k': caps = optarg; break;
		case 'm': cfg.limits.conns_per_ip = (unsigned)atoi(optarg); break;
		case 't': cfg.handshake_timeout_ms = (unsigned)atoi(optarg); break;
		default: return 2;
		}
	}
	if (secret == NULL || caps == NULL || keys_pk_parse_b64(caps, strlen(caps), net_key) != 0) {
		fprintf(stderr, "usage: ws_gate --secret FILE --caps B64 [--max-conns-per-ip N] [--handshake-timeout MS]\n");
		return 2;
	}
	if (keys_load_file(secret, &id, err, sizeof(err)) != 0) {
		fprintf(stderr, "ws_gate: %s\n", err);
		return 2;
	}
	cfg.loop = uv_default_loop();
	cfg.id = &id;
	cfg.net_key = net_key;
	if (portal_start(&cfg, &portal, err, sizeof(err)) != 0) {
		fprintf(stderr, "ws_gate: %s\n", err);
		return 1;
	}
	uv_tcp_init(cfg.loop, &gate);
	uv_ip4_addr("127.0.0.1", 0, &sa);
	if (uv_tcp_bind(&gate, (const struct sockaddr *)&sa, 0) != 0 ||
	    uv_listen((uv_stream_t *)&gate, 128, on_gate) != 0 ||
	    uv_tcp_getsockname(&gate, (struct sockaddr *)&ss, &sl) != 0) {
		fprintf(stderr, "ws_gate: cannot listen\n");
		return 1;
	}
	keys_pk_format_b64(b64, id.pk);
	printf("%s\nws://127.0.0.1:%u~shs:%s\n", portal_address(portal),
	       (unsigned)ntohs(((struct sockaddr_in *)&ss)->sin_port), b64);
	fflush(stdout);
	uv_signal_init(cfg.loop, &sigterm);
	uv_signal_init(cfg.loop, &sigint);
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_signal_start(&sigint, on_signal, SIGINT);
	uv_run(cfg.loop, UV_RUN_DEFAULT);
	portal_free(portal);
	return 0;
}
