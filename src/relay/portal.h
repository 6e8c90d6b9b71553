/* portal — the room/relay server: accepts SSB connections and serves
 *
 *   room.metadata, tunnel.isRoom   async   what this room is
 *   room.attendants                source  {"type":"state","ids":[…]}, then
 *                                          {"type":"joined"|"left","id":…}
 *   tunnel.endpoints               source  the full sorted id list on every change
 *   tunnel.announce, tunnel.leave  async   join / leave the attendants
 *   tunnel.ping, room.ping         async   Date.now() in ms
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
	struct portal_limits limits;
	struct portal_sched sched;
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
/* A caller that reached this portal through another portal (portal
 * --via): s is the tunnel.connect duplex aimed at us; the session inside
 * it becomes a peer like a TCP one, marked tunneled, so the multi-hop rule
 * applies to the tunnels it asks for. */
void portal_accept_tunnel(struct portal *p, struct mrpc_stream *s, const char *label);
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
/* The portal's state for `fairway info`: id, address, privacy, counters,
 * and one entry per connection. New reference. */
json_t *portal_info(const struct portal *p);

#endif
