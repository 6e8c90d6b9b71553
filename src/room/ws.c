/* ws — see ws.h. wslay's event API wants non-blocking recv/send
 * callbacks; recv is served from the buffer ws_feed was given, send goes
 * straight to ops->send. */
#include "ws.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <sodium.h>
#include <strings.h>
#include <wslay/wslay.h>

struct ws {
	wslay_event_context_ptr ctx;
	const struct ws_ops *ops;
	void *arg;
	const uint8_t *in;          /* the bytes of the ws_feed call running */
	size_t inlen;
	uint64_t heard_ms, ping_ms; /* last message from the peer, last ping */
	uint64_t wire, payload;
	bool finished;
	bool in_feed;               /* inside wslay_event_recv: queue, do not send */
	uint16_t code;              /* the close code we queued, if any */
	char why[64];
};

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user)
{
	struct ws *w = user;
	size_t n = len < w->inlen ? len : w->inlen;

	(void)flags;
	if (n == 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	memcpy(buf, w->in, n);
	w->in += n;
	w->inlen -= n;
	return (ssize_t)n;
}

static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
	struct ws *w = user;
	long n = w->ops->send(w->arg, data, len);

	(void)flags;
	if (n == -EAGAIN || n == 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (n < 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	w->wire += (uint64_t)n;
	return (ssize_t)n;
}

static int on_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
	struct ws *w = user;

	(void)ctx;
	w->ops->random(w->arg, buf, len);
	return 0;
}

static void queue_close(struct ws *w, uint16_t code, const char *why)
{
	if (w->code == 0) {
		w->code = code;
		snprintf(w->why, sizeof(w->why), "%s", why);
	}
	(void)wslay_event_queue_close(w->ctx, code, (const uint8_t *)why, strlen(why));
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                   void *user)
{
	struct ws *w = user;

	(void)ctx;
	switch (a->opcode) {
	case WSLAY_BINARY_FRAME:
		/* After our clean close (1000: the SSB goodbyes are out) the
		 * peer may still be sending, as over a half-closed TCP socket;
		 * after a close for a fault nothing more goes up. */
		if (w->code == 0 || w->code == 1000)
			w->ops->message(w->arg, a->msg, a->msg_length);
		break;
	case WSLAY_TEXT_FRAME:
		queue_close(w, 1003, "text frame (SSB over WebSocket is binary)");
		break;
	case WSLAY_CONNECTION_CLOSE:
		if (w->code == 0) {
			w->code = a->status_code;
			snprintf(w->why, sizeof(w->why), "peer closed (%u)", a->status_code);
		}
		break;
	default:                    /* ping (wslay answers it), pong */
		break;
	}
}

/* wslay reports protocol errors by queueing its own close (1002, 1009)
 * and returning from recv; check once per call whether we are done. */
static int settle(struct ws *w, int rc)
{
	if (w->finished)
		return -EPIPE;
	if (w->in_feed)             /* ws_feed settles once wslay is out */
		return 0;
	if (rc != 0 || (!wslay_event_want_read(w->ctx) && !wslay_event_want_write(w->ctx))) {
		uint16_t code = w->code;

		if (code == 0)
			code = wslay_event_get_status_code_sent(w->ctx);
		if (code == WSLAY_CODE_MESSAGE_TOO_BIG && w->why[0] == '\0')
			snprintf(w->why, sizeof(w->why), "message over the size limit");
		else if (code == WSLAY_CODE_PROTOCOL_ERROR && w->why[0] == '\0')
			snprintf(w->why, sizeof(w->why), "WebSocket protocol error");
		else if (w->why[0] == '\0')
			snprintf(w->why, sizeof(w->why), rc != 0 ? "socket error" : "closed");
		w->finished = true;
		w->ops->finished(w->arg, code, w->why);
		return -EPIPE;
	}
	return 0;
}

struct ws *ws_new(bool is_client, size_t max_msg, const struct ws_ops *ops, void *arg,
                  uint64_t now_ms)
{
	static const struct wslay_event_callbacks cb = {
		.recv_callback = on_recv,
		.send_callback = on_send,
		.genmask_callback = on_genmask,
		.on_msg_recv_callback = on_msg,
	};
	struct ws *w = calloc(1, sizeof(*w));
	int rc;

	if (w == NULL)
		return NULL;
	w->ops = ops;
	w->arg = arg;
	w->heard_ms = w->ping_ms = now_ms;
	rc = is_client ? wslay_event_context_client_init(&w->ctx, &cb, w)
	               : wslay_event_context_server_init(&w->ctx, &cb, w);
	if (rc != 0) {
		free(w);
		return NULL;
	}
	wslay_event_config_set_max_recv_msg_length(w->ctx, max_msg != 0 ? max_msg
	                                                                 : WS_MAX_MSG_DEFAULT);
	return w;
}

void ws_free(struct ws *w)
{
	if (w == NULL)
		return;
	wslay_event_context_free(w->ctx);
	free(w);
}

int ws_feed(struct ws *w, const uint8_t *p, size_t len, uint64_t now_ms)
{
	int rc;

	if (w->finished)
		return -EPIPE;
	if (len > 0)
		w->heard_ms = now_ms;
	w->in = p;
	w->inlen = len;
	/* ops->message may answer at once (the SHS reply): ws_send then only
	 * queues, and what it queued goes out below. */
	w->in_feed = true;
	rc = wslay_event_recv(w->ctx);
	w->in_feed = false;
	w->in = NULL;
	w->inlen = 0;
	if (rc == 0)
		rc = wslay_event_send(w->ctx);
	return settle(w, rc);
}

int ws_send(struct ws *w, const uint8_t *p, size_t len)
{
	struct wslay_event_msg m = { .opcode = WSLAY_BINARY_FRAME, .msg = p, .msg_length = len };
	int rc;

	if (w->finished || wslay_event_get_close_sent(w->ctx))
		return -EPIPE;
	rc = wslay_event_queue_msg(w->ctx, &m);
	if (rc == WSLAY_ERR_NOMEM)
		return -ENOMEM;
	if (rc != 0)
		return -EPIPE;
	w->payload += len;
	if (w->in_feed)
		return 0;
	return settle(w, wslay_event_send(w->ctx));
}

int ws_flush(struct ws *w)
{
	if (w->finished)
		return -EPIPE;
	return settle(w, wslay_event_send(w->ctx));
}

int ws_tick(struct ws *w, uint64_t now_ms)
{
	if (w->finished)
		return -EPIPE;
	if (now_ms - w->heard_ms >= WS_DEAD_MS && !wslay_event_get_close_sent(w->ctx)) {
		queue_close(w, 1001, "no answer to pings for 60 s");
		/* Nobody is listening for the peer's close: we are done. */
		wslay_event_shutdown_read(w->ctx);
	} else if (now_ms - w->ping_ms >= WS_PING_MS && !wslay_event_get_close_sent(w->ctx)) {
		struct wslay_event_msg m = { .opcode = WSLAY_PING };

		w->ping_ms = now_ms;
		if (wslay_event_queue_msg(w->ctx, &m) == WSLAY_ERR_NOMEM)
			return -ENOMEM;
	}
	return settle(w, wslay_event_send(w->ctx));
}

int ws_close(struct ws *w, uint16_t code, const char *why)
{
	if (w->finished)
		return -EPIPE;
	queue_close(w, code, why);
	if (w->in_feed)
		return 0;
	return settle(w, wslay_event_send(w->ctx));
}

void ws_alive(struct ws *w, uint64_t now_ms)
{
	w->heard_ms = now_ms;
}

size_t ws_queued(const struct ws *w)
{
	return wslay_event_get_queued_msg_length(w->ctx);
}

uint64_t ws_wire_bytes(const struct ws *w)
{
	return w->wire;
}

uint64_t ws_payload_bytes(const struct ws *w)
{
	return w->payload;
}

bool ws_is_finished(const struct ws *w)
{
	return w->finished;
}

/* ---- the opening handshake ---- */

int ws_accept_key(const char *key, size_t keylen, char out[WS_ACCEPT_LEN + 1])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	char buf[128];
	uint8_t h[20];

	if (keylen > sizeof(buf) - (sizeof(guid) - 1))
		return -EIO;
	memcpy(buf, key, keylen);
	memcpy(buf + keylen, guid, sizeof(guid) - 1);
	if (gnutls_hash_fast(GNUTLS_DIG_SHA1, buf, keylen + sizeof(guid) - 1, h) != 0)
		return -EIO;
	sodium_bin2base64(out, WS_ACCEPT_LEN + 1, h, sizeof(h), sodium_base64_VARIANT_ORIGINAL);
	return 0;
}

