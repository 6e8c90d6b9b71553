/* prom writer: escaping, value formatting, histogram shape. The portal's
 * /metrics is checked whole by promtool in tests/metrics; these pin the
 * exact bytes of the pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "prom.h"

static void test_family_and_escape(void **state)
{
	(void)state;
	struct prom_buf b;
	prom_buf_init(&b);
	prom_family(&b, "x_total", "counter", "a \\ b\nc \"q\"");
	struct prom_label l[] = { { "user", "a\"b\\c\nd" }, { "dir", "up" } };
	prom_sample(&b, "x_total", l, 2, 42);
	prom_sample(&b, "y", NULL, 0, 0.5);
	struct prom_label u[] = { { "user", "\xc3\xa9\xff\xc3(" } };
	prom_sample(&b, "z", u, 1, 1);
	assert_int_equal(b.err, 0);
	assert_string_equal(b.p,
		"# HELP x_total a \\\\ b\\nc \"q\"\n"
		"# TYPE x_total counter\n"
		"x_total{user=\"a\\\"b\\\\c\\nd\",dir=\"up\"} 42\n"
		"y 0.5\n"
		"z{user=\"\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd(\"} 1\n");
	prom_buf_free(&b);
}

static void test_values(void **state)
{
	(void)state;
	struct prom_buf b;
	prom_buf_init(&b);
	prom_sample(&b, "a", NULL, 0, 1.0 / 0.0);
	prom_sample(&b, "b", NULL, 0, -1.0 / 0.0);
	prom_sample(&b, "c", NULL, 0, 0.0 / 0.0);
	prom_sample(&b, "d", NULL, 0, 1e18);
	prom_sample(&b, "e", NULL, 0, -3);
	prom_sample(&b, "f", NULL, 0, 0.1);
	prom_sample(&b, "g", NULL, 0, 65536e-9);
	assert_string_equal(b.p, "a +Inf\nb -Inf\nc NaN\nd 1e+18\ne -3\nf 0.1\ng 6.5536e-05\n");
	prom_buf_free(&b);
}

static void test_histogram(void **state)
{
	(void)state;
	struct prom_buf b;
	prom_buf_init(&b);
	double bounds[] = { 0.001, 0.01 };
	uint64_t counts[] = { 2, 3, 1 };
	struct prom_label l[] = { { "band", "bulk" } };
	prom_histogram(&b, "d_seconds", l, 1, bounds, counts, 2, 0.25);
	assert_string_equal(b.p,
		"d_seconds_bucket{band=\"bulk\",le=\"0.001\"} 2\n"
		"d_seconds_bucket{band=\"bulk\",le=\"0.01\"} 5\n"
		"d_seconds_bucket{band=\"bulk\",le=\"+Inf\"} 6\n"
		"d_seconds_sum{band=\"bulk\"} 0.25\n"
		"d_seconds_count{band=\"bulk\"} 6\n");
	prom_buf_free(&b);
	prom_buf_init(&b);
	prom_histogram(&b, "h", NULL, 0, bounds, counts, 2, 1);
	assert_non_null(strstr(b.p, "h_bucket{le=\"+Inf\"} 6\n"));
	prom_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_family_and_escape),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_histogram),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
