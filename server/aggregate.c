/*
 * aggregate: the query engine's scan; see aggregate.h.
 */
#include "aggregate.h"
#include "batch.h"

#include <math.h>
#include <sodium.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#if defined(__x86_64__) && defined(__SSE2__)
#include <emmintrin.h>
#endif

#define DENSE_MAX    (1u << 20) /* per-chunk combined key codes kept in an array */
#define FIXED_DP_MAX ((double)((uint64_t)1 << 28)) /* dp_scale: sensitivity < 2^48 / 10^6 */
#define US_HOUR      INT64_C(3600000000)
#define US_DAY       INT64_C(86400000000)
#define PAIR_SAMPLE  (UINT64_C(1) << 31) /* in a pair's key: rows sampled in the second pass */
#define GROUP_MAX    ((size_t)PAIR_SAMPLE - 1) /* group ids stay below that bit */
#define FOLD_MAX     64    /* bytes: the largest pair record that sums its rows in the first pass */
#define PAIRS_FIRST  65536 /* slots of a partition's first pair index */
#define RECS_FIRST   32768 /* records of a partition's first pair array */
#define MAP_MIN      ((size_t)8 << 20) /* a pair table this large gets a mapping of its own */
#define HUGE_PAGE    ((size_t)2 << 20)
#define AHEAD        32 /* pair probes prefetched ahead */

/* How a scan aggregates (chosen by agg_new). */
enum agg_mode {
	MODE_DIRECT, /* every row to its group at once: no caps (personal or not) */
	MODE_FOLD,   /* caps: the first pass sums each pair's rows in its record; agg_bound adds
	              * the kept pairs to their groups; a second pass only for pairs over the
	              * row cap */
	MODE_COUNT,  /* caps, pair sums not kept (they could overflow, or too many): the first
	              * pass counts each pair's rows, the second aggregates the kept ones */
};

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

/* A (subject, group) pair's record. After this header come a->psums 8-byte
 * sums (int64 in MODE_FOLD, double when kept for dominance only) and
 * a->pbins uint32 histogram counts (MODE_FOLD); a->rsz bytes in all. */
struct pair {
	uint64_t key;  /* subject number << 32 | group | PAIR_SAMPLE */
	uint32_t n;    /* rows met in the first pass; in the second, rows still to see */
	uint32_t want; /* second pass: rows still to keep */
};

/* The scan by subject: one of the current subject's pairs. */
struct lpair {
	uint32_t g;    /* group */
	uint32_t n;    /* rows */
	uint32_t left; /* rows still to see, while sampling */
	uint32_t want; /* rows still to keep */
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
	/* (subject, group) pairs: their records in the order met, found through
	 * an open-addressing index whose 8-byte slots hold a hash tag and the
	 * record's number (tag << 32 | number + 1; 0: empty). A new pair is a
	 * miss in the index and a write at the end of the records. */
	uint64_t *slots;
	size_t pmask; /* pmask + 1 slots, a power of two */
	uint8_t *recs;
	size_t np, rcap;              /* records, and room for */
	size_t reserve, reserve_recs; /* agg_reserve_pairs's sizes, made at the next scan */
	uint32_t *spairs;   /* per local subject (number / parts): its pairs (max_groups set) */
	size_t nsubj;       /* spairs's length */
	uint64_t *resample; /* per local subject, a bit: one of its pairs is sampled again */
	size_t nresample;   /* its bits */
	bool bound, again;  /* agg_bound_part ran; it left pairs to the second pass */
	dp_rng rng;
	/* per-chunk scratch, indexed by selected row (sel[i] is its row) */
	size_t scap;
	uint8_t *mask;
	uint32_t *sel, *code;
	int32_t *gid;
	uint64_t *rkey, *rhash; /* pair keys and their hashes */
	uint32_t *cand;         /* second pass: selected rows that probe */
	uint32_t *cc[QUERY_MAX_GROUPS];
	int64_t *fx[QUERY_MAX_MEASURES];
	int32_t *bin[QUERY_MAX_MEASURES];
	size_t kvcap[QUERY_MAX_GROUPS];
	int64_t *kv[QUERY_MAX_GROUPS];
	/* what the dense array was filled for: each column's codes (kv), and
	 * the STRING dictionary they came from. An input with the same codes
	 * (the slices of a projection, mostly) keeps it, and the groups found. */
	size_t dcard[QUERY_MAX_GROUPS];
	int64_t *dkv[QUERY_MAX_GROUPS];
	const batch_str *ddict[QUERY_MAX_GROUPS];
	bool dvalid;
	int32_t *dense;
	size_t dcap;
	/* the scan by subject: one subject's pairs at a time; a group's slot in
	 * lp while lstamp[group] is the subject's sid */
	struct lpair *lp;
	uint32_t *lstamp, *lslot;
	double *lsum;      /* per local pair, a->nsum sums for the dominance rule */
	size_t lcap, ccap; /* lp, lstamp and lslot's room; contrib's */
	uint32_t sid;
	uint64_t scanned, matched, dropped, capped, spairs_met;
	bool failed, too_large;
	size_t bytes, bytes_peak; /* of the group and pair tables and the caps' scratch */
} part;

