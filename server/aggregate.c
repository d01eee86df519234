/*
 * aggregate: the query engine's scan; see aggregate.h.
 */
#include "aggregate.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DENSE_MAX    (1u << 20) /* per-chunk combined key codes kept in an array */
#define FIXED_DP_MAX ((double)((uint64_t)1 << 28)) /* dp_scale: sensitivity < 2^48 / 10^6 */
#define US_HOUR      INT64_C(3600000000)
#define US_DAY       INT64_C(86400000000)

enum { PAIR_DROP = 1 };

struct mdef {
	query_fn fn;
	int col;
	int slot;     /* sum or histogram index, -1 */
	int hist_off; /* HISTOGRAM: first count's offset in a group's hist */
	double scale, lo, hi;
	uint64_t maxabs_fixed;
	const double *bins;
	size_t nbins;
};

struct gdef {
	int col;
	query_bucket bucket;
	schema_type type;
};

typedef struct strtab {
	char **s;
	size_t n, cap;
	uint32_t *slots; /* index + 1; 0: empty */
	size_t mask;
} strtab;

struct pslot {
	uint64_t key;
	uint32_t p1; /* pair index + 1; 0: empty */
	uint32_t pad;
};

typedef struct part {
	/* groups: keys are int64 tuples (strings as strtab ids) */
	size_t ng, gcap;
	int64_t *keys;
	uint32_t *gslots;
	size_t gmask;
	int64_t *rows;
	__int128 *sums;
	int64_t *hist;
	double *dmax, *dtot;
	int64_t *contrib;
	strtab strs;
	/* (subject, group) pairs */
	size_t np, pcap;
	uint64_t *pkey;
	uint32_t *pn, *pseen, *pkept;
	uint8_t *pflag;
	double *psum;
	struct pslot *pslots; /* the key beside its index: one cache miss per probe */
	size_t pmask;
	uint64_t *rkey, *rhash; /* per-row pair key and its hash (scratch) */
	int32_t *gid;           /* per-row group (scratch) */
	dp_rng rng;
	/* per-chunk scratch */
	size_t scap;
	uint8_t *mask;
	uint32_t *code;
	uint32_t *cc[QUERY_MAX_GROUPS];
	int64_t *fx[QUERY_MAX_MEASURES];
	int32_t *bin[QUERY_MAX_MEASURES];
	size_t kvcap[QUERY_MAX_GROUPS];
	int64_t *kv[QUERY_MAX_GROUPS];
	int32_t *dense;
	size_t dcap;
	uint64_t scanned, matched, dropped;
	bool failed, too_large;
	size_t bytes; /* of the group and pair tables */
} part;

struct agg {
	const query_plan *p;
	const schema *s;
	agg_opts o;
	bool personal;
	size_t nm, nk, nsum, nhist;
	struct mdef m[QUERY_MAX_MEASURES];
	struct gdef g[QUERY_MAX_GROUPS];
	int time_col;
	int pass;
	bool count_only; /* personal with caps: the first pass only counts pairs */
	part parts[AGG_MAX_PARTS];
	/* the answer */
	agg_group *out;
	size_t nout;
	uint64_t subjects_capped;
	size_t bytes_peak;
};

static void *ag_calloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);
	if (!p)
		abort();
	return p;
}

static void *ag_realloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		abort();
	return p;
}

