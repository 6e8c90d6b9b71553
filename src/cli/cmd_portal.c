/* fairway portal — run a room/relay until SIGINT, SIGTERM or `fairway stop`.
 *
 * Settings come from defaults, then the policy file (-c FILE, its [portal]
 * section and its users' identities as members), then the command line,
 * which wins. `fairway reload` re-reads the file; a file with errors is
 * refused and the running settings stay. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include <uv.h>

#include "addr.h"
#include "cli.h"
#include "cmd.h"
#include "ctl.h"
#include "daemon.h"
#include "host.h"
#include "http.h"
#include "log.h"
#include "policy.h"
#include "portal.h"
#include "metrics.h"
#include "sched.h"
#include "store.h"
#include "roomadm.h"
#include <time.h>
#include "util.h"
#include "web.h"
#include "wsup.h"

/* Everything a portal is configured with, owned here. */
struct settings {
	char listen[POLICY_PATH_MAX];
	char advertise[POLICY_PATH_MAX];   /* HOST[:PORT] to print; "" = listen's */
	char name[POLICY_NAME_MAX];
	enum portal_privacy privacy;
	struct portal_limits limits;
	unsigned handshake_ms;
	unsigned metrics_max_users;     /* 0: the portal's default */
	uint8_t (*members)[32], (*denied)[32];
	size_t n_members, n_denied;
	struct portal_sched sched;      /* .users points into users */
	struct portal_user *users;      /* names and ids owned */
	size_t n_users;
	bool privacy_in_file;           /* the policy file says privacy = … */
	char db[POLICY_PATH_MAX];       /* the policy file's db = … ("" none) */
	char *store_name;               /* the room store's name (owned), NULL: none */
	char http[POLICY_PATH_MAX];       /* web server HOST:PORT, "" = off */
	char public_url[POLICY_PATH_MAX]; /* "" = http://<http> */
	char trust_proxy[POLICY_PATH_MAX]; /* trust-proxy list ("" none) */
	char ws_origin[POLICY_PATH_MAX];   /* ws-origin list ("" any) */
};

/* What the command line said, applied over the file. */
struct overrides {
	const char *listen, *name;
	const char *advertise;
	bool privacy_set;
	enum portal_privacy privacy;
	bool conns_set, pending_set, pending_ip_set, tunnels_set, idle_set, hs_set, multihop;
	struct portal_limits limits;
	unsigned handshake_ms;
	unsigned metrics_max_users;     /* 0: not given */
	uint8_t (*members)[32], (*denied)[32];
	size_t n_members, n_denied;
	const char *http, *public_url;
	const char *trust_proxy, *ws_origin;
	const char *metrics;            /* --metrics HOST:PORT, NULL: /metrics on --http */
};

struct portal_run {
	struct portal *portal;
	struct host *via;      /* --via: our announcement at an upstream portal */
	struct ctl *ctl;
	struct http *http;     /* --http: the web server, NULL if off */
	struct web *web;
	struct http *mhttp;    /* --metrics: /metrics on a listener of its own */
	struct wsup *wsup;     /* WebSocket upgrades on http (Origin, proxies) */
	char metrics_url[320];
	const char *policy_path;
	const struct overrides *ov;
	struct store *store;   /* the room store, NULL: none */
	const char *public_url;   /* cfg.public_url, for invite links */
	struct settings cur;
	uv_signal_t sigint, sigterm, sighup;
	uv_idle_t stop_soon;   /* `fairway stop`: after the reply is out */
	bool stopping;
	int64_t started;       /* wall clock at start, for `fairway info` */
	uint64_t started_ns;   /* uv_hrtime() then: uptime that a clock step cannot bend */
};

static void settings_free(struct settings *s)
{
	for (size_t i = 0; i < s->n_users; i++) {
		free((char *)(uintptr_t)s->users[i].name);
		free((void *)(uintptr_t)s->users[i].ids);
	}
	free(s->users);
	s->users = NULL;
	s->n_users = 0;
	s->sched.users = NULL;
	s->sched.n_users = 0;
	free(s->members);
	free(s->denied);
	free(s->store_name);
	s->store_name = NULL;
	s->members = s->denied = NULL;
	s->n_members = s->n_denied = 0;
}

/* The scheduler's classes from the policy's computed rates (the portal's
 * uplink: what it sends is what it relays). */
