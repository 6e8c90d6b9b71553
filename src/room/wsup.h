/* wsup — SSB over WebSocket on the portal's HTTP listener (issue 13).
 *
 * A request with "Upgrade: websocket" on any path (as go-ssb-room serves
 * it) is checked as RFC 6455 §4.2.1 asks — GET, HTTP/1.1,
 * "Sec-WebSocket-Version: 13", a 16-byte base64 Sec-WebSocket-Key — and
 * answered:
 *
 *   HTTP/1.1 101 Switching Protocols
 *   Upgrade: websocket
 *   Connection: Upgrade
 *   Sec-WebSocket-Accept: base64(sha1(key ‖ 258EAFA5-E914-47DA-95CA-C5AB0DC85B11))
 *
 * libmicrohttpd then hands over the socket and the bytes it read past the
 * head; they go to portal_accept_ws(), which makes the session a peer like
 * a TCP one (wsconn.c: wslay framing, keep-alive pings, close codes).
 * Anything else is refused with 400 (426 with the version we speak).
 *
 * Two operator settings (ws-origin, trust-proxy):
 *   - origins: "https://a.example,https://b.example"; an upgrade whose
 *     Origin header is none of them gets 403 and one log line ("" = any
 *     page may connect: SHS authenticates the peer, not the page).
 *   - trusted proxies: "127.0.0.1,::1"; only an upgrade arriving from one
 *     of them has its X-Forwarded-For believed, and then only the last hop
 *     (the one the trusted proxy appended: "X-Forwarded-For: spoof, 203.0.113.7"
 *     → 203.0.113.7). That address is the peer's for the per-address limit,
 *     admission and the logs. From anyone else the header is ignored. */
#ifndef FAIRWAY_WSUP_H
#define FAIRWAY_WSUP_H

#include <stddef.h>

struct http;
struct portal;
struct wsup;

/* Checks origins and trusted (comma lists as above; NULL or "" = none)
 * and serves upgrades on h for p (both borrowed, p outlives h's
 * connections). *out is the caller's, freed with wsup_free after h
 * stopped. 0, or -EINVAL with a reason in err naming the bad entry. */
int wsup_attach(struct http *h, struct portal *p, const char *origins, const char *trusted,
                struct wsup **out, char *err, size_t errlen);
void wsup_free(struct wsup *w);

#endif
