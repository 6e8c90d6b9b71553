/* util — small helpers shared by the pure layers. */
#ifndef FAIRWAY_UTIL_H
#define FAIRWAY_UTIL_H

#include <stddef.h>

/* Formats a one-line reason into err (errlen bytes); does nothing when err
 * is NULL or errlen is 0. The parsers' way of saying why. */
void util_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
