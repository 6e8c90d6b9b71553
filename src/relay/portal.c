/* portal — see portal.h. */
#include "portal.h"
#include "store.h"

#include <sodium.h>

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "admit.h"
#include "conn.h"
#include "log.h"
#include "metrics.h"
#include "muxrpc.h"
#include "rpc.h"
#include "relay.h"
#include "sched.h"
#include "tunnel.h"
#include "wsconn.h"

/* One connected (authenticated or handshaking) peer. */
struct peer {
	struct portal *p;
	struct conn *c;
	struct peer *prev, *next;
	bool attendant;
	bool member;
	unsigned tunnels;   /* open tunnels this peer started */
	struct relay_port *port;  /* its place in the scheduler, once authenticated */
	long user;          /* index into cfg.sched.users; -1: guest */
	bool ready;         /* the session opened (handshakes_ok counted) */
	bool read_paused;   /* stopped by the read pacing */
	/* Admission counts (admit.h): the address entry this peer counts in
	 * (NULL once it is leaving, and for tunneled peers), and whether it
	 * still counts as a pending handshake. */
	struct admit_addr *addr;
	bool pending;
	uint64_t accepted_ms;
	char ip[64];
};

/* Read pacing: a token bucket in bytes (may go negative: a read is
 * charged after it happened; the connection then waits it out). */
struct rbucket {
	uint64_t rate, burst;
	int64_t tokens;
	uint64_t last;      /* uv_now ms of the last refill */
};

enum sub_kind { SUB_ATTENDANTS, SUB_ENDPOINTS };

/* One open room.attendants / tunnel.endpoints subscription. */
struct sub {
	struct mrpc_stream *s;
	enum sub_kind kind;
	struct sub *prev, *next;
};

struct portal {
	struct portal_cfg cfg;
	uv_tcp_t listener;
	bool listening;
	bool stopping;
	struct mrpc_api *api;
	struct rpc_node node;
	struct peer *peers;
	size_t npeers;
	struct sub *subs;
	uv_timer_t sweep;   /* idle and blocked-tunnel scan, once a second */
	struct portal_counters counters;
	struct relay *relay;
	struct sched_class *guest, *local;
	struct user_class { char name[64]; struct sched_class *cls; } *ucls;
	size_t n_ucls;
	struct rbucket rlink, rguest, *ruser;   /* read pacing (rate-down) */
	uv_timer_t rtimer;
	bool rtimer_on;
	/* Accepting: at most ACCEPT_BURST sockets per loop iteration, so a
	 * storm cannot keep the loop in libuv's accept loop (closes, the
	 * control socket and established peers wait meanwhile). When the
	 * budget is spent the socket stays in the kernel's backlog until the
	 * idle handle takes it on the next iteration. */
	struct admit *admit;
	uv_prepare_t accept_prep;
	uv_idle_t accept_idle;
	unsigned accept_budget;
	size_t peak_peers;   /* since the last heap trim */
	struct portal_auth_hooks auth;   /* the web side's sign-in (portal_set_auth_hooks) */
	void *auth_ud;
	char address[ADDR_TEXT_MAX];
	struct share_sub *shares;     /* fairway.share subscriptions */
	struct portal_acct **accts;   /* sectionless members (portal_acct_get) */
	size_t n_accts, cap_accts;
	struct relay_acct acct_other;
};

#define ACCEPT_BURST 16
/* Refusal and failed-handshake summaries: one line per address per this. */
#define ADMIT_INTERVAL_MS 10000
/* One fairway.share subscription: a sample a second (sweep_cb). */
struct share_sub {
	struct mrpc_stream *s;
	struct metrics_share_prev prev;
	struct share_sub *prev_sub, *next;
};

/* One sectionless member's counters; its own allocation, as ports keep
 * a pointer to .bytes. */
struct portal_acct {
	uint8_t pk[32];
	struct relay_acct bytes;
};

_Static_assert(CONN_CLOSED + 1 == PORTAL_CONN_STATES, "PORTAL_CONN_STATES");
#define DEFAULT_METRICS_MAX_USERS 1000

#define DEFAULT_BLOCK_LIMIT_MS 30000
#define DEFAULT_SNDBUF (64u << 10)
/* With an unpaced link a class's rate is only its weight when borrowing. */
#define UNPACED_WEIGHT 125000000ull

const char *portal_privacy_name(enum portal_privacy v)
{
	static const char *const names[] = { "open", "community", "restricted" };

	return (unsigned)v < 3 ? names[v] : "?";
}

const struct portal_counters *portal_counters(const struct portal *p)
{
	return &p->counters;
}

static bool key_in(const uint8_t (*list)[32], size_t n, const uint8_t pk[32])
{
	for (size_t i = 0; i < n; i++)
		if (sodium_memcmp(list[i], pk, 32) == 0)
			return true;
	return false;
}

/* Member or denied by the policy file's lists or by the store. */
static bool is_member(const struct portal_cfg *c, const uint8_t pk[32])
{
	return key_in(c->members, c->n_members, pk) ||
	       (c->store != NULL && store_check(c->store, pk, NULL) != STORE_ROLE_NONE);
}

static bool is_denied(const struct portal_cfg *c, const uint8_t pk[32])
{
	return key_in(c->denied, c->n_denied, pk) ||
	       (c->store != NULL && store_deny_check(c->store, pk));
}

/* Doubly linked lists threaded through prev/next. */
#define LIST_INSERT(head, e)                      \
	do {                                      \
		(e)->prev = NULL;                 \
		(e)->next = (head);               \
		if ((head) != NULL)               \
			(head)->prev = (e);       \
		(head) = (e);                     \
	} while (0)
#define LIST_REMOVE(head, e)                      \
	do {                                      \
		if ((e)->prev != NULL)            \
			(e)->prev->next = (e)->next; \
		else                              \
			(head) = (e)->next;       \
		if ((e)->next != NULL)            \
			(e)->next->prev = (e)->prev; \
	} while (0)

static struct peer *call_peer(struct mrpc_stream *call)
{
	struct conn *c = mrpc_io(mrpc_stream_session(call));

	return conn_ud(c);
}

/* ------------------------------------------------------------ attendants */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The attendant ids, sorted (tunnel.endpoints sends them sorted). */
static json_t *attendant_ids(struct portal *p)
{
	const char **ids = calloc(p->npeers + 1, sizeof(*ids));
	json_t *arr = json_array();
	size_t n = 0;

	if (ids == NULL || arr == NULL) {
		free(ids);
		return arr;
	}
	for (struct peer *q = p->peers; q != NULL; q = q->next)
		if (q->attendant)
			ids[n++] = conn_remote_id(q->c);
	qsort(ids, n, sizeof(*ids), cmp_str);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_string(ids[i]));
	free(ids);
	return arr;
}

static void broadcast(struct portal *p, const char *type, const char *id)
{
	json_t *ids = NULL;

	for (struct sub *s = p->subs; s != NULL; s = s->next) {
		if (mrpc_stream_local_ended(s->s))
			continue;   /* ended by a reload, waiting for the peer's END */
		if (s->kind == SUB_ATTENDANTS) {
			mrpc_stream_send_json(s->s, json_pack("{s:s,s:s}", "type", type, "id", id));
		} else {
			if (ids == NULL)
				ids = attendant_ids(p);
			mrpc_stream_send_json(s->s, json_incref(ids));
		}
	}
	json_decref(ids);
}

static void attendant_add(struct peer *q)
{
	struct portal *p = q->p;
	const char *id = conn_remote_id(q->c);

	if (q->attendant)
		return;
	/* Newest connection wins: the older one goes (and leaves). */
	for (struct peer *o = p->peers; o != NULL; o = o->next)
		if (o != q && o->attendant && strcmp(conn_remote_id(o->c), id) == 0) {
			o->attendant = false;
			conn_close(o->c, "replaced by a newer connection of the same identity");
		}
	q->attendant = true;
	log_info("attendant joined: %s", id);
	broadcast(p, "joined", id);
}

static void attendant_remove(struct peer *q)
{
	if (!q->attendant)
		return;
	q->attendant = false;
	log_info("attendant left: %s", conn_remote_id(q->c));
	broadcast(q->p, "left", conn_remote_id(q->c));
}

static void sub_end(struct mrpc_stream *s, const char *err, void *ud)
{
	if (!mrpc_stream_local_ended(s))
		mrpc_stream_end(s, NULL);
}

static void sub_free(struct mrpc_stream *s, void *ud)
{
	struct sub *sub = ud;
	struct peer *q = call_peer(s);

	LIST_REMOVE(q->p->subs, sub);
	free(sub);
}

static const struct mrpc_stream_cbs sub_cbs = { .on_end = sub_end, .on_free = sub_free };

/* In community and restricted rooms only members may see or become
 * attendants (rooms2 spec; go-ssb-room's wording). */
static bool may_attend(struct peer *q)
{
	if (q->p->cfg.privacy == PORTAL_OPEN || q->member)
		return true;
	q->p->counters.refused_not_member++;
	log_info("%s: not a member, may not list or join attendants", conn_remote_id(q->c));
	return false;
}

#define NOT_MEMBER_MSG "external user are not allowed to enumerate members"

