/* Unit tests for src/room/store: every function, its errors, reopening,
 * refusing foreign/corrupt/newer databases, and crash safety (kill -9 of a
 * writer mid-loop leaves a consistent database). Real SQLite files in a
 * temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "store.h"

static char dir[64], path[128];
static char err[512];

static int setup(void **state)
{
	snprintf(dir, sizeof dir, "/tmp/fairway-store-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/room.db", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void key(uint8_t k[32], int n)
{
	memset(k, 0, 32);
	k[0] = 1;
	memcpy(k + 1, &n, sizeof n);
}

static int inv_count(void *ctx, const struct store_invite *v)
{
	(*(int *)ctx)++;
	return 0;
}

static int inv_used(void *ctx, const struct store_invite *v)
{
	*(int *)ctx += v->used_by != 0;
	return 0;
}

static struct store *open_ok(void)
{
	struct store *st;
	int r = store_open(path, &st, err, sizeof err);
	if (r)
		fprintf(stderr, "open: %s\n", err);
	assert_int_equal(r, 0);
	return st;
}

static void test_open_mode_and_schema(void **state)
{
	struct store *st = open_ok();
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(store_schema_version(st), 1);
	assert_int_equal(store_mode_get(st), STORE_MODE_COMMUNITY);
	store_close(st);
	st = open_ok();   /* reopen: no migration twice */
	assert_int_equal(store_schema_version(st), 1);
	store_close(st);
}

static int count_cb(void *ctx, const struct store_member *m)
{
	(*(int *)ctx)++;
	return 0;
}

static void test_members(void **state)
{
	struct store *st = open_ok();
	uint8_t a[32], b[32], zero[32] = {0};
	key(a, 1);
	key(b, 2);
	int64_t id = 0;
	assert_int_equal(store_member_add(st, zero, STORE_ROLE_MEMBER, 1, 0, NULL), -EINVAL);
	assert_int_equal(store_member_add(st, a, 0, 1, 0, NULL), -EINVAL);
	assert_int_equal(store_member_add(st, a, STORE_ROLE_ADMIN, 100, 0, &id), 0);
	assert_true(id > 0);
	assert_int_equal(store_member_add(st, a, STORE_ROLE_MEMBER, 100, 0, NULL), -EEXIST);
	assert_int_equal(store_member_add(st, b, STORE_ROLE_MEMBER, 101, id, NULL), 0);
	struct store_member m;
	assert_int_equal(store_member_get(st, b, &m), 0);
	assert_int_equal(m.role, STORE_ROLE_MEMBER);
	assert_int_equal(m.added_by, id);
	assert_int_equal(store_member_get_id(st, id, &m), 0);
	assert_memory_equal(m.key, a, 32);
	assert_int_equal(store_member_get_id(st, 999, &m), -ENOENT);
	assert_int_equal(store_check(st, a, NULL), STORE_ROLE_ADMIN);
	assert_int_equal(store_member_set_role(st, b, STORE_ROLE_MODERATOR), 0);
	assert_int_equal(store_check(st, b, NULL), STORE_ROLE_MODERATOR);
	uint8_t c[32];
	key(c, 3);
	assert_int_equal(store_member_set_role(st, c, STORE_ROLE_MODERATOR), -ENOENT);
	assert_int_equal(store_member_count(st), 2);
	int n = 0;
	assert_int_equal(store_member_list(st, count_cb, &n), 0);
	assert_int_equal(n, 2);
	/* cascade: aliases, invites, tokens of b go with b */
	uint8_t sig[64] = {7}, h[32] = {9};
	int64_t bid;
	assert_int_equal(store_member_get(st, b, &m), 0);
	bid = m.id;
	assert_int_equal(store_alias_register(st, "bob", b, sig, 5), 0);
	assert_int_equal(store_invite_create(st, h, bid, 5, 0, NULL), 0);
	assert_int_equal(store_token_create(st, STORE_TOKEN_SESSION, h, bid, 5, 0), 0);
	assert_int_equal(store_member_remove(st, b), 0);
	assert_int_equal(store_member_remove(st, b), -ENOENT);
	assert_int_equal(store_check(st, b, NULL), STORE_ROLE_NONE);
	assert_int_equal(store_alias_get(st, "bob", NULL), -ENOENT);
	assert_int_equal(store_token_lookup(st, STORE_TOKEN_SESSION, h, 6, NULL), -ENOENT);
	int64_t dummy;
	assert_int_equal(store_invite_create(st, h, 0, 5, 0, &dummy), 0); /* hash free again */
	assert_int_equal(store_member_count(st), 1);
	store_close(st);
	st = open_ok();   /* the index is rebuilt from disk */
	assert_int_equal(store_check(st, a, NULL), STORE_ROLE_ADMIN);
	assert_int_equal(store_member_count(st), 1);
	store_close(st);
}

