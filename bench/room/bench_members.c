/* bench_members: the handshake-path membership check (store_check) with
 * 100 000 members in a real SQLite file, beside the baseline of a direct
 * SQL lookup by key in the same run; and the RSS growth of the index.
 * Target: <= 50 us per check, RSS growth <= 20 MB.
 * Usage: bench_members [--quick] [N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "store.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "VmRSS:", 6))
			kb = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

int main(int argc, char **argv)
{
	int quick = argc > 1 && !strcmp(argv[1], "--quick");
	long n = quick ? 5000 : 100000;
	if (argc > 1 + quick)
		n = strtol(argv[1 + quick], NULL, 10);
	if (sodium_init() < 0)
		return 1;
	char dir[] = "/tmp/fairway-bench-XXXXXX", path[64], err[256];
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof path, "%s/room.db", dir);

	/* fill the file directly (one transaction) so the bench measures the
	 * open + index and the checks, not 100 000 commits */
	sqlite3 *db;
	struct store *st;
	if (store_open(path, &st, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	store_close(st);
	sqlite3_open(path, &db);
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	sqlite3_stmt *ins;
	sqlite3_prepare_v2(db, "INSERT INTO members(key, role, added) VALUES (?1, 1, 0)", -1, &ins, NULL);
	uint8_t (*keys)[32] = malloc((size_t)n * 32);
	for (long i = 0; i < n; i++) {
		randombytes_buf(keys[i], 32);
		sqlite3_bind_blob(ins, 1, keys[i], 32, SQLITE_STATIC);
		sqlite3_step(ins);
		sqlite3_reset(ins);
	}
	sqlite3_finalize(ins);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);

	long rss0 = rss_kb();
	double t0 = now_s();
	if (store_open(path, &st, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	double t_open = now_s() - t0;
	long rss1 = rss_kb();

	long iters = quick ? 20000 : 1000000, hits = 0;
	uint8_t miss[32];
	t0 = now_s();
	for (long i = 0; i < iters; i++) {
		const uint8_t *k = keys[(size_t)(i * 7919) % (size_t)n];
		if (i & 1) {
			randombytes_buf(miss, 8);   /* cheap; a miss */
			memcpy(miss + 8, k + 8, 24);
			k = miss;
		}
		hits += store_check(st, k, NULL) != STORE_ROLE_NONE;
	}
	double per_idx = (now_s() - t0) / (double)iters * 1e6;

	/* baseline: the same question asked of SQLite with a prepared statement */
	sqlite3_stmt *sel;
	sqlite3_prepare_v2(db, "SELECT role FROM members WHERE key = ?1", -1, &sel, NULL);
	long biters = iters / 10;
	t0 = now_s();
	for (long i = 0; i < biters; i++) {
		sqlite3_bind_blob(sel, 1, keys[(size_t)(i * 7919) % (size_t)n], 32, SQLITE_STATIC);
		sqlite3_step(sel);
		sqlite3_reset(sel);
	}
	double per_sql = (now_s() - t0) / (double)biters * 1e6;
	sqlite3_finalize(sel);

	printf("members=%ld open+index=%.1f ms  store_check=%.3f us/check (hits %ld/%ld)  "
	       "baseline sqlite lookup=%.3f us  rss growth=%.1f MB  target<=50us <=20MB: %s\n",
	       n, t_open * 1e3, per_idx, hits, iters, per_sql, (double)(rss1 - rss0) / 1024.0,
	       per_idx <= 50 && (rss1 - rss0) <= 20 * 1024 ? "ok" : "MISSED");
	store_close(st);
	sqlite3_close(db);
	free(keys);
	char cmd[96];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
