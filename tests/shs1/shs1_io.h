/* Shared helpers for the shs1-test adapters (protocol.md §3.5): exact-size
 * reads and writes on stdin/stdout and hex arguments. Header-only so that
 * meson's one-file-per-adapter rule keeps working. */
#ifndef FAIRWAY_SHS1_IO_H
#define FAIRWAY_SHS1_IO_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

/* Exit statuses: the harness only needs "0 = done, non-zero = refused". */
enum { SHS1_OK = 0, SHS1_REFUSED = 1, SHS1_USAGE = 2 };

/* Reads exactly len bytes. A short read (pipe chunks), EINTR and a final
 * EOF are all normal on a pipe; only len bytes in total count. */
static inline int shs1_read_full(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE; /* peer closed mid-handshake */
		got += (size_t)n;
	}
	return 0;
}

static inline int shs1_write_full(int fd, const uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

/* Exactly 2*len hex digits, nothing else. */
static inline int shs1_hex_arg(uint8_t *out, size_t len, const char *hex)
{
	size_t got = 0;
	const char *end = NULL;

	if (strlen(hex) != 2 * len)
		return -EINVAL;
	if (sodium_hex2bin(out, len, hex, 2 * len, NULL, &got, &end) != 0 || got != len)
		return -EINVAL;
	return 0;
}

/* The harness copies our stderr into its own output: stay quiet unless
 * SHS1_DEBUG is set, so 25 expected refusals don't flood CI logs. */
__attribute__((format(printf, 1, 2)))
static inline void shs1_debug(const char *fmt, ...)
{
	va_list ap;

	if (getenv("SHS1_DEBUG") == NULL)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#endif
