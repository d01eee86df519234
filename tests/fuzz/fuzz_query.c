/*
 * libFuzzer harness for the query checker (server/query.c) behind its two
 * decoders, and for the engine behind it (server/aggregate.c and
 * server/disclose.c). The first byte picks the input's form (byte % 2):
 * proto3 JSON through pbjson, or a binary Query. A query that passes is
 * checked for what a plan must hold (columns in range and of the right role,
 * IN values strictly ascending, bins strictly ascending, a canonical form),
 * and its canonical form must decode and pass again to the very same
 * canonical bytes.
 *
 * Every plan then runs on a small fixed dataset of two hand-built chunks,
 * as a personal dataset and as a non-personal one: without caps in one
 * partition (the reference), and with caps of 2 rows and 2 groups per
 * subject, with or without the fixed point DP needs, in one partition or
 * two (never more than the reference; without a subject, the very same
 * answer), each answer then through disclosure control with and without
 * DP. Any broken invariant aborts.
 */
#include "../../server/schema.c"
#include "../../server/batch.c"
#include "../../server/query.c"
#include "../../server/dp.c"
#include "../../server/aggregate.c"
#include "../../server/disclose.c"
#include "pbjson.h"

#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static schema fz_schema, fz_schema_np; /* personal, and the same columns not personal */
static bool fz_ready;
static void fz_build_chunks(void);

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
	if (!schema_from_pb(&fz_schema, true, 9, p, err, sizeof err) ||
	    !schema_from_pb(&fz_schema_np, false, 9, p, err, sizeof err) || sodium_init() < 0)
		abort();
	fz_build_chunks();
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

/* ---- the engine on a fixed dataset ---------------------------------------- */

/* Two chunks of fz_schema's columns. Subject numbers are global: subject 2
 * is in both chunks; the second chunk's third subject has withdrawn (number
 * 0, its rows not kept), as consent_view_numbers gives it. Subject 1 has
 * three rows in one district on one day (over the row cap), subject 2 three
 * road types (over the group cap). The chunks' dictionaries differ in order.
 * Values in bounds, floats finite and -0 stored as 0, timestamps as far as
 * a deposit accepts, as batch.c guarantees. */
#define FZ_NCHUNKS   2
#define FZ_MAXROWS   6
#define FZ_KEPT_ROWS 10 /* rows with consent */
#define FZ_ALL_ROWS  11
#define FZ_SUBJECTS  4                         /* with consent */
#define FZ_D0        INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define FZ_H         INT64_C(3600000000)
#define FZ_TMAX      INT64_C(9223372036853000000)
#define FZ_TMIN      (-INT64_C(9223372036853000000))
#define FZ_SEEN      (FZ_D0 + 59 * 24 * FZ_H + 6 * FZ_H) /* 2026-03-01T08:00:00+02:00 */

typedef struct fz_chunk {
	uint32_t rows, nsubj, ndist;
	uint32_t nos[3];
	const char *dnames[3];
	uint32_t subj[FZ_MAXROWS], dist[FZ_MAXROWS];
	int64_t t[FZ_MAXROWS], road[FZ_MAXROWS], weekend[FZ_MAXROWS], seen[FZ_MAXROWS],
	        delay[FZ_MAXROWS];
	double level[FZ_MAXROWS], speed[FZ_MAXROWS];
	/* built by fz_build_chunks */
	uint8_t keep[FZ_MAXROWS];
	batch_str dict[3];
	chunk_column cols[9];
} fz_chunk;

