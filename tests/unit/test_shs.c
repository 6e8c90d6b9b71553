/* Unit tests for src/ssb/shs.c: the official vector of protocol.md §3.4 step
 * by step on both sides, the recorded JS reference calls of npm
 * test-secret-handshake@1.0.2 (tests/vectors/shs_js.txt), random round
 * trips, and every way a peer or a caller can get it wrong. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "shs.h"

/* protocol.md §3.4 */
#define V_N    "291356d28154da68e8a9ee4fed71497c0a67d121a41b544d7a6157e76e0df5bc"
#define V_ASK  "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90" \
               "d5bf4a3fcce717b0388bcc2749ebc148ad9969b23f45ee1b605fd58778576ac4"
#define V_A    "d5bf4a3fcce717b0388bcc2749ebc148ad9969b23f45ee1b605fd58778576ac4"
#define V_BSK  "81b637d8fcd2c6da6359e6963113a1170de795e4b725b84d1e0b4cfd9ec58ce9" \
               "ecc1b58727f3f12b3194881a9ecb9de0b28ce7b207230d8e930fe1bce75e256c"
#define V_B    "ecc1b58727f3f12b3194881a9ecb9de0b28ce7b207230d8e930fe1bce75e256c"
#define V_ASK_E "3886cd3e87ce98aa0e68da9ad04fb5b7b9089cc8a6705bc83cb507e69419a95b"
#define V_A_E  "0b6ea52868f0cbbac2deba8bb0fc1a1251d5aa80bc4fa85d8143571abc458752"
#define V_BSK_E "58be5dc9fd64fc4e476035c9870af05ee32c5f1de6e28ea708b267f9e6315b41"
#define V_B_E  "7924d8b4cc7ddc4c5414cdafa1da6bbe1d6f5051644b8e5bec8feacde708b343"
#define V_MSG1 "9e0986a9df0d04dc9884a58aa9f68cbd1690d0140a602d1ad4ba5599c4205596" \
               "0b6ea52868f0cbbac2deba8bb0fc1a1251d5aa80bc4fa85d8143571abc458752"
#define V_MSG2 "a7efd4c608bf19b20ceccee3af33d2df9fdc6dec05f11a383259875f9cf2e995" \
               "7924d8b4cc7ddc4c5414cdafa1da6bbe1d6f5051644b8e5bec8feacde708b343"
#define V_AB   "c5d0fb57f9d862ca955681591bbff5818e76ecc9af2d0727afdb30558af68424"
#define V_HAB  "b8ee2fa393441c62a9e5f78144588d72980f5839fd6b0d6db8f1243063cab9af"
#define V_AB2  "6e89ef577a9c55c43185a02a8731fd15e7db447bd9b799d555ae9faf8a085d15" /* aB */
#define V_K3   "bd62a1d49b3ec32c854e5996b6fc123179f18fc31d3e94427c896e5f8ec12945"
#define V_SIGA "05152167c1acab6fd9787d55daaa89d035a9519d9841f862ee4a892e71ecc9d4" \
               "b278769f9669b9edb728ea2a46d52793bf5badff1c37dab5ac5e63c69994380b"
#define V_MSG3 "ae275d3a4d2dcaf857e67b101b46d30c5970229afd4f0e109dd48313e2b79754" \
               "6e8654269461247e4a328ca91f69343a2ab4168dbb8cd10107131663ccb5b3d6" \
               "a33295fa6b9575eac28a42ea7e40764cd9e0c24a99da19b484dfbe3f2e5d8bf5" \
               "0aa5dc80238c54bd212dc91bce3be8f0"
#define V_AB3  "3d70ba38189103c44cf55fec41de0b87babc9f0cb757a286fcbb2a3e03b16e75" /* Ab */
#define V_K4   "586be0361a71ef5e8ad574dd686de72d2e74f1b548bcdec7390bc727001977e3"
#define V_MSG4 "e65dda80039b9a18f021663c387afc259bf41543f4daae6b1a9e80e499b83eb7" \
               "cd6af630647a472bc05351a4a98bab741664dd3082a183f3fc5c9ebaf735cd0c" \
               "58230a269518059ff7289fcf5c205928"
#define V_S    "45e7eb0b359a01cb52dd7b5b7ce13a48a7226587022b6b3cb9884d77ca52eab7"
#define V_C2S_KEY   "4f7153c9c56be7e6ff516e421c229351aebd23422a21d32ae8f0131cc2814722"
#define V_C2S_NONCE "a7efd4c608bf19b20ceccee3af33d2df9fdc6dec05f11a38"
#define V_S2C_KEY   "e8f22683b27dd0401d48579f12592473502f23ba862d40d4ddc1b4485899f178"
#define V_S2C_NONCE "9e0986a9df0d04dc9884a58aa9f68cbd1690d0140a602d1a"

