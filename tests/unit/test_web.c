/* Unit tests of the room server's request decoding (http.h, web.h): form
 * and query decoding, Content-Type media types, invite tokens, the
 * /invite/consume body, --public-url, percent-encoding. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>

#include "http.h"
#include "rate.h"
#include "web.h"

struct pairs { char buf[1024]; size_t n; };

static int collect(void *ctx, const char *k, const char *v)
{
	struct pairs *p = ctx;
	size_t used = strlen(p->buf);

	snprintf(p->buf + used, sizeof(p->buf) - used, "[%s=%s]", k, v);
	p->n++;
	return 0;
}

static void test_form(void **state)
{
	struct pairs p = { 0 };
	const char *t = "a=1&b=x+y%2Bz&&c&d=%C3%A9&e=a=b&";

	(void)state;
	assert_int_equal(http_form_parse(t, strlen(t), 16, collect, &p), 0);
	assert_string_equal(p.buf, "[a=1][b=x y+z][c=][d=\xc3\xa9][e=a=b]");
	memset(&p, 0, sizeof(p));
	/* %00 would cut a value short: refused, not truncated */
	assert_int_equal(http_form_parse("a=x%00y", 7, 16, collect, &p), -EINVAL);
	assert_int_equal(http_form_parse("=v", 2, 16, collect, &p), -EINVAL);   /* no key */
	assert_int_equal(http_form_parse("a=1&b=2&c=3", 11, 2, collect, &p), -E2BIG);
	/* the length counts, not a NUL: only "a=1" of "a=1&b=2" */
	memset(&p, 0, sizeof(p));
	assert_int_equal(http_form_parse("a=1&b=2", 3, 16, collect, &p), 0);
	assert_string_equal(p.buf, "[a=1]");
	assert_int_equal(http_form_parse("", 0, 16, collect, &p), 0);
}

static void test_media_type(void **state)
{
	char m[64];

	(void)state;
	assert_int_equal(http_media_type("Application/JSON; charset=utf-8", m, sizeof(m)), 0);
	assert_string_equal(m, "application/json");
	assert_int_equal(http_media_type("  text/plain", m, sizeof(m)), 0);
	assert_string_equal(m, "text/plain");
	assert_int_equal(http_media_type("", m, sizeof(m)), -EINVAL);
	assert_int_equal(http_media_type("json", m, sizeof(m)), -EINVAL);
	assert_int_equal(http_media_type("a/b\"c", m, sizeof(m)), -EINVAL);
	assert_int_equal(http_media_type("application/json", m, 8), -EINVAL);
	assert_int_equal(http_media_type(NULL, m, sizeof(m)), -EINVAL);
}

static void test_token(void **state)
{
	uint8_t raw[WEB_TOKEN_RAW], h1[32], h2[32], want[32];
	char tok[WEB_TOKEN_LEN + 1], bad[WEB_TOKEN_LEN + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i * 7 + 1);
	web_token_make(raw, tok, h1);
	assert_int_equal(strlen(tok), WEB_TOKEN_LEN);
	assert_int_equal(tok[WEB_TOKEN_LEN - 1], '=');
	crypto_hash_sha256(want, raw, sizeof(raw));
	assert_memory_equal(h1, want, 32);
	assert_int_equal(web_token_hash(tok, h2), 0);
	assert_memory_equal(h2, want, 32);
	memcpy(bad, tok, sizeof(bad));
	bad[3] = '+';        /* standard, not URL-safe, base64 */
	assert_int_equal(web_token_hash(bad, h2), -EINVAL);
	bad[3] = tok[3];
	bad[WEB_TOKEN_LEN - 1] = 'A';   /* no padding */
	assert_int_equal(web_token_hash(bad, h2), -EINVAL);
	assert_int_equal(web_token_hash("abc", h2), -EINVAL);
	assert_int_equal(web_token_hash(NULL, h2), -EINVAL);
}

