/* fairway info | stop | reload — talk to a running portal over its
 * control socket (see ctl.h). info prints the state like `tc -s class
 * show`, or the raw JSON with --json, the Prometheus exposition with
 * --prometheus, the class tree as Graphviz DOT with --dot (metrics.h). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "ctl.h"
#include "policy.h"
#include "util.h"

enum info_fmt { FMT_TEXT, FMT_JSON, FMT_PROM, FMT_DOT };

static int parse(int argc, char **argv, const char **path, enum info_fmt *fmt, char *def, size_t deflen)
{
	static const struct option opts[] = {
		{ "ctl", required_argument, NULL, 'c' },
		{ "secret", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "prometheus", no_argument, NULL, 'p' },
		{ "dot", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	const char *secret = NULL;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': *path = optarg; break;
		case 's': secret = optarg; break;
		case 'j':
		case 'p':
		case 'd':
			if (fmt == NULL)
				return EXIT_USAGE;
			if (*fmt != FMT_TEXT) {
				fprintf(stderr, "fairway %s: --json, --prometheus and --dot exclude each other\n", argv[0]);
				return EXIT_USAGE;
			}
			*fmt = ch == 'j' ? FMT_JSON : ch == 'p' ? FMT_PROM : FMT_DOT;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "fairway %s: unexpected argument '%s'\n", argv[0], argv[optind]);
		return EXIT_USAGE;
	}
	if (*path == NULL) {
		if (ctl_default_path(secret, def, deflen) != 0)
			return EXIT_USAGE;
		*path = def;
	}
	return 0;
}

static json_t *ask(const char *path, const char *cmd)
{
	char err[512];
	json_t *r = ctl_request(path, cmd, err, sizeof(err));

	if (r == NULL) {
		fprintf(stderr, "fairway %s: %s\n", cmd, err);
		return NULL;
	}
	if (!json_is_true(json_object_get(r, "ok"))) {
		const char *e = json_string_value(json_object_get(r, "error"));

		fprintf(stderr, "fairway %s: %s\n", cmd, e != NULL ? e : "refused");
		json_decref(r);
		return NULL;
	}
	return r;
}

static long long num(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static double num_f(json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

/* Like `tc -s class show`: the link, each user class, each tunnel flow. */
static void print_sched(json_t *sch)
{
	json_t *cls, *fl;
	size_t i, j;
	char a[32], b[32], c[32], rc[80];
	/* No rate-up: nothing is paced, and a class's "rate" is only its
	 * weight when tunnels compete — not a rate anybody gets. */
	bool paced = num(sch, "rate") != 0;

	if (!json_is_object(sch))
		return;
	printf("link %s  sent %lld bytes (+%lld of TCP/IP headers and ACKs)  now %s\n",
	       paced ? policy_rate_str(num(sch, "rate"), c, sizeof(c)) : "unpaced (no rate-up)",
	       num(sch, "bytes"), num(sch, "overhead"), policy_rate_str(num(sch, "cur_rate"), b, sizeof(b)));
	json_array_foreach(json_object_get(sch, "classes"), i, cls) {
		if (paced)
			snprintf(rc, sizeof(rc), "rate %s ceil %s", policy_rate_str(num(cls, "rate"), a, sizeof(a)),
			         num(cls, "ceil") ? policy_rate_str(num(cls, "ceil"), b, sizeof(b)) : "link");
		else
			snprintf(rc, sizeof(rc), "unpaced");
		printf(" class %-12s %s  sent %lld bytes (borrowed %lld)  now %s\n"
		       "   backlog %lld bytes %lld chunks  delay p50 %.2fms p99 %.2fms  over-limit %lld\n",
		       json_string_value(json_object_get(cls, "name")), rc,
		       num(cls, "bytes"), num(cls, "borrowed"), policy_rate_str(num(cls, "cur_rate"), c, sizeof(c)),
		       num(cls, "queued_bytes"), num(cls, "queued_chunks"), num_f(cls, "delay_p50_ms"),
		       num_f(cls, "delay_p99_ms"), num(cls, "over_limit"));
		json_array_foreach(json_object_get(cls, "tunnels"), j, fl) {
			printf("   tunnel %.12s… -> %.12s…  %-11s sent %lld bytes  now %s  backlog %lld bytes"
			       "  delay p50 %.2fms p99 %.2fms%s\n",
			       json_string_value(json_object_get(fl, "from")),
			       json_string_value(json_object_get(fl, "to")),
			       json_string_value(json_object_get(fl, "band")), num(fl, "bytes"),
			       policy_rate_str(num(fl, "cur_rate"), a, sizeof(a)), num(fl, "queued_bytes"),
			       num_f(fl, "delay_p50_ms"), num_f(fl, "delay_p99_ms"),
			       num(fl, "blocked_source_ms") ? "  (source stopped)" : "");
		}
	}
}

