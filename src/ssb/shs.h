/* shs — Secret Handshake v1 (protocol.md §3), I/O-free.
 *
 *   client                                   server
 *   msg1  hmac(N, a) || a            64 ->
 *                                 <- 64      msg2  hmac(N, b) || b
 *   msg3  box(K3, 0, sigA || A)     112 ->
 *                                 <- 80      msg4  box(K4, 0, sigB)
 *
 * The caller moves bytes; this module only computes. Randomness (the
 * ephemeral secret) is passed to init, so vectors reproduce exactly.
 * Every step checks `step`: calling out of order returns -EINVAL and
 * poisons the state. Any failure leaves step == SHS_FAILED; the caller
 * closes the connection without writing anything more. */
#ifndef FAIRWAY_SHS_H
#define FAIRWAY_SHS_H

#include <stdbool.h>
#include <stdint.h>

#define SHS_MSG1_BYTES 64
#define SHS_MSG2_BYTES 64
#define SHS_MSG3_BYTES 112
#define SHS_MSG4_BYTES 80

#define SHS_STEPS(XX)                                                        \
	XX(SHS_CLIENT_SEND_HELLO)   /* client: produce msg1 */               \
	XX(SHS_CLIENT_WAIT_HELLO)   /* client: verify msg2 */                \
	XX(SHS_CLIENT_SEND_AUTH)    /* client: produce msg3 */               \
	XX(SHS_CLIENT_WAIT_ACCEPT)  /* client: verify msg4 */                \
	XX(SHS_SERVER_WAIT_HELLO)   /* server: verify msg1 */                \
	XX(SHS_SERVER_SEND_HELLO)   /* server: produce msg2 */               \
	XX(SHS_SERVER_WAIT_AUTH)    /* server: verify msg3 */                \
	XX(SHS_SERVER_SEND_ACCEPT)  /* server: authorize, then produce msg4 */ \
	XX(SHS_DONE)                                                         \
	XX(SHS_FAILED)

enum shs_step {
#define XX(s) s,
	SHS_STEPS(XX)
#undef XX
};

const char *shs_step_name(enum shs_step s);

struct shs {
	enum shs_step step;
	uint8_t net_key[32];           /* N */
	uint8_t local_pk[32];          /* our long-term ed25519 pk */
	uint8_t local_sk[64];          /* our long-term ed25519 sk */
	uint8_t remote_pk[32];         /* server: known after msg3 */
	uint8_t eph_pk[32], eph_sk[32];/* our ephemeral x25519 pair */
	uint8_t remote_eph_pk[32];
	uint8_t local_mac[32];         /* hmac(N, our eph pk): our hello tag */
	uint8_t remote_mac[32];        /* the peer's hello tag */
	uint8_t ab[32], aB[32], Ab[32];/* shared secrets (client's naming) */
	uint8_t sig_a[64];             /* client's signature (both sides keep it) */
};

/* The result both sides derive (protocol.md §3.3). */
struct shs_outcome {
	uint8_t enc_key[32], enc_nonce[24]; /* for what we send */
	uint8_t dec_key[32], dec_nonce[24]; /* for what we receive */
	uint8_t remote_pk[32];              /* the authenticated peer */
};

/* eph_sk: 32 random bytes, used as the X25519 secret. */
void shs_client_init(struct shs *s, const uint8_t net_key[static 32],
                     const uint8_t local_pk[static 32], const uint8_t local_sk[static 64],
                     const uint8_t server_pk[static 32], const uint8_t eph_sk[static 32]);
void shs_server_init(struct shs *s, const uint8_t net_key[static 32],
                     const uint8_t local_pk[static 32], const uint8_t local_sk[static 64],
                     const uint8_t eph_sk[static 32]);

/* Bytes the next wait step expects (64, 112 or 80), 0 when the next step
 * produces bytes or the handshake is over. */
unsigned shs_want(const struct shs *s);

/* Each returns 0, or -EBADMSG when the peer's bytes fail a check, or
 * -EINVAL when called out of order. */
__attribute__((warn_unused_result)) int shs_client_hello(struct shs *s, uint8_t out[static 64]);
__attribute__((warn_unused_result)) int shs_client_verify_hello(struct shs *s, const uint8_t in[static 64]);
__attribute__((warn_unused_result)) int shs_client_auth(struct shs *s, uint8_t out[static 112]);
__attribute__((warn_unused_result)) int shs_client_verify_accept(struct shs *s, const uint8_t in[static 80]);

__attribute__((warn_unused_result)) int shs_server_verify_hello(struct shs *s, const uint8_t in[static 64]);
__attribute__((warn_unused_result)) int shs_server_hello(struct shs *s, uint8_t out[static 64]);
/* After success s->remote_pk holds the client's key: authorize it before
 * shs_server_accept(); to refuse, just close (JS sends nothing either). */
__attribute__((warn_unused_result)) int shs_server_verify_auth(struct shs *s, const uint8_t in[static 112]);
__attribute__((warn_unused_result)) int shs_server_accept(struct shs *s, uint8_t out[static 80]);

/* Only valid in SHS_DONE; returns -EINVAL otherwise. */
__attribute__((warn_unused_result)) int shs_outcome(const struct shs *s, struct shs_outcome *out);

/* Wipes every secret in s (and in an outcome). Safe to call twice. */
void shs_wipe(struct shs *s);
void shs_outcome_wipe(struct shs_outcome *o);

#endif
