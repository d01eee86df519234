/*
 * Table-driven tests of pdp_decide: every operand and operator, prohibition over
 * permission, the baseline AND the dataset policy, strictest-obligation merging, validity at
 * the boundary instant, the purpose hierarchy, recipients and kinds, granularity,
 * dimensions and measures, non-aggregate actions, default deny and withdrawn policies, and
 * the three examples deciding as their descriptions say.
 */
#include "pdp_testlib.h"

/* Rows start from TRAFFIC_OK or STAYS_OK and override some of their fields on purpose. */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Winitializer-overrides"
#else
#pragma GCC diagnostic ignored "-Woverride-init"
#endif

#define C         PT_C
#define DSP       PT_DSP
#define T0        "2026-06-15T12:00:00Z"
#define OPEN_BASE PT_BASE("{'action':'aggregate'}", "")

typedef struct ecase {
	const char *name;
	const char *base;    /* NULL: a baseline that permits everything; "@baseline"; "@none" */
	const char *ds;      /* "@traffic", "@stays", "@none" or a policy targeting ds1 */
	const char *org;     /* NULL: city-lyon; "@null" */
	const char *kind;    /* NULL: PUBLIC_AUTHORITY */
	const char *role;    /* NULL: user */
	const char *action;  /* NULL: aggregate */
	const char *dataset; /* NULL: the dataset policy's target */
	bool personal;
	const char *purpose;  /* "@null" */
	const char *groups;   /* "col:BUCKET,col" */
	const char *measures; /* "FN:col,COUNT:*" */
	const char *filters;  /* "col,col" */
	const char *now;      /* NULL: T0 */
	pdp_effect want;
	const char *reason;  /* a substring of one of the reasons */
	const char *matched; /* the matched rules exactly, e.g. "bP0 dX0 dP0" */
	const char *oblig;   /* the obligations exactly, e.g. "k=10 gran=DAY" */
} ecase;

#define PERMIT PDP_PERMIT
#define DENY   PDP_DENY

/* Requests on the traffic-jams example that its description permits. */
#define TRAFFIC_OK                                                                                 \
	.ds = "@traffic", .purpose = "fiducia:MobilityPlanning",                                   \
	.groups = "road_segment,observed_at:DAY", .measures = "AVG:delay_s,COUNT:*"
#define STAYS_OK                                                                                   \
	.ds = "@stays", .purpose = "fiducia:HousingPolicy", .groups = "district,stay_start:MONTH", \
	.measures = "SUM:nights,COUNT:*"

/* One constraint on every condition operand; the first set holds for the request of its
 * case, the second fails on every one of them. */
#define ALL_CONDITIONS_OK                                                                          \
	"{'leftOperand':'purpose','operator':'isA','rightOperand':'dpv:PublicBenefit'},"           \
	"{'leftOperand':'recipient','operator':'isAnyOf','rightOperand':['city-lyon']},"           \
	"{'leftOperand':'fiducia:recipientKind','operator':'eq','rightOperand':'PUBLIC_AUTHORITY'" \
	"},"                                                                                       \
	"{'leftOperand':'dateTime','operator':'lt','rightOperand':'2030-01-01T00:00:00Z'},"        \
	"{'leftOperand':'fiducia:personalData','operator':'eq','rightOperand':false},"             \
	"{'leftOperand':'fiducia:timeGranularity','operator':'gteq','rightOperand':'DAY'},"        \
	"{'leftOperand':'fiducia:dimensions','operator':'isAnyOf','rightOperand':['ts','a']},"     \
	"{'leftOperand':'fiducia:measures','operator':'isAnyOf','rightOperand':['x']}"
#define ALL_CONDITIONS_FAIL                                                                        \
	"{'leftOperand':'purpose','operator':'isA','rightOperand':'dpv:ImproveHealthcare'},"       \
	"{'leftOperand':'recipient','operator':'isAnyOf','rightOperand':['insee']},"               \
	"{'leftOperand':'fiducia:recipientKind','operator':'eq','rightOperand':'NON_PROFIT'},"     \
	"{'leftOperand':'dateTime','operator':'lt','rightOperand':'2020-01-01T00:00:00Z'},"        \
	"{'leftOperand':'fiducia:personalData','operator':'eq','rightOperand':true},"              \
	"{'leftOperand':'fiducia:timeGranularity','operator':'gteq','rightOperand':'MONTH'},"      \
	"{'leftOperand':'fiducia:dimensions','operator':'isAnyOf','rightOperand':['a']},"          \
	"{'leftOperand':'fiducia:measures','operator':'isAnyOf','rightOperand':['x']}"

