/* fairway host --portal ADDR — be reachable through a portal.
 *
 * host.c keeps the portal connection and hands us each caller's tunnel;
 * here every tunnel becomes an inner session (we are its SHS server)
 * serving whoami, gossip.ping, tunnel.ping and the --expose'd services.
 * Prints the tunnel address once announced. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "addr.h"
#include "cli.h"
#include "cmd.h"
#include "conn.h"
#include "fwd.h"
#include "host.h"
#include "log.h"
#include "rpc.h"
#include "tunnel.h"
#include "wsconn.h"

struct host_run {
	uv_loop_t *loop;
	struct keys id;
	uint8_t net_key[32];
	struct rpc_node node;
	struct mrpc_api *inner_api;   /* what callers may call inside a tunnel */
	struct fwd_services services;
	struct host *host;
	uv_signal_t sigint, sigterm;
};

static void inner_ready(struct conn *c, void *ud)
{
	log_info("tunnel session from %s", conn_remote_id(c));
}

static void inner_closed(struct conn *c, const char *reason, void *ud)
{
	log_info("tunnel session from %s ended%s%s", conn_remote_id(c),
	         reason != NULL ? ": " : "", reason != NULL ? reason : "");
}

static void accept_tunnel(struct mrpc_stream *s, const char *label, void *ud)
{
	struct host_run *h = ud;
	struct conn_cfg cfg = {
		.loop = h->loop, .id = &h->id, .net_key = h->net_key, .api = h->inner_api,
		.on_ready = inner_ready, .on_close = inner_closed, .ud = h,
	};

	tunnel_conn(s, &cfg, false, NULL, label);
}

static void announced(const char *addr, void *ud)
{
	/* Scripts wait for this line: we are reachable now. */
	printf("%s\n", addr);
	fflush(stdout);
}

/* The portal's fairway.share, when it changes by more than 10 %. */
static void share_line(const char *line, void *ud)
{
	printf("%s\n", line);
	fflush(stdout);
}

static void ping_ms(struct mrpc_stream *call, json_t *args, void *ud)
{
	mrpc_reply(call, json_integer(rpc_now_ms()));
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct host_run *h = s->data;

	log_info("signal %d: leaving the portal", signum);
	host_stop(h->host);
	uv_close((uv_handle_t *)&h->sigint, NULL);
	uv_close((uv_handle_t *)&h->sigterm, NULL);
}

static int build_api(struct host_run *h)
{
	int rc;

	h->inner_api = mrpc_api_new();
	if (h->inner_api == NULL)
		return -ENOMEM;
	h->node.loop = h->loop;
	h->node.id = &h->id;
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
	struct host_run h = { .loop = uv_default_loop() };
	struct host_cfg hc = { .loop = h.loop, .id = &h.id, .net_key = h.net_key,
	                       .accept = accept_tunnel, .on_announced = announced,
	                       .on_share = share_line, .ud = &h };
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
			if ((rc = fwd_service_parse(&h.services, optarg, err, sizeof(err))) != 0) {
				fprintf(stderr, "fairway host: --expose %s: %s\n", optarg, err);
				return rc == -EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
			}
			break;
		default: return EXIT_USAGE;
		}
	}
	if (portal == NULL || optind != argc) {
		fprintf(stderr, "usage: fairway host --portal net:HOST:PORT~shs:KEY|ws://HOST:PORT~shs:KEY "
		                "[--expose NAME=HOST:PORT]...\n");
		return EXIT_USAGE;
	}
	if (addr_parse(portal, strlen(portal), &hc.portal, err, sizeof(err)) != 0) {
		fprintf(stderr, "fairway host: --portal wants net:HOST:PORT~shs:KEY or "
		                "ws://HOST:PORT~shs:KEY (%s)\n", err);
		return EXIT_USAGE;
	}
	if (wsconn_unsupported(&hc.portal) != NULL) {
		fprintf(stderr, "fairway host: --portal: %s\n", wsconn_unsupported(&hc.portal));
		return EXIT_USAGE;
	}
	if ((rc = cli_parse_caps(caps, h.net_key)) != 0 ||
	    (rc = cli_load_identity(secret, &h.id)) != 0)
		return rc;
	if (build_api(&h) != 0) {
		fprintf(stderr, "fairway host: out of memory\n");
		rc = EXIT_RUNTIME;
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);   /* a closed terminal does not end a long run */
	uv_signal_init(h.loop, &h.sigint);
	uv_signal_init(h.loop, &h.sigterm);
	h.sigint.data = h.sigterm.data = &h;
	uv_signal_start(&h.sigint, on_signal, SIGINT);
	uv_signal_start(&h.sigterm, on_signal, SIGTERM);
	h.host = host_start(&hc);
	if (h.host == NULL) {
		fprintf(stderr, "fairway host: out of memory\n");
		rc = EXIT_RUNTIME;
		goto out;
	}
	uv_run(h.loop, UV_RUN_DEFAULT);
	uv_loop_close(h.loop);
	rc = EXIT_OK;
out:
	mrpc_api_free(h.inner_api);
	fwd_services_free(&h.services);
	keys_wipe(&h.id);
	return rc;
}