struct vec {
	uint8_t n[32], ask[64], a[32], bsk[64], b[32], ask_e[32], a_e[32], bsk_e[32], b_e[32];
	uint8_t msg1[64], msg2[64], msg3[112], msg4[80];
	uint8_t ab[32], hab[32], aB[32], Ab[32], k3[32], k4[32], sig_a[64], s[32];
	uint8_t c2s_key[32], c2s_nonce[24], s2c_key[32], s2c_nonce[24];
};
static struct vec v;

static void unhex(uint8_t *out, size_t len, const char *h)
{
	size_t got = 0;
	const char *end = NULL;

	assert_int_equal(strlen(h), 2 * len);
	assert_int_equal(sodium_hex2bin(out, len, h, strlen(h), NULL, &got, &end), 0);
	assert_int_equal(got, len);
}

static int setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	unhex(v.n, 32, V_N);
	unhex(v.ask, 64, V_ASK);
	unhex(v.a, 32, V_A);
	unhex(v.bsk, 64, V_BSK);
	unhex(v.b, 32, V_B);
	unhex(v.ask_e, 32, V_ASK_E);
	unhex(v.a_e, 32, V_A_E);
	unhex(v.bsk_e, 32, V_BSK_E);
	unhex(v.b_e, 32, V_B_E);
	unhex(v.msg1, 64, V_MSG1);
	unhex(v.msg2, 64, V_MSG2);
	unhex(v.msg3, 112, V_MSG3);
	unhex(v.msg4, 80, V_MSG4);
	unhex(v.ab, 32, V_AB);
	unhex(v.hab, 32, V_HAB);
	unhex(v.aB, 32, V_AB2);
	unhex(v.Ab, 32, V_AB3);
	unhex(v.k3, 32, V_K3);
	unhex(v.k4, 32, V_K4);
	unhex(v.sig_a, 64, V_SIGA);
	unhex(v.s, 32, V_S);
	unhex(v.c2s_key, 32, V_C2S_KEY);
	unhex(v.c2s_nonce, 24, V_C2S_NONCE);
	unhex(v.s2c_key, 32, V_S2C_KEY);
	unhex(v.s2c_nonce, 24, V_S2C_NONCE);
	return 0;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	return sodium_is_zero(p, len) == 1;
}

/* A failed state must have dropped every secret it held. */
static void assert_failed(const struct shs *s)
{
	assert_int_equal(s->step, SHS_FAILED);
	assert_true(all_zero(s->net_key, 32));
	assert_true(all_zero(s->local_sk, 64));
	assert_true(all_zero(s->eph_sk, 32));
	assert_true(all_zero(s->ab, 32));
	assert_true(all_zero(s->aB, 32));
	assert_true(all_zero(s->Ab, 32));
	assert_int_equal(shs_want(s), 0);
}

static void vec_client(struct shs *c)
{
	shs_client_init(c, v.n, v.a, v.ask, v.b, v.ask_e);
}

static void vec_server(struct shs *s)
{
	shs_server_init(s, v.n, v.b, v.bsk, v.bsk_e);
}

/* K = sha256(N || ab || aB [|| Ab]) recomputed from the struct's secrets. */
static void k3_of(const struct shs *s, uint8_t k3[32])
{
	crypto_hash_sha256_state h;

	crypto_hash_sha256_init(&h);
	crypto_hash_sha256_update(&h, s->net_key, 32);
	crypto_hash_sha256_update(&h, s->ab, 32);
	crypto_hash_sha256_update(&h, s->aB, 32);
	crypto_hash_sha256_final(&h, k3);
}

static void k4_of(const struct shs *s, uint8_t k4[32])
{
	crypto_hash_sha256_state h;

	crypto_hash_sha256_init(&h);
	crypto_hash_sha256_update(&h, s->net_key, 32);
	crypto_hash_sha256_update(&h, s->ab, 32);
	crypto_hash_sha256_update(&h, s->aB, 32);
	crypto_hash_sha256_update(&h, s->Ab, 32);
	crypto_hash_sha256_final(&h, k4);
}

static void test_step_names(void **state)
{
	(void)state;
	assert_string_equal(shs_step_name(SHS_CLIENT_SEND_HELLO), "SHS_CLIENT_SEND_HELLO");
	assert_string_equal(shs_step_name(SHS_SERVER_WAIT_AUTH), "SHS_SERVER_WAIT_AUTH");
	assert_string_equal(shs_step_name(SHS_DONE), "SHS_DONE");
	assert_string_equal(shs_step_name(SHS_FAILED), "SHS_FAILED");
	assert_string_equal(shs_step_name((enum shs_step)99), "SHS_UNKNOWN");
}