static fz_chunk fz_chunks[FZ_NCHUNKS] = {
        {.rows = 6,
         .nsubj = 3,
         .ndist = 3,
         .nos = {1, 2, 3},
         .dnames = {"Lyon 1er", "Lyon 2e", ""},
         .subj = {0, 0, 1, 0, 2, 1},
         .dist = {0, 0, 1, 0, 2, 0},
         .t = {FZ_D0 + FZ_H, FZ_D0 + 2 * FZ_H, FZ_D0 + 25 * FZ_H, FZ_D0 + 3 * FZ_H, FZ_D0 + FZ_H,
               FZ_D0 + 31 * 24 * FZ_H},
         .road = {1, 2, 3, 1, -7, 2},
         .weekend = {0, 1, 0, 1, 0, 1},
         .level = {2.5, 0, -1.5, 10, 1e300, 2.5},
         .seen = {FZ_SEEN, FZ_SEEN, FZ_D0 - 1, INT64_C(-62135596800000000), FZ_TMIN, FZ_D0},
         .speed = {50, 250, 0, 130.5, 249.999999, 10.25},
         .delay = {100, 86400, 0, 3600, 1, 42}},
        {.rows = 5,
         .nsubj = 3,
         .ndist = 2,
         .nos = {2, 4, 0},
         .dnames = {"Lyon 2e", "Lyon 1er"},
         .subj = {0, 1, 2, 1, 0},
         .dist = {1, 1, 1, 0, 0},
         .t = {FZ_D0 + FZ_H, FZ_D0 + FZ_H, FZ_D0 + FZ_H, FZ_D0 + 2 * FZ_H,
               INT64_C(253402300799000000)},
         .road = {1, 1, 1, 2, 3},
         .weekend = {0, 0, 0, 1, 1},
         .level = {2.5, 2.5, 2.5, 0, 10},
         .seen = {FZ_SEEN, FZ_SEEN + 1, FZ_SEEN, FZ_D0, FZ_TMAX},
         .speed = {50, 200, 100, 250, 0},
         .delay = {100, 500, 100, 86400, 0}},
};

static void fz_build_chunks(void)
{
	for (size_t k = 0; k < FZ_NCHUNKS; k++) {
		fz_chunk *ch = &fz_chunks[k];
		uint32_t n = ch->rows;
		for (uint32_t d = 0; d < ch->ndist; d++) {
			ch->dict[d].p = ch->dnames[d];
			ch->dict[d].len = (uint32_t)strlen(ch->dnames[d]);
		}
		for (uint32_t r = 0; r < n; r++)
			ch->keep[r] = ch->nos[ch->subj[r]] != 0;
		chunk_column *c = ch->cols;
		memset(c, 0, sizeof ch->cols);
		for (int i = 0; i < 9; i++)
			c[i].rows = n;
		c[0].ndict = ch->nsubj;
		c[0].idx = ch->subj;
		c[1].i = ch->t;
		c[2].ndict = ch->ndist;
		c[2].dict = ch->dict;
		c[2].idx = ch->dist;
		c[3].i = ch->road;
		c[4].i = ch->weekend;
		c[5].f = ch->level;
		c[6].i = ch->seen;
		c[7].f = ch->speed;
		c[8].i = ch->delay;
	}
}

/* A chunk as the engine sees it: only the columns it asked for, as
 * queries.c gives them (keep and numbers for a personal dataset only). */
static void fz_input(const agg *a, const fz_chunk *ch, bool personal, agg_input *in)
{
	bool need[SCHEMA_MAX_COLUMNS];
	agg_columns(a, need);
	memset(in, 0, sizeof *in);
	in->rows = ch->rows;
	for (int c = 0; c < 9; c++)
		if (need[c])
			in->cols[c] = &ch->cols[c];
	if (personal) {
		if (!need[0])
			abort();
		in->keep = ch->keep;
		in->subj_nos = ch->nos;
	}
}

/* Scan (twice when agg_bound asks) and merge; NULL when the working memory
 * is over max_bytes or the bounds too wide for the fixed point, which the
 * server refuses with a message. */
