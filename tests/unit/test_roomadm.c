/* Unit tests for src/room/roomadm: every operation on a real SQLite file,
 * its usage errors and refusals, and that a failed request writes nothing
 * (store_stats writes counter unchanged). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "keys.h"
#include "roomadm.h"
#include "store.h"

static char dir[64], path[128];
static struct store *st;
static const struct roomadm_ctx ctx = { .public_url = "https://room.example", .now = 1700000000 };

static int setup(void **state)
{
	char err[256];

	snprintf(dir, sizeof dir, "/tmp/fairway-roomadm-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/room.db", dir);
	assert_int_equal(store_open(path, &st, err, sizeof err), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	store_close(st);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void id_of(int n, char out[KEYS_ID_LEN + 1], uint8_t pk[32])
{
	memset(pk, 0, 32);
	pk[0] = (uint8_t)n;
	pk[31] = 7;
	keys_id_format(out, pk);
}

/* Runs a request given as JSON text; returns the reply. */
static json_t *run(const char *text, struct roomadm_effect *eff)
{
	json_t *req = json_loads(text, 0, NULL), *r;

	assert_non_null(req);
	r = roomadm_exec(st, req, &ctx, eff);
	json_decref(req);
	assert_non_null(r);
	return r;
}

static json_t *runf(struct roomadm_effect *eff, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_t *runf(struct roomadm_effect *eff, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return run(buf, eff);
}

static void expect_ok(json_t *r)
{
	if (!json_is_true(json_object_get(r, "ok")))
		fail_msg("not ok: %s", json_string_value(json_object_get(r, "error")));
	json_decref(r);
}

/* a refusal (usage false) or a usage error (usage true), whose text has want */
static void expect_err(json_t *r, bool usage, const char *want)
{
	const char *e = json_string_value(json_object_get(r, "error"));

	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_non_null(e);
	if (strstr(e, want) == NULL)
		fail_msg("error '%s' lacks '%s'", e, want);
	assert_int_equal(json_is_true(json_object_get(r, "usage")), usage);
	json_decref(r);
}

static uint64_t writes(void)
{
	struct store_stats s;

	store_stats_get(st, &s);
	return s.writes;
}

static void test_members(void **state)
{
	char a[KEYS_ID_LEN + 1], b[KEYS_ID_LEN + 1];
	uint8_t pa[32], pb[32];
	struct roomadm_effect eff;
	uint64_t w;
	json_t *r;

	id_of(1, a, pa);
	id_of(2, b, pb);
	r = runf(&eff, "{\"op\":\"member.add\",\"id\":\"%s\",\"role\":\"admin\"}", a);
	assert_true(eff.key_changed);
	assert_memory_equal(eff.key, pa, 32);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "member"), "role")), "admin");
	expect_ok(r);
	assert_int_equal(store_check(st, pa, NULL), STORE_ROLE_ADMIN);
	expect_ok(runf(NULL, "{\"op\":\"member.add\",\"id\":\"%s\"}", b));
	assert_int_equal(store_check(st, pb, NULL), STORE_ROLE_MEMBER);

	w = writes();
	expect_err(runf(&eff, "{\"op\":\"member.add\",\"id\":\"%s\"}", a), false, "a member already");
	assert_false(eff.key_changed);
	expect_err(run("{\"op\":\"member.add\",\"id\":\"@nope.ed25519\"}", NULL), true, "not a feed id");
	expect_err(run("{\"op\":\"member.add\"}", NULL), true, "identity is needed");
	expect_err(runf(NULL, "{\"op\":\"member.add\",\"id\":\"%s\",\"role\":\"king\"}", b), true, "role 'king'");
	expect_err(runf(NULL, "{\"op\":\"member.role\",\"id\":\"%s\"}", b), true, "a role is needed");
	expect_err(run("{\"op\":\"member.frob\"}", NULL), true, "unknown room operation");
	expect_err(run("{}", NULL), true, "no \"op\"");
	assert_int_equal(writes(), w);   /* nothing written by any of them */

	expect_ok(runf(NULL, "{\"op\":\"member.role\",\"id\":\"%s\",\"role\":\"moderator\"}", b));
	assert_int_equal(store_check(st, pb, NULL), STORE_ROLE_MODERATOR);
	r = run("{\"op\":\"member.list\"}", NULL);
	assert_int_equal(json_array_size(json_object_get(r, "members")), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(r, "members"), 0), "id")), a);
	expect_ok(r);
	expect_ok(runf(&eff, "{\"op\":\"member.rm\",\"id\":\"%s\"}", b));
	assert_true(eff.key_changed);
	assert_int_equal(store_check(st, pb, NULL), STORE_ROLE_NONE);
	expect_err(runf(NULL, "{\"op\":\"member.rm\",\"id\":\"%s\"}", b), false, "not a member");
}

