/* shs1-test server adapter (npm shs1-test@1.1.1, protocol.md §3.5).
 *
 *   shs1_server N_hex(32) server_sk_hex(64) server_pk_hex(32)
 *
 *   stdin  -> msg1(64)                  stdout <- msg2(64)
 *   stdin  -> msg3(112)                 stdout <- msg4(80) || outcome(112)
 *   outcome = enc_key(32) || enc_nonce(24) || dec_key(32) || dec_nonce(24)
 *
 * On a misbehaving client: exit 1 having written nothing more. */
#include <signal.h>

#include "shs.h"
#include "shs1_io.h"

int main(int argc, char **argv)
{
	struct shs s;
	struct shs_outcome o;
	uint8_t n[32], sk[64], pk[32], eph[32];
	uint8_t m1[SHS_MSG1_BYTES], m2[SHS_MSG2_BYTES], m3[SHS_MSG3_BYTES];
	uint8_t reply[SHS_MSG4_BYTES + 112]; /* msg4 || outcome, one write */
	int rc, status = SHS1_REFUSED;

	memset(&s, 0, sizeof(s));
	memset(&o, 0, sizeof(o));
	if (argc != 4 || sodium_init() < 0 || shs1_hex_arg(n, 32, argv[1]) < 0 ||
	    shs1_hex_arg(sk, 64, argv[2]) < 0 || shs1_hex_arg(pk, 32, argv[3]) < 0) {
		fprintf(stderr, "usage: %s N_hex server_sk_hex server_pk_hex\n", argv[0]);
		status = SHS1_USAGE;
		goto out;
	}
	/* A vanished harness must give us EPIPE, not a signal death. */
	signal(SIGPIPE, SIG_IGN);
	randombytes_buf(eph, sizeof(eph));
	shs_server_init(&s, n, pk, sk, eph);

	if ((rc = shs1_read_full(STDIN_FILENO, m1, sizeof(m1))) < 0 ||
	    (rc = shs_server_verify_hello(&s, m1)) < 0) {
		shs1_debug("shs1_server: msg1: %s", strerror(-rc));
		goto out;
	}
	if ((rc = shs_server_hello(&s, m2)) < 0 ||
	    (rc = shs1_write_full(STDOUT_FILENO, m2, sizeof(m2))) < 0)
		goto out;
	if ((rc = shs1_read_full(STDIN_FILENO, m3, sizeof(m3))) < 0 ||
	    (rc = shs_server_verify_auth(&s, m3)) < 0) {
		shs1_debug("shs1_server: msg3: %s", strerror(-rc));
		goto out;
	}
	/* No authorization policy here: every authenticated client is let in. */
	if ((rc = shs_server_accept(&s, reply)) < 0 || (rc = shs_outcome(&s, &o)) < 0)
		goto out;
	memcpy(reply + 80, o.enc_key, 32);
	memcpy(reply + 112, o.enc_nonce, 24);
	memcpy(reply + 136, o.dec_key, 32);
	memcpy(reply + 168, o.dec_nonce, 24);
	if (shs1_write_full(STDOUT_FILENO, reply, sizeof(reply)) < 0)
		goto out;
	status = SHS1_OK;
out:
	shs_wipe(&s);
	shs_outcome_wipe(&o);
	sodium_memzero(n, sizeof(n));
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(eph, sizeof(eph));
	sodium_memzero(reply, sizeof(reply));
	return status;
}