static void test_invites(void **state)
{
	struct store *st = open_ok();
	uint8_t h1[32], h2[32], h3[32], h4[32], k1[32], k2[32], kd[32];
	crypto_hash_sha256(h1, (const uint8_t *)"t1", 2);
	crypto_hash_sha256(h2, (const uint8_t *)"t2", 2);
	crypto_hash_sha256(h3, (const uint8_t *)"t3", 2);
	crypto_hash_sha256(h4, (const uint8_t *)"t4", 2);
	key(k1, 11);
	key(k2, 12);
	key(kd, 13);
	int64_t i1, i2, i3;
	assert_int_equal(store_invite_create(st, h1, 0, 100, 0, &i1), 0);
	assert_int_equal(store_invite_create(st, h1, 0, 100, 0, NULL), -EEXIST);
	assert_int_equal(store_invite_create(st, h2, 0, 100, 200, &i2), 0);
	assert_int_equal(store_invite_create(st, h3, 0, 100, 0, &i3), 0);
	assert_int_equal(store_invite_create(st, h4, 4242, 100, 0, NULL), -ENOENT);
	assert_int_equal(store_deny_add(st, kd, "spam", 100), 0);
	struct store_member m;
	assert_int_equal(store_invite_consume(st, h1, kd, 150, &m), -EPERM);
	assert_string_equal(store_invite_errtext(-EPERM), "rooms: this key has been banned");
	assert_int_equal(store_invite_consume(st, h4, k1, 150, &m), -ENOENT);
	assert_string_equal(store_invite_errtext(-ENOENT), "rooms/web: item not found: invite");
	assert_int_equal(store_invite_consume(st, h1, k1, 150, &m), 0);
	assert_int_equal(m.role, STORE_ROLE_MEMBER);
	assert_int_equal(store_check(st, k1, NULL), STORE_ROLE_MEMBER);
	assert_int_equal(store_invite_consume(st, h1, k2, 151, &m), -EALREADY);
	assert_int_equal(store_check(st, k2, NULL), STORE_ROLE_NONE);
	assert_int_equal(store_invite_consume(st, h2, k2, 200, &m), -ETIMEDOUT);
	assert_int_equal(store_check(st, k2, NULL), STORE_ROLE_NONE);
	assert_int_equal(store_invite_revoke(st, i3), 0);
	assert_int_equal(store_invite_revoke(st, i3), -EALREADY);
	assert_int_equal(store_invite_revoke(st, i1), -EALREADY);
	assert_int_equal(store_invite_revoke(st, 9999), -ENOENT);
	assert_int_equal(store_invite_consume(st, h3, k2, 150, &m), -ECANCELED);
	/* an existing member consuming keeps its role */
	uint8_t h5[32] = {5};
	assert_int_equal(store_member_set_role(st, k1, STORE_ROLE_ADMIN), 0);
	assert_int_equal(store_invite_create(st, h5, 0, 100, 0, NULL), 0);
	assert_int_equal(store_invite_consume(st, h5, k1, 150, &m), 0);
	assert_int_equal(m.role, STORE_ROLE_ADMIN);
	struct store_invite inv;
	assert_int_equal(store_invite_get(st, i1, &inv), 0);
	assert_int_equal(inv.used_at, 150);
	assert_true(inv.used_by > 0);
	int n = 0;
	assert_int_equal(store_invite_list(st, false, 150, inv_count, &n), 0);
	assert_int_equal(n, 1);   /* h2 still open at 150 */
	n = 0;
	assert_int_equal(store_invite_list(st, true, 150, inv_count, &n), 0);
	assert_int_equal(n, 4);
	struct store_stats s;
	store_stats_get(st, &s);
	assert_int_equal(s.invites_claimed, 2);
	assert_int_equal(s.members, 1);
	store_close(st);
}

static int alias_cb(void *ctx, const struct store_alias *a)
{
	strcat(ctx, a->name);
	strcat(ctx, ",");
	return 0;
}