static void print_info(json_t *r)
{
	json_t *k = json_object_get(r, "counters"), *peer;
	size_t i;
	char up[32];

	printf("portal %s  %s  privacy %s\n", json_string_value(json_object_get(r, "id")),
	       json_string_value(json_object_get(r, "address")),
	       json_string_value(json_object_get(r, "privacy")));
	if (json_is_string(json_object_get(r, "version")))
		printf(" fairway %s  up %s (since %s)\n", json_string_value(json_object_get(r, "version")),
		       util_duration_str((uint64_t)num(r, "uptime_s"), up, sizeof(up)),
		       json_string_value(json_object_get(r, "started")));
	printf(" connections %lld (%lld in handshake)  attendants %lld  tunnels %lld open, %lld opened\n",
	       num(r, "connections"), num(r, "handshaking"), num(r, "attendants"),
	       num(r, "tunnels_open"), num(k, "tunnels_opened"));
	printf(" refused: per-address %lld, pending %lld (per-address %lld, evicted %lld), denied %lld, "
	       "not-member %lld, tunnels-per-peer %lld, multi-hop %lld, unknown-target %lld; idle closes %lld\n",
	       num(k, "refused_conns_per_ip"), num(k, "refused_pending"),
	       num(k, "refused_pending_per_ip"), num(k, "evicted_handshakes"), num(k, "refused_denied"),
	       num(k, "refused_not_member"), num(k, "refused_tunnels_per_peer"),
	       num(k, "refused_multihop"), num(k, "refused_unknown_target"), num(k, "closed_idle"));
	printf(" tunnels ended for stalling their sender: %lld\n", num(k, "closed_blocked"));
	print_sched(json_object_get(r, "scheduler"));
	json_array_foreach(json_object_get(r, "peers"), i, peer) {
		printf(" peer %s  %s  %s%s%s  tunnels %lld  queued %lld bytes\n",
		       json_string_value(json_object_get(peer, "id")),
		       json_string_value(json_object_get(peer, "address")),
		       json_string_value(json_object_get(peer, "state")),
		       json_is_true(json_object_get(peer, "attendant")) ? "  attendant" : "",
		       json_is_true(json_object_get(peer, "member")) ? "  member" : "",
		       num(peer, "tunnels"), num(peer, "queued_bytes"));
	}
}

int cmd_info(int argc, char **argv)
{
	const char *path = NULL;
	char def[4096];
	enum info_fmt fmt = FMT_TEXT;
	json_t *r;
	int rc = parse(argc, argv, &path, &fmt, def, sizeof(def));

	if (rc != 0)
		return rc;
	r = ask(path, fmt == FMT_PROM ? "metrics" : fmt == FMT_DOT ? "dot" : "info");
	if (r == NULL)
		return EXIT_RUNTIME;
	if (fmt == FMT_PROM || fmt == FMT_DOT) {
		const char *text = json_string_value(json_object_get(r, "text"));

		if (text == NULL) {
			fprintf(stderr, "fairway info: the portal sent no %s text (an older portal?)\n",
			        fmt == FMT_PROM ? "metrics" : "DOT");
			json_decref(r);
			return EXIT_RUNTIME;
		}
		fputs(text, stdout);
	} else if (fmt == FMT_JSON) {
		json_dumpf(r, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(CTL_REAL_DIGITS));
		printf("\n");
	} else {
		print_info(r);
	}
	json_decref(r);
	return EXIT_OK;
}

/* stop and reload: one command, ok or not. */
int cmd_stop(int argc, char **argv)
{
	const char *path = NULL;
	char def[4096];
	json_t *r;
	int rc = parse(argc, argv, &path, NULL, def, sizeof(def));

	if (rc != 0)
		return rc;
	r = ask(path, argv[0]);
	rc = r != NULL ? EXIT_OK : EXIT_RUNTIME;   /* r is not used once released */
	json_decref(r);
	return rc;
}
