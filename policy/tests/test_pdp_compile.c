/*
 * Unit tests of the policy compiler: the three examples compile with the shape SPEC.md
 * describes, and every validation error of the Fiducia profile is asserted by its JSON
 * pointer and message (table below, one row per rule broken).
 */
#include "pdp_testlib.h"

#define B  PDP_SCOPE_BASELINE
#define D  PDP_SCOPE_DATASET
#define RO "/permission/0/constraint/0/rightOperand"
#define C0 "/permission/0/constraint/0"

/* A valid dataset policy with `extra` members appended at top level. */
#define DSX(extra) "{" PT_HDR("holder", "ds1") ",'permission':[{'action':'aggregate'}]" extra "}"
/* A dataset policy whose only permission has the given constraints. */
#define P1(cons) PT_DSP(cons)
#define C        PT_C

static const struct verr {
	pdp_scope scope;
	const char *json, *pointer;
	const char *message; /* ending in '*': a prefix of the actual message */
} verrs[] = {
        /* the document */
        {D, "{", "", "invalid JSON at line 1, column 1*"},
        {D, "{'a':1,'a':2}", "", "invalid JSON at line 1*"},
        {D, "[]", "", "policy must be a JSON object"},
        {D, DSX(",'foo':1"), "/foo", "unknown member \"foo\": not part of the Fiducia profile"},
        {D, DSX(",'a/b~c':1"), "/a~1b~0c",
         "unknown member \"a/b~c\": not part of the Fiducia profile"},
        {D, DSX(",'obligation':[]"), "/obligation",
         "unknown member \"obligation\": not part of the Fiducia profile"},
        {D, DSX(",'@context':5"), "/@context", "@context must be a string, an array or an object"},
        {D, DSX(",'@type':'Foo'"), "/@type", "@type must be Set, Offer, Agreement or Policy"},
        {D, "{'profile':'urn:fiducia:odrl-profile:1','assigner':'h','target':'t'}", "/uid",
         "missing required member \"uid\""},
        {D, "{'uid':7,'profile':'urn:fiducia:odrl-profile:1','assigner':'h','target':'t'}", "/uid",
         "uid must be a string"},
        {D, "{'uid':'a b','profile':'urn:fiducia:odrl-profile:1','assigner':'h','target':'t'}",
         "/uid", "uid must be 1 to 128 printable characters without spaces"},
        {D, "{'uid':'u','assigner':'h','target':'t'}", "/profile",
         "missing required member \"profile\""},
        {D, "{'uid':'u','profile':'http://example.com/p','assigner':'h','target':'t'}", "/profile",
         "profile must be \"urn:fiducia:odrl-profile:1\""},
        {D, "{'uid':'u','profile':'urn:fiducia:odrl-profile:1','target':'t'}", "/assigner",
         "missing required member \"assigner\""},
        {D, "{'uid':'u','profile':'urn:fiducia:odrl-profile:1','assigner':'Holder','target':'t'}",
         "/assigner", "assigner must be an organisation id (a lowercase slug)"},
        {D, "{'uid':'u','profile':'urn:fiducia:odrl-profile:1','assigner':'h'}", "/target",
         "missing required member \"target\""},
        {D, "{'uid':'u','profile':'urn:fiducia:odrl-profile:1','assigner':'h','target':'a b'}",
         "/target", "target must be a dataset id (1 to 128 printable characters) or \"*\""},
        {D,
         "{'uid':'u','profile':'urn:fiducia:odrl-profile:1','assigner':'h','target':'*',"
         "'permission':[{'action':'aggregate'}]}",
         "/target", "target \"*\" is reserved to the operator baseline"},
        {B,
         "{'uid':'u','profile':'urn:fiducia:odrl-profile:1','assigner':'operator',"
         "'target':'ds1','permission':[{'action':'aggregate'}]}",
         "/target", "the baseline applies to every dataset: its target must be \"*\""},
        {D, "{" PT_HDR("holder", "ds1") "}", "",
         "a policy needs at least one permission or prohibition"},
        {D, "{" PT_HDR("holder", "ds1") ",'permission':[],'prohibition':[]}", "",
         "a policy needs at least one permission or prohibition"},
        {D, "{" PT_HDR("holder", "ds1") ",'permission':{}}", "/permission",
         "permission must be an array of rules"},
        {D, "{" PT_HDR("holder", "ds1") ",'prohibition':'x'}", "/prohibition",
         "prohibition must be an array of rules"},
        /* rules */
        {D, "{" PT_HDR("holder", "ds1") ",'permission':[5]}", "/permission/0",
         "rule must be an object"},
        {D, "{" PT_HDR("holder", "ds1") ",'permission':[{'action':'aggregate','duty':[]}]}",
         "/permission/0/duty", "unknown member \"duty\": not part of the Fiducia profile"},
        {D, "{" PT_HDR("holder", "ds1") ",'permission':[{'action':'aggregate','target':'x'}]}",
         "/permission/0/target", "unknown member \"target\": not part of the Fiducia profile"},
        {D, "{" PT_HDR("holder", "ds1") ",'permission':[{'uid':'a b','action':'aggregate'}]}",
         "/permission/0/uid", "uid must be a string of 1 to 128 printable characters"},
        {D, "{" PT_HDR("holder", "ds1") ",'permission':[{}]}", "/permission/0/action",
         "missing required member \"action\""},
        {D, "{" PT_HDR("holder", "ds1") ",'permission':[{'action':3}]}", "/permission/0/action",
         "action must be a string or an array of strings"},
        {D, "{" PT_HDR("holder", "ds1") ",'permission':[{'action':[]}]}", "/permission/0/action",
         "action must name 1 to 8 actions"},
        {D, "{" PT_HDR("holder", "ds1") ",'permission':[{'action':[1]}]}", "/permission/0/action/0",
         "action must be a string or an array of strings"},
        {D, "{" PT_HDR("holder", "ds1") ",'permission':[{'action':'fly'}]}", "/permission/0/action",
         "unknown action \"fly\": not an ODRL 2.2 action"},
        {D, "{" PT_HDR("holder", "ds1") ",'permission':[{'action':'read'}]}",
         "/permission/0/action",
         "only aggregate may be permitted: \"read\" is denied by construction"},
        {D, "{" PT_HDR("holder", "ds1") ",'permission':[{'action':'use'}]}", "/permission/0/action",
         "only aggregate may be permitted: \"use\" is denied by construction"},
        {D, "{" PT_HDR("holder", "ds1") ",'permission':[{'action':['aggregate','distribute']}]}",
         "/permission/0/action/1",
         "only aggregate may be permitted: \"distribute\" is denied by construction"},
        {D, "{" PT_HDR("holder", "ds1") ",'permission':[{'action':'aggregate','assignee':5}]}",
         "/permission/0/assignee", "assignee must be an organisation id or an array of them"},
        {D, "{" PT_HDR("holder", "ds1") ",'permission':[{'action':'aggregate','assignee':'City'}]}",
         "/permission/0/assignee", "\"City\" is not a valid organisation id"},
        {D,
         "{" PT_HDR("holder",
                    "ds1") ",'permission':[{'action':'aggregate','assignee':['a','-b']}]}",
         "/permission/0/assignee/1", "\"-b\" is not a valid organisation id"},
        {D, "{" PT_HDR("holder", "ds1") ",'permission':[{'action':'aggregate','assignee':[]}]}",
         "/permission/0/assignee", "must not be empty"},
        {D, "{" PT_HDR("holder", "ds1") ",'permission':[{'action':'aggregate','constraint':{}}]}",
         "/permission/0/constraint", "constraint must be an array"},
        /* constraints */
        {D, P1("7"), C0, "constraint must be an object"},
        {D, P1("{'leftOperand':'purpose','operator':'isA','rightOperand':'dpv:Purpose','unit':1}"),
         C0 "/unit", "unknown member \"unit\": not part of the Fiducia profile"},
        {D, P1("{'operator':'isA','rightOperand':'dpv:Purpose'}"), C0 "/leftOperand",
         "missing required member \"leftOperand\""},
        {D, P1("{'leftOperand':'purpose','rightOperand':'dpv:Purpose'}"), C0 "/operator",
         "missing required member \"operator\""},
        {D, P1("{'leftOperand':'purpose','operator':'isA'}"), C0 "/rightOperand",
         "missing required member \"rightOperand\""},
        {D, P1(C("x", "eq", "1")), C0 "/leftOperand",
         "unknown leftOperand \"x\": not part of the Fiducia profile"},
        {D, P1("{'leftOperand':1,'operator':'eq','rightOperand':1}"), C0 "/leftOperand",
         "leftOperand must be a string"},
        {D, P1(C("spatial", "eq", "'FR'")), C0 "/leftOperand",
         "unknown leftOperand \"spatial\": not part of the Fiducia profile"},
        {D, P1("{'leftOperand':'purpose','operator':2,'rightOperand':'dpv:Purpose'}"),
         C0 "/operator", "operator must be a string"},
        {D, P1(C("purpose", "like", "'dpv:Purpose'")), C0 "/operator", "unknown operator \"like\""},
        {D, P1(C("purpose", "eq", "'dpv:Purpose'")), C0 "/operator",
         "operator eq is not allowed for purpose (use isA or isAnyOf)"},
        {D, P1(C("recipient", "isA", "'a'")), C0 "/operator",
         "operator isA is not allowed for recipient (use eq or isAnyOf)"},
        {D, P1(C("fiducia:recipientKind", "neq", "'HOLDER'")), C0 "/operator",
         "operator neq is not allowed for fiducia:recipientKind (use eq or isAnyOf)"},
        {D, P1(C("dateTime", "eq", "'2026-01-01T00:00:00Z'")), C0 "/operator",
         "operator eq is not allowed for dateTime (use lt, lteq, gt or gteq)"},
        {D, P1(C("fiducia:minGroupSize", "lteq", "10")), C0 "/operator",
         "operator lteq is not allowed for fiducia:minGroupSize (use gteq)"},
        {D, P1(C("fiducia:epsilonPerQuery", "gteq", "1")), C0 "/operator",
         "operator gteq is not allowed for fiducia:epsilonPerQuery (use lteq)"},
        {D, P1(C("fiducia:epsilonBudget", "eq", "1")), C0 "/operator",
         "operator eq is not allowed for fiducia:epsilonBudget (use lteq)"},
        {D, P1(C("fiducia:budgetPeriod", "lteq", "'P1D'")), C0 "/operator",
         "operator lteq is not allowed for fiducia:budgetPeriod (use eq)"},
        {D, P1(C("fiducia:timeGranularity", "eq", "'DAY'")), C0 "/operator",
         "operator eq is not allowed for fiducia:timeGranularity (use gteq)"},
        {D, P1(C("fiducia:dimensions", "isAllOf", "['a']")), C0 "/operator",
         "operator isAllOf is not allowed for fiducia:dimensions (use isAnyOf)"},
        {D, P1(C("fiducia:measures", "eq", "'a'")), C0 "/operator",
         "operator eq is not allowed for fiducia:measures (use isAnyOf)"},
        {D, P1(C("fiducia:maxContributionsPerSubject", "gteq", "3")), C0 "/operator",
         "operator gteq is not allowed for fiducia:maxContributionsPerSubject (use lteq)"},
        {D, P1(C("fiducia:dominanceThreshold", "gteq", "0.5")), C0 "/operator",
         "operator gteq is not allowed for fiducia:dominanceThreshold (use lteq)"},
        {D, P1(C("fiducia:dominanceThreshold", "eq", "0.5")), C0 "/operator",
         "operator eq is not allowed for fiducia:dominanceThreshold (use lteq)"},
        {D, P1(C("fiducia:personalData", "neq", "true")), C0 "/operator",
         "operator neq is not allowed for fiducia:personalData (use eq)"},
        /* rightOperand types and values */
        {D, P1(C("purpose", "isA", "'dpv:Nope'")), RO,
         "unknown purpose \"dpv:Nope\": not in the purpose vocabulary"},
        {D, P1(C("purpose", "isAnyOf", "['dpv:PublicBenefit','Marketing']")), RO "/1",
         "unknown purpose \"Marketing\": not in the purpose vocabulary"},
        {D, P1(C("purpose", "isA", "3")), RO, "must be a string (purpose id)"},
        {D, P1(C("purpose", "isAnyOf", "'dpv:PublicBenefit'")), RO,
         "purpose with isAnyOf needs an array"},
        {D, P1(C("purpose", "isAnyOf", "[]")), RO, "purpose with isAnyOf needs 1 to 64 values"},
        {D, P1(C("recipient", "eq", "'City Lyon'")), RO,
         "\"City Lyon\" is not a valid organisation id"},
        {D, P1(C("recipient", "eq", "5")), RO, "must be a string (organisation id)"},
        {D, P1(C("recipient", "isAnyOf", "[5]")), RO "/0", "must be a string (organisation id)"},
        {D, P1(C("fiducia:recipientKind", "eq", "'MAYOR'")), RO,
         "unknown recipient kind \"MAYOR\" (PUBLIC_AUTHORITY, RESEARCH_ORGANISATION, "
         "NON_PROFIT, COMMERCIAL, HOLDER, OPERATOR, REGULATOR)"},
        {D, P1(C("fiducia:recipientKind", "isAnyOf", "['HOLDER',1]")), RO "/1",
         "must be a string (recipient kind)"},
        {D, P1(C("dateTime", "lt", "'2026-01-01'")), RO,
         "dateTime must be an RFC 3339 date-time with whole seconds and a time zone, such as "
         "2026-12-31T23:59:59Z"},
        {D, P1(C("dateTime", "lt", "'2026-01-01T00:00:00'")), RO,
         "dateTime must be an RFC 3339 date-time with whole seconds and a time zone, such as "
         "2026-12-31T23:59:59Z"},
        {D, P1(C("dateTime", "lt", "'2026-01-01T00:00:00.250Z'")), RO,
         "dateTime must be an RFC 3339 date-time with whole seconds and a time zone, such as "
         "2026-12-31T23:59:59Z"},
        {D, P1(C("dateTime", "lt", "1767225600")), RO,
         "dateTime must be an RFC 3339 date-time with whole seconds and a time zone, such as "
         "2026-12-31T23:59:59Z"},
        {D,
         P1(C("dateTime", "gt", "'2026-06-01T00:00:00Z'") "," C("dateTime", "lt",
                                                                "'2026-06-01T00:00:01Z'")),
         "/permission/0/constraint/1",
         "contradictory bounds: no instant satisfies the dateTime constraints of this rule"},
        {D,
         P1(C("dateTime", "lt", "'2026-06-01T00:00:00Z'") "," C("dateTime", "gteq",
                                                                "'2026-06-01T00:00:00Z'")),
         "/permission/0/constraint/1",
         "contradictory bounds: no instant satisfies the dateTime constraints of this rule"},
        {D,
         P1(C("dateTime", "gteq", "'2026-01-01T00:00:00Z'") "," C("dateTime", "lteq",
                                                                  "'2025-12-31T00:00:00Z'")),
         "/permission/0/constraint/1",
         "contradictory bounds: no instant satisfies the dateTime constraints of this rule"},
        {D, P1(C("dateTime", "lt", "{'@value':'2026-01-01T00:00:00Z','@type':'xsd:date'}")),
         RO "/@type", "@type must be xsd:dateTime"},
        {D, P1(C("dateTime", "lt", "{'@value':'2026-01-01T00:00:00Z','@language':'en'}")),
         RO "/@language", "unknown member \"@language\": not part of the Fiducia profile"},
        {D, P1(C("dateTime", "lt", "{'@type':'xsd:dateTime'}")), RO "/@value",
         "missing required member \"@value\""},
        {D, P1(C("dateTime", "lt", "{'@value':['2026-01-01T00:00:00Z']}")), RO "/@value",
         "@value must be a literal"},
        {D, P1(C("fiducia:minGroupSize", "gteq", "1")), RO,
         "fiducia:minGroupSize must be at least 2"},
        {D, P1(C("fiducia:minGroupSize", "gteq", "-5")), RO,
         "fiducia:minGroupSize must be at least 2"},
        {D, P1(C("fiducia:minGroupSize", "gteq", "'10'")), RO,
         "fiducia:minGroupSize must be an integer"},
        {D, P1(C("fiducia:minGroupSize", "gteq", "2.5")), RO,
         "fiducia:minGroupSize must be an integer"},
        {D, P1(C("fiducia:minGroupSize", "gteq", "1000001")), RO,
         "fiducia:minGroupSize must be at most 1000000"},
        {D, P1(C("fiducia:minGroupSize", "gteq", "{'@value':10,'@type':'xsd:string'}")),
         RO "/@type", "@type must be xsd:integer"},
        {D, P1(C("fiducia:epsilonPerQuery", "lteq", "0")), RO,
         "fiducia:epsilonPerQuery must be greater than 0"},
        {D, P1(C("fiducia:epsilonPerQuery", "lteq", "-0.5")), RO,
         "fiducia:epsilonPerQuery must be greater than 0"},
        {D, P1(C("fiducia:epsilonPerQuery", "lteq", "'1'")), RO,
         "fiducia:epsilonPerQuery must be a number"},
        {D, P1(C("fiducia:epsilonPerQuery", "lteq", "5000")), RO,
         "fiducia:epsilonPerQuery must be at most 1000"},
        {D,
         P1(C("fiducia:epsilonBudget", "lteq", "0.0") "," C("fiducia:budgetPeriod", "eq", "'P1D'")),
         RO, "fiducia:epsilonBudget must be greater than 0"},
        {D, P1(C("fiducia:epsilonBudget", "lteq", "5")), C0,
         "fiducia:epsilonBudget needs a fiducia:budgetPeriod constraint in the same rule"},
        {D, P1(C("fiducia:budgetPeriod", "eq", "'P1D'")), C0,
         "fiducia:budgetPeriod without fiducia:epsilonBudget in the same rule"},
        {D, P1(C("fiducia:budgetPeriod", "eq", "'1 day'")), RO,
         "fiducia:budgetPeriod must be an ISO 8601 duration with one component, such as P1D, "
         "P1W, P1M, P1Y or PT12H"},
        {D, P1(C("fiducia:budgetPeriod", "eq", "'P1M2D'")), RO,
         "fiducia:budgetPeriod must be an ISO 8601 duration with one component, such as P1D, "
         "P1W, P1M, P1Y or PT12H"},
        {D,
         P1(C("fiducia:epsilonPerQuery", "lteq", "2") "," C("fiducia:epsilonBudget", "lteq",
                                                            "1") "," C("fiducia:budgetPeriod", "eq",
                                                                       "'P1D'")),
         "/permission/0/constraint/1",
         "contradictory bounds: fiducia:epsilonPerQuery exceeds fiducia:epsilonBudget"},
        {D, P1(C("fiducia:timeGranularity", "gteq", "'MINUTE'")), RO,
         "fiducia:timeGranularity must be one of HOUR, DAY, WEEK, MONTH, YEAR"},
        {D, P1(C("fiducia:timeGranularity", "gteq", "'NONE'")), RO,
         "fiducia:timeGranularity must be one of HOUR, DAY, WEEK, MONTH, YEAR"},
        {D, P1(C("fiducia:dimensions", "isAnyOf", "['a b']")), RO "/0",
         "\"a b\" is not a valid column name"},
        {D, P1(C("fiducia:dimensions", "isAnyOf", "['ok','1st']")), RO "/1",
         "\"1st\" is not a valid column name"},
        {D, P1(C("fiducia:measures", "isAnyOf", "'price'")), RO,
         "fiducia:measures with isAnyOf needs an array"},
        {D, P1(C("fiducia:maxContributionsPerSubject", "lteq", "0")), RO,
         "fiducia:maxContributionsPerSubject must be between 1 and 1000000"},
        {D, P1(C("fiducia:maxContributionsPerSubject", "lteq", "'x'")), RO,
         "fiducia:maxContributionsPerSubject must be an integer"},
        {D, P1(C("fiducia:dominanceThreshold", "lteq", "0")), RO,
         "fiducia:dominanceThreshold must be greater than 0"},
        {D, P1(C("fiducia:dominanceThreshold", "lteq", "0.0")), RO,
         "fiducia:dominanceThreshold must be greater than 0"},
        {D, P1(C("fiducia:dominanceThreshold", "lteq", "-0.5")), RO,
         "fiducia:dominanceThreshold must be greater than 0"},
        {D, P1(C("fiducia:dominanceThreshold", "lteq", "1.5")), RO,
         "fiducia:dominanceThreshold must be at most 1"},
        {D, P1(C("fiducia:dominanceThreshold", "lteq", "85")), RO,
         "fiducia:dominanceThreshold must be at most 1"},
        {D, P1(C("fiducia:dominanceThreshold", "lteq", "'0.85'")), RO,
         "fiducia:dominanceThreshold must be a number"},
        {D, P1(C("fiducia:dominanceThreshold", "lteq", "true")), RO,
         "fiducia:dominanceThreshold must be a number"},
        {D, P1(C("fiducia:dominanceThreshold", "lteq", "[0.5]")), RO,
         "fiducia:dominanceThreshold must be a number"},
        {D, P1(C("fiducia:dominanceThreshold", "lteq", "{'@value':'0.85','@type':'xsd:decimal'}")),
         RO, "fiducia:dominanceThreshold must be a number"},
        {D, P1(C("fiducia:dominanceThreshold", "lteq", "{'@value':0.85,'@type':'xsd:string'}")),
         RO "/@type", "@type must be xsd:decimal"},
        {D,
         P1(C("fiducia:dominanceThreshold", "lteq", "0.5") "," C("fiducia:dominanceThreshold",
                                                                 "lteq", "0.6")),
         "/permission/0/constraint/1",
         "duplicate constraint on fiducia:dominanceThreshold in this rule (constraint 0)"},
        {D, P1(C("fiducia:personalData", "eq", "'yes'")), RO,
         "fiducia:personalData must be true or false"},
        {D,
         P1(C("purpose", "isA", "'dpv:PublicBenefit'") "," C("purpose", "isA",
                                                             "'dpv:ImproveHealthcare'")),
         "/permission/0/constraint/1",
         "duplicate constraint on purpose in this rule (constraint 0)"},
        /* prohibitions */
        {D, PT_DS("", PT_PROHIB(C("fiducia:minGroupSize", "gteq", "5"))),
         "/prohibition/0/constraint/0/leftOperand",
         "fiducia:minGroupSize is an obligation and cannot constrain a prohibition"},
        {D, PT_DS("", PT_PROHIB(C("fiducia:epsilonPerQuery", "lteq", "1"))),
         "/prohibition/0/constraint/0/leftOperand",
         "fiducia:epsilonPerQuery is an obligation and cannot constrain a prohibition"},
        {D, PT_DS("", PT_PROHIB(C("fiducia:dominanceThreshold", "lteq", "0.5"))),
         "/prohibition/0/constraint/0/leftOperand",
         "fiducia:dominanceThreshold is an obligation and cannot constrain a prohibition"},
        {D, PT_DS("", PT_PROHIB(C("fiducia:dimensions", "isAnyOf", "['a']"))),
         "/prohibition/0/constraint/0/leftOperand",
         "fiducia:dimensions can only constrain a permission"},
        {D, PT_DS("", PT_PROHIB(C("fiducia:timeGranularity", "gteq", "'DAY'"))),
         "/prohibition/0/constraint/0/leftOperand",
         "fiducia:timeGranularity can only constrain a permission"},
        {D, PT_DS("", "{'action':'aggregate','constraint':[" C("purpose", "isA", "'x:Y'") "]}"),
         "/prohibition/0/constraint/0/rightOperand",
         "unknown purpose \"x:Y\": not in the purpose vocabulary"},
};