static void test_aliases(void **state)
{
	assert_true(store_alias_valid("alice", 5));
	assert_true(store_alias_valid("a1", 2));
	assert_false(store_alias_valid("", 0));
	assert_false(store_alias_valid("Alice", 5));
	assert_false(store_alias_valid("al-ice", 6));
	char long64[65];
	memset(long64, 'a', 64);
	long64[64] = 0;
	assert_false(store_alias_valid(long64, 64));
	assert_true(store_alias_valid(long64, 63));

	struct store *st = open_ok();
	uint8_t a[32], b[32], sig[64];
	key(a, 21);
	key(b, 22);
	memset(sig, 0x5a, sizeof sig);
	assert_int_equal(store_alias_register(st, "alice", a, sig, 1), -ENOENT);
	assert_int_equal(store_member_add(st, a, STORE_ROLE_MEMBER, 1, 0, NULL), 0);
	assert_int_equal(store_member_add(st, b, STORE_ROLE_MEMBER, 1, 0, NULL), 0);
	assert_int_equal(store_alias_register(st, "Alice", a, sig, 1), -EINVAL);
	assert_int_equal(store_alias_register(st, "alice", a, sig, 1), 0);
	assert_int_equal(store_alias_register(st, "al2", a, sig, 1), 0);
	assert_int_equal(store_alias_register(st, "alice", b, sig, 1), -EEXIST);
	assert_int_equal(store_alias_register(st, "bob", b, sig, 1), 0);
	struct store_alias al;
	assert_int_equal(store_alias_get(st, "alice", &al), 0);
	assert_memory_equal(al.owner, a, 32);
	assert_memory_equal(al.sig, sig, 64);
	char buf[128] = "";
	assert_int_equal(store_alias_list(st, a, alias_cb, buf), 0);
	assert_string_equal(buf, "al2,alice,");
	buf[0] = 0;
	assert_int_equal(store_alias_list(st, NULL, alias_cb, buf), 0);
	assert_string_equal(buf, "al2,alice,bob,");
	assert_int_equal(store_alias_revoke(st, "alice"), 0);
	assert_int_equal(store_alias_revoke(st, "alice"), -ENOENT);
	struct store_stats s;
	store_stats_get(st, &s);
	assert_int_equal(s.aliases, 2);
	store_close(st);
}

static int deny_cb(void *ctx, const struct store_denied *d)
{
	strcat(ctx, d->comment);
	return 0;
}

static void test_denied(void **state)
{
	struct store *st = open_ok();
	uint8_t a[32];
	key(a, 31);
	char big[STORE_COMMENT_MAX + 2];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	assert_int_equal(store_deny_add(st, a, big, 1), -E2BIG);
	assert_false(store_deny_check(st, a));
	assert_int_equal(store_member_add(st, a, STORE_ROLE_MEMBER, 1, 0, NULL), 0);
	assert_int_equal(store_deny_add(st, a, "troll", 1), 0);
	assert_int_equal(store_deny_add(st, a, "again", 1), -EEXIST);
	bool d = false;
	assert_int_equal(store_check(st, a, &d), STORE_ROLE_MEMBER);
	assert_true(d);
	char buf[64] = "";
	assert_int_equal(store_deny_list(st, deny_cb, buf), 0);
	assert_string_equal(buf, "troll");
	uint8_t b[32];
	key(b, 32);
	assert_int_equal(store_member_add(st, b, STORE_ROLE_MEMBER, 1, 0, NULL), 0);
	assert_int_equal(store_deny_add(st, b, NULL, 1), 0);
	assert_int_equal(store_member_remove(st, b), 0);
	assert_true(store_deny_check(st, b));          /* index slot survives */
	uint8_t c[32];
	key(c, 33);
	assert_int_equal(store_deny_add(st, c, NULL, 1), 0);
	assert_int_equal(store_member_add(st, c, STORE_ROLE_MEMBER, 1, 0, NULL), -EPERM);
	store_close(st);
	st = open_ok();
	assert_true(store_deny_check(st, a));
	assert_int_equal(store_deny_remove(st, a), 0);
	assert_int_equal(store_deny_remove(st, a), -ENOENT);
	assert_false(store_deny_check(st, a));
	assert_int_equal(store_check(st, a, NULL), STORE_ROLE_MEMBER);
	store_close(st);
}