static agg *fz_run(const query_plan *p, const schema *s, const agg_opts *o, uint64_t seed)
{
	char err[256] = "";
	agg *a = agg_new(p, s, o, err, sizeof err);
	if (!a) {
		if (!err[0] || !o->need_fixed_dp)
			abort();
		return NULL;
	}
	agg_input in[FZ_NCHUNKS];
	for (size_t c = 0; c < FZ_NCHUNKS; c++)
		fz_input(a, &fz_chunks[c], s->personal, &in[c]);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t c = 0; c < FZ_NCHUNKS; c++)
			for (int pt = 0; pt < o->parts; pt++)
				if ((s->personal || (int)(c % (size_t)o->parts) == pt) &&
				    !agg_scan(a, pt, &in[c])) {
					/* never the group limit: fewer rows than that */
					if (pass != 0 || !agg_too_large(a))
						abort();
					agg_free(a);
					return NULL;
				}
		if (pass == 0) {
			dp_rng rng;
			dp_rng_seeded(&rng, seed);
			if (!agg_bound(a, &rng))
				break;
		}
	}
	agg_stats st;
	agg_stats_get(a, &st);
	if (st.rows_scanned > (uint64_t)FZ_ALL_ROWS * (uint64_t)o->parts ||
	    st.rows_matched > FZ_ALL_ROWS || st.rows_dropped_by_caps > st.rows_matched)
		abort();
	if (!agg_finish(a))
		abort();
	return a;
}

static size_t fz_hist_off(const query_plan *p, size_t m)
{
	size_t off = 0;
	for (size_t k = 0; k < m; k++)
		if (p->measures[k].fn == FIDUCIA__V1__QUERY__MEASURE__FN__HISTOGRAM)
			off += p->measures[k].nbins - 1;
	return off;
}

static size_t fz_hist_total(const query_plan *p)
{
	return fz_hist_off(p, p->nmeasures);
}

static bool fz_same_keys(const query_plan *p, const agg_group *x, const agg_group *y)
{
	for (size_t k = 0; k < p->ngroups; k++)
		if (strcmp(x->keys[k], y->keys[k]) != 0)
			return false;
	return true;
}

static const agg_group *fz_find(const agg *a, const query_plan *p, const agg_group *x)
{
	for (size_t g = 0; g < agg_ngroups(a); g++)
		if (fz_same_keys(p, agg_get(a, g), x))
			return agg_get(a, g);
	return NULL;
}

/* What every answer holds; against ref (no caps, one partition, or NULL):
 * exact (same) or never more. */
static void fz_check(const agg *a, const query_plan *p, const schema *s, const agg_opts *o,
                     const agg *ref, bool same)
{
	size_t ng = agg_ngroups(a), nh = fz_hist_total(p);
	if (ng > o->group_limit || (p->ngroups == 0 && ng != 1)) /* a total always */
		abort();
	if (ref && same && ng != agg_ngroups(ref))
		abort();
	int64_t rows = 0, contrib = 0;
	for (size_t g = 0; g < ng; g++) {
		const agg_group *G = agg_get(a, g);
		if (G->rows < 0 || G->contributors < 0 || G->contributors > G->rows)
			abort();
		if (!s->personal && G->contributors != G->rows)
			abort();
		if (s->personal && o->max_rows && G->rows > G->contributors * (int64_t)o->max_rows)
			abort();
		if (p->ngroups > 0 && G->rows == 0) /* a group without rows is none */
			abort();
		for (size_t k = 0; k < p->ngroups; k++)
			if (!G->keys[k])
				abort();
		if (g > 0 && fz_same_keys(p, agg_get(a, g - 1), G)) /* merged */
			abort();
		rows += G->rows;
		contrib += G->contributors;
		for (size_t i = 0; i < p->nmeasures; i++) {
			int slot = agg_slot(a, i);
			if (p->measures[i].fn == FIDUCIA__V1__QUERY__MEASURE__FN__HISTOGRAM) {
				size_t off = fz_hist_off(p, i);
				int64_t in = 0;
				for (size_t b = 0; b + 1 < p->measures[i].nbins; b++) {
					if (G->hist[off + b] < 0)
						abort();
					in += G->hist[off + b];
				}
				if (in > G->rows)
					abort();
			} else if (slot >= 0) {
				__int128 x = G->sums[slot],
				         lim = (__int128)G->rows * (__int128)agg_bound_fixed(a, i);
				if (x > lim || x < -lim || !(G->dom_max[slot] >= 0) ||
				    !(G->dom_max[slot] <= G->dom_total[slot]))
					abort();
			}
		}
		if (!ref)
			continue;
		const agg_group *R = fz_find(ref, p, G);
		if (!R)
			abort();
		if (same ? (G->rows != R->rows || G->contributors != R->contributors)
		         : (G->rows > R->rows || G->contributors > R->contributors))
			abort();
		for (size_t b = 0; b < nh; b++)
			if (same ? G->hist[b] != R->hist[b] : G->hist[b] > R->hist[b])
				abort();
		for (size_t i = 0; same && i < p->nmeasures; i++) {
			int slot = agg_slot(a, i);
			if (slot < 0 ||
			    p->measures[i].fn == FIDUCIA__V1__QUERY__MEASURE__FN__HISTOGRAM ||
			    agg_scale(a, i) != agg_scale(ref, i))
				continue;
			if (G->sums[slot] != R->sums[slot] ||
			    G->dom_max[slot] != R->dom_max[slot] ||
			    G->dom_total[slot] != R->dom_total[slot])
				abort();
		}
	}
	if (rows > (s->personal ? FZ_KEPT_ROWS : FZ_ALL_ROWS))
		abort();
	if (s->personal && o->max_groups && contrib > FZ_SUBJECTS * (int64_t)o->max_groups)
		abort();
}

