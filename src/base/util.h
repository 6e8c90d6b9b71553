/* util — small helpers shared by layers: the parsers' error text, and a
 * TCP counter whose struct only <linux/tcp.h> has (it clashes with the
 * <netinet/tcp.h> that uv.h brings, so it lives here, away from libuv). */
#ifndef FAIRWAY_UTIL_H
#define FAIRWAY_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Formats a one-line reason into err (errlen bytes); does nothing when err
 * is NULL or errlen is 0. The parsers' way of saying why. */
void util_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Segments TCP socket fd has sent since it was made, data and bare ACKs
 * alike (TCP_INFO's tcpi_segs_out, Linux ≥ 4.2): 0 or -errno. The
 * kernel's counter is 32 bits: take differences modulo 2^32. */
int util_tcp_segs_out(int fd, uint32_t *out);

/* Bytes of the valid UTF-8 sequence at s (1..4; 1 for ASCII and for the
 * terminating NUL), or 0 if s starts no valid sequence (a stray, overlong
 * or surrogate byte). Reads no further than the first bad byte. For the
 * text writers: Prometheus and Graphviz refuse invalid UTF-8. */
size_t util_utf8_len(const char *s);

/* Reconnect backoff: exponential, doubling from min_ms to max_ms, with
 * ±25 % jitter so peers that lost the same server do not all come back in
 * the same millisecond. *cur_ms is the state (0: nothing failed yet; set
 * it to 0 again on success); rnd is a random 32-bit number (randomness
 * passed in). Returns the delay before the next attempt. Pure. */
unsigned util_backoff_next(unsigned *cur_ms, unsigned min_ms, unsigned max_ms, uint32_t rnd);

/* Nanoseconds as milliseconds rounded to the microsecond (0.512, not
 * 0.511999…): what reports and JSON carry. Pure. */
double util_ms_of_ns(uint64_t ns);

/* A duration for people: "42s", "5m07s", "3h02m", "12d 4h". Returns buf
 * (16 bytes are enough). */
const char *util_duration_str(uint64_t seconds, char *buf, size_t len);

/* Seconds since the epoch as UTC ISO 8601, "2026-12-07T16:05:00Z"
 * (21 bytes). Returns buf. */
const char *util_utc_str(int64_t t, char *buf, size_t len);

#endif
