/* fairway host --portal ADDR — be reachable through a portal.
 *
 * Keeps one connection to the portal and announces itself there
 * (tunnel.announce, which fairway, ssb-tunnel and go-ssb-room portals all
 * serve). The portal calls tunnel.connect on that connection for every
 * caller; each such duplex carries a whole inner session in which we are
 * the SHS server, so the caller is whoever the inner handshake proves —
 * not what the portal's `origin` claims (the seed's "stream.address is
 * wrong" bug). Prints its tunnel address once announced; reconnects with
 * exponential backoff and jitter when the portal goes away. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <uv.h>

#include "addr.h"
#include "cli.h"
#include "cmd.h"
#include "conn.h"
#include "fwd.h"
#include "log.h"
#include "rpc.h"
#include "tunnel.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define PORTAL_PING_MS 10000   /* JS targets ping their portal about this often */

struct host {
	uv_loop_t *loop;
	struct keys id;
	uint8_t net_key[32];
	struct addr portal;
	char portal_id[KEYS_ID_LEN + 1];
	struct rpc_node node;
	struct mrpc_api *outer_api;   /* what the portal may call on us */
	struct mrpc_api *inner_api;   /* what callers may call inside a tunnel */
	struct fwd_services services;
	struct conn *portal_conn;
	uv_timer_t retry;
	unsigned backoff_ms;
	bool announced_once;
	bool stopping;
	uv_signal_t sigint, sigterm;
};

static void connect_portal(struct host *h);

/* --------------------------------------------------------- inner sessions */

static void inner_ready(struct conn *c, void *ud)
{
	log_info("tunnel session from %s", conn_remote_id(c));
}

static void inner_closed(struct conn *c, const char *reason, void *ud)
{
	log_info("tunnel session from %s ended%s%s", conn_remote_id(c),
	         reason != NULL ? ": " : "", reason != NULL ? reason : "");
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
	struct conn_cfg cfg = {
		.loop = h->loop, .id = &h->id, .net_key = h->net_key, .api = h->inner_api,
		.on_ready = inner_ready, .on_close = inner_closed, .ud = h,
	};

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
	tunnel_conn(call, &cfg, false, NULL, label);
}

static void ping_ms(struct mrpc_stream *call, json_t *args, void *ud)
{
	mrpc_reply(call, json_integer(rpc_now_ms()));
}

/* ------------------------------------------------------ portal connection */

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
	memcpy(a.portal, h->portal.shs_pk, 32);
	memcpy(a.target, h->id.pk, 32);
	memcpy(a.shs_pk, h->id.pk, 32);
	if (addr_format(&a, addr, sizeof(addr)) > 0) {
		/* Scripts wait for this line: we are reachable now. */
		printf("%s\n", addr);
		fflush(stdout);
	}
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
}

static void retry_cb(uv_timer_t *t)
{
	connect_portal(t->data);
}

static void portal_closed(struct conn *c, const char *reason, void *ud)
{
	struct host *h = ud;
	unsigned delay;

	h->portal_conn = NULL;
	if (h->stopping)
		return;
	/* Exponential backoff with ±25 % jitter, so hosts that lost the same
	 * portal do not all come back in the same millisecond. */
	h->backoff_ms = h->backoff_ms == 0 ? BACKOFF_MIN_MS : h->backoff_ms * 2;
	if (h->backoff_ms > BACKOFF_MAX_MS)
		h->backoff_ms = BACKOFF_MAX_MS;
	delay = h->backoff_ms * 3 / 4 + randombytes_uniform(h->backoff_ms / 2 + 1);
	log_warn("lost the portal %s:%u (%s); reconnecting in %u ms", h->portal.host,
	         h->portal.port, reason != NULL ? reason : "closed", delay);
	uv_timer_start(&h->retry, retry_cb, delay, 0);
}

