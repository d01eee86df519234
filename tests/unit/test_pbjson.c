/*
 * Unit tests for pbjson: a golden encoding of every field type, decode/encode
 * round trips (exact text and binary packing, over generically filled
 * pseudo-random messages of every registered type), every rejection class,
 * error paths and redaction, and leak freedom of failed decodes (also under OOM).
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"
#include "testtypes.pb-c.h"
#include "testtypes_p2.pb-c.h"
#include "testutil.h"

/* ---- a counting allocator, to prove failed decodes release everything ---- */

typedef struct counting {
	long live;    /* blocks allocated and not yet freed */
	long total;   /* allocations so far */
	long fail_at; /* allocation number that fails (-1: none) */
} counting;

static void *count_alloc(void *data, size_t n)
{
	counting *c = data;
	if (c->fail_at >= 0 && c->total >= c->fail_at)
		return NULL;
	c->total++;
	c->live++;
	return malloc(n);
}

static void count_free(void *data, void *p)
{
	counting *c = data;
	if (p)
		c->live--;
	free(p);
}

static ProtobufCAllocator counting_allocator(counting *c)
{
	c->live = c->total = 0;
	c->fail_at = -1;
	return (ProtobufCAllocator){.alloc = count_alloc, .free = count_free, .allocator_data = c};
}

/* Decodes s as desc (counting allocator), re-encodes it; NULL if decoding fails. */
static char *reencode(const ProtobufCMessageDescriptor *desc, const char *s)
{
	counting cnt;
	ProtobufCAllocator a = counting_allocator(&cnt);
	ProtobufCMessage *m = NULL;
	pbjson_error err;
	if (!pbjson_decode(desc, s, strlen(s), &a, &m, &err)) {
		fprintf(stderr, "decode failed: %s (input %s)\n", err.message, s);
		CHECK(m == NULL);
		CHECK(cnt.live == 0);
		return NULL;
	}
	char *out = pbjson_encode(m, NULL);
	protobuf_c_message_free_unpacked(m, &a);
	CHECK(cnt.live == 0);
	return out;
}

/* Expects decoding s as desc to fail with an error containing want; checks
 * that nothing leaked and *out stayed NULL. Returns the error for more checks. */
static pbjson_error expect_reject(const ProtobufCMessageDescriptor *desc, const char *s, size_t len,
                                  const char *want)
{
	counting cnt;
	ProtobufCAllocator a = counting_allocator(&cnt);
	ProtobufCMessage *m = (ProtobufCMessage *)&cnt; /* must be reset to NULL */
	pbjson_error err;
	bool ok = pbjson_decode(desc, s, len, &a, &m, &err);
	CHECK(!ok);
	CHECK(m == NULL);
	CHECK(cnt.live == 0);
	if (ok && m)
		protobuf_c_message_free_unpacked(m, &a);
	CHECK(strlen(err.message) < sizeof err.message);
	CHECK_CONTAINS(err.message, want);
	return err;
}

#define REJECT(json, want)                                                                         \
	expect_reject(&fiducia__test__all_types__descriptor, json, strlen(json), want)

static Fiducia__Test__AllTypes *decode_all(const char *s)
{
	ProtobufCMessage *m = NULL;
	pbjson_error err;
	if (!pbjson_decode(&fiducia__test__all_types__descriptor, s, strlen(s), NULL, &m, &err)) {
		fprintf(stderr, "decode failed: %s (input %s)\n", err.message, s);
		return NULL;
	}
	return (Fiducia__Test__AllTypes *)m;
}

static void free_all(Fiducia__Test__AllTypes *m)
{
	protobuf_c_message_free_unpacked(&m->base, NULL);
}

static bool pack_equal(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t la = protobuf_c_message_get_packed_size(a);
	size_t lb = protobuf_c_message_get_packed_size(b);
	if (la != lb)
		return false;
	uint8_t *pa = malloc(la + 1), *pb = malloc(lb + 1);
	bool eq = pa && pb && protobuf_c_message_pack(a, pa) == la &&
	          protobuf_c_message_pack(b, pb) == lb && memcmp(pa, pb, la) == 0;
	free(pa);
	free(pb);
	return eq;
}

/* ---- golden encoding ---- */

static const char golden_json[] =
        "{\"fInt32\":-42,\"fInt64\":\"-9000000000\",\"fUint32\":4000000000,"
        "\"fUint64\":\"18446744073709551615\",\"fSint32\":-7,"
        "\"fSint64\":\"-9223372036854775808\",\"fFixed32\":7,\"fFixed64\":\"8\","
        "\"fSfixed32\":-9,\"fSfixed64\":\"10\",\"fFloat\":1.5,\"fDouble\":0.1,\"fBool\":true,"
        "\"fString\":\"h\xc3\xa9llo \\\"q\\\"\\n\\u0001\",\"fBytes\":\"AAEC/v8=\",\"kind\":\"TWO\","
        "\"inner\":{\"name\":\"in\",\"n\":3},\"rInt32\":[1,-2],\"rInt64\":[\"3\"],"
        "\"rUint64\":[\"18446744073709551615\"],\"rFloat\":[0.25,\"NaN\",0.1,-0.0],"
        "\"rDouble\":[\"Infinity\",\"-Infinity\",1e+300,5e-324],\"rBool\":[true,false],"
        "\"rString\":[\"a\",\"\"],\"rBytes\":[\"/w==\",\"\"],\"rKind\":[\"ONE\",5],"
        "\"rInner\":[{},{\"name\":\"x\"}],\"choiceInner\":{\"n\":1},"
        "\"ts\":\"2026-01-01T00:00:00Z\"}";