static int sched_from_policy(struct settings *n, const struct policy *pol)
{
	struct policy_rates r;
	uint64_t line;

	if (policy_compute(pol, POLICY_PLANE_PORTAL, &r) != 0)
		return -1;
	line = r.line_up;
	n->sched.link_rate = line;
	n->sched.local_rate = r.local_up;
	n->sched.guest_rate = r.guest_up;
	n->sched.guest_ceil = !pol->link.borrow ? r.guest_up
	                    : pol->link.ceil_user_up != 0 ? pol->link.ceil_user_up : 0;
	/* Reads: the downlink, and each user's download ceiling. */
	n->sched.link_rate_down = r.line_down;
	n->sched.pace_ns = pol->portal.pace_ms < 0 ? 0
	                 : pol->portal.pace_ms == 0 ? SCHED_PACE_NONE
	                                            : (uint64_t)pol->portal.pace_ms * 1000000u;
	n->sched.guest_ceil_down = !pol->link.borrow ? r.guest_down
	                         : pol->link.ceil_user_down != 0 ? pol->link.ceil_user_down : 0;
	n->users = calloc(pol->n_users + 1, sizeof(*n->users));
	if (n->users == NULL)
		goto fail;
	for (size_t u = 0; u < pol->n_users && u < r.n; u++) {
		struct portal_user *pu = &n->users[u];
		uint8_t (*ids)[32] = calloc(pol->users[u].n_ids + 1, 32);

		n->n_users = u + 1;
		pu->name = strdup(pol->users[u].name);
		pu->ids = (const uint8_t (*)[32])ids;
		if (pu->name == NULL || ids == NULL)
			goto fail;
		for (size_t i = 0; i < pol->users[u].n_ids; i++)
			if (keys_id_parse(pol->users[u].ids[i], strlen(pol->users[u].ids[i]), ids[i]) != 0)
				goto fail;
		pu->n_ids = pol->users[u].n_ids;
		pu->rate = r.u[u].rate_up;
		/* a ceiling equal to the line is no ceiling but the link's */
		pu->ceil = r.u[u].ceil_up >= line ? 0 : r.u[u].ceil_up;
		pu->ceil_down = r.u[u].ceil_down >= r.line_down ? 0 : r.u[u].ceil_down;
	}
	n->sched.users = n->users;
	n->sched.n_users = n->n_users;
	for (size_t i = 0; i < r.n_warn; i++)
		log_warn("%s: %s", pol->file, r.warn[i].msg);
	policy_rates_free(&r);
	return 0;
fail:
	policy_rates_free(&r);
	return -1;
}

static int add_key(uint8_t (**list)[32], size_t *n, const uint8_t pk[32])
{
	uint8_t (*grown)[32];

	for (size_t i = 0; i < *n; i++)
		if (memcmp((*list)[i], pk, 32) == 0)
			return 0;
	grown = realloc(*list, (*n + 1) * 32);
	if (grown == NULL)
		return -1;
	memcpy(grown[*n], pk, 32);
	*list = grown;
	(*n)++;
	return 0;
}

static void settings_defaults(struct settings *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->listen, sizeof(s->listen), "127.0.0.1:8008");
	s->privacy = PORTAL_OPEN;
	/* Limits a public relay can live with; 0 turns one off. */
	s->limits = (struct portal_limits){
		.conns_per_ip = 128, .pending_handshakes = 512, .tunnels_per_peer = 256,
		.idle_timeout_ms = 600000,
	};
}

/* Reads the policy file into s. Diagnostics go to errs (one per line),
 * or to the log when errs is NULL. Returns 0, or -1 when the file has
 * errors (s is then unchanged). */
static int settings_from_policy(struct settings *s, const char *path, char *errs, size_t errlen)
{
	struct policy pol;
	struct settings n = *s;
	char line[POLICY_PATH_MAX + POLICY_MSG_MAX + 32], wrong[POLICY_PATH_MAX + 128];
	size_t used = 0;
	uint8_t pk[32];
	int rc = policy_load(&pol, path);

	n.members = n.denied = NULL;
	n.n_members = n.n_denied = 0;
	n.users = NULL;
	n.n_users = 0;
	n.store_name = NULL;
	memset(&n.sched, 0, sizeof(n.sched));
	/* Kept apart from line: a Fair NAT config always brings notes of its
	 * own, and this message must come out after them, not be lost. */
	wrong[0] = '\0';
	if (pol.format != POLICY_FMT_FAIRWAY) {
		snprintf(wrong, sizeof(wrong), "%s: error: this is a Fair NAT config (for `fairway nat`), "
		         "not a portal policy ([portal] and [user NAME] sections)", path);
		rc = -1;
	}
	for (size_t i = 0; i < pol.n_diags; i++) {
		policy_diag_str(&pol, &pol.diags[i], line, sizeof(line));
		if (errs != NULL && pol.diags[i].level == POLICY_ERROR)
			used += (size_t)snprintf(errs + used, used < errlen ? errlen - used : 0, "%s\n", line);
		else if (errs == NULL)
			fprintf(stderr, "%s\n", line);
		else
			log_warn("%s", line);
	}
	if (wrong[0] != '\0') {
		if (errs != NULL)
			snprintf(errs + used, used < errlen ? errlen - used : 0, "%s\n", wrong);
		else
			fprintf(stderr, "%s\n", wrong);
	}
	if (rc != 0)
		goto out;
	if (pol.portal.listen[0] != '\0')
		snprintf(n.listen, sizeof(n.listen), "%s", pol.portal.listen);
	snprintf(n.advertise, sizeof(n.advertise), "%s", pol.portal.advertise);
	snprintf(n.name, sizeof(n.name), "%s", pol.portal.name);
	n.privacy_in_file = pol.portal.privacy_set;
	n.db[0] = '\0';
	/* db = FILE: relative to the policy file's directory. */
	if (pol.portal.db[0] != '\0') {
		const char *slash = strrchr(path, '/');
		int len = pol.portal.db[0] == '/' || slash == NULL ? 0 : (int)(slash - path + 1);

		if (snprintf(n.db, sizeof(n.db), "%.*s%s", len, path, pol.portal.db) >= (int)sizeof(n.db))
			n.db[0] = '\0';
	}
	n.privacy = pol.portal.privacy == POLICY_PRIVACY_RESTRICTED ? PORTAL_RESTRICTED
	          : pol.portal.privacy == POLICY_PRIVACY_COMMUNITY ? PORTAL_COMMUNITY
	                                                           : PORTAL_OPEN;
	n.limits.conns_per_ip = pol.portal.conns_per_ip;
	n.limits.pending_handshakes = pol.portal.pending_handshakes;
	n.limits.pending_per_ip = pol.portal.pending_per_ip;
	n.limits.tunnels_per_peer = pol.portal.tunnels_per_peer;
	n.limits.idle_timeout_ms = pol.portal.idle_timeout_ms;
	n.limits.allow_multihop = pol.portal.allow_multihop;
	n.handshake_ms = pol.portal.handshake_timeout_ms;
	n.metrics_max_users = pol.portal.metrics_max_users;
	snprintf(n.http, sizeof(n.http), "%s", pol.portal.http);
	snprintf(n.public_url, sizeof(n.public_url), "%s", pol.portal.public_url);
	snprintf(n.trust_proxy, sizeof(n.trust_proxy), "%s", pol.portal.trust_proxy);
	snprintf(n.ws_origin, sizeof(n.ws_origin), "%s", pol.portal.ws_origin);
	/* Members are the identities of the policy's users. */
	for (size_t u = 0; u < pol.n_users && rc == 0; u++)
		for (size_t i = 0; i < pol.users[u].n_ids && rc == 0; i++)
			if (keys_id_parse(pol.users[u].ids[i], strlen(pol.users[u].ids[i]), pk) != 0 ||
			    add_key(&n.members, &n.n_members, pk) != 0)
				rc = -1;
	for (size_t i = 0; i < pol.portal.n_deny && rc == 0; i++)
		if (keys_id_parse(pol.portal.deny[i], strlen(pol.portal.deny[i]), pk) != 0 ||
		    add_key(&n.denied, &n.n_denied, pk) != 0)
			rc = -1;
	if (rc == 0)
		rc = sched_from_policy(&n, &pol);
	if (rc != 0) {
		settings_free(&n);
		goto out;
	}
	settings_free(s);
	*s = n;
out:
	policy_free(&pol);
	return rc == 0 ? 0 : -1;
}

