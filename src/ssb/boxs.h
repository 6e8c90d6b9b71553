/* boxs — box-stream (protocol.md §4), I/O-free.
 *
 * One direction of an encrypted byte stream. Each frame carrying 1..4096
 * plaintext bytes m is:
 *
 *     header_box(34) = box(key, n,   u16_be(len(m)) || tag(body))
 *     body(len(m))   = ciphertext of box(key, n+1, m) without its tag
 *     n += 2
 *
 * The goodbye is box(key, n, 18 zero bytes). Any MAC failure is fatal for
 * the stream: there is no resynchronisation. */
#ifndef FAIRWAY_BOXS_H
#define FAIRWAY_BOXS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BOXS_MAX_BODY 4096
#define BOXS_HEADER_PLAIN_BYTES 18   /* u16 length || 16-byte body tag */
#define BOXS_HEADER_BOXED_BYTES 34   /* 16-byte header tag || 18 */
#define BOXS_GOODBYE_BYTES 34
/* Worst-case wire size of sealing len plaintext bytes. */
#define BOXS_SEALED_MAX(len) \
	((len) + (((len) + BOXS_MAX_BODY - 1) / BOXS_MAX_BODY) * BOXS_HEADER_BOXED_BYTES)

struct boxs {
	uint8_t key[32];
	uint8_t nonce[24];  /* header nonce of the next frame; body uses +1 */
};

void boxs_init(struct boxs *b, const uint8_t key[static 32], const uint8_t nonce[static 24]);
void boxs_wipe(struct boxs *b);

/* Seals len (>= 1) plaintext bytes as ceil(len/4096) frames into out, which
 * must hold BOXS_SEALED_MAX(len) bytes. Returns the bytes written (0 when
 * len is 0: empty chunks are never sent). */
size_t boxs_seal(struct boxs *b, const uint8_t *m, size_t len, uint8_t *out);

/* Writes the 34-byte goodbye for the current nonce. */
void boxs_goodbye(struct boxs *b, uint8_t out[static BOXS_GOODBYE_BYTES]);

/* Incremental decoder: feed it any slices of the wire, get plaintext
 * chunks out. Keeps at most one partial frame. */
struct boxs_dec {
	struct boxs b;
	uint8_t hdr[BOXS_HEADER_BOXED_BYTES];
	size_t hdr_have;
	uint8_t tag[16];     /* body tag from the opened header */
	uint16_t body_len;   /* 0 while waiting for a header */
	uint8_t body[BOXS_MAX_BODY];
	size_t body_have;
	bool ended;          /* goodbye seen */
	bool failed;         /* a MAC failed: every later call fails */
};

enum boxs_result {
	BOXS_AGAIN = 0,   /* all input consumed, no complete frame */
	BOXS_FRAME = 1,   /* *out, *outlen hold one frame's plaintext */
	BOXS_END = 2,     /* goodbye received: the stream ended cleanly */
	BOXS_EBADHDR = -1,/* header failed authentication */
	BOXS_EBADBODY = -2,/* body failed authentication */
	BOXS_ETOOBIG = -3,/* header announced more than 4096 bytes */
};

void boxs_dec_init(struct boxs_dec *d, const uint8_t key[static 32], const uint8_t nonce[static 24]);
void boxs_dec_wipe(struct boxs_dec *d);

/* Consumes from in[0..len) and stops after at most one frame. *consumed
 * says how many bytes were used; call again with the rest. On BOXS_FRAME,
 * *out points into d (valid until the next call) and *outlen is 1..4096.
 * After BOXS_END further bytes are a protocol error (BOXS_EBADHDR). */
__attribute__((warn_unused_result))
enum boxs_result boxs_dec_feed(struct boxs_dec *d, const uint8_t *in, size_t len,
                               size_t *consumed, const uint8_t **out, size_t *outlen);

const char *boxs_strerror(enum boxs_result r);

#endif
