/*
 * query: checking a query against a schema, its plan and canonical form;
 * see query.h.
 */
#include "query.h"
#include "batch.h"
#include "pbjson.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool fail(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static bool fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return false;
}

static int cmp_value_i(const void *a, const void *b)
{
	int64_t x = ((const query_value *)a)->i, y = ((const query_value *)b)->i;
	return (x > y) - (x < y);
}

static int cmp_value_f(const void *a, const void *b)
{
	double x = ((const query_value *)a)->f, y = ((const query_value *)b)->f;
	return (x > y) - (x < y);
}

static int cmp_value_s(const void *a, const void *b)
{
	return strcmp(((const query_value *)a)->s, ((const query_value *)b)->s);
}

void query_plan_free(query_plan *p)
{
	for (size_t i = 0; i < p->nmeasures; i++)
		free(p->measures[i].bins);
	for (size_t i = 0; i < p->nfilters; i++) {
		for (size_t k = 0; k < p->filters[i].nvalues; k++)
			free(p->filters[i].values[k].s);
		free(p->filters[i].values);
	}
	free(p->canonical);
	memset(p, 0, sizeof *p);
}

/* Look a column up; the error never echoes the name asked for. */
static int column(const schema *s, const char *name, const char *path, char *err, size_t errlen)
{
	int c = name[0] ? schema_find(s, name, strlen(name)) : -1;
	if (c < 0)
		fail(err, errlen, "%s: %s", path,
		     name[0] ? "no such column in the dataset" : "a column is required");
	return c;
}

static bool parse_value(const schema_column *c, const char *v, query_value *out, const char *path,
                        char *err, size_t errlen)
{
	size_t n = strlen(v);
	memset(out, 0, sizeof *out);
	switch (c->type) {
	case SCHEMA_INT64:
		return batch_parse_int64(v, n, &out->i) ||
		       fail(err, errlen, "%s: not an INT64", path);
	case SCHEMA_FLOAT64:
		if (!batch_parse_float64(v, n, &out->f) || !isfinite(out->f))
			return fail(err, errlen, "%s: not a finite FLOAT64", path);
		if (out->f == 0)
			out->f = 0; /* -0 and 0 are one value */
		return true;
	case SCHEMA_BOOL:
		return batch_parse_bool(v, n, &out->i) ||
		       fail(err, errlen, "%s: not a BOOL (true or false)", path);
	case SCHEMA_TIMESTAMP:
		if (!batch_parse_timestamp(v, n, &out->i))
			return fail(err, errlen, "%s: not a TIMESTAMP (RFC 3339)", path);
		/* years 1 to 9999 in UTC, as the canonical form writes them */
		if (out->i < -62135596800000000LL || out->i > 253402300799999999LL)
			return fail(err, errlen, "%s: a TIMESTAMP of the years 1 to 9999", path);
		return true;
	case SCHEMA_STRING:
		if (n > QUERY_MAX_VALUE_LEN || !batch_utf8_valid((const unsigned char *)v, n))
			return fail(err, errlen, "%s: at most %d bytes of UTF-8", path,
			            QUERY_MAX_VALUE_LEN);
		if (!(out->s = strdup(v)))
			abort();
		return true;
	}
	return fail(err, errlen, "%s: the column's type cannot be filtered on", path);
}

