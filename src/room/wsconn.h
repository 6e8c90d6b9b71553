/* wsconn — SSB over WebSocket as a conn lower (conn.h: conn_lower_ops):
 * a TCP socket, the RFC 6455 opening handshake (client side; the server
 * side's HTTP is the HTTP listener's), then ws.c's framing, so that SHS,
 * box-stream and muxrpc above run unchanged:
 *
 *   socket ─► [client: "HTTP/1.1 101" head] ─► ws_feed ─► binary payloads ─► conn_lower_input
 *   conn write ─► ws_send (one binary message per write) ─► socket
 *
 * Each binary message carries an arbitrary slice of the byte stream a TCP
 * connection carries (multiserver's ws plugin, pull-websocket), nothing
 * else. Keep-alive: a ping every WS_PING_MS, closed (1001) after WS_DEAD_MS
 * with nothing heard; text frames close 1003, messages over the limit
 * 1009, unmasked client frames 1002 (ws.h).
 *
 * wss:// is not spoken: fairway has no TLS. Put a local TLS proxy in
 * front (stunnel, or nginx's `proxy_pass` to the wss origin) and give
 * fairway its ws://127.0.0.1:PORT address. */
#ifndef FAIRWAY_WSCONN_H
#define FAIRWAY_WSCONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "conn.h"

/* Largest binary message accepted from a peer (close 1009 past it).
 * pull-websocket sends what its source gave it: a box-stream frame or a
 * few, well under this. */
#define WSCONN_MAX_MSG (1u << 20)

/* NULL when a (a portal address for host/connect/ping) can be dialled;
 * otherwise why not, for an error message: wss:// (no TLS here), or not a
 * net:/ws:// address with an shs key. */
const char *wsconn_unsupported(const struct addr *a);

/* Dials a as the SHS client expecting a->shs_pk: net: over plain TCP
 * (conn_tcp_connect), ws:// over WebSocket. *out gets the conn at once;
 * failures (resolution, connect, a refused upgrade, the handshake) arrive
 * through cfg->on_close. Returns 0, or -EPROTONOSUPPORT (no conn made)
 * when wsconn_unsupported(a) is not NULL, or -ENOMEM. */
int wsconn_dial(const struct conn_cfg *cfg, const struct addr *a, struct conn **out);

/* Connects to ws://host:port/path (a->kind == ADDR_WS, not secure):
 * TCP, the upgrade request, a strict check of the 101, then SHS as the
 * client. The whole set-up (resolution to the 101) must finish within
 * cfg->handshake_timeout_ms (default CONN_DEFAULT_HANDSHAKE_MS), and SHS
 * within as much again. Same returns as wsconn_dial. */
int wsconn_connect(const struct conn_cfg *cfg, const struct addr *a, struct conn **out);

/* Server side, given a socket an HTTP server has already upgraded (it
 * sent the 101): fd is a connected stream socket and becomes the conn's
 * (closed with it, and on every failure path here: the caller never
 * closes it after the call); extra[0..n) are bytes the HTTP server read
 * past the request head (the first WebSocket frames), copied; peer is
 * the address the connection counts as (the peer's, or the proxy's
 * X-Forwarded-For one), used for the conn's peer name. Runs SHS as the
 * server. The socket gets TCP_NODELAY and, with cfg->sndbuf, the short
 * kernel queues a TCP conn gets. *out (may be NULL) gets the conn.
 * 0 or -errno (-ENOMEM, uv_tcp_open's error). */
int wsconn_accept(const struct conn_cfg *cfg, int fd, const uint8_t *extra, size_t n,
                  const struct sockaddr *peer, struct conn **out);

#endif