static void test_vector_client(void **state)
{
	struct shs c;
	struct shs_outcome o;
	uint8_t out[112], k[32];

	(void)state;
	vec_client(&c);
	assert_int_equal(c.step, SHS_CLIENT_SEND_HELLO);
	assert_memory_equal(c.eph_pk, v.a_e, 32);
	assert_int_equal(shs_want(&c), 0);
	assert_int_equal(shs_outcome(&c, &o), -EINVAL);

	assert_int_equal(shs_client_hello(&c, out), 0);
	assert_memory_equal(out, v.msg1, 64);
	assert_int_equal(shs_want(&c), 64);

	assert_int_equal(shs_client_verify_hello(&c, v.msg2), 0);
	assert_memory_equal(c.remote_eph_pk, v.b_e, 32);
	assert_memory_equal(c.ab, v.ab, 32);
	assert_memory_equal(c.aB, v.aB, 32);
	crypto_hash_sha256(k, c.ab, 32);
	assert_memory_equal(k, v.hab, 32);
	k3_of(&c, k);
	assert_memory_equal(k, v.k3, 32);
	assert_true(all_zero(c.eph_sk, 32)); /* a_s is dropped once used */
	assert_int_equal(shs_want(&c), 0);

	assert_int_equal(shs_client_auth(&c, out), 0);
	assert_memory_equal(out, v.msg3, 112);
	assert_memory_equal(c.sig_a, v.sig_a, 64);
	assert_memory_equal(c.Ab, v.Ab, 32);
	k4_of(&c, k);
	assert_memory_equal(k, v.k4, 32);
	crypto_hash_sha256(k, k, 32);
	assert_memory_equal(k, v.s, 32);
	assert_int_equal(shs_want(&c), 80);
	assert_int_equal(shs_outcome(&c, &o), -EINVAL);

	assert_int_equal(shs_client_verify_accept(&c, v.msg4), 0);
	assert_int_equal(c.step, SHS_DONE);
	assert_int_equal(shs_want(&c), 0);
	assert_int_equal(shs_outcome(&c, &o), 0);
	assert_memory_equal(o.enc_key, v.c2s_key, 32);
	assert_memory_equal(o.enc_nonce, v.c2s_nonce, 24);
	assert_memory_equal(o.dec_key, v.s2c_key, 32);
	assert_memory_equal(o.dec_nonce, v.s2c_nonce, 24);
	assert_memory_equal(o.remote_pk, v.b, 32);

	shs_outcome_wipe(&o);
	assert_true(all_zero((const uint8_t *)&o, sizeof(o)));
	shs_wipe(&c);
	assert_int_equal(c.step, SHS_FAILED);
	assert_int_equal(shs_outcome(&c, &o), -EINVAL);
	shs_wipe(&c); /* twice is fine */
}

static void test_vector_server(void **state)
{
	struct shs s;
	struct shs_outcome o;
	uint8_t out[80], k[32];

	(void)state;
	vec_server(&s);
	assert_int_equal(s.step, SHS_SERVER_WAIT_HELLO);
	assert_memory_equal(s.eph_pk, v.b_e, 32);
	assert_int_equal(shs_want(&s), 64);

	assert_int_equal(shs_server_verify_hello(&s, v.msg1), 0);
	assert_memory_equal(s.remote_eph_pk, v.a_e, 32);
	assert_memory_equal(s.ab, v.ab, 32);
	assert_memory_equal(s.aB, v.aB, 32);
	assert_int_equal(shs_want(&s), 0);

	assert_int_equal(shs_server_hello(&s, out), 0);
	assert_memory_equal(out, v.msg2, 64);
	assert_int_equal(shs_want(&s), 112);
	k3_of(&s, k);
	assert_memory_equal(k, v.k3, 32);

	assert_int_equal(shs_server_verify_auth(&s, v.msg3), 0);
	assert_memory_equal(s.remote_pk, v.a, 32); /* A, for the authorization hook */
	assert_memory_equal(s.sig_a, v.sig_a, 64);
	assert_memory_equal(s.Ab, v.Ab, 32);
	assert_true(all_zero(s.eph_sk, 32));
	k4_of(&s, k);
	assert_memory_equal(k, v.k4, 32);
	assert_int_equal(s.step, SHS_SERVER_SEND_ACCEPT);
	assert_int_equal(shs_want(&s), 0);
	assert_int_equal(shs_outcome(&s, &o), -EINVAL);

	assert_int_equal(shs_server_accept(&s, out), 0);
	assert_memory_equal(out, v.msg4, 80);
	assert_int_equal(shs_outcome(&s, &o), 0);
	assert_memory_equal(o.enc_key, v.s2c_key, 32);
	assert_memory_equal(o.enc_nonce, v.s2c_nonce, 24);
	assert_memory_equal(o.dec_key, v.c2s_key, 32);
	assert_memory_equal(o.dec_nonce, v.c2s_nonce, 24);
	assert_memory_equal(o.remote_pk, v.a, 32);
	shs_outcome_wipe(&o);
	shs_wipe(&s);
}

/* --- recorded JS reference calls (tests/vectors/shs_js.txt) ------------ */

