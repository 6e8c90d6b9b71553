/* Box-stream tests: the vectors of protocol.md §4.4, long round trips across
 * nonce carries, every way of slicing the wire, and every error path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "boxs.h"

/* protocol.md §4.4 (box-stream-c src/test.c) */
#define V_KEY "a21d99967be10aadafc9a022beb39e0eb069e8ee614285c2fa94c707229dae18"
#define V_NONCE "2c8c4fe31799cacb5128723b38a73fa6c909329800ffe293"
#define V_HDR1 "b51c6a75e2ba71ce8799fa36dde1b2d390be0e6666f67636c322aeb6be2d813060c1"
#define V_BODY1 "e7ea50c371ad059e"
#define V_HDR2 "e3e6f9e6b0aa3122dc1d9c76e1f30703a3c57de1f06fc37ef094c9ed9e9e86e0f689"
#define V_BODY2 "16868dbf1371d372"
#define V_BYE "0a30546f676723a2af4ebd3af0fac4e2c2c5574977ae817ce11e031a25dd57d5997b"
#define V_NONCE_AT_BYE "2c8c4fe31799cacb5128723b38a73fa6c909329800ffe297"

/* §4.4 derived vector, §3.4 client->server session keys */
#define E_KEY "4f7153c9c56be7e6ff516e421c229351aebd23422a21d32ae8f0131cc2814722"
#define E_NONCE "a7efd4c608bf19b20ceccee3af33d2df9fdc6dec05f11a38"
#define E_HDR "9c74283710d8e24dcad3a8b184e4dda636a7b713fe0fffb8ea6f8599ead8951b8b5c"
#define E_BODY "f1e6ef45fe7822ffd1618ca063bb1eebf341aaa1d59317426697e02c8b655d917b08bb8a7fdc7232e762c836010f08"
#define E_HDR_PLAIN "002f9935211b1e5823702273e1920f7d3f09"
#define E_BYE "0cd2acd77868a6d0bbce8612c57b986f34265e4b0b5b0d18663bf8ec1da7db36e756"

