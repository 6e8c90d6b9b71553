/* fairway portal — run a room/relay on HOST:PORT until SIGINT or SIGTERM. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <uv.h>

#include "cli.h"
#include "cmd.h"
#include "ctl.h"
#include "log.h"
#include "portal.h"

struct portal_run {
	struct portal *portal;
	struct ctl *ctl;
	uv_signal_t sigint, sigterm;
	uv_idle_t stop_soon;   /* `fairway stop`: after the reply is out */
	bool stopping;
};

static void stop_all(struct portal_run *run)
{
	if (run->stopping)
		return;
	run->stopping = true;
	portal_stop(run->portal);
	ctl_stop(run->ctl);
	uv_close((uv_handle_t *)&run->sigint, NULL);
	uv_close((uv_handle_t *)&run->sigterm, NULL);
	if (!uv_is_closing((uv_handle_t *)&run->stop_soon))
		uv_close((uv_handle_t *)&run->stop_soon, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
	log_info("signal %d: closing connections", signum);
	stop_all(h->data);
}

static void stop_soon_cb(uv_idle_t *h)
{
	log_info("stop requested on the control socket");
	stop_all(h->data);
}

static json_t *on_ctl(const char *cmd, json_t *req, void *ud)
{
	struct portal_run *run = ud;
	json_t *r;

	if (strcmp(cmd, "info") == 0) {
		r = portal_info(run->portal);
		json_object_set_new(r, "ok", json_true());
		return r;
	}
	if (strcmp(cmd, "stop") == 0) {
		uv_idle_start(&run->stop_soon, stop_soon_cb);
		return json_pack("{s:b}", "ok", 1);
	}
	if (strcmp(cmd, "reload") == 0)
		return json_pack("{s:b,s:s}", "ok", 0, "error",
		                 "this portal was started without a policy file: nothing to reload");
	return NULL;
}

int cmd_portal(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "secret", required_argument, NULL, 's' },
		{ "caps", required_argument, NULL, 'k' },
		{ "handshake-timeout", required_argument, NULL, 't' },
		{ "name", required_argument, NULL, 'n' },
		{ "privacy", required_argument, NULL, 'P' },
		{ "member", required_argument, NULL, 'm' },
		{ "deny", required_argument, NULL, 'd' },
		{ "max-conns-per-ip", required_argument, NULL, 1 },
		{ "max-pending-handshakes", required_argument, NULL, 2 },
		{ "max-tunnels-per-peer", required_argument, NULL, 3 },
		{ "idle-timeout", required_argument, NULL, 4 },
		{ "allow-multihop", no_argument, NULL, 5 },
		{ "ctl", required_argument, NULL, 6 },
		{ NULL, 0, NULL, 0 },
	};
	/* Defaults a public relay can live with; 0 turns a limit off. */
	struct portal_limits limits = {
		.conns_per_ip = 128, .pending_handshakes = 512, .tunnels_per_peer = 256,
		.idle_timeout_ms = 600000,
	};
	enum portal_privacy privacy = PORTAL_OPEN;
	uint8_t (*members)[32] = NULL, (*denied)[32] = NULL;
	size_t n_members = 0, n_denied = 0;
	unsigned long v;
	char *end;
	const char *listen = "127.0.0.1:8008", *secret = NULL, *caps = NULL, *name = NULL;
	const char *ctl_path = NULL;
	char ctl_def[4096];
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
		case 'P':
			if (strcmp(optarg, "open") == 0)
				privacy = PORTAL_OPEN;
			else if (strcmp(optarg, "community") == 0)
				privacy = PORTAL_COMMUNITY;
			else if (strcmp(optarg, "restricted") == 0)
				privacy = PORTAL_RESTRICTED;
			else {
				fprintf(stderr, "fairway portal: --privacy is open, community or restricted\n");
				rc = EXIT_USAGE;
				goto out;
			}
			break;
		case 'm':
		case 'd': {
			uint8_t (**list)[32] = ch == 'm' ? &members : &denied;
			size_t *n = ch == 'm' ? &n_members : &n_denied;
			uint8_t (*grown)[32] = realloc(*list, (*n + 1) * 32);

			if (grown == NULL) {
				rc = EXIT_RUNTIME;
				goto out;
			}
			*list = grown;
			if (keys_id_parse(optarg, strlen(optarg), grown[*n]) != 0) {
				fprintf(stderr, "fairway portal: --%s '%s' is not a feed id (@…=.ed25519)\n",
				        ch == 'm' ? "member" : "deny", optarg);
				rc = EXIT_USAGE;
				goto out;
			}
			(*n)++;
			break;
		}
		case 1: case 2: case 3: case 4:
			v = strtoul(optarg, &end, 10);
			if (*end != '\0' || end == optarg || v > 100000000) {
				fprintf(stderr, "fairway portal: '%s' is not a number\n", optarg);
				rc = EXIT_USAGE;
				goto out;
			}
			if (ch == 1) limits.conns_per_ip = (unsigned)v;
			if (ch == 2) limits.pending_handshakes = (unsigned)v;
			if (ch == 3) limits.tunnels_per_peer = (unsigned)v;
			if (ch == 4) limits.idle_timeout_ms = (unsigned)v;
			break;
		case 5: limits.allow_multihop = true; break;
		case 6: ctl_path = optarg; break;
		case 't':
			hs_ms = (unsigned)strtoul(optarg, NULL, 10);
			if (hs_ms == 0) {
				fprintf(stderr, "fairway portal: --handshake-timeout wants milliseconds > 0\n");
				return EXIT_USAGE;
			}
			break;
		default:
			rc = EXIT_USAGE;
			goto out;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "fairway portal: unexpected argument '%s'\n", argv[optind]);
		rc = EXIT_USAGE;
		goto out;
	}
	if ((rc = cli_parse_hostport(listen, host, sizeof(host), &port)) != 0 ||
	    (rc = cli_parse_caps(caps, net_key)) != 0 ||
	    (rc = cli_load_identity(secret, &id)) != 0)
		goto out;

	struct portal_cfg cfg = {
		.loop = loop, .id = &id, .net_key = net_key, .host = host, .port = port,
		.handshake_timeout_ms = hs_ms, .name = name, .privacy = privacy,
		.members = (const uint8_t (*)[32])members, .n_members = n_members,
		.denied = (const uint8_t (*)[32])denied, .n_denied = n_denied, .limits = limits,
	};
	rc = portal_start(&cfg, &run.portal, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "fairway portal: %s\n", err);
		uv_run(loop, UV_RUN_DEFAULT);
		keys_wipe(&id);
		rc = EXIT_RUNTIME;
		goto out;
	}
	/* The default socket is a convenience: without it the portal still
	 * runs. One asked for by name must work. */
	if (ctl_path == NULL && ctl_default_path(secret, ctl_def, sizeof(ctl_def)) == 0 &&
	    ctl_start(loop, ctl_def, on_ctl, &run, &run.ctl, err, sizeof(err)) != 0)
		log_warn("no control socket (fairway info/stop won't reach this portal): %s", err);
	else if (ctl_path == NULL)
		ctl_path = ctl_def;
	else if (strcmp(ctl_path, "none") != 0 &&
	         ctl_start(loop, ctl_path, on_ctl, &run, &run.ctl, err, sizeof(err)) != 0) {
		fprintf(stderr, "fairway portal: %s\n", err);
		portal_stop(run.portal);
		uv_run(loop, UV_RUN_DEFAULT);
		portal_free(run.portal);
		keys_wipe(&id);
		rc = EXIT_RUNTIME;
		goto out;
	}
	uv_idle_init(loop, &run.stop_soon);
	run.stop_soon.data = &run;
	/* Scripts wait for this line: it means we are accepting. */
	printf("%s\n", portal_address(run.portal));
	fflush(stdout);
	log_info("portal listening on %s%s%s", portal_address(run.portal),
	         run.ctl != NULL ? ", control socket " : "", run.ctl != NULL ? ctl_path : "");

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
	rc = EXIT_OK;
out:
	free(members);
	free(denied);
	return rc;
}