static void tok_hex(char **save, uint8_t *out, size_t len)
{
	char *t = strtok_r(NULL, " \n", save);

	assert_non_null(t);
	unhex(out, len, t);
}

static bool tok_ok(char **save)
{
	char *t = strtok_r(NULL, " \n", save);

	assert_non_null(t);
	assert_true(strcmp(t, "ok") == 0 || strcmp(t, "fail") == 0);
	return strcmp(t, "ok") == 0;
}

static void test_js_vectors(void **state)
{
	FILE *f = fopen(VECTOR_DIR "/shs_js.txt", "r");
	char line[1024];
	struct shs s;
	bool in_run = false, client = false;
	int runs = 0, steps = 0, fails = 0, outcomes = 0;

	(void)state;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *save = NULL, *op = strtok_r(line, " \n", &save);
		uint8_t want[112], got[112], in[112];
		int rc = 0;
		bool ok;

		if (op == NULL || op[0] == '#')
			continue;
		if (strcmp(op, "begin") == 0) {
			uint8_t n[32], pk[32], sk[64], rpk[32], eph[32];
			char *role = strtok_r(NULL, " \n", &save);

			assert_false(in_run);
			assert_non_null(role);
			client = strcmp(role, "client") == 0;
			tok_hex(&save, n, 32);
			tok_hex(&save, pk, 32);
			tok_hex(&save, sk, 64);
			if (client) {
				tok_hex(&save, rpk, 32);
				tok_hex(&save, eph, 32);
				shs_client_init(&s, n, pk, sk, rpk, eph);
			} else {
				tok_hex(&save, eph, 32);
				shs_server_init(&s, n, pk, sk, eph);
			}
			in_run = true;
			runs++;
			continue;
		}
		assert_true(in_run);
		if (strcmp(op, "end") == 0) {
			shs_wipe(&s);
			in_run = false;
			continue;
		}
		steps++;
		if (strcmp(op, "hello") == 0) {
			tok_hex(&save, want, 64);
			rc = client ? shs_client_hello(&s, got) : shs_server_hello(&s, got);
			assert_int_equal(rc, 0);
			assert_memory_equal(got, want, 64);
		} else if (strcmp(op, "auth") == 0) {
			assert_true(client);
			tok_hex(&save, want, 112);
			assert_int_equal(shs_client_auth(&s, got), 0);
			assert_memory_equal(got, want, 112);
		} else if (strcmp(op, "accept") == 0) {
			assert_false(client);
			tok_hex(&save, want, 80);
			assert_int_equal(shs_server_accept(&s, got), 0);
			assert_memory_equal(got, want, 80);
		} else if (strcmp(op, "outcome") == 0) {
			struct shs_outcome o;

			assert_int_equal(shs_outcome(&s, &o), 0);
			tok_hex(&save, want, 32);
			assert_memory_equal(o.enc_key, want, 32);
			tok_hex(&save, want, 24);
			assert_memory_equal(o.enc_nonce, want, 24);
			tok_hex(&save, want, 32);
			assert_memory_equal(o.dec_key, want, 32);
			tok_hex(&save, want, 24);
			assert_memory_equal(o.dec_nonce, want, 24);
			shs_outcome_wipe(&o);
			outcomes++;
		} else {
			/* verify_hello / verify_auth / verify_accept <hex> ok|fail */
			if (strcmp(op, "verify_hello") == 0) {
				tok_hex(&save, in, 64);
				rc = client ? shs_client_verify_hello(&s, in)
				            : shs_server_verify_hello(&s, in);
			} else if (strcmp(op, "verify_auth") == 0) {
				assert_false(client);
				tok_hex(&save, in, 112);
				rc = shs_server_verify_auth(&s, in);
			} else if (strcmp(op, "verify_accept") == 0) {
				assert_true(client);
				tok_hex(&save, in, 80);
				rc = shs_client_verify_accept(&s, in);
			} else {
				fail_msg("unknown op %s", op);
			}
			ok = tok_ok(&save);
			assert_int_equal(rc, ok ? 0 : -EBADMSG);
			if (!ok) {
				assert_failed(&s);
				fails++;
			}
		}
	}
	fclose(f);
	assert_false(in_run);
	/* What the converter produced from data.json: keep the test honest. */
	assert_int_equal(runs, 33);
	assert_int_equal(fails, 5);
	assert_int_equal(outcomes, 12);
	assert_true(steps > 100);
}

/* --- round trips ------------------------------------------------------- */

struct pair {
	uint8_t n[32], a[32], ask[64], b[32], bsk[64];
	struct shs c, s;
};

static void pair_init(struct pair *p)
{
	uint8_t ea[32], eb[32];

	randombytes_buf(p->n, 32);
	crypto_sign_keypair(p->a, p->ask);
	crypto_sign_keypair(p->b, p->bsk);
	randombytes_buf(ea, 32);
	randombytes_buf(eb, 32);
	shs_client_init(&p->c, p->n, p->a, p->ask, p->b, ea);
	shs_server_init(&p->s, p->n, p->b, p->bsk, eb);
}

