/*
 * aggregate.c and disclose.c on small hand-built chunks whose right answer
 * is known: every measure, bucket and filter; consent masks; partitions
 * giving the same answer as one; contribution caps dropping rows by random
 * sampling (not the first ones) and groups per subject; suppression by k;
 * partition selection; the dominance rule; the group limit; and the noise
 * scales and epsilon split.
 */
#include "testutil.h"

#include "../../server/schema.c"
#include "../../server/batch.c"
#include "../../server/query.c"
#include "../../server/dp.c"
#include "../../server/aggregate.c"
#include "../../server/disclose.c"
#include "pbjson.h"

#include <sodium.h>

/* schema: 0 subject, 1 time, 2 district (STRING), 3 road (INT64), 4 speed
 * (FLOAT64 0..200), 5 delay (INT64 0..1000) */
static schema S;

static void col(Fiducia__V1__Column *c, const char *name, Fiducia__V1__Column__Type t,
                Fiducia__V1__Column__Role r, double min, double max)
{
	Fiducia__V1__Column init = FIDUCIA__V1__COLUMN__INIT;
	*c = init;
	c->name = (char *)name;
	c->type = t;
	c->role = r;
	c->min = min;
	c->max = max;
}

static void make_schema(bool personal)
{
	Fiducia__V1__Column c[6], *p[6];
	col(&c[0], "driver_id", FIDUCIA__V1__COLUMN__TYPE__STRING,
	    FIDUCIA__V1__COLUMN__ROLE__SUBJECT, 0, 0);
	col(&c[1], "pub_time", FIDUCIA__V1__COLUMN__TYPE__TIMESTAMP,
	    FIDUCIA__V1__COLUMN__ROLE__TIME, 0, 0);
	col(&c[2], "district", FIDUCIA__V1__COLUMN__TYPE__STRING,
	    FIDUCIA__V1__COLUMN__ROLE__DIMENSION, 0, 0);
	col(&c[3], "road_type", FIDUCIA__V1__COLUMN__TYPE__INT64,
	    FIDUCIA__V1__COLUMN__ROLE__DIMENSION, 0, 0);
	col(&c[4], "speed_kmh", FIDUCIA__V1__COLUMN__TYPE__FLOAT64,
	    FIDUCIA__V1__COLUMN__ROLE__MEASURE, 0, 200);
	col(&c[5], "delay_s", FIDUCIA__V1__COLUMN__TYPE__INT64, FIDUCIA__V1__COLUMN__ROLE__MEASURE,
	    0, 1000);
	for (int i = 0; i < 6; i++)
		p[i] = &c[i];
	char err[256];
	if (personal) {
		CHECK(schema_from_pb(&S, true, 6, p, err, sizeof err));
	} else {
		CHECK(schema_from_pb(&S, false, 5, p + 1, err, sizeof err));
	}
}

static bool plan(const char *json, query_plan *p)
{
	ProtobufCMessage *m = NULL;
	pbjson_error pe;
	char err[256];
	if (!pbjson_decode(&fiducia__v1__query__descriptor, json, strlen(json), NULL, &m, &pe)) {
		fprintf(stderr, "pbjson: %s\n", pe.message);
		return false;
	}
	bool ok = query_plan_build((Fiducia__V1__Query *)m, &S, p, err, sizeof err);
	if (!ok)
		fprintf(stderr, "plan: %s\n", err);
	protobuf_c_message_free_unpacked(m, NULL);
	return ok;
}

/* A hand-built chunk: n rows. */
#define MAXR 256
typedef struct rowset {
	uint32_t n;
	uint32_t subj[MAXR]; /* subject number, 0: none */
	int64_t t[MAXR];
	const char *district[MAXR];
	int64_t road[MAXR];
	double speed[MAXR];
	int64_t delay[MAXR];
	uint8_t keep[MAXR];
} rowset;

typedef struct built {
	chunk_column c[6];
	batch_str dict[MAXR];
	uint32_t didx[MAXR], sidx[MAXR];
	uint32_t nos[MAXR + 1];
	agg_input in;
} built;

static void build_chunk(const rowset *rs, built *b, bool personal)
{
	memset(b, 0, sizeof *b);
	uint32_t n = rs->n, nd = 0;
	for (uint32_t r = 0; r < n; r++) {
		uint32_t k = 0;
		while (k < nd && strcmp(b->dict[k].p, rs->district[r]))
			k++;
		if (k == nd) {
			b->dict[nd].p = rs->district[r];
			b->dict[nd].len = (uint32_t)strlen(rs->district[r]);
			nd++;
		}
		b->didx[r] = k;
		b->sidx[r] = r; /* one dictionary entry per row: fine for the scan */
		b->nos[r] = rs->subj[r];
	}
	int off = personal ? 0 : -1;
	chunk_column *c = b->c;
	if (personal) {
		c[0].rows = n;
		c[0].ndict = n;
		c[0].idx = b->sidx;
	}
	c[off + 1].rows = n;
	c[off + 1].i = (int64_t *)rs->t;
	c[off + 2].rows = n;
	c[off + 2].ndict = nd;
	c[off + 2].dict = b->dict;
	c[off + 2].idx = b->didx;
	c[off + 3].rows = n;
	c[off + 3].i = (int64_t *)rs->road;
	c[off + 4].rows = n;
	c[off + 4].f = (double *)rs->speed;
	c[off + 5].rows = n;
	c[off + 5].i = (int64_t *)rs->delay;
	b->in.rows = n;
	for (int i = 0; i < S.ncols; i++)
		b->in.cols[i] = &c[i];
	b->in.keep = rs->keep;
	b->in.subj_nos = personal ? b->nos : NULL;
}

#define DAY0 INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define H    INT64_C(3600000000)

static const agg_group *find(const agg *a, const char *k0, const char *k1)
{
	for (size_t g = 0; g < agg_ngroups(a); g++) {
		const agg_group *G = agg_get(a, g);
		if (strcmp(G->keys[0], k0) == 0 && (!k1 || strcmp(G->keys[1], k1) == 0))
			return G;
	}
	return NULL;
}

static agg *run(const query_plan *p, const agg_opts *o, built *chunks, size_t nchunks, dp_rng *rng)
{
	char err[256];
	agg *a = agg_new(p, &S, o, err, sizeof err);
	CHECK(a != NULL);
	if (!a)
		return NULL;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t c = 0; c < nchunks; c++)
			for (int pt = 0; pt < o->parts; pt++)
				if (S.personal || (int)(c % (size_t)o->parts) == pt)
					CHECK(agg_scan(a, pt, &chunks[c].in));
		if (pass == 0 && !agg_bound(a, rng))
			break;
	}
	CHECK(agg_finish(a));
	return a;
}

