/* metrics — see metrics.h. */
#include "metrics.h"

#include <jansson.h>

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "conn.h"
#include "policy.h"
#include "portal.h"
#include "relay.h"
#include "sched.h"
#include "store.h"
#include "tunnel.h"
#include "util.h"

#ifndef FAIRWAY_VERSION
#define FAIRWAY_VERSION "0"
#endif

/* One `user` label value: a class, a member's account, or "other". */
struct useries {
	char label[72];
	bool has_class;           /* class fields below are meaningful */
	const struct relay_acct *acct;   /* members counted on their own */
	uint64_t up, down, rate, backlog;
	uint64_t borrowed, guarantee, ceil_up, ceil_down;
	uint64_t hist[SCHED_BANDS][SCHED_DELAY_NB + 1], hsum[SCHED_BANDS];
};

struct users {
	struct useries *u;
	size_t n;
	struct useries other;
	size_t folded;            /* label values summed into other */
};

static uint64_t sat_sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* "@" and the first 8 base64 characters of the key: short, and as
 * unique as a label needs among a room's members. */
static void short_id(char *out, size_t len, const uint8_t pk[32])
{
	char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];

	sodium_bin2base64(b64, sizeof(b64), pk, 32, sodium_base64_VARIANT_ORIGINAL);
	snprintf(out, len, "@%.8s", b64);
}

/* A policy user named like one of our own label values gets a prefix,
 * so no two series share labels. */
static void class_label(char *out, size_t len, const char *name, bool builtin)
{
	if (!builtin && (strcmp(name, "guest") == 0 || strcmp(name, "local") == 0 ||
	                 strcmp(name, "other") == 0 || name[0] == '@'))
		snprintf(out, len, "user:%s", name);
	else
		snprintf(out, len, "%s", name);
}

static void fold(struct useries *o, const struct useries *s)
{
	o->up += s->up;
	o->down += s->down;
	o->rate += s->rate;
	o->backlog += s->backlog;
	if (!s->has_class)
		return;
	o->has_class = true;
	o->borrowed += s->borrowed;
	o->guarantee += s->guarantee;
	o->ceil_up += s->ceil_up;
	o->ceil_down += s->ceil_down;
	for (unsigned b = 0; b < SCHED_BANDS; b++) {
		for (unsigned j = 0; j <= SCHED_DELAY_NB; j++)
			o->hist[b][j] += s->hist[b][j];
		o->hsum[b] += s->hsum[b];
	}
}

/* Pointer → account index, for attributing the guest class's flows. */
struct amap {
	const struct relay_acct **key;
	size_t *val, cap;
};

static size_t amap_slot(const struct amap *m, const struct relay_acct *a)
{
	size_t h = ((uintptr_t)a >> 4) * 0x9e3779b97f4a7c15ull;

	for (h &= m->cap - 1; m->key[h] != NULL && m->key[h] != a; h = (h + 1) & (m->cap - 1))
		;
	return h;
}

static void users_free(struct users *us)
{
	free(us->u);
	memset(us, 0, sizeof(*us));
}

/* Every class, then every member account; past the cap (guest and
 * local are always kept) the rest is summed into other. The guest series
 * is the guest class less the accounts: they are scheduled inside it. */
