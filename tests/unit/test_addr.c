/* Unit tests for addr: multiserver addresses (protocol.md §6). Keys are
 * alice and bob of protocol.md §3.4; TUNNEL_README is the ssb-tunnel
 * README example (portal = bob, target = alice). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

#define ALICE_ID "@1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXasQ=.ed25519"
#define ALICE_KEY "1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXasQ="
#define BOB_ID "@7MG1hyfz8SsxlIgansud4LKM57IHIw2Okw/hvOdeJWw=.ed25519"
#define BOB_KEY "7MG1hyfz8SsxlIgansud4LKM57IHIw2Okw/hvOdeJWw="
#define TUNNEL_README "tunnel:" BOB_ID ":" ALICE_ID "~shs:" ALICE_KEY
#define ROOM_SEED "SSB+Room+PSK3TLYC2T86EHQCUHBUHASCASE18JBV24="

static const uint8_t alice_pk[32] = {
	0xd5, 0xbf, 0x4a, 0x3f, 0xcc, 0xe7, 0x17, 0xb0, 0x38, 0x8b, 0xcc, 0x27, 0x49, 0xeb, 0xc1, 0x48,
	0xad, 0x99, 0x69, 0xb2, 0x3f, 0x45, 0xee, 0x1b, 0x60, 0x5f, 0xd5, 0x87, 0x78, 0x57, 0x6a, 0xc4,
};
static const uint8_t bob_pk[32] = {
	0xec, 0xc1, 0xb5, 0x87, 0x27, 0xf3, 0xf1, 0x2b, 0x31, 0x94, 0x88, 0x1a, 0x9e, 0xcb, 0x9d, 0xe0,
	0xb2, 0x8c, 0xe7, 0xb2, 0x07, 0x23, 0x0d, 0x8e, 0x93, 0x0f, 0xe1, 0xbc, 0xe7, 0x5e, 0x25, 0x6c,
};

static int parse(const char *s, struct addr *a, char *err, size_t errlen)
{
	return addr_parse(s, strlen(s), a, err, errlen);
}

/* parse s, check it prints as want (NULL: as s), and that the printed
 * form parses back to the same struct */
static void roundtrip(const char *s, const char *want, struct addr *a)
{
	struct addr b;
	char out[ADDR_TEXT_MAX + 1], err[160] = "";
	int n;

	if (parse(s, a, err, sizeof(err)) != 0)
		fail_msg("parse \"%s\": %s", s, err);
	n = addr_format(a, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(out));
	assert_string_equal(out, want != NULL ? want : s);
	assert_int_equal(parse(out, &b, err, sizeof(err)), 0);
	assert_int_equal(b.kind, a->kind);
	assert_int_equal(b.port, a->port);
	assert_int_equal(b.has_shs, a->has_shs);
	assert_memory_equal(b.shs_pk, a->shs_pk, 32);
	assert_memory_equal(b.portal, a->portal, 32);
	assert_memory_equal(b.target, a->target, 32);
}

static void test_tunnel_readme(void **state)
{
	struct addr a;

	(void)state;
	roundtrip(TUNNEL_README, NULL, &a);
	assert_int_equal(a.kind, ADDR_TUNNEL);
	assert_memory_equal(a.portal, bob_pk, 32);
	assert_memory_equal(a.target, alice_pk, 32);
	assert_false(a.has_instance);
	assert_true(a.has_shs);
	assert_false(a.has_seed);
	assert_memory_equal(a.shs_pk, alice_pk, 32);

	roundtrip("tunnel:" BOB_ID ":" ALICE_ID ":0~shs:" ALICE_KEY, NULL, &a);
	assert_true(a.has_instance);
	assert_int_equal(a.instance, 0);
	roundtrip("tunnel:" BOB_ID ":" ALICE_ID ":4294967295~shs:" ALICE_KEY, NULL, &a);
	assert_int_equal(a.instance, 4294967295u);
	/* no shs: parsed, the caller decides */
	roundtrip("tunnel:" ALICE_ID ":" BOB_ID ":7", NULL, &a);
	assert_false(a.has_shs);
	assert_int_equal(a.instance, 7);
	assert_memory_equal(a.portal, alice_pk, 32);
}