static void connect_portal(struct host *h)
{
	struct conn_cfg cfg = {
		.loop = h->loop, .id = &h->id, .net_key = h->net_key, .api = h->outer_api,
		.on_ready = portal_ready, .on_close = portal_closed, .ud = h,
	};

	if (h->stopping)
		return;
	conn_tcp_connect(&cfg, h->portal.host, h->portal.port, h->portal.shs_pk, &h->portal_conn);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct host *h = s->data;

	log_info("signal %d: leaving the portal", signum);
	h->stopping = true;
	uv_timer_stop(&h->retry);
	uv_close((uv_handle_t *)&h->retry, NULL);
	if (h->portal_conn != NULL)
		conn_close(h->portal_conn, NULL);
	uv_close((uv_handle_t *)&h->sigint, NULL);
	uv_close((uv_handle_t *)&h->sigterm, NULL);
}

static int build_apis(struct host *h)
{
	int rc;

	h->outer_api = mrpc_api_new();
	h->inner_api = mrpc_api_new();
	if (h->outer_api == NULL || h->inner_api == NULL)
		return -ENOMEM;
	h->node.loop = h->loop;
	h->node.id = &h->id;
	rc = rpc_add_common(h->outer_api, &h->node);
	if (rc == 0)
		rc = mrpc_api_add(h->outer_api, "tunnel.connect", MRPC_DUPLEX, tunnel_connect, h);
	if (rc == 0)
		rc = rpc_add_common(h->inner_api, &h->node);
	if (rc == 0)
		rc = mrpc_api_add(h->inner_api, "tunnel.ping", MRPC_ASYNC, ping_ms, h);
	if (rc == 0)
		rc = fwd_add_methods(h->inner_api, &h->services, h->loop);
	return rc;
}

int cmd_host(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "portal", required_argument, NULL, 'p' },
		{ "secret", required_argument, NULL, 's' },
		{ "caps", required_argument, NULL, 'k' },
		{ "expose", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	struct host h = { .loop = uv_default_loop() };
	const char *portal = NULL, *secret = NULL, *caps = NULL;
	char err[256];
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'p': portal = optarg; break;
		case 's': secret = optarg; break;
		case 'k': caps = optarg; break;
		case 'e':
			if (fwd_service_parse(&h.services, optarg, err, sizeof(err)) != 0) {
				fprintf(stderr, "fairway host: --expose %s: %s\n", optarg, err);
				return EXIT_USAGE;
			}
			break;
		default: return EXIT_USAGE;
		}
	}
	if (portal == NULL || optind != argc) {
		fprintf(stderr, "usage: fairway host --portal net:HOST:PORT~shs:KEY "
		                "[--expose NAME=HOST:PORT]...\n");
		return EXIT_USAGE;
	}
	if (addr_parse(portal, strlen(portal), &h.portal, err, sizeof(err)) != 0 ||
	    h.portal.kind != ADDR_NET || !h.portal.has_shs) {
		fprintf(stderr, "fairway host: --portal wants net:HOST:PORT~shs:KEY (%s)\n",
		        h.portal.kind != ADDR_NET ? "not a net address" : err);
		return EXIT_USAGE;
	}
	if ((rc = cli_parse_caps(caps, h.net_key)) != 0 ||
	    (rc = cli_load_identity(secret, &h.id)) != 0)
		return rc;
	keys_id_format(h.portal_id, h.portal.shs_pk);
	if (build_apis(&h) != 0) {
		fprintf(stderr, "fairway host: out of memory\n");
		rc = EXIT_RUNTIME;
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	uv_timer_init(h.loop, &h.retry);
	h.retry.data = &h;
	uv_signal_init(h.loop, &h.sigint);
	uv_signal_init(h.loop, &h.sigterm);
	h.sigint.data = h.sigterm.data = &h;
	uv_signal_start(&h.sigint, on_signal, SIGINT);
	uv_signal_start(&h.sigterm, on_signal, SIGTERM);
	connect_portal(&h);
	uv_run(h.loop, UV_RUN_DEFAULT);
	uv_loop_close(h.loop);
	rc = EXIT_OK;
out:
	mrpc_api_free(h.outer_api);
	mrpc_api_free(h.inner_api);
	fwd_services_free(&h.services);
	keys_wipe(&h.id);
	return rc;
}
