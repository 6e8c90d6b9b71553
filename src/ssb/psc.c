/* psc — packet-stream codec (protocol.md §5.1).
 *
 *     [flags u8][length u32 BE][req i32 BE][body: length bytes]
 *
 * The decoder keeps its progress in struct psc_dec (header bytes so far, then
 * body bytes so far) so the transport may hand it any slicing of the stream,
 * down to one byte at a time. */
#include "psc.h"

#include <stdlib.h>
#include <string.h>

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void psc_encode_header(uint8_t out[static PSC_HEADER_BYTES], uint8_t flags, uint32_t len, int32_t req)
{
	out[0] = flags;
	put_be32(out + 1, len);
	/* two's complement on the wire; the conversion to unsigned is exact */
	put_be32(out + 5, (uint32_t)req);
}

void psc_decode_header(const uint8_t in[static PSC_HEADER_BYTES], uint8_t *flags, uint32_t *len, int32_t *req)
{
	uint32_t r = get_be32(in + 5);

	*flags = in[0];
	*len = get_be32(in + 1);
	/* Unsigned-to-signed conversion of values above INT32_MAX is
	 * implementation-defined in C17, so map them by hand: ~r is the
	 * magnitude minus one (0xfffffffe -> -2). */
	*req = r <= INT32_MAX ? (int32_t)r : -(int32_t)~r - 1;
}

void psc_dec_init(struct psc_dec *d, uint32_t max_body)
{
	memset(d, 0, sizeof(*d));
	/* 0 means "no opinion": take the default cap rather than refuse all. */
	d->max_body = max_body ? max_body : PSC_DEFAULT_MAX_BODY;
}

void psc_dec_free(struct psc_dec *d)
{
	free(d->cur.body);
	d->cur.body = NULL;
	d->in_body = false;
	d->body_have = 0;
	d->hdr_have = 0;
}

/* The header in d->hdr is complete: check it and set up the body. A failed
 * check leaves hdr_have at 9 and in_body false, so every later call lands
 * here again and repeats the same error: errors are sticky without any
 * extra state. */
static enum psc_result start_body(struct psc_dec *d)
{
	struct psc_packet *p = &d->cur;

	psc_decode_header(d->hdr, &p->flags, &p->len, &p->req);
	/* packet-stream-codec ends the session on any zero length, whatever
	 * the flags and req say; anything else would desynchronise from JS. */
	if (p->len == 0) {
		d->ended = true;
		return PSC_GOODBYE;
	}
	if ((p->flags & PSC_TYPE_MASK) == 3)
		return PSC_ETYPE;
	if (p->len > d->max_body)
		return PSC_ETOOBIG;
	/* +1 for the NUL so JSON and strings can be parsed in place. */
	p->body = malloc((size_t)p->len + 1);
	if (p->body == NULL)
		return PSC_ENOMEM;
	d->in_body = true;
	d->body_have = 0;
	return PSC_AGAIN;
}

enum psc_result psc_dec_feed(struct psc_dec *d, const uint8_t *in, size_t len,
                             size_t *consumed, struct psc_packet *out)
{
	size_t off = 0, take;
	enum psc_result r;

	*consumed = 0;
	/* After the goodbye the session is over; consume nothing and keep
	 * saying so (the caller stops feeding on PSC_GOODBYE). */
	if (d->ended)
		return PSC_GOODBYE;

	if (!d->in_body) {
		take = PSC_HEADER_BYTES - d->hdr_have;
		if (take > len)
			take = len;
		if (take > 0)   /* in may be NULL when len is 0 */
			memcpy(d->hdr + d->hdr_have, in, take);
		d->hdr_have += take;
		off = take;
		*consumed = off;
		if (d->hdr_have < PSC_HEADER_BYTES)
			return PSC_AGAIN;
		r = start_body(d);
		if (r != PSC_AGAIN)
			return r;
	}

	take = d->cur.len - d->body_have;
	if (take > len - off)
		take = len - off;
	if (take > 0)
		memcpy(d->cur.body + d->body_have, in + off, take);
	d->body_have += take;
	off += take;
	*consumed = off;
	if (d->body_have < d->cur.len)
		return PSC_AGAIN;

	d->cur.body[d->cur.len] = '\0';
	*out = d->cur;
	/* ownership of the body moves to the caller */
	d->cur.body = NULL;
	d->in_body = false;
	d->hdr_have = 0;
	d->body_have = 0;
	return PSC_PACKET;
}

const char *psc_strerror(enum psc_result r)
{
	switch (r) {
	case PSC_AGAIN: return "need more input";
	case PSC_PACKET: return "packet";
	case PSC_GOODBYE: return "goodbye";
	case PSC_ETOOBIG: return "packet body larger than the receive limit";
	case PSC_ETYPE: return "packet body type 3 is invalid";
	case PSC_ENOMEM: return "out of memory";
	}
	return "unknown packet-stream result";
}
