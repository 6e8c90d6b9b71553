/* Unit tests for keys: ids, the secret file text, and the file checks.
 * Vectors: protocol.md §3.4 (alice = seed sha256("alice"), bob likewise);
 * ALICE_SECRET is the file ssb-keys 8.5.0 createSync writes for alice. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys.h"

#define ALICE_ID "@1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXasQ=.ed25519"
#define ALICE_PUB "1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXasQ="
#define ALICE_PRIV "K9gGyX8OAK8aH8Myj6djqSaXI8jbj6xPk69x2xhtbpDVv0o/zOcXsDiLzCdJ68FIrZlpsj9F7htgX9WHeFdqxA=="
#define BOB_ID "@7MG1hyfz8SsxlIgansud4LKM57IHIw2Okw/hvOdeJWw=.ed25519"
#define BOB_PUB "7MG1hyfz8SsxlIgansud4LKM57IHIw2Okw/hvOdeJWw="
/* bob's seed followed by alice's public key: a corrupt private key */
#define MIXED_PRIV "gbY32PzSxtpjWeaWMROhFw3nleS3JbhNHgtM/Z7FjOnVv0o/zOcXsDiLzCdJ68FIrZlpsj9F7htgX9WHeFdqxA=="

static const char ALICE_SECRET[] =
	"# WARNING: Never show this to anyone.\n"
	"# WARNING: Never edit it or use it on multiple devices at once.\n"
	"#\n"
	"# This is your SECRET, it gives you magical powers. With your secret you can\n"
	"# sign your messages so that your friends can verify that the messages came\n"
	"# from you. If anyone learns your secret, they can use it to impersonate you.\n"
	"#\n"
	"# If you use this secret on more than one device you will create a fork and\n"
	"# your friends will stop replicating your content.\n"
	"#\n"
	"{\n"
	"  \"curve\": \"ed25519\",\n"
	"  \"public\": \"" ALICE_PUB ".ed25519\",\n"
	"  \"private\": \"" ALICE_PRIV ".ed25519\",\n"
	"  \"id\": \"" ALICE_ID "\"\n"
	"}\n"
	"#\n"
	"# The only part of this file that's safe to share is your public name:\n"
	"#\n"
	"#   " ALICE_ID;

static const uint8_t alice_pk[32] = {
	0xd5, 0xbf, 0x4a, 0x3f, 0xcc, 0xe7, 0x17, 0xb0, 0x38, 0x8b, 0xcc, 0x27, 0x49, 0xeb, 0xc1, 0x48,
	0xad, 0x99, 0x69, 0xb2, 0x3f, 0x45, 0xee, 0x1b, 0x60, 0x5f, 0xd5, 0x87, 0x78, 0x57, 0x6a, 0xc4,
};
static const uint8_t alice_seed_half[32] = {
	0x2b, 0xd8, 0x06, 0xc9, 0x7f, 0x0e, 0x00, 0xaf, 0x1a, 0x1f, 0xc3, 0x32, 0x8f, 0xa7, 0x63, 0xa9,
	0x26, 0x97, 0x23, 0xc8, 0xdb, 0x8f, 0xac, 0x4f, 0x93, 0xaf, 0x71, 0xdb, 0x18, 0x6d, 0x6e, 0x90,
};
static const uint8_t bob_pk[32] = {
	0xec, 0xc1, 0xb5, 0x87, 0x27, 0xf3, 0xf1, 0x2b, 0x31, 0x94, 0x88, 0x1a, 0x9e, 0xcb, 0x9d, 0xe0,
	0xb2, 0x8c, 0xe7, 0xb2, 0x07, 0x23, 0x0d, 0x8e, 0x93, 0x0f, 0xe1, 0xbc, 0xe7, 0x5e, 0x25, 0x6c,
};

static void named_keys(struct keys *k, const char *name)
{
	uint8_t seed[32];

	crypto_hash_sha256(seed, (const uint8_t *)name, strlen(name));
	keys_from_seed(k, seed);
}

