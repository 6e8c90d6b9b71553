/* store: the room server's persistent state in one SQLite file.
 *
 * Members, invites, aliases, denied keys, web sessions and sign-in tokens,
 * settings and notices. Nothing outside store.c writes SQL.
 *
 * Conventions (every function below):
 *  - returns 0 on success or a negative errno; the SQLite message of the last
 *    failure is kept and returned by store_errmsg() (owned by the store, valid
 *    until the next call).
 *  - every write is one transaction, committed before the function returns:
 *    a crash loses nothing that returned 0 and leaves nothing half-done.
 *  - keys are raw 32-byte ed25519 public keys; token hashes are raw
 *    sha256 (32 bytes) of the raw token: the store never sees a token.
 *  - time ("now", "created", "expires") is unix seconds passed in by the
 *    caller; expires == 0 means never.
 *  - struct fields that are strings are NUL-terminated arrays inside the
 *    struct (no allocation) unless said otherwise; callback arguments are
 *    valid only during the callback.
 *  - list callbacks return 0 to go on, non-zero to stop (the list function
 *    then returns that value).
 *  - errors common to all: -EINVAL bad argument, -EIO SQLite failure
 *    (see store_errmsg), -ENOMEM.
 *
 * Not thread-safe: one store per thread (the portal's loop thread). */
#ifndef FAIRWAY_STORE_H
#define FAIRWAY_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define STORE_KEY_LEN   32
#define STORE_SIG_LEN   64
#define STORE_HASH_LEN  32
#define STORE_ALIAS_MAX 63
#define STORE_COMMENT_MAX 255
#define STORE_TEXT_MAX  (64 * 1024)   /* names, descriptions, notices */

struct store;

/* Roles, numbered like go-ssb-room's roomdb.Role. */
enum store_role {
	STORE_ROLE_NONE = 0,      /* not a member */
	STORE_ROLE_MEMBER = 1,
	STORE_ROLE_MODERATOR = 2,
	STORE_ROLE_ADMIN = 3,
};

/* Privacy modes, numbered like go-ssb-room's roomdb.PrivacyMode. */
enum store_mode {
	STORE_MODE_OPEN = 1,
	STORE_MODE_COMMUNITY = 2,   /* the default of a new database */
	STORE_MODE_RESTRICTED = 3,
};

/* "member"/"moderator"/"admin" (also accepts "mod", GSR's "RoleAdmin" …);
 * returns the role or STORE_ROLE_NONE. */
enum store_role store_role_parse(const char *s);
const char *store_role_name(enum store_role r);          /* "member" … */
enum store_mode store_mode_parse(const char *s);          /* 0 if unknown */
const char *store_mode_name(enum store_mode m);           /* "open" … */

/* Alias names are [a-z0-9]{1,63} (rooms2-server.md §1.2, §6.3: the empty
 * name is refused). len excludes any NUL. Pure; shared by muxrpc and web. */
bool store_alias_valid(const char *name, size_t len);

/* ---- open / close ------------------------------------------------------ */

/* Opens (creating mode 0600 if absent) and migrates the database at path.
 * On failure *out is NULL and err holds a message naming the file and why:
 *   -ENOENT  directory does not exist
 *   -EACCES  not readable/writable
 *   -EBUSY   locked by another process
 *   -EILSEQ  not a database, corrupt, or a schema newer than this build
 * All of these are configuration errors (exit 2 at start-up).
 * The membership index (store_check) is loaded here. */
int store_open(const char *path, struct store **out, char *err, size_t errlen);
void store_close(struct store *st);                        /* NULL ok */
/* Claims the file for this process alone (flock, held until store_close).
 * The portal keeps members and denied keys in memory: a second portal, or
 * the CLI writing past a running one, would leave its index wrong (a
 * removed member still let in). The portal and the CLI's --db path take
 * it; a reader that only looks (the tests' fixture) need not. -EBUSY with
 * a reason naming path in err when another process holds it. */
int store_lock(struct store *st, const char *path, char *err, size_t errlen);
const char *store_errmsg(const struct store *st);
int store_schema_version(const struct store *st);          /* PRAGMA user_version */

/* ---- members ----------------------------------------------------------- */

struct store_member {
	int64_t id;                 /* row id, > 0 */
	uint8_t key[STORE_KEY_LEN];
	enum store_role role;
	int64_t added;              /* unix time */
	int64_t added_by;           /* member id, 0 = operator/invite/import */
};

/* Adds a member. -EEXIST if the key is already a member (nothing changed);
 * -EPERM if the key is denied. *id_out (may be NULL) gets the row id. */
int store_member_add(struct store *st, const uint8_t key[STORE_KEY_LEN],
                     enum store_role role, int64_t added, int64_t added_by,
                     int64_t *id_out);
/* -ENOENT if not a member. */
int store_member_get(struct store *st, const uint8_t key[STORE_KEY_LEN],
                     struct store_member *out);
