/* fuzz_ws_response: arbitrary bytes as a server's answer to our upgrade
 * request (ws_client_response). Checks: the result is 0 (incomplete),
 * -EPROTO or -E2BIG with a reason, or a head length within the input and
 * at most WS_HEAD_MAX that ends in an empty line; a head accepted in full
 * is still accepted with frames appended, and its prefixes are only ever
 * incomplete. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[160];
	uint8_t *more;
	int rc;

	err[0] = '\0';
	rc = ws_client_response(data, size, key, err, sizeof(err));
	if (rc < 0) {
		if ((rc != -EPROTO && rc != -E2BIG) || err[0] == '\0' ||
		    memchr(err, '\0', sizeof(err)) == NULL)
			__builtin_trap();
		return 0;
	}
	if (rc == 0)
		return 0;
	if ((size_t)rc > size || rc > WS_HEAD_MAX || rc < 4 || memcmp(data + rc - 4, "\r\n\r\n", 4) != 0)
		__builtin_trap();
	if (ws_client_response(data, (size_t)rc - 1, key, err, sizeof(err)) != 0)
		__builtin_trap();
	more = malloc((size_t)rc + 8);
	if (more == NULL)
		return 0;
	memcpy(more, data, (size_t)rc);
	memcpy(more + rc, "\x82\x02xy\x88\x00\r\n", 8);
	if (ws_client_response(more, (size_t)rc + 8, key, err, sizeof(err)) != rc)
		__builtin_trap();
	free(more);
	return 0;
}