/* The scan by subject, as queries.c runs it over a projection: in holds
 * every row in subject order (SUBJECT idx nondecreasing); the subjects are
 * split into parts ranges at subject boundaries, each scanned in slices of
 * about slice rows, never cutting a subject. */
static agg *run_subjects(const query_plan *p, const agg_opts *o, const agg_input *in,
                         uint32_t slice, dp_rng *rng)
{
	char err[256];
	agg_opts ob = *o;
	ob.by_subject = true;
	agg *a = agg_new(p, &S, &ob, err, sizeof err);
	CHECK(a != NULL);
	if (!a)
		return NULL;
	const uint32_t *idx = in->cols[S.subject]->idx;
	uint32_t rows = in->rows, start = 0;
	for (int pt = 0; pt < ob.parts; pt++) {
		uint32_t end = (uint32_t)((uint64_t)rows * (uint64_t)(pt + 1) / (uint64_t)ob.parts);
		while (end > start && end < rows && idx[end] == idx[end - 1])
			end++; /* to the subject's end */
		while (start < end) {
			uint32_t e = start + slice < end ? start + slice : end;
			while (e < end && idx[e] == idx[e - 1])
				e++;
			chunk_column cols[SCHEMA_MAX_COLUMNS];
			agg_input sl;
			agg_input_slice(in, start, e - start, cols, &sl);
			CHECK(agg_scan_subjects(a, pt, &sl, rng));
			start = e;
		}
	}
	CHECK(!agg_bound(a, rng));
	CHECK(agg_finish(a));
	return a;
}

/* A chunk in subject order as a projection gives it: one dictionary entry
 * per subject (the rows must come sorted by subject), numbered as the
 * subject, 0 for a row not kept. */
static void sort_built(const rowset *rs, built *b)
{
	build_chunk(rs, b, true);
	for (uint32_t r = 0; r < rs->n; r++) {
		CHECK(r == 0 || rs->subj[r] >= rs->subj[r - 1]);
		b->sidx[r] = rs->subj[r];
		b->nos[rs->subj[r]] = rs->keep[r] ? rs->subj[r] : 0;
	}
	b->c[0].ndict = MAXR + 1;
	b->in.keep = NULL;
}

/* Non-personal: every measure, DAY and MONTH buckets, filters and the time
 * range, against sums worked out by hand. */
static void test_measures(void)
{
	make_schema(false);
	static rowset rs;
	memset(&rs, 0, sizeof rs);
	/* day 1: Lyon 1er: 3 rows (road 1,2,3), Lyon 2e: 1 row; day 2: Lyon 1er: 2 */
	const char *d[] = {"Lyon 1er", "Lyon 1er", "Lyon 1er", "Lyon 2e", "Lyon 1er", "Lyon 1er"};
	int64_t t[] = {DAY0 + H,     DAY0 + 2 * H,  DAY0 + 23 * H,
	               DAY0 + 5 * H, DAY0 + 25 * H, DAY0 + 47 * H};
	int64_t road[] = {1, 2, 3, 1, 1, 2};
	double speed[] = {10.5, 20.25, 300 /* clamped to 200 */, 40, 50, 60};
	int64_t delay[] = {100, 200, 300, 400, -5 /* clamped to 0 */, 600};
	rs.n = 6;
	for (int r = 0; r < 6; r++) {
		rs.district[r] = d[r];
		rs.t[r] = t[r];
		rs.road[r] = road[r];
		rs.speed[r] = speed[r];
		rs.delay[r] = delay[r];
		rs.keep[r] = 1;
	}
	static built b;
	build_chunk(&rs, &b, false);
	query_plan p;
	CHECK(plan("{\"dataset\":\"ds-0123456789abcdef\",\"purpose\":\"x\",\"measures\":["
	           "{\"fn\":\"COUNT\"},{\"fn\":\"SUM\",\"column\":\"delay_s\"},{\"fn\":\"MEAN\","
	           "\"column\":\"speed_kmh\"},{\"fn\":\"HISTOGRAM\",\"column\":\"speed_kmh\","
	           "\"bins\":[0,20,100,200]}],\"groupBy\":[{\"column\":\"pub_time\",\"bucket\":"
	           "\"DAY\"},{\"column\":\"district\"}]}",
	           &p));
	agg_opts o = {.group_limit = 100, .parts = 2, .dominance = true};
	dp_rng rng;
	dp_rng_zero(&rng);
	agg *a = run(&p, &o, &b, 1, &rng);
	CHECK(agg_ngroups(a) == 3);
	const agg_group *g = find(a, "2026-01-01T00:00:00Z", "Lyon 1er");
	CHECK(g && g->rows == 3 && g->sums[0] == 600);
	CHECK(g && g->sums[1] == (int64_t)(10.5e6 + 20.25e6 + 200e6));     /* fixed point */
	CHECK(g && g->hist[0] == 1 && g->hist[1] == 1 && g->hist[2] == 1); /* 200: last bin */
	g = find(a, "2026-01-02T00:00:00Z", "Lyon 1er");
	CHECK(g && g->rows == 2 && g->sums[0] == 600 && g->contributors == 2);
	/* sorted by key */
	CHECK_STR_EQ(agg_get(a, 0)->keys[0], "2026-01-01T00:00:00Z");
	CHECK_STR_EQ(agg_get(a, 2)->keys[0], "2026-01-02T00:00:00Z");
	disc_params dp = {.min_k = 2};
	disc_result res;
	char err[256];
	CHECK(disc_run(a, &p, &S, &dp, &rng, &res, err, sizeof err));
	CHECK(res.nrows == 2 && res.suppressed_k == 1); /* Lyon 2e has one row */
	CHECK(res.rows[0].nvalues == 6);
	CHECK_STR_EQ(res.rows[0].values[1].measure, "SUM(delay_s)");
	CHECK(res.rows[0].values[2].value > 76.916 && res.rows[0].values[2].value < 76.917);
	CHECK_STR_EQ(res.rows[0].values[5].measure, "HISTOGRAM(speed_kmh)[100,200]");
	CHECK(res.rows[0].values[0].scale == 0 && res.eps_spent_micro == 0);
	/* day 2's bins: 0 rows in [0,20), 2 in [20,100): under k = 2? no, at
	 * k = 3 every bin of day 1 (one row each) is withheld */
	disc_result_free(&res);
	disc_params k3 = {.min_k = 3};
	CHECK(disc_run(a, &p, &S, &k3, &rng, &res, err, sizeof err));
	CHECK(res.nrows == 1); /* day 1, Lyon 1er: 3 rows */
	CHECK(res.rows[0].values[3].suppressed && res.rows[0].values[3].value == 0);
	CHECK(res.rows[0].values[5].suppressed);
	CHECK(!res.rows[0].values[0].suppressed && res.rows[0].values[0].value == 3);
	disc_result_free(&res);
	agg_free(a);
	query_plan_free(&p);

	/* filters, time range, MONTH and the INT64 dimension */
	CHECK(plan(
	        "{\"dataset\":\"ds-0123456789abcdef\",\"purpose\":\"x\",\"measures\":["
	        "{\"fn\":\"COUNT\"}],\"groupBy\":[{\"column\":\"pub_time\",\"bucket\":"
	        "\"MONTH\"},{\"column\":\"road_type\"}],\"filters\":[{\"column\":\"district\","
	        "\"op\":\"NE\",\"values\":[\"Lyon 2e\"]},{\"column\":\"road_type\",\"op\":\"LE\","
	        "\"values\":[\"2\"]}],\"timeRange\":{\"from\":\"2026-01-01T01:00:00Z\",\"to\":"
	        "\"2026-01-02T23:00:00Z\"}}",
	        &p));
	a = run(&p, &o, &b, 1, &rng);
	/* rows 0 (road 1), 1 (road 2), 4 (road 1); row 5 is at 23:00, excluded */
	CHECK(agg_ngroups(a) == 2);
	g = find(a, "2026-01-01T00:00:00Z", "1");
	CHECK(g && g->rows == 2);
	g = find(a, "2026-01-01T00:00:00Z", "2");
	CHECK(g && g->rows == 1);
	agg_free(a);
	query_plan_free(&p);

	/* IN on an INT64 dimension, a histogram, and a time range together */
	CHECK(plan("{\"dataset\":\"ds-0123456789abcdef\",\"purpose\":\"x\",\"measures\":["
	           "{\"fn\":\"COUNT\"},{\"fn\":\"HISTOGRAM\",\"column\":\"delay_s\",\"bins\":[0,"
	           "150,1000]}],\"groupBy\":[{\"column\":\"pub_time\",\"bucket\":\"DAY\"},{"
	           "\"column\":\"district\"}],\"filters\":[{\"column\":\"road_type\",\"op\":"
	           "\"IN\",\"values\":[\"2\",\"1\"]}],\"timeRange\":{\"from\":\"2026-01-01T00:00:"
	           "00Z\",\"to\":\"2026-02-01T00:00:00Z\"}}",
	           &p));
	a = run(&p, &o, &b, 1, &rng);
	/* rows 0, 1 (day 1, Lyon 1er), 3 (day 1, Lyon 2e), 4 and 5 (day 2) */
	CHECK(agg_ngroups(a) == 3);
	g = find(a, "2026-01-01T00:00:00Z", "Lyon 1er");
	CHECK(g && g->rows == 2 && g->hist[0] == 1 && g->hist[1] == 1);
	agg_free(a);
	query_plan_free(&p);

	/* the group limit */
	CHECK(plan("{\"dataset\":\"ds-0123456789abcdef\",\"purpose\":\"x\",\"measures\":["
	           "{\"fn\":\"COUNT\"}],\"groupBy\":[{\"column\":\"pub_time\",\"bucket\":"
	           "\"HOUR\"}]}",
	           &p));
	agg_opts small = {.group_limit = 5, .parts = 1};
	char e2[128];
	a = agg_new(&p, &S, &small, e2, sizeof e2);
	CHECK(!agg_scan(a, 0, &b.in)); /* six distinct hours */
	agg_free(a);
	query_plan_free(&p);
}

