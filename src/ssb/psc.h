/* psc — packet-stream codec, the framing under muxrpc (protocol.md §5.1).
 *
 *   offset 0  u8   flags   bit3 STREAM, bit2 END/ERROR, bits1..0 body type
 *   offset 1  u32  body length, big-endian
 *   offset 5  i32  request number, big-endian two's complement
 *   offset 9  body
 *
 * Nine zero bytes are the goodbye. JS treats any header with length 0 as
 * goodbye, so we never encode an empty body (psc_encode refuses it). */
#ifndef FAIRWAY_PSC_H
#define FAIRWAY_PSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PSC_HEADER_BYTES 9
#define PSC_FLAG_STREAM 0x08
#define PSC_FLAG_END 0x04
#define PSC_TYPE_MASK 0x03
/* Receive cap for one body: JSON messages are tens of KiB, blobs 64 KiB. */
#define PSC_DEFAULT_MAX_BODY (1u << 20)

enum psc_type { PSC_BINARY = 0, PSC_STRING = 1, PSC_JSON = 2 };

struct psc_packet {
	uint8_t flags;
	int32_t req;
	uint32_t len;
	uint8_t *body;  /* malloc'd, len bytes (+1 NUL not counted); owned by the receiver */
};

static inline bool psc_is_stream(const struct psc_packet *p) { return p->flags & PSC_FLAG_STREAM; }
static inline bool psc_is_end(const struct psc_packet *p) { return p->flags & PSC_FLAG_END; }
static inline enum psc_type psc_type(const struct psc_packet *p) { return (enum psc_type)(p->flags & PSC_TYPE_MASK); }

/* Writes the 9-byte header. */
void psc_encode_header(uint8_t out[static PSC_HEADER_BYTES], uint8_t flags, uint32_t len, int32_t req);
void psc_decode_header(const uint8_t in[static PSC_HEADER_BYTES], uint8_t *flags, uint32_t *len, int32_t *req);

struct psc_dec {
	uint8_t hdr[PSC_HEADER_BYTES];
	size_t hdr_have;
	bool in_body;
	struct psc_packet cur;  /* packet being filled */
	size_t body_have;
	uint32_t max_body;
	bool ended;             /* goodbye seen */
};

enum psc_result {
	PSC_AGAIN = 0,     /* input consumed, no complete packet */
	PSC_PACKET = 1,    /* *out holds a packet; the caller owns out->body */
	PSC_GOODBYE = 2,   /* a header with length 0 (JS semantics): session over */
	PSC_ETOOBIG = -1,  /* body longer than max_body */
	PSC_ETYPE = -2,    /* body type 3 */
	PSC_ENOMEM = -3,
};

void psc_dec_init(struct psc_dec *d, uint32_t max_body);
/* Frees a partly received body. */
void psc_dec_free(struct psc_dec *d);

/* Consumes from in[0..len), stopping after at most one packet; *consumed
 * says how much was used. On PSC_PACKET the body is NUL-terminated (one
 * extra byte allocated) so JSON and string bodies can be parsed in place. */
__attribute__((warn_unused_result))
enum psc_result psc_dec_feed(struct psc_dec *d, const uint8_t *in, size_t len,
                             size_t *consumed, struct psc_packet *out);

const char *psc_strerror(enum psc_result r);

#endif
