/* fuzz_alias: arbitrary bytes as an alias name. Invariant: store_alias_valid
 * accepts exactly [a-z0-9]{1,63} (checked against a second, obvious
 * definition) and never reads past len. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool reference(const uint8_t *s, size_t n)
{
	if (n < 1 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789", s[i]) || s[i] == 0)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy so ASan catches any read beyond len */
	char *c = malloc(size ? size : 1);
	if (!c)
		return 0;
	memcpy(c, data, size);
	if (store_alias_valid(c, size) != reference(data, size))
		abort();
	free(c);
	return 0;
}
