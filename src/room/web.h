/* web — the room server's public HTTP routes (rooms2-server.md §2), on http.h.
 *
 *   GET  /                   landing page (name, description, notices, mode,
 *                            how to join); Host <alias>.<domain>: that alias
 *   GET  /style.css          the one stylesheet
 *   GET  /join?token=T       invite façade (also ?invite=T); ?encoding=json:
 *        {"status":"successful","invite":T,"postTo":"<public-url>/invite/consume"}
 *        {"status":"failed","error":"…"}
 *   POST /invite/consume     application/json {"id":"@…","invite":T}, or a form
 *                            (invite, id); one store transaction, then
 *                            portal_membership_changed():
 *        {"status":"successful","multiserverAddress":"net:HOST:PORT~shs:KEY"}
 *        {"status":"error","error":"…"}            (JSON replies are HTTP 200)
 *        other Content-Type: 400 text/plain unhandled Content-Type ("…")
 *        too many attempts from one address: 429
 *   GET|POST /create-invite  open mode only (needs an admin in the store);
 *                            Accept: application/json → {"url":"…/join?token=T"}
 *   GET  /alias/NAME, /NAME  alias page with the consume-alias link and QR;
 *                            ?encoding=json:
 *        {"status":"successful","multiserverAddress":…,"roomId":…,"userId":…,
 *         "alias":…,"signature":"<std base64, no suffix>"}
 *
 * Invite tokens are 50 random bytes as URL-safe base64 with padding (68
 * characters, go-ssb-room's format); the store keeps sha256 of the 50 raw
 * bytes (web_token_hash), so go-ssb-room invites carry over. */
#ifndef FAIRWAY_WEB_H
#define FAIRWAY_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "keys.h"
#include "page.h"
#include "store.h"

struct web;
struct portal;

#define WEB_TOKEN_RAW 50
#define WEB_TOKEN_LEN 68      /* base64url of 50 bytes, padded */
#define WEB_URL_MAX 1024

struct web_cfg {
	uv_loop_t *loop;
	struct http *http;            /* routes are added to it */
	struct store *store;          /* borrowed, required */
	struct portal *portal;        /* borrowed: privacy, membership_changed */
	const struct keys *id;        /* the room's identity (public key used) */
	const char *public_url;       /* "http(s)://host[:port][/path]", no trailing '/' */
	const char *msaddr;           /* "net:HOST:PORT~shs:KEY" handed to clients */
	const char *name;             /* room name when the store has none (may be NULL) */
	int64_t invite_ttl_s;         /* /create-invite invites; 0: 30 days */
	unsigned consume_burst;       /* per-address attempts at once; 0: 20 */
	unsigned consume_per_s;       /* refill per second; 0: 2 */
};

/* Registers the routes. -errno with a reason on failure. */
int web_start(const struct web_cfg *cfg, struct web **out, char *err, size_t errlen);
void web_free(struct web *w);

/* ---- the page frame, for every module that serves room pages -------- */

/* The head of a room page (title " · " room name, the stylesheet, the
 * header linking home) and its end. title may be NULL (the room name
 * alone). */
void web_page_begin(struct web *w, struct page *b, const char *title);
void web_page_end(struct web *w, struct page *b);
/* A whole error page: title as heading, text as the reason. */
enum MHD_Result web_error_page(struct web *w, struct http_req *r, unsigned status,
                               const char *title, const char *text);

/* ---- pure helpers (also for the fuzzer, the CLI and tests) ------------ */

/* Checks a --public-url: http:// or https://, a host, optional port and
 * path, no query, fragment, spaces or quotes. Writes the URL without a
 * trailing '/' to out and its host (no port, no brackets) to host.
 * 0 or -EINVAL with a reason in err. */
int web_public_url_parse(const char *url, char *out, size_t outlen, char *host, size_t hostlen,
                         char *err, size_t errlen);
/* Token text → sha256 of its 50 raw bytes. -EINVAL if it is not 68
 * characters of URL-safe base64 decoding to 50 bytes. */
int web_token_hash(const char *token, uint8_t hash[STORE_HASH_LEN]);
/* A new token from 50 bytes of randomness (passed in) and its hash. */
void web_token_make(const uint8_t raw[WEB_TOKEN_RAW], char token[WEB_TOKEN_LEN + 1],
                    uint8_t hash[STORE_HASH_LEN]);

/* The /invite/consume request, decoded from its body. */
struct web_consume {
	uint8_t key[32];
	char invite[WEB_TOKEN_LEN + 1];
};
enum web_body { WEB_BODY_JSON, WEB_BODY_FORM };
/* Decodes a body of the given kind: exactly the string fields "id" (a feed
 * id) and "invite" (non-empty, at most 68 characters; its format is
 * checked by web_token_hash). Unknown JSON fields are ignored (clients may
 * add some); duplicates are refused. 0, or -EINVAL with the reason in err
 * ("consume body contained invalid json: …" for JSON). */
int web_consume_parse(enum web_body kind, const char *body, size_t len,
                      struct web_consume *out, char *err, size_t errlen);

/* Percent-encodes s for a query value (everything but A-Z a-z 0-9 -_.~).
 * Returns the length, or -ENOSPC if out is too small. */
int web_urlenc(const char *s, char *out, size_t outlen);

#endif
