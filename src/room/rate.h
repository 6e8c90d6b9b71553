/* rate — per-address token buckets for the web routes (invite claims,
 * sign-in attempts, invite creation).
 *
 * Each address may make burst attempts at once and per_s more each second.
 * The table is fixed (RATE_SLOTS addresses, open addressing over
 * RATE_PROBE slots): an address not seen lately gives its slot to a new
 * one, so memory stays bounded whatever the number of addresses. Pure:
 * the time is passed in. */
#ifndef FAIRWAY_RATE_H
#define FAIRWAY_RATE_H

#include <stdbool.h>
#include <stdint.h>

#define RATE_SLOTS 1024
#define RATE_PROBE 8

struct rate_slot {
	char peer[48];
	double tokens;
	uint64_t at_ms;
};

struct rate {
	double burst, per_s;
	struct rate_slot slots[RATE_SLOTS];
};

void rate_init(struct rate *t, unsigned burst, double per_s);
/* Takes one attempt for peer (numeric address text) at now_ms: true if
 * allowed. */
bool rate_take(struct rate *t, uint64_t now_ms, const char *peer);

#endif