static void subscribe(struct mrpc_stream *call, enum sub_kind kind)
{
	struct peer *q = call_peer(call);
	struct portal *p = q->p;
	struct sub *sub;

	if (!may_attend(q)) {
		mrpc_stream_end(call, NOT_MEMBER_MSG);
		return;
	}
	sub = calloc(1, sizeof(*sub));
	if (sub == NULL) {
		mrpc_stream_end(call, "out of memory");
		return;
	}
	sub->s = call;
	sub->kind = kind;
	mrpc_stream_set_cbs(call, &sub_cbs, sub);
	/* Subscribing makes the caller an attendant (Rooms 2.0), before the
	 * state goes out so that the state includes it. */
	attendant_add(q);
	LIST_INSERT(p->subs, sub);
	if (kind == SUB_ATTENDANTS)
		mrpc_stream_send_json(call, json_pack("{s:s,s:o}", "type", "state",
		                                      "ids", attendant_ids(p)));
	else
		mrpc_stream_send_json(call, attendant_ids(p));
}

static void room_attendants(struct mrpc_stream *call, json_t *args, void *ud)
{
	subscribe(call, SUB_ATTENDANTS);
}

static void tunnel_endpoints(struct mrpc_stream *call, json_t *args, void *ud)
{
	subscribe(call, SUB_ENDPOINTS);
}

/* ---- fairway.share: a member's own share, once a second ---- */

static void share_end(struct mrpc_stream *s, const char *err, void *ud)
{
	if (!mrpc_stream_local_ended(s))
		mrpc_stream_end(s, NULL);
}

static void share_free(struct mrpc_stream *s, void *ud)
{
	struct share_sub *sh = ud;
	struct portal *p = call_peer(s)->p;

	if (sh->prev_sub != NULL)
		sh->prev_sub->next = sh->next;
	else
		p->shares = sh->next;
	if (sh->next != NULL)
		sh->next->prev_sub = sh->prev_sub;
	free(sh);
}

static const struct mrpc_stream_cbs share_cbs = { .on_end = share_end, .on_free = share_free };

#define SHARE_NOT_MEMBER_MSG "fairway.share is for members of this room"

/* One sample on sh, for its peer's class now (a reload may move it). */
static void share_send(struct portal *p, struct share_sub *sh)
{
	struct peer *q = call_peer(sh->s);
	struct sched_class *c = q->port != NULL ? relay_port_class(q->port) : NULL;
	char label[64];
	json_t *v;

	if (c == NULL || mrpc_stream_local_ended(sh->s))
		return;
	if (q->user >= 0 && (size_t)q->user < p->cfg.sched.n_users)
		snprintf(label, sizeof(label), "%s", p->cfg.sched.users[q->user].name);
	else
		snprintf(label, sizeof(label), "%s", relay_class_name(c));
	v = metrics_share_sample(p, c, label, &sh->prev, uv_hrtime());
	if (v != NULL)
		mrpc_stream_send_json(sh->s, v);
}

static void fairway_share(struct mrpc_stream *call, json_t *args, void *ud)
{
	struct peer *q = call_peer(call);
	struct portal *p = q->p;
	struct share_sub *sh;

	if (!q->member) {
		mrpc_stream_end(call, SHARE_NOT_MEMBER_MSG);
		return;
	}
	sh = calloc(1, sizeof(*sh));
	if (sh == NULL) {
		mrpc_stream_end(call, "out of memory");
		return;
	}
	sh->s = call;
	mrpc_stream_set_cbs(call, &share_cbs, sh);
	sh->next = p->shares;
	if (p->shares != NULL)
		p->shares->prev_sub = sh;
	p->shares = sh;
	share_send(p, sh);   /* the first at once: guarantee and ceiling */
}

static void tunnel_announce(struct mrpc_stream *call, json_t *args, void *ud)
{
	if (!may_attend(call_peer(call))) {
		mrpc_reply_error(call, "only members may announce themselves in this room");
		return;
	}
	attendant_add(call_peer(call));
	mrpc_reply(call, json_true());
}

static void tunnel_leave(struct mrpc_stream *call, json_t *args, void *ud)
{
	attendant_remove(call_peer(call));
	mrpc_reply(call, json_true());
}

/* ------------------------------------------------------------ room info */

/* The host of --public-url ("https://room.example:8443/x" → "room.example"),
 * the name go-ssb-room reports; out empty when there is none. */
static void public_host(const struct portal *p, char *out, size_t len)
{
	const char *u = p->cfg.public_url, *h, *end;

	out[0] = '\0';
	if (u == NULL || (h = strstr(u, "://")) == NULL)
		return;
	h += 3;
	end = h + strcspn(h, ":/?#");
	if (end > h && (size_t)(end - h) < len)
		snprintf(out, len, "%.*s", (int)(end - h), h);
}

static json_t *metadata(struct portal *p)
{
	/* rooms2-server.md §0.4: name non-empty (Manyverse needs it), the
	 * features the mode allows: alias in open and community rooms with a
	 * store (not restricted: aliases do not resolve there), room1 (open invites)
	 * only where anyone may join; tunnel and room2 always; httpAuth and
	 * httpInvite once a room store (members, tokens, invites) is there. */
	char host[256];
	json_t *m, *f;

	public_host(p, host, sizeof(host));
	m = json_pack("{s:s,s:b,s:[ss]}", "name", p->cfg.name ? p->cfg.name : host[0] ? host : "fairway",
	              "membership", 0, "features", "tunnel", "room2");
	f = json_object_get(m, "features");
	if (p->cfg.store != NULL) {
		json_array_append_new(f, json_string("httpAuth"));
		json_array_append_new(f, json_string("httpInvite"));
	}
	if (p->cfg.privacy == PORTAL_OPEN)
		json_array_append_new(f, json_string("room1"));
	if (p->cfg.store != NULL && p->cfg.privacy != PORTAL_RESTRICTED)
		json_array_append_new(f, json_string("alias"));   /* aliases live in the store */
	return m;
}

static void room_metadata(struct mrpc_stream *call, json_t *args, void *ud)
{
	json_t *m = metadata(ud);

	json_object_set_new(m, "membership", json_boolean(call_peer(call)->member));
	mrpc_reply(call, m);
}

/* ------------------------------------------------------------ rooms 2.0 */

/* The caller's store row; false (and the error sent) if it has none. */
static bool caller_member(struct mrpc_stream *call, struct store_member *m, const char *err)
{
	struct portal *p = call_peer(call)->p;

	if (p->cfg.store != NULL && store_member_get(p->cfg.store, conn_remote_pk(call_peer(call)->c), m) == 0)
		return true;
	mrpc_reply_error(call, err);
	return false;
}

static bool all_strings(json_t *args, size_t n)
{
	if (!json_is_array(args) || json_array_size(args) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!json_is_string(json_array_get(args, i)))
			return false;
	return true;
}

/* "<base64 std of 64 bytes>.sig.ed25519" → sig; 0, -EBADMSG (no suffix),
 * -EINVAL (not base64 of 64 bytes). */