/* Disclosure control with and without DP on one answer. */
static void fz_disclose(const agg *a, const query_plan *p, const schema *s, const agg_opts *o,
                        uint64_t seed)
{
	size_t ng = agg_ngroups(a), nv = 0;
	unsigned shares = 1; /* partition selection */
	for (size_t i = 0; i < p->nmeasures; i++) {
		query_fn fn = p->measures[i].fn;
		nv += fn == FIDUCIA__V1__QUERY__MEASURE__FN__HISTOGRAM ? p->measures[i].nbins - 1
		                                                       : 1;
		shares += fn == FIDUCIA__V1__QUERY__MEASURE__FN__MEAN ? 2 : 1;
	}
	for (int mode = 0; mode < 3; mode++) {
		bool dp = mode == 2;
		uint32_t k = mode == 1 ? 0 : 2;
		disc_params dpar = {.dp = dp,
		                    .eps_micro = 1000000,
		                    .min_k = k,
		                    .dominance = mode == 1 ? 0 : DISC_DOMINANCE_DEFAULT,
		                    .personal = s->personal,
		                    .max_rows = o->max_rows,
		                    .max_groups = o->max_groups};
		dp_rng rng;
		dp_rng_seeded(&rng, seed + (uint64_t)mode);
		disc_result res;
		char err[256] = "";
		if (!disc_run(a, p, s, &dpar, &rng, &res, err, sizeof err)) {
			if (!dp || !err[0]) /* only the noise can be impossible */
				abort();
			continue;
		}
		if (res.nrows > ng)
			abort();
		if (dp ? (res.suppressed_k || res.suppressed_dominance ||
		          res.nrows + res.suppressed_selection != ng || res.shares != shares ||
		          res.eps_spent_micro > dpar.eps_micro)
		       : (res.suppressed_selection || res.eps_spent_micro ||
		          res.nrows + res.suppressed_k + res.suppressed_dominance != ng ||
		          (mode == 1 && res.nrows != ng)))
			abort();
		for (size_t r = 0; r < res.nrows; r++) {
			const disc_row *row = &res.rows[r];
			if (row->group >= ng || (r > 0 && row->group <= res.rows[r - 1].group) ||
			    row->nvalues != nv)
				abort();
			const agg_group *G = agg_get(a, row->group);
			if (!dp && G->contributors < (int64_t)k)
				abort();
			for (size_t i = 0; !dp && dpar.dominance > 0 && i < p->nmeasures; i++) {
				int slot = agg_slot(a, i);
				query_fn fn = p->measures[i].fn;
				if (slot >= 0 &&
				    (fn == FIDUCIA__V1__QUERY__MEASURE__FN__SUM ||
				     fn == FIDUCIA__V1__QUERY__MEASURE__FN__MEAN) &&
				    G->dom_max[slot] > dpar.dominance * G->dom_total[slot])
					abort();
			}
			size_t v = 0;
			for (size_t i = 0; i < p->nmeasures; i++) {
				query_fn fn = p->measures[i].fn;
				size_t nb = fn == FIDUCIA__V1__QUERY__MEASURE__FN__HISTOGRAM
				                    ? p->measures[i].nbins - 1
				                    : 1;
				for (size_t b = 0; b < nb; b++, v++) {
					const disc_value *x = &row->values[v];
					if (!x->measure || !isfinite(x->value) ||
					    !isfinite(x->scale) || !isfinite(x->ci95) ||
					    x->scale < 0 || x->ci95 < 0 ||
					    (!dp && (x->scale != 0 || x->ci95 != 0)))
						abort();
					if (fn == FIDUCIA__V1__QUERY__MEASURE__FN__SUM ||
					    fn == FIDUCIA__V1__QUERY__MEASURE__FN__MEAN)
						continue;
					if (x->value < 0 || (x->suppressed && x->value != 0) ||
					    (dp && x->suppressed))
						abort();
					if (dp)
						continue;
					int64_t want =
					        fn == FIDUCIA__V1__QUERY__MEASURE__FN__COUNT
					                ? G->rows
					        : fn == FIDUCIA__V1__QUERY__MEASURE__FN__COUNT_SUBJECTS
					                ? G->contributors
					                : G->hist[fz_hist_off(p, i) + b];
					if (x->suppressed ? !(want > 0 && want < (int64_t)k)
					                  : x->value != (double)want)
						abort();
				}
			}
		}
		disc_result_free(&res);
	}
}

