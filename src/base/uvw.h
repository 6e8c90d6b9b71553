/* uvw — one write to a libuv stream, the way every lower layer does it:
 * the kernel first (uv_try_write, no copy), and only what it refuses
 * copied into one queued request. Shared by the TCP lower (conn.c) and
 * the WebSocket lower (wsconn.c). */
#ifndef FAIRWAY_UVW_H
#define FAIRWAY_UVW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* A queued write: cb gets &req (cast back), frees it with free(). */
struct uvw_req {
	uv_write_t req;
	void *owner;        /* the caller's, for cb */
	size_t len;         /* bytes in data (what went into libuv's queue) */
	uint8_t data[];
};

/* Writes all of p[0..len) to s. try_first: the stream has nothing queued
 * (else the kernel write would jump the queue). Returns 0 with *queued
 * the bytes left in libuv's queue (0 if the kernel took them all), or
 * -errno (nothing queued, the stream is broken or memory is out). */
int uvw_write(uv_stream_t *s, const uint8_t *p, size_t len, bool try_first, uv_write_cb cb,
              void *owner, size_t *queued);

#endif
