/* metrics — a running portal's live state for programs: Prometheus text
 * (exposition format 0.0.4) and the class tree as Graphviz DOT.
 *
 * Served by `fairway info --prometheus` / `--dot` over the control socket
 * (ctl commands "metrics" and "dot"), and meant to be mounted at
 * /metrics by the HTTP listener:
 *
 *   struct prom_buf b; prom_buf_init(&b);
 *   if (metrics_write(portal, &b) == 0) respond 200, METRICS_CONTENT_TYPE, b.p, b.len;
 *   prom_buf_free(&b);
 *
 * Series (units in names; counters end in _total):
 *
 *   per user, label user = the policy's [user NAME], "guest" (peers in no
 *   user, less the members counted on their own), "local" (the portal's
 *   own traffic), or "@" + the first 8 characters of the key's base64 for
 *   a member without a [user] section; past metrics-max-users label
 *   values the rest are summed into user="other":
 *     fairway_user_bytes_total{user,dir="up"|"down"}   up: sent by the user and relayed;
 *                                                      down: relayed to the user (wire bytes)
 *     fairway_user_rate_bytes_per_second{user}         current rate relayed for the user
 *     fairway_user_backlog_bytes{user}                 queued in the portal for the user
 *   and for the scheduler's classes (not the members counted on their
 *   own, who are scheduled in the guest class):
 *     fairway_user_borrowed_bytes_total{user}          sent above the guarantee
 *     fairway_user_guarantee_bytes_per_second{user}    0: the link is not shaped
 *     fairway_user_ceiling_bytes_per_second{user,dir}  up: send ceiling, down: read ceiling
 *     fairway_user_queue_delay_seconds{user,band}      histogram, band interactive|normal|bulk
 *   per portal:
 *     fairway_portal_info{id,privacy,version} 1
 *     fairway_connections{state,transport="tcp"|"tunnel"}
 *     fairway_handshakes_total{result="ok"|"failed"}
 *     fairway_tunnels_open, fairway_tunnels_opened_total,
 *     fairway_tunnels_ended_total{reason}             tunnel.h's tunnel_end names
 *     fairway_refusals_total{reason}, fairway_idle_closes_total
 *     fairway_attendants, fairway_members, fairway_invites_claimed_total (with a store)
 *     fairway_link_* (configured rate per dir, bytes, overhead, current rate, backlog)
 *     fairway_metrics_users_folded                     label values summed into "other"
 *     process_cpu_seconds_total, process_resident_memory_bytes,
 *     process_virtual_memory_bytes, process_start_time_seconds, process_open_fds
 *
 * Read-only: nothing here changes the portal. Costs O(users + tunnels). */
#ifndef FAIRWAY_METRICS_H
#define FAIRWAY_METRICS_H

#include <jansson.h>

#include "dot.h"
#include "prom.h"
#include "sched.h"

struct portal;

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Appends the exposition to b (caller-owned). 0 or -ENOMEM. */
int metrics_write(const struct portal *p, struct prom_buf *b);

/* Appends the class tree (link → classes → tunnels; rate, ceiling,
 * current rate, backlog on each node; a class borrowing now gets a
 * dashed orange edge labelled with the rate it borrows) to b. 0 or
 * -ENOMEM. */
int metrics_dot(const struct portal *p, struct dot_buf *b);

/* The control socket's commands (ctl.h): "metrics" → {"ok":true,
 * "text":<the exposition>}, "dot" → {"ok":true,"text":<DOT>}; NULL for
 * any other command. New reference. */
json_t *metrics_ctl(const struct portal *p, const char *cmd);

/* fairway.share (portal.c serves it; docs/protocol.md has the JSON): one
 * sample of class c, the subscriber's, as deltas since *prev (updated;
 * zeroed for the first). New reference, NULL on ENOMEM:
 *   {"user":"alice","guarantee":1187500,"ceiling":2375000,"rate":812000,
 *    "borrowed_rate":0,"delay_ms":1.25,"delay_p99_ms":4.19,"link":2375000} */
struct metrics_share_prev {
	uint64_t t, borrowed, chunks, delay_sum;
	uint64_t hist[SCHED_DELAY_NB + 1];
};
json_t *metrics_share_sample(const struct portal *p, const struct sched_class *c, const char *user,
                             struct metrics_share_prev *prev, uint64_t now_ns);

/* This process's resources, from /proc (0 where unreadable). */
struct metrics_proc {
	double cpu_seconds, start_time;
	uint64_t rss_bytes, vsize_bytes, open_fds;
};
void metrics_proc_read(struct metrics_proc *out);


#endif
