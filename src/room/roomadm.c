/* roomadm — see roomadm.h. */
#include "roomadm.h"
#include "web.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keys.h"
#include "store.h"

static json_t *fail(bool usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static json_t *fail(bool usage, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:b,s:s,s:b}", "ok", 0, "error", msg, "usage", usage);
}

static json_t *ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

static const char *str(const json_t *req, const char *k)
{
	return json_string_value(json_object_get(req, k));
}

/* The "id" field as a key; NULL reply on success. */
static json_t *want_id(const json_t *req, uint8_t pk[32])
{
	const char *id = str(req, "id");

	if (id == NULL)
		return fail(true, "an identity is needed (@…=.ed25519)");
	if (keys_id_parse(id, strlen(id), pk) != 0)
		return fail(true, "'%s' is not a feed id (@<base64 of 32 bytes>=.ed25519)", id);
	return NULL;
}

static json_t *want_role(const json_t *req, enum store_role dflt, enum store_role *out)
{
	const char *r = str(req, "role");

	*out = dflt;
	if (r == NULL)
		return dflt != STORE_ROLE_NONE ? NULL : fail(true, "a role is needed: member, moderator or admin");
	*out = store_role_parse(r);
	if (*out == STORE_ROLE_NONE)
		return fail(true, "role '%s' is not member, moderator or admin", r);
	return NULL;
}

static json_t *store_fail(struct store *st, int rc, const char *what)
{
	return fail(false, "%s: %s", what, rc == -EIO ? store_errmsg(st) : strerror(-rc));
}

static json_t *member_json(const struct store_member *m)
{
	char id[KEYS_ID_LEN + 1];

	keys_id_format(id, m->key);
	return json_pack("{s:I,s:s,s:s,s:I,s:I}", "n", (json_int_t)m->id, "id", id,
	                 "role", store_role_name(m->role), "added", (json_int_t)m->added,
	                 "added_by", (json_int_t)m->added_by);
}

static int member_cb(void *ctx, const struct store_member *m)
{
	return json_array_append_new(ctx, member_json(m)) == 0 ? 0 : -ENOMEM;
}

struct inv_ctx {
	json_t *arr;
	int64_t now;
};

static int invite_cb(void *ctx, const struct store_invite *v)
{
	struct inv_ctx *c = ctx;
	const char *state = v->revoked ? "revoked" : v->used_by != 0 ? "used"
	                  : v->expires != 0 && v->expires <= c->now ? "expired" : "open";

	return json_array_append_new(c->arr, json_pack("{s:I,s:s,s:I,s:I,s:I,s:I,s:I}",
		"n", (json_int_t)v->id, "state", state, "created", (json_int_t)v->created,
		"expires", (json_int_t)v->expires, "created_by", (json_int_t)v->created_by,
		"used_by", (json_int_t)v->used_by, "used_at", (json_int_t)v->used_at)) == 0 ? 0 : -ENOMEM;
}

static int alias_cb(void *ctx, const struct store_alias *a)
{
	char id[KEYS_ID_LEN + 1], sig[sodium_base64_ENCODED_LEN(STORE_SIG_LEN, sodium_base64_VARIANT_ORIGINAL)];

	keys_id_format(id, a->owner);
	/* the signature as go-ssb-room's alias JSON has it: standard base64,
	 * no ".sig.ed25519" (anyone may check it against the owner's key) */
	sodium_bin2base64(sig, sizeof(sig), a->sig, STORE_SIG_LEN, sodium_base64_VARIANT_ORIGINAL);
	return json_array_append_new(ctx, json_pack("{s:s,s:s,s:s,s:I}", "name", a->name, "owner", id,
		"signature", sig, "created", (json_int_t)a->created)) == 0 ? 0 : -ENOMEM;
}

static int denied_cb(void *ctx, const struct store_denied *d)
{
	char id[KEYS_ID_LEN + 1];

	keys_id_format(id, d->key);
	return json_array_append_new(ctx, json_pack("{s:I,s:s,s:s,s:I}", "n", (json_int_t)d->id,
		"id", id, "comment", d->comment, "created", (json_int_t)d->created)) == 0 ? 0 : -ENOMEM;
}

/* A list op: the array goes into the reply under name. */
static json_t *listed(struct store *st, int rc, json_t *arr, const char *name)
{
	json_t *r;

	if (rc != 0) {
		json_decref(arr);
		return store_fail(st, rc, name);
	}
	r = ok();
	json_object_set_new(r, name, arr);
	return r;
}

