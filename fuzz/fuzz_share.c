/* fuzz_share: what a portal sends on fairway.share, as the client reads it
 * (share.c): "LAST\nCUR", two JSON texts. Invariants: nothing crashes on
 * any JSON (missing, negative, huge or non-numeric fields); a sample is
 * never "changed" against itself; the printed line is one line starting
 * with "share: ". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "share.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t la = nl ? (size_t)(nl - data) : 0;
	json_error_t e;
	json_t *last = nl ? json_loadb((const char *)data, la, JSON_DECODE_ANY, &e) : NULL;
	json_t *cur = json_loadb((const char *)(nl ? nl + 1 : data), nl ? size - la - 1 : size,
	                         JSON_DECODE_ANY, &e);
	char line[256];

	if (json_is_object(cur)) {
		(void)share_changed(json_is_object(last) ? last : NULL, cur);
		if (share_changed(cur, cur))
			abort();
		share_format(cur, line, sizeof(line));
		if (strncmp(line, "share: ", 7) != 0 || strchr(line, '\n') != NULL)
			abort();
	}
	json_decref(last);
	json_decref(cur);
	return 0;
}
