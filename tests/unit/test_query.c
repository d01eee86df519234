/*
 * query.c: the example query checked against a dataset schema and
 * resolved; the canonical form equal for equal questions (filters in any
 * order, IN values reordered, repeated or spelled differently) and
 * different for different ones; and every rule, each by the JSON path and
 * rule named in its error, which never echoes a value or column name sent.
 */
#include "testutil.h"

#include "../../server/schema.c"
#include "../../server/batch.c"
#include "../../server/query.c"
#include "pbjson.h"

static schema probes, jams;

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

static void test_setup(void)
{
	Fiducia__V1__Column c[7], *p[7];
	col(&c[0], "driver_id", FIDUCIA__V1__COLUMN__TYPE__STRING,
	    FIDUCIA__V1__COLUMN__ROLE__SUBJECT, 0, 0);
	col(&c[1], "pub_time", FIDUCIA__V1__COLUMN__TYPE__TIMESTAMP,
	    FIDUCIA__V1__COLUMN__ROLE__TIME, 0, 0);
	col(&c[2], "district", FIDUCIA__V1__COLUMN__TYPE__STRING,
	    FIDUCIA__V1__COLUMN__ROLE__DIMENSION, 0, 0);
	col(&c[3], "road_type", FIDUCIA__V1__COLUMN__TYPE__INT64,
	    FIDUCIA__V1__COLUMN__ROLE__DIMENSION, 0, 0);
	col(&c[4], "weekend", FIDUCIA__V1__COLUMN__TYPE__BOOL, FIDUCIA__V1__COLUMN__ROLE__DIMENSION,
	    0, 0);
	col(&c[5], "speed_kmh", FIDUCIA__V1__COLUMN__TYPE__FLOAT64,
	    FIDUCIA__V1__COLUMN__ROLE__MEASURE, 0, 250);
	col(&c[6], "delay_s", FIDUCIA__V1__COLUMN__TYPE__INT64, FIDUCIA__V1__COLUMN__ROLE__MEASURE,
	    0, 86400);
	for (int i = 0; i < 7; i++)
		p[i] = &c[i];
	char err[256];
	CHECK(schema_from_pb(&probes, true, 7, p, err, sizeof err));
	/* no SUBJECT and no TIME column */
	Fiducia__V1__Column *q[2] = {&c[2], &c[6]};
	CHECK(schema_from_pb(&jams, false, 2, q, err, sizeof err));
}

/* Decode JSON and build; err gets the pbjson or query error. */
static bool build(const schema *s, const char *json, query_plan *p, char *err, size_t errlen)
{
	ProtobufCMessage *m = NULL;
	pbjson_error pe;
	if (!pbjson_decode(&fiducia__v1__query__descriptor, json, strlen(json), NULL, &m, &pe)) {
		snprintf(err, errlen, "%s", pe.message);
		return false;
	}
	bool ok = query_plan_build((Fiducia__V1__Query *)m, s, p, err, errlen);
	protobuf_c_message_free_unpacked(m, NULL);
	return ok;
}

#define EXAMPLE                                                                                    \
	"{\"dataset\": \"ds-0123456789abcdef\", \"purpose\": \"dpv:ImproveTransportMobility\","    \
	" \"measures\": [{\"fn\": \"COUNT\"}, {\"fn\": \"SUM\", \"column\": \"delay_s\"}, "        \
	"{\"fn\": \"MEAN\", \"column\": \"speed_kmh\"}], \"groupBy\": [{\"column\": "              \
	"\"pub_time\", "                                                                           \
	"\"bucket\": \"DAY\"}, {\"column\": \"district\"}], \"filters\": [{\"column\": "           \
	"\"road_type\", \"op\": \"IN\", \"values\": [\"1\", \"2\"]}], \"timeRange\": {\"from\": "  \
	"\"2026-01-01T00:00:00Z\", \"to\": \"2026-02-01T00:00:00Z\"}}"

static void test_example(void)
{
	query_plan p;
	char err[256] = "";
	CHECK(build(&probes, EXAMPLE, &p, err, sizeof err));
	if (err[0])
		fprintf(stderr, "%s\n", err);
	CHECK(p.nmeasures == 3 && p.measures[0].col == -1 && p.measures[1].col == 6 &&
	      p.measures[2].col == 5);
	CHECK(p.ngroups == 2 && p.groups[0].col == 1 &&
	      p.groups[0].bucket == FIDUCIA__V1__QUERY__GROUP__BUCKET__DAY && p.groups[1].col == 2);
	CHECK(p.nfilters == 1 && p.filters[0].col == 3 && p.filters[0].nvalues == 2 &&
	      p.filters[0].values[0].i == 1 && p.filters[0].values[1].i == 2);
	CHECK(p.has_from && p.has_to && p.from_us == 1767225600000000LL &&
	      p.to_us == 1769904000000000LL);
	printf("  canonical: %s\n", p.canonical);
	CHECK_CONTAINS(p.canonical, "\"groupBy\":[{\"column\":\"pub_time\",\"bucket\":\"DAY\"}");
	query_plan_free(&p);
}