static const uint8_t m1[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
static const uint8_t m2[8] = { 7, 6, 5, 4, 3, 2, 1, 0 };

static size_t unhex(uint8_t *out, size_t cap, const char *hex)
{
	size_t len = 0;

	assert_int_equal(sodium_hex2bin(out, cap, hex, strlen(hex), NULL, &len, NULL), 0);
	return len;
}

static void load_key_nonce(uint8_t key[32], uint8_t nonce[24], const char *k, const char *n)
{
	assert_int_equal(unhex(key, 32, k), 32);
	assert_int_equal(unhex(nonce, 24, n), 24);
}

/* Small deterministic generator for lengths and chunk sizes. */
static uint32_t rng_next(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(*s >> 33);
}

/* The §4.4 wire: frame 1, frame 2, goodbye (42 + 42 + 34 bytes). */
static size_t vector_wire(uint8_t *w)
{
	size_t n = 0;

	n += unhex(w + n, 64, V_HDR1);
	n += unhex(w + n, 64, V_BODY1);
	n += unhex(w + n, 64, V_HDR2);
	n += unhex(w + n, 64, V_BODY2);
	n += unhex(w + n, 64, V_BYE);
	return n;
}

static void test_vectors_seal(void **state)
{
	uint8_t key[32], nonce[24], exp[128], out[BOXS_SEALED_MAX(8)], bye[BOXS_GOODBYE_BYTES];
	struct boxs b;
	size_t n;

	(void)state;
	load_key_nonce(key, nonce, V_KEY, V_NONCE);
	boxs_init(&b, key, nonce);

	assert_int_equal(sizeof(out), 42);
	assert_int_equal(boxs_seal(&b, m1, sizeof(m1), out), 42);
	n = unhex(exp, sizeof(exp), V_HDR1);
	n += unhex(exp + n, sizeof(exp) - n, V_BODY1);
	assert_memory_equal(out, exp, n);

	assert_int_equal(boxs_seal(&b, m2, sizeof(m2), out), 42);
	n = unhex(exp, sizeof(exp), V_HDR2);
	n += unhex(exp + n, sizeof(exp) - n, V_BODY2);
	assert_memory_equal(out, exp, n);

	/* two frames used four nonces: the goodbye sits at start + 4 */
	unhex(exp, sizeof(exp), V_NONCE_AT_BYE);
	assert_memory_equal(b.nonce, exp, 24);
	boxs_goodbye(&b, bye);
	unhex(exp, sizeof(exp), V_BYE);
	assert_memory_equal(bye, exp, BOXS_GOODBYE_BYTES);
	/* and the goodbye moves on by 2 so no later seal can reuse its nonce */
	unhex(exp, sizeof(exp), "2c8c4fe31799cacb5128723b38a73fa6c909329800ffe299");
	assert_memory_equal(b.nonce, exp, 24);

	/* empty chunks are never sent and consume no nonce */
	assert_int_equal(boxs_seal(&b, m1, 0, out), 0);
	assert_memory_equal(b.nonce, exp, 24);
	boxs_wipe(&b);
	assert_true(sodium_is_zero(b.key, 32));
}

static void test_vectors_open(void **state)
{
	uint8_t key[32], nonce[24], w[256];
	struct boxs_dec d;
	const uint8_t *p;
	size_t n, used, plen, off = 0;

	(void)state;
	load_key_nonce(key, nonce, V_KEY, V_NONCE);
	n = vector_wire(w);
	assert_int_equal(n, 42 + 42 + 34);
	boxs_dec_init(&d, key, nonce);

	/* the whole wire at once: one frame per call */
	assert_int_equal(boxs_dec_feed(&d, w + off, n - off, &used, &p, &plen), BOXS_FRAME);
	assert_int_equal(used, 42);
	assert_int_equal(plen, 8);
	assert_memory_equal(p, m1, 8);
	off += used;
	assert_int_equal(boxs_dec_feed(&d, w + off, n - off, &used, &p, &plen), BOXS_FRAME);
	assert_int_equal(used, 42);
	assert_int_equal(plen, 8);
	assert_memory_equal(p, m2, 8);
	off += used;
	assert_int_equal(boxs_dec_feed(&d, w + off, n - off, &used, &p, &plen), BOXS_END);
	assert_int_equal(used, 34);
	assert_null(p);
	assert_int_equal(plen, 0);
	/* an empty call after the end repeats the verdict */
	assert_int_equal(boxs_dec_feed(&d, NULL, 0, &used, &p, &plen), BOXS_END);
	assert_int_equal(used, 0);
	boxs_dec_wipe(&d);
}

static void test_derived_e2e(void **state)
{
	static const char pkt_json[] = "{\"name\":[\"room\",\"metadata\"],\"args\":[]}";
	uint8_t key[32], nonce[24], m[64], exp[128], out[BOXS_SEALED_MAX(47)];
	uint8_t bye[BOXS_GOODBYE_BYTES], hplain[BOXS_HEADER_PLAIN_BYTES];
	struct boxs b;
	struct boxs_dec d;
	const uint8_t *p;
	size_t n, used, plen;

	(void)state;
	/* 02 00000026 00000001 {"name":["room","metadata"],"args":[]} */
	n = unhex(m, sizeof(m), "020000002600000001");
	memcpy(m + n, pkt_json, strlen(pkt_json));
	n += strlen(pkt_json);
	assert_int_equal(n, 47);

	load_key_nonce(key, nonce, E_KEY, E_NONCE);
	boxs_init(&b, key, nonce);
	assert_int_equal(boxs_seal(&b, m, n, out), 34 + 47);
	unhex(exp, sizeof(exp), E_HDR);
	assert_memory_equal(out, exp, 34);
	unhex(exp, sizeof(exp), E_BODY);
	assert_memory_equal(out + 34, exp, 47);
	/* the header plaintext is u16(47) || body tag */
	assert_int_equal(crypto_secretbox_open_easy(hplain, out, 34, nonce, key), 0);
	unhex(exp, sizeof(exp), E_HDR_PLAIN);
	assert_memory_equal(hplain, exp, 18);
	boxs_goodbye(&b, bye);
	unhex(exp, sizeof(exp), E_BYE);
	assert_memory_equal(bye, exp, 34);

	/* the server side opens it */
	boxs_dec_init(&d, key, nonce);
	assert_int_equal(boxs_dec_feed(&d, out, 81, &used, &p, &plen), BOXS_FRAME);
	assert_int_equal(used, 81);
	assert_int_equal(plen, 47);
	assert_memory_equal(p, m, 47);
	assert_int_equal(boxs_dec_feed(&d, bye, 34, &used, &p, &plen), BOXS_END);
	boxs_dec_wipe(&d);
	boxs_wipe(&b);
}

/* box-stream-c's carry test: 10000 frames from ff*22 || fd || 00. */
static void test_carry_10000(void **state)
{
	uint8_t key[32], nonce[24], m[64], wire[BOXS_SEALED_MAX(64)], exp[24];
	struct boxs b;
	struct boxs_dec d;
	const uint8_t *p;
	size_t n, used, plen;
	uint64_t s = 1;

	(void)state;
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(i * 7 + 1);
	memset(nonce, 0xff, 22);
	nonce[22] = 0xfd;
	nonce[23] = 0x00;
	boxs_init(&b, key, nonce);
	boxs_dec_init(&d, key, nonce);
	for (int i = 0; i < 10000; i++) {
		size_t len = 1 + rng_next(&s) % sizeof(m);

		for (size_t j = 0; j < len; j++)
			m[j] = (uint8_t)rng_next(&s);
		n = boxs_seal(&b, m, len, wire);
		assert_int_equal(n, BOXS_HEADER_BOXED_BYTES + len);
		assert_int_equal(boxs_dec_feed(&d, wire, n, &used, &p, &plen), BOXS_FRAME);
		assert_int_equal(used, n);
		assert_int_equal(plen, len);
		assert_memory_equal(p, m, len);
	}
	/* 0xff..fffd00 + 20000 wraps past 2^192 to 0x004b20 */
	memset(exp, 0, sizeof(exp));
	exp[22] = 0x4b;
	exp[23] = 0x20;
	assert_memory_equal(b.nonce, exp, 24);
	assert_memory_equal(d.b.nonce, exp, 24);
	boxs_dec_wipe(&d);
	boxs_wipe(&b);
}

/* The all-ones nonce: header at ff..ff, body at 00..00, next 00..01, and the
 * receiver must agree. */
static void test_nonce_wrap(void **state)
{
	uint8_t key[32] = { 9 }, nonce[24], body_nonce[24] = { 0 }, wire[64], m[3] = { 1, 2, 3 };
	uint8_t hplain[18], plain[3];
	struct boxs b;
	struct boxs_dec d;
	const uint8_t *p;
	size_t used, plen;

	(void)state;
	memset(nonce, 0xff, sizeof(nonce));
	boxs_init(&b, key, nonce);
	assert_int_equal(boxs_seal(&b, m, 3, wire), 37);
	assert_int_equal(crypto_secretbox_open_easy(hplain, wire, 34, nonce, key), 0);
	assert_int_equal(crypto_secretbox_open_detached(plain, wire + 34, hplain + 2, 3, body_nonce, key), 0);
	assert_memory_equal(plain, m, 3);
	body_nonce[23] = 1;
	assert_memory_equal(b.nonce, body_nonce, 24);
	boxs_dec_init(&d, key, nonce);
	assert_int_equal(boxs_dec_feed(&d, wire, 37, &used, &p, &plen), BOXS_FRAME);
	assert_memory_equal(p, m, 3);
	assert_memory_equal(d.b.nonce, body_nonce, 24);
	boxs_dec_wipe(&d);
	boxs_wipe(&b);
}

static void test_split_4096(void **state)
{
	static const size_t lens[] = { 1, 4095, 4096, 4097, 8192, 10000 };
	uint8_t key[32] = { 1 }, nonce[24] = { 2 };
	struct boxs b;
	struct boxs_dec d;
	uint8_t *m = malloc(10000), *wire = malloc(BOXS_SEALED_MAX(10000));
	const uint8_t *p;
	size_t used, plen;

	(void)state;
	assert_non_null(m);
	assert_non_null(wire);
	for (size_t i = 0; i < 10000; i++)
		m[i] = (uint8_t)(i * 31);
	assert_int_equal(BOXS_SEALED_MAX(4096), 4096 + 34);
	assert_int_equal(BOXS_SEALED_MAX(4097), 4097 + 68);
	boxs_init(&b, key, nonce);
	boxs_dec_init(&d, key, nonce);
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		size_t len = lens[k], frames = (len + 4095) / 4096, n, off = 0, got = 0;

		n = boxs_seal(&b, m, len, wire);
		assert_int_equal(n, len + frames * 34);
		assert_int_equal(n, BOXS_SEALED_MAX(len));
		for (size_t f = 0; f < frames; f++) {
			size_t want = len - got < 4096 ? len - got : 4096;

			/* every frame but the last is exactly 4096 */
			assert_int_equal(boxs_dec_feed(&d, wire + off, n - off, &used, &p, &plen), BOXS_FRAME);
			assert_int_equal(plen, want);
			assert_memory_equal(p, m + got, plen);
			off += used;
			got += plen;
		}
		assert_int_equal(off, n);
		assert_int_equal(got, len);
	}
	boxs_dec_wipe(&d);
	free(m);
	free(wire);
}

