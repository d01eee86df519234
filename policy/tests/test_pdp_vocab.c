/*
 * Unit tests of the purpose vocabulary: policy/purposes.json loads, its hierarchy answers
 * isA (a child satisfies its ancestors, never the reverse), the DPV and DGA purposes the
 * examples rely on are present, and every load error names its pointer and rule.
 */
#include "pdp_testlib.h"

static void test_real_vocabulary_loads(void)
{
	pdp_vocab *v = pt_vocab();
	CHECK(pdp_vocab_size(v) >= 30);
	static const char *const must[] = {
	        "dpv:PublicBenefit",
	        "dpv:ImproveTransportMobility",
	        "dpv:PublicPolicyMaking",
	        "dpv:ProvideOfficialStatistics",
	        "dpv:CombatClimateChange",
	        "dpv:ImprovePublicServices",
	        "dpv:ImproveHealthcare",
	        "dpv:ScientificResearch",
	        "dpv:ResearchAndDevelopment",
	        "dpv:CommercialPurpose",
	        "dpv:Marketing",
	        "dpv:Advertising",
	        "dpv:PersonalisedAdvertising",
	        "dpv:SellProducts",
	        "fiducia:HousingPolicy",
	        "fiducia:MobilityPlanning",
	};
	for (size_t i = 0; i < sizeof must / sizeof must[0]; i++) {
		int idx = pdp_vocab_find(v, must[i]);
		CHECK(idx >= 0);
		if (idx >= 0) {
			CHECK_STR_EQ(pdp_vocab_id(v, (size_t)idx), must[i]);
			CHECK(pdp_vocab_label(v, (size_t)idx)[0] != '\0');
		}
	}
	CHECK(pdp_vocab_find(v, "dpv:NoSuchPurpose") == -1);
	CHECK(pdp_vocab_find(v, NULL) == -1);
	CHECK(pdp_vocab_id(v, 100000) == NULL);
}

static void test_hierarchy(void)
{
	pdp_vocab *v = pt_vocab();
	int pb = pdp_vocab_find(v, "dpv:PublicBenefit");
	int ppm = pdp_vocab_find(v, "dpv:PublicPolicyMaking");
	int hp = pdp_vocab_find(v, "fiducia:HousingPolicy");
	int hre = pdp_vocab_find(v, "fiducia:HousingRegulationEnforcement");
	int com = pdp_vocab_find(v, "dpv:CommercialPurpose");
	int pad = pdp_vocab_find(v, "dpv:PersonalisedAdvertising");
	int mkt = pdp_vocab_find(v, "dpv:Marketing");

	CHECK(pdp_vocab_is_a(v, hp, hp));
	CHECK(pdp_vocab_is_a(v, hp, ppm));
	CHECK(pdp_vocab_is_a(v, hp, pb));
	CHECK(pdp_vocab_is_a(v, hre, pb));
	CHECK(!pdp_vocab_is_a(v, ppm, hp));
	CHECK(!pdp_vocab_is_a(v, pb, hp));
	CHECK(pdp_vocab_is_a(v, pad, mkt));
	CHECK(pdp_vocab_is_a(v, pad, com));
	CHECK(!pdp_vocab_is_a(v, pad, pb));
	CHECK(!pdp_vocab_is_a(v, hp, com));
	CHECK(pdp_vocab_parent(v, (size_t)hp) == ppm);
	CHECK(pdp_vocab_parent(v, (size_t)pdp_vocab_find(v, "dpv:Purpose")) == -1);
	CHECK(!pdp_vocab_is_a(v, hp, -1));
}

/* Every purpose is a dpv: term or a fiducia: refinement, and every root-to-leaf chain
 * starts at dpv:Purpose. */
