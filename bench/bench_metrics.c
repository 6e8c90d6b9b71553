/* bench_metrics — what a /metrics scrape costs with many users.
 *
 *   bench_metrics [--quick] [--users N]     (default 1000 users; ~2 s)
 *
 * A real portal (portal_start on 127.0.0.1:0, a shaped 100 mbit link)
 * with N policy users, and as many members without a [user] section
 * would make no difference to the classes: each user is one scheduler
 * class. Every class first carries traffic (a flow of 64 chunks of 1500
 * bytes, dequeued at the link's pace, so byte counters and delay
 * histograms hold real numbers), then metrics_write() builds the whole
 * exposition: its time (best and median of the rounds) and size.
 *
 * The baseline, in the same run on the same state: what `fairway info
 * --json` costs, portal_info() serialised with json_dumps (it carries the
 * same per-class figures without histograms). */
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "keys.h"
#include "metrics.h"
#include "portal.h"
#include "relay.h"
#include "sched.h"

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#define CHUNKS 64

/* Traffic through every class, so the numbers have their real width. */
static void traffic(struct portal *p)
{
	struct sched *s = relay_sched(portal_relay(p));
	size_t n = 0;
	struct sched_class *c;
	struct sched_flow **fl;
	struct sched_chunk *ch;
	uint64_t now = 1000000000ull, next;
	struct sched_flow *f;

	for (c = sched_class_next(s, NULL); c; c = sched_class_next(s, c))
		n++;
	fl = calloc(n, sizeof(*fl));
	ch = calloc(n * CHUNKS, sizeof(*ch));
	if (fl == NULL || ch == NULL)
		exit(1);
	n = 0;
	for (c = sched_class_next(s, NULL); c; c = sched_class_next(s, c), n++) {
		if (sched_flow_new(c, NULL, SCHED_AUTO, NULL, &fl[n]) != 0)
			exit(1);
		for (int k = 0; k < CHUNKS; k++) {
			ch[n * CHUNKS + (size_t)k].len = 1500;
			sched_enqueue(s, fl[n], &ch[n * CHUNKS + (size_t)k], now + (uint64_t)k * 1000);
		}
	}
	for (size_t left = n * CHUNKS; left > 0;) {
		if (sched_dequeue(s, now, &f, &next) != NULL)
			left--;
		else
			now = next == SCHED_NEVER ? now + 1000 : next;
	}
	for (size_t i = 0; i < n; i++)
		sched_flow_free(fl[i]);
	free(fl);
	free(ch);
}

int main(int argc, char **argv)
{
	bool quick = false;
	size_t nusers = 1000, rounds;
	uv_loop_t *loop = uv_default_loop();
	struct keys id;
	uint8_t seed[32] = { 1 }, net_key[32] = { 2 };
	struct portal_user *users;
	uint8_t (*ids)[32];
	char (*names)[32];
	struct portal_cfg cfg = { 0 };
	struct portal *p;
	char err[256];
	double *tm, *tb, t0;
	size_t size = 0, bsize = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			quick = true;
		else if (strcmp(argv[i], "--users") == 0 && i + 1 < argc)
			nusers = strtoul(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: bench_metrics [--quick] [--users N]\n");
			return 2;
		}
	}
	if (nusers == 0 || sodium_init() < 0)
		return 2;
	rounds = quick ? 3 : 30;
	keys_from_seed(&id, seed);
	users = calloc(nusers, sizeof(*users));
	ids = calloc(nusers, sizeof(*ids));
	names = calloc(nusers, sizeof(*names));
	tm = calloc(rounds, sizeof(*tm));
	tb = calloc(rounds, sizeof(*tb));
	if (!users || !ids || !names || !tm || !tb)
		return 1;
	for (size_t u = 0; u < nusers; u++) {
		snprintf(names[u], sizeof(names[u]), "user%04zu", u);
		randombytes_buf(ids[u], 32);
		users[u] = (struct portal_user){ .name = names[u], .rate = 11875000 / nusers + 1,
		                                 .ids = (const uint8_t (*)[32])&ids[u], .n_ids = 1 };
	}
	cfg = (struct portal_cfg){
		.loop = loop, .id = &id, .net_key = net_key, .host = "127.0.0.1", .port = 0,
		.handshake_timeout_ms = 5000, .privacy = PORTAL_OPEN,
		.metrics_max_users = (unsigned)nusers + 10,
		.sched = { .link_rate = 11875000, .local_rate = 593750, .guest_rate = 100000,
		           .link_rate_down = 11875000, .users = users, .n_users = nusers },
	};
	if (portal_start(&cfg, &p, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_metrics: %s\n", err);
		return 1;
	}
	traffic(p);
	for (size_t r = 0; r < rounds; r++) {
		struct prom_buf b;
		json_t *info;
		char *text;

		prom_buf_init(&b);
		t0 = wall();
		if (metrics_write(p, &b) != 0)
			return 1;
		tm[r] = wall() - t0;
		size = b.len;
		prom_buf_free(&b);
		t0 = wall();
		info = portal_info(p);
		text = json_dumps(info, JSON_COMPACT | JSON_PRESERVE_ORDER);
		tb[r] = wall() - t0;
		bsize = text ? strlen(text) : 0;
		free(text);
		json_decref(info);
	}
	qsort(tm, rounds, sizeof(*tm), cmp_d);
	qsort(tb, rounds, sizeof(*tb), cmp_d);
	printf("users %zu, %zu rounds\n", nusers, rounds);
	printf("metrics_write (Prometheus text): best %.2f ms, median %.2f ms, %zu bytes (%.1f KiB/user)\n",
	       tm[0] * 1e3, tm[rounds / 2] * 1e3, size, (double)size / 1024 / (double)nusers);
	printf("baseline info --json (portal_info + json_dumps): best %.2f ms, median %.2f ms, %zu bytes\n",
	       tb[0] * 1e3, tb[rounds / 2] * 1e3, bsize);
	printf("ratio metrics/info (median): %.2f\n", tm[rounds / 2] / tb[rounds / 2]);
	portal_stop(p);
	uv_run(loop, UV_RUN_DEFAULT);
	portal_free(p);
	free(users);
	free(ids);
	free(names);
	free(tm);
	free(tb);
	return 0;
}
