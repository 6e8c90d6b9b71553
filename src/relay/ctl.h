/* ctl — the local control socket of a running portal.
 *
 * A unix stream socket (default $FAIRWAY_HOME/portal.sock), mode 0600,
 * checked with SO_PEERCRED: only our own uid (or root) may talk to it.
 * One request per connection, one JSON object per line each way:
 *
 *   -> {"cmd":"info"}          <- {"ok":true, ...state...}
 *   -> {"cmd":"stop"}          <- {"ok":true}            (then the portal stops)
 *   -> {"cmd":"reload"}        <- {"ok":true} | {"ok":false,"error":"file:line: ..."}
 *   -> {"cmd":"room","op":…}   <- roomadm.h (members, invites, aliases, denied, settings)
 *
 * The commands are callbacks, so ctl knows nothing of portals. */
#ifndef FAIRWAY_CTL_H
#define FAIRWAY_CTL_H

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

struct ctl;

/* Significant digits of a JSON real in replies and `info --json`: the
 * numbers are rounded where they are made (delays to the microsecond), and
 * 12 digits print them as made ("0.512"), where jansson's default 17
 * would show the binary's error ("0.51200000000000001"). */
#define CTL_REAL_DIGITS 12

/* Answers one command: returns a new JSON object (with "ok"), or NULL
 * for an unknown command. */
typedef json_t *ctl_handler_fn(const char *cmd, json_t *request, void *ud);

/* Listens on path (an old socket file there is replaced only if nothing
 * answers on it). Returns 0 or -errno with a reason in err. */
int ctl_start(uv_loop_t *loop, const char *path, ctl_handler_fn *fn, void *ud,
              struct ctl **out, char *err, size_t errlen);
void ctl_stop(struct ctl *c);   /* closes and unlinks; frees when libuv is done */

/* Client side: sends {"cmd":cmd} to path and returns the reply (new
 * reference) or NULL with a reason in err. Blocking; for the CLI. */
json_t *ctl_request(const char *path, const char *cmd, char *err, size_t errlen);
/* The same with a whole request object (borrowed; at most 512 KiB). */
json_t *ctl_request_json(const char *path, const json_t *req, char *err, size_t errlen);

/* portal.sock beside the secret file: beside secret_path when given,
 * else in $FAIRWAY_HOME (default ~/.fairway). */
int ctl_default_path(const char *secret_path, char *out, size_t len);

#endif
