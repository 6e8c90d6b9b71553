/* tunnel — the byte pipes of ssb-tunnel / Rooms 2.0 (protocol.md §7–§9).
 *
 * At the portal, tunnel_splice() joins the origin's `tunnel.connect` duplex
 * (+n on the origin's connection) to a new duplex it opens on the target's
 * connection (+m), and copies binary items both ways unmodified:
 *
 *   origin ──+n items──► portal ──+m items──► target
 *   origin ◄─-n items─── portal ◄─-m items─── target
 *
 * END (true or an error) on either side ends the other; a dead connection
 * ends its tunnels with "tunnel closed". Inside the pipe the two ends run
 * a complete second session; the portal never sees its keys.
 *
 * At the ends, tunnel_conn() runs a conn (SHS + box-stream + muxrpc) over
 * a duplex stream instead of a socket: the caller (origin) as SHS client,
 * the target as SHS server. */
#ifndef FAIRWAY_TUNNEL_H
#define FAIRWAY_TUNNEL_H

#include <stdint.h>

#include "addr.h"
#include "conn.h"
#include "muxrpc.h"

struct relay;
struct relay_port;

/* Portal side. from_origin: the incoming tunnel.connect stream; origin,
 * target: the two connections' places in the relay (relay.h), whose
 * scheduler carries the bytes; fwd_args: the args to send the target
 * (stolen). *origin_count (may be NULL) counts the origin's open tunnels:
 * +1 now, -1 when the origin's stream goes. Errors end from_origin with a
 * message; returns 0 or -errno. */
int tunnel_splice(struct relay *r, struct mrpc_stream *from_origin, struct relay_port *origin,
                  struct relay_port *target, struct conn *target_conn, json_t *fwd_args,
                  unsigned *origin_count);

/* Ends every tunnel that has kept its sender's connection stopped (its
 * queue over the limit) for more than limit_ms. Returns how many. */
unsigned tunnel_end_blocked(uint64_t limit_ms);

/* Number of tunnels spliced right now (all portals of the process). */
unsigned tunnel_active_count(void);

/* Why spliced tunnels ended (the first side's reason), for metrics:
 * closed: an END without error; error: an END with one (the peer's, or a
 * refusal after the splice); connection_lost: a side's connection went;
 * stalled: ended by tunnel_end_blocked; out_of_memory. Process-wide
 * counters since start. */
enum tunnel_end {
	TUNNEL_END_CLOSED, TUNNEL_END_ERROR, TUNNEL_END_CONN_LOST, TUNNEL_END_STALLED,
	TUNNEL_END_NOMEM, TUNNEL_END_COUNT
};
const char *tunnel_end_name(enum tunnel_end why);
uint64_t tunnel_ended_count(enum tunnel_end why);

/* End side: runs a secure session over the duplex stream s. is_client
 * selects the SHS role; server_pk is required for the client. The stream's
 * callbacks are taken over. label names the session in logs. Returns the
 * new conn (already started) or NULL, in which case s has been ended. */
struct conn *tunnel_conn(struct mrpc_stream *s, const struct conn_cfg *cfg, bool is_client,
                         const uint8_t *server_pk, const char *label);

/* Client side: reaches tunnel_addr (kind ADDR_TUNNEL, with shs) through
 * the portal at portal_addr (ADDR_NET, with shs; its key must be the
 * tunnel's portal): a TCP session to the portal, tunnel.connect with
 * {target, portal, instance}, then an inner session as SHS client. cfg's
 * on_ready and on_close see the inner session; a failure before it exists
 * reaches on_close with the outer conn. The outer session serves cfg->api
 * too. Returns the outer conn — closing it ends both — or NULL with a
 * reason in err. */
struct conn *tunnel_dial(const struct conn_cfg *cfg, const struct addr *portal_addr,
                         const struct addr *tunnel_addr, char *err, size_t errlen);

#endif