/* Builds a wire of nframes frames of pseudo-random lengths plus goodbye;
 * returns its size, the plaintext in *pt (ptlen bytes). */
static size_t build_stream(const uint8_t key[32], const uint8_t nonce[24], int nframes,
                           uint8_t **wire, uint8_t **pt, size_t *ptlen)
{
	struct boxs b;
	uint64_t s = 42;
	size_t wlen = 0, plen = 0;

	*pt = malloc((size_t)nframes * 5000);
	*wire = malloc((size_t)nframes * (5000 + 2 * 34) + 34);
	assert_non_null(*pt);
	assert_non_null(*wire);
	boxs_init(&b, key, nonce);
	for (int i = 0; i < nframes; i++) {
		/* mostly small, sometimes over 4096 so seal splits */
		size_t len = 1 + (i % 7 == 0 ? rng_next(&s) % 5000 : rng_next(&s) % 300);

		for (size_t j = 0; j < len; j++)
			(*pt)[plen + j] = (uint8_t)rng_next(&s);
		wlen += boxs_seal(&b, *pt + plen, len, *wire + wlen);
		plen += len;
	}
	boxs_goodbye(&b, *wire + wlen);
	wlen += BOXS_GOODBYE_BYTES;
	*ptlen = plen;
	return wlen;
}

