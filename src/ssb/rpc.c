#include "rpc.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

int64_t rpc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rpc_arg_int(json_t *args, const char *key, int64_t def)
{
	json_t *o = json_array_get(args, 0);
	json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;

	if (json_is_integer(v) && json_integer_value(v) >= 0)
		return json_integer_value(v);
	if (json_is_real(v) && json_real_value(v) >= 0)
		return (int64_t)json_real_value(v);
	return def;
}

static void whoami(struct mrpc_stream *call, json_t *args, void *ud)
{
	struct rpc_node *node = ud;

	mrpc_reply(call, json_pack("{s:s}", "id", node->id_str));
}

/* ---- gossip.ping (pull-ping) ----
 *
 * Both ends run the same logic: a timestamp we did not ask for gets our
 * Date.now() at once, then we wait `timeout` ms and ask ourselves; the
 * answer to our own ask just records the round trip. So the two sides
 * take turns and an idle connection sees traffic every `timeout` ms. */
#define PING_MIN_TIMEOUT_MS 1000
#define PING_DEFAULT_TIMEOUT_MS 300000

struct gping {
	uv_timer_t timer;
	struct mrpc_stream *s;   /* NULL once the stream is gone */
	int64_t timeout_ms;
	int64_t asked_at;        /* 0 when we are not waiting for an answer */
};

static void gping_timer_cb(uv_timer_t *t)
{
	struct gping *g = t->data;

	if (g->s == NULL)
		return;
	g->asked_at = rpc_now_ms();
	mrpc_stream_send_json(g->s, json_integer(g->asked_at));
}

static void gping_data(struct mrpc_stream *s, struct psc_packet *pkt, void *ud)
{
	struct gping *g = ud;

	if (g->asked_at != 0) {
		/* The answer to our ask: now it is the peer's turn, in timeout
		 * ms. If it only answers (go-ssb-room) we ask again after two. */
		log_debug("gossip.ping: round trip %lld ms", (long long)(rpc_now_ms() - g->asked_at));
		g->asked_at = 0;
		uv_timer_start(&g->timer, gping_timer_cb, 2 * (uint64_t)g->timeout_ms, 0);
		return;
	}
	mrpc_stream_send_json(s, json_integer(rpc_now_ms()));
	uv_timer_start(&g->timer, gping_timer_cb, (uint64_t)g->timeout_ms, 0);
}

static void gping_end(struct mrpc_stream *s, const char *err, void *ud)
{
	if (!mrpc_stream_local_ended(s))
		mrpc_stream_end(s, NULL);
}

static void gping_closed(uv_handle_t *h)
{
	free(h->data);
}

static void gping_free(struct mrpc_stream *s, void *ud)
{
	struct gping *g = ud;

	g->s = NULL;
	uv_close((uv_handle_t *)&g->timer, gping_closed);
}

static const struct mrpc_stream_cbs gping_cbs = {
	.on_data = gping_data,
	.on_end = gping_end,
	.on_free = gping_free,
};

static void gossip_ping(struct mrpc_stream *s, json_t *args, void *ud)
{
	struct rpc_node *node = ud;
	struct gping *g = calloc(1, sizeof(*g));

	if (g == NULL) {
		mrpc_stream_end(s, "out of memory");
		return;
	}
	g->s = s;
	g->timeout_ms = rpc_arg_int(args, "timeout", PING_DEFAULT_TIMEOUT_MS);
	if (g->timeout_ms < PING_MIN_TIMEOUT_MS)
		g->timeout_ms = PING_MIN_TIMEOUT_MS;
	uv_timer_init(node->loop, &g->timer);
	g->timer.data = g;
	mrpc_stream_set_cbs(s, &gping_cbs, g);
}

int rpc_ping_start(struct mrpc *m, struct rpc_node *node, int64_t timeout_ms)
{
	struct gping *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return -ENOMEM;
	g->timeout_ms = timeout_ms < PING_MIN_TIMEOUT_MS ? PING_MIN_TIMEOUT_MS : timeout_ms;
	uv_timer_init(node->loop, &g->timer);
	g->timer.data = g;
	g->s = mrpc_open(m, "gossip.ping", json_pack("[{s:I}]", "timeout", (json_int_t)g->timeout_ms),
	                 MRPC_DUPLEX, &gping_cbs, g);
	if (g->s == NULL) {
		uv_close((uv_handle_t *)&g->timer, gping_closed);
		return -EPIPE;
	}
	gping_timer_cb(&g->timer);
	return 0;
}

int rpc_add_common(struct mrpc_api *api, struct rpc_node *node)
{
	int rc;

	keys_id_format(node->id_str, node->id->pk);
	rc = mrpc_api_add(api, "whoami", MRPC_ASYNC, whoami, node);
	if (rc == 0)
		rc = mrpc_api_add(api, "gossip.ping", MRPC_DUPLEX, gossip_ping, node);
	return rc;
}