/* Personal: consent masks, caps sampled at random, groups per subject. */
static void test_caps(void)
{
	make_schema(true);
	static rowset rs;
	memset(&rs, 0, sizeof rs);
	/* subject 1: 10 rows in Lyon 1er with delays 1..10; subject 2: one row
	 * in each of 4 districts; subject 3: withdrawn (keep 0), 5 rows. */
	uint32_t n = 0;
	for (int i = 1; i <= 10; i++, n++) {
		rs.subj[n] = 1;
		rs.district[n] = "Lyon 1er";
		rs.delay[n] = i;
		rs.keep[n] = 1;
	}
	const char *ds[] = {"Lyon 1er", "Lyon 2e", "Lyon 3e", "Lyon 4e"};
	for (int i = 0; i < 4; i++, n++) {
		rs.subj[n] = 2;
		rs.district[n] = ds[i];
		rs.delay[n] = 100;
		rs.keep[n] = 1;
	}
	for (int i = 0; i < 5; i++, n++) {
		rs.subj[n] = 3;
		rs.district[n] = "Lyon 1er";
		rs.delay[n] = 500;
		rs.keep[n] = 0;
	}
	rs.n = n;
	for (uint32_t r = 0; r < n; r++)
		rs.t[r] = DAY0;
	static built b;
	build_chunk(&rs, &b, true);
	for (uint32_t r = 0; r < n; r++)
		if (!rs.keep[r])
			b.nos[r] = 0; /* what consent_view_filter gives a row not kept */
	query_plan p;
	CHECK(plan("{\"dataset\":\"ds-0123456789abcdef\",\"purpose\":\"x\",\"measures\":["
	           "{\"fn\":\"COUNT\"},{\"fn\":\"COUNT_SUBJECTS\"},{\"fn\":\"SUM\",\"column\":"
	           "\"delay_s\"}],\"groupBy\":[{\"column\":\"district\"}]}",
	           &p));
	/* no caps: everything consented counts, in one partition or three */
	for (int parts = 1; parts <= 3; parts += 2) {
		agg_opts o = {.group_limit = 100, .parts = parts, .dominance = true};
		dp_rng rng;
		dp_rng_seeded(&rng, 1);
		agg *a = run(&p, &o, &b, 1, &rng);
		const agg_group *g = find(a, "Lyon 1er", NULL);
		CHECK(g && g->rows == 11 && g->contributors == 2 && g->sums[0] == 155);
		CHECK(agg_ngroups(a) == 4);
		/* dominance: subject 1 holds 55 of 155 in Lyon 1er: 35% */
		CHECK(g && g->dom_max[0] == 100 && g->dom_total[0] == 155);
		agg_free(a);
	}
	/* no caps by subject too: the rows are in subject order already */
	static built bs;
	sort_built(&rs, &bs);
	for (int parts = 1; parts <= 3; parts += 2) {
		agg_opts on = {.group_limit = 100, .parts = parts, .dominance = true};
		dp_rng rng;
		dp_rng_seeded(&rng, 1);
		agg *a = run_subjects(&p, &on, &bs.in, 4, &rng);
		const agg_group *g = find(a, "Lyon 1er", NULL);
		CHECK(g && g->rows == 11 && g->contributors == 2 && g->sums[0] == 155);
		CHECK(g && g->dom_max[0] == 100 && g->dom_total[0] == 155);
		CHECK(agg_ngroups(a) == 4);
		agg_free(a);
	}
	/* C = 3 rows per group, L0 = 2 groups per subject, by chunk then by subject */
	agg_opts o = {.group_limit = 100, .parts = 2, .max_rows = 3, .max_groups = 2};
	for (int by_subject = 0; by_subject <= 1; by_subject++) {
		uint64_t seen_sums[64] = {0};
		size_t distinct = 0;
		int first_three = 0;
		for (uint64_t seed = 1; seed <= 40; seed++) {
			dp_rng rng;
			dp_rng_seeded(&rng, seed);
			agg *a = by_subject ? run_subjects(&p, &o, &bs.in, 1, &rng)
			                    : run(&p, &o, &b, 1, &rng);
			agg_stats st;
			agg_stats_get(a, &st);
			/* by subject: never a second pass */
			CHECK(st.second_pass == !by_subject && st.subjects_capped == 1);
			CHECK(!by_subject || st.rows_dropped_by_caps == 9);
			int64_t rows = 0, s2 = 0, sum1 = 0;
			for (size_t g = 0; g < agg_ngroups(a); g++) {
				const agg_group *G = agg_get(a, g);
				rows += G->rows;
				if (strcmp(G->keys[0], "Lyon 1er") == 0)
					sum1 = (int64_t)G->sums[0];
				s2 += G->contributors;
			}
			/* subject 1: 3 rows; subject 2: 2 of its 4 groups */
			CHECK(rows == 5);
			CHECK(s2 == 3 || s2 == 2); /* subject 2 may or may not keep Lyon 1er */
			int64_t s1 = sum1 % 100;   /* subject 1's three sampled delays */
			CHECK(s1 >= 1 + 2 + 3 && s1 <= 8 + 9 + 10);
			first_three += s1 == 6;
			size_t k = 0;
			while (k < distinct && seen_sums[k] != (uint64_t)s1)
				k++;
			if (k == distinct && distinct < 64)
				seen_sums[distinct++] = (uint64_t)s1;
			agg_free(a);
		}
		CHECK(distinct >= 8);    /* not always the same rows */
		CHECK(first_three < 10); /* not the first ones by order */
	}
	query_plan_free(&p);
}

