/* Box-stream fuzzer. data[0] picks the mode:
 *   even: the rest is ciphertext for a decoder with a fixed key; it must
 *         reject it or decode it cleanly, never overrun or loop.
 *   odd:  data[1] seeds the chunk sizes, the rest is plaintext; seal it,
 *         feed it back in chunks, and require decode(encode(x)) == x. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boxs.h"

static const uint8_t key[32] = { 0x42, 1, 2, 3 };
static const uint8_t nonce[24] = { 0xff, 0xff, 0xff, 0xfe };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct boxs_dec d;
	struct boxs b;
	const uint8_t *p, *in = data + 2;
	uint8_t *wire, *got, seed;
	size_t len = size - 2, wlen, off = 0, glen = 0, used, plen;
	enum boxs_result r = BOXS_AGAIN;

	if (size < 2)
		return 0;
	boxs_dec_init(&d, key, nonce);
	if (!(data[0] & 1)) {
		for (; r >= 0 && r != BOXS_END && off < size - 1; off += used) {
			r = boxs_dec_feed(&d, data + 1 + off, size - 1 - off, &used, &p, &plen);
			if (used > size - 1 - off || (r == BOXS_FRAME && (plen < 1 || plen > 4096)))
				__builtin_trap();
		}
		return 0;
	}
	seed = data[1];
	wire = malloc(BOXS_SEALED_MAX(len) + BOXS_GOODBYE_BYTES);
	got = malloc(len + 1);
	boxs_init(&b, key, nonce);
	wlen = boxs_seal(&b, in, len, wire);
	boxs_goodbye(&b, wire + wlen);
	wlen += BOXS_GOODBYE_BYTES;
	while (r != BOXS_END) {
		seed = (uint8_t)(seed * 73 + 41);   /* chunk sizes 1..256 */
		size_t chunk = (size_t)seed + 1, c = 0;
		if (off >= wlen)
			__builtin_trap();       /* wire used up without the end */
		if (chunk > wlen - off)
			chunk = wlen - off;
		for (; c < chunk && r != BOXS_END; c += used) {
			r = boxs_dec_feed(&d, wire + off + c, chunk - c, &used, &p, &plen);
			if (r < 0 || used > chunk - c || glen + plen > len)
				__builtin_trap();
			if (r == BOXS_FRAME) {
				memcpy(got + glen, p, plen);
				glen += plen;
			}
		}
		off += chunk;
	}
	if (off != wlen || glen != len || memcmp(got, in, len) != 0)
		__builtin_trap();
	free(wire);
	free(got);
	return 0;
}