void roomadm_token_new(char tok[static 72], uint8_t hash[static 32])
{
	uint8_t raw[WEB_TOKEN_RAW];

	/* The web side's format (web.h), so /join and /invite/consume take it. */
	randombytes_buf(raw, sizeof(raw));
	web_token_make(raw, tok, hash);
	sodium_memzero(raw, sizeof(raw));
}

static json_t *invite_create(struct store *st, const json_t *req, const struct roomadm_ctx *ctx)
{
	json_t *ttl_v = json_object_get(req, "ttl");
	json_int_t ttl = ROOMADM_INVITE_TTL;
	char tok[72], *url;
	uint8_t hash[32];
	int64_t id, expires;
	json_t *r;
	int rc;

	if (ttl_v != NULL) {
		if (!json_is_integer(ttl_v) || json_integer_value(ttl_v) < 0)
			return fail(true, "ttl must be a whole number of seconds (0: never expires)");
		ttl = json_integer_value(ttl_v);
	}
	expires = ttl == 0 ? 0 : ctx->now + ttl;
	roomadm_token_new(tok, hash);
	rc = store_invite_create(st, hash, 0, ctx->now, expires, &id);
	sodium_memzero(hash, sizeof(hash));
	if (rc != 0)
		return store_fail(st, rc, "invite create");
	if (asprintf(&url, "%s/join?token=%s", ctx->public_url != NULL ? ctx->public_url : "",
	             tok) < 0)
		return NULL;
	r = json_pack("{s:b,s:s,s:s,s:I,s:I,s:b}", "ok", 1, "url", url, "token", tok,
	              "n", (json_int_t)id, "expires", (json_int_t)expires,
	              "public_url", ctx->public_url != NULL);
	sodium_memzero(tok, sizeof(tok));
	free(url);
	return r;
}

static json_t *room_set(struct store *st, const json_t *req, struct roomadm_effect *eff)
{
	const char *what = str(req, "what"), *value = str(req, "value");
	int rc;

	if (what == NULL || value == NULL)
		return fail(true, "room set wants privacy|name|description and a value");
	if (strcmp(what, "privacy") == 0) {
		enum store_mode m = store_mode_parse(value);

		if (m == 0)
			return fail(true, "privacy '%s' is not open, community or restricted", value);
		rc = store_mode_set(st, m);
	} else if (strcmp(what, "name") == 0 || strcmp(what, "description") == 0) {
		if (strlen(value) > STORE_TEXT_MAX)
			return fail(true, "%s: longer than %d bytes", what, STORE_TEXT_MAX);
		rc = store_text_set(st, what, value);
	} else {
		return fail(true, "room set: '%s' is not privacy, name or description", what);
	}
	if (rc != 0)
		return store_fail(st, rc, what);
	eff->room_changed = true;
	return ok();
}

static json_t *room_show(struct store *st)
{
	char *name = NULL, *desc = NULL;
	json_t *r;

	if (store_text_get(st, "name", &name) != 0 || store_text_get(st, "description", &desc) != 0) {
		free(name);
		return store_fail(st, -EIO, "room show");
	}
	r = json_pack("{s:b,s:s,s:s,s:s,s:I,s:i}", "ok", 1, "privacy", store_mode_name(store_mode_get(st)),
	              "name", name, "description", desc, "members", (json_int_t)store_member_count(st),
	              "schema", store_schema_version(st));
	free(name);
	free(desc);
	return r;
}

json_t *roomadm_exec(struct store *st, const json_t *req, const struct roomadm_ctx *ctx,
                     struct roomadm_effect *eff_out)
{
	struct roomadm_effect eff0, *eff = eff_out != NULL ? eff_out : &eff0;
	const char *op = str(req, "op");
	struct store_member m;
	enum store_role role;
	uint8_t pk[32];
	json_t *e;
	int rc;