static void test_validation_errors(void)
{
	for (size_t i = 0; i < sizeof verrs / sizeof verrs[0]; i++) {
		pdp_error err;
		memset(&err, 'x', sizeof err);
		pdp_policy *p = pt_compile(verrs[i].scope, verrs[i].json, &err);
		CHECK(p == NULL);
		pdp_policy_free(p);
		bool ok_ptr = strcmp(err.pointer, verrs[i].pointer) == 0;
		size_t ml = strlen(verrs[i].message);
		bool ok_msg = verrs[i].message[ml - 1] == '*'
		                      ? strncmp(err.message, verrs[i].message, ml - 1) == 0
		                      : strcmp(err.message, verrs[i].message) == 0;
		CHECK(ok_ptr);
		CHECK(ok_msg);
		if (!ok_ptr || !ok_msg)
			fprintf(stderr, "  row %zu: got pointer \"%s\" message \"%s\"\n", i,
			        err.pointer, err.message);
	}
	printf("# %zu validation error rows\n", sizeof verrs / sizeof verrs[0]);
}

/* Limits: too many rules, constraints, list elements, bytes. */
static void test_limits(void)
{
	char buf[8192];
	pdp_error err;
	size_t n = (size_t)snprintf(buf, sizeof buf, "{" PT_HDR("holder", "ds1") ",'permission':[");
	for (int i = 0; i < 33; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s{'action':'aggregate'}",
		                      i ? "," : "");
	snprintf(buf + n, sizeof buf - n, "]}");
	CHECK(pt_compile(D, buf, &err) == NULL);
	CHECK_STR_EQ(err.pointer, "/permission/32");
	CHECK_STR_EQ(err.message, "a policy has at most 32 permission rules");

	n = (size_t)snprintf(buf, sizeof buf,
	                     "{" PT_HDR("holder", "ds1") ",'permission':[{'action':'aggregate',"
	                                                 "'constraint':[");
	for (int i = 0; i < 33; i++)
		n += (size_t)snprintf(
		        buf + n, sizeof buf - n,
		        "%s{'leftOperand':'dateTime','operator':'gteq','rightOperand':"
		        "'2020-01-01T00:00:00Z'}",
		        i ? "," : "");
	snprintf(buf + n, sizeof buf - n, "]}]}");
	CHECK(pt_compile(D, buf, &err) == NULL);
	CHECK_STR_EQ(err.pointer, "/permission/0/constraint");
	CHECK_STR_EQ(err.message, "a rule has at most 32 constraints");

	n = (size_t)snprintf(
	        buf, sizeof buf,
	        "{" PT_HDR("holder", "ds1") ",'permission':[{'action':'aggregate',"
	                                    "'constraint':[{'leftOperand':"
	                                    "'fiducia:dimensions','operator':'isAnyOf',"
	                                    "'rightOperand':[");
	for (int i = 0; i < 65; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s'c%d'", i ? "," : "", i);
	snprintf(buf + n, sizeof buf - n, "]}]}]}");
	CHECK(pt_compile(D, buf, &err) == NULL);
	CHECK_STR_EQ(err.pointer, RO);
	CHECK_STR_EQ(err.message, "fiducia:dimensions with isAnyOf needs 1 to 64 values");

	size_t big = PDP_MAX_POLICY_SIZE + 1;
	char *huge = malloc(big);
	memset(huge, ' ', big);
	CHECK(pdp_compile(pt_vocab(), D, huge, big, &err) == NULL);
	CHECK_STR_EQ(err.pointer, "");
	CHECK_STR_EQ(err.message, "policy document larger than 1048576 bytes");
	free(huge);

	CHECK(pdp_compile(NULL, D, "{}", 2, &err) == NULL);
	CHECK_STR_EQ(err.message, "no vocabulary, document or scope");
	CHECK(pdp_compile(pt_vocab(), (pdp_scope)7, "{}", 2, &err) == NULL);
	CHECK(pdp_compile(pt_vocab(), D, "{}", 2, NULL) == NULL);
}

/* Errors never echo long input values. */
static void test_errors_do_not_echo(void)
{
	char buf[4096], val[1001];
	pdp_error err;
	memset(val, 'A', 1000);
	val[1000] = '\0';
	snprintf(buf, sizeof buf,
	         PT_DSP("{'leftOperand':'purpose','operator':'isA','rightOperand':'"
	                "x:%s'}"),
	         val);
	CHECK(pt_compile(D, buf, &err) == NULL);
	CHECK_STR_EQ(err.pointer, RO);
	CHECK_CONTAINS(err.message, "...");
	CHECK(strlen(err.message) < 120);
	snprintf(buf, sizeof buf, DSX(",'%s':1"), val);
	CHECK(pt_compile(D, buf, &err) == NULL);
	CHECK(strlen(err.pointer) <= 49);
	CHECK(strlen(err.message) < 120);
	snprintf(buf, sizeof buf, "{'uid':'%s'", val);
	CHECK(pt_compile(D, buf, &err) == NULL);
	CHECK(strlen(err.message) < 160);
}

static void test_examples_compile(void)
{
	pdp_policy *b = pt_example(B, "baseline");
	pdp_policy *t = pt_example(D, "traffic-jams");
	pdp_policy *s = pt_example(D, "stays");
	CHECK(pdp_policy_scope(b) == B);
	CHECK_STR_EQ(pdp_policy_target(b), "*");
	CHECK_STR_EQ(pdp_policy_assigner(b), "operator");
	CHECK(pdp_policy_rule_count(b, PDP_RULE_PERMISSION) == 2);
	CHECK(pdp_policy_rule_count(b, PDP_RULE_PROHIBITION) == 1);
	CHECK_STR_EQ(pdp_policy_target(t), "traffic-jams");
	CHECK_STR_EQ(pdp_policy_assigner(t), "roadnav");
	CHECK_STR_EQ(pdp_policy_uid(t), "urn:fiducia:policy:roadnav:traffic-jams");
	CHECK_STR_EQ(pdp_policy_target(s), "stays");
	CHECK(pdp_policy_rule_count(s, PDP_RULE_PERMISSION) == 1);
	CHECK(pdp_policy_rule_count(s, (pdp_rule_type)9) == 0);

	/* The baseline cannot be compiled as a dataset policy, nor the reverse. */
	size_t n;
	pdp_error err;
	char *j = pt_read("policy/examples/baseline.json", &n);
	CHECK(pdp_compile(pt_vocab(), D, j, n, &err) == NULL);
	CHECK_STR_EQ(err.pointer, "/target");
	free(j);
	j = pt_read("policy/examples/stays.json", &n);
	CHECK(pdp_compile(pt_vocab(), B, j, n, &err) == NULL);
	CHECK_STR_EQ(err.pointer, "/target");
	free(j);
	pdp_policy_free(b);
	pdp_policy_free(t);
	pdp_policy_free(s);
	pdp_policy_free(NULL);
}

/* Shapes the profile accepts beyond the examples. */
static void test_accepted_shapes(void)
{
	static const char *const ok[] = {
	        DSX(",'@context':['http://www.w3.org/ns/odrl.jsonld',{'fiducia':'urn:fiducia:'}]"),
	        DSX(",'@context':{'odrl':'http://www.w3.org/ns/odrl/2/'},'@type':'Offer'"),
	        P1(C("dateTime", "gteq", "'2026-06-01T00:00:00Z'") "," C("dateTime", "lteq",
	                                                                 "'2026-06-01T00:00:00Z'")),
	        P1(C("dateTime", "lt", "{'@value':'2026-06-01T00:00:00+02:00'}")),
	        P1(C("dateTime", "lt",
	             "{'@value':'2026-06-01T00:00:00Z','@type':"
	             "'http://www.w3.org/2001/XMLSchema#dateTime'}")),
	        P1(C("fiducia:minGroupSize", "gteq", "{'@value':10,'@type':'xsd:integer'}")),
	        P1(C("fiducia:epsilonPerQuery", "lteq",
	             "1") "," C("fiducia:epsilonBudget", "lteq", "1") "," C("fiducia:budgetPeriod",
	                                                                    "eq", "'PT1H'")),
	        P1(C("fiducia:dominanceThreshold", "lteq", "1")),
	        P1(C("fiducia:dominanceThreshold", "lteq", "0.85")),
	        P1(C("fiducia:dominanceThreshold", "lteq", "1e-3")),
	        P1(C("fiducia:dominanceThreshold", "lteq", "{'@value':0.5,'@type':'xsd:decimal'}")),
	        P1(C("fiducia:dominanceThreshold", "lteq", "{'@value':1,'@type':'xsd:double'}")),
	        PT_DS("", "{'action':['read','distribute']}"),
	        "{" PT_HDR("holder", "ds1") ",'permission':[{'action':['aggregate'],"
	                                    "'assignee':['city-lyon','insee']}]}",
	        PT_DS("{'uid':'urn:r:1','action':'aggregate'}", "{'action':'use','assignee':'x'}"),
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		pdp_error err;
		pdp_policy *p = pt_compile(D, ok[i], &err);
		CHECK(p != NULL);
		if (!p)
			fprintf(stderr, "  ok[%zu]: %s: %s\n", i, err.pointer, err.message);
		pdp_policy_free(p);
	}
}

TEST_MAIN(TU_CASE(test_validation_errors), TU_CASE(test_limits), TU_CASE(test_errors_do_not_echo),
          TU_CASE(test_examples_compile), TU_CASE(test_accepted_shapes))
