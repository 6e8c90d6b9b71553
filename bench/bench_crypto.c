/* bench_crypto — box-stream throughput against raw libsodium secretbox.
 *
 *   bench_crypto [--quick]
 *
 * One round seals a 1 MiB buffer in 4096-byte frames and decodes the wire
 * with boxs_dec_feed in 64 KiB slices, the way a socket delivers it. The
 * baseline round does crypto_secretbox_easy + crypto_secretbox_open_easy on
 * the same bytes in 4096-byte messages: the floor every box-stream has to
 * pay. MB/s counts plaintext megabytes (10^6) sealed and opened per
 * second. Each figure is the best of many timed rounds (best, not mean: we
 * measure the code, not the machine's other load). The ratio target is 0.80.
 * A last, informational line times the packet-stream decoder on 4 KiB binary
 * stream items. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "boxs.h"
#include "psc.h"

#define BUF_BYTES (1u << 20)
#define FRAME 4096
#define SLICE (64u * 1024)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Guards against the compiler (or a bug) discarding the work. */
static volatile uint8_t sink;

static int round_boxs(const uint8_t *m, uint8_t *wire, const uint8_t key[32], const uint8_t nonce[24])
{
	static struct boxs_dec d;
	struct boxs b;
	size_t wlen, off = 0, got = 0;
	uint8_t acc = 0;

	boxs_init(&b, key, nonce);
	wlen = boxs_seal(&b, m, BUF_BYTES, wire);
	boxs_dec_init(&d, key, nonce);
	while (off < wlen) {
		size_t slice = wlen - off < SLICE ? wlen - off : SLICE, c = 0;

		while (c < slice) {
			const uint8_t *p;
			size_t used, plen;
			enum boxs_result r = boxs_dec_feed(&d, wire + off + c, slice - c, &used, &p, &plen);

			if (r < 0)
				return -1;
			c += used;
			if (r == BOXS_FRAME) {
				acc ^= p[plen - 1];
				got += plen;
			}
		}
		off += slice;
	}
	sink = acc;
	boxs_wipe(&b);
	return got == BUF_BYTES ? 0 : -1;
}

static int round_raw(const uint8_t *m, uint8_t *c, uint8_t *out, const uint8_t key[32], const uint8_t nonce[24])
{
	uint8_t n[24];
	const size_t cl = FRAME + crypto_secretbox_MACBYTES;

	/* a distinct nonce per message, as any correct user needs */
	memcpy(n, nonce, sizeof(n));
	for (size_t i = 0; i < BUF_BYTES / FRAME; i++) {
		n[0] = (uint8_t)i;
		n[1] = (uint8_t)(i >> 8);
		crypto_secretbox_easy(c + i * cl, m + i * FRAME, FRAME, n, key);
	}
	for (size_t i = 0; i < BUF_BYTES / FRAME; i++) {
		n[0] = (uint8_t)i;
		n[1] = (uint8_t)(i >> 8);
		if (crypto_secretbox_open_easy(out + i * FRAME, c + i * cl, cl, n, key) != 0)
			return -1;
	}
	sink = out[BUF_BYTES - 1];
	return 0;
}

/* Decodes the whole psc wire in 64 KiB slices; returns body bytes seen. */
static size_t round_psc(const uint8_t *w, size_t wlen)
{
	struct psc_dec d;
	size_t off = 0, got = 0;

	psc_dec_init(&d, PSC_DEFAULT_MAX_BODY);
	while (off < wlen) {
		size_t slice = wlen - off < SLICE ? wlen - off : SLICE, c = 0;

		while (c < slice) {
			struct psc_packet p;
			size_t used;
			enum psc_result r = psc_dec_feed(&d, w + off + c, slice - c, &used, &p);

			c += used;
			if (r == PSC_PACKET) {
				got += p.len;
				sink = p.body[0];
				free(p.body);
			} else if (r != PSC_AGAIN) {
				psc_dec_free(&d);
				return 0;
			}
		}
		off += slice;
	}
	psc_dec_free(&d);
	return got;
}

int main(int argc, char **argv)
{
	bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
	/* full: ~2-5 s in all; quick: a CI smoke run of about half a second */
	int rounds = quick ? 100 : 600;
	uint8_t key[32], nonce[24];
	uint8_t *m = malloc(BUF_BYTES), *wire = malloc(BOXS_SEALED_MAX(BUF_BYTES));
	uint8_t *c = malloc(BUF_BYTES + (BUF_BYTES / FRAME) * crypto_secretbox_MACBYTES);
	uint8_t *out = malloc(BUF_BYTES), *pw;
	double best_boxs = 0, best_raw = 0, best_psc = 0, mb = (double)BUF_BYTES / 1e6;
	size_t items = BUF_BYTES / FRAME, pwlen = items * (PSC_HEADER_BYTES + FRAME);
	int rc = 1;

	pw = malloc(pwlen);
	if (sodium_init() < 0 || !m || !wire || !c || !out || !pw)
		goto out;
	/* inputs are fixed, not random: runs are comparable */
	for (size_t i = 0; i < BUF_BYTES; i++)
		m[i] = (uint8_t)(i * 131 + 7);
	memset(key, 0x5a, sizeof(key));
	memset(nonce, 0xa5, sizeof(nonce));
	for (size_t i = 0; i < items; i++) {
		psc_encode_header(pw + i * (PSC_HEADER_BYTES + FRAME), PSC_FLAG_STREAM | PSC_BINARY,
		                  FRAME, -(int32_t)(i % 100 + 1));
		memcpy(pw + i * (PSC_HEADER_BYTES + FRAME) + PSC_HEADER_BYTES, m + i * FRAME, FRAME);
	}

	/* One untimed round of each first: page faults on the fresh buffers
	 * and cold caches would otherwise land on whoever runs first. */
	if (round_boxs(m, wire, key, nonce) != 0 || round_raw(m, c, out, key, nonce) != 0 ||
	    round_psc(pw, pwlen) != BUF_BYTES) {
		fprintf(stderr, "bench_crypto: warm-up round failed\n");
		goto out;
	}
	/* Alternate single rounds (a few ms each) and keep each kind's fastest:
	 * on a shared machine a burst of other load then spoils a few samples
	 * of both kinds alike instead of one kind's whole run. */
	for (int r = 0; r < rounds; r++) {
		double t0 = now(), t1, t2, t3;

		if (round_boxs(m, wire, key, nonce) != 0) {
			fprintf(stderr, "bench_crypto: box-stream round trip failed\n");
			goto out;
		}
		t1 = now();
		if (round_raw(m, c, out, key, nonce) != 0) {
			fprintf(stderr, "bench_crypto: secretbox round trip failed\n");
			goto out;
		}
		t2 = now();
		if (round_psc(pw, pwlen) != BUF_BYTES) {
			fprintf(stderr, "bench_crypto: packet-stream decode failed\n");
			goto out;
		}
		t3 = now();
		if (mb / (t1 - t0) > best_boxs)
			best_boxs = mb / (t1 - t0);
		if (mb / (t2 - t1) > best_raw)
			best_raw = mb / (t2 - t1);
		if (mb / (t3 - t2) > best_psc)
			best_psc = mb / (t3 - t2);
	}
	printf("boxstream: %.1f MB/s encrypt+decrypt; raw secretbox: %.1f MB/s; ratio %.2f (target >= 0.80)\n",
	       best_boxs, best_raw, best_boxs / best_raw);
	printf("packet-stream decode: %.1f MB/s (4 KiB binary stream items, informational)\n", best_psc);
	rc = 0;
out:
	free(m);
	free(wire);
	free(c);
	free(out);
	free(pw);
	return rc;
}
