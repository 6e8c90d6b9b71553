/* bench_shs — what a full secret handshake costs, and how much of that is
 * libsodium.
 *
 *   bench_shs [--quick]       (~3 s, or ~0.5 s for a CI smoke run)
 *
 * Figure 1: full handshakes per second, both sides computed in-process
 * through src/ssb/shs.c (init, msg1..msg4, both outcomes, wipes).
 * Figure 2: the same libsodium calls a handshake makes, each op timed in a
 * loop of its own and summed with its per-handshake count (table below).
 * The ratio of the two is what the state machine adds on top of the
 * crypto (copies, wipes, checks): the target is <= 1.25.
 *
 * The machine is shared and noisy, so both are measured in several rounds,
 * interleaved, and the best round of each is kept. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "shs.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Fixed long-term keys and a ring of ephemeral secrets (drawn before any
 * timing starts, so the RNG is not measured). */
#define EPH_RING 64
static uint8_t net[32], apk[32], ask[64], bpk[32], bsk[64];
static uint8_t eph[EPH_RING][2][32];

static int one_handshake(unsigned i)
{
	struct shs c, s;
	struct shs_outcome oc, os;
	uint8_t m1[64], m2[64], m3[112], m4[80];
	int rc;

	shs_client_init(&c, net, apk, ask, bpk, eph[i % EPH_RING][0]);
	shs_server_init(&s, net, bpk, bsk, eph[i % EPH_RING][1]);
	rc = shs_client_hello(&c, m1);
	rc = rc ? rc : shs_server_verify_hello(&s, m1);
	rc = rc ? rc : shs_server_hello(&s, m2);
	rc = rc ? rc : shs_client_verify_hello(&c, m2);
	rc = rc ? rc : shs_client_auth(&c, m3);
	rc = rc ? rc : shs_server_verify_auth(&s, m3);
	rc = rc ? rc : shs_server_accept(&s, m4);
	rc = rc ? rc : shs_client_verify_accept(&c, m4);
	rc = rc ? rc : shs_outcome(&c, &oc);
	rc = rc ? rc : shs_outcome(&s, &os);
	if (rc == 0 && sodium_memcmp(oc.enc_key, os.dec_key, 32) != 0)
		rc = -EPROTO;
	shs_outcome_wipe(&oc);
	shs_outcome_wipe(&os);
	shs_wipe(&c);
	shs_wipe(&s);
	return rc;
}

/* Seconds per handshake over a run of about `budget` seconds. */
static double time_handshakes(double budget)
{
	unsigned n = 0;
	double t0 = now(), t;

	do {
		if (one_handshake(n++) != 0) {
			fprintf(stderr, "bench_shs: handshake failed\n");
			exit(1);
		}
		t = now() - t0;
	} while (t < budget);
	return t / n;
}

/* --- the raw operations, with valid inputs prepared once --------------- */

static uint8_t x_sk[32], x_pk[32], x_out[32], x_edpk[32];
static uint8_t buf[160], box96[112], box64[80], sig96[64], sig160[64], tag[32], hash[32], box_key[32];
static uint8_t plain[96];
static const uint8_t zero_nonce[24];
static volatile int sink;

static void op_scalarmult(void) { sink += crypto_scalarmult(x_out, x_sk, x_pk); }
static void op_scalarmult_base(void) { sink += crypto_scalarmult_base(x_out, x_sk); }
static void op_pk_to_curve(void) { sink += crypto_sign_ed25519_pk_to_curve25519(x_out, x_edpk); }
static void op_sk_to_curve(void) { sink += crypto_sign_ed25519_sk_to_curve25519(x_out, ask); }
static void op_hmac(void) { sink += crypto_auth_hmacsha512256(tag, x_pk, 32, net); }
static void op_hmac_verify(void) { sink += crypto_auth_hmacsha512256_verify(tag, x_pk, 32, net); }
static void op_sign96(void) { sink += crypto_sign_detached(sig96, NULL, buf, 96, ask); }
static void op_sign160(void) { sink += crypto_sign_detached(sig160, NULL, buf, 160, bsk); }
static void op_verify96(void) { sink += crypto_sign_verify_detached(sig96, buf, 96, apk); }
static void op_verify160(void) { sink += crypto_sign_verify_detached(sig160, buf, 160, bpk); }
static void op_box96(void) { sink += crypto_secretbox_easy(box96, buf, 96, zero_nonce, box_key); }
static void op_box64(void) { sink += crypto_secretbox_easy(box64, buf, 64, zero_nonce, box_key); }
static void op_open112(void) { sink += crypto_secretbox_open_easy(plain, box96, 112, zero_nonce, box_key); }
static void op_open80(void) { sink += crypto_secretbox_open_easy(plain, box64, 80, zero_nonce, box_key); }
static void op_sha32(void) { sink += crypto_hash_sha256(hash, buf, 32); }
static void op_sha64(void) { sink += crypto_hash_sha256(hash, buf, 64); }
static void op_sha96(void) { sink += crypto_hash_sha256(hash, buf, 96); }
static void op_sha128(void) { sink += crypto_hash_sha256(hash, buf, 128); }