static void agg_err(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void agg_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

static inline int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Howard Hinnant's civil calendar algorithms (proleptic Gregorian). */
static void cal_civil(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t yy = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yy + (*m <= 2);
}

static int64_t cal_days(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* A timestamp's bucket number, and a bucket number's first instant. */
static inline int64_t bucket_of(query_bucket b, int64_t t)
{
	switch (b) {
	case FIDUCIA__V1__QUERY__GROUP__BUCKET__HOUR:
		return floor_div(t, US_HOUR);
	case FIDUCIA__V1__QUERY__GROUP__BUCKET__DAY:
		return floor_div(t, US_DAY);
	case FIDUCIA__V1__QUERY__GROUP__BUCKET__WEEK: /* ISO weeks: 1970-01-05 was a Monday */
		return floor_div(t - 4 * US_DAY, 7 * US_DAY);
	default: { /* MONTH */
		int64_t y;
		unsigned m, d;
		cal_civil(floor_div(t, US_DAY), &y, &m, &d);
		return y * 12 + (int64_t)(m - 1);
	}
	}
}

/* bucket_of for n timestamps, each loop with a constant divisor (the
 * compiler turns it into a multiplication). */
static void bucket_ids(query_bucket b, const int64_t *t, uint32_t n, int64_t *out)
{
	switch (b) {
	case FIDUCIA__V1__QUERY__GROUP__BUCKET__HOUR:
		for (uint32_t r = 0; r < n; r++)
			out[r] = t[r] / US_HOUR - (t[r] % US_HOUR < 0);
		return;
	case FIDUCIA__V1__QUERY__GROUP__BUCKET__DAY:
		for (uint32_t r = 0; r < n; r++)
			out[r] = t[r] / US_DAY - (t[r] % US_DAY < 0);
		return;
	default:
		for (uint32_t r = 0; r < n; r++)
			out[r] = bucket_of(b, t[r]);
		return;
	}
}

static int64_t bucket_start(query_bucket b, int64_t id)
{
	switch (b) {
	case FIDUCIA__V1__QUERY__GROUP__BUCKET__HOUR:
		return id * US_HOUR;
	case FIDUCIA__V1__QUERY__GROUP__BUCKET__DAY:
		return id * US_DAY;
	case FIDUCIA__V1__QUERY__GROUP__BUCKET__WEEK:
		return id * 7 * US_DAY + 4 * US_DAY;
	default:
		return cal_days(floor_div(id, 12), (unsigned)(id - floor_div(id, 12) * 12) + 1, 1) *
		       US_DAY;
	}
}

static void format_time(int64_t us, bool micros, char *buf, size_t n)
{
	int64_t sec = floor_div(us, 1000000), frac = us - sec * 1000000;
	int64_t days = floor_div(sec, 86400), rem = sec - days * 86400;
	int64_t y;
	unsigned m, d;
	cal_civil(days, &y, &m, &d);
	if (micros && frac)
		snprintf(buf, n, "%04lld-%02u-%02uT%02d:%02d:%02d.%06lldZ", (long long)y, m, d,
		         (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), (long long)frac);
	else
		snprintf(buf, n, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d,
		         (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
}

/* ---- strings ------------------------------------------------------------- */

static uint64_t str_hash(const char *s, size_t n)
{
	uint64_t h = UINT64_C(1469598103934665603);
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * UINT64_C(1099511628211);
	return mix64(h);
}

static uint32_t str_id(strtab *t, const char *s, size_t len)
{
	if (2 * (t->n + 1) > t->mask) {
		size_t nm = t->mask ? 2 * t->mask + 1 : 63;
		uint32_t *ns = ag_calloc(nm + 1, sizeof *ns);
		for (size_t i = 0; i < t->n; i++) {
			size_t k = str_hash(t->s[i], strlen(t->s[i])) & nm;
			while (ns[k])
				k = (k + 1) & nm;
			ns[k] = (uint32_t)i + 1;
		}
		free(t->slots);
		t->slots = ns;
		t->mask = nm;
	}
	size_t k = str_hash(s, len) & t->mask;
	while (t->slots[k]) {
		const char *x = t->s[t->slots[k] - 1];
		if (strlen(x) == len && memcmp(x, s, len) == 0)
			return t->slots[k] - 1;
		k = (k + 1) & t->mask;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->s = ag_realloc(t->s, t->cap * sizeof *t->s);
	}
	char *c = ag_calloc(len + 1, 1);
	memcpy(c, s, len);
	t->s[t->n] = c;
	t->slots[k] = (uint32_t)t->n + 1;
	return (uint32_t)t->n++;
}

/* ---- set-up -------------------------------------------------------------- */

agg *agg_new(const query_plan *p, const schema *s, const agg_opts *o, char *err, size_t errlen)
{
	agg *a = ag_calloc(1, sizeof *a);
	a->p = p;
	a->s = s;
	a->o = *o;
	if (a->o.parts < 1)
		a->o.parts = 1;
	if (a->o.parts > AGG_MAX_PARTS)
		a->o.parts = AGG_MAX_PARTS;
	a->personal = s->personal && s->subject >= 0;
	a->count_only = a->personal && (o->max_rows || o->max_groups);
	a->nm = p->nmeasures;
	a->nk = p->ngroups;
	a->pass = 1;
	a->time_col = -1;
	for (int c = 0; c < s->ncols; c++)
		if (s->cols[c].role == SCHEMA_TIME)
			a->time_col = c;
	/* One subject's largest weight in a group count and in the sums. */
	double caps = a->personal ? (double)(o->max_rows ? o->max_rows : 1) *
	                                    (double)(o->max_groups ? o->max_groups : 1)
	                          : 1.0;
	for (size_t i = 0; i < a->nm; i++) {
		struct mdef *m = &a->m[i];
		m->fn = p->measures[i].fn;
		m->col = p->measures[i].col;
		m->slot = -1;
		m->scale = 1;
		if (m->col < 0)
			continue;
		const schema_column *c = &s->cols[m->col];
		m->lo = c->min;
		m->hi = c->max;
		if (m->fn == FIDUCIA__V1__QUERY__MEASURE__FN__HISTOGRAM) {
			m->slot = (int)a->nhist;
			m->hist_off = 0;
			for (size_t k = 0; k < i; k++)
				if (a->m[k].fn == FIDUCIA__V1__QUERY__MEASURE__FN__HISTOGRAM)
					m->hist_off += (int)a->m[k].nbins - 1;
			m->bins = p->measures[i].bins;
			m->nbins = p->measures[i].nbins;
			a->nhist++;
			continue;
		}
		m->slot = (int)a->nsum++;
		double maxabs = fmax(fabs(c->min), fabs(c->max));
		if (c->type == SCHEMA_FLOAT64) {
			int k = 6;
			for (; k > 0; k--) {
				double sc = pow(10, k);
				if (maxabs * sc < 4.0e18 &&
				    (!o->need_fixed_dp || maxabs * sc * caps <= FIXED_DP_MAX))
					break;
			}
			m->scale = pow(10, k);
		}
		double fixed = ceil(maxabs * m->scale);
		if (fixed >= 4.0e18 || (o->need_fixed_dp && fixed * caps > FIXED_DP_MAX)) {
			agg_err(err, errlen,
			        "$.measures[%zu]: the bounds of %s are too wide for exact noise "
			        "(|value| times the contribution caps must stay below 2^28)",
			        i, c->name);
			free(a);
			return NULL;
		}
		m->maxabs_fixed = (uint64_t)fixed;
	}
	for (size_t i = 0; i < a->nk; i++) {
		a->g[i].col = p->groups[i].col;
		a->g[i].bucket = p->groups[i].bucket;
		a->g[i].type = s->cols[a->g[i].col].type;
	}
	for (int i = 0; i < a->o.parts; i++)
		a->parts[i].gcap = 0;
	return a;
}

static void part_free(part *t, size_t nk)
{
	(void)nk;
	free(t->keys);
	free(t->gslots);
	free(t->rows);
	free(t->sums);
	free(t->hist);
	free(t->dmax);
	free(t->dtot);
	free(t->contrib);
	for (size_t i = 0; i < t->strs.n; i++)
		free(t->strs.s[i]);
	free(t->strs.s);
	free(t->strs.slots);
	free(t->pkey);
	free(t->pn);
	free(t->pseen);
	free(t->pkept);
	free(t->pflag);
	free(t->psum);
	free(t->pslots);
	free(t->mask);
	free(t->code);
	free(t->gid);
	free(t->rkey);
	free(t->rhash);
	for (size_t i = 0; i < QUERY_MAX_GROUPS; i++) {
		free(t->cc[i]);
		free(t->kv[i]);
	}
	for (size_t i = 0; i < QUERY_MAX_MEASURES; i++) {
		free(t->fx[i]);
		free(t->bin[i]);
	}
	free(t->dense);
}

void agg_free(agg *a)
{
	if (!a)
		return;
	for (int i = 0; i < a->o.parts; i++)
		part_free(&a->parts[i], a->nk);
	for (size_t g = 0; g < a->nout; g++) {
		agg_group *o = &a->out[g];
		for (size_t k = 0; k < a->nk; k++)
			free(o->keys[k]);
		free(o->keys);
		free(o->sums);
		free(o->hist);
		free(o->dom_max);
		free(o->dom_total);
	}
	free(a->out);
	free(a);
}

void agg_columns(const agg *a, bool need[SCHEMA_MAX_COLUMNS])
{
	memset(need, 0, SCHEMA_MAX_COLUMNS * sizeof *need);
	for (size_t i = 0; i < a->nm; i++)
		if (a->m[i].col >= 0)
			need[a->m[i].col] = true;
	for (size_t i = 0; i < a->nk; i++)
		need[a->g[i].col] = true;
	for (size_t i = 0; i < a->p->nfilters; i++)
		need[a->p->filters[i].col] = true;
	if ((a->p->has_from || a->p->has_to) && a->time_col >= 0)
		need[a->time_col] = true;
	if (a->personal)
		need[a->s->subject] = true;
}

int agg_slot(const agg *a, size_t measure)
{
	return a->m[measure].slot;
}

double agg_scale(const agg *a, size_t measure)
{
	return a->m[measure].scale;
}

uint64_t agg_bound_fixed(const agg *a, size_t measure)
{
	return a->m[measure].maxabs_fixed;
}

/* ---- groups and pairs ------------------------------------------------------ */

static size_t hist_total(const agg *a)
{
	size_t n = 0;
	for (size_t i = 0; i < a->nm; i++)
		if (a->m[i].fn == FIDUCIA__V1__QUERY__MEASURE__FN__HISTOGRAM)
			n += a->m[i].nbins - 1;
	return n;
}

static uint64_t tuple_hash(const int64_t *k, size_t n)
{
	uint64_t h = UINT64_C(0x9e3779b97f4a7c15);
	for (size_t i = 0; i < n; i++)
		h = mix64(h ^ (uint64_t)k[i]) + i;
	return h;
}

/* The group of key tuple k in t, added if new; -1 past the group limit. */
static int32_t group_of(agg *a, part *t, const int64_t *k)
{
	size_t nk = a->nk;
	if (2 * (t->ng + 1) > t->gmask) {
		size_t nm = t->gmask ? 2 * t->gmask + 1 : 255;
		uint32_t *ns = ag_calloc(nm + 1, sizeof *ns);
		for (size_t g = 0; g < t->ng; g++) {
			size_t s = tuple_hash(t->keys + g * nk, nk) & nm;
			while (ns[s])
				s = (s + 1) & nm;
			ns[s] = (uint32_t)g + 1;
		}
		free(t->gslots);
		t->gslots = ns;
		t->gmask = nm;
	}
	size_t s = tuple_hash(k, nk) & t->gmask;
	while (t->gslots[s]) {
		uint32_t g = t->gslots[s] - 1;
		if (memcmp(t->keys + (size_t)g * nk, k, nk * sizeof *k) == 0)
			return (int32_t)g;
		s = (s + 1) & t->gmask;
	}
	if (t->ng >= a->o.group_limit) {
		t->failed = true;
		return -1;
	}
	if (t->ng == t->gcap) {
		size_t nc = t->gcap ? 2 * t->gcap : 64, nh = hist_total(a);
		size_t grow = (nc - t->gcap) * (nk * 8 + 8 + (a->nsum ? a->nsum : 1) * 32 +
		                                (nh ? nh : 1) * 8) +
		              (nc - t->gcap) * 8 /* slots */;
		if (a->o.max_bytes && t->bytes + grow > a->o.max_bytes / (size_t)a->o.parts) {
			t->failed = t->too_large = true;
			return -1;
		}
		t->bytes += grow;
		t->keys = ag_realloc(t->keys, nc * (nk ? nk : 1) * sizeof *t->keys);
		t->rows = ag_realloc(t->rows, nc * sizeof *t->rows);
		t->sums = ag_realloc(t->sums, nc * (a->nsum ? a->nsum : 1) * sizeof *t->sums);
		t->hist = ag_realloc(t->hist, nc * (nh ? nh : 1) * sizeof *t->hist);
		t->dmax = ag_realloc(t->dmax, nc * (a->nsum ? a->nsum : 1) * sizeof *t->dmax);
		t->dtot = ag_realloc(t->dtot, nc * (a->nsum ? a->nsum : 1) * sizeof *t->dtot);
		t->gcap = nc;
	}
	size_t g = t->ng++, nh = hist_total(a);
	memcpy(t->keys + g * nk, k, nk * sizeof *k);
	t->rows[g] = 0;
	for (size_t j = 0; j < a->nsum; j++) {
		t->sums[g * a->nsum + j] = 0;
		t->dmax[g * a->nsum + j] = 0;
		t->dtot[g * a->nsum + j] = 0;
	}
	memset(t->hist + g * nh, 0, nh * sizeof *t->hist);
	t->gslots[s] = (uint32_t)g + 1;
	return (int32_t)g;
}

/* The pair table with nm + 1 slots (a power of two, less one). */
static void pairs_rehash(part *t, size_t nm)
{
	struct pslot *ns = ag_calloc(nm + 1, sizeof *ns);
	for (size_t p = 0; p < t->np; p++) {
		size_t s = mix64(t->pkey[p]) & nm;
		while (ns[s].p1)
			s = (s + 1) & nm;
		ns[s].key = t->pkey[p];
		ns[s].p1 = (uint32_t)p + 1;
	}
	free(t->pslots);
	t->pslots = ns;
	t->pmask = nm;
}

/* The pair (subject, group) of key (hash h = mix64(key)), added when new
 * and add is set; UINT32_MAX past the memory cap. */
static uint32_t pair_of(agg *a, part *t, uint64_t key, uint64_t h, bool add)
{
	if (add && 2 * (t->np + 1) > t->pmask)
		pairs_rehash(t, t->pmask ? 2 * t->pmask + 1 : 65535);
	size_t s = h & t->pmask;
	while (t->pslots[s].p1) {
		if (t->pslots[s].key == key)
			return t->pslots[s].p1 - 1;
		s = (s + 1) & t->pmask;
	}
	if (!add)
		abort(); /* the second pass sees the first pass's rows */
	if (t->np == t->pcap) {
		size_t nc = t->pcap ? 2 * t->pcap : 1024;
		size_t grow = (nc - t->pcap) * (8 + 13 + (a->nsum ? a->nsum : 1) * 8 + 32);
		if (a->o.max_bytes && t->bytes + grow > a->o.max_bytes / (size_t)a->o.parts) {
			t->failed = t->too_large = true;
			return UINT32_MAX;
		}
		t->bytes += grow;
		t->pkey = ag_realloc(t->pkey, nc * sizeof *t->pkey);
		t->pn = ag_realloc(t->pn, nc * sizeof *t->pn);
		t->pseen = ag_realloc(t->pseen, nc * sizeof *t->pseen);
		t->pkept = ag_realloc(t->pkept, nc * sizeof *t->pkept);
		t->pflag = ag_realloc(t->pflag, nc * sizeof *t->pflag);
		t->psum = ag_realloc(t->psum, nc * (a->nsum ? a->nsum : 1) * sizeof *t->psum);
		t->pcap = nc;
	}
	size_t p = t->np++;
	t->pkey[p] = key;
	t->pn[p] = t->pseen[p] = t->pkept[p] = 0;
	t->pflag[p] = 0;
	for (size_t j = 0; j < a->nsum; j++)
		t->psum[p * a->nsum + j] = 0;
	t->pslots[s].key = key;
	t->pslots[s].p1 = (uint32_t)p + 1;
	return (uint32_t)p;
}

/* ---- the scan -------------------------------------------------------------- */

static void scratch(part *t, size_t rows)
{
	if (rows <= t->scap)
		return;
	t->scap = rows;
	t->mask = ag_realloc(t->mask, rows);
	t->code = ag_realloc(t->code, rows * sizeof *t->code);
	t->gid = ag_realloc(t->gid, rows * sizeof *t->gid);
	t->rkey = ag_realloc(t->rkey, rows * sizeof *t->rkey);
	t->rhash = ag_realloc(t->rhash, rows * sizeof *t->rhash);
	for (size_t i = 0; i < QUERY_MAX_GROUPS; i++) {
		free(t->cc[i]);
		t->cc[i] = NULL;
	}
	for (size_t i = 0; i < QUERY_MAX_MEASURES; i++) {
		free(t->fx[i]);
		free(t->bin[i]);
		t->fx[i] = NULL;
		t->bin[i] = NULL;
	}
}

static int cmp_i64(int64_t a, int64_t b)
{
	return (a > b) - (a < b);
}

static bool value_passes(query_op op, int c, const query_value *vals, size_t n, bool is_float)
{
	(void)vals;
	(void)n;
	(void)is_float;
	switch (op) {
	case FIDUCIA__V1__QUERY__FILTER__OP__EQ:
		return c == 0;
	case FIDUCIA__V1__QUERY__FILTER__OP__NE:
		return c != 0;
	case FIDUCIA__V1__QUERY__FILTER__OP__LT:
		return c < 0;
	case FIDUCIA__V1__QUERY__FILTER__OP__LE:
		return c <= 0;
	case FIDUCIA__V1__QUERY__FILTER__OP__GT:
		return c > 0;
	case FIDUCIA__V1__QUERY__FILTER__OP__GE:
		return c >= 0;
	default:
		return false;
	}
}

static bool string_passes(const char *s, size_t len, query_op op, const query_value *v, size_t n)
{
	if (op == FIDUCIA__V1__QUERY__FILTER__OP__IN) {
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			size_t vl = strlen(v[mid].s);
			int c = memcmp(s, v[mid].s, len < vl ? len : vl);
			if (!c)
				c = (len > vl) - (len < vl);
			if (!c)
				return true;
			if (c < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
		return false;
	}
	size_t vl = strlen(v[0].s);
	int c = memcmp(s, v[0].s, len < vl ? len : vl);
	if (!c)
		c = (len > vl) - (len < vl);
	return value_passes(op, c < 0 ? -1 : c > 0, v, n, false);
}

static bool number_passes(int64_t i, double f, bool is_float, query_op op, const query_value *v,
                          size_t n)
{
	if (op == FIDUCIA__V1__QUERY__FILTER__OP__IN) {
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			int c = is_float ? (f > v[mid].f) - (f < v[mid].f) : cmp_i64(i, v[mid].i);
			if (!c)
				return true;
			if (c < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
		return false;
	}
	int c = is_float ? (f > v[0].f) - (f < v[0].f) : cmp_i64(i, v[0].i);
	return value_passes(op, c, v, n, is_float);
}

/* mask[r]: the row is counted by this partition, before the caps. */
static size_t build_mask(agg *a, part *t, int part_no, const agg_input *in)
{
	uint32_t rows = in->rows;
	uint8_t *mask = t->mask;
	if (in->keep)
		memcpy(mask, in->keep, rows);
	else
		memset(mask, 1, rows);
	if (a->personal) {
		const chunk_column *sc = in->cols[a->s->subject];
		uint32_t parts = (uint32_t)a->o.parts;
		for (uint32_t r = 0; r < rows; r++) {
			uint32_t no = in->subj_nos[sc->idx[r]];
			mask[r] &= (uint8_t)(no != 0 && no % parts == (uint32_t)part_no);
		}
	}
	if ((a->p->has_from || a->p->has_to) && a->time_col >= 0) {
		const int64_t *ts = in->cols[a->time_col]->i;
		int64_t from = a->p->has_from ? a->p->from_us : INT64_MIN;
		int64_t to = a->p->has_to ? a->p->to_us : INT64_MAX;
		for (uint32_t r = 0; r < rows; r++)
			mask[r] &= (uint8_t)(ts[r] >= from && ts[r] < to);
	}
	for (size_t i = 0; i < a->p->nfilters; i++) {
		const struct query_plan *qp = a->p;
		int col = qp->filters[i].col;
		query_op op = qp->filters[i].op;
		const query_value *v = qp->filters[i].values;
		size_t nv = qp->filters[i].nvalues;
		const chunk_column *c = in->cols[col];
		schema_type ty = a->s->cols[col].type;
		if (ty == SCHEMA_STRING) {
			uint8_t small[1024],
			        *ok = c->ndict <= sizeof small ? small : malloc(c->ndict);
			if (!ok)
				abort();
			for (uint32_t k = 0; k < c->ndict; k++)
				ok[k] = string_passes(c->dict[k].p, c->dict[k].len, op, v, nv);
			for (uint32_t r = 0; r < rows; r++)
				mask[r] &= ok[c->idx[r]];
			if (ok != small)
				free(ok);
		} else {
			bool fl = ty == SCHEMA_FLOAT64;
			for (uint32_t r = 0; r < rows; r++)
				if (mask[r])
					mask[r] = number_passes(fl ? 0 : c->i[r], fl ? c->f[r] : 0,
					                        fl, op, v, nv);
		}
	}
	size_t n = 0;
	for (uint32_t r = 0; r < rows; r++)
		n += mask[r];
	return n;
}

/* Per group column: a per-row code cc[r] and a code -> key value table;
 * returns the column's number of codes. */
static size_t column_codes(agg *a, part *t, size_t i, const agg_input *in)
{
	const struct gdef *gd = &a->g[i];
	const chunk_column *c = in->cols[gd->col];
	uint32_t rows = in->rows;
	if (!t->cc[i])
		t->cc[i] = ag_calloc(t->scap, sizeof *t->cc[i]);
	uint32_t *cc = t->cc[i];
	const uint8_t *mask = t->mask;
	size_t n = 0;
#define KV_RESERVE(k)                                                                              \
	do {                                                                                       \
		if ((k) > t->kvcap[i]) {                                                           \
			t->kvcap[i] = (k);                                                         \
			t->kv[i] = ag_realloc(t->kv[i], (k) * sizeof *t->kv[i]);                   \
		}                                                                                  \
	} while (0)
	if (gd->type == SCHEMA_STRING) {
		n = c->ndict;
		KV_RESERVE(n);
		for (uint32_t k = 0; k < c->ndict; k++)
			t->kv[i][k] = str_id(&t->strs, c->dict[k].p, c->dict[k].len);
		memcpy(cc, c->idx, rows * sizeof *cc);
		return n;
	}
	if (gd->type == SCHEMA_BOOL) {
		KV_RESERVE(2);
		t->kv[i][0] = 0;
		t->kv[i][1] = 1;
		for (uint32_t r = 0; r < rows; r++)
			cc[r] = c->i[r] != 0;
		return 2;
	}
	if (gd->bucket != FIDUCIA__V1__QUERY__GROUP__BUCKET__BUCKET_UNSPECIFIED) {
		/* bucket numbers once, into rkey (not in use until the scan's keys) */
		int64_t *id = (int64_t *)t->rkey;
		bucket_ids(gd->bucket, c->i, rows, id);
		int64_t lo = INT64_MAX, hi = INT64_MIN;
		for (uint32_t r = 0; r < rows; r++)
			if (mask[r]) {
				lo = id[r] < lo ? id[r] : lo;
				hi = id[r] > hi ? id[r] : hi;
			}
		if (lo > hi)
			return 1;
		uint64_t span = (uint64_t)(hi - lo) + 1;
		if (span <= DENSE_MAX) {
			KV_RESERVE(span);
			for (uint64_t k = 0; k < span; k++)
				t->kv[i][k] = lo + (int64_t)k;
			for (uint32_t r = 0; r < rows; r++)
				cc[r] = mask[r] ? (uint32_t)(id[r] - lo) : 0;
			return span;
		}
	}
	/* Any other value: numbered per chunk by a small hash. */
	size_t cap = 64;
	while (cap < 2 * (size_t)rows)
		cap *= 2;
	uint32_t *slots = ag_calloc(cap, sizeof *slots);
	KV_RESERVE(rows ? rows : 1);
	for (uint32_t r = 0; r < rows; r++) {
		if (!mask[r]) {
			cc[r] = 0;
			continue;
		}
		int64_t v;
		if (gd->bucket != FIDUCIA__V1__QUERY__GROUP__BUCKET__BUCKET_UNSPECIFIED)
			v = bucket_of(gd->bucket, c->i[r]);
		else if (gd->type == SCHEMA_FLOAT64) {
			double f = c->f[r] == 0 ? 0 : c->f[r]; /* -0 and 0 are one key */
			memcpy(&v, &f, sizeof v);
		} else
			v = c->i[r];
		size_t s = mix64((uint64_t)v) & (cap - 1);
		while (slots[s] && t->kv[i][slots[s] - 1] != v)
			s = (s + 1) & (cap - 1);
		if (!slots[s]) {
			t->kv[i][n] = v;
			slots[s] = (uint32_t)++n;
		}
		cc[r] = slots[s] - 1;
	}
	free(slots);
	return n ? n : 1;
#undef KV_RESERVE
}

static inline int32_t hist_bin(const struct mdef *m, double v)
{
	const double *e = m->bins;
	size_t nb = m->nbins;
	if (!(v >= e[0]) || v > e[nb - 1])
		return -1;
	if (v == e[nb - 1])
		return (int32_t)nb - 2; /* the last bin is closed */
	size_t lo = 0, hi = nb - 1;     /* e[lo] <= v < e[hi] */
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (e[mid] <= v)
			lo = mid;
		else
			hi = mid;
	}
	return (int32_t)lo;
}

static void measure_values(agg *a, part *t, const agg_input *in)
{
	uint32_t rows = in->rows;
	for (size_t i = 0; i < a->nm; i++) {
		const struct mdef *m = &a->m[i];
		if (m->col < 0)
			continue;
		const chunk_column *c = in->cols[m->col];
		bool fl = a->s->cols[m->col].type == SCHEMA_FLOAT64;
		if (m->fn == FIDUCIA__V1__QUERY__MEASURE__FN__HISTOGRAM) {
			if (!t->bin[i])
				t->bin[i] = ag_calloc(t->scap, sizeof *t->bin[i]);
			for (uint32_t r = 0; r < rows; r++) {
				double v = fl ? c->f[r] : (double)c->i[r];
				v = !(v >= m->lo) ? m->lo : v > m->hi ? m->hi : v;
				t->bin[i][r] = t->mask[r] ? hist_bin(m, v) : -1;
			}
			continue;
		}
		if (!t->fx[i])
			t->fx[i] = ag_calloc(t->scap, sizeof *t->fx[i]);
		int64_t *fx = t->fx[i];
		if (fl) {
			double lo = m->lo, hi = m->hi, sc = m->scale;
			for (uint32_t r = 0; r < rows; r++) {
				double v = c->f[r];
				v = !(v >= lo) ? lo : v > hi ? hi : v;
				fx[r] = (int64_t)llrint(v * sc);
			}
		} else {
			int64_t lo = (int64_t)ceil(m->lo), hi = (int64_t)floor(m->hi);
			for (uint32_t r = 0; r < rows; r++) {
				int64_t v = c->i[r];
				fx[r] = v < lo ? lo : v > hi ? hi : v;
			}
		}
	}
}

bool agg_scan(agg *a, int part_no, const agg_input *in)
{
	part *t = &a->parts[part_no];
	if (t->failed)
		return false;
	uint32_t rows = in->rows;
	if (!rows)
		return true;
	scratch(t, rows);
	if (a->pass == 1)
		t->scanned += rows;
	size_t kept = build_mask(a, t, part_no, in);
	if (!kept)
		return true;
	if (a->pass == 1)
		t->matched += kept;
	size_t nk = a->nk;
	/* Combined per-chunk key codes, mapped to groups through a dense array. */
	size_t card[QUERY_MAX_GROUPS], prod = 1;
	bool dense = true;
	for (size_t i = 0; i < nk; i++) {
		card[i] = column_codes(a, t, i, in);
		if (prod > DENSE_MAX / (card[i] ? card[i] : 1))
			dense = false;
		else
			prod *= card[i];
	}
	uint32_t *code = t->code;
	if (dense) {
		memset(code, 0, rows * sizeof *code);
		size_t stride = 1;
		for (size_t i = 0; i < nk; i++) {
			const uint32_t *cc = t->cc[i];
			for (uint32_t r = 0; r < rows; r++)
				code[r] += cc[r] * (uint32_t)stride;
			stride *= card[i];
		}
		if (prod > t->dcap) {
			t->dcap = prod;
			t->dense = ag_realloc(t->dense, prod * sizeof *t->dense);
		}
		memset(t->dense, 0xff, prod * sizeof *t->dense);
	}
	if (!(a->count_only && a->pass == 1)) /* counting pairs needs no value */
		measure_values(a, t, in);
	const chunk_column *sc = a->personal ? in->cols[a->s->subject] : NULL;
	size_t nsum = a->nsum, nh = hist_total(a);
	int sum_meas[QUERY_MAX_MEASURES], hist_meas[QUERY_MAX_MEASURES];
	size_t ns = 0, nhm = 0;
	for (size_t i = 0; i < a->nm; i++) {
		if (a->m[i].col < 0)
			continue;
		if (a->m[i].fn == FIDUCIA__V1__QUERY__MEASURE__FN__HISTOGRAM)
			hist_meas[nhm++] = (int)i;
		else
			sum_meas[ns++] = (int)i;
	}
	uint32_t cap_rows = a->o.max_rows;
	/* Groups first, then the pairs' keys, so that the pair table's
	 * cache misses can be prefetched a few rows ahead. */
	for (uint32_t r = 0; r < rows; r++) {
		if (!t->mask[r])
			continue;
		int32_t g = dense ? t->dense[code[r]] : -1;
		if (g < 0) {
			int64_t key[QUERY_MAX_GROUPS];
			for (size_t i = 0; i < nk; i++)
				key[i] = t->kv[i][t->cc[i][r]];
			g = group_of(a, t, key);
			if (g < 0)
				return false;
			if (dense)
				t->dense[code[r]] = g;
		}
		t->gid[r] = g;
		if (sc) {
			uint64_t k = (uint64_t)in->subj_nos[sc->idx[r]] << 32 | (uint32_t)g;
			t->rkey[r] = k;
			t->rhash[r] = mix64(k);
		}
	}
	enum { AHEAD = 12 };
	for (uint32_t r = 0; r < rows; r++) {
		if (sc && t->pslots && r + AHEAD < rows && t->mask[r + AHEAD])
			__builtin_prefetch(&t->pslots[t->rhash[r + AHEAD] & t->pmask]);
		if (!t->mask[r])
			continue;
		int32_t g = t->gid[r];
		uint32_t p = 0;
		if (sc) {
			p = pair_of(a, t, t->rkey[r], t->rhash[r], a->pass == 1);
			if (p == UINT32_MAX)
				return false;
			if (a->pass == 1) {
				t->pn[p]++;
				if (a->count_only)
					continue; /* the sums come in the second pass */
			} else {
				if (t->pflag[p] & PAIR_DROP) {
					t->dropped++;
					continue;
				}
				uint32_t n = t->pn[p];
				if (cap_rows && n > cap_rows) {
					uint32_t left = n - t->pseen[p]++,
					         want = cap_rows - t->pkept[p];
					if (t->rng.uniform(&t->rng, left) >= want) {
						t->dropped++;
						continue;
					}
				}
				t->pkept[p]++;
			}
		}
		t->rows[g]++;
		for (size_t k = 0; k < ns; k++) {
			const struct mdef *m = &a->m[sum_meas[k]];
			int64_t v = t->fx[sum_meas[k]][r];
			size_t j = (size_t)g * nsum + (size_t)m->slot;
			t->sums[j] += v;
			if (!a->o.dominance) {
				continue;
			} else if (sc) {
				t->psum[(size_t)p * nsum + (size_t)m->slot] += (double)v;
			} else {
				double av = fabs((double)v);
				t->dtot[j] += av;
				if (av > t->dmax[j])
					t->dmax[j] = av;
			}
		}
		for (size_t k = 0; k < nhm; k++) {
			const struct mdef *m = &a->m[hist_meas[k]];
			int32_t b = t->bin[hist_meas[k]][r];
			if (b >= 0)
				t->hist[(size_t)g * nh + (size_t)m->hist_off + (size_t)b]++;
		}
	}
	return true;
}

/* ---- contribution bounding ------------------------------------------------ */

bool agg_bound(agg *a, dp_rng *rng)
{
	if (!a->personal)
		return false;
	bool again = false;
	for (int pi = 0; pi < a->o.parts; pi++) {
		part *t = &a->parts[pi];
		t->rng = *rng;
		t->rng.counter += (uint64_t)(pi + 1) << 40; /* a keystream of its own */
		t->rng.used = sizeof t->rng.buf;            /* refilled from it */
		if (a->o.max_rows)
			for (size_t p = 0; p < t->np; p++)
				if (t->pn[p] > a->o.max_rows)
					again = true;
		if (!a->o.max_groups || t->np == 0)
			continue;
		/* Per subject, keep max_groups of its pairs chosen uniformly. */
		/* The pairs by subject: a counting sort (subject numbers are dense),
		 * each subject's pairs in the order they were met. */
		uint32_t maxs = 0;
		for (size_t p = 0; p < t->np; p++)
			if ((uint32_t)(t->pkey[p] >> 32) > maxs)
				maxs = (uint32_t)(t->pkey[p] >> 32);
		uint32_t *start = ag_calloc((size_t)maxs + 2, sizeof *start);
		for (size_t p = 0; p < t->np; p++)
			start[(t->pkey[p] >> 32) + 1]++;
		for (size_t k = 1; k <= (size_t)maxs + 1; k++)
			start[k] += start[k - 1];
		uint32_t *ord = ag_calloc(t->np, sizeof *ord);
		for (size_t p = 0; p < t->np; p++)
			ord[start[t->pkey[p] >> 32]++] = (uint32_t)p;
		free(start);
		for (size_t i = 0; i < t->np;) {
			size_t j = i;
			while (j < t->np && t->pkey[ord[j]] >> 32 == t->pkey[ord[i]] >> 32)
				j++;
			size_t n = j - i;
			if (n > a->o.max_groups) {
				a->subjects_capped++;
				again = true;
				/* partial Fisher-Yates: the first max_groups are the sample */
				for (size_t k = 0; k < a->o.max_groups; k++) {
					size_t x = k + (size_t)rng->uniform(rng, n - k);
					uint32_t tmp = ord[i + k];
					ord[i + k] = ord[i + x];
					ord[i + x] = tmp;
				}
				for (size_t k = a->o.max_groups; k < n; k++)
					t->pflag[ord[i + k]] |= PAIR_DROP;
			}
			i = j;
		}
		free(ord);
	}
	if (!again && !a->count_only)
		return false;
	a->pass = 2;
	size_t nh = hist_total(a);
	for (int pi = 0; pi < a->o.parts; pi++) {
		part *t = &a->parts[pi];
		for (size_t g = 0; g < t->ng; g++) {
			t->rows[g] = 0;
			for (size_t j = 0; j < a->nsum; j++)
				t->sums[g * a->nsum + j] = 0;
		}
		if (t->ng && nh)
			memset(t->hist, 0, t->ng * nh * sizeof *t->hist);
		for (size_t p = 0; p < t->np; p++) {
			t->pseen[p] = t->pkept[p] = 0;
			for (size_t j = 0; j < a->nsum; j++)
				t->psum[p * a->nsum + j] = 0;
		}
	}
	return true;
}

/* ---- the answer ------------------------------------------------------------ */

struct gref {
	agg *a;
	part *t;
	uint32_t g;
};

static int cmp_key(const agg *a, const part *ta, uint32_t ga, const part *tb, uint32_t gb)
{
	for (size_t i = 0; i < a->nk; i++) {
		int64_t x = ta->keys[(size_t)ga * a->nk + i], y = tb->keys[(size_t)gb * a->nk + i];
		int c;
		if (a->g[i].type == SCHEMA_STRING &&
		    a->g[i].bucket == FIDUCIA__V1__QUERY__GROUP__BUCKET__BUCKET_UNSPECIFIED) {
			c = strcmp(ta->strs.s[x], tb->strs.s[y]);
		} else if (a->g[i].type == SCHEMA_FLOAT64) {
			double fx, fy;
			memcpy(&fx, &x, sizeof fx);
			memcpy(&fy, &y, sizeof fy);
			c = (fx > fy) - (fx < fy);
		} else {
			c = cmp_i64(x, y);
		}
		if (c)
			return c;
	}
	return 0;
}

static int cmp_gref(const void *x, const void *y)
{
	const struct gref *p = x, *q = y;
	return cmp_key(p->a, p->t, p->g, q->t, q->g);
}

static char *format_key(const agg *a, const part *t, size_t i, int64_t v)
{
	char buf[64];
	const struct gdef *gd = &a->g[i];
	if (gd->bucket != FIDUCIA__V1__QUERY__GROUP__BUCKET__BUCKET_UNSPECIFIED) {
		format_time(bucket_start(gd->bucket, v), false, buf, sizeof buf);
	} else {
		switch (gd->type) {
		case SCHEMA_STRING:
			return strdup(t->strs.s[v]);
		case SCHEMA_BOOL:
			snprintf(buf, sizeof buf, "%s", v ? "true" : "false");
			break;
		case SCHEMA_FLOAT64: {
			double f;
			memcpy(&f, &v, sizeof f);
			snprintf(buf, sizeof buf, "%.17g", f);
			break;
		}
		case SCHEMA_TIMESTAMP:
			format_time(v, true, buf, sizeof buf);
			break;
		default:
			snprintf(buf, sizeof buf, "%lld", (long long)v);
			break;
		}
	}
	char *s = strdup(buf);
	if (!s)
		abort();
	return s;
}

bool agg_finish(agg *a)
{
	size_t nsum = a->nsum, nh = hist_total(a), total = 0;
	for (int pi = 0; pi < a->o.parts; pi++) {
		part *t = &a->parts[pi];
		if (t->failed)
			return false;
		t->contrib = ag_calloc(t->ng, sizeof *t->contrib);
		if (a->personal) {
			/* dominance and distinct subjects come from the pairs */
			for (size_t p = 0; p < t->np; p++) {
				uint32_t g = (uint32_t)t->pkey[p];
				bool counted = a->pass == 1
				                       ? t->pn[p] > 0
				                       : !(t->pflag[p] & PAIR_DROP) && t->pkept[p];
				if (!counted)
					continue;
				t->contrib[g]++;
				for (size_t j = 0; j < nsum; j++) {
					double v = fabs(t->psum[p * nsum + j]);
					t->dtot[g * nsum + j] += v;
					if (v > t->dmax[g * nsum + j])
						t->dmax[g * nsum + j] = v;
				}
			}
		} else {
			for (size_t g = 0; g < t->ng; g++)
				t->contrib[g] = t->rows[g];
		}
		total += t->ng;
	}
	struct gref *refs = ag_calloc(total, sizeof *refs);
	size_t n = 0;
	for (int pi = 0; pi < a->o.parts; pi++)
		for (size_t g = 0; g < a->parts[pi].ng; g++)
			refs[n++] = (struct gref){a, &a->parts[pi], (uint32_t)g};
	qsort(refs, n, sizeof *refs, cmp_gref);
	a->out = ag_calloc(n + 1, sizeof *a->out);
	a->nout = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		agg_group *o = &a->out[a->nout];
		o->keys = ag_calloc(a->nk, sizeof *o->keys);
		for (size_t k = 0; k < a->nk; k++)
			o->keys[k] = format_key(a, refs[i].t, k,
			                        refs[i].t->keys[(size_t)refs[i].g * a->nk + k]);
		o->sums = ag_calloc(nsum, sizeof *o->sums);
		o->hist = ag_calloc(nh, sizeof *o->hist);
		o->dom_max = ag_calloc(nsum, sizeof *o->dom_max);
		o->dom_total = ag_calloc(nsum, sizeof *o->dom_total);
		for (; j < n && cmp_gref(&refs[i], &refs[j]) == 0; j++) {
			part *t = refs[j].t;
			size_t g = refs[j].g;
			o->rows += t->rows[g];
			o->contributors += t->contrib[g];
			for (size_t k = 0; k < nsum; k++) {
				o->sums[k] += t->sums[g * nsum + k];
				o->dom_total[k] += t->dtot[g * nsum + k];
				if (t->dmax[g * nsum + k] > o->dom_max[k])
					o->dom_max[k] = t->dmax[g * nsum + k];
			}
			for (size_t k = 0; k < nh; k++)
				o->hist[k] += t->hist[g * nh + k];
		}
		i = j;
		/* a group every row of which the caps dropped is no group */
		if (o->rows == 0 && a->nk > 0) {
			for (size_t k = 0; k < a->nk; k++)
				free(o->keys[k]);
			free(o->keys);
			free(o->sums);
			free(o->hist);
			free(o->dom_max);
			free(o->dom_total);
			memset(o, 0, sizeof *o);
			continue;
		}
		a->nout++;
	}
	free(refs);
	if (a->nk == 0 && a->nout == 0) { /* no row matched: one empty total */
		agg_group *o = &a->out[0];
		o->keys = ag_calloc(1, sizeof *o->keys);
		o->sums = ag_calloc(nsum ? nsum : 1, sizeof *o->sums);
		o->hist = ag_calloc(nh ? nh : 1, sizeof *o->hist);
		o->dom_max = ag_calloc(nsum ? nsum : 1, sizeof *o->dom_max);
		o->dom_total = ag_calloc(nsum ? nsum : 1, sizeof *o->dom_total);
		a->nout = 1;
	}
	return a->nout <= a->o.group_limit;
}

void agg_reserve_pairs(agg *a, size_t n)
{
	for (int pi = 0; pi < a->o.parts; pi++) {
		part *t = &a->parts[pi];
		size_t want = n / (size_t)a->o.parts, nm = t->pmask ? t->pmask : 65535;
		while (2 * want > nm && nm < ((size_t)1 << 31))
			nm = 2 * nm + 1;
		if (nm == t->pmask)
			continue;
		size_t bytes = (nm + 1) * sizeof(struct pslot);
		if (a->o.max_bytes && t->bytes + bytes > a->o.max_bytes / (size_t)a->o.parts)
			continue; /* growing as it goes will tell */
		pairs_rehash(t, nm);
	}
}

size_t agg_pairs(const agg *a)
{
	size_t n = 0;
	for (int pi = 0; pi < a->o.parts; pi++)
		n += a->parts[pi].np;
	return n;
}

bool agg_too_large(const agg *a)
{
	for (int pi = 0; pi < a->o.parts; pi++)
		if (a->parts[pi].too_large)
			return true;
	return false;
}

size_t agg_ngroups(const agg *a)
{
	return a->nout;
}

const agg_group *agg_get(const agg *a, size_t i)
{
	return &a->out[i];
}

void agg_stats_get(const agg *a, agg_stats *out)
{
	memset(out, 0, sizeof *out);
	size_t bytes = 0;
	for (int pi = 0; pi < a->o.parts; pi++) {
		const part *t = &a->parts[pi];
		out->rows_scanned += t->scanned;
		out->rows_matched += t->matched;
		out->rows_dropped_by_caps += t->dropped;
		out->pairs += t->np;
		bytes += t->gcap * (a->nk * 8 + 8 + a->nsum * 32 + hist_total(a) * 8) +
		         t->pcap * (8 + 12 + 1 + a->nsum * 8) +
		         (t->pmask + 1) * sizeof(struct pslot) + (t->gmask + 1) * 4 +
		         t->scap * (1 + 4 + 4 * a->nk + 8 * a->nm) + t->dcap * 4;
	}
	out->subjects_capped = a->subjects_capped;
	out->second_pass = a->pass == 2;
	out->bytes = bytes;
}
