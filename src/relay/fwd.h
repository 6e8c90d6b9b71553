/* fwd — TCP port forwarding through a session (usually a tunnel).
 *
 *   fairway connect ADDR -L 127.0.0.1:2222:ssh     fairway host --expose ssh=127.0.0.1:22
 *   TCP client ─► listener ── forward.connect({"service":"ssh"}) duplex ──► TCP to 127.0.0.1:22
 *
 * Bytes ride as binary stream items. Backpressure by not reading: a pipe
 * whose TCP side is slow pauses the session's input, and a session that is
 * backed up pauses the TCP side. */
#ifndef FAIRWAY_FWD_H
#define FAIRWAY_FWD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "conn.h"
#include "muxrpc.h"

struct fwd_service {
	char name[64];
	char host[256];              /* as given, for logs */
	uint16_t port;
	struct sockaddr_storage sa;  /* host resolved once, at parse time */
	char addr[64];               /* sa as text ("127.0.0.1:8000", "[::1]:22") */
};

struct fwd_services {
	struct fwd_service *v;
	size_t n;
	void *ctx;   /* set by fwd_add_methods */
};

/* Adds "NAME=HOST:PORT" to s. HOST is an IP literal or a name resolved
 * now, once (getaddrinfo; an IPv4 address first, as "localhost" services
 * usually listen there). Returns 0, -EINVAL with a reason (bad syntax, a
 * NAME given twice, a host that does not exist) or -EAGAIN (the resolver
 * cannot answer now: a run-time error). */
int fwd_service_parse(struct fwd_services *s, const char *spec, char *err, size_t errlen);
void fwd_services_free(struct fwd_services *s);

/* Serves forward.connect for the services in s (borrowed; outlives api). */
int fwd_add_methods(struct mrpc_api *api, struct fwd_services *s, uv_loop_t *loop);

/* Client side: accepts TCP on host:port (an address, or a name resolved
 * now like fwd_service_parse's) and, for each connection, opens
 * forward.connect(service) on *session (which the caller keeps current;
 * NULL refuses the connection). Returns 0 or -errno with a reason
 * (-EINVAL: a host that does not exist; -EAGAIN: the resolver failed). */
struct fwd_listener;
int fwd_listen(uv_loop_t *loop, const char *host, uint16_t port, const char *service,
               struct conn **session, struct fwd_listener **out, char *err, size_t errlen);
/* Stops accepting; forwards already open go on until they end, waiting
 * connections are closed. */
void fwd_listener_close(struct fwd_listener *l);

/* From now on a local connection that finds *session NULL is accepted and
 * waits (unread; at most 64) instead of being refused, and want(ud) is
 * called: the caller opens a session, then calls fwd_listener_flush. */
void fwd_listener_wait(struct fwd_listener *l, void (*want)(void *ud), void *ud);
/* The waiting connections: forwarded on *session, or, when it is NULL,
 * closed with a log line naming why. Returns how many there were. */
size_t fwd_listener_flush(struct fwd_listener *l, const char *why);
size_t fwd_listener_waiting(const struct fwd_listener *l);

#endif