/* Feeds wire in chunks (size 1 if maxchunk is 1, else random 1..maxchunk)
 * and checks the plaintext and the clean end. */
static void feed_in_chunks(size_t maxchunk)
{
	uint8_t key[32] = { 3, 1, 4 }, nonce[24] = { 1, 5, 9 };
	uint8_t *wire, *pt, *got;
	size_t wlen, ptlen, off = 0, glen = 0;
	struct boxs_dec d;
	uint64_t s = maxchunk;
	bool ended = false;

	wlen = build_stream(key, nonce, 200, &wire, &pt, &ptlen);
	got = malloc(ptlen);
	assert_non_null(got);
	boxs_dec_init(&d, key, nonce);
	while (off < wlen) {
		size_t chunk = maxchunk == 1 ? 1 : 1 + rng_next(&s) % maxchunk;
		size_t coff = 0;

		if (chunk > wlen - off)
			chunk = wlen - off;
		/* drain one chunk the way a read callback would */
		while (coff < chunk) {
			const uint8_t *p;
			size_t used, plen;
			enum boxs_result r = boxs_dec_feed(&d, wire + off + coff, chunk - coff, &used, &p, &plen);

			assert_true(r == BOXS_AGAIN || r == BOXS_FRAME || r == BOXS_END);
			coff += used;
			if (r == BOXS_AGAIN) {
				assert_int_equal(coff, chunk);
			} else if (r == BOXS_FRAME) {
				assert_true(plen >= 1 && plen <= 4096);
				assert_true(glen + plen <= ptlen);
				memcpy(got + glen, p, plen);
				glen += plen;
			} else {
				ended = true;
			}
		}
		off += chunk;
	}
	assert_true(ended);
	assert_int_equal(glen, ptlen);
	assert_memory_equal(got, pt, ptlen);
	boxs_dec_wipe(&d);
	free(wire);
	free(pt);
	free(got);
}