/* Runs the exchange, checking want() against what each side sends. */
static int pair_run(struct pair *p)
{
	uint8_t m1[64], m2[64], m3[112], m4[80];
	int rc;

	if ((rc = shs_client_hello(&p->c, m1)) < 0)
		return rc;
	assert_int_equal(shs_want(&p->s), sizeof(m1));
	if ((rc = shs_server_verify_hello(&p->s, m1)) < 0)
		return rc;
	if ((rc = shs_server_hello(&p->s, m2)) < 0)
		return rc;
	assert_int_equal(shs_want(&p->c), sizeof(m2));
	if ((rc = shs_client_verify_hello(&p->c, m2)) < 0)
		return rc;
	if ((rc = shs_client_auth(&p->c, m3)) < 0)
		return rc;
	assert_int_equal(shs_want(&p->s), sizeof(m3));
	if ((rc = shs_server_verify_auth(&p->s, m3)) < 0)
		return rc;
	if ((rc = shs_server_accept(&p->s, m4)) < 0)
		return rc;
	assert_int_equal(shs_want(&p->c), sizeof(m4));
	return shs_client_verify_accept(&p->c, m4);
}

static void test_roundtrip_random(void **state)
{
	(void)state;
	for (int i = 0; i < 16; i++) {
		struct pair p;
		struct shs_outcome oc, os;

		pair_init(&p);
		assert_int_equal(pair_run(&p), 0);
		assert_int_equal(p.c.step, SHS_DONE);
		assert_int_equal(p.s.step, SHS_DONE);
		assert_int_equal(shs_outcome(&p.c, &oc), 0);
		assert_int_equal(shs_outcome(&p.s, &os), 0);
		assert_memory_equal(oc.enc_key, os.dec_key, 32);
		assert_memory_equal(oc.enc_nonce, os.dec_nonce, 24);
		assert_memory_equal(oc.dec_key, os.enc_key, 32);
		assert_memory_equal(oc.dec_nonce, os.enc_nonce, 24);
		assert_memory_not_equal(oc.enc_key, oc.dec_key, 32);
		assert_memory_equal(oc.remote_pk, p.b, 32);
		assert_memory_equal(os.remote_pk, p.a, 32);
		shs_outcome_wipe(&oc);
		shs_outcome_wipe(&os);
		shs_wipe(&p.c);
		shs_wipe(&p.s);
	}
}

/* --- negative paths ---------------------------------------------------- */

static void test_msg1_wrong_network_key(void **state)
{
	struct shs c, s;
	uint8_t n2[32], m1[64], m2[64];

	(void)state;
	memcpy(n2, v.n, 32);
	n2[31] ^= 1;
	shs_client_init(&c, n2, v.a, v.ask, v.b, v.ask_e);
	assert_int_equal(shs_client_hello(&c, m1), 0);
	vec_server(&s);
	assert_int_equal(shs_server_verify_hello(&s, m1), -EBADMSG);
	assert_failed(&s);
	/* A failed server never produces msg2. */
	assert_int_equal(shs_server_hello(&s, m2), -EINVAL);
	assert_failed(&s);
	shs_wipe(&c);
}

static void test_msg1_bad_bytes(void **state)
{
	struct shs s;
	uint8_t m[64];

	(void)state;
	/* Any single bit flipped in the tag or in the key breaks the HMAC. */
	for (size_t i = 0; i < 64 * 8; i += 7) {
		memcpy(m, v.msg1, 64);
		m[i / 8] ^= (uint8_t)(1u << (i % 8));
		vec_server(&s);
		assert_int_equal(shs_server_verify_hello(&s, m), -EBADMSG);
		assert_failed(&s);
	}
	/* A correctly tagged low-order point (here 0) would force ab = 0:
	 * crypto_scalarmult reports it and we refuse. */
	memset(m, 0, 64);
	crypto_auth_hmacsha512256(m, m + 32, 32, v.n);
	vec_server(&s);
	assert_int_equal(shs_server_verify_hello(&s, m), -EBADMSG);
	assert_failed(&s);
}

