/* Packet-stream codec tests: the vectors of protocol.md §5.8 encoded and
 * decoded exactly, every slicing of the stream, goodbye, type 3, caps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "psc.h"

struct vec {
	const char *hdr;   /* 9-byte header, hex */
	uint8_t flags;
	int32_t req;
	const char *body;  /* body as text (all vector bodies are printable) */
};

/* protocol.md §5.8, run through packet-stream-codec 1.2.0 */
static const struct vec vecs[] = {
	{ "020000001700000000", 0x02, 0, "[\"event\",{\"okay\":true}]" },
	{ "010000000800000001", 0x01, 1, "whatever" },
	{ "080000000500000002", 0x08, 2, "hello" },
	{ "0800000007fffffffe", 0x08, -2, "goodbye" },
	{ "0600000033fffffffd", 0x06, -3, "{\"message\":\"intentional\",\"name\":\"Error\",\"stack\":\"\"}" },
	{ "0e0000000400000002", 0x0e, 2, "true" },
	{ "0e00000004fffffffe", 0x0e, -2, "true" },
	{ "020000002600000001", 0x02, 1, "{\"name\":[\"tunnel\",\"isRoom\"],\"args\":[]}" },
	{ "0a0000005400000001", 0x0a, 1,
	  "{\"name\":[\"tunnel\",\"connect\"],\"args\":[{\"target\":\"@T\",\"portal\":\"@P\"}],\"type\":\"duplex\"}" },
};
#define NVECS (sizeof(vecs) / sizeof(vecs[0]))
#define GOODBYE_HEX "000000000000000000"

static void unhex9(uint8_t out[9], const char *hex)
{
	size_t len = 0;

	assert_int_equal(sodium_hex2bin(out, 9, hex, strlen(hex), NULL, &len, NULL), 0);
	assert_int_equal(len, 9);
}

static uint32_t rng_next(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(*s >> 33);
}

/* All vectors back to back, then the goodbye. */
static size_t build_stream(uint8_t *w)
{
	size_t n = 0;

	for (size_t i = 0; i < NVECS; i++) {
		unhex9(w + n, vecs[i].hdr);
		n += 9;
		memcpy(w + n, vecs[i].body, strlen(vecs[i].body));
		n += strlen(vecs[i].body);
	}
	unhex9(w + n, GOODBYE_HEX);
	return n + 9;
}

static void test_encode_vectors(void **state)
{
	uint8_t exp[9], out[9], flags;
	uint32_t len;
	int32_t req;

	(void)state;
	for (size_t i = 0; i < NVECS; i++) {
		unhex9(exp, vecs[i].hdr);
		psc_encode_header(out, vecs[i].flags, (uint32_t)strlen(vecs[i].body), vecs[i].req);
		assert_memory_equal(out, exp, 9);
		psc_decode_header(exp, &flags, &len, &req);
		assert_int_equal(flags, vecs[i].flags);
		assert_int_equal(len, strlen(vecs[i].body));
		assert_int_equal(req, vecs[i].req);
	}
	unhex9(exp, GOODBYE_HEX);
	psc_encode_header(out, 0, 0, 0);
	assert_memory_equal(out, exp, 9);
}

static void test_req_extremes(void **state)
{
	static const int32_t reqs[] = { INT32_MIN, INT32_MIN + 1, -65536, -1, 0, 1, 0x7ffffffe, INT32_MAX };
	uint8_t out[9], flags;
	uint32_t len;
	int32_t req;

	(void)state;
	psc_encode_header(out, 0x0a, 0xfffffffe, INT32_MIN);
	assert_int_equal(out[1], 0xff);
	assert_int_equal(out[4], 0xfe);
	assert_int_equal(out[5], 0x80);
	assert_int_equal(out[8], 0x00);
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		psc_encode_header(out, 0x0a, 0xfffffffe, reqs[i]);
		psc_decode_header(out, &flags, &len, &req);
		assert_int_equal(flags, 0x0a);
		assert_int_equal(len, 0xfffffffe);
		assert_int_equal(req, reqs[i]);
	}
}

/* Checks packet i against vector i and frees it. */
static void check_packet(struct psc_packet *p, size_t i)
{
	size_t blen = strlen(vecs[i].body);

	assert_int_equal(p->flags, vecs[i].flags);
	assert_int_equal(p->req, vecs[i].req);
	assert_int_equal(p->len, blen);
	assert_non_null(p->body);
	assert_memory_equal(p->body, vecs[i].body, blen);
	/* NUL-terminated so string/JSON bodies parse in place */
	assert_int_equal(p->body[blen], '\0');
	assert_string_equal((const char *)p->body, vecs[i].body);
	free(p->body);
	p->body = NULL;
}