static const ecase cases[] = {
        /* --- the examples: traffic-jams ------------------------------------------------ */
        {"traffic: mobility planning by a city, daily buckets", .base = "@baseline", TRAFFIC_OK,
         .want = PERMIT, .matched = "bP0 dP0", .oblig = "k=10 gran=DAY"},
        {"traffic: personal data brings the baseline's DP obligations", .base = "@baseline",
         TRAFFIC_OK, .personal = true, .want = PERMIT, .matched = "bP1 dP0",
         .oblig = "k=10 eq=1 eb=10/P1M gran=DAY cap=100"},
        {"traffic: the permitted purpose itself", .base = "@baseline", TRAFFIC_OK,
         .purpose = "dpv:ImproveTransportMobility", .want = PERMIT},
        {"traffic: public transport planning is a kind of mobility", .base = "@baseline",
         TRAFFIC_OK, .purpose = "fiducia:PublicTransportPlanning", .want = PERMIT},
        {"traffic: hourly buckets are finer than daily", .base = "@baseline", TRAFFIC_OK,
         .groups = "road_segment,observed_at:HOUR", .want = DENY,
         .reason = "time bucket HOUR is finer than DAY allowed by dataset permission 0",
         .matched = "bP0"},
        {"traffic: weekly buckets", .base = "@baseline", TRAFFIC_OK, .groups = "observed_at:WEEK",
         .want = PERMIT},
        {"traffic: monthly buckets", .base = "@baseline", TRAFFIC_OK,
         .groups = "city,observed_at:MONTH", .want = PERMIT},
        {"traffic: no time bucket at all", .base = "@baseline", TRAFFIC_OK, .groups = "city",
         .want = PERMIT, .oblig = "k=10 gran=DAY"},
        {"traffic: marketing is prohibited by the baseline", .base = "@baseline", TRAFFIC_OK,
         .purpose = "dpv:Marketing", .want = DENY,
         .reason = "purpose dpv:Marketing is prohibited by baseline prohibition 0",
         .matched = "bX0 bP0"},
        {"traffic: marketing is not a mobility purpose either", .base = "@baseline", TRAFFIC_OK,
         .purpose = "dpv:Marketing", .want = DENY,
         .reason = "purpose dpv:Marketing is not allowed by dataset permission 0"},
        {"traffic: personalised advertising descends from commercial", .base = "@baseline",
         TRAFFIC_OK, .purpose = "dpv:PersonalisedAdvertising", .want = DENY,
         .reason = "purpose dpv:PersonalisedAdvertising is prohibited by baseline prohibition 0"},
        {"traffic: enforcement is prohibited by the holder though it is mobility",
         .base = "@baseline", TRAFFIC_OK, .purpose = "fiducia:TrafficEnforcement", .want = DENY,
         .reason = "purpose fiducia:TrafficEnforcement is prohibited by dataset prohibition 0",
         .matched = "bP0 dX0 dP0"},
        {"traffic: a parent purpose does not satisfy isA of its child", .base = "@baseline",
         TRAFFIC_OK, .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "purpose dpv:PublicBenefit is not allowed by dataset permission 0"},
        {"traffic: housing policy is not mobility", .base = "@baseline", TRAFFIC_OK,
         .purpose = "fiducia:HousingPolicy", .want = DENY,
         .reason = "purpose fiducia:HousingPolicy is not allowed by dataset permission 0"},
        {"traffic: holders are not public authorities", .base = "@baseline", TRAFFIC_OK,
         .kind = "HOLDER", .want = DENY,
         .reason = "recipient kind HOLDER is not allowed by dataset permission 0"},
        {"traffic: research organisations are not public authorities", .base = "@baseline",
         TRAFFIC_OK, .kind = "RESEARCH_ORGANISATION", .want = DENY,
         .reason = "recipient kind RESEARCH_ORGANISATION is not allowed by dataset permission 0"},
        {"traffic: expired at the boundary instant (lt)", .base = "@baseline", TRAFFIC_OK,
         .now = "2028-01-01T00:00:00Z", .want = DENY,
         .reason = "dataset permission 0 has expired (dateTime lt 2028-01-01T00:00:00Z)"},
        {"traffic: still valid one second before", .base = "@baseline", TRAFFIC_OK,
         .now = "2027-12-31T23:59:59Z", .want = PERMIT},
        {"traffic: driver ids are not a dimension", .base = "@baseline", TRAFFIC_OK,
         .groups = "driver_id,observed_at:DAY", .want = DENY,
         .reason = "group-by column driver_id is not among the dimensions allowed by dataset "
                   "permission 0"},
        {"traffic: filtering on a user id is not allowed", .base = "@baseline", TRAFFIC_OK,
         .filters = "user_id", .want = DENY,
         .reason = "filter column user_id is not among the dimensions allowed by dataset "
                   "permission 0"},
        {"traffic: filtering on a city is", .base = "@baseline", TRAFFIC_OK,
         .filters = "city,road_class", .want = PERMIT},
        {"traffic: trip ids are not a measure", .base = "@baseline", TRAFFIC_OK,
         .measures = "SUM:trip_id", .want = DENY,
         .reason = "measure SUM(trip_id) is not among the measures allowed by dataset "
                   "permission 0"},
        {"traffic: a bare count", .base = "@baseline", TRAFFIC_OK, .measures = "COUNT:*",
         .want = PERMIT},
        {"traffic: read is denied by construction", .base = "@baseline", TRAFFIC_OK,
         .action = "read", .want = DENY,
         .reason = "action read is never permitted: only aggregate can be granted", .matched = ""},
        {"traffic: distribute is denied by construction", .base = "@baseline", TRAFFIC_OK,
         .action = "distribute", .want = DENY, .reason = "action distribute is never permitted"},
        {"traffic: sell is denied by construction", .base = "@baseline", TRAFFIC_OK,
         .action = "sell", .want = DENY, .reason = "action sell is never permitted"},
        {"traffic: other actions are denied by construction", .base = "@baseline", TRAFFIC_OK,
         .action = "other", .want = DENY, .reason = "action other is never permitted"},
        {"traffic: a holder token cannot query", .base = "@baseline", TRAFFIC_OK, .role = "holder",
         .want = DENY, .reason = "role holder cannot be granted aggregate: only data users can"},
        {"traffic: a regulator token cannot query", .base = "@baseline", TRAFFIC_OK,
         .role = "regulator", .want = DENY, .reason = "role regulator cannot be granted"},
        {"traffic: an operator token cannot query", .base = "@baseline", TRAFFIC_OK,
         .role = "operator", .want = DENY, .reason = "role operator cannot be granted"},
        {"withdrawn dataset policy", .base = "@baseline", .ds = "@none",
         .purpose = "fiducia:MobilityPlanning", .dataset = "traffic-jams", .want = DENY,
         .reason = "no dataset policy: the holder has not granted permission or has withdrawn "
                   "it",
         .matched = ""},
        {"no baseline in force", .base = "@none", TRAFFIC_OK, .want = DENY,
         .reason = "no baseline policy is in force"},
        {"neither policy", .base = "@none", .ds = "@none", .purpose = "dpv:PublicBenefit",
         .dataset = "x", .want = DENY, .reason = "no dataset policy"},
        {"traffic: the policy of one dataset does not cover another", .base = "@baseline",
         TRAFFIC_OK, .dataset = "stays", .want = DENY,
         .reason = "the dataset policy does not target dataset stays"},
        {"traffic: a purpose outside the vocabulary", .base = "@baseline", TRAFFIC_OK,
         .purpose = "dpv:Nope", .want = DENY,
         .reason = "purpose dpv:Nope is not in the purpose vocabulary"},
        {"traffic: no purpose", .base = "@baseline", TRAFFIC_OK, .purpose = "@null", .want = DENY,
         .reason = "purpose (none) is not in the purpose vocabulary"},
        /* --- the examples: stays --------------------------------------------------------- */
        {"stays: housing policy, monthly buckets", .base = "@baseline", STAYS_OK, .want = PERMIT,
         .matched = "bP0 dP0", .oblig = "k=20 eq=1 eb=10/P3M gran=MONTH cap=2"},
        {"stays: personal data merges with the baseline's", .base = "@baseline", STAYS_OK,
         .personal = true, .want = PERMIT, .matched = "bP1 dP0",
         .oblig = "k=20 eq=1 eb=10/P3M gran=MONTH cap=2"},
        {"stays: official statistics, yearly", .base = "@baseline", STAYS_OK,
         .purpose = "dpv:ProvideOfficialStatistics", .groups = "city,stay_start:YEAR",
         .want = PERMIT},
        {"stays: daily buckets are too fine", .base = "@baseline", STAYS_OK,
         .groups = "district,stay_start:DAY", .want = DENY,
         .reason = "time bucket DAY is finer than MONTH allowed by dataset permission 0"},
        {"stays: weekly buckets are too fine", .base = "@baseline", STAYS_OK,
         .groups = "stay_start:WEEK", .want = DENY,
         .reason = "time bucket WEEK is finer than MONTH"},
        {"stays: host controls are prohibited though they are housing policy", .base = "@baseline",
         STAYS_OK, .purpose = "fiducia:HousingRegulationEnforcement", .want = DENY,
         .reason = "purpose fiducia:HousingRegulationEnforcement is prohibited by dataset "
                   "prohibition 0",
         .matched = "bP0 dX0 dP0"},
        {"stays: mobility is not among the purposes", .base = "@baseline", STAYS_OK,
         .purpose = "fiducia:MobilityPlanning", .want = DENY,
         .reason = "purpose fiducia:MobilityPlanning is not allowed by dataset permission 0"},
        {"stays: public policy making is broader than housing policy", .base = "@baseline",
         STAYS_OK, .purpose = "dpv:PublicPolicyMaking", .want = DENY,
         .reason = "purpose dpv:PublicPolicyMaking is not allowed by dataset permission 0"},
        {"stays: selling insights is commercial", .base = "@baseline", STAYS_OK,
         .purpose = "dpv:SellInsightsFromData", .want = DENY,
         .reason = "purpose dpv:SellInsightsFromData is prohibited by baseline prohibition 0"},
        {"stays: average price per district", .base = "@baseline", STAYS_OK,
         .measures = "AVG:price_eur", .want = PERMIT},
        {"stays: host ids are not a measure", .base = "@baseline", STAYS_OK,
         .measures = "MAX:host_id", .want = DENY, .reason = "measure MAX(host_id) is not among"},
        {"stays: listing type by month", .base = "@baseline", STAYS_OK,
         .groups = "listing_type,stay_start:MONTH", .want = PERMIT},
        {"stays: non-profits are not public authorities", .base = "@baseline", STAYS_OK,
         .kind = "NON_PROFIT", .want = DENY,
         .reason = "recipient kind NON_PROFIT is not allowed by dataset permission 0"},
        /* --- purpose: isA -------------------------------------------------------------- */
        {"isA: a child satisfies its parent", .ds = DSP(C("purpose", "isA", "'dpv:PublicBenefit'")),
         .purpose = "dpv:ProvideOfficialStatistics", .want = PERMIT, .matched = "bP0 dP0",
         .oblig = ""},
        {"isA: a great-grandchild satisfies its ancestor",
         .ds = DSP(C("purpose", "isA", "'dpv:PublicBenefit'")),
         .purpose = "fiducia:HousingRegulationEnforcement", .want = PERMIT},
        {"isA: equal purposes", .ds = DSP(C("purpose", "isA", "'fiducia:HousingPolicy'")),
         .purpose = "fiducia:HousingPolicy", .want = PERMIT},
        {"isA: a parent never satisfies its child",
         .ds = DSP(C("purpose", "isA", "'fiducia:HousingPolicy'")),
         .purpose = "dpv:PublicPolicyMaking", .want = DENY,
         .reason = "purpose dpv:PublicPolicyMaking is not allowed by dataset permission 0"},
        {"isA: nor a grandparent", .ds = DSP(C("purpose", "isA", "'fiducia:HousingPolicy'")),
         .purpose = "dpv:PublicBenefit", .want = DENY},
        {"isA: nor a sibling", .ds = DSP(C("purpose", "isA", "'fiducia:HousingPolicy'")),
         .purpose = "fiducia:UrbanPlanning", .want = DENY},
        {"isA: nor a cousin", .ds = DSP(C("purpose", "isA", "'dpv:ImproveTransportMobility'")),
         .purpose = "fiducia:EmissionsMonitoring", .want = DENY},
        /* --- purpose: isAnyOf -------------------------------------------------------------- */
        {"isAnyOf: one of the listed",
         .ds = DSP(C("purpose", "isAnyOf", "['fiducia:UrbanPlanning','dpv:ImproveHealthcare']")),
         .purpose = "dpv:ImproveHealthcare", .want = PERMIT},
        {"isAnyOf: none of the listed",
         .ds = DSP(C("purpose", "isAnyOf", "['fiducia:UrbanPlanning','dpv:ImproveHealthcare']")),
         .purpose = "fiducia:TourismPolicy", .want = DENY,
         .reason = "purpose fiducia:TourismPolicy is not allowed by dataset permission 0"},
        {"isAnyOf: a child of a listed purpose",
         .ds = DSP(C("purpose", "isAnyOf", "['dpv:PublicPolicyMaking']")),
         .purpose = "fiducia:HousingPolicy", .want = PERMIT},
        {"isAnyOf: never the parent of a listed purpose",
         .ds = DSP(C("purpose", "isAnyOf", "['fiducia:HousingPolicy']")),
         .purpose = "dpv:PublicPolicyMaking", .want = DENY},
        /* --- recipient ------------------------------------------------------------------ */
        {"recipient eq: the named org", .ds = DSP(C("recipient", "eq", "'city-lyon'")),
         .purpose = "dpv:PublicBenefit", .want = PERMIT},
        {"recipient eq: another org", .ds = DSP(C("recipient", "eq", "'city-lyon'")),
         .org = "city-paris", .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "recipient city-paris is not allowed by dataset permission 0"},
        {"recipient isAnyOf: listed", .ds = DSP(C("recipient", "isAnyOf", "['city-lyon','insee']")),
         .org = "insee", .purpose = "dpv:PublicBenefit", .want = PERMIT},
        {"recipient isAnyOf: not listed",
         .ds = DSP(C("recipient", "isAnyOf", "['city-lyon','insee']")), .org = "city-nice",
         .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "recipient city-nice is not allowed"},
        {"recipient: a request without an org", .ds = DSP(C("recipient", "eq", "'city-lyon'")),
         .org = "@null", .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "recipient (none) is not allowed by dataset permission 0"},
        {"recipient: ids compare exactly", .ds = DSP(C("recipient", "eq", "'city-lyon'")),
         .org = "city-lyon-2", .purpose = "dpv:PublicBenefit", .want = DENY},
        /* --- fiducia:recipientKind ---------------------------------------------------------- */
        {"kind eq: matching",
         .ds = DSP(C("fiducia:recipientKind", "eq", "'RESEARCH_ORGANISATION'")),
         .kind = "RESEARCH_ORGANISATION", .purpose = "dpv:ScientificResearch", .want = PERMIT},
        {"kind eq: not matching", .ds = DSP(C("fiducia:recipientKind", "eq", "'PUBLIC_AUTHORITY'")),
         .kind = "COMMERCIAL", .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "recipient kind COMMERCIAL is not allowed by dataset permission 0"},
        {"kind isAnyOf: listed",
         .ds = DSP(C("fiducia:recipientKind", "isAnyOf", "['PUBLIC_AUTHORITY','NON_PROFIT']")),
         .kind = "NON_PROFIT", .purpose = "dpv:PublicBenefit", .want = PERMIT},
        {"kind isAnyOf: not listed",
         .ds = DSP(C("fiducia:recipientKind", "isAnyOf", "['PUBLIC_AUTHORITY','NON_PROFIT']")),
         .kind = "COMMERCIAL", .purpose = "dpv:PublicBenefit", .want = DENY},
        {"kind: unspecified never matches",
         .ds = DSP(C("fiducia:recipientKind", "isAnyOf", "['PUBLIC_AUTHORITY','NON_PROFIT']")),
         .kind = "KIND_UNSPECIFIED", .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "recipient kind KIND_UNSPECIFIED is not allowed"},
        {"kind: out of range never matches",
         .ds = DSP(C("fiducia:recipientKind", "eq", "'PUBLIC_AUTHORITY'")), .kind = "99",
         .purpose = "dpv:PublicBenefit", .want = DENY, .reason = "recipient kind ? is not"},
        /* --- dateTime at the boundary instant ----------------------------------------------- */
        {"dateTime lt: denied at the instant", .ds = DSP(C("dateTime", "lt", "'" T0 "'")),
         .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "dataset permission 0 has expired (dateTime lt 2026-06-15T12:00:00Z)"},
        {"dateTime lt: permitted a second before", .ds = DSP(C("dateTime", "lt", "'" T0 "'")),
         .purpose = "dpv:PublicBenefit", .now = "2026-06-15T11:59:59Z", .want = PERMIT},
        {"dateTime lteq: permitted at the instant", .ds = DSP(C("dateTime", "lteq", "'" T0 "'")),
         .purpose = "dpv:PublicBenefit", .want = PERMIT},
        {"dateTime lteq: denied a second after", .ds = DSP(C("dateTime", "lteq", "'" T0 "'")),
         .purpose = "dpv:PublicBenefit", .now = "2026-06-15T12:00:01Z", .want = DENY,
         .reason = "has expired (dateTime lteq 2026-06-15T12:00:00Z)"},
        {"dateTime gt: denied at the instant", .ds = DSP(C("dateTime", "gt", "'" T0 "'")),
         .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "dataset permission 0 is not valid yet (dateTime gt 2026-06-15T12:00:00Z)"},
        {"dateTime gt: permitted a second after", .ds = DSP(C("dateTime", "gt", "'" T0 "'")),
         .purpose = "dpv:PublicBenefit", .now = "2026-06-15T12:00:01Z", .want = PERMIT},
        {"dateTime gteq: permitted at the instant", .ds = DSP(C("dateTime", "gteq", "'" T0 "'")),
         .purpose = "dpv:PublicBenefit", .want = PERMIT},
        {"dateTime gteq: denied a second before", .ds = DSP(C("dateTime", "gteq", "'" T0 "'")),
         .purpose = "dpv:PublicBenefit", .now = "2026-06-15T11:59:59Z", .want = DENY,
         .reason = "is not valid yet (dateTime gteq 2026-06-15T12:00:00Z)"},
        {"dateTime window: inside",
         .ds = DSP(C("dateTime", "gteq", "'2026-01-01T00:00:00Z'") "," C("dateTime", "lt",
                                                                         "'2027-01-01T00:00:00Z'")),
         .purpose = "dpv:PublicBenefit", .want = PERMIT},
        {"dateTime window: at its end",
         .ds = DSP(C("dateTime", "gteq", "'2026-01-01T00:00:00Z'") "," C("dateTime", "lt",
                                                                         "'2027-01-01T00:00:00Z'")),
         .purpose = "dpv:PublicBenefit", .now = "2027-01-01T00:00:00Z", .want = DENY},
        {"dateTime window: the tighter of two upper bounds wins",
         .ds = DSP(C("dateTime", "lt", "'2027-01-01T00:00:00Z'") "," C("dateTime", "lteq",
                                                                       "'2026-06-15T11:00:00Z'")),
         .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "has expired (dateTime lteq 2026-06-15T11:00:00Z)"},
        {"dateTime with an offset: the same instant",
         .ds = DSP(C("dateTime", "lt", "'2026-06-15T14:00:00+02:00'")),
         .purpose = "dpv:PublicBenefit", .want = DENY},
        {"dateTime with an offset: a second before",
         .ds = DSP(C("dateTime", "lt", "'2026-06-15T14:00:00+02:00'")),
         .purpose = "dpv:PublicBenefit", .now = "2026-06-15T11:59:59Z", .want = PERMIT},
        {"dateTime as a typed literal",
         .ds = DSP(C("dateTime", "lteq", "{'@value':'" T0 "','@type':'xsd:dateTime'}")),
         .purpose = "dpv:PublicBenefit", .want = PERMIT},
        /* --- obligations and their merge ---------------------------------------------------- */
        {"minGroupSize alone", .ds = DSP(C("fiducia:minGroupSize", "gteq", "25")),
         .purpose = "dpv:PublicBenefit", .want = PERMIT, .oblig = "k=25"},
        {"minGroupSize: the baseline's larger k wins", .base = "@baseline",
         .ds = DSP(C("fiducia:minGroupSize", "gteq", "5")), .purpose = "dpv:PublicBenefit",
         .want = PERMIT, .oblig = "k=10"},
        {"minGroupSize: the dataset's larger k wins", .base = "@baseline",
         .ds = DSP(C("fiducia:minGroupSize", "gteq", "50")), .purpose = "dpv:PublicBenefit",
         .want = PERMIT, .oblig = "k=50"},
        {"epsilonPerQuery alone", .ds = DSP(C("fiducia:epsilonPerQuery", "lteq", "0.1")),
         .purpose = "dpv:PublicBenefit", .want = PERMIT, .oblig = "eq=0.1"},
        {"epsilonPerQuery: the baseline's smaller epsilon wins", .base = "@baseline",
         .ds = DSP(C("fiducia:epsilonPerQuery", "lteq", "2.0")), .personal = true,
         .purpose = "dpv:PublicBenefit", .want = PERMIT, .oblig = "k=10 eq=1 eb=10/P1M cap=100"},
        {"epsilonPerQuery: the dataset's smaller epsilon wins", .base = "@baseline",
         .ds = DSP(C("fiducia:epsilonPerQuery", "lteq", "0.25")), .personal = true,
         .purpose = "dpv:PublicBenefit", .want = PERMIT, .oblig = "k=10 eq=0.25 eb=10/P1M cap=100"},
        {"epsilonPerQuery: no DP on non-personal data under the baseline", .base = "@baseline",
         .ds = DSP(C("fiducia:minGroupSize", "gteq", "2")), .purpose = "dpv:PublicBenefit",
         .want = PERMIT, .oblig = "k=10"},
        {"epsilonBudget with its period",
         .ds = DSP(C("fiducia:epsilonBudget", "lteq", "3") "," C("fiducia:budgetPeriod", "eq",
                                                                 "'P1D'")),
         .purpose = "dpv:PublicBenefit", .want = PERMIT, .oblig = "eb=3/P1D"},
        {"epsilonBudget: smaller budget, longer period", .base = "@baseline",
         .ds = DSP(C("fiducia:epsilonBudget", "lteq", "20") "," C("fiducia:budgetPeriod", "eq",
                                                                  "'P1Y'")),
         .personal = true, .purpose = "dpv:PublicBenefit", .want = PERMIT,
         .oblig = "k=10 eq=1 eb=10/P1Y cap=100"},
        {"epsilonBudget: the dataset's smaller budget over the baseline's month",
         .base = "@baseline",
         .ds = DSP(C("fiducia:epsilonBudget", "lteq", "3") "," C("fiducia:budgetPeriod", "eq",
                                                                 "'P1W'")),
         .personal = true, .purpose = "dpv:PublicBenefit", .want = PERMIT,
         .oblig = "k=10 eq=1 eb=3/P1M cap=100"},
        {"budgetPeriod in hours",
         .ds = DSP(C("fiducia:epsilonBudget", "lteq", "1") "," C("fiducia:budgetPeriod", "eq",
                                                                 "'PT12H'")),
         .purpose = "dpv:PublicBenefit", .want = PERMIT, .oblig = "eb=1/PT12H"},
        {"maxContributionsPerSubject alone",
         .ds = DSP(C("fiducia:maxContributionsPerSubject", "lteq", "3")),
         .purpose = "dpv:PublicBenefit", .want = PERMIT, .oblig = "cap=3"},
        {"maxContributionsPerSubject: the baseline's smaller cap wins", .base = "@baseline",
         .ds = DSP(C("fiducia:maxContributionsPerSubject", "lteq", "500")), .personal = true,
         .purpose = "dpv:PublicBenefit", .want = PERMIT, .oblig = "k=10 eq=1 eb=10/P1M cap=100"},
        {"two permissions that both apply: the strictest of both",
         .ds = PT_DS(
                 PT_PERM(C("fiducia:minGroupSize", "gteq", "15") "," C(
                         "fiducia:maxContributionsPerSubject", "lteq",
                         "4")) "," PT_PERM(C("fiducia:minGroupSize", "gteq",
                                             "30") "," C("fiducia:epsilonPerQuery", "lteq", "0.3")),
                 ""),
         .purpose = "dpv:PublicBenefit", .want = PERMIT, .matched = "bP0 dP0 dP1",
         .oblig = "k=30 eq=0.3 cap=4"},
        /* --- fiducia:dominanceThreshold (absent: has_dominance false, the server's 0.85) --- */
        {"dominanceThreshold alone", .ds = DSP(C("fiducia:dominanceThreshold", "lteq", "0.6")),
         .purpose = "dpv:PublicBenefit", .measures = "SUM:x", .want = PERMIT, .matched = "bP0 dP0",
         .oblig = "dom=0.6"},
        {"dominanceThreshold of 1 is reported as set",
         .ds = DSP(C("fiducia:dominanceThreshold", "lteq", "1")), .purpose = "dpv:PublicBenefit",
         .want = PERMIT, .oblig = "dom=1"},
        {"dominanceThreshold as a typed literal",
         .ds = DSP(C("fiducia:dominanceThreshold", "lteq", "{'@value':0.7,'@type':'xsd:decimal'}")),
         .purpose = "dpv:PublicBenefit", .want = PERMIT, .oblig = "dom=0.7"},
        {"dominanceThreshold absent: not set", .ds = DSP(C("fiducia:minGroupSize", "gteq", "5")),
         .purpose = "dpv:PublicBenefit", .measures = "SUM:x", .want = PERMIT, .oblig = "k=5"},
        {"dominanceThreshold absent under the example baseline", .base = "@baseline", STAYS_OK,
         .want = PERMIT, .oblig = "k=20 eq=1 eb=10/P3M gran=MONTH cap=2"},
        {"dominanceThreshold: two permissions apply, the second's smaller share wins",
         .ds = PT_DS(PT_PERM(C("fiducia:dominanceThreshold", "lteq", "0.8")) "," PT_PERM(
                             C("fiducia:dominanceThreshold", "lteq", "0.5")),
                     ""),
         .purpose = "dpv:PublicBenefit", .want = PERMIT, .matched = "bP0 dP0 dP1",
         .oblig = "dom=0.5"},
        {"dominanceThreshold: two permissions apply, the first's smaller share wins",
         .ds = PT_DS(PT_PERM(C("fiducia:dominanceThreshold", "lteq", "0.4")) "," PT_PERM(
                             C("fiducia:dominanceThreshold", "lteq", "0.9")),
                     ""),
         .purpose = "dpv:PublicBenefit", .want = PERMIT, .matched = "bP0 dP0 dP1",
         .oblig = "dom=0.4"},
        {"dominanceThreshold: only one of two permissions sets it",
         .ds = PT_DS(PT_PERM(C("fiducia:minGroupSize", "gteq", "7")) "," PT_PERM(
                             C("fiducia:dominanceThreshold", "lteq", "0.75")),
                     ""),
         .purpose = "dpv:PublicBenefit", .want = PERMIT, .matched = "bP0 dP0 dP1",
         .oblig = "k=7 dom=0.75"},
        {"dominanceThreshold: a permission that does not apply sets nothing",
         .ds = PT_DS(PT_PERM(C("fiducia:dominanceThreshold", "lteq", "0.9")) "," PT_PERM(
                             C("purpose", "isA", "'dpv:ImproveHealthcare'") "," C(
                                     "fiducia:dominanceThreshold", "lteq", "0.3")),
                     ""),
         .purpose = "dpv:PublicBenefit", .want = PERMIT, .matched = "bP0 dP0", .oblig = "dom=0.9"},
        {"dominanceThreshold: the baseline's smaller share wins",
         .base = PT_BASE(PT_PERM(C("fiducia:dominanceThreshold", "lteq", "0.5")), ""),
         .ds = DSP(C("fiducia:dominanceThreshold", "lteq", "0.85")), .purpose = "dpv:PublicBenefit",
         .want = PERMIT, .oblig = "dom=0.5"},
        {"dominanceThreshold: the dataset's smaller share wins",
         .base = PT_BASE(PT_PERM(C("fiducia:dominanceThreshold", "lteq", "0.9")), ""),
         .ds = DSP(C("fiducia:dominanceThreshold", "lteq", "0.25")), .purpose = "dpv:PublicBenefit",
         .want = PERMIT, .oblig = "dom=0.25"},
        {"dominanceThreshold: set by the baseline only",
         .base = PT_BASE(PT_PERM(C("fiducia:dominanceThreshold", "lteq", "0.6")), ""),
         .ds = DSP(C("fiducia:minGroupSize", "gteq", "3")), .purpose = "dpv:PublicBenefit",
         .want = PERMIT, .oblig = "k=3 dom=0.6"},
        {"dominanceThreshold: zero on a DENY",
         .ds = DSP(C("fiducia:dominanceThreshold", "lteq", "0.5") "," C("fiducia:personalData",
                                                                        "eq", "true")),
         .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "dataset permission 0 applies to personal data only", .oblig = ""},
        /* --- fiducia:timeGranularity ------------------------------------------------------- */
        {"granularity: finer than allowed",
         .ds = DSP(C("fiducia:timeGranularity", "gteq", "'WEEK'")), .groups = "ts:DAY",
         .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "time bucket DAY is finer than WEEK allowed by dataset permission 0"},
        {"granularity: exactly the finest allowed",
         .ds = DSP(C("fiducia:timeGranularity", "gteq", "'WEEK'")), .groups = "ts:WEEK",
         .purpose = "dpv:PublicBenefit", .want = PERMIT, .oblig = "gran=WEEK"},
        {"granularity: coarser", .ds = DSP(C("fiducia:timeGranularity", "gteq", "'WEEK'")),
         .groups = "ts:YEAR", .purpose = "dpv:PublicBenefit", .want = PERMIT},
        {"granularity: hourly allowed", .ds = DSP(C("fiducia:timeGranularity", "gteq", "'HOUR'")),
         .groups = "ts:HOUR", .purpose = "dpv:PublicBenefit", .want = PERMIT},
        {"granularity: the finest of two time buckets counts",
         .ds = DSP(C("fiducia:timeGranularity", "gteq", "'MONTH'")), .groups = "a:MONTH,b:DAY",
         .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "time bucket DAY is finer than MONTH"},
        {"granularity: the coarser of baseline and dataset wins",
         .base = PT_BASE(PT_PERM(C("fiducia:timeGranularity", "gteq", "'DAY'")), ""),
         .ds = DSP(C("fiducia:timeGranularity", "gteq", "'MONTH'")), .groups = "ts:MONTH",
         .purpose = "dpv:PublicBenefit", .want = PERMIT, .oblig = "gran=MONTH"},
        {"granularity: the baseline's coarser bucket denies",
         .base = PT_BASE(PT_PERM(C("fiducia:timeGranularity", "gteq", "'MONTH'")), ""),
         .ds = DSP(C("fiducia:timeGranularity", "gteq", "'DAY'")), .groups = "ts:WEEK",
         .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "time bucket WEEK is finer than MONTH allowed by baseline permission 0",
         .matched = "dP0"},
        /* --- fiducia:dimensions and fiducia:measures ----------------------------------------- */
        {"dimensions: all listed", .ds = DSP(C("fiducia:dimensions", "isAnyOf", "['a','b']")),
         .groups = "a,b", .purpose = "dpv:PublicBenefit", .want = PERMIT},
        {"dimensions: one not listed", .ds = DSP(C("fiducia:dimensions", "isAnyOf", "['a','b']")),
         .groups = "a,c", .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "group-by column c is not among the dimensions allowed by dataset permission 0"},
        {"dimensions: no group-by", .ds = DSP(C("fiducia:dimensions", "isAnyOf", "['a','b']")),
         .purpose = "dpv:PublicBenefit", .want = PERMIT},
        {"dimensions: a listed filter", .ds = DSP(C("fiducia:dimensions", "isAnyOf", "['a','b']")),
         .filters = "b", .purpose = "dpv:PublicBenefit", .want = PERMIT},
        {"dimensions: an unlisted filter",
         .ds = DSP(C("fiducia:dimensions", "isAnyOf", "['a','b']")), .filters = "z",
         .purpose = "dpv:PublicBenefit", .want = DENY, .reason = "filter column z is not among"},
        {"dimensions: names compare exactly",
         .ds = DSP(C("fiducia:dimensions", "isAnyOf", "['a','b']")), .groups = "A",
         .purpose = "dpv:PublicBenefit", .want = DENY},
        {"measures: listed", .ds = DSP(C("fiducia:measures", "isAnyOf", "['x']")),
         .measures = "SUM:x,MIN:x", .purpose = "dpv:PublicBenefit", .want = PERMIT},
        {"measures: not listed", .ds = DSP(C("fiducia:measures", "isAnyOf", "['x']")),
         .measures = "SUM:x,AVG:y", .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "measure AVG(y) is not among the measures allowed by dataset permission 0"},
        {"measures: COUNT(*) needs no column", .ds = DSP(C("fiducia:measures", "isAnyOf", "['x']")),
         .measures = "COUNT:*", .purpose = "dpv:PublicBenefit", .want = PERMIT},
        /* --- fiducia:personalData ------------------------------------------------------------ */
        {"personalData eq true on non-personal data",
         .ds = DSP(C("fiducia:personalData", "eq", "true")), .purpose = "dpv:PublicBenefit",
         .want = DENY, .reason = "dataset permission 0 applies to personal data only"},
        {"personalData eq true on personal data",
         .ds = DSP(C("fiducia:personalData", "eq", "true")), .personal = true,
         .purpose = "dpv:PublicBenefit", .want = PERMIT},
        {"personalData eq false on personal data",
         .ds = DSP(C("fiducia:personalData", "eq", "false")), .personal = true,
         .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "dataset permission 0 applies to non-personal data only"},
        /* --- assignee ------------------------------------------------------------------- */
        {"assignee: the requester",
         .ds = PT_DS("{'action':'aggregate','assignee':'city-lyon'}", ""),
         .purpose = "dpv:PublicBenefit", .want = PERMIT},
        {"assignee: another org",
         .ds = PT_DS("{'action':'aggregate','assignee':['insee','city-paris']}", ""),
         .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "requester city-lyon is not an assignee of dataset permission 0"},
        /* --- prohibition over permission ---------------------------------------------------- */
        {"prohibition by recipient",
         .ds = PT_DS("{'action':'aggregate'}", PT_PROHIB(C("recipient", "eq", "'city-lyon'"))),
         .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "recipient city-lyon is prohibited by dataset prohibition 0",
         .matched = "bP0 dX0 dP0"},
        {"prohibition by recipient: another org",
         .ds = PT_DS("{'action':'aggregate'}", PT_PROHIB(C("recipient", "eq", "'city-lyon'"))),
         .org = "city-paris", .purpose = "dpv:PublicBenefit", .want = PERMIT, .matched = "bP0 dP0"},
        {"prohibition by kind",
         .ds = PT_DS("{'action':'aggregate'}",
                     PT_PROHIB(C("fiducia:recipientKind", "isAnyOf", "['COMMERCIAL']"))),
         .kind = "COMMERCIAL", .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "recipient kind COMMERCIAL is prohibited by dataset prohibition 0"},
        {"prohibition without constraints",
         .ds = PT_DS("{'action':'aggregate'}", "{'action':'aggregate'}"),
         .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "aggregate is prohibited by dataset prohibition 0"},
        {"prohibition of another action does not touch aggregate",
         .ds = PT_DS("{'action':'aggregate'}", "{'action':['read','distribute']}"),
         .purpose = "dpv:PublicBenefit", .want = PERMIT},
        {"prohibition of use covers aggregate",
         .ds = PT_DS("{'action':'aggregate'}", "{'action':'use'}"), .purpose = "dpv:PublicBenefit",
         .want = DENY, .reason = "aggregate is prohibited by dataset prohibition 0"},
        {"prohibition during a window: inside",
         .ds = PT_DS("{'action':'aggregate'}",
                     PT_PROHIB(C("dateTime", "gteq", "'2026-06-01T00:00:00Z'") "," C(
                             "dateTime", "lt", "'2026-07-01T00:00:00Z'"))),
         .purpose = "dpv:PublicBenefit", .want = DENY, .reason = "is prohibited by dataset"},
        {"prohibition during a window: after it",
         .ds = PT_DS("{'action':'aggregate'}",
                     PT_PROHIB(C("dateTime", "gteq", "'2026-06-01T00:00:00Z'") "," C(
                             "dateTime", "lt", "'2026-07-01T00:00:00Z'"))),
         .purpose = "dpv:PublicBenefit", .now = "2026-07-01T00:00:00Z", .want = PERMIT},
        {"prohibition by assignee",
         .ds = PT_DS("{'action':'aggregate'}", "{'action':'aggregate','assignee':'city-lyon'}"),
         .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "recipient city-lyon is prohibited by dataset prohibition 0"},
        {"prohibition whose conditions do not all hold",
         .ds = PT_DS("{'action':'aggregate'}",
                     PT_PROHIB(C("purpose", "isA", "'dpv:PublicBenefit'") "," C(
                             "fiducia:personalData", "eq", "true"))),
         .purpose = "dpv:PublicBenefit", .want = PERMIT},
        {"prohibition in the baseline beats the dataset's permission",
         .base = PT_BASE("{'action':'aggregate'}",
                         PT_PROHIB(C("purpose", "isA", "'dpv:ResearchAndDevelopment'"))),
         .ds = DSP(C("purpose", "isA", "'dpv:ScientificResearch'")),
         .purpose = "dpv:ScientificResearch", .want = DENY,
         .reason = "purpose dpv:ScientificResearch is prohibited by baseline prohibition 0",
         .matched = "bX0 bP0 dP0"},
        /* --- default deny and the conjunction of both policies ---------------------------- */
        {"a dataset policy with prohibitions only",
         .ds = PT_DS("", PT_PROHIB(C("purpose", "isA", "'dpv:Marketing'"))),
         .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "the dataset policy grants no permission: default deny", .matched = "bP0"},
        {"a baseline with prohibitions only",
         .base = PT_BASE("", PT_PROHIB(C("purpose", "isA", "'dpv:Marketing'"))),
         .ds = PT_DS("{'action':'aggregate'}", ""), .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "the baseline grants no permission: default deny", .matched = "dP0"},
        {"two permissions, neither applies: both explained",
         .ds = PT_DS(PT_PERM(C("recipient", "eq", "'insee'")) "," PT_PERM(
                             C("fiducia:recipientKind", "eq", "'NON_PROFIT'")),
                     ""),
         .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "recipient kind PUBLIC_AUTHORITY is not allowed by dataset permission 1"},
        {"two permissions, the second applies",
         .ds = PT_DS(PT_PERM(C("recipient", "eq", "'insee'")) "," PT_PERM(
                             C("fiducia:recipientKind", "eq", "'PUBLIC_AUTHORITY'")),
                     ""),
         .purpose = "dpv:PublicBenefit", .want = PERMIT, .matched = "bP0 dP1"},
        {"the baseline permits, the dataset policy does not",
         .ds = DSP(C("purpose", "isA", "'dpv:ImproveHealthcare'")), .purpose = "dpv:PublicBenefit",
         .want = DENY, .matched = "bP0", .oblig = ""},
        {"the dataset policy permits, the baseline does not",
         .base = PT_BASE(PT_PERM(C("fiducia:recipientKind", "eq", "'PUBLIC_AUTHORITY'")), ""),
         .ds = PT_DS("{'action':'aggregate'}", ""), .kind = "COMMERCIAL",
         .purpose = "dpv:PublicBenefit", .want = DENY,
         .reason = "recipient kind COMMERCIAL is not allowed by baseline permission 0",
         .matched = "dP0", .oblig = ""},
        {"a permission with every condition at once", .ds = DSP(ALL_CONDITIONS_OK),
         .groups = "a,ts:DAY", .measures = "SUM:x", .filters = "a",
         .purpose = "fiducia:UrbanPlanning", .want = PERMIT, .oblig = "gran=DAY"},
        {"a permission with every condition at once, each failing", .ds = DSP(ALL_CONDITIONS_FAIL),
         .groups = "b,ts:DAY", .measures = "SUM:y", .filters = "c",
         .purpose = "fiducia:UrbanPlanning", .want = DENY,
         .reason = "measure SUM(y) is not among the measures allowed by dataset permission 0"},
};

