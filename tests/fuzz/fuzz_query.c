/*
 * libFuzzer harness for the query checker (server/query.c) behind its two
 * decoders. The first byte picks the input's form (byte % 2): proto3 JSON
 * through pbjson, or a binary Query. A query that passes is checked for
 * what a plan must hold (columns in range and of the right role, IN values
 * strictly ascending, bins strictly ascending, a canonical form), and its
 * canonical form must decode and pass again to the very same canonical
 * bytes. Any difference aborts.
 */
#include "../../server/schema.c"
#include "../../server/batch.c"
#include "../../server/query.c"
#include "pbjson.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static schema fz_schema;
static bool fz_ready;

static void fz_init(void)
{
	static const struct {
		const char *name;
		Fiducia__V1__Column__Type t;
		Fiducia__V1__Column__Role r;
		double min, max;
	} cols[] = {
	        {"driver_id", FIDUCIA__V1__COLUMN__TYPE__STRING, FIDUCIA__V1__COLUMN__ROLE__SUBJECT,
	         0, 0},
	        {"pub_time", FIDUCIA__V1__COLUMN__TYPE__TIMESTAMP, FIDUCIA__V1__COLUMN__ROLE__TIME,
	         0, 0},
	        {"district", FIDUCIA__V1__COLUMN__TYPE__STRING,
	         FIDUCIA__V1__COLUMN__ROLE__DIMENSION, 0, 0},
	        {"road_type", FIDUCIA__V1__COLUMN__TYPE__INT64,
	         FIDUCIA__V1__COLUMN__ROLE__DIMENSION, 0, 0},
	        {"weekend", FIDUCIA__V1__COLUMN__TYPE__BOOL, FIDUCIA__V1__COLUMN__ROLE__DIMENSION,
	         0, 0},
	        {"level", FIDUCIA__V1__COLUMN__TYPE__FLOAT64, FIDUCIA__V1__COLUMN__ROLE__DIMENSION,
	         0, 0},
	        {"seen", FIDUCIA__V1__COLUMN__TYPE__TIMESTAMP, FIDUCIA__V1__COLUMN__ROLE__DIMENSION,
	         0, 0},
	        {"speed_kmh", FIDUCIA__V1__COLUMN__TYPE__FLOAT64,
	         FIDUCIA__V1__COLUMN__ROLE__MEASURE, 0, 250},
	        {"delay_s", FIDUCIA__V1__COLUMN__TYPE__INT64, FIDUCIA__V1__COLUMN__ROLE__MEASURE, 0,
	         86400},
	};
	Fiducia__V1__Column c[9], *p[9];
	for (int i = 0; i < 9; i++) {
		fiducia__v1__column__init(&c[i]);
		c[i].name = (char *)cols[i].name;
		c[i].type = cols[i].t;
		c[i].role = cols[i].r;
		c[i].min = cols[i].min;
		c[i].max = cols[i].max;
		p[i] = &c[i];
	}
	char err[256];
	if (!schema_from_pb(&fz_schema, true, 9, p, err, sizeof err))
		abort();
	fz_ready = true;
}

static int cmp_vals(const schema_column *c, const query_value *a, const query_value *b)
{
	if (c->type == SCHEMA_STRING)
		return strcmp(a->s, b->s);
	if (c->type == SCHEMA_FLOAT64)
		return (a->f > b->f) - (a->f < b->f);
	return (a->i > b->i) - (a->i < b->i);
}

static void check_plan(const query_plan *p)
{
	const schema *s = &fz_schema;
	if (!p->canonical || p->nmeasures < 1 || p->nmeasures > QUERY_MAX_MEASURES ||
	    p->ngroups > QUERY_MAX_GROUPS || p->nfilters > QUERY_MAX_FILTERS)
		abort();
	for (size_t i = 0; i < p->nmeasures; i++) {
		int c = p->measures[i].col;
		if (c >= 0 && (c >= s->ncols || s->cols[c].role != SCHEMA_MEASURE))
			abort();
		for (size_t k = 1; k < p->measures[i].nbins; k++)
			if (!(p->measures[i].bins[k] > p->measures[i].bins[k - 1]))
				abort();
	}
	for (size_t i = 0; i < p->ngroups; i++) {
		int c = p->groups[i].col;
		if (c < 0 || c >= s->ncols ||
		    (s->cols[c].role != SCHEMA_DIMENSION && s->cols[c].role != SCHEMA_TIME))
			abort();
	}
	for (size_t i = 0; i < p->nfilters; i++) {
		int c = p->filters[i].col;
		if (c < 0 || c >= s->ncols || s->cols[c].role != SCHEMA_DIMENSION ||
		    p->filters[i].nvalues < 1)
			abort();
		if (p->filters[i].op == FIDUCIA__V1__QUERY__FILTER__OP__IN)
			for (size_t k = 1; k < p->filters[i].nvalues; k++)
				if (cmp_vals(&s->cols[c], &p->filters[i].values[k - 1],
				             &p->filters[i].values[k]) >= 0)
					abort();
	}
	if (p->has_from && p->has_to && !(p->from_us < p->to_us))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fz_ready)
		fz_init();
	if (size < 1)
		return 0;
	ProtobufCMessage *m = NULL;
	if (data[0] % 2 == 0) {
		pbjson_error pe;
		if (!pbjson_decode(&fiducia__v1__query__descriptor, (const char *)data + 1,
		                   size - 1, NULL, &m, &pe))
			return 0;
	} else {
		m = (ProtobufCMessage *)fiducia__v1__query__unpack(NULL, size - 1, data + 1);
		if (!m)
			return 0;
	}
	query_plan p;
	char err[256];
	if (query_plan_build((Fiducia__V1__Query *)m, &fz_schema, &p, err, sizeof err)) {
		check_plan(&p);
		/* The canonical form is itself a query with the same canonical form. */
		ProtobufCMessage *again = NULL;
		pbjson_error pe;
		query_plan p2;
		if (!pbjson_decode(&fiducia__v1__query__descriptor, p.canonical, p.canonical_len,
		                   NULL, &again, &pe) ||
		    !query_plan_build((Fiducia__V1__Query *)again, &fz_schema, &p2, err,
		                      sizeof err))
			abort();
		if (p2.canonical_len != p.canonical_len ||
		    memcmp(p2.canonical, p.canonical, p.canonical_len) != 0)
			abort();
		query_plan_free(&p2);
		protobuf_c_message_free_unpacked(again, NULL);
		query_plan_free(&p);
	} else if (!err[0] || strlen(err) >= sizeof err) {
		abort(); /* every refusal says why */
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}