static int sig_parse(const char *s, uint8_t sig[64])
{
	static const char sfx[] = ".sig.ed25519";
	size_t len = strlen(s), got = 0;
	const char *end;

	if (len < sizeof(sfx) - 1 || strcmp(s + len - (sizeof(sfx) - 1), sfx) != 0)
		return -EBADMSG;
	len -= sizeof(sfx) - 1;
	if (sodium_base642bin(sig, 64, s, len, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    got != 64 || end != s + len)
		return -EINVAL;
	return 0;
}

/* room.members (source): one [{"id":…}] per member, then the end
 * (rooms2-server.md §1.1); members of the store, then the policy file's. */
struct members_ctx {
	struct mrpc_stream *call;
	const struct portal_cfg *cfg;
};

static int members_cb(void *ud, const struct store_member *m)
{
	struct members_ctx *c = ud;
	char id[KEYS_ID_LEN + 1];

	keys_id_format(id, m->key);
	return mrpc_stream_send_json(c->call, json_pack("[{s:s}]", "id", id)) == 0 ? 0 : 1;
}

static void room_members(struct mrpc_stream *call, json_t *args, void *ud)
{
	struct peer *q = call_peer(call);
	struct portal *p = q->p;
	struct members_ctx c = { call, &p->cfg };
	char id[KEYS_ID_LEN + 1];

	if (p->cfg.privacy != PORTAL_OPEN && !q->member) {
		p->counters.refused_not_member++;
		mrpc_stream_end(call, "external users are not allowed to list members: roomdb: object not found");
		return;
	}
	if (p->cfg.store != NULL && store_member_list(p->cfg.store, members_cb, &c) != 0) {
		mrpc_stream_end(call, "roomdb: cannot list members");
		return;
	}
	for (size_t i = 0; i < p->cfg.n_members; i++) {
		if (p->cfg.store != NULL && store_check(p->cfg.store, p->cfg.members[i], NULL) != STORE_ROLE_NONE)
			continue;   /* listed already */
		keys_id_format(id, p->cfg.members[i]);
		mrpc_stream_send_json(call, json_pack("[{s:s}]", "id", id));
	}
	mrpc_stream_end(call, NULL);
}

/* The alias URL (rooms2-server.md §1.2): PUBLIC_URL/alias/NAME, as the
 * web side serves it (also /NAME and NAME.DOMAIN there). Without a
 * public URL: http://HOST:PORT/alias/NAME of the muxrpc listener, still a
 * URL (new URL() succeeds) though nothing serves it. */
static char *alias_url(const struct portal *p, const char *name)
{
	const char *u = p->cfg.public_url;
	size_t n = u != NULL ? strlen(u) : 0;
	char *out = NULL;
	int rc;

	if (u != NULL)
		rc = asprintf(&out, "%.*s/alias/%s", (int)(n > 0 && u[n - 1] == '/' ? n - 1 : n), u, name);
	else
		rc = asprintf(&out, "http://%s:%u/alias/%s", p->cfg.host, (unsigned)p->cfg.port, name);
	return rc < 0 ? NULL : out;
}

static void room_register_alias(struct mrpc_stream *call, json_t *args, void *ud)
{
	struct peer *q = call_peer(call);
	struct portal *p = q->p;
	const char *alias, *sigtxt;
	uint8_t sig[64];
	char *msg = NULL, *url;
	int rc;

	if (!all_strings(args, 2)) {
		char e[96];

		snprintf(e, sizeof(e), "registerAlias: expected two arguments got %zu", json_array_size(args));
		mrpc_reply_error(call, e);
		return;
	}
	alias = json_string_value(json_array_get(args, 0));
	sigtxt = json_string_value(json_array_get(args, 1));
	rc = sig_parse(sigtxt, sig);
	if (rc == -EBADMSG) {
		mrpc_reply_error(call, "registerAlias: signature does not have the expected suffix");
		return;
	}
	if (rc != 0) {
		mrpc_reply_error(call, "registerAlias: bad signature encoding: not base64 of 64 bytes");
		return;
	}
	if (!store_alias_valid(alias, strlen(alias))) {
		mrpc_reply_error(call, "registerAlias: invalid alias");
		return;
	}
	/* =room-alias-registration:${roomId}:${userId}:${alias} */
	if (asprintf(&msg, "=room-alias-registration:%s:%s:%s", p->node.id_str, conn_remote_id(q->c),
	             alias) < 0) {
		mrpc_reply_error(call, "out of memory");
		return;
	}
	rc = crypto_sign_verify_detached(sig, (const uint8_t *)msg, strlen(msg), conn_remote_pk(q->c));
	free(msg);
	if (rc != 0) {
		mrpc_reply_error(call, "registerAlias: invalid signature");
		return;
	}
	if (p->cfg.store == NULL) {
		mrpc_reply_error(call, "registerAlias: could not register alias: roomdb: object not found");
		return;
	}
	rc = store_alias_register(p->cfg.store, alias, conn_remote_pk(q->c), sig, (int64_t)time(NULL));
	if (rc == -EEXIST) {
		char e[128];

		snprintf(e, sizeof(e), "alias (\"%s\") is already taken", alias);
		mrpc_reply_error(call, e);
		return;
	}
	if (rc == -ENOENT) {
		mrpc_reply_error(call, "registerAlias: could not register alias: roomdb: object not found");
		return;
	}
	if (rc != 0) {
		log_warn("registerAlias %s by %s: %s", alias, conn_remote_id(q->c), store_errmsg(p->cfg.store));
		mrpc_reply_error(call, "registerAlias: could not register alias: roomdb: write failed");
		return;
	}
	url = alias_url(p, alias);
	log_info("alias %s registered by %s", alias, conn_remote_id(q->c));
	mrpc_reply(call, url != NULL ? json_string(url) : json_string(alias));
	free(url);
}

static void room_revoke_alias(struct mrpc_stream *call, json_t *args, void *ud)
{
	struct peer *q = call_peer(call);
	struct portal *p = q->p;
	struct store_alias a;
	const char *alias;

	if (!all_strings(args, 1)) {
		char e[96];

		/* go-ssb-room's wording, wrong method name and all (§1.3) */
		snprintf(e, sizeof(e), "registerAlias: expected two arguments got %zu", json_array_size(args));
		mrpc_reply_error(call, e);
		return;
	}
	alias = json_string_value(json_array_get(args, 0));
	if (p->cfg.store == NULL || !store_alias_valid(alias, strlen(alias)) ||
	    store_alias_get(p->cfg.store, alias, &a) != 0) {
		mrpc_reply_error(call, "roomdb: object not found");
		return;
	}
	if (sodium_memcmp(a.owner, conn_remote_pk(q->c), 32) != 0) {
		mrpc_reply_error(call, "revokeAlias: not your alias (moderators need to use the web dashboard of the room");
		return;
	}
	if (store_alias_revoke(p->cfg.store, alias) != 0) {
		mrpc_reply_error(call, "roomdb: object not found");
		return;
	}
	log_info("alias %s revoked by %s", alias, conn_remote_id(q->c));
	mrpc_reply(call, json_true());
}

static int alias_name_cb(void *ud, const struct store_alias *a)
{
	return json_array_append_new(ud, json_string(a->name));
}

static void room_list_aliases(struct mrpc_stream *call, json_t *args, void *ud)
{
	struct portal *p = call_peer(call)->p;
	const char *id;
	uint8_t pk[32];
	json_t *names;

	if (!all_strings(args, 1)) {
		char e[96];

		snprintf(e, sizeof(e), "listAlias: expected one argument got %zu", json_array_size(args));
		mrpc_reply_error(call, e);
		return;
	}
	id = json_string_value(json_array_get(args, 0));
	if (keys_id_parse(id, strlen(id), pk) != 0) {
		mrpc_reply_error(call, "listAlias: invalid feed ref: not @<base64>.ed25519");
		return;
	}
	names = json_array();
	if (p->cfg.store != NULL && store_alias_list(p->cfg.store, pk, alias_name_cb, names) != 0) {
		json_decref(names);
		mrpc_reply_error(call, "listAlias: roomdb: cannot list aliases");
		return;
	}
	mrpc_reply(call, names);
}

/* =http-auth-sign-in:${sid}:${cid}:${sc}:${cc} signed by cid? */
static bool solution_ok(const struct portal *p, const char *cid, const uint8_t cid_pk[32],
                        const char *sc, const char *cc, const char *sol)
{
	uint8_t sig[64];
	char *msg;
	bool ok;

	if (sig_parse(sol, sig) != 0 ||
	    asprintf(&msg, "=http-auth-sign-in:%s:%s:%s:%s", p->node.id_str, cid, sc, cc) < 0)
		return false;
	ok = crypto_sign_verify_detached(sig, (const uint8_t *)msg, strlen(msg), cid_pk) == 0;
	free(msg);
	return ok;
}

/* A sign-in token: 32 characters of [A-Za-z0-9] (go-ssb-room's form). */
static void signin_token(char tok[33])
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

	for (int i = 0; i < 32; i++)
		tok[i] = abc[randombytes_uniform(sizeof(abc) - 1)];
	tok[32] = '\0';
}

static void http_send_solution(struct mrpc_stream *call, json_t *args, void *ud)
{
	struct peer *q = call_peer(call);
	struct portal *p = q->p;
	struct store_member m;
	const char *sc, *cc, *sol;
	char tok[33];
	uint8_t hash[32];
	int64_t now = (int64_t)time(NULL);
	int rc;

	if (!caller_member(call, &m, "client is not a room member"))
		return;
	if (!all_strings(args, 3)) {
		char e[96];

		snprintf(e, sizeof(e), "expected 3 arguments (sc, cc, sol) but got %zu", json_array_size(args));
		mrpc_reply_error(call, e);
		return;
	}
	sc = json_string_value(json_array_get(args, 0));
	cc = json_string_value(json_array_get(args, 1));
	sol = json_string_value(json_array_get(args, 2));
	if (sig_parse(sol, (uint8_t[64]){ 0 }) != 0) {
		mrpc_reply_error(call, "signature is not valid base64 data: want <base64 of 64 bytes>.sig.ed25519");
		return;
	}
	if (!solution_ok(p, conn_remote_id(q->c), conn_remote_pk(q->c), sc, cc, sol)) {
		if (p->auth.on_failed != NULL)
			p->auth.on_failed(sc, "not a valid solution", p->auth_ud);
		mrpc_reply_error(call, "not a valid solution");
		return;
	}
	if (p->auth.on_solved == NULL) {
		mrpc_reply_error(call, "no such session");
		return;
	}
	signin_token(tok);
	crypto_hash_sha256(hash, (const uint8_t *)tok, 32);
	rc = store_token_create(p->cfg.store, STORE_TOKEN_SIGNIN, hash, m.id, now,
	                        now + PORTAL_SIGNIN_TTL);
	if (rc != 0) {
		log_warn("httpAuth.sendSolution by %s: %s", conn_remote_id(q->c), store_errmsg(p->cfg.store));
		mrpc_reply_error(call, "could not create a sign-in token");
		return;
	}
	/* The web side hands the token to the browser waiting on sc; no
	 * browser waiting for sc: the token goes again (§6.5: no blocking). */
	if (p->auth.on_solved(sc, conn_remote_pk(q->c), m.id, tok, p->auth_ud) != 0) {
		store_token_delete(p->cfg.store, STORE_TOKEN_SIGNIN, hash);
		sodium_memzero(tok, sizeof(tok));
		mrpc_reply_error(call, "no such session");
		return;
	}
	sodium_memzero(tok, sizeof(tok));
	log_info("httpAuth: %s signed in (server-initiated)", conn_remote_id(q->c));
	mrpc_reply(call, json_true());
}

