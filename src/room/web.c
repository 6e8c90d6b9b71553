/* web — the public routes of the room server (see web.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <sodium.h>

#include "log.h"
#include "page.h"
#include "portal.h"
#include "rate.h"
#include "util.h"
#include "web.h"

struct web {
	struct web_cfg cfg;
	char public_url[WEB_URL_MAX];
	char base_path[WEB_URL_MAX];   /* path part of public_url ("" or "/room") */
	char domain[256];              /* host of public_url: aliases are NAME.domain */
	char msaddr[WEB_URL_MAX];
	char wsaddr[WEB_URL_MAX];      /* ws(s)://<public host[:port]>~shs:KEY, for browser peers */
	char room_id[KEYS_ID_LEN + 1];
	struct rate rate;              /* invite claims and creation */
};

/* ---- pure helpers ----------------------------------------------------- */

int web_urlenc(const char *s, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		             c == '-' || c == '_' || c == '.' || c == '~';

		if (n + (plain ? 1 : 3) + 1 > outlen)
			return -ENOSPC;
		if (plain) {
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	if (outlen == 0)
		return -ENOSPC;
	out[n] = '\0';
	return (int)n;
}

int web_public_url_parse(const char *url, char *out, size_t outlen, char *host, size_t hostlen,
                         char *err, size_t errlen)
{
	const char *h, *end, *hend;
	size_t n = strlen(url), hl;

	if (strncmp(url, "http://", 7) == 0)
		h = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		h = url + 8;
	else {
		util_set_err(err, errlen, "'%s' does not start with http:// or https://", url);
		return -EINVAL;
	}
	for (const char *p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || strchr("\"'<>\\`?#", *p) != NULL) {
			util_set_err(err, errlen, "'%s' has a character a base URL cannot have "
			             "(spaces, quotes, ?, #)", url);
			return -EINVAL;
		}
	while (n > 0 && url[n - 1] == '/')
		n--;
	end = h + strcspn(h, "/");
	if (*h == '[') {
		hend = memchr(h, ']', (size_t)(end - h));
		if (hend == NULL) {
			util_set_err(err, errlen, "'%s': unclosed [ in the host", url);
			return -EINVAL;
		}
		h++;
	} else {
		hend = memchr(h, ':', (size_t)(end - h));
		if (hend == NULL)
			hend = end;
	}
	hl = (size_t)(hend - h);
	if (hl == 0 || hl >= hostlen) {
		util_set_err(err, errlen, "'%s' has no host", url);
		return -EINVAL;
	}
	if (n >= outlen || n <= (size_t)(h - url)) {
		util_set_err(err, errlen, "'%s' is too long", url);
		return -EINVAL;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	for (size_t i = 0; i < hl; i++)
		if (host[i] >= 'A' && host[i] <= 'Z')
			host[i] = (char)(host[i] - 'A' + 'a');
	memcpy(out, url, n);
	out[n] = '\0';
	return 0;
}

int web_token_hash(const char *token, uint8_t hash[STORE_HASH_LEN])
{
	uint8_t raw[WEB_TOKEN_RAW + 4];
	size_t rawlen = 0;
	const char *end = NULL;

	if (token == NULL || strlen(token) != WEB_TOKEN_LEN)
		return -EINVAL;
	if (sodium_base642bin(raw, sizeof(raw), token, WEB_TOKEN_LEN, NULL, &rawlen, &end,
	                      sodium_base64_VARIANT_URLSAFE) != 0 ||
	    end != token + WEB_TOKEN_LEN || rawlen != WEB_TOKEN_RAW)
		return -EINVAL;
	crypto_hash_sha256(hash, raw, rawlen);
	sodium_memzero(raw, sizeof(raw));
	return 0;
}

void web_token_make(const uint8_t raw[WEB_TOKEN_RAW], char token[WEB_TOKEN_LEN + 1],
                    uint8_t hash[STORE_HASH_LEN])
{
	sodium_bin2base64(token, WEB_TOKEN_LEN + 1, raw, WEB_TOKEN_RAW, sodium_base64_VARIANT_URLSAFE);
	crypto_hash_sha256(hash, raw, WEB_TOKEN_RAW);
}

struct form_fields {
	const char *kind;
	char id[128];
	char invite[WEB_TOKEN_LEN + 2];
	bool have_id, have_invite, dup;
};

static int form_field(void *ctx, const char *key, const char *val)
{
	struct form_fields *f = ctx;
	char *dst = NULL;
	size_t cap = 0;
	bool *have = NULL;

	if (strcmp(key, "id") == 0) {
		dst = f->id;
		cap = sizeof(f->id);
		have = &f->have_id;
	} else if (strcmp(key, "invite") == 0) {
		dst = f->invite;
		cap = sizeof(f->invite);
		have = &f->have_invite;
	} else {
		return 0;   /* csrf and the like: not ours */
	}
	if (*have) {
		f->dup = true;
		return 1;
	}
	*have = true;
	/* A value longer than the buffer is cut one past its longest valid
	 * length, so that it still fails its check below. */
	snprintf(dst, cap, "%s", val);
	return 0;
}

int web_consume_parse(enum web_body kind, const char *body, size_t len,
                      struct web_consume *out, char *err, size_t errlen)
{
	struct form_fields f = { 0 };
	const char *pfx = kind == WEB_BODY_JSON ? "consume body contained invalid json" : "bad form";

	memset(out, 0, sizeof(*out));
	if (kind == WEB_BODY_JSON) {
		json_error_t je;
		json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je), *id, *inv;

		if (j == NULL) {
			util_set_err(err, errlen, "%s: %s (at byte %d)", pfx, je.text, je.position);
			return -EINVAL;
		}
		if (!json_is_object(j)) {
			json_decref(j);
			util_set_err(err, errlen, "%s: expected an object {\"id\":…,\"invite\":…}", pfx);
			return -EINVAL;
		}
		id = json_object_get(j, "id");
		inv = json_object_get(j, "invite");
		if (json_is_string(id)) {
			f.have_id = true;
			snprintf(f.id, sizeof(f.id), "%s", json_string_value(id));
		}
		if (json_is_string(inv)) {
			f.have_invite = true;
			snprintf(f.invite, sizeof(f.invite), "%s", json_string_value(inv));
		}
		json_decref(j);
	} else {
		int rc = http_form_parse(body, len, 16, form_field, &f);

		if (f.dup) {
			util_set_err(err, errlen, "%s: a field appears twice", pfx);
			return -EINVAL;
		}
		if (rc != 0) {
			util_set_err(err, errlen, "%s: %s", pfx, rc == -E2BIG ? "too many fields"
			             : "not application/x-www-form-urlencoded");
			return -EINVAL;
		}
	}
	if (!f.have_id || !f.have_invite) {
		util_set_err(err, errlen, "%s: missing string field \"%s\"", pfx, !f.have_id ? "id" : "invite");
		return -EINVAL;
	}
	if (keys_id_parse(f.id, strlen(f.id), out->key) != 0) {
		util_set_err(err, errlen, "%s: id is not a feed id (@<base64>.ed25519)", pfx);
		return -EINVAL;
	}
	if (f.invite[0] == '\0') {
		util_set_err(err, errlen, "%s: invite is empty", pfx);
		return -EINVAL;
	}
	memcpy(out->invite, f.invite, sizeof(out->invite) - 1);
	out->invite[sizeof(out->invite) - 1] = '\0';
	if (strlen(f.invite) > WEB_TOKEN_LEN)
		out->invite[0] = '!';   /* too long: make sure it cannot decode */
	return 0;
}

/* ---- replies ---------------------------------------------------------- */

static bool want_json(struct http_req *r)
{
	const char *e = http_query(r, "encoding");

	return e != NULL && strcmp(e, "json") == 0;
}

static char *room_name(struct web *w)
{
	char *name = NULL;

	if (store_text_get(w->cfg.store, "name", &name) == 0 && name[0] != '\0')
		return name;
	free(name);
	return strdup(w->cfg.name != NULL && w->cfg.name[0] != '\0' ? w->cfg.name : w->domain);
}

void web_page_begin(struct web *w, struct page *b, const char *title)
{
	char *name = room_name(w);

	page_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>");
	if (title != NULL) {
		page_html(b, title, false);
		page_puts(b, " · ");
	}
	page_html(b, name != NULL ? name : "", false);
	/* icon "data:,": no /favicon.ico request (and no 404) per page */
	page_printf(b, "</title><link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"%s/style.css\"></head>\n<body>"
	          "<header><a href=\"%s/\">", w->base_path, w->base_path);
	page_html(b, name != NULL ? name : "", false);
	page_puts(b, "</a></header>\n<main>\n");
	free(name);
}

void web_page_end(struct web *w, struct page *b)
{
	(void)w;
	page_puts(b, "</main>\n<footer>SSB room · fairway</footer></body></html>\n");
}

enum MHD_Result web_error_page(struct web *w, struct http_req *r, unsigned status,
                                  const char *title, const char *text)
{
	struct page b = { 0 };

	web_page_begin(w, &b, title);
	page_puts(&b, "<h1>");
	page_html(&b, title, false);
	page_puts(&b, "</h1>\n<p class=\"error\">");
	page_html(&b, text, false);
	page_puts(&b, "</p>\n");
	web_page_end(w, &b);
	return page_reply(r, status, &b);
}

/* ---- routes ----------------------------------------------------------- */

static const char *mode_text(enum portal_privacy m)
{
	switch (m) {
	case PORTAL_OPEN:
		return "Open: anyone may connect, reach the people here and create an invite.";
	case PORTAL_COMMUNITY:
		return "Community: anyone may connect and reach members by their alias; "
		       "only members may see who is online. Members invite new members.";
	case PORTAL_RESTRICTED:
		return "Restricted: only members may connect. Members invite new members.";
	}
	return "";
}

static const char *mode_go_name(enum portal_privacy m)
{
	return m == PORTAL_OPEN ? "ModeOpen" : m == PORTAL_COMMUNITY ? "ModeCommunity" : "ModeRestricted";
}

static void notice(struct web *w, struct page *b, const char *key, const char *title)
{
	char *text = NULL;

	if (store_text_get(w->cfg.store, key, &text) == 0 && text[0] != '\0') {
		page_printf(b, "<section class=\"notice\"><h2>%s</h2><p>", title);
		page_html(b, text, true);
		page_puts(b, "</p></section>\n");
	}
	free(text);
}

static enum MHD_Result alias_page(struct web *w, struct http_req *r, const char *name);

/* An ssb: link as an href. Chrome on Android does not follow unknown
 * schemes from a tap, but does open intent:// links in the app that
 * registered the scheme (go-ssb-room's StringifySSBURI does the same). */
static void put_ssb_href(struct page *b, struct http_req *r, const char *uri)
{
	const char *ua = http_header(r, "User-Agent");
	const char *q = strchr(uri, '?');

	if (ua != NULL && q != NULL && strstr(ua, "Android") != NULL && strstr(ua, "Chrome/") != NULL) {
		page_puts(b, "intent://experimental");
		page_html(b, q, false);
		page_puts(b, "#Intent;scheme=ssb;end;");
	} else {
		page_html(b, uri, false);
	}
}

static enum MHD_Result on_landing(struct http_req *r)
{
	struct web *w = r->ud;
	enum portal_privacy mode = portal_privacy_now(w->cfg.portal);
	struct page b = { 0 };
	char host[256], *desc = NULL;
	size_t dl = strlen(w->domain), hl;

	/* Host NAME.<domain>: the alias NAME (what nginx would rewrite). */
	snprintf(host, sizeof(host), "%s", r->host);
	if (host[0] != '[')
		host[strcspn(host, ":")] = '\0';
	for (char *p = host; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	hl = strlen(host);
	if (hl > dl + 1 && host[hl - dl - 1] == '.' && strcmp(host + hl - dl, w->domain) == 0) {
		host[hl - dl - 1] = '\0';
		return alias_page(w, r, host);
	}
	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
		return http_reply(r, 405, "text/plain; charset=utf-8", "method not allowed\n", 19);

	web_page_begin(w, &b, NULL);
	{
		char *name = room_name(w);

		page_puts(&b, "<h1>");
		page_html(&b, name != NULL ? name : "", false);
		page_puts(&b, "</h1>\n");
		free(name);
	}
	if (store_text_get(w->cfg.store, "description", &desc) == 0 && desc[0] != '\0') {
		page_puts(&b, "<p class=\"description\">");
		page_html(&b, desc, true);
		page_puts(&b, "</p>\n");
	}
	free(desc);
	notice(w, &b, "notice.description", "About this room");
	page_printf(&b, "<section><h2>Privacy</h2><p id=\"privacy-mode\" data-mode=\"%s\">%s</p></section>\n",
	          portal_privacy_name(mode), mode_text(mode));
	page_puts(&b, "<section><h2>How to join</h2>\n");
	if (mode == PORTAL_OPEN)
		page_printf(&b, "<p>Anyone can join: create an invite and open it on the device "
		          "with your SSB app (Manyverse, Patchwork …).</p>\n"
		          "<form method=\"post\" action=\"%s/create-invite\"><button type=\"submit\">"
		          "Create an invite</button></form>\n", w->base_path);
	else
		page_puts(&b, "<p>Ask a member of this room for an invite link and open it on the "
		        "device with your SSB app (Manyverse, Patchwork …). The app joins with one "
		        "tap.</p>\n");
	page_puts(&b, "<p>Room address, for apps that ask for one:</p><p><code id=\"room-address\">");
	page_html(&b, w->msaddr, false);
	page_puts(&b, "</code></p>\n<p>For browser peers (SSB over WebSocket):</p>"
	        "<p><code id=\"ws-address\">");
	page_html(&b, w->wsaddr, false);
	page_puts(&b, "</code></p></section>\n");
	notice(w, &b, "notice.news", "News");
	notice(w, &b, "notice.code-of-conduct", "Code of conduct");
	notice(w, &b, "notice.privacy-policy", "Privacy policy");
	web_page_end(w, &b);
	return page_reply(r, 200, &b);
}

static enum MHD_Result on_style(struct http_req *r)
{
	static const char css[] =
		":root{color-scheme:light dark;--fg:#1b1b1b;--bg:#fdfdfb;--mute:#666;--acc:#1f5fbf}\n"
		"@media (prefers-color-scheme:dark){:root{--fg:#e8e8e8;--bg:#16171a;--mute:#aaa;--acc:#7fb0ff}}\n"
		"*{box-sizing:border-box}\n"
		"body{margin:0 auto;max-width:42rem;padding:1rem;font:1.05rem/1.5 system-ui,sans-serif;"
		"color:var(--fg);background:var(--bg)}\n"
		"header a{font-weight:600;text-decoration:none;color:var(--fg)}\n"
		"header{border-bottom:1px solid var(--mute);padding-bottom:.5rem;margin-bottom:1rem}\n"
		"footer{margin-top:2rem;color:var(--mute);font-size:.85rem}\n"
		"h1{font-size:1.6rem;margin:.5rem 0}h2{font-size:1.15rem;margin:1.2rem 0 .3rem}\n"
		"a{color:var(--acc)}code{word-break:break-all;font-size:.9rem}\n"
		".button,button{display:inline-block;padding:.7rem 1.2rem;border-radius:.4rem;border:0;"
		"background:var(--acc);color:#fff;font:inherit;text-decoration:none;cursor:pointer}\n"
		".qr{display:block;width:min(18rem,100%);height:auto;margin:1rem 0;"
		"image-rendering:pixelated}\n"
		".error{color:#b00020}\n"
		"label,input{display:block;width:100%}input{padding:.5rem;font:inherit;margin-bottom:.6rem}\n";
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(sizeof(css) - 1, (void *)(uintptr_t)css,
		                                MHD_RESPMEM_PERSISTENT);

	if (resp != NULL) {
		MHD_add_response_header(resp, "Content-Type", "text/css; charset=utf-8");
		MHD_add_response_header(resp, "Cache-Control", "public, max-age=3600");
	}
	return http_queue(r, 200, resp);
}

static const char *invite_param(struct http_req *r)
{
	const char *t = http_query(r, "token");

	return t != NULL ? t : http_query(r, "invite");
}

static enum MHD_Result on_join(struct http_req *r)
{
	struct web *w = r->ud;
	const char *token = invite_param(r);
	uint8_t hash[STORE_HASH_LEN];
	char post_to[WEB_URL_MAX + 32], enc_tok[WEB_TOKEN_LEN * 3 + 1], enc_post[sizeof(post_to) * 3];
	char uri[sizeof(enc_tok) + sizeof(enc_post) + 128];
	const char *bad = NULL;
	int rc;
	struct page b = { 0 };

	snprintf(post_to, sizeof(post_to), "%s/invite/consume", w->public_url);
	if (token == NULL || token[0] == '\0')
		bad = "missing invite token (?token=…)", rc = -EINVAL;
	else if (web_token_hash(token, hash) != 0)
		bad = store_invite_errtext(-EINVAL), rc = -EINVAL;
	else if ((rc = store_invite_find(w->cfg.store, hash, (int64_t)time(NULL), NULL)) != 0)
		bad = rc == -EIO ? "the room database failed" : store_invite_errtext(rc);
	if (rc == -EIO)
		log_warn("web: /join: store: %s", store_errmsg(w->cfg.store));
	if (want_json(r)) {
		if (bad != NULL)
			return page_json(r, rc == -EIO ? 500 : 200,
			                  json_pack("{s:s,s:s}", "status", "failed", "error", bad));
		return page_json(r, 200, json_pack("{s:s,s:s,s:s}", "status", "successful",
		                                    "invite", token, "postTo", post_to));
	}
	if (bad != NULL)
		return web_error_page(w, r, rc == -EIO ? 500 : rc == -EINVAL ? 400 : 404,
		                  "This invite cannot be used", bad);
	web_urlenc(token, enc_tok, sizeof(enc_tok));
	web_urlenc(post_to, enc_post, sizeof(enc_post));
	snprintf(uri, sizeof(uri), "ssb:experimental?action=claim-http-invite&invite=%s&postTo=%s",
	         enc_tok, enc_post);
	web_page_begin(w, &b, "Join");
	page_puts(&b, "<h1>You are invited</h1>\n<p>Open this invite with your SSB app "
	        "(Manyverse, Patchwork …) to become a member of this room.</p>\n"
	        "<p><a id=\"claim-invite-uri\" class=\"button\" href=\"");
	put_ssb_href(&b, r, uri);
	page_puts(&b, "\">Join with my SSB app</a></p>\n<p>On another device? Scan this code with "
	        "it:</p>\n");
	page_qr(&b, uri);
	page_puts(&b, "<p>The invite works once. Keep it to yourself until you have used it.</p>\n");
	web_page_end(w, &b);
	return page_reply(r, 200, &b);
}

/* "application/json" exactly, or with "; charset=utf-8" (go-ssb-room
 * refuses the latter; nothing is lost by accepting it). */
static bool ctype_is(const char *ctype, const char *want)
{
	char media[128];
	const char *params;

	if (ctype == NULL || http_media_type(ctype, media, sizeof(media)) != 0 ||
	    strcmp(media, want) != 0)
		return false;
	params = strchr(ctype, ';');
	if (params == NULL)
		return true;
	params++;
	while (*params == ' ')
		params++;
	return strcasecmp(params, "charset=utf-8") == 0 || strcasecmp(params, "charset=\"utf-8\"") == 0;
}

static enum MHD_Result consume_reply(struct web *w, struct http_req *r, bool json, unsigned status,
                                     const char *error)
{
	if (json)
		return page_json(r, status, json_pack("{s:s,s:s}", "status", "error", "error", error));
	return web_error_page(w, r, status, "The invite was not accepted", error);
}

static enum MHD_Result on_consume(struct http_req *r)
{
	struct web *w = r->ud;
	const char *ctype = http_header(r, "Content-Type");
	struct web_consume req;
	uint8_t hash[STORE_HASH_LEN];
	char err[256], id[KEYS_ID_LEN + 1];
	bool json;
	int rc;

	if (ctype_is(ctype, "application/json"))
		json = true;
	else if (ctype_is(ctype, "application/x-www-form-urlencoded"))
		json = false;
	else {
		char msg[256];
		int n = snprintf(msg, sizeof(msg), "unhandled Content-Type (\"%.160s\")\n",
		                 ctype != NULL ? ctype : "");

		return http_reply(r, 400, "text/plain; charset=utf-8", msg, (size_t)n);
	}
	if (!rate_take(&w->rate, uv_now(w->cfg.loop), r->peer)) {
		struct MHD_Response *resp;
		const char *msg = json ? "{\"status\":\"error\",\"error\":\"too many invite claims from "
		                         "this address: try again in a few seconds\"}"
		                       : "too many invite claims from this address: try again in a few seconds\n";

		log_info("web: /invite/consume: %s is over its rate limit", r->peer);
		resp = MHD_create_response_from_buffer(strlen(msg), (void *)(uintptr_t)msg,
		                                       MHD_RESPMEM_PERSISTENT);
		if (resp != NULL) {
			MHD_add_response_header(resp, "Content-Type",
			                        json ? "application/json" : "text/plain; charset=utf-8");
			MHD_add_response_header(resp, "Retry-After", "2");
		}
		return http_queue(r, 429, resp);
	}
	if (web_consume_parse(json ? WEB_BODY_JSON : WEB_BODY_FORM, r->body, r->body_len, &req,
	                      err, sizeof(err)) != 0)
		return consume_reply(w, r, json, json ? 200 : 400, err);
	if (web_token_hash(req.invite, hash) != 0)
		return consume_reply(w, r, json, json ? 200 : 400, store_invite_errtext(-EINVAL));
	rc = store_invite_consume(w->cfg.store, hash, req.key, (int64_t)time(NULL), NULL);
	keys_id_format(id, req.key);
	if (rc == -EIO || rc == -ENOMEM) {
		log_warn("web: invite for %s not consumed: the store failed: %s", id,
		         store_errmsg(w->cfg.store));
		return consume_reply(w, r, json, 500, "the room database failed; try again later");
	}
	if (rc != 0) {
		log_info("web: invite claim by %s refused: %s", id, store_invite_errtext(rc));
		return consume_reply(w, r, json,
		                     json ? 200 : rc == -EPERM ? 403 : rc == -ETIMEDOUT ? 410
		                                : rc == -EINVAL ? 400 : 404,
		                     store_invite_errtext(rc));
	}
	log_info("web: invite consumed: %s is a member", id);
	portal_membership_changed(w->cfg.portal, req.key);
	if (json)
		return page_json(r, 200, json_pack("{s:s,s:s}", "status", "successful",
		                                    "multiserverAddress", w->msaddr));
	{
		struct page b = { 0 };

		web_page_begin(w, &b, "Welcome");
		page_puts(&b, "<h1>Welcome</h1>\n<p>You are now a member of this room. Connect your SSB "
		        "app to:</p>\n<p><code id=\"room-address\">");
		page_html(&b, w->msaddr, false);
		page_puts(&b, "</code></p>\n");
		web_page_end(w, &b);
		return page_reply(r, 200, &b);
	}
}

static int first_admin(void *ctx, const struct store_member *m)
{
	if (m->role != STORE_ROLE_ADMIN)
		return 0;
	*(int64_t *)ctx = m->id;
	return 1;
}

static enum MHD_Result on_create_invite(struct http_req *r)
{
	struct web *w = r->ud;
	enum portal_privacy mode = portal_privacy_now(w->cfg.portal);
	const char *accept = http_header(r, "Accept");
	bool json = accept != NULL && strcmp(accept, "application/json") == 0;
	uint8_t raw[WEB_TOKEN_RAW], hash[STORE_HASH_LEN];
	char token[WEB_TOKEN_LEN + 1], url[WEB_URL_MAX + 128], msg[160];
	int64_t admin = 0, now = (int64_t)time(NULL);
	struct page b = { 0 };
	int rc;

	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "POST") != 0)
		return http_reply(r, 405, "text/plain; charset=utf-8", "method not allowed\n", 19);
	if (mode != PORTAL_OPEN) {
		snprintf(msg, sizeof(msg), "roomdb: privacy mode not set to open but %s", mode_go_name(mode));
		if (json)
			return page_json(r, 403, json_pack("{s:s,s:s}", "status", "failed", "error", msg));
		return web_error_page(w, r, 403, "Invites are made by members",
		                  "This room is not open: ask a member of the room for an invite.");
	}
	if (!rate_take(&w->rate, uv_now(w->cfg.loop), r->peer))
		return json ? page_json(r, 429, json_pack("{s:s,s:s}", "status", "failed", "error",
		                                         "too many invites from this address: try again later"))
		            : web_error_page(w, r, 429, "Slow down", "Too many invites from this address: try again later.");
	rc = store_member_list(w->cfg.store, first_admin, &admin);
	if (rc < 0 || admin == 0) {
		const char *e = rc < 0 ? "the room database failed" : "roomdb: no admin user available to associate invite to";

		if (rc < 0)
			log_warn("web: /create-invite: %s", store_errmsg(w->cfg.store));
		return json ? page_json(r, 503, json_pack("{s:s,s:s}", "status", "failed", "error", e))
		            : web_error_page(w, r, 503, "No invite", e);
	}
	randombytes_buf(raw, sizeof(raw));
	web_token_make(raw, token, hash);
	sodium_memzero(raw, sizeof(raw));
	rc = store_invite_create(w->cfg.store, hash, admin, now, now + w->cfg.invite_ttl_s, NULL);
	if (rc != 0) {
		log_warn("web: /create-invite: %s", store_errmsg(w->cfg.store));
		return json ? page_json(r, 500, json_pack("{s:s,s:s}", "status", "failed", "error",
		                                         "the room database failed"))
		            : web_error_page(w, r, 500, "No invite", "the room database failed");
	}
	snprintf(url, sizeof(url), "%s/join?token=%s", w->public_url, token);
	log_info("web: open-mode invite created for %s", r->peer);
	if (json)
		return page_json(r, 200, json_pack("{s:s}", "url", url));
	web_page_begin(w, &b, "Invite");
	page_puts(&b, "<h1>Your invite</h1>\n<p>Open this link on the device with your SSB app, "
	        "or share it with one person: it works once.</p>\n<p><a id=\"invite-url\" href=\"");
	page_html(&b, url, false);
	page_puts(&b, "\"><code>");
	page_html(&b, url, false);
	page_puts(&b, "</code></a></p>\n");
	page_qr(&b, url);
	web_page_end(w, &b);
	return page_reply(r, 200, &b);
}