static void test_from_seed_vectors(void **state)
{
	struct keys k;
	char id[KEYS_ID_LEN + 1], b64[KEYS_B64_LEN + 1];

	(void)state;
	named_keys(&k, "alice");
	assert_memory_equal(k.pk, alice_pk, 32);
	assert_memory_equal(k.sk, alice_seed_half, 32);
	assert_memory_equal(k.sk + 32, alice_pk, 32);
	keys_id_format(id, k.pk);
	assert_string_equal(id, ALICE_ID);
	assert_int_equal(strlen(id), KEYS_ID_LEN);
	keys_pk_format_b64(b64, k.pk);
	assert_string_equal(b64, ALICE_PUB);

	named_keys(&k, "bob");
	assert_memory_equal(k.pk, bob_pk, 32);
	keys_id_format(id, k.pk);
	assert_string_equal(id, BOB_ID);

	keys_wipe(&k);
	for (size_t i = 0; i < sizeof(k.sk); i++)
		assert_int_equal(k.sk[i], 0);
}

static int id_parse(const char *s, uint8_t pk[32])
{
	return keys_id_parse(s, strlen(s), pk);
}

static void test_id_parse(void **state)
{
	uint8_t pk[32];

	(void)state;
	assert_int_equal(id_parse(ALICE_ID, pk), 0);
	assert_memory_equal(pk, alice_pk, 32);
	assert_int_equal(id_parse(BOB_ID, pk), 0);
	assert_memory_equal(pk, bob_pk, 32);

	/* 'R' instead of 'Q': same bytes in lenient decoders, not canonical */
	assert_int_equal(id_parse("@1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXasR=.ed25519", pk), -EINVAL);
	assert_int_equal(id_parse("@1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXasT=.ed25519", pk), -EINVAL);
	assert_int_equal(id_parse("@1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXasQ=.sha256", pk), -EINVAL);
	assert_int_equal(id_parse("1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXasQ=.ed25519", pk), -EINVAL);
	assert_int_equal(id_parse("%1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXasQ=.ed25519", pk), -EINVAL);
	assert_int_equal(id_parse("@1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXasQ=.ed25519x", pk), -EINVAL);
	assert_int_equal(id_parse("@1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXasQ=.ed2551", pk), -EINVAL);
	assert_int_equal(id_parse("@1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXasQ.ed25519", pk), -EINVAL);
	/* url-safe alphabet, missing padding, padding in the middle */
	assert_int_equal(id_parse("@1b9KP8znF7A4i8wnSevBSK2ZabI_Re4bYF_Vh3hXasQ=.ed25519", pk), -EINVAL);
	assert_int_equal(id_parse("@1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXasQA.ed25519", pk), -EINVAL);
	assert_int_equal(id_parse("@1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXa=Q=.ed25519", pk), -EINVAL);
	assert_int_equal(id_parse("@1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXa Q=.ed25519", pk), -EINVAL);
	/* libsodium 1.0.18 takes bytes >= 0x80 as digits: must not leak through */
	assert_int_equal(id_parse("@1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXa\xffQ=.ed25519", pk), -EINVAL);
	assert_int_equal(id_parse("@\x80" "b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXasQ=.ed25519", pk), -EINVAL);
	assert_int_equal(keys_id_parse("", 0, pk), -EINVAL);
	/* len counts, not the NUL: a prefix of a valid id is not valid */
	assert_int_equal(keys_id_parse(ALICE_ID, KEYS_ID_LEN - 1, pk), -EINVAL);
	/* output untouched on failure */
	memset(pk, 0xaa, 32);
	assert_int_equal(id_parse(BOB_PUB, pk), -EINVAL);
	for (int i = 0; i < 32; i++)
		assert_int_equal(pk[i], 0xaa);
}

