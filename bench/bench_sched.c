/* bench_sched — what fair scheduling costs per chunk.
 *
 *   bench_sched [--quick]     (~6 s, or ~1 s for a CI smoke run)
 *
 * For 10, 1 000 and 10 000 flows spread over (up to) 100 users, every flow
 * kept backlogged with 4 chunks of 4 KiB: one step is sched_dequeue() of
 * the next chunk plus sched_enqueue() of it again on its flow, so the
 * scheduler does its whole job (class heaps, band and DRR choice,
 * classification, statistics) each step. The injected clock advances by
 * each chunk's time at 10 Gbit/s; the users' rates sum to that, so
 * guarantee and borrowing both happen.
 *
 * The baseline is what the portal did before: one FIFO (a linked list),
 * the same chunks, the same steps, measured in the same run. The machine
 * is shared and noisy, so each figure is the best of several rounds,
 * interleaved. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched.h"

#define USERS 100
#define PER_FLOW 4
#define LEN 4096
#define LINK 1250000000ull   /* 10 Gbit/s in B/s */

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct setup {
	struct sched *s;
	struct sched_class *cls[USERS];
	struct sched_flow **flows;
	struct sched_chunk *chunks;
	unsigned nflows, nusers;
	uint64_t now;
};

static void setup_init(struct setup *b, unsigned nflows)
{
	struct sched_cfg cfg;

	memset(b, 0, sizeof(*b));
	sched_cfg_default(&cfg, 0);   /* the clock, not the link, paces here */
	b->s = sched_new(&cfg);
	b->nflows = nflows;
	b->nusers = nflows < USERS ? nflows : USERS;
	b->flows = calloc(nflows, sizeof(*b->flows));
	b->chunks = calloc((size_t)nflows * PER_FLOW, sizeof(*b->chunks));
	if (b->s == NULL || b->flows == NULL || b->chunks == NULL) {
		fprintf(stderr, "bench_sched: out of memory\n");
		exit(1);
	}
	b->now = 1000000000ull;
	for (unsigned u = 0; u < b->nusers; u++)
		if (sched_class_new(b->s, LINK / b->nusers, 0, u == 0 ? SCHED_CLASS_LOCAL : 0,
		                    NULL, &b->cls[u]) != 0)
			exit(1);
	for (unsigned i = 0; i < nflows; i++) {
		if (sched_flow_new(b->cls[i % b->nusers], NULL, SCHED_AUTO, NULL, &b->flows[i]) != 0)
			exit(1);
		for (unsigned k = 0; k < PER_FLOW; k++) {
			struct sched_chunk *c = &b->chunks[i * PER_FLOW + k];

			c->len = LEN;
			sched_enqueue(b->s, b->flows[i], c, b->now);
		}
	}
}

static void setup_free(struct setup *b)
{
	for (unsigned i = 0; i < b->nflows; i++)
		sched_flow_free(b->flows[i]);
	for (unsigned u = 0; u < b->nusers; u++)
		sched_class_free(b->cls[u]);
	sched_free(b->s);
	free(b->flows);
	free(b->chunks);
}

/* Steps per second through the scheduler over about `budget` seconds. */
static double run_sched(struct setup *b, double budget)
{
	const uint64_t step_ns = (uint64_t)LEN * 1000000000ull / LINK;
	struct sched_flow *f;
	struct sched_chunk *c;
	uint64_t next, n = 0;
	double t0 = wall(), t;

	do {
		for (int k = 0; k < 4096; k++) {
			b->now += step_ns;
			c = sched_dequeue(b->s, b->now, &f, &next);
			if (c == NULL) {
				b->now = next;
				continue;
			}
			sched_enqueue(b->s, f, c, b->now);
			n++;
		}
		t = wall() - t0;
	} while (t < budget);
	return (double)n / t;
}

/* The baseline: one linked-list FIFO for everything. */
struct fifo {
	struct sched_chunk *head, *tail;
};

static double run_fifo(struct sched_chunk *chunks, size_t nchunks, double budget)
{
	struct fifo q = { NULL, NULL };
	volatile uint64_t bytes = 0;
	uint64_t n = 0;
	double t0, t;

	for (size_t i = 0; i < nchunks; i++) {
		struct sched_chunk *c = &chunks[i];

		c->next = NULL;
		if (q.tail != NULL)
			q.tail->next = c;
		else
			q.head = c;
		q.tail = c;
	}
	t0 = wall();
	do {
		for (int k = 0; k < 4096; k++) {
			struct sched_chunk *c = q.head;

			q.head = c->next;
			if (q.head == NULL)
				q.tail = NULL;
			bytes += c->len;
			c->next = NULL;
			if (q.tail != NULL)
				q.tail->next = c;
			else
				q.head = c;
			q.tail = c;
			n++;
		}
		t = wall() - t0;
	} while (t < budget);
	(void)bytes;
	return (double)n / t;
}

int main(int argc, char **argv)
{
	static const unsigned sizes[] = { 10, 1000, 10000 };
	bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
	int rounds = quick ? 2 : 5;
	double budget = quick ? 0.08 : 0.3;

	if ((argc > 1 && !quick) || argc > 2) {
		fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
		return 2;
	}
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct setup sb;
		size_t nchunks = (size_t)sizes[i] * PER_FLOW;
		/* the FIFO's own chunks: the scheduler's are linked in its queues */
		struct sched_chunk *fc = calloc(nchunks, sizeof(*fc));
		double best_s = 0, best_f = 0;

		if (fc == NULL)
			return 1;
		for (size_t k = 0; k < nchunks; k++)
			fc[k].len = LEN;
		setup_init(&sb, sizes[i]);
		run_sched(&sb, budget / 4);   /* warm up: flows classified, caches */
		for (int r = 0; r < rounds; r++) {
			double vs = run_sched(&sb, budget), vf = run_fifo(fc, nchunks, budget);

			if (vs > best_s)
				best_s = vs;
			if (vf > best_f)
				best_f = vf;
		}
		/* the ratio is against a bare pointer swap; GB/s says what the
		 * cost means for a relay of 4 KiB chunks */
		printf("sched: %u flows (%u users): %.1f M chunk/s (%.0f ns, %.0f GB/s of 4 KiB chunks); "
		       "fifo baseline %.1f M chunk/s; ratio %.2f\n",
		       sizes[i], sb.nusers, best_s / 1e6, 1e9 / best_s, best_s * LEN / 1e9,
		       best_f / 1e6, best_s / best_f);
		free(fc);
		setup_free(&sb);
	}
	return 0;
}