static void http_invalidate_all(struct mrpc_stream *call, json_t *args, void *ud)
{
	struct portal *p = call_peer(call)->p;
	struct store_member m;

	if (!caller_member(call, &m, "roomdb: object not found"))
		return;
	if (store_token_delete_member(p->cfg.store, m.id) != 0) {
		mrpc_reply_error(call, "roomdb: cannot delete the sessions");
		return;
	}
	log_info("httpAuth: %s ended all its web sessions", conn_remote_id(call_peer(call)->c));
	mrpc_reply(call, json_true());
}

/* ---- the portal asks a member's client: httpAuth.requestSolution ---- */

struct portal_solreq {
	struct portal *p;
	struct mrpc_stream *call;
	uv_timer_t timer;
	portal_solution_fn *done;
	void *ud;
	uint8_t key[32];
	char cid[KEYS_ID_LEN + 1];
	char *sc, *cc;
	int refs;          /* the call and the timer */
	bool finished;
};

static void solreq_unref(struct portal_solreq *r)
{
	if (--r->refs > 0)
		return;
	free(r->sc);
	free(r->cc);
	free(r);
}

static void solreq_timer_closed(uv_handle_t *h)
{
	solreq_unref(h->data);
}

static void solreq_finish(struct portal_solreq *r, int rc, const char *text)
{
	if (r->finished)
		return;
	r->finished = true;
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, solreq_timer_closed);
	if (r->done != NULL)
		r->done(rc, text, r->ud);
}

static void solreq_data(struct mrpc_stream *s, struct psc_packet *pkt, void *ud)
{
	struct portal_solreq *r = ud;
	char *sol = NULL;

	/* The answer: a string, as a string packet or a JSON string. */
	if (psc_type(pkt) == PSC_JSON) {
		json_t *v = json_loadb((const char *)pkt->body, pkt->len, JSON_DECODE_ANY, NULL);

		if (json_is_string(v))
			sol = strdup(json_string_value(v));
		json_decref(v);
	} else if (psc_type(pkt) == PSC_STRING && memchr(pkt->body, 0, pkt->len) == NULL) {
		sol = strndup((const char *)pkt->body, pkt->len);
	}
	if (sol != NULL && solution_ok(r->p, r->cid, r->key, r->sc, r->cc, sol))
		solreq_finish(r, 0, sol);
	else
		solreq_finish(r, -EACCES, "not a valid solution");
	free(sol);
}

static void solreq_end(struct mrpc_stream *s, const char *err, void *ud)
{
	if (err != NULL)
		solreq_finish(ud, -EACCES, err);
	else
		solreq_finish(ud, -EPROTO, "the client ended the call without an answer");
}

static void solreq_free(struct mrpc_stream *s, void *ud)
{
	struct portal_solreq *r = ud;

	r->call = NULL;
	solreq_finish(r, -ECONNRESET, "client not connected to room");
	solreq_unref(r);
}

static const struct mrpc_stream_cbs solreq_cbs = {
	.on_data = solreq_data, .on_end = solreq_end, .on_free = solreq_free,
};

static void solreq_timeout(uv_timer_t *t)
{
	solreq_finish(t->data, -ETIMEDOUT, "the client did not answer httpAuth.requestSolution within a minute");
}

int portal_request_solution(struct portal *p, const uint8_t key[32], const char *sc,
                            const char *cc, portal_solution_fn *done, void *ud,
                            struct portal_solreq **out)
{
	struct portal_solreq *r;
	struct peer *q;

	if (out != NULL)
		*out = NULL;
	if (p->cfg.store == NULL || store_check(p->cfg.store, key, NULL) == STORE_ROLE_NONE)
		return -EPERM;
	for (q = p->peers; q != NULL; q = q->next)
		if (conn_state(q->c) == CONN_OPEN && conn_rpc(q->c) != NULL &&
		    memcmp(conn_remote_pk(q->c), key, 32) == 0)
			break;
	if (q == NULL)
		return -ENOTCONN;
	r = calloc(1, sizeof(*r));
	if (r == NULL || (r->sc = strdup(sc)) == NULL || (r->cc = strdup(cc)) == NULL)
		goto nomem;
	r->p = p;
	r->done = done;
	r->ud = ud;
	memcpy(r->key, key, 32);
	keys_id_format(r->cid, key);
	r->call = mrpc_call(conn_rpc(q->c), "httpAuth.requestSolution", json_pack("[ss]", sc, cc),
	                    &solreq_cbs, r);
	if (r->call == NULL)
		goto nomem;
	r->refs = 2;
	uv_timer_init(p->cfg.loop, &r->timer);
	r->timer.data = r;
	uv_timer_start(&r->timer, solreq_timeout, PORTAL_SOLUTION_TIMEOUT_MS, 0);
	if (out != NULL)
		*out = r;
	return 0;
nomem:
	if (r != NULL) {
		free(r->sc);
		free(r->cc);
	}
	free(r);
	return -ENOMEM;
}

void portal_solution_cancel(struct portal_solreq *r)
{
	if (r != NULL)
		r->done = NULL;
}

void portal_set_auth_hooks(struct portal *p, const struct portal_auth_hooks *h, void *ud)
{
	memset(&p->auth, 0, sizeof(p->auth));
	if (h != NULL)
		p->auth = *h;
	p->auth_ud = ud;
}

static void ping_ms(struct mrpc_stream *call, json_t *args, void *ud)
{
	mrpc_reply(call, json_integer(rpc_now_ms()));
}

/* --------------------------------------------------------------- tunnels */

static struct peer *find_attendant(struct portal *p, const char *id)
{
	for (struct peer *q = p->peers; q != NULL; q = q->next)
		if (q->attendant && conn_rpc(q->c) != NULL && strcmp(conn_remote_id(q->c), id) == 0)
			return q;
	return NULL;
}

__attribute__((format(printf, 3, 4)))
static void refuse(struct mrpc_stream *call, const char *caller, const char *fmt, ...)
{
	va_list ap;

	char msg[256];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_info("tunnel.connect from %s refused: %s", caller, msg);
	mrpc_stream_end(call, msg);
}

/* tunnel.connect([{target, portal?, instance?}]) from an origin: check,
 * then splice to the target with {portal, target, origin, instance} —
 * `origin` for Rooms 2.0 targets, `instance` for ssb-tunnel 2.0 ones
 * (protocol.md §9.5). The origin is who the outer SHS says it is,
 * whatever the arguments claim. */
static void tunnel_connect(struct mrpc_stream *call, json_t *args, void *ud)
{
	struct peer *q = call_peer(call);
	struct portal *p = q->p;
	const char *caller = conn_remote_id(q->c);
	json_t *o = json_array_get(args, 0);
	json_t *portal_v, *inst_v;
	const char *target;
	struct peer *t;
	uint8_t pk[32];
	json_int_t instance = 0;

	if (!json_is_object(o)) {
		refuse(call, caller, "opts *must* be provided");
		return;
	}
	target = json_string_value(json_object_get(o, "target"));
	if (target == NULL || keys_id_parse(target, strlen(target), pk) != 0) {
		refuse(call, caller, "target must be a feed id (@…=.ed25519)");
		return;
	}
	portal_v = json_object_get(o, "portal");
	if (portal_v != NULL && !json_is_null(portal_v) &&
	    (!json_is_string(portal_v) || strcmp(json_string_value(portal_v), p->node.id_str) != 0)) {
		refuse(call, caller, "talking to the wrong portal: this is %s", p->node.id_str);
		return;
	}
	inst_v = json_object_get(o, "instance");
	if (json_is_integer(inst_v))
		instance = json_integer_value(inst_v);
	if (strcmp(target, caller) == 0) {
		refuse(call, caller, "could not connect to:%s (that is the caller itself)", target);
		return;
	}
	if (conn_is_tunneled(q->c) && !p->cfg.limits.allow_multihop) {
		p->counters.refused_multihop++;
		refuse(call, caller, "could not connect to:%s (multi-hop tunnels are not allowed here)",
		       target);
		return;
	}
	if (p->cfg.limits.tunnels_per_peer != 0 && q->tunnels >= p->cfg.limits.tunnels_per_peer) {
		p->counters.refused_tunnels_per_peer++;
		refuse(call, caller, "too many open tunnels (limit %u)", p->cfg.limits.tunnels_per_peer);
		return;
	}
	t = find_attendant(p, target);
	if (t == NULL) {
		p->counters.refused_unknown_target++;
		refuse(call, caller, "could not connect to:%s (host %s is not connected to this portal)",
		       target, target);
		return;
	}
	log_info("tunnel %s -> %s", caller, target);
	p->counters.tunnels_opened++;
	if (q->port == NULL || t->port == NULL) {
		refuse(call, caller, "could not connect to:%s", target);
		return;
	}
	tunnel_splice(p->relay, call, q->port, t->port, t->c,
	              json_pack("[{s:s,s:s,s:s,s:I}]", "portal", p->node.id_str, "target", target,
	                        "origin", caller, "instance", instance),
	              &q->tunnels);
}

/* ---------------------------------------------------------- connections */

/* ---------------------------------------------------------- read pacing */