static int users_collect(const struct portal *p, uint64_t now, struct users *us)
{
	const struct portal_cfg *cfg = portal_config(p);
	struct sched *s = relay_sched(portal_relay(p));
	const struct relay_acct *a, *aother = portal_acct_other(p);
	size_t max = portal_metrics_max_users(p), ncls = 0, nacct = 0, cap, gslot = SIZE_MAX;
	struct sched_class *guest = NULL;
	struct amap m = { 0 };
	struct useries tmp, accts = { 0 };   /* accts: the sum of every account */
	struct sched_class **cls = NULL;
	const uint8_t *pk;
	int rc = 0;

	memset(us, 0, sizeof(*us));
	snprintf(us->other.label, sizeof(us->other.label), "other");
	for (struct sched_class *c = sched_class_next(s, NULL); c; c = sched_class_next(s, c))
		ncls++;
	while (portal_acct_get(p, nacct, &pk, &a))
		nacct++;
	cap = (ncls + nacct < max ? ncls + nacct : max) + 2;
	us->u = calloc(cap, sizeof(*us->u));
	if (us->u == NULL)
		return -ENOMEM;

	/* in the order they were made (the list is newest first): local and
	 * guest, then the policy's users in its order, so the first users of
	 * the file are the ones kept under the cap */
	cls = calloc(ncls + 1, sizeof(*cls));
	if (cls == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	ncls = 0;
	for (struct sched_class *c = sched_class_next(s, NULL); c; c = sched_class_next(s, c))
		cls[ncls++] = c;
	for (size_t ci = ncls; ci-- > 0;) {
		struct sched_class *c = cls[ci];
		const char *name = relay_class_name(c);
		bool builtin = strcmp(name, "guest") == 0 || strcmp(name, "local") == 0;
		bool keep = (builtin || us->n < max) && us->n < cap;
		struct useries *u = keep ? &us->u[us->n] : &tmp;
		struct sched_stats st;

		memset(u, 0, sizeof(*u));
		class_label(u->label, sizeof(u->label), name, builtin);
		sched_class_stats(c, now, &st);
		u->has_class = true;
		u->up = st.bytes;
		u->down = relay_class_bytes_down(c);
		u->rate = st.cur_rate;
		u->backlog = st.queued_bytes;
		u->borrowed = st.borrowed;
		if (sched_link_rate(s) != 0) {
			u->guarantee = st.rate;
			u->ceil_up = st.ceil;
		}
		u->ceil_down = cfg->sched.link_rate_down;
		if (strcmp(name, "guest") == 0 && cfg->sched.guest_ceil_down)
			u->ceil_down = cfg->sched.guest_ceil_down;
		for (size_t i = 0; !builtin && i < cfg->sched.n_users; i++)
			if (strcmp(cfg->sched.users[i].name, name) == 0 && cfg->sched.users[i].ceil_down)
				u->ceil_down = cfg->sched.users[i].ceil_down;
		for (unsigned b = 0; b < SCHED_BANDS; b++)
			sched_class_band_delay(c, (enum sched_band)b, u->hist[b], &u->hsum[b]);
		if (!keep) {
			fold(&us->other, u);
			us->folded++;
			continue;
		}
		if (strcmp(name, "guest") == 0) {
			guest = c;
			gslot = us->n;
		}
		us->n++;
	}

	/* members on their own: bytes from their accounts; rate and backlog
	 * from the guest class's flows they send */
	m.cap = 16;
	while (m.cap < 2 * (nacct + 1))
		m.cap *= 2;
	m.key = calloc(m.cap, sizeof(*m.key));
	m.val = calloc(m.cap, sizeof(*m.val));
	if (m.key == NULL || m.val == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; portal_acct_get(p, i, &pk, &a); i++) {
		bool keep = us->n < max && us->n < cap;
		struct useries *u = keep ? &us->u[us->n] : &tmp;
		size_t h = amap_slot(&m, a);

		memset(u, 0, sizeof(*u));
		short_id(u->label, sizeof(u->label), pk);
		u->acct = a;
		u->up = a->up;
		u->down = a->down;
		m.key[h] = a;
		m.val[h] = keep ? us->n : SIZE_MAX;
		accts.up += a->up;
		accts.down += a->down;
		if (keep) {
			us->n++;
		} else {
			fold(&us->other, u);
			us->folded++;
		}
	}
	if (aother->up || aother->down) {   /* accounts past the table's own cap */
		us->other.up += aother->up;
		us->other.down += aother->down;
		accts.up += aother->up;
		accts.down += aother->down;
		us->folded++;
	}
	for (struct sched_flow *f = guest ? sched_flow_next(guest, NULL) : NULL; f;
	     f = sched_flow_next(guest, f)) {
		const struct relay_acct *fa = relay_flow_acct(f);
		struct useries *u = &us->other;
		struct sched_stats st;

		if (fa == NULL)
			continue;
		if (fa != aother) {
			size_t h = amap_slot(&m, fa);

			if (m.key[h] != fa)
				continue;
			if (m.val[h] != SIZE_MAX)
				u = &us->u[m.val[h]];
		}
		sched_flow_stats(f, now, &st);
		u->rate += st.cur_rate;
		u->backlog += st.queued_bytes;
		accts.rate += st.cur_rate;
		accts.backlog += st.queued_bytes;
	}
	if (gslot != SIZE_MAX) {
		struct useries *g = &us->u[gslot];

		g->up = sat_sub(g->up, accts.up);
		g->down = sat_sub(g->down, accts.down);
		g->rate = sat_sub(g->rate, accts.rate);
		g->backlog = sat_sub(g->backlog, accts.backlog);
	}
out:
	free(cls);
	free(m.key);
	free(m.val);
	if (rc != 0)
		users_free(us);
	return rc;
}

/* ------------------------------------------------------------ process */

void metrics_proc_read(struct metrics_proc *o)
{
	char buf[1024], *p;
	FILE *f;
	long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	unsigned long long utime = 0, stime = 0, start = 0, vsize = 0, btime = 0;
	long long rss = 0;
	DIR *d;

	memset(o, 0, sizeof(*o));
	if (tck <= 0)
		tck = 100;
	f = fopen("/proc/self/stat", "r");
	if (f != NULL) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);

		buf[n] = '\0';
		fclose(f);
		/* after "pid (comm) ": comm may hold spaces and parentheses */
		p = strrchr(buf, ')');
		if (p != NULL &&
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %lld",
		           &utime, &stime, &start, &vsize, &rss) == 5) {
			o->cpu_seconds = (double)(utime + stime) / (double)tck;
			o->vsize_bytes = vsize;
			o->rss_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page : 0;
		}
	}
	f = fopen("/proc/stat", "r");
	if (f != NULL) {
		while (fgets(buf, sizeof(buf), f) != NULL)
			if (sscanf(buf, "btime %llu", &btime) == 1)
				break;
		fclose(f);
	}
	if (btime != 0)
		o->start_time = (double)btime + (double)start / (double)tck;
	d = opendir("/proc/self/fd");
	if (d != NULL) {
		struct dirent *e;

		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] != '.')
				o->open_fds++;
		closedir(d);
		if (o->open_fds > 0)
			o->open_fds--;   /* the directory stream's own */
	}
}