static void test_msg2_bad_hmac(void **state)
{
	struct shs c;
	uint8_t m1[64], m[64], m3[112];

	(void)state;
	for (size_t i = 0; i < 64; i++) {
		memcpy(m, v.msg2, 64);
		m[i] ^= 0x80;
		vec_client(&c);
		assert_int_equal(shs_client_hello(&c, m1), 0);
		assert_int_equal(shs_client_verify_hello(&c, m), -EBADMSG);
		assert_failed(&c);
		assert_int_equal(shs_client_auth(&c, m3), -EINVAL);
	}
	/* msg2 tagged with another network key */
	memcpy(m, v.msg2, 64);
	crypto_auth_hmacsha512256(m, m + 32, 32, v.k3);
	vec_client(&c);
	assert_int_equal(shs_client_hello(&c, m1), 0);
	assert_int_equal(shs_client_verify_hello(&c, m), -EBADMSG);
	assert_failed(&c);
	/* low-order server ephemeral key, correctly tagged */
	memset(m, 0, 64);
	m[32] = 1; /* u = 1 is a small-order point: libsodium refuses it */
	crypto_auth_hmacsha512256(m, m + 32, 32, v.n);
	vec_client(&c);
	assert_int_equal(shs_client_hello(&c, m1), 0);
	assert_int_equal(shs_client_verify_hello(&c, m), -EBADMSG);
	assert_failed(&c);
}

/* Server ready for msg3 of the vector exchange. */
static void server_at_auth(struct shs *s)
{
	uint8_t m2[64];

	vec_server(s);
	assert_int_equal(shs_server_verify_hello(s, v.msg1), 0);
	assert_int_equal(shs_server_hello(s, m2), 0);
}

static void test_msg3_wrong_key(void **state)
{
	struct shs s;
	uint8_t plain[96], m3[112], k[32];
	static const uint8_t zero[24];

	(void)state;
	memcpy(plain, v.sig_a, 64);
	memcpy(plain + 64, v.a, 32);
	/* sanity: with the right K3 this is the vector's msg3 */
	assert_int_equal(crypto_secretbox_easy(m3, plain, 96, zero, v.k3), 0);
	assert_memory_equal(m3, v.msg3, 112);
	/* K3 off by one bit, and K4 used in place of K3 */
	memcpy(k, v.k3, 32);
	k[0] ^= 1;
	assert_int_equal(crypto_secretbox_easy(m3, plain, 96, zero, k), 0);
	server_at_auth(&s);
	assert_int_equal(shs_server_verify_auth(&s, m3), -EBADMSG);
	assert_failed(&s);
	assert_true(all_zero(s.remote_pk, 32)); /* nobody was authenticated */
	assert_int_equal(crypto_secretbox_easy(m3, plain, 96, zero, v.k4), 0);
	server_at_auth(&s);
	assert_int_equal(shs_server_verify_auth(&s, m3), -EBADMSG);
	assert_failed(&s);
	/* every byte of the real msg3, tampered */
	for (size_t i = 0; i < 112; i++) {
		memcpy(m3, v.msg3, 112);
		m3[i] ^= 0x01;
		server_at_auth(&s);
		assert_int_equal(shs_server_verify_auth(&s, m3), -EBADMSG);
		assert_failed(&s);
	}
}

static void test_msg3_bad_signature(void **state)
{
	struct shs s;
	uint8_t plain[96], m3[112], msg[96], cpk[32], csk[64];
	static const uint8_t zero[24];
	uint8_t m4[80];

	(void)state;
	/* 1: sigA with a flipped bit, correctly boxed */
	memcpy(plain, v.sig_a, 64);
	plain[5] ^= 0x10;
	memcpy(plain + 64, v.a, 32);
	assert_int_equal(crypto_secretbox_easy(m3, plain, 96, zero, v.k3), 0);
	server_at_auth(&s);
	assert_int_equal(shs_server_verify_auth(&s, m3), -EBADMSG);
	assert_failed(&s);
	assert_int_equal(shs_server_accept(&s, m4), -EINVAL);

	/* 2: a valid signature by C over the right payload, claiming to be A */
	crypto_sign_keypair(cpk, csk);
	memcpy(msg, v.n, 32);
	memcpy(msg + 32, v.b, 32);
	memcpy(msg + 64, v.hab, 32);
	assert_int_equal(crypto_sign_detached(plain, NULL, msg, 96, csk), 0);
	memcpy(plain + 64, v.a, 32);
	assert_int_equal(crypto_secretbox_easy(m3, plain, 96, zero, v.k3), 0);
	server_at_auth(&s);
	assert_int_equal(shs_server_verify_auth(&s, m3), -EBADMSG);
	assert_failed(&s);

	/* 3: A's real key signing for another server (B replaced by C) */
	memcpy(msg + 32, cpk, 32);
	assert_int_equal(crypto_sign_detached(plain, NULL, msg, 96, v.ask), 0);
	memcpy(plain + 64, v.a, 32);
	assert_int_equal(crypto_secretbox_easy(m3, plain, 96, zero, v.k3), 0);
	server_at_auth(&s);
	assert_int_equal(shs_server_verify_auth(&s, m3), -EBADMSG);
	assert_failed(&s);

	/* 4: sanity for the construction: the right payload and key pass */
	memcpy(msg + 32, v.b, 32);
	assert_int_equal(crypto_sign_detached(plain, NULL, msg, 96, v.ask), 0);
	assert_memory_equal(plain, v.sig_a, 64);
	sodium_memzero(csk, sizeof(csk));
}

