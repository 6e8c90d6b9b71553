/* boxs — box-stream (protocol.md §4).
 *
 * Frame on the wire, for a chunk m of 1..4096 bytes at header nonce n:
 *
 *     [ header tag(16) | box(n, u16_be(len) || body tag(16)) (18) ][ body ciphertext (len) ]
 *     \______________ 34 bytes: crypto_secretbox_easy ____________/ \__ secretbox_detached(n+1) __/
 *
 * Both directions of work avoid intermediate buffers: the sealer writes the
 * body ciphertext straight into the caller's output and its tag straight
 * into the header plaintext, and the decoder opens a body straight from the
 * caller's input whenever the whole body is already there. Only frames split
 * across reads are staged in struct boxs_dec. */
#include "boxs.h"

#include <string.h>

#include <sodium.h>

/* The 24-byte nonce as one big-endian integer, +1, wrapping silently from
 * all-ones to zero exactly as JS increment-buffer does. */
static void nonce_inc(uint8_t n[static 24])
{
	for (int i = 23; i >= 0; i--)
		if (++n[i] != 0)
			break;
}

void boxs_init(struct boxs *b, const uint8_t key[static 32], const uint8_t nonce[static 24])
{
	memcpy(b->key, key, sizeof(b->key));
	memcpy(b->nonce, nonce, sizeof(b->nonce));
}

void boxs_wipe(struct boxs *b)
{
	sodium_memzero(b, sizeof(*b));
}

/* One frame of 1..4096 bytes into out (34 + len bytes); advances n by 2. */
static void seal_frame(struct boxs *b, const uint8_t *m, size_t len, uint8_t *out)
{
	uint8_t hdr[BOXS_HEADER_PLAIN_BYTES];
	uint8_t body_nonce[24];

	memcpy(body_nonce, b->nonce, sizeof(body_nonce));
	nonce_inc(body_nonce);

	/* header plaintext = u16_be(len) || body tag; the tag lands in place. */
	hdr[0] = (uint8_t)(len >> 8);
	hdr[1] = (uint8_t)len;
	crypto_secretbox_detached(out + BOXS_HEADER_BOXED_BYTES, hdr + 2, m, len,
	                          body_nonce, b->key);
	crypto_secretbox_easy(out, hdr, sizeof(hdr), b->nonce, b->key);

	/* next header nonce = body nonce + 1 = n + 2 */
	memcpy(b->nonce, body_nonce, sizeof(b->nonce));
	nonce_inc(b->nonce);
	sodium_memzero(hdr, sizeof(hdr));
}

size_t boxs_seal(struct boxs *b, const uint8_t *m, size_t len, uint8_t *out)
{
	size_t written = 0;

	/* JS splits long chunks at exactly 4096; the last frame takes the rest. */
	while (len > 0) {
		size_t n = len < BOXS_MAX_BODY ? len : BOXS_MAX_BODY;

		seal_frame(b, m, n, out + written);
		written += BOXS_HEADER_BOXED_BYTES + n;
		m += n;
		len -= n;
	}
	return written;
}

void boxs_goodbye(struct boxs *b, uint8_t out[static BOXS_GOODBYE_BYTES])
{
	static const uint8_t zero[BOXS_HEADER_PLAIN_BYTES];

	crypto_secretbox_easy(out, zero, sizeof(zero), b->nonce, b->key);
	/* Nothing may follow a goodbye, but should a caller seal anyway it must
	 * not reuse n: a second secretbox under the same key and nonce leaks the
	 * XOR of the plaintexts and lets Poly1305 tags be forged. */
	nonce_inc(b->nonce);
	nonce_inc(b->nonce);
}

void boxs_dec_init(struct boxs_dec *d, const uint8_t key[static 32], const uint8_t nonce[static 24])
{
	memset(d, 0, sizeof(*d));
	boxs_init(&d->b, key, nonce);
}

void boxs_dec_wipe(struct boxs_dec *d)
{
	/* Also clears the last plaintext frame held in d->body. */
	sodium_memzero(d, sizeof(*d));
}

static enum boxs_result dec_fail(struct boxs_dec *d, enum boxs_result r)
{
	d->failed = true;
	sodium_memzero(d->body, sizeof(d->body));
	return r;
}

/* Opens the 34-byte boxed header hb (at d->b.nonce). On success either the
 * goodbye was seen or d->tag/d->body_len are set and d->b.nonce has become
 * the body nonce n+1. */
static enum boxs_result open_header(struct boxs_dec *d, const uint8_t *hb)
{
	uint8_t h[BOXS_HEADER_PLAIN_BYTES];
	enum boxs_result r = BOXS_AGAIN;
	unsigned len;

