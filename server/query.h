/*
 * query: an aggregate query (proto/fiducia/v1/queries.proto) checked
 * against a dataset's schema and resolved into a plan the engine can run:
 * column indexes, filter values parsed to the column's type, the time
 * range in microseconds. Also the query's canonical form: equal questions
 * (same measures and groups in the same order, the same filters in any
 * order and spelling) give the same bytes, which the ledger records and
 * the repeat-query rule compares. Pure: schema, batch's value parsers and
 * pbjson only, so that it can be fuzzed alone.
 */
#ifndef FIDUCIA_QUERY_H
#define FIDUCIA_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema.h"
#include "fiducia/v1/queries.pb-c.h"

#define QUERY_MAX_MEASURES  16
#define QUERY_MAX_GROUPS    8
#define QUERY_MAX_FILTERS   16
#define QUERY_MAX_IN        1000
#define QUERY_MAX_BINS      65
#define QUERY_MAX_VALUE_LEN 256

typedef Fiducia__V1__Query__Measure__Fn query_fn;
typedef Fiducia__V1__Query__Group__Bucket query_bucket;
typedef Fiducia__V1__Query__Filter__Op query_op;

/* A filter value in its column's type. */
typedef struct query_value {
	int64_t i; /* INT64, BOOL (0/1), TIMESTAMP (microseconds) */
	double f;  /* FLOAT64 */
	char *s;   /* STRING (NUL-terminated, owned by the plan) */
} query_value;

typedef struct query_plan {
	size_t nmeasures;
	struct {
		query_fn fn;
		int col;      /* -1 for COUNT and COUNT_SUBJECTS */
		double *bins; /* HISTOGRAM: nbins ascending edges */
		size_t nbins;
	} measures[QUERY_MAX_MEASURES];
	size_t ngroups;
	struct {
		int col;
		query_bucket bucket; /* UNSPECIFIED for a DIMENSION */
	} groups[QUERY_MAX_GROUPS];
	size_t nfilters;
	struct {
		int col;
		query_op op;
		query_value *values; /* IN: sorted and distinct */
		size_t nvalues;
	} filters[QUERY_MAX_FILTERS];
	bool has_from, has_to;
	int64_t from_us, to_us; /* [from, to) */
	char *canonical;        /* canonical proto3 JSON of the normalised query */
	size_t canonical_len;
} query_plan;

/* The units a timeRange bound may be held to (a policy's finest time
 * granularity), in the order and with the values of pdp_granularity. */
typedef enum query_unit {
	QUERY_UNIT_HOUR = 1,
	QUERY_UNIT_DAY,
	QUERY_UNIT_WEEK,
	QUERY_UNIT_MONTH,
	QUERY_UNIT_YEAR,
} query_unit;

/* true when us (microseconds since the epoch, UTC) is the first instant of
 * its unit: an hour, a day, a week (Monday), a month, a year. A range whose
 * bounds are not would let two queries differ by less than the unit. */
bool query_time_on_boundary(int64_t us, query_unit u);

/* Check q against s and fill p. On failure err names the JSON path and the
 * rule broken ("$.filters[1].values[0]: not an INT64"), never echoing a
 * value, and p holds nothing to free. The caller checks q->dataset and the
 * purpose against the vocabulary. */
bool query_plan_build(const Fiducia__V1__Query *q, const schema *s, query_plan *p, char *err,
                      size_t errlen) __attribute__((warn_unused_result));
void query_plan_free(query_plan *p);

#endif