static void test_golden(void)
{
	Fiducia__Test__AllTypes m = FIDUCIA__TEST__ALL_TYPES__INIT;
	Fiducia__Test__Inner inner = FIDUCIA__TEST__INNER__INIT, in0 = FIDUCIA__TEST__INNER__INIT,
	                     in1 = FIDUCIA__TEST__INNER__INIT, ch = FIDUCIA__TEST__INNER__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	uint8_t bytes[] = {0, 1, 2, 0xfe, 0xff}, ff = 0xff;
	int32_t ri32[] = {1, -2};
	int64_t ri64[] = {3};
	uint64_t ru64[] = {UINT64_MAX};
	float rf[] = {0.25f, NAN, 0.1f, -0.0f};
	double rd[] = {INFINITY, -INFINITY, 1e300, 4.9406564584124654e-324};
	protobuf_c_boolean rb[] = {1, 0};
	char *rs[] = {"a", ""};
	ProtobufCBinaryData rby[] = {{1, &ff}, {0, NULL}};
	Fiducia__Test__AllTypes__Kind rk[] = {FIDUCIA__TEST__ALL_TYPES__KIND__ONE, 5};
	Fiducia__Test__Inner *rin[] = {&in0, &in1};

	m.f_int32 = -42;
	m.f_int64 = -9000000000;
	m.f_uint32 = 4000000000u;
	m.f_uint64 = UINT64_MAX;
	m.f_sint32 = -7;
	m.f_sint64 = INT64_MIN;
	m.f_fixed32 = 7;
	m.f_fixed64 = 8;
	m.f_sfixed32 = -9;
	m.f_sfixed64 = 10;
	m.f_float = 1.5f;
	m.f_double = 0.1;
	m.f_bool = 1;
	m.f_string = "h\xc3\xa9llo \"q\"\n\x01";
	m.f_bytes = (ProtobufCBinaryData){sizeof bytes, bytes};
	m.kind = FIDUCIA__TEST__ALL_TYPES__KIND__TWO;
	inner.name = "in";
	inner.n = 3;
	m.inner = &inner;
	m.n_r_int32 = 2;
	m.r_int32 = ri32;
	m.n_r_int64 = 1;
	m.r_int64 = ri64;
	m.n_r_uint64 = 1;
	m.r_uint64 = ru64;
	m.n_r_float = 4;
	m.r_float = rf;
	m.n_r_double = 4;
	m.r_double = rd;
	m.n_r_bool = 2;
	m.r_bool = rb;
	m.n_r_string = 2;
	m.r_string = rs;
	m.n_r_bytes = 2;
	m.r_bytes = rby;
	m.n_r_kind = 2;
	m.r_kind = rk;
	in1.name = "x";
	m.n_r_inner = 2;
	m.r_inner = rin;
	ch.n = 1;
	m.choice_case = FIDUCIA__TEST__ALL_TYPES__CHOICE_CHOICE_INNER;
	m.choice_inner = &ch;
	ts.seconds = 1767225600;
	m.ts = &ts;

	size_t len = 0;
	char *s = pbjson_encode(&m.base, &len);
	CHECK_STR_EQ(s, golden_json);
	CHECK(s && len == strlen(s));

	/* Decoding the golden text gives back the same binary message and text. */
	Fiducia__Test__AllTypes *d = decode_all(golden_json);
	CHECK(d != NULL);
	if (d) {
		CHECK(isnan(d->r_float[1]));
		CHECK(signbit(d->r_float[3]));
		CHECK(pack_equal(&m.base, &d->base));
		char *again = pbjson_encode(&d->base, NULL);
		CHECK_STR_EQ(again, golden_json);
		free(again);
		free_all(d);
	}
	free(s);

	/* An empty message is "{}"; defaults are omitted. */
	Fiducia__Test__AllTypes e = FIDUCIA__TEST__ALL_TYPES__INIT;
	s = pbjson_encode(&e.base, &len);
	CHECK_STR_EQ(s, "{}");
	CHECK(len == 2);
	free(s);
	/* The active oneof member is emitted even when it holds the default. */
	e.choice_case = FIDUCIA__TEST__ALL_TYPES__CHOICE_CHOICE_INNER;
	e.choice_inner = &ch;
	ch.n = 0;
	s = pbjson_encode(&e.base, NULL);
	CHECK_STR_EQ(s, "{\"choiceInner\":{}}");
	free(s);
}

/* Canonical texts decode and re-encode to themselves. */
static void test_text_round_trip(void)
{
	static const char *const texts[] = {
	        "{}",
	        "{\"fInt32\":2147483647,\"fInt64\":\"9223372036854775807\"}",
	        "{\"fInt32\":-2147483648,\"fInt64\":\"-9223372036854775808\"}",
	        "{\"fUint32\":4294967295,\"fUint64\":\"18446744073709551615\"}",
	        "{\"fFloat\":3.4028235e+38,\"fDouble\":1.7976931348623157e+308}",
	        "{\"fFloat\":1e-45,\"fDouble\":-2.2250738585072014e-308}",
	        "{\"fFloat\":0.1,\"fDouble\":0.30000000000000004}",
	        "{\"fFloat\":16777216,\"fDouble\":9007199254740992}",
	        "{\"fFloat\":\"NaN\",\"fDouble\":\"-Infinity\"}",
	        "{\"fString\":\"\\\\ \\\" \\b\\f\\r\\t \\u001f \xf0\x9f\x98\x80 \xe2\x82\xac\"}",
	        "{\"fBytes\":\"AA==\",\"rBytes\":[\"AAE=\",\"AAEC\",\"\"]}",
	        "{\"kind\":\"ONE\",\"rKind\":[\"UNSPECIFIED\",-1,2147483647]}",
	        "{\"kind\":-2147483648}",
	        "{\"inner\":{}}",
	        "{\"choiceStr\":\"\"}",
	        "{\"choiceStr\":\"x\"}",
	        "{\"ts\":\"1970-01-01T00:00:00Z\"}",
	        "{\"ts\":\"0001-01-01T00:00:00Z\"}",
	        "{\"ts\":\"9999-12-31T23:59:59.999999999Z\"}",
	        "{\"ts\":\"2024-02-29T12:34:56.100Z\"}",
	        "{\"ts\":\"1969-12-31T23:59:59.000001Z\"}",
	        "{\"rDouble\":[-0.0,0,1,-1.5]}",
	        "{\"rInner\":[{\"name\":\"\\u0000x\"}]}" /* invalid: checked below */,
	};
	size_t n = sizeof texts / sizeof texts[0];
	for (size_t i = 0; i + 1 < n; i++) {
		char *s = reencode(&fiducia__test__all_types__descriptor, texts[i]);
		CHECK_STR_EQ(s, texts[i]);
		free(s);
	}
	REJECT(texts[n - 1], "malformed JSON");

	/* Proto2 optional fields: presence is kept even for default values. */
	const char *legacy = "{\"optInt32\":0,\"optStr\":\"\",\"optBytes\":\"\",\"optBool\":false,"
	                     "\"child\":{\"optInt32\":-1}}";
	char *s = reencode(&fiducia__test__legacy__descriptor, legacy);
	CHECK_STR_EQ(s, legacy);
	free(s);
	s = reencode(&fiducia__test__legacy__descriptor, "{}");
	CHECK_STR_EQ(s, "{}");
	free(s);
}

