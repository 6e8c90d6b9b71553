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
 * older one is closed; an attendant leaves when its connection ends. */
#ifndef FAIRWAY_PORTAL_H
#define FAIRWAY_PORTAL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "keys.h"

struct portal;

struct portal_cfg {
	uv_loop_t *loop;
	const struct keys *id;         /* borrowed */
	const uint8_t *net_key;        /* 32 bytes, borrowed */
	const char *host;              /* listen address, numeric */
	uint16_t port;                 /* 0: pick a free port */
	unsigned handshake_timeout_ms;
	const char *name;              /* room name in room.metadata */
};

/* Binds and listens. On failure returns -errno and writes a reason. */
int portal_start(const struct portal_cfg *cfg, struct portal **out, char *err, size_t errlen);
/* "net:HOST:PORT~shs:KEY" of the listening socket. */
const char *portal_address(const struct portal *p);
/* Closes the listener and every connection (with goodbyes); the loop then
 * runs dry and portal_free() releases the rest. */
void portal_stop(struct portal *p);
void portal_free(struct portal *p);
size_t portal_conn_count(const struct portal *p);

#endif
