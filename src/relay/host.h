/* host — stay reachable through a portal.
 *
 * Keeps one connection to a portal, announces itself there
 * (tunnel.announce: fairway, ssb-tunnel and go-ssb-room portals all serve
 * it) and takes the portal's tunnel.connect calls: each is a duplex that
 * carries a whole inner session in which we are the SHS server, so the
 * caller is whoever the inner handshake proves — not what the portal's
 * `origin` claims (the seed's "stream.address is wrong" bug). Reconnects
 * with exponential backoff and jitter when the portal goes away.
 *
 * `fairway host` runs the inner sessions itself; `fairway portal --via`
 * hands them to its portal, which then serves callers that came through
 * another portal. */
#ifndef FAIRWAY_HOST_H
#define FAIRWAY_HOST_H

#include <uv.h>

#include "addr.h"
#include "keys.h"
#include "muxrpc.h"

struct host;

/* Reconnect backoff (util_backoff_next), shared with `fairway connect`. */
#define HOST_BACKOFF_MIN_MS 500
#define HOST_BACKOFF_MAX_MS 30000

/* A caller's tunnel arrived: run a session over s (tunnel_conn) or end
 * it. label names it for logs (it carries the portal's `origin` claim). */
typedef void host_accept_fn(struct mrpc_stream *s, const char *label, void *ud);

struct host_cfg {
	uv_loop_t *loop;
	const struct keys *id;         /* borrowed */
	const uint8_t *net_key;        /* 32 bytes, borrowed */
	struct addr portal;            /* net:…~shs:… */
	host_accept_fn *accept;
	/* First announcement only: our tunnel:…~shs:… address. May be NULL. */
	void (*on_announced)(const char *tunnel_addr, void *ud);
	/* May be NULL: if set, subscribes to the portal's fairway.share on
	 * every connection and gets its lines (share.h). */
	void (*on_share)(const char *line, void *ud);
	void *ud;
};

/* Connects and keeps connecting. NULL on ENOMEM. */
struct host *host_start(const struct host_cfg *cfg);
/* Leaves the portal (goodbye) and stops retrying; freed once closed. */
void host_stop(struct host *h);

#endif