static void test_ids_and_roots(void)
{
	pdp_vocab *v = pt_vocab();
	int root = pdp_vocab_find(v, "dpv:Purpose");
	for (size_t i = 0; i < pdp_vocab_size(v); i++) {
		const char *id = pdp_vocab_id(v, i);
		CHECK(strncmp(id, "dpv:", 4) == 0 || strncmp(id, "fiducia:", 8) == 0);
		CHECK(pdp_vocab_is_a(v, (int)i, root));
	}
}

static const struct {
	const char *json, *pointer, *message;
} vocab_errors[] = {
        {"{", "", "invalid JSON at line 1, column 1"},
        {"[]", "/purposes", "vocabulary must be an object with a purposes array"},
        {"{'purposes':{}}", "/purposes", "vocabulary must be an object with a purposes array"},
        {"{'purposes':[]}", "/purposes", "a vocabulary has 1 to 256 purposes"},
        {"{'purposes':[1]}", "/purposes/0", "purpose entry must be an object"},
        {"{'purposes':[{'id':'dpv:A','label':'A','x':1}]}", "/purposes/0",
         "unknown member in purpose entry"},
        {"{'purposes':[{'id':'A','label':'A'}]}", "/purposes/0/id",
         "purpose id must be prefix:Name of at most 63 characters"},
        {"{'purposes':[{'id':'dpv:A b','label':'A'}]}", "/purposes/0/id",
         "purpose id must be prefix:Name of at most 63 characters"},
        {"{'purposes':[{'id':'dpv:A','label':'A'},{'id':'dpv:A','label':'B'}]}", "/purposes/1/id",
         "duplicate purpose id"},
        {"{'purposes':[{'id':'dpv:A','label':''}]}", "/purposes/0/label",
         "label must be a string of 1 to 127 bytes"},
        {"{'purposes':[{'id':'dpv:A','label':'A','parent':'dpv:B'},{'id':'dpv:B','label':'B'}]}",
         "/purposes/0/parent", "parent must be a purpose listed earlier"},
        {"{'purposes':[{'id':'dpv:A','label':'A','parent':3}]}", "/purposes/0/parent",
         "parent must be a purpose id or null"},
};

static void test_vocab_errors(void)
{
	for (size_t i = 0; i < sizeof vocab_errors / sizeof vocab_errors[0]; i++) {
		char *j = pt_dq(vocab_errors[i].json);
		pdp_error err;
		pdp_vocab *v = pdp_vocab_load(j, strlen(j), &err);
		CHECK(v == NULL);
		CHECK_STR_EQ(err.pointer, vocab_errors[i].pointer);
		CHECK(strncmp(err.message, vocab_errors[i].message,
		              strlen(vocab_errors[i].message)) == 0);
		if (strncmp(err.message, vocab_errors[i].message, strlen(vocab_errors[i].message)))
			fprintf(stderr, "  case %zu: got \"%s\"\n", i, err.message);
		pdp_vocab_free(v);
		free(j);
	}
	pdp_error err;
	CHECK(pdp_vocab_load(NULL, 0, &err) == NULL);
	CHECK_STR_EQ(err.message, "no vocabulary document");
}

/* A small vocabulary with a root and two children, built from scratch. */
static void test_small_vocabulary(void)
{
	char *j = pt_dq("{'purposes':[{'id':'x:Root','label':'R','parent':null},"
	                "{'id':'x:A','label':'A','parent':'x:Root'},"
	                "{'id':'x:B','label':'B','parent':'x:Root'},"
	                "{'id':'x:A1','label':'A1','parent':'x:A'}]}");
	pdp_error err;
	pdp_vocab *v = pdp_vocab_load(j, strlen(j), &err);
	CHECK(v != NULL);
	if (v) {
		CHECK(pdp_vocab_size(v) == 4);
		CHECK(pdp_vocab_is_a(v, 3, 1));
		CHECK(pdp_vocab_is_a(v, 3, 0));
		CHECK(!pdp_vocab_is_a(v, 3, 2));
		CHECK(!pdp_vocab_is_a(v, 1, 3));
	}
	pdp_vocab_free(v);
	free(j);
}