static int settings_override(struct settings *s, const struct overrides *o)
{
	if (o->listen != NULL)
		snprintf(s->listen, sizeof(s->listen), "%s", o->listen);
	if (o->advertise != NULL)
		snprintf(s->advertise, sizeof(s->advertise), "%s", o->advertise);
	if (o->name != NULL)
		snprintf(s->name, sizeof(s->name), "%s", o->name);
	if (o->privacy_set)
		s->privacy = o->privacy;
	if (o->conns_set)
		s->limits.conns_per_ip = o->limits.conns_per_ip;
	if (o->pending_set)
		s->limits.pending_handshakes = o->limits.pending_handshakes;
	if (o->pending_ip_set)
		s->limits.pending_per_ip = o->limits.pending_per_ip;
	if (o->tunnels_set)
		s->limits.tunnels_per_peer = o->limits.tunnels_per_peer;
	if (o->idle_set)
		s->limits.idle_timeout_ms = o->limits.idle_timeout_ms;
	if (o->multihop)
		s->limits.allow_multihop = true;
	if (o->hs_set)
		s->handshake_ms = o->handshake_ms;
	if (o->metrics_max_users != 0)
		s->metrics_max_users = o->metrics_max_users;
	if (o->http != NULL)
		snprintf(s->http, sizeof(s->http), "%s", o->http);
	if (o->public_url != NULL)
		snprintf(s->public_url, sizeof(s->public_url), "%s", o->public_url);
	if (o->trust_proxy != NULL)
		snprintf(s->trust_proxy, sizeof(s->trust_proxy), "%s", o->trust_proxy);
	if (o->ws_origin != NULL)
		snprintf(s->ws_origin, sizeof(s->ws_origin), "%s", o->ws_origin);
	for (size_t i = 0; i < o->n_members; i++)
		if (add_key(&s->members, &s->n_members, o->members[i]) != 0)
			return -1;
	for (size_t i = 0; i < o->n_denied; i++)
		if (add_key(&s->denied, &s->n_denied, o->denied[i]) != 0)
			return -1;
	return 0;
}

static enum portal_privacy privacy_of_mode(enum store_mode m)
{
	return m == STORE_MODE_OPEN ? PORTAL_OPEN : m == STORE_MODE_RESTRICTED ? PORTAL_RESTRICTED
	                                                                       : PORTAL_COMMUNITY;
}

static enum store_mode mode_of_privacy(enum portal_privacy v)
{
	return v == PORTAL_OPEN ? STORE_MODE_OPEN : v == PORTAL_RESTRICTED ? STORE_MODE_RESTRICTED
	                                                                   : STORE_MODE_COMMUNITY;
}

/* With a room store, its privacy mode and its name (when set) are the
 * room's: `fairway room set` changes them at run time and a reload must
 * not undo that. A policy file saying otherwise is logged, not obeyed.
 * Returns 0 or -1 (out of memory). */
static int settings_from_store(struct settings *s, struct store *st)
{
	char *name = NULL;

	if (st == NULL)
		return 0;
	if (s->privacy_in_file && mode_of_privacy(s->privacy) != store_mode_get(st))
		log_warn("the policy file says privacy %s, the room database %s: the database's counts "
		         "(change it with: fairway room set privacy MODE)",
		         portal_privacy_name(s->privacy), store_mode_name(store_mode_get(st)));
	s->privacy = privacy_of_mode(store_mode_get(st));
	if (store_text_get(st, "name", &name) != 0)
		return -1;
	free(s->store_name);
	s->store_name = NULL;
	if (name[0] != '\0')
		s->store_name = name;
	else
		free(name);
	return 0;
}