/* Suppression: partition selection under DP, the dominance rule, and the
 * noise scales and epsilon split. */
static void test_disclosure(void)
{
	make_schema(true);
	static rowset rs;
	memset(&rs, 0, sizeof rs);
	uint32_t n = 0;
	/* Lyon 1er: 200 subjects, delay 10 each; Lyon 2e: one subject. Lyon 3e:
	 * 20 subjects, one of them with delay 1000, the others 1. */
	for (uint32_t s = 1; s <= 200; s++, n++) {
		rs.subj[n] = s;
		rs.district[n] = "Lyon 1er";
		rs.delay[n] = 10;
	}
	rs.subj[n] = 201;
	rs.district[n] = "Lyon 2e";
	rs.delay[n++] = 10;
	for (uint32_t s = 0; s < 20; s++, n++) {
		rs.subj[n] = 202 + s;
		rs.district[n] = "Lyon 3e";
		rs.delay[n] = s == 0 ? 1000 : 1;
	}
	rs.n = n;
	for (uint32_t r = 0; r < n; r++) {
		rs.keep[r] = 1;
		rs.t[r] = DAY0;
	}
	static built b;
	build_chunk(&rs, &b, true);
	query_plan p;
	CHECK(plan("{\"dataset\":\"ds-0123456789abcdef\",\"purpose\":\"x\",\"measures\":["
	           "{\"fn\":\"COUNT\"},{\"fn\":\"SUM\",\"column\":\"delay_s\"}],\"groupBy\":[{"
	           "\"column\":\"district\"}]}",
	           &p));
	agg_opts o = {.group_limit = 100,
	              .parts = 1,
	              .dominance = true,
	              .max_rows = 1,
	              .max_groups = 1,
	              .need_fixed_dp = true};
	dp_rng zero;
	dp_rng_zero(&zero);
	agg *a = run(&p, &o, &b, 1, &zero);
	char err[256];
	disc_result res;
	/* Without DP: k = 2 suppresses Lyon 2e; dominance suppresses Lyon 3e
	 * (1000 of 1019). */
	disc_params nodp = {
	        .min_k = 2, .dominance = 0.85, .personal = true, .max_rows = 1, .max_groups = 1};
	CHECK(disc_run(a, &p, &S, &nodp, &zero, &res, err, sizeof err));
	CHECK(res.nrows == 1 && res.suppressed_k == 1 && res.suppressed_dominance == 1);
	CHECK_STR_EQ(agg_get(a, res.rows[0].group)->keys[0], "Lyon 1er");
	disc_result_free(&res);
	nodp.dominance = 0;
	CHECK(disc_run(a, &p, &S, &nodp, &zero, &res, err, sizeof err));
	CHECK(res.nrows == 2 && res.suppressed_dominance == 0);
	disc_result_free(&res);
	/* DP, epsilon 3 over three shares (COUNT, SUM, selection): scale 1 for
	 * counts (C = L0 = 1), 1000 for the sum; the threshold for one subject
	 * is 2 + the noise's 1 - 2e-8 quantile: ln(1e8/...) about 18. */
	disc_params dp = {.dp = true,
	                  .eps_micro = 3000000,
	                  .min_k = 2,
	                  .personal = true,
	                  .max_rows = 1,
	                  .max_groups = 1};
	CHECK(disc_run(a, &p, &S, &dp, &zero, &res, err, sizeof err));
	CHECK(res.shares == 3 && res.eps_spent_micro == 3000000);
	CHECK(res.suppressed_selection == 1); /* one subject: never released, noise 0 */
	CHECK(res.nrows == 2);
	CHECK(res.rows[0].values[0].scale == 1.0);
	CHECK(res.rows[0].values[1].scale == 1000.0);
	CHECK(res.rows[0].values[0].ci95 >= 2 && res.rows[0].values[0].ci95 <= 4);
	disc_result_free(&res);
	/* Epsilon 1 over three shares: each statistic gets 333333 micro-epsilon, and the
	 * whole 1.0 is charged, the remainder too, as the budget check asks for it. */
	dp.eps_micro = 1000000;
	CHECK(disc_run(a, &p, &S, &dp, &zero, &res, err, sizeof err));
	CHECK(res.shares == 3 && res.eps_spent_micro == 1000000);
	disc_result_free(&res);
	dp.eps_micro = 3000000;
	/* With real noise, Lyon 2e (one subject) stays out over many draws and
	 * Lyon 1er (200) is always in; its count is noisy. */
	dp_rng sod;
	dp_rng_sodium(&sod);
	int out2 = 0, in1 = 0, exact = 0;
	for (int i = 0; i < 200; i++) {
		CHECK(disc_run(a, &p, &S, &dp, &sod, &res, err, sizeof err));
		for (size_t r = 0; r < res.nrows; r++) {
			const char *k = agg_get(a, res.rows[r].group)->keys[0];
			if (strcmp(k, "Lyon 2e") == 0)
				out2++;
			if (strcmp(k, "Lyon 1er") == 0) {
				in1++;
				exact += res.rows[r].values[0].value == 200;
			}
		}
		disc_result_free(&res);
	}
	CHECK(out2 == 0 && in1 == 200 && exact < 120);
	/* Under DP the dominance rule does not apply (it would decide on exact
	 * values): Lyon 3e is released, its one big contributor bounded by the
	 * noise. */
	disc_params dpdom = dp;
	dpdom.dominance = 0.85;
	CHECK(disc_run(a, &p, &S, &dpdom, &zero, &res, err, sizeof err));
	CHECK(res.suppressed_dominance == 0 && res.nrows == 2);
	disc_result_free(&res);
	/* too small an epsilon for exact noise is an error, not a release */
	disc_params tiny = dp;
	tiny.eps_micro = 2;
	CHECK(!disc_run(a, &p, &S, &tiny, &sod, &res, err, sizeof err));
	agg_free(a);
	query_plan_free(&p);

	/* Under DP a total is held to k too: a filter down to Lyon 2e's one
	 * subject gives no row. */
	CHECK(plan("{\"dataset\":\"ds-0123456789abcdef\",\"purpose\":\"x\",\"measures\":["
	           "{\"fn\":\"COUNT\"}],\"filters\":[{\"column\":\"district\",\"op\":\"EQ\","
	           "\"values\":[\"Lyon 2e\"]}]}",
	           &p));
	a = run(&p, &o, &b, 1, &zero);
	CHECK(disc_run(a, &p, &S, &dp, &zero, &res, err, sizeof err));
	CHECK(res.nrows == 0 && res.suppressed_selection == 1);
	disc_result_free(&res);
	agg_free(a);
	/* the caps of the example baseline (100 rows, 16 groups) with a FLOAT64
	 * measure of bounds 0..200 under epsilon 1: exact noise can be drawn
	 * (the fixed point shrinks so that the sensitivity stays below 2^28) */
	query_plan pm;
	CHECK(plan("{\"dataset\":\"ds-0123456789abcdef\",\"purpose\":\"x\",\"measures\":["
	           "{\"fn\":\"COUNT\"},{\"fn\":\"SUM\",\"column\":\"delay_s\"},{\"fn\":"
	           "\"MEAN\",\"column\":\"speed_kmh\"}],\"groupBy\":[{\"column\":\"district\"}]}",
	           &pm));
	agg_opts wide = {.group_limit = 100,
	                 .parts = 2,
	                 .max_rows = 100,
	                 .max_groups = 16,
	                 .need_fixed_dp = true};
	a = run(&pm, &wide, &b, 1, &zero);
	CHECK(agg_scale(a, 2) == 100); /* centi-km/h */
	disc_params dpw = {.dp = true,
	                   .eps_micro = 1000000,
	                   .min_k = 10,
	                   .personal = true,
	                   .max_rows = 100,
	                   .max_groups = 16};
	CHECK(disc_run(a, &pm, &S, &dpw, &sod, &res, err, sizeof err));
	disc_result_free(&res);
	agg_free(a);
	query_plan_free(&pm);
	/* the memory cap: a query over it fails, and says so */
	agg_opts tiny_mem = o;
	tiny_mem.max_bytes = 1024;
	char e2[128];
	a = agg_new(&p, &S, &tiny_mem, e2, sizeof e2);
	CHECK(!agg_scan(a, 0, &b.in) && agg_too_large(a));
	agg_free(a);
	query_plan_free(&p);
}

