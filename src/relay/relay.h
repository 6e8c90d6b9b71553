/* relay — the portal's scheduled data path (design.md "Data path").
 *
 *   item from A ─► relay_flow_push ─► sched (user → band → flow queue)
 *                                        │ relay_pump: paced, only to
 *                                        ▼ destinations that can take it
 *                               deliver() ─► mrpc_stream_send on B
 *
 * A chunk that arrives on one side of a tunnel is queued on its flow, not
 * written: the pump is the only writer of tunnel bytes. A destination
 * whose socket is backed up is blocked in the scheduler until its write
 * queue drains (conn's drain callback), so the queue stays here where it
 * can be ordered. A flow over its byte limit stops reading its source
 * connection until it drains; a flow that holds its source stopped for
 * too long is ended with an error by the owner (relay_flow_blocked_for).
 *
 * Uses libuv for the pacing timer; the decisions are sched.c's. */
#ifndef FAIRWAY_RELAY_H
#define FAIRWAY_RELAY_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "psc.h"
#include "sched.h"

struct conn;
struct relay;
struct relay_port;   /* one connection in the relay */
struct relay_flow;   /* one direction of one tunnel */

/* cfg NULL: an unpaced link with default knobs. */
struct relay *relay_new(uv_loop_t *loop, const struct sched_cfg *cfg);
/* After every port and flow is gone; the timer closes asynchronously. */
void relay_free(struct relay *r);
struct sched *relay_sched(struct relay *r);

/* Classes of the scheduler, named for `fairway info` (name copied). */
int relay_class_new(struct relay *r, const char *name, uint64_t rate, uint64_t ceil,
                    unsigned flags, struct sched_class **out);
const char *relay_class_name(const struct sched_class *c);
/* Frees every class (flows must be gone). */
void relay_classes_free(struct relay *r);

/* A connection joins with the class its bytes are charged to. */
struct relay_port *relay_port_new(struct relay *r, struct conn *c, struct sched_class *cls);
/* The connection is going: flows aimed at it must be freed already;
 * flows from it may go on draining (they keep the port, not the conn). */
void relay_port_free(struct relay_port *p);
void relay_port_set_class(struct relay_port *p, struct sched_class *cls);
struct sched_class *relay_port_class(const struct relay_port *p);
/* Byte counters of one identity across its connections (metrics.h):
 * up = what its ports sent that left the portal, down = what the portal
 * delivered to them, in the scheduler's units (wire cost). Owned by the
 * caller, who keeps it until relay_free; a port adds to it while set. */
struct relay_acct {
	uint64_t up, down;
};
void relay_port_set_acct(struct relay_port *p, struct relay_acct *a);
/* The account of the port a flow's bytes come from, or NULL. */
const struct relay_acct *relay_flow_acct(const struct sched_flow *f);
/* Bytes delivered to the ports of class c since it was made (its
 * "down"; the scheduler's bytes are its "up"). */
uint64_t relay_class_bytes_down(const struct sched_class *c);
/* After ports changed class (reload): moves their flows along. */
int relay_reclass(struct relay *r);
/* The port's connection can take bytes again (conn's drain callback). */
void relay_port_writable(struct relay_port *p);

struct relay_flow_ops {
	/* Writes one chunk on the destination stream; body is borrowed. */
	int (*deliver)(void *ud, enum psc_type type, const uint8_t *body, size_t len);
	/* relay_flow_end() was called and the queue is now empty. */
	void (*ended)(void *ud);
};

/* Bytes from `from` to `to`, charged to from's class. */
struct relay_flow *relay_flow_new(struct relay *r, struct relay_port *from, struct relay_port *to,
                                  const struct relay_flow_ops *ops, void *ud);
/* Queues body (malloc'd, ownership taken; len ≥ 1) and runs the pump.
 * Returns 0 or -errno (the body is freed either way). -ENOMEM: part of
 * the item may be queued and the rest lost, and the pump did not run:
 * the caller must end the tunnel. */
int relay_flow_push(struct relay_flow *f, enum psc_type type, uint8_t *body, uint32_t len);
/* No more input: call ops->ended once the queue has drained (now, if it
 * is empty). */
void relay_flow_end(struct relay_flow *f);
/* Drops what is queued, lets the source read again, frees f. */
void relay_flow_free(struct relay_flow *f);
/* How long this flow has kept its source stopped, in ms (0: not now). */
uint64_t relay_flow_blocked_for(const struct relay_flow *f);

/* The class tree with statistics, like `tc -s class show`: link, then
 * each class with its flows. New reference. */
json_t *relay_info(struct relay *r);

#endif