static void test_consume(void **state)
{
	const char *id = "@t3216bAjeYLCMAW3q0I1ft10RRi2XHTnfpQEfnJhwYk=.ed25519";
	char body[512], err[256];
	struct web_consume c;

	(void)state;
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"invite\":\"T\",\"extra\":1}", id);
	assert_int_equal(web_consume_parse(WEB_BODY_JSON, body, strlen(body), &c, err, sizeof(err)), 0);
	assert_string_equal(c.invite, "T");
	snprintf(body, sizeof(body), "invite=T&id=%%40t3216bAjeYLCMAW3q0I1ft10RRi2XHTnfpQEfnJhwYk%%3D.ed25519&csrf=x");
	assert_int_equal(web_consume_parse(WEB_BODY_FORM, body, strlen(body), &c, err, sizeof(err)), 0);
	assert_string_equal(c.invite, "T");
	assert_int_equal(web_consume_parse(WEB_BODY_JSON, "{", 1, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "consume body contained invalid json: "));
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"invite\":\"\"}", id);
	assert_int_equal(web_consume_parse(WEB_BODY_JSON, body, strlen(body), &c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "consume body contained invalid json: invite is empty");
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"invite\":\"%0100d\"}", id, 0);
	assert_int_equal(web_consume_parse(WEB_BODY_JSON, body, strlen(body), &c, err, sizeof(err)), 0);
	assert_int_not_equal(web_token_hash(c.invite, (uint8_t[32]){ 0 }), 0);  /* too long stays bad */
	assert_int_equal(web_consume_parse(WEB_BODY_FORM, "id=a&id=b&invite=c", 18, &c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "bad form: a field appears twice");
}

static void test_public_url(void **state)
{
	char out[WEB_URL_MAX], host[256], err[256];

	(void)state;
	assert_int_equal(web_public_url_parse("https://Room.Example:8443/room/", out, sizeof(out), host,
	                                      sizeof(host), err, sizeof(err)), 0);
	assert_string_equal(out, "https://Room.Example:8443/room");
	assert_string_equal(host, "room.example");
	assert_int_equal(web_public_url_parse("http://[::1]:3000", out, sizeof(out), host, sizeof(host),
	                                      err, sizeof(err)), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(web_public_url_parse("ftp://x", out, sizeof(out), host, sizeof(host), err, sizeof(err)), -EINVAL);
	assert_int_equal(web_public_url_parse("https://", out, sizeof(out), host, sizeof(host), err, sizeof(err)), -EINVAL);
	assert_int_equal(web_public_url_parse("https://x/?q", out, sizeof(out), host, sizeof(host), err, sizeof(err)), -EINVAL);
	assert_int_equal(web_public_url_parse("https://x y", out, sizeof(out), host, sizeof(host), err, sizeof(err)), -EINVAL);
	assert_int_equal(web_public_url_parse("https://[::1", out, sizeof(out), host, sizeof(host), err, sizeof(err)), -EINVAL);
}

/* Burst at once, then per_s a second; addresses are independent; a
 * full table hands out slots without growing. */
static void test_rate(void **state)
{
	static struct rate rt;
	char peer[32];

	(void)state;
	rate_init(&rt, 3, 2.0);
	for (int i = 0; i < 3; i++)
		assert_true(rate_take(&rt, 1000, "10.0.0.1"));
	assert_false(rate_take(&rt, 1000, "10.0.0.1"));
	assert_true(rate_take(&rt, 1000, "10.0.0.2"));
	assert_false(rate_take(&rt, 1400, "10.0.0.1"));   /* 0.8 of a token */
	assert_true(rate_take(&rt, 1500, "10.0.0.1"));    /* 1.0 */
	assert_false(rate_take(&rt, 1500, "10.0.0.1"));
	assert_true(rate_take(&rt, 60000, "10.0.0.1"));   /* refilled, capped at burst */
	assert_true(rate_take(&rt, 60000, "10.0.0.1"));
	assert_true(rate_take(&rt, 60000, "10.0.0.1"));
	assert_false(rate_take(&rt, 60000, "10.0.0.1"));
	for (int i = 0; i < 5 * RATE_SLOTS; i++) {
		snprintf(peer, sizeof(peer), "192.0.2.%d/%d", i % 250, i);
		assert_true(rate_take(&rt, 70000 + (uint64_t)i, peer));
	}
}

static void test_page(void **state)
{
	struct page b = { 0 };

	(void)state;
	page_puts(&b, "<p>");
	page_html(&b, "a<b & \"c\" 'd'\ne", true);
	page_printf(&b, "%d", 42);
	assert_string_equal(b.p, "<p>a&lt;b &amp; &quot;c&quot; &#39;d&#39;<br>\ne42");
	page_free(&b);
	assert_null(b.p);
}

static void test_urlenc(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(web_urlenc("a+b/c=d~_.-", out, sizeof(out)), 17);
	assert_string_equal(out, "a%2Bb%2Fc%3Dd~_.-");
	assert_int_equal(web_urlenc("aaaa", out, 4), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_form), cmocka_unit_test(test_media_type),
		cmocka_unit_test(test_token), cmocka_unit_test(test_consume),
		cmocka_unit_test(test_public_url), cmocka_unit_test(test_urlenc),
		cmocka_unit_test(test_rate), cmocka_unit_test(test_page),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
