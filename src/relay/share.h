/* share — the client side of fairway.share (the portal's source; its JSON
 * is in docs/protocol.md and metrics.h): subscribe on a session with the
 * portal and report the share when it changes.
 *
 *   share: alice guarantee 1.19mbit ceiling 19mbit rate 6.25mbit borrowed 5.06mbit delay 1.20ms p99 4.19ms
 *
 * The first sample is reported, then one whose guarantee, ceiling, rate,
 * borrowed rate or delay differs by more than 10 % from the last reported
 * (and by more than a floor: 8 kB/s, 0.5 ms, so a flutter near zero stays
 * quiet). A portal that does not serve it (JS, go-ssb-room) just ends the
 * stream: logged at debug, nothing reported. */
#ifndef FAIRWAY_SHARE_H
#define FAIRWAY_SHARE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "muxrpc.h"

typedef void share_report_fn(const char *line, void *ud);

/* Opens fairway.share on m; fn gets each line to print. The stream and
 * its state go with the session. 0 or -errno. */
int share_watch(struct mrpc *m, share_report_fn *fn, void *ud);

/* Pure parts, for tests: did cur change by more than 10 % from last? */
bool share_changed(json_t *last, json_t *cur);
/* The line for a sample (without newline) into out. */
void share_format(json_t *sample, char *out, size_t len);

#endif