/* Feeds the vector stream in chunks of 1..maxchunk (1 = byte at a time). */
static void feed_in_chunks(size_t maxchunk, uint64_t seed)
{
	uint8_t w[1024];
	size_t n = build_stream(w), off = 0, npkt = 0;
	struct psc_dec d;
	bool bye = false;
	uint64_t s = seed;

	psc_dec_init(&d, PSC_DEFAULT_MAX_BODY);
	while (off < n) {
		size_t chunk = maxchunk == 1 ? 1 : 1 + rng_next(&s) % maxchunk, coff = 0;

		if (chunk > n - off)
			chunk = n - off;
		while (coff < chunk && !bye) {
			struct psc_packet p;
			size_t used;
			enum psc_result r = psc_dec_feed(&d, w + off + coff, chunk - coff, &used, &p);

			coff += used;
			if (r == PSC_AGAIN) {
				assert_int_equal(coff, chunk);
			} else if (r == PSC_PACKET) {
				assert_true(npkt < NVECS);
				check_packet(&p, npkt++);
			} else {
				assert_int_equal(r, PSC_GOODBYE);
				bye = true;
			}
		}
		off += chunk;
	}
	assert_true(bye);
	assert_int_equal(npkt, NVECS);
	psc_dec_free(&d);
}

static void test_decode_whole(void **state)
{
	uint8_t w[1024];
	size_t n = build_stream(w), off = 0, used;
	struct psc_dec d;
	struct psc_packet p;

	(void)state;
	psc_dec_init(&d, PSC_DEFAULT_MAX_BODY);
	/* one packet per call, consuming exactly header + body */
	for (size_t i = 0; i < NVECS; i++) {
		assert_int_equal(psc_dec_feed(&d, w + off, n - off, &used, &p), PSC_PACKET);
		assert_int_equal(used, 9 + strlen(vecs[i].body));
		check_packet(&p, i);
		off += used;
	}
	assert_int_equal(psc_dec_feed(&d, w + off, n - off, &used, &p), PSC_GOODBYE);
	assert_int_equal(used, 9);
	/* afterwards it keeps saying goodbye and takes nothing */
	assert_int_equal(psc_dec_feed(&d, w, n, &used, &p), PSC_GOODBYE);
	assert_int_equal(used, 0);
	psc_dec_free(&d);
}

static void test_byte_at_a_time(void **state)
{
	(void)state;
	feed_in_chunks(1, 1);
}

static void test_random_chunks(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 50; seed++)
		feed_in_chunks(2 + seed % 40, seed);
	feed_in_chunks(2000, 7);
}

/* JS quirk: any zero length is the goodbye, whatever flags and req say. */
static void test_goodbye_any_flags(void **state)
{
	static const uint8_t flagset[] = { 0x00, 0x02, 0x0a, 0x0e, 0x03, 0xff };
	uint8_t h[9];
	struct psc_dec d;
	struct psc_packet p;
	size_t used;

	(void)state;
	for (size_t i = 0; i < sizeof(flagset); i++) {
		psc_encode_header(h, flagset[i], 0, 5);
		psc_dec_init(&d, 100);
		assert_int_equal(psc_dec_feed(&d, h, 9, &used, &p), PSC_GOODBYE);
		assert_int_equal(used, 9);
		assert_true(d.ended);
		psc_dec_free(&d);
	}
	/* a partial goodbye is not one yet */
	psc_dec_init(&d, 100);
	assert_int_equal(psc_dec_feed(&d, h, 8, &used, &p), PSC_AGAIN);
	assert_false(d.ended);
	assert_int_equal(psc_dec_feed(&d, h + 8, 1, &used, &p), PSC_GOODBYE);
	psc_dec_free(&d);
}

