/* ws adapter tests: a client and a server context back to back in memory
 * (wslay on both sides), and hand-made peer frames for the close codes
 * the adapter owes: 1003 text, 1009 too big, 1002 unmasked, 1001 dead. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ws.h"

struct end {
	uint8_t out[1 << 21];       /* what this end wrote to its socket */
	size_t outlen;
	long room;                  /* socket space left; < 0 = unlimited */
	uint8_t got[1 << 21];       /* binary payload received */
	size_t gotlen, nmsg;
	bool finished;
	uint16_t code;
	char why[64];
};

static long e_send(void *arg, const uint8_t *p, size_t len)
{
	struct end *e = arg;

	if (e->room == 0)
		return -EAGAIN;
	if (e->room > 0 && len > (size_t)e->room)
		len = (size_t)e->room;
	if (e->room > 0)
		e->room -= (long)len;
	assert_true(e->outlen + len <= sizeof(e->out));
	memcpy(e->out + e->outlen, p, len);
	e->outlen += len;
	return (long)len;
}

static void e_message(void *arg, const uint8_t *p, size_t len)
{
	struct end *e = arg;

	assert_true(e->gotlen + len <= sizeof(e->got));
	memcpy(e->got + e->gotlen, p, len);
	e->gotlen += len;
	e->nmsg++;
}

static void e_finished(void *arg, uint16_t code, const char *why)
{
	struct end *e = arg;

	assert_false(e->finished);
	e->finished = true;
	e->code = code;
	snprintf(e->why, sizeof(e->why), "%s", why);
}

static void e_random(void *arg, uint8_t *p, size_t len)
{
	(void)arg;
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(0x5a + i);
}

static const struct ws_ops ops = { e_send, e_message, e_finished, e_random };

/* Moves what a wrote into b, and back, until both are quiet. */
static void pump(struct ws *a, struct end *ea, struct ws *b, struct end *eb, uint64_t now)
{
	for (int round = 0; round < 64 && (ea->outlen > 0 || eb->outlen > 0); round++) {
		uint8_t *buf = malloc(1 << 21);
		size_t n;

		assert_non_null(buf);
		n = ea->outlen;
		memcpy(buf, ea->out, n);
		ea->outlen = 0;
		if (!eb->finished)
			(void)ws_feed(b, buf, n, now);
		n = eb->outlen;
		memcpy(buf, eb->out, n);
		eb->outlen = 0;
		if (!ea->finished)
			(void)ws_feed(a, buf, n, now);
		free(buf);
	}
}

static struct end *end_new(void)
{
	struct end *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	e->room = -1;
	return e;
}

