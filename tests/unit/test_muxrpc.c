/* Unit tests for muxrpc: two sessions wired back to back through the
 * packet-stream codec, plus raw packets and byte vectors (protocol.md §5.8). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "muxrpc.h"
#include "psc.h"

/* ---- a wire: what one session sent, as bytes and as a packet log ---- */

#define LOG_MAX 256

struct sent {
	uint8_t flags;
	int32_t req;
	uint32_t len;
	char body[160];  /* first bytes, NUL-terminated */
};

struct wire {
	uint8_t *p;
	size_t len, cap;
	int fail;        /* when nonzero, send returns it */
	size_t npkt;     /* packets sent so far (all of them) */
	size_t nend;     /* of which had the END flag */
	struct sent log[LOG_MAX];
};

static int wire_send(void *io, const uint8_t hdr[PSC_HEADER_BYTES], const uint8_t *body, size_t len)
{
	struct wire *w = io;
	struct sent *s;

	if (w->fail)
		return w->fail;
	if (w->len + PSC_HEADER_BYTES + len > w->cap) {
		w->cap = (w->len + PSC_HEADER_BYTES + len) * 2;
		w->p = realloc(w->p, w->cap);
		assert_non_null(w->p);
	}
	memcpy(w->p + w->len, hdr, PSC_HEADER_BYTES);
	if (len > 0)
		memcpy(w->p + w->len + PSC_HEADER_BYTES, body, len);
	w->len += PSC_HEADER_BYTES + len;
	if (w->npkt < LOG_MAX) {
		s = &w->log[w->npkt];
		psc_decode_header(hdr, &s->flags, &s->len, &s->req);
		if (len > 0)
			memcpy(s->body, body, len < sizeof(s->body) - 1 ? len : sizeof(s->body) - 1);
		s->body[len < sizeof(s->body) - 1 ? len : sizeof(s->body) - 1] = '\0';
	}
	w->npkt++;
	if (hdr[0] & PSC_FLAG_END)
		w->nend++;
	return 0;
}

/* Packets in w's log with these flags and req. */
static size_t count_sent(const struct wire *w, uint8_t flags, int32_t req)
{
	size_t n = 0;

	for (size_t i = 0; i < w->npkt && i < LOG_MAX; i++)
		if (w->log[i].flags == flags && w->log[i].req == req)
			n++;
	return n;
}

static const struct sent *last_sent(const struct wire *w)
{
	assert_true(w->npkt > 0 && w->npkt <= LOG_MAX);
	return &w->log[w->npkt - 1];
}

struct peer {
	struct mrpc *m;
	struct wire w;
	struct psc_dec dec;
	int last_rc;
};

static void peer_init(struct peer *p, const struct mrpc_api *api)
{
	struct mrpc_cfg cfg = { .api = api, .send = wire_send, .io = &p->w };

	memset(p, 0, sizeof(*p));
	psc_dec_init(&p->dec, 0);
	p->m = mrpc_new(&cfg);
	assert_non_null(p->m);
}

static void peer_done(struct peer *p)
{
	mrpc_free(p->m);
	psc_dec_free(&p->dec);
	free(p->w.p);
}

/* Delivers the bytes `from` wrote to `to`'s session; returns packets fed. */
static int deliver(struct peer *from, struct peer *to)
{
	uint8_t *buf = from->w.p;
	size_t len = from->w.len, off = 0, used;
	struct psc_packet pkt;
	enum psc_result r;
	int n = 0;

	/* the session may send while we feed it: take the buffer first */
	from->w.p = NULL;
	from->w.len = from->w.cap = 0;
	while (off < len) {
		r = psc_dec_feed(&to->dec, buf + off, len - off, &used, &pkt);
		off += used;
		if (r == PSC_PACKET) {
			to->last_rc = mrpc_on_packet(to->m, &pkt);
			n++;
		} else if (r == PSC_GOODBYE) {
			mrpc_on_goodbye(to->m);
			break;
		} else {
			assert_int_equal(r, PSC_AGAIN);
		}
	}
	free(buf);
	return n;
}

/* Runs both directions until neither side has anything to say. */
static void pump(struct peer *a, struct peer *b)
{
	for (int i = 0; i < 1000; i++)
		if (deliver(a, b) + deliver(b, a) == 0 && a->w.len == 0 && b->w.len == 0)
			return;
	fail_msg("pump did not settle");
}

/* Feeds one raw packet (body copied) straight into a session. */
static int feed(struct peer *p, uint8_t flags, int32_t req, const char *body, size_t len)
{
	struct psc_packet pkt = { .flags = flags, .req = req, .len = (uint32_t)len };

	pkt.body = malloc(len + 1);
	assert_non_null(pkt.body);
	memcpy(pkt.body, body, len);
	pkt.body[len] = '\0';
	return mrpc_on_packet(p->m, &pkt);
}

static int feeds(struct peer *p, uint8_t flags, int32_t req, const char *body)
{
	return feed(p, flags, req, body, strlen(body));
}

/* ---- a recording client-side callback set ---- */

struct rec {
	int data, end, freed;
	char last[256];
	char err[256];
	bool got_err;
	struct mrpc_stream *s;
	/* actions from callbacks */
	bool end_in_on_data;
	struct mrpc_stream *end_other;  /* on_end: try ending this one too */
	int other_rc;
	int send_rc_in_end;
};

static void rec_data(struct mrpc_stream *s, struct psc_packet *pkt, void *ud)
{
	struct rec *r = ud;
	size_t n = pkt->len < sizeof(r->last) - 1 ? pkt->len : sizeof(r->last) - 1;

	r->data++;
	memcpy(r->last, pkt->body, n);
	r->last[n] = '\0';
	if (r->end_in_on_data)
		mrpc_stream_end(s, NULL);
}

static void rec_end(struct mrpc_stream *s, const char *err, void *ud)
{
	struct rec *r = ud;

	r->end++;
	r->got_err = err != NULL;
	snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
	if (r->end_other != NULL)
		r->other_rc = mrpc_stream_end(r->end_other, "sibling gone");
	r->send_rc_in_end = mrpc_stream_send(s, PSC_BINARY, (const uint8_t *)"x", 1);
}

static void rec_free(struct mrpc_stream *s, void *ud)
{
	struct rec *r = ud;

	r->freed++;
	/* ending a stream whose session closed must be a harmless no-op */
	if (mrpc_stream_kind(s) != MRPC_ASYNC)
		assert_int_equal(mrpc_stream_end(s, NULL), -EPIPE);
}

static const struct mrpc_stream_cbs rec_cbs = { rec_data, rec_end, rec_free };

/* ---- server-side methods ---- */

static int count_items = 3;

/* test.echo(x) -> x */
static void h_echo(struct mrpc_stream *call, json_t *args, void *ud)
{
	json_t *v = json_array_get(args, 0);

	mrpc_reply(call, v ? json_incref(v) : NULL);
}

/* test.fail() -> error "boom" */
static void h_fail(struct mrpc_stream *call, json_t *args, void *ud)
{
	mrpc_reply_error(call, "boom");
}

/* test.count(): source of count_items numbers, then END */
static void h_count(struct mrpc_stream *s, json_t *args, void *ud)
{
	for (int i = 0; i < count_items; i++)
		assert_int_equal(mrpc_stream_send_json(s, json_integer(i)), 0);
	assert_int_equal(mrpc_stream_end(s, NULL), 0);
	assert_int_equal(mrpc_stream_end(s, NULL), -EPIPE);
	assert_int_equal(mrpc_stream_send_json(s, json_integer(9)), -EPIPE);
}