static char *canonical_of(const schema *s, const char *json)
{
	query_plan p;
	char err[256] = "";
	if (!build(s, json, &p, err, sizeof err)) {
		fprintf(stderr, "unexpected error: %s\n", err);
		CHECK(false);
		return strdup("");
	}
	char *c = strdup(p.canonical);
	query_plan_free(&p);
	return c;
}

static void test_canonical(void)
{
	const char *base =
	        "{\"dataset\":\"ds-0123456789abcdef\",\"purpose\":\"dpv:X\","
	        "\"measures\":[{\"fn\":\"COUNT\"}],\"filters\":[{\"column\":\"road_type\","
	        "\"op\":\"IN\",\"values\":[\"1\",\"2\"]},{\"column\":\"district\",\"op\":"
	        "\"EQ\",\"values\":[\"Lyon 3e\"]}],\"timeRange\":{\"from\":"
	        "\"2026-01-01T00:00:00Z\"}}";
	/* the same question: filters in another order, IN values reordered,
	 * repeated and spelled otherwise, the instant in another zone */
	const char *same =
	        "{\"purpose\":\"dpv:X\",\"dataset\":\"ds-0123456789abcdef\","
	        "\"filters\":[{\"column\":\"district\",\"op\":\"EQ\",\"values\":[\"Lyon "
	        "3e\"]},{\"column\":\"road_type\",\"op\":\"IN\",\"values\":[\"02\",\"1\","
	        "\"2\",\"+1\"]}],\"measures\":[{\"fn\":\"COUNT\"}],\"timeRange\":{\"from\":"
	        "\"2026-01-01T01:00:00+01:00\"}}";
	const char *other_value =
	        "{\"dataset\":\"ds-0123456789abcdef\",\"purpose\":\"dpv:X\","
	        "\"measures\":[{\"fn\":\"COUNT\"}],\"filters\":[{\"column\":"
	        "\"road_type\",\"op\":\"IN\",\"values\":[\"1\",\"3\"]},{\"column\":"
	        "\"district\",\"op\":\"EQ\",\"values\":[\"Lyon 3e\"]}],"
	        "\"timeRange\":{\"from\":\"2026-01-01T00:00:00Z\"}}";
	const char *other_purpose = "{\"dataset\":\"ds-0123456789abcdef\",\"purpose\":\"dpv:Y\","
	                            "\"measures\":[{\"fn\":\"COUNT\"}],\"filters\":[{\"column\":"
	                            "\"road_type\",\"op\":\"IN\",\"values\":[\"1\",\"2\"]},{"
	                            "\"column\":\"district\",\"op\":\"EQ\",\"values\":[\"Lyon "
	                            "3e\"]}],\"timeRange\":{\"from\":\"2026-01-01T00:00:00Z\"}}";
	char *a = canonical_of(&probes, base), *b = canonical_of(&probes, same),
	     *c = canonical_of(&probes, other_value), *d = canonical_of(&probes, other_purpose);
	CHECK_STR_EQ(a, b);
	CHECK(strcmp(a, c) != 0 && strcmp(a, d) != 0);
	/* measure order shapes the answer: not the same question */
	char *m1 =
	        canonical_of(&probes, "{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":"
	                              "\"COUNT\"},{\"fn\":\"SUM\",\"column\":\"delay_s\"}]}");
	char *m2 =
	        canonical_of(&probes, "{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":"
	                              "\"SUM\",\"column\":\"delay_s\"},{\"fn\":\"COUNT\"}]}");
	CHECK(strcmp(m1, m2) != 0);
	/* floats and booleans in one spelling, -0 as 0 */
	char *f1 =
	        canonical_of(&probes, "{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":"
	                              "\"HISTOGRAM\",\"column\":\"speed_kmh\",\"bins\":[-0,50,"
	                              "130]}],\"filters\":[{\"column\":\"weekend\",\"op\":\"EQ\","
	                              "\"values\":[\"true\"]}]}");
	char *f2 =
	        canonical_of(&probes, "{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":"
	                              "\"HISTOGRAM\",\"column\":\"speed_kmh\",\"bins\":[0,5e1,"
	                              "130.0]}],\"filters\":[{\"column\":\"weekend\",\"op\":\"EQ\","
	                              "\"values\":[\"TRUE\"]}]}");
	CHECK_STR_EQ(f1, f2);
	free(a), free(b), free(c), free(d), free(m1), free(m2), free(f1), free(f2);
}

