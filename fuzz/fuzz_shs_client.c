/* The input plays the server against a fixed client (protocol.md §3.4 keys,
 * so the vector's msg2/msg4 are valid inputs). data[0] % 3 picks the mode:
 *   0: msg2(64) || msg4(80), both raw from the input
 *   1: msg2 from a real server, msg4 raw from the input
 *   2: msg2 and msg4 from a real server, msg4 XORed with the input:
 *      unchanged it must succeed and agree with the server, changed fail. */
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
	struct shs_outcome oc, os;
	uint8_t m1[64], m2[64], m3[112], m4[80], changed = 0;
	int mode, rc;

	keys();
	if (size < 1)
		return 0;
	mode = data[0] % 3, data++, size--;
	shs_client_init(&c, n, apk, ask, bpk, eph);
	shs_server_init(&s, n, bpk, bsk, eph + 32);
	if (shs_client_hello(&c, m1) != 0 || shs_want(&c) != 64)
		__builtin_trap();
	if (mode == 0 && size >= 64)
		memcpy(m2, data, 64), data += 64, size -= 64;
	else if (mode == 0 || shs_server_verify_hello(&s, m1) != 0 || shs_server_hello(&s, m2) != 0)
		goto out;
	if ((rc = shs_client_verify_hello(&c, m2)) != 0) {
		CHECK_FAILED(c, rc);
		if (mode != 0)
			__builtin_trap(); /* a real server's msg2 was refused */
		goto out;
	}
	if (shs_client_auth(&c, m3) != 0 || shs_want(&c) != 80)
		__builtin_trap();
	if (mode == 2) {
		if (shs_server_verify_auth(&s, m3) != 0 || shs_server_accept(&s, m4) != 0)
			__builtin_trap();
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
