#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum log_level log_max_level = LOG_INFO;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

void log_init(void)
{
	const char *v = getenv("FAIRWAY_LOG");

	if (v == NULL)
		return;
	for (int i = 0; i <= LOG_DEBUG; i++)
		if (strcmp(v, level_names[i]) == 0)
			log_max_level = (enum log_level)i;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (lvl > log_max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fprintf per line so concurrent writers interleave whole lines. */
	fprintf(stderr, "fairway[%ld] %s: %s\n", (long)getpid(), level_names[lvl], line);
}