/* test.collect(): sink; records items into the rec given as api ud */
static void h_collect(struct mrpc_stream *s, json_t *args, void *ud)
{
	struct rec *r = ud;

	r->s = s;
	mrpc_stream_set_cbs(s, &rec_cbs, r);
}

/* test.echoes(): duplex echoing every item back; ud is a rec */
static void echo_data(struct mrpc_stream *s, struct psc_packet *pkt, void *ud)
{
	struct rec *r = ud;

	r->data++;
	mrpc_stream_send(s, psc_type(pkt), pkt->body, pkt->len);
}

static const struct mrpc_stream_cbs echo_cbs = { echo_data, rec_end, rec_free };

static void h_echoes(struct mrpc_stream *s, json_t *args, void *ud)
{
	struct rec *r = ud;

	r->s = s;
	mrpc_stream_set_cbs(s, &echo_cbs, r);
}

/* test.hold(): async that never answers by itself; keeps the call in ud */
static void h_hold(struct mrpc_stream *call, json_t *args, void *ud)
{
	struct rec *r = ud;

	r->s = call;
	mrpc_stream_set_cbs(call, &rec_cbs, r);
}

static void h_whoami(struct mrpc_stream *call, json_t *args, void *ud)
{
	mrpc_reply(call, json_pack("{s:s}", "id", "@me"));
}

static struct rec srv;  /* server-side record, reset per test */

static struct mrpc_api *make_api(void)
{
	struct mrpc_api *api = mrpc_api_new();

	assert_non_null(api);
	assert_int_equal(mrpc_api_add(api, "test.echo", MRPC_ASYNC, h_echo, NULL), 0);
	assert_int_equal(mrpc_api_add(api, "test.fail", MRPC_ASYNC, h_fail, NULL), 0);
	assert_int_equal(mrpc_api_add(api, "test.count", MRPC_SOURCE, h_count, NULL), 0);
	assert_int_equal(mrpc_api_add(api, "test.collect", MRPC_SINK, h_collect, &srv), 0);
	assert_int_equal(mrpc_api_add(api, "test.echoes", MRPC_DUPLEX, h_echoes, &srv), 0);
	assert_int_equal(mrpc_api_add(api, "test.hold", MRPC_ASYNC, h_hold, &srv), 0);
	assert_int_equal(mrpc_api_add(api, "whoami", MRPC_ASYNC, h_whoami, NULL), 0);
	return api;
}

struct fx {
	struct mrpc_api *api;
	struct peer a, b;  /* a calls, b serves */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	memset(&srv, 0, sizeof(srv));
	count_items = 3;
	f->api = make_api();
	peer_init(&f->a, NULL);
	peer_init(&f->b, f->api);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	peer_done(&f->a);
	peer_done(&f->b);
	mrpc_api_free(f->api);
	free(f);
	return 0;
}

static void hex(uint8_t *out, const char *h)
{
	for (size_t i = 0; h[2 * i]; i++) {
		unsigned v;

		sscanf(h + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

/* Checks w's bytes are header hex + body text. */
static void assert_wire(const struct wire *w, const char *hdr_hex, const char *body)
{
	uint8_t hdr[PSC_HEADER_BYTES];

	hex(hdr, hdr_hex);
	assert_int_equal(w->len, PSC_HEADER_BYTES + strlen(body));
	assert_memory_equal(w->p, hdr, PSC_HEADER_BYTES);
	assert_memory_equal(w->p + PSC_HEADER_BYTES, body, strlen(body));
}

/* ---- tests ---- */

static void test_request_vectors(void **state)
{
	struct fx *f = *state;
	struct peer p;
	struct mrpc_stream *s;

	/* §5.8: async tunnel.isRoom as req 1 */
	s = mrpc_call(f->a.m, "tunnel.isRoom", NULL, NULL, NULL);
	assert_non_null(s);
	assert_int_equal(mrpc_stream_req(s), 1);
	assert_wire(&f->a.w, "020000002600000001", "{\"name\":[\"tunnel\",\"isRoom\"],\"args\":[]}");

	/* §5.8: duplex tunnel.connect as req 1, key order name, args, type */
	peer_init(&p, NULL);
	s = mrpc_open(p.m, "tunnel.connect", json_pack("[{s:s,s:s}]", "target", "@T", "portal", "@P"),
	              MRPC_DUPLEX, NULL, NULL);
	assert_non_null(s);
	assert_wire(&p.w, "0a0000005400000001",
	            "{\"name\":[\"tunnel\",\"connect\"],\"args\":[{\"target\":\"@T\",\"portal\":\"@P\"}],\"type\":\"duplex\"}");
	/* §5.8: {req:2, stream, end, value:true} from the caller's side */
	free(p.w.p);
	p.w.p = NULL;
	p.w.len = p.w.cap = 0;
	s = mrpc_open(p.m, "a.b", NULL, MRPC_SOURCE, NULL, NULL);
	assert_int_equal(mrpc_stream_req(s), 2);
	free(p.w.p);
	p.w.p = NULL;
	p.w.len = p.w.cap = 0;
	assert_int_equal(mrpc_stream_end(s, NULL), 0);
	assert_wire(&p.w, "0e0000000400000002", "true");
	assert_true(mrpc_stream_local_ended(s));
	assert_false(mrpc_stream_remote_ended(s));
	peer_done(&p);
}

static void test_reply_vectors(void **state)
{
	struct fx *f = *state;
	struct peer *b = &f->b;

	/* §5.8 error object on -3 */
	srv.s = NULL;
	assert_int_equal(feeds(b, 0x02, 3, "{\"name\":[\"test\",\"hold\"],\"args\":[]}"), 0);
	assert_non_null(srv.s);
	assert_int_equal(b->w.len, 0);
	assert_int_equal(mrpc_reply_error(srv.s, "intentional"), 0);
	assert_wire(&b->w, "0600000033fffffffd", "{\"message\":\"intentional\",\"name\":\"Error\",\"stack\":\"\"}");
	assert_int_equal(srv.freed, 1);
	assert_int_equal(mrpc_open_count(b->m), 0);

	/* a string result travels as type 1 text, as JS sends it */
	free(b->w.p);
	b->w.p = NULL;
	b->w.len = b->w.cap = 0;
	assert_int_equal(feeds(b, 0x02, 1, "{\"name\":[\"test\",\"echo\"],\"args\":[\"whatever\"]}"), 0);
	assert_wire(&b->w, "0100000008ffffffff", "whatever");

	/* the empty string must not become a zero-length body */
	free(b->w.p);
	b->w.p = NULL;
	b->w.len = b->w.cap = 0;
	assert_int_equal(feeds(b, 0x02, 2, "{\"name\":[\"test\",\"echo\"],\"args\":[\"\"]}"), 0);
	assert_wire(&b->w, "0200000002fffffffe", "\"\"");

	/* a handler answering nothing puts false on the wire, like JS */
	free(b->w.p);
	b->w.p = NULL;
	b->w.len = b->w.cap = 0;
	assert_int_equal(feeds(b, 0x02, 4, "{\"name\":[\"test\",\"echo\"],\"args\":[]}"), 0);
	assert_wire(&b->w, "0200000005fffffffc", "false");
}

static void test_async_call(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 };

	assert_non_null(mrpc_call(f->a.m, "test.echo", json_pack("[{s:i}]", "x", 42), &rec_cbs, &r));
	assert_int_equal(mrpc_open_count(f->a.m), 1);
	pump(&f->a, &f->b);
	assert_int_equal(r.data, 1);
	assert_string_equal(r.last, "{\"x\":42}");
	assert_int_equal(r.end, 1);
	assert_false(r.got_err);
	assert_int_equal(r.freed, 1);
	assert_int_equal(mrpc_open_count(f->a.m), 0);
	assert_int_equal(mrpc_open_count(f->b.m), 0);
	assert_int_equal(f->b.w.npkt, 1);
	assert_int_equal(f->b.w.log[0].flags, 0x02);
	assert_int_equal(f->b.w.log[0].req, -1);

	/* second call gets req 2; a lone-string name (old clients) works */
	memset(&r, 0, sizeof(r));
	assert_int_equal(feeds(&f->b, 0x02, 7, "{\"name\":\"whoami\",\"args\":[]}"), 0);
	assert_string_equal(last_sent(&f->b.w)->body, "{\"id\":\"@me\"}");
	assert_int_equal(last_sent(&f->b.w)->req, -7);
}

static void test_async_error(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 };

	assert_non_null(mrpc_call(f->a.m, "test.fail", NULL, &rec_cbs, &r));
	pump(&f->a, &f->b);
	assert_int_equal(r.data, 0);
	assert_int_equal(r.end, 1);
	assert_true(r.got_err);
	assert_string_equal(r.err, "boom");
	assert_int_equal(r.freed, 1);
	assert_int_equal(f->b.w.log[0].flags, 0x06);
}

static void test_source(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 };
	struct mrpc_stream *s;

	count_items = 5;
	s = mrpc_open(f->a.m, "test.count", NULL, MRPC_SOURCE, &rec_cbs, &r);
	assert_non_null(s);
	/* the caller of a source only receives */
	assert_int_equal(mrpc_stream_send(s, PSC_BINARY, (const uint8_t *)"x", 1), -EINVAL);
	pump(&f->a, &f->b);
	assert_int_equal(r.data, 5);
	assert_string_equal(r.last, "4");
	assert_int_equal(r.end, 1);
	assert_false(r.got_err);
	assert_int_equal(r.freed, 1);
	/* callee: 5 items + one END; caller: the request + its automatic END */
	assert_int_equal(f->b.w.npkt, 6);
	assert_int_equal(count_sent(&f->b.w, 0x0a, -1), 5);
	assert_int_equal(count_sent(&f->b.w, 0x0e, -1), 1);
	assert_int_equal(f->a.w.npkt, 2);
	assert_int_equal(count_sent(&f->a.w, 0x0e, 1), 1);
	assert_string_equal(f->a.w.log[1].body, "true");
	assert_int_equal(r.send_rc_in_end, -EINVAL);  /* a source's caller never sends items */
	assert_int_equal(mrpc_open_count(f->a.m), 0);
	assert_int_equal(mrpc_open_count(f->b.m), 0);
}

