/*
 * log: one JSON object per line on stderr. Macros test the level before
 * formatting. Messages are free text; structured fields go through
 * log_event(). Never pass a secret, token, raw subject identifier or
 * deposited value to any of these.
 */
#ifndef FIDUCIA_LOG_H
#define FIDUCIA_LOG_H

#include <stdarg.h>
#include <stdbool.h>

typedef enum log_level {
	LOG_LEVEL_DEBUG = 0,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
} log_level;

extern log_level log_min_level;

/* "debug", "info", "warn", "error" -> level; false when unknown. */
bool log_level_parse(const char *s, log_level *out) __attribute__((warn_unused_result));

void log_msg(log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A structured event: key/value string pairs, NULL-terminated, e.g.
 * log_event(LOG_LEVEL_INFO, "access", "method", "GET", "status", "200", NULL).
 * A key whose name ends in '#' is written as a bare JSON number/literal. */
void log_event(log_level lvl, const char *event, ...) __attribute__((sentinel));

#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_min_level <= LOG_LEVEL_DEBUG)                                              \
			log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__);                                     \
	} while (0)
#define log_info(...)                                                                              \
	do {                                                                                       \
		if (log_min_level <= LOG_LEVEL_INFO)                                               \
			log_msg(LOG_LEVEL_INFO, __VA_ARGS__);                                      \
	} while (0)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