/* --- running a case ------------------------------------------------------------------ */

static pdp_policy *ex_base, *ex_traffic, *ex_stays, *open_base;

static pdp_policy *policy_for(const char *spec, pdp_scope scope, bool *owned)
{
	*owned = false;
	if (!spec)
		return open_base;
	if (strcmp(spec, "@none") == 0)
		return NULL;
	if (strcmp(spec, "@baseline") == 0)
		return ex_base;
	if (strcmp(spec, "@traffic") == 0)
		return ex_traffic;
	if (strcmp(spec, "@stays") == 0)
		return ex_stays;
	pdp_error err;
	pdp_policy *p = pt_compile(scope, spec, &err);
	if (!p) {
		fprintf(stderr, "test policy does not compile: %s: %s\n", err.pointer, err.message);
		abort();
	}
	*owned = true;
	return p;
}

typedef struct reqbuf {
	char text[3][512];
	pdp_group groups[32];
	pdp_measure measures[32];
	const char *filters[32];
} reqbuf;

/* Splits "a,b" in place into at most 32 items. */
static size_t split(char *s, char **items)
{
	size_t n = 0;
	for (char *tok = strtok(s, ","); tok && n < 32; tok = strtok(NULL, ","))
		items[n++] = tok;
	return n;
}

static void build_request(const ecase *c, const pdp_policy *ds, reqbuf *rb, pdp_request *q)
{
	char *items[32];
	memset(q, 0, sizeof *q);
	q->requester_org = !c->org ? "city-lyon" : strcmp(c->org, "@null") ? c->org : NULL;
	q->requester_kind = PDP_KIND_PUBLIC_AUTHORITY;
	if (c->kind && strcmp(c->kind, "KIND_UNSPECIFIED") == 0)
		q->requester_kind = PDP_KIND_UNSPECIFIED;
	else if (c->kind && strcmp(c->kind, "99") == 0)
		q->requester_kind = (pdp_kind)99;
	else if (c->kind && !pdp_kind_parse(c->kind, &q->requester_kind))
		abort();
	q->role = PDP_ROLE_USER;
	if (c->role && !pdp_role_parse(c->role, &q->role))
		abort();
	q->action = PDP_ACTION_AGGREGATE;
	if (c->action && strcmp(c->action, "other") == 0)
		q->action = PDP_ACTION_OTHER;
	else if (c->action && !pdp_action_parse(c->action, &q->action))
		abort();
	q->dataset = c->dataset ? c->dataset : ds ? pdp_policy_target(ds) : "ds1";
	q->personal = c->personal;
	q->purpose = c->purpose && strcmp(c->purpose, "@null") == 0 ? NULL : c->purpose;
	if (c->groups) {
		snprintf(rb->text[0], sizeof rb->text[0], "%s", c->groups);
		size_t n = split(rb->text[0], items);
		for (size_t i = 0; i < n; i++) {
			char *colon = strchr(items[i], ':');
			rb->groups[i].bucket = PDP_GRAN_NONE;
			if (colon) {
				*colon = '\0';
				if (!pdp_granularity_parse(colon + 1, &rb->groups[i].bucket))
					abort();
			}
			rb->groups[i].column = items[i];
		}
		q->group_by = rb->groups;
		q->n_group_by = n;
	}
	if (c->measures) {
		snprintf(rb->text[1], sizeof rb->text[1], "%s", c->measures);
		size_t n = split(rb->text[1], items);
		for (size_t i = 0; i < n; i++) {
			char *colon = strchr(items[i], ':');
			if (!colon)
				abort();
			*colon = '\0';
			if (!pdp_agg_parse(items[i], &rb->measures[i].fn))
				abort();
			rb->measures[i].column = strcmp(colon + 1, "*") ? colon + 1 : NULL;
		}
		q->measures = rb->measures;
		q->n_measures = n;
	}
	if (c->filters) {
		snprintf(rb->text[2], sizeof rb->text[2], "%s", c->filters);
		size_t n = split(rb->text[2], items);
		for (size_t i = 0; i < n; i++)
			rb->filters[i] = items[i];
		q->filters = rb->filters;
		q->n_filters = n;
	}
}

