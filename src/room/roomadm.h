/* roomadm — the operator's room commands (`fairway member|invite|alias|
 * deny|room`) as one JSON request → one JSON reply on a store. The same
 * code runs inside a portal (control socket, request {"cmd":"room",…})
 * and in the CLI on a database file when no portal runs (--db FILE).
 *
 * Requests ("op" and its fields; ids are "@…=.ed25519"):
 *   member.add   id, role?   ("member" default, "moderator", "admin")
 *   member.rm    id
 *   member.role  id, role
 *   member.list
 *   invite.create ttl?       seconds, default ROOMADM_INVITE_TTL, 0 = never
 *   invite.list   all?       false: only usable ones
 *   invite.revoke id         (the invite's number)
 *   alias.list
 *   alias.rm     name
 *   deny.add     id, comment?
 *   deny.rm      id
 *   deny.list
 *   room.set     what ("privacy" | "name" | "description"), value
 *   room.show
 * Replies: {"ok":true, …} or {"ok":false,"error":TEXT,"usage":BOOL}
 * (usage: the request was wrong — exit 2 —, else a run-time refusal —
 * exit 1). Every change is one store transaction: on an error nothing
 * was written.
 *
 * invite.create: the token is 50 random bytes, URL-safe base64 with
 * padding (68 characters, go-ssb-room's format); the store keeps only
 * sha256 of the 50 raw bytes. The reply's "url" is
 * PUBLIC_URL/join?token=TOKEN (PUBLIC_URL NULL: "/join?token=…", with
 * "public_url":false so the CLI can say so). */
#ifndef FAIRWAY_ROOMADM_H
#define FAIRWAY_ROOMADM_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct store;

#define ROOMADM_INVITE_TTL (30 * 24 * 3600)   /* rooms2-server.md §6.6 */
#define ROOMADM_TOKEN_RAW 50

/* What a request changed, for the portal to act on at once. */
struct roomadm_effect {
	bool key_changed;            /* membership or denial of key changed */
	uint8_t key[32];
	bool room_changed;           /* privacy mode, name or description */
};

struct roomadm_ctx {
	const char *public_url;      /* base of links (borrowed), NULL: none */
	int64_t now;                 /* unix seconds */
};

/* Runs req on st. Returns a new reference (never NULL but on ENOMEM);
 * *eff (may be NULL) says what changed. */
json_t *roomadm_exec(struct store *st, const json_t *req, const struct roomadm_ctx *ctx,
                     struct roomadm_effect *eff);

/* Makes a fresh invite token: tok gets the 68-character text (NUL-ended),
 * hash the sha256 of the raw bytes. */
void roomadm_token_new(char tok[static 72], uint8_t hash[static 32]);

#endif