	if (crypto_secretbox_open_easy(h, hb, BOXS_HEADER_BOXED_BYTES, d->b.nonce, d->b.key) != 0)
		return dec_fail(d, BOXS_EBADHDR);
	if (sodium_is_zero(h, sizeof(h))) {
		d->ended = true;
		r = BOXS_END;
		goto out;
	}
	len = (unsigned)h[0] << 8 | h[1];
	if (len > BOXS_MAX_BODY) {
		/* go-secretstream rejects these; JS would accept up to 65535, but
		 * no implementation sends them and our buffer is 4096. */
		r = dec_fail(d, BOXS_ETOOBIG);
		goto out;
	}
	if (len == 0) {
		/* An authentic header announcing an empty body with a non-zero tag.
		 * Nobody sends it (JS skips empty chunks), and handing an empty
		 * chunk upward would look like EOF to some readers; a peer that
		 * sends it is broken, so it is a header protocol error. */
		r = dec_fail(d, BOXS_EBADHDR);
		goto out;
	}
	memcpy(d->tag, h + 2, sizeof(d->tag));
	d->body_len = (uint16_t)len;
	d->body_have = 0;
	nonce_inc(d->b.nonce);
out:
	sodium_memzero(h, sizeof(h));
	return r;
}

enum boxs_result boxs_dec_feed(struct boxs_dec *d, const uint8_t *in, size_t len,
                               size_t *consumed, const uint8_t **out, size_t *outlen)
{
	size_t off = 0;
	enum boxs_result r;

	*consumed = 0;
	*out = NULL;
	*outlen = 0;
	if (d->failed)
		return BOXS_EBADHDR;
	if (d->ended) {
		/* After the goodbye the stream is over: more bytes are an error,
		 * an empty call just repeats the verdict. */
		if (len == 0)
			return BOXS_END;
		return dec_fail(d, BOXS_EBADHDR);
	}

	if (d->body_len == 0) {
		const uint8_t *hb;

		if (d->hdr_have == 0 && len >= BOXS_HEADER_BOXED_BYTES) {
			hb = in;    /* whole header in the input: open it in place */
			off = BOXS_HEADER_BOXED_BYTES;
		} else {
			size_t take = BOXS_HEADER_BOXED_BYTES - d->hdr_have;

			if (take > len)
				take = len;
			if (take > 0)   /* in may be NULL when len is 0 */
				memcpy(d->hdr + d->hdr_have, in, take);
			d->hdr_have += take;
			off = take;
			if (d->hdr_have < BOXS_HEADER_BOXED_BYTES) {
				*consumed = off;
				return BOXS_AGAIN;
			}
			hb = d->hdr;
		}
		d->hdr_have = 0;
		r = open_header(d, hb);
		*consumed = off;
		if (r != BOXS_AGAIN)
			return r;
	}

	/* Body: d->b.nonce is now n+1. */
	if (d->body_have == 0 && len - off >= d->body_len) {
		if (crypto_secretbox_open_detached(d->body, in + off, d->tag, d->body_len,
		                                   d->b.nonce, d->b.key) != 0)
			return dec_fail(d, BOXS_EBADBODY);
		off += d->body_len;
	} else {
		size_t take = d->body_len - d->body_have;

		if (take > len - off)
			take = len - off;
		if (take > 0)
			memcpy(d->body + d->body_have, in + off, take);
		d->body_have += take;
		off += take;
		*consumed = off;
		if (d->body_have < d->body_len)
			return BOXS_AGAIN;
		/* libsodium opens in place when c == m */
		if (crypto_secretbox_open_detached(d->body, d->body, d->tag, d->body_len,
		                                   d->b.nonce, d->b.key) != 0)
			return dec_fail(d, BOXS_EBADBODY);
	}
	*consumed = off;
	*out = d->body;
	*outlen = d->body_len;
	d->body_len = 0;
	d->body_have = 0;
	nonce_inc(d->b.nonce);    /* n+2: the next header */
	return BOXS_FRAME;
}

const char *boxs_strerror(enum boxs_result r)
{
	switch (r) {
	case BOXS_AGAIN: return "need more input";
	case BOXS_FRAME: return "frame";
	case BOXS_END: return "end of stream";
	case BOXS_EBADHDR: return "invalid box-stream header";
	case BOXS_EBADBODY: return "invalid box-stream body";
	case BOXS_ETOOBIG: return "box-stream frame longer than 4096 bytes";
	}
	return "unknown box-stream result";
}