static bool check_measures(const Fiducia__V1__Query *q, const schema *s, query_plan *p, char *err,
                           size_t errlen)
{
	if (q->n_measures == 0 || q->n_measures > QUERY_MAX_MEASURES)
		return fail(err, errlen, "$.measures: 1 to %d measures", QUERY_MAX_MEASURES);
	for (size_t i = 0; i < q->n_measures; i++) {
		const Fiducia__V1__Query__Measure *m = q->measures[i];
		char path[64];
		snprintf(path, sizeof path, "$.measures[%zu]", i);
		p->measures[i].fn = m->fn;
		p->measures[i].col = -1;
		p->nmeasures = i + 1;
		switch (m->fn) {
		case FIDUCIA__V1__QUERY__MEASURE__FN__COUNT:
		case FIDUCIA__V1__QUERY__MEASURE__FN__COUNT_SUBJECTS:
			if (m->column[0] || m->n_bins)
				return fail(
				        err, errlen,
				        "%s: COUNT and COUNT_SUBJECTS take no column and no bins",
				        path);
			if (m->fn == FIDUCIA__V1__QUERY__MEASURE__FN__COUNT_SUBJECTS &&
			    s->subject < 0)
				return fail(err, errlen,
				            "%s.fn: COUNT_SUBJECTS needs a dataset with a SUBJECT "
				            "column",
				            path);
			continue;
		case FIDUCIA__V1__QUERY__MEASURE__FN__SUM:
		case FIDUCIA__V1__QUERY__MEASURE__FN__MEAN:
		case FIDUCIA__V1__QUERY__MEASURE__FN__HISTOGRAM:
			break;
		default:
			return fail(err, errlen,
			            "%s.fn: one of COUNT, COUNT_SUBJECTS, SUM, MEAN, HISTOGRAM",
			            path);
		}
		char cpath[80];
		snprintf(cpath, sizeof cpath, "%s.column", path);
		int c = column(s, m->column, cpath, err, errlen);
		if (c < 0)
			return false;
		if (s->cols[c].role != SCHEMA_MEASURE)
			return fail(err, errlen,
			            "%s: SUM, MEAN and HISTOGRAM take a MEASURE column", cpath);
		p->measures[i].col = c;
		if (m->fn != FIDUCIA__V1__QUERY__MEASURE__FN__HISTOGRAM) {
			if (m->n_bins)
				return fail(err, errlen, "%s.bins: only a HISTOGRAM has bins",
				            path);
			continue;
		}
		if (m->n_bins < 2 || m->n_bins > QUERY_MAX_BINS)
			return fail(err, errlen, "%s.bins: 2 to %d edges", path, QUERY_MAX_BINS);
		p->measures[i].bins = malloc(m->n_bins * sizeof *m->bins);
		if (!p->measures[i].bins)
			abort();
		for (size_t k = 0; k < m->n_bins; k++) {
			if (!isfinite(m->bins[k]) || (k && !(m->bins[k] > m->bins[k - 1])))
				return fail(err, errlen,
				            "%s.bins[%zu]: edges must be finite and strictly "
				            "ascending",
				            path, k);
			p->measures[i].bins[k] = m->bins[k] == 0 ? 0 : m->bins[k];
		}
		p->measures[i].nbins = m->n_bins;
	}
	return true;
}

static bool check_groups(const Fiducia__V1__Query *q, const schema *s, query_plan *p, char *err,
                         size_t errlen)
{
	if (q->n_group_by > QUERY_MAX_GROUPS)
		return fail(err, errlen, "$.groupBy: at most %d groups", QUERY_MAX_GROUPS);
	for (size_t i = 0; i < q->n_group_by; i++) {
		const Fiducia__V1__Query__Group *g = q->group_by[i];
		char path[64];
		snprintf(path, sizeof path, "$.groupBy[%zu].column", i);
		int c = column(s, g->column, path, err, errlen);
		if (c < 0)
			return false;
		for (size_t k = 0; k < i; k++)
			if (p->groups[k].col == c)
				return fail(err, errlen, "%s: the same column twice", path);
		bool bucket = g->bucket != FIDUCIA__V1__QUERY__GROUP__BUCKET__BUCKET_UNSPECIFIED;
		if (s->cols[c].role == SCHEMA_TIME) {
			if (!bucket)
				return fail(err, errlen,
				            "$.groupBy[%zu].bucket: the TIME column is grouped by "
				            "HOUR, DAY, "
				            "WEEK or MONTH",
				            i);
		} else if (s->cols[c].role == SCHEMA_DIMENSION) {
			if (bucket)
				return fail(
				        err, errlen,
				        "$.groupBy[%zu].bucket: only the TIME column has buckets",
				        i);
		} else {
			return fail(err, errlen,
			            "%s: groups are on DIMENSION columns or the TIME column (a "
			            "MEASURE or the SUBJECT would single out rows)",
			            path);
		}
		p->groups[i].col = c;
		p->groups[i].bucket = g->bucket;
		p->ngroups = i + 1;
	}
	return true;
}

