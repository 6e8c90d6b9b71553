/* ws — SSB over WebSocket (RFC 6455), the framing half: wslay does every
 * frame (masking, fragmentation, ping/pong, close codes); this module
 * feeds it the socket's bytes and turns its events into the byte stream
 * a conn carries (protocol.md §6.2: each binary message is an arbitrary
 * slice of the SHS/box-stream stream, no extra framing).
 *
 *   socket bytes ─► ws_feed ─► wslay ─► on_message(binary payload) ─► conn_lower_input
 *   conn write   ─► ws_send ─► wslay (one binary frame, masked if client) ─► ops->send
 *
 * Pure: no sockets, no clock, no randomness of its own (time is passed
 * to ws_feed/ws_tick, mask bytes come from ops->random). Policy:
 *   - text frames: close 1003 (SSB is binary only);
 *   - a message over max_msg bytes: close 1009 (wslay);
 *   - unmasked client frames, bad opcodes, bad fragments: close 1002 (wslay);
 *   - a ping every WS_PING_MS; nothing heard for WS_DEAD_MS: close 1001. */
#ifndef FAIRWAY_WS_H
#define FAIRWAY_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_PING_MS 30000
#define WS_DEAD_MS 60000
#define WS_MAX_MSG_DEFAULT (1u << 20)

struct ws;

struct ws_ops {
	/* Write raw bytes to the peer: returns how many were taken (>0), or
	 * -EAGAIN when the socket is full (call ws_flush when writable), or
	 * another -errno (the connection is then finished). */
	long (*send)(void *arg, const uint8_t *p, size_t len);
	/* One binary message's payload (borrowed for the call). */
	void (*message)(void *arg, const uint8_t *p, size_t len);
	/* Called once, when both close frames are done or the peer broke the
	 * protocol: code is the close code sent (or received), why says which. */
	void (*finished)(void *arg, uint16_t code, const char *why);
	/* len random bytes (client masking keys only). */
	void (*random)(void *arg, uint8_t *p, size_t len);
};

/* A server (peer must mask) or a client (we mask) context. max_msg 0
 * means WS_MAX_MSG_DEFAULT. NULL when out of memory. Owns nothing of arg;
 * free with ws_free. */
struct ws *ws_new(bool is_client, size_t max_msg, const struct ws_ops *ops, void *arg,
                  uint64_t now_ms);
void ws_free(struct ws *w);

/* Bytes read from the socket. Returns 0, or -EPIPE once finished. */
int ws_feed(struct ws *w, const uint8_t *p, size_t len, uint64_t now_ms);
/* Queues p as one binary message (copied) and sends what the socket takes.
 * 0, -EPIPE when closing/finished, -ENOMEM. */
int ws_send(struct ws *w, const uint8_t *p, size_t len);
/* Sends what is queued (after ops->send said -EAGAIN). 0 or -EPIPE. */
int ws_flush(struct ws *w);
/* Keep-alive: pings and the dead-peer check. 0 or -EPIPE. */
int ws_tick(struct ws *w, uint64_t now_ms);
/* Starts a clean close with code (1000 normal, 1001 going away...). */
int ws_close(struct ws *w, uint16_t code, const char *why);
/* Payload bytes queued in wslay but not yet on the socket. */
size_t ws_queued(const struct ws *w);
/* Every byte written to the socket, and the payload among them: the
 * difference is framing overhead, charged like TCP/IP headers. */
uint64_t ws_wire_bytes(const struct ws *w);
uint64_t ws_payload_bytes(const struct ws *w);
bool ws_is_finished(const struct ws *w);
/* The peer counts as heard at now_ms (we stopped reading it for
 * backpressure: its pongs wait in the socket, it is not dead). */
void ws_alive(struct ws *w, uint64_t now_ms);

/* ---- the opening handshake (RFC 6455 §4) ---- */

#define WS_KEY_LEN 24      /* base64 of 16 random bytes */
#define WS_ACCEPT_LEN 28   /* base64 of a SHA-1 */
#define WS_HEAD_MAX 8192   /* longest response head a client takes */

/* Sec-WebSocket-Accept for key: base64(SHA-1(key ‖ 258EAFA5-E914-47DA-
 * 95CA-C5AB0DC85B11)). SHA-1 from GnuTLS (libsodium has none; GnuTLS is
 * what libmicrohttpd links). out gets WS_ACCEPT_LEN chars and a NUL.
 * 0 or -EIO. */
int ws_accept_key(const char *key, size_t keylen, char out[WS_ACCEPT_LEN + 1]);

/* A client's upgrade request for host:port/path with key (from 16 random
 * bytes: ws_client_key). Returns its length, or -ENOSPC. */
void ws_client_key(const uint8_t nonce[16], char key[WS_KEY_LEN + 1]);
int ws_client_request(char *out, size_t outlen, const char *host, uint16_t port,
                      const char *path, const char *key);

/* Checks the server's answer in p[0..len): returns the length of the
 * response head (bytes after it are WebSocket frames), 0 when the head is
 * not complete yet, -EPROTO (why in err) when it is not a 101 with
 * Upgrade: websocket, Connection: upgrade and the accept for key, or
 * -E2BIG past 8 KiB. */
int ws_client_response(const uint8_t *p, size_t len, const char *key, char *err, size_t errlen);

#endif
