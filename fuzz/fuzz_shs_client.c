/* The input plays the server against a fixed client (protocol.md §3.4 keys,
 * so the vector's msg2/msg4 are valid inputs). data[0] % 3 picks the mode:
 *   0: msg2(64) || msg4(80), both raw from the input
 *   1: msg2 from a real server, msg4 raw from the input
 *   2: msg2 and msg4 from a real server, msg4 XORed with the input:
 *      unchanged it must succeed and agree with the server, changed fail.
 * The input { SHS_FRESH } is mode 2 with both peers run from init (the
 * other inputs start from the kept real states: shs_vector.h). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "shs.h"
#include "shs_vector.h"

/* A refused message must poison the state and drop the secrets. */
#define CHECK_FAILED(st, rc) do { if ((rc) != -EBADMSG || (st).step != SHS_FAILED || \
	shs_want(&(st)) || !sodium_is_zero((st).local_sk, 64) || !sodium_is_zero((st).ab, 32)) \
	__builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shs c, s;
	struct shs_outcome oc = { 0 }, os = { 0 };
	struct shs_run fresh;
	uint8_t m1[64], m2[64], m3[112], m4[80], changed = 0;
	int mode, rc;

	keys();
	if (size < 1)
		return 0;
	mode = data[0] % 3;
	if (size == 1 && data[0] == SHS_FRESH) {
		memset(&fresh, 0, sizeof(fresh));
		fresh_handshake(&fresh);
		sodium_memzero(&fresh, sizeof(fresh));
		mode = 2;
	}
	data++, size--;
	s = real.s_done; /* the real server, used in mode 2 */
	memcpy(m1, real.m1, 64);
	if (mode == 0) {
		if (size < 64)
			goto out;
		c = real.c_hello;
		memcpy(m2, data, 64), data += 64, size -= 64;
		if ((rc = shs_client_verify_hello(&c, m2)) != 0) {
			CHECK_FAILED(c, rc);
			goto out;
		}
		if (shs_client_auth(&c, m3) != 0 || shs_want(&c) != 80)
			__builtin_trap();
	} else {
		/* the real server's msg2 was verified and msg3 sent (real_handshake) */
		c = real.c_auth;
		memcpy(m2, real.m2, 64);
	}
	if (mode == 2) {
		memcpy(m4, real.m4, 80);
		for (size_t i = 0; i < size && i < 80; i++)
			m4[i] ^= data[i], changed |= data[i];
	} else if (size >= 80) {
		memcpy(m4, data, 80);
	} else {
		goto out; /* the server hung up early */
	}
	rc = shs_client_verify_accept(&c, m4);
	if (mode == 2 && (rc == 0) != (changed == 0))
		__builtin_trap();
	if (rc != 0) {
		CHECK_FAILED(c, rc);
		goto out;
	}
	if (shs_outcome(&c, &oc) != 0 || memcmp(oc.enc_nonce, m2, 24) != 0 ||
	    memcmp(oc.dec_nonce, m1, 24) != 0 || memcmp(oc.remote_pk, bpk, 32) != 0)
		__builtin_trap();
	if (mode == 2 && (shs_outcome(&s, &os) != 0 || memcmp(oc.enc_key, os.dec_key, 32) ||
	                  memcmp(oc.dec_key, os.enc_key, 32)))
		__builtin_trap();
out:
	shs_wipe(&c);
	shs_wipe(&s);
	shs_outcome_wipe(&oc);
	shs_outcome_wipe(&os);
	return 0;
}
