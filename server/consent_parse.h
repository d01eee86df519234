/*
 * consent_parse: consent records from untrusted bytes (consent_parse.c).
 */
#ifndef FIDUCIA_CONSENT_PARSE_H
#define FIDUCIA_CONSENT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "pdp.h"
#include "schema.h"
#include "fiducia/v1/consent.pb-c.h"

#define CONSENT_MAX_RECORDS  1000000
#define CONSENT_INSERT_CHUNK 2000

enum { CONSENT_JSON, CONSENT_NDJSON, CONSENT_PB };

/* What fiduciad adds to one record, kept for its receipt. */
struct consent_parsed {
	char id[20];
	int64_t from, until; /* until 0: none */
};

typedef struct consent_import {
	/* set by the caller */
	int format;
	const pdp_vocab *vocab;
	const char *intermediary, *intermediary_contact;
	const char *dataset, *holder;
	const schema *sch;
	const uint8_t *subject_key;
	int64_t given_at; /* microseconds since the epoch */
	/* results */
	int status; /* 0, 400 or 413 */
	char err[400];
	Fiducia__V1__ConsentRecord **recs; /* the decoded records (raw subject wiped) */
	size_t n;
	ProtobufCMessage **owned; /* decoded messages, freed by consent_import_clear */
	size_t nowned;
	uint8_t (*pseud)[BATCH_PSEUDONYM_BYTES];
	uint8_t (*hash)[32]; /* each stored record's SHA-256 */
	struct consent_parsed *pv;
	char **sql_arrays; /* per chunk of CONSENT_INSERT_CHUNK: 7 array literals */
	size_t nchunks;
	char *all_ids; /* every new id, as one array literal */
	uint8_t batch_hash[32];
} consent_import;

/* Decode and check every record of data (len bytes); on success fill the
 * results. false with status and err (naming position and field) when any
 * record is bad: then nothing is to be stored. */
bool consent_import_parse(consent_import *im, const char *data, size_t len)
        __attribute__((warn_unused_result));
void consent_import_clear(consent_import *im);

/* A raw subject identifier's pseudonym (the vault's function; an INT64
 * subject in canonical decimal). false with err when it cannot be one. */
bool consent_pseudonymise(const schema *sch, const uint8_t *subject_key, const char *raw,
                          uint8_t out[BATCH_PSEUDONYM_BYTES], char *err, size_t errlen)
        __attribute__((warn_unused_result));

int64_t consent_ts_micros(const Google__Protobuf__Timestamp *t);
void consent_micros_ts(Google__Protobuf__Timestamp *t, int64_t us);

#endif
