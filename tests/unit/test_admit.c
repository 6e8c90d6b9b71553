/* Unit tests for src/relay/admit: per-address counts, the busiest address,
 * entries forgotten once unused, and refusals summed up: ADMIT_LOG_BURST
 * lines at once, then one summary line per interval (stderr is captured
 * in a temporary file and its lines counted). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admit.h"

static void counts_and_busiest(void **state)
{
	struct admit *a = admit_new();
	struct admit_addr *x, *y;

	assert_non_null(a);
	x = admit_get(a, "10.0.0.1");
	y = admit_get(a, "2001:db8::1");
	assert_ptr_equal(admit_get(a, "10.0.0.1"), x);
	assert_null(admit_busiest(a));
	admit_join(a, x);
	admit_join(a, x);
	admit_join(a, y);
	assert_int_equal(admit_pending(a), 3);
	assert_ptr_equal(admit_busiest(a), x);
	admit_ready(a, x);                  /* one of x's is authenticated */
	admit_ready(a, x);
	assert_int_equal(x->conns, 2);
	assert_int_equal(x->pending, 0);
	assert_ptr_equal(admit_busiest(a), y);
	admit_leave(a, y, 1);               /* y's pending one leaves: y is forgotten */
	assert_int_equal(admit_pending(a), 0);
	assert_null(admit_busiest(a));
	admit_leave(a, x, 0);
	assert_int_equal(x->conns, 1);
	admit_leave(a, x, 0);
	admit_free(a);
}

static unsigned lines_in(FILE *f)
{
	unsigned n = 0;
	int ch;

	fflush(stderr);
	rewind(f);
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	return n;
}

static void refusals_summed_up(void **state)
{
	struct admit *a = admit_new();
	FILE *f = tmpfile();
	int saved = dup(2);
	char name[64];
	unsigned n;

	assert_non_null(f);
	dup2(fileno(f), 2);
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "10.0.0.1:%u", 1000 + i);
		admit_refused(a, "10.0.0.1", name, "too many connections from this address", 5000);
	}
	admit_refused(a, "10.0.0.2", "10.0.0.2:1", "too many handshakes in progress", 5000);
	n = lines_in(f);
	assert_int_equal(n, ADMIT_LOG_BURST + 1);
	admit_tick(a, 9000, 10000);          /* the interval is not over */
	assert_int_equal(lines_in(f), n);
	admit_tick(a, 15000, 10000);         /* one summary (10.0.0.2 had one line: no summary) */
	assert_int_equal(lines_in(f), n + 1);
	admit_tick(a, 30000, 10000);         /* nothing new: nothing written */
	assert_int_equal(lines_in(f), n + 1);
	/* A new interval logs its first ones again. */
	admit_refused(a, "10.0.0.1", "10.0.0.1:9", "too many connections from this address", 31000);
	assert_int_equal(lines_in(f), n + 2);
	dup2(saved, 2);
	close(saved);
	fclose(f);
	admit_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counts_and_busiest),
		cmocka_unit_test(refusals_summed_up),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