/* Non-canonical but accepted inputs, and what they canonicalise to. */
static void test_accepted_forms(void)
{
	static const char *const pairs[][2] = {
	        /* original proto names and lowerCamelCase, nulls as defaults */
	        {"{\"f_int32\":1,\"r_inner\":[{\"name\":\"a\"}],\"choice_str\":\"s\"}",
	         "{\"fInt32\":1,\"rInner\":[{\"name\":\"a\"}],\"choiceStr\":\"s\"}"},
	        {"{\"fInt32\":null,\"inner\":null,\"rInt32\":null,\"kind\":null,\"ts\":null}",
	         "{}"},
	        {"{\"choiceStr\":null,\"choiceInner\":{\"n\":2}}", "{\"choiceInner\":{\"n\":2}}"},
	        /* defaults given explicitly are dropped */
	        {"{\"fInt32\":0,\"fString\":\"\",\"fBytes\":\"\",\"kind\":\"UNSPECIFIED\","
	         "\"rInt32\":[],\"fBool\":false,\"fDouble\":-0.0}",
	         "{}"},
	        /* integers as strings, integral reals and exponents */
	        {"{\"fInt32\":\"-5\",\"fUint32\":1.0,\"fInt64\":-9223372036854775808,"
	         "\"fUint64\":\"1e3\",\"fSint32\":1e2,\"fFixed64\":\"18446744073709551615\"}",
	         "{\"fInt32\":-5,\"fInt64\":\"-9223372036854775808\",\"fUint32\":1,\"fUint64\":"
	         "\"1000\",\"fSint32\":100,\"fFixed64\":\"18446744073709551615\"}"},
	        {"{\"fSfixed64\":\"-0\",\"fSint64\":-0.0,\"fUint64\":9223372036854775807}",
	         "{\"fUint64\":\"9223372036854775807\"}"},
	        /* floats from strings and integers */
	        {"{\"fFloat\":\"1.5\",\"fDouble\":\"Infinity\",\"rFloat\":[\"-Infinity\",2]}",
	         "{\"fFloat\":1.5,\"fDouble\":\"Infinity\",\"rFloat\":[\"-Infinity\",2]}"},
	        /* enums by number */
	        {"{\"kind\":2,\"rKind\":[1.0,7]}", "{\"kind\":\"TWO\",\"rKind\":[\"ONE\",7]}"},
	        /* URL-safe base64, padding optional */
	        {"{\"fBytes\":\"-_8\",\"rBytes\":[\"+/8=\",\"AA\",\"AAE\"]}",
	         "{\"fBytes\":\"+/8=\",\"rBytes\":[\"+/8=\",\"AA==\",\"AAE=\"]}"},
	        /* timestamps with offsets and odd precision */
	        {"{\"ts\":\"2026-01-01T01:30:00+01:30\"}", "{\"ts\":\"2026-01-01T00:00:00Z\"}"},
	        {"{\"ts\":\"2025-12-31t23:00:00.5-01:00\"}",
	         "{\"ts\":\"2026-01-01T00:00:00.500Z\"}"},
	        {"{\"ts\":\"2026-01-01T00:00:00.1234z\"}",
	         "{\"ts\":\"2026-01-01T00:00:00.123400Z\"}"},
	        {"{\"ts\":\"2026-01-01T00:00:00.000000001Z\"}",
	         "{\"ts\":\"2026-01-01T00:00:00.000000001Z\"}"},
	        {"{\"ts\":\"0001-01-01T00:59:00+00:59\"}", "{\"ts\":\"0001-01-01T00:00:00Z\"}"},
	        {"{\"ts\":\"9999-12-31T23:59:59-00:00\"}", "{\"ts\":\"9999-12-31T23:59:59Z\"}"},
	        {" \n{ \"fInt32\" : 3 } \t", "{\"fInt32\":3}"},
	};
	for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		char *s = reencode(&fiducia__test__all_types__descriptor, pairs[i][0]);
		CHECK_STR_EQ(s, pairs[i][1]);
		free(s);
	}

	Fiducia__Test__AllTypes *m = decode_all(
	        "{\"fInt64\":\"-9223372036854775808\",\"fUint64\":\"18446744073709551615\","
	        "\"fSint64\":\"9223372036854775807\",\"fSfixed32\":-2147483648,"
	        "\"fFixed32\":4294967295,\"fDouble\":\"NaN\",\"fFloat\":\"-Infinity\"}");
	CHECK(m != NULL);
	if (m) {
		CHECK(m->f_int64 == INT64_MIN);
		CHECK(m->f_uint64 == UINT64_MAX);
		CHECK(m->f_sint64 == INT64_MAX);
		CHECK(m->f_sfixed32 == INT32_MIN);
		CHECK(m->f_fixed32 == UINT32_MAX);
		CHECK(isnan(m->f_double));
		CHECK(isinf(m->f_float) && m->f_float < 0);
		free_all(m);
	}
	m = decode_all("{\"ts\":\"0001-01-01T00:00:00Z\",\"choiceStr\":\"\",\"fBytes\":\"-_8\"}");
	CHECK(m != NULL);
	if (m) {
		CHECK(m->ts && m->ts->seconds == -62135596800LL && m->ts->nanos == 0);
		CHECK(m->choice_case == FIDUCIA__TEST__ALL_TYPES__CHOICE_CHOICE_STR);
		CHECK(m->choice_str && m->choice_str[0] == '\0');
		CHECK(m->f_bytes.len == 2 && m->f_bytes.data[0] == 0xfb &&
		      m->f_bytes.data[1] == 0xff);
		free_all(m);
	}
	m = decode_all("{\"ts\":\"9999-12-31T23:59:59.999999999Z\"}");
	CHECK(m && m->ts && m->ts->seconds == 253402300799LL && m->ts->nanos == 999999999);
	if (m)
		free_all(m);
	m = decode_all("{\"ts\":\"2026-01-01T00:00:00Z\"}");
	CHECK(m && m->ts && m->ts->seconds == 1767225600);
	if (m)
		free_all(m);

	/* Not NUL-terminated input: only len bytes are read. */
	const char buf[] = "{\"fInt32\":7}garbage";
	ProtobufCMessage *pm = NULL;
	pbjson_error err;
	CHECK(pbjson_decode(&fiducia__test__all_types__descriptor, buf, 12, NULL, &pm, &err));
	CHECK(pm && ((Fiducia__Test__AllTypes *)pm)->f_int32 == 7);
	protobuf_c_message_free_unpacked(pm, NULL);
}

