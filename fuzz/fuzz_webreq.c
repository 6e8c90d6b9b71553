/* fuzz_webreq: the room server's request decoding (src/room/http.c,
 * src/room/web.c) on arbitrary bytes. The first byte picks the decoder:
 *   0  http_form_parse (forms and query strings)
 *   1  web_consume_parse, JSON body of POST /invite/consume
 *   2  web_consume_parse, form body
 *   3  http_media_type (Content-Type)
 *   4  web_token_hash (invite tokens)
 *   5  web_public_url_parse (--public-url)
 * Invariants: no crash or overread (exact-size copies under ASan); every
 * decoded key and value is NUL-free and no longer than the input; a
 * consume that parses has a feed id that formats back and an invite
 * that is not empty; a media type is lowercase and has a '/'. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "http.h"
#include "web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t in_len;

static int on_pair(void *ctx, const char *key, const char *val)
{
	(void)ctx;
	if (key[0] == '\0' || strlen(key) > in_len || strlen(val) > in_len)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, err[256], out[WEB_URL_MAX], host[256];
	uint8_t hash[32];
	struct web_consume c;
	int rc;

	if (size < 1)
		return 0;
	/* exact size, no NUL: decoders must respect the length */
	s = malloc(size);
	if (s == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	in_len = size - 1;
	switch (data[0] % 6) {
	case 0:
		http_form_parse(s, in_len, 64, on_pair, NULL);
		break;
	case 1:
	case 2:
		rc = web_consume_parse(data[0] % 6 == 1 ? WEB_BODY_JSON : WEB_BODY_FORM, s, in_len, &c,
		                       err, sizeof(err));
		if (rc == 0) {
			char id[KEYS_ID_LEN + 1];
			uint8_t back[32];

			keys_id_format(id, c.key);
			if (keys_id_parse(id, strlen(id), back) != 0 || memcmp(back, c.key, 32) != 0 ||
			    c.invite[0] == '\0' || strlen(c.invite) > WEB_TOKEN_LEN + 1)
				abort();
			web_token_hash(c.invite, hash);
		} else if (err[0] == '\0') {
			abort();   /* every refusal says why */
		}
		break;
	default: {
		/* the string decoders take NUL-terminated text */
		char *z = malloc(in_len + 1);

		if (z == NULL)
			break;
		memcpy(z, s, in_len);
		z[in_len] = '\0';
		if (data[0] % 6 == 3) {
			if (http_media_type(z, out, 128) == 0)
				for (const char *p = out; *p != '\0'; p++)
					if ((*p >= 'A' && *p <= 'Z') || strchr(out, '/') == NULL)
						abort();
		} else if (data[0] % 6 == 4) {
			if (web_token_hash(z, hash) == 0 && strlen(z) != WEB_TOKEN_LEN)
				abort();
		} else if (web_public_url_parse(z, out, sizeof(out), host, sizeof(host), err,
		                                sizeof(err)) == 0) {
			if (host[0] == '\0' || strncmp(out, "http", 4) != 0 ||
			    (strlen(out) > 0 && out[strlen(out) - 1] == '/'))
				abort();
		}
		free(z);
	}
	}
	free(s);
	return 0;
}
