/* portal — the room/relay server: accepts SSB connections and serves
 *
 *   room.metadata, tunnel.isRoom   async   what this room is
 *   room.attendants                source  {"type":"state","ids":[…]}, then
 *                                          {"type":"joined"|"left","id":…}
 *   tunnel.endpoints               source  the full sorted id list on every change
 *   tunnel.announce, tunnel.leave  async   join / leave the attendants
 *   tunnel.ping, room.ping         async   Date.now() in ms
 *   room.members                   source  [{"id":…}] per member, then end
 *   room.registerAlias(a, sig)     async   the alias URL (a string)
 *   room.revokeAlias(a)            async   true (the owner only)
 *   room.listAliases(id)           async   ["name", …]
 *   httpAuth.sendSolution(sc,cc,sol) async true (server-initiated sign-in)
 *   httpAuth.invalidateAllSolutions  async true (ends the caller's web sessions)
 * (errors and checks as go-ssb-room: ../shared rooms2-server.md §1; the
 * store-backed ones need cfg.store).
 *   whoami, gossip.ping, manifest          (rpc.h)
 *
 * Attendants are keyed by identity: the newest connection wins and the
 * older one is closed; an attendant leaves when its connection ends.
 *
 * Reads are paced too (rate-down): a token bucket for the whole downlink
 * and one per user at its download ceiling, charged on every read; a
 * connection whose buckets run dry is not read until they refill. Reads
 * get caps only; the guarantee and borrowing model is the send side's.
 *
 * Privacy (Rooms 2.0): open — anyone; community — anyone may connect and
 * tunnel to members, only members may become attendants or list them;
 * restricted — non-members are refused right after the handshake (before
 * msg4, as JS does). Denied keys are refused after the handshake in every
 * mode. Every refusal is logged once and counted. */
#ifndef FAIRWAY_PORTAL_H
#define FAIRWAY_PORTAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <uv.h>

#include "keys.h"
#include "muxrpc.h"

struct portal;
struct store;   /* src/room/store.h */

enum portal_privacy { PORTAL_OPEN, PORTAL_COMMUNITY, PORTAL_RESTRICTED };

/* Limits; 0 means "no limit" (or the default noted). */
struct portal_limits {
	unsigned conns_per_ip;         /* TCP connections from one address */
	unsigned pending_handshakes;   /* connections still in SHS, all together; when
	                                * full, the address holding the most loses its
	                                * oldest (see admission in portal.c) */
	unsigned pending_per_ip;       /* connections still in SHS from one address;
	                                * 0: pending_handshakes / 32, at least 4 */
	unsigned tunnels_per_peer;     /* tunnels one origin may hold open */
	unsigned idle_timeout_ms;      /* close connections silent this long */
	bool allow_multihop;           /* forward connects that came through a tunnel */
};

/* Why connections and calls were refused (fairway info shows these). */
struct portal_counters {
	unsigned long refused_conns_per_ip, refused_pending, refused_pending_per_ip,
	              evicted_handshakes, refused_denied,
	              refused_not_member, refused_tunnels_per_peer, refused_multihop,
	              refused_unknown_target, closed_idle, closed_blocked, tunnels_opened;
	/* sessions that opened / connections that ended before theirs did
	 * (bad keys, timeouts, refusals, resets), for metrics */
	unsigned long handshakes_ok, handshakes_failed;
};

/* A user of the portal's link (a policy [user]): bytes the portal relays
 * on behalf of these identities are scheduled in one class. */
struct portal_user {
	const char *name;
	uint64_t rate, ceil;           /* B/s the portal sends for them; ceil 0 = the link */
	uint64_t ceil_down;            /* B/s the portal reads from them at most; 0 = the link */
	const uint8_t (*ids)[32];
	size_t n_ids;
};

/* The scheduler's shape (sched.h): everything the portal sends on a
 * tunnel's behalf is paced at link_rate and shared among the users. */
struct portal_sched {
	uint64_t link_rate;            /* B/s after rate-sub-percent; 0 = not paced */
	uint64_t local_rate;           /* rate-local-percent of it (portal's own traffic) */
	uint64_t guest_rate, guest_ceil; /* peers in no user */
	uint64_t link_rate_down;       /* B/s the portal reads at most (rate-down less sub%); 0 = unpaced */
	uint64_t guest_ceil_down;
	const struct portal_user *users;
	size_t n_users;
	uint64_t block_limit_ms;       /* end a tunnel that stalls its sender this long (0: 30 s) */
	unsigned sndbuf;               /* per-socket send buffer (0: 256 KiB) */
	uint64_t pace_ns;              /* sched_cfg.pace_ns: 0 = default, SCHED_PACE_NONE = off */
};