static bool check_filters(const Fiducia__V1__Query *q, const schema *s, query_plan *p, char *err,
                          size_t errlen)
{
	if (q->n_filters > QUERY_MAX_FILTERS)
		return fail(err, errlen, "$.filters: at most %d filters", QUERY_MAX_FILTERS);
	for (size_t i = 0; i < q->n_filters; i++) {
		const Fiducia__V1__Query__Filter *f = q->filters[i];
		char path[64];
		snprintf(path, sizeof path, "$.filters[%zu].column", i);
		int c = column(s, f->column, path, err, errlen);
		if (c < 0)
			return false;
		if (s->cols[c].role != SCHEMA_DIMENSION)
			return fail(err, errlen, "%s: filters are on DIMENSION columns", path);
		bool in = f->op == FIDUCIA__V1__QUERY__FILTER__OP__IN;
		bool order = f->op >= FIDUCIA__V1__QUERY__FILTER__OP__LT &&
		             f->op <= FIDUCIA__V1__QUERY__FILTER__OP__GE;
		if (f->op < FIDUCIA__V1__QUERY__FILTER__OP__EQ ||
		    f->op > FIDUCIA__V1__QUERY__FILTER__OP__GE)
			return fail(err, errlen,
			            "$.filters[%zu].op: one of EQ, NE, IN, LT, LE, GT, GE", i);
		if (order && s->cols[c].type == SCHEMA_BOOL)
			return fail(err, errlen, "$.filters[%zu].op: a BOOL column is not ordered",
			            i);
		if (in ? f->n_values < 1 || f->n_values > QUERY_MAX_IN : f->n_values != 1)
			return fail(err, errlen, "$.filters[%zu].values: %s", i,
			            in ? "IN takes 1 to 1000 values" : "exactly one value");
		p->filters[i].col = c;
		p->filters[i].op = f->op;
		p->filters[i].values = calloc(f->n_values, sizeof *p->filters[i].values);
		if (!p->filters[i].values)
			abort();
		p->nfilters = i + 1;
		for (size_t k = 0; k < f->n_values; k++) {
			char vpath[80];
			snprintf(vpath, sizeof vpath, "$.filters[%zu].values[%zu]", i, k);
			if (!parse_value(&s->cols[c], f->values[k], &p->filters[i].values[k], vpath,
			                 err, errlen))
				return false;
			p->filters[i].nvalues = k + 1;
		}
		if (!in)
			continue;
		/* IN: sorted and distinct, so that spelling and order do not matter. */
		int (*cmp)(const void *, const void *) =
		        s->cols[c].type == SCHEMA_STRING    ? cmp_value_s
		        : s->cols[c].type == SCHEMA_FLOAT64 ? cmp_value_f
		                                            : cmp_value_i;
		query_value *v = p->filters[i].values;
		size_t n = p->filters[i].nvalues, w = 0;
		qsort(v, n, sizeof *v, cmp);
		for (size_t k = 0; k < n; k++) {
			if (w && cmp(&v[w - 1], &v[k]) == 0) {
				free(v[k].s);
				continue;
			}
			v[w++] = v[k];
		}
		p->filters[i].nvalues = w;
	}
	return true;
}