/* ------------------------------------------------------------- writer */

/* exported delay buckets: every other one of sched's (see write_users) */
#define DELAY_NB ((SCHED_DELAY_NB + 1) / 2)
_Static_assert(SCHED_DELAY_NB == 17, "the folding below assumes 17 bounds, 2^16..2^32 ns");

#define L1(n, v) ((struct prom_label[]){ { n, v } })

static void user_family(struct prom_buf *b, const struct users *us, const char *name,
                        const char *type, const char *help, bool class_only,
                        size_t off, const char *dir_label)
{
	prom_family(b, name, type, help);
	for (size_t i = 0; i <= us->n; i++) {
		const struct useries *u = i < us->n ? &us->u[i] : &us->other;
		struct prom_label l[2] = { { "user", u->label }, { "dir", dir_label } };

		if (i == us->n && us->folded == 0)
			break;
		if (class_only && !u->has_class)
			continue;
		prom_sample(b, name, l, dir_label ? 2 : 1, (double)*(const uint64_t *)((const char *)u + off));
	}
}

static void write_users(struct prom_buf *b, const struct users *us)
{
	static const char *const bands[SCHED_BANDS] = { "interactive", "normal", "bulk" };
	double bounds[DELAY_NB];
	struct prom_le le;

	prom_family(b, "fairway_user_bytes_total", "counter",
	            "Bytes relayed per user: up = sent by the user, down = delivered to the user (as charged on the wire).");
	for (size_t i = 0; i <= us->n; i++) {
		const struct useries *u = i < us->n ? &us->u[i] : &us->other;

		if (i == us->n && us->folded == 0)
			break;
		prom_sample(b, "fairway_user_bytes_total",
		            (struct prom_label[]){ { "user", u->label }, { "dir", "up" } }, 2, (double)u->up);
		prom_sample(b, "fairway_user_bytes_total",
		            (struct prom_label[]){ { "user", u->label }, { "dir", "down" } }, 2, (double)u->down);
	}
	user_family(b, us, "fairway_user_rate_bytes_per_second", "gauge",
	            "Current rate the portal relays for the user (moving average over about 0.5 s).",
	            false, offsetof(struct useries, rate), NULL);
	user_family(b, us, "fairway_user_backlog_bytes", "gauge",
	            "Bytes queued in the portal for the user.", false,
	            offsetof(struct useries, backlog), NULL);
	user_family(b, us, "fairway_user_borrowed_bytes_total", "counter",
	            "Bytes sent for the user above its guarantee (borrowed idle capacity).", true,
	            offsetof(struct useries, borrowed), NULL);
	user_family(b, us, "fairway_user_guarantee_bytes_per_second", "gauge",
	            "The user's guaranteed send rate (0: the link is not shaped).", true,
	            offsetof(struct useries, guarantee), NULL);
	prom_family(b, "fairway_user_ceiling_bytes_per_second", "gauge",
	            "The user's ceiling: up = send rate, down = read rate (0: not shaped).");
	for (size_t i = 0; i <= us->n; i++) {
		const struct useries *u = i < us->n ? &us->u[i] : &us->other;

		if (i == us->n && us->folded == 0)
			break;
		if (!u->has_class)
			continue;
		prom_sample(b, "fairway_user_ceiling_bytes_per_second",
		            (struct prom_label[]){ { "user", u->label }, { "dir", "up" } }, 2, (double)u->ceil_up);
		prom_sample(b, "fairway_user_ceiling_bytes_per_second",
		            (struct prom_label[]){ { "user", u->label }, { "dir", "down" } }, 2, (double)u->ceil_down);
	}
	/* Every other bound of the scheduler's (×4: 65.5 µs, 262 µs, 1.05 ms
	 * … 4.29 s, 9 buckets): a scrape of 1000 users carries 27 000 bucket
	 * series, not 54 000, and still tells 1 ms from 4 ms. Exact: the
	 * buckets between are summed into the next kept one. */
	for (unsigned j = 0; j < DELAY_NB; j++)
		bounds[j] = (double)sched_delay_bound_ns(2 * j) / 1e9;
	prom_le_init(&le, bounds, DELAY_NB);
	prom_family(b, "fairway_user_queue_delay_seconds", "histogram",
	            "Time relayed chunks waited in the portal's queue, by the band they left from.");
	for (size_t i = 0; i <= us->n; i++) {
		const struct useries *u = i < us->n ? &us->u[i] : &us->other;

		if (i == us->n && us->folded == 0)
			break;
		if (!u->has_class)
			continue;
		for (unsigned k = 0; k < SCHED_BANDS; k++) {
			uint64_t h[DELAY_NB + 1] = { 0 };

			/* fine bucket j (< 2^(16+j) ns) goes to the first kept bound ≥ it */
			for (unsigned j = 0; j < SCHED_DELAY_NB; j++)
				h[(j + 1) / 2] += u->hist[k][j];
			h[DELAY_NB] += u->hist[k][SCHED_DELAY_NB];
			prom_histogram_le(b, "fairway_user_queue_delay_seconds",
			                  (struct prom_label[]){ { "user", u->label }, { "band", bands[k] } }, 2,
			                  &le, h, (double)u->hsum[k] / 1e9);
		}
	}
	prom_family(b, "fairway_metrics_users_folded", "gauge",
	            "User label values summed into user=\"other\" (past metrics-max-users).");
	prom_sample(b, "fairway_metrics_users_folded", NULL, 0, (double)us->folded);
}

