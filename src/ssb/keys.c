/* keys — ed25519 identities, feed ids and the ssb-keys `secret` file.
 *
 * Everything that touches key material wipes its temporaries with
 * sodium_memzero before returning, on success and failure alike, and no
 * error message ever quotes the input (it may be a private key). */
#include "keys.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEYS_SUFFIX ".ed25519"
#define KEYS_SUFFIX_LEN 8
#define KEYS_SK_B64_LEN 88            /* base64 of 64 bytes, "==" padded */
#define KEYS_FILE_MAX (64 * 1024)     /* a real secret file is ~700 bytes */

/* The 43rd character of a 44-character base64 encoding of 32 bytes carries
 * 4 significant bits and 2 unused ones; ssb-ref only accepts the encoding
 * whose unused bits are zero, i.e. one of these 16 characters. */
static const char canonical_last[] = "AEIMQUYcgkosw048";


void keys_from_seed(struct keys *k, const uint8_t seed[static 32])
{
	crypto_sign_seed_keypair(k->pk, k->sk, seed);
}

void keys_wipe(struct keys *k)
{
	sodium_memzero(k, sizeof(*k));
}

void keys_pk_format_b64(char out[static KEYS_B64_LEN + 1], const uint8_t pk[static 32])
{
	sodium_bin2base64(out, KEYS_B64_LEN + 1, pk, KEYS_PK_BYTES,
	                  sodium_base64_VARIANT_ORIGINAL);
}

void keys_id_format(char out[static KEYS_ID_LEN + 1], const uint8_t pk[static 32])
{
	out[0] = '@';
	keys_pk_format_b64(out + 1, pk);
	memcpy(out + 1 + KEYS_B64_LEN, KEYS_SUFFIX, KEYS_SUFFIX_LEN + 1);
}

/* Decodes padded standard base64 of exactly binlen bytes into bin.
 *
 * The alphabet is checked here first because libsodium 1.0.18's decoder
 * accepts every byte >= 0x80 as a base64 digit, which would give one key
 * many spellings. The check does not branch on the characters (this also
 * decodes private keys). libsodium then rejects non-zero padding bits. */
static int b64_decode_exact(const char *s, size_t len, uint8_t *bin, size_t binlen)
{
	size_t digits = (binlen * 4 + 2) / 3, n = 0;
	unsigned bad = 0;

	if (len != (binlen + 2) / 3 * 4)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned c = (unsigned char)s[i];
		unsigned digit = ((c >= 'A') & (c <= 'Z')) | ((c >= 'a') & (c <= 'z')) |
		                 ((c >= '0') & (c <= '9')) | (c == '+') | (c == '/');

		bad |= (i < digits) ? digit ^ 1u : (unsigned)(c != '=');
	}
	if (bad != 0)
		return -EINVAL;
	if (sodium_base642bin(bin, binlen, s, len, NULL, &n, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 || n != binlen)
		return -EINVAL;
	return 0;
}

int keys_pk_parse_b64(const char *s, size_t len, uint8_t pk[static 32])
{
	uint8_t tmp[KEYS_PK_BYTES];

	/* 43 significant characters, one '=', and a canonical 43rd char.
	 * libsodium also rejects non-zero padding bits, but the explicit test
	 * states the ssb-ref rule and does not depend on that detail. */
	if (len != KEYS_B64_LEN ||
	    memchr(canonical_last, s[KEYS_B64_LEN - 2], sizeof(canonical_last) - 1) == NULL)
		return -EINVAL;
	if (b64_decode_exact(s, len, tmp, sizeof(tmp)) != 0)
		return -EINVAL;
	memcpy(pk, tmp, sizeof(tmp));
	return 0;
}

int keys_id_parse(const char *s, size_t len, uint8_t pk[static 32])
{
	/* "@" <44 chars base64> ".ed25519"; ssb-ref's ".sha256" feed suffix is
	 * deliberately not accepted: no peer has such a key. */
	if (len != KEYS_ID_LEN || s[0] != '@' ||
	    memcmp(s + 1 + KEYS_B64_LEN, KEYS_SUFFIX, KEYS_SUFFIX_LEN) != 0)
		return -EINVAL;
	return keys_pk_parse_b64(s + 1, KEYS_B64_LEN, pk);
}

