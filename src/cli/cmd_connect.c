/* fairway connect ADDR -L [HOST:]PORT:SERVICE   — reach a host's service
 * fairway ping ADDR [-c COUNT] [-i MS]         — round trips through a tunnel
 *
 * ADDR is a tunnel address (tunnel:PORTAL:TARGET~shs:KEY) plus the way to
 * the portal, either joined with ';' or given as --portal net:…~shs:…; a
 * plain net address works too (no tunnel then). */
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
#include "host.h"
#include "log.h"
#include "rpc.h"
#include "share.h"
#include "util.h"

/* connect's tunnel, once it has opened (not with --once):
 *
 *   READY --tunnel ends--> IDLE --local connection--> DIALING --ready--> READY
 *                                                      |  ^
 *                                              fails   v  | timer, a connection waiting
 *                                                    BACKOFF (timer, no one waiting: IDLE)
 *
 * The -L listeners stay open throughout; connections that come while the
 * tunnel is not READY wait for it (fwd_listener_wait). */
enum tunnel_state { TS_FIRST, TS_READY, TS_IDLE, TS_DIALING, TS_BACKOFF };

struct session_run {
	uv_loop_t *loop;
	struct keys id;
	uint8_t net_key[32];
	struct addr addrs[9];
	size_t naddrs;
	const struct addr *net, *tun;
	struct mrpc_api *api;
	struct rpc_node node;
	struct conn *handle;    /* outer conn (closing it ends all) */
	struct conn *session;   /* the open session to the target, once ready */
	int status;
	bool stopping;
	void (*ready)(struct session_run *r);
	/* ping */
	unsigned count, sent, received;
	unsigned interval_ms;
	double *rtt;
	uint64_t sent_at;
	uv_timer_t tick;
	uv_signal_t sigint, sigterm;
	struct fwd_listener *listeners[16];
	size_t nlisteners;
	/* connect: keep the listeners and re-open (not --once) */
	bool keep;
	enum tunnel_state ts;
	unsigned backoff_ms;
	uv_timer_t retry;
};

static const char *const tunnel_state_names[] = { "opening", "open", "idle", "re-opening", "backing off" };

static void stop_run(struct session_run *r, int status)
{
	if (r->stopping)
		return;
	r->stopping = true;
	if (status != 0)
		r->status = status;
	uv_close((uv_handle_t *)&r->tick, NULL);
	uv_close((uv_handle_t *)&r->retry, NULL);
	uv_close((uv_handle_t *)&r->sigint, NULL);
	uv_close((uv_handle_t *)&r->sigterm, NULL);
	/* No session, nothing to forward to: stop accepting. */
	for (size_t i = 0; i < r->nlisteners; i++)
		fwd_listener_close(r->listeners[i]);
	r->nlisteners = 0;
	if (r->session != NULL)
		conn_close(r->session, NULL);
	else if (r->handle != NULL)
		conn_close(r->handle, "stopped");
}

static void watch_share(struct session_run *r);

static void set_state(struct session_run *r, enum tunnel_state ts, const char *why)
{
	if (r->ts != TS_FIRST || ts != TS_READY)
		log_info("tunnel: %s -> %s%s%s", tunnel_state_names[r->ts], tunnel_state_names[ts],
		         why != NULL ? ": " : "", why != NULL ? why : "");
	r->ts = ts;
}

static void on_ready(struct conn *c, void *ud)
{
	struct session_run *r = ud;
	bool first = r->ts == TS_FIRST;

	r->session = c;
	r->backoff_ms = 0;
	set_state(r, TS_READY, NULL);
	if (first) {
		r->ready(r);
		return;
	}
	for (size_t i = 0; i < r->nlisteners; i++)
		fwd_listener_flush(r->listeners[i], NULL);
	watch_share(r);
}

static int redial(struct session_run *r);

static void retry_cb(uv_timer_t *t)
{
	struct session_run *r = t->data;
	size_t waiting = 0;

	for (size_t i = 0; i < r->nlisteners; i++)
		waiting += fwd_listener_waiting(r->listeners[i]);
	if (waiting > 0)
		(void)redial(r);
	else
		set_state(r, TS_IDLE, "nobody waiting; the next local connection re-opens it");
}

/* A re-open failed: refuse who waited, try again after the backoff. */
static void redial_failed(struct session_run *r, const char *reason)
{
	unsigned delay = util_backoff_next(&r->backoff_ms, HOST_BACKOFF_MIN_MS, HOST_BACKOFF_MAX_MS,
	                                   randombytes_random());
	char why[300];

	snprintf(why, sizeof(why), "%s; next try in %u ms", reason, delay);
	for (size_t i = 0; i < r->nlisteners; i++)
		fwd_listener_flush(r->listeners[i], reason);
	set_state(r, TS_BACKOFF, why);
	uv_timer_start(&r->retry, retry_cb, delay, 0);
}