static bool check_time(const Fiducia__V1__Query *q, const schema *s, query_plan *p, char *err,
                       size_t errlen)
{
	const Fiducia__V1__Query__TimeRange *t = q->time_range;
	if (!t || (!t->from && !t->to))
		return true;
	int tc = -1;
	for (int c = 0; c < s->ncols; c++)
		if (s->cols[c].role == SCHEMA_TIME)
			tc = c;
	if (tc < 0)
		return fail(err, errlen, "$.timeRange: the dataset has no TIME column");
	const Google__Protobuf__Timestamp *ts[2] = {t->from, t->to};
	int64_t us[2] = {0, 0};
	for (int k = 0; k < 2; k++) {
		if (!ts[k])
			continue;
		/* years 1..9999, as RFC 3339 can write them */
		if (ts[k]->seconds < -62135596800LL || ts[k]->seconds > 253402300799LL ||
		    ts[k]->nanos < 0 || ts[k]->nanos > 999999999)
			return fail(err, errlen, "$.timeRange.%s: out of range", k ? "to" : "from");
		us[k] = ts[k]->seconds * 1000000 + ts[k]->nanos / 1000;
	}
	p->has_from = t->from != NULL;
	p->has_to = t->to != NULL;
	p->from_us = us[0];
	p->to_us = us[1];
	if (p->has_from && p->has_to && !(p->from_us < p->to_us))
		return fail(err, errlen, "$.timeRange: from must be before to");
	return true;
}

static int cmp_filter(const void *a, const void *b)
{
	const Fiducia__V1__Query__Filter *x = *(Fiducia__V1__Query__Filter *const *)a,
	                                 *y = *(Fiducia__V1__Query__Filter *const *)b;
	int c = strcmp(x->column, y->column);
	if (c)
		return c;
	if (x->op != y->op)
		return (x->op > y->op) - (x->op < y->op);
	size_t n = x->n_values < y->n_values ? x->n_values : y->n_values;
	for (size_t i = 0; i < n; i++)
		if ((c = strcmp(x->values[i], y->values[i])))
			return c;
	return (x->n_values > y->n_values) - (x->n_values < y->n_values);
}

/* A value in one spelling per type. */
static char *canon_value(const schema_column *c, const query_value *v)
{
	char buf[64];
	switch (c->type) {
	case SCHEMA_STRING:
		return strdup(v->s);
	case SCHEMA_FLOAT64:
		snprintf(buf, sizeof buf, "%.17g", v->f);
		break;
	case SCHEMA_BOOL:
		snprintf(buf, sizeof buf, "%s", v->i ? "true" : "false");
		break;
	case SCHEMA_TIMESTAMP: { /* RFC 3339 in UTC, to the microsecond */
		int64_t sec = v->i / 1000000, us = v->i % 1000000;
		if (us < 0)
			us += 1000000, sec--;
		time_t t = (time_t)sec;
		struct tm tm;
		if (!gmtime_r(&t, &tm)) { /* beyond what the parser accepts: cannot happen */
			snprintf(buf, sizeof buf, "%lld", (long long)v->i);
			break;
		}
		snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ",
		         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		         tm.tm_sec, (long long)us);
		break;
	}
	default: /* INT64 */
		snprintf(buf, sizeof buf, "%lld", (long long)v->i);
		break;
	}
	return strdup(buf);
}

/* The normalised query as canonical proto3 JSON: measures and groups as
 * given (their order shapes the answer), columns by their schema names,
 * filters sorted, values in one spelling, IN values sorted and distinct. */
