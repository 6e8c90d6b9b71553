/* store: see store.h. One SQLite file, WAL, foreign keys on, schema
 * versioned by PRAGMA user_version; every write is one transaction. */
#include "store.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "keys.h"

#define SCHEMA_VERSION 1

/* Migrations: entry i takes user_version i to i+1. */
static const char *const migrations[] = {
	"CREATE TABLE members ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" key BLOB NOT NULL UNIQUE CHECK(length(key) = 32),"
	" role INTEGER NOT NULL CHECK(role BETWEEN 1 AND 3),"
	" added INTEGER NOT NULL,"
	" added_by INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE invites ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" hash BLOB NOT NULL UNIQUE CHECK(length(hash) = 32),"
	" created_by INTEGER REFERENCES members(id) ON DELETE CASCADE,"
	" created INTEGER NOT NULL,"
	" expires INTEGER NOT NULL DEFAULT 0,"
	" used_by INTEGER,"
	" used_at INTEGER NOT NULL DEFAULT 0,"
	" revoked INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE aliases ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL UNIQUE,"
	" member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,"
	" sig BLOB NOT NULL CHECK(length(sig) = 64),"
	" created INTEGER NOT NULL);"
	"CREATE INDEX aliases_member ON aliases(member_id);"
	"CREATE TABLE denied ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" key BLOB NOT NULL UNIQUE CHECK(length(key) = 32),"
	" comment TEXT NOT NULL DEFAULT '',"
	" created INTEGER NOT NULL);"
	"CREATE TABLE tokens ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" kind INTEGER NOT NULL,"
	" hash BLOB NOT NULL UNIQUE CHECK(length(hash) = 32),"
	" member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,"
	" created INTEGER NOT NULL,"
	" expires INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX tokens_member ON tokens(member_id);"
	"CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"INSERT INTO settings(name, value) VALUES ('mode', '2');",
};

enum stmt_id {
	S_BEGIN, S_COMMIT, S_ROLLBACK,
	S_MEMBER_ADD, S_MEMBER_GET, S_MEMBER_GET_ID, S_MEMBER_ROLE, S_MEMBER_DEL,
	S_MEMBER_LIST,
	S_INVITE_ADD, S_INVITE_FIND, S_INVITE_GET, S_INVITE_USE, S_INVITE_REVOKE,
	S_INVITE_LIST_ALL, S_INVITE_LIST_OPEN, S_INVITE_COUNT_OPEN,
	S_ALIAS_ADD, S_ALIAS_GET, S_ALIAS_DEL, S_ALIAS_LIST_ALL, S_ALIAS_LIST_OWNER,
	S_ALIAS_COUNT,
	S_DENY_ADD, S_DENY_DEL, S_DENY_LIST,
	S_TOKEN_ADD, S_TOKEN_GET, S_TOKEN_DEL, S_TOKEN_DEL_MEMBER, S_TOKEN_PURGE,
	S_SET_GET, S_SET_PUT, S_SET_DEL,
	S_IMP_MEMBER, S_IMP_EMPTY,
	S__N
};

#define MEMBER_COLS "m.id, m.key, m.role, m.added, m.added_by"
#define INVITE_COLS "id, hash, coalesce(created_by, 0), created, expires, coalesce(used_by, 0), used_at, revoked"
#define ALIAS_COLS "a.id, a.name, a.member_id, m.key, a.sig, a.created"

static const char *const stmt_sql[S__N] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_MEMBER_ADD] = "INSERT INTO members(key, role, added, added_by) VALUES (?1, ?2, ?3, ?4)",
	[S_MEMBER_GET] = "SELECT " MEMBER_COLS " FROM members m WHERE m.key = ?1",
	[S_MEMBER_GET_ID] = "SELECT " MEMBER_COLS " FROM members m WHERE m.id = ?1",
	[S_MEMBER_ROLE] = "UPDATE members SET role = ?2 WHERE key = ?1",
	[S_MEMBER_DEL] = "DELETE FROM members WHERE key = ?1",
	[S_MEMBER_LIST] = "SELECT " MEMBER_COLS " FROM members m ORDER BY m.id",
	[S_INVITE_ADD] = "INSERT INTO invites(hash, created_by, created, expires) VALUES (?1, ?2, ?3, ?4)",
	[S_INVITE_FIND] = "SELECT " INVITE_COLS " FROM invites WHERE hash = ?1",
	[S_INVITE_GET] = "SELECT " INVITE_COLS " FROM invites WHERE id = ?1",
	[S_INVITE_USE] = "UPDATE invites SET used_by = ?2, used_at = ?3 WHERE id = ?1 AND used_by IS NULL AND revoked = 0",
	[S_INVITE_REVOKE] = "UPDATE invites SET revoked = 1 WHERE id = ?1 AND used_by IS NULL AND revoked = 0",
	[S_INVITE_LIST_ALL] = "SELECT " INVITE_COLS " FROM invites ORDER BY id",
	[S_INVITE_LIST_OPEN] = "SELECT " INVITE_COLS " FROM invites WHERE used_by IS NULL AND revoked = 0"
	                       " AND (expires = 0 OR expires > ?1) ORDER BY id",
	[S_INVITE_COUNT_OPEN] = "SELECT count(*) FROM invites WHERE used_by IS NULL AND revoked = 0"
	                        " AND (expires = 0 OR expires > ?1)",
	[S_ALIAS_ADD] = "INSERT INTO aliases(name, member_id, sig, created) VALUES (?1, ?2, ?3, ?4)",
	[S_ALIAS_GET] = "SELECT " ALIAS_COLS " FROM aliases a JOIN members m ON m.id = a.member_id WHERE a.name = ?1",
	[S_ALIAS_DEL] = "DELETE FROM aliases WHERE name = ?1",
	[S_ALIAS_LIST_ALL] = "SELECT " ALIAS_COLS " FROM aliases a JOIN members m ON m.id = a.member_id ORDER BY a.name",
	[S_ALIAS_LIST_OWNER] = "SELECT " ALIAS_COLS " FROM aliases a JOIN members m ON m.id = a.member_id"
	                       " WHERE m.key = ?1 ORDER BY a.name",
	[S_ALIAS_COUNT] = "SELECT count(*) FROM aliases",
	[S_DENY_ADD] = "INSERT INTO denied(key, comment, created) VALUES (?1, ?2, ?3)",
	[S_DENY_DEL] = "DELETE FROM denied WHERE key = ?1",
	[S_DENY_LIST] = "SELECT id, key, comment, created FROM denied ORDER BY id",
	[S_TOKEN_ADD] = "INSERT INTO tokens(kind, hash, member_id, created, expires) VALUES (?1, ?2, ?3, ?4, ?5)",
	[S_TOKEN_GET] = "SELECT hash, member_id, expires FROM tokens WHERE kind = ?1 AND hash = ?2",
	[S_TOKEN_DEL] = "DELETE FROM tokens WHERE kind = ?1 AND hash = ?2",
	[S_TOKEN_DEL_MEMBER] = "DELETE FROM tokens WHERE member_id = ?1",
	[S_TOKEN_PURGE] = "DELETE FROM tokens WHERE expires != 0 AND expires <= ?1",
	[S_SET_GET] = "SELECT value FROM settings WHERE name = ?1",
	[S_SET_PUT] = "INSERT INTO settings(name, value) VALUES (?1, ?2)"
	              " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
	[S_SET_DEL] = "DELETE FROM settings WHERE name = ?1",
	[S_IMP_MEMBER] = "INSERT INTO members(id, key, role, added, added_by) VALUES (?1, ?2, ?3, ?4, 0)",
	[S_IMP_EMPTY] = "SELECT (SELECT count(*) FROM members) + (SELECT count(*) FROM invites)"
	                " + (SELECT count(*) FROM aliases) + (SELECT count(*) FROM denied)",
};