static void test_invites(void **state)
{
	json_t *r;
	const char *url, *tok;
	uint8_t raw[64], hash[32];
	size_t n = 0;
	struct store_invite inv;
	int64_t num;

	r = run("{\"op\":\"invite.create\",\"ttl\":3600}", NULL);
	url = json_string_value(json_object_get(r, "url"));
	tok = json_string_value(json_object_get(r, "token"));
	assert_non_null(url);
	assert_int_equal(strlen(tok), 68);
	assert_int_equal(strncmp(url, "https://room.example/join?token=", 32), 0);
	assert_string_equal(url + 32, tok);
	assert_int_equal(json_integer_value(json_object_get(r, "expires")), ctx.now + 3600);
	/* the store has sha256 of the 50 raw bytes, and it is usable */
	assert_int_equal(sodium_base642bin(raw, sizeof raw, tok, strlen(tok), NULL, &n, NULL,
	                                   sodium_base64_VARIANT_URLSAFE), 0);
	assert_int_equal(n, 50);
	crypto_hash_sha256(hash, raw, 50);
	num = json_integer_value(json_object_get(r, "n"));
	assert_int_equal(store_invite_get(st, num, &inv), 0);
	assert_memory_equal(inv.hash, hash, 32);
	json_decref(r);

	r = run("{\"op\":\"invite.list\"}", NULL);
	assert_int_equal(json_array_size(json_object_get(r, "invites")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(r, "invites"), 0), "state")), "open");
	json_decref(r);
	expect_err(run("{\"op\":\"invite.create\",\"ttl\":-1}", NULL), true, "ttl");
	expect_err(run("{\"op\":\"invite.revoke\",\"n\":\"x\"}", NULL), true, "number");
	expect_err(run("{\"op\":\"invite.revoke\",\"n\":99}", NULL), false, "no invite number 99");
	expect_ok(runf(NULL, "{\"op\":\"invite.revoke\",\"n\":%lld}", (long long)num));
	expect_err(runf(NULL, "{\"op\":\"invite.revoke\",\"n\":%lld}", (long long)num), false, "used or revoked");
	r = run("{\"op\":\"invite.list\"}", NULL);
	assert_int_equal(json_array_size(json_object_get(r, "invites")), 0);
	json_decref(r);
	r = run("{\"op\":\"invite.list\",\"all\":true}", NULL);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(r, "invites"), 0), "state")), "revoked");
	json_decref(r);
	/* ttl 0: never expires */
	r = run("{\"op\":\"invite.create\",\"ttl\":0}", NULL);
	assert_int_equal(json_integer_value(json_object_get(r, "expires")), 0);
	expect_ok(r);
}

static void test_invite_no_public_url(void **state)
{
	struct roomadm_ctx c = { .public_url = NULL, .now = 5 };
	json_t *req = json_pack("{s:s}", "op", "invite.create");
	json_t *r = roomadm_exec(st, req, &c, NULL);

	assert_int_equal(strncmp(json_string_value(json_object_get(r, "url")), "/join?token=", 12), 0);
	assert_false(json_is_true(json_object_get(r, "public_url")));
	json_decref(r);
	json_decref(req);
}

static void test_aliases_denied_room(void **state)
{
	char a[KEYS_ID_LEN + 1];
	uint8_t pa[32], sig[64] = { 1, 2, 3 };
	struct roomadm_effect eff;
	json_t *r;

	id_of(3, a, pa);
	expect_ok(runf(NULL, "{\"op\":\"member.add\",\"id\":\"%s\"}", a));
	assert_int_equal(store_alias_register(st, "alice", pa, sig, 9), 0);
	r = run("{\"op\":\"alias.list\"}", NULL);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(r, "aliases"), 0), "owner")), a);
	assert_int_equal(strlen(json_string_value(json_object_get(json_array_get(json_object_get(r, "aliases"), 0), "signature"))), 88);
	json_decref(r);
	expect_err(run("{\"op\":\"alias.rm\",\"name\":\"Al-ice\"}", NULL), true, "not an alias name");
	expect_err(run("{\"op\":\"alias.rm\",\"name\":\"bob\"}", NULL), false, "no alias 'bob'");
	expect_ok(run("{\"op\":\"alias.rm\",\"name\":\"alice\"}", NULL));
	assert_int_equal(store_alias_get(st, "alice", &(struct store_alias){ 0 }), -ENOENT);

	/* denying a member keeps it a member but denied */
	expect_ok(runf(&eff, "{\"op\":\"deny.add\",\"id\":\"%s\",\"comment\":\"spam\"}", a));
	assert_true(eff.key_changed);
	assert_true(store_deny_check(st, pa));
	expect_err(runf(NULL, "{\"op\":\"deny.add\",\"id\":\"%s\"}", a), false, "denied already");
	r = run("{\"op\":\"deny.list\"}", NULL);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(r, "denied"), 0), "comment")), "spam");
	json_decref(r);
	expect_ok(runf(NULL, "{\"op\":\"deny.rm\",\"id\":\"%s\"}", a));
	expect_err(runf(NULL, "{\"op\":\"deny.rm\",\"id\":\"%s\"}", a), false, "not denied");

	expect_ok(run("{\"op\":\"room.set\",\"what\":\"privacy\",\"value\":\"restricted\"}", &eff));
	assert_true(eff.room_changed);
	assert_int_equal(store_mode_get(st), STORE_MODE_RESTRICTED);
	expect_err(run("{\"op\":\"room.set\",\"what\":\"privacy\",\"value\":\"secret\"}", &eff), true, "privacy 'secret'");
	assert_false(eff.room_changed);
	expect_err(run("{\"op\":\"room.set\",\"what\":\"colour\",\"value\":\"red\"}", NULL), true, "colour");
	expect_ok(run("{\"op\":\"room.set\",\"what\":\"name\",\"value\":\"Fair Room\"}", NULL));
	r = run("{\"op\":\"room.show\"}", NULL);
	assert_string_equal(json_string_value(json_object_get(r, "name")), "Fair Room");
	assert_string_equal(json_string_value(json_object_get(r, "privacy")), "restricted");
	expect_ok(r);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_members, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invites, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invite_no_public_url, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aliases_denied_room, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