struct agg {
	const query_plan *p;
	const schema *s;
	agg_opts o;
	bool personal;
	enum agg_mode mode;
	size_t nm, nk, nsum, nhist, nh;
	struct mdef m[QUERY_MAX_MEASURES];
	struct gdef g[QUERY_MAX_GROUPS];
	int sum_meas[QUERY_MAX_MEASURES], hist_meas[QUERY_MAX_MEASURES];
	size_t nsm, nhm;
	int time_col;
	int pass;
	size_t rsz, psums, pbins; /* a pair record's bytes and payload */
	uint64_t pmagic;          /* for n % parts and n / parts */
	part parts[AGG_MAX_PARTS];
	/* the answer */
	agg_group *out;
	size_t nout;
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

/* llrint under the default rounding (to nearest, ties to even), inline where
 * the instruction is at hand: glibc's is a call per value. |v| < 2^63. */
static inline int64_t round_fixed(double v)
{
#if defined(__x86_64__) && defined(__SSE2__)
	return _mm_cvtsd_si64(_mm_set_sd(v));
#else
	return (int64_t)llrint(v);
#endif
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

/* Howard Hinnant's civil_from_days (proleptic Gregorian); the inverse is batch_days_from_civil. */
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
		return batch_days_from_civil(floor_div(id, 12),
		                             (int)(id - floor_div(id, 12) * 12) + 1, 1) *
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

/* n % parts and n / parts without a division per row (Lemire, Kaser and
 * Kurz, "Faster remainder by direct computation", 2019): exact for every
 * 32-bit n when parts >= 2. */
static inline uint32_t part_mod(const agg *a, uint32_t n)
{
	if (a->o.parts == 1)
		return 0;
	return (uint32_t)(((unsigned __int128)(a->pmagic * n) * (uint32_t)a->o.parts) >> 64);
}

static inline uint32_t part_div(const agg *a, uint32_t n)
{
	if (a->o.parts == 1)
		return n;
	return (uint32_t)(((unsigned __int128)a->pmagic * n) >> 64);
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
	if (a->o.group_limit > GROUP_MAX)
		a->o.group_limit = GROUP_MAX;
	if (a->o.parts > 1)
		a->pmagic = UINT64_MAX / (uint64_t)a->o.parts + 1;
	a->personal = s->personal && s->subject >= 0;
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
			m->hist_off = (int)a->nh;
			m->bins = p->measures[i].bins;
			m->nbins = p->measures[i].nbins;
			a->nh += m->nbins - 1;
			a->nhist++;
			a->hist_meas[a->nhm++] = (int)i;
			continue;
		}
		m->slot = (int)a->nsum++;
		a->sum_meas[a->nsm++] = (int)i;
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
	/* With caps, a pair's record sums its rows in the first pass when the
	 * sums of max_rows rows fit in an int64 and the record stays small;
	 * otherwise the first pass only counts. */
	a->mode = MODE_DIRECT;
	if (a->personal && (o->max_rows || o->max_groups)) {
		bool fold =
		        o->max_rows && sizeof(struct pair) + 8 * a->nsum + 4 * a->nh <= FOLD_MAX;
		for (size_t k = 0; fold && k < a->nsm; k++)
			fold = a->m[a->sum_meas[k]].maxabs_fixed <=
			       (uint64_t)INT64_MAX / o->max_rows;
		a->mode = fold ? MODE_FOLD : MODE_COUNT;
	}
	a->psums = a->mode == MODE_FOLD || (a->personal && o->dominance) ? a->nsum : 0;
	a->pbins = a->mode == MODE_FOLD ? a->nh : 0;
	size_t raw = sizeof(struct pair) + 8 * a->psums + 4 * a->pbins;
	/* a power of two up to a cache line: no record straddles two */
	a->rsz = sizeof(struct pair);
	while (a->rsz < raw && a->rsz < 64)
		a->rsz *= 2;
	if (a->rsz < raw)
		a->rsz = (raw + 63) / 64 * 64;
	return a;
}

static void table_free(uint8_t *p, size_t size, size_t keep);

static void part_free(const agg *a, part *t)
{
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
	if (t->slots)
		table_free((uint8_t *)t->slots, (t->pmask + 1) * sizeof *t->slots, a->o.max_bytes);
	if (t->recs)
		table_free(t->recs, t->rcap * a->rsz, a->o.max_bytes);
	free(t->spairs);
	free(t->resample);
	free(t->mask);
	free(t->sel);
	free(t->code);
	free(t->gid);
	free(t->rkey);
	free(t->rhash);
	free(t->cand);
	for (size_t i = 0; i < QUERY_MAX_GROUPS; i++) {
		free(t->cc[i]);
		free(t->kv[i]);
		free(t->dkv[i]);
	}
	for (size_t i = 0; i < QUERY_MAX_MEASURES; i++) {
		free(t->fx[i]);
		free(t->bin[i]);
	}
	free(t->dense);
	sodium_memzero(&t->rng, sizeof t->rng); /* the sampling keystream */
	free(t->lp);
	free(t->lstamp);
	free(t->lslot);
	free(t->lsum);
}

void agg_free(agg *a)
{
	if (!a)
		return;
	for (int i = 0; i < a->o.parts; i++)
		part_free(a, &a->parts[i]);
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
		if (t->bytes > t->bytes_peak)
			t->bytes_peak = t->bytes;
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

static inline struct pair *pair_at(const agg *a, const part *t, size_t i)
{
	return (struct pair *)(t->recs + i * a->rsz);
}

static inline uint32_t pair_group(const struct pair *p)
{
	return (uint32_t)(p->key & (PAIR_SAMPLE - 1));
}

static inline int64_t *pair_isum(struct pair *p)
{
	return (int64_t *)(p + 1);
}

static inline double *pair_dsum(struct pair *p)
{
	return (double *)(p + 1);
}

static inline uint32_t *pair_bins(const agg *a, struct pair *p)
{
	return (uint32_t *)((uint8_t *)(p + 1) + 8 * a->psums);
}

/* Working memory: n more bytes for partition t, false (and the query too
 * large) past its share of max_bytes. */
static bool part_charge(agg *a, part *t, size_t n)
{
	if (a->o.max_bytes && t->bytes + n > a->o.max_bytes / (size_t)a->o.parts) {
		t->failed = t->too_large = true;
		return false;
	}
	t->bytes += n;
	if (t->bytes > t->bytes_peak)
		t->bytes_peak = t->bytes;
	return true;
}

/* Large pair tables freed by a query, kept mapped for the next ones (at most
 * the freeing query's max_bytes in all): a fresh mapping costs a page fault
 * per page on top of the zeroing (and in a VM the host's work behind each
 * fault, once it has taken back the guest's free memory). */
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint8_t *p;
	size_t n;
} pool[2 * AGG_MAX_PARTS];
static size_t pool_bytes;

/* n bytes for a pair index (zeroed) or record array. A large one gets a
 * mapping of its own, 2 MiB-aligned with huge pages where the kernel gives
 * them (the random probes then rarely miss the TLB). */
static uint8_t *table_alloc(size_t n, bool zero)
{
	if (n < MAP_MIN) {
		void *p = NULL;
		if (posix_memalign(&p, 64, n))
			abort();
		if (zero)
			memset(p, 0, n);
		return p;
	}
	uint8_t *p = NULL;
	pthread_mutex_lock(&pool_mu);
	for (size_t i = 0; i < sizeof pool / sizeof *pool; i++)
		if (pool[i].p && pool[i].n == n) { /* sizes are powers of two: they recur */
			p = pool[i].p;
			pool_bytes -= n;
			pool[i].p = NULL;
			break;
		}
	pthread_mutex_unlock(&pool_mu);
	if (p) {
		if (zero)
			memset(p, 0, n);
		return p;
	}
	size_t len = n + HUGE_PAGE;
	uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		abort();
	p = (uint8_t *)(((uintptr_t)m + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
	if (p > m)
		munmap(m, (size_t)(p - m));
	if (m + len > p + n)
		munmap(p + n, (size_t)(m + len - (p + n)));
#ifdef MADV_HUGEPAGE
	(void)madvise(p, n, MADV_HUGEPAGE);
#endif
	return p;
}

/* A pair table of size bytes, back to the pool if it then holds at most
 * keep bytes. */
static void table_free(uint8_t *p, size_t size, size_t keep)
{
	if (size < MAP_MIN) {
		free(p);
		return;
	}
	pthread_mutex_lock(&pool_mu);
	for (size_t i = 0; i < sizeof pool / sizeof *pool; i++)
		if (!pool[i].p && pool_bytes + size <= keep) {
			pool[i].p = p;
			pool[i].n = size;
			pool_bytes += size;
			p = NULL;
			break;
		}
	pthread_mutex_unlock(&pool_mu);
	if (p)
		munmap(p, size);
}

/* The pair index with nslots slots (a power of two), built again from the
 * records; false past max_bytes. */
static bool pairs_index(agg *a, part *t, size_t nslots)
{
	size_t old = t->slots ? (t->pmask + 1) * sizeof *t->slots : 0,
	       bytes = nslots * sizeof *t->slots;
	if (a->o.max_bytes && t->bytes - old + bytes > a->o.max_bytes / (size_t)a->o.parts) {
		t->failed = t->too_large = true;
		return false;
	}
	uint64_t *ns = (uint64_t *)table_alloc(bytes, true);
	size_t nm = nslots - 1;
	/* the records in order, each placed once AHEAD more have had their
	 * slots prefetched */
	uint64_t ring_h[AHEAD];
	size_t head = 0, tail = 0;
	for (size_t i = 0; i <= t->np; i++) {
		while (tail < head && (i == t->np || head - tail == AHEAD)) {
			uint64_t h = ring_h[tail % AHEAD];
			size_t slot = h & nm;
			while (ns[slot])
				slot = (slot + 1) & nm;
			ns[slot] = (h >> 32) << 32 | (uint32_t)(tail + 1);
			tail++;
		}
		if (i < t->np) {
			uint64_t h = mix64(pair_at(a, t, i)->key & ~PAIR_SAMPLE);
			ring_h[head++ % AHEAD] = h;
			__builtin_prefetch(&ns[h & nm], 1);
		}
	}
	if (t->slots)
		table_free((uint8_t *)t->slots, old, a->o.max_bytes);
	t->slots = ns;
	t->pmask = nm;
	t->bytes = t->bytes - old + bytes;
	if (t->bytes > t->bytes_peak)
		t->bytes_peak = t->bytes;
	return true;
}

/* Room for ncap records, those met copied; false past max_bytes. */
static bool pairs_room(agg *a, part *t, size_t ncap)
{
	size_t old = t->rcap * a->rsz, bytes = ncap * a->rsz;
	if (ncap >= UINT32_MAX ||
	    (a->o.max_bytes && t->bytes - old + bytes > a->o.max_bytes / (size_t)a->o.parts)) {
		t->failed = t->too_large = true;
		return false;
	}
	uint8_t *nr = table_alloc(bytes, false);
	if (t->np)
		memcpy(nr, t->recs, t->np * a->rsz);
	if (t->recs)
		table_free(t->recs, old, a->o.max_bytes);
	t->recs = nr;
	t->rcap = ncap;
	t->bytes = t->bytes - old + bytes;
	if (t->bytes > t->bytes_peak)
		t->bytes_peak = t->bytes;
	return true;
}

/* The record of pair key (hash h = mix64(key)), added when new; NULL past
 * max_bytes. */
static struct pair *pair_add(agg *a, part *t, uint64_t key, uint64_t h)
{
	uint32_t tag = (uint32_t)(h >> 32);
	for (;;) {
		size_t s = h & t->pmask;
		uint64_t v;
		while ((v = t->slots[s]) != 0) {
			if ((uint32_t)(v >> 32) == tag) {
				struct pair *p = pair_at(a, t, (uint32_t)v - 1);
				if (p->key == key)
					return p;
			}
			s = (s + 1) & t->pmask;
		}
		if (2 * (t->np + 1) > t->pmask + 1) {
			if (!pairs_index(a, t, 2 * (t->pmask + 1)))
				return NULL;
			continue;
		}
		if (t->np == t->rcap && !pairs_room(a, t, t->rcap ? 2 * t->rcap : RECS_FIRST))
			return NULL;
		struct pair *p = pair_at(a, t, t->np);
		memset(p, 0, a->rsz);
		p->key = key;
		t->slots[s] = (uint64_t)tag << 32 | (uint32_t)(t->np + 1);
		t->np++;
		if (a->o.max_groups && a->mode != MODE_DIRECT) {
			uint32_t ls = part_div(a, (uint32_t)(key >> 32));
			if (ls >= t->nsubj) {
				size_t nn = t->nsubj ? 2 * t->nsubj : 1024;
				while (nn <= ls)
					nn *= 2;
				if (!part_charge(a, t, (nn - t->nsubj) * sizeof *t->spairs))
					return NULL;
				t->spairs = ag_realloc(t->spairs, nn * sizeof *t->spairs);
				memset(t->spairs + t->nsubj, 0,
				       (nn - t->nsubj) * sizeof *t->spairs);
				t->nsubj = nn;
			}
			t->spairs[ls]++;
		}
		return p;
	}
}

/* The record of a pair the first pass met. */
static inline struct pair *pair_find(const agg *a, const part *t, uint64_t key, uint64_t h)
{
	uint32_t tag = (uint32_t)(h >> 32);
	for (size_t s = h & t->pmask;; s = (s + 1) & t->pmask) {
		uint64_t v = t->slots[s];
		if (!v)
			abort(); /* the second pass sees the first pass's rows */
		if ((uint32_t)(v >> 32) != tag)
			continue;
		struct pair *p = pair_at(a, t, (uint32_t)v - 1);
		if ((p->key & ~PAIR_SAMPLE) == key)
			return p;
	}
}

/* ---- the scan -------------------------------------------------------------- */

static void scratch(part *t, size_t rows)
{
	if (rows <= t->scap)
		return;
	t->scap = rows;
	t->mask = ag_realloc(t->mask, rows);
	t->sel = ag_realloc(t->sel, rows * sizeof *t->sel);
	t->code = ag_realloc(t->code, rows * sizeof *t->code);
	t->gid = ag_realloc(t->gid, rows * sizeof *t->gid);
	t->rkey = ag_realloc(t->rkey, rows * sizeof *t->rkey);
	t->rhash = ag_realloc(t->rhash, (rows + AHEAD) * sizeof *t->rhash);
	t->cand = ag_realloc(t->cand, rows * sizeof *t->cand);
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

/* sel: the rows partition part_no counts, before the caps (consent, its
 * subjects, the time range, the filters); returns how many. */
static size_t select_rows(agg *a, part *t, int part_no, const agg_input *in)
{
	uint32_t rows = in->rows;
	uint8_t *mask = t->mask;
	const uint8_t *keep = in->keep;
	const uint32_t *idx = a->personal ? in->cols[a->s->subject]->idx : NULL;
	bool timed = (a->p->has_from || a->p->has_to) && a->time_col >= 0;
	const int64_t *ts = timed ? in->cols[a->time_col]->i : NULL;
	int64_t from = a->p->has_from ? a->p->from_us : INT64_MIN;
	int64_t to = a->p->has_to ? a->p->to_us : INT64_MAX;
	bool filters = a->p->nfilters > 0;
	size_t n = 0;
	/* one loop, without a branch on the data (a quarter of the rows or more
	 * go): the selection too when no filter follows */
	for (uint32_t r = 0; r < rows; r++) {
		bool m = !keep || keep[r];
		if (idx) {
			uint32_t no = in->subj_nos[idx[r]];
			m &= no != 0 && (a->o.by_subject || part_mod(a, no) == (uint32_t)part_no);
		}
		if (timed)
			m &= ts[r] >= from && ts[r] < to;
		mask[r] = m;
		t->sel[n] = r;
		n += m;
	}
	if (!filters)
		return n;
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
	n = 0;
	for (uint32_t r = 0; r < rows; r++) {
		t->sel[n] = r;
		n += mask[r] != 0;
	}
	return n;
}

/* Per group column: a code cc[i] per selected row and a code -> key value
 * table; returns the column's number of codes. */
static size_t column_codes(agg *a, part *t, size_t i, const agg_input *in, size_t n)
{
	const struct gdef *gd = &a->g[i];
	const chunk_column *c = in->cols[gd->col];
	if (!t->cc[i])
		t->cc[i] = ag_calloc(t->scap, sizeof *t->cc[i]);
	uint32_t *cc = t->cc[i];
	const uint32_t *sel = t->sel;
	size_t nc = 0;
#define KV_RESERVE(k)                                                                              \
	do {                                                                                       \
		if ((k) > t->kvcap[i]) {                                                           \
			t->kvcap[i] = (k);                                                         \
			t->kv[i] = ag_realloc(t->kv[i], (k) * sizeof *t->kv[i]);                   \
		}                                                                                  \
	} while (0)
	if (gd->type == SCHEMA_STRING) {
		nc = c->ndict;
		KV_RESERVE(nc);
		/* a projection's slices share one dictionary (pinned for the whole
		 * query): its codes are the ones the dense array was filled for */
		if (!(a->o.by_subject && t->dvalid && t->ddict[i] == c->dict && t->dcard[i] == nc))
			for (uint32_t k = 0; k < c->ndict; k++)
				t->kv[i][k] = str_id(&t->strs, c->dict[k].p, c->dict[k].len);
		const uint32_t *ci = c->idx;
		for (size_t j = 0; j < n; j++)
			cc[j] = ci[sel[j]];
		return nc;
	}
	if (gd->type == SCHEMA_BOOL) {
		KV_RESERVE(2);
		t->kv[i][0] = 0;
		t->kv[i][1] = 1;
		for (size_t j = 0; j < n; j++)
			cc[j] = c->i[sel[j]] != 0;
		return 2;
	}
	if (gd->bucket != FIDUCIA__V1__QUERY__GROUP__BUCKET__BUCKET_UNSPECIFIED) {
		/* bucket numbers once, into rkey (not in use until the pairs' keys) */
		int64_t *id = (int64_t *)t->rkey;
		const int64_t *ci = c->i;
		for (size_t j = 0; j < n; j++)
			id[j] = ci[sel[j]];
		bucket_ids(gd->bucket, id, (uint32_t)n, id);
		int64_t lo = INT64_MAX, hi = INT64_MIN;
		for (size_t j = 0; j < n; j++) {
			lo = id[j] < lo ? id[j] : lo;
			hi = id[j] > hi ? id[j] : hi;
		}
		if (lo > hi)
			return 1;
		uint64_t span = (uint64_t)(hi - lo) + 1;
		if (span <= DENSE_MAX) {
			KV_RESERVE(span);
			for (uint64_t k = 0; k < span; k++)
				t->kv[i][k] = lo + (int64_t)k;
			for (size_t j = 0; j < n; j++)
				cc[j] = (uint32_t)(id[j] - lo);
			return span;
		}
	}
	/* Any other value: numbered per chunk by a small hash. */
	size_t cap = 64;
	while (cap < 2 * n)
		cap *= 2;
	uint32_t *slots = ag_calloc(cap, sizeof *slots);
	KV_RESERVE(n ? n : 1);
	for (size_t j = 0; j < n; j++) {
		uint32_t r = sel[j];
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
			t->kv[i][nc] = v;
			slots[s] = (uint32_t)++nc;
		}
		cc[j] = slots[s] - 1;
	}
	free(slots);
	return nc ? nc : 1;
#undef KV_RESERVE
}

/* gid[i]: each selected row's group, through combined per-chunk key codes
 * mapped by a dense array. false past group_limit or max_bytes. */
static bool group_ids(agg *a, part *t, const agg_input *in, size_t n)
{
	size_t nk = a->nk;
	size_t card[QUERY_MAX_GROUPS], prod = 1;
	bool dense = true;
	for (size_t i = 0; i < nk; i++) {
		card[i] = column_codes(a, t, i, in, n);
		if (prod > DENSE_MAX / (card[i] ? card[i] : 1))
			dense = false;
		else
			prod *= card[i];
	}
	uint32_t *code = t->code;
	if (dense && nk == 2) { /* the common shape, in one pass */
		const uint32_t *c0 = t->cc[0], *c1 = t->cc[1];
		uint32_t k0 = (uint32_t)card[0];
		for (size_t j = 0; j < n; j++)
			code[j] = c0[j] + c1[j] * k0;
	} else if (dense) {
		memset(code, 0, n * sizeof *code);
		size_t stride = 1;
		for (size_t i = 0; i < nk; i++) {
			const uint32_t *cc = t->cc[i];
			for (size_t j = 0; j < n; j++)
				code[j] += cc[j] * (uint32_t)stride;
			stride *= card[i];
		}
	}
	if (dense) {
		/* the same codes as the last input's: its array holds */
		bool same = t->dvalid;
		for (size_t i = 0; i < nk && same; i++)
			same = t->dcard[i] == card[i] &&
			       memcmp(t->dkv[i], t->kv[i], card[i] * sizeof *t->kv[i]) == 0;
		if (!same) {
			if (prod > t->dcap) {
				t->dcap = prod;
				t->dense = ag_realloc(t->dense, prod * sizeof *t->dense);
			}
			memset(t->dense, 0xff, prod * sizeof *t->dense);
			for (size_t i = 0; i < nk; i++) {
				t->dcard[i] = card[i];
				t->ddict[i] = a->g[i].type == SCHEMA_STRING
				                      ? in->cols[a->g[i].col]->dict
				                      : NULL;
				t->dkv[i] = ag_realloc(t->dkv[i],
				                       (card[i] ? card[i] : 1) * sizeof *t->dkv[i]);
				memcpy(t->dkv[i], t->kv[i], card[i] * sizeof *t->kv[i]);
			}
			t->dvalid = true;
		}
	} else {
		t->dvalid = false;
	}
	for (size_t j = 0; j < n; j++) {
		int32_t g = dense ? t->dense[code[j]] : -1;
		if (g < 0) {
			int64_t key[QUERY_MAX_GROUPS];
			for (size_t i = 0; i < nk; i++)
				key[i] = t->kv[i][t->cc[i][j]];
			g = group_of(a, t, key);
			if (g < 0)
				return false;
			if (dense)
				t->dense[code[j]] = g;
		}
		t->gid[j] = g;
	}
	return true;
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

/* Each selected row's clamped measure values: fixed point in fx, histogram
 * bins in bin (-1: none). */
static void measure_values(agg *a, part *t, const agg_input *in, size_t n)
{
	const uint32_t *sel = t->sel;
	for (size_t i = 0; i < a->nm; i++) {
		const struct mdef *m = &a->m[i];
		if (m->col < 0)
			continue;
		const chunk_column *c = in->cols[m->col];
		bool fl = a->s->cols[m->col].type == SCHEMA_FLOAT64;
		if (m->fn == FIDUCIA__V1__QUERY__MEASURE__FN__HISTOGRAM) {
			if (!t->bin[i])
				t->bin[i] = ag_calloc(t->scap, sizeof *t->bin[i]);
			for (size_t j = 0; j < n; j++) {
				double v = fl ? c->f[sel[j]] : (double)c->i[sel[j]];
				v = !(v >= m->lo) ? m->lo : v > m->hi ? m->hi : v;
				t->bin[i][j] = hist_bin(m, v);
			}
			continue;
		}
		if (!t->fx[i])
			t->fx[i] = ag_calloc(t->scap, sizeof *t->fx[i]);
		int64_t *fx = t->fx[i];
		if (fl) {
			double lo = m->lo, hi = m->hi, sc = m->scale;
			const double *cf = c->f;
			for (size_t j = 0; j < n; j++) {
				double v = cf[sel[j]];
				v = !(v >= lo) ? lo : v > hi ? hi : v;
				fx[j] = round_fixed(v * sc);
			}
		} else {
			int64_t lo = (int64_t)ceil(m->lo), hi = (int64_t)floor(m->hi);
			const int64_t *ci = c->i;
			for (size_t j = 0; j < n; j++) {
				int64_t v = ci[sel[j]];
				fx[j] = v < lo ? lo : v > hi ? hi : v;
			}
		}
	}
}

/* Selected row j counts in its group g. psum: its pair's sums for the
 * dominance rule (int64 in MODE_FOLD, else double), or NULL. */
static inline void row_add(agg *a, part *t, size_t j, int32_t g, struct pair *pp)
{
	size_t nsum = a->nsum, nh = a->nh;
	t->rows[g]++;
	for (size_t k = 0; k < a->nsm; k++) {
		const struct mdef *m = &a->m[a->sum_meas[k]];
		int64_t v = t->fx[a->sum_meas[k]][j];
		size_t x = (size_t)g * nsum + (size_t)m->slot;
		t->sums[x] += v;
		if (!a->o.dominance) {
			continue;
		} else if (pp) {
			if (a->mode == MODE_FOLD)
				pair_isum(pp)[m->slot] += v;
			else
				pair_dsum(pp)[m->slot] += (double)v;
		} else if (!a->personal) {
			double av = fabs((double)v);
			t->dtot[x] += av;
			if (av > t->dmax[x])
				t->dmax[x] = av;
		}
	}
	for (size_t k = 0; k < a->nhm; k++) {
		const struct mdef *m = &a->m[a->hist_meas[k]];
		int32_t b = t->bin[a->hist_meas[k]][j];
		if (b >= 0)
			t->hist[(size_t)g * nh + (size_t)m->hist_off + (size_t)b]++;
	}
}

/* Pair keys and hashes of the selected rows (or of those in cand). */
static void pair_keys(agg *a, part *t, const agg_input *in, const uint32_t *idx, size_t n)
{
	const chunk_column *sc = in->cols[a->s->subject];
	for (size_t i = 0; i < n; i++) {
		size_t j = idx ? idx[i] : i;
		uint64_t k = (uint64_t)in->subj_nos[sc->idx[t->sel[j]]] << 32 | (uint32_t)t->gid[j];
		t->rkey[i] = k;
		t->rhash[i] = mix64(k);
	}
	memset(t->rhash + n, 0, AHEAD * sizeof *t->rhash); /* prefetched, never probed */
}

/* Prefetching for selected row i: the index slot of row i + AHEAD, and the
 * record that row i + AHEAD / 2's slot (cached by now) names when its tag
 * matches (else record 0: no branch). A macro: GCC 12 finds a function
 * holding only prefetches const, and drops its calls. rhash is padded past
 * the rows, so that it needs no test. */
#define PAIR_PREFETCH(a, t, i)                                                                     \
	do {                                                                                       \
		uint64_t h_ = (t)->rhash[(i) + AHEAD / 2], v_ = (t)->slots[h_ & (t)->pmask];       \
		size_t r_ = ((uint32_t)v_ - 1) & -(size_t)(v_ && (v_ >> 32) == (h_ >> 32));        \
		__builtin_prefetch(&(t)->slots[(t)->rhash[(i) + AHEAD] & (t)->pmask], 1);          \
		__builtin_prefetch((t)->recs + r_ * (a)->rsz, 1);                                  \
	} while (0)

/* No caps: rows go to their groups; on a personal dataset their pairs give
 * the distinct subjects and the dominance rule's contributions. */
static bool scan_direct(agg *a, part *t, const agg_input *in, size_t n)
{
	if (!a->personal) {
		for (size_t j = 0; j < n; j++)
			row_add(a, t, j, t->gid[j], NULL);
		return true;
	}
	pair_keys(a, t, in, NULL, n);
	for (size_t j = 0; j < n; j++) {
		PAIR_PREFETCH(a, t, j);
		struct pair *p = pair_add(a, t, t->rkey[j], t->rhash[j]);
		if (!p)
			return false;
		p->n++;
		row_add(a, t, j, t->gid[j], a->psums ? p : NULL);
	}
	return true;
}

/* Caps, first pass: each pair's rows counted, and in MODE_FOLD summed in
 * its record (wrapping: a pair over the row cap is summed again in the
 * second pass). */
static bool scan_first(agg *a, part *t, const agg_input *in, size_t n)
{
	pair_keys(a, t, in, NULL, n);
	bool fold = a->mode == MODE_FOLD;
	for (size_t j = 0; j < n; j++) {
		PAIR_PREFETCH(a, t, j);
		struct pair *p = pair_add(a, t, t->rkey[j], t->rhash[j]);
		if (!p)
			return false;
		p->n++;
		if (!fold)
			continue;
		int64_t *ps = pair_isum(p);
		for (size_t k = 0; k < a->nsm; k++) {
			int s = a->m[a->sum_meas[k]].slot;
			ps[s] = (int64_t)((uint64_t)ps[s] + (uint64_t)t->fx[a->sum_meas[k]][j]);
		}
		uint32_t *pb = pair_bins(a, p);
		for (size_t k = 0; k < a->nhm; k++) {
			int32_t b = t->bin[a->hist_meas[k]][j];
			if (b >= 0)
				pb[a->m[a->hist_meas[k]].hist_off + b]++;
		}
	}
	return true;
}

/* Caps, second pass: the rows of pairs agg_bound left to it, a uniform
 * random want of a pair's n by sequential selection sampling (row j of n
 * kept with probability (wanted - kept) / (n - j)). Rows of other pairs
 * were counted (or dropped) by agg_bound. */
static bool scan_second(agg *a, part *t, const agg_input *in, size_t n)
{
	size_t nc = 0;
	if (a->mode == MODE_FOLD) { /* only subjects with a pair to sample probe */
		const chunk_column *sc = in->cols[a->s->subject];
		for (size_t j = 0; j < n; j++) {
			uint32_t ls = part_div(a, in->subj_nos[sc->idx[t->sel[j]]]);
			t->cand[nc] = (uint32_t)j;
			nc += ls < t->nresample && (t->resample[ls >> 6] >> (ls & 63) & 1);
		}
	} else {
		for (size_t j = 0; j < n; j++)
			t->cand[j] = (uint32_t)j;
		nc = n;
	}
	pair_keys(a, t, in, t->cand, nc);
	for (size_t i = 0; i < nc; i++) {
		PAIR_PREFETCH(a, t, i);
		struct pair *p = pair_find(a, t, t->rkey[i], t->rhash[i]);
		if (!(p->key & PAIR_SAMPLE))
			continue;
		uint32_t left = p->n--;
		if (p->want < left && dp_uniform32(&t->rng, left) >= p->want) {
			t->dropped++;
			continue;
		}
		p->want--;
		size_t j = t->cand[i];
		row_add(a, t, j, t->gid[j], a->psums ? p : NULL);
	}
	return true;
}

bool agg_scan(agg *a, int part_no, const agg_input *in)
{
	part *t = &a->parts[part_no];
	if (t->failed)
		return false;
	uint32_t rows = in->rows;
	if (!rows)
		return true;
	if (t->reserve) { /* agg_reserve_pairs's sizes, made on this partition's thread */
		size_t slots = t->reserve, recs = t->reserve_recs,
		       more = (slots - (t->pmask + 1)) * sizeof *t->slots +
		              (recs > t->rcap ? recs - t->rcap : 0) * a->rsz;
		t->reserve = 0;
		if (!a->o.max_bytes || t->bytes + more <= a->o.max_bytes / (size_t)a->o.parts) {
			if (recs > t->rcap && !pairs_room(a, t, recs))
				return false;
			if (!pairs_index(a, t, slots))
				return false;
		} /* else growing as it goes will tell */
	}
	scratch(t, rows);
	if (a->pass == 1)
		t->scanned += rows;
	size_t n = select_rows(a, t, part_no, in);
	if (!n)
		return true;
	if (a->pass == 1)
		t->matched += n;
	if (!group_ids(a, t, in, n))
		return false;
	if (!(a->mode == MODE_COUNT && a->pass == 1)) /* counting pairs needs no value */
		measure_values(a, t, in, n);
	if (a->personal && !t->slots &&
	    (!pairs_index(a, t, PAIRS_FIRST) || (!t->recs && !pairs_room(a, t, RECS_FIRST))))
		return false;
	if (a->mode == MODE_DIRECT)
		return scan_direct(a, t, in, n);
	return a->pass == 1 ? scan_first(a, t, in, n) : scan_second(a, t, in, n);
}

/* ---- the scan by subject ---------------------------------------------------- */

/* Room for the current subject's pairs (one more than the groups: the pass
 * that finds them writes a slot ahead) and for every group's contributors
 * (groups only grow). */
static void subject_room(agg *a, part *t)
{
	if (t->ng + 1 > t->lcap) {
		size_t nc = t->gcap + 1;
		t->lp = ag_realloc(t->lp, nc * sizeof *t->lp);
		t->lstamp = ag_realloc(t->lstamp, nc * sizeof *t->lstamp);
		t->lslot = ag_realloc(t->lslot, nc * sizeof *t->lslot);
		memset(t->lstamp + t->lcap, 0, (nc - t->lcap) * sizeof *t->lstamp);
		if (a->o.dominance)
			t->lsum =
			        ag_realloc(t->lsum, nc * (a->nsum ? a->nsum : 1) * sizeof *t->lsum);
		t->lcap = nc;
	}
	if (t->ng > t->ccap) {
		size_t nc = t->gcap;
		t->contrib = ag_realloc(t->contrib, nc * sizeof *t->contrib);
		memset(t->contrib + t->ccap, 0, (nc - t->ccap) * sizeof *t->contrib);
		t->ccap = nc;
	}
}

#define LP_DROPPED UINT32_MAX

/* Selected rows idx[0..n-1] to their groups (no dominance, no pair). */
static void rows_add(agg *a, part *t, const uint32_t *idx, size_t n)
{
	size_t nsum = a->nsum, nsm = a->nsm, nh = a->nh;
	const int64_t *fx[QUERY_MAX_MEASURES];
	size_t slot[QUERY_MAX_MEASURES];
	for (size_t k = 0; k < nsm; k++) {
		fx[k] = t->fx[a->sum_meas[k]];
		slot[k] = (size_t)a->m[a->sum_meas[k]].slot;
	}
	const int32_t *gid = t->gid;
	int64_t *rows = t->rows;
	__int128 *sums = t->sums;
	for (size_t i = 0; i < n; i++) {
		size_t j = idx[i], g = (size_t)gid[j];
		rows[g]++;
		for (size_t k = 0; k < nsm; k++)
			sums[g * nsum + slot[k]] += fx[k][j];
	}
	for (size_t k = 0; k < a->nhm; k++) {
		const int32_t *bin = t->bin[a->hist_meas[k]];
		size_t off = (size_t)a->m[a->hist_meas[k]].hist_off;
		for (size_t i = 0; i < n; i++) {
			size_t j = idx[i];
			if (bin[j] >= 0)
				t->hist[(size_t)gid[j] * nh + off + (size_t)bin[j]]++;
		}
	}
}

/* One subject's selected rows j0..j1-1: its pairs, the group cap (a partial
 * Fisher-Yates shuffle of its pairs, in the order met), the row cap
 * (sequential selection sampling of a kept pair's rows, row j of n kept with
 * probability (wanted - kept) / (n - j)), then the kept rows to their groups.
 * The loops over rows take no branch on the data where they can (a new pair
 * or a dropped one is a coin toss to the branch predictor). */
static void subject_add(agg *a, part *t, size_t j0, size_t j1)
{
	uint32_t sid = ++t->sid;
	if (!sid) { /* wrapped: no stamp may look current */
		memset(t->lstamp, 0, t->lcap * sizeof *t->lstamp);
		sid = t->sid = 1;
	}
	const int32_t *gid = t->gid;
	struct lpair *lp = t->lp;
	uint32_t *lstamp = t->lstamp, *lslot = t->lslot;
	uint32_t m = 0;
	for (size_t j = j0; j < j1; j++) {
		uint32_t g = (uint32_t)gid[j];
		uint32_t fresh = lstamp[g] != sid;
		lstamp[g] = sid;
		lslot[g] = fresh ? m : lslot[g];
		lp[m] = (struct lpair){.g = g}; /* kept only when fresh */
		m += fresh;
		lp[lslot[g]].n++;
	}
	t->spairs_met += m;
	uint32_t max_groups = a->o.max_groups, max_rows = a->o.max_rows;
	if (max_groups && m > max_groups) {
		t->capped++;
		for (uint32_t k = 0; k < max_groups; k++) {
			uint32_t x = k + dp_uniform32(&t->rng, m - k);
			struct lpair tmp = lp[k];
			lp[k] = lp[x];
			lp[x] = tmp;
		}
		for (uint32_t k = max_groups; k < m; k++) {
			lslot[lp[k].g] = LP_DROPPED;
			t->dropped += lp[k].n;
		}
		m = max_groups;
		for (uint32_t k = 0; k < m; k++)
			lslot[lp[k].g] = k;
	}
	bool sample = false;
	for (uint32_t k = 0; k < m; k++) {
		lp[k].left = lp[k].n;
		lp[k].want = max_rows && lp[k].n > max_rows ? max_rows : lp[k].n;
		sample |= lp[k].want < lp[k].n;
		t->dropped += lp[k].n - lp[k].want;
		t->contrib[lp[k].g]++;
	}
	/* the kept rows, in order */
	uint32_t *kept = t->cand;
	size_t nk = 0;
	if (!sample) {
		for (size_t j = j0; j < j1; j++) {
			kept[nk] = (uint32_t)j;
			nk += lslot[gid[j]] != LP_DROPPED;
		}
	} else {
		for (size_t j = j0; j < j1; j++) {
			uint32_t k = lslot[gid[j]];
			if (k == LP_DROPPED)
				continue;
			struct lpair *p = &lp[k];
			uint32_t left = p->left--;
			if (p->want < left && dp_uniform32(&t->rng, left) >= p->want)
				continue;
			p->want--;
			kept[nk++] = (uint32_t)j;
		}
	}
	rows_add(a, t, kept, nk);
	if (!a->o.dominance)
		return;
	size_t nsum = a->nsum;
	memset(t->lsum, 0, (size_t)m * nsum * sizeof *t->lsum);
	for (size_t i = 0; i < nk; i++) {
		size_t j = kept[i], k = lslot[gid[j]];
		for (size_t x = 0; x < a->nsm; x++)
			t->lsum[k * nsum + (size_t)a->m[a->sum_meas[x]].slot] +=
			        (double)t->fx[a->sum_meas[x]][j];
	}
	for (uint32_t k = 0; k < m; k++) {
		size_t g = lp[k].g;
		for (size_t x = 0; x < nsum; x++) {
			double v = fabs(t->lsum[(size_t)k * nsum + x]);
			t->dtot[g * nsum + x] += v;
			if (v > t->dmax[g * nsum + x])
				t->dmax[g * nsum + x] = v;
		}
	}
}

void agg_by_subject(agg *a)
{
	a->o.by_subject = true;
}

void agg_input_slice(const agg_input *in, uint32_t off, uint32_t rows,
                     chunk_column cols[SCHEMA_MAX_COLUMNS], agg_input *out)
{
	memset(out, 0, sizeof *out);
	out->rows = rows;
	out->keep = in->keep ? in->keep + off : NULL;
	out->subj_nos = in->subj_nos;
	for (int c = 0; c < SCHEMA_MAX_COLUMNS; c++) {
		if (!in->cols[c])
			continue;
		cols[c] = *in->cols[c];
		cols[c].rows = rows;
		if (cols[c].i)
			cols[c].i += off;
		if (cols[c].f)
			cols[c].f += off;
		if (cols[c].idx)
			cols[c].idx += off;
		out->cols[c] = &cols[c];
	}
}

bool agg_scan_subjects(agg *a, int part_no, const agg_input *in, const dp_rng *rng)
{
	part *t = &a->parts[part_no];
	if (t->failed || !a->o.by_subject || !a->personal)
		return false;
	if (!t->bound) { /* the partition's own keystream, as agg_bound_part takes it */
		t->bound = true;
		t->rng = *rng;
		t->rng.counter += (uint64_t)(part_no + 1) << 40;
		t->rng.used = sizeof t->rng.buf;
	}
	uint32_t rows = in->rows;
	if (!rows)
		return true;
	/* the slice's columns on their way to the cache before the passes over them */
	for (int c = 0; c < a->s->ncols; c++) {
		const chunk_column *k = in->cols[c];
		if (!k)
			continue;
		const uint8_t *base = k->i   ? (const uint8_t *)k->i
		                      : k->f ? (const uint8_t *)k->f
		                             : (const uint8_t *)k->idx;
		size_t bytes = (size_t)rows * (k->i || k->f ? 8 : 4);
		for (size_t o = 0; base && o < bytes; o += 64)
			__builtin_prefetch(base + o, 0, 1);
	}
	scratch(t, rows);
	t->scanned += rows;
	size_t n = select_rows(a, t, part_no, in);
	if (!n)
		return true;
	t->matched += n;
	if (!group_ids(a, t, in, n))
		return false;
	measure_values(a, t, in, n);
	subject_room(a, t);
	const uint32_t *sidx = in->cols[a->s->subject]->idx, *sel = t->sel;
	for (size_t j = 0; j < n;) {
		uint32_t s = sidx[sel[j]];
		size_t e = j + 1;
		while (e < n && sidx[sel[e]] == s)
			e++;
		subject_add(a, t, j, e);
		j = e;
	}
	return true;
}

/* ---- contribution bounding ------------------------------------------------ */

/* Local subject ls has a pair sampled in the second pass. */
static bool resample_mark(agg *a, part *t, uint32_t ls)
{
	if (ls >= t->nresample) {
		size_t nb = t->nresample ? 2 * t->nresample : 4096;
		while (nb <= ls)
			nb *= 2;
		if (!part_charge(a, t, (nb - t->nresample) / 8))
			return false;
		t->resample = ag_realloc(t->resample, nb / 8);
		memset(t->resample + t->nresample / 64, 0, (nb - t->nresample) / 8);
		t->nresample = nb;
	}
	t->resample[ls >> 6] |= UINT64_C(1) << (ls & 63);
	return true;
}

void agg_bound_part(agg *a, int part_no, const dp_rng *rng)
{
	part *t = &a->parts[part_no];
	if (t->bound)
		return;
	t->bound = true;
	t->rng = *rng;
	t->rng.counter += (uint64_t)(part_no + 1) << 40; /* a keystream of its own */
	t->rng.used = sizeof t->rng.buf;                 /* refilled from it */
	if (a->mode == MODE_DIRECT || a->o.by_subject || t->failed)
		return;
	t->contrib = ag_calloc(t->ng ? t->ng : 1, sizeof *t->contrib);
	if (!t->np)
		return;
	uint32_t max_groups = a->o.max_groups, max_rows = a->o.max_rows;
	/* A subject over the group cap keeps max_groups of its m pairs, chosen
	 * by a partial Fisher-Yates shuffle of their positions 0..m-1 in the
	 * order met (fixed before any draw). spairs[s] becomes the subject's first
	 * bit in chosen, UINT32_MAX when it keeps every pair. */
	uint32_t *pos = t->spairs;
	uint64_t *chosen = NULL;
	size_t scratch_bytes = 0;
	if (max_groups) {
		size_t bits = 0;
		uint32_t maxm = 0;
		for (size_t s = 0; s < t->nsubj; s++)
			if (pos[s] > max_groups) {
				bits += pos[s];
				maxm = pos[s] > maxm ? pos[s] : maxm;
			}
		scratch_bytes = (bits + 63) / 64 * 8 + (size_t)maxm * sizeof(uint32_t);
		if (bits >= UINT32_MAX) {
			t->failed = t->too_large = true;
			return;
		}
		if (!part_charge(a, t, scratch_bytes))
			return;
		chosen = ag_calloc((bits + 63) / 64, sizeof *chosen);
		uint32_t *idx = ag_calloc(maxm, sizeof *idx);
		uint32_t off = 0;
		for (size_t s = 0; s < t->nsubj; s++) {
			uint32_t m = pos[s];
			if (m <= max_groups) {
				pos[s] = UINT32_MAX;
				continue;
			}
			t->capped++;
			for (uint32_t k = 0; k < m; k++)
				idx[k] = k;
			for (uint32_t k = 0; k < max_groups; k++) {
				uint32_t x = k + dp_uniform32(&t->rng, m - k);
				uint32_t tmp = idx[k];
				idx[k] = idx[x];
				idx[x] = tmp;
				uint32_t b = off + idx[k];
				chosen[b >> 6] |= UINT64_C(1) << (b & 63);
			}
			pos[s] = off;
			off += m;
		}
		free(idx);
	}
	/* One sweep of the records in the order met: a kept pair counts its
	 * subject in its group; in MODE_FOLD one within the row cap adds its
	 * sums there, the others are left to the second pass, which samples
	 * their rows. */
	size_t nsum = a->nsum, nh = a->nh;
	for (size_t i = 0; i < t->np; i++) {
		struct pair *p = pair_at(a, t, i);
		uint32_t g = pair_group(p), ls = part_div(a, (uint32_t)(p->key >> 32));
		if (max_groups && pos[ls] != UINT32_MAX) {
			uint32_t b = pos[ls]++;
			if (!(chosen[b >> 6] >> (b & 63) & 1)) {
				t->dropped += p->n;
				continue;
			}
		}
		t->contrib[g]++;
		if (a->mode == MODE_FOLD && p->n <= max_rows) {
			t->rows[g] += p->n;
			const int64_t *ps = pair_isum(p);
			for (size_t j = 0; j < nsum; j++) {
				t->sums[g * nsum + j] += ps[j];
				if (a->o.dominance) {
					double v = fabs((double)ps[j]);
					t->dtot[g * nsum + j] += v;
					if (v > t->dmax[g * nsum + j])
						t->dmax[g * nsum + j] = v;
				}
			}
			const uint32_t *pb = pair_bins(a, p);
			for (size_t k = 0; k < nh; k++)
				t->hist[g * nh + k] += pb[k];
			continue;
		}
		p->key |= PAIR_SAMPLE;
		p->want = max_rows && p->n > max_rows ? max_rows : p->n;
		memset(p + 1, 0, 8 * a->psums); /* the dominance rule's sums, again */
		if (a->mode == MODE_FOLD && !resample_mark(a, t, ls))
			break;
		t->again = true;
	}
	free(chosen);
	t->bytes -= scratch_bytes;
}

bool agg_bound(agg *a, dp_rng *rng)
{
	if (a->mode == MODE_DIRECT || a->o.by_subject)
		return false;
	bool again = false;
	for (int pi = 0; pi < a->o.parts; pi++) {
		part *t = &a->parts[pi];
		agg_bound_part(a, pi, rng);
		if (t->failed)
			return false;
		again |= t->again;
	}
	if (again)
		a->pass = 2;
	return again;
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
	size_t nsum = a->nsum, nh = a->nh, total = 0;
	for (int pi = 0; pi < a->o.parts; pi++) {
		part *t = &a->parts[pi];
		if (t->failed)
			return false;
		if (!a->personal) {
			t->contrib = ag_calloc(t->ng ? t->ng : 1, sizeof *t->contrib);
			for (size_t g = 0; g < t->ng; g++)
				t->contrib[g] = t->rows[g];
		} else if (a->o.by_subject) {
			if (!t->contrib) /* no row came to this partition */
				t->contrib = ag_calloc(t->ng ? t->ng : 1, sizeof *t->contrib);
		} else if (a->mode == MODE_DIRECT || !t->contrib) {
			/* no caps (or no agg_bound): every pair met counts */
			free(t->contrib);
			t->contrib = ag_calloc(t->ng ? t->ng : 1, sizeof *t->contrib);
			for (size_t i = 0; i < t->np; i++)
				t->contrib[pair_group(pair_at(a, t, i))]++;
		}
		/* The dominance rule's largest contributions: pairs whose rows went to
		 * their groups row by row (agg_bound did the others). */
		bool rows_in_pairs = a->mode == MODE_DIRECT || a->pass == 2;
		if (a->personal && a->o.dominance && a->psums && rows_in_pairs) {
			for (size_t i = 0; i < t->np; i++) {
				struct pair *p = pair_at(a, t, i);
				if (a->mode != MODE_DIRECT && !(p->key & PAIR_SAMPLE))
					continue;
				uint32_t g = pair_group(p);
				for (size_t j = 0; j < nsum; j++) {
					double v = a->mode == MODE_FOLD
					                   ? fabs((double)pair_isum(p)[j])
					                   : fabs(pair_dsum(p)[j]);
					t->dtot[g * nsum + j] += v;
					if (v > t->dmax[g * nsum + j])
						t->dmax[g * nsum + j] = v;
				}
			}
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
	if (!a->personal)
		return;
	for (int pi = 0; pi < a->o.parts; pi++) {
		part *t = &a->parts[pi];
		size_t want = n / (size_t)a->o.parts, slots = t->slots ? t->pmask + 1 : PAIRS_FIRST;
		while (2 * want > slots && slots < ((size_t)1 << 32))
			slots *= 2;
		t->reserve = slots > t->pmask + 1 ? slots : 0;
		t->reserve_recs =
		        RECS_FIRST; /* a power of two too: the pool finds its size again */
		while (t->reserve_recs < want && t->reserve_recs < UINT32_MAX / 2)
			t->reserve_recs *= 2;
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
		out->pairs += t->np + t->spairs_met;
		out->subjects_capped += t->capped;
		bytes += t->bytes_peak + (t->gmask + 1) * 4 + t->dcap * 4 +
		         t->scap * (1 + 4 * 4 + 8 * 2 + 4 * a->nk + 8 * a->nm);
	}
	out->second_pass = a->pass == 2;
	out->bytes = bytes;
}