static void rb_set(struct rbucket *b, uint64_t rate, uint64_t now)
{
	b->rate = rate;
	/* 100 ms of the rate, at least 64 KiB: one read of the loop's buffer */
	b->burst = rate / 10 > 65536 ? rate / 10 : 65536;
	b->tokens = (int64_t)b->burst;
	b->last = now;
}

static void rb_refill(struct rbucket *b, uint64_t now)
{
	if (b->rate == 0 || now <= b->last)
		return;
	b->tokens += (int64_t)(b->rate * (now - b->last) / 1000);
	if (b->tokens > (int64_t)b->burst)
		b->tokens = (int64_t)b->burst;
	b->last = now;
}

/* ms until b is back to zero tokens (0 if it is). */
static uint64_t rb_wait(const struct rbucket *b)
{
	if (b->rate == 0 || b->tokens >= 0)
		return 0;
	return ((uint64_t)(-b->tokens) * 1000 + b->rate - 1) / b->rate;
}

static struct rbucket *rb_user(struct portal *p, const struct peer *q)
{
	return q->user >= 0 && (size_t)q->user < p->cfg.sched.n_users ? &p->ruser[q->user] : &p->rguest;
}

static void rtimer_cb(uv_timer_t *t);

static void rtimer_arm(struct portal *p, uint64_t wait)
{
	if (wait == 0)
		wait = 1;
	uv_timer_start(&p->rtimer, rtimer_cb, wait, 0);
	p->rtimer_on = true;
}

/* Resumes the connections whose buckets have refilled. */
static void rtimer_cb(uv_timer_t *t)
{
	struct portal *p = t->data;
	uint64_t now = uv_now(p->cfg.loop), wait = 0;

	p->rtimer_on = false;
	rb_refill(&p->rlink, now);
	rb_refill(&p->rguest, now);
	for (size_t u = 0; u < p->cfg.sched.n_users; u++)
		rb_refill(&p->ruser[u], now);
	for (struct peer *q = p->peers; q != NULL; q = q->next) {
		uint64_t w;

		if (!q->read_paused)
			continue;
		w = rb_wait(&p->rlink);
		if (rb_wait(rb_user(p, q)) > w)
			w = rb_wait(rb_user(p, q));
		if (w == 0) {
			q->read_paused = false;
			conn_pause_input(q->c, false);
		} else if (wait == 0 || w < wait) {
			wait = w;
		}
	}
	if (wait != 0)
		rtimer_arm(p, wait);
}

/* conn's on_input: charge the read, stop reading when a bucket is dry. */
static void peer_input(struct conn *c, size_t len, void *ud)
{
	struct peer *q = ud;
	struct portal *p = q->p;
	struct rbucket *ub = rb_user(p, q);
	uint64_t now, w;

	if (p->rlink.rate == 0 && ub->rate == 0)
		return;
	now = uv_now(p->cfg.loop);
	rb_refill(&p->rlink, now);
	rb_refill(ub, now);
	if (p->rlink.rate != 0)
		p->rlink.tokens -= (int64_t)len;
	if (ub->rate != 0)
		ub->tokens -= (int64_t)len;
	w = rb_wait(&p->rlink) > rb_wait(ub) ? rb_wait(&p->rlink) : rb_wait(ub);
	if (w == 0 || q->read_paused)
		return;
	q->read_paused = true;
	conn_pause_input(c, true);
	if (!p->rtimer_on)
		rtimer_arm(p, w);
}

/* Read buckets from cfg.sched (start and reload). */
static int rb_apply(struct portal *p)
{
	const struct portal_sched *sc = &p->cfg.sched;
	uint64_t now = uv_now(p->cfg.loop);
	struct rbucket *ru = calloc(sc->n_users + 1, sizeof(*ru));

	if (ru == NULL)
		return -ENOMEM;
	rb_set(&p->rlink, sc->link_rate_down, now);
	rb_set(&p->rguest, sc->guest_ceil_down, now);
	for (size_t u = 0; u < sc->n_users; u++)
		rb_set(&ru[u], sc->users[u].ceil_down, now);
	free(p->ruser);
	p->ruser = ru;
	return 0;
}

static long user_index(struct portal *p, const uint8_t pk[32])
{
	const struct portal_sched *sc = &p->cfg.sched;

	for (size_t u = 0; u < sc->n_users; u++)
		if (key_in(sc->users[u].ids, sc->users[u].n_ids, pk))
			return (long)u;
	return -1;
}

/* ------------------------------------------------------------ scheduling */

static struct sched_class *class_for(struct portal *p, const uint8_t pk[32])
{
	const struct portal_sched *sc = &p->cfg.sched;

	for (size_t u = 0; u < sc->n_users && u < p->n_ucls; u++)
		if (key_in(sc->users[u].ids, sc->users[u].n_ids, pk))
			return p->ucls[u].cls;
	return p->guest;
}

static struct sched_class *class_for_next(struct portal *p, const struct user_class *next,
                                          const uint8_t pk[32])
{
	const struct portal_sched *sc = &p->cfg.sched;

	for (size_t u = 0; u < sc->n_users; u++)
		if (key_in(sc->users[u].ids, sc->users[u].n_ids, pk))
			return next[u].cls;
	return p->guest;
}

static uint64_t weight(uint64_t rate)
{
	return rate != 0 ? rate : UNPACED_WEIGHT;
}

/* (Re)builds the class tree from cfg.sched: classes are matched by name,
 * so a reload keeps a user's flows and statistics. */
static int sched_apply(struct portal *p)
{
	const struct portal_sched *sc = &p->cfg.sched;
	struct user_class *next = calloc(sc->n_users + 1, sizeof(*next));
	struct sched_class *cls;
	int rc = 0;

	if (next == NULL)
		return -ENOMEM;
	sched_set_link(relay_sched(p->relay), sc->link_rate, 0);
	sched_set_pace(relay_sched(p->relay), sc->pace_ns);
	if (sc->link_rate != 0 && sc->local_rate != 0) {
		if (p->local == NULL)
			rc = relay_class_new(p->relay, "local", sc->local_rate, 0, SCHED_CLASS_LOCAL, &p->local);
		else
			rc = sched_class_set(p->local, sc->local_rate, 0, 0, 0);
	}
	if (rc == 0 && p->guest == NULL)
		rc = relay_class_new(p->relay, "guest", weight(sc->guest_rate), sc->guest_ceil, 0, &p->guest);
	else if (rc == 0)
		rc = sched_class_set(p->guest, weight(sc->guest_rate), sc->guest_ceil, 0, 0);
	for (size_t u = 0; rc == 0 && u < sc->n_users; u++) {
		const struct portal_user *pu = &sc->users[u];

		snprintf(next[u].name, sizeof(next[u].name), "%s", pu->name);
		for (size_t o = 0; o < p->n_ucls; o++)
			if (p->ucls[o].cls != NULL && strcmp(p->ucls[o].name, pu->name) == 0) {
				next[u].cls = p->ucls[o].cls;
				p->ucls[o].cls = NULL;   /* kept */
			}
		if (next[u].cls != NULL)
			rc = sched_class_set(next[u].cls, weight(pu->rate), pu->ceil, 0, 0);
		else
			rc = relay_class_new(p->relay, pu->name, weight(pu->rate), pu->ceil, 0, &next[u].cls);
	}
	if (rc != 0) {
		free(next);
		return rc;
	}
	/* Everyone to their (new) class; then drop the classes that went. */
	for (struct peer *q = p->peers; q != NULL; q = q->next)
		if (q->port != NULL)
			relay_port_set_class(q->port, class_for_next(p, next, conn_remote_pk(q->c)));
	relay_reclass(p->relay);
	for (size_t o = 0; o < p->n_ucls; o++)
		if ((cls = p->ucls[o].cls) != NULL) {
			void *ud = sched_class_ud(cls);

			if (sched_class_free(cls) == 0)
				free(ud);
		}
	free(p->ucls);
	p->ucls = next;
	p->n_ucls = sc->n_users;
	return 0;
}

/* The account of a member without a [user] section (NULL for others):
 * found by key, made on first sight, shared `other` past the cap. */
static struct relay_acct *acct_for(struct portal *p, const struct peer *q)
{
	const uint8_t *pk = conn_remote_pk(q->c);
	unsigned max = p->cfg.metrics_max_users ? p->cfg.metrics_max_users : DEFAULT_METRICS_MAX_USERS;
	struct portal_acct *a;