static enum MHD_Result alias_error(struct web *w, struct http_req *r, unsigned status,
                                   const char *text)
{
	if (want_json(r))
		return page_json(r, 200, json_pack("{s:s,s:s}", "status", "error", "error", text));
	return web_error_page(w, r, status, "No such alias here", text);
}

static enum MHD_Result alias_page(struct web *w, struct http_req *r, const char *name)
{
	struct store_alias a;
	char msg[256], user[KEYS_ID_LEN + 1], sig_std[100], sig_url[100];
	char e_alias[STORE_ALIAS_MAX * 3 + 1], e_ms[WEB_URL_MAX * 3], e_room[KEYS_ID_LEN * 3 + 1],
	     e_sig[300], e_user[KEYS_ID_LEN * 3 + 1];
	char uri[sizeof(e_alias) + sizeof(e_ms) + sizeof(e_room) + sizeof(e_sig) + sizeof(e_user) + 128];
	struct page b = { 0 };
	int rc;

	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
		return http_reply(r, 405, "text/plain; charset=utf-8", "method not allowed\n", 19);
	if (portal_privacy_now(w->cfg.portal) == PORTAL_RESTRICTED)
		return alias_error(w, r, 403, "this room is restricted, alias resolving is turned off");
	if (!store_alias_valid(name, strlen(name))) {
		snprintf(msg, sizeof(msg), "aliases: invalid alias name \"%.64s\": 1 to 63 of a-z and 0-9",
		         name);
		return alias_error(w, r, 400, msg);
	}
	rc = store_alias_get(w->cfg.store, name, &a);
	if (rc != 0) {
		if (rc != -ENOENT)
			log_warn("web: alias %s: %s", name, store_errmsg(w->cfg.store));
		snprintf(msg, sizeof(msg), "aliases: failed to resolve name \"%s\": roomdb: object not found",
		         name);
		return rc == -ENOENT ? alias_error(w, r, 404, msg)
		                     : alias_error(w, r, 500, "the room database failed");
	}
	keys_id_format(user, a.owner);
	sodium_bin2base64(sig_std, sizeof(sig_std), a.sig, sizeof(a.sig), sodium_base64_VARIANT_ORIGINAL);
	if (want_json(r))
		return page_json(r, 200, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "status", "successful",
		                                    "multiserverAddress", w->msaddr, "roomId", w->room_id,
		                                    "userId", user, "alias", a.name, "signature", sig_std));
	sodium_bin2base64(sig_url, sizeof(sig_url), a.sig, sizeof(a.sig), sodium_base64_VARIANT_URLSAFE);
	web_urlenc(a.name, e_alias, sizeof(e_alias));
	web_urlenc(w->msaddr, e_ms, sizeof(e_ms));
	web_urlenc(w->room_id, e_room, sizeof(e_room));
	web_urlenc(sig_url, e_sig, sizeof(e_sig));
	web_urlenc(user, e_user, sizeof(e_user));
	/* keys sorted, as go-ssb-room emits them */
	snprintf(uri, sizeof(uri), "ssb:experimental?action=consume-alias&alias=%s&multiserverAddress=%s"
	         "&roomId=%s&signature=%s&userId=%s", e_alias, e_ms, e_room, e_sig, e_user);
	web_page_begin(w, &b, a.name);
	page_puts(&b, "<h1>");
	page_html(&b, a.name, false);
	page_puts(&b, "</h1>\n<p>This is the alias of <code id=\"alias-user\">");
	page_html(&b, user, false);
	page_puts(&b, "</code> in this room. Open it with your SSB app to connect to them.</p>\n"
	        "<p><a id=\"alias-uri\" class=\"button\" href=\"");
	put_ssb_href(&b, r, uri);
	page_puts(&b, "\">Connect with my SSB app</a></p>\n");
	page_qr(&b, uri);
	web_page_end(w, &b);
	return page_reply(r, 200, &b);
}