static void test_pk_b64(void **state)
{
	uint8_t pk[32];

	(void)state;
	assert_int_equal(keys_pk_parse_b64(BOB_PUB, strlen(BOB_PUB), pk), 0);
	assert_memory_equal(pk, bob_pk, 32);
	assert_int_equal(keys_pk_parse_b64(BOB_PUB ".ed25519", strlen(BOB_PUB) + 8, pk), -EINVAL);
	assert_int_equal(keys_pk_parse_b64("@" BOB_PUB, strlen(BOB_PUB) + 1, pk), -EINVAL);
	assert_int_equal(keys_pk_parse_b64(BOB_PUB, strlen(BOB_PUB) - 1, pk), -EINVAL);
	assert_int_equal(keys_pk_parse_b64("7MG1hyfz8SsxlIgansud4LKM57IHIw2Okw/hvOdeJWx=", 44, pk), -EINVAL);
	assert_int_equal(keys_pk_parse_b64("7MG1hyfz8SsxlIgansud4LKM57IHIw2Okw\xff\xff\xff\xff"
	                                   "\xff\xff\xff\xffw=", 44, pk), -EINVAL);
	assert_int_equal(keys_pk_parse_b64("7MG1hyfz8SsxlIgansud4LKM57IHIw2Okw/hvOdeJWw\x80", 44, pk),
	                 -EINVAL);
	/* 33 bytes worth of base64 */
	assert_int_equal(keys_pk_parse_b64("7MG1hyfz8SsxlIgansud4LKM57IHIw2Okw/hvOdeJWwA", 44, pk), -EINVAL);
}

static int parse(const char *text, struct keys *k, char *err, size_t errlen)
{
	return keys_parse_secret(text, strlen(text), k, err, errlen);
}

static void test_parse_ssb_keys_file(void **state)
{
	struct keys k;
	char err[128] = "";

	(void)state;
	assert_int_equal(parse(ALICE_SECRET, &k, err, sizeof(err)), 0);
	assert_memory_equal(k.pk, alice_pk, 32);
	assert_memory_equal(k.sk, alice_seed_half, 32);
	assert_memory_equal(k.sk + 32, alice_pk, 32);
	/* err may be NULL */
	assert_int_equal(parse(ALICE_SECRET, &k, NULL, 0), 0);
}

static void test_format_secret(void **state)
{
	struct keys k, k2;
	char *text;

	(void)state;
	named_keys(&k, "alice");
	text = keys_format_secret(&k);
	assert_non_null(text);
	assert_string_equal(text, ALICE_SECRET);
	assert_int_equal(parse(text, &k2, NULL, 0), 0);
	assert_memory_equal(&k, &k2, sizeof(k));
	sodium_memzero(text, strlen(text));
	free(text);

	named_keys(&k, "bob");
	text = keys_format_secret(&k);
	assert_non_null(text);
	assert_non_null(strstr(text, "\n#   " BOB_ID));
	assert_int_equal(parse(text, &k2, NULL, 0), 0);
	assert_memory_equal(&k, &k2, sizeof(k));
	free(text);
}

/* Valid variations: whitespace and comments where ssb-keys' regex copes. */
static void test_parse_layouts(void **state)
{
	static const char *const ok[] = {
		/* bare compact JSON, no comments, no id */
		"{\"curve\":\"ed25519\",\"public\":\"" ALICE_PUB ".ed25519\",\"private\":\""
			ALICE_PRIV ".ed25519\"}",
		/* comments after values, indented comments, CRLF line ends */
		"  # hi\r\n{\r\n  \"curve\": \"ed25519\", # trailing\r\n"
			"\t# indented\r\n  \"public\": \"" ALICE_PUB ".ed25519\",\r\n"
			"  \"private\": \"" ALICE_PRIV ".ed25519\",\r\n"
			"  \"id\": \"" ALICE_ID "\"}#end",
		/* JSON split across lines where the newline-join keeps it valid */
		"{\"curve\":\n\"ed25519\",\"public\":\"" ALICE_PUB ".ed\n25519\",\n\n"
			"\"private\":\"" ALICE_PRIV ".ed25519\",\"id\":null}\n\n",
	};
	struct keys k;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse(ok[i], &k, err, sizeof(err)), 0);
		assert_memory_equal(k.pk, alice_pk, 32);
	}
}

