/* conn — one secure session: SHS, then box-stream, then muxrpc, over a
 * "lower" byte transport. The lower is a TCP socket (conn_tcp_*) or, for
 * tunnels, a muxrpc duplex stream of another session (tunnel.c).
 *
 *   bytes in ─► [shs: 64/112/80-byte messages] ─► boxs_dec ─► psc_dec ─► mrpc
 *   mrpc send ─► plaintext out buffer ─► boxs_seal (≤ 4096 per frame) ─► lower
 *
 * Lifetime: conn_close() is idempotent and deferred (like uv_close): it
 * stops I/O at once; on_close runs and the memory is freed on a later loop
 * iteration, so a conn pointer stays valid inside any callback that closes
 * it. */
#ifndef FAIRWAY_CONN_H
#define FAIRWAY_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "keys.h"
#include "muxrpc.h"

#define CONN_STATES(XX)                                                   \
	XX(CONN_HANDSHAKE)  /* SHS messages in flight */                  \
	XX(CONN_OPEN)       /* box-stream + muxrpc running */             \
	XX(CONN_CLOSING)    /* our goodbyes sent, waiting to flush */     \
	XX(CONN_CLOSED)     /* I/O stopped; freed on a later iteration */

enum conn_state {
#define XX(s) s,
	CONN_STATES(XX)
#undef XX
};

struct conn;

struct conn_cfg {
	uv_loop_t *loop;
	const struct keys *id;          /* borrowed: outlives every conn */
	const uint8_t *net_key;         /* 32 bytes, borrowed */
	const struct mrpc_api *api;     /* methods this side serves; may be NULL */
	unsigned handshake_timeout_ms;  /* 0: CONN_DEFAULT_HANDSHAKE_MS */
	/* TCP: a short kernel send queue (SO_SNDBUF, TCP_NOTSENT_LOWAT), so
	 * that bytes wait where a scheduler can order them. 0: the kernel's. */
	unsigned sndbuf;
	/* Server side: decide on the authenticated client key before msg4.
	 * Return 0 to accept; a negative value refuses (the connection closes
	 * without msg4, as JS does) and *why names the reason for the log. */
	int (*authorize)(const uint8_t pk[32], const char **why, void *ud);
	/* Every read, before it is processed (the portal paces reads). */
	void (*on_input)(struct conn *c, size_t len, void *ud);
	/* Handshake done; conn_rpc() is usable. */
	void (*on_ready)(struct conn *c, void *ud);
	/* Called once, on every path out (failed handshake included); reason
	 * is NULL for a clean goodbye. The conn is freed right after. */
	void (*on_close)(struct conn *c, const char *reason, void *ud);
	/* Called once, as soon as the conn starts closing (goodbyes out, or
	 * I/O stopped), before on_close: from here on it is leaving and
	 * counts toward no limit. May be NULL. */
	void (*on_closing)(struct conn *c, void *ud);
	/* conn_tcp_accept, before anything but the socket is allocated: the
	 * client's numeric address (sin_port is the same offset in both
	 * families) decides. false: the socket is reset and closed, the
	 * accept returns -ECONNREFUSED and no other callback runs. May be NULL. */
	bool (*admit)(const char *ip, uint16_t port, void *ud);
	/* Server side: a handshake that fails before the client proved its
	 * key is logged at debug level only; the owner logs it (the portal
	 * sums them up per address). Refusals of a known key stay logged. */
	bool owner_logs_handshake;
	void *ud;
};

#define CONN_DEFAULT_HANDSHAKE_MS 15000

/* ---- over TCP ---- */

/* Accepts one pending connection of server as the SHS server. Returns 0
 * or -errno (the connection is then dropped). */
int conn_tcp_accept(uv_stream_t *server, const struct conn_cfg *cfg, struct conn **out);

/* Connects to host:port (numeric or a name: resolved with uv_getaddrinfo)
 * as the SHS client expecting server_pk. Errors during resolution or
 * connect arrive through on_close. */
int conn_tcp_connect(const struct conn_cfg *cfg, const char *host, uint16_t port,
                     const uint8_t server_pk[32], struct conn **out);