static bool is_js_space(char c)
{
	/* JS \s restricted to ASCII: the file is read as ASCII by ssb-keys. */
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* ssb-keys' reconstructKeys():
 *     text.replace(/\s*#[^\n]*\/g, "").split("\n").filter(nonEmpty).join("")
 * i.e. drop each '#' to end of line together with the whitespace (newlines
 * included) before it, then drop every '\n'. Writes into out (len bytes)
 * and returns the new length. Whitespace is only trimmed back to the end of
 * the previous comment: a regex match never reaches into an earlier one. */
static size_t strip_comments(const char *text, size_t len, char *out)
{
	size_t o = 0, mark = 0;

	for (size_t i = 0; i < len; i++) {
		if (text[i] == '#') {
			while (o > mark && is_js_space(out[o - 1]))
				o--;
			while (i + 1 < len && text[i + 1] != '\n')
				i++;
			mark = o;
			continue;
		}
		out[o++] = text[i];
	}
	/* split("\n") + drop empty lines + join("") == remove every '\n'. */
	size_t w = 0;
	for (size_t r = 0; r < o; r++)
		if (out[r] != '\n')
			out[w++] = out[r];
	return w;
}

/* Decodes "<base64>.ed25519" holding exactly binlen bytes. */
static int parse_tagged(const char *s, size_t len, uint8_t *bin, size_t binlen)
{
	if (len <= KEYS_SUFFIX_LEN ||
	    memcmp(s + len - KEYS_SUFFIX_LEN, KEYS_SUFFIX, KEYS_SUFFIX_LEN) != 0)
		return -EINVAL;
	return b64_decode_exact(s, len - KEYS_SUFFIX_LEN, bin, binlen);
}

/* jansson keeps its own copy of every string; overwrite the copies before
 * json_decref() frees them. (The lexer's scratch buffer is out of reach;
 * this is best effort.) The cast is fine: the storage is jansson's malloc'd
 * buffer, never a string literal. */
static void wipe_json_strings(json_t *obj)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		if (json_is_string(v))
			sodium_memzero((char *)(uintptr_t)json_string_value(v),
			               json_string_length(v));
	}
}

int keys_parse_secret(const char *text, size_t len, struct keys *out,
                      char *err, size_t errlen)
{
	struct keys k;
	uint8_t file_sk[KEYS_SK_BYTES], file_pk[KEYS_PK_BYTES], id_pk[KEYS_PK_BYTES];
	char *buf = NULL;
	size_t n;
	json_t *root = NULL, *v;
	int rc = -EINVAL;

	buf = malloc(len + 1);
	if (buf == NULL) {
		util_set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n = strip_comments(text, len, buf);
	/* Duplicate keys would let two readers see two different identities. */
	root = json_loadb(buf, n, JSON_REJECT_DUPLICATES, NULL);
	if (root == NULL || !json_is_object(root)) {
		util_set_err(err, errlen, "no JSON object");
		goto out;
	}

	v = json_object_get(root, "curve");
	if (v == NULL) {
		util_set_err(err, errlen, "missing \"curve\"");
		goto out;
	}
	if (!json_is_string(v) || strcmp(json_string_value(v), "ed25519") != 0) {
		util_set_err(err, errlen, "curve is not ed25519");
		goto out;
	}

	v = json_object_get(root, "private");
	if (v == NULL || !json_is_string(v)) {
		util_set_err(err, errlen, "missing \"private\" string");
		goto out;
	}
	if (parse_tagged(json_string_value(v), json_string_length(v),
	                 file_sk, sizeof(file_sk)) != 0) {
		util_set_err(err, errlen, "private key is not 64 bytes of base64 + \".ed25519\"");
		goto out;
	}

	v = json_object_get(root, "public");
	if (v == NULL || !json_is_string(v)) {
		util_set_err(err, errlen, "missing \"public\" string");
		goto out;
	}
	if (parse_tagged(json_string_value(v), json_string_length(v),
	                 file_pk, sizeof(file_pk)) != 0) {
		util_set_err(err, errlen, "public key is not 32 bytes of base64 + \".ed25519\"");
		goto out;
	}

	/* The key pair is what the seed says; both stored public copies must
	 * agree with it, or the file was edited or corrupted. */
	keys_from_seed(&k, file_sk);
	if (sodium_memcmp(k.pk, file_sk + 32, KEYS_PK_BYTES) != 0) {
		util_set_err(err, errlen, "private key halves do not match (corrupt private key)");
		goto out;
	}
	if (sodium_memcmp(k.pk, file_pk, KEYS_PK_BYTES) != 0) {
		util_set_err(err, errlen, "public key does not match private key");
		goto out;
	}

	/* ssb-keys always writes "id"; JS would rebuild a missing one. */
	v = json_object_get(root, "id");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) ||
		    keys_id_parse(json_string_value(v), json_string_length(v), id_pk) != 0) {
			util_set_err(err, errlen, "id is not a feed id (@<base64>.ed25519)");
			goto out;
		}
		if (sodium_memcmp(id_pk, k.pk, KEYS_PK_BYTES) != 0) {
			util_set_err(err, errlen, "id does not match private key");
			goto out;
		}
	}

	memcpy(out, &k, sizeof(k));
	rc = 0;