/* Client waiting for msg4 of the vector exchange. */
static void client_at_accept(struct shs *c)
{
	uint8_t out[112];

	vec_client(c);
	assert_int_equal(shs_client_hello(c, out), 0);
	assert_int_equal(shs_client_verify_hello(c, v.msg2), 0);
	assert_int_equal(shs_client_auth(c, out), 0);
}

static void test_msg4_tampered(void **state)
{
	struct shs c;
	struct shs_outcome o;
	uint8_t m4[80], sig[64], msg[160];
	static const uint8_t zero[24];

	(void)state;
	for (size_t i = 0; i < 80; i++) {
		memcpy(m4, v.msg4, 80);
		m4[i] ^= 0x04;
		client_at_accept(&c);
		assert_int_equal(shs_client_verify_accept(&c, m4), -EBADMSG);
		assert_failed(&c);
		assert_int_equal(shs_outcome(&c, &o), -EINVAL);
	}
	/* Correctly boxed with K4 but signed by A instead of B. */
	memcpy(msg, v.n, 32);
	memcpy(msg + 32, v.sig_a, 64);
	memcpy(msg + 96, v.a, 32);
	memcpy(msg + 128, v.hab, 32);
	assert_int_equal(crypto_sign_detached(sig, NULL, msg, 160, v.bsk), 0);
	assert_int_equal(crypto_secretbox_easy(m4, sig, 64, zero, v.k4), 0);
	assert_memory_equal(m4, v.msg4, 80); /* the construction is right... */
	assert_int_equal(crypto_sign_detached(sig, NULL, msg, 160, v.ask), 0);
	assert_int_equal(crypto_secretbox_easy(m4, sig, 64, zero, v.k4), 0);
	client_at_accept(&c);
	assert_int_equal(shs_client_verify_accept(&c, m4), -EBADMSG); /* ...the signer is not */
	assert_failed(&c);
	/* B's right signature, boxed with K3 (msg3's key) instead of K4 */
	assert_int_equal(crypto_sign_detached(sig, NULL, msg, 160, v.bsk), 0);
	assert_int_equal(crypto_secretbox_easy(m4, sig, 64, zero, v.k3), 0);
	client_at_accept(&c);
	assert_int_equal(shs_client_verify_accept(&c, m4), -EBADMSG);
	assert_failed(&c);
}

static void test_wrong_server_key(void **state)
{
	struct pair p;
	uint8_t other_pk[32], other_sk[64], ea[32];
	uint8_t m1[64], m2[64], m3[112];

	(void)state;
	pair_init(&p);
	/* The client dials p.b's server but believes its key is other_pk:
	 * aB and the signed B differ, so the server cannot open msg3. */
	crypto_sign_keypair(other_pk, other_sk);
	randombytes_buf(ea, 32);
	shs_wipe(&p.c);
	shs_client_init(&p.c, p.n, p.a, p.ask, other_pk, ea);
	assert_int_equal(shs_client_hello(&p.c, m1), 0);
	assert_int_equal(shs_server_verify_hello(&p.s, m1), 0);
	assert_int_equal(shs_server_hello(&p.s, m2), 0);
	assert_int_equal(shs_client_verify_hello(&p.c, m2), 0);
	assert_int_equal(shs_client_auth(&p.c, m3), 0);
	assert_int_equal(shs_server_verify_auth(&p.s, m3), -EBADMSG);
	assert_failed(&p.s);
	assert_int_equal(shs_client_verify_accept(&p.c, (const uint8_t[80]){0}), -EBADMSG);
	shs_wipe(&p.c);
	shs_wipe(&p.s);
	sodium_memzero(other_sk, sizeof(other_sk));
}

static void test_invalid_server_pk(void **state)
{
	struct shs c;
	uint8_t bad[32], m1[64];

	(void)state;
	/* Not a point on the curve: ed2x_pk fails, so does the handshake. Try
	 * candidates until libsodium refuses one (about half of all y do). */
	memset(bad, 0, sizeof(bad));
	for (int i = 2; i < 256; i++) {
		uint8_t x[32];

		bad[0] = (uint8_t)i;
		if (crypto_sign_ed25519_pk_to_curve25519(x, bad) != 0)
			break;
	}
	shs_client_init(&c, v.n, v.a, v.ask, bad, v.ask_e);
	assert_int_equal(shs_client_hello(&c, m1), 0);
	assert_int_equal(shs_client_verify_hello(&c, v.msg2), -EBADMSG);
	assert_failed(&c);
}