static void test_tokens(void **state)
{
	struct store *st = open_ok();
	uint8_t a[32], h1[32] = {1}, h2[32] = {2}, h3[32] = {3};
	key(a, 41);
	int64_t id, got = 0;
	assert_int_equal(store_member_add(st, a, STORE_ROLE_MEMBER, 1, 0, &id), 0);
	assert_int_equal(store_token_create(st, STORE_TOKEN_SESSION, h1, 999, 1, 0), -ENOENT);
	assert_int_equal(store_token_create(st, 7, h1, id, 1, 0), -EINVAL);
	assert_int_equal(store_token_create(st, STORE_TOKEN_SESSION, h1, id, 1, 100), 0);
	assert_int_equal(store_token_create(st, STORE_TOKEN_SESSION, h1, id, 1, 100), -EEXIST);
	assert_int_equal(store_token_create(st, STORE_TOKEN_SIGNIN, h2, id, 1, 0), 0);
	assert_int_equal(store_token_create(st, STORE_TOKEN_SIGNIN, h3, id, 1, 50), 0);
	assert_int_equal(store_token_lookup(st, STORE_TOKEN_SESSION, h1, 99, &got), 0);
	assert_int_equal(got, id);
	assert_int_equal(store_token_lookup(st, STORE_TOKEN_SESSION, h1, 100, &got), -ENOENT);
	assert_int_equal(store_token_lookup(st, STORE_TOKEN_SIGNIN, h1, 10, &got), -ENOENT);
	size_t n = 0;
	assert_int_equal(store_token_purge(st, 60, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_token_delete(st, STORE_TOKEN_SIGNIN, h2), 0);
	assert_int_equal(store_token_delete(st, STORE_TOKEN_SIGNIN, h2), -ENOENT);
	assert_int_equal(store_token_delete_member(st, id), 0);
	assert_int_equal(store_token_lookup(st, STORE_TOKEN_SESSION, h1, 10, &got), -ENOENT);
	store_close(st);
}

static void test_settings(void **state)
{
	struct store *st = open_ok();
	assert_int_equal(store_mode_set(st, 0), -EINVAL);
	assert_int_equal(store_mode_set(st, STORE_MODE_RESTRICTED), 0);
	char *v;
	assert_int_equal(store_text_get(st, "name", &v), 0);
	assert_string_equal(v, "");
	free(v);
	assert_int_equal(store_text_set(st, "name", "Ye Olde Room"), 0);
	assert_int_equal(store_text_set(st, "notice.code-of-conduct", "be nice"), 0);
	assert_int_equal(store_text_set(st, "bogus", "x"), -EINVAL);
	assert_int_equal(store_text_get(st, "bogus", &v), -EINVAL);
	store_close(st);
	st = open_ok();
	assert_int_equal(store_mode_get(st), STORE_MODE_RESTRICTED);
	assert_int_equal(store_text_get(st, "name", &v), 0);
	assert_string_equal(v, "Ye Olde Room");
	free(v);
	assert_int_equal(store_text_set(st, "name", ""), 0);
	assert_int_equal(store_text_get(st, "name", &v), 0);
	assert_string_equal(v, "");
	free(v);
	assert_int_equal(store_role_parse("mod"), STORE_ROLE_MODERATOR);
	assert_int_equal(store_role_parse("RoleAdmin"), STORE_ROLE_ADMIN);
	assert_int_equal(store_role_parse("king"), STORE_ROLE_NONE);
	assert_int_equal(store_mode_parse("open"), STORE_MODE_OPEN);
	assert_int_equal(store_mode_parse("x"), 0);
	assert_string_equal(store_mode_name(STORE_MODE_COMMUNITY), "community");
	store_close(st);
}

static void sqlexec(const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void test_bad_files(void **state)
{
	struct store *st;
	/* someone else's database */
	sqlexec("CREATE TABLE foo(x)");
	assert_int_equal(store_open(path, &st, err, sizeof err), -EILSEQ);
	assert_null(st);
	assert_non_null(strstr(err, "not a fairway room database"));
	unlink(path);
	/* newer schema */
	sqlexec("PRAGMA user_version = 99");
	assert_int_equal(store_open(path, &st, err, sizeof err), -EILSEQ);
	assert_non_null(strstr(err, "newer"));
	unlink(path);
	/* garbage */
	FILE *f = fopen(path, "w");
	for (int i = 0; i < 4096; i++)
		fputc('z', f);
	fclose(f);
	assert_int_equal(store_open(path, &st, err, sizeof err), -EILSEQ);
	assert_non_null(strstr(err, path));
	unlink(path);
	/* missing directory */
	char p2[200];
	snprintf(p2, sizeof p2, "%s/nodir/room.db", dir);
	assert_int_equal(store_open(p2, &st, err, sizeof err), -ENOENT);
	/* locked by another process (an exclusive lock held here) */
	st = open_ok();
	store_close(st);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE;", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(store_open(path, &st, err, sizeof err), -EBUSY);
	assert_non_null(strstr(err, "locked"));
	sqlite3_close(db);
	/* unwritable (skipped for root, who can write anyway) */
	if (geteuid() != 0) {
		chmod(path, 0400);
		assert_int_not_equal(store_open(path, &st, err, sizeof err), 0);
		chmod(path, 0600);
	}
}

/* Crash safety: a child writes members+invites in a loop, each consume in
 * one transaction; SIGKILL it at a random moment; the reopened database has
 * every used invite's member and no member-less used invite. */
static int inv_check(void *ctx, const struct store_invite *v)
{
	struct store *st = ctx;
	if (v->used_by) {
		struct store_member m;
		if (store_member_get_id(st, v->used_by, &m) != 0)
			return 1;
	}
	return 0;
}

static void test_crash(void **state)
{
	for (int round = 0; round < 3; round++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct store *st;
			if (store_open(path, &st, err, sizeof err))
				_exit(3);
			for (int i = 0; ; i++) {
				uint8_t h[32], k[32];
				int n = round * 1000000 + i;
				crypto_hash_sha256(h, (const uint8_t *)&n, sizeof n);
				key(k, n + 100000);
				store_invite_create(st, h, 0, 1, 0, NULL);
				store_invite_consume(st, h, k, 2, NULL);
			}
		}
		usleep(150000 + (useconds_t)randombytes_uniform(200000));
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		assert_true(WIFSIGNALED(status));
		struct store *st = open_ok();
		assert_int_equal(store_invite_list(st, true, 0, inv_check, st), 0);
		/* every member (they all came from an invite) has a used invite */
		struct store_stats s;
		store_stats_get(st, &s);
		int used = 0, all = 0;
		assert_int_equal(store_invite_list(st, true, 0, inv_used, &used), 0);
		assert_int_equal(store_invite_list(st, true, 0, inv_count, &all), 0);
		assert_true(s.members > 0);
		/* an invite is used exactly when its member exists; at most one
		 * created-but-unclaimed invite per killed child */
		assert_int_equal(used, (int)s.members);
		assert_true(all - used <= round + 1);
		store_close(st);
	}
}

/* A go-ssb-room-shaped roomdb (the tables import reads, as in its
 * migrations 01 and 03; tests/cli builds one from the real migrations). */
static void make_gsr(const char *file, const char *extra)
{
	sqlite3 *db;
	char *e = NULL;
	assert_int_equal(sqlite3_open(file, &db), SQLITE_OK);
	int rc = sqlite3_exec(db,
		"CREATE TABLE gorp_migrations (id text not null primary key, applied_at datetime);"
		"CREATE TABLE members (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, role INTEGER NOT NULL,"
		" pub_key TEXT NOT NULL UNIQUE, CHECK(role > 0));"
		"CREATE TABLE invites (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, hashed_token TEXT UNIQUE NOT NULL,"
		" created_by INTEGER NOT NULL, created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,"
		" active boolean NOT NULL DEFAULT TRUE);"
		"CREATE TABLE aliases (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, name TEXT UNIQUE NOT NULL,"
		" member_id INTEGER NOT NULL, signature BLOB NOT NULL);"
		"CREATE TABLE denied_keys (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, pub_key TEXT NOT NULL UNIQUE,"
		" comment TEXT NOT NULL, created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP);"
		"CREATE TABLE config (id integer NOT NULL PRIMARY KEY, privacyMode integer NOT NULL,"
		" defaultLanguage TEXT NOT NULL, use_subdomain_for_aliases boolean NOT NULL);"
		"INSERT INTO config VALUES (0, 1, 'en', 1);"
		"INSERT INTO members(id, role, pub_key) VALUES"
		" (4, 3, '@AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=.ed25519'),"
		" (7, 1, '@AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=.ed25519');"
		"INSERT INTO aliases(name, member_id, signature) VALUES"
		" ('alice', 4, zeroblob(64)), ('bob', 7, zeroblob(64)), ('', 7, zeroblob(64));"
		"INSERT INTO denied_keys(pub_key, comment, created_at) VALUES"
		" ('@AwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=.ed25519', 'spam', '2021-05-01 10:00:00');"
		"INSERT INTO invites(hashed_token, created_by, active) VALUES"
		" ('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 4, 1),"
		" ('ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100', 4, 0);",
		NULL, NULL, &e);
	if (rc != SQLITE_OK)
		fail_msg("gsr schema: %s", e);
	if (extra != NULL)
		assert_int_equal(sqlite3_exec(db, extra, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* accepts alice's only: the store must keep just what verify() says */
static bool verify_alice(void *ctx, const char *name, const uint8_t owner[32], const uint8_t sig[64])
{
	(*(int *)ctx)++;
	return strcmp(name, "alice") == 0 && owner[0] == 1;
}

static void test_import_gsr(void **state)
{
	char gsr[160], bad[160];
	struct store *st = open_ok();
	struct store_import_stats n;
	struct store_member m;
	struct store_alias a;
	struct store_invite inv;
	uint8_t k[32] = { 1 }, k2[32] = { 2 }, k3[32] = { 3 };
	int calls = 0, cnt = 0;

	snprintf(gsr, sizeof gsr, "%s/roomdb", dir);
	make_gsr(gsr, NULL);
	assert_int_equal(store_import_gsr(st, gsr, verify_alice, &calls, 1000, &n, err, sizeof err), 0);
	assert_int_equal(n.members, 2);
	assert_int_equal(n.aliases, 1);
	assert_int_equal(n.aliases_bad, 2);   /* bob's failed verify, '' is no name */
	assert_int_equal(calls, 2);
	assert_int_equal(n.denied, 1);
	assert_int_equal(n.invites, 1);
	assert_int_equal(n.mode, STORE_MODE_OPEN);
	/* the index and the mode are live at once */
	assert_int_equal(store_check(st, k, NULL), STORE_ROLE_ADMIN);
	assert_int_equal(store_check(st, k2, NULL), STORE_ROLE_MEMBER);
	assert_true(store_deny_check(st, k3));
	assert_int_equal(store_mode_get(st), STORE_MODE_OPEN);
	assert_int_equal(store_member_get(st, k2, &m), 0);
	assert_int_equal(m.id, 7);
	assert_int_equal(store_alias_get(st, "alice", &a), 0);
	assert_int_equal(a.member_id, 4);
	assert_int_equal(store_alias_get(st, "bob", &a), -ENOENT);
	assert_int_equal(store_invite_list(st, true, 1000, inv_count, &cnt), 0);
	assert_int_equal(cnt, 1);
	assert_int_equal(store_invite_get(st, 1, &inv), 0);
	assert_int_equal(inv.hash[1], 0x11);
	assert_int_equal(inv.expires, 0);
	/* again: the store is not empty */
	assert_int_equal(store_import_gsr(st, gsr, verify_alice, &calls, 1000, &n, err, sizeof err), -ENOTEMPTY);
	store_close(st);

	/* a bad row: nothing written; not a roomdb: refused */
	snprintf(path, sizeof path, "%s/two.db", dir);
	st = open_ok();
	snprintf(bad, sizeof bad, "%s/bad-roomdb", dir);
	make_gsr(bad, "INSERT INTO members(id, role, pub_key) VALUES (9, 5, '@BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=.ed25519');");
	assert_int_equal(store_import_gsr(st, bad, verify_alice, &calls, 1000, &n, err, sizeof err), -EILSEQ);
	assert_non_null(strstr(err, "members row 9: role 5"));
	assert_int_equal(store_member_count(st), 0);
	assert_int_equal(store_check(st, k, NULL), STORE_ROLE_NONE);
	snprintf(bad, sizeof bad, "%s/room.db", dir);   /* fairway's own */
	assert_int_equal(store_import_gsr(st, bad, verify_alice, &calls, 1000, &n, err, sizeof err), -EILSEQ);
	assert_non_null(strstr(err, "not a go-ssb-room roomdb"));
	snprintf(bad, sizeof bad, "%s/missing", dir);
	assert_int_equal(store_import_gsr(st, bad, verify_alice, &calls, 1000, &n, err, sizeof err), -ENOENT);
	store_close(st);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_mode_and_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_members, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invites, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aliases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_denied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_gsr, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