out:
	if (root != NULL) {
		if (json_is_object(root))
			wipe_json_strings(root);
		json_decref(root);
	}
	sodium_memzero(buf, len + 1);
	free(buf);
	sodium_memzero(&k, sizeof(k));
	sodium_memzero(file_sk, sizeof(file_sk));
	return rc;
}

/* Byte for byte what ssb-keys 8.x constructKeys() writes: its comment
 * block, JSON.stringify(keys, null, 2) with keys in the order curve,
 * public, private, id, the closing comment, and no final newline. */
static const char secret_head[] =
	"# WARNING: Never show this to anyone.\n"
	"# WARNING: Never edit it or use it on multiple devices at once.\n"
	"#\n"
	"# This is your SECRET, it gives you magical powers. With your secret you can\n"
	"# sign your messages so that your friends can verify that the messages came\n"
	"# from you. If anyone learns your secret, they can use it to impersonate you.\n"
	"#\n"
	"# If you use this secret on more than one device you will create a fork and\n"
	"# your friends will stop replicating your content.\n"
	"#\n";
static const char secret_json_fmt[] =
	"{\n"
	"  \"curve\": \"ed25519\",\n"
	"  \"public\": \"%s.ed25519\",\n"
	"  \"private\": \"%s.ed25519\",\n"
	"  \"id\": \"%s\"\n"
	"}\n";
static const char secret_tail_fmt[] =
	"#\n"
	"# The only part of this file that's safe to share is your public name:\n"
	"#\n"
	"#   %s";

char *keys_format_secret(const struct keys *k)
{
	char pub[KEYS_B64_LEN + 1], id[KEYS_ID_LEN + 1];
	char priv[KEYS_SK_B64_LEN + 1];
	char *text = NULL;
	int len, a, b;

	keys_pk_format_b64(pub, k->pk);
	keys_id_format(id, k->pk);
	sodium_bin2base64(priv, sizeof(priv), k->sk, KEYS_SK_BYTES,
	                  sodium_base64_VARIANT_ORIGINAL);

	/* Fixed-size pieces: the lengths cannot fail or overflow. */
	a = snprintf(NULL, 0, secret_json_fmt, pub, priv, id);
	b = snprintf(NULL, 0, secret_tail_fmt, id);
	len = (int)sizeof(secret_head) - 1 + a + b;
	text = malloc((size_t)len + 1);
	if (text == NULL)
		goto out;
	memcpy(text, secret_head, sizeof(secret_head) - 1);
	snprintf(text + sizeof(secret_head) - 1, (size_t)a + 1, secret_json_fmt, pub, priv, id);
	snprintf(text + sizeof(secret_head) - 1 + a, (size_t)b + 1, secret_tail_fmt, id);
out:
	sodium_memzero(priv, sizeof(priv));
	return text;
}

/* Names what is wrong with a mode that has group/other bits. */
static const char *mode_problem(mode_t m)
{
	if (m & 044)
		return "readable";
	if (m & 022)
		return "writable";
	return "accessible";
}