static void test_out_of_order(void **state)
{
	struct shs c, s;
	uint8_t b[112];

	(void)state;
	/* client: verify msg2 before sending msg1 */
	vec_client(&c);
	assert_int_equal(shs_client_verify_hello(&c, v.msg2), -EINVAL);
	assert_failed(&c);
	assert_int_equal(shs_client_hello(&c, b), -EINVAL); /* poisoned for good */
	/* client: hello twice */
	vec_client(&c);
	assert_int_equal(shs_client_hello(&c, b), 0);
	assert_int_equal(shs_client_hello(&c, b), -EINVAL);
	assert_failed(&c);
	/* client: auth before msg2 */
	vec_client(&c);
	assert_int_equal(shs_client_hello(&c, b), 0);
	assert_int_equal(shs_client_auth(&c, b), -EINVAL);
	assert_failed(&c);
	/* client: accept before auth */
	vec_client(&c);
	assert_int_equal(shs_client_hello(&c, b), 0);
	assert_int_equal(shs_client_verify_hello(&c, v.msg2), 0);
	assert_int_equal(shs_client_verify_accept(&c, v.msg4), -EINVAL);
	assert_failed(&c);
	/* client: server calls on a client state */
	vec_client(&c);
	assert_int_equal(shs_server_verify_hello(&c, v.msg1), -EINVAL);
	assert_failed(&c);
	/* client: anything after DONE */
	client_at_accept(&c);
	assert_int_equal(shs_client_verify_accept(&c, v.msg4), 0);
	assert_int_equal(shs_client_verify_accept(&c, v.msg4), -EINVAL);
	assert_failed(&c);

	/* server: hello before msg1 */
	vec_server(&s);
	assert_int_equal(shs_server_hello(&s, b), -EINVAL);
	assert_failed(&s);
	/* server: accept before verifying msg3, i.e. skipping authentication */
	server_at_auth(&s);
	assert_int_equal(shs_server_accept(&s, b), -EINVAL);
	assert_failed(&s);
	/* server: verify msg3 right after msg1 (msg2 not sent) */
	vec_server(&s);
	assert_int_equal(shs_server_verify_hello(&s, v.msg1), 0);
	assert_int_equal(shs_server_verify_auth(&s, v.msg3), -EINVAL);
	assert_failed(&s);
	/* server: client calls on a server state */
	vec_server(&s);
	assert_int_equal(shs_client_hello(&s, b), -EINVAL);
	assert_failed(&s);
	/* a wiped state refuses everything */
	vec_server(&s);
	shs_wipe(&s);
	assert_int_equal(shs_server_verify_hello(&s, v.msg1), -EINVAL);
	assert_failed(&s);
}

static void test_outcome_before_done(void **state)
{
	struct shs c, s;
	struct shs_outcome o;
	uint8_t b[112];

	(void)state;
	memset(&o, 0xaa, sizeof(o));
	vec_client(&c);
	vec_server(&s);
	assert_int_equal(shs_outcome(&c, &o), -EINVAL);
	assert_int_equal(shs_outcome(&s, &o), -EINVAL);
	assert_int_equal(shs_client_hello(&c, b), 0);
	assert_int_equal(shs_outcome(&c, &o), -EINVAL);
	assert_int_equal(shs_server_verify_hello(&s, b), 0);
	assert_int_equal(shs_outcome(&s, &o), -EINVAL);
	assert_int_equal(shs_server_hello(&s, b), 0);
	assert_int_equal(shs_outcome(&s, &o), -EINVAL);
	assert_int_equal(shs_client_verify_hello(&c, b), 0);
	assert_int_equal(shs_outcome(&c, &o), -EINVAL);
	assert_int_equal(shs_client_auth(&c, b), 0);
	assert_int_equal(shs_outcome(&c, &o), -EINVAL);
	assert_int_equal(shs_server_verify_auth(&s, b), 0);
	assert_int_equal(shs_outcome(&s, &o), -EINVAL);
	/* shs_outcome does not poison: the handshake goes on */
	assert_int_equal(shs_server_accept(&s, b), 0);
	assert_int_equal(shs_client_verify_accept(&c, b), 0);
	/* nothing was written by the refused calls */
	for (size_t i = 0; i < sizeof(o); i++)
		assert_int_equal(((const uint8_t *)&o)[i], 0xaa);
	assert_int_equal(shs_outcome(&c, &o), 0);
	shs_outcome_wipe(&o);
	shs_wipe(&c);
	shs_wipe(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_step_names),
		cmocka_unit_test(test_vector_client),
		cmocka_unit_test(test_vector_server),
		cmocka_unit_test(test_js_vectors),
		cmocka_unit_test(test_roundtrip_random),
		cmocka_unit_test(test_msg1_wrong_network_key),
		cmocka_unit_test(test_msg1_bad_bytes),
		cmocka_unit_test(test_msg2_bad_hmac),
		cmocka_unit_test(test_msg3_wrong_key),
		cmocka_unit_test(test_msg3_bad_signature),
		cmocka_unit_test(test_msg4_tampered),
		cmocka_unit_test(test_wrong_server_key),
		cmocka_unit_test(test_invalid_server_pk),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_outcome_before_done),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
