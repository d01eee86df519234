/*
 * schema: a dataset's typed columns, validated once when the dataset is
 * registered and carried by every deposit and query. Pure (no server
 * dependency), so that the parsers built on it can be fuzzed alone.
 */
#ifndef FIDUCIA_SCHEMA_H
#define FIDUCIA_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "fiducia/v1/datasets.pb-c.h"

#define SCHEMA_MAX_COLUMNS 64
#define SCHEMA_NAME_MAX    63

typedef enum schema_type {
	SCHEMA_INT64 = FIDUCIA__V1__COLUMN__TYPE__INT64,
	SCHEMA_FLOAT64 = FIDUCIA__V1__COLUMN__TYPE__FLOAT64,
	SCHEMA_STRING = FIDUCIA__V1__COLUMN__TYPE__STRING,
	SCHEMA_BOOL = FIDUCIA__V1__COLUMN__TYPE__BOOL,
	SCHEMA_TIMESTAMP = FIDUCIA__V1__COLUMN__TYPE__TIMESTAMP,
} schema_type;

typedef enum schema_role {
	SCHEMA_SUBJECT = FIDUCIA__V1__COLUMN__ROLE__SUBJECT,
	SCHEMA_TIME = FIDUCIA__V1__COLUMN__ROLE__TIME,
	SCHEMA_DIMENSION = FIDUCIA__V1__COLUMN__ROLE__DIMENSION,
	SCHEMA_MEASURE = FIDUCIA__V1__COLUMN__ROLE__MEASURE,
} schema_role;

typedef struct schema_column {
	char name[SCHEMA_NAME_MAX + 1];
	schema_type type;
	schema_role role;
	double min, max; /* MEASURE only */
} schema_column;

typedef struct schema {
	int ncols;
	bool personal;
	int subject; /* index of the SUBJECT column, -1 if none */
	schema_column cols[SCHEMA_MAX_COLUMNS];
} schema;

/* Validate columns and build s. On failure err names the JSON path
 * ("$.columns[2].max") and the rule broken. */
bool schema_from_pb(schema *s, bool personal, size_t n, Fiducia__V1__Column *const *cols, char *err,
                    size_t errlen) __attribute__((warn_unused_result));

/* Column index by name (n bytes, not NUL-terminated), -1 if absent. */
int schema_find(const schema *s, const char *name, size_t n);

const char *schema_type_name(schema_type t);

#endif
