/* host — see host.h. */
#include "host.h"
#include "share.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "conn.h"
#include "log.h"
#include "rpc.h"
#include "util.h"
#include "wsconn.h"

#define PORTAL_PING_MS 10000   /* JS targets ping their portal about this often */

struct host {
	struct host_cfg cfg;
	char portal_id[KEYS_ID_LEN + 1];
	struct rpc_node node;
	struct mrpc_api *api;          /* what the portal may call on us */
	struct conn *conn;
	uv_timer_t retry;
	unsigned backoff_ms;
	bool announced_once;
	bool stopping;
	int pending;                   /* timer + conn, while stopping */
};

static void connect_portal(struct host *h);

static void release(struct host *h)
{
	if (--h->pending > 0)
		return;
	mrpc_api_free(h->api);
	free(h);
}

/* tunnel.connect([{portal, target, origin?, instance?}]) from our portal. */
static void tunnel_connect(struct mrpc_stream *call, json_t *args, void *ud)
{
	struct host *h = ud;
	json_t *o = json_array_get(args, 0);
	const char *target = json_string_value(json_object_get(o, "target"));
	const char *origin = json_string_value(json_object_get(o, "origin"));
	uint8_t pk[32];
	char label[160], msg[128];

	if (target == NULL || strcmp(target, h->node.id_str) != 0) {
		snprintf(msg, sizeof(msg), "could not connect to:%s", target ? target : "(no target)");
		log_info("tunnel.connect refused: %s", msg);
		mrpc_stream_end(call, msg);
		return;
	}
	if (origin != NULL && keys_id_parse(origin, strlen(origin), pk) != 0)
		origin = NULL;
	/* The label is only for logs: the handshake names the caller. */
	snprintf(label, sizeof(label), "tunnel from %.53s", origin ? origin : "(origin not given)");
	h->cfg.accept(call, label, h->cfg.ud);
}

static void announce_end(struct mrpc_stream *s, const char *err, void *ud)
{
	struct host *h = ud;
	char addr[ADDR_TEXT_MAX];
	struct addr a = { .kind = ADDR_TUNNEL, .has_shs = true };

	if (err != NULL) {
		log_warn("portal %s refused tunnel.announce: %s", h->portal_id, err);
		conn_close(mrpc_io(mrpc_stream_session(s)), "announce refused");
		return;
	}
	h->backoff_ms = 0;
	log_info("announced at %s", h->portal_id);
	if (h->announced_once)
		return;
	h->announced_once = true;
	memcpy(a.portal, h->cfg.portal.shs_pk, 32);
	memcpy(a.target, h->cfg.id->pk, 32);
	memcpy(a.shs_pk, h->cfg.id->pk, 32);
	if (h->cfg.on_announced != NULL && addr_format(&a, addr, sizeof(addr)) > 0)
		h->cfg.on_announced(addr, h->cfg.ud);
}

static const struct mrpc_stream_cbs announce_cbs = { .on_end = announce_end };

static void portal_ready(struct conn *c, void *ud)
{
	struct host *h = ud;
	struct mrpc *m = conn_rpc(c);

	if (mrpc_call(m, "tunnel.announce", json_array(), &announce_cbs, h) == NULL) {
		conn_close(c, "cannot announce");
		return;
	}
	/* Keep the connection visibly alive: portals drop silent peers. */
	(void)rpc_ping_start(m, &h->node, PORTAL_PING_MS);
	if (h->cfg.on_share != NULL && share_watch(m, h->cfg.on_share, h->cfg.ud) != 0)
		log_warn("cannot subscribe to fairway.share at %s", h->portal_id);
}

static void retry_cb(uv_timer_t *t)
{
	connect_portal(t->data);
}

static void portal_closed(struct conn *c, const char *reason, void *ud)
{
	struct host *h = ud;
	unsigned delay;

	h->conn = NULL;
	if (h->stopping) {
		release(h);
		return;
	}
	delay = util_backoff_next(&h->backoff_ms, HOST_BACKOFF_MIN_MS, HOST_BACKOFF_MAX_MS,
	                          randombytes_random());
	log_warn("lost the portal %s%s%s:%u (%s); reconnecting in %u ms",
	         strchr(h->cfg.portal.host, ':') ? "[" : "", h->cfg.portal.host,
	         strchr(h->cfg.portal.host, ':') ? "]" : "", h->cfg.portal.port,
	         reason != NULL ? reason : "closed", delay);
	uv_timer_start(&h->retry, retry_cb, delay, 0);
}

static void connect_portal(struct host *h)
{
	struct conn_cfg cfg = {
		.loop = h->cfg.loop, .id = h->cfg.id, .net_key = h->cfg.net_key, .api = h->api,
		.on_ready = portal_ready, .on_close = portal_closed, .ud = h,
	};

	if (!h->stopping)
		(void)wsconn_dial(&cfg, &h->cfg.portal, &h->conn);   /* net: or ws:// */
}

struct host *host_start(const struct host_cfg *cfg)
{
	struct host *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->cfg = *cfg;
	keys_id_format(h->portal_id, cfg->portal.shs_pk);
	h->node.loop = cfg->loop;
	h->node.id = cfg->id;
	h->api = mrpc_api_new();
	if (h->api == NULL || rpc_add_common(h->api, &h->node) != 0 ||
	    mrpc_api_add(h->api, "tunnel.connect", MRPC_DUPLEX, tunnel_connect, h) != 0) {
		mrpc_api_free(h->api);
		free(h);
		return NULL;
	}
	uv_timer_init(cfg->loop, &h->retry);
	h->retry.data = h;
	connect_portal(h);
	return h;
}

static void retry_closed(uv_handle_t *t)
{
	release(t->data);
}

void host_stop(struct host *h)
{
	if (h == NULL || h->stopping)
		return;
	h->stopping = true;
	h->pending = 1 + (h->conn != NULL);
	uv_close((uv_handle_t *)&h->retry, retry_closed);
	if (h->conn != NULL)
		conn_close(h->conn, NULL);
}