/* The membership index: open addressing, linear probing, backward-shift
 * deletion; slot key all-zero = empty (the all-zero key is not a valid
 * ed25519 point a peer can hold, and the store refuses it). */
struct slot {
	uint8_t key[STORE_KEY_LEN];
	uint8_t role;     /* enum store_role */
	uint8_t denied;
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[S__N];
	char errmsg[256];
	struct slot *tab;
	size_t cap, used;   /* cap a power of two */
	enum store_mode mode;
	int version;
	struct store_stats stats;
	int fd;          /* the file, kept open for store_lock (after sqlite3_close) */
};

/* ---- small pure helpers ------------------------------------------------ */

bool store_alias_valid(const char *name, size_t len)
{
	if (!name || len == 0 || len > STORE_ALIAS_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

enum store_role store_role_parse(const char *s)
{
	if (!s)
		return STORE_ROLE_NONE;
	if (!strcmp(s, "member") || !strcmp(s, "RoleMember") || !strcmp(s, "1"))
		return STORE_ROLE_MEMBER;
	if (!strcmp(s, "moderator") || !strcmp(s, "mod") || !strcmp(s, "RoleModerator") || !strcmp(s, "2"))
		return STORE_ROLE_MODERATOR;
	if (!strcmp(s, "admin") || !strcmp(s, "RoleAdmin") || !strcmp(s, "3"))
		return STORE_ROLE_ADMIN;
	return STORE_ROLE_NONE;
}

const char *store_role_name(enum store_role r)
{
	switch (r) {
	case STORE_ROLE_MEMBER: return "member";
	case STORE_ROLE_MODERATOR: return "moderator";
	case STORE_ROLE_ADMIN: return "admin";
	default: return "none";
	}
}

enum store_mode store_mode_parse(const char *s)
{
	if (!s)
		return 0;
	if (!strcmp(s, "open") || !strcmp(s, "ModeOpen") || !strcmp(s, "1"))
		return STORE_MODE_OPEN;
	if (!strcmp(s, "community") || !strcmp(s, "ModeCommunity") || !strcmp(s, "2"))
		return STORE_MODE_COMMUNITY;
	if (!strcmp(s, "restricted") || !strcmp(s, "ModeRestricted") || !strcmp(s, "3"))
		return STORE_MODE_RESTRICTED;
	return 0;
}

const char *store_mode_name(enum store_mode m)
{
	switch (m) {
	case STORE_MODE_OPEN: return "open";
	case STORE_MODE_COMMUNITY: return "community";
	case STORE_MODE_RESTRICTED: return "restricted";
	default: return "unknown";
	}
}

static const char *const text_names[] = {
	"name", "description", "notice.code-of-conduct", "notice.privacy-policy",
	"notice.news", "notice.description",
};

bool store_text_name_valid(const char *name)
{
	if (!name)
		return false;
	for (size_t i = 0; i < sizeof text_names / sizeof *text_names; i++)
		if (!strcmp(name, text_names[i]))
			return true;
	return false;
}

const char *store_invite_errtext(int rc)
{
	switch (rc) {
	case 0: return "";
	case -EPERM: return "rooms: this key has been banned";
	case -ENOENT: case -EALREADY: case -ECANCELED:
		return "rooms/web: item not found: invite";
	case -ETIMEDOUT: return "rooms/web: invite expired";
	case -EINVAL: return "rooms/web: invalid invite";
	default: return "rooms/web: internal error";
	}
}

static bool key_zero(const uint8_t k[STORE_KEY_LEN])
{
	return sodium_is_zero(k, STORE_KEY_LEN);
}

/* ---- membership index -------------------------------------------------- */

static size_t slot_hash(const uint8_t k[STORE_KEY_LEN], size_t mask)
{
	/* Keys are public keys: uniformly distributed already, but a peer picks
	 * its own, so mix them with a per-process keyed hash. */
	static uint8_t hkey[crypto_shorthash_KEYBYTES];
	static bool init;
	if (!init) {
		randombytes_buf(hkey, sizeof hkey);
		init = true;
	}
	uint64_t h;
	crypto_shorthash((uint8_t *)&h, k, STORE_KEY_LEN, hkey);
	return (size_t)h & mask;
}

static struct slot *idx_find(const struct store *st, const uint8_t k[STORE_KEY_LEN])
{
	if (!st->cap)
		return NULL;
	size_t mask = st->cap - 1;
	for (size_t i = slot_hash(k, mask);; i = (i + 1) & mask) {
		struct slot *s = &st->tab[i];
		if (key_zero(s->key))
			return NULL;
		if (!memcmp(s->key, k, STORE_KEY_LEN))
			return s;
	}
}

static int idx_grow(struct store *st)
{
	size_t ncap = st->cap ? st->cap * 2 : 1024;
	struct slot *nt = calloc(ncap, sizeof *nt);
	if (!nt)
		return -ENOMEM;
	for (size_t i = 0; i < st->cap; i++) {
		struct slot *s = &st->tab[i];
		if (key_zero(s->key))
			continue;
		size_t j = slot_hash(s->key, ncap - 1);
		while (!key_zero(nt[j].key))
			j = (j + 1) & (ncap - 1);
		nt[j] = *s;
	}
	free(st->tab);
	st->tab = nt;
	st->cap = ncap;
	return 0;
}

/* Gets or inserts the slot for k. */
static struct slot *idx_get(struct store *st, const uint8_t k[STORE_KEY_LEN])
{
	struct slot *s = idx_find(st, k);
	if (s)
		return s;
	if ((st->used + 1) * 4 > st->cap * 3 && idx_grow(st) < 0)
		return NULL;
	size_t mask = st->cap - 1, i = slot_hash(k, mask);
	while (!key_zero(st->tab[i].key))
		i = (i + 1) & mask;
	s = &st->tab[i];
	memcpy(s->key, k, STORE_KEY_LEN);
	s->role = 0;
	s->denied = 0;
	st->used++;
	return s;
}

/* Drops the slot if it holds nothing any more (backward-shift delete). */
static void idx_trim(struct store *st, struct slot *s)
{
	if (!s || s->role || s->denied)
		return;
	size_t mask = st->cap - 1, i = (size_t)(s - st->tab), j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (key_zero(st->tab[j].key))
			break;
		size_t h = slot_hash(st->tab[j].key, mask);
		/* move j into the hole at i if its home is not in (i, j] */
		if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
			st->tab[i] = st->tab[j];
			i = j;
		}
	}
	memset(&st->tab[i], 0, sizeof st->tab[i]);
	st->used--;
}

static void idx_set_role(struct store *st, const uint8_t k[STORE_KEY_LEN], enum store_role r)
{
	struct slot *s = r ? idx_get(st, k) : idx_find(st, k);
	if (!s)
		return;
	s->role = (uint8_t)r;
	idx_trim(st, s);
}

static void idx_set_denied(struct store *st, const uint8_t k[STORE_KEY_LEN], bool d)
{
	struct slot *s = d ? idx_get(st, k) : idx_find(st, k);
	if (!s)
		return;
	s->denied = d;
	idx_trim(st, s);
}

