/* shs — Secret Handshake v1 (protocol.md §3), I/O-free.
 *
 * Naming follows the spec and keeps the *client's* point of view on both
 * sides: a/ask = client ephemeral, A/Ask = client long-term, b/bsk = server
 * ephemeral, B/Bsk = server long-term, N = network key. So on the server
 * s->eph_sk is bsk and s->remote_eph_pk is a, but s->ab still means
 * "ab" = X25519(client eph, server eph) on both sides.
 *
 * Every message handler first checks s->step (step_enter), does its work on
 * stack temporaries, and leaves through `out:` where the temporaries are
 * wiped; on any failure the whole state is poisoned by shs_fail(). */
#include "shs.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

/* box(K, zero24, m): each of K3 and K4 encrypts exactly one message, so a
 * constant all-zero nonce never repeats under one key. */
static const uint8_t zero_nonce[crypto_secretbox_NONCEBYTES];

const char *shs_step_name(enum shs_step s)
{
	switch (s) {
#define XX(n) case n: return #n;
		SHS_STEPS(XX)
#undef XX
	}
	return "SHS_UNKNOWN";
}

/* Poisons the state: wipe every secret (the caller will close without
 * writing), keep only public values a log line might want. */
static void shs_fail(struct shs *s)
{
	sodium_memzero(s->net_key, sizeof(s->net_key));
	sodium_memzero(s->local_sk, sizeof(s->local_sk));
	sodium_memzero(s->eph_sk, sizeof(s->eph_sk));
	sodium_memzero(s->ab, sizeof(s->ab));
	sodium_memzero(s->aB, sizeof(s->aB));
	sodium_memzero(s->Ab, sizeof(s->Ab));
	sodium_memzero(s->sig_a, sizeof(s->sig_a));
	s->step = SHS_FAILED;
}

/* Out-of-order calls are a caller bug, but they must not let a peer skip a
 * check (e.g. accept before verify_auth), so they poison the state too. */
static int step_enter(struct shs *s, enum shs_step want)
{
	if (s->step == want)
		return 0;
	shs_fail(s);
	return -EINVAL;
}

static void shs_init(struct shs *s, const uint8_t net_key[static 32],
                     const uint8_t local_pk[static 32], const uint8_t local_sk[static 64],
                     const uint8_t eph_sk[static 32], enum shs_step first)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->net_key, net_key, 32);
	memcpy(s->local_pk, local_pk, 32);
	memcpy(s->local_sk, local_sk, 64);
	memcpy(s->eph_sk, eph_sk, 32);
	/* Our ephemeral X25519 pair; crypto_scalarmult_base clamps eph_sk. */
	crypto_scalarmult_base(s->eph_pk, s->eph_sk);
	/* hello tag = hmac(N, eph_pk); its first 24 bytes are also the
	 * starting nonce of the stream we *receive* (§3.3). */
	crypto_auth_hmacsha512256(s->local_mac, s->eph_pk, 32, s->net_key);
	s->step = first;
}

void shs_client_init(struct shs *s, const uint8_t net_key[static 32],
                     const uint8_t local_pk[static 32], const uint8_t local_sk[static 64],
                     const uint8_t server_pk[static 32], const uint8_t eph_sk[static 32])
{
	shs_init(s, net_key, local_pk, local_sk, eph_sk, SHS_CLIENT_SEND_HELLO);
	memcpy(s->remote_pk, server_pk, 32);
}

void shs_server_init(struct shs *s, const uint8_t net_key[static 32],
                     const uint8_t local_pk[static 32], const uint8_t local_sk[static 64],
                     const uint8_t eph_sk[static 32])
{
	shs_init(s, net_key, local_pk, local_sk, eph_sk, SHS_SERVER_WAIT_HELLO);
}

unsigned shs_want(const struct shs *s)
{
	switch (s->step) {
	case SHS_CLIENT_WAIT_HELLO:  return SHS_MSG2_BYTES;
	case SHS_CLIENT_WAIT_ACCEPT: return SHS_MSG4_BYTES;
	case SHS_SERVER_WAIT_HELLO:  return SHS_MSG1_BYTES;
	case SHS_SERVER_WAIT_AUTH:   return SHS_MSG3_BYTES;
	default:                     return 0;
	}
}

/* msg1 / msg2 = hmac(N, eph_pk)(32) || eph_pk(32) */
static void hello_write(const struct shs *s, uint8_t out[static 64])
{
	memcpy(out, s->local_mac, 32);
	memcpy(out + 32, s->eph_pk, 32);
}