/* Calls per full handshake (client + server + both outcomes), counted in
 * src/ssb/shs.c; K3/K4 hash 96/128 bytes, sha256(ab) and S = sha256(K4) 32,
 * the box-stream keys sha256(S || pk) 64. */
static struct op {
	const char *name;
	int per_hs;
	void (*fn)(void);
	double best; /* seconds per call */
} ops[] = {
	{ "scalarmult", 6, op_scalarmult, 0 },        /* ab, aB, Ab on each side */
	{ "scalarmult_base", 2, op_scalarmult_base, 0 }, /* ephemeral pks */
	{ "pk_to_curve", 2, op_pk_to_curve, 0 },      /* ed2x(B), ed2x(A) */
	{ "sk_to_curve", 2, op_sk_to_curve, 0 },      /* ed2x(Ask), ed2x(Bsk) */
	{ "hmac", 2, op_hmac, 0 },                    /* hello tags */
	{ "hmac_verify", 2, op_hmac_verify, 0 },
	{ "sign96", 1, op_sign96, 0 },                /* sigA */
	{ "sign160", 1, op_sign160, 0 },              /* sigB */
	{ "verify96", 1, op_verify96, 0 },
	{ "verify160", 1, op_verify160, 0 },
	{ "secretbox96", 1, op_box96, 0 },            /* msg3 */
	{ "secretbox64", 1, op_box64, 0 },            /* msg4 */
	{ "open112", 1, op_open112, 0 },
	{ "open80", 1, op_open80, 0 },
	{ "sha256/32", 6, op_sha32, 0 },
	{ "sha256/64", 4, op_sha64, 0 },
	{ "sha256/96", 2, op_sha96, 0 },
	{ "sha256/128", 4, op_sha128, 0 },
};
#define N_OPS (sizeof(ops) / sizeof(ops[0]))

static void prepare_ops(void)
{
	uint8_t seed[32];

	randombytes_buf(buf, sizeof(buf));
	randombytes_buf(x_sk, sizeof(x_sk));
	randombytes_buf(seed, sizeof(seed));
	crypto_scalarmult_base(x_pk, seed); /* a valid peer point */
	memcpy(x_edpk, bpk, 32);
	randombytes_buf(box_key, sizeof(box_key));
	/* signatures and boxes that verify/open, so no call takes a short cut */
	op_sign96();
	op_sign160();
	op_box96();
	op_box64();
	op_hmac();
	sink = 0;
	op_verify96();
	op_verify160();
	op_open112();
	op_open80();
	op_hmac_verify();
	op_pk_to_curve();
	op_scalarmult();
	if (sink != 0) {
		fprintf(stderr, "bench_shs: raw op inputs are not valid\n");
		exit(1);
	}
}

static double time_op(void (*fn)(void), double budget)
{
	unsigned n = 0;
	double t0 = now(), t;

	do {
		/* batches of 8 keep the clock reads out of the figure */
		for (int k = 0; k < 8; k++)
			fn();
		n += 8;
		t = now() - t0;
	} while (t < budget);
	return t / n;
}

int main(int argc, char **argv)
{
	bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
	double total = quick ? 0.5 : 3.0;
	int rounds = quick ? 2 : 5;
	double best_hs = 1e9, raw = 0;
	uint8_t seed[32];

	if ((argc > 1 && !quick) || argc > 2) {
		fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	randombytes_buf(net, sizeof(net));
	randombytes_buf(seed, sizeof(seed));
	crypto_sign_seed_keypair(apk, ask, seed);
	randombytes_buf(seed, sizeof(seed));
	crypto_sign_seed_keypair(bpk, bsk, seed);
	randombytes_buf(eph, sizeof(eph));
	prepare_ops();
	for (size_t i = 0; i < N_OPS; i++)
		ops[i].best = 1e9;

	/* Half of the time to handshakes, half to the ops, in interleaved
	 * rounds so a noisy neighbour hits both alike. */
	for (int r = 0; r < rounds; r++) {
		double t = time_handshakes(total / 2 / rounds);

		if (t < best_hs)
			best_hs = t;
		for (size_t i = 0; i < N_OPS; i++) {
			t = time_op(ops[i].fn, total / 2 / rounds / (double)N_OPS);
			if (t < ops[i].best)
				ops[i].best = t;
		}
	}
	for (size_t i = 0; i < N_OPS; i++)
		raw += ops[i].per_hs * ops[i].best;

	printf("shs: %.0f handshakes/s (%.1f us each); libsodium ops alone: %.1f us; "
	       "ratio %.2f (target <= 1.25)\n",
	       1.0 / best_hs, best_hs * 1e6, raw * 1e6, best_hs / raw);
	printf("shs: ops per handshake (count x us):");
	for (size_t i = 0; i < N_OPS; i++)
		printf(" %s %dx%.1f", ops[i].name, ops[i].per_hs, ops[i].best * 1e6);
	printf("\n");
	sodium_memzero(ask, sizeof(ask));
	sodium_memzero(bsk, sizeof(bsk));
	sodium_memzero(eph, sizeof(eph));
	return 0;
}
