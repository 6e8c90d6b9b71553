/* http — the embedded HTTP server (libmicrohttpd) on the portal's libuv loop.
 *
 * libmicrohttpd runs with MHD_USE_EPOLL and no thread of its own: its epoll
 * fd sits under a uv_poll_t; MHD_run() is called when that fd is readable
 * and when a uv_timer set from MHD_get_timeout() fires (MHD's own timeouts
 * and connections it still has work for). Everything — handlers included —
 * runs on the loop thread, like the rest of the portal.
 *
 * Limits (struct http_cfg): a request body larger than max_body is refused
 * with 413 (from its Content-Length before it is read, or when it grows
 * past it); headers share MHD's 16 KiB per-connection memory (too large:
 * MHD answers 431 itself); a connection idle for timeout_s is closed
 * (slowloris); an address holds at most per_ip connections.
 *
 * Every response that goes through http_queue()/http_reply() carries:
 *   Content-Security-Policy: default-src 'self'; img-src 'self' data:;
 *                            frame-ancestors 'none'; form-action 'self'
 *   X-Frame-Options: DENY
 *   X-Content-Type-Options: nosniff
 *   Referrer-Policy: same-origin
 *   Cache-Control: no-store           (unless the handler set its own)
 *
 * Routes: a table of (method, path, match) → handler. The longest matching
 * path wins; a path that matches with no route for the method gets 405,
 * no match at all 404. A handler is called once, with the whole request
 * (body read and NUL-terminated), and must queue exactly one response
 * (http_reply or http_queue) and return its result; returning MHD_NO
 * closes the connection.
 *
 * Upgrades (WebSocket, later): the daemon runs with MHD_ALLOW_UPGRADE. A
 * handler that wants the connection builds
 *   MHD_create_response_for_upgrade(upgrade_cb, cls)
 * adds its own headers (Upgrade, Sec-WebSocket-Accept …) and hands it to
 * http_queue(r, MHD_HTTP_SWITCHING_PROTOCOLS, resp). MHD then calls
 * upgrade_cb with the socket on this same loop thread; from then on the
 * socket is the other module's (drive it with its own uv_poll_t) until it
 * calls MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE).
 */
#ifndef FAIRWAY_HTTP_H
#define FAIRWAY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <microhttpd.h>
#include <uv.h>

struct http;

struct http_cfg {
	uv_loop_t *loop;
	const char *host;        /* numeric address to listen on */
	uint16_t port;           /* 0: pick a free one (http_port tells) */
	size_t max_body;         /* bytes; 0: 16 KiB */
	unsigned timeout_s;      /* idle connection timeout; 0: 15 s */
	unsigned per_ip;         /* connections per address; 0: no limit */
	unsigned max_conns;      /* all together; 0: 1024 */
};

/* What a handler gets; valid until it returns (copy what you keep). */
struct http_req {
	struct MHD_Connection *conn;   /* for MHD_lookup_connection_value */
	const char *method;            /* "GET", "POST" … */
	const char *path;              /* the URL path, without the query */
	const char *rest;              /* path after the route's prefix */
	const char *host;              /* Host header, "" if none */
	const char *peer;              /* remote address, numeric text */
	const char *body;              /* NUL-terminated ("" without a body) */
	size_t body_len;
	void *ud;                      /* the route's ud */
};

typedef enum MHD_Result (*http_handler)(struct http_req *r);

enum http_match {
	HTTP_EXACT,      /* path == the route's path */
	HTTP_PREFIX,     /* path starts with it ("/alias/" → "/alias/x") */
};

/* Binds, listens and starts serving (no routes yet: everything is 404).
 * -errno and a reason in err on failure (-EINVAL: not an address). */
int http_start(const struct http_cfg *cfg, struct http **out, char *err, size_t errlen);
/* Port actually bound (the one picked for port 0). */
uint16_t http_port(const struct http *h);
/* Adds a route. method NULL: any method. path is copied. -ENOMEM, -ENOSPC
 * (table full: 64 routes), -EEXIST (same method, path and match). */
int http_route(struct http *h, const char *method, const char *path,
               enum http_match match, http_handler fn, void *ud);
/* A request with "Upgrade: websocket" on any path goes to fn (before the
 * routes, from its headers; one with a body is refused with 400). fn
 * answers like a route handler: an error, or a 101 built with
 * MHD_create_response_for_upgrade (see the top of this file). */
void http_set_upgrade(struct http *h, http_handler fn, void *ud);
/* Stops listening and closes every connection; the handles close on the
 * loop, then http_free(). */
void http_stop(struct http *h);
void http_free(struct http *h);

/* Queues body (copied) with status and Content-Type, and the headers
 * above. */
enum MHD_Result http_reply(struct http_req *r, unsigned status, const char *ctype,
                           const char *body, size_t len);
/* Queues a response the handler built (adds the headers above; takes
 * resp: it is destroyed here whatever happens). */
enum MHD_Result http_queue(struct http_req *r, unsigned status, struct MHD_Response *resp);
/* A query argument (decoded by MHD), NULL if absent. */
const char *http_query(struct http_req *r, const char *key);
/* A request header, NULL if absent. */
const char *http_header(struct http_req *r, const char *key);

/* ---- decoding (pure: also for forms, sign-in and the fuzzer) ---------- */

/* Calls cb for each key=value pair of an application/x-www-form-urlencoded
 * text (also a query string): '+' is a space, %XX decoded (by MHD's own
 * MHD_http_unescape). Pairs without '=' have value "". Keys and values are
 * NUL-terminated copies valid during the callback; a decoded NUL inside
 * one makes the whole text invalid. cb returns 0 to go on. Returns 0,
 * -EINVAL (bad text), -E2BIG (more than max_pairs pairs), -ENOMEM, or
 * cb's non-zero. */
typedef int (*http_form_cb)(void *ctx, const char *key, const char *val);
int http_form_parse(const char *text, size_t len, size_t max_pairs,
                    http_form_cb cb, void *ctx);
/* The media type of a Content-Type header, lowercased, without
 * parameters ("Application/JSON; charset=utf-8" → "application/json").
 * Returns 0 or -EINVAL (empty, too long for out, bad characters). */
int http_media_type(const char *ctype, char *out, size_t outlen);

#endif