void ws_client_key(const uint8_t nonce[16], char key[WS_KEY_LEN + 1])
{
	sodium_bin2base64(key, WS_KEY_LEN + 1, nonce, 16, sodium_base64_VARIANT_ORIGINAL);
}

/*   GET /path HTTP/1.1
 *   Host: host:port            (IPv6 bracketed)
 *   Upgrade: websocket
 *   Connection: Upgrade
 *   Sec-WebSocket-Key: <key>
 *   Sec-WebSocket-Version: 13                                        */
int ws_client_request(char *out, size_t outlen, const char *host, uint16_t port,
                      const char *path, const char *key)
{
	bool v6 = strchr(host, ':') != NULL;
	/* An IPv6 zone names an interface here, nothing to the server: it
	 * stays out of Host (RFC 6874 §4). */
	int hl = (int)strcspn(host, "%");
	int n = snprintf(out, outlen,
	                 "GET %s HTTP/1.1\r\nHost: %s%.*s%s:%u\r\nUpgrade: websocket\r\n"
	                 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	                 "Sec-WebSocket-Version: 13\r\n\r\n",
	                 path[0] != '\0' ? path : "/", v6 ? "[" : "", hl, host, v6 ? "]" : "",
	                 (unsigned)port, key);

	if (n < 0 || (size_t)n >= outlen)
		return -ENOSPC;
	return n;
}