static void test_net(void **state)
{
	struct addr a;

	(void)state;
	roundtrip("net:192.168.1.5:8008~shs:" BOB_KEY, NULL, &a);
	assert_int_equal(a.kind, ADDR_NET);
	assert_string_equal(a.host, "192.168.1.5");
	assert_int_equal(a.port, 8008);
	assert_true(a.has_shs);
	assert_memory_equal(a.shs_pk, bob_pk, 32);

	roundtrip("net:room.example.org:1~shs:" BOB_KEY, NULL, &a);
	assert_string_equal(a.host, "room.example.org");
	assert_int_equal(a.port, 1);
	roundtrip("net:my_host-1:65535", NULL, &a);
	assert_int_equal(a.port, 65535);
	assert_false(a.has_shs);

	/* IPv6 unbracketed; the last field is the port */
	roundtrip("net:fe80::1:8008~shs:" BOB_KEY, NULL, &a);
	assert_string_equal(a.host, "fe80::1");
	assert_int_equal(a.port, 8008);
	roundtrip("net:::1:8008~shs:" BOB_KEY, NULL, &a);
	assert_string_equal(a.host, "::1");
	roundtrip("net:2001:db8::ffff:192.0.2.1:443", NULL, &a);
	assert_string_equal(a.host, "2001:db8::ffff:192.0.2.1");
	/* the zone is kept for dialling and printed back as it came */
	roundtrip("net:fe80::1%eth0:8008~shs:" BOB_KEY, NULL, &a);
	assert_string_equal(a.host, "fe80::1%eth0");
	roundtrip("net:::1%0:8289", NULL, &a);
	assert_string_equal(a.host, "::1%0");

	/* empty host means localhost */
	roundtrip("net::8008~shs:" BOB_KEY, "net:localhost:8008~shs:" BOB_KEY, &a);
	assert_string_equal(a.host, "localhost");
	/* leading zeros are still a number */
	roundtrip("net:h:08008", "net:h:8008", &a);
	assert_int_equal(a.port, 8008);
}

static void test_shs_seed(void **state)
{
	struct addr a;

	(void)state;
	roundtrip("net:h:8008~shs:" BOB_KEY ":" ALICE_KEY, NULL, &a);
	assert_true(a.has_seed);
	assert_memory_equal(a.shs_seed, alice_pk, 32);
	/* Room 1.0 open invite: the address plus a constant fake seed */
	roundtrip("net:room.example.org:8008~shs:" BOB_KEY ":" ROOM_SEED, NULL, &a);
	assert_true(a.has_seed);
}