static void on_close(struct conn *c, const char *reason, void *ud)
{
	struct session_run *r = ud;
	bool was_open = r->session != NULL;

	if (c != r->session && r->session != NULL)
		return;
	r->session = NULL;
	r->handle = NULL;
	if (!r->keep || r->stopping || r->ts == TS_FIRST) {
		if (!r->stopping)
			fprintf(stderr, "fairway: session ended: %s\n", reason ? reason : "goodbye");
		stop_run(r, reason != NULL && r->status == 0 && !r->stopping ? EXIT_RUNTIME : 0);
		return;
	}
	if (was_open) {
		char why[300];

		/* the -L ports stay: the next local connection re-opens the tunnel */
		snprintf(why, sizeof(why), "%s; -L ports stay open", reason ? reason : "closed");
		set_state(r, TS_IDLE, why);
		return;
	}
	redial_failed(r, reason ? reason : "closed before it opened");
}

static void on_signal(uv_signal_t *s, int signum)
{
	stop_run(s->data, 0);
}

/* Parses the common options into r; returns 0 or an exit status.
 * extra: the command's own short options, handled by fn. */
static int setup(struct session_run *r, int argc, char **argv, const char *extra,
                 const struct option *more, int (*fn)(struct session_run *, int, const char *))
{
	struct option opts[16] = {
		{ "secret", required_argument, NULL, 's' },
		{ "caps", required_argument, NULL, 'k' },
		{ "portal", required_argument, NULL, 'p' },
	};
	const char *secret = NULL, *caps = NULL, *portal = NULL;
	char err[256];
	int ch, rc, n = 3;

	for (int i = 0; more != NULL && more[i].name != NULL && n < 15; i++)
		opts[n++] = more[i];
	optind = 1;
	while ((ch = getopt_long(argc, argv, extra, opts, NULL)) != -1) {
		switch (ch) {
		case 's': secret = optarg; break;
		case 'k': caps = optarg; break;
		case 'p': portal = optarg; break;
		default:
			if (fn == NULL || (rc = fn(r, ch, optarg)) != 0)
				return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "fairway %s: give exactly one ADDR\n", argv[0]);
		return EXIT_USAGE;
	}
	if (addr_parse_multi(argv[optind], strlen(argv[optind]), r->addrs, 8, &r->naddrs, err,
	                     sizeof(err)) != 0) {
		fprintf(stderr, "fairway %s: bad address: %s\n", argv[0], err);
		return EXIT_USAGE;
	}
	if (portal != NULL &&
	    addr_parse(portal, strlen(portal), &r->addrs[r->naddrs++], err, sizeof(err)) != 0) {
		fprintf(stderr, "fairway %s: bad --portal address: %s\n", argv[0], err);
		return EXIT_USAGE;
	}
	if ((rc = cli_pick_route(r->addrs, r->naddrs, &r->net, &r->tun)) != 0 ||
	    (rc = cli_parse_caps(caps, r->net_key)) != 0)
		return rc;
	if ((rc = cli_identity_or_onetime(secret, &r->id)) != 0)
		return rc;
	r->loop = uv_default_loop();
	r->api = mrpc_api_new();
	r->node.loop = r->loop;
	r->node.id = &r->id;
	if (r->api == NULL || rpc_add_common(r->api, &r->node) != 0)
		return EXIT_RUNTIME;
	return 0;
}

static int dial(struct session_run *r)
{
	struct conn_cfg cfg = {
		.loop = r->loop, .id = &r->id, .net_key = r->net_key, .api = r->api,
		/* forwarded bytes wait here, not in a deep kernel queue */
		.sndbuf = 64u << 10,
		.on_ready = on_ready, .on_close = on_close, .ud = r,
	};

	return cli_dial(&cfg, r->net, r->tun, &r->handle);
}

static int redial(struct session_run *r)
{
	set_state(r, TS_DIALING, "a local connection is waiting");
	if (dial(r) != 0 && r->ts == TS_DIALING)
		redial_failed(r, "cannot dial the portal");
	return 0;
}

/* fwd: a local connection came while the tunnel is not open. */
static void want_session(void *ud)
{
	struct session_run *r = ud;

	if (r->ts == TS_IDLE)
		(void)redial(r);
}