enum store_role store_check(const struct store *st, const uint8_t key[STORE_KEY_LEN], bool *denied)
{
	const struct slot *s = idx_find(st, key);
	if (denied)
		*denied = s && s->denied;
	return s ? (enum store_role)s->role : STORE_ROLE_NONE;
}

bool store_deny_check(const struct store *st, const uint8_t key[STORE_KEY_LEN])
{
	bool d;
	store_check(st, key, &d);
	return d;
}

size_t store_member_count(const struct store *st)
{
	return (size_t)st->stats.members;
}

/* ---- SQLite plumbing --------------------------------------------------- */

static int sqerr(struct store *st, int rc)
{
	snprintf(st->errmsg, sizeof st->errmsg, "%s", sqlite3_errmsg(st->db));
	switch (rc & 0xff) {
	case SQLITE_BUSY: case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_CONSTRAINT: return -EEXIST;
	case SQLITE_READONLY: case SQLITE_PERM: case SQLITE_CANTOPEN: return -EACCES;
	case SQLITE_CORRUPT: case SQLITE_NOTADB: return -EILSEQ;
	case SQLITE_FULL: return -ENOSPC;
	default: return -EIO;
	}
}

/* The cached statement, reset and unbound. NULL on error (errmsg set). */
static sqlite3_stmt *stmt(struct store *st, enum stmt_id id)
{
	sqlite3_stmt *s = st->stmt[id];
	if (!s) {
		int rc = sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
		                            &st->stmt[id], NULL);
		if (rc != SQLITE_OK) {
			sqerr(st, rc);
			return NULL;
		}
		return st->stmt[id];
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

static int exec1(struct store *st, enum stmt_id id)
{
	sqlite3_stmt *s = stmt(st, id);
	if (!s)
		return -EIO;
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : sqerr(st, rc);
}

static int tx_begin(struct store *st) { return exec1(st, S_BEGIN); }

static int tx_end(struct store *st, int rc)
{
	if (rc == 0) {
		rc = exec1(st, S_COMMIT);
		if (rc == 0) {
			st->stats.writes++;
			return 0;
		}
	}
	if (!sqlite3_get_autocommit(st->db))
		exec1(st, S_ROLLBACK);
	return rc;
}

/* Steps a write statement to completion; -EEXIST on a constraint. */
static int step_done(struct store *st, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);
	int r = rc == SQLITE_DONE ? 0 : sqerr(st, rc);
	sqlite3_reset(s);
	return r;
}

/* The cached statement with its parameters bound from a format, one
 * letter per parameter ?1, ?2, … in order:
 *   i  int64_t              n  int64_t, bound as NULL when 0
 *   d  int                  t  const char * (NUL-terminated text)
 *   k  const uint8_t *: a 32-byte key     h  … a 32-byte hash
 *   g  const uint8_t *: a 64-byte signature
 * Blobs and text are bound SQLITE_STATIC: they must outlive the step.
 * NULL on error (errmsg set). */
static sqlite3_stmt *vbind(struct store *st, enum stmt_id id, const char *fmt, va_list ap)
{
	sqlite3_stmt *s = stmt(st, id);
	int i = 1;

	if (!s)
		return NULL;
	for (const char *f = fmt; *f; f++, i++) {
		switch (*f) {
		case 'i': sqlite3_bind_int64(s, i, va_arg(ap, int64_t)); break;
		case 'n': {
			int64_t v = va_arg(ap, int64_t);
			if (v)
				sqlite3_bind_int64(s, i, v);
			else
				sqlite3_bind_null(s, i);
			break;
		}
		case 'd': sqlite3_bind_int(s, i, va_arg(ap, int)); break;
		case 't': sqlite3_bind_text(s, i, va_arg(ap, const char *), -1, SQLITE_STATIC); break;
		case 'k': sqlite3_bind_blob(s, i, va_arg(ap, const uint8_t *), STORE_KEY_LEN, SQLITE_STATIC); break;
		case 'h': sqlite3_bind_blob(s, i, va_arg(ap, const uint8_t *), STORE_HASH_LEN, SQLITE_STATIC); break;
		case 'g': sqlite3_bind_blob(s, i, va_arg(ap, const uint8_t *), STORE_SIG_LEN, SQLITE_STATIC); break;
		}
	}
	return s;
}

static sqlite3_stmt *bind(struct store *st, enum stmt_id id, const char *fmt, ...)
{
	va_list ap;
	sqlite3_stmt *s;

	va_start(ap, fmt);
	s = vbind(st, id, fmt, ap);
	va_end(ap);
	return s;
}

/* One write statement, bound and stepped (inside the caller's
 * transaction). must_change: -ENOENT if it changed no row. */
static int vwrite1(struct store *st, enum stmt_id id, bool must_change, const char *fmt, va_list ap)
{
	sqlite3_stmt *s = vbind(st, id, fmt, ap);
	int r;

	if (!s)
		return -EIO;
	r = step_done(st, s);
	if (r == 0 && must_change && sqlite3_changes(st->db) == 0)
		r = -ENOENT;
	return r;
}

static int write1(struct store *st, enum stmt_id id, bool must_change, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vwrite1(st, id, must_change, fmt, ap);
	va_end(ap);
	return r;
}

/* The same as its own transaction: the whole of most changes. */
static int tx_write1(struct store *st, enum stmt_id id, bool must_change, const char *fmt, ...)
{
	va_list ap;
	int r = tx_begin(st);

	if (r)
		return r;
	va_start(ap, fmt);
	r = vwrite1(st, id, must_change, fmt, ap);
	va_end(ap);
	return tx_end(st, r);
}

/* A lookup of at most one row: 0 and row(s, out) (out may be NULL: only
 * whether it exists), -ENOENT if there is none. */
typedef void (*row_fn)(sqlite3_stmt *s, void *out);

static int get1(struct store *st, enum stmt_id id, row_fn row, void *out, const char *fmt, ...)
{
	va_list ap;
	sqlite3_stmt *s;
	int rc, r;

	va_start(ap, fmt);
	s = vbind(st, id, fmt, ap);
	va_end(ap);
	if (!s)
		return -EIO;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (out)
			row(s, out);
		r = 0;
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : sqerr(st, rc);
	}
	sqlite3_reset(s);
	return r;
}

/* Steps a bound query to its end, calling each(env, s) for every row;
 * each returns non-zero to stop (returned). */
static int rows(struct store *st, sqlite3_stmt *s, int (*each)(void *env, sqlite3_stmt *s), void *env)
{
	int rc, r = 0;

	if (!s)
		return -EIO;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((r = each(env, s)) != 0)
			break;
	if (r == 0 && rc != SQLITE_DONE)
		r = sqerr(st, rc);
	sqlite3_reset(s);
	return r;
}

static void row_member(sqlite3_stmt *s, void *out)
{
	struct store_member *m = out;

	memset(m, 0, sizeof *m);
	m->id = sqlite3_column_int64(s, 0);
	if (sqlite3_column_bytes(s, 1) == STORE_KEY_LEN)
		memcpy(m->key, sqlite3_column_blob(s, 1), STORE_KEY_LEN);
	m->role = (enum store_role)sqlite3_column_int(s, 2);
	m->added = sqlite3_column_int64(s, 3);
	m->added_by = sqlite3_column_int64(s, 4);
}