	if (!q->member || q->user >= 0 || pk == NULL)
		return NULL;
	for (size_t i = 0; i < p->n_accts; i++)
		if (memcmp(p->accts[i]->pk, pk, 32) == 0)
			return &p->accts[i]->bytes;
	if (p->n_accts >= max)
		return &p->acct_other;
	if (p->n_accts == p->cap_accts) {
		size_t cap = p->cap_accts ? p->cap_accts * 2 : 16;
		struct portal_acct **n = realloc(p->accts, cap * sizeof(*n));

		if (n == NULL)
			return &p->acct_other;
		p->accts = n;
		p->cap_accts = cap;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return &p->acct_other;
	memcpy(a->pk, pk, 32);
	p->accts[p->n_accts++] = a;
	return &a->bytes;
}

/* Runs inside the handshake, before msg4: a refused key gets nothing. */
static int authorize(const uint8_t pk[32], const char **why, void *ud)
{
	struct peer *q = ud;
	struct portal *p = q->p;

	q->member = is_member(&p->cfg, pk);
	if (is_denied(&p->cfg, pk)) {
		p->counters.refused_denied++;
		*why = "this key has been banned";
		return -EPERM;
	}
	if (p->cfg.privacy == PORTAL_RESTRICTED && !q->member) {
		p->counters.refused_not_member++;
		*why = "access restricted to members";
		return -EPERM;
	}
	return 0;
}

static void peer_ready(struct conn *c, void *ud)
{
	struct peer *q = ud;

	if (q->addr != NULL && q->pending)
		admit_ready(q->p->admit, q->addr);
	q->pending = false;
	q->user = user_index(q->p, conn_remote_pk(c));
	q->ready = true;
	q->p->counters.handshakes_ok++;
	q->port = relay_port_new(q->p->relay, c, class_for(q->p, conn_remote_pk(c)));
	if (q->port == NULL)
		conn_close(c, "out of memory");
	relay_port_set_acct(q->port, acct_for(q->p, q));
}

static void sweep_cb(uv_timer_t *t)
{
	struct portal *p = t->data;
	uint64_t now = uv_now(p->cfg.loop), idle = p->cfg.limits.idle_timeout_ms;
	uint64_t block = p->cfg.sched.block_limit_ms ? p->cfg.sched.block_limit_ms
	                                             : DEFAULT_BLOCK_LIMIT_MS;

	for (struct peer *q = p->peers; q != NULL && idle != 0; q = q->next)
		if (conn_state(q->c) == CONN_OPEN && now - conn_last_rx(q->c) > idle) {
			p->counters.closed_idle++;
			conn_close(q->c, "idle timeout");
		}
	p->counters.closed_blocked += tunnel_end_blocked(block);
	admit_tick(p->admit, now, ADMIT_INTERVAL_MS);
	/* After a storm the heap keeps its high-water mark (glibc gives
	 * memory back only from the top): hand the freed pages back once
	 * the peers are down to half their peak. */
	if (p->npeers > p->peak_peers)
		p->peak_peers = p->npeers;
	if (p->peak_peers >= 256 && p->npeers < p->peak_peers / 2) {
#ifdef __GLIBC__
		malloc_trim(0);
#endif
		p->peak_peers = p->npeers;
	}
	for (struct share_sub *sh = p->shares; sh != NULL; sh = sh->next)
		share_send(p, sh);
}

/* Stops counting q toward the admission limits (idempotent). */
static void peer_leaving(struct peer *q)
{
	if (q->addr != NULL)
		admit_leave(q->p->admit, q->addr, q->pending);
	q->addr = NULL;
	q->pending = false;
}

static void peer_closing(struct conn *c, void *ud)
{
	peer_leaving(ud);
}

/* Makes room for one more handshake when every slot is taken: the
 * oldest pending handshake of the address holding the most goes, unless
 * the newcomer's address (holding mine) would then hold as many — then
 * the newcomer is the one refused. A flood from a few addresses thus
 * evicts itself, and a client from anywhere else still gets a slot. */
static bool evict_for(struct portal *p, const struct admit_addr *mine)
{
	struct admit_addr *top = admit_busiest(p->admit);
	struct peer *oldest = NULL;
	unsigned held = mine != NULL ? mine->pending : 0;

	if (top == NULL || top == mine || top->pending <= held + 1)
		return false;
	for (struct peer *o = p->peers; o != NULL; o = o->next)
		if (o->addr == top && o->pending &&
		    (oldest == NULL || o->accepted_ms <= oldest->accepted_ms))
			oldest = o;
	if (oldest == NULL)
		return false;
	p->counters.evicted_handshakes++;
	admit_refused(p->admit, oldest->ip, conn_peer_name(oldest->c),
	              "evicted: handshake slots are short, this address holds the most", uv_now(p->cfg.loop));
	conn_close(oldest->c, "evicted: handshake slots are short, this address holds the most");
	return true;
}

/* Admission limits, checked before anything is allocated for a TCP
 * connection (and as soon as a tunneled session arrives). Returns NULL
 * and counts q in, or the reason to refuse it. */
static const char *admission(struct portal *p, struct peer *q, const char *ip)
{
	const struct portal_limits *l = &p->cfg.limits;
	struct admit_addr *e = admit_get(p->admit, ip);
	/* Much smaller than the global limit, so that a few addresses cannot
	 * take every slot: a 32nd of it (16 of 512) unless set. */
	unsigned per_ip = l->pending_per_ip != 0 ? l->pending_per_ip
	                : l->pending_handshakes == 0 ? 0
	                : l->pending_handshakes / 32 > 4 ? l->pending_handshakes / 32 : 4;

	if (p->stopping)
		return "portal is stopping";
	if (e == NULL)
		return "out of memory";
	if (ip[0] != '\0' && l->conns_per_ip != 0 && e->conns >= l->conns_per_ip) {
		p->counters.refused_conns_per_ip++;
		return "too many connections from this address";
	}
	if (ip[0] != '\0' && per_ip != 0 && e->pending >= per_ip) {
		p->counters.refused_pending_per_ip++;
		return "too many handshakes from this address";
	}
	if (l->pending_handshakes != 0 && admit_pending(p->admit) >= l->pending_handshakes &&
	    !evict_for(p, e)) {
		p->counters.refused_pending++;
		return "too many handshakes in progress";
	}
	snprintf(q->ip, sizeof(q->ip), "%s", ip);
	q->addr = e;
	q->pending = true;
	q->accepted_ms = uv_now(p->cfg.loop);
	admit_join(p->admit, e);
	return NULL;
}

/* The admit hook of conn_tcp_accept: decides before the conn exists. */
static bool tcp_admit(const char *ip, uint16_t port, void *ud)
{
	struct peer *q = ud;
	struct portal *p = q->p;
	const char *why = admission(p, q, ip);
	char name[80];

	if (why == NULL)
		return true;
	snprintf(name, sizeof(name), strchr(ip, ':') != NULL ? "[%s]:%u" : "%s:%u", ip, port);
	admit_refused(p->admit, ip, name, why, uv_now(p->cfg.loop));
	return false;
}

static void peer_closed(struct conn *c, const char *reason, void *ud)
{
	struct peer *q = conn_ud(c);
	struct portal *p = q->p;

	/* A failed handshake from an address is summed up with its refusals:
	 * a flood of them must not write a line each. */
	if (q->port == NULL && reason != NULL && q->ip[0] != '\0' && conn_remote_id(c)[0] == '\0')
		admit_refused(p->admit, q->ip, conn_peer_name(c), reason, uv_now(p->cfg.loop));
	peer_leaving(q);
	if (!q->ready)
		p->counters.handshakes_failed++;
	attendant_remove(q);
	relay_port_free(q->port);
	LIST_REMOVE(p->peers, q);
	p->npeers--;
	free(q);
}

/* Under pressure handshakes get less time: past half the slots the
 * timeout shrinks with the slots left, down to a quarter (at least a
 * second: a slow but honest link needs two round trips). */
static unsigned handshake_timeout(const struct portal *p)
{
	unsigned base = p->cfg.handshake_timeout_ms ? p->cfg.handshake_timeout_ms
	                                            : CONN_DEFAULT_HANDSHAKE_MS;
	unsigned total = p->cfg.limits.pending_handshakes, used = admit_pending(p->admit);
	uint64_t t;

	if (total == 0 || used * 2 <= total)
		return base;
	t = (uint64_t)base * (total - (used < total ? used : total)) * 2 / total;
	if (t < base / 4)
		t = base / 4;
	if (t < 1000)
		t = base < 1000 ? base : 1000;
	return (unsigned)t;
}

/* The session settings every peer gets, TCP or tunneled. */
static struct conn_cfg peer_cfg(struct portal *p, struct peer *q)
{
	return (struct conn_cfg){
		.loop = p->cfg.loop,
		.id = p->cfg.id,
		.net_key = p->cfg.net_key,
		.api = p->api,
		.handshake_timeout_ms = handshake_timeout(p),
		.sndbuf = p->cfg.sched.sndbuf ? p->cfg.sched.sndbuf : DEFAULT_SNDBUF,
		.authorize = authorize,
		.on_input = peer_input,
		.on_ready = peer_ready,
		.on_close = peer_closed,
		.on_closing = peer_closing,
		.admit = tcp_admit,
		.owner_logs_handshake = true,
		.ud = q,
	};
}

static struct peer *peer_new(struct portal *p)
{
	struct peer *q = calloc(1, sizeof(*q));