static void test_parsers(void)
{
	int64_t t;
	pdp_period p;
	CHECK(pdp_datetime_parse("1970-01-01T00:00:00Z", &t) && t == 0);
	CHECK(pdp_datetime_parse("2026-06-15T12:00:00Z", &t) && t == 1781524800);
	CHECK(pdp_datetime_parse("2026-06-15T14:00:00+02:00", &t) && t == 1781524800);
	CHECK(pdp_datetime_parse("2026-06-15T10:30:00-01:30", &t) && t == 1781524800);
	CHECK(pdp_datetime_parse("2024-02-29T00:00:00Z", &t));
	CHECK(!pdp_datetime_parse("2025-02-29T00:00:00Z", &t));
	CHECK(!pdp_datetime_parse("2026-06-15T12:00:00", &t));
	CHECK(!pdp_datetime_parse("2026-06-15T12:00:00.5Z", &t));
	CHECK(!pdp_datetime_parse("2026-06-15 12:00:00Z", &t));
	CHECK(!pdp_datetime_parse("2026-13-01T00:00:00Z", &t));
	CHECK(!pdp_datetime_parse("2026-06-15T24:00:00Z", &t));
	CHECK(pdp_period_parse("P1D", &p) && p.unit == PDP_PERIOD_DAY && p.count == 1 &&
	      p.seconds == 86400);
	CHECK(pdp_period_parse("P3M", &p) && p.unit == PDP_PERIOD_MONTH && p.count == 3);
	CHECK(pdp_period_parse("P2W", &p) && p.seconds == 2 * 604800);
	CHECK(pdp_period_parse("P1Y", &p) && p.unit == PDP_PERIOD_YEAR);
	CHECK(pdp_period_parse("PT12H", &p) && p.unit == PDP_PERIOD_HOUR && p.count == 12);
	CHECK(!pdp_period_parse("P1M2D", &p));
	CHECK(!pdp_period_parse("P0D", &p));
	CHECK(!pdp_period_parse("PT1M", &p));
	CHECK(!pdp_period_parse("P1H", &p));
	CHECK(!pdp_period_parse("1D", &p));
	CHECK(!pdp_period_parse("P", &p));
	CHECK(!pdp_period_parse("P1234567D", &p));
	pdp_kind k;
	pdp_granularity g;
	pdp_role r;
	pdp_action a;
	pdp_agg ag;
	CHECK(pdp_kind_parse("PUBLIC_AUTHORITY", &k) && k == PDP_KIND_PUBLIC_AUTHORITY);
	CHECK(!pdp_kind_parse("KIND_UNSPECIFIED", &k));
	CHECK(pdp_granularity_parse("MONTH", &g) && g == PDP_GRAN_MONTH);
	CHECK(!pdp_granularity_parse("NONE", &g));
	CHECK(pdp_role_parse("user", &r) && r == PDP_ROLE_USER);
	CHECK(pdp_action_parse("read", &a) && a == PDP_ACTION_READ);
	CHECK(!pdp_action_parse("other", &a));
	CHECK(pdp_agg_parse("AVG", &ag) && ag == PDP_AGG_AVG);
	CHECK_STR_EQ(pdp_kind_name((pdp_kind)99), "?");
	CHECK_STR_EQ(pdp_granularity_name(PDP_GRAN_DAY), "DAY");
	CHECK_STR_EQ(pdp_effect_name(PDP_PERMIT), "PERMIT");
	CHECK_STR_EQ(pdp_scope_name(PDP_SCOPE_DATASET), "dataset");
}

TEST_MAIN(TU_CASE(test_real_vocabulary_loads), TU_CASE(test_hierarchy), TU_CASE(test_ids_and_roots),
          TU_CASE(test_vocab_errors), TU_CASE(test_small_vocabulary), TU_CASE(test_parsers))