static void test_byte_at_a_time(void **state)
{
	(void)state;
	feed_in_chunks(1);
}

static void test_random_chunks(void **state)
{
	(void)state;
	feed_in_chunks(7);
	feed_in_chunks(100);
	feed_in_chunks(5000);
	feed_in_chunks(70000);
}

/* After any error every call fails, even with valid bytes. */
static void assert_dead(struct boxs_dec *d, const uint8_t *valid, size_t n)
{
	const uint8_t *p;
	size_t used, plen;

	assert_true(d->failed);
	assert_int_equal(boxs_dec_feed(d, valid, n, &used, &p, &plen), BOXS_EBADHDR);
	assert_int_equal(used, 0);
	assert_null(p);
	assert_int_equal(boxs_dec_feed(d, NULL, 0, &used, &p, &plen), BOXS_EBADHDR);
}

static void test_flipped_bits(void **state)
{
	uint8_t key[32], nonce[24], w[256], bad[256];
	struct boxs_dec d;
	const uint8_t *p;
	size_t n, used, plen;

	(void)state;
	load_key_nonce(key, nonce, V_KEY, V_NONCE);
	n = vector_wire(w);
	/* every bit of frame 1 (header 0..33, body 34..41) */
	for (size_t bit = 0; bit < 42 * 8; bit++) {
		enum boxs_result r;

		memcpy(bad, w, n);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		boxs_dec_init(&d, key, nonce);
		r = boxs_dec_feed(&d, bad, n, &used, &p, &plen);
		assert_int_equal(r, bit < 34 * 8 ? BOXS_EBADHDR : BOXS_EBADBODY);
		assert_null(p);
		assert_dead(&d, w, n);
	}
	/* the same through the staged (split) path: header, then body bytes */
	memcpy(bad, w, n);
	bad[40] ^= 0x80;
	boxs_dec_init(&d, key, nonce);
	assert_int_equal(boxs_dec_feed(&d, bad, 20, &used, &p, &plen), BOXS_AGAIN);
	assert_int_equal(boxs_dec_feed(&d, bad + 20, 20, &used, &p, &plen), BOXS_AGAIN);
	assert_int_equal(boxs_dec_feed(&d, bad + 40, 2, &used, &p, &plen), BOXS_EBADBODY);
	assert_dead(&d, w, n);
	memcpy(bad, w, n);
	bad[5] ^= 1;
	boxs_dec_init(&d, key, nonce);
	assert_int_equal(boxs_dec_feed(&d, bad, 33, &used, &p, &plen), BOXS_AGAIN);
	assert_int_equal(boxs_dec_feed(&d, bad + 33, 9, &used, &p, &plen), BOXS_EBADHDR);
	assert_dead(&d, w, n);
	/* a flipped goodbye is not an end */
	memcpy(bad, w, n);
	bad[84 + 17] ^= 4;
	boxs_dec_init(&d, key, nonce);
	assert_int_equal(boxs_dec_feed(&d, bad, n, &used, &p, &plen), BOXS_FRAME);
	assert_int_equal(boxs_dec_feed(&d, bad + 42, n - 42, &used, &p, &plen), BOXS_FRAME);
	assert_int_equal(boxs_dec_feed(&d, bad + 84, n - 84, &used, &p, &plen), BOXS_EBADHDR);
	assert_false(d.ended);
	boxs_dec_wipe(&d);
}