static void test_escapes(void **state)
{
	struct addr a;
	char err[160];

	(void)state;
	/* "!:" is a literal ':' inside one data field: same host */
	roundtrip("net:fe80!:!:1:8008~shs:" BOB_KEY, "net:fe80::1:8008~shs:" BOB_KEY, &a);
	assert_string_equal(a.host, "fe80::1");
	/* escaped specials are data, so they never separate */
	assert_int_equal(parse("unix:/tmp/a!~b!;c!!d!:e~noauth", &a, err, sizeof(err)), 0);
	assert_int_equal(a.kind, ADDR_OTHER);
	assert_string_equal(a.other, "unix");
	/* but a host containing them is not a host */
	assert_int_equal(parse("net:a!~b:80", &a, err, sizeof(err)), -EINVAL);
	assert_int_equal(parse("net:a!!b:80", &a, err, sizeof(err)), -EINVAL);
	/* '!' must escape one of ! : ; ~ */
	assert_int_equal(parse("net:a!b:80", &a, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bad '!' escape at offset 5"));
	assert_int_equal(parse("net:ab:80!", &a, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "escape"));
}

static void test_other(void **state)
{
	struct addr a;
	char err[160], out[64];

	(void)state;
	assert_int_equal(parse("onion:abcdef.onion:8008~shs:" BOB_KEY, &a, err, sizeof(err)), 0);
	assert_int_equal(a.kind, ADDR_OTHER);
	assert_string_equal(a.other, "onion");
	assert_true(a.has_shs);
	assert_memory_equal(a.shs_pk, bob_pk, 32);
	assert_int_equal(parse("a-very-long-transport-name:x", &a, err, sizeof(err)), 0);
	assert_string_equal(a.other, "a-very-long-tra");
	/* still checks the shs it carries */
	assert_int_equal(parse("onion:x~shs:" BOB_KEY ".ed25519", &a, err, sizeof(err)), -EINVAL);
	/* ADDR_OTHER does not print */
	assert_int_equal(parse("onion:abcdef.onion:8008~shs:" BOB_KEY, &a, err, sizeof(err)), 0);
	assert_int_equal(addr_format(&a, out, sizeof(out)), -EINVAL);
}

/* ws/wss as multiserver's ws plugin writes them (url.format: the port's
 * ':' unescaped, IPv6 bracketed, 80/443 left out). */
static void test_ws(void **state)
{
	struct addr a;
	char err[160], out[ADDR_TEXT_MAX + 1];
	static const struct {
		const char *s, *msg;
	} bad[] = {
		{ "ws:example.org", "ws://HOST" },
		{ "ws:", "ws://HOST" },
		{ "wss:/x", "wss://HOST" },
		{ "ws://", "no host" },
		{ "ws://:80", "no host" },
		{ "ws://h:0", "port is not" },
		{ "ws://h:65536", "port is not" },
		{ "ws://h:", "port is not" },
		{ "ws://h:8x", "port is not" },
		{ "ws://[::1", "closing ']'" },
		{ "ws://[1.2.3.4]:80", "not an IPv6" },
		{ "ws://[::1]x", "unexpected 'x'" },
		{ "ws://[::g]", "not a host name" },
		{ "ws://a@b", "not a host name" },
		{ "ws://h%eth0", "not a host name" },
		{ "ws://h%25eth0", "not a host name" },        /* zones only on IPv6 */
		/* the ws branch's fuzz_addr crash: accepted, then not printable */
		{ "ws://[::1%0]:8289", "%25ZONE" },
		{ "ws://[::1%2]", "%25ZONE" },
		{ "ws://[::1%25]", "not a host name" },
		{ "ws://[::1%25a%25b]", "not a host name" },
		{ "ws://[::1%25a:b]", "not a host name" },
		{ "ws://h:80~shs:" BOB_KEY "~noauth", "unsupported transform" },
		{ "ws://h/a!~b", "escaped" },
	};

	(void)state;
	roundtrip("ws://example.org:8989~shs:" BOB_KEY, NULL, &a);
	assert_int_equal(a.kind, ADDR_WS);
	assert_false(a.secure);
	assert_string_equal(a.host, "example.org");
	assert_int_equal(a.port, 8989);
	assert_string_equal(a.path, "");
	assert_memory_equal(a.shs_pk, bob_pk, 32);
	/* default ports are implied and left out when printing */
	roundtrip("ws://example.org:80~shs:" BOB_KEY, "ws://example.org~shs:" BOB_KEY, &a);
	assert_int_equal(a.port, 80);
	roundtrip("wss://example.org~shs:" BOB_KEY, NULL, &a);
	assert_true(a.secure);
	assert_int_equal(a.port, 443);
	roundtrip("wss://example.org:80~shs:" BOB_KEY, NULL, &a);
	assert_int_equal(a.port, 80);
	/* IPv6 in brackets, path kept */
	roundtrip("ws://[::1]:8989/room~shs:" BOB_KEY, NULL, &a);
	assert_string_equal(a.host, "::1");
	assert_string_equal(a.path, "/room");
	/* a zone as RFC 6874 writes it in a URL; kept as getaddrinfo wants it */
	roundtrip("ws://[fe80::1%25eth0]:8989/r~shs:" BOB_KEY, NULL, &a);
	assert_string_equal(a.host, "fe80::1%eth0");
	assert_string_equal(a.path, "/r");
	roundtrip("wss://[::1%2525]", NULL, &a);
	assert_string_equal(a.host, "::1%25");
	roundtrip("ws://127.0.0.1/~shs:" BOB_KEY, NULL, &a);
	assert_string_equal(a.path, "/");
	/* a ':' in the path prints back as it came */
	roundtrip("ws://x:8/a.ed25519:@b~shs:" BOB_KEY, NULL, &a);
	assert_string_equal(a.path, "/a.ed25519:@b");
	/* in a list beside net, as a portal announces itself */
	{
		struct addr m[2];
		size_t n;

		assert_int_equal(addr_parse_multi("net:127.0.0.1:8008~shs:" BOB_KEY
		                 ";ws://127.0.0.1:8989~shs:" BOB_KEY,
		                 strlen("net:127.0.0.1:8008~shs:" BOB_KEY
		                 ";ws://127.0.0.1:8989~shs:" BOB_KEY), m, 2, &n,
		                 err, sizeof(err)), 0);
		assert_int_equal(n, 2);
		assert_int_equal(m[1].kind, ADDR_WS);
		assert_int_equal(addr_format_multi(m, 2, out, sizeof(out)),
		                 (int)strlen("net:127.0.0.1:8008~shs:" BOB_KEY
		                 ";ws://127.0.0.1:8989~shs:" BOB_KEY));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse(bad[i].s, &a, err, sizeof(err)), -EINVAL);
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i].s, err, bad[i].msg);
	}
	/* a path that cannot print back is refused by format */
	memset(&a, 0, sizeof(a));
	a.kind = ADDR_WS;
	strcpy(a.host, "h");
	a.port = 80;
	strcpy(a.path, "x");
	assert_int_equal(addr_format(&a, out, sizeof(out)), -EINVAL);
	strcpy(a.path, "/a;b");
	assert_int_equal(addr_format(&a, out, sizeof(out)), -EINVAL);
	strcpy(a.path, "/ok");
	assert_int_equal(addr_format(&a, out, sizeof(out)), (int)strlen("ws://h/ok"));
	assert_string_equal(out, "ws://h/ok");
}

