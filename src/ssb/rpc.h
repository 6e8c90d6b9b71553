/* rpc — methods every fairway node serves, whatever its role:
 *
 *   whoami        async   -> {"id":"@…=.ed25519"}
 *   gossip.ping   duplex  pull-ping: answer each timestamp we did not ask
 *                         for with our own, and take our turn every
 *                         `timeout` ms (JS peers drop a connection whose
 *                         pings go unanswered)
 *   manifest      async   (answered by muxrpc itself)
 *
 * Uses libuv timers, so it is not a pure layer. */
#ifndef FAIRWAY_RPC_H
#define FAIRWAY_RPC_H

#include <stdint.h>
#include <uv.h>

#include "keys.h"
#include "muxrpc.h"

struct rpc_node {
	uv_loop_t *loop;
	const struct keys *id;   /* borrowed */
	char id_str[KEYS_ID_LEN + 1];
};

/* Registers whoami and gossip.ping on api; node must outlive api. */
int rpc_add_common(struct mrpc_api *api, struct rpc_node *node);

/* Opens gossip.ping on a session we dialled, taking the first turn; the
 * two sides then alternate every timeout_ms. Returns 0 or -errno. */
int rpc_ping_start(struct mrpc *m, struct rpc_node *node, int64_t timeout_ms);

/* Wall-clock milliseconds since the epoch, as JS Date.now(). */
int64_t rpc_now_ms(void);

/* Reads args[0].key as a non-negative integer; def when absent. */
int64_t rpc_arg_int(json_t *args, const char *key, int64_t def);

#endif
