/* The keys of protocol.md §3.4 for the two SHS harnesses (included by
 * fuzz_shs_client.c and fuzz_shs_server.c only: one copy each, static). With
 * them the vector's recorded messages are valid inputs, which gives the
 * fuzzer a seed that reaches the end of the handshake.
 *
 *   n   = sha256("app_key")
 *   A/B = ed25519 key pairs from the seeds sha256("alice") / sha256("bob")
 *   eph = the client's then the server's ephemeral secret (32 + 32)
 *
 * Speed: an X25519 multiplication or an ed25519 verify costs ~0.1 ms here,
 * a whole handshake ~1.5 ms, so a harness that ran the real peer per input
 * managed 3-4k exec/s. With fixed keys and ephemerals the real peers pass
 * through the same states for every input, so real_handshake() runs once
 * (LLVMFuzzerInitialize) and keeps each state; an input starts from a copy
 * of the state it needs and pays crypto only for the messages it supplies.
 * One input (SHS_FRESH) still runs both peers from init each time and
 * requires the same bytes as the kept run (a handshake is a pure function of
 * keys and ephemerals), so init, hello and auth stay covered. */
#ifndef FAIRWAY_FUZZ_SHS_VECTOR_H
#define FAIRWAY_FUZZ_SHS_VECTOR_H

#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "shs.h"

/* The one-byte input { SHS_FRESH } runs the real handshake from scratch
 * (~1.6 ms). Only that exact input, so that mutations of its seed rarely
 * repeat it: gated on the first byte alone it was 6 % of all executions. */
#define SHS_FRESH 0xa5

static uint8_t n[32], apk[32], ask[64], bpk[32], bsk[64], eph[64];

/* Every state of the real client (c_*) and server (s_*), and their messages. */
struct shs_run {
	struct shs c_hello;   /* client: msg1 sent, waits for msg2 */
	struct shs c_auth;    /* client: msg2 verified, msg3 sent, waits for msg4 */
	struct shs c_done;    /* client: msg4 verified */
	struct shs s_init;    /* server: waits for msg1 */
	struct shs s_hello;   /* server: msg1 verified, msg2 sent, waits for msg3 */
	struct shs s_done;    /* server: msg3 verified, msg4 sent */
	uint8_t m1[64], m2[64], m3[112], m4[80];
};

static struct shs_run real;

/* Both real peers from init to the end; any refusal is a bug (trap). */
static void real_handshake(struct shs_run *r)
{
	struct shs c, s;

	shs_client_init(&c, n, apk, ask, bpk, eph);
	shs_server_init(&s, n, bpk, bsk, eph + 32);
	r->s_init = s;
	if (shs_client_hello(&c, r->m1) != 0 || shs_want(&c) != 64)
		__builtin_trap();
	r->c_hello = c;
	if (shs_server_verify_hello(&s, r->m1) != 0 || shs_server_hello(&s, r->m2) != 0 ||
	    shs_want(&s) != 112)
		__builtin_trap();
	r->s_hello = s;
	if (shs_client_verify_hello(&c, r->m2) != 0 || shs_client_auth(&c, r->m3) != 0 ||
	    shs_want(&c) != 80)
		__builtin_trap();
	r->c_auth = c;
	if (shs_server_verify_auth(&s, r->m3) != 0 || shs_server_accept(&s, r->m4) != 0)
		__builtin_trap();
	r->s_done = s;
	if (shs_client_verify_accept(&c, r->m4) != 0)
		__builtin_trap();
	r->c_done = c;
	shs_wipe(&c);
	shs_wipe(&s);
}

/* A fresh run must give the kept run's messages and states exactly. */
static void fresh_handshake(struct shs_run *r)
{
	real_handshake(r);
	if (memcmp(r, &real, sizeof(*r)) != 0)
		__builtin_trap();
}

static void keys(void)
{
	static int done;
	uint8_t seed[32];

	if (done++ || sodium_init() < 0)
		return;
	crypto_hash_sha256(n, (const uint8_t *)"app_key", 7);
	crypto_hash_sha256(seed, (const uint8_t *)"alice", 5);
	crypto_sign_seed_keypair(apk, ask, seed);
	crypto_hash_sha256(seed, (const uint8_t *)"bob", 3);
	crypto_sign_seed_keypair(bpk, bsk, seed);
	sodium_hex2bin(eph, 64, "3886cd3e87ce98aa0e68da9ad04fb5b7b9089cc8a6705bc83cb507e69419a95b"
	               "58be5dc9fd64fc4e476035c9870af05ee32c5f1de6e28ea708b267f9e6315b41",
	               128, NULL, NULL, NULL);
	memset(&real, 0, sizeof(real));
	real_handshake(&real);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	keys();
	return 0;
}

#endif