/* The value of header name in head (case-insensitive name, spaces
 * trimmed), or NULL; *vlen gets its length. */
static const char *header(const char *head, size_t len, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);

	for (const char *l = memchr(head, '\n', len); l != NULL && l + 1 < head + len;
	     l = memchr(l + 1, '\n', (size_t)(head + len - l - 1))) {
		const char *s = l + 1, *e = memchr(s, '\r', (size_t)(head + len - s));

		if (e == NULL || (size_t)(e - s) <= nl || s[nl] != ':' || strncasecmp(s, name, nl) != 0)
			continue;
		s += nl + 1;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		*vlen = (size_t)(e - s);
		return s;
	}
	return NULL;
}

static bool has_token(const char *v, size_t vlen, const char *tok)
{
	size_t tl = strlen(tok);

	for (size_t i = 0; i + tl <= vlen; i++)
		if (strncasecmp(v + i, tok, tl) == 0 && (i == 0 || v[i - 1] == ',' || v[i - 1] == ' ') &&
		    (i + tl == vlen || v[i + tl] == ',' || v[i + tl] == ' '))
			return true;
	return false;
}

int ws_client_response(const uint8_t *p, size_t len, const char *key, char *err, size_t errlen)
{
	const char *head = (const char *)p, *v;
	const uint8_t *end = NULL;
	char want[WS_ACCEPT_LEN + 1];
	size_t hl, vlen;

	for (size_t i = 0; i + 4 <= len && i <= WS_HEAD_MAX && end == NULL; i++)
		if (memcmp(p + i, "\r\n\r\n", 4) == 0)
			end = p + i + 4;
	/* The cap holds whether or not the end came in the same read. */
	if ((end == NULL && len > WS_HEAD_MAX) || (end != NULL && end - p > WS_HEAD_MAX)) {
		snprintf(err, errlen, "WebSocket upgrade response head over 8 KiB");
		return -E2BIG;
	}
	if (end == NULL)
		return 0;
	hl = (size_t)(end - p);
	if (hl < 12 || memcmp(head, "HTTP/1.1 101", 12) != 0) {
		const char *eol = memchr(head, '\r', hl);

		snprintf(err, errlen, "WebSocket upgrade refused: \"%.*s\"",
		         (int)(eol != NULL && eol - head < 80 ? eol - head : 0), head);
		return -EPROTO;
	}
	v = header(head, hl, "Upgrade", &vlen);
	if (v == NULL || !has_token(v, vlen, "websocket")) {
		snprintf(err, errlen, "WebSocket upgrade response has no Upgrade: websocket");
		return -EPROTO;
	}
	v = header(head, hl, "Connection", &vlen);
	if (v == NULL || !has_token(v, vlen, "upgrade")) {
		snprintf(err, errlen, "WebSocket upgrade response has no Connection: upgrade");
		return -EPROTO;
	}
	v = header(head, hl, "Sec-WebSocket-Accept", &vlen);
	if (ws_accept_key(key, strlen(key), want) != 0 || v == NULL || vlen != WS_ACCEPT_LEN ||
	    sodium_memcmp(v, want, WS_ACCEPT_LEN) != 0) {
		snprintf(err, errlen, "WebSocket upgrade response has a wrong Sec-WebSocket-Accept");
		return -EPROTO;
	}
	return (int)hl;
}