static int run_session(struct session_run *r)
{
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);   /* a closed terminal does not end a long run */
	uv_timer_init(r->loop, &r->tick);
	r->tick.data = r;
	uv_timer_init(r->loop, &r->retry);
	r->retry.data = r;
	for (size_t i = 0; r->keep && i < r->nlisteners; i++)
		fwd_listener_wait(r->listeners[i], want_session, r);
	uv_signal_init(r->loop, &r->sigint);
	uv_signal_init(r->loop, &r->sigterm);
	r->sigint.data = r->sigterm.data = r;
	uv_signal_start(&r->sigint, on_signal, SIGINT);
	uv_signal_start(&r->sigterm, on_signal, SIGTERM);
	if (dial(r) != 0)
		stop_run(r, EXIT_RUNTIME);
	uv_run(r->loop, UV_RUN_DEFAULT);
	uv_loop_close(r->loop);
	mrpc_api_free(r->api);
	keys_wipe(&r->id);
	free(r->rtt);
	return r->status;
}

/* ------------------------------------------------------------------ ping */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void ping_summary(struct session_run *r)
{
	double sum = 0;

	printf("--- %s ping statistics ---\n%u sent, %u received, %.1f%% lost\n",
	       conn_remote_id(r->session), r->sent, r->received,
	       r->sent ? 100.0 * (r->sent - r->received) / r->sent : 0.0);
	if (r->received == 0)
		return;
	qsort(r->rtt, r->received, sizeof(double), cmp_double);
	for (unsigned i = 0; i < r->received; i++)
		sum += r->rtt[i];
	printf("rtt min/median/p99/max/avg = %.3f/%.3f/%.3f/%.3f/%.3f ms\n", r->rtt[0],
	       r->rtt[r->received / 2], r->rtt[(r->received * 99) / 100 < r->received
	                                          ? (r->received * 99) / 100 : r->received - 1],
	       r->rtt[r->received - 1], sum / r->received);
}

static void ping_send(uv_timer_t *t);

static void ping_reply(struct mrpc_stream *s, struct psc_packet *pkt, void *ud)
{
	struct session_run *r = ud;
	double ms = (double)(uv_hrtime() - r->sent_at) / 1e6;

	r->rtt[r->received++] = ms;
	printf("reply from %s: seq=%u time=%.3f ms\n", conn_remote_id(r->session), r->sent, ms);
	fflush(stdout);
}

static void ping_end(struct mrpc_stream *s, const char *err, void *ud)
{
	struct session_run *r = ud;

	if (err != NULL)
		fprintf(stderr, "fairway ping: seq=%u: %s\n", r->sent, err);
	if (r->stopping)
		return;
	if (r->sent >= r->count) {
		ping_summary(r);
		stop_run(r, r->received == r->count ? 0 : EXIT_RUNTIME);
		return;
	}
	uv_timer_start(&r->tick, ping_send, r->interval_ms, 0);
}

static const struct mrpc_stream_cbs ping_cbs = { .on_data = ping_reply, .on_end = ping_end };

static void ping_send(uv_timer_t *t)
{
	struct session_run *r = t->data;

	if (r->session == NULL || r->stopping)
		return;
	r->sent++;
	r->sent_at = uv_hrtime();
	if (mrpc_call(conn_rpc(r->session), "tunnel.ping", json_array(), &ping_cbs, r) == NULL)
		stop_run(r, EXIT_RUNTIME);
}

static void ping_ready(struct session_run *r)
{
	printf("PING %s through %s\n", conn_remote_id(r->session),
	       r->tun != NULL ? "a tunnel" : "a direct connection");
	ping_send(&r->tick);
}

static int ping_opt(struct session_run *r, int ch, const char *arg)
{
	unsigned long v;
	int rc;

	if (ch == 'c') {
		rc = cli_parse_count("ping", "-c", arg, 1, 1000000, &v);
		if (rc == 0)
			r->count = (unsigned)v;
		return rc;
	}
	if (ch == 'i')
		return cli_parse_duration("ping", "-i", arg, 60000, &r->interval_ms);
	return EXIT_USAGE;
}

int cmd_ping(int argc, char **argv)
{
	struct session_run r = { .count = 10, .interval_ms = 1000, .ready = ping_ready };
	int rc = setup(&r, argc, argv, "c:i:", NULL, ping_opt);

	if (rc != 0)
		return rc;
	r.rtt = calloc(r.count, sizeof(double));
	if (r.rtt == NULL)
		return EXIT_RUNTIME;
	return run_session(&r);
}

/* --------------------------------------------------------------- connect */

struct local_fwd {
	char host[64];
	uint16_t port;
	char service[64];
};