/* Checks the peer's hello tag in constant time and keeps its ephemeral key
 * and tag (the tag's first 24 bytes seed the stream we send). */
static int hello_read(struct shs *s, const uint8_t in[static 64])
{
	if (crypto_auth_hmacsha512256_verify(in, in + 32, 32, s->net_key) != 0)
		return -EBADMSG;
	memcpy(s->remote_mac, in, 32);
	memcpy(s->remote_eph_pk, in + 32, 32);
	return 0;
}

/* K3 = sha256(N || ab || aB) */
static void derive_k3(const struct shs *s, uint8_t k3[static 32])
{
	uint8_t buf[96];

	memcpy(buf, s->net_key, 32);
	memcpy(buf + 32, s->ab, 32);
	memcpy(buf + 64, s->aB, 32);
	crypto_hash_sha256(k3, buf, sizeof(buf));
	sodium_memzero(buf, sizeof(buf));
}

/* K4 = sha256(N || ab || aB || Ab) */
static void derive_k4(const struct shs *s, uint8_t k4[static 32])
{
	uint8_t buf[128];

	memcpy(buf, s->net_key, 32);
	memcpy(buf + 32, s->ab, 32);
	memcpy(buf + 64, s->aB, 32);
	memcpy(buf + 96, s->Ab, 32);
	crypto_hash_sha256(k4, buf, sizeof(buf));
	sodium_memzero(buf, sizeof(buf));
}

/* What the client signs: N(32) || B(32) || sha256(ab)(32) = 96 bytes. */
static void auth_payload(const struct shs *s, const uint8_t server_pk[static 32],
                         uint8_t msg[static 96])
{
	memcpy(msg, s->net_key, 32);
	memcpy(msg + 32, server_pk, 32);
	crypto_hash_sha256(msg + 64, s->ab, 32);
}

/* What the server signs: N(32) || sigA(64) || A(32) || sha256(ab)(32)
 * = 160 bytes. */
static void accept_payload(const struct shs *s, const uint8_t client_pk[static 32],
                           uint8_t msg[static 160])
{
	memcpy(msg, s->net_key, 32);
	memcpy(msg + 32, s->sig_a, 64);
	memcpy(msg + 96, client_pk, 32);
	crypto_hash_sha256(msg + 128, s->ab, 32);
}

int shs_client_hello(struct shs *s, uint8_t out[static 64])
{
	int rc = step_enter(s, SHS_CLIENT_SEND_HELLO);

	if (rc < 0)
		return rc;
	hello_write(s, out); /* msg1 = hmac(N, a) || a */
	s->step = SHS_CLIENT_WAIT_HELLO;
	return 0;
}

int shs_client_verify_hello(struct shs *s, const uint8_t in[static 64])
{
	uint8_t server_x[32]; /* ed2x_pk(B) */
	int rc = step_enter(s, SHS_CLIENT_WAIT_HELLO);

	if (rc < 0)
		return rc;
	/* msg2 = hmac(N, b) || b */
	rc = hello_read(s, in);
	if (rc < 0)
		goto out;
	rc = -EBADMSG;
	/* ab = a_s * b_p; crypto_scalarmult fails on an all-zero result, i.e.
	 * when the peer sent a low-order point to force a known secret. */
	if (crypto_scalarmult(s->ab, s->eph_sk, s->remote_eph_pk) != 0)
		goto out;
	/* aB = a_s * ed2x(B_p). The conversion rejects a B that is not a valid
	 * point: that is our configuration, but the handshake cannot succeed. */
	if (crypto_sign_ed25519_pk_to_curve25519(server_x, s->remote_pk) != 0)
		goto out;
	if (crypto_scalarmult(s->aB, s->eph_sk, server_x) != 0)
		goto out;
	/* The client's ephemeral secret is used in ab and aB only: drop it now
	 * (Ab uses our long-term key and b). */
	sodium_memzero(s->eph_sk, sizeof(s->eph_sk));
	s->step = SHS_CLIENT_SEND_AUTH;
	rc = 0;
out:
	sodium_memzero(server_x, sizeof(server_x));
	if (rc < 0)
		shs_fail(s);
	return rc;
}