	memset(eff, 0, sizeof(*eff));
	if (op == NULL)
		return fail(true, "no \"op\" in the request");
	/* ---- members ---- */
	if (strcmp(op, "member.add") == 0 || strcmp(op, "member.rm") == 0 ||
	    strcmp(op, "member.role") == 0 || strcmp(op, "deny.add") == 0 ||
	    strcmp(op, "deny.rm") == 0) {
		if ((e = want_id(req, pk)) != NULL)
			return e;
		memcpy(eff->key, pk, 32);
	}
	if (strcmp(op, "member.add") == 0) {
		int64_t id;

		if ((e = want_role(req, STORE_ROLE_MEMBER, &role)) != NULL)
			return e;
		rc = store_member_add(st, pk, role, ctx->now, 0, &id);
		if (rc == -EEXIST)
			return fail(false, "%s is a member already (change its role with: member role)", str(req, "id"));
		if (rc == -EPERM)
			return fail(false, "%s is denied (remove it from the denied keys first: deny rm)", str(req, "id"));
		if (rc != 0 || (rc = store_member_get(st, pk, &m)) != 0)
			return store_fail(st, rc, "member add");
		eff->key_changed = true;
		e = ok();
		json_object_set_new(e, "member", member_json(&m));
		return e;
	}
	if (strcmp(op, "member.rm") == 0 || strcmp(op, "member.role") == 0) {
		bool rm = op[7] == 'r' && op[8] == 'm';

		if (!rm && (e = want_role(req, STORE_ROLE_NONE, &role)) != NULL)
			return e;
		rc = rm ? store_member_remove(st, pk) : store_member_set_role(st, pk, role);
		if (rc == -ENOENT)
			return fail(false, "%s is not a member", str(req, "id"));
		if (rc != 0)
			return store_fail(st, rc, op);
		eff->key_changed = true;
		return ok();
	}
	if (strcmp(op, "member.list") == 0) {
		json_t *arr = json_array();

		return listed(st, store_member_list(st, member_cb, arr), arr, "members");
	}
	/* ---- invites ---- */
	if (strcmp(op, "invite.create") == 0)
		return invite_create(st, req, ctx);
	if (strcmp(op, "invite.list") == 0) {
		struct inv_ctx c = { json_array(), ctx->now };

		return listed(st, store_invite_list(st, json_is_true(json_object_get(req, "all")), ctx->now,
		                                    invite_cb, &c), c.arr, "invites");
	}
	if (strcmp(op, "invite.revoke") == 0) {
		json_t *n = json_object_get(req, "n");

		if (!json_is_integer(n) || json_integer_value(n) <= 0)
			return fail(true, "invite revoke wants the invite's number (from invite list)");
		rc = store_invite_revoke(st, json_integer_value(n));
		if (rc == -ENOENT)
			return fail(false, "no invite number %lld", (long long)json_integer_value(n));
		if (rc == -EALREADY)
			return fail(false, "invite %lld is used or revoked already", (long long)json_integer_value(n));
		return rc != 0 ? store_fail(st, rc, "invite revoke") : ok();
	}
	/* ---- aliases ---- */
	if (strcmp(op, "alias.list") == 0) {
		json_t *arr = json_array();

		return listed(st, store_alias_list(st, NULL, alias_cb, arr), arr, "aliases");
	}
	if (strcmp(op, "alias.rm") == 0) {
		const char *name = str(req, "name");

		if (name == NULL || !store_alias_valid(name, strlen(name)))
			return fail(true, "'%s' is not an alias name ([a-z0-9], 1 to 63 of them)", name ? name : "");
		rc = store_alias_revoke(st, name);
		if (rc == -ENOENT)
			return fail(false, "no alias '%s'", name);
		return rc != 0 ? store_fail(st, rc, "alias rm") : ok();
	}
	/* ---- denied keys ---- */
	if (strcmp(op, "deny.add") == 0) {
		const char *comment = str(req, "comment");

		if (comment != NULL && strlen(comment) > STORE_COMMENT_MAX)
			return fail(true, "--comment is longer than %d bytes", STORE_COMMENT_MAX);
		rc = store_deny_add(st, pk, comment, ctx->now);
		if (rc == -EEXIST)
			return fail(false, "%s is denied already", str(req, "id"));
		if (rc != 0)
			return store_fail(st, rc, "deny add");
		eff->key_changed = true;
		return ok();
	}
	if (strcmp(op, "deny.rm") == 0) {
		rc = store_deny_remove(st, pk);
		if (rc == -ENOENT)
			return fail(false, "%s is not denied", str(req, "id"));
		if (rc != 0)
			return store_fail(st, rc, "deny rm");
		eff->key_changed = true;
		return ok();
	}
	if (strcmp(op, "deny.list") == 0) {
		json_t *arr = json_array();

		return listed(st, store_deny_list(st, denied_cb, arr), arr, "denied");
	}
	/* ---- settings ---- */
	if (strcmp(op, "room.set") == 0)
		return room_set(st, req, eff);
	if (strcmp(op, "room.show") == 0)
		return room_show(st);
	return fail(true, "unknown room operation '%s'", op);
}
