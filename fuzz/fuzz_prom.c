/* fuzz_prom: arbitrary bytes as a label value and a help text (a policy's
 * user names end up in labels) through the Prometheus writer (prom.c).
 * Invariants: the output is valid UTF-8; it has exactly the lines written
 * (HELP, TYPE, one sample, 3 histogram buckets + _sum + _count), so no
 * byte of the input broke a line; every label value is closed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char v[513];
	static struct prom_buf b;   /* kept across runs: no allocation per input */
	static struct prom_le le;
	double bounds[] = { 0.001, 0.5 };
	uint64_t counts[] = { 1, 2, 3 };
	size_t lines = 0;

	if (size > 128)   /* longer adds nothing but time */
		return 0;
	memcpy(v, data, size);
	v[size] = '\0';   /* a C string: what the writer is given */
	b.len = 0;
	b.err = 0;
	prom_family(&b, "x_total", "counter", v);
	prom_sample(&b, "x_total", (struct prom_label[]){ { "user", v } }, 1, (double)size);
	if (le.n == 0)
		prom_le_init(&le, bounds, 2);   /* once: the bounds' texts are not under test */
	prom_histogram_le(&b, "h", (struct prom_label[]){ { "user", v }, { "band", "bulk" } }, 2, &le, counts, 2);
	if (b.err == 0) {
		for (size_t i = 0; i < b.len;) {
			size_t n = (unsigned char)b.p[i] < 0x80 ? 1 : util_utf8_len(b.p + i);

			if (n == 0)
				abort();
			lines += b.p[i] == '\n';
			i += n;
		}
		if (lines != 2 + 1 + 3 + 2)
			abort();
	}
	return 0;
}
