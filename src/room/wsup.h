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
 * Anything else is refused with 400 (426 with the version we speak). */
#ifndef FAIRWAY_WSUP_H
#define FAIRWAY_WSUP_H

struct http;
struct portal;

/* Serves upgrades on h for p (both borrowed, p outlives h's connections). */
void wsup_attach(struct http *h, struct portal *p);

#endif