/* Timestamps out of range on the encode side are clamped, nanos normalised. */
static void test_timestamp_encode_edges(void)
{
	static const struct {
		int64_t sec;
		int32_t nanos;
		const char *want;
	} cases[] = {
	        {0, 0, "1970-01-01T00:00:00Z"},
	        {0, 1000000, "1970-01-01T00:00:00.001Z"},
	        {0, 1000, "1970-01-01T00:00:00.000001Z"},
	        {0, 1, "1970-01-01T00:00:00.000000001Z"},
	        {0, 120000000, "1970-01-01T00:00:00.120Z"},
	        {-1, 999999999, "1969-12-31T23:59:59.999999999Z"},
	        {951782400, 0, "2000-02-29T00:00:00Z"},
	        {4107542400, 0, "2100-03-01T00:00:00Z"},
	        {-62135596800LL, 0, "0001-01-01T00:00:00Z"},
	        {253402300799LL, 0, "9999-12-31T23:59:59Z"},
	        {-62135596801LL, 5, "0001-01-01T00:00:00Z"},
	        {INT64_MAX, 0, "9999-12-31T23:59:59.999999999Z"},
	        {INT64_MIN, -1, "0001-01-01T00:00:00Z"},
	        {0, -1, "1969-12-31T23:59:59.999999999Z"},
	        {0, 1500000000, "1970-01-01T00:00:01.500Z"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		Fiducia__Test__AllTypes m = FIDUCIA__TEST__ALL_TYPES__INIT;
		Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
		ts.seconds = cases[i].sec;
		ts.nanos = cases[i].nanos;
		m.ts = &ts;
		char want[96];
		snprintf(want, sizeof want, "{\"ts\":\"%s\"}", cases[i].want);
		char *s = pbjson_encode(&m.base, NULL);
		CHECK_STR_EQ(s, want);
		free(s);
		/* and the text decodes back */
		s = reencode(&fiducia__test__all_types__descriptor, want);
		CHECK_STR_EQ(s, want);
		free(s);
	}
}

static void test_rejections(void)
{
	/* malformed JSON, with the byte offset */
	pbjson_error e = REJECT("{\"fInt32\":}", "malformed JSON at byte ");
	CHECK_CONTAINS(e.message, "at byte 11");
	REJECT("", "malformed JSON at byte 0");
	REJECT("{", "malformed JSON");
	REJECT("{\"a\":1,}", "malformed JSON");
	REJECT("{} {}", "malformed JSON");
	REJECT("{\"fString\":\"\xff\"}", "malformed JSON");
	REJECT("{\"fString\":\"a\\u0000b\"}", "malformed JSON");
	REJECT("{\"fInt64\":99999999999999999999}", "malformed JSON");
	REJECT("{\"fDouble\":1e400}", "malformed JSON");
	/* A known limit: jansson holds JSON integers as int64, so a uint64 above
	 * INT64_MAX must be quoted (as the encoder always does). */
	REJECT("{\"fUint64\":18446744073709551615}", "malformed JSON at byte 31: number too large");
	static const char nul_in_text[] = "{\"fString\":\"a\0b\"}";
	expect_reject(&fiducia__test__all_types__descriptor, nul_in_text, sizeof nul_in_text - 1,
	              "malformed JSON");
	/* duplicate keys, also via the two spellings of one field */
	REJECT("{\"fInt32\":1,\"fInt32\":2}", "duplicate object key");
	REJECT("{\"fInt32\":1,\"f_int32\":2}", "$.f_int32: field given twice");
	/* unknown fields, at any depth */
	REJECT("{\"bogus\":1}", "$.bogus: unknown field");
	REJECT("{\"inner\":{\"name\":\"a\",\"extra\":null}}", "$.inner.extra: unknown field");
	REJECT("{\"FInt32\":1}", "$.FInt32: unknown field");
	REJECT("{\"fint32\":1}", "$.fint32: unknown field");
	/* top level */
	REJECT("[]", "$: top-level value must be an object");
	REJECT("\"x\"", "$: top-level value must be an object");
	REJECT("null", "$: top-level value must be an object");
	REJECT("12", "$: top-level value must be an object");
	/* wrong types */
	REJECT("{\"fString\":5}", "$.fString: expected string");
	REJECT("{\"fBool\":\"true\"}", "$.fBool: expected boolean");
	REJECT("{\"fBool\":1}", "$.fBool: expected boolean");
	REJECT("{\"fInt32\":true}", "$.fInt32: expected integer");
	REJECT("{\"fInt32\":\"\"}", "$.fInt32: expected integer");
	REJECT("{\"fInt32\":\" 1\"}", "$.fInt32: expected integer");
	REJECT("{\"fInt32\":\"0x10\"}", "$.fInt32: expected integer");
	REJECT("{\"fInt32\":1.5}", "$.fInt32: expected integer");
	REJECT("{\"fInt64\":\"1.5\"}", "$.fInt64: expected integer");
	REJECT("{\"fInt64\":{}}", "$.fInt64: expected integer");
	REJECT("{\"fDouble\":\"nan\"}", "$.fDouble: expected double");
	REJECT("{\"fDouble\":\"inf\"}", "$.fDouble: expected double");
	REJECT("{\"fFloat\":[]}", "$.fFloat: expected float");
	REJECT("{\"fBytes\":1}", "$.fBytes: expected base64 string");
	REJECT("{\"inner\":[]}", "$.inner: expected object");
	REJECT("{\"inner\":\"x\"}", "$.inner: expected object");
	REJECT("{\"rInt32\":5}", "$.rInt32: expected array");
	REJECT("{\"rInt32\":{}}", "$.rInt32: expected array");
	REJECT("{\"rInt32\":[1,null]}", "$.rInt32[1]: null is not allowed");
	REJECT("{\"rInner\":[{},{\"n\":\"x\"}]}", "$.rInner[1].n: expected integer");
	REJECT("{\"rString\":[\"a\",\"b\",3]}", "$.rString[2]: expected string");
	REJECT("{\"kind\":true}", "$.kind: expected enum name or number");
	REJECT("{\"ts\":0}", "$.ts: expected RFC 3339 timestamp string");
	REJECT("{\"ts\":{}}", "$.ts: expected RFC 3339 timestamp string");
	/* integer ranges, every width */
	REJECT("{\"fInt32\":2147483648}", "$.fInt32: out of range for int32");
	REJECT("{\"fInt32\":\"-2147483649\"}", "$.fInt32: out of range for int32");
	REJECT("{\"fSint32\":-2147483649}", "$.fSint32: out of range for sint32");
	REJECT("{\"fSfixed32\":2147483648.0}", "$.fSfixed32: out of range for sfixed32");
	REJECT("{\"fUint32\":4294967296}", "$.fUint32: out of range for uint32");
	REJECT("{\"fUint32\":-1}", "$.fUint32: out of range for uint32");
	REJECT("{\"fFixed32\":\"-1\"}", "$.fFixed32: out of range for fixed32");
	REJECT("{\"fInt64\":\"9223372036854775808\"}", "$.fInt64: out of range for int64");
	REJECT("{\"fInt64\":\"-9223372036854775809\"}", "$.fInt64: out of range for int64");
	REJECT("{\"fSint64\":1e19}", "$.fSint64: out of range for sint64");
	REJECT("{\"fSfixed64\":\"-1e19\"}", "$.fSfixed64: out of range for sfixed64");
	REJECT("{\"fUint64\":\"18446744073709551616\"}", "$.fUint64: out of range for uint64");
	REJECT("{\"fUint64\":\"-1\"}", "$.fUint64: out of range for uint64");
	REJECT("{\"fFixed64\":1e20}", "$.fFixed64: out of range for fixed64");
	REJECT("{\"fFixed64\":\"99999999999999999999999\"}",
	       "$.fFixed64: out of range for fixed64");
	REJECT("{\"rInt32\":[0,2147483648]}", "$.rInt32[1]: out of range for int32");
	REJECT("{\"kind\":2147483648}", "$.kind: out of range for enum");
	REJECT("{\"fFloat\":1e39}", "$.fFloat: out of range for float");
	REJECT("{\"fFloat\":\"-3.5e38\"}", "$.fFloat: out of range for float");
	REJECT("{\"fDouble\":\"1e400\"}", "$.fDouble: out of range for double");
	/* enums */
	REJECT("{\"kind\":\"THREE\"}", "$.kind: unknown enum value for fiducia.test.AllTypes.Kind");
	REJECT("{\"kind\":\"one\"}", "unknown enum value for fiducia.test.AllTypes.Kind");
	REJECT("{\"rKind\":[\"ONE\",\"\"]}", "$.rKind[1]: unknown enum value");
	/* base64 */
	REJECT("{\"fBytes\":\"@@@@\"}", "$.fBytes: invalid base64");
	REJECT("{\"fBytes\":\"A\"}", "$.fBytes: invalid base64");
	REJECT("{\"fBytes\":\"AAAAA\"}", "$.fBytes: invalid base64");
	REJECT("{\"fBytes\":\"AA=\"}", "$.fBytes: invalid base64");
	REJECT("{\"fBytes\":\"AAA==\"}", "$.fBytes: invalid base64");
	REJECT("{\"fBytes\":\"AA==AA==\"}", "$.fBytes: invalid base64");
	REJECT("{\"fBytes\":\"AA AA\"}", "$.fBytes: invalid base64");
	REJECT("{\"rBytes\":[\"AA==\",\"====\"]}", "$.rBytes[1]: invalid base64");
	/* oneof */
	REJECT("{\"choiceStr\":\"a\",\"choiceInner\":{}}", "$.choiceInner: another member");
	REJECT("{\"choiceInner\":{\"name\":\"x\"},\"choice_str\":\"\"}", "oneof");
	/* timestamps */
	static const char *const bad_ts[] = {
	        "2026-02-29T00:00:00Z",
	        "2100-02-29T00:00:00Z",
	        "0000-12-31T23:59:59Z",
	        "2026-13-01T00:00:00Z",
	        "2026-00-01T00:00:00Z",
	        "2026-01-32T00:00:00Z",
	        "2026-04-31T00:00:00Z",
	        "2026-01-01T24:00:00Z",
	        "2026-01-01T00:60:00Z",
	        "2026-01-01T23:59:60Z",
	        "2026-01-01 00:00:00Z",
	        "2026-01-01T00:00:00",
	        "2026-01-01T00:00:00.Z",
	        "2026-01-01T00:00:00.1234567890Z",
	        "2026-01-01T00:00:00+1:00",
	        "2026-01-01T00:00:00+24:00",
	        "2026-01-01T00:00:00+01:60",
	        "2026-01-01T00:00:00Z ",
	        "26-01-01T00:00:00Z",
	        "2026-1-01T00:00:00Z",
	        "9999-12-31T23:59:59-01:00",
	        "0001-01-01T00:00:00+00:01",
	        "",
	        "+2026-01-01T00:00:00Z",
	        "2026-01-01T00:00:00ZZ",
	        "2026-01-01T00:00:00+01:00Z",
	};
	for (size_t i = 0; i < sizeof bad_ts / sizeof bad_ts[0]; i++) {
		char json[128];
		snprintf(json, sizeof json, "{\"ts\":\"%s\"}", bad_ts[i]);
		pbjson_error te = REJECT(json, "$.ts: invalid RFC 3339 timestamp");
		if (!strstr(te.message, "invalid RFC 3339"))
			fprintf(stderr, "  (timestamp %s)\n", bad_ts[i]);
	}
}

static void test_depth(void)
{
	/* {"child": ... } nested n objects deep (n = 1 is "{}") */
	char buf[4096];
	for (int n = 1; n <= PBJSON_MAX_DEPTH + 1; n++) {
		size_t p = 0;
		for (int i = 1; i < n; i++)
			p += (size_t)snprintf(buf + p, sizeof buf - p, "{\"child\":");
		p += (size_t)snprintf(buf + p, sizeof buf - p, "{\"v\":%d}", n);
		for (int i = 1; i < n; i++)
			buf[p++] = '}';
		buf[p] = '\0';
		if (n <= PBJSON_MAX_DEPTH) {
			char *s = reencode(&fiducia__test__node__descriptor, buf);
			CHECK_STR_EQ(s, buf);
			free(s);
		} else {
			pbjson_error e = expect_reject(&fiducia__test__node__descriptor, buf,
			                               strlen(buf), "nesting deeper than 32");
			CHECK_CONTAINS(e.message, "$.child.child.");
		}
	}
	/* Arrays count as a level: rInner[] at depth 2, its objects at 3. */
	char *s = reencode(&fiducia__test__all_types__descriptor, "{\"rInner\":[{\"n\":1}]}");
	CHECK_STR_EQ(s, "{\"rInner\":[{\"n\":1}]}");
	free(s);
	/* Very deep raw JSON is refused by the parser itself. */
	size_t deep = 100000;
	char *big = malloc(2 * deep + 16);
	if (big) {
		size_t p = 0;
		big[p++] = '{';
		memcpy(big + p, "\"x\":", 4);
		p += 4;
		for (size_t i = 0; i < deep; i++)
			big[p++] = '[';
		for (size_t i = 0; i < deep; i++)
			big[p++] = ']';
		big[p++] = '}';
		expect_reject(&fiducia__test__all_types__descriptor, big, p, "malformed JSON");
		free(big);
	}
}

/* Error messages name the path and never contain a string value of the input. */
static void test_error_redaction(void)
{
	static const char *const inputs[] = {
	        "{\"fString\":\"S3CRET\",\"kind\":\"S3CRET\"}",
	        "{\"fBytes\":\"S3CRET!\"}",
	        "{\"ts\":\"S3CRET\"}",
	        "{\"fInt32\":\"S3CRET\"}",
	        "{\"fInt64\":\"S3CRET\"}",
	        "{\"fDouble\":\"S3CRET\"}",
	        "{\"inner\":\"S3CRET\"}",
	        "{\"fString\":\"S3CRET",
	        "{\"fString\":\"S3CRET\" x}",
	        "{\"fString\":\"S3CRET\",\"fString\":\"S3CRET\"}",
	        "{\"fString\":\"S3CRET\\q\"}",
	        "{\"fString\":\"S3CRET\\uZZZZ\"}",
	        "{\"fString\":\"S3CRET\\uD800\"}",
	        "{\"fString\":\"S3CRET\n\"}",
	        "{S3CRET:1}",
	        "[\"S3CRET\"]",
	        "S3CRET",
	        "{\"fString\":S3CRET}",
	        "{\"fString\":\"x\",S3CRET}",
	        "{\"fString\":\"x\" \"S3CRET\"}",
	        "{\"rString\":[\"S3CRET\",5]}",
	        "{\"rInner\":[{\"name\":\"S3CRET\",\"n\":\"S3CRET\"}]}",
	};
	for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
		counting cnt;
		ProtobufCAllocator a = counting_allocator(&cnt);
		ProtobufCMessage *m = NULL;
		pbjson_error err;
		bool ok = pbjson_decode(&fiducia__test__all_types__descriptor, inputs[i],
		                        strlen(inputs[i]), &a, &m, &err);
		CHECK(!ok);
		CHECK(cnt.live == 0);
		CHECK(err.message[0] != '\0');
		if (strstr(err.message, "S3CRET") || strstr(err.message, "S3CR"))
			fprintf(stderr, "leaked value in: %s\n", err.message);
		CHECK(strstr(err.message, "S3CR") == NULL);
	}

	/* Unknown keys are shown, but cut to 64 printable characters. */
	char json[512];
	size_t p = (size_t)snprintf(json, sizeof json, "{\"kkk\\u0001");
	for (int i = 0; i < 150; i++)
		json[p++] = 'k';
	snprintf(json + p, sizeof json - p, "\":1}");
	pbjson_error e = REJECT(json, ": unknown field");
	char want[80];
	memset(want, 'k', 64);
	want[3] = '?';
	snprintf(want + 64, sizeof want - 64, ": unknown");
	CHECK_CONTAINS(e.message, "$.kkk?kkkk");
	CHECK_CONTAINS(e.message, want);
	/* Non-ASCII in a key is masked too. */
	REJECT("{\"caf\xc3\xa9\":1}", "$.caf??: unknown field");

	/* An overlong path is elided at the front but keeps the fault. */
	char deep[2048];
	p = 0;
	for (int i = 0; i < 31; i++)
		p += (size_t)snprintf(deep + p, sizeof deep - p, "{\"child\":");
	deep[p++] = '{';
	deep[p++] = '"';
	for (int i = 0; i < 64; i++)
		deep[p++] = (char)('a' + i % 26);
	p += (size_t)snprintf(deep + p, sizeof deep - p, "\":1");
	for (int i = 0; i < 32; i++)
		deep[p++] = '}';
	deep[p] = '\0';
	e = expect_reject(&fiducia__test__node__descriptor, deep, p, "$...");
	CHECK_CONTAINS(e.message,
	               ".child.abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl: "
	               "unknown field");
	CHECK(strlen(e.message) <= 255);
}