/* Many subjects over many chunks, against a brute-force reference: 3,000
 * subjects (every seventh without consent; subjects 1 to 5 with all their
 * rows in one group), 24 groups (3 days x 8 districts), delay_s constant per
 * group so that a group's sum is known whatever rows the caps keep. */
#define NCH   300
#define NSUBJ 3000
#define NGRP  24
static rowset mrs[NCH];
static built mb[NCH];
static const char *const MDIST[8] = {"A", "B", "C", "D", "E", "F", "G", "H"};
static int64_t ref_n[NSUBJ + 1][NGRP]; /* rows per pair */
static double ref_speed[NGRP];         /* sum of clamped speeds per group */
static int64_t ref_hist[NGRP][4];

static uint64_t sm_state;
static uint64_t sm_next(void)
{
	uint64_t z = (sm_state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* What the many-subject tests ask: every measure, by DAY x district. */
static const char MANY_QUERY[] =
        "{\"dataset\":\"ds-0123456789abcdef\",\"purpose\":\"x\",\"measures\":["
        "{\"fn\":\"COUNT\"},{\"fn\":\"SUM\",\"column\":\"delay_s\"},{\"fn\":"
        "\"MEAN\",\"column\":\"speed_kmh\"},{\"fn\":\"HISTOGRAM\",\"column\":"
        "\"speed_kmh\",\"bins\":[0,50,100,150,200]}],\"groupBy\":[{\"column\":"
        "\"pub_time\",\"bucket\":\"DAY\"},{\"column\":\"district\"}]}";

static void make_many(void)
{
	sm_state = 42;
	memset(ref_n, 0, sizeof ref_n);
	memset(ref_speed, 0, sizeof ref_speed);
	memset(ref_hist, 0, sizeof ref_hist);
	for (int c = 0; c < NCH; c++) {
		rowset *rs = &mrs[c];
		memset(rs, 0, sizeof *rs);
		rs->n = MAXR;
		for (uint32_t r = 0; r < MAXR; r++) {
			uint64_t x = sm_next();
			uint32_t subj = 1 + (uint32_t)(x % NSUBJ);
			unsigned day = (unsigned)(x >> 20) % 3, dist = (unsigned)(x >> 24) % 8;
			if (subj <= 5)
				day = dist = 0;
			unsigned g = day * 8 + dist;
			rs->subj[r] = subj;
			rs->t[r] = DAY0 + (int64_t)day * 24 * H + (int64_t)((x >> 32) % 24) * H;
			rs->district[r] = MDIST[dist];
			rs->road[r] = 1;
			rs->speed[r] = (double)((x >> 40) % 250); /* 200..249 clamped to 200 */
			rs->delay[r] = 1 + g;
			rs->keep[r] = subj % 7 != 0;
			if (rs->keep[r]) {
				double sp = rs->speed[r] > 200 ? 200 : rs->speed[r];
				ref_n[subj][g]++;
				ref_speed[g] += sp;
				ref_hist[g][sp < 50 ? 0 : sp < 100 ? 1 : sp < 150 ? 2 : 3]++;
			}
		}
		build_chunk(rs, &mb[c], true);
		for (uint32_t r = 0; r < MAXR; r++)
			if (!rs->keep[r])
				mb[c].nos[r] = 0;
	}
}

/* The scan as queries.c runs it: windows of chunks, each partition bound on
 * its own (bound_each) or all by agg_bound, the pair tables reserved after
 * the first window. */
static agg *run_many(const query_plan *p, const agg_opts *o, bool bound_each, dp_rng *rng)
{
	char err[256];
	agg *a = agg_new(p, &S, o, err, sizeof err);
	CHECK(a != NULL);
	if (!a)
		return NULL;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t c = 0; c < NCH; c++) {
			for (int pt = 0; pt < o->parts; pt++)
				if (!agg_scan(a, pt, &mb[c].in))
					return a;
			if (pass == 0 && c == 31)
				agg_reserve_pairs(a, agg_pairs(a) * NCH / 32);
		}
		if (pass == 0 && bound_each)
			for (int pt = 0; pt < o->parts; pt++)
				agg_bound_part(a, pt, rng);
		if (pass == 0 && !agg_bound(a, rng))
			break;
	}
	CHECK(agg_finish(a));
	return a;
}