struct portal_cfg {
	uv_loop_t *loop;
	const struct keys *id;         /* borrowed */
	const uint8_t *net_key;        /* 32 bytes, borrowed */
	const char *host;              /* listen address, numeric */
	uint16_t port;                 /* 0: pick a free port */
	const char *advertise_host;    /* NULL: host; else the host portal_address()
	                                * names (--advertise), not resolved */
	uint16_t advertise_port;       /* 0: the listening port */
	int listen_fd;                 /* > 2: an inherited listening socket (socket
	                                * activation) used instead of host:port */
	unsigned handshake_timeout_ms;
	const char *name;              /* room name in room.metadata */
	enum portal_privacy privacy;
	const uint8_t (*members)[32];  /* borrowed arrays of public keys */
	size_t n_members;
	const uint8_t (*denied)[32];
	size_t n_denied;
	/* The room store (borrowed, may be NULL): its members and denied keys
	 * count as well as the lists above (a key is a member if either says
	 * so, denied if either says so). */
	struct store *store;
	const char *public_url;            /* --public-url: base of every link (borrowed), NULL: none */
	struct portal_limits limits;
	struct portal_sched sched;
	/* metrics-max-users: distinct `user` label values in the metrics and
	 * identities counted one by one (members without a [user] section);
	 * past it they share an `other` bucket. 0: 1000. */
	unsigned metrics_max_users;
};

/* Binds and listens. On failure returns -errno and writes a reason. */
int portal_start(const struct portal_cfg *cfg, struct portal **out, char *err, size_t errlen);
/* Takes new privacy, name, member and deny lists, limits and timeouts from
 * cfg (host, port, keys and the store stay). Open connections are re-checked: denied
 * keys and, in restricted rooms, non-members are closed; attendants who
 * may no longer attend leave. The lists stay borrowed: keep the old ones
 * alive until this returns. */
void portal_reconfigure(struct portal *p, const struct portal_cfg *cfg);
/* Call after any write to the store that changes key's membership or
 * denial (member add/remove/role, deny add/remove, invite consumed):
 * an online peer with that key is re-checked at once, as on a reload:
 * denied → disconnected; no longer a member → disconnected in a
 * restricted room, loses attendant-only rights (attendance, listing) in a
 * community room. key NULL re-checks every peer (e.g. after a privacy
 * change through the store). */
void portal_membership_changed(struct portal *p, const uint8_t *key);
/* ---- sign-in with SSB (the web side's half; rooms2-server.md §1.5) ----
 *
 * Server-initiated: a member's client calls httpAuth.sendSolution(sc, cc,
 * sol). The portal checks membership and the signature over
 * "=http-auth-sign-in:${roomId}:${memberId}:${sc}:${cc}", makes a sign-in
 * token (32 characters [A-Za-z0-9]), stores sha256(those 32 characters) as
 * a STORE_TOKEN_SIGNIN of the member expiring in PORTAL_SIGNIN_TTL, and
 * calls on_solved: the web side gives the token to the browser waiting on
 * sc (SSE) and returns 0, or -ENOENT if no sign-in with that sc is pending
 * (the token is then deleted and the client told "no such session").
 * Without hooks every sendSolution gets "no such session". A wrong
 * signature calls on_failed (the browser is told) and errs. Strings are
 * valid only during the call. */
#define PORTAL_SIGNIN_TTL (24 * 3600)          /* seconds, as go-ssb-room */
#define PORTAL_SOLUTION_TIMEOUT_MS 60000
struct portal_auth_hooks {
	int (*on_solved)(const char *sc, const uint8_t member_key[32], int64_t member_id,
	                 const char *token, void *ud);
	void (*on_failed)(const char *sc, const char *why, void *ud);   /* may be NULL */
};
/* h copied; NULL removes them. */
void portal_set_auth_hooks(struct portal *p, const struct portal_auth_hooks *h, void *ud);