/* ---- generic pseudo-random filling through the descriptor ---- */

typedef struct rng {
	uint64_t s;
} rng;

static uint64_t rnd(rng *r)
{
	r->s ^= r->s << 13;
	r->s ^= r->s >> 7;
	r->s ^= r->s << 17;
	return r->s;
}

static char *rand_string(rng *r)
{
	static const char *const pieces[] = {
	        "a",           "Z",    "0", " ", "\"",       "\\",           "\n",
	        "\x01",        "\x7f", "/", "<", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
	        "\xe2\x80\xa8"};
	size_t n = rnd(r) % 7, cap = n * 4 + 1, len = 0;
	char *s = malloc(cap);
	for (size_t i = 0; i < n; i++) {
		const char *pc = pieces[rnd(r) % (sizeof pieces / sizeof pieces[0])];
		size_t l = strlen(pc);
		memcpy(s + len, pc, l);
		len += l;
	}
	s[len] = '\0';
	return s;
}

static uint64_t rand_int_bits(rng *r)
{
	switch (rnd(r) % 6) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return UINT64_MAX; /* -1 */
	case 3:
		return rnd(r) % 1000;
	default:
		return rnd(r);
	}
}

static double rand_double(rng *r)
{
	static const double special[] = {
	        0.0, -0.0, 1.0, 0.1, 1e300, -1e-300, DBL_MAX, DBL_MIN, 4.9406564584124654e-324};
	uint64_t bits;
	double d;
	switch (rnd(r) % 5) {
	case 0:
		return special[rnd(r) % (sizeof special / sizeof special[0])];
	case 1:
		return rnd(r) % 3 == 0 ? NAN : rnd(r) % 2 ? INFINITY : -INFINITY;
	case 2:
		return (double)(int64_t)rnd(r) / 1024.0;
	default:
		bits = rnd(r);
		memcpy(&d, &bits, sizeof d);
		return isnan(d) ? NAN : d; /* only the canonical NaN survives JSON */
	}
}