	if (q == NULL) {
		log_warn("accept: out of memory");
		return NULL;
	}
	q->p = p;
	q->user = -1;
	return q;
}

static void peer_insert(struct portal *p, struct peer *q)
{
	LIST_INSERT(p->peers, q);
	p->npeers++;
}

static void accept_one(struct portal *p)
{
	struct peer *q = peer_new(p);
	struct conn_cfg cfg;
	int rc;

	if (q == NULL) {
		/* Take the socket off the backlog all the same: it is closed. */
		uv_tcp_t *bare = malloc(sizeof(*bare));

		if (bare != NULL && uv_tcp_init(p->cfg.loop, bare) == 0) {
			bare->data = bare;
			(void)uv_accept((uv_stream_t *)&p->listener, (uv_stream_t *)bare);
			uv_close((uv_handle_t *)bare, (uv_close_cb)free);
		} else {
			free(bare);
		}
		return;
	}
	cfg = peer_cfg(p, q);
	rc = conn_tcp_accept((uv_stream_t *)&p->listener, &cfg, &q->c);
	if (rc < 0) {
		if (rc != -ECONNREFUSED)
			log_warn("accept: %s", uv_strerror(rc));
		peer_leaving(q);
		free(q);
		return;
	}
	peer_insert(p, q);
}

static void accept_prep_cb(uv_prepare_t *h)
{
	struct portal *p = h->data;

	p->accept_budget = ACCEPT_BURST;
}

static void accept_idle_cb(uv_idle_t *h)
{
	struct portal *p = h->data;

	uv_idle_stop(h);
	p->accept_budget = ACCEPT_BURST - 1;
	if (!p->stopping)
		accept_one(p);   /* accepting restarts libuv's watch of the listener */
}

static void on_connection(uv_stream_t *server, int status)
{
	struct portal *p = server->data;

	if (status < 0) {
		log_warn("accept: %s", uv_strerror(status));
		return;
	}
	if (p->accept_budget == 0) {
		/* Leave it in the backlog: libuv stops watching the listener
		 * until we accept, and the rest of the loop runs first. */
		uv_idle_start(&p->accept_idle, accept_idle_cb);
		return;
	}
	p->accept_budget--;
	accept_one(p);
}

void portal_accept_tunnel(struct portal *p, struct mrpc_stream *s, const char *label)
{
	struct peer *q;
	struct conn_cfg cfg;

	if (p->stopping) {
		mrpc_stream_end(s, "portal is stopping");
		return;
	}
	q = peer_new(p);
	if (q == NULL) {
		mrpc_stream_end(s, "out of memory");
		return;
	}
	cfg = peer_cfg(p, q);
	q->c = tunnel_conn(s, &cfg, false, NULL, label);
	if (q->c == NULL) {
		free(q);
		return;
	}
	peer_insert(p, q);
	/* Tunneled sessions have no address of their own: only the global
	 * handshake limit applies to them. */
	{
		const char *why = admission(p, q, "");

		if (why != NULL)
			conn_close(q->c, why);
	}
}

int portal_accept_ws(struct portal *p, int fd, const char *extra, size_t n,
                     const struct sockaddr *peer)
{
	struct peer *q;
	struct conn_cfg cfg;
	char ip[64] = "", name[80] = "?";
	const char *why;
	int rc;

	/* The address counts as a TCP peer's does, decided before anything
	 * but the peer record is allocated (admission, as tcp_admit). */
	if (peer != NULL && (peer->sa_family == AF_INET || peer->sa_family == AF_INET6)) {
		uint16_t port = peer->sa_family == AF_INET
		                ? ntohs(((const struct sockaddr_in *)peer)->sin_port)
		                : ntohs(((const struct sockaddr_in6 *)peer)->sin6_port);

		uv_ip_name(peer, ip, sizeof(ip));
		snprintf(name, sizeof(name), strchr(ip, ':') != NULL ? "[%s]:%u" : "%s:%u", ip, port);
	}
	q = peer_new(p);
	if (q == NULL) {
		close(fd);
		return -ENOMEM;
	}
	why = admission(p, q, ip);
	if (why != NULL) {
		admit_refused(p->admit, ip, name, why, uv_now(p->cfg.loop));
		close(fd);
		free(q);
		return -ECONNREFUSED;
	}
	cfg = peer_cfg(p, q);
	rc = wsconn_accept(&cfg, fd, (const uint8_t *)extra, n, peer, &q->c);
	if (rc < 0) {
		log_warn("WebSocket accept from %s: %s", name, strerror(-rc));
		peer_leaving(q);
		free(q);
		return rc;
	}
	peer_insert(p, q);
	return 0;
}

static int build_api(struct portal *p)
{
	static const struct { const char *name; enum mrpc_kind kind; mrpc_handler_fn *fn; } m[] = {
		{ "room.metadata", MRPC_ASYNC, room_metadata },
		{ "tunnel.isRoom", MRPC_ASYNC, room_metadata },
		{ "room.attendants", MRPC_SOURCE, room_attendants },
		{ "tunnel.endpoints", MRPC_SOURCE, tunnel_endpoints },
		{ "tunnel.announce", MRPC_ASYNC, tunnel_announce },
		{ "tunnel.leave", MRPC_ASYNC, tunnel_leave },
		{ "tunnel.ping", MRPC_ASYNC, ping_ms },
		{ "room.ping", MRPC_ASYNC, ping_ms },
		{ "tunnel.connect", MRPC_DUPLEX, tunnel_connect },
		{ "room.connect", MRPC_DUPLEX, tunnel_connect },
		{ "room.members", MRPC_SOURCE, room_members },
		{ "room.registerAlias", MRPC_ASYNC, room_register_alias },
		{ "room.revokeAlias", MRPC_ASYNC, room_revoke_alias },
		{ "room.listAliases", MRPC_ASYNC, room_list_aliases },
		{ "httpAuth.sendSolution", MRPC_ASYNC, http_send_solution },
		{ "httpAuth.invalidateAllSolutions", MRPC_ASYNC, http_invalidate_all },
		{ "fairway.share", MRPC_SOURCE, fairway_share },
	};
	int rc;

	p->api = mrpc_api_new();
	if (p->api == NULL)
		return -ENOMEM;
	p->node.loop = p->cfg.loop;
	p->node.id = p->cfg.id;
	rc = rpc_add_common(p->api, &p->node);
	for (size_t i = 0; rc == 0 && i < sizeof(m) / sizeof(m[0]); i++)
		rc = mrpc_api_add(p->api, m[i].name, m[i].kind, m[i].fn, p);
	return rc;
}

/* The scheduler's part; its timer closes on a later loop iteration. */
static void release(struct portal *p)
{
	if (p->relay != NULL) {
		relay_classes_free(p->relay);
		relay_free(p->relay);
	}
	free(p->ucls);
	free(p->ruser);
	for (size_t i = 0; i < p->n_accts; i++)
		free(p->accts[i]);
	free(p->accts);
	mrpc_api_free(p->api);
	admit_free(p->admit);
	free(p);
}

static void free_with_listener(uv_handle_t *h)
{
	release(h->data);
}

int portal_start(const struct portal_cfg *cfg, struct portal **out, char *err, size_t errlen)
{
	struct sched_cfg scfg;
	struct portal *p = calloc(1, sizeof(*p));
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	int rc;
	struct addr a = { .kind = ADDR_NET, .has_shs = true };

	if (p == NULL)
		return -ENOMEM;
	p->cfg = *cfg;
	p->admit = admit_new();
	rc = p->admit == NULL ? -ENOMEM : build_api(p);
	if (rc < 0) {
		snprintf(err, errlen, "cannot set up methods: %s", strerror(-rc));
		goto fail;
	}
	sched_cfg_default(&scfg, cfg->sched.link_rate);
	/* A tunnel's queue: ~50 ms of the link, 64 KiB..1 MiB. Deeper only
	 * delays everything behind it (and a stopped sender's bytes keep
	 * arriving for as long as they take to drain). */
	if (cfg->sched.link_rate != 0) {
		uint64_t lim = cfg->sched.link_rate / 20;

		scfg.flow_limit = lim < (64u << 10) ? (64u << 10) : lim > (1u << 20) ? (1u << 20) : lim;
		scfg.flow_low = scfg.flow_limit / 4;
	}
	p->relay = relay_new(cfg->loop, &scfg);
	rc = p->relay == NULL ? -ENOMEM : sched_apply(p);
	if (rc == 0)
		rc = rb_apply(p);
	if (rc < 0) {
		snprintf(err, errlen, "cannot set up the scheduler: %s", strerror(-rc));
		goto fail;
	}
	if (uv_ip4_addr(cfg->host, cfg->port, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(cfg->host, cfg->port, (struct sockaddr_in6 *)&ss) != 0) {
		snprintf(err, errlen, "listen address '%s' is not a numeric IPv4 or IPv6 address",
		         cfg->host);
		rc = -EINVAL;
		goto fail;
	}
	uv_tcp_init(cfg->loop, &p->listener);
	p->listener.data = p;
	if (cfg->listen_fd > 2)
		rc = uv_tcp_open(&p->listener, cfg->listen_fd);
	else
		rc = uv_tcp_bind(&p->listener, (struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&p->listener, 511, on_connection);
	if (rc < 0) {
		if (cfg->listen_fd > 2)
			snprintf(err, errlen, "cannot listen on the socket passed by the service manager (fd %d): %s",
			         cfg->listen_fd, uv_strerror(rc));
		else
			snprintf(err, errlen, "cannot listen on %s%s%s:%u: %s",
			         strchr(cfg->host, ':') ? "[" : "", cfg->host,
			         strchr(cfg->host, ':') ? "]" : "", cfg->port, uv_strerror(rc));
		/* p goes with its handle, once libuv has closed it. */
		uv_close((uv_handle_t *)&p->listener, free_with_listener);
		return rc;
	}
	p->listening = true;
	uv_prepare_init(cfg->loop, &p->accept_prep);
	p->accept_prep.data = p;
	uv_prepare_start(&p->accept_prep, accept_prep_cb);
	uv_idle_init(cfg->loop, &p->accept_idle);
	p->accept_idle.data = p;
	p->accept_budget = ACCEPT_BURST;
	uv_timer_init(cfg->loop, &p->rtimer);
	p->rtimer.data = p;
	uv_timer_init(cfg->loop, &p->sweep);
	p->sweep.data = p;
	uv_timer_start(&p->sweep, sweep_cb, 1000, 1000);
	uv_tcp_getsockname(&p->listener, (struct sockaddr *)&ss, &len);
	snprintf(a.host, sizeof(a.host), "%s", cfg->host);
	if (cfg->listen_fd > 2)   /* the socket's own address, not the option's */
		uv_ip_name((struct sockaddr *)&ss, a.host, sizeof(a.host));
	a.port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
	                                 : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	if (cfg->advertise_host != NULL)   /* what peers dial, not what we bound */
		snprintf(a.host, sizeof(a.host), "%s", cfg->advertise_host);
	if (cfg->advertise_port != 0)
		a.port = cfg->advertise_port;
	memcpy(a.shs_pk, cfg->id->pk, 32);
	if (addr_format(&a, p->address, sizeof(p->address)) < 0)
		snprintf(p->address, sizeof(p->address), "?");
	*out = p;
	return 0;
fail:
	release(p);
	return rc;
}

/* Re-checks open connections (all, or those of key) against the member
 * and deny lists and the store; see portal_membership_changed. */
static void recheck(struct portal *p, const uint8_t *key, const char *what)
{
	struct portal_cfg *c = &p->cfg;
	char why[96];

	for (struct peer *q = p->peers; q != NULL; q = q->next) {
		const uint8_t *pk = conn_remote_pk(q->c);

		if (conn_state(q->c) != CONN_OPEN || (key != NULL && memcmp(pk, key, 32) != 0))
			continue;
		q->member = is_member(c, pk);
		q->user = user_index(p, pk);
		relay_port_set_acct(q->port, acct_for(p, q));
		if (is_denied(c, pk)) {
			p->counters.refused_denied++;
			snprintf(why, sizeof(why), "this key has been banned (%s)", what);
			conn_close(q->c, why);
		} else if (c->privacy == PORTAL_RESTRICTED && !q->member) {
			p->counters.refused_not_member++;
			snprintf(why, sizeof(why), "access restricted to members (%s)", what);
			conn_close(q->c, why);
		} else if (c->privacy != PORTAL_OPEN && !q->member) {
			attendant_remove(q);
		}
	}
	/* Who may no longer list attendants stops hearing about them; the
	 * sub goes when the peer answers our END (sub_free). */
	for (struct sub *s = p->subs, *next; s != NULL; s = next) {
		next = s->next;
		if (c->privacy != PORTAL_OPEN && !call_peer(s->s)->member &&
		    !mrpc_stream_local_ended(s->s))
			mrpc_stream_end(s->s, NOT_MEMBER_MSG);
	}
	for (struct share_sub *sh = p->shares; sh != NULL; sh = sh->next)
		if (!call_peer(sh->s)->member && !mrpc_stream_local_ended(sh->s))
			mrpc_stream_end(sh->s, SHARE_NOT_MEMBER_MSG);
}

void portal_membership_changed(struct portal *p, const uint8_t *key)
{
	recheck(p, key, "membership changed");
}

void portal_reconfigure(struct portal *p, const struct portal_cfg *cfg)
{
	struct portal_cfg *c = &p->cfg;

	c->privacy = cfg->privacy;
	c->name = cfg->name;
	c->members = cfg->members;
	c->n_members = cfg->n_members;
	c->denied = cfg->denied;
	c->n_denied = cfg->n_denied;
	c->limits = cfg->limits;
	c->metrics_max_users = cfg->metrics_max_users;
	if (cfg->handshake_timeout_ms != 0)
		c->handshake_timeout_ms = cfg->handshake_timeout_ms;
	c->sched = cfg->sched;
	if (sched_apply(p) != 0)
		log_warn("reload: cannot rebuild the scheduler's classes; the old ones stay");
	if (rb_apply(p) != 0)
		log_warn("reload: cannot rebuild the read pacing");
	recheck(p, NULL, "policy reloaded");
}

void portal_set_public_url(struct portal *p, const char *url) { p->cfg.public_url = url; }
const char *portal_address(const struct portal *p) { return p->address; }
enum portal_privacy portal_privacy_now(const struct portal *p) { return p->cfg.privacy; }

static json_t *portal_info_base(const struct portal *p);

json_t *portal_info(const struct portal *p)
{
	json_t *o = portal_info_base(p);

	json_object_set_new(json_object_get(o, "counters"), "closed_idle",
	                    json_integer((json_int_t)p->counters.closed_idle));
	json_object_set_new(json_object_get(o, "counters"), "closed_blocked",
	                    json_integer((json_int_t)p->counters.closed_blocked));
	json_object_set_new(o, "scheduler", relay_info(p->relay));
	return o;
}

static json_t *portal_info_base(const struct portal *p)
{
	const struct portal_counters *k = &p->counters;
	json_t *peers = json_array();
	unsigned attendants = 0, handshaking = 0;

	for (const struct peer *q = p->peers; q != NULL; q = q->next) {
		attendants += q->attendant;
		handshaking += conn_state(q->c) == CONN_HANDSHAKE;
		json_array_append_new(peers, json_pack("{s:s,s:s,s:s,s:b,s:b,s:I,s:I}",
			"id", conn_remote_id(q->c), "address", conn_peer_name(q->c),
			"state", conn_state_name(conn_state(q->c)), "attendant", q->attendant,
			"member", q->member, "tunnels", (json_int_t)q->tunnels,
			"queued_bytes", (json_int_t)conn_write_queue_size(q->c)));
	}
	return json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I},s:o}",
		"id", p->node.id_str, "address", p->address,
		"privacy", portal_privacy_name(p->cfg.privacy),
		"connections", (json_int_t)p->npeers, "handshaking", (json_int_t)handshaking,
		"attendants", (json_int_t)attendants, "tunnels_open", (json_int_t)tunnel_active_count(),
		"counters",
		"tunnels_opened", (json_int_t)k->tunnels_opened,
		"refused_conns_per_ip", (json_int_t)k->refused_conns_per_ip,
		"refused_pending", (json_int_t)k->refused_pending,
		"refused_pending_per_ip", (json_int_t)k->refused_pending_per_ip,
		"evicted_handshakes", (json_int_t)k->evicted_handshakes,
		"refused_denied", (json_int_t)k->refused_denied,
		"refused_not_member", (json_int_t)k->refused_not_member,
		"refused_tunnels_per_peer", (json_int_t)k->refused_tunnels_per_peer,
		"refused_multihop", (json_int_t)k->refused_multihop,
		"refused_unknown_target", (json_int_t)k->refused_unknown_target,
		"peers", peers);
}
size_t portal_conn_count(const struct portal *p) { return p->npeers; }