static void render_matched(const pdp_decision *d, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < d->n_matched && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s%c%c%u", i ? " " : "",
		                      d->matched[i].scope == PDP_SCOPE_BASELINE ? 'b' : 'd',
		                      d->matched[i].type == PDP_RULE_PERMISSION ? 'P' : 'X',
		                      (unsigned)d->matched[i].index);
}

static void render_oblig(const pdp_obligations *o, char *out, size_t cap)
{
	size_t n = 0;
	static const char units[] = {'?', 'H', 'D', 'W', 'M', 'Y'};
	out[0] = '\0';
#define PUT(...) n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, __VA_ARGS__)
	if (o->min_k)
		PUT("%sk=%u", n ? " " : "", o->min_k);
	if (o->has_epsilon_per_query)
		PUT("%seq=%g", n ? " " : "", o->epsilon_per_query);
	if (o->has_epsilon_budget)
		PUT("%seb=%g/P%s%u%c", n ? " " : "", o->epsilon_budget,
		    o->budget_period.unit == PDP_PERIOD_HOUR ? "T" : "", o->budget_period.count,
		    units[o->budget_period.unit]);
	if (o->finest_granularity)
		PUT("%sgran=%s", n ? " " : "", pdp_granularity_name(o->finest_granularity));
	if (o->max_contributions_per_subject)
		PUT("%scap=%u", n ? " " : "", o->max_contributions_per_subject);
	if (o->has_dominance)
		PUT("%sdom=%g", n ? " " : "", o->dominance);
	else if (o->dominance != 0)
		PUT("%sdom-unset=%g", n ? " " : "", o->dominance);
#undef PUT
}

