/* log — one line per event on stderr.
 *
 * Format: "fairway[pid] LEVEL: message". Secrets are never passed here. */
#ifndef FAIRWAY_LOG_H
#define FAIRWAY_LOG_H

enum log_level { LOG_ERR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Messages above this level are dropped. Default LOG_INFO; FAIRWAY_LOG=debug
 * in the environment raises it (read once by log_init). */
extern enum log_level log_max_level;

void log_init(void);
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