static void test_sink(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 };
	struct mrpc_stream *s;

	s = mrpc_open(f->a.m, "test.collect", json_pack("[i]", 1), MRPC_SINK, &rec_cbs, &r);
	assert_non_null(s);
	assert_int_equal(mrpc_stream_send(s, PSC_STRING, (const uint8_t *)"one", 3), 0);
	assert_int_equal(mrpc_stream_send(s, PSC_BINARY, (const uint8_t *)"", 0), 0);  /* skipped */
	assert_int_equal(mrpc_stream_send_json(s, json_string("two")), 0);
	assert_int_equal(mrpc_stream_send_json(s, json_string("")), 0);
	assert_int_equal(mrpc_stream_send(s, 3, (const uint8_t *)"x", 1), -EINVAL);
	pump(&f->a, &f->b);
	assert_int_equal(srv.data, 3);
	assert_string_equal(srv.last, "\"\"");
	/* a JSON string item goes as type 1 (what JS does), "" as JSON */
	assert_int_equal(f->a.w.log[1].flags, 0x09);
	assert_int_equal(f->a.w.log[2].flags, 0x09);
	assert_string_equal(f->a.w.log[2].body, "two");
	assert_int_equal(f->a.w.log[3].flags, 0x0a);
	/* the callee of a sink only receives */
	assert_int_equal(mrpc_stream_send(srv.s, PSC_BINARY, (const uint8_t *)"x", 1), -EINVAL);
	assert_int_equal(mrpc_stream_end(s, NULL), 0);
	assert_int_equal(mrpc_stream_end(s, NULL), -EPIPE);
	assert_int_equal(mrpc_stream_send(s, PSC_BINARY, (const uint8_t *)"x", 1), -EPIPE);
	pump(&f->a, &f->b);
	assert_int_equal(srv.end, 1);
	assert_int_equal(srv.freed, 1);
	assert_int_equal(r.end, 1);
	assert_int_equal(r.freed, 1);
	assert_int_equal(count_sent(&f->a.w, 0x0e, 1), 1);
	assert_int_equal(count_sent(&f->b.w, 0x0e, -1), 1);
	assert_int_equal(mrpc_open_count(f->b.m), 0);
}

static void duplex_run(struct fx *f, bool caller_ends, const char *err)
{
	struct rec r = { 0 };
	struct mrpc_stream *s;
	int32_t req;

	s = mrpc_open(f->a.m, "test.echoes", NULL, MRPC_DUPLEX, &rec_cbs, &r);
	assert_non_null(s);
	req = mrpc_stream_req(s);
	for (int i = 0; i < 4; i++)
		assert_int_equal(mrpc_stream_send(s, PSC_BINARY, (const uint8_t *)"ping", 4), 0);
	pump(&f->a, &f->b);
	assert_int_equal(srv.data, 4);
	assert_int_equal(r.data, 4);
	assert_string_equal(r.last, "ping");
	assert_int_equal(count_sent(&f->b.w, 0x08, -req), 4);
	if (caller_ends) {
		assert_int_equal(mrpc_stream_end(s, err), 0);
	} else {
		assert_int_equal(mrpc_stream_end(srv.s, err), 0);
	}
	pump(&f->a, &f->b);
	/* each side sent END exactly once; the other one was automatic */
	assert_int_equal(count_sent(&f->a.w, 0x0e, req), 1);
	assert_int_equal(count_sent(&f->b.w, 0x0e, -req), 1);
	assert_int_equal(r.end, 1);
	assert_int_equal(srv.end, 1);
	if (caller_ends) {
		assert_int_equal(srv.got_err, err != NULL);
		if (err)
			assert_string_equal(srv.err, err);
		assert_false(r.got_err);
	} else {
		assert_int_equal(r.got_err, err != NULL);
		if (err)
			assert_string_equal(r.err, err);
		assert_false(srv.got_err);
	}
	assert_int_equal(r.freed, 1);
	assert_int_equal(srv.freed, 1);
	assert_int_equal(mrpc_open_count(f->a.m), 0);
	assert_int_equal(mrpc_open_count(f->b.m), 0);
}

static void test_duplex_caller_ends(void **state)
{
	duplex_run(*state, true, NULL);
}

static void test_duplex_callee_ends(void **state)
{
	duplex_run(*state, false, NULL);
}

static void test_duplex_error_end(void **state)
{
	duplex_run(*state, true, "shs phase 1");
	memset(&srv, 0, sizeof(srv));
	duplex_run(*state, false, "target gone");
}

/* on_data ending its own stream after the peer already ended, and on_end
 * ending a sibling: nothing freed under a running callback. */
