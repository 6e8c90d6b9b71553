/* ws — see ws.h. wslay's event API wants non-blocking recv/send
 * callbacks; recv is served from the buffer ws_feed was given, send goes
 * straight to ops->send. */
#include "ws.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
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
		if (!wslay_event_get_close_sent(w->ctx))
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
	rc = wslay_event_recv(w->ctx);
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
	return settle(w, wslay_event_send(w->ctx));
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