static void run_case(const ecase *c)
{
	bool own_b, own_d;
	pdp_policy *b = policy_for(c->base, PDP_SCOPE_BASELINE, &own_b);
	pdp_policy *d = policy_for(c->ds, PDP_SCOPE_DATASET, &own_d);
	reqbuf rb;
	pdp_request q;
	pdp_decision dec;
	int64_t now;
	char matched[256], oblig[256];
	int before = tu_checks_failed;

	build_request(c, d, &rb, &q);
	if (!pdp_datetime_parse(c->now ? c->now : T0, &now))
		abort();
	memset(&dec, 0x5a, sizeof dec);
	pdp_effect e = pdp_decide(b, d, &q, now, &dec);
	CHECK(e == dec.effect);
	CHECK(dec.effect == c->want);
	if (dec.effect == PDP_DENY)
		CHECK(dec.n_reasons >= 1);
	else
		CHECK(dec.n_reasons == 0);
	if (c->reason) {
		bool found = false;
		for (size_t i = 0; i < dec.n_reasons; i++)
			if (strstr(dec.reasons[i], c->reason))
				found = true;
		CHECK(found);
	}
	render_matched(&dec, matched, sizeof matched);
	if (c->matched)
		CHECK_STR_EQ(matched, c->matched);
	render_oblig(&dec.obligations, oblig, sizeof oblig);
	if (c->oblig)
		CHECK_STR_EQ(oblig, c->oblig);
	if (dec.effect == PDP_DENY)
		CHECK_STR_EQ(oblig, "");
	if (tu_checks_failed != before) {
		fprintf(stderr, "  in case \"%s\": %s, matched [%s], obligations [%s]\n", c->name,
		        pdp_effect_name(dec.effect), matched, oblig);
		for (size_t i = 0; i < dec.n_reasons; i++)
			fprintf(stderr, "    reason: %s\n", dec.reasons[i]);
	}
	if (own_b)
		pdp_policy_free(b);
	if (own_d)
		pdp_policy_free(d);
}

