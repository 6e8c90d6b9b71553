/* log — see log.h. One formatter for every line fairway writes to stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

enum log_level log_max_level = LOG_INFO;
static enum log_format log_fmt = LOG_FMT_TEXT;
static char log_comp[24] = "fairway";

static const char *const level_names[] = { "error", "warning", "info", "debug" };

int log_init(void)
{
	static const struct { const char *name; enum log_level lvl; } names[] = {
		{ "error", LOG_ERR }, { "err", LOG_ERR }, { "warn", LOG_WARN },
		{ "warning", LOG_WARN }, { "info", LOG_INFO }, { "debug", LOG_DEBUG },
	};
	const char *v = getenv("FAIRWAY_LOG");
	const char *f = getenv("FAIRWAY_LOG_FORMAT");
	int rc = 0;

	if (daemon_stderr_is_journal())
		log_fmt = LOG_FMT_JOURNAL;
	if (f != NULL && log_set_format(f) != 0) {
		fprintf(stderr, "fairway: FAIRWAY_LOG_FORMAT='%s' is not a log format (text or json)\n", f);
		rc = -1;
	}
	if (v == NULL || v[0] == '\0')
		return rc;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(v, names[i].name) == 0) {
			log_max_level = names[i].lvl;
			return rc;
		}
	fprintf(stderr, "fairway: FAIRWAY_LOG='%s' is not a log level (error, warn, info or debug)\n", v);
	return -1;
}

void log_set_component(const char *cmd)
{
	snprintf(log_comp, sizeof(log_comp), "fairway-%s", cmd);
}

int log_set_format(const char *name)
{
	if (strcmp(name, "text") == 0)
		log_fmt = daemon_stderr_is_journal() ? LOG_FMT_JOURNAL : LOG_FMT_TEXT;
	else if (strcmp(name, "json") == 0)
		log_fmt = LOG_FMT_JSON;
	else
		return -1;
	return 0;
}

/* JSON string body: quotes, backslashes and control bytes escaped. */
static void json_escape(const char *s, char *out, size_t len)
{
	size_t o = 0;

	for (; *s != '\0' && o + 7 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, len - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	/* syslog priorities for the journal: err 3, warning 4, info 6, debug 7 */
	static const int prio[] = { 3, 4, 6, 7 };
	char line[1024], esc[2100], ts[64];
	struct timeval tv;
	struct tm tm;
	va_list ap;

	if (lvl > log_max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + 19, sizeof(ts) - 19, ".%03uZ", (unsigned)(tv.tv_usec / 1000) % 1000u);
	/* One fprintf per line so concurrent writers interleave whole lines. */
	switch (log_fmt) {
	case LOG_FMT_JOURNAL:  /* the journal adds its own time and pid */
		fprintf(stderr, "<%d>%s: %s\n", prio[lvl], level_names[lvl], line);
		break;
	case LOG_FMT_JSON:
		json_escape(line, esc, sizeof(esc));
		fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\",\"component\":\"%s\",\"pid\":%ld,"
		        "\"msg\":\"%s\"}\n", ts, level_names[lvl], log_comp, (long)getpid(), esc);
		break;
	default:
		fprintf(stderr, "%s %s[%ld] %s: %s\n", ts, log_comp, (long)getpid(), level_names[lvl], line);
	}
}