static void test_wrong_order_and_key(void **state)
{
	uint8_t key[32], nonce[24], w[256];
	struct boxs_dec d;
	const uint8_t *p;
	size_t used, plen;

	(void)state;
	load_key_nonce(key, nonce, V_KEY, V_NONCE);
	vector_wire(w);
	/* frame 2 first: its header was sealed at n+2 */
	boxs_dec_init(&d, key, nonce);
	assert_int_equal(boxs_dec_feed(&d, w + 42, 42, &used, &p, &plen), BOXS_EBADHDR);
	/* the goodbye out of place is not accepted either */
	boxs_dec_init(&d, key, nonce);
	assert_int_equal(boxs_dec_feed(&d, w + 84, 34, &used, &p, &plen), BOXS_EBADHDR);
	/* replaying frame 1 */
	boxs_dec_init(&d, key, nonce);
	assert_int_equal(boxs_dec_feed(&d, w, 42, &used, &p, &plen), BOXS_FRAME);
	assert_int_equal(boxs_dec_feed(&d, w, 42, &used, &p, &plen), BOXS_EBADHDR);
	/* the other direction's key */
	key[0] ^= 1;
	boxs_dec_init(&d, key, nonce);
	assert_int_equal(boxs_dec_feed(&d, w, 42, &used, &p, &plen), BOXS_EBADHDR);
	boxs_dec_wipe(&d);
}

static void test_truncated(void **state)
{
	uint8_t key[32], nonce[24], w[256];
	struct boxs_dec d;
	const uint8_t *p;
	size_t n, used, plen;

	(void)state;
	load_key_nonce(key, nonce, V_KEY, V_NONCE);
	n = vector_wire(w);
	/* every prefix of frame 1 consumes everything and yields nothing */
	for (size_t cut = 0; cut < 42; cut++) {
		boxs_dec_init(&d, key, nonce);
		assert_int_equal(boxs_dec_feed(&d, w, cut, &used, &p, &plen), BOXS_AGAIN);
		assert_int_equal(used, cut);
		assert_null(p);
		assert_int_equal(plen, 0);
		/* the rest completes it */
		assert_int_equal(boxs_dec_feed(&d, w + cut, n - cut, &used, &p, &plen), BOXS_FRAME);
		assert_int_equal(used, 42 - cut);
		assert_memory_equal(p, m1, 8);
	}
	/* a stream cut inside the goodbye never reports the end */
	boxs_dec_init(&d, key, nonce);
	assert_int_equal(boxs_dec_feed(&d, w, 42, &used, &p, &plen), BOXS_FRAME);
	assert_int_equal(boxs_dec_feed(&d, w + 42, 42, &used, &p, &plen), BOXS_FRAME);
	assert_int_equal(boxs_dec_feed(&d, w + 84, 33, &used, &p, &plen), BOXS_AGAIN);
	assert_false(d.ended);
	boxs_dec_wipe(&d);
}

/* A header with a valid MAC announcing len, for the raw checks below. */
static void craft_header(uint8_t out[34], const uint8_t key[32], const uint8_t nonce[24],
                         unsigned len, uint8_t tagbyte)
{
	uint8_t h[18];

	memset(h, tagbyte, sizeof(h));
	h[0] = (uint8_t)(len >> 8);
	h[1] = (uint8_t)len;
	crypto_secretbox_easy(out, h, sizeof(h), nonce, key);
}