static void settings_to_cfg(const struct settings *s, struct portal_cfg *cfg)
{
	cfg->name = s->store_name != NULL ? s->store_name : s->name[0] != '\0' ? s->name : NULL;
	cfg->privacy = s->privacy;
	cfg->members = (const uint8_t (*)[32])s->members;
	cfg->n_members = s->n_members;
	cfg->denied = (const uint8_t (*)[32])s->denied;
	cfg->n_denied = s->n_denied;
	cfg->limits = s->limits;
	cfg->metrics_max_users = s->metrics_max_users;
	cfg->handshake_timeout_ms = s->handshake_ms;
	cfg->sched = s->sched;
}

/* ---- control socket ---- */

static void stop_all(struct portal_run *run)
{
	if (run->stopping)
		return;
	run->stopping = true;
	daemon_notify("STOPPING=1");
	host_stop(run->via);
	portal_stop(run->portal);
	http_stop(run->http);
	http_stop(run->mhttp);
	ctl_stop(run->ctl);
	uv_close((uv_handle_t *)&run->sigint, NULL);
	uv_close((uv_handle_t *)&run->sigterm, NULL);
	uv_close((uv_handle_t *)&run->sighup, NULL);
	if (!uv_is_closing((uv_handle_t *)&run->stop_soon))
		uv_close((uv_handle_t *)&run->stop_soon, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
	log_info("signal %d: closing connections", signum);
	stop_all(h->data);
}

static json_t *reload(struct portal_run *run);

/* SIGHUP: what `fairway reload` does, as daemons do. */
static void on_sighup(uv_signal_t *h, int signum)
{
	struct portal_run *run = h->data;
	json_t *r;

	log_info("SIGHUP: reloading the policy");
	daemon_notify("RELOADING=1");
	r = reload(run);
	daemon_notify("READY=1");
	if (!json_is_true(json_object_get(r, "ok")))
		log_warn("SIGHUP: %s", json_string_value(json_object_get(r, "error")));
	json_decref(r);
}

static void stop_soon_cb(uv_idle_t *h)
{
	log_info("stop requested on the control socket");
	stop_all(h->data);
}

static json_t *reload(struct portal_run *run)
{
	struct settings next;
	struct portal_cfg cfg = { 0 };
	char errs[4096] = "", lr[32];

	if (run->policy_path == NULL)
		return json_pack("{s:b,s:s}", "ok", 0, "error",
		                 "this portal was started without a policy file (-c): nothing to reload");
	settings_defaults(&next);
	if (settings_from_policy(&next, run->policy_path, errs, sizeof(errs)) != 0 ||
	    settings_override(&next, run->ov) != 0 || settings_from_store(&next, run->store) != 0) {
		settings_free(&next);
		log_warn("reload of %s refused; the running policy stays", run->policy_path);
		if (errs[0] != '\0' && errs[strlen(errs) - 1] == '\n')
			errs[strlen(errs) - 1] = '\0';
		return json_pack("{s:b,s:s}", "ok", 0, "error", errs[0] ? errs : "cannot read the policy");
	}
	if (strcmp(next.listen, run->cur.listen) != 0)
		log_warn("reload: listen changed to %s; that takes a restart", next.listen);
	if (strcmp(next.db, run->cur.db) != 0)
		log_warn("reload: db changed to %s; that takes a restart", next.db[0] ? next.db : "(none)");
	if (strcmp(next.http, run->cur.http) != 0 || strcmp(next.public_url, run->cur.public_url) != 0 ||
	    strcmp(next.trust_proxy, run->cur.trust_proxy) != 0 || strcmp(next.ws_origin, run->cur.ws_origin) != 0)
		log_warn("reload: http, public-url, trust-proxy or ws-origin changed; that takes a restart");
	if (strcmp(next.advertise, run->cur.advertise) != 0)
		log_warn("reload: advertise changed to %s; that takes a restart", next.advertise);
	settings_to_cfg(&next, &cfg);
	portal_reconfigure(run->portal, &cfg);
	settings_free(&run->cur);   /* the portal no longer points at them */
	run->cur = next;
	log_info("reloaded %s: privacy %s, %zu members, %zu denied, %zu users, link %s",
	         run->policy_path, portal_privacy_name(next.privacy), next.n_members,
	         next.n_denied, next.n_users, next.sched.link_rate != 0 ?
	         policy_rate_str(next.sched.link_rate, lr, sizeof(lr)) : "unpaced");
	return json_pack("{s:b}", "ok", 1);
}

/* fairway member|invite|alias|deny|room on the running portal: the change
 * is committed by roomadm, then takes effect at once. */
static json_t *room_ctl(struct portal_run *run, json_t *req)
{
	struct roomadm_ctx ctx = { .public_url = run->public_url, .now = (int64_t)time(NULL) };
	struct roomadm_effect eff;
	struct portal_cfg cfg = { 0 };
	json_t *r;

	if (run->store == NULL)
		return json_pack("{s:b,s:s,s:b}", "ok", 0, "error",
		                 "this portal runs without a room database (start it with --db FILE, "
		                 "or policy key db)", "usage", 0);
	r = roomadm_exec(run->store, req, &ctx, &eff);
	if (eff.key_changed)
		portal_membership_changed(run->portal, eff.key);
	if (eff.room_changed && settings_from_store(&run->cur, run->store) == 0) {
		settings_to_cfg(&run->cur, &cfg);
		portal_reconfigure(run->portal, &cfg);
		log_info("room settings changed: privacy %s", portal_privacy_name(run->cur.privacy));
	}
	return r;
}

static json_t *on_ctl(const char *cmd, json_t *req, void *ud)
{
	struct portal_run *run = ud;
	json_t *r;

	if (strcmp(cmd, "reload") == 0) {
		/* Tell the service manager for the length of the reload. */
		daemon_notify("RELOADING=1");
		r = reload(run);
		daemon_notify("READY=1");
		return r;
	}
	if (strcmp(cmd, "metrics") == 0 || strcmp(cmd, "dot") == 0)
		return metrics_ctl(run->portal, cmd);
	if (strcmp(cmd, "info") == 0) {
		char when[32];

		r = portal_info(run->portal);
		json_object_set_new(r, "ok", json_true());
		json_object_set_new(r, "version", json_string(FAIRWAY_VERSION));
		json_object_set_new(r, "started", json_string(util_utc_str(run->started, when, sizeof(when))));
		json_object_set_new(r, "uptime_s",
		                    json_integer((json_int_t)((uv_hrtime() - run->started_ns) / 1000000000u)));
		return r;
	}
	if (strcmp(cmd, "stop") == 0) {
		uv_idle_start(&run->stop_soon, stop_soon_cb);
		return json_pack("{s:b}", "ok", 1);
	}
	if (strcmp(cmd, "room") == 0)
		return room_ctl(run, req);
	return NULL;
}

/* ---- --via: reachable through another portal ---- */

static void via_accept(struct mrpc_stream *s, const char *label, void *ud)
{
	struct portal_run *run = ud;

	portal_accept_tunnel(run->portal, s, label);
}

static void via_announced(const char *addr, void *ud)
{
	/* Second line on stdout: the way in through the upstream portal. */
	printf("%s\n", addr);
	fflush(stdout);
	log_info("reachable through the upstream portal as %s", addr);
}

/* ---- command line ---- */

static int parse_count(const char *opt, const char *s, unsigned *out)
{
	unsigned long v;
	int rc = cli_parse_count("portal", opt, s, 0, 100000000, &v);

	if (rc == 0)
		*out = (unsigned)v;
	return rc;
}

static int parse_id_opt(const char *opt, const char *s, uint8_t (**list)[32], size_t *n)
{
	uint8_t pk[32];

	if (keys_id_parse(s, strlen(s), pk) != 0) {
		fprintf(stderr, "fairway portal: --%s '%s' is not a feed id (@…=.ed25519)\n", opt, s);
		return EXIT_USAGE;
	}
	return add_key(list, n, pk) == 0 ? 0 : EXIT_RUNTIME;
}

static int parse_args(int argc, char **argv, struct overrides *o, const char **secret,
                      const char **caps, const char **policy, const char **ctl_path,
                      const char **via, const char **db)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "secret", required_argument, NULL, 's' },
		{ "caps", required_argument, NULL, 'k' },
		{ "config", required_argument, NULL, 'c' },
		{ "handshake-timeout", required_argument, NULL, 't' },
		{ "name", required_argument, NULL, 'n' },
		{ "privacy", required_argument, NULL, 'P' },
		{ "member", required_argument, NULL, 'm' },
		{ "deny", required_argument, NULL, 'd' },
		{ "max-conns-per-ip", required_argument, NULL, 1 },
		{ "max-pending-handshakes", required_argument, NULL, 2 },
		{ "max-tunnels-per-peer", required_argument, NULL, 3 },
		{ "pending-per-ip", required_argument, NULL, 10 },
		{ "idle-timeout", required_argument, NULL, 4 },
		{ "allow-multihop", no_argument, NULL, 5 },
		{ "ctl", required_argument, NULL, 6 },
		{ "via", required_argument, NULL, 7 },
		{ "db", required_argument, NULL, 8 },
		{ "metrics-max-users", required_argument, NULL, 9 },
		{ "http", required_argument, NULL, 20 },
		{ "public-url", required_argument, NULL, 21 },
		{ "metrics", required_argument, NULL, 22 },
		{ "advertise", required_argument, NULL, 23 },
		{ "trust-proxy", required_argument, NULL, 24 },
		{ "ws-origin", required_argument, NULL, 25 },
		{ NULL, 0, NULL, 0 },
	};
	int ch, rc = 0;

	optind = 1;
	while (rc == 0 && (ch = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (ch) {
		case 'l': o->listen = optarg; break;
		case 's': *secret = optarg; break;
		case 'k': *caps = optarg; break;
		case 'c': *policy = optarg; break;
		case 'n': o->name = optarg; break;
		case 6: *ctl_path = optarg; break;
		case 7: *via = optarg; break;
		case 8: *db = optarg; break;
		case 9:
			rc = parse_count("--metrics-max-users", optarg, &o->metrics_max_users);
			if (rc == 0 && o->metrics_max_users == 0) {
				fprintf(stderr, "fairway portal: --metrics-max-users wants a count of 1 or more\n");
				rc = EXIT_USAGE;
			}
			break;
		case 20: o->http = optarg; break;
		case 21: o->public_url = optarg; break;
		case 22: o->metrics = optarg; break;
		case 23: o->advertise = optarg; break;
		case 24: o->trust_proxy = optarg; break;
		case 25: o->ws_origin = optarg; break;
		case 5: o->multihop = true; break;
		case 't':
			rc = cli_parse_duration("portal", "--handshake-timeout", optarg, 3600000, &o->handshake_ms);
			o->hs_set = true;
			if (rc == 0 && o->handshake_ms == 0) {
				fprintf(stderr, "fairway portal: --handshake-timeout wants milliseconds > 0\n");
				rc = EXIT_USAGE;
			}
			break;
		case 'P':
			o->privacy_set = true;
			if (strcmp(optarg, "open") == 0)
				o->privacy = PORTAL_OPEN;
			else if (strcmp(optarg, "community") == 0)
				o->privacy = PORTAL_COMMUNITY;
			else if (strcmp(optarg, "restricted") == 0)
				o->privacy = PORTAL_RESTRICTED;
			else {
				fprintf(stderr, "fairway portal: --privacy is open, community or restricted\n");
				rc = EXIT_USAGE;
			}
			break;
		case 'm': rc = parse_id_opt("member", optarg, &o->members, &o->n_members); break;
		case 'd': rc = parse_id_opt("deny", optarg, &o->denied, &o->n_denied); break;
		case 1: rc = parse_count("--max-conns-per-ip", optarg, &o->limits.conns_per_ip); o->conns_set = true; break;
		case 2: rc = parse_count("--max-pending-handshakes", optarg, &o->limits.pending_handshakes); o->pending_set = true; break;
		case 10: rc = parse_count("--pending-per-ip", optarg, &o->limits.pending_per_ip); o->pending_ip_set = true; break;
		case 3: rc = parse_count("--max-tunnels-per-peer", optarg, &o->limits.tunnels_per_peer); o->tunnels_set = true; break;
		case 4: rc = cli_parse_duration("portal", "--idle-timeout", optarg, UINT32_MAX, &o->limits.idle_timeout_ms); o->idle_set = true; break;
		default: rc = EXIT_USAGE;
		}
	}
	if (rc == 0 && optind != argc) {
		fprintf(stderr, "fairway portal: unexpected argument '%s'\n", argv[optind]);
		rc = EXIT_USAGE;
	}
	return rc;
}

