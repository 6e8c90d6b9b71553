/* muxrpc — the RPC layer over packet-stream (protocol.md §5), I/O-free.
 *
 * A session (struct mrpc) is fed decoded packets and hands the packets it
 * wants written to a send function; it never touches a socket. Methods
 * live in a table (struct mrpc_api) shared by every session of a process.
 *
 * Request numbers: each side numbers the requests it starts 1, 2, 3...
 * On the wire +n is traffic of a request the sender started, -n answers
 * request n of the receiver. So a call we start has an entry in `out`
 * keyed n; a call the peer starts has an entry in `in` keyed n.
 *
 *   async  caller -> {"name":[..],"args":[..]}           flags 0x02, +n
 *          callee -> value                                flags 0x0?, -n
 *                or {"message","name":"Error","stack"}    flags 0x06, -n
 *   stream caller -> {"name":[..],"args":[..],"type":T}   flags 0x0A, +n
 *          items  -> STREAM set, END clear, any type, +n (caller) / -n (callee)
 *          end    -> STREAM|END, JSON true or an error object, once per side
 *
 * A stream is freed once both sides have sent END (or, past
 * MRPC_LINGER_MAX, when the peer never answers ours). An unknown method gets
 * "method:a,b is not in list of allowed methods" (the wording Rooms 2.0
 * clients look for); for a stream request that reply carries STREAM|END
 * and later items of it are discarded until the peer's END. */
#ifndef FAIRWAY_MUXRPC_H
#define FAIRWAY_MUXRPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "psc.h"

struct mrpc;         /* one session, opaque */
struct mrpc_stream;  /* one call in progress (async or stream), opaque */
struct mrpc_api;     /* a method table, opaque */

enum mrpc_kind { MRPC_ASYNC, MRPC_SOURCE, MRPC_SINK, MRPC_DUPLEX };
const char *mrpc_kind_name(enum mrpc_kind k); /* "async", "source", ... */

/* Writes one packet: hdr (9 bytes) then len body bytes. Returns 0 or
 * -errno; on error the session is considered broken by the transport. */
typedef int mrpc_send_fn(void *io, const uint8_t hdr[PSC_HEADER_BYTES],
                         const uint8_t *body, size_t len);

/* A method implementation. For MRPC_ASYNC reply once with mrpc_reply*()
 * (now or later, until the call's on_end reports the session gone); for
 * streams set callbacks with mrpc_stream_set_cbs() and send/end as needed.
 * args is the request's "args" array (borrowed: json_incref to keep it). */
typedef void mrpc_handler_fn(struct mrpc_stream *call, json_t *args, void *api_ud);

/* Callbacks on one stream or call. All optional.
 * on_data: an item arrived (streams), or the async reply arrived (a call we
 *   made; then the call is over and on_end follows with err NULL). The
 *   callee may take ownership of pkt->body by setting it to NULL.
 * on_end: the peer ended its side (err NULL for END true, else the error
 *   message), or the session closed (err "session closed"). After on_end
 *   the peer sends nothing more on it.
 * on_free: last callback; the stream pointer is invalid after it. */
struct mrpc_stream_cbs {
	void (*on_data)(struct mrpc_stream *s, struct psc_packet *pkt, void *ud);
	void (*on_end)(struct mrpc_stream *s, const char *err, void *ud);
	void (*on_free)(struct mrpc_stream *s, void *ud);
};

/* ---- method table ---- */
struct mrpc_api *mrpc_api_new(void);
void mrpc_api_free(struct mrpc_api *api);
/* name is dotted ("tunnel.connect"); copied. Returns 0 or -EEXIST/-ENOMEM. */
int mrpc_api_add(struct mrpc_api *api, const char *name, enum mrpc_kind kind,
                 mrpc_handler_fn *fn, void *ud);
/* The manifest object {"tunnel":{"connect":"duplex",...},...}; new reference. */
json_t *mrpc_api_manifest(const struct mrpc_api *api);

/* ---- sessions ---- */
struct mrpc_cfg {
	const struct mrpc_api *api;  /* methods we serve; may be NULL (serve none) */
	mrpc_send_fn *send;
	void *io;                    /* passed to send; also mrpc_io() */
};

