/* log — one line per event on stderr, one formatter for all of them.
 *
 *   text:    "2026-12-07T11:30:00.123Z fairway-portal[pid] LEVEL: message"
 *            (UTC; the component is the command that runs)
 *   journal: "<N>LEVEL: message" when stderr is the journal (JOURNAL_STREAM):
 *            the journal keeps time and pid, <N> is the syslog priority
 *   json:    {"time":…,"level":…,"component":…,"pid":…,"msg":…} (FAIRWAY_LOG_FORMAT=json
 *            or --log-format json), for log shippers
 *
 * Secrets are never passed here. */
#ifndef FAIRWAY_LOG_H
#define FAIRWAY_LOG_H

enum log_level { LOG_ERR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
enum log_format { LOG_FMT_TEXT, LOG_FMT_JOURNAL, LOG_FMT_JSON };

/* Messages above this level are dropped. Default LOG_INFO. */
extern enum log_level log_max_level;

/* Reads FAIRWAY_LOG (error, warn/warning, info, debug) and
 * FAIRWAY_LOG_FORMAT (text, json). Returns 0, or -1 after printing why a
 * value is not one of those (the caller exits with a usage error). */
int log_init(void);
/* The component named in each line: "fairway-CMD". */
void log_set_component(const char *cmd);
/* "text" or "json"; -1 for anything else. */
int log_set_format(const char *name);
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