static void test_type3(void **state)
{
	uint8_t w[32];
	struct psc_dec d;
	struct psc_packet p;
	size_t used;

	(void)state;
	psc_encode_header(w, 0x0b, 3, 1);
	memcpy(w + 9, "abc", 3);
	psc_dec_init(&d, 100);
	assert_int_equal(psc_dec_feed(&d, w, 12, &used, &p), PSC_ETYPE);
	assert_int_equal(used, 9);
	assert_null(d.cur.body);
	/* sticky: the stream cannot be resynchronised */
	assert_int_equal(psc_dec_feed(&d, w + 9, 3, &used, &p), PSC_ETYPE);
	assert_int_equal(used, 0);
	psc_dec_free(&d);
	/* type 3 split over calls */
	psc_encode_header(w, 0x03, 1, -1);
	psc_dec_init(&d, 100);
	assert_int_equal(psc_dec_feed(&d, w, 4, &used, &p), PSC_AGAIN);
	assert_int_equal(psc_dec_feed(&d, w + 4, 5, &used, &p), PSC_ETYPE);
	psc_dec_free(&d);
}

static void test_oversize(void **state)
{
	uint8_t w[64];
	struct psc_dec d;
	struct psc_packet p;
	size_t used;

	(void)state;
	memset(w, 'x', sizeof(w));
	/* at the cap: accepted */
	psc_encode_header(w, 0x08, 16, 3);
	psc_dec_init(&d, 16);
	assert_int_equal(psc_dec_feed(&d, w, 9 + 16, &used, &p), PSC_PACKET);
	assert_int_equal(p.len, 16);
	free(p.body);
	/* one over: refused before any allocation, and sticky */
	psc_encode_header(w, 0x08, 17, 3);
	assert_int_equal(psc_dec_feed(&d, w, 9 + 17, &used, &p), PSC_ETOOBIG);
	assert_int_equal(used, 9);
	assert_null(d.cur.body);
	assert_int_equal(psc_dec_feed(&d, w + 9, 17, &used, &p), PSC_ETOOBIG);
	psc_dec_free(&d);
	/* default cap (also what 0 means) against a u32 length near the top */
	psc_dec_init(&d, 0);
	assert_int_equal(d.max_body, PSC_DEFAULT_MAX_BODY);
	psc_encode_header(w, 0x08, PSC_DEFAULT_MAX_BODY + 1, 3);
	assert_int_equal(psc_dec_feed(&d, w, 9, &used, &p), PSC_ETOOBIG);
	psc_dec_free(&d);
	psc_dec_init(&d, PSC_DEFAULT_MAX_BODY);
	psc_encode_header(w, 0x02, 0xffffffff, 3);
	assert_int_equal(psc_dec_feed(&d, w, 9, &used, &p), PSC_ETOOBIG);
	psc_dec_free(&d);
}

/* A body cut off mid-way is freed by psc_dec_free (LeakSanitizer checks). */
static void test_partial_free(void **state)
{
	uint8_t w[64];
	struct psc_dec d;
	struct psc_packet p;
	size_t used;

	(void)state;
	psc_encode_header(w, 0x08, 40, 9);
	memset(w + 9, 'y', 40);
	psc_dec_init(&d, 100);
	assert_int_equal(psc_dec_feed(&d, w, 20, &used, &p), PSC_AGAIN);
	assert_int_equal(used, 20);
	assert_true(d.in_body);
	assert_non_null(d.cur.body);
	assert_int_equal(psc_dec_feed(&d, NULL, 0, &used, &p), PSC_AGAIN);
	assert_int_equal(used, 0);
	psc_dec_free(&d);
	assert_null(d.cur.body);
	/* a large binary body still arrives whole */
	psc_dec_init(&d, 100);
	assert_int_equal(psc_dec_feed(&d, w, 49, &used, &p), PSC_PACKET);
	assert_int_equal(p.len, 40);
	assert_int_equal(psc_is_stream(&p), true);
	assert_int_equal(psc_is_end(&p), false);
	assert_int_equal(psc_type(&p), PSC_BINARY);
	assert_int_equal(p.req, 9);
	free(p.body);
	psc_dec_free(&d);
}

static void test_strerror(void **state)
{
	(void)state;
	assert_non_null(strstr(psc_strerror(PSC_ETYPE), "type 3"));
	assert_non_null(strstr(psc_strerror(PSC_ETOOBIG), "limit"));
	assert_string_equal(psc_strerror(PSC_ENOMEM), "out of memory");
	assert_non_null(psc_strerror((enum psc_result)42));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_vectors),
		cmocka_unit_test(test_req_extremes),
		cmocka_unit_test(test_decode_whole),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_random_chunks),
		cmocka_unit_test(test_goodbye_any_flags),
		cmocka_unit_test(test_type3),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_partial_free),
		cmocka_unit_test(test_strerror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
