/* Packet-stream codec fuzzer. data[0..1] seed the split points; the rest is
 * (1) a stream fed in those slices to a decoder capped at 4096: every packet
 * must re-encode to exactly the bytes it came from; (2) a body sealed into
 * one packet with fuzz-chosen flags/req: decode(encode(x)) == x. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "psc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct psc_dec d;
	struct psc_packet p;
	uint8_t h[PSC_HEADER_BYTES], *w;
	uint16_t seed;
	size_t off = 0, start = 0, used, c;
	enum psc_result r = PSC_AGAIN;

	if (size < 3)
		return 0;
	seed = (uint16_t)(data[0] | data[1] << 8);
	data += 2;
	size -= 2;
	psc_dec_init(&d, 4096);
	for (size_t chunk; off < size && r >= 0 && r != PSC_GOODBYE; off += chunk) {
		seed = (uint16_t)(seed * 25173 + 13849);
		chunk = seed % 64 + 1 < size - off ? seed % 64 + 1 : size - off;
		for (c = 0; c < chunk && r >= 0 && r != PSC_GOODBYE; c += used) {
			r = psc_dec_feed(&d, data + off + c, chunk - c, &used, &p);
			if (used > chunk - c)
				__builtin_trap();
			if (r != PSC_PACKET)
				continue;
			psc_encode_header(h, p.flags, p.len, p.req);
			if (p.len == 0 || (p.flags & 3) == 3 || p.len > 4096 || p.body[p.len] != 0 ||
			    off + c + used - start != PSC_HEADER_BYTES + p.len ||
			    memcmp(h, data + start, PSC_HEADER_BYTES) != 0 ||
			    memcmp(p.body, data + start + PSC_HEADER_BYTES, p.len) != 0)
				__builtin_trap();
			free(p.body);
			start = off + c + used;
		}
	}
	psc_dec_free(&d);

	/* encode -> decode: flags from the seed with a legal type */
	uint8_t flags = (uint8_t)((seed & 0xfc) | (seed >> 8) % 3);
	int32_t req = (int32_t)(seed & 0x7fff) * ((seed & 0x8000) ? -65536 : 1);
	w = malloc(PSC_HEADER_BYTES + size);
	psc_encode_header(w, flags, (uint32_t)size, req);
	memcpy(w + PSC_HEADER_BYTES, data, size);
	psc_dec_init(&d, (uint32_t)size);
	if (psc_dec_feed(&d, w, PSC_HEADER_BYTES + size, &used, &p) != PSC_PACKET ||
	    used != PSC_HEADER_BYTES + size || p.flags != flags || p.req != req ||
	    p.len != size || memcmp(p.body, data, size) != 0)
		__builtin_trap();
	free(p.body);
	free(w);
	psc_dec_free(&d);
	return 0;
}