#define J(curve, pub, priv, id) \
	"{\"curve\":" curve ",\"public\":" pub ",\"private\":" priv ",\"id\":" id "}"
#define APUB "\"" ALICE_PUB ".ed25519\""
#define APRIV "\"" ALICE_PRIV ".ed25519\""
#define AID "\"" ALICE_ID "\""

static void test_parse_errors(void **state)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "", "no JSON object" },
		{ "# only comments\n# here", "no JSON object" },
		{ "[1, 2]", "no JSON object" },
		{ "\"" ALICE_PRIV ".ed25519\"", "no JSON object" },       /* legacy form */
		{ J("\"ed25519\"", APUB, APRIV, AID) " x", "no JSON object" },
		{ J("\"ed25519\"", APUB, APRIV, AID) J("\"ed25519\"", APUB, APRIV, AID), "no JSON object" },
		/* '#' inside a value: the comment rule eats the rest of the line */
		{ "{\"curve\":\"ed25519\",\"public\":\"a#b\",\n\"private\":" APRIV "}", "no JSON object" },
		{ "{\"curve\":\"ed25519\",\"curve\":\"ed25519\",\"public\":" APUB ",\"private\":" APRIV "}",
		  "no JSON object" },
		{ "{\"public\":" APUB ",\"private\":" APRIV "}", "missing \"curve\"" },
		{ J("\"k256\"", APUB, APRIV, AID), "curve is not ed25519" },
		{ J("1", APUB, APRIV, AID), "curve is not ed25519" },
		{ "{\"curve\":\"ed25519\",\"public\":" APUB "}", "missing \"private\"" },
		{ J("\"ed25519\"", APUB, "7", AID), "missing \"private\"" },
		{ J("\"ed25519\"", APUB, "\"" ALICE_PRIV "\"", AID), "private key is not 64 bytes" },
		{ J("\"ed25519\"", APUB, "\"" ALICE_PRIV ".sha256\"", AID), "private key is not 64 bytes" },
		{ J("\"ed25519\"", APUB, "\"" ALICE_PUB ".ed25519\"", AID), "private key is not 64 bytes" },
		{ J("\"ed25519\"", APUB, "\"K9gGyX8OAK8aH8Myj6djqSaXI8jbj6x*k69x2xhtbpDVv0o/zOcXsDiLzCdJ68FIr"
		    "Zlpsj9F7htgX9WHeFdqxA==.ed25519\"", AID), "private key is not 64 bytes" },
		{ J("\"ed25519\"", APUB, "\".ed25519\"", AID), "private key is not 64 bytes" },
		/* U+00FF (bytes c3 bf) in place of two digits */
		{ J("\"ed25519\"", APUB, "\"\\u00ffgGyX8OAK8aH8Myj6djqSaXI8jbj6xPk69x2xhtbpDVv0o/zOcXsDiLzCdJ68FIr"
		    "Zlpsj9F7htgX9WHeFdqxA==.ed25519\"", AID), "private key is not 64 bytes" },
		{ "{\"curve\":\"ed25519\",\"private\":" APRIV "}", "missing \"public\"" },
		{ J("\"ed25519\"", "\"" ALICE_PUB "\"", APRIV, AID), "public key is not 32 bytes" },
		{ J("\"ed25519\"", "\"" ALICE_ID "\"", APRIV, AID), "public key is not 32 bytes" },
		{ J("\"ed25519\"", "\"" BOB_PUB ".ed25519\"", APRIV, AID), "public key does not match" },
		{ J("\"ed25519\"", APUB, "\"" MIXED_PRIV ".ed25519\"", AID), "private key halves" },
		{ J("\"ed25519\"", APUB, APRIV, "\"" BOB_ID "\""), "id does not match" },
		{ J("\"ed25519\"", APUB, APRIV, "\"" ALICE_PUB ".ed25519\""), "id is not a feed id" },
		{ J("\"ed25519\"", APUB, APRIV, "true"), "id is not a feed id" },
	};
	struct keys k;
	char err[128];

	(void)state;
	memset(&k, 0x55, sizeof(k));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse(bad[i].text, &k, err, sizeof(err)), -EINVAL);
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
		/* never echo key material */
		assert_null(strstr(err, "K9gG"));
		assert_null(strstr(err, "1b9K"));
		assert_null(strstr(err, "7MG1"));
		assert_null(strstr(err, "gbY3"));
		/* out untouched on failure */
		assert_int_equal(k.sk[0], 0x55);
	}
	/* a NUL byte in the middle is not JSON */
	assert_int_equal(keys_parse_secret("{\0}", 3, &k, err, sizeof(err)), -EINVAL);
	/* tiny err buffers are truncated, not overrun */
	err[2] = 'x';
	assert_int_equal(parse("", &k, err, 2), -EINVAL);
	assert_int_equal(err[1], '\0');
	assert_int_equal(err[2], 'x');
}