static void test_rejects(void **state)
{
	static const struct {
		const char *s, *msg;
	} bad[] = {
		{ "", "empty" },
		{ "net:h:0", "port is not a number 1..65535" },
		{ "net:h:65536", "port is not a number 1..65535" },
		{ "net:h:99999999999999999999", "port is not a number 1..65535" },
		{ "net:h:80a", "port is not a number 1..65535" },
		{ "net:h:+80", "port is not a number 1..65535" },
		{ "net:h:-1", "port is not a number 1..65535" },
		{ "net:h:", "port is not a number 1..65535" },
		{ "net:8008", "needs a host and a port" },
		{ "net", "needs a host and a port" },
		{ "net:a:b:80", "host is not" },             /* neither a name nor IPv6 */
		{ "net:::80", "host is not" },
		{ "net:fe80::1%:80", "host is not" },
		{ "net:fe80::1%a%b:80", "host is not" },
		{ "net:h%eth0:80", "host is not" },          /* zones only on IPv6 */
		{ "net:[::1]:80", "host is not" },
		{ "net:a/b:80", "host is not" },
		{ "net:a@b:80", "host is not" },
		{ "net:h:80~shs:" BOB_KEY ".ed25519", "without '@' or '.ed25519'" },
		{ "net:h:80~shs:@" BOB_KEY ".ed25519", "without '@' or '.ed25519'" },
		{ "net:h:80~shs:@" BOB_KEY, "without '@' or '.ed25519'" },
		{ "net:h:80~shs:7MG1hyfz8SsxlIgansud4LKM57IHIw2Okw/hvOdeJWw", "shs key is not 32 bytes" },
		{ "net:h:80~shs:7MG1hyfz8SsxlIgansud4LKM57IHIw2Okw/hvOdeJWx=", "shs key is not 32 bytes" },
		{ "net:h:80~shs:7MG1hyfz8SsxlIgansud4LKM57IHIw2Okw/hvOdeJWwAAA==", "shs key is not 32 bytes" },
		{ "net:h:80~shs:AAAA", "shs key is not 32 bytes" },
		{ "net:h:80~shs:", "shs key is not 32 bytes" },
		{ "net:h:80~shs", "shs transform is shs:KEY[:SEED]" },
		{ "net:h:80~shs:" BOB_KEY ":" ALICE_KEY ":x", "shs transform is shs:KEY[:SEED]" },
		{ "net:h:80~shs:" BOB_KEY ":AAAA", "shs seed is not 32 bytes" },
		{ "net:h:80~shs:" BOB_KEY ":" ALICE_ID, "shs seed must be bare base64" },
		{ "net:h:80~shs:" BOB_KEY "~shs:" BOB_KEY, "more than one shs" },
		{ "net:h:80~noauth", "unsupported transform 'noauth'" },
		{ "net:h:80~shs:" BOB_KEY "~", "protocol 3: name" },
		{ "net:h:80~~shs:" BOB_KEY, "protocol 2: name" },
		{ "~shs:" BOB_KEY, "protocol 1: name" },
		{ "n:h:80", "protocol 1: name" },
		{ "Net:h:80", "protocol 1: name" },
		{ "9p:h:80", "protocol 1: name" },
		{ "net :h:80", "invalid character 0x20 at offset 3" },
		{ "net:h:80\n", "invalid character 0x0a" },
		{ "net:h\x7f:80", "invalid character 0x7f" },
		{ "net:h\xc3\xa9:80", "invalid character 0xc3" },
		{ "net:h:80;net:h:81", "unexpected ';'" },
		{ "tunnel:" BOB_ID, "tunnel:@PORTAL:@TARGET[:INSTANCE]" },
		{ "tunnel:" BOB_ID ":" ALICE_ID ":1:2", "tunnel:@PORTAL:@TARGET[:INSTANCE]" },
		{ "tunnel:" BOB_KEY ":" ALICE_ID, "tunnel portal is not a feed id" },
		{ "tunnel:" BOB_ID ":" ALICE_KEY, "tunnel target is not a feed id" },
		{ "tunnel:" BOB_ID ".ed25519:" ALICE_ID, "tunnel portal is not a feed id" },
		{ "tunnel:" BOB_ID ":@1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXasR=.ed25519",
		  "tunnel target is not a feed id" },
		{ "tunnel:" BOB_ID ":@1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXasQ=.sha256",
		  "tunnel target is not a feed id" },
		{ "tunnel:" BOB_ID ":" ALICE_ID ":4294967296", "tunnel instance is not a number" },
		{ "tunnel:" BOB_ID ":" ALICE_ID ":-1", "tunnel instance is not a number" },
		{ "tunnel:" BOB_ID ":" ALICE_ID ":", "tunnel instance is not a number" },
		{ "tunnel:" BOB_ID ":" ALICE_ID "~shs:" ALICE_ID, "shs key must be bare base64" },
		{ "tunnel:" BOB_ID ":" ALICE_ID "~noauth", "unsupported transform" },
	};
	struct addr a;
	char err[160];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (parse(bad[i].s, &a, err, sizeof(err)) != -EINVAL)
			fail_msg("case %zu \"%s\" accepted", i, bad[i].s);
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
	}
	/* err may be NULL */
	assert_int_equal(parse("net:h:0", &a, NULL, 0), -EINVAL);
	/* length is what counts, not a NUL */
	assert_int_equal(addr_parse("net:h:80", 7, &a, err, sizeof(err)), 0);
	assert_int_equal(a.port, 8);
	assert_int_equal(addr_parse("net:h:8\0" "0", 9, &a, err, sizeof(err)), -EINVAL);
}