static void setup(void)
{
	pdp_error err;
	ex_base = pt_example(PDP_SCOPE_BASELINE, "baseline");
	ex_traffic = pt_example(PDP_SCOPE_DATASET, "traffic-jams");
	ex_stays = pt_example(PDP_SCOPE_DATASET, "stays");
	open_base = pt_compile(PDP_SCOPE_BASELINE, OPEN_BASE, &err);
	if (!open_base)
		abort();
}

static void test_table(void)
{
	size_t n = sizeof cases / sizeof cases[0];
	setup();
	for (size_t i = 0; i < n; i++)
		run_case(&cases[i]);
	printf("# %zu evaluation cases\n", n);
	CHECK(n >= 100);
}

/* A request that fails many conditions keeps PDP_MAX_REASONS reasons and says so. */
static void test_reasons_truncate(void)
{
	pdp_group g[40];
	char names[40][8];
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof names[i], "c%d", i);
		g[i] = (pdp_group){names[i], PDP_GRAN_NONE};
	}
	pdp_request q = {.requester_org = "city-lyon",
	                 .requester_kind = PDP_KIND_PUBLIC_AUTHORITY,
	                 .role = PDP_ROLE_USER,
	                 .dataset = "traffic-jams",
	                 .purpose = "fiducia:MobilityPlanning",
	                 .action = PDP_ACTION_AGGREGATE,
	                 .group_by = g,
	                 .n_group_by = 40};
	pdp_decision d;
	CHECK(pdp_decide(ex_base, ex_traffic, &q, 1781524800, &d) == PDP_DENY);
	CHECK(d.n_reasons == PDP_MAX_REASONS);
	CHECK(d.reasons_truncated);
	for (size_t i = 0; i < d.n_reasons; i++)
		CHECK(strlen(d.reasons[i]) < PDP_REASON_LEN);
}