static void row_invite(sqlite3_stmt *s, void *out)
{
	struct store_invite *v = out;

	memset(v, 0, sizeof *v);
	v->id = sqlite3_column_int64(s, 0);
	if (sqlite3_column_bytes(s, 1) == STORE_HASH_LEN)
		memcpy(v->hash, sqlite3_column_blob(s, 1), STORE_HASH_LEN);
	v->created_by = sqlite3_column_int64(s, 2);
	v->created = sqlite3_column_int64(s, 3);
	v->expires = sqlite3_column_int64(s, 4);
	v->used_by = sqlite3_column_int64(s, 5);
	v->used_at = sqlite3_column_int64(s, 6);
	v->revoked = sqlite3_column_int(s, 7) != 0;
}

static void row_alias(sqlite3_stmt *s, void *out)
{
	struct store_alias *a = out;

	memset(a, 0, sizeof *a);
	a->id = sqlite3_column_int64(s, 0);
	const unsigned char *n = sqlite3_column_text(s, 1);
	snprintf(a->name, sizeof a->name, "%s", n ? (const char *)n : "");
	a->member_id = sqlite3_column_int64(s, 2);
	if (sqlite3_column_bytes(s, 3) == STORE_KEY_LEN)
		memcpy(a->owner, sqlite3_column_blob(s, 3), STORE_KEY_LEN);
	if (sqlite3_column_bytes(s, 4) == STORE_SIG_LEN)
		memcpy(a->sig, sqlite3_column_blob(s, 4), STORE_SIG_LEN);
	a->created = sqlite3_column_int64(s, 5);
}

static int64_t count_q(struct store *st, enum stmt_id id, int64_t arg)
{
	sqlite3_stmt *s = stmt(st, id);
	if (!s)
		return 0;
	if (sqlite3_bind_parameter_count(s) > 0)
		sqlite3_bind_int64(s, 1, arg);
	int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return n;
}

/* ---- open / close ------------------------------------------------------ */

static int index_member(void *env, sqlite3_stmt *s)
{
	struct store *st = env;
	struct store_member m;

	row_member(s, &m);
	idx_set_role(st, m.key, m.role);
	st->stats.members++;
	return 0;
}

static int index_denied(void *env, sqlite3_stmt *s)
{
	struct store *st = env;

	if (sqlite3_column_bytes(s, 1) == STORE_KEY_LEN)
		idx_set_denied(st, sqlite3_column_blob(s, 1), true);
	st->stats.denied++;
	return 0;
}

static int load_index(struct store *st)
{
	int r;

	st->stats.members = 0;
	st->stats.denied = 0;
	r = rows(st, bind(st, S_MEMBER_LIST, ""), index_member, st);
	if (r == 0)
		r = rows(st, bind(st, S_DENY_LIST, ""), index_denied, st);
	if (r == 0)
		st->stats.aliases = (uint64_t)count_q(st, S_ALIAS_COUNT, 0);
	return r;
}

static int load_mode(struct store *st)
{
	char *v = NULL;
	int rc = store_text_get(st, "mode", &v);
	if (rc < 0)
		return rc;
	enum store_mode m = store_mode_parse(v);
	free(v);
	st->mode = m ? m : STORE_MODE_COMMUNITY;
	return 0;
}