static bool canonicalise(const Fiducia__V1__Query *q, const schema *s, query_plan *p)
{
	Fiducia__V1__Query c = FIDUCIA__V1__QUERY__INIT;
	c.dataset = q->dataset;
	c.purpose = q->purpose;
	Fiducia__V1__Query__Measure ms[QUERY_MAX_MEASURES], *mp[QUERY_MAX_MEASURES];
	for (size_t i = 0; i < p->nmeasures; i++) {
		fiducia__v1__query__measure__init(&ms[i]);
		ms[i].fn = p->measures[i].fn;
		ms[i].column = p->measures[i].col >= 0 ? (char *)s->cols[p->measures[i].col].name
		                                       : (char *)"";
		ms[i].bins = p->measures[i].bins;
		ms[i].n_bins = p->measures[i].nbins;
		mp[i] = &ms[i];
	}
	c.measures = mp;
	c.n_measures = p->nmeasures;
	Fiducia__V1__Query__Group gs[QUERY_MAX_GROUPS], *gp[QUERY_MAX_GROUPS];
	for (size_t i = 0; i < p->ngroups; i++) {
		fiducia__v1__query__group__init(&gs[i]);
		gs[i].column = (char *)s->cols[p->groups[i].col].name;
		gs[i].bucket = p->groups[i].bucket;
		gp[i] = &gs[i];
	}
	c.group_by = gp;
	c.n_group_by = p->ngroups;
	Fiducia__V1__Query__Filter fs[QUERY_MAX_FILTERS], *fp[QUERY_MAX_FILTERS];
	char **vals[QUERY_MAX_FILTERS] = {0};
	bool ok = true;
	for (size_t i = 0; i < p->nfilters; i++) {
		fiducia__v1__query__filter__init(&fs[i]);
		fs[i].column = (char *)s->cols[p->filters[i].col].name;
		fs[i].op = p->filters[i].op;
		vals[i] = calloc(p->filters[i].nvalues + 1, sizeof *vals[i]);
		if (!vals[i])
			abort();
		for (size_t k = 0; k < p->filters[i].nvalues; k++)
			if (!(vals[i][k] = canon_value(&s->cols[p->filters[i].col],
			                               &p->filters[i].values[k])))
				abort();
		fs[i].values = vals[i];
		fs[i].n_values = p->filters[i].nvalues;
		fp[i] = &fs[i];
	}
	qsort(fp, p->nfilters, sizeof fp[0], cmp_filter);
	c.filters = fp;
	c.n_filters = p->nfilters;
	Fiducia__V1__Query__TimeRange tr = FIDUCIA__V1__QUERY__TIME_RANGE__INIT;
	Google__Protobuf__Timestamp from = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
	                            to = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	if (p->has_from || p->has_to) {
		if (p->has_from) {
			from.seconds = q->time_range->from->seconds;
			from.nanos = q->time_range->from->nanos / 1000 * 1000;
			tr.from = &from;
		}
		if (p->has_to) {
			to.seconds = q->time_range->to->seconds;
			to.nanos = q->time_range->to->nanos / 1000 * 1000;
			tr.to = &to;
		}
		c.time_range = &tr;
	}
	p->canonical = pbjson_encode(&c.base, &p->canonical_len);
	if (!p->canonical)
		ok = false;
	for (size_t i = 0; i < p->nfilters; i++) {
		for (size_t k = 0; k < p->filters[i].nvalues; k++)
			free(vals[i][k]);
		free(vals[i]);
	}
	return ok;
}

bool query_plan_build(const Fiducia__V1__Query *q, const schema *s, query_plan *p, char *err,
                      size_t errlen)
{
	memset(p, 0, sizeof *p);
	if (!q->dataset[0])
		fail(err, errlen, "$.dataset: required");
	else if (!q->purpose[0])
		fail(err, errlen, "$.purpose: required");
	else if (check_measures(q, s, p, err, errlen) && check_groups(q, s, p, err, errlen) &&
	         check_filters(q, s, p, err, errlen) && check_time(q, s, p, err, errlen)) {
		if (canonicalise(q, s, p))
			return true;
		fail(err, errlen, "out of memory");
	}
	query_plan_free(p);
	return false;
}

bool query_time_on_boundary(int64_t us, query_unit u)
{
	const int64_t hour = 3600LL * 1000000, day = 24 * hour;
	int64_t days = us >= 0 ? us / day : -((-us + day - 1) / day); /* floor */
	if (us % hour != 0)
		return false;
	if (u == QUERY_UNIT_HOUR)
		return true;
	if (us - days * day != 0)
		return false;
	if (u == QUERY_UNIT_DAY)
		return true;
	if (u == QUERY_UNIT_WEEK) /* 1970-01-01 was a Thursday: Monday is 4 days later */
		return ((days - 4) % 7 + 7) % 7 == 0;
	time_t t = (time_t)(days * 86400);
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		return false;
	return tm.tm_mday == 1 && (u == QUERY_UNIT_MONTH || tm.tm_mon == 0);
}