struct mrpc *mrpc_new(const struct mrpc_cfg *cfg);
/* Ends every open stream with on_end("session closed") and on_free, fails
 * pending calls, frees the session. Sends nothing. */
void mrpc_free(struct mrpc *m);
void *mrpc_io(const struct mrpc *m);

/* Feeds one decoded packet; takes ownership of pkt->body. Returns 0, or
 * -EPROTO for a packet that breaks the protocol badly enough that the
 * connection should end (logged with the reason), or the send function's
 * error from an automatic answer. Unknown request numbers
 * and malformed requests are answered or ignored, not fatal. */
int mrpc_on_packet(struct mrpc *m, struct psc_packet *pkt);

/* The peer said goodbye: ends all streams (on_end "session closed"). */
void mrpc_on_goodbye(struct mrpc *m);
/* Sends our goodbye (nine zero bytes) once. */
int mrpc_goodbye(struct mrpc *m);
size_t mrpc_open_count(const struct mrpc *m);

/* Streams we ended wait for the peer's END; JS never sends it for a duplex
 * it opened. Beyond this many per session the oldest is given up at the
 * next incoming packet: on_end("the peer did not end the stream"), then
 * on_free, and anything the peer sends on it later is ignored. Large
 * enough that a peer which does answer (one round trip later) is never
 * cut short by a burst of ENDs; small enough to bound what a long-lived
 * JS connection pins (one record per tunnel it ever opened). */
#define MRPC_LINGER_MAX 1024

/* ---- calling the peer ---- */
/* Async call. args: a JSON array, stolen (NULL means []). The result
 * arrives through cbs->on_data (pkt holds the raw reply) and on_end (err
 * set when the reply was an error). Returns the call, or NULL on failure. */
struct mrpc_stream *mrpc_call(struct mrpc *m, const char *name, json_t *args,
                              const struct mrpc_stream_cbs *cbs, void *ud);
/* Opens a source, sink or duplex stream. args stolen. */
struct mrpc_stream *mrpc_open(struct mrpc *m, const char *name, json_t *args,
                              enum mrpc_kind kind, const struct mrpc_stream_cbs *cbs, void *ud);

/* ---- on a stream or call ---- */
void mrpc_stream_set_cbs(struct mrpc_stream *s, const struct mrpc_stream_cbs *cbs, void *ud);
struct mrpc *mrpc_stream_session(const struct mrpc_stream *s);
void *mrpc_stream_ud(const struct mrpc_stream *s);
enum mrpc_kind mrpc_stream_kind(const struct mrpc_stream *s);
int32_t mrpc_stream_req(const struct mrpc_stream *s);   /* as numbered by its starter */
bool mrpc_stream_local_ended(const struct mrpc_stream *s);
bool mrpc_stream_remote_ended(const struct mrpc_stream *s);
/* Duplex only, for peers that both know it (fairway's forward.connect):
 * the peer's END ends only the peer's direction (on_end err NULL), and
 * ours stays open until mrpc_stream_end(), like a TCP half-close. By
 * default, as in JS, a peer's END is answered at once. */
void mrpc_stream_set_half_close(struct mrpc_stream *s);

/* Sends one item. Empty bodies are skipped (never on the wire). Returns 0,
 * -EPIPE after our END, or the send function's error; -EINVAL on an async
 * call or against the direction (a source's caller, a sink's callee). */
int mrpc_stream_send(struct mrpc_stream *s, enum psc_type type, const uint8_t *body, size_t len);
int mrpc_stream_send_json(struct mrpc_stream *s, json_t *value /* stolen */);
/* Ends our side: err NULL sends END true, else an error object with err as
 * its message. Sent at most once. May free s (when the peer had ended). */
int mrpc_stream_end(struct mrpc_stream *s, const char *err);

/* Replies to an async call (callee side); each frees the call. */
int mrpc_reply(struct mrpc_stream *call, json_t *value /* stolen */);
int mrpc_reply_error(struct mrpc_stream *call, const char *message);

/* Builds the JS error object {"message":m,"name":"Error","stack":""}. */
json_t *mrpc_error_object(const char *message);
/* Extracts "message" from an error body; returns a malloc'd string. */
char *mrpc_error_message(const uint8_t *body, size_t len);

#endif
