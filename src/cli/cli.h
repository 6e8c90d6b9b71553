/* cli — helpers shared by the `fairway <command>` files: the options
 * every command understands (--secret, --caps) and their error messages. */
#ifndef FAIRWAY_CLI_H
#define FAIRWAY_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"

/* The main SSB network key (ssb-caps 1.1.0 `shs`). */
#define CLI_MAIN_CAPS "1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s="

/* Loads the identity from path, or the default path when NULL. Prints a
 * message naming the file and the problem. Returns 0 or an exit status. */
int cli_load_identity(const char *path, struct keys *out);

/* Like cli_load_identity, but a caller given no --secret whose default
 * secret file does not exist gets a one-time identity instead (callers
 * need no identity of their own to reach a peer). */
int cli_identity_or_onetime(const char *path, struct keys *out);

/* Parses a base64 network key (32 bytes); NULL means the main network's.
 * Returns 0 or EXIT_USAGE with a message. */
int cli_parse_caps(const char *b64, uint8_t out[32]);

/* The one parser for numeric options: a whole decimal number in
 * [min, max], else a message naming the option ("fairway ping: -c: '5x' is
 * not a whole number from 1 to 1000000") and EXIT_USAGE. */
int cli_parse_count(const char *cmd, const char *opt, const char *s, unsigned long min,
                    unsigned long max, unsigned long *out);
/* The same for durations (15s, 500ms, 10min, or bare milliseconds), read
 * by the same function as the policy file's, at most max_ms. */
int cli_parse_duration(const char *cmd, const char *opt, const char *s, unsigned max_ms,
                       unsigned *out);

/* Splits "HOST:PORT" (IPv6 as "[::1]:8008"). Returns 0 or EXIT_USAGE. */
int cli_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port);

/* Splits --advertise's "HOST[:PORT]" (IPv6 as "[2001:db8::1]:8008", or
 * bare without a port) into host and *port (0: the listening port). An
 * empty s leaves host "" and *port 0. HOST must be a name or address a
 * multiserver net: address can carry; it is not resolved (the name is for
 * the peers). Returns 0 or EXIT_USAGE with a message naming opt. */
int cli_parse_advertise(const char *cmd, const char *opt, const char *s, char *host,
                        size_t hostlen, uint16_t *port);

/* Logs a warning when the multiserver address a portal prints has an
 * unspecified host (0.0.0.0, ::): peers cannot dial it. */
void cli_warn_unspecified(const char *net_address);

struct addr;
/* From a list of addresses, picks how to reach the peer: a net address
 * (*net) alone, or a tunnel address (*tun) through the portal's net
 * address (*net, whose key must be the tunnel's portal). Prints why not
 * and returns EXIT_USAGE when the list offers no route. */
int cli_pick_route(const struct addr *a, size_t n, const struct addr **net,
                   const struct addr **tun);

struct conn;
struct conn_cfg;
/* Opens the route cli_pick_route chose: a session to *net (TCP for net:,
 * WebSocket for ws://), or the
 * tunnel tun through it (tunnel_dial). *handle gets the connection whose
 * closing ends it all. Returns 0, or EXIT_RUNTIME with a message printed
 * (cfg's on_close is not called then). */
int cli_dial(const struct conn_cfg *cfg, const struct addr *net, const struct addr *tun,
             struct conn **handle);

/* $FAIRWAY_HOME/room.db (FAIRWAY_HOME default ~/.fairway): the room
 * database used when none is named and the file exists (portal), or
 * always (the operator commands without a running portal). */
int cli_default_db(char *out, size_t len);

#endif