static const agg_group *find_group(const agg *a, unsigned g)
{
	char day[32];
	snprintf(day, sizeof day, "2026-01-0%uT00:00:00Z", 1 + g / 8);
	return find(a, day, MDIST[g % 8]);
}

/* Caps that bind nowhere change nothing: every group equals the reference
 * (and the run without caps), in each pair mode. */
static void check_exact(const agg *a, bool dominance)
{
	int64_t total = 0;
	for (unsigned g = 0; g < NGRP; g++) {
		const agg_group *G = find_group(a, g);
		int64_t rows = 0, subjects = 0, dmax = 0;
		for (int s = 1; s <= NSUBJ; s++) {
			rows += ref_n[s][g];
			subjects += ref_n[s][g] > 0;
			if (ref_n[s][g] * (int64_t)(1 + g) > dmax)
				dmax = ref_n[s][g] * (int64_t)(1 + g);
		}
		CHECK(G && G->rows == rows && G->contributors == subjects);
		CHECK(G && G->sums[0] == (__int128)rows * (1 + g));
		CHECK(G && G->sums[1] == (__int128)llrint(ref_speed[g] * agg_scale(a, 2)));
		CHECK(G && G->hist[0] == ref_hist[g][0] && G->hist[3] == ref_hist[g][3]);
		if (dominance) {
			CHECK(G && G->dom_max[0] == (double)dmax);
			CHECK(G && G->dom_total[0] == (double)(rows * (1 + g)));
		}
		total += rows;
	}
	agg_stats st;
	agg_stats_get(a, &st);
	CHECK((int64_t)st.rows_matched == total && st.rows_dropped_by_caps == 0);
	CHECK(agg_ngroups(a) == NGRP);
}

/* Caps of one row per pair and 8 groups per subject: every kept pair gives
 * exactly one row, so a group's rows are its subjects, its delay sum is
 * rows x its constant, and the subjects kept are min(groups, 8) each. */
static void check_bound(const agg *a, bool second_pass)
{
	int64_t want_pairs = 0, capped = 0, rows = 0, contrib = 0;
	for (int s = 1; s <= NSUBJ; s++) {
		int64_t m = 0;
		for (unsigned g = 0; g < NGRP; g++)
			m += ref_n[s][g] > 0;
		want_pairs += m < 8 ? m : 8;
		capped += m > 8;
	}
	for (unsigned g = 0; g < NGRP; g++) {
		const agg_group *G = find_group(a, g);
		if (!G)
			continue;
		CHECK(G->rows == G->contributors);
		CHECK(G->sums[0] == (__int128)G->rows * (1 + g));
		CHECK(G->dom_max[0] == (double)(1 + g) && G->dom_total[0] == (double)G->sums[0]);
		rows += G->rows;
		contrib += G->contributors;
	}
	agg_stats st;
	agg_stats_get(a, &st);
	CHECK(contrib == want_pairs && rows == want_pairs);
	CHECK((int64_t)st.subjects_capped == capped);
	CHECK((int64_t)(st.rows_matched - st.rows_dropped_by_caps) == rows);
	CHECK(st.second_pass == second_pass); /* subjects 1 to 5 have many rows in their one
	                                       * pair (by subject: never a second pass) */
}

