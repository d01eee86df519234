#include "pgutil.h"
#include "db.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

bool pg_ok(const PGresult *res, ExecStatusType want)
{
	return res && PQresultStatus(res) == want;
}

void pg_reply_error(http_req *r, PGresult *res, const char *what)
{
	if (!res || db_result_is_unavailable(res))
		http_reply_unavailable(r);
	else
		http_reply_error(r, 500, "internal", "cannot %s", what);
}

void pg_timestamp(Google__Protobuf__Timestamp *ts, const char *epoch)
{
	double d = strtod(epoch, NULL);
	ts->seconds = (int64_t)d;
	ts->nanos = (int32_t)((d - (double)ts->seconds) * 1e6 + 0.5) * 1000;
	if (ts->nanos < 0 || ts->nanos > 999999999)
		ts->nanos = 0;
}

bool pg_bytea(const char *text, uint8_t *out, size_t max, size_t *got)
{
	if (strncmp(text, "\\x", 2) != 0)
		return false;
	return sodium_hex2bin(out, max, text + 2, strlen(text + 2), NULL, got, NULL) == 0;
}

void pg_bytea_param(char *out, size_t cap, const uint8_t *b, size_t n)
{
	out[0] = '\\';
	out[1] = 'x';
	sodium_bin2hex(out + 2, cap - 2, b, n);
}
