/* room_fixture — sets up a room database for the tests, through the store
 * API (store.h) as the portal itself would: nothing here writes SQL.
 *
 *   room_fixture DB invite [TTL_S]        prints a new invite token
 *                                          (TTL_S < 0: already expired)
 *   room_fixture DB member ID [ROLE]      adds a member (default member)
 *   room_fixture DB deny ID               denies a key
 *   room_fixture DB alias NAME SECRET     registers NAME for the key in the
 *                                          ssb-keys SECRET file, signed by it
 *                                          for the room in $ROOM_ID
 *   room_fixture DB text NAME VALUE       a setting or notice
 *   room_fixture DB role ID               prints the key's role or "none"
 *   room_fixture DB invites               prints "open N used N"
 *
 * Exit 0 ok, 1 store failure, 2 usage. Only for tests (tests/room). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "keys.h"
#include "store.h"
#include "web.h"

static int usage(void)
{
	fprintf(stderr, "usage: room_fixture DB invite [TTL_S] | member ID [ROLE] | deny ID | "
	        "alias NAME SECRET | text NAME VALUE | role ID | invites\n");
	return 2;
}

static int key_arg(const char *s, uint8_t pk[32])
{
	if (keys_id_parse(s, strlen(s), pk) != 0) {
		fprintf(stderr, "room_fixture: '%s' is not a feed id\n", s);
		return -1;
	}
	return 0;
}

struct counts { unsigned open, used; };

static int count_inv(void *ctx, const struct store_invite *inv)
{
	struct counts *c = ctx;

	if (inv->used_by)
		c->used++;
	else
		c->open++;
	return 0;
}

int main(int argc, char **argv)
{
	struct store *st;
	char err[512];
	uint8_t pk[32];
	int64_t now = (int64_t)time(NULL);
	int rc = 0;

	if (argc < 3)
		return usage();
	if (sodium_init() < 0)
		return 1;
	if (store_open(argv[1], &st, err, sizeof(err)) != 0) {
		fprintf(stderr, "room_fixture: %s\n", err);
		return 1;
	}
	if (strcmp(argv[2], "invite") == 0) {
		uint8_t raw[WEB_TOKEN_RAW], hash[STORE_HASH_LEN];
		char tok[WEB_TOKEN_LEN + 1];
		long ttl = argc > 3 ? strtol(argv[3], NULL, 10) : 0;

		randombytes_buf(raw, sizeof(raw));
		web_token_make(raw, tok, hash);
		rc = store_invite_create(st, hash, 0, ttl < 0 ? now + ttl - 10 : now,
		                         ttl == 0 ? 0 : now + ttl, NULL);
		if (rc == 0)
			printf("%s\n", tok);
	} else if (strcmp(argv[2], "member") == 0 && argc >= 4) {
		enum store_role role = argc > 4 ? store_role_parse(argv[4]) : STORE_ROLE_MEMBER;

		if (key_arg(argv[3], pk) != 0 || role == STORE_ROLE_NONE)
			rc = -EINVAL;
		else
			rc = store_member_add(st, pk, role, now, 0, NULL);
	} else if (strcmp(argv[2], "deny") == 0 && argc >= 4) {
		rc = key_arg(argv[3], pk) != 0 ? -EINVAL : store_deny_add(st, pk, "test", now);
	} else if (strcmp(argv[2], "alias") == 0 && argc >= 5) {
		struct keys k;
		char uid[KEYS_ID_LEN + 1], msg[512];
		const char *room = getenv("ROOM_ID");
		uint8_t sig[64];

		if (room == NULL || keys_load_file(argv[4], &k, err, sizeof(err)) != 0) {
			fprintf(stderr, "room_fixture: alias needs ROOM_ID and a secret file (%s)\n",
			        room == NULL ? "no ROOM_ID" : err);
			rc = -EINVAL;
		} else {
			keys_id_format(uid, k.pk);
			snprintf(msg, sizeof(msg), "=room-alias-registration:%s:%s:%s", room, uid, argv[3]);
			crypto_sign_detached(sig, NULL, (const uint8_t *)msg, strlen(msg), k.sk);
			rc = store_alias_register(st, argv[3], k.pk, sig, now);
			keys_wipe(&k);
		}
	} else if (strcmp(argv[2], "text") == 0 && argc >= 5) {
		rc = store_text_set(st, argv[3], argv[4]);
	} else if (strcmp(argv[2], "role") == 0 && argc >= 4) {
		struct store_member m;

		if (key_arg(argv[3], pk) != 0)
			rc = -EINVAL;
		else if ((rc = store_member_get(st, pk, &m)) == 0)
			printf("%s\n", store_role_name(m.role));
		else if (rc == -ENOENT) {
			printf("none\n");
			rc = 0;
		}
	} else if (strcmp(argv[2], "invites") == 0) {
		struct counts c = { 0 };

		rc = store_invite_list(st, true, now, count_inv, &c);
		if (rc == 0)
			printf("open %u used %u\n", c.open, c.used);
	} else {
		store_close(st);
		return usage();
	}
	if (rc != 0)
		fprintf(stderr, "room_fixture: %s: %s (%s)\n", argv[2], strerror(-rc), store_errmsg(st));
	store_close(st);
	return rc == 0 ? 0 : rc == -EINVAL ? 2 : 1;
}