static void gauge(struct prom_buf *b, const char *name, const char *help, double v)
{
	prom_family(b, name, "gauge", help);
	prom_sample(b, name, NULL, 0, v);
}

static void counter(struct prom_buf *b, const char *name, const char *help, double v)
{
	prom_family(b, name, "counter", help);
	prom_sample(b, name, NULL, 0, v);
}

static void write_portal(struct prom_buf *b, const struct portal *p, uint64_t now)
{
	const struct portal_counters *k = portal_counters(p);
	const struct portal_cfg *cfg = portal_config(p);
	struct sched *s = relay_sched(portal_relay(p));
	struct portal_conn_stats cs;
	struct sched_stats ls;
	struct metrics_proc pr;
	char id[KEYS_ID_LEN + 1];
	static const char *const transports[2] = { "tcp", "tunnel" };
	const struct { const char *reason; unsigned long v; } refusals[] = {
		{ "conns_per_ip", k->refused_conns_per_ip }, { "pending_handshakes", k->refused_pending },
		{ "denied", k->refused_denied }, { "not_member", k->refused_not_member },
		{ "tunnels_per_peer", k->refused_tunnels_per_peer }, { "multihop", k->refused_multihop },
		{ "unknown_target", k->refused_unknown_target },
	};

	portal_conn_stats(p, &cs);
	keys_id_format(id, cfg->id->pk);
	prom_family(b, "fairway_portal_info", "gauge", "The portal: its identity, privacy mode and version.");
	prom_sample(b, "fairway_portal_info",
	            (struct prom_label[]){ { "id", id }, { "privacy", portal_privacy_name(cfg->privacy) },
	                                   { "version", FAIRWAY_VERSION } }, 3, 1);
	prom_family(b, "fairway_connections", "gauge", "Connections by state and transport.");
	for (unsigned st = 0; st < PORTAL_CONN_STATES; st++)
		for (unsigned t = 0; t < 2; t++) {
			char state[32];

			/* "CONN_OPEN" → "open" */
			snprintf(state, sizeof(state), "%s", conn_state_name((enum conn_state)st));
			for (char *c = state; *c; c++)
				*c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
			prom_sample(b, "fairway_connections",
			            (struct prom_label[]){ { "state", strncmp(state, "conn_", 5) == 0 ? state + 5 : state },
			                                   { "transport", transports[t] } }, 2,
			            cs.conns[st][t]);
		}
	prom_family(b, "fairway_handshakes_total", "counter",
	            "Connections whose session opened (ok), or that ended before it did (failed: bad keys, timeouts, refusals).");
	prom_sample(b, "fairway_handshakes_total", L1("result", "ok"), 1, (double)k->handshakes_ok);
	prom_sample(b, "fairway_handshakes_total", L1("result", "failed"), 1, (double)k->handshakes_failed);
	gauge(b, "fairway_tunnels_open", "Tunnels spliced now.", tunnel_active_count());
	counter(b, "fairway_tunnels_opened_total", "Tunnels accepted for splicing.", (double)k->tunnels_opened);
	prom_family(b, "fairway_tunnels_ended_total", "counter", "Spliced tunnels that ended, by why.");
	for (unsigned r = 0; r < TUNNEL_END_COUNT; r++)
		prom_sample(b, "fairway_tunnels_ended_total", L1("reason", tunnel_end_name((enum tunnel_end)r)), 1,
		            (double)tunnel_ended_count((enum tunnel_end)r));
	prom_family(b, "fairway_refusals_total", "counter", "Connections and tunnel requests refused, by why.");
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++)
		prom_sample(b, "fairway_refusals_total", L1("reason", refusals[i].reason), 1, (double)refusals[i].v);
	counter(b, "fairway_idle_closes_total", "Connections closed for being idle too long.", (double)k->closed_idle);
	gauge(b, "fairway_attendants", "Peers announced in the room.", cs.attendants);
	gauge(b, "fairway_members", "Members: the policy's and the room store's, each key once.", (double)cs.members);
	if (cfg->store != NULL) {
		struct store_stats ss;

		store_stats_get(cfg->store, &ss);
		counter(b, "fairway_invites_claimed_total", "Invites consumed since the store was opened.",
		        (double)ss.invites_claimed);
	}
	sched_link_stats(s, now, &ls);
	prom_family(b, "fairway_link_rate_bytes_per_second", "gauge",
	            "The link's configured rate after rate-sub-percent (0: not shaped).");
	prom_sample(b, "fairway_link_rate_bytes_per_second", L1("dir", "up"), 1, (double)cfg->sched.link_rate);
	prom_sample(b, "fairway_link_rate_bytes_per_second", L1("dir", "down"), 1, (double)cfg->sched.link_rate_down);
	counter(b, "fairway_link_bytes_total", "Bytes the scheduler sent on the link.", (double)ls.bytes);
	counter(b, "fairway_link_overhead_bytes_total",
	        "TCP/IP headers and the portal's own ACKs charged to the link.", (double)ls.overhead);
	gauge(b, "fairway_link_current_rate_bytes_per_second", "The link's current send rate.", (double)ls.cur_rate);
	gauge(b, "fairway_link_backlog_bytes", "Bytes queued in the scheduler.", (double)ls.queued_bytes);
	metrics_proc_read(&pr);
	counter(b, "process_cpu_seconds_total", "User and system CPU time spent in seconds.", pr.cpu_seconds);
	gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.", (double)pr.rss_bytes);
	gauge(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.", (double)pr.vsize_bytes);
	gauge(b, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", pr.start_time);
	gauge(b, "process_open_fds", "Number of open file descriptors.", (double)pr.open_fds);
}

int metrics_write(const struct portal *p, struct prom_buf *b)
{
	uint64_t now = uv_hrtime();
	struct users us;
	int rc = users_collect(p, now, &us);

	if (rc != 0)
		return rc;
	write_users(b, &us);
	users_free(&us);
	write_portal(b, p, now);
	return b->err;
}

/* ---------------------------------------------------------------- dot */

static uint64_t jnum(json_t *o, const char *k)
{
	json_int_t v = json_integer_value(json_object_get(o, k));

	return v > 0 ? (uint64_t)v : 0;
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "?";
}

/* From relay_info(), the same tree `fairway info` prints. */
int metrics_dot(const struct portal *p, struct dot_buf *b)
{
	json_t *info = relay_info(portal_relay(p)), *cls, *fl;
	bool paced = jnum(info, "rate") != 0;
	char label[512], r1[32], r2[32], r3[32], nid[96], fid[128];
	size_t i, j;

	if (info == NULL)
		return -ENOMEM;
	dot_begin(b, "fairway");
	snprintf(label, sizeof(label), "link\nrate %s\nnow %s\nbacklog %llu B",
	         paced ? policy_rate_str(jnum(info, "rate"), r1, sizeof(r1)) : "unshaped",
	         policy_rate_str(jnum(info, "cur_rate"), r2, sizeof(r2)),
	         (unsigned long long)jnum(info, "queued_bytes"));
	dot_node(b, "link", (struct dot_attr[]){ { "label", label }, { "style", "bold" } }, 2);
	json_array_foreach(json_object_get(info, "classes"), i, cls) {
		uint64_t rate = jnum(cls, "rate"), cur = jnum(cls, "cur_rate"), ceil = jnum(cls, "ceil");
		bool borrowing = paced && cur > rate;

		snprintf(nid, sizeof(nid), "class %s", jstr(cls, "name"));
		if (paced)
			snprintf(label, sizeof(label), "%s\nrate %s ceil %s\nnow %s\nbacklog %llu B\nborrowed %llu B total",
			         jstr(cls, "name"), policy_rate_str(rate, r1, sizeof(r1)),
			         ceil ? policy_rate_str(ceil, r2, sizeof(r2)) : "link",
			         policy_rate_str(cur, r3, sizeof(r3)), (unsigned long long)jnum(cls, "queued_bytes"),
			         (unsigned long long)jnum(cls, "borrowed"));
		else
			snprintf(label, sizeof(label), "%s\nunshaped\nnow %s\nbacklog %llu B", jstr(cls, "name"),
			         policy_rate_str(cur, r3, sizeof(r3)), (unsigned long long)jnum(cls, "queued_bytes"));
		dot_node(b, nid, (struct dot_attr[]){ { "label", label },
		                                      { "color", borrowing ? "#d95f02" : "black" } }, 2);
		if (paced) {
			snprintf(label, sizeof(label), "guarantee %s", policy_rate_str(cur < rate ? cur : rate, r1, sizeof(r1)));
			dot_edge(b, "link", nid, (struct dot_attr[]){ { "label", label } }, 1);
		} else {
			dot_edge(b, "link", nid, NULL, 0);
		}
		if (borrowing) {
			snprintf(label, sizeof(label), "borrowing %s", policy_rate_str(cur - rate, r1, sizeof(r1)));
			dot_edge(b, "link", nid, (struct dot_attr[]){ { "label", label }, { "style", "dashed" },
			                                              { "color", "#d95f02" }, { "fontcolor", "#d95f02" } }, 4);
		}
		json_array_foreach(json_object_get(cls, "tunnels"), j, fl) {
			snprintf(fid, sizeof(fid), "%s / %zu", nid, j);
			snprintf(label, sizeof(label), "%.9s → %.9s\n%s\nnow %s\nbacklog %llu B",
			         jstr(fl, "from"), jstr(fl, "to"), jstr(fl, "band"),
			         policy_rate_str(jnum(fl, "cur_rate"), r1, sizeof(r1)),
			         (unsigned long long)jnum(fl, "queued_bytes"));
			dot_node(b, fid, (struct dot_attr[]){ { "label", label }, { "shape", "ellipse" } }, 2);
			dot_edge(b, nid, fid, NULL, 0);
		}
	}
	dot_end(b);
	json_decref(info);
	return b->err;
}

json_t *metrics_ctl(const struct portal *p, const char *cmd)
{
	json_t *r;
	int rc;

	if (strcmp(cmd, "metrics") == 0) {
		struct prom_buf b;

		prom_buf_init(&b);
		rc = metrics_write(p, &b);
		r = rc == 0 ? json_pack("{s:b,s:s%}", "ok", 1, "text", b.p ? b.p : "", b.len)
		            : json_pack("{s:b,s:s}", "ok", 0, "error", "out of memory");
		prom_buf_free(&b);
		return r;
	}
	if (strcmp(cmd, "dot") == 0) {
		struct dot_buf b;

		dot_buf_init(&b);
		rc = metrics_dot(p, &b);
		r = rc == 0 ? json_pack("{s:b,s:s%}", "ok", 1, "text", b.p ? b.p : "", b.len)
		            : json_pack("{s:b,s:s}", "ok", 0, "error", "out of memory");
		dot_buf_free(&b);
		return r;
	}
	return NULL;
}

/* -------------------------------------------------------------- share */

json_t *metrics_share_sample(const struct portal *p, const struct sched_class *c, const char *user,
                             struct metrics_share_prev *prev, uint64_t now)
{
	struct sched_stats st;
	uint64_t link = sched_link_rate(relay_sched(portal_relay(p)));
	uint64_t dt, borrowed_rate = 0, dchunks = 0, dsum, want, seen = 0;
	double delay_ms = 0, p99_ms = 0;
	bool first = prev->t == 0;

	sched_class_stats(c, now, &st);
	dt = now > prev->t ? now - prev->t : 0;
	for (unsigned j = 0; j <= SCHED_DELAY_NB; j++)
		dchunks += sat_sub(st.delay_hist[j], first ? 0 : prev->hist[j]);
	if (!first && dt > 0) {
		borrowed_rate = (uint64_t)((double)sat_sub(st.borrowed, prev->borrowed) * 1e9 / (double)dt);
		dsum = sat_sub(st.delay_sum, prev->delay_sum);
		if (dchunks > 0) {
			delay_ms = util_ms_of_ns(dsum / dchunks);
			/* the bucket holding the 99th percentile: its upper bound */
			want = (dchunks * 99 + 99) / 100;
			for (unsigned j = 0; j <= SCHED_DELAY_NB; j++) {
				seen += sat_sub(st.delay_hist[j], prev->hist[j]);
				if (seen >= want) {
					p99_ms = util_ms_of_ns(j < SCHED_DELAY_NB ? sched_delay_bound_ns(j) : st.delay_max);
					break;
				}
			}
		}
	}
	prev->t = now;
	prev->borrowed = st.borrowed;
	prev->delay_sum = st.delay_sum;
	memcpy(prev->hist, st.delay_hist, sizeof(prev->hist));
	return json_pack("{s:s,s:I,s:I,s:I,s:I,s:f,s:f,s:I}", "user", user,
	                 "guarantee", (json_int_t)(link ? st.rate : 0),
	                 "ceiling", (json_int_t)(link ? st.ceil : 0),
	                 "rate", (json_int_t)st.cur_rate, "borrowed_rate", (json_int_t)borrowed_rate,
	                 "delay_ms", delay_ms, "delay_p99_ms", p99_ms, "link", (json_int_t)link);
}