static float rand_float(rng *r)
{
	static const float special[] = {0.0f,     -0.0f,   1.0f,   0.1f,       FLT_MAX,
	                                -FLT_MAX, FLT_MIN, 1e-45f, 16777217.0f};
	uint32_t bits;
	float f;
	switch (rnd(r) % 5) {
	case 0:
		return special[rnd(r) % (sizeof special / sizeof special[0])];
	case 1:
		return rnd(r) % 3 == 0 ? (float)NAN : rnd(r) % 2 ? INFINITY : -INFINITY;
	case 2:
		return (float)((int32_t)rnd(r) % 100000) / 64.0f;
	default:
		bits = (uint32_t)rnd(r);
		memcpy(&f, &bits, sizeof f);
		return isnan(f) ? (float)NAN : f;
	}
}

static ProtobufCMessage *new_filled(const ProtobufCMessageDescriptor *d, rng *r, int depth);

/* A random value for field f at v; pointers are always non-NULL (malloc'd). */
static void fill_value(const ProtobufCFieldDescriptor *f, void *v, rng *r, int depth)
{
	uint64_t x = rand_int_bits(r);
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		*(uint32_t *)v = rnd(r) % 5 == 0 ? (uint32_t)1 << 31 : (uint32_t)x;
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		*(uint64_t *)v = rnd(r) % 5 == 0 ? (uint64_t)1 << 63 : x;
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		*(float *)v = rand_float(r);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		*(double *)v = rand_double(r);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)v = (protobuf_c_boolean)(rnd(r) % 2);
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		if (rnd(r) % 4 == 0)
			*(int32_t *)v = (int32_t)(uint32_t)x; /* possibly not a known value */
		else
			*(int32_t *)v = ed->values[rnd(r) % ed->n_values].value;
		break;
	}
	case PROTOBUF_C_TYPE_STRING:
		*(char **)v = rand_string(r);
		break;
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *bd = v;
		bd->len = rnd(r) % 7;
		bd->data = NULL;
		if (bd->len) {
			bd->data = malloc(bd->len);
			for (size_t i = 0; i < bd->len; i++)
				bd->data[i] = (uint8_t)rnd(r);
		}
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		*(ProtobufCMessage **)v = new_filled(f->descriptor, r, depth + 1);
		break;
	}
}