/* Long requester-supplied values are cut in reasons; no reason overflows. */
static void test_reasons_bounded(void)
{
	char longname[600];
	memset(longname, 'p', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	pdp_request q = {.requester_org = longname,
	                 .requester_kind = PDP_KIND_PUBLIC_AUTHORITY,
	                 .role = PDP_ROLE_USER,
	                 .dataset = "stays",
	                 .purpose = longname,
	                 .action = PDP_ACTION_AGGREGATE};
	pdp_decision d;
	CHECK(pdp_decide(ex_base, ex_stays, &q, 1781524800, &d) == PDP_DENY);
	CHECK(d.n_reasons == 1);
	CHECK_CONTAINS(d.reasons[0], "...");
	CHECK(strlen(d.reasons[0]) < 100);
	CHECK(pdp_decide(ex_base, ex_stays, NULL, 0, &d) == PDP_DENY);
	CHECK_STR_EQ(d.reasons[0], "no request");
}

/* The dominance fields themselves: unset without a constraint (the server then applies its
 * default 0.85), the smallest share of every applying permission otherwise. */
static void test_dominance_fields(void)
{
	static const char *const none = PT_DSP(C("fiducia:minGroupSize", "gteq", "5"));
	static const char *const two =
	        PT_DS(PT_PERM(C("fiducia:dominanceThreshold", "lteq", "0.7")) "," PT_PERM(
	                      C("fiducia:dominanceThreshold", "lteq", "0.55")),
	              "");
	static const pdp_measure sum = {PDP_AGG_SUM, "x"};
	pdp_request q = {.requester_org = "city-lyon",
	                 .requester_kind = PDP_KIND_PUBLIC_AUTHORITY,
	                 .role = PDP_ROLE_USER,
	                 .dataset = "ds1",
	                 .purpose = "dpv:PublicBenefit",
	                 .action = PDP_ACTION_AGGREGATE,
	                 .measures = &sum,
	                 .n_measures = 1};
	pdp_error err;
	pdp_decision d;

	pdp_policy *p = pt_compile(PDP_SCOPE_DATASET, none, &err);
	CHECK(p != NULL);
	memset(&d, 0x5a, sizeof d);
	CHECK(pdp_decide(open_base, p, &q, 1781524800, &d) == PDP_PERMIT);
	CHECK(!d.obligations.has_dominance);
	CHECK(d.obligations.dominance == 0);
	pdp_policy_free(p);

	p = pt_compile(PDP_SCOPE_DATASET, two, &err);
	CHECK(p != NULL);
	memset(&d, 0x5a, sizeof d);
	CHECK(pdp_decide(open_base, p, &q, 1781524800, &d) == PDP_PERMIT);
	CHECK(d.n_matched == 3);
	CHECK(d.obligations.has_dominance);
	CHECK(d.obligations.dominance == 0.55);
	pdp_policy_free(p);
}

/* Policies passed in the wrong slot, or from different vocabularies, deny. */
static void test_misuse(void)
{
	pdp_request q = {.requester_org = "city-lyon",
	                 .requester_kind = PDP_KIND_PUBLIC_AUTHORITY,
	                 .role = PDP_ROLE_USER,
	                 .dataset = "stays",
	                 .purpose = "fiducia:HousingPolicy",
	                 .action = PDP_ACTION_AGGREGATE};
	pdp_decision d;
	CHECK(pdp_decide(ex_stays, ex_base, &q, 1781524800, &d) == PDP_DENY);
	CHECK_CONTAINS(d.reasons[0], "no baseline policy is in force");

	size_t n;
	char *j = pt_read("policy/purposes.json", &n);
	pdp_error err;
	pdp_vocab *v2 = pdp_vocab_load(j, n, &err);
	free(j);
	j = pt_read("policy/examples/stays.json", &n);
	pdp_policy *s2 = pdp_compile(v2, PDP_SCOPE_DATASET, j, n, &err);
	free(j);
	CHECK(s2 != NULL);
	CHECK(pdp_decide(ex_base, s2, &q, 1781524800, &d) == PDP_DENY);
	CHECK_CONTAINS(d.reasons[0], "different vocabularies");
	pdp_policy_free(s2);
	pdp_vocab_free(v2);
	CHECK(pdp_decide(ex_base, ex_stays, &q, 1781524800, &d) == PDP_PERMIT);
}

TEST_MAIN(TU_CASE(test_table), TU_CASE(test_reasons_truncate), TU_CASE(test_reasons_bounded),
          TU_CASE(test_dominance_fields), TU_CASE(test_misuse))