static void test_reentrant_end(void **state)
{
	struct fx *f = *state;
	struct rec r1 = { 0 }, r2 = { 0 };
	struct mrpc_stream *s1, *s2;

	s1 = mrpc_open(f->a.m, "test.echoes", NULL, MRPC_DUPLEX, &rec_cbs, &r1);
	s2 = mrpc_open(f->a.m, "test.echoes", NULL, MRPC_DUPLEX, &rec_cbs, &r2);
	assert_non_null(s1);
	r1.end_other = s2;
	pump(&f->a, &f->b);
	/* the server ends s1: r1's on_end ends s2 with an error */
	assert_int_equal(feeds(&f->a, 0x0e, -1, "true"), 0);
	assert_int_equal(r1.end, 1);
	assert_int_equal(r1.other_rc, 0);
	assert_int_equal(r1.freed, 1);
	assert_int_equal(count_sent(&f->a.w, 0x0e, 2), 1);
	assert_int_equal(count_sent(&f->a.w, 0x0e, 1), 1);
	/* inside on_end: the sibling's error END, an item on s1 (still ours
	 * to send), then our automatic END */
	assert_int_equal(r1.send_rc_in_end, 0);
	assert_int_equal(f->a.w.log[f->a.w.npkt - 2].flags, 0x08);
	assert_int_equal(f->a.w.log[f->a.w.npkt - 3].req, 2);
	assert_string_equal(f->a.w.log[f->a.w.npkt - 3].body, "{\"message\":\"sibling gone\",\"name\":\"Error\",\"stack\":\"\"}");
	assert_int_equal(last_sent(&f->a.w)->req, 1);
	assert_int_equal(r2.freed, 0);
	/* item then END for s2; on_data ends it (its END goes once) */
	r2.end_in_on_data = true;
	assert_int_equal(feeds(&f->a, 0x08, -2, "late"), 0);
	assert_int_equal(r2.data, 1);
	assert_int_equal(feeds(&f->a, 0x0e, -2, "true"), 0);
	assert_int_equal(r2.end, 1);
	assert_int_equal(r2.freed, 1);
	assert_int_equal(count_sent(&f->a.w, 0x0e, 2), 1);
	assert_int_equal(mrpc_open_count(f->a.m), 0);
	/* a packet after the stream is gone is ignored */
	assert_int_equal(feeds(&f->a, 0x0e, -2, "true"), 0);
	assert_int_equal(feeds(&f->a, 0x08, -2, "x"), 0);
}

/* A half-close stream: the peer's END ends only its direction; ours may
 * still carry items, and our END (sent when we choose) frees it. The
 * default (JS) behaviour answers the END at once. */
static void test_half_close(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 };
	struct mrpc_stream *st;
	size_t before;

	st = mrpc_open(f->a.m, "test.echoes", NULL, MRPC_DUPLEX, &rec_cbs, &r);
	assert_non_null(st);
	mrpc_stream_set_half_close(st);
	pump(&f->a, &f->b);
	before = f->a.w.npkt;
	assert_int_equal(feeds(&f->a, 0x0e, -1, "true"), 0);   /* the peer's END */
	assert_int_equal(r.end, 1);
	assert_int_equal(r.freed, 0);
	/* rec_end sent one item from inside on_end; no automatic END */
	assert_int_equal(f->a.w.npkt, before + 1);
	assert_int_equal(last_sent(&f->a.w)->flags, 0x08);
	assert_int_equal(count_sent(&f->a.w, 0x0e, 1), 0);
	assert_true(mrpc_stream_remote_ended(st));
	assert_false(mrpc_stream_local_ended(st));
	assert_int_equal(mrpc_stream_send(st, PSC_BINARY, (const uint8_t *)"more", 4), 0);
	assert_int_equal(last_sent(&f->a.w)->flags, 0x08);
	assert_int_equal(mrpc_stream_end(st, NULL), 0);
	assert_int_equal(last_sent(&f->a.w)->flags, 0x0e);
	assert_int_equal(r.freed, 1);
	assert_int_equal(mrpc_open_count(f->a.m), 0);
}

static void test_unknown_method(void **state)
{
	struct fx *f = *state;
	struct peer *b = &f->b;
	struct rec r = { 0 };
	size_t n;

	/* async: 0x06 with the JS wording, over the wire */
	assert_non_null(mrpc_call(f->a.m, "room.metadata", NULL, &rec_cbs, &r));
	pump(&f->a, &f->b);
	assert_true(r.got_err);
	assert_string_equal(r.err, "method:room,metadata is not in list of allowed methods");
	assert_int_equal(last_sent(&b->w)->flags, 0x06);

	/* stream: 0x0E, then a tombstone swallows items until the peer's END */
	n = b->w.npkt;
	assert_int_equal(feeds(b, 0x0a, 9, "{\"name\":[\"room\",\"attendants\"],\"args\":[],\"type\":\"source\"}"), 0);
	assert_int_equal(b->w.npkt, n + 1);
	assert_int_equal(last_sent(&b->w)->flags, 0x0e);
	assert_int_equal(last_sent(&b->w)->req, -9);
	assert_string_equal(last_sent(&b->w)->body,
	                    "{\"message\":\"method:room,attendants is not in list of allowed methods\",\"name\":\"Error\",\"stack\":\"\"}");
	assert_int_equal(mrpc_open_count(b->m), 1);
	/* a later item, even one that looks like a request, is discarded */
	assert_int_equal(feeds(b, 0x0a, 9, "{\"name\":[\"test\",\"count\"],\"args\":[],\"type\":\"source\"}"), 0);
	assert_int_equal(feeds(b, 0x08, 9, "bytes"), 0);
	assert_int_equal(b->w.npkt, n + 1);
	assert_int_equal(feeds(b, 0x0e, 9, "true"), 0);
	assert_int_equal(b->w.npkt, n + 1);  /* our END already went */
	assert_int_equal(mrpc_open_count(b->m), 0);
	/* a late END after that is ignored too */
	assert_int_equal(feeds(b, 0x0e, 9, "true"), 0);
	assert_int_equal(b->w.npkt, n + 1);

	/* a dotted single element is not a path (JS util.get) */
	assert_int_equal(feeds(b, 0x02, 10, "{\"name\":[\"test.echo\"],\"args\":[]}"), 0);
	assert_string_equal(last_sent(&b->w)->body,
	                    "{\"message\":\"method:test.echo is not in list of allowed methods\",\"name\":\"Error\",\"stack\":\"\"}");
	/* non-string name elements are printed as JS would */
	assert_int_equal(feeds(b, 0x02, 11, "{\"name\":[\"a\",1,null,{}],\"args\":[]}"), 0);
	assert_string_equal(last_sent(&b->w)->body,
	                    "{\"message\":\"method:a,1,,[object Object] is not in list of allowed methods\",\"name\":\"Error\",\"stack\":\"\"}");
	assert_int_equal(feeds(b, 0x02, 12, "{\"args\":[]}"), 0);
	assert_int_equal(last_sent(&b->w)->flags, 0x06);
	assert_string_equal(last_sent(&b->w)->body,
	                    "{\"message\":\"method: is not in list of allowed methods\",\"name\":\"Error\",\"stack\":\"\"}");
	/* a prefix of a method is no method */
	assert_int_equal(feeds(b, 0x02, 13, "{\"name\":[\"test\"],\"args\":[]}"), 0);
	assert_int_equal(last_sent(&b->w)->flags, 0x06);
	assert_int_equal(mrpc_open_count(b->m), 0);
}