int store_member_get_id(struct store *st, int64_t id, struct store_member *out);
int store_member_set_role(struct store *st, const uint8_t key[STORE_KEY_LEN],
                          enum store_role role);            /* -ENOENT */
/* Removes the member and (cascade) its aliases, the invites it created and
 * not yet used, its sessions and sign-in tokens. -ENOENT if not a member. */
int store_member_remove(struct store *st, const uint8_t key[STORE_KEY_LEN]);
typedef int (*store_member_cb)(void *ctx, const struct store_member *m);
/* In id order (go-ssb-room's table order). */
int store_member_list(struct store *st, store_member_cb cb, void *ctx);
size_t store_member_count(const struct store *st);

/* O(1), no SQL: the in-memory index kept in step by the store's own writes.
 * Returns the role (STORE_ROLE_NONE if not a member); *denied (may be NULL)
 * is set if the key is on the denied list. For the handshake path. */
enum store_role store_check(const struct store *st, const uint8_t key[STORE_KEY_LEN],
                            bool *denied);

/* ---- invites ----------------------------------------------------------- */

struct store_invite {
	int64_t id;
	uint8_t hash[STORE_HASH_LEN];   /* sha256 of the raw token */
	int64_t created_by;             /* member id, 0 = operator */
	int64_t created;
	int64_t expires;                /* 0 = never */
	int64_t used_by;                /* member id, 0 = unused */
	int64_t used_at;
	bool revoked;
};

/* -EEXIST if the hash exists already. */
int store_invite_create(struct store *st, const uint8_t hash[STORE_HASH_LEN],
                        int64_t created_by, int64_t created, int64_t expires,
                        int64_t *id_out);
/* One transaction: checks the key is not denied and the invite is usable,
 * makes key a member (role member; an existing member is kept as it is),
 * marks the invite used by that member at now. Errors, in this order:
 *   -EPERM      key is denied          "rooms: this key has been banned"
 *   -ENOENT     unknown hash           "rooms/web: item not found: invite"
 *   -EALREADY   used already           (same text)
 *   -ECANCELED  revoked                (same text)
 *   -ETIMEDOUT  expired                "rooms/web: invite expired"
 * *member_out (may be NULL) gets the member's row. */
int store_invite_consume(struct store *st, const uint8_t hash[STORE_HASH_LEN],
                         const uint8_t key[STORE_KEY_LEN], int64_t now,
                         struct store_member *member_out);
/* The error text for a store_invite_consume return (the /invite/consume
 * "error" string); "" for 0. Static string. */
const char *store_invite_errtext(int rc);
int store_invite_get(struct store *st, int64_t id, struct store_invite *out);
/* Looks an invite up by hash and says whether it is usable at now, with
 * store_invite_consume's codes (-ENOENT, -EALREADY, -ECANCELED,
 * -ETIMEDOUT); *out (may be NULL) is filled whenever the hash is known.
 * Reads only: the /join page. */
int store_invite_find(struct store *st, const uint8_t hash[STORE_HASH_LEN], int64_t now,
                      struct store_invite *out);
/* Revokes an unused invite. -ENOENT unknown, -EALREADY used or revoked. */
int store_invite_revoke(struct store *st, int64_t id);
typedef int (*store_invite_cb)(void *ctx, const struct store_invite *inv);
/* all = false: only usable ones (unused, unrevoked, unexpired at now). */
int store_invite_list(struct store *st, bool all, int64_t now,
                      store_invite_cb cb, void *ctx);

/* ---- aliases ----------------------------------------------------------- */

struct store_alias {
	int64_t id;
	char name[STORE_ALIAS_MAX + 1];
	int64_t member_id;
	uint8_t owner[STORE_KEY_LEN];
	uint8_t sig[STORE_SIG_LEN];     /* over "=room-alias-registration:…" */
	int64_t created;
};

/* The caller verifies the signature (store does no crypto).
 * -EINVAL invalid name, -ENOENT owner not a member, -EEXIST name taken. */
int store_alias_register(struct store *st, const char *name,
                         const uint8_t owner[STORE_KEY_LEN],
                         const uint8_t sig[STORE_SIG_LEN], int64_t created);
int store_alias_get(struct store *st, const char *name, struct store_alias *out);
int store_alias_revoke(struct store *st, const char *name);   /* -ENOENT */
typedef int (*store_alias_cb)(void *ctx, const struct store_alias *a);
/* owner NULL: all aliases, by name. */
int store_alias_list(struct store *st, const uint8_t *owner,
                     store_alias_cb cb, void *ctx);

/* ---- denied keys ------------------------------------------------------- */

struct store_denied {
	int64_t id;
	uint8_t key[STORE_KEY_LEN];
	char comment[STORE_COMMENT_MAX + 1];
	int64_t created;
};