int keys_load_file(const char *path, struct keys *out, char *err, size_t errlen)
{
	char *buf = NULL;
	char why[128];
	struct stat st;
	size_t len = 0;
	int fd, rc;

	/* O_NONBLOCK: opening a FIFO planted at the path must not hang; the
	 * fstat below refuses anything but a regular file anyway. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		rc = -errno;
		util_set_err(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		util_set_err(err, errlen, "%s: %s", path, strerror(-rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		util_set_err(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	/* ssb-keys writes 0400; 0600 is what we write. Anything letting other
	 * users read (or replace) the identity is refused, like ssh does. */
	if ((st.st_mode & 077) != 0) {
		rc = -EPERM;
		util_set_err(err, errlen, "%s: %s by group or others (mode %04o); chmod 600 it",
		        path, mode_problem(st.st_mode), (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_size > KEYS_FILE_MAX) {
		rc = -EFBIG;
		util_set_err(err, errlen, "%s: larger than 64 KiB, not a secret file", path);
		goto out;
	}

	/* Read to EOF rather than trusting st_size: the file may change. */
	buf = malloc(KEYS_FILE_MAX + 1);
	if (buf == NULL) {
		rc = -ENOMEM;
		util_set_err(err, errlen, "%s: out of memory", path);
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, KEYS_FILE_MAX + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			util_set_err(err, errlen, "%s: %s", path, strerror(-rc));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > KEYS_FILE_MAX) {
			rc = -EFBIG;
			util_set_err(err, errlen, "%s: larger than 64 KiB, not a secret file", path);
			goto out;
		}
	}

	rc = keys_parse_secret(buf, len, out, why, sizeof(why));
	if (rc != 0)
		util_set_err(err, errlen, "%s: %s", path, why);
out:
	if (buf != NULL) {
		sodium_memzero(buf, KEYS_FILE_MAX + 1);
		free(buf);
	}
	close(fd);
	return rc;
}

/* mkdir -p for the directory part of path, each new level mode 0700. */
static int make_parents(const char *path)
{
	char dir[4096];
	size_t len = strlen(path);
	char *slash;

	if (len >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, len + 1);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return -errno;
		*p = c;
		if (c == '\0')
			return 0;
	}
}

int keys_save_file(const char *path, const struct keys *k, char *err, size_t errlen)
{
	char *text;
	size_t len, off = 0;
	int fd, rc;

	rc = make_parents(path);
	if (rc != 0) {
		util_set_err(err, errlen, "%s: cannot create directory: %s", path, strerror(-rc));
		return rc;
	}
	text = keys_format_secret(k);
	if (text == NULL) {
		util_set_err(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	len = strlen(text);

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		rc = -errno;
		if (rc == -EEXIST)
			util_set_err(err, errlen, "%s: already exists; refusing to overwrite", path);
		else
			util_set_err(err, errlen, "%s: %s", path, strerror(-rc));
		goto out;
	}
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = -errno;
			goto fail;
		}
		off += (size_t)w;
	}
	/* The identity must survive a crash right after keygen. */
	if (fsync(fd) != 0) {
		rc = -errno;
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = -errno;
		goto fail;
	}
	rc = 0;
	goto out;
fail:
	/* Don't leave a truncated identity that the next run would refuse to
	 * overwrite. */
	util_set_err(err, errlen, "%s: %s", path, strerror(-rc));
	if (fd >= 0)
		close(fd);
	unlink(path);
out:
	sodium_memzero(text, len);
	free(text);
	return rc;
}

int keys_default_path(char *out, size_t outlen)
{
	const char *home = getenv("FAIRWAY_HOME");
	int n;

	if (home != NULL && home[0] != '\0') {
		n = snprintf(out, outlen, "%s/secret", home);
	} else {
		home = getenv("HOME");
		if (home == NULL || home[0] == '\0') {
			struct passwd *pw = getpwuid(getuid());

			if (pw == NULL || pw->pw_dir == NULL)
				return -ENOENT;
			home = pw->pw_dir;
		}
		n = snprintf(out, outlen, "%s/.fairway/secret", home);
	}
	if (n < 0 || (size_t)n >= outlen)
		return -ENAMETOOLONG;
	return 0;
}