static void test_rejections(void)
{
	static const struct {
		const char *json;
		const char *want;
		const schema *s; /* NULL: probes */
	} cases[] = {
	        {"{\"purpose\":\"p\",\"measures\":[{\"fn\":\"COUNT\"}]}", "$.dataset: required",
	         NULL},
	        {"{\"dataset\":\"d\",\"measures\":[{\"fn\":\"COUNT\"}]}", "$.purpose: required",
	         NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\"}", "$.measures: 1 to 16 measures", NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{}]}",
	         "$.measures[0].fn: one of", NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"COUNT\",\"column\":"
	         "\"delay_s\"}]}",
	         "$.measures[0]: COUNT and COUNT_SUBJECTS take no column", NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"SUM\",\"column\":"
	         "\"district\"}]}",
	         "$.measures[0].column: SUM, MEAN and HISTOGRAM take a MEASURE column", NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"SUM\",\"column\":"
	         "\"secret_col\"}]}",
	         "$.measures[0].column: no such column in the dataset", NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"MEAN\"}]}",
	         "$.measures[0].column: a column is required", NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"SUM\",\"column\":"
	         "\"delay_s\",\"bins\":[1,2]}]}",
	         "$.measures[0].bins: only a HISTOGRAM has bins", NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"HISTOGRAM\","
	         "\"column\":\"delay_s\",\"bins\":[1]}]}",
	         "$.measures[0].bins: 2 to 65 edges", NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"HISTOGRAM\","
	         "\"column\":\"delay_s\",\"bins\":[1,3,3]}]}",
	         "$.measures[0].bins[2]: edges must be finite and strictly ascending", NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"COUNT_SUBJECTS\"}]}",
	         "$.measures[0].fn: COUNT_SUBJECTS needs a dataset with a SUBJECT column", &jams},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"COUNT\"}],"
	         "\"groupBy\":"
	         "[{\"column\":\"speed_kmh\"}]}",
	         "$.groupBy[0].column: groups are on DIMENSION columns or the TIME column", NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"COUNT\"}],"
	         "\"groupBy\":"
	         "[{\"column\":\"driver_id\"}]}",
	         "$.groupBy[0].column: groups are on DIMENSION columns or the TIME column", NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"COUNT\"}],"
	         "\"groupBy\":"
	         "[{\"column\":\"pub_time\"}]}",
	         "$.groupBy[0].bucket: the TIME column is grouped by HOUR, DAY, WEEK or MONTH",
	         NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"COUNT\"}],"
	         "\"groupBy\":"
	         "[{\"column\":\"district\",\"bucket\":\"DAY\"}]}",
	         "$.groupBy[0].bucket: only the TIME column has buckets", NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"COUNT\"}],"
	         "\"groupBy\":"
	         "[{\"column\":\"district\"},{\"column\":\"district\"}]}",
	         "$.groupBy[1].column: the same column twice", NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"COUNT\"}],"
	         "\"filters\":"
	         "[{\"column\":\"delay_s\",\"op\":\"EQ\",\"values\":[\"1\"]}]}",
	         "$.filters[0].column: filters are on DIMENSION columns", NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"COUNT\"}],"
	         "\"filters\":"
	         "[{\"column\":\"district\",\"values\":[\"x\"]}]}",
	         "$.filters[0].op: one of EQ, NE, IN, LT, LE, GT, GE", NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"COUNT\"}],"
	         "\"filters\":"
	         "[{\"column\":\"district\",\"op\":\"EQ\",\"values\":[\"x\",\"y\"]}]}",
	         "$.filters[0].values: exactly one value", NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"COUNT\"}],"
	         "\"filters\":"
	         "[{\"column\":\"district\",\"op\":\"IN\",\"values\":[]}]}",
	         "$.filters[0].values: IN takes 1 to 1000 values", NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"COUNT\"}],"
	         "\"filters\":"
	         "[{\"column\":\"road_type\",\"op\":\"IN\",\"values\":[\"1\",\"abc-secret\"]}]}",
	         "$.filters[0].values[1]: not an INT64", NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"COUNT\"}],"
	         "\"filters\":"
	         "[{\"column\":\"weekend\",\"op\":\"LT\",\"values\":[\"true\"]}]}",
	         "$.filters[0].op: a BOOL column is not ordered", NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"COUNT\"}],"
	         "\"filters\":"
	         "[{\"column\":\"weekend\",\"op\":\"EQ\",\"values\":[\"maybe\"]}]}",
	         "$.filters[0].values[0]: not a BOOL", NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"COUNT\"}],"
	         "\"timeRange\":{\"from\":\"2026-02-01T00:00:00Z\",\"to\":\"2026-01-01T00:00:00Z\"}"
	         "}",
	         "$.timeRange: from must be before to", NULL},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"COUNT\"}],"
	         "\"timeRange\":{\"from\":\"2026-02-01T00:00:00Z\"}}",
	         "$.timeRange: the dataset has no TIME column", &jams},
	        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"COUNT\"}],"
	         "\"groupby\":"
	         "[]}",
	         "groupby", NULL}, /* pbjson: an unknown field */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		query_plan p;
		char err[256] = "";
		bool ok = build(cases[i].s ? cases[i].s : &probes, cases[i].json, &p, err,
		                sizeof err);
		CHECK(!ok);
		if (ok) {
			fprintf(stderr, "case %zu accepted\n", i);
			query_plan_free(&p);
			continue;
		}
		if (!strstr(err, cases[i].want))
			fprintf(stderr, "case %zu: got \"%s\"\n", i, err);
		CHECK_CONTAINS(err, cases[i].want);
		CHECK(!strstr(err, "secret"));
	}
	/* A long string value, and too many groups. */
	char json[2048];
	char big[300];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	snprintf(json, sizeof json,
	         "{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":\"COUNT\"}],"
	         "\"filters\":"
	         "[{\"column\":\"district\",\"op\":\"EQ\",\"values\":[\"%s\"]}]}",
	         big);
	query_plan p;
	char err[256];
	CHECK(!build(&probes, json, &p, err, sizeof err));
	CHECK_CONTAINS(err, "$.filters[0].values[0]: at most 256 bytes of UTF-8");
	snprintf(json, sizeof json,
	         "{\"dataset\":\"d\",\"purpose\":\"p\",\"measures\":[{\"fn\":"
	         "\"COUNT\"}],\"groupBy\":[{\"column\":\"a\"},{\"column\":\"a\"},"
	         "{\"column\":\"a\"},{\"column\":\"a\"},{\"column\":\"a\"},"
	         "{\"column\":\"a\"},{\"column\":\"a\"},{\"column\":\"a\"},"
	         "{\"column\":\"a\"}]}");
	CHECK(!build(&probes, json, &p, err, sizeof err));
	CHECK_CONTAINS(err, "$.groupBy: at most 8 groups");
}