/* Denying a member does not remove it (the caller decides); the index
 * reports it denied at once. -EEXIST already denied. comment may be NULL;
 * longer than STORE_COMMENT_MAX: -E2BIG. */
int store_deny_add(struct store *st, const uint8_t key[STORE_KEY_LEN],
                   const char *comment, int64_t created);
int store_deny_remove(struct store *st, const uint8_t key[STORE_KEY_LEN]); /* -ENOENT */
bool store_deny_check(const struct store *st, const uint8_t key[STORE_KEY_LEN]);
typedef int (*store_denied_cb)(void *ctx, const struct store_denied *d);
int store_deny_list(struct store *st, store_denied_cb cb, void *ctx);

/* ---- web sessions and sign-in tokens ----------------------------------- */

enum store_token_kind {
	STORE_TOKEN_SESSION = 1,   /* web session cookie */
	STORE_TOKEN_SIGNIN = 2,    /* sign-in-with-SSB finalize token */
};

/* -EEXIST same hash exists; -ENOENT member unknown. */
int store_token_create(struct store *st, enum store_token_kind kind,
                       const uint8_t hash[STORE_HASH_LEN], int64_t member_id,
                       int64_t created, int64_t expires);
/* Looks the hash up (constant-time comparison of the stored hash);
 * -ENOENT unknown or expired at now. */
int store_token_lookup(struct store *st, enum store_token_kind kind,
                       const uint8_t hash[STORE_HASH_LEN], int64_t now,
                       int64_t *member_id_out);
int store_token_delete(struct store *st, enum store_token_kind kind,
                       const uint8_t hash[STORE_HASH_LEN]);   /* -ENOENT */
/* Every token of every kind of that member (invalidateAllSolutions,
 * logout everywhere). 0 even if none. */
int store_token_delete_member(struct store *st, int64_t member_id);
/* Deletes tokens expired at now; *n (may be NULL) gets how many. */
int store_token_purge(struct store *st, int64_t now, size_t *n);

/* ---- settings and notices ---------------------------------------------- */

enum store_mode store_mode_get(const struct store *st);     /* cached */
int store_mode_set(struct store *st, enum store_mode m);

/* Text settings and notices, by name:
 *   "name", "description" (room settings),
 *   "notice.code-of-conduct", "notice.privacy-policy", "notice.news",
 *   "notice.description".
 * Any other name: -EINVAL. get: *out is malloc'd (caller frees), "" if unset.
 * set: longer than STORE_TEXT_MAX: -E2BIG; NULL or "" clears it. */
int store_text_get(struct store *st, const char *name, char **out);
int store_text_set(struct store *st, const char *name, const char *value);
bool store_text_name_valid(const char *name);

/* ---- counters for metrics ---------------------------------------------- */

struct store_stats {
	uint64_t members;
	uint64_t denied;
	uint64_t aliases;
	uint64_t invites_open;       /* usable now (at the last write/open) */
	uint64_t invites_claimed;    /* consumed since open */
	uint64_t invite_failures;    /* consume errors since open */
	uint64_t writes;             /* committed write transactions since open */
};
void store_stats_get(const struct store *st, struct store_stats *out);

/* ---- moving from go-ssb-room (fairway room import) -------------------- */

struct store_import_stats {
	size_t members, aliases, denied, invites, notices;
	size_t aliases_bad;          /* skipped: bad name or signature */
	size_t sessions_skipped;     /* SIWSSB sessions: members sign in again */
	size_t passwords_skipped;    /* fallback passwords: fairway has none */
	enum store_mode mode;
};
/* The caller checks an alias's signature (the store does no crypto):
 * true if sig is owner's over the alias registration string. */
typedef bool (*store_alias_verify_fn)(void *ctx, const char *name,
                                      const uint8_t owner[STORE_KEY_LEN],
                                      const uint8_t sig[STORE_SIG_LEN]);
/* Copies a go-ssb-room roomdb (rooms2-server.md §3.3, opened read-only at
 * gsr_path) into st, which must be empty (no members, invites, aliases or
 * denied keys): members with their ids and roles, aliases whose name is
 * [a-z0-9]{1,63} and whose signature verify() accepts, denied keys (comment
 * cut to STORE_COMMENT_MAX), active invites (their sha256 carried over;
 * they never expire, as there), the privacy mode and the en-GB notices.
 * One transaction: on an error nothing is written. now: members' "added".
 * Errors (message in err): -EILSEQ not a go-ssb-room roomdb, or a row it
 * cannot take (bad key, role, hash); -ENOTEMPTY st has data; -EACCES,
 * -ENOENT the file; -EIO. */
int store_import_gsr(struct store *st, const char *gsr_path, store_alias_verify_fn verify,
                     void *ctx, int64_t now, struct store_import_stats *out,
                     char *err, size_t errlen);

#endif