/* GET /metrics: the Prometheus exposition (metrics.h), read-only. */
static enum MHD_Result on_metrics(struct http_req *r)
{
	struct portal_run *run = r->ud;
	struct prom_buf b;
	enum MHD_Result res;

	prom_buf_init(&b);
	if (metrics_write(run->portal, &b) == 0)
		res = http_reply(r, MHD_HTTP_OK, METRICS_CONTENT_TYPE, b.p, b.len);
	else
		res = http_reply(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8",
		                 "out of memory\n", 14);
	prom_buf_free(&b);
	return res;
}

/* /metrics: on a listener of its own with --metrics (so that it can stay
 * off the public one), else on the --http one. Prints the URL with
 * --metrics (port 0 picks one). */
static int start_metrics(struct portal_run *run, uv_loop_t *loop)
{
	struct http_cfg hcfg = { .loop = loop, .max_body = 1, .per_ip = 16 };
	char host[256], err[256];
	uint16_t port;
	int rc;

	if (run->ov->metrics == NULL)
		return run->http == NULL ? 0
		     : http_route(run->http, "GET", "/metrics", HTTP_EXACT, on_metrics, run);
	if (cli_parse_hostport(run->ov->metrics, host, sizeof(host), &port) != 0) {
		fprintf(stderr, "fairway portal: --metrics wants HOST:PORT, got '%s'\n", run->ov->metrics);
		return EXIT_USAGE;
	}
	hcfg.host = host;
	hcfg.port = port;
	rc = http_start(&hcfg, &run->mhttp, err, sizeof(err));
	if (rc == 0)
		rc = http_route(run->mhttp, "GET", "/metrics", HTTP_EXACT, on_metrics, run);
	if (rc != 0) {
		fprintf(stderr, "fairway portal: --metrics %s: %s\n", run->ov->metrics,
		        run->mhttp != NULL ? strerror(-rc) : err);
		return rc == -EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
	}
	snprintf(run->metrics_url, sizeof(run->metrics_url), "http://%s%s%s:%u/metrics",
	         strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", http_port(run->mhttp));
	log_info("metrics on %s", run->metrics_url);
	return 0;
}

/* --http: the web server (http.h) with the room's public routes (web.h).
 * Needs the store (--db). Configuration errors: EXIT_USAGE. */
static char web_host[256];

static int start_web(struct portal_run *run, uv_loop_t *loop, const struct keys *id,
                     struct store *store, struct portal_cfg *pcfg)
{
	struct http_cfg hcfg = { .loop = loop };
	struct web_cfg wcfg = { .loop = loop };
	static char url[WEB_URL_MAX + 300], msaddr[ADDR_TEXT_MAX + 300];
	char clean[WEB_URL_MAX], domain[256], err[512], b64[KEYS_B64_LEN + 1];
	struct addr self;
	uint16_t port;
	int rc;

	if (store == NULL) {
		fprintf(stderr, "fairway portal: --http needs the room database (--db FILE)\n");
		return EXIT_USAGE;
	}
	if (cli_parse_hostport(run->cur.http, web_host, sizeof(web_host), &port) != 0) {
		fprintf(stderr, "fairway portal: --http wants HOST:PORT, got '%s'\n", run->cur.http);
		return EXIT_USAGE;
	}
	if (run->cur.public_url[0] != '\0' &&
	    web_public_url_parse(run->cur.public_url, clean, sizeof(clean), domain, sizeof(domain),
	                         err, sizeof(err)) != 0) {
		fprintf(stderr, "fairway portal: --public-url: %s\n", err);
		return EXIT_USAGE;
	}
	hcfg.host = web_host;
	hcfg.port = port;
	/* One limit for both listeners; behind a trusted proxy every
	 * connection comes from the proxy, so the portal applies it to the
	 * forwarded addresses instead. */
	hcfg.per_ip = run->cur.trust_proxy[0] != '\0' ? 0 : run->cur.limits.conns_per_ip;
	rc = http_start(&hcfg, &run->http, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "fairway portal: %s\n", err);
		return rc == -EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
	}
	if (run->cur.public_url[0] != '\0') {
		snprintf(url, sizeof(url), "%s", clean);
	} else {
		/* A wildcard address is nobody's address: links need a name. */
		bool any = strcmp(web_host, "0.0.0.0") == 0 || strcmp(web_host, "::") == 0;
		const char *h = any ? "localhost" : web_host;

		if (any)
			log_warn("--http %s without --public-url: links will say localhost", run->cur.http);
		snprintf(url, sizeof(url), "http://%s%s%s:%u", strchr(h, ':') ? "[" : "", h,
		         strchr(h, ':') ? "]" : "", http_port(run->http));
		web_public_url_parse(url, clean, sizeof(clean), domain, sizeof(domain), err, sizeof(err));
	}
	/* The muxrpc address clients get: the web host's name, the SSB port. */
	if (addr_parse(portal_address(run->portal), strlen(portal_address(run->portal)), &self,
	               err, sizeof(err)) != 0) {
		fprintf(stderr, "fairway portal: own address: %s\n", err);
		return EXIT_RUNTIME;
	}
	keys_pk_format_b64(b64, id->pk);
	snprintf(msaddr, sizeof(msaddr), "net:%s:%u~shs:%s", domain, self.port, b64);
	pcfg->public_url = url;
	/* SSB over WebSocket, any path */
	if (wsup_attach(run->http, run->portal, run->cur.ws_origin, run->cur.trust_proxy, &run->wsup,
	                err, sizeof(err)) != 0) {
		fprintf(stderr, "fairway portal: %s\n", err);
		return EXIT_USAGE;
	}
	portal_set_public_url(run->portal, url);
	run->public_url = url;   /* invite links made over the control socket */
	wcfg.http = run->http;
	wcfg.store = store;
	wcfg.portal = run->portal;
	wcfg.id = id;
	wcfg.public_url = url;
	wcfg.msaddr = msaddr;
	wcfg.name = run->cur.name[0] != '\0' ? run->cur.name : NULL;
	rc = web_start(&wcfg, &run->web, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "fairway portal: %s\n", err);
		return rc == -EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
	}
	log_info("web server on %s:%u, public URL %s, room address %s", web_host,
	         http_port(run->http), url, msaddr);
	return 0;
}

