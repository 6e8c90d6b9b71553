/* keys — ed25519 identities and the ssb-keys `secret` file.
 *
 * An identity is libsodium's 64-byte secret key (seed || public) and the
 * 32-byte public key. Its text form, the feed id, is
 *     "@" base64(pub) ".ed25519"          (always 53 characters)
 * and the same key bare in multiserver `shs:` sections is base64(pub) (44).
 *
 * The secret file is what ssb-keys 7.x/8.x writes (protocol.md §1.3):
 *     # comment lines
 *     { "curve": "ed25519", "public": "<b64>.ed25519",
 *       "private": "<b64 of 64 bytes>.ed25519", "id": "@<b64>.ed25519" }
 *     # more comment lines, the last repeating the id
 * Pure parsing lives in keys_parse_secret(); the file functions add the
 * permission checks and I/O. */
#ifndef FAIRWAY_KEYS_H
#define FAIRWAY_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define KEYS_PK_BYTES 32
#define KEYS_SK_BYTES 64
#define KEYS_ID_LEN 53     /* "@" + 44 + ".ed25519" */
#define KEYS_B64_LEN 44    /* base64 of 32 bytes, padded */

struct keys {
	uint8_t pk[KEYS_PK_BYTES];
	uint8_t sk[KEYS_SK_BYTES]; /* seed(32) || pk(32): wipe with keys_wipe() */
};

/* Fills k from 32 bytes of seed (randomness passed in). */
void keys_from_seed(struct keys *k, const uint8_t seed[static 32]);
void keys_wipe(struct keys *k);

/* Writes the feed id, NUL-terminated, into out (KEYS_ID_LEN + 1 bytes). */
void keys_id_format(char out[static KEYS_ID_LEN + 1], const uint8_t pk[static 32]);

/* Parses "@<b64>.ed25519". Canonical base64 only (ssb-ref rule: the 43rd
 * character's two unused bits must be zero). Returns 0 or -EINVAL. */
__attribute__((warn_unused_result))
int keys_id_parse(const char *s, size_t len, uint8_t pk[static 32]);

/* Bare base64 public key (as in `shs:<key>`): exactly 44 characters,
 * canonical, 32 bytes. Returns 0 or -EINVAL. */
__attribute__((warn_unused_result))
int keys_pk_parse_b64(const char *s, size_t len, uint8_t pk[static 32]);
void keys_pk_format_b64(char out[static KEYS_B64_LEN + 1], const uint8_t pk[static 32]);

/* Parses the text of a secret file. On failure returns -EINVAL and, when
 * err is not NULL, writes a one-line reason ("no JSON object", "private key
 * is not 64 bytes of base64", "public key does not match private key"...)
 * that never contains key material. */
__attribute__((warn_unused_result))
int keys_parse_secret(const char *text, size_t len, struct keys *out,
                      char *err, size_t errlen);

/* Renders the secret file text (ssb-keys layout). Returns a malloc'd,
 * NUL-terminated string the caller must sodium_memzero() and free(), or NULL
 * on allocation failure. */
char *keys_format_secret(const struct keys *k);

/* Loads path. Refuses a file readable or writable by group/others (-EPERM),
 * a missing file (-ENOENT), malformed content (-EINVAL). err receives a
 * message naming the file and the problem. */
__attribute__((warn_unused_result))
int keys_load_file(const char *path, struct keys *out, char *err, size_t errlen);

/* Creates path with mode 0600 (O_EXCL: refuses to overwrite, -EEXIST),
 * creating the parent directory (0700) if missing. */
__attribute__((warn_unused_result))
int keys_save_file(const char *path, const struct keys *k, char *err, size_t errlen);

/* The default secret path: $FAIRWAY_HOME/secret, FAIRWAY_HOME defaulting to
 * ~/.fairway. Writes into out; returns 0 or -ENAMETOOLONG. */
int keys_default_path(char *out, size_t outlen);

#endif
