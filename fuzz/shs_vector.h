/* The keys of protocol.md §3.4 for the two SHS harnesses (included by
 * fuzz_shs_client.c and fuzz_shs_server.c only: one copy each, static). With
 * them the vector's recorded messages are valid inputs, which gives the
 * fuzzer a seed that reaches the end of the handshake.
 *
 *   n   = sha256("app_key")
 *   A/B = ed25519 key pairs from the seeds sha256("alice") / sha256("bob")
 *   eph = the client's then the server's ephemeral secret (32 + 32) */
#ifndef FAIRWAY_FUZZ_SHS_VECTOR_H
#define FAIRWAY_FUZZ_SHS_VECTOR_H

#include <stdint.h>

#include <sodium.h>

static uint8_t n[32], apk[32], ask[64], bpk[32], bsk[64], eph[64];

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
}

#endif