static void test_many_subjects(void)
{
	make_schema(true);
	make_many();
	query_plan p;
	CHECK(plan(MANY_QUERY, &p));
	dp_rng rng;
	dp_rng_seeded(&rng, 7);
	for (int parts = 1; parts <= 3; parts += 2) {
		/* no caps; caps too wide to bind with the pairs summed in the first
		 * pass (one pass); with the first pass only counting (no row cap:
		 * the pair sums could overflow), then the second aggregating */
		agg_opts none = {.group_limit = 100, .parts = parts, .dominance = true};
		agg_opts fold = none, count = none;
		fold.max_rows = 1000;
		fold.max_groups = 100;
		count.max_groups = 100;
		agg *a = run_many(&p, &none, false, &rng);
		check_exact(a, true);
		agg_stats st;
		agg_stats_get(a, &st);
		CHECK(!st.second_pass && st.pairs > 30000 / (size_t)parts &&
		      st.subjects_capped == 0);
		agg_free(a);
		a = run_many(&p, &fold, parts == 3, &rng);
		CHECK(a->mode == MODE_FOLD);
		check_exact(a, true);
		agg_stats_get(a, &st);
		CHECK(!st.second_pass);
		agg_free(a);
		a = run_many(&p, &count, parts == 1, &rng);
		CHECK(a->mode == MODE_COUNT);
		check_exact(a, true);
		agg_stats_get(a, &st);
		CHECK(st.second_pass);
		agg_free(a);
		/* caps that bind, in both modes (a 16-bin histogram makes a pair
		 * record too large to sum in) */
		agg_opts caps = none;
		caps.max_rows = 1;
		caps.max_groups = 8;
		a = run_many(&p, &caps, parts == 3, &rng);
		CHECK(a->mode == MODE_FOLD);
		check_bound(a, true);
		agg_free(a);
	}
	query_plan pc;
	CHECK(plan("{\"dataset\":\"ds-0123456789abcdef\",\"purpose\":\"x\",\"measures\":["
	           "{\"fn\":\"COUNT\"},{\"fn\":\"SUM\",\"column\":\"delay_s\"},{\"fn\":"
	           "\"HISTOGRAM\",\"column\":\"speed_kmh\",\"bins\":[0,10,20,30,40,50,60,70,80,"
	           "90,100,110,120,130,140,150,200]}],\"groupBy\":[{\"column\":\"pub_time\","
	           "\"bucket\":\"DAY\"},{\"column\":\"district\"}]}",
	           &pc));
	agg_opts caps = {
	        .group_limit = 100, .parts = 2, .dominance = true, .max_rows = 1, .max_groups = 8};
	agg *a = run_many(&pc, &caps, true, &rng);
	CHECK(a->mode == MODE_COUNT);
	check_bound(a, true);
	agg_free(a);
	/* the memory cap: the first pair table does not fit; a reserve that
	 * does not fit is skipped, and the tables grow as they go */
	agg_opts small = {.group_limit = 100, .parts = 1, .max_rows = 1000, .max_groups = 100};
	small.max_bytes = (size_t)1 << 20;
	char err[128];
	a = agg_new(&p, &S, &small, err, sizeof err);
	CHECK(!agg_scan(a, 0, &mb[0].in) && agg_too_large(a));
	agg_free(a);
	small.max_bytes = (size_t)16 << 20;
	a = agg_new(&p, &S, &small, err, sizeof err);
	agg_reserve_pairs(a, (size_t)1 << 30);
	for (size_t c = 0; c < NCH; c++)
		CHECK(agg_scan(a, 0, &mb[c].in));
	CHECK(!agg_bound(a, &rng) && agg_finish(a));
	check_exact(a, false);
	agg_free(a);
	/* ... and one that needs more than the cap to grow fails */
	small.max_bytes = (size_t)3 << 20;
	a = agg_new(&p, &S, &small, err, sizeof err);
	bool ok = true;
	for (size_t c = 0; c < NCH && ok; c++)
		ok = agg_scan(a, 0, &mb[c].in);
	CHECK(!ok && agg_too_large(a));
	agg_free(a);
	query_plan_free(&pc);
	query_plan_free(&p);
}

/* The same rows in subject order, scanned by subject: the same answers. */
static void test_many_by_subject(void)
{
	make_schema(true);
	make_many();
	uint32_t total = NCH * MAXR, *count = calloc(NSUBJ + 2, sizeof *count);
	for (size_t c = 0; c < NCH; c++)
		for (uint32_t r = 0; r < MAXR; r++)
			count[mrs[c].subj[r] + 1]++;
	for (int k = 1; k <= NSUBJ + 1; k++)
		count[k] += count[k - 1]; /* count[s]: subject s's first row */
	int64_t *t = calloc(total, 8), *road = calloc(total, 8), *delay = calloc(total, 8);
	double *speed = calloc(total, 8);
	uint32_t *sidx = calloc(total, 4), *didx = calloc(total, 4), nos[NSUBJ + 1];
	static batch_str dict[8];
	for (int d = 0; d < 8; d++)
		dict[d] = (batch_str){.p = MDIST[d], .len = 1};
	for (size_t c = 0; c < NCH; c++)
		for (uint32_t r = 0; r < MAXR; r++) {
			const rowset *rs = &mrs[c];
			uint32_t s = rs->subj[r], at = count[s]++;
			sidx[at] = s;
			t[at] = rs->t[r];
			road[at] = rs->road[r];
			delay[at] = rs->delay[r];
			speed[at] = rs->speed[r];
			didx[at] = (uint32_t)(rs->district[r][0] - 'A');
			nos[s] = rs->keep[r] ? s : 0;
		}
	chunk_column cols[6] = {{.rows = total, .ndict = NSUBJ + 1, .idx = sidx},
	                        {.rows = total, .i = t},
	                        {.rows = total, .ndict = 8, .dict = dict, .idx = didx},
	                        {.rows = total, .i = road},
	                        {.rows = total, .f = speed},
	                        {.rows = total, .i = delay}};
	agg_input in = {.rows = total, .subj_nos = nos};
	for (int c = 0; c < 6; c++)
		in.cols[c] = &cols[c];
	query_plan p;
	CHECK(plan(MANY_QUERY, &p));
	dp_rng rng;
	dp_rng_seeded(&rng, 7);
	for (int parts = 1; parts <= 3; parts += 2) {
		agg_opts none = {.group_limit = 100, .parts = parts, .dominance = true};
		agg_opts wide = none;
		wide.max_rows = 1000;
		wide.max_groups = 100;
		agg *a = run_subjects(&p, &none, &in, 1000, &rng);
		check_exact(a, true);
		agg_free(a);
		a = run_subjects(&p, &wide, &in, 5000, &rng);
		check_exact(a, true);
		agg_stats st;
		agg_stats_get(a, &st);
		CHECK(!st.second_pass && st.subjects_capped == 0 && st.pairs > 30000);
		agg_free(a);
		agg_opts caps = none;
		caps.max_rows = 1;
		caps.max_groups = 8;
		a = run_subjects(&p, &caps, &in, 700, &rng);
		check_bound(a, false);
		agg_free(a);
	}
	/* more groups than the limit: the scan fails, and says it was the groups */
	char err[128];
	agg_opts few = {.group_limit = 10, .parts = 1, .by_subject = true};
	agg *a = agg_new(&p, &S, &few, err, sizeof err);
	CHECK(!agg_scan_subjects(a, 0, &in, &rng) && !agg_too_large(a));
	agg_free(a);
	query_plan_free(&p);
	free(count);
	free(t);
	free(road);
	free(delay);
	free(speed);
	free(sidx);
	free(didx);
}

