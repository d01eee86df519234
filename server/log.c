/*
 * JSON-lines logging to stderr. Each line is built in a local buffer and
 * written with one write(2), so concurrent processes sharing a file do not
 * interleave within a line.
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

log_level log_min_level = LOG_LEVEL_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

bool log_level_parse(const char *s, log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (log_level)i;
			return true;
		}
	}
	return false;
}

struct line {
	char buf[4096];
	size_t len;
};

static void put(struct line *l, const char *s, size_t n)
{
	if (n > sizeof l->buf - 2 - l->len)
		n = sizeof l->buf - 2 - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

/* Append s as a JSON string body (no quotes), escaping as RFC 8259 asks. */
static void put_escaped(struct line *l, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(l, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			int n = snprintf(esc, sizeof esc, "\\u%04x", c);
			put(l, esc, (size_t)n);
		} else {
			put(l, (const char *)&c, 1);
		}
	}
}

static void begin(struct line *l, log_level lvl)
{
	struct timeval tv;
	struct tm tm;
	char ts[64];
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof ts - n, ".%03dZ", (int)(tv.tv_usec / 1000));
	l->len = 0;
	put(l, "{\"ts\":\"", 7);
	put(l, ts, strlen(ts));
	put(l, "\",\"level\":\"", 11);
	put(l, level_names[lvl], strlen(level_names[lvl]));
	put(l, "\"", 1);
}

static void finish(struct line *l)
{
	l->buf[l->len++] = '}';
	l->buf[l->len++] = '\n';
	ssize_t r = write(STDERR_FILENO, l->buf, l->len);
	(void)r;
}

void log_msg(log_level lvl, const char *fmt, ...)
{
	if (lvl < log_min_level)
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct line l;
	begin(&l, lvl);
	put(&l, ",\"msg\":\"", 8);
	put_escaped(&l, msg);
	put(&l, "\"", 1);
	finish(&l);
}

void log_event(log_level lvl, const char *event, ...)
{
	if (lvl < log_min_level)
		return;
	struct line l;
	begin(&l, lvl);
	put(&l, ",\"event\":\"", 10);
	put_escaped(&l, event);
	put(&l, "\"", 1);
	va_list ap;
	va_start(ap, event);
	const char *k;
	while ((k = va_arg(ap, const char *)) != NULL) {
		const char *v = va_arg(ap, const char *);
		size_t kl = strlen(k);
		bool bare = kl > 0 && k[kl - 1] == '#';
		put(&l, ",\"", 2);
		put(&l, k, bare ? kl - 1 : kl);
		put(&l, bare ? "\":" : "\":\"", bare ? 2 : 3);
		put_escaped(&l, v ? v : "");
		if (!bare)
			put(&l, "\"", 1);
	}
	va_end(ap);
	finish(&l);
}
