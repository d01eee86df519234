/*
 * batch: a deposit, parsed and validated as a whole before anything is
 * stored. CSV (RFC 4180 with a header row) or a DepositBatch message (from
 * JSON or binary protobuf) becomes one typed array per column; the SUBJECT
 * column is replaced at once by keyed pseudonyms, so a raw identifier never
 * leaves this module. Pure: no libevent, libpq or server dependency.
 */
#ifndef FIDUCIA_BATCH_H
#define FIDUCIA_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema.h"
#include "fiducia/v1/datasets.pb-c.h"

#define BATCH_PSEUDONYM_BYTES 16   /* 128 bits: no collision short of 2^64 subjects */
#define BATCH_MAX_STRING      4096 /* bytes in one STRING value */

typedef struct batch_str {
	const char *p; /* into the request body, the message or the batch's arena */
	uint32_t len;
} batch_str;

typedef struct batch_column {
	int64_t *i;    /* INT64, BOOL (0/1), TIMESTAMP (microseconds since the epoch) */
	double *f;     /* FLOAT64 */
	batch_str *s;  /* STRING */
	uint32_t *sub; /* the SUBJECT column: index into batch.pseudonyms */
} batch_column;

typedef struct batch_slot {
	uint64_t tag[2];
	uint32_t idx; /* 1 + index into pseudonyms; 0 = empty */
} batch_slot;

typedef struct batch {
	const schema *schema;
	size_t rows, cap;
	batch_column cols[SCHEMA_MAX_COLUMNS];
	uint8_t (*pseudonyms)[BATCH_PSEUDONYM_BYTES]; /* distinct subjects, first-seen order */
	size_t npseudonyms;
	/* internals */
	char *arena; /* unescaped quoted CSV strings */
	size_t arena_used, arena_cap;
	batch_slot *subj_slots; /* distinct subjects by keyed tag (open addressing) */
	batch_str *subj_raw;    /* raw subject per row, during the parse only */
	uint8_t hash_key[16];
	const uint8_t *subject_key;
	uint8_t key_fp[8]; /* the subject key's fingerprint, for the cache */
	bool key_fp_set;
} batch;

/* Parse CSV text (len bytes; it must outlive b) under schema s; subject_key
 * (32 bytes) keys the pseudonyms. On failure err names the line and column
 * and b holds nothing. Free b with batch_free either way. */
bool batch_parse_csv(batch *b, const schema *s, const uint8_t *subject_key, const char *data,
                     size_t len, char *err, size_t errlen) __attribute__((warn_unused_result));

/* The same for a decoded DepositBatch (m must outlive b); errors name the
 * row (from 1) and the column. */
bool batch_parse_pb(batch *b, const schema *s, const uint8_t *subject_key,
                    const Fiducia__V1__DepositBatch *m, char *err, size_t errlen)
        __attribute__((warn_unused_result));

void batch_free(batch *b);

/* The process-wide pseudonym cache (off until initialised): slots entries,
 * rounded up to a power of two. batch_cache_free wipes it. */
bool batch_cache_init(size_t slots) __attribute__((warn_unused_result));
void batch_cache_free(void);
void batch_cache_stats(uint64_t *hits, uint64_t *misses);

/* A subject's pseudonym: keyed BLAKE2b-128 of its canonical text (for an
 * INT64 subject, its decimal form without leading zeros or '+'). The
 * consent registry uses this same function. */
void batch_pseudonym(const uint8_t *subject_key, const char *raw, size_t len,
                     uint8_t out[BATCH_PSEUDONYM_BYTES]);

/* Value parsers shared with the query engine's filters. Whole input only. */
bool batch_parse_int64(const char *p, size_t n, int64_t *out);
bool batch_parse_float64(const char *p, size_t n, double *out);
bool batch_parse_bool(const char *p, size_t n, int64_t *out);
/* RFC 3339 ("2026-01-01T08:00:00Z", "...+02:00", fractions to microseconds)
 * or epoch milliseconds (digits, optionally negative). */
bool batch_parse_timestamp(const char *p, size_t n, int64_t *micros);
/* Days from 1970-01-01 to y-m-d (m 1-12) in the proleptic Gregorian calendar. */
int64_t batch_days_from_civil(int64_t y, int m, int d);
/* n bytes of well-formed UTF-8 (no overlong forms, surrogates or code
 * points beyond U+10FFFF). */
bool batch_utf8_valid(const unsigned char *s, size_t n);

#endif