static ProtobufCMessage *new_filled(const ProtobufCMessageDescriptor *d, rng *r, int depth)
{
	ProtobufCMessage *m = malloc(d->sizeof_message);
	d->message_init(m);
	if (strcmp(d->name, "google.protobuf.Timestamp") == 0) {
		Google__Protobuf__Timestamp *ts = (Google__Protobuf__Timestamp *)m;
		ts->seconds =
		        -62135596800LL + (int64_t)(rnd(r) % (253402300799ULL + 62135596801ULL));
		switch (rnd(r) % 4) {
		case 0:
			ts->nanos = 0;
			break;
		case 1:
			ts->nanos = (int32_t)(rnd(r) % 1000) * 1000000;
			break;
		case 2:
			ts->nanos = (int32_t)(rnd(r) % 1000000) * 1000;
			break;
		default:
			ts->nanos = (int32_t)(rnd(r) % 1000000000);
		}
		return m;
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		void *v = (char *)m + f->offset;
		void *q = (char *)m + f->quantifier_offset;
		bool is_msg = f->type == PROTOBUF_C_TYPE_MESSAGE;
		if (is_msg && depth >= 3)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = rnd(r) % 4, es = 0;
			if (n == 0)
				continue;
			switch (f->type) {
			case PROTOBUF_C_TYPE_INT64:
			case PROTOBUF_C_TYPE_SINT64:
			case PROTOBUF_C_TYPE_SFIXED64:
			case PROTOBUF_C_TYPE_UINT64:
			case PROTOBUF_C_TYPE_FIXED64:
			case PROTOBUF_C_TYPE_DOUBLE:
				es = 8;
				break;
			case PROTOBUF_C_TYPE_STRING:
			case PROTOBUF_C_TYPE_MESSAGE:
				es = sizeof(void *);
				break;
			case PROTOBUF_C_TYPE_BYTES:
				es = sizeof(ProtobufCBinaryData);
				break;
			default:
				es = 4;
			}
			char *arr = calloc(n, es);
			for (size_t j = 0; j < n; j++)
				fill_value(f, arr + j * es, r, depth);
			*(void **)v = arr;
			*(size_t *)q = n;
		} else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			if (*(uint32_t *)q != 0 || rnd(r) % 3 != 0)
				continue;
			*(uint32_t *)q = f->id;
			fill_value(f, v, r, depth);
		} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
			if (rnd(r) % 2)
				continue;
			fill_value(f, v, r, depth);
			if (f->type != PROTOBUF_C_TYPE_STRING && !is_msg)
				*(protobuf_c_boolean *)q = 1;
		} else {
			if (rnd(r) % 4 == 0)
				continue;
			fill_value(f, v, r, depth);
			/* An empty proto3 string is the shared default, not an allocation. */
			if (f->type == PROTOBUF_C_TYPE_STRING && **(char **)v == '\0') {
				free(*(char **)v);
				*(const char **)v = f->default_value;
			}
		}
	}
	return m;
}