/* PRAGMA user_version, or -1 (an SQLite error). */
static int user_version(struct store *st)
{
	sqlite3_stmt *s;
	int v = -1;

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* The version checks: newer than ours, or version 0 with tables in it
 * (someone else's database). 0 or -EILSEQ / an SQLite error. */
static int version_ok(struct store *st, int v, char *err, size_t errlen, const char *path)
{
	sqlite3_stmt *s;
	int rc, n;

	if (v > SCHEMA_VERSION) {
		snprintf(err, errlen, "%s: schema version %d is newer than this fairway's (%d)",
		         path, v, SCHEMA_VERSION);
		return -EILSEQ;
	}
	if (v != 0)
		return 0;
	/* A version-0 file must be empty: refuse someone else's database
	 * rather than adding our tables to it. */
	rc = sqlite3_prepare_v2(st->db, "SELECT count(*) FROM sqlite_master", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sqerr(st, rc);
	rc = sqlite3_step(s);
	n = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
	sqlite3_finalize(s);
	if (n < 0)
		return sqerr(st, rc);
	if (n > 0) {
		snprintf(err, errlen, "%s: not a fairway room database (it has tables but no schema version)",
		         path);
		return -EILSEQ;
	}
	return 0;
}

static int migrate(struct store *st, char *err, size_t errlen, const char *path)
{
	int rc, r, v = user_version(st);

	if (v < 0)
		return sqerr(st, sqlite3_errcode(st->db));
	if ((r = version_ok(st, v, err, errlen, path)) != 0)
		return r;
	while (v < SCHEMA_VERSION) {
		char sql[64];

		/* Read the version again under the write lock: two processes
		 * opening a new file at once (two `fairway invite create`) must
		 * not both run migration v (the second would fail on "table
		 * already exists"); the one that waited sees v+1 and goes on. */
		rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			return sqerr(st, rc);
		if ((v = user_version(st)) < 0) {
			r = sqerr(st, sqlite3_errcode(st->db));
			goto fail;
		}
		if ((r = version_ok(st, v, err, errlen, path)) != 0)
			goto fail;
		if (v < SCHEMA_VERSION) {
			rc = sqlite3_exec(st->db, migrations[v], NULL, NULL, NULL);
			snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
			if (rc == SQLITE_OK)
				rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
			v++;
		}
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			r = sqerr(st, rc);
			goto fail;
		}
	}
	st->version = v;
	return 0;
fail:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

int store_open(const char *path, struct store **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!path || !*path) {
		snprintf(err, errlen, "no database path given");
		return -EINVAL;
	}
	struct store *st = calloc(1, sizeof *st);
	if (!st) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	st->fd = -1;
	if (sodium_init() < 0) {
		free(st);
		snprintf(err, errlen, "libsodium failed to initialise");
		return -EIO;
	}
	/* Create the file ourselves so it is 0600 from its first byte. */
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot open for writing: %s", path, strerror(e));
		free(st);
		return e == ENOENT ? -ENOENT : -EACCES;
	}
	/* Kept open until store_close, which closes it after SQLite's own
	 * descriptors: closing any descriptor of the file earlier would drop
	 * SQLite's POSIX locks on it. */
	st->fd = fd;
	const char *what = "open";
	int rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL);
	int r = 0;
	if (rc == SQLITE_OK) {
		sqlite3_extended_result_codes(st->db, 1);
		sqlite3_busy_timeout(st->db, 2000);
		what = "read";
		rc = sqlite3_exec(st->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
	}
	if (rc == SQLITE_OK) {
		/* The first read of the header: "file is not a database" shows here. */
		rc = sqlite3_exec(st->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
	}
	if (rc == SQLITE_OK) {
		what = "set WAL mode on";
		rc = sqlite3_exec(st->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(st->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	if (rc == SQLITE_OK) {
		what = "check";
		sqlite3_stmt *s;
		rc = sqlite3_prepare_v2(st->db, "PRAGMA quick_check", -1, &s, NULL);
		if (rc == SQLITE_OK) {
			rc = sqlite3_step(s);
			if (rc == SQLITE_ROW) {
				const unsigned char *t = sqlite3_column_text(s, 0);
				if (!t || strcmp((const char *)t, "ok")) {
					snprintf(err, errlen, "%s: database is corrupt: %s", path,
					         t ? (const char *)t : "?");
					r = -EILSEQ;
				}
				rc = SQLITE_OK;
			}
			sqlite3_finalize(s);
		}
	}
	if (r)
		goto fail;
	if (rc != SQLITE_OK) {
		r = sqerr(st, rc);
		const char *why = r == -EBUSY ? "it is locked by another process"
		                : r == -EILSEQ ? "not a database or corrupt"
		                : r == -EACCES ? "permission denied or read-only" : st->errmsg;
		snprintf(err, errlen, "%s: cannot %s the database: %s (%s)", path, what, why, st->errmsg);
		goto fail;
	}
	what = "migrate";
	err[0] = 0;
	r = migrate(st, err, errlen, path);
	if (r == 0)
		r = load_mode(st);
	if (r == 0)
		r = load_index(st);
	if (r == 0)
		st->stats.invites_open = (uint64_t)count_q(st, S_INVITE_COUNT_OPEN, (int64_t)time(NULL));
	if (r) {
		if (!err[0])
			snprintf(err, errlen, "%s: cannot %s the database: %s", path, what, st->errmsg);
		goto fail;
	}
	*out = st;
	return 0;
fail:
	store_close(st);
	return r;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	for (int i = 0; i < S__N; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	if (st->fd >= 0)
		close(st->fd);
	free(st->tab);
	free(st);
}

int store_lock(struct store *st, const char *path, char *err, size_t errlen)
{
	if (flock(st->fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK) {
		snprintf(err, errlen, "%s: in use by another process (a running fairway portal?): "
		         "one portal per database, and changes go through its control socket", path);
		return -EBUSY;
	}
	snprintf(err, errlen, "%s: cannot lock: %s", path, strerror(errno));
	return -errno;
}

const char *store_errmsg(const struct store *st) { return st->errmsg; }
int store_schema_version(const struct store *st) { return st->version; }

void store_stats_get(const struct store *st, struct store_stats *out) { *out = st->stats; }

/* ---- members ----------------------------------------------------------- */

static int member_by_key(struct store *st, const uint8_t key[STORE_KEY_LEN], struct store_member *out)
{
	return get1(st, S_MEMBER_GET, row_member, out, "k", key);
}

static int member_insert(struct store *st, const uint8_t key[STORE_KEY_LEN], enum store_role role,
                         int64_t added, int64_t added_by, int64_t *id)
{
	int r = write1(st, S_MEMBER_ADD, false, "kdii", key, (int)role, added, added_by);

	if (r == 0 && id)
		*id = sqlite3_last_insert_rowid(st->db);
	return r;
}

static bool role_ok(enum store_role r)
{
	return r >= STORE_ROLE_MEMBER && r <= STORE_ROLE_ADMIN;
}

int store_member_add(struct store *st, const uint8_t key[STORE_KEY_LEN], enum store_role role,
                     int64_t added, int64_t added_by, int64_t *id_out)
{
	if (!key || key_zero(key) || !role_ok(role))
		return -EINVAL;
	if (store_deny_check(st, key))
		return -EPERM;
	if (store_check(st, key, NULL))
		return -EEXIST;
	int r = tx_begin(st);
	if (r)
		return r;
	r = member_insert(st, key, role, added, added_by, id_out);
	r = tx_end(st, r);
	if (r == 0) {
		idx_set_role(st, key, role);
		st->stats.members++;
	}
	return r;
}

int store_member_get(struct store *st, const uint8_t key[STORE_KEY_LEN], struct store_member *out)
{
	if (!key)
		return -EINVAL;
	return member_by_key(st, key, out);
}

int store_member_get_id(struct store *st, int64_t id, struct store_member *out)
{
	return get1(st, S_MEMBER_GET_ID, row_member, out, "i", id);
}

int store_member_set_role(struct store *st, const uint8_t key[STORE_KEY_LEN], enum store_role role)
{
	if (!key || !role_ok(role))
		return -EINVAL;
	int r = tx_write1(st, S_MEMBER_ROLE, true, "kd", key, (int)role);
	if (r == 0)
		idx_set_role(st, key, role);
	return r;
}

int store_member_remove(struct store *st, const uint8_t key[STORE_KEY_LEN])
{
	if (!key)
		return -EINVAL;
	int r = tx_write1(st, S_MEMBER_DEL, true, "k", key);
	if (r == 0) {
		idx_set_role(st, key, STORE_ROLE_NONE);
		st->stats.members--;
		st->stats.aliases = (uint64_t)count_q(st, S_ALIAS_COUNT, 0);
		st->stats.invites_open = (uint64_t)count_q(st, S_INVITE_COUNT_OPEN, (int64_t)time(NULL));
	}
	return r;
}

struct list_env {
	union {
		store_member_cb member;
		store_invite_cb invite;
		store_alias_cb alias;
		store_denied_cb denied;
	} cb;
	void *ctx;
};

static int each_member(void *env, sqlite3_stmt *s)
{
	struct list_env *e = env;
	struct store_member m;

	row_member(s, &m);
	return e->cb.member(e->ctx, &m);
}

int store_member_list(struct store *st, store_member_cb cb, void *ctx)
{
	struct list_env e = { .cb.member = cb, .ctx = ctx };

	return rows(st, bind(st, S_MEMBER_LIST, ""), each_member, &e);
}

/* ---- invites ----------------------------------------------------------- */

int store_invite_create(struct store *st, const uint8_t hash[STORE_HASH_LEN], int64_t created_by,
                        int64_t created, int64_t expires, int64_t *id_out)
{
	if (!hash || created_by < 0 || expires < 0)
		return -EINVAL;
	int r = tx_begin(st);
	if (r)
		return r;
	r = write1(st, S_INVITE_ADD, false, "hnii", hash, created_by, created, expires);
	if (r == -EEXIST && created_by && store_member_get_id(st, created_by, NULL) == -ENOENT)
		r = -ENOENT;
	if (r == 0 && id_out)
		*id_out = sqlite3_last_insert_rowid(st->db);
	r = tx_end(st, r);
	if (r == 0)
		st->stats.invites_open++;
	return r;
}

static int invite_find(struct store *st, enum stmt_id id, const uint8_t *hash, int64_t rowid,
                       struct store_invite *out)
{
	int r = hash ? get1(st, id, row_invite, out, "h", hash) : get1(st, id, row_invite, out, "i", rowid);

	/* The lookup was by equality in SQL; confirm in constant time. */
	if (r == 0 && hash && sodium_memcmp(out->hash, hash, STORE_HASH_LEN))
		r = -ENOENT;
	return r;
}

int store_invite_consume(struct store *st, const uint8_t hash[STORE_HASH_LEN],
                         const uint8_t key[STORE_KEY_LEN], int64_t now,
                         struct store_member *member_out)
{
	if (!hash || !key || key_zero(key))
		return -EINVAL;
	if (store_deny_check(st, key)) {
		st->stats.invite_failures++;
		return -EPERM;
	}
	int r = tx_begin(st);
	if (r)
		return r;
	struct store_invite inv;
	struct store_member m;
	bool created = false;
	r = invite_find(st, S_INVITE_FIND, hash, 0, &inv);
	if (r)
		goto out;
	if (inv.used_by) {
		r = -EALREADY;
		goto out;
	}
	if (inv.revoked) {
		r = -ECANCELED;
		goto out;
	}
	if (inv.expires && inv.expires <= now) {
		r = -ETIMEDOUT;
		goto out;
	}
	r = member_by_key(st, key, &m);
	if (r == -ENOENT) {
		r = member_insert(st, key, STORE_ROLE_MEMBER, now, inv.created_by, NULL);
		if (r == 0)
			r = member_by_key(st, key, &m);
		created = r == 0;
	}
	if (r)
		goto out;
	r = write1(st, S_INVITE_USE, true, "iii", inv.id, m.id, now);
	if (r == -ENOENT)
		r = -EALREADY;
out:
	r = tx_end(st, r);
	if (r == 0) {
		if (created) {
			idx_set_role(st, key, STORE_ROLE_MEMBER);
			st->stats.members++;
		}
		if (st->stats.invites_open)
			st->stats.invites_open--;
		st->stats.invites_claimed++;
		if (member_out)
			*member_out = m;
	} else {
		st->stats.invite_failures++;
	}
	return r;
}

int store_invite_find(struct store *st, const uint8_t hash[STORE_HASH_LEN], int64_t now,
                      struct store_invite *out)
{
	struct store_invite tmp;
	int r;

	if (!hash)
		return -EINVAL;
	if (!out)
		out = &tmp;
	r = invite_find(st, S_INVITE_FIND, hash, 0, out);
	if (r)
		return r;
	if (out->used_by)
		return -EALREADY;
	if (out->revoked)
		return -ECANCELED;
	if (out->expires && out->expires <= now)
		return -ETIMEDOUT;
	return 0;
}

int store_invite_get(struct store *st, int64_t id, struct store_invite *out)
{
	struct store_invite tmp;
	return invite_find(st, S_INVITE_GET, NULL, id, out ? out : &tmp);
}

int store_invite_revoke(struct store *st, int64_t id)
{
	int r = tx_begin(st);
	if (r)
		return r;
	struct store_invite inv;
	r = invite_find(st, S_INVITE_GET, NULL, id, &inv);
	if (r == 0 && (inv.used_by || inv.revoked))
		r = -EALREADY;
	if (r == 0)
		r = write1(st, S_INVITE_REVOKE, false, "i", id);
	r = tx_end(st, r);
	if (r == 0)
		st->stats.invites_open = (uint64_t)count_q(st, S_INVITE_COUNT_OPEN, (int64_t)time(NULL));
	return r;
}

static int each_invite(void *env, sqlite3_stmt *s)
{
	struct list_env *e = env;
	struct store_invite v;

	row_invite(s, &v);
	return e->cb.invite(e->ctx, &v);
}

int store_invite_list(struct store *st, bool all, int64_t now, store_invite_cb cb, void *ctx)
{
	struct list_env e = { .cb.invite = cb, .ctx = ctx };

	return rows(st, all ? bind(st, S_INVITE_LIST_ALL, "") : bind(st, S_INVITE_LIST_OPEN, "i", now),
	            each_invite, &e);
}

/* ---- aliases ----------------------------------------------------------- */

int store_alias_register(struct store *st, const char *name, const uint8_t owner[STORE_KEY_LEN],
                         const uint8_t sig[STORE_SIG_LEN], int64_t created)
{
	if (!name || !store_alias_valid(name, strlen(name)) || !owner || !sig)
		return -EINVAL;
	int r = tx_begin(st);
	if (r)
		return r;
	struct store_member m;
	r = member_by_key(st, owner, &m);
	if (r == 0)
		r = write1(st, S_ALIAS_ADD, false, "tigi", name, m.id, sig, created);
	r = tx_end(st, r);
	if (r == 0)
		st->stats.aliases++;
	return r;
}

int store_alias_get(struct store *st, const char *name, struct store_alias *out)
{
	if (!name || !store_alias_valid(name, strlen(name)))
		return -ENOENT;
	return get1(st, S_ALIAS_GET, row_alias, out, "t", name);
}

int store_alias_revoke(struct store *st, const char *name)
{
	if (!name || !store_alias_valid(name, strlen(name)))
		return -ENOENT;
	int r = tx_write1(st, S_ALIAS_DEL, true, "t", name);
	if (r == 0 && st->stats.aliases)
		st->stats.aliases--;
	return r;
}

static int each_alias(void *env, sqlite3_stmt *s)
{
	struct list_env *e = env;
	struct store_alias a;

	row_alias(s, &a);
	return e->cb.alias(e->ctx, &a);
}

int store_alias_list(struct store *st, const uint8_t *owner, store_alias_cb cb, void *ctx)
{
	struct list_env e = { .cb.alias = cb, .ctx = ctx };

	return rows(st, owner ? bind(st, S_ALIAS_LIST_OWNER, "k", owner) : bind(st, S_ALIAS_LIST_ALL, ""),
	            each_alias, &e);
}

/* ---- denied keys ------------------------------------------------------- */

int store_deny_add(struct store *st, const uint8_t key[STORE_KEY_LEN], const char *comment,
                   int64_t created)
{
	if (!key || key_zero(key))
		return -EINVAL;
	if (comment && strlen(comment) > STORE_COMMENT_MAX)
		return -E2BIG;
	int r = tx_write1(st, S_DENY_ADD, false, "kti", key, comment ? comment : "", created);
	if (r == 0) {
		idx_set_denied(st, key, true);
		st->stats.denied++;
	}
	return r;
}

int store_deny_remove(struct store *st, const uint8_t key[STORE_KEY_LEN])
{
	if (!key)
		return -EINVAL;
	int r = tx_write1(st, S_DENY_DEL, true, "k", key);
	if (r == 0) {
		idx_set_denied(st, key, false);
		if (st->stats.denied)
			st->stats.denied--;
	}
	return r;
}

static int each_denied(void *env, sqlite3_stmt *s)
{
	struct list_env *e = env;
	struct store_denied d;
	const unsigned char *c = sqlite3_column_text(s, 2);

	memset(&d, 0, sizeof d);
	d.id = sqlite3_column_int64(s, 0);
	if (sqlite3_column_bytes(s, 1) == STORE_KEY_LEN)
		memcpy(d.key, sqlite3_column_blob(s, 1), STORE_KEY_LEN);
	snprintf(d.comment, sizeof d.comment, "%s", c ? (const char *)c : "");
	d.created = sqlite3_column_int64(s, 3);
	return e->cb.denied(e->ctx, &d);
}

int store_deny_list(struct store *st, store_denied_cb cb, void *ctx)
{
	struct list_env e = { .cb.denied = cb, .ctx = ctx };

	return rows(st, bind(st, S_DENY_LIST, ""), each_denied, &e);
}

/* ---- tokens ------------------------------------------------------------ */

static bool kind_ok(enum store_token_kind k)
{
	return k == STORE_TOKEN_SESSION || k == STORE_TOKEN_SIGNIN;
}

int store_token_create(struct store *st, enum store_token_kind kind, const uint8_t hash[STORE_HASH_LEN],
                       int64_t member_id, int64_t created, int64_t expires)
{
	if (!kind_ok(kind) || !hash || member_id <= 0 || expires < 0)
		return -EINVAL;
	int r = tx_begin(st);
	if (r)
		return r;
	r = store_member_get_id(st, member_id, NULL);
	if (r == 0)
		r = write1(st, S_TOKEN_ADD, false, "dhiii", (int)kind, hash, member_id, created, expires);
	return tx_end(st, r);
}

int store_token_lookup(struct store *st, enum store_token_kind kind, const uint8_t hash[STORE_HASH_LEN],
                       int64_t now, int64_t *member_id_out)
{
	if (!kind_ok(kind) || !hash)
		return -EINVAL;
	sqlite3_stmt *s = bind(st, S_TOKEN_GET, "dh", (int)kind, hash);
	if (!s)
		return -EIO;
	int rc = sqlite3_step(s), r = -ENOENT;
	if (rc == SQLITE_ROW) {
		int64_t exp = sqlite3_column_int64(s, 2);
		if (sqlite3_column_bytes(s, 0) == STORE_HASH_LEN &&
		    sodium_memcmp(sqlite3_column_blob(s, 0), hash, STORE_HASH_LEN) == 0 &&
		    (exp == 0 || exp > now)) {
			if (member_id_out)
				*member_id_out = sqlite3_column_int64(s, 1);
			r = 0;
		}
	} else if (rc != SQLITE_DONE) {
		r = sqerr(st, rc);
	}
	sqlite3_reset(s);
	return r;
}

int store_token_delete(struct store *st, enum store_token_kind kind, const uint8_t hash[STORE_HASH_LEN])
{
	if (!kind_ok(kind) || !hash)
		return -EINVAL;
	return tx_write1(st, S_TOKEN_DEL, true, "dh", (int)kind, hash);
}

int store_token_delete_member(struct store *st, int64_t member_id)
{
	return tx_write1(st, S_TOKEN_DEL_MEMBER, false, "i", member_id);
}

int store_token_purge(struct store *st, int64_t now, size_t *n)
{
	int r = tx_begin(st);
	if (r)
		return r;
	r = write1(st, S_TOKEN_PURGE, false, "i", now);
	size_t k = r == 0 ? (size_t)sqlite3_changes(st->db) : 0;
	r = tx_end(st, r);
	if (n)
		*n = r == 0 ? k : 0;
	return r;
}

/* ---- settings ---------------------------------------------------------- */

enum store_mode store_mode_get(const struct store *st) { return st->mode; }

static int setting_put(struct store *st, const char *name, const char *value)
{
	if (value && *value)
		return tx_write1(st, S_SET_PUT, false, "tt", name, value);
	return tx_write1(st, S_SET_DEL, false, "t", name);
}

int store_mode_set(struct store *st, enum store_mode m)
{
	if (m < STORE_MODE_OPEN || m > STORE_MODE_RESTRICTED)
		return -EINVAL;
	char v[4];
	snprintf(v, sizeof v, "%d", (int)m);
	int r = setting_put(st, "mode", v);
	if (r == 0)
		st->mode = m;
	return r;
}

/* "mode" is read through here too (internally). */
int store_text_get(struct store *st, const char *name, char **out)
{
	*out = NULL;
	if (!name || (!store_text_name_valid(name) && strcmp(name, "mode")))
		return -EINVAL;
	sqlite3_stmt *s = bind(st, S_SET_GET, "t", name);
	if (!s)
		return -EIO;
	int rc = sqlite3_step(s), r = 0;
	const char *v = "";
	if (rc == SQLITE_ROW && sqlite3_column_text(s, 0))
		v = (const char *)sqlite3_column_text(s, 0);
	else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = sqerr(st, rc);
	if (r == 0 && !(*out = strdup(v)))
		r = -ENOMEM;
	sqlite3_reset(s);
	return r;
}

int store_text_set(struct store *st, const char *name, const char *value)
{
	if (!store_text_name_valid(name))
		return -EINVAL;
	if (value && strlen(value) > STORE_TEXT_MAX)
		return -E2BIG;
	return setting_put(st, name, value);
}

/* ---- go-ssb-room import ------------------------------------------------- */

/* What is read from go-ssb-room's roomdb (its schema, migrations 01-04). */
static const char gsr_tables[] =
	"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
	" ('gorp_migrations', 'members', 'invites', 'aliases', 'denied_keys', 'config')";
static const char gsr_members[] = "SELECT id, role, pub_key FROM members ORDER BY id";
static const char gsr_aliases[] =
	"SELECT a.name, a.signature, a.member_id, m.pub_key FROM aliases a"
	" JOIN members m ON m.id = a.member_id ORDER BY a.id";
static const char gsr_denied[] =
	"SELECT pub_key, comment, coalesce(CAST(strftime('%s', created_at) AS INTEGER), 0)"
	" FROM denied_keys ORDER BY id";
static const char gsr_invites[] =
	"SELECT hashed_token, created_by, coalesce(CAST(strftime('%s', created_at) AS INTEGER), 0)"
	" FROM invites WHERE active ORDER BY id";
static const char gsr_config[] = "SELECT privacyMode FROM config WHERE id = 0";
static const char gsr_notices[] =
	"SELECT p.name, n.content FROM pins p JOIN pin_notices pn ON pn.pin_id = p.id"
	" JOIN notices n ON n.id = pn.notice_id WHERE n.language = 'en-GB' ORDER BY n.id";

struct gsr_import {
	struct store *st;
	sqlite3 *src;
	char *err;
	size_t errlen;
	store_alias_verify_fn verify;
	void *ctx;
	int64_t now;
	struct store_import_stats *n;
};

__attribute__((format(printf, 3, 4)))
static int imp_fail(struct gsr_import *g, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g->err, g->errlen, fmt, ap);
	va_end(ap);
	return rc;
}

static int imp_prepare(struct gsr_import *g, const char *sql, sqlite3_stmt **out)
{
	if (sqlite3_prepare_v2(g->src, sql, -1, out, NULL) != SQLITE_OK)
		return imp_fail(g, -EILSEQ, "not a go-ssb-room roomdb: %s", sqlite3_errmsg(g->src));
	return 0;
}

static int64_t imp_count(struct gsr_import *g, const char *sql)
{
	sqlite3_stmt *q = NULL;
	int64_t n = 0;

	if (sqlite3_prepare_v2(g->src, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

static bool imp_key(sqlite3_stmt *q, int col, uint8_t key[STORE_KEY_LEN])
{
	const char *t = (const char *)sqlite3_column_text(q, col);

	return t != NULL && keys_id_parse(t, strlen(t), key) == 0 && !key_zero(key);
}

/* r from a write1 into our store: its message when it failed. */
static int imp_wrote(struct gsr_import *g, int r)
{
	if (r != 0)
		return imp_fail(g, r, "writing: %s", g->st->errmsg);
	return 0;
}

/* Every row of sql in go-ssb-room's database through each (which stops
 * the import by returning non-zero); what names the table in errors. */
static int imp_rows(struct gsr_import *g, const char *sql, const char *what,
                    int (*each)(struct gsr_import *g, sqlite3_stmt *q))
{
	sqlite3_stmt *q = NULL;
	int rc = SQLITE_DONE, r = imp_prepare(g, sql, &q);

	while (r == 0 && (rc = sqlite3_step(q)) == SQLITE_ROW)
		r = each(g, q);
	if (r == 0 && rc != SQLITE_DONE)
		r = imp_fail(g, -EIO, "reading %s: %s", what, sqlite3_errmsg(g->src));
	sqlite3_finalize(q);
	return r;
}

static int imp_member(struct gsr_import *g, sqlite3_stmt *q)
{
	uint8_t key[STORE_KEY_LEN];
	int64_t id = sqlite3_column_int64(q, 0);
	int role = sqlite3_column_int(q, 1);
	int r;

	if (!imp_key(q, 2, key))
		return imp_fail(g, -EILSEQ, "members row %lld: '%s' is not a feed id", (long long)id,
		                (const char *)sqlite3_column_text(q, 2));
	if (!role_ok((enum store_role)role))
		return imp_fail(g, -EILSEQ, "members row %lld: role %d is not 1, 2 or 3", (long long)id, role);
	r = imp_wrote(g, write1(g->st, S_IMP_MEMBER, false, "ikdi", id, key, role, g->now));
	g->n->members += r == 0;
	return r;
}

static int imp_alias(struct gsr_import *g, sqlite3_stmt *q)
{
	uint8_t key[STORE_KEY_LEN];
	const char *name = (const char *)sqlite3_column_text(q, 0);
	const void *sig = sqlite3_column_blob(q, 1);
	int r;

	/* A name or signature go-ssb-room let in but that does not hold (the
	 * empty name, a bad signature) stays behind: clients check the
	 * signature, so such an alias could not work anyway. */
	if (name == NULL || !store_alias_valid(name, strlen(name)) ||
	    sqlite3_column_bytes(q, 1) != STORE_SIG_LEN || !imp_key(q, 3, key) ||
	    !g->verify(g->ctx, name, key, sig)) {
		g->n->aliases_bad++;
		return 0;
	}
	r = imp_wrote(g, write1(g->st, S_ALIAS_ADD, false, "tigi", name, sqlite3_column_int64(q, 2),
	                        (const uint8_t *)sig, g->now));
	g->n->aliases += r == 0;
	return r;
}

static int imp_denied(struct gsr_import *g, sqlite3_stmt *q)
{
	uint8_t key[STORE_KEY_LEN];
	char comment[STORE_COMMENT_MAX + 1];
	const char *c = (const char *)sqlite3_column_text(q, 1);
	int r;

	if (!imp_key(q, 0, key))
		return imp_fail(g, -EILSEQ, "denied_keys: '%s' is not a feed id",
		                (const char *)sqlite3_column_text(q, 0));
	snprintf(comment, sizeof comment, "%s", c != NULL ? c : "");
	r = imp_wrote(g, write1(g->st, S_DENY_ADD, false, "kti", key, comment, sqlite3_column_int64(q, 2)));
	g->n->denied += r == 0;
	return r;
}

static int imp_invite(struct gsr_import *g, sqlite3_stmt *q)
{
	uint8_t hash[STORE_HASH_LEN];
	const char *hex = (const char *)sqlite3_column_text(q, 0);
	const char *end;
	size_t got;
	int r;

	/* sha256 hex of the 50 raw token bytes: the same hash fairway keeps */
	if (hex == NULL || strlen(hex) != 2 * STORE_HASH_LEN ||
	    sodium_hex2bin(hash, sizeof hash, hex, strlen(hex), NULL, &got, &end) != 0 ||
	    got != STORE_HASH_LEN)
		return imp_fail(g, -EILSEQ, "invites: '%s' is not a sha256 in hex", hex ? hex : "");
	r = imp_wrote(g, write1(g->st, S_INVITE_ADD, false, "hnii", hash, sqlite3_column_int64(q, 1),
	                        sqlite3_column_int64(q, 2), (int64_t)0));
	g->n->invites += r == 0;
	return r;
}

static int imp_setting(struct gsr_import *g, const char *name, const char *value)
{
	return imp_wrote(g, write1(g->st, S_SET_PUT, false, "tt", name, value));
}

static int imp_settings(struct gsr_import *g)
{
	static const struct { const char *pin, *name; } pins[] = {
		{ "NoticeDescription", "notice.description" }, { "NoticeNews", "notice.news" },
		{ "NoticeCodeOfConduct", "notice.code-of-conduct" },
		{ "NoticePrivacyPolicy", "notice.privacy-policy" },
	};
	sqlite3_stmt *q;
	char v[4];
	int rc, mode, r = imp_prepare(g, gsr_config, &q);

	if (r != 0)
		return r;
	mode = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : STORE_MODE_COMMUNITY;
	sqlite3_finalize(q);
	if (mode < STORE_MODE_OPEN || mode > STORE_MODE_RESTRICTED)
		return imp_fail(g, -EILSEQ, "config: privacyMode %d is not 1, 2 or 3", mode);
	snprintf(v, sizeof v, "%d", mode);
	if ((r = imp_setting(g, "mode", v)) != 0)
		return r;
	g->n->mode = (enum store_mode)mode;
	/* notices are optional (a roomdb before migration 02 has none) */
	if (sqlite3_prepare_v2(g->src, gsr_notices, -1, &q, NULL) != SQLITE_OK)
		return 0;
	while (r == 0 && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *pin = (const char *)sqlite3_column_text(q, 0);
		const char *content = (const char *)sqlite3_column_text(q, 1);

		for (size_t i = 0; pin && content && i < sizeof pins / sizeof pins[0]; i++)
			if (strcmp(pin, pins[i].pin) == 0 && strlen(content) <= STORE_TEXT_MAX) {
				r = imp_setting(g, pins[i].name, content);
				g->n->notices += r == 0;
			}
	}
	sqlite3_finalize(q);
	return r;
}

int store_import_gsr(struct store *st, const char *gsr_path, store_alias_verify_fn verify,
                     void *ctx, int64_t now, struct store_import_stats *out,
                     char *err, size_t errlen)
{
	struct store_import_stats n0;
	struct gsr_import g = { st, NULL, err, errlen, verify, ctx, now, out ? out : &n0 };
	int r, rc;

	memset(g.n, 0, sizeof *g.n);
	if (!st || !gsr_path || !verify)
		return -EINVAL;
	if (access(gsr_path, R_OK) != 0)
		return imp_fail(&g, -errno, "%s: %s", gsr_path, strerror(errno));
	rc = sqlite3_open_v2(gsr_path, &g.src, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		r = imp_fail(&g, -EACCES, "%s: %s", gsr_path, g.src ? sqlite3_errmsg(g.src) : "cannot open");
		goto out;
	}
	sqlite3_busy_timeout(g.src, 2000);
	if (imp_count(&g, gsr_tables) != 6) {
		r = imp_fail(&g, -EILSEQ, "%s: not a go-ssb-room roomdb (no gorp_migrations, members, "
		             "invites, aliases, denied_keys and config tables)", gsr_path);
		goto out;
	}
	if (count_q(st, S_IMP_EMPTY, 0) != 0) {
		r = imp_fail(&g, -ENOTEMPTY, "the room database has members, invites, aliases or "
		             "denied keys already: import into a new one");
		goto out;
	}
	g.n->sessions_skipped = (size_t)imp_count(&g, "SELECT count(*) FROM SIWSSB_sessions");
	g.n->passwords_skipped = (size_t)imp_count(&g, "SELECT count(*) FROM fallback_passwords");
	r = tx_begin(st);
	if (r != 0) {
		imp_fail(&g, r, "%s", st->errmsg);
		goto out;
	}
	r = imp_rows(&g, gsr_members, "members", imp_member);
	if (r == 0)
		r = imp_rows(&g, gsr_aliases, "aliases", imp_alias);
	if (r == 0)
		r = imp_rows(&g, gsr_denied, "denied_keys", imp_denied);
	if (r == 0)
		r = imp_rows(&g, gsr_invites, "invites", imp_invite);
	if (r == 0)
		r = imp_settings(&g);
	rc = tx_end(st, r);
	if (r == 0 && rc != 0)
		r = imp_fail(&g, rc, "commit: %s", st->errmsg);
	if (r == 0) {
		/* the index and counters from what is now committed */
		r = load_index(st);
		if (r == 0)
			r = load_mode(st);
		st->stats.invites_open = (uint64_t)count_q(st, S_INVITE_COUNT_OPEN, now);
	} else {
		memset(g.n, 0, sizeof *g.n);
	}
out:
	sqlite3_close(g.src);
	return r;
}