/* ---- files ---- */

struct tmp {
	char dir[64];
	char path[128];
};

static int tmp_setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	strcpy(t->dir, "/tmp/fairway-keys-XXXXXX");
	if (mkdtemp(t->dir) == NULL)
		return -1;
	snprintf(t->path, sizeof(t->path), "%s/secret", t->dir);
	*state = t;
	return 0;
}

static int tmp_teardown(void **state)
{
	struct tmp *t = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	if (system(cmd) != 0)
		return -1;
	free(t);
	return 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_save_load(void **state)
{
	struct tmp *t = *state;
	struct keys k, k2;
	struct stat st;
	char err[256], buf[1024];
	int fd;
	ssize_t n;

	named_keys(&k, "alice");
	assert_int_equal(keys_save_file(t->path, &k, err, sizeof(err)), 0);
	assert_int_equal(stat(t->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* the file is exactly what ssb-keys writes */
	fd = open(t->path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_int_equal(n, (ssize_t)strlen(ALICE_SECRET));
	buf[n] = '\0';
	assert_string_equal(buf, ALICE_SECRET);

	assert_int_equal(keys_load_file(t->path, &k2, err, sizeof(err)), 0);
	assert_memory_equal(&k, &k2, sizeof(k));

	/* O_EXCL: never overwrite an identity */
	named_keys(&k2, "bob");
	assert_int_equal(keys_save_file(t->path, &k2, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, t->path));
	assert_non_null(strstr(err, "already exists; refusing to overwrite"));
	assert_int_equal(keys_load_file(t->path, &k2, err, sizeof(err)), 0);
	assert_memory_equal(&k, &k2, sizeof(k));
}

static void test_modes(void **state)
{
	struct tmp *t = *state;
	struct keys k;
	char err[256];

	/* ssb-keys writes 0400: accepted, as is 0600 and even 0200|0400 */
	write_file(t->path, ALICE_SECRET, 0400);
	assert_int_equal(keys_load_file(t->path, &k, err, sizeof(err)), 0);
	assert_memory_equal(k.pk, alice_pk, 32);
	assert_int_equal(chmod(t->path, 0700), 0);
	assert_int_equal(keys_load_file(t->path, &k, err, sizeof(err)), 0);

	assert_int_equal(chmod(t->path, 0644), 0);
	assert_int_equal(keys_load_file(t->path, &k, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, t->path));
	assert_non_null(strstr(err, "readable by group or others (mode 0644); chmod 600 it"));

	assert_int_equal(chmod(t->path, 0640), 0);
	assert_int_equal(keys_load_file(t->path, &k, err, sizeof(err)), -EPERM);
	assert_int_equal(chmod(t->path, 0604), 0);
	assert_int_equal(keys_load_file(t->path, &k, err, sizeof(err)), -EPERM);
	assert_int_equal(chmod(t->path, 0602), 0);
	assert_int_equal(keys_load_file(t->path, &k, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "writable by group or others (mode 0602)"));
	assert_int_equal(chmod(t->path, 0610), 0);
	assert_int_equal(keys_load_file(t->path, &k, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "(mode 0610)"));
}

static void test_load_errors(void **state)
{
	struct tmp *t = *state;
	struct keys k;
	char err[256], path[160];
	char *big;

	/* missing */
	assert_int_equal(keys_load_file(t->path, &k, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, t->path));

	/* a directory */
	assert_int_equal(chmod(t->dir, 0700), 0);
	assert_int_equal(keys_load_file(t->dir, &k, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));

	/* a FIFO: refused without blocking on open */
	snprintf(path, sizeof(path), "%s/fifo", t->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(keys_load_file(path, &k, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));

	/* malformed content names the file and the problem, not the key */
	write_file(t->path, "{\"curve\":\"ed25519\",\"public\":\"" BOB_PUB ".ed25519\",\"private\":\""
	           ALICE_PRIV ".ed25519\"}", 0600);
	assert_int_equal(keys_load_file(t->path, &k, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, t->path));
	assert_non_null(strstr(err, "public key does not match private key"));
	assert_null(strstr(err, "K9gG"));

	/* too big: 64 KiB of comment, then a valid file */
	big = malloc(70 * 1024 + sizeof(ALICE_SECRET));
	assert_non_null(big);
	big[0] = '#';
	memset(big + 1, 'x', 70 * 1024 - 2);
	big[70 * 1024 - 1] = '\n';
	memcpy(big + 70 * 1024, ALICE_SECRET, sizeof(ALICE_SECRET));
	assert_int_equal(unlink(t->path), 0);
	write_file(t->path, big, 0600);
	free(big);
	assert_int_equal(keys_load_file(t->path, &k, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "64 KiB"));
}

static void test_save_creates_dirs(void **state)
{
	struct tmp *t = *state;
	struct keys k, k2;
	struct stat st;
	char path[192], dir[160], err[256];

	snprintf(dir, sizeof(dir), "%s/a/b", t->dir);
	snprintf(path, sizeof(path), "%s/secret", dir);
	named_keys(&k, "bob");
	assert_int_equal(keys_save_file(path, &k, err, sizeof(err)), 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(keys_load_file(path, &k2, err, sizeof(err)), 0);
	assert_memory_equal(&k, &k2, sizeof(k));

	/* parent is a file: fails cleanly */
	snprintf(path, sizeof(path), "%s/a/b/secret/x", t->dir);
	assert_true(keys_save_file(path, &k, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, path));
}

static void test_default_path(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(setenv("FAIRWAY_HOME", "/srv/fw", 1), 0);
	assert_int_equal(keys_default_path(out, sizeof(out)), 0);
	assert_string_equal(out, "/srv/fw/secret");
	assert_int_equal(keys_default_path(out, 14), -ENAMETOOLONG);
	assert_int_equal(keys_default_path(out, 15), 0);

	assert_int_equal(setenv("FAIRWAY_HOME", "", 1), 0);
	assert_int_equal(setenv("HOME", "/home/u", 1), 0);
	assert_int_equal(keys_default_path(out, sizeof(out)), 0);
	assert_string_equal(out, "/home/u/.fairway/secret");
	assert_int_equal(unsetenv("FAIRWAY_HOME"), 0);
	assert_int_equal(keys_default_path(out, sizeof(out)), 0);
	assert_string_equal(out, "/home/u/.fairway/secret");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_seed_vectors),
		cmocka_unit_test(test_id_parse),
		cmocka_unit_test(test_pk_b64),
		cmocka_unit_test(test_parse_ssb_keys_file),
		cmocka_unit_test(test_format_secret),
		cmocka_unit_test(test_parse_layouts),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test_setup_teardown(test_save_load, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_modes, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_load_errors, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_save_creates_dirs, tmp_setup, tmp_teardown),
		cmocka_unit_test(test_default_path),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