static enum MHD_Result on_alias(struct http_req *r)
{
	return alias_page(r->ud, r, r->rest);
}

/* "/NAME": an alias when NAME is one; nothing else lives at the top. */
static enum MHD_Result on_top(struct http_req *r)
{
	struct web *w = r->ud;

	if (strchr(r->rest, '/') != NULL || !store_alias_valid(r->rest, strlen(r->rest)))
		return http_reply(r, 404, "text/plain; charset=utf-8", "not found\n", 10);
	return alias_page(w, r, r->rest);
}

int web_start(const struct web_cfg *cfg, struct web **out, char *err, size_t errlen)
{
	struct web *w;
	const char *p;
	int rc = 0;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->cfg = *cfg;
	if (w->cfg.invite_ttl_s == 0)
		w->cfg.invite_ttl_s = 30 * 86400;
	if (w->cfg.consume_burst == 0)
		w->cfg.consume_burst = 20;
	if (w->cfg.consume_per_s == 0)
		w->cfg.consume_per_s = 2;
	rate_init(&w->rate, w->cfg.consume_burst, w->cfg.consume_per_s);
	if (web_public_url_parse(cfg->public_url, w->public_url, sizeof(w->public_url), w->domain,
	                         sizeof(w->domain), err, errlen) != 0) {
		free(w);
		return -EINVAL;
	}
	p = strstr(w->public_url, "://") + 3;
	p += strcspn(p, "/");
	snprintf(w->base_path, sizeof(w->base_path), "%s", p);
	snprintf(w->msaddr, sizeof(w->msaddr), "%s", cfg->msaddr);
	{
		/* The WebSocket address browsers use: the public URL's scheme and
		 * host[:port] (upgrades are served on any path, so none is given),
		 * as fairway portal prints it: https://room.example →
		 * wss://room.example~shs:KEY, http://H:P → ws://H:P~shs:KEY. */
		const char *hp = strstr(w->public_url, "://") + 3, *key = strstr(w->msaddr, "~shs:");

		snprintf(w->wsaddr, sizeof(w->wsaddr), "%s://%.*s%s",
		         strncmp(w->public_url, "https:", 6) == 0 ? "wss" : "ws",
		         (int)strcspn(hp, "/"), hp, key != NULL ? key : "");
	}
	keys_id_format(w->room_id, cfg->id->pk);
#define ROUTE(m, path, match, fn) \
	if (rc == 0) rc = http_route(cfg->http, m, path, match, fn, w)
	ROUTE(NULL, "/", HTTP_EXACT, on_landing);
	ROUTE("GET", "/style.css", HTTP_EXACT, on_style);
	ROUTE("GET", "/join", HTTP_EXACT, on_join);
	ROUTE("POST", "/invite/consume", HTTP_EXACT, on_consume);
	ROUTE(NULL, "/create-invite", HTTP_EXACT, on_create_invite);
	ROUTE(NULL, "/alias/", HTTP_PREFIX, on_alias);
	ROUTE(NULL, "/", HTTP_PREFIX, on_top);
#undef ROUTE
	if (rc != 0) {
		util_set_err(err, errlen, "web: cannot add routes: %s", strerror(-rc));
		free(w);
		return rc;
	}
	*out = w;
	return 0;
}

void web_free(struct web *w)
{
	free(w);
}
