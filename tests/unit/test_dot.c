/* dot writer: exact bytes, quoting of hostile names. tests/metrics runs
 * the real `fairway info --dot` through dot -Tsvg. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dot.h"

static void test_tree(void **state)
{
	(void)state;
	struct dot_buf b;
	dot_buf_init(&b);
	dot_begin(&b, "classes");
	struct dot_attr n[] = { { "label", "alice\n2 Mbit/s" } };
	dot_node(&b, "u:alice", n, 1);
	dot_node(&b, "q\"\\x\x01", NULL, 0);
	dot_node(&b, "\xc3\xa9\xed\xa0\x80", NULL, 0);
	struct dot_attr e[] = { { "style", "dashed" }, { "color", "#d95f02" } };
	dot_edge(&b, "link", "u:alice", e, 2);
	dot_end(&b);
	assert_int_equal(b.err, 0);
	assert_string_equal(b.p,
		"digraph \"classes\" {\n  rankdir=LR;\n"
		"  node [shape=box, fontname=\"monospace\"];\n"
		"  \"u:alice\" [label=\"alice\\n2 Mbit/s\"];\n"
		"  \"q\\\"\\\\x\";\n"
		"  \"\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\";\n"
		"  \"link\" -> \"u:alice\" [style=\"dashed\", color=\"#d95f02\"];\n"
		"}\n");
	dot_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