void portal_conn_stats(const struct portal *p, struct portal_conn_stats *out)
{
	const struct portal_cfg *c = &p->cfg;

	memset(out, 0, sizeof(*out));
	for (const struct peer *q = p->peers; q != NULL; q = q->next) {
		unsigned st = (unsigned)conn_state(q->c);

		if (st < PORTAL_CONN_STATES)
			out->conns[st][conn_is_tunneled(q->c) ? 1 : 0]++;
		out->attendants += q->attendant;
	}
	out->members = c->store != NULL ? store_member_count(c->store) : 0;
	for (size_t i = 0; i < c->n_members; i++)
		if (c->store == NULL || store_check(c->store, c->members[i], NULL) == STORE_ROLE_NONE)
			out->members++;
}

struct relay *portal_relay(const struct portal *p) { return p->relay; }
const struct portal_cfg *portal_config(const struct portal *p) { return &p->cfg; }
const struct relay_acct *portal_acct_other(const struct portal *p) { return &p->acct_other; }

unsigned portal_metrics_max_users(const struct portal *p)
{
	return p->cfg.metrics_max_users ? p->cfg.metrics_max_users : DEFAULT_METRICS_MAX_USERS;
}

bool portal_acct_get(const struct portal *p, size_t i, const uint8_t **pk,
                     const struct relay_acct **a)
{
	if (i >= p->n_accts)
		return false;
	*pk = p->accts[i]->pk;
	*a = &p->accts[i]->bytes;
	return true;
}

void portal_stop(struct portal *p)
{
	if (p->stopping)
		return;
	p->stopping = true;
	if (p->listening) {
		uv_close((uv_handle_t *)&p->listener, NULL);
		uv_close((uv_handle_t *)&p->accept_prep, NULL);
		uv_close((uv_handle_t *)&p->accept_idle, NULL);
		uv_close((uv_handle_t *)&p->sweep, NULL);
		uv_close((uv_handle_t *)&p->rtimer, NULL);
	}
	for (struct peer *q = p->peers; q != NULL; q = q->next)
		conn_close(q->c, NULL);
}

/* After the loop has run dry (every connection freed). */
void portal_free(struct portal *p)
{
	if (p != NULL)
		release(p);
}
