/* fuzz_keys: arbitrary text as a secret file, a feed id and a bare key.
 * Invariants: canonical encodings are unique (parse then format gives the
 * input back), and an accepted secret file survives format + reparse. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	char id[KEYS_ID_LEN + 1], b64[KEYS_B64_LEN + 1], err[128];
	struct keys k, k2, k3;
	uint8_t pk[32];
	char *text;

	if (sodium_init() < 0)
		__builtin_trap();
	if (keys_id_parse(s, size, pk) == 0) {
		keys_id_format(id, pk);
		if (size != KEYS_ID_LEN || memcmp(id, s, size) != 0)
			__builtin_trap();
	}
	if (keys_pk_parse_b64(s, size, pk) == 0) {
		keys_pk_format_b64(b64, pk);
		if (size != KEYS_B64_LEN || memcmp(b64, s, size) != 0)
			__builtin_trap();
	}
	err[0] = '\0';
	if (keys_parse_secret(s, size, &k, err, sizeof(err)) != 0) {
		if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL)
			__builtin_trap();
		return 0;
	}
	/* the pair must be the one its seed derives */
	keys_from_seed(&k3, k.sk);
	if (memcmp(&k3, &k, sizeof(k)) != 0)
		__builtin_trap();
	text = keys_format_secret(&k);
	if (text == NULL)
		return 0;
	if (keys_parse_secret(text, strlen(text), &k2, NULL, 0) != 0 ||
	    memcmp(&k, &k2, sizeof(k)) != 0)
		__builtin_trap();
	sodium_memzero(text, strlen(text));
	free(text);
	keys_wipe(&k);
	keys_wipe(&k2);
	keys_wipe(&k3);
	return 0;
}
