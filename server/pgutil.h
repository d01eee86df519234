/*
 * pgutil: the small conversions between PostgreSQL's text results and the
 * API that every resource needs: status checks, the 503/500 answer to a
 * failed statement, epoch seconds to Timestamp, and bytea to and from its
 * hex form.
 */
#ifndef FIDUCIA_PGUTIL_H
#define FIDUCIA_PGUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "http.h"
#include "google/protobuf/timestamp.pb-c.h"

/* res is a result of the wanted status (NULL is a lost connection). */
bool pg_ok(const PGresult *res, ExecStatusType want);
/* 503 when the database is unavailable, else 500 "cannot <what>". */
void pg_reply_error(http_req *r, PGresult *res, const char *what);
/* extract(epoch ...)::float8 text into *ts, to the microsecond. */
void pg_timestamp(Google__Protobuf__Timestamp *ts, const char *epoch);
/* A bytea in PostgreSQL's text form ("\x0a1b...") into out (at most max
 * bytes); the length in *got. false when it is not one. */
bool pg_bytea(const char *text, uint8_t *out, size_t max, size_t *got);
/* n bytes as a bytea text parameter ("\x..."): cap >= 2 * n + 3. */
void pg_bytea_param(char *out, size_t cap, const uint8_t *b, size_t n);

#endif