static struct local_fwd fwds[16];
static size_t nfwds;
static bool verbose;   /* --verbose: print the portal's fairway.share */

static int connect_fwd_opt(const char *arg);

static int connect_opt(struct session_run *r, int ch, const char *arg)
{
	if (ch == 'v') {
		verbose = true;
		return 0;
	}
	if (ch == 'o') {
		r->keep = false;
		return 0;
	}
	if (ch != 'L' || arg == NULL)
		return EXIT_USAGE;
	return connect_fwd_opt(arg);
}

static int connect_fwd_opt(const char *arg)
{
	/* [HOST:]PORT:SERVICE */
	struct local_fwd f = { .host = "127.0.0.1" };
	const char *last = strrchr(arg, ':'), *first = strchr(arg, ':');
	char portbuf[8];
	unsigned long port;
	char *end;

	if (last == NULL || nfwds == 16 || strlen(last + 1) >= sizeof(f.service) ||
	    last[1] == '\0')
		goto bad;
	snprintf(f.service, sizeof(f.service), "%s", last + 1);
	if (first != last) {
		if ((size_t)(first - arg) >= sizeof(f.host))
			goto bad;
		memcpy(f.host, arg, (size_t)(first - arg));
		f.host[first - arg] = '\0';
		first++;
	} else {
		first = arg;
	}
	if ((size_t)(last - first) >= sizeof(portbuf) || last == first)
		goto bad;
	memcpy(portbuf, first, (size_t)(last - first));
	portbuf[last - first] = '\0';
	port = strtoul(portbuf, &end, 10);
	if (*end != '\0' || port == 0 || port > 65535)
		goto bad;
	f.port = (uint16_t)port;
	fwds[nfwds++] = f;
	return 0;
bad:
	fprintf(stderr, "fairway connect: -L wants [HOST:]PORT:SERVICE, got '%s'\n", arg);
	return EXIT_USAGE;
}

static void share_line(const char *line, void *ud)
{
	printf("%s\n", line);
	fflush(stdout);
}

/* Binds every -L port before the portal is dialled: a port in use fails
 * now (exit 1, a host that is not an address exit 2), not after two
 * handshakes. Until the session is ready the listeners refuse. */
static int connect_bind(struct session_run *r)
{
	char err[256];
	int rc;

	for (size_t i = 0; i < nfwds; i++) {
		rc = fwd_listen(r->loop, fwds[i].host, fwds[i].port, fwds[i].service, &r->session,
		                &r->listeners[r->nlisteners], err, sizeof(err));
		if (rc != 0) {
			fprintf(stderr, "fairway connect: -L: %s\n", err);
			for (size_t j = 0; j < r->nlisteners; j++)
				fwd_listener_close(r->listeners[j]);
			r->nlisteners = 0;
			uv_run(r->loop, UV_RUN_DEFAULT);
			return rc == -EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
		}
		r->nlisteners++;
	}
	return 0;
}

/* --verbose through a portal: what share of it we get, on the outer session
 * (again on each re-opened tunnel). */
static void watch_share(struct session_run *r)
{
	if (verbose && r->handle != NULL && r->handle != r->session && conn_rpc(r->handle) != NULL &&
	    share_watch(conn_rpc(r->handle), share_line, r) != 0)
		fprintf(stderr, "fairway connect: cannot subscribe to the portal's fairway.share\n");
}

static void connect_ready(struct session_run *r)
{
	for (size_t i = 0; i < nfwds; i++) {
		bool v6 = strchr(fwds[i].host, ':') != NULL;

		/* Scripts wait for these lines: the forward is usable. */
		printf("forwarding %s%s%s:%u -> %s on %s\n", v6 ? "[" : "", fwds[i].host,
		       v6 ? "]" : "", fwds[i].port, fwds[i].service, conn_remote_id(r->session));
	}
	if (nfwds == 0)
		printf("connected to %s\n", conn_remote_id(r->session));
	fflush(stdout);
	watch_share(r);
}

int cmd_connect(int argc, char **argv)
{
	static const struct option more[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "once", no_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct session_run r = { .ready = connect_ready, .keep = true };
	int rc = setup(&r, argc, argv, "L:v", more, connect_opt);

	if (rc != 0)
		return rc;
	r.keep = r.keep && nfwds > 0;   /* without -L there is nothing to keep */
	if ((rc = connect_bind(&r)) != 0) {
		/* setup() made the API and loaded the key: give both back (the
		 * soak's LeakSanitizer found this on "address already in use") */
		uv_loop_close(r.loop);
		mrpc_api_free(r.api);
		keys_wipe(&r.id);
		return rc;
	}
	return run_session(&r);
}
