/* admit: per-address admission counts and refusal summaries; see admit.h. */
#include "admit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define BUCKETS 1024u
/* Addresses that hold nothing but refusals are forgotten at the next
 * summary; past this many entries a refusal is only counted in a total
 * (an IPv6 attacker has addresses to spare, the table must stay bounded). */
#define MAX_ENTRIES 65536u

struct admit {
	struct admit_addr *bucket[BUCKETS];
	size_t entries;
	unsigned pending;
	unsigned long overflow;     /* refusals not kept per address */
	uint64_t overflow_since;
};

static unsigned hash(const char *s)
{
	uint32_t h = 2166136261u;   /* FNV-1a */

	while (*s != '\0')
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h % BUCKETS;
}

struct admit *admit_new(void)
{
	return calloc(1, sizeof(struct admit));
}

void admit_free(struct admit *a)
{
	if (a == NULL)
		return;
	for (unsigned i = 0; i < BUCKETS; i++)
		for (struct admit_addr *e = a->bucket[i], *n; e != NULL; e = n) {
			n = e->next;
			free(e);
		}
	free(a);
}

static struct admit_addr *find(const struct admit *a, const char *ip, unsigned h)
{
	for (struct admit_addr *e = a->bucket[h]; e != NULL; e = e->next)
		if (strcmp(e->ip, ip) == 0)
			return e;
	return NULL;
}

struct admit_addr *admit_get(struct admit *a, const char *ip)
{
	unsigned h = hash(ip);
	struct admit_addr *e = find(a, ip, h);

	if (e != NULL)
		return e;
	if (a->entries >= MAX_ENTRIES || (e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	snprintf(e->ip, sizeof(e->ip), "%s", ip);
	e->next = a->bucket[h];
	a->bucket[h] = e;
	a->entries++;
	return e;
}

static void drop_if_unused(struct admit *a, struct admit_addr *e)
{
	struct admit_addr **pp;

	if (e->conns != 0 || e->refused != 0)
		return;
	for (pp = &a->bucket[hash(e->ip)]; *pp != NULL; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			a->entries--;
			free(e);
			return;
		}
}

void admit_join(struct admit *a, struct admit_addr *e)
{
	e->conns++;
	e->pending++;
	a->pending++;
}

void admit_ready(struct admit *a, struct admit_addr *e)
{
	if (e->pending > 0) {
		e->pending--;
		a->pending--;
	}
}

void admit_leave(struct admit *a, struct admit_addr *e, int was_pending)
{
	if (was_pending)
		admit_ready(a, e);
	if (e->conns > 0)
		e->conns--;
	drop_if_unused(a, e);
}

unsigned admit_pending(const struct admit *a)
{
	return a->pending;
}

struct admit_addr *admit_busiest(const struct admit *a)
{
	struct admit_addr *best = NULL;

	for (unsigned i = 0; i < BUCKETS; i++)
		for (struct admit_addr *e = a->bucket[i]; e != NULL; e = e->next)
			if (e->pending > 0 && (best == NULL || e->pending > best->pending))
				best = e;
	return best;
}

void admit_refused(struct admit *a, const char *ip, const char *name, const char *why,
                   uint64_t now_ms)
{
	struct admit_addr *e = admit_get(a, ip);

	if (e == NULL) {
		if (a->overflow++ == 0)
			a->overflow_since = now_ms;
		return;
	}
	if (e->refused++ == 0)
		e->since = now_ms;
	if (e->refused <= ADMIT_LOG_BURST)
		log_info("connection %s closed: %s", name, why);
	else
		snprintf(e->why, sizeof(e->why), "%s", why);
}

static void summarise(struct admit_addr *e, uint64_t now_ms)
{
	/* The first ADMIT_LOG_BURST were logged when they happened. */
	if (e->refused > ADMIT_LOG_BURST)
		log_info("%lu more connections from %s closed in the last %.0f s without a line each (last: %s)",
		         e->refused - ADMIT_LOG_BURST, e->ip, (double)(now_ms - e->since) / 1000, e->why);
	e->refused = 0;
}

void admit_tick(struct admit *a, uint64_t now_ms, uint64_t interval_ms)
{
	for (unsigned i = 0; i < BUCKETS; i++)
		for (struct admit_addr *e = a->bucket[i], *n; e != NULL; e = n) {
			n = e->next;
			if (e->refused != 0 && now_ms - e->since >= interval_ms) {
				summarise(e, now_ms);
				drop_if_unused(a, e);
			}
		}
	if (a->overflow != 0 && now_ms - a->overflow_since >= interval_ms) {
		log_info("refused %lu connections from other addresses in the last %.0f s",
		         a->overflow, (double)(now_ms - a->overflow_since) / 1000);
		a->overflow = 0;
	}
}