/* Bounds on the policy's finest granularity: 2026-01-05 is a Monday, 2026-02-01 the
 * first of a month, 2026-01-01 a Thursday and the first of a year. */
static void test_time_boundary(void)
{
	const int64_t S = 1000000, H = 3600 * S, D = 24 * H;
	const int64_t jan1 = 1767225600LL * S, jan5 = jan1 + 4 * D, feb1 = jan1 + 31 * D;
	CHECK(query_time_on_boundary(jan1 + 5 * H, QUERY_UNIT_HOUR));
	CHECK(!query_time_on_boundary(jan1 + 5 * H + 1, QUERY_UNIT_HOUR));
	CHECK(!query_time_on_boundary(jan1 + 5 * H, QUERY_UNIT_DAY));
	CHECK(query_time_on_boundary(jan1 + 3 * D, QUERY_UNIT_DAY));
	CHECK(query_time_on_boundary(jan5, QUERY_UNIT_WEEK));
	CHECK(!query_time_on_boundary(jan1, QUERY_UNIT_WEEK));
	CHECK(!query_time_on_boundary(jan5 + D, QUERY_UNIT_WEEK));
	CHECK(query_time_on_boundary(jan5 - 7 * D * 2900, QUERY_UNIT_WEEK)); /* 1970s Mondays too */
	CHECK(query_time_on_boundary(feb1, QUERY_UNIT_MONTH));
	CHECK(!query_time_on_boundary(feb1 - D, QUERY_UNIT_MONTH));
	CHECK(!query_time_on_boundary(feb1, QUERY_UNIT_YEAR));
	CHECK(query_time_on_boundary(jan1, QUERY_UNIT_YEAR));
	CHECK(query_time_on_boundary(0, QUERY_UNIT_YEAR));
	CHECK(query_time_on_boundary(-365 * D, QUERY_UNIT_YEAR)); /* 1969-01-01 */
	CHECK(!query_time_on_boundary(-D + H, QUERY_UNIT_DAY));   /* 1969-12-31 01:00 */
	CHECK(query_time_on_boundary(-3 * D, QUERY_UNIT_WEEK));   /* Monday 1969-12-29 */
}

TEST_MAIN(TU_CASE(test_setup), TU_CASE(test_time_boundary), TU_CASE(test_example),
          TU_CASE(test_canonical), TU_CASE(test_rejections))
