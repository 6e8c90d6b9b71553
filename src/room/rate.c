/* rate — per-address token buckets (see rate.h). */
#include <stdio.h>
#include <string.h>

#include "rate.h"

void rate_init(struct rate *t, unsigned burst, double per_s)
{
	memset(t, 0, sizeof(*t));
	t->burst = burst;
	t->per_s = per_s;
}

bool rate_take(struct rate *t, uint64_t now_ms, const char *peer)
{
	uint64_t h = 1469598103934665603ull;   /* FNV-1a */
	struct rate_slot *slot = NULL, *oldest = NULL;

	for (const char *p = peer; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	for (unsigned i = 0; i < RATE_PROBE; i++) {
		struct rate_slot *s = &t->slots[(h + i) % RATE_SLOTS];

		if (strcmp(s->peer, peer) == 0) {
			slot = s;
			break;
		}
		if (oldest == NULL || s->at_ms < oldest->at_ms)
			oldest = s;
	}
	if (slot == NULL) {
		slot = oldest;
		snprintf(slot->peer, sizeof(slot->peer), "%s", peer);
		slot->tokens = t->burst;
		slot->at_ms = now_ms;
	}
	if (now_ms > slot->at_ms)
		slot->tokens += (double)(now_ms - slot->at_ms) * t->per_s / 1000.0;
	if (slot->tokens > t->burst)
		slot->tokens = t->burst;
	slot->at_ms = now_ms;
	if (slot->tokens < 1.0)
		return false;
	slot->tokens -= 1.0;
	return true;
}
