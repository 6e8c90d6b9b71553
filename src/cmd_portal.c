/* fairway portal — run a room/relay on HOST:PORT until SIGINT or SIGTERM. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <uv.h>

#include "cli.h"
#include "cmd.h"
#include "log.h"
#include "portal.h"

struct portal_run {
	struct portal *portal;
	uv_signal_t sigint, sigterm;
};

static void on_signal(uv_signal_t *h, int signum)
{
	struct portal_run *run = h->data;

	log_info("signal %d: closing connections", signum);
	portal_stop(run->portal);
	uv_close((uv_handle_t *)&run->sigint, NULL);
	uv_close((uv_handle_t *)&run->sigterm, NULL);
}

int cmd_portal(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "secret", required_argument, NULL, 's' },
		{ "caps", required_argument, NULL, 'k' },
		{ "handshake-timeout", required_argument, NULL, 't' },
		{ "name", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen = "127.0.0.1:8008", *secret = NULL, *caps = NULL, *name = NULL;
	unsigned hs_ms = 0;
	char host[256], err[256];
	uint8_t net_key[32];
	uint16_t port;
	struct keys id;
	struct portal_run run = { 0 };
	uv_loop_t *loop = uv_default_loop();
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'l': listen = optarg; break;
		case 's': secret = optarg; break;
		case 'k': caps = optarg; break;
		case 'n': name = optarg; break;
		case 't':
			hs_ms = (unsigned)strtoul(optarg, NULL, 10);
			if (hs_ms == 0) {
				fprintf(stderr, "fairway portal: --handshake-timeout wants milliseconds > 0\n");
				return EXIT_USAGE;
			}
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "fairway portal: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if ((rc = cli_parse_hostport(listen, host, sizeof(host), &port)) != 0 ||
	    (rc = cli_parse_caps(caps, net_key)) != 0 ||
	    (rc = cli_load_identity(secret, &id)) != 0)
		return rc;

	struct portal_cfg cfg = {
		.loop = loop, .id = &id, .net_key = net_key, .host = host, .port = port,
		.handshake_timeout_ms = hs_ms, .name = name,
	};
	rc = portal_start(&cfg, &run.portal, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "fairway portal: %s\n", err);
		uv_run(loop, UV_RUN_DEFAULT);
		keys_wipe(&id);
		return EXIT_RUNTIME;
	}
	/* Scripts wait for this line: it means we are accepting. */
	printf("%s\n", portal_address(run.portal));
	fflush(stdout);
	log_info("portal listening on %s", portal_address(run.portal));

	uv_signal_init(loop, &run.sigint);
	uv_signal_init(loop, &run.sigterm);
	run.sigint.data = run.sigterm.data = &run;
	uv_signal_start(&run.sigint, on_signal, SIGINT);
	uv_signal_start(&run.sigterm, on_signal, SIGTERM);
	signal(SIGPIPE, SIG_IGN);

	uv_run(loop, UV_RUN_DEFAULT);
	portal_free(run.portal);
	uv_loop_close(loop);
	keys_wipe(&id);
	log_info("portal stopped");
	return EXIT_OK;
}
