/* fuzz_muxrpc — arbitrary bytes through psc_dec_feed into a session that
 * serves an async, a source and a duplex method and has two calls of its
 * own open. Invariants: no packet without a body or with a header that
 * disagrees with it, and every stream gets on_free exactly once. */
#include <stdint.h>
#include <stdlib.h>

#include "muxrpc.h"
#include "psc.h"

static long live;  /* streams handed out minus on_free calls */

static int check_send(void *io, const uint8_t hdr[PSC_HEADER_BYTES], const uint8_t *body, size_t len)
{
	uint8_t flags;
	uint32_t n;
	int32_t req;

	psc_decode_header(hdr, &flags, &n, &req);
	if (len == 0 || n != len || body == NULL || req == 0 || (flags & 3) == 3)
		__builtin_trap();
	return 0;
}

static void on_data(struct mrpc_stream *s, struct psc_packet *p, void *ud)
{
	if (mrpc_stream_kind(s) == MRPC_DUPLEX)
		mrpc_stream_send(s, psc_type(p), p->body, p->len);
}

static void on_free(struct mrpc_stream *s, void *ud)
{
	if (--live < 0)
		__builtin_trap();
}

static const struct mrpc_stream_cbs cbs = { on_data, NULL, on_free };

static void h_async(struct mrpc_stream *c, json_t *args, void *ud)
{
	live++;
	mrpc_stream_set_cbs(c, &cbs, NULL);
	if (json_array_size(args) > 0)  /* else held until the session ends */
		mrpc_reply(c, json_incref(json_array_get(args, 0)));
}

static void h_stream(struct mrpc_stream *s, json_t *args, void *ud)
{
	live++;
	mrpc_stream_set_cbs(s, &cbs, NULL);
	if (mrpc_stream_kind(s) == MRPC_SOURCE) {
		mrpc_stream_send_json(s, json_string("item"));
		mrpc_stream_send_json(s, json_integer(1));
	}
	if (mrpc_stream_kind(s) == MRPC_SOURCE || json_array_size(args) > 0)
		mrpc_stream_end(s, json_array_size(args) ? "x" : NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mrpc_api *api = mrpc_api_new();
	struct mrpc_cfg cfg = { .api = api, .send = check_send };
	struct psc_dec d;
	struct psc_packet pkt;
	struct mrpc *m;
	size_t off = 0, used;
	enum psc_result r;

	mrpc_api_add(api, "t.async", MRPC_ASYNC, h_async, NULL);
	mrpc_api_add(api, "t.source", MRPC_SOURCE, h_stream, NULL);
	mrpc_api_add(api, "t.duplex", MRPC_DUPLEX, h_stream, NULL);
	m = mrpc_new(&cfg);
	live += mrpc_call(m, "a.b", NULL, &cbs, NULL) != NULL;
	live += mrpc_open(m, "a.c", NULL, MRPC_DUPLEX, &cbs, NULL) != NULL;
	psc_dec_init(&d, 1 << 16);
	while (off < size) {
		r = psc_dec_feed(&d, data + off, size - off, &used, &pkt);
		off += used;
		if (r == PSC_PACKET && mrpc_on_packet(m, &pkt) == 0)
			continue;
		if (r == PSC_GOODBYE)
			mrpc_on_goodbye(m);
		if (r != PSC_AGAIN)
			break;
	}
	mrpc_free(m);
	psc_dec_free(&d);
	mrpc_api_free(api);
	if (live != 0)
		__builtin_trap();
	return 0;
}