static void test_lengths(void **state)
{
	struct addr a;
	char s[ADDR_TEXT_MAX + 64], err[160];
	int n;

	(void)state;
	/* host of exactly 255 characters, then 256 */
	n = snprintf(s, sizeof(s), "net:");
	memset(s + n, 'h', 255);
	snprintf(s + n + 255, sizeof(s) - (size_t)n - 255, ":80");
	assert_int_equal(parse(s, &a, err, sizeof(err)), 0);
	assert_int_equal(strlen(a.host), 255);
	memset(s + n, 'h', 256);
	snprintf(s + n + 256, sizeof(s) - (size_t)n - 256, ":80");
	assert_int_equal(parse(s, &a, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "host is longer than 255"));
	/* long via many IPv6-ish fields too */
	n = snprintf(s, sizeof(s), "net:");
	for (int i = 0; i < 200; i++)
		n += snprintf(s + n, sizeof(s) - (size_t)n, "::");
	snprintf(s + n, sizeof(s) - (size_t)n, ":80");
	assert_int_equal(parse(s, &a, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "host is longer than 255"));

	/* the whole address: 1024 accepted (as grammar), 1025 not */
	memset(s, 'x', sizeof(s));
	memcpy(s, "zz:", 3);
	assert_int_equal(addr_parse(s, ADDR_TEXT_MAX, &a, err, sizeof(err)), 0);
	assert_int_equal(addr_parse(s, ADDR_TEXT_MAX + 1, &a, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "longer than 1024"));
	/* the most tokens a maximal address can hold */
	memset(s, ':', sizeof(s));
	memcpy(s, "zz", 2);
	assert_int_equal(addr_parse(s, ADDR_TEXT_MAX, &a, err, sizeof(err)), 0);
	for (int i = 0; i + 3 <= ADDR_TEXT_MAX; i += 3)
		memcpy(s + i, "ab~", 3);
	s[ADDR_TEXT_MAX - 2] = 'c';
	s[ADDR_TEXT_MAX - 1] = 'd';
	assert_int_equal(addr_parse(s, ADDR_TEXT_MAX, &a, err, sizeof(err)), 0);
	assert_string_equal(a.other, "ab");
	s[ADDR_TEXT_MAX - 2] = '~';     /* last protocol name "d": too short */
	assert_int_equal(addr_parse(s, ADDR_TEXT_MAX, &a, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "protocol 342: name"));
}