static void test_kind_mismatch(void **state)
{
	struct fx *f = *state;
	struct peer *b = &f->b;

	assert_int_equal(feeds(b, 0x02, 1, "{\"name\":[\"test\",\"count\"],\"args\":[]}"), 0);
	assert_int_equal(last_sent(&b->w)->flags, 0x06);
	assert_string_equal(last_sent(&b->w)->body,
	                    "{\"message\":\"no async:test,count\",\"name\":\"Error\",\"stack\":\"\"}");
	assert_int_equal(feeds(b, 0x0a, 2, "{\"name\":[\"test\",\"echo\"],\"args\":[],\"type\":\"source\"}"), 0);
	assert_int_equal(last_sent(&b->w)->flags, 0x0e);
	assert_string_equal(last_sent(&b->w)->body,
	                    "{\"message\":\"no source:test,echo\",\"name\":\"Error\",\"stack\":\"\"}");
	assert_int_equal(feeds(b, 0x0a, 3, "{\"name\":[\"test\",\"echoes\"],\"args\":[],\"type\":\"sink\"}"), 0);
	assert_string_equal(last_sent(&b->w)->body,
	                    "{\"message\":\"no sink:test,echoes\",\"name\":\"Error\",\"stack\":\"\"}");
	/* STREAM clear means async whatever "type" says, as in JS */
	assert_int_equal(feeds(b, 0x02, 4, "{\"name\":[\"test\",\"count\"],\"args\":[],\"type\":\"source\"}"), 0);
	assert_string_equal(last_sent(&b->w)->body,
	                    "{\"message\":\"no async:test,count\",\"name\":\"Error\",\"stack\":\"\"}");
	/* unsupported stream types */
	assert_int_equal(feeds(b, 0x0a, 5, "{\"name\":[\"test\",\"count\"],\"args\":[],\"type\":\"bogus\"}"), 0);
	assert_int_equal(last_sent(&b->w)->flags, 0x0e);
	assert_string_equal(last_sent(&b->w)->body,
	                    "{\"message\":\"unsupported stream type: bogus\",\"name\":\"Error\",\"stack\":\"\"}");
	assert_int_equal(feeds(b, 0x0a, 6, "{\"name\":[\"test\",\"count\"],\"args\":[]}"), 0);
	assert_string_equal(last_sent(&b->w)->body,
	                    "{\"message\":\"unsupported stream type: undefined\",\"name\":\"Error\",\"stack\":\"\"}");
	assert_int_equal(feeds(b, 0x0a, 7, "{\"name\":[\"test\",\"count\"],\"args\":[],\"type\":\"async\"}"), 0);
	assert_string_equal(last_sent(&b->w)->body,
	                    "{\"message\":\"unsupported stream type: async\",\"name\":\"Error\",\"stack\":\"\"}");
	/* the stream rejections each left a tombstone */
	assert_int_equal(mrpc_open_count(b->m), 5);
}

static void test_js_style_requests(void **state)
{
	struct fx *f = *state;
	struct peer *b = &f->b;

	/* JS omits type; go adds "async" and a newline; "sync" is the same */
	assert_int_equal(feeds(b, 0x02, 1, "{\"name\":[\"test\",\"echo\"],\"args\":[1]}"), 0);
	assert_int_equal(last_sent(&b->w)->flags, 0x02);
	assert_string_equal(last_sent(&b->w)->body, "1");
	assert_int_equal(feeds(b, 0x02, 2, "{\"name\":[\"test\",\"echo\"],\"type\":\"async\",\"args\":[2]}\n"), 0);
	assert_string_equal(last_sent(&b->w)->body, "2");
	assert_int_equal(last_sent(&b->w)->req, -2);
	assert_int_equal(feeds(b, 0x02, 3, " {\"name\":[\"test\",\"echo\"],\"type\":\"sync\",\"args\":[true],\"x\":0} \r\n"), 0);
	assert_string_equal(last_sent(&b->w)->body, "true");
	assert_int_equal(b->w.npkt, 3);
}

static void test_args_not_array(void **state)
{
	struct fx *f = *state;
	struct peer *b = &f->b;

	assert_int_equal(feeds(b, 0x02, 1, "{\"name\":[\"test\",\"echo\"],\"args\":{\"a\":1}}"), 0);
	assert_int_equal(last_sent(&b->w)->flags, 0x06);
	assert_string_equal(last_sent(&b->w)->body,
	                    "{\"message\":\"invalid request, args should be array, was: "
	                    "{\\\"name\\\":[\\\"test\\\",\\\"echo\\\"],\\\"args\\\":{\\\"a\\\":1}}\",\"name\":\"Error\",\"stack\":\"\"}");
	/* even for an unknown method: JS checks args first */
	assert_int_equal(feeds(b, 0x02, 2, "{\"name\":[\"nope\"]}"), 0);
	assert_non_null(strstr(last_sent(&b->w)->body, "invalid request, args should be array"));
	/* streams check the name first, then args */
	assert_int_equal(feeds(b, 0x0a, 3, "{\"name\":[\"test\",\"count\"],\"type\":\"source\",\"args\":5}"), 0);
	assert_int_equal(last_sent(&b->w)->flags, 0x0e);
	assert_non_null(strstr(last_sent(&b->w)->body, "invalid request, args should be array"));
	assert_int_equal(feeds(b, 0x0a, 4, "{\"name\":[\"nope\"],\"type\":\"source\",\"args\":5}"), 0);
	assert_non_null(strstr(last_sent(&b->w)->body, "is not in list of allowed methods"));
}

static void test_ignored_packets(void **state)
{
	struct fx *f = *state;
	struct peer *b = &f->b;

	/* none of these gets an answer or breaks the session */
	assert_int_equal(feeds(b, 0x02, 0, "[\"event\",{\"okay\":true}]"), 0);      /* req 0 */
	assert_int_equal(feeds(b, 0x02, -5, "{}"), 0);                             /* reply, no call */
	assert_int_equal(feeds(b, 0x0e, -5, "true"), 0);
	assert_int_equal(feeds(b, 0x02, INT32_MIN, "1"), 0);
	assert_int_equal(feeds(b, 0x0e, 5, "true"), 0);                            /* late END */
	assert_int_equal(feeds(b, 0x06, 5, "{}"), 0);
	assert_int_equal(feeds(b, 0x09, 7, "{\"name\":\"whoami\",\"args\":[]}"), 0); /* type 1 */
	assert_int_equal(feeds(b, 0x08, 7, "\x01\x02"), 0);
	assert_int_equal(b->w.npkt, 0);
	assert_int_equal(mrpc_open_count(b->m), 0);
	/* JSON that is not an object is answered as JS does */
	assert_int_equal(feeds(b, 0x02, 6, "42"), 0);
	assert_int_equal(b->w.npkt, 1);
	assert_int_equal(feeds(b, 0x02, 10, "[1,2]"), 0);
	assert_int_equal(b->w.npkt, 2);
	/* a request that does not parse ends the session, as in JS */
	assert_int_equal(feeds(b, 0x02, 11, "{\"name\":"), -EPROTO);
	assert_int_equal(feed(b, 0x02, 12, "{\"name\":\"who\0ami\",\"args\":[]}", 29), -EPROTO);
	assert_int_equal(b->w.npkt, 2);
	/* so is body type 3 */
	assert_int_equal(feeds(b, 0x03, 9, "x"), -EPROTO);
	assert_int_equal(b->w.npkt, 2);
	b->w.npkt = 0;

	/* a held async call: repeat packets on its req are ignored */
	assert_int_equal(feeds(b, 0x02, 20, "{\"name\":[\"test\",\"hold\"],\"args\":[]}"), 0);
	assert_int_equal(feeds(b, 0x02, 20, "{\"name\":[\"test\",\"echo\"],\"args\":[]}"), 0);
	assert_int_equal(feeds(b, 0x0a, 20, "1"), 0);
	assert_int_equal(b->w.npkt, 0);
	assert_int_equal(mrpc_reply(srv.s, json_integer(5)), 0);
	assert_int_equal(b->w.npkt, 1);
	assert_int_equal(srv.freed, 1);
	assert_int_equal(mrpc_open_count(b->m), 0);
}