/* A subject over the group cap keeps a uniformly random subset of its
 * groups: one subject, one row in each of 6 districts, 2 kept, 600 draws:
 * each district about 200 times, each of the 15 pairs of districts about 40. */
static void test_group_sampling(void)
{
	make_schema(true);
	static rowset rs;
	memset(&rs, 0, sizeof rs);
	for (uint32_t r = 0; r < 6; r++) {
		rs.subj[r] = 1;
		rs.district[r] = MDIST[r];
		rs.delay[r] = 1 << r;
		rs.keep[r] = 1;
		rs.t[r] = DAY0;
	}
	rs.n = 6;
	static built b;
	build_chunk(&rs, &b, true);
	query_plan p;
	CHECK(plan("{\"dataset\":\"ds-0123456789abcdef\",\"purpose\":\"x\",\"measures\":["
	           "{\"fn\":\"SUM\",\"column\":\"delay_s\"}],\"groupBy\":[{\"column\":"
	           "\"district\"}]}",
	           &p));
	agg_opts o = {.group_limit = 100, .parts = 1, .max_rows = 10, .max_groups = 2};
	static built bs; /* and by subject */
	sort_built(&rs, &bs);
	for (int by_subject = 0; by_subject <= 1; by_subject++) {
		int each[6] = {0}, pairs[64] = {0};
		for (uint64_t seed = 1; seed <= 600; seed++) {
			dp_rng rng;
			dp_rng_seeded(&rng, seed);
			agg *a = by_subject ? run_subjects(&p, &o, &bs.in, 100, &rng)
			                    : run(&p, &o, &b, 1, &rng);
			/* the districts kept, as bits */
			int64_t sum = 0;
			for (size_t g = 0; g < agg_ngroups(a); g++)
				sum += (int64_t)agg_get(a, g)->sums[0];
			int bits = 0;
			for (int d = 0; d < 6; d++)
				if (sum >> d & 1) {
					each[d]++;
					bits++;
				}
			CHECK(bits == 2);
			pairs[sum & 63]++;
			agg_free(a);
		}
		for (int d = 0; d < 6; d++)
			CHECK(each[d] > 150 && each[d] < 250);
		int seen = 0;
		for (int k = 0; k < 64; k++)
			if (pairs[k]) {
				seen++;
				CHECK(pairs[k] > 15 && pairs[k] < 70);
			}
		CHECK(seen == 15);
	}
	query_plan_free(&p);
}

/* By subject, the group cap on subjects with many pairs, and a cap near
 * their number: each keeps exactly L0 groups, and across seeds every group
 * is kept about as often (L0 / m times). */
static void test_subject_group_cap_paths(void)
{
	make_schema(true);
	static rowset rs;
	static char names[200][8];
	static built b;
	query_plan p;
	CHECK(plan("{\"dataset\":\"ds-0123456789abcdef\",\"purpose\":\"x\",\"measures\":["
	           "{\"fn\":\"COUNT\"}],\"groupBy\":[{\"column\":\"district\"}]}",
	           &p));
	struct {
		uint32_t m, l0;
	} cases[] = {{100, 10}, {140, 10}, {100, 70}};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		uint32_t m = cases[c].m, l0 = cases[c].l0;
		memset(&rs, 0, sizeof rs);
		for (uint32_t r = 0; r < m; r++) {
			snprintf(names[r], sizeof names[r], "D%03u", r);
			rs.subj[r] = 1;
			rs.district[r] = names[r];
			rs.keep[r] = 1;
			rs.t[r] = DAY0;
		}
		rs.n = m;
		sort_built(&rs, &b);
		agg_opts o = {.group_limit = 1000, .parts = 1, .max_rows = 1, .max_groups = l0};
		int kept[200] = {0};
		const int seeds = 200;
		for (int seed = 1; seed <= seeds; seed++) {
			dp_rng rng;
			dp_rng_seeded(&rng, (uint64_t)seed);
			agg *a = run_subjects(&p, &o, &b.in, 1000, &rng);
			int64_t rows = 0;
			for (size_t g = 0; g < agg_ngroups(a); g++) {
				const agg_group *G = agg_get(a, g);
				rows += G->rows;
				kept[atoi(G->keys[0] + 1)] += G->rows > 0;
			}
			agg_stats st;
			agg_stats_get(a, &st);
			CHECK(rows == l0 && st.subjects_capped == 1 &&
			      st.rows_dropped_by_caps == m - l0);
			agg_free(a);
		}
		double want = (double)seeds * l0 / m;
		int bad = 0;
		for (uint32_t r = 0; r < m; r++)
			bad += fabs(kept[r] - want) > 5 * sqrt(want) + 1;
		CHECK(bad == 0);
	}
	query_plan_free(&p);
}

/* part_mod and part_div against % and / for every partition count. */
static void test_partition_arith(void)
{
	make_schema(true);
	query_plan p;
	CHECK(plan("{\"dataset\":\"ds-0123456789abcdef\",\"purpose\":\"x\",\"measures\":["
	           "{\"fn\":\"COUNT\"}]}",
	           &p));
	char err[64];
	sm_state = 1;
	for (int parts = 1; parts <= AGG_MAX_PARTS; parts++) {
		agg_opts o = {.group_limit = 10, .parts = parts};
		agg *a = agg_new(&p, &S, &o, err, sizeof err);
		int bad = 0;
		for (uint32_t i = 0; i < 200000; i++) {
			uint32_t n = i < 1000   ? i
			             : i < 2000 ? UINT32_MAX - (i - 1000)
			                        : (uint32_t)sm_next();
			bad += part_mod(a, n) != n % (uint32_t)parts ||
			       part_div(a, n) != n / (uint32_t)parts;
		}
		CHECK(bad == 0);
		agg_free(a);
	}
	query_plan_free(&p);
}

TEST_MAIN(TU_CASE(test_measures), TU_CASE(test_caps), TU_CASE(test_disclosure),
          TU_CASE(test_many_subjects), TU_CASE(test_many_by_subject), TU_CASE(test_group_sampling),
          TU_CASE(test_subject_group_cap_paths), TU_CASE(test_partition_arith))