static void test_roundtrip(void **state)
{
	struct end *ec = end_new(), *es = end_new();
	struct ws *c = ws_new(true, 0, &ops, ec, 0), *s = ws_new(false, 0, &ops, es, 0);
	uint8_t *big = malloc(300000);

	(void)state;
	assert_non_null(big);
	for (size_t i = 0; i < 300000; i++)
		big[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(ws_send(c, big, 1), 0);
	/* a client masks: the MASK bit of the first frame is set */
	assert_true(ec->outlen >= 2 && (ec->out[1] & 0x80) != 0);
	assert_int_equal(ws_send(c, big + 1, 125), 0);
	assert_int_equal(ws_send(c, big + 126, 70000), 0);
	assert_int_equal(ws_send(c, big + 70126, 300000 - 70126), 0);
	pump(c, ec, s, es, 1);
	assert_int_equal(es->nmsg, 4);
	assert_int_equal(es->gotlen, 300000);
	assert_memory_equal(es->got, big, 300000);
	/* overhead: 2 + 4 (mask) per small frame, more for long lengths */
	assert_int_equal(ws_payload_bytes(c), 300000);
	assert_true(ws_wire_bytes(c) > 300000 && ws_wire_bytes(c) < 300000 + 64);

	/* server to client, the socket taking 1000 bytes at a time */
	es->room = 1000;
	assert_int_equal(ws_send(s, big, 5000), 0);
	assert_true(ws_queued(s) > 0);
	while (ws_queued(s) > 0) {
		pump(c, ec, s, es, 2);
		es->room = 1000;
		assert_int_equal(ws_flush(s), 0);
	}
	pump(c, ec, s, es, 2);
	assert_int_equal(ec->gotlen, 5000);
	assert_memory_equal(ec->got, big, 5000);
	/* a server does not mask */
	es->room = -1;

	/* clean close both ways */
	assert_int_equal(ws_close(c, 1000, "bye"), 0);
	pump(c, ec, s, es, 3);
	assert_true(ec->finished && es->finished);
	assert_int_equal(ec->code, 1000);
	assert_int_equal(es->code, 1000);
	assert_int_equal(ws_send(c, big, 1), -EPIPE);
	ws_free(c);
	ws_free(s);
	free(big);
	free(ec);
	free(es);
}

/* A masked client frame: FIN + opcode, MASK + len (< 126), key, payload. */
static size_t frame(uint8_t *out, uint8_t op, bool fin, bool mask, const char *payload)
{
	size_t len = strlen(payload), n = 0;
	static const uint8_t key[4] = { 1, 2, 3, 4 };

	out[n++] = (uint8_t)((fin ? 0x80 : 0) | op);
	out[n++] = (uint8_t)((mask ? 0x80 : 0) | len);
	if (mask) {
		memcpy(out + n, key, 4);
		n += 4;
	}
	for (size_t i = 0; i < len; i++)
		out[n++] = (uint8_t)(payload[i] ^ (mask ? key[i % 4] : 0));
	return n;
}

/* The close code in the first close frame of a server's output. */
static uint16_t close_code(const struct end *e)
{
	for (size_t i = 0; i + 4 <= e->outlen;) {
		uint8_t op = e->out[i] & 0x0f, len = e->out[i + 1] & 0x7f;

		if (op == 0x8)
			return (uint16_t)(e->out[i + 2] << 8 | e->out[i + 3]);
		i += 2 + len;
	}
	return 0;
}

static void bad_peer(const uint8_t *in, size_t n, size_t max_msg, uint16_t want)
{
	struct end *es = end_new();
	struct ws *s = ws_new(false, max_msg, &ops, es, 0);

	(void)ws_feed(s, in, n, 1);
	assert_int_equal(close_code(es), want);
	assert_int_equal(es->nmsg, 0);
	/* the peer's close answer (or its silence) ends it */
	{
		uint8_t cl[16];
		size_t m = frame(cl, 0x8, true, true, "");

		(void)ws_feed(s, cl, m, 2);
		(void)ws_tick(s, 2 + WS_DEAD_MS);
	}
	assert_true(es->finished);
	assert_int_equal(es->code, want);
	ws_free(s);
	free(es);
}

static void test_bad_frames(void **state)
{
	uint8_t in[4096];
	size_t n;

	(void)state;
	n = frame(in, 0x1, true, true, "hello");
	bad_peer(in, n, 0, 1003);
	n = frame(in, 0x2, true, false, "abc");
	bad_peer(in, n, 0, 1002);
	n = frame(in, 0x2, true, true, "this is longer than sixteen");
	bad_peer(in, n, 16, 1009);
	/* a fragment storm past the limit: 1009, not unbounded buffering */
	n = frame(in, 0x2, false, true, "ab");
	for (int i = 0; i < 100; i++)
		n += frame(in + n, 0x0, false, true, "cd");
	bad_peer(in, n, 64, 1009);
	/* a continuation without a start */
	n = frame(in, 0x0, true, true, "x");
	bad_peer(in, n, 0, 1002);
	/* reserved opcode */
	n = frame(in, 0x3, true, true, "x");
	bad_peer(in, n, 0, 1002);
}

static void test_keepalive(void **state)
{
	struct end *ec = end_new(), *es = end_new();
	struct ws *c = ws_new(true, 0, &ops, ec, 0), *s = ws_new(false, 0, &ops, es, 0);

	(void)state;
	assert_int_equal(ws_tick(s, WS_PING_MS - 1), 0);
	assert_int_equal(es->outlen, 0);
	assert_int_equal(ws_tick(s, WS_PING_MS), 0);
	assert_true(es->outlen == 2 && (es->out[0] & 0x0f) == 0x9);
	pump(c, ec, s, es, WS_PING_MS + 10);     /* the client pongs */
	assert_int_equal(ws_tick(s, WS_PING_MS + 10 + WS_DEAD_MS - 1), 0);
	assert_false(es->finished);
	/* silence from then on: closed 1001 at 60 s */
	es->outlen = 0;
	assert_int_equal(ws_tick(s, WS_PING_MS + 10 + WS_DEAD_MS), -EPIPE);
	assert_true(es->finished);
	assert_int_equal(es->code, 1001);
	assert_int_equal(close_code(es), 1001);
	ws_free(c);
	ws_free(s);
	free(ec);
	free(es);
}

/* RFC 6455 §1.3's example, then responses a client must refuse. */
static void test_handshake(void **state)
{
	static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
	static const uint8_t nonce[16] = "the sample nonce";
	char acc[WS_ACCEPT_LEN + 1], k[WS_KEY_LEN + 1], req[512], err[128];
	const char *ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\n"
	                 "Connection: keep-alive, Upgrade\r\n"
	                 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x82\x01x";
	static const struct {
		const char *resp, *msg;
	} bad[] = {
		{ "HTTP/1.1 400 Bad Request\r\n\r\n", "refused: \"HTTP/1.1 400 Bad Request\"" },
		{ "HTTP/1.1 101 x\r\nConnection: upgrade\r\nSec-WebSocket-Accept: "
		  "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n", "no Upgrade" },
		{ "HTTP/1.1 101 x\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: "
		  "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n", "no Connection" },
		{ "HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
		  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOp=\r\n\r\n", "wrong Sec-WebSocket-Accept" },
		{ "HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
		  "wrong Sec-WebSocket-Accept" },
	};
	int n;

	(void)state;
	assert_int_equal(ws_accept_key(key, strlen(key), acc), 0);
	assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	ws_client_key(nonce, k);
	assert_string_equal(k, key);
	n = ws_client_request(req, sizeof(req), "::1", 8989, "", key);
	assert_true(n > 0);
	assert_string_equal(req, "GET / HTTP/1.1\r\nHost: [::1]:8989\r\nUpgrade: websocket\r\n"
	                         "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	                         "Sec-WebSocket-Version: 13\r\n\r\n");
	assert_int_equal(ws_client_request(req, 20, "h", 80, "/", key), -ENOSPC);
	/* complete head: its length, the frame after it left alone */
	assert_int_equal(ws_client_response((const uint8_t *)ok, strlen(ok), key, err, sizeof(err)),
	                 (int)strlen(ok) - 3);
	/* incomplete: wait */
	assert_int_equal(ws_client_response((const uint8_t *)ok, 40, key, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(ws_client_response((const uint8_t *)bad[i].resp, strlen(bad[i].resp),
		                                    key, err, sizeof(err)), -EPROTO);
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("%zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
	}
	{
		uint8_t *big = malloc(9000);

		assert_non_null(big);
		memset(big, 'a', 9000);
		assert_int_equal(ws_client_response(big, 9000, key, err, sizeof(err)), -E2BIG);
		free(big);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_bad_frames),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_handshake),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