/* ---- over any transport ---- */

struct conn_lower_ops {
	/* Queue len bytes for the peer (copied). 0 or -errno. */
	int (*write)(void *lower, const uint8_t *p, size_t len);
	/* Stop or resume delivering input (backpressure). */
	void (*pause)(void *lower, bool paused);
	/* Bytes written but not yet taken by the next hop. May be NULL. */
	size_t (*queued)(void *lower);
	/* Segments the transport has sent since it began (data and bare
	 * ACKs), modulo 2^32, for charging their headers to a shaped link.
	 * May be NULL. */
	uint32_t (*segs_sent)(void *lower);
	/* Clean end of our output (after our goodbyes). May be NULL. */
	void (*shutdown)(void *lower);
	/* The conn is done with the lower: stop delivering, release it. The
	 * lower calls conn_lower_closed() when it no longer references c. */
	void (*close)(void *lower);
};

/* is_client: run the SHS client (server_pk required) or server. */
struct conn *conn_new(const struct conn_cfg *cfg, bool is_client, const uint8_t *server_pk,
                      const struct conn_lower_ops *ops, void *lower);
/* Start the handshake (the client sends msg1). Call once the lower is up. */
void conn_start(struct conn *c);
/* The lower delivers bytes / end of input / final release. */
void conn_lower_input(struct conn *c, const uint8_t *p, size_t len);
void conn_lower_eof(struct conn *c, const char *why);
void conn_lower_closed(struct conn *c);
/* A lower with ops->queued tells the conn its queue went down (the drain
 * callback runs when it is at or below its low mark). */
void conn_lower_drained(struct conn *c);
/* What every TCP conn's socket gets: TCP_NODELAY and, with sndbuf != 0,
 * short kernel queues (SO_SNDBUF, SO_RCVBUF, TCP_NOTSENT_LOWAT). For a
 * lower over its own TCP socket (WebSocket). */
void conn_tcp_tune(uv_tcp_t *tcp, unsigned sndbuf);

/* ---- using a conn ---- */
struct mrpc *conn_rpc(struct conn *c);          /* NULL before ready */
const uint8_t *conn_remote_pk(const struct conn *c);
const char *conn_remote_id(const struct conn *c);  /* "@…=.ed25519" once known */
const char *conn_peer_name(const struct conn *c);  /* "ip:port" or a tunnel label */
void conn_set_peer_name(struct conn *c, const char *name);
enum conn_state conn_state(const struct conn *c);
/* The peer's IP address without the port ("" for tunneled sessions). */
void conn_peer_ip(const struct conn *c, char *out, size_t len);
/* Loop time (ms, uv_now) of the last bytes received. */
uint64_t conn_last_rx(const struct conn *c);
/* True for a session carried inside a tunnel. */
bool conn_is_tunneled(const struct conn *c);
void conn_set_tunneled(struct conn *c);
const char *conn_state_name(enum conn_state s);
void *conn_ud(const struct conn *c);
void conn_set_ud(struct conn *c, void *ud);
uv_loop_t *conn_loop(const struct conn *c);

/* Ends the session: reason NULL means clean (muxrpc and box-stream
 * goodbyes are sent first), otherwise the reason is logged once and the
 * connection dropped. Idempotent. */
void conn_close(struct conn *c, const char *reason);

/* Bytes accepted for writing but not yet taken by the kernel. */
size_t conn_write_queue_size(const struct conn *c);
/* fn runs when the bytes waiting to be written fall to `low` or below
 * (after a write completes); NULL removes it. */
void conn_set_drain_cb(struct conn *c, void (*fn)(struct conn *c, void *ud), void *ud, size_t low);
/* Segments (data and bare ACKs) the transport has sent so far, modulo
 * 2^32 (compare by difference); 0 when it cannot tell (a tunnel) or the
 * connection is closed. */
uint32_t conn_segs_sent(const struct conn *c);
/* Pause reading this connection's input (backpressure from a tunnel).
 * Counted: every pause(true) needs its pause(false). */
void conn_pause_input(struct conn *c, bool paused);

#endif
