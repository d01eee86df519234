/*
 * Unit tests for the deposit pipeline's pure modules: server/schema.c (dataset
 * schemas), server/batch.c (value parsers, the CSV and DepositBatch readers,
 * subject pseudonyms), server/chunk.c (the columnar chunk format and its
 * sealing) and server/vault.c (key wrapping). Values are checked against
 * independent oracles where one exists (strtod, timegm, keyed BLAKE2b), and
 * every rejection against the place its message names.
 */
#include "../../server/schema.c"
#include "../../server/batch.c"
#include "../../server/chunk.c"
#include "../../server/vault.c"

#include <inttypes.h>
#include <math.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

#define T_HDR  6 /* chunk plaintext header: format, encoding, u32 rows (chunk.c) */
#define PSEUDO BATCH_PSEUDONYM_BYTES

static uint8_t subject_key[32];

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static void mkcol(Fiducia__V1__Column *c, const char *name, Fiducia__V1__Column__Type t,
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

/* The example: a traffic dataset about drivers. */
static void example_cols(Fiducia__V1__Column cols[6])
{
	mkcol(&cols[0], "driver_id", FIDUCIA__V1__COLUMN__TYPE__STRING,
	      FIDUCIA__V1__COLUMN__ROLE__SUBJECT, 0, 0);
	mkcol(&cols[1], "pub_time", FIDUCIA__V1__COLUMN__TYPE__TIMESTAMP,
	      FIDUCIA__V1__COLUMN__ROLE__TIME, 0, 0);
	mkcol(&cols[2], "district", FIDUCIA__V1__COLUMN__TYPE__STRING,
	      FIDUCIA__V1__COLUMN__ROLE__DIMENSION, 0, 0);
	mkcol(&cols[3], "road_type", FIDUCIA__V1__COLUMN__TYPE__INT64,
	      FIDUCIA__V1__COLUMN__ROLE__DIMENSION, 0, 0);
	mkcol(&cols[4], "speed_kmh", FIDUCIA__V1__COLUMN__TYPE__FLOAT64,
	      FIDUCIA__V1__COLUMN__ROLE__MEASURE, 0, 200);
	mkcol(&cols[5], "delay_s", FIDUCIA__V1__COLUMN__TYPE__INT64,
	      FIDUCIA__V1__COLUMN__ROLE__MEASURE, 0, 3600);
}

static bool build_schema(schema *s, bool personal, Fiducia__V1__Column *cols, size_t n, char *err,
                         size_t errlen)
{
	Fiducia__V1__Column *ptrs[SCHEMA_MAX_COLUMNS + 8];
	for (size_t i = 0; i < n; i++)
		ptrs[i] = &cols[i];
	return schema_from_pb(s, personal, n, ptrs, err, errlen);
}

static void example_schema(schema *s)
{
	Fiducia__V1__Column cols[6];
	char err[256];
	example_cols(cols);
	if (!build_schema(s, true, cols, 6, err, sizeof err)) {
		fprintf(stderr, "example schema rejected: %s\n", err);
		abort();
	}
}

static bool bytes_contain(const void *hay, size_t n, const void *needle, size_t m)
{
	return m <= n && memmem(hay, n, needle, m) != NULL;
}

static int64_t utc_micros(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = {0};
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	return (int64_t)timegm(&tm) * 1000000;
}

static bool same_double(double a, double b)
{
	return memcmp(&a, &b, sizeof a) == 0;
}

/* ---- schema ----------------------------------------------------------- */

static void test_schema_example(void)
{
	Fiducia__V1__Column cols[6];
	schema s;
	char err[256] = "";
	example_cols(cols);
	CHECK(build_schema(&s, true, cols, 6, err, sizeof err));
	CHECK(s.ncols == 6);
	CHECK(s.personal);
	CHECK(s.subject == 0);
	CHECK_STR_EQ(s.cols[0].name, "driver_id");
	CHECK(s.cols[0].type == SCHEMA_STRING && s.cols[0].role == SCHEMA_SUBJECT);
	CHECK(s.cols[1].type == SCHEMA_TIMESTAMP && s.cols[1].role == SCHEMA_TIME);
	CHECK(s.cols[2].type == SCHEMA_STRING && s.cols[2].role == SCHEMA_DIMENSION);
	CHECK(s.cols[3].type == SCHEMA_INT64 && s.cols[3].role == SCHEMA_DIMENSION);
	CHECK(s.cols[4].type == SCHEMA_FLOAT64 && s.cols[4].role == SCHEMA_MEASURE);
	CHECK(s.cols[4].min == 0 && s.cols[4].max == 200);
	CHECK(s.cols[5].type == SCHEMA_INT64 && s.cols[5].role == SCHEMA_MEASURE);
	CHECK(s.cols[5].min == 0 && s.cols[5].max == 3600);
	CHECK(schema_find(&s, "speed_kmh", 9) == 4);
	CHECK(schema_find(&s, "speed_kmhX", 9) == 4); /* n bytes only */
	CHECK(schema_find(&s, "speed", 5) == -1);
	CHECK(schema_find(&s, "Speed_kmh", 9) == -1);
	CHECK(schema_find(&s, "", 0) == -1);
	CHECK_STR_EQ(schema_type_name(SCHEMA_INT64), "INT64");
	CHECK_STR_EQ(schema_type_name(SCHEMA_FLOAT64), "FLOAT64");
	CHECK_STR_EQ(schema_type_name(SCHEMA_STRING), "STRING");
	CHECK_STR_EQ(schema_type_name(SCHEMA_BOOL), "BOOL");
	CHECK_STR_EQ(schema_type_name(SCHEMA_TIMESTAMP), "TIMESTAMP");

	/* Not personal: a SUBJECT is optional. */
	mkcol(&cols[0], "driver_id", FIDUCIA__V1__COLUMN__TYPE__STRING,
	      FIDUCIA__V1__COLUMN__ROLE__DIMENSION, 0, 0);
	CHECK(build_schema(&s, false, cols, 6, err, sizeof err));
	CHECK(s.subject == -1 && !s.personal);

	/* An INT64 SUBJECT, a BOOL dimension, negative bounds, a 63-byte name. */
	Fiducia__V1__Column c2[4];
	static const char long_name[] =
	        "_23456789012345678901234567890123456789012345678901234567890123";
	mkcol(&c2[0], "uid", FIDUCIA__V1__COLUMN__TYPE__INT64, FIDUCIA__V1__COLUMN__ROLE__SUBJECT,
	      0, 0);
	mkcol(&c2[1], "ok", FIDUCIA__V1__COLUMN__TYPE__BOOL, FIDUCIA__V1__COLUMN__ROLE__DIMENSION,
	      0, 0);
	mkcol(&c2[2], "temp", FIDUCIA__V1__COLUMN__TYPE__FLOAT64,
	      FIDUCIA__V1__COLUMN__ROLE__MEASURE, -40.5, 60.25);
	mkcol(&c2[3], long_name, FIDUCIA__V1__COLUMN__TYPE__INT64,
	      FIDUCIA__V1__COLUMN__ROLE__MEASURE, -9007199254740992.0, 9007199254740992.0);
	CHECK(strlen(long_name) == 63);
	CHECK(build_schema(&s, true, c2, 4, err, sizeof err));
	CHECK(s.subject == 0 && s.cols[0].type == SCHEMA_INT64);
	CHECK(s.cols[2].min == -40.5 && s.cols[2].max == 60.25);
	CHECK_STR_EQ(s.cols[3].name, long_name);

	/* 64 columns are allowed. */
	static Fiducia__V1__Column many[SCHEMA_MAX_COLUMNS + 1];
	static char names[SCHEMA_MAX_COLUMNS + 1][8];
	for (int i = 0; i <= SCHEMA_MAX_COLUMNS; i++) {
		snprintf(names[i], sizeof names[i], "c%d", i);
		mkcol(&many[i], names[i], FIDUCIA__V1__COLUMN__TYPE__INT64,
		      FIDUCIA__V1__COLUMN__ROLE__DIMENSION, 0, 0);
	}
	CHECK(build_schema(&s, false, many, SCHEMA_MAX_COLUMNS, err, sizeof err));
	CHECK(s.ncols == SCHEMA_MAX_COLUMNS);
	CHECK(!build_schema(&s, false, many, SCHEMA_MAX_COLUMNS + 1, err, sizeof err));
	CHECK_CONTAINS(err, "$.columns:");
	CHECK(!build_schema(&s, false, many, 0, err, sizeof err));
	CHECK_CONTAINS(err, "$.columns:");
}

typedef struct schema_bad {
	const char *what;
	int col; /* column changed */
	const char *name;
	int type, role; /* -1: unchanged */
	double min, max;
	bool set_bounds;
	bool personal;
	const char *path; /* expected in the error */
} schema_bad;

static void test_schema_rejections(void)
{
	static const char name64[] =
	        "a234567890123456789012345678901234567890123456789012345678901234";
	const schema_bad cases[] = {
	        {"two SUBJECTs", 2, NULL, -1, FIDUCIA__V1__COLUMN__ROLE__SUBJECT, 0, 0, false, true,
	         "$.columns[2].role: column 0 is already the SUBJECT"},
	        {"personal without SUBJECT", 0, NULL, -1, FIDUCIA__V1__COLUMN__ROLE__DIMENSION, 0,
	         0, false, true, "$.columns: personalData is true"},
	        {"MEASURE without bounds", 4, NULL, -1, -1, 0, 0, true, true,
	         "$.columns[4]: a MEASURE"},
	        {"MEASURE min == max", 5, NULL, -1, -1, 10, 10, true, true,
	         "$.columns[5]: a MEASURE"},
	        {"MEASURE min > max", 4, NULL, -1, -1, 200, 0, true, true,
	         "$.columns[4]: a MEASURE"},
	        {"MEASURE infinite max", 4, NULL, -1, -1, 0, INFINITY, true, true,
	         "$.columns[4]: a MEASURE"},
	        {"MEASURE NaN min", 4, NULL, -1, -1, NAN, 1, true, true, "$.columns[4]: a MEASURE"},
	        {"INT64 MEASURE fractional bounds", 5, NULL, -1, -1, 0, 10.5, true, true,
	         "$.columns[5]: an INT64 MEASURE"},
	        {"INT64 MEASURE bounds beyond 2^53", 5, NULL, -1, -1, 0, 1e17, true, true,
	         "$.columns[5]: an INT64 MEASURE"},
	        {"STRING MEASURE", 2, NULL, -1, FIDUCIA__V1__COLUMN__ROLE__MEASURE, 0, 1, true,
	         true, "$.columns[2].type: a MEASURE is INT64 or FLOAT64"},
	        {"BOOL MEASURE", 3, NULL, FIDUCIA__V1__COLUMN__TYPE__BOOL,
	         FIDUCIA__V1__COLUMN__ROLE__MEASURE, 0, 1, true, true,
	         "$.columns[3].type: a MEASURE is INT64 or FLOAT64"},
	        {"bounds on a DIMENSION", 3, NULL, -1, -1, 0, 5, true, true,
	         "$.columns[3]: only a MEASURE has min and max"},
	        {"min on a SUBJECT", 0, NULL, -1, -1, -1, 0, true, true,
	         "$.columns[0]: only a MEASURE has min and max"},
	        {"bounds on a TIME", 1, NULL, -1, -1, 0, 1, true, true,
	         "$.columns[1]: only a MEASURE has min and max"},
	        {"upper-case name", 1, "Pub_time", -1, -1, 0, 0, false, true, "$.columns[1].name"},
	        {"name starts with a digit", 2, "1district", -1, -1, 0, 0, false, true,
	         "$.columns[2].name"},
	        {"name with a dash", 3, "road-type", -1, -1, 0, 0, false, true,
	         "$.columns[3].name"},
	        {"empty name", 4, "", -1, -1, 0, 0, false, true, "$.columns[4].name"},
	        {"name with a space", 5, "delay s", -1, -1, 0, 0, false, true, "$.columns[5].name"},
	        {"64-byte name", 5, name64, -1, -1, 0, 0, false, true, "$.columns[5].name"},
	        {"non-ASCII name", 2, "distr\xc3\xa9", -1, -1, 0, 0, false, true,
	         "$.columns[2].name"},
	        {"duplicate name", 3, "district", -1, -1, 0, 0, false, true,
	         "$.columns[3].name: district is already the name of column 2"},
	        {"TIME not TIMESTAMP", 1, NULL, FIDUCIA__V1__COLUMN__TYPE__INT64, -1, 0, 0, false,
	         true, "$.columns[1].type: a TIME column is a TIMESTAMP"},
	        {"FLOAT64 SUBJECT", 0, NULL, FIDUCIA__V1__COLUMN__TYPE__FLOAT64, -1, 0, 0, false,
	         true, "$.columns[0].type: a SUBJECT column is STRING or INT64"},
	        {"BOOL SUBJECT", 0, NULL, FIDUCIA__V1__COLUMN__TYPE__BOOL, -1, 0, 0, false, true,
	         "$.columns[0].type"},
	        {"unspecified type", 3, NULL, FIDUCIA__V1__COLUMN__TYPE__TYPE_UNSPECIFIED, -1, 0, 0,
	         false, true, "$.columns[3].type: must be"},
	        {"unknown type", 3, NULL, 99, -1, 0, 0, false, true, "$.columns[3].type: must be"},
	        {"unspecified role", 2, NULL, -1, FIDUCIA__V1__COLUMN__ROLE__ROLE_UNSPECIFIED, 0, 0,
	         false, true, "$.columns[2].role: must be"},
	        {"unknown role", 2, NULL, -1, 17, 0, 0, false, true, "$.columns[2].role: must be"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const schema_bad *t = &cases[i];
		Fiducia__V1__Column cols[6];
		schema s;
		char err[256] = "";
		example_cols(cols);
		Fiducia__V1__Column *c = &cols[t->col];
		if (t->name)
			c->name = (char *)t->name;
		if (t->type >= 0)
			c->type = (Fiducia__V1__Column__Type)t->type;
		if (t->role >= 0)
			c->role = (Fiducia__V1__Column__Role)t->role;
		if (t->set_bounds) {
			c->min = t->min;
			c->max = t->max;
		}
		bool ok = build_schema(&s, t->personal, cols, 6, err, sizeof err);
		if (ok)
			fprintf(stderr, "accepted: %s\n", t->what);
		CHECK(!ok);
		CHECK_CONTAINS(err, t->path);
	}
}

/* ---- value parsers ---------------------------------------------------- */

static bool pi(const char *s, int64_t *v)
{
	return batch_parse_int64(s, strlen(s), v);
}

static void test_parse_int64(void)
{
	int64_t v = 12345;
	CHECK(pi("0", &v) && v == 0);
	CHECK(pi("-0", &v) && v == 0);
	CHECK(pi("42", &v) && v == 42);
	CHECK(pi("-42", &v) && v == -42);
	CHECK(pi("007", &v) && v == 7);
	CHECK(pi("9223372036854775807", &v) && v == INT64_MAX);
	CHECK(pi("-9223372036854775808", &v) && v == INT64_MIN);
	CHECK(pi("-9223372036854775807", &v) && v == -INT64_MAX);
	CHECK(pi("0000000000000000042", &v) && v == 42); /* 19 digits */
	/* '+' is accepted: batch.h canonicalises INT64 subjects "without leading
	 * zeros or '+'", and the epoch-millisecond path refuses it separately. */
	CHECK(pi("+5", &v) && v == 5);
	v = 777;
	CHECK(!pi("9223372036854775808", &v));
	CHECK(!pi("-9223372036854775809", &v));
	CHECK(!pi("9999999999999999999", &v));
	CHECK(!pi("18446744073709551616", &v)); /* 2^64: would wrap */
	CHECK(!pi("18446744073709551615", &v));
	CHECK(!pi("100000000000000000000", &v));
	CHECK(!pi("", &v));
	CHECK(!pi("-", &v));
	CHECK(!pi("+", &v));
	CHECK(!pi("+-5", &v));
	CHECK(!pi("--5", &v));
	CHECK(!pi("1.0", &v));
	CHECK(!pi("1e3", &v));
	CHECK(!pi(" 1", &v));
	CHECK(!pi("1 ", &v));
	CHECK(!pi("0x10", &v));
	CHECK(!pi("12a", &v));
	CHECK(!pi("\xd9\xa1", &v)); /* ARABIC-INDIC DIGIT ONE */
	CHECK(v == 777);            /* failures leave *out alone */
	/* Whole input only: a length shorter than the text. */
	CHECK(batch_parse_int64("123abc", 3, &v) && v == 123);
	CHECK(!batch_parse_int64("12", 0, &v));
	/* Every value printed and read back. */
	for (int i = 0; i < 20000; i++) {
		int64_t x = (int64_t)rnd() >> (rnd() % 64);
		char buf[32];
		snprintf(buf, sizeof buf, "%" PRId64, x);
		int64_t y = ~x;
		CHECK(pi(buf, &y) && y == x);
	}
}

static int float_reports; /* mismatches printed, at most 10 */

/* batch_parse_float64 agrees with strtod: the same double, except that an
 * overflow is refused and every zero is +0. */
static bool float_agrees(const char *s)
{
	double got = 12345.0;
	double want = strtod(s, NULL);
	bool ok = batch_parse_float64(s, strlen(s), &got);
	bool good;
	if (isinf(want)) {
		good = !ok;
	} else {
		if (want == 0)
			want = 0; /* one canonical zero: -0 is stored as +0 */
		good = ok && same_double(got, want);
	}
	if (!good && float_reports++ < 10)
		fprintf(stderr, "float \"%s\": got %s %.17g, want %.17g\n", s,
		        ok ? "ok" : "refused", got, want);
	return good;
}

static void test_parse_float64(void)
{
	static const char *const good[] = {
	        "58.59",
	        "0.1",
	        "0.2",
	        "0.3",
	        "130.00",
	        "130",
	        "1e3",
	        "1E3",
	        "1e+3",
	        "1e-3",
	        ".5",
	        "5.",
	        "-.5",
	        "+.5",
	        "+1.5",
	        "-1.5",
	        "0",
	        "-0",
	        "+0",
	        "0.0",
	        "-0.0",
	        "00.000",
	        "0e0",
	        "-0e-5",
	        "0e99999",
	        "3.14159",
	        "2.718281828459045",
	        "1.7976931348623157e308",
	        "-1.7976931348623157e308",
	        "2.2250738585072014e-308",
	        "4.9e-324",
	        "5e-324",
	        "2.4703282292062327e-324",
	        "2.4703282292062328e-324",
	        "1e-400",
	        "-1e-400",
	        "123456789012345678901234",
	        "12345678901234567890.123456789",
	        "0.000000000000000000000000000001",
	        "9007199254740993",
	        "9007199254740992",
	        "9007199254740991",
	        "900719925474099267",
	        "18446744073709551615",
	        "18446744073709551616",
	        "99999999999999999999",
	        "1000000000000000000000000",
	        "0.30000000000000004",
	        "1.00000000000000011102230246251565404236316680908203125",
	        "1.00000000000000011102230246251565404236316680908203124",
	        "1.00000000000000011102230246251565404236316680908203126",
	        "7.0064923216240861e-46",
	        "1e22",
	        "1e23",
	        "1e-22",
	        "1e-23",
	        "123e20",
	        "123e-20",
	        "4503599627370496.5",
	        "4503599627370497.5",
	        "8.98846567431158e307",
	        "0.0000000000000000000000000000000000000000001e43",
	        "100000000000000000000000e-23",
	        "1e00000000000000000000000000000001",
	        "200",
	        "199.99999999999999999999",
	        "3600"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		CHECK(float_agrees(good[i]));

	double v = 42;
	CHECK(batch_parse_float64("-0", 2, &v) && v == 0 && !signbit(v));
	CHECK(batch_parse_float64("-1e-400", 7, &v) && v == 0 && !signbit(v));
	CHECK(batch_parse_float64("58.59", 5, &v) && v == 58.59);
	CHECK(batch_parse_float64("130.00", 6, &v) && v == 130.0);
	CHECK(batch_parse_float64("1e3", 3, &v) && v == 1000.0);
	CHECK(batch_parse_float64(".5", 2, &v) && v == 0.5);
	/* Whole input only. */
	CHECK(batch_parse_float64("1.5xyz", 3, &v) && v == 1.5);

	static const char *const bad[] = {
	        "",      ".",        "-",       "+",     "-.",   "e5",  ".e5", "1e",      "1e+",
	        "1e-",   "1e+-3",    "1ee3",    "1.2.3", "1..2", "nan", "NaN", "-nan",    "inf",
	        "-inf",  "Infinity", "0x10",    "0x1p3", "1,5",  " 1",  "1 ",  "1_000",   "1e3.5",
	        "1e400", "-1e400",   "1.8e308", "--1",   "+-1",  "1f",  "1d",  "\xd9\xa1"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		double w = 777;
		bool ok = batch_parse_float64(bad[i], strlen(bad[i]), &w);
		if (ok)
			fprintf(stderr, "float \"%s\": accepted as %.17g\n", bad[i], w);
		CHECK(!ok);
		CHECK(w == 777);
	}

	/* Random decimal strings, every shape the grammar allows, against strtod. */
	int disagree = 0;
	for (int i = 0; i < 100000; i++) {
		char buf[120];
		size_t n = 0;
		uint64_t r = rnd();
		if (r & 1)
			buf[n++] = (r & 2) ? '-' : '+';
		int idig = (int)(rnd() % 26), fdig = (int)(rnd() % 26);
		bool point = rnd() % 3 != 0;
		if (idig == 0 && (!point || fdig == 0))
			idig = 1;
		bool zeros = rnd() % 4 == 0; /* runs of zeros exercise the scale */
		for (int k = 0; k < idig; k++)
			buf[n++] = (char)('0' + (zeros && k > 0 ? 0 : rnd() % 10));
		if (point) {
			buf[n++] = '.';
			for (int k = 0; k < fdig; k++)
				buf[n++] = (char)('0' + (zeros && k + 1 < fdig ? 0 : rnd() % 10));
		}
		if (rnd() % 2) {
			int e = (int)(rnd() % 700) - 350;
			if (rnd() % 4 == 0)
				e %= 25;
			n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%d",
			                      rnd() % 2 ? "e" : "E", e);
		}
		buf[n] = '\0';
		disagree += !float_agrees(buf);
	}
	/* Every double, printed with 17 digits, reads back exactly. */
	int lost = 0;
	for (int i = 0; i < 20000; i++) {
		uint64_t bits = rnd();
		double d;
		memcpy(&d, &bits, sizeof d);
		if (!isfinite(d))
			continue;
		char buf[64];
		snprintf(buf, sizeof buf, "%.17g", d);
		disagree += !float_agrees(buf);
		double got;
		lost += !(batch_parse_float64(buf, strlen(buf), &got) && got == d);
	}
	if (disagree || lost)
		fprintf(stderr, "float: %d strings disagree with strtod, %d doubles lost\n",
		        disagree, lost);
	CHECK(disagree == 0);
	CHECK(lost == 0);
}

static bool pts(const char *s, int64_t *v)
{
	return batch_parse_timestamp(s, strlen(s), v);
}

static void test_parse_timestamp(void)
{
	int64_t v = 0;
	CHECK(pts("2026-01-01T08:00:00Z", &v) && v == 1767254400LL * 1000000);
	CHECK(v == utc_micros(2026, 1, 1, 8, 0, 0));
	CHECK(pts("2026-01-01t08:00:00z", &v) && v == 1767254400LL * 1000000);
	CHECK(pts("2026-01-01 08:00:00Z", &v) && v == 1767254400LL * 1000000);
	CHECK(pts("2026-01-01T10:00:00+02:00", &v) && v == 1767254400LL * 1000000);
	CHECK(pts("2026-01-01T02:30:00-05:30", &v) && v == 1767254400LL * 1000000);
	CHECK(pts("2026-01-01T08:00:00+00:00", &v) && v == 1767254400LL * 1000000);
	CHECK(pts("2026-01-01T08:00:00-00:00", &v) && v == 1767254400LL * 1000000);
	CHECK(pts("2026-01-01T08:00:00.5Z", &v) && v == 1767254400LL * 1000000 + 500000);
	CHECK(pts("2026-01-01T08:00:00.123456Z", &v) && v == 1767254400LL * 1000000 + 123456);
	CHECK(pts("2026-01-01T08:00:00.123456789Z", &v) && v == 1767254400LL * 1000000 + 123456);
	CHECK(pts("2026-01-01T08:00:00.000001+01:00", &v) &&
	      v == (1767254400LL - 3600) * 1000000 + 1);
	CHECK(pts("1970-01-01T00:00:00Z", &v) && v == 0);
	CHECK(pts("1969-12-31T23:59:59.5Z", &v) && v == -500000);
	CHECK(pts("1969-07-20T20:17:40Z", &v) && v == -14182940LL * 1000000);
	CHECK(pts("2024-02-29T23:59:59Z", &v) && v == 1709251199LL * 1000000);
	CHECK(pts("2000-02-29T00:00:00Z", &v) && v == utc_micros(2000, 2, 29, 0, 0, 0));
	CHECK(pts("2016-12-31T23:59:60Z", &v) && v == utc_micros(2016, 12, 31, 23, 59, 59));
	CHECK(pts("9999-12-31T23:59:59Z", &v) && v == utc_micros(9999, 12, 31, 23, 59, 59));
	CHECK(pts("0001-01-01T00:00:00Z", &v) && v == -62135596800LL * 1000000);
	/* Against timegm, over a spread of days and zones. */
	for (int i = 0; i < 5000; i++) {
		int y = 1900 + (int)(rnd() % 300), mo = 1 + (int)(rnd() % 12);
		int d = 1 + (int)(rnd() % 28), h = (int)(rnd() % 24), mi = (int)(rnd() % 60);
		int s = (int)(rnd() % 60), oh = (int)(rnd() % 15), om = (int)(rnd() % 4) * 15;
		bool neg = rnd() & 1;
		char buf[64];
		snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", y, mo, d, h,
		         mi, s, neg ? '-' : '+', oh, om);
		int64_t want = utc_micros(y, mo, d, h, mi, s) -
		               (neg ? -1 : 1) * (int64_t)(oh * 3600 + om * 60) * 1000000;
		CHECK(pts(buf, &v) && v == want);
	}
	/* Epoch milliseconds. */
	CHECK(pts("0", &v) && v == 0);
	CHECK(pts("1767254400000", &v) && v == 1767254400LL * 1000000);
	CHECK(pts("-1000", &v) && v == -1000000);
	CHECK(pts("9223372036854775", &v) && v == 9223372036854775000LL);
	CHECK(pts("-9223372036854775", &v) && v == -9223372036854775000LL);

	v = 4242;
	static const char *const bad[] = {"2026-02-30T00:00:00Z",
	                                  "2026-02-29T00:00:00Z",
	                                  "1900-02-29T00:00:00Z",
	                                  "2026-04-31T00:00:00Z",
	                                  "2026-13-01T00:00:00Z",
	                                  "2026-00-01T00:00:00Z",
	                                  "2026-01-00T00:00:00Z",
	                                  "2026-01-32T00:00:00Z",
	                                  "2026-01-01T24:00:00Z",
	                                  "2026-01-01T08:60:00Z",
	                                  "2026-01-01T08:00:61Z",
	                                  "2026-01-01T08:00:00",
	                                  "2026-01-01T08:00:00+0200",
	                                  "2026-01-01T08:00:00+02",
	                                  "2026-01-01T08:00:00+24:00",
	                                  "2026-01-01T08:00:00+02:60",
	                                  "2026-01-01T08:00:00.Z",
	                                  "2026-01-01T08:00:00.1234567890Z",
	                                  "2026-01-01T08:00:00ZZ",
	                                  "2026-01-01T08:00:00Z ",
	                                  " 2026-01-01T08:00:00Z",
	                                  "2026-01-01X08:00:00Z",
	                                  "2026/01/01T08:00:00Z",
	                                  "2026-1-01T08:00:00Z",
	                                  "2026-01-01T8:00:00Z",
	                                  "20a6-01-01T08:00:00Z",
	                                  "2026-01-01",
	                                  "2026-01-01T08:00Z",
	                                  "",
	                                  "+1000",
	                                  "1.5",
	                                  "1e3",
	                                  "9223372036854776",
	                                  "-9223372036854776",
	                                  "9223372036854775807",
	                                  "abc",
	                                  "2026-01-01T08:00:00+02:00:00"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		bool ok = pts(bad[i], &v);
		if (ok)
			fprintf(stderr, "timestamp \"%s\": accepted as %" PRId64 "\n", bad[i], v);
		CHECK(!ok);
	}
	CHECK(v == 4242);
}

static void test_parse_bool(void)
{
	int64_t v = 7;
	CHECK(batch_parse_bool("true", 4, &v) && v == 1);
	CHECK(batch_parse_bool("TRUE", 4, &v) && v == 1);
	CHECK(batch_parse_bool("True", 4, &v) && v == 1);
	CHECK(batch_parse_bool("1", 1, &v) && v == 1);
	CHECK(batch_parse_bool("false", 5, &v) && v == 0);
	CHECK(batch_parse_bool("FALSE", 5, &v) && v == 0);
	CHECK(batch_parse_bool("0", 1, &v) && v == 0);
	v = 7;
	static const char *const bad[] = {"",      "t",     "f",   "yes",   "no",   "2",
	                                  "-1",    "01",    "10",  "truex", "fals", "on",
	                                  " true", "true ", "tru", "00"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(!batch_parse_bool(bad[i], strlen(bad[i]), &v));
	CHECK(!batch_parse_bool("true", 3, &v));
	CHECK(v == 7);
}

/* ---- CSV -------------------------------------------------------------- */

static bool parse_text(batch *b, const schema *s, const char *text, size_t n, char *err,
                       size_t errlen)
{
	err[0] = '\0';
	return batch_parse_csv(b, s, subject_key, text, n, err, errlen);
}

static bool str_is(batch_str v, const char *s)
{
	return v.len == strlen(s) && memcmp(v.p, s, v.len) == 0;
}

static void check_pseudonym(const batch *b, uint32_t idx, const char *raw)
{
	uint8_t want[BATCH_PSEUDONYM_BYTES];
	batch_pseudonym(subject_key, raw, strlen(raw), want);
	CHECK(idx < b->npseudonyms);
	if (idx < b->npseudonyms)
		CHECK(memcmp(b->pseudonyms[idx], want, sizeof want) == 0);
}

static void test_csv_good(void)
{
	schema s;
	example_schema(&s);
	static const char text[] =
	        "speed_kmh,district,driver_id,delay_s,road_type,pub_time\r\n"
	        "58.59,\"Lyon, 3e\",d-001,120,2,2026-01-01T08:00:00Z\r\n"
	        "0.1,\"say \"\"hi\"\"\",d-002,0,-3,2026-01-01T08:00:00.5+01:00\r\n"
	        "130.00,\"two\r\nlines\",d-001,3600,9223372036854775807,1767254400000\r\n"
	        "200,,\"d-003\",7,0,2026-01-01T08:00:00Z\r\n"
	        "-0,\"\",\"d-002\",\"42\",\"1\",\"1970-01-01T00:00:00Z\"\r\n";
	batch b;
	char err[256];
	CHECK(parse_text(&b, &s, text, sizeof text - 1, err, sizeof err));
	CHECK(b.schema == &s);
	CHECK(b.rows == 5);
	if (b.rows == 5) {
		const int64_t t8 = 1767254400LL * 1000000;
		CHECK(b.cols[4].f[0] == 58.59 && b.cols[4].f[1] == 0.1 && b.cols[4].f[2] == 130.0 &&
		      b.cols[4].f[3] == 200.0);
		CHECK(b.cols[4].f[4] == 0 && !signbit(b.cols[4].f[4]));
		CHECK(str_is(b.cols[2].s[0], "Lyon, 3e"));
		CHECK(str_is(b.cols[2].s[1], "say \"hi\""));
		CHECK(str_is(b.cols[2].s[2], "two\r\nlines"));
		CHECK(str_is(b.cols[2].s[3], ""));
		CHECK(str_is(b.cols[2].s[4], ""));
		CHECK(b.cols[5].i[0] == 120 && b.cols[5].i[1] == 0 && b.cols[5].i[2] == 3600 &&
		      b.cols[5].i[3] == 7 && b.cols[5].i[4] == 42);
		CHECK(b.cols[3].i[0] == 2 && b.cols[3].i[1] == -3 && b.cols[3].i[2] == INT64_MAX &&
		      b.cols[3].i[3] == 0 && b.cols[3].i[4] == 1);
		CHECK(b.cols[1].i[0] == t8 && b.cols[1].i[1] == t8 - 3600000000LL + 500000 &&
		      b.cols[1].i[2] == t8 && b.cols[1].i[3] == t8 && b.cols[1].i[4] == 0);
		/* Subjects: indexes into the distinct pseudonyms, first-seen order. */
		CHECK(b.cols[0].s == NULL && b.cols[0].i == NULL && b.cols[0].sub != NULL);
		CHECK(b.npseudonyms == 3);
		CHECK(b.cols[0].sub[0] == 0 && b.cols[0].sub[1] == 1 && b.cols[0].sub[2] == 0 &&
		      b.cols[0].sub[3] == 2 && b.cols[0].sub[4] == 1);
		check_pseudonym(&b, 0, "d-001");
		check_pseudonym(&b, 1, "d-002");
		check_pseudonym(&b, 2, "d-003");
	}
	batch_free(&b);
	CHECK(b.rows == 0 && b.pseudonyms == NULL && b.arena == NULL);
	batch_free(&b); /* twice is harmless */

	/* LF endings, no trailing newline, a byte-order mark, schema order. */
	static const char lf[] =
	        "\xef\xbb\xbf"
	        "driver_id,pub_time,district,road_type,speed_kmh,delay_s\n"
	        "a,2026-01-01T08:00:00Z,Z\xc3\xbcrich,1,1e2,5\n"
	        "b,2026-01-01T08:00:00Z,\xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x9a\x97,2,.5,6";
	CHECK(parse_text(&b, &s, lf, sizeof lf - 1, err, sizeof err));
	CHECK(b.rows == 2);
	if (b.rows == 2) {
		CHECK(str_is(b.cols[2].s[0], "Z\xc3\xbcrich"));
		CHECK(str_is(b.cols[2].s[1], "\xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x9a\x97"));
		CHECK(b.cols[4].f[0] == 100.0 && b.cols[4].f[1] == 0.5);
		CHECK(b.cols[5].i[1] == 6);
	}
	batch_free(&b);

	/* One trailing blank line is tolerated, as is a quoted header. */
	static const char blank[] = "\"driver_id\",pub_time,district,road_type,speed_kmh,delay_s\n"
	                            "a,0,x,1,1,1\n"
	                            "\n";
	CHECK(parse_text(&b, &s, blank, sizeof blank - 1, err, sizeof err));
	CHECK(b.rows == 1);
	batch_free(&b);

	/* Measure bounds are inclusive. */
	static const char edges[] = "driver_id,pub_time,district,road_type,speed_kmh,delay_s\n"
	                            "a,0,x,1,0,0\n"
	                            "a,0,x,1,200,3600\n"
	                            "a,0,x,1,2e2,3600\n";
	CHECK(parse_text(&b, &s, edges, sizeof edges - 1, err, sizeof err));
	CHECK(b.rows == 3 && b.npseudonyms == 1);
	batch_free(&b);

	/* A STRING of exactly BATCH_MAX_STRING bytes. */
	size_t big = 100 + BATCH_MAX_STRING;
	char *t = malloc(big);
	int n = snprintf(t, big, "driver_id,pub_time,district,road_type,speed_kmh,delay_s\na,0,");
	memset(t + n, 'x', BATCH_MAX_STRING);
	n += BATCH_MAX_STRING;
	n += snprintf(t + n, big - (size_t)n, ",1,1,1\n");
	CHECK(parse_text(&b, &s, t, (size_t)n, err, sizeof err));
	CHECK(b.rows == 1 && b.cols[2].s[0].len == BATCH_MAX_STRING);
	batch_free(&b);
	free(t);
}

typedef struct csv_bad {
	const char *what;
	const char *text;
	const char *want1, *want2; /* both in the error (want2 may be NULL) */
} csv_bad;

#define HDR6 "driver_id,pub_time,district,road_type,speed_kmh,delay_s\n"
#define ROW6 "d1,2026-01-01T08:00:00Z,Lyon,1,50,60\n"

static void test_csv_errors(void)
{
	schema s;
	example_schema(&s);
	const csv_bad cases[] = {
	        {"empty body", "", "the batch is empty", NULL},
	        {"only a byte-order mark", "\xef\xbb\xbf", "the batch is empty", NULL},
	        {"header only, no newline",
	         "driver_id,pub_time,district,road_type,speed_kmh,delay_s", "the batch is empty",
	         "no rows"},
	        {"header only", HDR6, "the batch is empty", "no rows"},
	        {"header only, CRLF", "driver_id,pub_time,district,road_type,speed_kmh,delay_s\r\n",
	         "the batch is empty", "no rows"},
	        {"too few fields", HDR6 ROW6 "d1,2026-01-01T08:00:00Z,Lyon,1,50\n",
	         "line 3: 5 fields, expected 6", NULL},
	        {"one field", HDR6 "d1\n", "line 2: 1 field, expected 6", NULL},
	        {"too many fields", HDR6 ROW6 ROW6 "d1,2026-01-01T08:00:00Z,Lyon,1,50,60,7\n",
	         "line 4: more than 6 fields", NULL},
	        {"blank line inside", HDR6 ROW6 "\n" ROW6, "line 3: 1 field, expected 6", NULL},
	        {"unknown column", "driver_id,pub_time,town,road_type,speed_kmh,delay_s\n" ROW6,
	         "line 1, header field 3: unknown column \"town\"", NULL},
	        {"unknown column, not UTF-8",
	         "driver_id,pub_time,\xff,road_type,speed_kmh,delay_s\n" ROW6,
	         "line 1, header field 3: unknown column", NULL},
	        /* An unescaped header field lives in the batch's arena: the message
	         * must be written before the arena is released. */
	        {"unknown quoted column with a doubled quote",
	         "driver_id,pub_time,\"dis\"\"trict\",road_type,speed_kmh,delay_s\n" ROW6,
	         "line 1, header field 3: unknown column \"dis\"trict\"", NULL},
	        {"header with more columns",
	         "driver_id,pub_time,district,road_type,speed_kmh,delay_s,extra\n" ROW6,
	         "line 1: the header has more than the schema's 6 columns", NULL},
	        {"missing column", "driver_id,pub_time,district,road_type,speed_kmh\n" ROW6,
	         "line 1: column delay_s is missing", NULL},
	        {"duplicate header column",
	         "driver_id,pub_time,district,road_type,speed_kmh,district\n" ROW6,
	         "line 1, header field 6: column district appears twice", NULL},
	        {"column name case",
	         "Driver_id,pub_time,district,road_type,speed_kmh,delay_s\n" ROW6,
	         "line 1, header field 1: unknown column", NULL},
	        {"non-number INT64", HDR6 ROW6 "d1,2026-01-01T08:00:00Z,Lyon,abc,50,60\n",
	         "line 3, column road_type: not an INT64", NULL},
	        {"float in an INT64", HDR6 "d1,2026-01-01T08:00:00Z,Lyon,1.0,50,60\n",
	         "line 2, column road_type: not an INT64", NULL},
	        {"non-number FLOAT64", HDR6 "d1,2026-01-01T08:00:00Z,Lyon,1,fast,60\n",
	         "line 2, column speed_kmh: not a finite FLOAT64", NULL},
	        {"NaN FLOAT64", HDR6 "d1,2026-01-01T08:00:00Z,Lyon,1,nan,60\n",
	         "line 2, column speed_kmh: not a finite FLOAT64", NULL},
	        {"empty FLOAT64", HDR6 "d1,2026-01-01T08:00:00Z,Lyon,1,,60\n",
	         "line 2, column speed_kmh", NULL},
	        {"FLOAT64 above max", HDR6 ROW6 ROW6 "d1,2026-01-01T08:00:00Z,Lyon,1,200.5,60\n",
	         "line 4, column speed_kmh: outside the bounds", NULL},
	        {"FLOAT64 below min", HDR6 "d1,2026-01-01T08:00:00Z,Lyon,1,-0.001,60\n",
	         "line 2, column speed_kmh: outside the bounds", NULL},
	        {"INT64 below min", HDR6 "d1,2026-01-01T08:00:00Z,Lyon,1,50,-1\n",
	         "line 2, column delay_s: outside the bounds", NULL},
	        {"INT64 above max", HDR6 "d1,2026-01-01T08:00:00Z,Lyon,1,50,3601\n",
	         "line 2, column delay_s: outside the bounds", NULL},
	        {"bad timestamp", HDR6 "d1,2026-02-30T08:00:00Z,Lyon,1,50,60\n",
	         "line 2, column pub_time: not a TIMESTAMP", NULL},
	        {"invalid UTF-8 byte", HDR6 ROW6 "d1,2026-01-01T08:00:00Z,Ly\xffon,1,50,60\n",
	         "line 3, column district: not valid UTF-8", NULL},
	        {"overlong UTF-8", HDR6 "d1,2026-01-01T08:00:00Z,\xc0\xaf,1,50,60\n",
	         "line 2, column district: not valid UTF-8", NULL},
	        {"overlong 3-byte UTF-8", HDR6 "d1,2026-01-01T08:00:00Z,\xe0\x80\xaf,1,50,60\n",
	         "line 2, column district: not valid UTF-8", NULL},
	        {"UTF-16 surrogate", HDR6 "d1,2026-01-01T08:00:00Z,\xed\xa0\x80,1,50,60\n",
	         "line 2, column district: not valid UTF-8", NULL},
	        {"beyond U+10FFFF", HDR6 "d1,2026-01-01T08:00:00Z,\xf4\x90\x80\x80,1,50,60\n",
	         "line 2, column district: not valid UTF-8", NULL},
	        {"truncated UTF-8", HDR6 "d1,2026-01-01T08:00:00Z,\xe2\x82,1,50,60\n",
	         "line 2, column district: not valid UTF-8", NULL},
	        {"lone continuation", HDR6 "d1,2026-01-01T08:00:00Z,12345678\x80,1,50,60\n",
	         "line 2, column district: not valid UTF-8", NULL},
	        {"invalid UTF-8 subject", HDR6 "d\xfe,2026-01-01T08:00:00Z,Lyon,1,50,60\n",
	         "line 2, column driver_id: not valid UTF-8", NULL},
	        {"empty subject", HDR6 ROW6 ",2026-01-01T08:00:00Z,Lyon,1,50,60\n",
	         "line 3, column driver_id: the subject is empty", NULL},
	        {"unterminated quote", HDR6 ROW6 "d1,2026-01-01T08:00:00Z,\"Lyon,1,50,60\n",
	         "line 3: a quoted field is never closed", NULL},
	        {"unterminated quote in the header",
	         "driver_id,\"pub_time,district,road_type,speed_kmh,delay_s\n" ROW6,
	         "line 1: a quoted field is never closed", NULL},
	        {"quote inside an unquoted field", HDR6 "d1,2026-01-01T08:00:00Z,Ly\"on,1,50,60\n",
	         "line 2: a quote inside an unquoted field", NULL},
	        {"text after a closing quote",
	         HDR6 ROW6 "d1,2026-01-01T08:00:00Z,\"Lyon\"x,1,50,60\n",
	         "line 3: text after the closing quote", NULL},
	        {"space after a closing quote", HDR6 "d1,2026-01-01T08:00:00Z,\"Lyon\" ,1,50,60\n",
	         "line 2: text after the closing quote", NULL},
	        {"bare carriage return", HDR6 "d1,2026-01-01T08:00:00Z,Ly\ron,1,50,60\n",
	         "line 2: a bare carriage return", NULL},
	        /* Line numbers: a quoted field spanning lines advances the count. */
	        {"error after a multi-line field",
	         HDR6 "d1,2026-01-01T08:00:00Z,\"Ly\non\",1,50,60\n"
	              "d1,2026-01-01T08:00:00Z,\"a\r\nb\nc\",1,50,60\n"
	              "d1,2026-01-01T08:00:00Z,Lyon,x,50,60\n",
	         "line 7, column road_type", NULL},
	        {"error inside a multi-line row",
	         HDR6 "d1,2026-01-01T08:00:00Z,\"Ly\non\",1,50,-5\n", "line 2, column delay_s",
	         NULL},
	        {"field count after a multi-line field",
	         HDR6 "d1,2026-01-01T08:00:00Z,\"Ly\n\non\",1,50,60\nd1,x\n",
	         "line 5: 2 fields, expected 6", NULL},
	        {"unclosed quote after a multi-line field",
	         HDR6 "d1,2026-01-01T08:00:00Z,\"Ly\non\",1,50,60\nd1,\"oops\n,x,1,1,1\n",
	         "line 4: a quoted field is never closed", NULL},
	        {"text after a multi-line quoted field",
	         HDR6 "d1,2026-01-01T08:00:00Z,\"Ly\non\"x,1,50,60\n",
	         "line 3: text after the closing quote", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const csv_bad *t = &cases[i];
		batch b;
		char err[256];
		memset(&b, 0xa5, sizeof b);
		bool ok = parse_text(&b, &s, t->text, strlen(t->text), err, sizeof err);
		if (ok || !strstr(err, t->want1))
			fprintf(stderr, "csv case \"%s\": %s, error \"%s\"\n", t->what,
			        ok ? "accepted" : "rejected", err);
		CHECK(!ok);
		CHECK_CONTAINS(err, t->want1);
		if (t->want2)
			CHECK_CONTAINS(err, t->want2);
		/* On failure b holds nothing. */
		CHECK(b.rows == 0 && b.pseudonyms == NULL && b.arena == NULL &&
		      b.cols[0].sub == NULL);
		batch_free(&b);
	}

	/* Messages say where, never what: a value is not quoted back. */
	batch b;
	char err[256];
	static const char secret[] = HDR6 "d1,2026-01-01T08:00:00Z,Lyon,s3cr3t-value,50,60\n";
	CHECK(!parse_text(&b, &s, secret, sizeof secret - 1, err, sizeof err));
	CHECK(strstr(err, "s3cr3t") == NULL);
	batch_free(&b);
	static const char secret_subj[] = HDR6 "s3cr3t\xff,2026-01-01T08:00:00Z,Lyon,1,50,60\n";
	CHECK(!parse_text(&b, &s, secret_subj, sizeof secret_subj - 1, err, sizeof err));
	CHECK(strstr(err, "s3cr3t") == NULL);
	batch_free(&b);

	/* A NUL byte in a STRING, and one byte over the length limit. */
	static const char nul[] = HDR6 "d1,2026-01-01T08:00:00Z,Ly\0on,1,50,60\n";
	CHECK(!parse_text(&b, &s, nul, sizeof nul - 1, err, sizeof err));
	CHECK_CONTAINS(err, "line 2, column district");
	batch_free(&b);
	size_t big = 100 + BATCH_MAX_STRING;
	char *t = malloc(big);
	int n = snprintf(t, big, HDR6 "a,0,");
	memset(t + n, 'x', BATCH_MAX_STRING + 1);
	n += BATCH_MAX_STRING + 1;
	n += snprintf(t + n, big - (size_t)n, ",1,1,1\n");
	CHECK(!parse_text(&b, &s, t, (size_t)n, err, sizeof err));
	CHECK_CONTAINS(err, "line 2, column district");
	batch_free(&b);
	free(t);

	/* A short error buffer truncates, never overflows. */
	char small[8];
	memset(small, 'Z', sizeof small);
	static const char bad[] = HDR6 "d1,x,Lyon,1,50,60\n";
	CHECK(!batch_parse_csv(&b, &s, subject_key, bad, sizeof bad - 1, small, 6));
	CHECK(strlen(small) == 5 && small[6] == 'Z' && small[7] == 'Z');
	batch_free(&b);
}

/* ---- pseudonyms ------------------------------------------------------- */

static void test_pseudonyms(void)
{
	schema s;
	example_schema(&s);
	batch b;
	char err[256];

	/* The documented construction: keyed BLAKE2b of the canonical text,
	 * BATCH_PSEUDONYM_BYTES long. */
	uint8_t p1[PSEUDO], p2[PSEUDO], ref[PSEUDO], other_key[32];
	batch_pseudonym(subject_key, "alice", 5, p1);
	crypto_generichash(ref, sizeof ref, (const unsigned char *)"alice", 5, subject_key, 32);
	CHECK(memcmp(p1, ref, PSEUDO) == 0);
	batch_pseudonym(subject_key, "alice", 5, p2);
	CHECK(memcmp(p1, p2, PSEUDO) == 0);
	batch_pseudonym(subject_key, "alicf", 5, p2);
	CHECK(memcmp(p1, p2, PSEUDO) != 0);
	memcpy(other_key, subject_key, 32);
	other_key[31] ^= 1;
	batch_pseudonym(other_key, "alice", 5, p2);
	CHECK(memcmp(p1, p2, PSEUDO) != 0);

	/* Thousands of distinct subjects (past any initial table), each seen several
	 * times in a scrambled order. */
	enum { NSUBJ = 5000, NROWS = 20000 };
	size_t cap = NROWS * 80 + 100;
	char *text = malloc(cap);
	uint32_t *who = malloc(NROWS * sizeof *who);
	size_t n = (size_t)snprintf(text, cap, HDR6);
	for (int r = 0; r < NROWS; r++) {
		who[r] = r < NSUBJ ? (uint32_t)r : (uint32_t)(rnd() % NSUBJ);
		n += (size_t)snprintf(text + n, cap - n, "driver-%05u,0,x,1,1,1\n", who[r]);
	}
	CHECK(parse_text(&b, &s, text, n, err, sizeof err));
	CHECK(b.rows == NROWS && b.npseudonyms == NSUBJ);
	if (b.rows == NROWS && b.npseudonyms == NSUBJ) {
		bool all = true;
		for (int r = 0; r < NROWS; r++)
			all &= b.cols[0].sub[r] == who[r]; /* first-seen order = r for r < NSUBJ */
		CHECK(all);
		for (uint32_t k = 0; k < NSUBJ; k += 97) {
			char raw[32];
			snprintf(raw, sizeof raw, "driver-%05u", k);
			check_pseudonym(&b, k, raw);
			CHECK(!bytes_contain(b.pseudonyms, b.npseudonyms * BATCH_PSEUDONYM_BYTES,
			                     raw, strlen(raw)));
		}
		/* Distinct subjects, distinct pseudonyms. */
		CHECK(memcmp(b.pseudonyms[0], b.pseudonyms[1], PSEUDO) != 0);
		CHECK(memcmp(b.pseudonyms[NSUBJ - 2], b.pseudonyms[NSUBJ - 1], PSEUDO) != 0);
	}
	/* The raw subject is not in the stored SUBJECT chunk either. */
	chunk_encoder e = {0};
	chunk_buf out = {0};
	CHECK(chunk_encode(&e, &b, 0, 0, b.rows, &out));
	CHECK(!bytes_contain(out.p, out.len, "driver-", 7));
	CHECK(!bytes_contain(out.p, out.len, "00042", 5));
	free(out.p);
	chunk_encoder_free(&e);
	batch_free(&b);
	free(text);
	free(who);

	/* An INT64 subject: "007", "7", "+7" are one subject, "-0" and "0" another. */
	Fiducia__V1__Column c2[2];
	schema s2;
	mkcol(&c2[0], "uid", FIDUCIA__V1__COLUMN__TYPE__INT64, FIDUCIA__V1__COLUMN__ROLE__SUBJECT,
	      0, 0);
	mkcol(&c2[1], "n", FIDUCIA__V1__COLUMN__TYPE__INT64, FIDUCIA__V1__COLUMN__ROLE__DIMENSION,
	      0, 0);
	CHECK(build_schema(&s2, true, c2, 2, err, sizeof err));
	static const char ints[] = "n,uid\n1,007\n2,7\n3,+7\n4,\"0007\"\n5,-0\n6,0\n7,-7\n8,"
	                           "9223372036854775807\n9,-9223372036854775808\n";
	CHECK(parse_text(&b, &s2, ints, sizeof ints - 1, err, sizeof err));
	CHECK(b.rows == 9 && b.npseudonyms == 5);
	if (b.rows == 9 && b.npseudonyms == 5) {
		const uint32_t *sub = b.cols[0].sub;
		CHECK(sub[0] == 0 && sub[1] == 0 && sub[2] == 0 && sub[3] == 0);
		CHECK(sub[4] == 1 && sub[5] == 1 && sub[6] == 2 && sub[7] == 3 && sub[8] == 4);
		check_pseudonym(&b, 0, "7");
		check_pseudonym(&b, 1, "0");
		check_pseudonym(&b, 2, "-7");
		check_pseudonym(&b, 3, "9223372036854775807");
		check_pseudonym(&b, 4, "-9223372036854775808");
		CHECK(!bytes_contain(b.pseudonyms, b.npseudonyms * PSEUDO, "007", 3));
		CHECK(b.cols[1].i[8] == 9);
	}
	batch_free(&b);
	static const char notint[] = "uid,n\n7,1\n7.0,2\n";
	CHECK(!parse_text(&b, &s2, notint, sizeof notint - 1, err, sizeof err));
	CHECK_CONTAINS(err, "line 3, column uid: not an INT64");
	batch_free(&b);
	static const char emptyint[] = "uid,n\n,1\n";
	CHECK(!parse_text(&b, &s2, emptyint, sizeof emptyint - 1, err, sizeof err));
	CHECK_CONTAINS(err, "line 2, column uid: the subject is empty");
	batch_free(&b);

	/* The same raw subject in two batches: the same pseudonym (the key, not
	 * the batch, decides). */
	static const char one[] = HDR6 "zed,0,x,1,1,1\n";
	static const char two[] = HDR6 "amy,0,x,1,1,1\nzed,0,x,1,1,1\n";
	batch b2;
	CHECK(parse_text(&b, &s, one, sizeof one - 1, err, sizeof err));
	CHECK(parse_text(&b2, &s, two, sizeof two - 1, err, sizeof err));
	if (b.rows == 1 && b2.rows == 2)
		CHECK(memcmp(b.pseudonyms[b.cols[0].sub[0]], b2.pseudonyms[b2.cols[0].sub[1]],
		             PSEUDO) == 0);
	batch_free(&b);
	batch_free(&b2);
	/* Another subject key: other pseudonyms. */
	CHECK(batch_parse_csv(&b, &s, other_key, one, sizeof one - 1, err, sizeof err));
	CHECK(parse_text(&b2, &s, one, sizeof one - 1, err, sizeof err));
	if (b.rows == 1 && b2.rows == 1)
		CHECK(memcmp(b.pseudonyms[0], b2.pseudonyms[0], PSEUDO) != 0);
	batch_free(&b);
	batch_free(&b2);
}

/* The process-wide pseudonym cache changes nothing but the cost: the same
 * pseudonyms with it on, off, thrashing, or under another subject key. */
static void test_pseudonym_cache(void)
{
	schema s;
	example_schema(&s);
	enum { NROWS = 600, NSUBJ = 150 };
	size_t cap = NROWS * 40 + 100;
	char *text = malloc(cap);
	size_t n = (size_t)snprintf(text, cap, HDR6);
	for (int r = 0; r < NROWS; r++)
		n += (size_t)snprintf(text + n, cap - n, "s%d,0,x,1,1,1\n", (r * 37) % NSUBJ);
	uint8_t other_key[32];
	for (int i = 0; i < 32; i++)
		other_key[i] = (uint8_t)(0xc0 ^ i);
	batch plain, b;
	char err[256];
	CHECK(parse_text(&plain, &s, text, n, err, sizeof err));
	CHECK(plain.rows == NROWS && plain.npseudonyms == NSUBJ);

	static const size_t sizes[] = {4096, 1};
	for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
		CHECK(batch_cache_init(sizes[si]));
		uint64_t h0, m0, h1, m1, h2, m2;
		batch_cache_stats(&h0, &m0);
		for (int pass = 0; pass < 2; pass++) {
			CHECK(parse_text(&b, &s, text, n, err, sizeof err));
			CHECK(b.rows == NROWS && b.npseudonyms == NSUBJ);
			if (b.npseudonyms == NSUBJ && plain.npseudonyms == NSUBJ) {
				CHECK(memcmp(b.pseudonyms, plain.pseudonyms, NSUBJ * PSEUDO) == 0);
				CHECK(memcmp(b.cols[0].sub, plain.cols[0].sub,
				             NROWS * sizeof *b.cols[0].sub) == 0);
			}
			batch_free(&b);
		}
		batch_cache_stats(&h1, &m1);
		/* Each distinct subject is looked up once per batch. */
		CHECK((h1 - h0) + (m1 - m0) == 2 * NSUBJ);
		if (sizes[si] >= 4 * NSUBJ)
			CHECK(h1 - h0 >= NSUBJ / 2); /* the second batch mostly hits */
		/* Another subject key: other pseudonyms, not the cached ones. */
		CHECK(batch_parse_csv(&b, &s, other_key, text, n, err, sizeof err));
		CHECK(b.npseudonyms == NSUBJ);
		if (b.npseudonyms == NSUBJ && plain.npseudonyms == NSUBJ) {
			uint8_t want[PSEUDO];
			bool all = true;
			for (uint32_t k = 0; k < NSUBJ; k++) {
				char raw[16];
				snprintf(raw, sizeof raw, "s%u", (k * 37) % NSUBJ);
				batch_pseudonym(other_key, raw, strlen(raw), want);
				all &= memcmp(b.pseudonyms[k], want, PSEUDO) == 0;
				all &= memcmp(b.pseudonyms[k], plain.pseudonyms[k], PSEUDO) != 0;
			}
			CHECK(all);
		}
		batch_free(&b);
		batch_cache_stats(&h2, &m2);
		CHECK(m2 - m1 >= (sizes[si] >= 4 * NSUBJ ? NSUBJ : 1));
		batch_cache_free();
	}
	/* Off again: still the same pseudonyms. */
	CHECK(parse_text(&b, &s, text, n, err, sizeof err));
	if (b.npseudonyms == NSUBJ && plain.npseudonyms == NSUBJ)
		CHECK(memcmp(b.pseudonyms, plain.pseudonyms, NSUBJ * PSEUDO) == 0);
	batch_free(&b);
	batch_free(&plain);
	free(text);
}

/* ---- DepositBatch ----------------------------------------------------- */

#define PB_ROWS 8
#define PB_COLS 6

typedef struct pbb {
	Fiducia__V1__DepositBatch m;
	char *names[PB_COLS];
	Fiducia__V1__Row rows[PB_ROWS], *rowp[PB_ROWS];
	Fiducia__V1__Cell cells[PB_ROWS][PB_COLS], *cellp[PB_ROWS][PB_COLS];
	Google__Protobuf__Timestamp ts[PB_ROWS][PB_COLS];
} pbb;

static void pbb_init(pbb *p, size_t ncols, const char *const *names, size_t nrows)
{
	Fiducia__V1__DepositBatch m = FIDUCIA__V1__DEPOSIT_BATCH__INIT;
	Fiducia__V1__Row row = FIDUCIA__V1__ROW__INIT;
	Fiducia__V1__Cell cell = FIDUCIA__V1__CELL__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	memset(p, 0, sizeof *p);
	p->m = m;
	for (size_t k = 0; k < ncols; k++)
		p->names[k] = (char *)names[k];
	p->m.n_columns = ncols;
	p->m.columns = p->names;
	p->m.n_rows = nrows;
	p->m.rows = p->rowp;
	for (size_t r = 0; r < PB_ROWS; r++) {
		p->rows[r] = row;
		p->rowp[r] = &p->rows[r];
		p->rows[r].n_cells = ncols;
		p->rows[r].cells = p->cellp[r];
		for (size_t k = 0; k < PB_COLS; k++) {
			p->cells[r][k] = cell;
			p->cellp[r][k] = &p->cells[r][k];
			p->ts[r][k] = ts;
		}
	}
}

static void c_str(pbb *p, size_t r, size_t k, const char *v)
{
	p->cells[r][k].kind_case = FIDUCIA__V1__CELL__KIND_STRING_VALUE;
	p->cells[r][k].string_value = (char *)v;
}

static void c_int(pbb *p, size_t r, size_t k, int64_t v)
{
	p->cells[r][k].kind_case = FIDUCIA__V1__CELL__KIND_INT_VALUE;
	p->cells[r][k].int_value = v;
}

static void c_dbl(pbb *p, size_t r, size_t k, double v)
{
	p->cells[r][k].kind_case = FIDUCIA__V1__CELL__KIND_DOUBLE_VALUE;
	p->cells[r][k].double_value = v;
}

static void c_bool(pbb *p, size_t r, size_t k, bool v)
{
	p->cells[r][k].kind_case = FIDUCIA__V1__CELL__KIND_BOOL_VALUE;
	p->cells[r][k].bool_value = v;
}

static void c_ts(pbb *p, size_t r, size_t k, int64_t secs, int32_t nanos)
{
	p->ts[r][k].seconds = secs;
	p->ts[r][k].nanos = nanos;
	p->cells[r][k].kind_case = FIDUCIA__V1__CELL__KIND_TIMESTAMP_VALUE;
	p->cells[r][k].timestamp_value = &p->ts[r][k];
}

/* A schema of every type: who STRING SUBJECT, at TIMESTAMP TIME, n INT64
 * DIMENSION, x FLOAT64 MEASURE [-1000, 1000], ok BOOL DIMENSION, tag STRING
 * DIMENSION. */
static void all_types_schema(schema *s)
{
	Fiducia__V1__Column cols[6];
	char err[256];
	mkcol(&cols[0], "who", FIDUCIA__V1__COLUMN__TYPE__STRING,
	      FIDUCIA__V1__COLUMN__ROLE__SUBJECT, 0, 0);
	mkcol(&cols[1], "at", FIDUCIA__V1__COLUMN__TYPE__TIMESTAMP, FIDUCIA__V1__COLUMN__ROLE__TIME,
	      0, 0);
	mkcol(&cols[2], "n", FIDUCIA__V1__COLUMN__TYPE__INT64, FIDUCIA__V1__COLUMN__ROLE__DIMENSION,
	      0, 0);
	mkcol(&cols[3], "x", FIDUCIA__V1__COLUMN__TYPE__FLOAT64, FIDUCIA__V1__COLUMN__ROLE__MEASURE,
	      -1000, 1000);
	mkcol(&cols[4], "ok", FIDUCIA__V1__COLUMN__TYPE__BOOL, FIDUCIA__V1__COLUMN__ROLE__DIMENSION,
	      0, 0);
	mkcol(&cols[5], "tag", FIDUCIA__V1__COLUMN__TYPE__STRING,
	      FIDUCIA__V1__COLUMN__ROLE__DIMENSION, 0, 0);
	if (!build_schema(s, true, cols, 6, err, sizeof err))
		abort();
}

/* Cells in the order tag, ok, x, n, at, who. */
static const char *const pb_names[PB_COLS] = {"tag", "ok", "x", "n", "at", "who"};

static void pb_fill_good(pbb *p)
{
	pbb_init(p, PB_COLS, pb_names, 4);
	/* row 1: typed cells */
	c_str(p, 0, 0, "north");
	c_bool(p, 0, 1, true);
	c_dbl(p, 0, 2, 12.5);
	c_int(p, 0, 3, INT64_MIN);
	c_ts(p, 0, 4, 1767254400, 123456789);
	c_str(p, 0, 5, "alice");
	/* row 2: text cells, read as CSV text would be */
	c_str(p, 1, 0, "south, \"quoted\"");
	c_str(p, 1, 1, "FALSE");
	c_str(p, 1, 2, "-0");
	c_str(p, 1, 3, "-42");
	c_str(p, 1, 4, "2026-01-01T09:00:00+01:00");
	c_str(p, 1, 5, "bob");
	/* row 3: an intValue for a FLOAT64, a -0 double */
	c_str(p, 2, 0, "");
	c_bool(p, 2, 1, false);
	c_int(p, 2, 2, -1000);
	c_int(p, 2, 3, INT64_MAX);
	c_ts(p, 2, 4, -1, 500000000);
	c_str(p, 2, 5, "alice");
	/* row 4 */
	c_str(p, 3, 0, "north");
	c_str(p, 3, 1, "1");
	c_dbl(p, 3, 2, -0.0);
	c_str(p, 3, 3, "007");
	c_str(p, 3, 4, "1767254400000");
	c_str(p, 3, 5, "carol");
}

static void check_pb_good(const batch *b)
{
	CHECK(b->rows == 4);
	if (b->rows != 4)
		return;
	const int64_t t8 = 1767254400LL * 1000000;
	CHECK(str_is(b->cols[5].s[0], "north") && str_is(b->cols[5].s[1], "south, \"quoted\"") &&
	      str_is(b->cols[5].s[2], "") && str_is(b->cols[5].s[3], "north"));
	CHECK(b->cols[4].i[0] == 1 && b->cols[4].i[1] == 0 && b->cols[4].i[2] == 0 &&
	      b->cols[4].i[3] == 1);
	CHECK(b->cols[3].f[0] == 12.5 && b->cols[3].f[1] == 0 && !signbit(b->cols[3].f[1]) &&
	      b->cols[3].f[2] == -1000.0 && b->cols[3].f[3] == 0 && !signbit(b->cols[3].f[3]));
	CHECK(b->cols[2].i[0] == INT64_MIN && b->cols[2].i[1] == -42 &&
	      b->cols[2].i[2] == INT64_MAX && b->cols[2].i[3] == 7);
	CHECK(b->cols[1].i[0] == t8 + 123456 && b->cols[1].i[1] == t8 &&
	      b->cols[1].i[2] == -500000 && b->cols[1].i[3] == t8);
	CHECK(b->npseudonyms == 3);
	CHECK(b->cols[0].sub[0] == 0 && b->cols[0].sub[1] == 1 && b->cols[0].sub[2] == 0 &&
	      b->cols[0].sub[3] == 2);
	check_pseudonym(b, 0, "alice");
	check_pseudonym(b, 1, "bob");
	check_pseudonym(b, 2, "carol");
}

typedef struct pb_bad {
	const char *what;
	size_t r, k; /* the cell changed */
	int kind;    /* 0: string, 1: int, 2: double, 3: bool, 4: timestamp, 5: unset */
	const char *sv;
	int64_t iv;
	double dv;
	int32_t nanos;
	const char *want;
} pb_bad;

static void test_pb(void)
{
	schema s;
	all_types_schema(&s);
	pbb *p = malloc(sizeof *p);
	batch b;
	char err[256];

	pb_fill_good(p);
	CHECK(batch_parse_pb(&b, &s, subject_key, &p->m, err, sizeof err));
	CHECK(b.schema == &s);
	check_pb_good(&b);
	batch_free(&b);

	/* Through the binary encoding and back. */
	size_t len = fiducia__v1__deposit_batch__get_packed_size(&p->m);
	uint8_t *wire = malloc(len);
	CHECK(fiducia__v1__deposit_batch__pack(&p->m, wire) == len);
	Fiducia__V1__DepositBatch *m = fiducia__v1__deposit_batch__unpack(NULL, len, wire);
	CHECK(m != NULL);
	if (m) {
		CHECK(batch_parse_pb(&b, &s, subject_key, m, err, sizeof err));
		check_pb_good(&b);
		batch_free(&b);
		fiducia__v1__deposit_batch__free_unpacked(m, NULL);
	}
	free(wire);

	const pb_bad cases[] = {
	        {"doubleValue for INT64", 1, 3, 2, NULL, 0, 1.0, 0,
	         "row 2, column n: a doubleValue for a INT64 column"},
	        {"doubleValue for STRING", 2, 0, 2, NULL, 0, 1.0, 0,
	         "row 3, column tag: a doubleValue for a STRING column"},
	        {"doubleValue for SUBJECT", 0, 5, 2, NULL, 0, 1.0, 0,
	         "row 1, column who: a doubleValue for a STRING column"},
	        {"intValue for BOOL", 3, 1, 1, NULL, 1, 0, 0,
	         "row 4, column ok: an intValue for a BOOL column"},
	        {"intValue for STRING", 1, 0, 1, NULL, 1, 0, 0,
	         "row 2, column tag: an intValue for a STRING column"},
	        {"intValue for TIMESTAMP", 1, 4, 1, NULL, 1767254400000, 0, 0,
	         "row 2, column at: an intValue for a TIMESTAMP column"},
	        {"intValue for a STRING SUBJECT", 2, 5, 1, NULL, 7, 0, 0,
	         "row 3, column who: an intValue for a STRING column"},
	        {"boolValue for STRING", 0, 0, 3, NULL, 0, 0, 0,
	         "row 1, column tag: a boolValue for a STRING column"},
	        {"boolValue for FLOAT64", 2, 2, 3, NULL, 0, 0, 0,
	         "row 3, column x: a boolValue for a FLOAT64 column"},
	        {"timestampValue for INT64", 3, 3, 4, NULL, 0, 0, 0,
	         "row 4, column n: a timestampValue for a INT64 column"},
	        {"timestampValue for BOOL", 3, 1, 4, NULL, 0, 0, 0,
	         "row 4, column ok: a timestampValue for a BOOL column"},
	        {"no value", 2, 3, 5, NULL, 0, 0, 0, "row 3, column n: the cell has no value"},
	        {"double out of bounds", 1, 2, 2, NULL, 0, 1000.5, 0,
	         "row 2, column x: outside the bounds"},
	        {"int out of bounds", 1, 2, 1, NULL, -1001, 0, 0,
	         "row 2, column x: outside the bounds"},
	        {"string out of bounds", 3, 2, 0, "1e4", 0, 0, 0,
	         "row 4, column x: outside the bounds"},
	        {"NaN double", 0, 2, 2, NULL, 0, NAN, 0, "row 1, column x: not a finite FLOAT64"},
	        {"infinite double", 0, 2, 2, NULL, 0, -INFINITY, 0, "row 1, column x"},
	        {"negative nanos", 0, 4, 4, NULL, 0, 0, -1,
	         "row 1, column at: not a valid timestamp"},
	        {"nanos of a whole second", 0, 4, 4, NULL, 0, 0, 1000000000,
	         "row 1, column at: not a valid timestamp"},
	        {"seconds overflow", 0, 4, 4, NULL, INT64_MAX / 1000, 0, 0,
	         "row 1, column at: not a valid timestamp"},
	        {"seconds underflow", 0, 4, 4, NULL, INT64_MIN / 1000, 0, 0,
	         "row 1, column at: not a valid timestamp"},
	        {"text for INT64", 3, 3, 0, "seven", 0, 0, 0, "row 4, column n: not an INT64"},
	        {"text for BOOL", 3, 1, 0, "yes", 0, 0, 0, "row 4, column ok: not a BOOL"},
	        {"text for TIMESTAMP", 3, 4, 0, "2026-02-30T00:00:00Z", 0, 0, 0,
	         "row 4, column at: not a TIMESTAMP"},
	        {"bad UTF-8", 1, 0, 0, "\xc3\x28", 0, 0, 0, "row 2, column tag: not valid UTF-8"},
	        {"empty subject", 3, 5, 0, "", 0, 0, 0, "row 4, column who: the subject is empty"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const pb_bad *t = &cases[i];
		pb_fill_good(p);
		switch (t->kind) {
		case 0:
			c_str(p, t->r, t->k, t->sv);
			break;
		case 1:
			c_int(p, t->r, t->k, t->iv);
			break;
		case 2:
			c_dbl(p, t->r, t->k, t->dv);
			break;
		case 3:
			c_bool(p, t->r, t->k, true);
			break;
		case 4:
			c_ts(p, t->r, t->k, t->iv, t->nanos);
			break;
		default:
			p->cells[t->r][t->k].kind_case = FIDUCIA__V1__CELL__KIND__NOT_SET;
		}
		memset(&b, 0xa5, sizeof b);
		err[0] = '\0';
		bool ok = batch_parse_pb(&b, &s, subject_key, &p->m, err, sizeof err);
		if (ok || !strstr(err, t->want))
			fprintf(stderr, "pb case \"%s\": %s, error \"%s\"\n", t->what,
			        ok ? "accepted" : "rejected", err);
		CHECK(!ok);
		CHECK_CONTAINS(err, t->want);
		CHECK(b.rows == 0 && b.pseudonyms == NULL && b.cols[0].sub == NULL);
		batch_free(&b);
	}

	/* Structural faults. */
	pb_fill_good(p);
	p->rows[2].n_cells = 5;
	CHECK(!batch_parse_pb(&b, &s, subject_key, &p->m, err, sizeof err));
	CHECK_CONTAINS(err, "row 3: 5 cells, expected 6");
	batch_free(&b);

	pb_fill_good(p);
	p->m.n_columns = 5;
	memset(&b, 0xa5, sizeof b);
	CHECK(!batch_parse_pb(&b, &s, subject_key, &p->m, err, sizeof err));
	CHECK_CONTAINS(err, "$.columns: names 5 columns, the schema has 6");
	CHECK(b.rows == 0 && b.arena == NULL);
	batch_free(&b);

	static const char *const unknown[PB_COLS] = {"tag", "ok", "x", "n", "when", "who"};
	pb_fill_good(p);
	for (int k = 0; k < PB_COLS; k++)
		p->names[k] = (char *)unknown[k];
	CHECK(!batch_parse_pb(&b, &s, subject_key, &p->m, err, sizeof err));
	CHECK_CONTAINS(err, "$.columns[4]: unknown column");
	batch_free(&b);

	static const char *const twice[PB_COLS] = {"tag", "ok", "x", "n", "tag", "who"};
	pb_fill_good(p);
	for (int k = 0; k < PB_COLS; k++)
		p->names[k] = (char *)twice[k];
	CHECK(!batch_parse_pb(&b, &s, subject_key, &p->m, err, sizeof err));
	CHECK_CONTAINS(err, "$.columns[4]: column tag appears twice");
	batch_free(&b);

	pb_fill_good(p);
	p->m.n_rows = 0;
	CHECK(!batch_parse_pb(&b, &s, subject_key, &p->m, err, sizeof err));
	CHECK_CONTAINS(err, "the batch is empty");
	batch_free(&b);

	/* An INT64 subject from intValue and from text: one pseudonym. */
	Fiducia__V1__Column c2[2];
	schema s2;
	mkcol(&c2[0], "uid", FIDUCIA__V1__COLUMN__TYPE__INT64, FIDUCIA__V1__COLUMN__ROLE__SUBJECT,
	      0, 0);
	mkcol(&c2[1], "d", FIDUCIA__V1__COLUMN__TYPE__INT64, FIDUCIA__V1__COLUMN__ROLE__MEASURE, 0,
	      10);
	CHECK(build_schema(&s2, true, c2, 2, err, sizeof err));
	static const char *const n2[2] = {"d", "uid"};
	pbb_init(p, 2, n2, 5);
	c_int(p, 0, 0, 1);
	c_int(p, 0, 1, 7);
	c_str(p, 1, 0, "2");
	c_str(p, 1, 1, "007");
	c_int(p, 2, 0, 3);
	c_int(p, 2, 1, -7);
	c_str(p, 3, 0, "4");
	c_str(p, 3, 1, "+7");
	c_int(p, 4, 0, 10);
	c_int(p, 4, 1, INT64_MIN);
	CHECK(batch_parse_pb(&b, &s2, subject_key, &p->m, err, sizeof err));
	CHECK(b.rows == 5 && b.npseudonyms == 3);
	if (b.rows == 5 && b.npseudonyms == 3) {
		CHECK(b.cols[0].sub[0] == 0 && b.cols[0].sub[1] == 0 && b.cols[0].sub[2] == 1 &&
		      b.cols[0].sub[3] == 0 && b.cols[0].sub[4] == 2);
		check_pseudonym(&b, 0, "7");
		check_pseudonym(&b, 1, "-7");
		check_pseudonym(&b, 2, "-9223372036854775808");
		CHECK(b.cols[1].i[0] == 1 && b.cols[1].i[4] == 10);
	}
	batch_free(&b);
	c_dbl(p, 2, 1, 7.0);
	CHECK(!batch_parse_pb(&b, &s2, subject_key, &p->m, err, sizeof err));
	CHECK_CONTAINS(err, "row 3, column uid: a doubleValue for a INT64 column");
	batch_free(&b);
	c_int(p, 2, 1, 7);
	c_int(p, 3, 0, 11);
	CHECK(!batch_parse_pb(&b, &s2, subject_key, &p->m, err, sizeof err));
	CHECK_CONTAINS(err, "row 4, column d: outside the bounds");
	batch_free(&b);
	free(p);
}

/* ---- chunks ----------------------------------------------------------- */

static uint32_t rd_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Decode what chunk_encode made of column c, rows [from, to), and compare
 * every value with the batch. Returns the plaintext (caller frees). */
static uint8_t *roundtrip(chunk_encoder *e, const batch *b, int c, size_t from, size_t to,
                          size_t *len_out)
{
	const schema_column *sc = &b->schema->cols[c];
	bool subj = c == b->schema->subject;
	chunk_buf out = {0};
	CHECK(chunk_encode(e, b, c, from, to, &out));
	*len_out = out.len;
	size_t n = to - from;
	CHECK(out.len >= T_HDR && out.p[0] == 1 && rd_u32(out.p + 2) == n);
	int want_enc = subj                         ? 5
	               : sc->type == SCHEMA_FLOAT64 ? 2
	               : sc->type == SCHEMA_BOOL    ? 3
	               : sc->type == SCHEMA_STRING  ? 4
	                                            : 1;
	CHECK(out.p[1] == want_enc);
	chunk_column col;
	char err[128];
	bool ok = chunk_decode(out.p, out.len, sc->type, subj, (uint32_t)n, &col, err, sizeof err);
	if (!ok)
		fprintf(stderr, "decode of column %d [%zu,%zu): %s\n", c, from, to, err);
	CHECK(ok);
	if (!ok)
		return out.p;
	CHECK(col.rows == n);
	bool same = true;
	if (subj) {
		CHECK(col.pseudonyms != NULL && col.idx != NULL);
		/* The dictionary: distinct pseudonyms, first-seen order. */
		uint32_t next = 0;
		for (size_t r = 0; r < n; r++) {
			uint32_t k = col.idx[r];
			same &= k < col.ndict && k <= next;
			if (k == next)
				next++;
			same &= memcmp(col.pseudonyms + (size_t)k * PSEUDO,
			               b->pseudonyms[b->cols[c].sub[from + r]], PSEUDO) == 0;
		}
		same &= next == col.ndict;
	} else if (sc->type == SCHEMA_STRING) {
		uint32_t next = 0;
		for (size_t r = 0; r < n; r++) {
			uint32_t k = col.idx[r];
			same &= k < col.ndict && k <= next;
			if (k == next)
				next++;
			const batch_str *v = &b->cols[c].s[from + r];
			same &= col.dict[k].len == v->len &&
			        memcmp(col.dict[k].p, v->p, v->len) == 0;
		}
		same &= next == col.ndict;
		for (uint32_t k = 1; k < col.ndict && k < 50; k++) /* no duplicates */
			same &= !(col.dict[k].len == col.dict[0].len &&
			          memcmp(col.dict[k].p, col.dict[0].p, col.dict[0].len) == 0);
	} else if (sc->type == SCHEMA_FLOAT64) {
		for (size_t r = 0; r < n; r++)
			same &= same_double(col.f[r], b->cols[c].f[from + r]);
	} else {
		for (size_t r = 0; r < n; r++)
			same &= col.i[r] == b->cols[c].i[from + r];
	}
	if (!same)
		fprintf(stderr, "column %d [%zu,%zu): decoded values differ\n", c, from, to);
	CHECK(same);
	chunk_column_free(&col);
	CHECK(col.i == NULL && col.idx == NULL && col.dict == NULL);
	return out.p;
}

static void test_chunk_roundtrip(void)
{
	schema s;
	all_types_schema(&s);
	enum { N = 70000 };
	/* Built as CSV: who cycles over 300 subjects, tag is distinct per row. */
	size_t cap = (size_t)N * 120 + 100;
	char *text = malloc(cap);
	size_t n = (size_t)snprintf(text, cap, "who,at,n,x,ok,tag\n");
	static const char *const ints[] = {"-9223372036854775808",
	                                   "9223372036854775807",
	                                   "0",
	                                   "-1",
	                                   "-9223372036854775808",
	                                   "1",
	                                   "9223372036854775807",
	                                   "-9223372036854775807"};
	for (int r = 0; r < N; r++) {
		char nbuf[32], xbuf[40];
		if (r < 8)
			snprintf(nbuf, sizeof nbuf, "%s", ints[r]);
		else
			snprintf(nbuf, sizeof nbuf, "%" PRId64, (int64_t)(rnd() % 2001) - 1000);
		double x = ((double)(int64_t)(rnd() % 2000001) - 1000000) / 1000.0;
		if (r % 17 == 0)
			x = (double)(rnd() % 1000) * 1e-300;
		snprintf(xbuf, sizeof xbuf, "%.17g", x);
		int64_t at = 1767254400000LL + (int64_t)(rnd() % 200000000) - 100000000;
		if (r % 101 == 0)
			at = -62135596800000LL;
		n += (size_t)snprintf(text + n, cap - n, "u%d,%" PRId64 ",%s,%s,%s,\"t,%d\"\n",
		                      r % 300, at, nbuf, xbuf, rnd() & 1 ? "true" : "0", r);
	}
	batch b;
	char err[256];
	CHECK(parse_text(&b, &s, text, n, err, sizeof err));
	CHECK(b.rows == N && b.npseudonyms == 300);
	if (b.rows != N) {
		batch_free(&b);
		free(text);
		return;
	}
	CHECK(b.cols[2].i[0] == INT64_MIN && b.cols[2].i[1] == INT64_MAX);

	chunk_encoder e = {0};
	static const size_t ranges[][2] = {{0, N},       {0, 1},         {0, 8},     {3, 20},
	                                   {5, 5},       {0, 200},       {100, 400}, {0, 256},
	                                   {0, 257},     {1000, 66536},  {0, 65537}, {N - 1, N},
	                                   {N - 300, N}, {12345, 12346}, {17, 1017}};
	for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
		size_t from = ranges[i][0], to = ranges[i][1];
		for (int c = 0; c < s.ncols; c++) {
			size_t len;
			uint8_t *pt = roundtrip(&e, &b, c, from, to, &len);
			size_t rows = to - from;
			/* Sizes that follow from the layout in chunk.c's header. */
			if (s.cols[c].type == SCHEMA_FLOAT64)
				CHECK(len == T_HDR + rows * 8);
			if (s.cols[c].type == SCHEMA_BOOL)
				CHECK(len == T_HDR + (rows + 7) / 8);
			if (c == 5) { /* tag: every value distinct, "t,<row>" */
				size_t want = T_HDR + varint_len(rows);
				for (size_t r = from; r < to; r++)
					want += 1 + b.cols[5].s[r].len;
				size_t w = rows <= 256 ? 1 : rows <= 65536 ? 2 : 4;
				want += rows * w;
				CHECK(len == want);
			}
			if (c == 0) { /* who: min(rows, 300) distinct pseudonyms */
				size_t nd = rows < 300 ? rows : 300;
				size_t w = nd <= 256 ? 1 : 2;
				CHECK(len == T_HDR + varint_len(nd) + nd * PSEUDO + rows * w);
			}
			free(pt);
		}
	}
	/* Index widths 2 and 4 are really used. */
	{
		size_t l1, l2;
		/* One more dictionary entry (1 + its length), and every index wider. */
		uint8_t *pa = roundtrip(&e, &b, 5, 0, 256, &l1);
		uint8_t *pb = roundtrip(&e, &b, 5, 0, 257, &l2);
		CHECK(l2 - l1 == 1 + b.cols[5].s[256].len + (257 * 2 - 256 * 1));
		free(pa);
		free(pb);
		pa = roundtrip(&e, &b, 5, 0, 65536, &l1);
		pb = roundtrip(&e, &b, 5, 0, 65537, &l2);
		CHECK(l2 - l1 == 1 + b.cols[5].s[65536].len + (65537 * 4 - 65536 * 2));
		free(pa);
		free(pb);
	}

	/* Deterministic: the same rows give the same bytes, with this encoder
	 * (whose tables are warm), another, or after other ranges. */
	for (int c = 0; c < s.ncols; c++) {
		chunk_encoder e2 = {0};
		chunk_buf a = {0}, a2 = {0}, a3 = {0};
		CHECK(chunk_encode(&e, &b, c, 100, 5100, &a));
		CHECK(chunk_encode(&e2, &b, c, 100, 5100, &a2));
		chunk_buf junk = {0};
		CHECK(chunk_encode(&e, &b, c, 0, N, &junk));
		CHECK(chunk_encode(&e, &b, c, 100, 5100, &a3));
		CHECK(a.len == a2.len && a.len == a3.len);
		CHECK(a.len == a2.len && memcmp(a.p, a2.p, a.len) == 0);
		CHECK(a.len == a3.len && memcmp(a.p, a3.p, a.len) == 0);
		/* Appending: out may already hold other columns. */
		size_t before = junk.len;
		CHECK(chunk_encode(&e2, &b, c, 100, 5100, &junk));
		CHECK(junk.len == before + a.len && memcmp(junk.p + before, a.p, a.len) == 0);
		free(a.p);
		free(a2.p);
		free(a3.p);
		free(junk.p);
		chunk_encoder_free(&e2);
	}
	chunk_encoder_free(&e);
	CHECK(e.slots == NULL && e.remap == NULL);
	batch_free(&b);
	free(text);

	/* An INT64 subject and delta extremes through the pb path. */
	Fiducia__V1__Column c2[3];
	schema s2;
	mkcol(&c2[0], "uid", FIDUCIA__V1__COLUMN__TYPE__INT64, FIDUCIA__V1__COLUMN__ROLE__SUBJECT,
	      0, 0);
	mkcol(&c2[1], "v", FIDUCIA__V1__COLUMN__TYPE__INT64, FIDUCIA__V1__COLUMN__ROLE__DIMENSION,
	      0, 0);
	mkcol(&c2[2], "t", FIDUCIA__V1__COLUMN__TYPE__TIMESTAMP,
	      FIDUCIA__V1__COLUMN__ROLE__DIMENSION, 0, 0);
	CHECK(build_schema(&s2, true, c2, 3, err, sizeof err));
	static const char *const n2[3] = {"uid", "v", "t"};
	pbb *p = malloc(sizeof *p);
	pbb_init(p, 3, n2, PB_ROWS);
	static const int64_t vals[PB_ROWS] = {INT64_MAX, INT64_MIN, INT64_MAX, -1,
	                                      INT64_MIN, 0,         1,         INT64_MIN + 1};
	for (size_t r = 0; r < PB_ROWS; r++) {
		c_int(p, r, 0, vals[PB_ROWS - 1 - r]);
		c_int(p, r, 1, vals[r]);
		c_ts(p, r, 2, r & 1 ? -62135596800LL : 253402300799LL, (int32_t)(r * 1000));
	}
	CHECK(batch_parse_pb(&b, &s2, subject_key, &p->m, err, sizeof err));
	CHECK(b.rows == PB_ROWS);
	if (b.rows == PB_ROWS) {
		chunk_encoder e3 = {0};
		for (size_t from = 0; from <= PB_ROWS; from++)
			for (size_t to = from; to <= PB_ROWS; to++)
				for (int c = 0; c < 3; c++) {
					size_t len;
					free(roundtrip(&e3, &b, c, from, to, &len));
				}
		chunk_encoder_free(&e3);
	}
	batch_free(&b);
	free(p);
}

static void test_chunk_seal(void)
{
	schema s;
	example_schema(&s);
	static const char text[] = HDR6 "a,0,Lyon,1,58.59,120\n"
	                                "b,1767254400000,Paris,2,0.1,0\n";
	batch b;
	char err[256];
	CHECK(parse_text(&b, &s, text, sizeof text - 1, err, sizeof err));
	chunk_encoder e = {0};
	chunk_buf pt = {0};
	CHECK(chunk_encode(&e, &b, 2, 0, b.rows, &pt));
	uint8_t dek[CHUNK_KEY_BYTES], dek2[CHUNK_KEY_BYTES];
	uint8_t id[CHUNK_ID_BYTES], id2[CHUNK_ID_BYTES];
	randombytes_buf(dek, sizeof dek);
	randombytes_buf(id, sizeof id);
	memcpy(dek2, dek, sizeof dek);
	dek2[0] ^= 0x80;
	memcpy(id2, id, sizeof id);
	id2[15] ^= 1;
	const char *ds = "ds-0123456789abcdef";
	uint32_t rows = (uint32_t)b.rows;
	size_t n = pt.len + CHUNK_SEAL_OVERHEAD;
	uint8_t *sealed = malloc(n), *sealed2 = malloc(n), *back = malloc(pt.len + 1);
	chunk_seal(dek, ds, id, 2, 3, rows, pt.p, pt.len, sealed);
	CHECK(!bytes_contain(sealed, n, "Lyon", 4));
	CHECK(chunk_open(dek, ds, id, 2, 3, rows, sealed, n, back));
	CHECK(memcmp(back, pt.p, pt.len) == 0);
	chunk_column col;
	CHECK(chunk_decode(back, pt.len, SCHEMA_STRING, false, rows, &col, err, sizeof err));
	if (col.idx)
		CHECK(str_is(col.dict[col.idx[0]], "Lyon") &&
		      str_is(col.dict[col.idx[1]], "Paris"));
	chunk_column_free(&col);
	/* A fresh nonce each time. */
	chunk_seal(dek, ds, id, 2, 3, rows, pt.p, pt.len, sealed2);
	CHECK(memcmp(sealed, sealed2, n) != 0);
	CHECK(chunk_open(dek, ds, id, 2, 3, rows, sealed2, n, back));

	/* Every single-byte change, anywhere, is caught. */
	int opened = 0;
	for (size_t i = 0; i < n; i++)
		for (int bit = 0; bit < 8; bit++) {
			sealed[i] ^= (uint8_t)(1u << bit);
			opened += chunk_open(dek, ds, id, 2, 3, rows, sealed, n, back);
			sealed[i] ^= (uint8_t)(1u << bit);
		}
	CHECK(opened == 0);
	for (size_t i = 0; i < n; i++) {
		sealed[i] ^= 0xff;
		opened += chunk_open(dek, ds, id, 2, 3, rows, sealed, n, back);
		sealed[i] ^= 0xff;
	}
	CHECK(opened == 0);
	CHECK(chunk_open(dek, ds, id, 2, 3, rows, sealed, n, back));

	/* Anywhere else, it does not open. */
	CHECK(!chunk_open(dek, "ds-0123456789abcdee", id, 2, 3, rows, sealed, n, back));
	CHECK(!chunk_open(dek, "ds-0123456789abcde", id, 2, 3, rows, sealed, n, back));
	CHECK(!chunk_open(dek, "", id, 2, 3, rows, sealed, n, back));
	CHECK(!chunk_open(dek, ds, id2, 2, 3, rows, sealed, n, back));
	CHECK(!chunk_open(dek, ds, id, 1, 3, rows, sealed, n, back));
	CHECK(!chunk_open(dek, ds, id, 3, 3, rows, sealed, n, back));
	CHECK(!chunk_open(dek, ds, id, 2 + 256, 3, rows, sealed, n, back));
	CHECK(!chunk_open(dek, ds, id, 2, 2, rows, sealed, n, back));
	CHECK(!chunk_open(dek, ds, id, 2, 4, rows, sealed, n, back));
	CHECK(!chunk_open(dek, ds, id, 2, 3 + (1u << 24), rows, sealed, n, back));
	CHECK(!chunk_open(dek, ds, id, 2, 3, rows + 1, sealed, n, back));
	CHECK(!chunk_open(dek, ds, id, 2, 3, rows - 1, sealed, n, back));
	CHECK(!chunk_open(dek, ds, id, 2, 3, rows + (1u << 16), sealed, n, back));
	CHECK(!chunk_open(dek2, ds, id, 2, 3, rows, sealed, n, back));
	/* Truncated, extended, or too short to hold a nonce and a tag. */
	CHECK(!chunk_open(dek, ds, id, 2, 3, rows, sealed, n - 1, back));
	CHECK(!chunk_open(dek, ds, id, 2, 3, rows, sealed, CHUNK_SEAL_OVERHEAD, back));
	CHECK(!chunk_open(dek, ds, id, 2, 3, rows, sealed, CHUNK_SEAL_OVERHEAD - 1, back));
	CHECK(!chunk_open(dek, ds, id, 2, 3, rows, sealed, 0, back));
	uint8_t *longer = malloc(n + 1);
	memcpy(longer, sealed, n);
	longer[n] = 0;
	CHECK(!chunk_open(dek, ds, id, 2, 3, rows, longer, n + 1, back));
	free(longer);
	/* Another chunk's ciphertext under this one's name. */
	CHECK(!chunk_open(dek, ds, id2, 2, 3, rows, sealed2, n, back));

	/* An empty plaintext seals and opens too. */
	uint8_t empty_sealed[CHUNK_SEAL_OVERHEAD], nothing[1];
	chunk_seal(dek, ds, id, 0, 1, 0, NULL, 0, empty_sealed);
	CHECK(chunk_open(dek, ds, id, 0, 1, 0, empty_sealed, sizeof empty_sealed, nothing));
	CHECK(!chunk_open(dek, ds, id, 0, 1, 1, empty_sealed, sizeof empty_sealed, nothing));

	free(sealed);
	free(sealed2);
	free(back);
	free(pt.p);
	chunk_encoder_free(&e);
	batch_free(&b);
}

/* Every plaintext of the all-types batch's columns: truncated, extended,
 * mislabelled or garbled, chunk_decode fails cleanly or decodes in bounds. */
static void test_chunk_decode_garbage(void)
{
	schema s;
	all_types_schema(&s);
	size_t cap = 300 * 64 + 64;
	char *text = malloc(cap);
	size_t n = (size_t)snprintf(text, cap, "who,at,n,x,ok,tag\n");
	for (int r = 0; r < 300; r++)
		n += (size_t)snprintf(text + n, cap - n, "u%d,%d,%d,%d.5,%d,v%d\n", r % 7, r * 1000,
		                      (r * 7919) % 1000 - 500, r % 900, r & 1, r % 270);
	batch b;
	char err[128];
	CHECK(parse_text(&b, &s, text, n, err, sizeof err));
	if (b.rows != 300) {
		batch_free(&b);
		free(text);
		return;
	}
	chunk_encoder e = {0};
	static const size_t sizes[] = {0, 1, 9, 300};
	for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
		uint32_t rows = (uint32_t)sizes[si];
		for (int c = 0; c < s.ncols; c++) {
			bool subj = c == s.subject;
			schema_type t = s.cols[c].type;
			chunk_buf pt = {0};
			CHECK(chunk_encode(&e, &b, c, 0, rows, &pt));
			chunk_column col;
			CHECK(chunk_decode(pt.p, pt.len, t, subj, rows, &col, err, sizeof err));
			chunk_column_free(&col);
			/* Every strict prefix is refused (each copied to an exact-size
			 * buffer, so that a read past the end is caught by ASan). */
			int accepted = 0;
			for (size_t l = 0; l < pt.len; l++) {
				uint8_t *cut = malloc(l ? l : 1);
				memcpy(cut, pt.p, l);
				err[0] = '\0';
				bool ok =
				        chunk_decode(cut, l, t, subj, rows, &col, err, sizeof err);
				accepted += ok;
				if (!ok)
					CHECK(err[0] != '\0' && col.i == NULL && col.idx == NULL &&
					      col.dict == NULL && col.f == NULL);
				chunk_column_free(&col);
				free(cut);
			}
			CHECK(accepted == 0);
			/* One byte more is refused. */
			uint8_t *more = malloc(pt.len + 1);
			memcpy(more, pt.p, pt.len);
			more[pt.len] = 0;
			CHECK(!chunk_decode(more, pt.len + 1, t, subj, rows, &col, err,
			                    sizeof err));
			chunk_column_free(&col);
			free(more);
			/* Another row count, format, or type. */
			CHECK(!chunk_decode(pt.p, pt.len, t, subj, rows + 1, &col, err,
			                    sizeof err));
			CHECK_CONTAINS(err, "row count");
			if (rows)
				CHECK(!chunk_decode(pt.p, pt.len, t, subj, rows - 1, &col, err,
				                    sizeof err));
			pt.p[0] = 2;
			CHECK(!chunk_decode(pt.p, pt.len, t, subj, rows, &col, err, sizeof err));
			CHECK_CONTAINS(err, "format");
			pt.p[0] = 1;
			for (int ot = SCHEMA_INT64; ot <= SCHEMA_TIMESTAMP; ot++)
				for (int os = 0; os < 2; os++) {
					bool same_enc;
					if (os || subj)
						same_enc = os && subj;
					else
						same_enc =
						        ot == (int)t || ((ot == SCHEMA_INT64 ||
						                          ot == SCHEMA_TIMESTAMP) &&
						                         (t == SCHEMA_INT64 ||
						                          t == SCHEMA_TIMESTAMP));
					bool ok = chunk_decode(pt.p, pt.len, (schema_type)ot, os,
					                       rows, &col, err, sizeof err);
					chunk_column_free(&col);
					CHECK(ok == same_enc);
				}
			/* Out-of-range dictionary indexes. */
			if ((subj || t == SCHEMA_STRING) && rows > 0) {
				chunk_column ok_col;
				CHECK(chunk_decode(pt.p, pt.len, t, subj, rows, &ok_col, err,
				                   sizeof err));
				uint32_t nd = ok_col.ndict;
				chunk_column_free(&ok_col);
				size_t w = nd <= 256 ? 1 : 2;
				uint8_t *last = pt.p + pt.len - w; /* the last row's index */
				uint8_t saved[2];
				memcpy(saved, last, w);
				last[0] = (uint8_t)nd;
				if (w == 2)
					last[1] = (uint8_t)(nd >> 8);
				CHECK(!chunk_decode(pt.p, pt.len, t, subj, rows, &col, err,
				                    sizeof err));
				CHECK_CONTAINS(err, "index");
				memcpy(last, saved, w);
				/* A dictionary larger than the row count. */
				uint8_t d0 = pt.p[T_HDR];
				if (rows < 127) {
					pt.p[T_HDR] = (uint8_t)(rows + 1);
					CHECK(!chunk_decode(pt.p, pt.len, t, subj, rows, &col, err,
					                    sizeof err));
					pt.p[T_HDR] = 0;
					CHECK(!chunk_decode(pt.p, pt.len, t, subj, rows, &col, err,
					                    sizeof err));
					pt.p[T_HDR] = d0;
				}
			}
			/* Random corruption: never a crash or a read out of bounds. */
			for (int k = 0; k < 300; k++) {
				uint8_t *g = malloc(pt.len);
				memcpy(g, pt.p, pt.len);
				int flips = 1 + (int)(rnd() % 4);
				for (int f = 0; f < flips; f++) {
					/* Mostly the body; sometimes the header. */
					size_t at = pt.len > T_HDR && rnd() % 8
					                    ? T_HDR + rnd() % (pt.len - T_HDR)
					                    : rnd() % pt.len;
					g[at] ^= (uint8_t)(1 + rnd() % 255);
				}
				if (chunk_decode(g, pt.len, t, subj, rows, &col, err, sizeof err)) {
					bool in = true;
					for (uint32_t r = 0; r < rows && col.idx; r++)
						in &= col.idx[r] < col.ndict;
					for (uint32_t d = 0; d < col.ndict && col.dict; d++)
						in &= (const uint8_t *)col.dict[d].p >= g &&
						      (const uint8_t *)col.dict[d].p +
						                      col.dict[d].len <=
						              g + pt.len;
					CHECK(in);
				}
				chunk_column_free(&col);
				free(g);
			}
			free(pt.p);
		}
	}
	/* Hand-made faults. */
	chunk_column col;
	static const uint8_t bad_varint[] = {1, 1, 1, 0, 0, 0, 0x80, 0x80};
	CHECK(!chunk_decode(bad_varint, sizeof bad_varint, SCHEMA_INT64, false, 1, &col, err,
	                    sizeof err));
	static const uint8_t long_varint[] = {1,    1,    1,    0,    0,    0,    0xff, 0xff,
	                                      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
	CHECK(!chunk_decode(long_varint, sizeof long_varint, SCHEMA_INT64, false, 1, &col, err,
	                    sizeof err));
	static const uint8_t max_varint[] = {1,    1,    1,    0,    0,    0,    0xff, 0xff,
	                                     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	CHECK(chunk_decode(max_varint, sizeof max_varint, SCHEMA_INT64, false, 1, &col, err,
	                   sizeof err));
	CHECK(col.i && col.i[0] == INT64_MIN); /* zigzag of 2^64 - 1 */
	chunk_column_free(&col);
	static const uint8_t str_long[] = {1, 4, 1, 0, 0, 0, 1, 200, 'a', 0};
	CHECK(!chunk_decode(str_long, sizeof str_long, SCHEMA_STRING, false, 1, &col, err,
	                    sizeof err));
	static const uint8_t str_ok[] = {1, 4, 2, 0, 0, 0, 1, 1, 'a', 0, 0};
	CHECK(chunk_decode(str_ok, sizeof str_ok, SCHEMA_STRING, false, 2, &col, err, sizeof err));
	CHECK(col.ndict == 1 && col.idx && col.idx[1] == 0 && str_is(col.dict[0], "a"));
	chunk_column_free(&col);
	static const uint8_t subj_short[] = {1, 5, 1, 0, 0, 0, 1, 0, 0, 0};
	CHECK(!chunk_decode(subj_short, sizeof subj_short, SCHEMA_STRING, true, 1, &col, err,
	                    sizeof err));
	static const uint8_t empty_str[] = {1, 4, 0, 0, 0, 0, 0};
	CHECK(chunk_decode(empty_str, sizeof empty_str, SCHEMA_STRING, false, 0, &col, err,
	                   sizeof err));
	CHECK(col.rows == 0 && col.ndict == 0);
	chunk_column_free(&col);
	CHECK(!chunk_decode(empty_str, 0, SCHEMA_STRING, false, 0, &col, err, sizeof err));
	chunk_encoder_free(&e);
	batch_free(&b);
	free(text);
}

/* ---- vault ------------------------------------------------------------ */

static void test_vault(void)
{
	uint8_t kek[VAULT_KEY_BYTES], kek2[VAULT_KEY_BYTES], key[VAULT_KEY_BYTES],
	        back[VAULT_KEY_BYTES];
	uint8_t w[VAULT_WRAPPED_BYTES], w2[VAULT_WRAPPED_BYTES];
	randombytes_buf(kek, sizeof kek);
	randombytes_buf(key, sizeof key);
	memcpy(kek2, kek, sizeof kek);
	kek2[7] ^= 4;
	CHECK(VAULT_WRAPPED_BYTES == 72);

	vault_wrap(kek, "ds-0000000000000001", "dek", 1, key, w);
	CHECK(!bytes_contain(w, sizeof w, key, sizeof key));
	memset(back, 0, sizeof back);
	CHECK(vault_unwrap(kek, "ds-0000000000000001", "dek", 1, w, sizeof w, back));
	CHECK(memcmp(back, key, sizeof key) == 0);
	vault_wrap(kek, "ds-0000000000000001", "dek", 1, key, w2);
	CHECK(memcmp(w, w2, sizeof w) != 0); /* a fresh nonce */
	CHECK(vault_unwrap(kek, "ds-0000000000000001", "dek", 1, w2, sizeof w2, back));

	CHECK(!vault_unwrap(kek, "ds-0000000000000002", "dek", 1, w, sizeof w, back));
	CHECK(!vault_unwrap(kek, "ds-000000000000000", "dek", 1, w, sizeof w, back));
	CHECK(!vault_unwrap(kek, "ds-0000000000000001", "subject", 1, w, sizeof w, back));
	CHECK(!vault_unwrap(kek, "ds-0000000000000001", "dek", 2, w, sizeof w, back));
	CHECK(!vault_unwrap(kek, "ds-0000000000000001", "dek", 0, w, sizeof w, back));
	CHECK(!vault_unwrap(kek, "ds-0000000000000001", "dek", -1, w, sizeof w, back));
	CHECK(!vault_unwrap(kek2, "ds-0000000000000001", "dek", 1, w, sizeof w, back));
	CHECK(!vault_unwrap(kek, "ds-0000000000000001", "dek", 1, w, sizeof w - 1, back));
	CHECK(!vault_unwrap(kek, "ds-0000000000000001", "dek", 1, w, 0, back));
	int opened = 0;
	for (size_t i = 0; i < sizeof w; i++) {
		w[i] ^= 0x10;
		opened += vault_unwrap(kek, "ds-0000000000000001", "dek", 1, w, sizeof w, back);
		w[i] ^= 0x10;
	}
	CHECK(opened == 0);
	CHECK(vault_unwrap(kek, "ds-0000000000000001", "dek", 1, w, sizeof w, back));
	CHECK(memcmp(back, key, sizeof key) == 0);

	char id1[VAULT_KEK_ID_LEN + 1], id1b[VAULT_KEK_ID_LEN + 1], id2[VAULT_KEK_ID_LEN + 1];
	memset(id1, 'X', sizeof id1);
	vault_kek_id(kek, id1);
	vault_kek_id(kek, id1b);
	vault_kek_id(kek2, id2);
	CHECK(strlen(id1) == 16);
	CHECK(strspn(id1, "0123456789abcdef") == 16);
	CHECK_STR_EQ(id1, id1b);
	CHECK(strcmp(id1, id2) != 0);
	/* The id reveals nothing of the KEK that a prefix would. */
	char kekhex[2 * VAULT_KEY_BYTES + 1];
	sodium_bin2hex(kekhex, sizeof kekhex, kek, sizeof kek);
	CHECK(strncmp(kekhex, id1, 16) != 0);

	vault_keys *k = vault_keys_new();
	CHECK(k != NULL);
	if (k) {
		static const uint8_t zero[VAULT_KEY_BYTES];
		CHECK(memcmp(k->dek, zero, sizeof zero) == 0 &&
		      memcmp(k->subject, zero, sizeof zero) == 0 && k->dek_version == 0);
		CHECK(vault_unwrap(kek, "ds-0000000000000001", "dek", 1, w, sizeof w, k->dek));
		CHECK(memcmp(k->dek, key, sizeof key) == 0);
		vault_keys_free(k);
	}
	vault_keys_free(NULL);
}

static void setup(void)
{
	if (sodium_init() < 0)
		abort();
	for (int i = 0; i < 32; i++)
		subject_key[i] = (uint8_t)(0x40 + i);
}

static void test_setup(void)
{
	setup();
	CHECK(sodium_init() == 1); /* already initialised */
}

TEST_MAIN(TU_CASE(test_setup), TU_CASE(test_schema_example), TU_CASE(test_schema_rejections),
          TU_CASE(test_parse_int64), TU_CASE(test_parse_float64), TU_CASE(test_parse_timestamp),
          TU_CASE(test_parse_bool), TU_CASE(test_csv_good), TU_CASE(test_csv_errors),
          TU_CASE(test_pseudonyms), TU_CASE(test_pseudonym_cache), TU_CASE(test_pb),
          TU_CASE(test_chunk_roundtrip), TU_CASE(test_chunk_seal),
          TU_CASE(test_chunk_decode_garbage), TU_CASE(test_vault))