int shs_client_auth(struct shs *s, uint8_t out[static 112])
{
	uint8_t k3[32], msg[96], plain[96], local_x[32];
	int rc = step_enter(s, SHS_CLIENT_SEND_AUTH);

	if (rc < 0)
		return rc;
	derive_k3(s, k3);
	/* sigA = sign(A_s, N || B || sha256(ab)) */
	auth_payload(s, s->remote_pk, msg);
	rc = -EBADMSG;
	if (crypto_sign_detached(s->sig_a, NULL, msg, sizeof(msg), s->local_sk) != 0)
		goto out;
	/* msg3 = box(K3, 0, sigA(64) || A(32)), 16 + 96 = 112 bytes */
	memcpy(plain, s->sig_a, 64);
	memcpy(plain + 64, s->local_pk, 32);
	if (crypto_secretbox_easy(out, plain, sizeof(plain), zero_nonce, k3) != 0)
		goto out;
	/* Ab = ed2x(A_s) * b_p, needed to open msg4 (K4). */
	if (crypto_sign_ed25519_sk_to_curve25519(local_x, s->local_sk) != 0)
		goto out;
	if (crypto_scalarmult(s->Ab, local_x, s->remote_eph_pk) != 0)
		goto out;
	s->step = SHS_CLIENT_WAIT_ACCEPT;
	rc = 0;
out:
	sodium_memzero(k3, sizeof(k3));
	sodium_memzero(msg, sizeof(msg));
	sodium_memzero(plain, sizeof(plain));
	sodium_memzero(local_x, sizeof(local_x));
	if (rc < 0) {
		sodium_memzero(out, SHS_MSG3_BYTES); /* never half a message */
		shs_fail(s);
	}
	return rc;
}

int shs_client_verify_accept(struct shs *s, const uint8_t in[static 80])
{
	uint8_t k4[32], msg[160], sig_b[64];
	int rc = step_enter(s, SHS_CLIENT_WAIT_ACCEPT);

	if (rc < 0)
		return rc;
	rc = -EBADMSG;
	derive_k4(s, k4);
	/* sigB = unbox(K4, 0, msg4) */
	if (crypto_secretbox_open_easy(sig_b, in, SHS_MSG4_BYTES, zero_nonce, k4) != 0)
		goto out;
	/* verify(B, sigB, N || sigA || A || sha256(ab)) */
	accept_payload(s, s->local_pk, msg);
	if (crypto_sign_verify_detached(sig_b, msg, sizeof(msg), s->remote_pk) != 0)
		goto out;
	s->step = SHS_DONE;
	rc = 0;
out:
	sodium_memzero(k4, sizeof(k4));
	sodium_memzero(msg, sizeof(msg));
	sodium_memzero(sig_b, sizeof(sig_b));
	if (rc < 0)
		shs_fail(s);
	return rc;
}

int shs_server_verify_hello(struct shs *s, const uint8_t in[static 64])
{
	uint8_t local_x[32]; /* ed2x_sk(B_s) */
	int rc = step_enter(s, SHS_SERVER_WAIT_HELLO);

	if (rc < 0)
		return rc;
	/* msg1 = hmac(N, a) || a: a wrong N fails here, before we reply. */
	rc = hello_read(s, in);
	if (rc < 0)
		goto out;
	rc = -EBADMSG;
	/* ab = b_s * a_p (rejects low-order a) */
	if (crypto_scalarmult(s->ab, s->eph_sk, s->remote_eph_pk) != 0)
		goto out;
	/* aB = ed2x(B_s) * a_p */
	if (crypto_sign_ed25519_sk_to_curve25519(local_x, s->local_sk) != 0)
		goto out;
	if (crypto_scalarmult(s->aB, local_x, s->remote_eph_pk) != 0)
		goto out;
	s->step = SHS_SERVER_SEND_HELLO;
	rc = 0;
out:
	sodium_memzero(local_x, sizeof(local_x));
	if (rc < 0)
		shs_fail(s);
	return rc;
}

int shs_server_hello(struct shs *s, uint8_t out[static 64])
{
	int rc = step_enter(s, SHS_SERVER_SEND_HELLO);

	if (rc < 0)
		return rc;
	hello_write(s, out); /* msg2 = hmac(N, b) || b */
	s->step = SHS_SERVER_WAIT_AUTH;
	return 0;
}