/* The plan on the dataset, personal and not: without caps in one
 * partition (the reference), then with caps. A personal run costs a 1 MiB
 * pair table per partition (some 170 us under ASan), so each input takes
 * one capped configuration, need_fixed_dp and the partitions (1 or 2)
 * drawn from its hash; the fuzzer's mutations cover all four. */
static void fz_engine(const query_plan *p, uint64_t seed)
{
	uint64_t h = mix64(seed);
	bool fixed = h & 1;
	int parts = 1 + (int)(h >> 1 & 1);
	for (int personal = 1; personal >= 0; personal--) {
		const schema *s = personal ? &fz_schema : &fz_schema_np;
		agg_opts ro = {
		        .group_limit = 50, .max_bytes = 1 << 20, .parts = 1, .dominance = true};
		agg *ref = fz_run(p, s, &ro, seed);
		if (ref) {
			fz_check(ref, p, s, &ro, NULL, false);
			fz_disclose(ref, p, s, &ro, seed);
		}
		agg_opts o = {.max_rows = 2,
		              .max_groups = 2,
		              .group_limit = 50,
		              .max_bytes = 1 << 20,
		              .parts = parts,
		              .need_fixed_dp = fixed,
		              .dominance = true};
		agg *a = fz_run(p, s, &o, seed);
		if (a) {
			/* without a subject, the caps change nothing */
			fz_check(a, p, s, &o, ref, !personal);
			fz_disclose(a, p, s, &o, seed);
		}
		agg_free(a);
		agg_free(ref);
	}
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
		uint64_t seed = UINT64_C(1469598103934665603);
		for (size_t i = 0; i < size; i++)
			seed = (seed ^ data[i]) * UINT64_C(1099511628211);
		fz_engine(&p, seed);
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
