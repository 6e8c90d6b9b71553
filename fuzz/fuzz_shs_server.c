/* The input plays the client against a fixed server (protocol.md §3.4 keys,
 * so the vector's msg1/msg3 are valid inputs). data[0] % 3 picks the mode:
 *   0: msg1(64) || msg3(112), both raw from the input
 *   1: msg1 from a real client, msg3 raw from the input
 *   2: msg1 and msg3 from a real client, msg3 XORed with the input:
 *      unchanged it must succeed and agree with the client, changed fail. */
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
	struct shs_outcome oc, os;
	uint8_t m1[64], m2[64], m3[112], m4[80], changed = 0;
	int mode, rc;

	keys();
	if (size < 1)
		return 0;
	mode = data[0] % 3, data++, size--;
	shs_client_init(&c, n, apk, ask, bpk, eph);
	shs_server_init(&s, n, bpk, bsk, eph + 32);
	if (mode == 0 && size >= 64)
		memcpy(m1, data, 64), data += 64, size -= 64;
	else if (mode == 0 || shs_client_hello(&c, m1) != 0)
		goto out;
	if ((rc = shs_server_verify_hello(&s, m1)) != 0) {
		CHECK_FAILED(s, rc);
		if (mode != 0)
			__builtin_trap(); /* a real client's msg1 was refused */
		goto out;
	}
	if (shs_server_hello(&s, m2) != 0 || shs_want(&s) != 112)
		__builtin_trap();
	if (mode == 2) {
		if (shs_client_verify_hello(&c, m2) != 0 || shs_client_auth(&c, m3) != 0)
			__builtin_trap();
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
