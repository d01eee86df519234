/*
 * datasets: the /v1/datasets resource (datasets.c), and what other
 * resources about a dataset (consent) use of it: loading a dataset with its
 * schema and its keys unwrapped, with the same visibility rules.
 */
#ifndef FIDUCIA_DATASETS_H
#define FIDUCIA_DATASETS_H

#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "schema.h"

#define DS_ID_LEN 19 /* "ds-" + 16 hex */

/* who may act: its holder; + operator, regulator; anyone (the caller decided) */
enum { DS_OWNER = 1, DS_READERS = 2, DS_ANY = 4 };

typedef struct ds {
	char id[DS_ID_LEN + 1];
	char holder[64];
	bool personal;
	int chunk_rows, key_version, schema_version;
	schema sch;
	uint8_t *subject_key; /* sodium_malloc'd, VAULT_KEY_BYTES */
	uint8_t *deks;        /* sodium_malloc'd, key_version * VAULT_KEY_BYTES */
} ds;

typedef void (*ds_loaded_cb)(http_req *r, ds *d);

/* Load the active dataset of path parameter {ds} with every key unwrapped,
 * for `who` (its holder; with DS_READERS also the operator and regulators);
 * otherwise reply 404 (or 5xx) and do not call cb. cb owns d (ds_free). */
void ds_load(http_req *r, unsigned who, ds_loaded_cb cb);
/* A dataset's stored columns (datasets.columns, JSON) as its schema. */
bool ds_schema_parse(const char *json, bool personal, schema *out)
        __attribute__((warn_unused_result));
/* ds_load for the dataset named id (a request body's). */
void ds_load_id(http_req *r, const char *id, unsigned who, ds_loaded_cb cb);
void ds_free(ds *d);
/* The DEK of a version, NULL if there is none. */
const uint8_t *ds_dek(const ds *d, int version);
bool ds_id_valid(const char *s);

#endif