int cmd_portal(int argc, char **argv)
{
	struct overrides ov = { 0 };
	struct portal_run run = { .ov = &ov, .started = (int64_t)time(NULL), .started_ns = uv_hrtime() };
	const char *secret = NULL, *caps = NULL, *ctl_path = NULL, *via = NULL, *db = NULL;
	struct store *store = NULL;
	char dberr[512], db_def[4096];
	const char *db_what = "--db";
	struct host_cfg hc = { 0 };
	char host[256], adv_host[256] = "", err[256], ctl_def[4096];
	uint8_t net_key[32];
	uint16_t port;
	struct keys id;
	bool have_id = false;
	uv_loop_t *loop = uv_default_loop();
	struct portal_cfg cfg = { .loop = loop };
	int rc;

	settings_defaults(&run.cur);
	rc = parse_args(argc, argv, &ov, &secret, &caps, &run.policy_path, &ctl_path, &via, &db);
	if (rc != 0)
		goto out;
	if (via != NULL && (addr_parse(via, strlen(via), &hc.portal, err, sizeof(err)) != 0 ||
	                    hc.portal.kind != ADDR_NET || !hc.portal.has_shs)) {
		fprintf(stderr, "fairway portal: --via wants net:HOST:PORT~shs:KEY (%s)\n",
		        hc.portal.kind != ADDR_NET ? "not a net address" : err);
		rc = EXIT_USAGE;
		goto out;
	}
	if (run.policy_path != NULL &&
	    settings_from_policy(&run.cur, run.policy_path, NULL, 0) != 0) {
		rc = EXIT_USAGE;
		goto out;
	}
	if (settings_override(&run.cur, &ov) != 0) {
		rc = EXIT_RUNTIME;
		goto out;
	}
	/* The room store: --db, else the policy's db, else
	 * $FAIRWAY_HOME/room.db if it exists (no store otherwise: a plain
	 * relay needs none). Its members and denied keys count beside the
	 * policy file's. A database we cannot use is a configuration error. */
	if (db == NULL && run.cur.db[0] != '\0')
		db = run.cur.db, db_what = "db";
	if (db == NULL && cli_default_db(db_def, sizeof(db_def)) == 0 && access(db_def, F_OK) == 0)
		db = db_def, db_what = db_def;
	if (db != NULL && (store_open(db, &store, dberr, sizeof(dberr)) != 0 ||
	                   store_lock(store, db, dberr, sizeof(dberr)) != 0)) {
		fprintf(stderr, "fairway portal: %s: %s\n", db_what, dberr);
		rc = EXIT_USAGE;
		goto out;
	}
	run.store = store;
	/* --privacy and --name are written into the store (as go-ssb-room's
	 * -mode): what the operator said last counts, then and after. */
	if (store != NULL && ((ov.privacy_set && store_mode_set(store, mode_of_privacy(ov.privacy)) != 0) ||
	                      (ov.name != NULL && store_text_set(store, "name", ov.name) != 0))) {
		fprintf(stderr, "fairway portal: %s: cannot write the privacy mode or name: %s\n",
		        db_what, store_errmsg(store));
		rc = EXIT_RUNTIME;
		goto out;
	}
	if (settings_from_store(&run.cur, store) != 0) {
		fprintf(stderr, "fairway portal: %s: %s\n", db_what, store_errmsg(store));
		rc = EXIT_RUNTIME;
		goto out;
	}
	if ((rc = cli_parse_hostport(run.cur.listen, host, sizeof(host), &port)) != 0 ||
	    (rc = cli_parse_advertise("portal", ov.advertise != NULL ? "--advertise" : "advertise",
	                              run.cur.advertise, adv_host,
	                              sizeof(adv_host), &cfg.advertise_port)) != 0 ||
	    (rc = cli_parse_caps(caps, net_key)) != 0 ||
	    (rc = cli_load_identity(secret, &id)) != 0)
		goto out;
	have_id = true;

	cfg.id = &id;
	cfg.net_key = net_key;
	cfg.host = host;
	cfg.port = port;
	cfg.advertise_host = adv_host[0] != '\0' ? adv_host : NULL;
	settings_to_cfg(&run.cur, &cfg);
	cfg.store = store;
	/* Socket activation (fairway-portal.socket): the service manager
	 * bound the port; --listen then only names it in messages. */
	cfg.listen_fd = daemon_listen_fd("ssb");
	if (cfg.listen_fd > 2)
		log_info("using the listening socket passed by the service manager (fd %d)", cfg.listen_fd);
	run.public_url = cfg.public_url;
	rc = portal_start(&cfg, &run.portal, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "fairway portal: %s\n", err);
		uv_run(loop, UV_RUN_DEFAULT);
		/* A listen address that is no address is a configuration error. */
		rc = rc == -EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
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
		uv_run(loop, UV_RUN_DEFAULT);
		rc = EXIT_RUNTIME;
		goto out;
	}
	uv_idle_init(loop, &run.stop_soon);
	run.stop_soon.data = &run;
	if ((run.cur.http[0] != '\0' && (rc = start_web(&run, loop, &id, store, &cfg)) != 0) ||
	    (rc = start_metrics(&run, loop)) != 0) {
		http_stop(run.http);
		http_stop(run.mhttp);
		portal_stop(run.portal);
		ctl_stop(run.ctl);
		uv_close((uv_handle_t *)&run.stop_soon, NULL);
		uv_run(loop, UV_RUN_DEFAULT);
		portal_free(run.portal);
		uv_run(loop, UV_RUN_DEFAULT);
		goto out;
	}
	/* Scripts wait for this line: it means we are accepting. */
	printf("%s\n", portal_address(run.portal));
	if (run.http != NULL) {   /* and these, with --http */
		const char *key = strstr(portal_address(run.portal), "~shs:");

		printf("ws://%s%s%s:%u%s\n", strchr(web_host, ':') ? "[" : "", web_host,
		       strchr(web_host, ':') ? "]" : "", http_port(run.http), key ? key : "");
		if (strncmp(run.public_url, "https://", 8) == 0) {
			/* Behind a TLS proxy: the address browsers reach. */
			const char *h = run.public_url + 8;

			printf("wss://%.*s%s\n", (int)strcspn(h, "/"), h, key ? key : "");
		}
		printf("http://%s%s%s:%u\n", strchr(web_host, ':') ? "[" : "", web_host,
		       strchr(web_host, ':') ? "]" : "", http_port(run.http));
	}
	if (run.mhttp != NULL)
		printf("metrics: %s\n", run.metrics_url);
	fflush(stdout);
	cli_warn_unspecified(portal_address(run.portal));
	daemon_notify("READY=1");
	log_info("portal listening on %s, privacy %s, %zu members%s%s%s%s",
	         portal_address(run.portal), portal_privacy_name(run.cur.privacy),
	         run.cur.n_members + (store != NULL ? store_member_count(store) : 0),
	         run.ctl != NULL ? ", control socket " : "", run.ctl != NULL ? ctl_path : "",
	         store != NULL ? ", room database " : "", store != NULL ? db : "");

	if (via != NULL) {
		hc.loop = loop;
		hc.id = &id;
		hc.net_key = net_key;
		hc.accept = via_accept;
		hc.on_announced = via_announced;
		hc.ud = &run;
		run.via = host_start(&hc);
		if (run.via == NULL)
			log_warn("--via: out of memory; not announcing upstream");
	}
	uv_signal_init(loop, &run.sigint);
	uv_signal_init(loop, &run.sigterm);
	run.sigint.data = run.sigterm.data = &run;
	uv_signal_start(&run.sigint, on_signal, SIGINT);
	uv_signal_start(&run.sigterm, on_signal, SIGTERM);
	uv_signal_init(loop, &run.sighup);
	run.sighup.data = &run;
	uv_signal_start(&run.sighup, on_sighup, SIGHUP);
	signal(SIGPIPE, SIG_IGN);

	uv_run(loop, UV_RUN_DEFAULT);
	portal_free(run.portal);
	uv_run(loop, UV_RUN_DEFAULT);   /* the scheduler's timer closes */
	http_free(run.http);
	http_free(run.mhttp);
	web_free(run.web);
	uv_loop_close(loop);
	log_info("portal stopped");
	rc = EXIT_OK;
out:
	if (have_id)
		keys_wipe(&id);
	settings_free(&run.cur);
	wsup_free(run.wsup);   /* after http_free: its upgrades point here */
	free(ov.members);
	free(ov.denied);
	store_close(store);
	return rc;
}