static void test_manifest(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 };
	struct peer p;

	assert_non_null(mrpc_call(f->a.m, "manifest", json_array(), &rec_cbs, &r));
	pump(&f->a, &f->b);
	assert_false(r.got_err);
	assert_string_equal(r.last,
	                    "{\"test\":{\"echo\":\"async\",\"fail\":\"async\",\"count\":\"source\","
	                    "\"collect\":\"sink\",\"echoes\":\"duplex\",\"hold\":\"async\"},\"whoami\":\"async\"}");
	assert_int_equal(last_sent(&f->b.w)->flags, 0x02);
	/* as a stream it is a kind mismatch */
	assert_int_equal(feeds(&f->b, 0x0a, 9, "{\"name\":[\"manifest\"],\"args\":[],\"type\":\"source\"}"), 0);
	assert_string_equal(last_sent(&f->b.w)->body,
	                    "{\"message\":\"no source:manifest\",\"name\":\"Error\",\"stack\":\"\"}");
	/* a session serving nothing still answers manifest with {} */
	peer_init(&p, NULL);
	assert_int_equal(feeds(&p, 0x02, 1, "{\"name\":[\"manifest\"],\"args\":[]}"), 0);
	assert_string_equal(last_sent(&p.w)->body, "{}");
	assert_int_equal(last_sent(&p.w)->flags, 0x02);
	peer_done(&p);
}

static void own_manifest(struct mrpc_stream *call, json_t *args, void *ud)
{
	mrpc_reply(call, json_string("mine"));
}

static void test_api(void **state)
{
	struct mrpc_api *api = mrpc_api_new();
	struct peer p;
	json_t *man;
	char *s;

	assert_int_equal(mrpc_api_add(api, "tunnel.connect", MRPC_DUPLEX, h_echoes, NULL), 0);
	assert_int_equal(mrpc_api_add(api, "tunnel.connect", MRPC_DUPLEX, h_echoes, NULL), -EEXIST);
	assert_int_equal(mrpc_api_add(api, "tunnel", MRPC_ASYNC, h_echo, NULL), -EEXIST);
	assert_int_equal(mrpc_api_add(api, "tunnel.connect.x", MRPC_ASYNC, h_echo, NULL), -EEXIST);
	assert_int_equal(mrpc_api_add(api, "tunnel.conn", MRPC_ASYNC, h_echo, NULL), 0);
	assert_int_equal(mrpc_api_add(api, "", MRPC_ASYNC, h_echo, NULL), -EINVAL);
	assert_int_equal(mrpc_api_add(api, "a..b", MRPC_ASYNC, h_echo, NULL), -EINVAL);
	assert_int_equal(mrpc_api_add(api, ".a", MRPC_ASYNC, h_echo, NULL), -EINVAL);
	assert_int_equal(mrpc_api_add(api, "a.", MRPC_ASYNC, h_echo, NULL), -EINVAL);
	assert_int_equal(mrpc_api_add(api, "x", MRPC_ASYNC, NULL, NULL), -EINVAL);
	assert_int_equal(mrpc_api_add(api, "x", (enum mrpc_kind)7, h_echo, NULL), -EINVAL);
	assert_int_equal(mrpc_api_add(api, "room.a.b.c", MRPC_SINK, h_collect, NULL), 0);
	assert_int_equal(mrpc_api_add(api, "manifest", MRPC_ASYNC, own_manifest, NULL), 0);
	man = mrpc_api_manifest(api);
	s = json_dumps(man, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_string_equal(s, "{\"tunnel\":{\"connect\":\"duplex\",\"conn\":\"async\"},"
	                       "\"room\":{\"a\":{\"b\":{\"c\":\"sink\"}}},\"manifest\":\"async\"}");
	free(s);
	json_decref(man);
	/* an api with its own manifest method answers it itself */
	peer_init(&p, api);
	assert_int_equal(feeds(&p, 0x02, 1, "{\"name\":[\"manifest\"],\"args\":[]}"), 0);
	assert_int_equal(last_sent(&p.w)->flags, 0x01);
	assert_string_equal(last_sent(&p.w)->body, "mine");
	peer_done(&p);
	mrpc_api_free(api);

	assert_string_equal(mrpc_kind_name(MRPC_ASYNC), "async");
	assert_string_equal(mrpc_kind_name(MRPC_SOURCE), "source");
	assert_string_equal(mrpc_kind_name(MRPC_SINK), "sink");
	assert_string_equal(mrpc_kind_name(MRPC_DUPLEX), "duplex");
}

static void test_errors_helpers(void **state)
{
	json_t *e = mrpc_error_object("x \"y\"");
	char *s = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER);
	const char *go = "{\"message\":\"muxrpc: no such command: room.metadata\",\"name\":\"Error\",\"stack\":\"\"}\n";

	assert_string_equal(s, "{\"message\":\"x \\\"y\\\"\",\"name\":\"Error\",\"stack\":\"\"}");
	free(s);
	json_decref(e);
	s = mrpc_error_message((const uint8_t *)go, strlen(go));
	assert_string_equal(s, "muxrpc: no such command: room.metadata");
	free(s);
	s = mrpc_error_message((const uint8_t *)"\"plain\"", 7);
	assert_string_equal(s, "plain");
	free(s);
	s = mrpc_error_message((const uint8_t *)"{\"message\":3}", 13);
	assert_string_equal(s, "unknown error");
	free(s);
	s = mrpc_error_message((const uint8_t *)"garbage", 7);
	assert_string_equal(s, "unknown error");
	free(s);
	s = mrpc_error_message(NULL, 0);
	assert_string_equal(s, "unknown error");
	free(s);
	/* invalid UTF-8 still yields an error object */
	e = mrpc_error_object("\xff\xfe");
	assert_non_null(e);
	json_decref(e);
}

static void test_bad_calls(void **state)
{
	struct fx *f = *state;
	struct mrpc_stream *s;

	assert_null(mrpc_call(f->a.m, "", NULL, NULL, NULL));
	assert_null(mrpc_call(f->a.m, "a..b", NULL, NULL, NULL));
	assert_null(mrpc_call(f->a.m, "a", json_object(), NULL, NULL));  /* args not an array */
	assert_null(mrpc_open(f->a.m, "a", NULL, MRPC_ASYNC, NULL, NULL));
	assert_int_equal(f->a.w.npkt, 0);
	assert_int_equal(mrpc_open_count(f->a.m), 0);
	/* stream ops on an async call, reply on our own call */
	s = mrpc_call(f->a.m, "a", NULL, NULL, NULL);
	assert_non_null(s);
	assert_int_equal(mrpc_stream_kind(s), MRPC_ASYNC);
	assert_int_equal(mrpc_stream_send(s, PSC_BINARY, (const uint8_t *)"x", 1), -EINVAL);
	assert_int_equal(mrpc_stream_end(s, NULL), -EINVAL);
	assert_int_equal(mrpc_reply(s, json_true()), -EINVAL);
	assert_int_equal(mrpc_stream_send_json(s, NULL), -EINVAL);
	assert_ptr_equal(mrpc_stream_session(s), f->a.m);
	assert_ptr_equal(mrpc_io(f->a.m), &f->a.w);
	assert_null(mrpc_new(&(struct mrpc_cfg){ .send = NULL }));
	assert_null(mrpc_new(NULL));
}