int shs_server_verify_auth(struct shs *s, const uint8_t in[static 112])
{
	uint8_t k3[32], plain[96], msg[96], client_x[32];
	int rc = step_enter(s, SHS_SERVER_WAIT_AUTH);

	if (rc < 0)
		return rc;
	rc = -EBADMSG;
	derive_k3(s, k3);
	/* sigA(64) || A(32) = unbox(K3, 0, msg3) */
	if (crypto_secretbox_open_easy(plain, in, SHS_MSG3_BYTES, zero_nonce, k3) != 0)
		goto out;
	/* verify(A, sigA, N || B || sha256(ab)): B is our own key. */
	auth_payload(s, s->local_pk, msg);
	if (crypto_sign_verify_detached(plain, msg, sizeof(msg), plain + 64) != 0)
		goto out;
	/* Ab = b_s * ed2x(A_p); a bad A would already have failed verify, but
	 * the conversion has its own checks, so honour them. */
	if (crypto_sign_ed25519_pk_to_curve25519(client_x, plain + 64) != 0)
		goto out;
	if (crypto_scalarmult(s->Ab, s->eph_sk, client_x) != 0)
		goto out;
	memcpy(s->sig_a, plain, 64);
	memcpy(s->remote_pk, plain + 64, 32);
	/* Ab was bsk's last use (ab is done, aB used B_s): drop it. */
	sodium_memzero(s->eph_sk, sizeof(s->eph_sk));
	s->step = SHS_SERVER_SEND_ACCEPT;
	rc = 0;
out:
	sodium_memzero(k3, sizeof(k3));
	sodium_memzero(plain, sizeof(plain));
	sodium_memzero(msg, sizeof(msg));
	sodium_memzero(client_x, sizeof(client_x));
	if (rc < 0)
		shs_fail(s);
	return rc;
}

int shs_server_accept(struct shs *s, uint8_t out[static 80])
{
	uint8_t k4[32], msg[160], sig_b[64];
	int rc = step_enter(s, SHS_SERVER_SEND_ACCEPT);

	if (rc < 0)
		return rc;
	rc = -EBADMSG;
	derive_k4(s, k4);
	/* sigB = sign(B_s, N || sigA || A || sha256(ab)) */
	accept_payload(s, s->remote_pk, msg);
	if (crypto_sign_detached(sig_b, NULL, msg, sizeof(msg), s->local_sk) != 0)
		goto out;
	/* msg4 = box(K4, 0, sigB), 16 + 64 = 80 bytes */
	if (crypto_secretbox_easy(out, sig_b, sizeof(sig_b), zero_nonce, k4) != 0)
		goto out;
	s->step = SHS_DONE;
	rc = 0;
out:
	sodium_memzero(k4, sizeof(k4));
	sodium_memzero(msg, sizeof(msg));
	sodium_memzero(sig_b, sizeof(sig_b));
	if (rc < 0) {
		sodium_memzero(out, SHS_MSG4_BYTES);
		shs_fail(s);
	}
	return rc;
}

/* §3.3:  S = sha256(K4)
 *        enc_key = sha256(S || remote_pk), enc_nonce = remote_mac[0..24]
 *        dec_key = sha256(S || local_pk),  dec_nonce = local_mac[0..24]
 * i.e. each direction is keyed to its *receiver's* long-term key and starts
 * at the receiver's hello tag. */
int shs_outcome(const struct shs *s, struct shs_outcome *out)
{
	uint8_t k4[32], buf[64];

	if (s->step != SHS_DONE)
		return -EINVAL;
	derive_k4(s, k4);
	crypto_hash_sha256(buf, k4, sizeof(k4)); /* buf = S || ... */
	memcpy(buf + 32, s->remote_pk, 32);
	crypto_hash_sha256(out->enc_key, buf, sizeof(buf));
	memcpy(buf + 32, s->local_pk, 32);
	crypto_hash_sha256(out->dec_key, buf, sizeof(buf));
	memcpy(out->enc_nonce, s->remote_mac, 24);
	memcpy(out->dec_nonce, s->local_mac, 24);
	memcpy(out->remote_pk, s->remote_pk, 32);
	sodium_memzero(k4, sizeof(k4));
	sodium_memzero(buf, sizeof(buf));
	return 0;
}

void shs_wipe(struct shs *s)
{
	sodium_memzero(s, sizeof(*s));
	s->step = SHS_FAILED; /* a wiped state must not look like a fresh one */
}

void shs_outcome_wipe(struct shs_outcome *o)
{
	sodium_memzero(o, sizeof(*o));
}
