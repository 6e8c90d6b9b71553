/* uvw — see uvw.h. */
#include "uvw.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int uvw_write(uv_stream_t *s, const uint8_t *p, size_t len, bool try_first, uv_write_cb cb,
              void *owner, size_t *queued)
{
	struct uvw_req *w;
	uv_buf_t b;
	int rc;

	*queued = 0;
	if (try_first) {
		/* libuv's buffers are not const; it only reads from them here. */
		b = uv_buf_init((char *)(uintptr_t)p, (unsigned)len);
		rc = uv_try_write(s, &b, 1);
		if (rc == (int)len)
			return 0;
		if (rc > 0) {
			p += rc;
			len -= (size_t)rc;
		} else if (rc != UV_EAGAIN) {
			return rc;
		}
	}
	w = malloc(sizeof(*w) + len);
	if (w == NULL)
		return -ENOMEM;
	memcpy(w->data, p, len);
	w->owner = owner;
	w->len = len;
	b = uv_buf_init((char *)w->data, (unsigned)len);
	rc = uv_write(&w->req, s, &b, 1, cb);
	if (rc < 0) {
		free(w);
		return rc;
	}
	*queued = len;
	return 0;
}