/* Client-initiated: the web side got /login?cid=…&cc=… and made sc; this
 * calls httpAuth.requestSolution(sc, cc) on key's open connection and
 * checks the answer's signature (as above). done(0, sol, ud) with the
 * verified solution, or done(-errno, reason, ud): -EACCES refused or a
 * bad solution, -ETIMEDOUT no answer within PORTAL_SOLUTION_TIMEOUT_MS,
 * -ECONNRESET the connection went. done is called exactly once unless
 * cancelled, never from inside this call. Returns 0 (and *out, may be
 * NULL: a handle valid until done runs or it is cancelled), -EPERM key is
 * not a member of the store, -ENOTCONN not connected ("client not
 * connected to room"), -ENOMEM. The caller then makes the web session. */
struct portal_solreq;
typedef void portal_solution_fn(int rc, const char *text, void *ud);
int portal_request_solution(struct portal *p, const uint8_t key[32], const char *sc,
                            const char *cc, portal_solution_fn *done, void *ud,
                            struct portal_solreq **out);
/* done will not be called (the web request went away). */
void portal_solution_cancel(struct portal_solreq *r);

/* A caller that reached this portal through another portal (portal
 * --via): s is the tunnel.connect duplex aimed at us; the session inside
 * it becomes a peer like a TCP one, marked tunneled, so the multi-hop rule
 * applies to the tunnels it asks for. */
void portal_accept_tunnel(struct portal *p, struct mrpc_stream *s, const char *label);
/* The web server's public URL, known only once it listens (after
 * portal_start): alias URLs and invite links are built on it. Borrowed. */
void portal_set_public_url(struct portal *p, const char *url);
struct sockaddr;
/* SSB over WebSocket (wsconn.h): fd is a socket an HTTP server has
 * upgraded (it sent the 101 with Sec-WebSocket-Accept; e.g. what
 * libmicrohttpd's upgrade handler gets), extra[0..n) the bytes it read
 * past the request head (copied), peer the address the connection counts
 * as (the socket's peer, or X-Forwarded-For from a trusted proxy). The
 * session becomes a peer exactly like an accepted TCP one: the same
 * per-address and pending-handshake limits, handshake and idle timeouts,
 * privacy, deny list, attendants and scheduler. fd is ours from the call
 * on, on every path (closed with the connection, or at once on failure
 * or while stopping): the caller must not close it, nor let its HTTP
 * library close it (with libmicrohttpd: pass dup(sock), then finish the
 * upgrade handle with MHD_UPGRADE_ACTION_CLOSE). Returns 0 or -errno. */
int portal_accept_ws(struct portal *p, int fd, const char *extra, size_t n,
                     const struct sockaddr *peer);
/* "net:HOST:PORT~shs:KEY" of the listening socket, or the advertised
 * host and port where cfg gave them. */
const char *portal_address(const struct portal *p);
/* Closes the listener and every connection (with goodbyes); the loop then
 * runs dry and portal_free() releases the rest. */
void portal_stop(struct portal *p);
void portal_free(struct portal *p);
size_t portal_conn_count(const struct portal *p);
const struct portal_counters *portal_counters(const struct portal *p);
const char *portal_privacy_name(enum portal_privacy v);
/* ---- for metrics.c (read-only views of the live state) ---- */

struct relay;
struct relay_acct;
#define PORTAL_CONN_STATES 4   /* enum conn_state's count (checked in portal.c) */

struct portal_conn_stats {
	unsigned conns[PORTAL_CONN_STATES][2];  /* [conn_state][0: TCP, 1: through a tunnel] */
	unsigned attendants;
	size_t members;             /* the policy's and the store's, each key once */
};
void portal_conn_stats(const struct portal *p, struct portal_conn_stats *out);
struct relay *portal_relay(const struct portal *p);
const struct portal_cfg *portal_config(const struct portal *p);
/* Members without a [user] section are scheduled in the guest class but
 * counted one by one: account i (0..), its key in *pk; false past the
 * last. Accounts stay after their connections go (counters must not go
 * back); past metrics_max_users new ones share portal_acct_other. */
bool portal_acct_get(const struct portal *p, size_t i, const uint8_t **pk,
                     const struct relay_acct **a);
const struct relay_acct *portal_acct_other(const struct portal *p);
unsigned portal_metrics_max_users(const struct portal *p);

/* The privacy mode in force now (changes on reload). */
enum portal_privacy portal_privacy_now(const struct portal *p);
/* The portal's state for `fairway info`: id, address, privacy, counters,
 * and one entry per connection. New reference. */
json_t *portal_info(const struct portal *p);

#endif
