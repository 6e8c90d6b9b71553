/* fairway call ADDR METHOD [ARGS_JSON] [--source | --duplex]
 *
 * Connects to a peer, calls one method and prints the result as JSON, one
 * line per value (a source prints each item; a duplex too, sending
 * nothing). Exit 0 on success, 1 when
 * the call fails or the connection does, 2 for usage errors. */
#include <errno.h>
#include <signal.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <uv.h>

#include "addr.h"
#include "cli.h"
#include "cmd.h"
#include "conn.h"
#include "log.h"

struct call_run {
	const char *method;
	json_t *args;
	bool source;          /* a stream: source, or duplex when `duplex` */
	bool duplex;
	int status;          /* exit status so far */
	bool done;
	struct conn *c;
	uv_timer_t deadline;
};

/* The deadline goes once: on a reply, a closed connection or expiry. */
static void stop_deadline(struct call_run *run)
{
	if (!uv_is_closing((uv_handle_t *)&run->deadline))
		uv_close((uv_handle_t *)&run->deadline, NULL);
}

/* Prints one reply/item body as a JSON line. */
static void print_value(const struct psc_packet *pkt)
{
	json_t *v = NULL;
	char *s;

	switch (psc_type(pkt)) {
	case PSC_JSON:
		v = json_loadb((const char *)pkt->body, pkt->len, JSON_DECODE_ANY, NULL);
		break;
	case PSC_STRING:
		v = json_stringn((const char *)pkt->body, pkt->len);
		break;
	case PSC_BINARY: {
		/* Binary has no JSON form; show it as base64 in a string. */
		size_t n = sodium_base64_encoded_len(pkt->len, sodium_base64_VARIANT_ORIGINAL);
		char *b = malloc(n);

		if (b != NULL) {
			sodium_bin2base64(b, n, pkt->body, pkt->len, sodium_base64_VARIANT_ORIGINAL);
			v = json_string(b);
			free(b);
		}
		break;
	}
	}
	if (v == NULL) {
		printf("%.*s\n", (int)pkt->len, (const char *)pkt->body);
		return;
	}
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
	if (s != NULL)
		printf("%s\n", s);
	free(s);
	json_decref(v);
	fflush(stdout);
}

static void on_data(struct mrpc_stream *s, struct psc_packet *pkt, void *ud)
{
	print_value(pkt);
}

static void on_end(struct mrpc_stream *s, const char *err, void *ud)
{
	struct call_run *run = ud;

	if (err != NULL) {
		fprintf(stderr, "fairway call: %s: %s\n", run->method, err);
		run->status = EXIT_RUNTIME;
	}
	if (run->source && !mrpc_stream_local_ended(s))
		mrpc_stream_end(s, NULL);
	run->done = true;
	stop_deadline(run);
	/* The session the call ran on (inner one for a tunnel). */
	conn_close(mrpc_io(mrpc_stream_session(s)), NULL);
}

static const struct mrpc_stream_cbs call_cbs = { .on_data = on_data, .on_end = on_end };

static void on_ready(struct conn *c, void *ud)
{
	struct call_run *run = ud;
	struct mrpc *m = conn_rpc(c);
	struct mrpc_stream *s;

	if (run->source)
		s = mrpc_open(m, run->method, run->args, run->duplex ? MRPC_DUPLEX : MRPC_SOURCE,
		              &call_cbs, run);
	else
		s = mrpc_call(m, run->method, run->args, &call_cbs, run);
	run->args = NULL;  /* stolen */
	if (s == NULL) {
		fprintf(stderr, "fairway call: cannot send the request\n");
		run->status = EXIT_RUNTIME;
		conn_close(c, "request failed");
	}
}

static void on_close(struct conn *c, const char *reason, void *ud)
{
	struct call_run *run = ud;

	if (!run->done) {
		fprintf(stderr, "fairway call: connection closed before a reply: %s\n",
		        reason != NULL ? reason : "goodbye");
		run->status = EXIT_RUNTIME;
		run->done = true;
		stop_deadline(run);
	}
}

static void on_deadline(uv_timer_t *t)
{
	struct call_run *run = t->data;

	fprintf(stderr, "fairway call: no reply in time\n");
	run->status = EXIT_RUNTIME;
	run->done = true;
	stop_deadline(run);
	conn_close(run->c, "timed out");
}

int cmd_call(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "source", no_argument, NULL, 'S' },
		{ "duplex", no_argument, NULL, 'D' },
		{ "secret", required_argument, NULL, 's' },
		{ "caps", required_argument, NULL, 'k' },
		{ "timeout", required_argument, NULL, 't' },
		{ "portal", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *secret = NULL, *caps = NULL, *portal = NULL;
	unsigned timeout_ms = 30000;
	struct call_run run = { .status = EXIT_OK };
	struct addr addrs[9];
	size_t n = 0;
	const struct addr *a = NULL, *tun = NULL;
	char err[256];
	uint8_t net_key[32];
	struct keys id;
	uv_loop_t *loop = uv_default_loop();
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'S': run.source = true; break;
		case 'D': run.source = run.duplex = true; break;
		case 's': secret = optarg; break;
		case 'k': caps = optarg; break;
		case 't':
			if (cli_parse_duration("call", "--timeout", optarg, 3600000, &timeout_ms) != 0)
				return EXIT_USAGE;
			break;
		case 'p': portal = optarg; break;
		default: return EXIT_USAGE;
		}
	}
	if (argc - optind < 2 || argc - optind > 3) {
		fprintf(stderr, "usage: fairway call ADDR METHOD [ARGS_JSON] [--source|--duplex]\n");
		return EXIT_USAGE;
	}
	if (addr_parse_multi(argv[optind], strlen(argv[optind]), addrs, 8, &n, err, sizeof(err)) != 0) {
		fprintf(stderr, "fairway call: bad address: %s\n", err);
		return EXIT_USAGE;
	}
	/* A portal given apart joins the list: ADDR may then be a bare tunnel. */
	if (portal != NULL &&
	    addr_parse(portal, strlen(portal), &addrs[n++], err, sizeof(err)) != 0) {
		fprintf(stderr, "fairway call: bad --portal address: %s\n", err);
		return EXIT_USAGE;
	}
	rc = cli_pick_route(addrs, n, &a, &tun);
	if (rc != 0)
		return rc;
	run.method = argv[optind + 1];
	if (argc - optind == 3) {
		json_error_t jerr;

		run.args = json_loads(argv[optind + 2], 0, &jerr);
		if (!json_is_array(run.args)) {
			fprintf(stderr, "fairway call: ARGS_JSON must be a JSON array (%s)\n",
			        run.args == NULL ? jerr.text : "got another JSON value");
			json_decref(run.args);
			return EXIT_USAGE;
		}
	}
	if ((rc = cli_parse_caps(caps, net_key)) != 0)
		goto out;
	if ((rc = cli_identity_or_onetime(secret, &id)) != 0)
		goto out;

	struct conn_cfg cfg = {
		.loop = loop, .id = &id, .net_key = net_key,
		.on_ready = on_ready, .on_close = on_close, .ud = &run,
	};
	uv_timer_init(loop, &run.deadline);
	run.deadline.data = &run;
	uv_timer_start(&run.deadline, on_deadline, timeout_ms, 0);
	signal(SIGPIPE, SIG_IGN);
	if (cli_dial(&cfg, a, tun, &run.c) != 0) {
		run.status = EXIT_RUNTIME;
		stop_deadline(&run);
	}
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
	keys_wipe(&id);
	rc = run.status;
out:
	json_decref(run.args);
	return rc;
}