static void test_too_big_and_empty(void **state)
{
	static const unsigned bigs[] = { 4097, 0x8000, 0xffff };
	uint8_t key[32], nonce[24], w[256], h[34];
	struct boxs_dec d;
	const uint8_t *p;
	size_t used, plen;

	(void)state;
	load_key_nonce(key, nonce, V_KEY, V_NONCE);
	vector_wire(w);
	for (size_t i = 0; i < sizeof(bigs) / sizeof(bigs[0]); i++) {
		craft_header(h, key, nonce, bigs[i], 0xaa);
		boxs_dec_init(&d, key, nonce);
		assert_int_equal(boxs_dec_feed(&d, h, 34, &used, &p, &plen), BOXS_ETOOBIG);
		assert_dead(&d, w, 42);
	}
	/* exactly 4096 is fine: the decoder waits for its body */
	craft_header(h, key, nonce, 4096, 0xaa);
	boxs_dec_init(&d, key, nonce);
	assert_int_equal(boxs_dec_feed(&d, h, 34, &used, &p, &plen), BOXS_AGAIN);
	assert_int_equal(d.body_len, 4096);
	/* length 0 with a non-zero tag: a protocol error, never an empty frame */
	craft_header(h, key, nonce, 0, 0x01);
	boxs_dec_init(&d, key, nonce);
	assert_int_equal(boxs_dec_feed(&d, h, 34, &used, &p, &plen), BOXS_EBADHDR);
	assert_dead(&d, w, 42);
	/* ... while length 0 with a zero tag is the goodbye */
	craft_header(h, key, nonce, 0, 0x00);
	boxs_dec_init(&d, key, nonce);
	assert_int_equal(boxs_dec_feed(&d, h, 34, &used, &p, &plen), BOXS_END);
	boxs_dec_wipe(&d);
}

static void test_after_goodbye(void **state)
{
	uint8_t key[32], nonce[24], w[256], x[120];
	struct boxs_dec d;
	const uint8_t *p;
	size_t n, used, plen;

	(void)state;
	load_key_nonce(key, nonce, V_KEY, V_NONCE);
	n = vector_wire(w);
	/* goodbye followed by one more byte in the same slice */
	memcpy(x, w + 84, 34);
	x[34] = 0;
	boxs_dec_init(&d, key, nonce);
	assert_int_equal(boxs_dec_feed(&d, w, 42, &used, &p, &plen), BOXS_FRAME);
	assert_int_equal(boxs_dec_feed(&d, w + 42, 42, &used, &p, &plen), BOXS_FRAME);
	assert_int_equal(boxs_dec_feed(&d, x, 35, &used, &p, &plen), BOXS_END);
	assert_int_equal(used, 34);
	assert_int_equal(boxs_dec_feed(&d, x + 34, 1, &used, &p, &plen), BOXS_EBADHDR);
	assert_dead(&d, w, n);
	boxs_dec_wipe(&d);
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(boxs_strerror(BOXS_EBADHDR), "invalid box-stream header");
	assert_string_equal(boxs_strerror(BOXS_EBADBODY), "invalid box-stream body");
	assert_non_null(strstr(boxs_strerror(BOXS_ETOOBIG), "4096"));
	assert_non_null(boxs_strerror((enum boxs_result)99));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_seal),
		cmocka_unit_test(test_vectors_open),
		cmocka_unit_test(test_derived_e2e),
		cmocka_unit_test(test_carry_10000),
		cmocka_unit_test(test_nonce_wrap),
		cmocka_unit_test(test_split_4096),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_random_chunks),
		cmocka_unit_test(test_flipped_bits),
		cmocka_unit_test(test_wrong_order_and_key),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_too_big_and_empty),
		cmocka_unit_test(test_after_goodbye),
		cmocka_unit_test(test_strerror),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
