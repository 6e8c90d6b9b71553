/* shs1-test client adapter (npm shs1-test@1.1.1, protocol.md §3.5).
 *
 *   shs1_client N_hex(32) server_pk_hex(32)
 *
 *   stdout <- msg1(64)                  stdin -> msg2(64)
 *   stdout <- msg3(112)                 stdin -> msg4(80)
 *   stdout <- outcome(112) = enc_key(32) || enc_nonce(24) || dec_key(32) || dec_nonce(24)
 *
 * The client's long-term identity is not given by the harness: a fresh one
 * is generated per run. On a misbehaving server: exit 1, nothing more on
 * stdout. */
#include <signal.h>

#include "shs.h"
#include "shs1_io.h"

int main(int argc, char **argv)
{
	struct shs c;
	struct shs_outcome o;
	uint8_t n[32], server_pk[32], pk[32], sk[64], eph[32];
	uint8_t m1[SHS_MSG1_BYTES], m2[SHS_MSG2_BYTES], m3[SHS_MSG3_BYTES], m4[SHS_MSG4_BYTES];
	uint8_t res[112];
	int rc, status = SHS1_REFUSED;

	memset(&c, 0, sizeof(c));
	memset(&o, 0, sizeof(o));
	memset(sk, 0, sizeof(sk));
	if (argc != 3 || sodium_init() < 0 || shs1_hex_arg(n, 32, argv[1]) < 0 ||
	    shs1_hex_arg(server_pk, 32, argv[2]) < 0) {
		fprintf(stderr, "usage: %s N_hex server_pk_hex\n", argv[0]);
		status = SHS1_USAGE;
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	crypto_sign_keypair(pk, sk);
	randombytes_buf(eph, sizeof(eph));
	shs_client_init(&c, n, pk, sk, server_pk, eph);

	if ((rc = shs_client_hello(&c, m1)) < 0 ||
	    (rc = shs1_write_full(STDOUT_FILENO, m1, sizeof(m1))) < 0)
		goto out;
	if ((rc = shs1_read_full(STDIN_FILENO, m2, sizeof(m2))) < 0 ||
	    (rc = shs_client_verify_hello(&c, m2)) < 0) {
		shs1_debug("shs1_client: msg2: %s", strerror(-rc));
		goto out;
	}
	if ((rc = shs_client_auth(&c, m3)) < 0 ||
	    (rc = shs1_write_full(STDOUT_FILENO, m3, sizeof(m3))) < 0)
		goto out;
	if ((rc = shs1_read_full(STDIN_FILENO, m4, sizeof(m4))) < 0 ||
	    (rc = shs_client_verify_accept(&c, m4)) < 0 || (rc = shs_outcome(&c, &o)) < 0) {
		shs1_debug("shs1_client: msg4: %s", strerror(-rc));
		goto out;
	}
	memcpy(res, o.enc_key, 32);
	memcpy(res + 32, o.enc_nonce, 24);
	memcpy(res + 56, o.dec_key, 32);
	memcpy(res + 88, o.dec_nonce, 24);
	if (shs1_write_full(STDOUT_FILENO, res, sizeof(res)) < 0)
		goto out;
	status = SHS1_OK;
out:
	shs_wipe(&c);
	shs_outcome_wipe(&o);
	sodium_memzero(n, sizeof(n));
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(eph, sizeof(eph));
	sodium_memzero(res, sizeof(res));
	return status;
}