static void test_multi(void **state)
{
	const char *s = "net:10.0.0.1:8008~shs:" BOB_KEY ";" TUNNEL_README
	                ";ws://x:80~shs:" BOB_KEY ";unix:/r!;s~noauth";
	struct addr a[4];
	size_t n = 99;
	char err[200], out[512];

	(void)state;
	assert_int_equal(addr_parse_multi(s, strlen(s), a, 4, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 4);
	assert_int_equal(a[0].kind, ADDR_NET);
	assert_int_equal(a[1].kind, ADDR_TUNNEL);
	assert_int_equal(a[2].kind, ADDR_WS);
	assert_int_equal(a[3].kind, ADDR_OTHER);
	assert_string_equal(a[3].other, "unix");
	assert_int_equal(addr_format_multi(a, 2, out, sizeof(out)),
	                 (int)strlen("net:10.0.0.1:8008~shs:" BOB_KEY ";" TUNNEL_README));
	assert_string_equal(out, "net:10.0.0.1:8008~shs:" BOB_KEY ";" TUNNEL_README);
	assert_int_equal(addr_format_multi(a, 3, out, sizeof(out)),
	                 (int)strlen("net:10.0.0.1:8008~shs:" BOB_KEY ";" TUNNEL_README
	                             ";ws://x~shs:" BOB_KEY));
	assert_int_equal(addr_format_multi(a, 4, out, sizeof(out)), -EINVAL);
	assert_int_equal(addr_format_multi(a, 0, out, sizeof(out)), 0);
	assert_string_equal(out, "");

	/* one address is a list of one */
	assert_int_equal(addr_parse_multi(TUNNEL_README, strlen(TUNNEL_README), a, 1, &n, err,
	                                  sizeof(err)), 0);
	assert_int_equal(n, 1);

	/* too many */
	assert_int_equal(addr_parse_multi(s, strlen(s), a, 3, &n, err, sizeof(err)), -E2BIG);
	assert_int_equal(n, 0);
	assert_non_null(strstr(err, "more than 3"));
	assert_int_equal(addr_parse_multi(s, strlen(s), a, 0, &n, err, sizeof(err)), -E2BIG);

	/* one bad alternative fails the list and is named */
	s = "net:h:80;net:h:0";
	assert_int_equal(addr_parse_multi(s, strlen(s), a, 4, &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(n, 0);
	assert_non_null(strstr(err, "alternative 2: port is not a number"));
	s = "net:h:80;;net:h:81";
	assert_int_equal(addr_parse_multi(s, strlen(s), a, 4, &n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "alternative 2: empty"));
	s = "net:h:80;";
	assert_int_equal(addr_parse_multi(s, strlen(s), a, 4, &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(addr_parse_multi("", 0, a, 4, &n, err, sizeof(err)), -EINVAL);
	s = "net:h:80!";
	assert_int_equal(addr_parse_multi(s, strlen(s), a, 4, &n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "escape"));
}

static void test_format(void **state)
{
	struct addr a;
	char out[ADDR_TEXT_MAX + 1], err[160];
	size_t len = strlen(TUNNEL_README);

	(void)state;
	assert_int_equal(parse(TUNNEL_README, &a, err, sizeof(err)), 0);
	/* exact fit needs room for the NUL */
	assert_int_equal(addr_format(&a, out, len), -ENOSPC);
	assert_int_equal(addr_format(&a, out, 1), -ENOSPC);
	assert_int_equal(addr_format(&a, out, 0), -ENOSPC);
	assert_int_equal(addr_format(&a, out, len + 1), (int)len);
	assert_string_equal(out, TUNNEL_README);

	/* a struct built by hand */
	memset(&a, 0, sizeof(a));
	a.kind = ADDR_NET;
	strcpy(a.host, "portal.example");
	a.port = 8008;
	a.has_shs = true;
	memcpy(a.shs_pk, bob_pk, 32);
	assert_int_equal(addr_format(&a, out, sizeof(out)),
	                 (int)strlen("net:portal.example:8008~shs:" BOB_KEY));
	assert_string_equal(out, "net:portal.example:8008~shs:" BOB_KEY);
	/* invalid structs do not print */
	a.port = 0;
	assert_int_equal(addr_format(&a, out, sizeof(out)), -EINVAL);
	a.port = 1;
	strcpy(a.host, "a;b");
	assert_int_equal(addr_format(&a, out, sizeof(out)), -EINVAL);
	a.host[0] = '\0';
	assert_int_equal(addr_format(&a, out, sizeof(out)), -EINVAL);
	memset(a.host, 'a', sizeof(a.host));    /* no NUL */
	assert_int_equal(addr_format(&a, out, sizeof(out)), -EINVAL);
	a.kind = (enum addr_kind)42;
	assert_int_equal(addr_format(&a, out, sizeof(out)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tunnel_readme),
		cmocka_unit_test(test_net),
		cmocka_unit_test(test_shs_seed),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_other),
		cmocka_unit_test(test_ws),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_multi),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