static void test_send_failure(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 };
	struct mrpc_stream *s;

	f->a.w.fail = -EIO;
	assert_null(mrpc_call(f->a.m, "test.echo", NULL, &rec_cbs, &r));
	assert_int_equal(mrpc_open_count(f->a.m), 0);
	assert_int_equal(r.freed, 0);  /* never announced, no callbacks */
	f->a.w.fail = 0;
	s = mrpc_open(f->a.m, "test.echoes", NULL, MRPC_DUPLEX, &rec_cbs, &r);
	assert_non_null(s);
	f->a.w.fail = -EIO;
	assert_int_equal(mrpc_stream_send(s, PSC_BINARY, (const uint8_t *)"x", 1), -EIO);
	assert_int_equal(mrpc_stream_end(s, NULL), -EIO);
	assert_int_equal(mrpc_stream_end(s, NULL), -EPIPE);  /* not attempted twice */
	/* the automatic END back is not attempted either; a failing reply
	 * surfaces through mrpc_on_packet */
	assert_int_equal(feeds(&f->a, 0x0e, -1, "true"), 0);  /* req 1 died unsent */
	assert_int_equal(r.freed, 0);
	assert_int_equal(mrpc_stream_req(s), 2);
	assert_int_equal(feeds(&f->a, 0x0e, -2, "true"), 0);
	assert_int_equal(r.freed, 1);
	f->b.w.fail = -ECONNRESET;
	assert_int_equal(feeds(&f->b, 0x0a, 1, "{\"name\":[\"nope\"],\"args\":[],\"type\":\"duplex\"}"), -ECONNRESET);
	assert_int_equal(feeds(&f->b, 0x02, 2, "{\"name\":[\"test\",\"hold\"],\"args\":[]}"), 0);
	assert_int_equal(mrpc_reply(srv.s, json_true()), -ECONNRESET);
	assert_int_equal(srv.freed, 1);
	/* an incoming stream whose automatic END back fails */
	memset(&srv, 0, sizeof(srv));
	f->b.w.fail = 0;
	assert_int_equal(feeds(&f->b, 0x0a, 3, "{\"name\":[\"test\",\"echoes\"],\"args\":[],\"type\":\"duplex\"}"), 0);
	f->b.w.fail = -EPIPE;
	assert_int_equal(feeds(&f->b, 0x0e, 3, "true"), -EPIPE);
	assert_int_equal(srv.freed, 1);
	assert_int_equal(mrpc_open_count(f->b.m), 1);  /* the tombstone of req 1 */
}

static void test_goodbye(void **state)
{
	struct fx *f = *state;
	struct rec r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
	struct mrpc_stream *s2;
	size_t n;

	assert_non_null(mrpc_call(f->a.m, "test.hold", NULL, &rec_cbs, &r1));
	s2 = mrpc_open(f->a.m, "test.echoes", NULL, MRPC_DUPLEX, &rec_cbs, &r2);
	assert_non_null(mrpc_open(f->a.m, "test.collect", NULL, MRPC_SINK, &rec_cbs, &r3));
	r1.end_other = s2;  /* touching a sibling during close is a no-op */
	pump(&f->a, &f->b);
	assert_int_equal(mrpc_open_count(f->b.m), 3);
	n = f->a.w.npkt;
	assert_int_equal(mrpc_goodbye(f->a.m), 0);
	assert_int_equal(mrpc_goodbye(f->a.m), 0);
	assert_int_equal(f->a.w.npkt, n + 1);  /* nine zero bytes, once */
	assert_int_equal(f->a.w.len, PSC_HEADER_BYTES);
	assert_true(f->a.w.log[n].flags == 0 && f->a.w.log[n].req == 0 && f->a.w.log[n].len == 0);
	/* after our goodbye nothing else goes out */
	assert_int_equal(mrpc_stream_send(s2, PSC_BINARY, (const uint8_t *)"x", 1), -EPIPE);
	assert_null(mrpc_call(f->a.m, "test.echo", NULL, NULL, NULL));
	pump(&f->a, &f->b);  /* b sees the goodbye */
	assert_int_equal(mrpc_open_count(f->b.m), 0);
	assert_int_equal(srv.end, 3);  /* hold, echoes and collect share srv */
	assert_string_equal(srv.err, "session closed");
	assert_int_equal(srv.freed, 3);

	mrpc_on_goodbye(f->a.m);
	mrpc_on_goodbye(f->a.m);
	assert_int_equal(r1.end, 1);
	assert_string_equal(r1.err, "session closed");
	assert_int_equal(r1.other_rc, -EPIPE);
	assert_int_equal(r2.end, 1);
	assert_int_equal(r2.send_rc_in_end, -EPIPE);
	assert_int_equal(r3.end, 1);
	assert_int_equal(r1.freed + r2.freed + r3.freed, 3);
	assert_int_equal(mrpc_open_count(f->a.m), 0);
	/* later packets are ignored */
	assert_int_equal(feeds(&f->a, 0x02, -1, "1"), 0);
	assert_int_equal(feeds(&f->a, 0x02, 1, "{\"name\":[\"manifest\"],\"args\":[]}"), 0);
	assert_int_equal(f->a.w.npkt, n + 1);
}

/* mrpc_free with everything open: every on_free exactly once, nothing on
 * the wire, callbacks poking at sibling streams are harmless. */
static void test_free_open(void **state)
{
	static const enum mrpc_kind k[6] = { MRPC_ASYNC, MRPC_DUPLEX, MRPC_SINK, MRPC_SOURCE,
	                                    MRPC_DUPLEX, MRPC_DUPLEX };
	static const char *const n[6] = { "test.hold", "test.echoes", "test.collect",
	                                  "test.nope", "test.echoes", "test.count" };
	struct fx *f = *state;
	struct rec r[6];
	struct mrpc_stream *s[6];
	size_t na, nb;

	memset(r, 0, sizeof(r));
	count_items = 0;
	for (int i = 0; i < 6; i++) {
		s[i] = k[i] == MRPC_ASYNC ? mrpc_call(f->a.m, n[i], NULL, &rec_cbs, &r[i])
		                          : mrpc_open(f->a.m, n[i], NULL, k[i], &rec_cbs, &r[i]);
		assert_non_null(s[i]);
	}
	/* r[5] was opened as a duplex on a source method: refused */
	pump(&f->a, &f->b);
	assert_int_equal(r[3].freed, 1);
	assert_string_equal(r[3].err, "method:test,nope is not in list of allowed methods");
	assert_int_equal(r[5].freed, 1);
	assert_string_equal(r[5].err, "no duplex:test,count");
	assert_int_equal(mrpc_open_count(f->a.m), 4);
	assert_int_equal(mrpc_open_count(f->b.m), 4);
	r[1].end_other = s[2];
	r[2].end_other = s[4];
	r[4].end_other = s[1];
	na = f->a.w.npkt;
	nb = f->b.w.npkt;
	mrpc_free(f->a.m);
	f->a.m = NULL;
	for (int i = 0; i < 6; i++) {
		assert_int_equal(r[i].end, 1);
		assert_int_equal(r[i].freed, 1);
	}
	assert_string_equal(r[0].err, "session closed");
	assert_string_equal(r[1].err, "session closed");
	assert_int_equal(r[1].other_rc, -EPIPE);
	assert_int_equal(r[2].other_rc, -EPIPE);
	assert_int_equal(r[4].other_rc, -EPIPE);
	assert_int_equal(r[4].send_rc_in_end, -EPIPE);
	assert_int_equal(f->a.w.npkt, na);
	/* the serving side too: held call, sink, duplexes */
	mrpc_free(f->b.m);
	f->b.m = NULL;
	assert_int_equal(f->b.w.npkt, nb);
}

