/* The input plays the client against a fixed server (protocol.md §3.4 keys,
 * so the vector's msg1/msg3 are valid inputs). data[0] % 3 picks the mode:
 *   0: msg1(64) || msg3(112), both raw from the input
 *   1: msg1 from a real client, msg3 raw from the input
 *   2: msg1 and msg3 from a real client, msg3 XORed with the input:
 *      unchanged it must succeed and agree with the client, changed fail.
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
	shs_want(&(st)) || !sodium_is_zero((st).eph_sk, 32) || !sodium_is_zero((st).ab, 32)) \
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
	c = real.c_auth; /* the real client, used in mode 2 */
	if (mode == 0) {
		if (size < 64)
			goto out;
		s = real.s_init;
		memcpy(m1, data, 64), data += 64, size -= 64;
		if ((rc = shs_server_verify_hello(&s, m1)) != 0) {
			CHECK_FAILED(s, rc);
			goto out;
		}
		if (shs_server_hello(&s, m2) != 0 || shs_want(&s) != 112)
			__builtin_trap();
	} else {
		/* the real client's msg1 was verified and answered (real_handshake) */
		s = real.s_hello;
		memcpy(m1, real.m1, 64);
		memcpy(m2, real.m2, 64);
	}
	if (mode == 2) {
		memcpy(m3, real.m3, 112);
		for (size_t i = 0; i < size && i < 112; i++)
			m3[i] ^= data[i], changed |= data[i];
	} else if (size >= 112) {
		memcpy(m3, data, 112);
	} else {
		goto out; /* the client hung up early */
	}
	rc = shs_server_verify_auth(&s, m3);
	if (mode == 2 && (rc == 0) != (changed == 0))
		__builtin_trap();
	if (rc != 0) {
		CHECK_FAILED(s, rc);
		goto out;
	}
	if (shs_server_accept(&s, m4) != 0 || shs_outcome(&s, &os) != 0 ||
	    memcmp(os.dec_nonce, m2, 24) != 0 || memcmp(os.enc_nonce, m1, 24) != 0)
		__builtin_trap();
	if (mode == 2 && (shs_client_verify_accept(&c, m4) != 0 || shs_outcome(&c, &oc) != 0 ||
	                  memcmp(oc.enc_key, os.dec_key, 32) || memcmp(oc.dec_key, os.enc_key, 32) ||
	                  memcmp(os.remote_pk, apk, 32)))
		__builtin_trap();
out:
	shs_wipe(&c);
	shs_wipe(&s);
	shs_outcome_wipe(&oc);
	shs_outcome_wipe(&os);
	return 0;
}