/* JSON round trip of m keeps its binary packing, and re-encoding is stable. */
static void check_binary_round_trip(const ProtobufCMessage *m)
{
	char *j1 = pbjson_encode(m, NULL);
	CHECK(j1 != NULL);
	if (!j1)
		return;
	counting cnt;
	ProtobufCAllocator a = counting_allocator(&cnt);
	ProtobufCMessage *d = NULL;
	pbjson_error err;
	bool ok = pbjson_decode(m->descriptor, j1, strlen(j1), &a, &d, &err);
	CHECK(ok);
	if (!ok) {
		fprintf(stderr, "%s: %s\n  in %s\n", m->descriptor->name, err.message, j1);
		free(j1);
		return;
	}
	bool eq = pack_equal(m, d);
	CHECK(eq);
	char *j2 = pbjson_encode(d, NULL);
	CHECK_STR_EQ(j2, j1);
	if (!eq)
		fprintf(stderr, "%s: packing differs after %s\n", m->descriptor->name, j1);
	protobuf_c_message_free_unpacked(d, &a);
	CHECK(cnt.live == 0);
	free(j1);
	free(j2);
}

static void test_binary_round_trip(void)
{
	const ProtobufCMessageDescriptor *extra[] = {
	        &fiducia__test__all_types__descriptor, &fiducia__test__inner__descriptor,
	        &fiducia__test__legacy__descriptor, &fiducia__test__node__descriptor, NULL};
	int types = 0;
	rng r = {0x9e3779b97f4a7c15ULL};
	for (int pass = 0; pass < 2; pass++) {
		const ProtobufCMessageDescriptor *const *list = pass == 0 ? pb_registry : extra;
		for (size_t i = 0; list[i]; i++) {
			types++;
			for (int iter = 0; iter < 300; iter++) {
				ProtobufCMessage *m = new_filled(list[i], &r, 0);
				check_binary_round_trip(m);
				protobuf_c_message_free_unpacked(m, NULL);
			}
			/* and the empty message */
			ProtobufCMessage *e = malloc(list[i]->sizeof_message);
			list[i]->message_init(e);
			char *s = pbjson_encode(e, NULL);
			CHECK_STR_EQ(s, "{}");
			free(s);
			check_binary_round_trip(e);
			free(e);
		}
	}
	CHECK(types > 4);
	CHECK(pb_registry[0] != NULL);
}

/* Every allocation failure during a decode fails cleanly, leaking nothing. */
static void test_oom(void)
{
	long n_allocs;
	counting cnt;
	ProtobufCAllocator a = counting_allocator(&cnt);
	ProtobufCMessage *m = NULL;
	pbjson_error err;
	CHECK(pbjson_decode(&fiducia__test__all_types__descriptor, golden_json, strlen(golden_json),
	                    &a, &m, &err));
	n_allocs = cnt.total;
	protobuf_c_message_free_unpacked(m, &a);
	CHECK(cnt.live == 0);
	CHECK(n_allocs > 20);
	for (long k = 0; k < n_allocs; k++) {
		a = counting_allocator(&cnt);
		cnt.fail_at = k;
		m = (ProtobufCMessage *)&cnt;
		bool ok = pbjson_decode(&fiducia__test__all_types__descriptor, golden_json,
		                        strlen(golden_json), &a, &m, &err);
		CHECK(!ok);
		CHECK(m == NULL);
		CHECK(cnt.live == 0);
		CHECK_CONTAINS(err.message, "out of memory");
	}
}

/* Clients may skip fields a newer server added; the strict decoder refuses them. */
static void test_lenient_skips_unknown_fields(void)
{
	const char *json = "{\"name\":\"x\",\"addedLater\":{\"a\":[1,2]},\"n\":3}";
	pbjson_error e;
	ProtobufCMessage *m = NULL;
	CHECK(!pbjson_decode(&fiducia__test__inner__descriptor, json, strlen(json), NULL, &m, &e));
	CHECK(m == NULL);
	CHECK_CONTAINS(e.message, "$.addedLater: unknown field");
	CHECK(pbjson_decode_lenient(&fiducia__test__inner__descriptor, json, strlen(json), NULL, &m,
	                            &e));
	Fiducia__Test__Inner *in = (Fiducia__Test__Inner *)m;
	CHECK(in && strcmp(in->name, "x") == 0 && in->n == 3);
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	/* Everything else stays strict. */
	const char *bad = "{\"name\":5,\"addedLater\":1}";
	CHECK(!pbjson_decode_lenient(&fiducia__test__inner__descriptor, bad, strlen(bad), NULL, &m,
	                             &e));
	CHECK_CONTAINS(e.message, "$.name: expected string");

	/* An enum name a newer server added: refused strictly, the default leniently. */
	const char *en = "{\"kind\":\"THREE\",\"fInt32\":7}";
	CHECK(!pbjson_decode(&fiducia__test__all_types__descriptor, en, strlen(en), NULL, &m, &e));
	CHECK_CONTAINS(e.message, "unknown enum value");
	CHECK(pbjson_decode_lenient(&fiducia__test__all_types__descriptor, en, strlen(en), NULL, &m,
	                            &e));
	Fiducia__Test__AllTypes *at = (Fiducia__Test__AllTypes *)m;
	CHECK(at && at->kind == FIDUCIA__TEST__ALL_TYPES__KIND__UNSPECIFIED && at->f_int32 == 7);
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	const char *en2 = "{\"kind\":7.5}";
	CHECK(!pbjson_decode_lenient(&fiducia__test__all_types__descriptor, en2, strlen(en2), NULL,
	                             &m, &e));
}

TEST_MAIN(TU_CASE(test_golden), TU_CASE(test_lenient_skips_unknown_fields),
          TU_CASE(test_text_round_trip), TU_CASE(test_accepted_forms),
          TU_CASE(test_timestamp_encode_edges), TU_CASE(test_rejections), TU_CASE(test_depth),
          TU_CASE(test_error_redaction), TU_CASE(test_binary_round_trip), TU_CASE(test_oom))