/* mrpc_free called from inside a callback of the session being fed. */
static void free_session_cb(struct mrpc_stream *s, struct psc_packet *pkt, void *ud)
{
	struct rec *r = ud;

	r->data++;
	mrpc_free(mrpc_stream_session(s));
	/* the stream stays readable until this callback returns */
	assert_true(mrpc_stream_remote_ended(s));
	assert_int_equal(mrpc_stream_send(s, PSC_BINARY, (const uint8_t *)"x", 1), -EPIPE);
}

static const struct mrpc_stream_cbs free_cbs = { free_session_cb, rec_end, rec_free };

static void free_in_on_free(struct mrpc_stream *s, void *ud)
{
	struct rec *r = ud;

	r->freed++;
	mrpc_free(mrpc_stream_session(s));
}

static const struct mrpc_stream_cbs free2_cbs = { rec_data, rec_end, free_in_on_free };

static void test_free_in_callback(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 }, r2 = { 0 };
	struct mrpc_stream *s;

	assert_non_null(mrpc_open(f->a.m, "test.echoes", NULL, MRPC_DUPLEX, &free_cbs, &r));
	assert_non_null(mrpc_open(f->a.m, "test.echoes", NULL, MRPC_DUPLEX, &rec_cbs, &r2));
	assert_int_equal(feeds(&f->a, 0x08, -1, "hi"), 0);
	f->a.m = NULL;
	assert_int_equal(r.data, 1);
	assert_int_equal(r.end, 1);
	assert_int_equal(r.freed, 1);
	assert_int_equal(r2.end, 1);
	assert_int_equal(r2.freed, 1);

	/* from on_free, reached through mrpc_stream_end at top level */
	memset(&r, 0, sizeof(r));
	free(f->a.w.p);
	psc_dec_free(&f->a.dec);
	peer_init(&f->a, NULL);
	s = mrpc_open(f->a.m, "test.echoes", NULL, MRPC_DUPLEX, &free2_cbs, &r);
	assert_non_null(s);
	assert_int_equal(feeds(&f->a, 0x0e, -1, "{\"message\":\"bye\",\"name\":\"Error\",\"stack\":\"\"}"), 0);
	f->a.m = NULL;
	assert_int_equal(r.end, 1);
	assert_string_equal(r.err, "bye");
	assert_int_equal(r.freed, 1);
	assert_int_equal(f->a.w.nend, 1);  /* the automatic END went before on_free */
}

/* Thousands of streams: the tables grow, and deleting in a scrambled
 * order keeps every remaining stream reachable. */
static void test_many_streams(void **state)
{
	enum { N = 3000 };
	struct fx *f = *state;
	struct rec *r = calloc(N, sizeof(*r));
	struct mrpc_stream **s = calloc(N, sizeof(*s));
	uint32_t x = 12345;
	int order[N];

	assert_non_null(r);
	assert_non_null(s);
	for (int i = 0; i < N; i++) {
		s[i] = mrpc_open(f->a.m, "test.echoes", NULL, MRPC_DUPLEX, &rec_cbs, &r[i]);
		assert_non_null(s[i]);
		assert_int_equal(mrpc_stream_req(s[i]), i + 1);
		order[i] = i;
	}
	pump(&f->a, &f->b);
	assert_int_equal(mrpc_open_count(f->b.m), N);
	for (int i = N - 1; i > 0; i--) {
		int j;

		x = x * 1103515245u + 12345u;
		j = (int)((x >> 8) % (uint32_t)(i + 1));
		int t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (int k = 0; k < N; k++) {
		int i = order[k];

		assert_int_equal(mrpc_stream_send(s[i], PSC_STRING, (const uint8_t *)"ab", 2), 0);
		assert_int_equal(mrpc_stream_end(s[i], k % 3 ? NULL : "x"), 0);
		if (k % 97 == 0)
			pump(&f->a, &f->b);
	}
	pump(&f->a, &f->b);
	for (int i = 0; i < N; i++) {
		/* the echo, and the item the server's on_end sends before its END */
		assert_int_equal(r[i].data, 2);
		assert_int_equal(r[i].end, 1);
		assert_int_equal(r[i].freed, 1);
	}
	assert_int_equal(f->a.w.nend, N);
	assert_int_equal(f->b.w.nend, N);
	assert_int_equal(mrpc_open_count(f->a.m), 0);
	assert_int_equal(mrpc_open_count(f->b.m), 0);
	/* numbering carries on */
	assert_int_equal(mrpc_stream_req(mrpc_call(f->a.m, "x", NULL, NULL, NULL)), N + 1);
	free(r);
	free(s);
}

/* A JS peer never answers the END of a duplex it opened: past
 * MRPC_LINGER_MAX such streams the oldest are given up at the next packet
 * (on_end with a reason, on_free), and a late END for one is ignored. */
static void test_linger_cap(void **state)
{
	enum { EXTRA = 10, N = MRPC_LINGER_MAX + EXTRA };
	struct fx *f = *state;
	struct peer *b = &f->b;
	struct rec *r = calloc(N, sizeof(*r));
	size_t npkt;

	assert_non_null(r);
	for (int i = 0; i < N; i++) {
		memset(&srv, 0, sizeof(srv));
		assert_int_equal(feeds(b, 0x0a, i + 1,
		                       "{\"name\":[\"test\",\"echoes\"],\"type\":\"duplex\",\"args\":[]}"), 0);
		assert_non_null(srv.s);
		mrpc_stream_set_cbs(srv.s, &rec_cbs, &r[i]);
		assert_int_equal(mrpc_stream_end(srv.s, NULL), 0);
	}
	/* given up only when a packet comes in: the last END is still held */
	assert_int_equal(mrpc_open_count(b->m), MRPC_LINGER_MAX + 1);
	assert_int_equal(r[EXTRA - 1].end, 0);
	assert_int_equal(feeds(b, 0x02, N + 1, "{\"name\":[\"test\",\"echo\"],\"args\":[1]}"), 0);
	assert_int_equal(mrpc_open_count(b->m), MRPC_LINGER_MAX);
	for (int i = 0; i < N; i++) {
		assert_int_equal(r[i].end, i < EXTRA);
		assert_int_equal(r[i].freed, i < EXTRA);
	}
	assert_true(r[0].got_err);
	assert_string_equal(r[0].err, "the peer did not end the stream");
	/* a late END for a given-up stream is a packet for an unknown stream */
	npkt = b->w.npkt;
	assert_int_equal(feeds(b, 0x0e, 1, "true"), 0);
	assert_int_equal(b->w.npkt, npkt);
	assert_int_equal(r[0].end, 1);
	/* one that is still waiting ends normally */
	assert_int_equal(feeds(b, 0x0e, N, "true"), 0);
	assert_int_equal(r[N - 1].end, 1);
	assert_false(r[N - 1].got_err);
	assert_int_equal(r[N - 1].freed, 1);
	assert_int_equal(mrpc_open_count(b->m), MRPC_LINGER_MAX - 1);
	/* the rest end with the session (before r goes) */
	mrpc_on_goodbye(b->m);
	for (int i = 0; i < N; i++)
		assert_int_equal(r[i].freed, 1);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request_vectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_vectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplex_caller_ends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplex_callee_ends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplex_error_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reentrant_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_method, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kind_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_js_style_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_args_not_array, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ignored_packets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest, setup, teardown),
		cmocka_unit_test(test_api),
		cmocka_unit_test(test_errors_helpers),
		cmocka_unit_test_setup_teardown(test_bad_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_goodbye, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_in_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_streams, setup, teardown),
		cmocka_unit_test_setup_teardown(test_linger_cap, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
