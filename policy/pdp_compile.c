/*
 * Policy decision point, compiler: parses an ODRL 2.2 document in the Fiducia profile
 * (policy/SPEC.md), validates it member by member and compiles each rule to the form that
 * pdp_decide evaluates. Every error names the JSON pointer of the offending member and the
 * rule of the profile it breaks; no error echoes more than a short prefix of an input value.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdp_int.h"

/* --- arena: every string and list of a policy, freed at once ----------------- */

static void *pdp_arena_alloc(pdp_policy *p, size_t size)
{
	pdp_arena_block *b = p->arena;

	size = (size + 15) & ~(size_t)15;
	if (!b || b->cap - b->used < size) {
		size_t cap = size > 4096 ? size : 4096;
		pdp_arena_block *nb = malloc(sizeof *nb + cap);
		if (!nb)
			return NULL;
		nb->next = b;
		nb->used = 0;
		nb->cap = cap;
		p->arena = b = nb;
	}
	void *r = b->data + b->used;
	b->used += size;
	return r;
}

static void pdp_arena_free(pdp_policy *p)
{
	while (p->arena) {
		pdp_arena_block *n = p->arena->next;
		free(p->arena);
		p->arena = n;
	}
}

/* --- the compile context: where we are in the document ------------------------ */

typedef struct pdp_cctx {
	const pdp_vocab *vocab;
	pdp_policy *pol;
	pdp_error *err;
	char ptr[256];
	size_t plen;
} pdp_cctx;

/* Appends "/seg" (RFC 6901 escaped, cut at 48 bytes) to the pointer; returns the old length
 * for pdp_ptr_pop. */
static size_t pdp_ptr_push(pdp_cctx *c, const char *seg)
{
	size_t old = c->plen, n = 0;
	if (c->plen + 1 < sizeof c->ptr)
		c->ptr[c->plen++] = '/';
	for (const char *s = seg; *s && n < 48; s++, n++) {
		const char *rep = *s == '~' ? "~0" : *s == '/' ? "~1" : NULL;
		size_t k = rep ? 2 : 1;
		if (c->plen + k >= sizeof c->ptr)
			break;
		memcpy(c->ptr + c->plen, rep ? rep : s, k);
		c->plen += k;
	}
	c->ptr[c->plen] = '\0';
	return old;
}

static size_t pdp_ptr_push_index(pdp_cctx *c, size_t i)
{
	char b[24];
	snprintf(b, sizeof b, "%zu", i);
	return pdp_ptr_push(c, b);
}

static void pdp_ptr_pop(pdp_cctx *c, size_t mark)
{
	c->plen = mark;
	c->ptr[mark] = '\0';
}

static bool pdp_fail(pdp_cctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool pdp_fail(pdp_cctx *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->err)
		return false;
	snprintf(c->err->pointer, sizeof c->err->pointer, "%s", c->ptr);
	va_start(ap, fmt);
	vsnprintf(c->err->message, sizeof c->err->message, fmt, ap);
	va_end(ap);
	return false;
}

/* A short, printable rendition of an input value for messages: at most 40 bytes, non-ASCII
 * and control bytes as '?', "..." when cut. */
typedef struct pdp_short {
	char s[48];
} pdp_short;

static pdp_short pdp_shorten(const char *in)
{
	pdp_short r;
	size_t i = 0;
	for (; in && in[i] && i < 40; i++)
		r.s[i] = (in[i] >= 0x20 && in[i] < 0x7f && in[i] != '"') ? in[i] : '?';
	if (in && in[i])
		memcpy(r.s + i, "...", 3), i += 3;
	r.s[i] = '\0';
	return r;
}

#define SHORT(x) (pdp_shorten(x).s)

/* --- identifiers --------------------------------------------------------------- */

/* An organisation id: a lowercase slug. */
static bool pdp_slug_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > PDP_MAX_NAME || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* A column name: an SQL-style identifier. */
static bool pdp_column_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > PDP_MAX_NAME || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* A uid or dataset id: printable ASCII without spaces or quotes. */
static bool pdp_id_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > PDP_MAX_ID)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '"' || s[i] == '\\')
			return false;
	return true;
}

/* --- operators and left operands ------------------------------------------- */

enum {
	PDP_OP_EQ,
	PDP_OP_NEQ,
	PDP_OP_LT,
	PDP_OP_LTEQ,
	PDP_OP_GT,
	PDP_OP_GTEQ,
	PDP_OP_ISA,
	PDP_OP_ISANYOF,
	PDP_OP_ISALLOF,
	PDP_OP_ISNONEOF,
	PDP_OP_ISPARTOF,
	PDP_OP_HASPART,
	PDP_OP_COUNT_
};

static const char *const pdp_op_names[PDP_OP_COUNT_] = {
        "eq",  "neq",     "lt",      "lteq",     "gt",       "gteq",
        "isA", "isAnyOf", "isAllOf", "isNoneOf", "isPartOf", "hasPart"};

enum {
	PDP_LO_PURPOSE,
	PDP_LO_RECIPIENT,
	PDP_LO_KIND,
	PDP_LO_DATETIME,
	PDP_LO_MIN_K,
	PDP_LO_EPS_QUERY,
	PDP_LO_EPS_BUDGET,
	PDP_LO_PERIOD,
	PDP_LO_GRAN,
	PDP_LO_DIMS,
	PDP_LO_MEASURES,
	PDP_LO_MAX_CONTRIB,
	PDP_LO_PERSONAL,
	PDP_LO_DOMINANCE,
	PDP_LO_COUNT_
};

/* What a left operand is: a condition any rule may carry, a condition on the shape of the
 * query (permissions only), or an obligation (permissions only). */
enum { PDP_CLS_COND, PDP_CLS_SHAPE, PDP_CLS_OBLIGATION };

/* Literal types a typed rightOperand ({"@value", "@type"}) may declare. */
enum {
	PDP_T_NONE,
	PDP_T_STRING,
	PDP_T_DATETIME,
	PDP_T_INTEGER,
	PDP_T_DECIMAL,
	PDP_T_DURATION,
	PDP_T_BOOLEAN
};

#define PDP_OPB(o) (1u << (o))

static const struct pdp_lo_def {
	const char *name;
	uint32_t ops;
	uint8_t cls;
	uint8_t type; /* scalar literal type; PDP_T_NONE when the operand is a list */
} pdp_lo_defs[PDP_LO_COUNT_] = {
        [PDP_LO_PURPOSE] = {"purpose", PDP_OPB(PDP_OP_ISA) | PDP_OPB(PDP_OP_ISANYOF), PDP_CLS_COND,
                            PDP_T_STRING},
        [PDP_LO_RECIPIENT] = {"recipient", PDP_OPB(PDP_OP_EQ) | PDP_OPB(PDP_OP_ISANYOF),
                              PDP_CLS_COND, PDP_T_STRING},
        [PDP_LO_KIND] = {"fiducia:recipientKind", PDP_OPB(PDP_OP_EQ) | PDP_OPB(PDP_OP_ISANYOF),
                         PDP_CLS_COND, PDP_T_STRING},
        [PDP_LO_DATETIME] = {"dateTime",
                             PDP_OPB(PDP_OP_LT) | PDP_OPB(PDP_OP_LTEQ) | PDP_OPB(PDP_OP_GT) |
                                     PDP_OPB(PDP_OP_GTEQ),
                             PDP_CLS_COND, PDP_T_DATETIME},
        [PDP_LO_MIN_K] = {"fiducia:minGroupSize", PDP_OPB(PDP_OP_GTEQ), PDP_CLS_OBLIGATION,
                          PDP_T_INTEGER},
        [PDP_LO_EPS_QUERY] = {"fiducia:epsilonPerQuery", PDP_OPB(PDP_OP_LTEQ), PDP_CLS_OBLIGATION,
                              PDP_T_DECIMAL},
        [PDP_LO_EPS_BUDGET] = {"fiducia:epsilonBudget", PDP_OPB(PDP_OP_LTEQ), PDP_CLS_OBLIGATION,
                               PDP_T_DECIMAL},
        [PDP_LO_PERIOD] = {"fiducia:budgetPeriod", PDP_OPB(PDP_OP_EQ), PDP_CLS_OBLIGATION,
                           PDP_T_DURATION},
        [PDP_LO_GRAN] = {"fiducia:timeGranularity", PDP_OPB(PDP_OP_GTEQ), PDP_CLS_SHAPE,
                         PDP_T_STRING},
        [PDP_LO_DIMS] = {"fiducia:dimensions", PDP_OPB(PDP_OP_ISANYOF), PDP_CLS_SHAPE, PDP_T_NONE},
        [PDP_LO_MEASURES] = {"fiducia:measures", PDP_OPB(PDP_OP_ISANYOF), PDP_CLS_SHAPE,
                             PDP_T_NONE},
        [PDP_LO_MAX_CONTRIB] = {"fiducia:maxContributionsPerSubject", PDP_OPB(PDP_OP_LTEQ),
                                PDP_CLS_OBLIGATION, PDP_T_INTEGER},
        [PDP_LO_PERSONAL] = {"fiducia:personalData", PDP_OPB(PDP_OP_EQ), PDP_CLS_COND,
                             PDP_T_BOOLEAN},
        [PDP_LO_DOMINANCE] = {"fiducia:dominanceThreshold", PDP_OPB(PDP_OP_LTEQ),
                              PDP_CLS_OBLIGATION, PDP_T_DECIMAL},
};

/* ODRL 2.2 action names a rule may carry. Permissions may only name "aggregate". */
static const char *const pdp_odrl_actions[] = {"aggregate",
                                               "use",
                                               "read",
                                               "distribute",
                                               "derive",
                                               "sell",
                                               "reproduce",
                                               "transfer",
                                               "modify",
                                               "delete",
                                               "display",
                                               "print",
                                               "play",
                                               "index",
                                               "anonymize",
                                               "archive",
                                               "annotate",
                                               "execute",
                                               "extract",
                                               "transform",
                                               "concurrentUse",
                                               "grantUse",
                                               "inform",
                                               "install",
                                               "present",
                                               "stream",
                                               "textToSpeech",
                                               "translate",
                                               "watermark",
                                               "compensate",
                                               "attribute",
                                               "include",
                                               "ensureExclusivity",
                                               "nextPolicy",
                                               "obtainConsent",
                                               "reviewPolicy",
                                               "uninstall",
                                               "acceptTracking",
                                               "move",
                                               "give",
                                               "lend",
                                               "lease",
                                               "license"};

/* Names "lt, lteq and gt" of the operators in a mask, for messages. */
static void pdp_ops_list(uint32_t ops, char *out, size_t cap)
{
	size_t n = 0, total = 0, seen = 0;
	for (int i = 0; i < PDP_OP_COUNT_; i++)
		total += (ops >> i) & 1u;
	out[0] = '\0';
	for (int i = 0; i < PDP_OP_COUNT_; i++) {
		if (!((ops >> i) & 1u))
			continue;
		seen++;
		const char *sep = seen == 1 ? "" : seen == total ? " or " : ", ";
		int w = snprintf(out + n, cap - n, "%s%s", sep, pdp_op_names[i]);
		if (w < 0 || (size_t)w >= cap - n)
			return;
		n += (size_t)w;
	}
}

/* --- member checks -------------------------------------------------------------- */

/* Fails on the first member of obj not in the NULL-terminated list `known`. */
static bool pdp_members_known(pdp_cctx *c, json_t *obj, const char *const *known)
{
	const char *key;
	json_t *val;

	json_object_foreach(obj, key, val)
	{
		bool ok = false;
		for (const char *const *k = known; *k; k++)
			if (strcmp(*k, key) == 0)
				ok = true;
		if (!ok) {
			size_t m = pdp_ptr_push(c, key);
			pdp_fail(c, "unknown member \"%s\": not part of the Fiducia profile",
			         SHORT(key));
			pdp_ptr_pop(c, m);
			return false;
		}
	}
	return true;
}

/* The member `key` of obj; on absence fails with its pointer when required. */
static bool pdp_member(pdp_cctx *c, json_t *obj, const char *key, bool required, json_t **out)
{
	*out = json_object_get(obj, key);
	if (!*out && required) {
		size_t m = pdp_ptr_push(c, key);
		pdp_fail(c, "missing required member \"%s\"", key);
		pdp_ptr_pop(c, m);
		return false;
	}
	return true;
}

static const char *pdp_arena_strdup(pdp_cctx *c, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = pdp_arena_alloc(c->pol, n);
	if (d)
		memcpy(d, s, n);
	return d;
}

typedef bool (*pdp_elem_ok)(const char *);

/* A string, or (when as_list) an array of 1..PDP_MAX_LIST strings, each accepted by ok(),
 * copied into *set. The pointer is the value's own. */
static bool pdp_strings(pdp_cctx *c, json_t *v, bool as_list, pdp_elem_ok ok, const char *what,
                        pdp_strset *set)
{
	size_t n = 1;
	if (as_list) {
		if (!json_is_array(v))
			return pdp_fail(c, "must be an array of %ss", what);
		n = json_array_size(v);
		if (n == 0)
			return pdp_fail(c, "must not be empty");
		if (n > PDP_MAX_LIST)
			return pdp_fail(c, "at most %d %ss", PDP_MAX_LIST, what);
	} else if (!json_is_string(v)) {
		return pdp_fail(c, "must be a string (%s)", what);
	}
	set->v = pdp_arena_alloc(c->pol, n * sizeof *set->v);
	if (!set->v)
		return pdp_fail(c, "out of memory");
	set->n = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *e = as_list ? json_array_get(v, i) : v;
		size_t m = as_list ? pdp_ptr_push_index(c, i) : c->plen;
		if (!json_is_string(e)) {
			pdp_fail(c, "must be a string (%s)", what);
			return false;
		}
		const char *s = json_string_value(e);
		if (strlen(s) != json_string_length(e) || !ok(s)) {
			pdp_fail(c, "\"%s\" is not a valid %s", SHORT(s), what);
			return false;
		}
		set->v[set->n] = pdp_arena_strdup(c, s);
		if (!set->v[set->n])
			return pdp_fail(c, "out of memory");
		set->n++;
		pdp_ptr_pop(c, m);
	}
	return true;
}

/* --- constraints ------------------------------------------------------------------- */

static const char *const pdp_xsd_names[][4] = {
        [PDP_T_NONE] = {NULL},
        [PDP_T_STRING] = {"string", NULL},
        [PDP_T_DATETIME] = {"dateTime", "dateTimeStamp", NULL},
        [PDP_T_INTEGER] = {"integer", "positiveInteger", "nonNegativeInteger", NULL},
        [PDP_T_DECIMAL] = {"decimal", "double", "float", "integer"},
        [PDP_T_DURATION] = {"duration", NULL},
        [PDP_T_BOOLEAN] = {"boolean", NULL},
};

static bool pdp_xsd_ok(uint8_t type, const char *t)
{
	const char *local = NULL;
	if (strncmp(t, "xsd:", 4) == 0)
		local = t + 4;
	else if (strncmp(t, "http://www.w3.org/2001/XMLSchema#", 33) == 0)
		local = t + 33;
	if (!local)
		return false;
	for (int i = 0; i < 4 && pdp_xsd_names[type][i]; i++)
		if (strcmp(pdp_xsd_names[type][i], local) == 0)
			return true;
	return false;
}

/* Unwraps a typed literal {"@value": v, "@type": "xsd:..."}; the pointer is at rightOperand.
 * Returns the literal, or NULL after failing. */
static json_t *pdp_literal(pdp_cctx *c, json_t *ro, uint8_t type)
{
	static const char *const known[] = {"@value", "@type", NULL};
	json_t *val, *t;

	if (!json_is_object(ro))
		return ro;
	if (!pdp_members_known(c, ro, known) || !pdp_member(c, ro, "@value", true, &val))
		return NULL;
	t = json_object_get(ro, "@type");
	if (t) {
		size_t m = pdp_ptr_push(c, "@type");
		if (!json_is_string(t) || !pdp_xsd_ok(type, json_string_value(t))) {
			pdp_fail(c, "@type must be xsd:%s", pdp_xsd_names[type][0]);
			return NULL;
		}
		pdp_ptr_pop(c, m);
	}
	if (json_is_object(val) || json_is_array(val)) {
		pdp_ptr_push(c, "@value");
		pdp_fail(c, "@value must be a literal");
		return NULL;
	}
	return val;
}

/* Per-rule compile state: where each operand was seen, for duplicates and cross-checks. */
typedef struct pdp_rstate {
	int seen[PDP_LO_COUNT_]; /* constraint index + 1 of the operand's constraint */
} pdp_rstate;

static bool pdp_purpose_one(pdp_cctx *c, json_t *e, pdp_pset *out)
{
	if (!json_is_string(e))
		return pdp_fail(c, "must be a string (purpose id)");
	int i = pdp_vocab_find(c->vocab, json_string_value(e));
	if (i < 0)
		return pdp_fail(c, "unknown purpose \"%s\": not in the purpose vocabulary",
		                SHORT(json_string_value(e)));
	for (int w = 0; w < PDP_PSET_WORDS; w++)
		out->w[w] |= c->vocab->desc[i].w[w];
	return true;
}

static bool pdp_kind_one(pdp_cctx *c, json_t *e, uint32_t *kinds)
{
	pdp_kind k;
	if (!json_is_string(e))
		return pdp_fail(c, "must be a string (recipient kind)");
	if (!pdp_kind_parse(json_string_value(e), &k))
		return pdp_fail(c,
		                "unknown recipient kind \"%s\" (PUBLIC_AUTHORITY, "
		                "RESEARCH_ORGANISATION, NON_PROFIT, COMMERCIAL, HOLDER, OPERATOR, "
		                "REGULATOR)",
		                SHORT(json_string_value(e)));
	*kinds |= 1u << k;
	return true;
}

/* Compiles the rightOperand (pointer already at it) of operand lo under operator op. */
static bool pdp_right(pdp_cctx *c, pdp_rule *r, int lo, int op, json_t *ro)
{
	const struct pdp_lo_def *d = &pdp_lo_defs[lo];
	bool list = op == PDP_OP_ISANYOF;
	json_t *v = list ? ro : pdp_literal(c, ro, d->type);

	if (!v)
		return false;
	if (list && !json_is_array(v))
		return pdp_fail(c, "%s with isAnyOf needs an array", d->name);
	if (list && (json_array_size(v) == 0 || json_array_size(v) > PDP_MAX_LIST))
		return pdp_fail(c, "%s with isAnyOf needs 1 to %d values", d->name, PDP_MAX_LIST);

	switch (lo) {
	case PDP_LO_PURPOSE:
		r->conds |= PDP_C_PURPOSE;
		if (!list)
			return pdp_purpose_one(c, v, &r->purposes);
		for (size_t i = 0; i < json_array_size(v); i++) {
			size_t m = pdp_ptr_push_index(c, i);
			if (!pdp_purpose_one(c, json_array_get(v, i), &r->purposes))
				return false;
			pdp_ptr_pop(c, m);
		}
		return true;
	case PDP_LO_RECIPIENT:
		r->conds |= PDP_C_RECIPIENT;
		return pdp_strings(c, v, list, pdp_slug_ok, "organisation id", &r->recipients);
	case PDP_LO_KIND:
		r->conds |= PDP_C_KIND;
		if (!list)
			return pdp_kind_one(c, v, &r->kinds);
		for (size_t i = 0; i < json_array_size(v); i++) {
			size_t m = pdp_ptr_push_index(c, i);
			if (!pdp_kind_one(c, json_array_get(v, i), &r->kinds))
				return false;
			pdp_ptr_pop(c, m);
		}
		return true;
	case PDP_LO_DATETIME: {
		int64_t t;
		if (!json_is_string(v) || !pdp_datetime_parse(json_string_value(v), &t) ||
		    t < -62135596800 || t > 253402300799)
			return pdp_fail(c, "dateTime must be an RFC 3339 date-time with whole "
			                   "seconds and a time zone, such as 2026-12-31T23:59:59Z");
		const char *txt = json_string_value(v);
		/* Whole seconds: lt T is now <= T-1, gt T is now >= T+1. */
		if (op == PDP_OP_LT || op == PDP_OP_LTEQ) {
			int64_t hi = op == PDP_OP_LT ? t - 1 : t;
			if (!(r->conds & PDP_C_NOT_AFTER) || hi < r->not_after) {
				r->not_after = hi;
				r->na_op = op == PDP_OP_LT ? PDP_DT_LT : PDP_DT_LTEQ;
				snprintf(r->na_text, sizeof r->na_text, "%s", txt);
			}
			r->conds |= PDP_C_NOT_AFTER;
		} else {
			int64_t lo_ = op == PDP_OP_GT ? t + 1 : t;
			if (!(r->conds & PDP_C_NOT_BEFORE) || lo_ > r->not_before) {
				r->not_before = lo_;
				r->nb_op = op == PDP_OP_GT ? PDP_DT_GT : PDP_DT_GTEQ;
				snprintf(r->nb_text, sizeof r->nb_text, "%s", txt);
			}
			r->conds |= PDP_C_NOT_BEFORE;
		}
		return true;
	}
	case PDP_LO_MIN_K:
		if (!json_is_integer(v))
			return pdp_fail(c, "fiducia:minGroupSize must be an integer");
		if (json_integer_value(v) < 2)
			return pdp_fail(c, "fiducia:minGroupSize must be at least 2");
		if (json_integer_value(v) > 1000000)
			return pdp_fail(c, "fiducia:minGroupSize must be at most 1000000");
		r->obls |= PDP_O_MIN_K;
		r->min_k = (uint32_t)json_integer_value(v);
		return true;
	case PDP_LO_EPS_QUERY:
	case PDP_LO_EPS_BUDGET: {
		if (!json_is_number(v))
			return pdp_fail(c, "%s must be a number", d->name);
		double e = json_number_value(v);
		if (!(e > 0))
			return pdp_fail(c, "%s must be greater than 0", d->name);
		if (e > 1000)
			return pdp_fail(c, "%s must be at most 1000", d->name);
		if (lo == PDP_LO_EPS_QUERY) {
			r->obls |= PDP_O_EPS_QUERY;
			r->eps_query = e;
		} else {
			r->obls |= PDP_O_EPS_BUDGET;
			r->eps_budget = e;
		}
		return true;
	}
	case PDP_LO_PERIOD:
		if (!json_is_string(v) || !pdp_period_parse(json_string_value(v), &r->period))
			return pdp_fail(c, "fiducia:budgetPeriod must be an ISO 8601 duration with "
			                   "one component, such as P1D, P1W, P1M, P1Y or PT12H");
		r->obls |= PDP_O_PERIOD;
		return true;
	case PDP_LO_GRAN:
		if (!json_is_string(v) || !pdp_granularity_parse(json_string_value(v), &r->gran) ||
		    r->gran == PDP_GRAN_NONE)
			return pdp_fail(c,
			                "fiducia:timeGranularity must be one of HOUR, DAY, WEEK, "
			                "MONTH, YEAR");
		r->conds |= PDP_C_GRAN;
		return true;
	case PDP_LO_DIMS:
		r->conds |= PDP_C_DIMS;
		return pdp_strings(c, v, true, pdp_column_ok, "column name", &r->dims);
	case PDP_LO_MEASURES:
		r->conds |= PDP_C_MEASURES;
		return pdp_strings(c, v, true, pdp_column_ok, "column name", &r->measures);
	case PDP_LO_MAX_CONTRIB:
		if (!json_is_integer(v))
			return pdp_fail(c, "fiducia:maxContributionsPerSubject must be an integer");
		if (json_integer_value(v) < 1 || json_integer_value(v) > 1000000)
			return pdp_fail(c, "fiducia:maxContributionsPerSubject must be between 1 "
			                   "and 1000000");
		r->obls |= PDP_O_MAX_CONTRIB;
		r->max_contrib = (uint32_t)json_integer_value(v);
		return true;
	case PDP_LO_DOMINANCE: {
		if (!json_is_number(v))
			return pdp_fail(c, "fiducia:dominanceThreshold must be a number");
		double s = json_number_value(v);
		if (!(s > 0))
			return pdp_fail(c, "fiducia:dominanceThreshold must be greater than 0");
		if (s > 1)
			return pdp_fail(c, "fiducia:dominanceThreshold must be at most 1");
		r->obls |= PDP_O_DOMINANCE;
		r->dominance = s;
		return true;
	}
	case PDP_LO_PERSONAL:
		if (!json_is_boolean(v))
			return pdp_fail(c, "fiducia:personalData must be true or false");
		r->conds |= PDP_C_PERSONAL;
		r->personal = json_is_true(v);
		return true;
	}
	return pdp_fail(c, "internal error: operand %d", lo);
}

static bool pdp_constraint(pdp_cctx *c, pdp_rule *r, pdp_rule_type type, json_t *j, size_t idx,
                           pdp_rstate *st)
{
	static const char *const known[] = {"leftOperand", "operator", "rightOperand", NULL};
	json_t *jl, *jo, *jr;
	int lo = -1, op = -1;
	size_t m;

	if (!json_is_object(j))
		return pdp_fail(c, "constraint must be an object");
	if (!pdp_members_known(c, j, known) || !pdp_member(c, j, "leftOperand", true, &jl) ||
	    !pdp_member(c, j, "operator", true, &jo) ||
	    !pdp_member(c, j, "rightOperand", true, &jr))
		return false;

	m = pdp_ptr_push(c, "leftOperand");
	if (!json_is_string(jl))
		return pdp_fail(c, "leftOperand must be a string");
	for (int i = 0; i < PDP_LO_COUNT_; i++)
		if (strcmp(pdp_lo_defs[i].name, json_string_value(jl)) == 0)
			lo = i;
	if (lo < 0)
		return pdp_fail(c, "unknown leftOperand \"%s\": not part of the Fiducia profile",
		                SHORT(json_string_value(jl)));
	const struct pdp_lo_def *d = &pdp_lo_defs[lo];
	if (type == PDP_RULE_PROHIBITION && d->cls == PDP_CLS_OBLIGATION)
		return pdp_fail(c, "%s is an obligation and cannot constrain a prohibition",
		                d->name);
	if (type == PDP_RULE_PROHIBITION && d->cls == PDP_CLS_SHAPE)
		return pdp_fail(c, "%s can only constrain a permission", d->name);
	pdp_ptr_pop(c, m);
	if (st->seen[lo] && lo != PDP_LO_DATETIME)
		return pdp_fail(c, "duplicate constraint on %s in this rule (constraint %d)",
		                d->name, st->seen[lo] - 1);
	st->seen[lo] = (int)idx + 1;

	m = pdp_ptr_push(c, "operator");
	if (!json_is_string(jo))
		return pdp_fail(c, "operator must be a string");
	for (int i = 0; i < PDP_OP_COUNT_; i++)
		if (strcmp(pdp_op_names[i], json_string_value(jo)) == 0)
			op = i;
	if (op < 0)
		return pdp_fail(c, "unknown operator \"%s\"", SHORT(json_string_value(jo)));
	if (!(d->ops & PDP_OPB(op))) {
		char allowed[64];
		pdp_ops_list(d->ops, allowed, sizeof allowed);
		return pdp_fail(c, "operator %s is not allowed for %s (use %s)", pdp_op_names[op],
		                d->name, allowed);
	}
	pdp_ptr_pop(c, m);

	m = pdp_ptr_push(c, "rightOperand");
	if (!pdp_right(c, r, lo, op, jr))
		return false;
	pdp_ptr_pop(c, m);

	if (lo == PDP_LO_DATETIME && (r->conds & PDP_C_NOT_BEFORE) &&
	    (r->conds & PDP_C_NOT_AFTER) && r->not_before > r->not_after)
		return pdp_fail(c, "contradictory bounds: no instant satisfies the dateTime "
		                   "constraints of this rule");
	return true;
}

static bool pdp_rule_compile(pdp_cctx *c, pdp_rule *r, pdp_rule_type type, json_t *j)
{
	static const char *const known[] = {"uid", "action", "assignee", "constraint", NULL};
	json_t *ja, *js, *jc, *ju;
	pdp_rstate st = {{0}};
	size_t m;

	if (!json_is_object(j))
		return pdp_fail(c, "rule must be an object");
	if (!pdp_members_known(c, j, known) || !pdp_member(c, j, "action", true, &ja) ||
	    !pdp_member(c, j, "assignee", false, &js) ||
	    !pdp_member(c, j, "constraint", false, &jc) || !pdp_member(c, j, "uid", false, &ju))
		return false;

	if (ju) {
		m = pdp_ptr_push(c, "uid");
		if (!json_is_string(ju) || !pdp_id_ok(json_string_value(ju)))
			return pdp_fail(c, "uid must be a string of 1 to %d printable characters",
			                PDP_MAX_ID);
		pdp_ptr_pop(c, m);
	}

	m = pdp_ptr_push(c, "action");
	size_t na = json_is_array(ja) ? json_array_size(ja) : 1;
	if (!json_is_string(ja) && !json_is_array(ja))
		return pdp_fail(c, "action must be a string or an array of strings");
	if (na == 0 || na > 8)
		return pdp_fail(c, "action must name 1 to 8 actions");
	for (size_t i = 0; i < na; i++) {
		json_t *e = json_is_array(ja) ? json_array_get(ja, i) : ja;
		size_t mi = json_is_array(ja) ? pdp_ptr_push_index(c, i) : c->plen;
		if (!json_is_string(e))
			return pdp_fail(c, "action must be a string or an array of strings");
		const char *s = json_string_value(e);
		bool known_action = false;
		for (size_t k = 0; k < sizeof pdp_odrl_actions / sizeof pdp_odrl_actions[0]; k++)
			if (strcmp(pdp_odrl_actions[k], s) == 0)
				known_action = true;
		if (!known_action)
			return pdp_fail(c, "unknown action \"%s\": not an ODRL 2.2 action",
			                SHORT(s));
		if (type == PDP_RULE_PERMISSION && strcmp(s, "aggregate") != 0)
			return pdp_fail(c,
			                "only aggregate may be permitted: \"%s\" is denied by "
			                "construction",
			                SHORT(s));
		r->actions |= strcmp(s, "aggregate") == 0 ? PDP_A_AGGREGATE
		              : strcmp(s, "use") == 0     ? PDP_A_USE
		                                          : PDP_A_OTHER;
		pdp_ptr_pop(c, mi);
	}
	pdp_ptr_pop(c, m);

	if (js) {
		m = pdp_ptr_push(c, "assignee");
		if (!json_is_string(js) && !json_is_array(js))
			return pdp_fail(c,
			                "assignee must be an organisation id or an array of them");
		if (!pdp_strings(c, js, json_is_array(js), pdp_slug_ok, "organisation id",
		                 &r->assignees))
			return false;
		r->conds |= PDP_C_ASSIGNEE;
		pdp_ptr_pop(c, m);
	}

	if (jc) {
		m = pdp_ptr_push(c, "constraint");
		if (!json_is_array(jc))
			return pdp_fail(c, "constraint must be an array");
		if (json_array_size(jc) > PDP_MAX_CONSTRAINTS)
			return pdp_fail(c, "a rule has at most %d constraints",
			                PDP_MAX_CONSTRAINTS);
		for (size_t i = 0; i < json_array_size(jc); i++) {
			size_t mi = pdp_ptr_push_index(c, i);
			if (!pdp_constraint(c, r, type, json_array_get(jc, i), i, &st))
				return false;
			pdp_ptr_pop(c, mi);
		}
		/* Cross-constraint rules point at the constraint that completes the conflict. */
		int b = st.seen[PDP_LO_EPS_BUDGET], p = st.seen[PDP_LO_PERIOD],
		    q = st.seen[PDP_LO_EPS_QUERY];
		if (b && !p) {
			pdp_ptr_push_index(c, (size_t)b - 1);
			return pdp_fail(c, "fiducia:epsilonBudget needs a fiducia:budgetPeriod "
			                   "constraint in the same rule");
		}
		if (p && !b) {
			pdp_ptr_push_index(c, (size_t)p - 1);
			return pdp_fail(c, "fiducia:budgetPeriod without fiducia:epsilonBudget in "
			                   "the same rule");
		}
		if (b && q && r->eps_query > r->eps_budget) {
			pdp_ptr_push_index(c, (size_t)(b > q ? b : q) - 1);
			return pdp_fail(c, "contradictory bounds: fiducia:epsilonPerQuery exceeds "
			                   "fiducia:epsilonBudget");
		}
		pdp_ptr_pop(c, m);
	}
	return true;
}

static bool pdp_rules(pdp_cctx *c, json_t *arr, pdp_rule_type type)
{
	const char *name = type == PDP_RULE_PERMISSION ? "permission" : "prohibition";
	size_t m = pdp_ptr_push(c, name);

	if (!json_is_array(arr))
		return pdp_fail(c, "%s must be an array of rules", name);
	if (json_array_size(arr) > PDP_MAX_RULES) {
		pdp_ptr_push_index(c, PDP_MAX_RULES);
		return pdp_fail(c, "a policy has at most %d %s rules", PDP_MAX_RULES, name);
	}
	for (size_t i = 0; i < json_array_size(arr); i++) {
		size_t mi = pdp_ptr_push_index(c, i);
		if (!pdp_rule_compile(c, &c->pol->rules[type][i], type, json_array_get(arr, i)))
			return false;
		c->pol->n_rules[type] = i + 1;
		pdp_ptr_pop(c, mi);
	}
	pdp_ptr_pop(c, m);
	return true;
}

/* A required string member accepted by ok(), copied into out (cap bytes). */
static bool pdp_string_member(pdp_cctx *c, json_t *obj, const char *key, pdp_elem_ok ok,
                              const char *what, char *out, size_t cap)
{
	json_t *v;
	if (!pdp_member(c, obj, key, true, &v))
		return false;
	size_t m = pdp_ptr_push(c, key);
	if (!json_is_string(v))
		return pdp_fail(c, "%s must be a string", key);
	const char *s = json_string_value(v);
	if (strlen(s) != json_string_length(v) || !ok(s) || strlen(s) >= cap)
		return pdp_fail(c, "%s must be %s", key, what);
	memcpy(out, s, strlen(s) + 1);
	pdp_ptr_pop(c, m);
	return true;
}

static bool pdp_target_ok(const char *s)
{
	return strcmp(s, "*") == 0 || pdp_id_ok(s);
}

static bool pdp_policy_compile(pdp_cctx *c, json_t *root, pdp_scope scope)
{
	static const char *const known[] = {"@context",   "@type",       "uid",
	                                    "profile",    "assigner",    "target",
	                                    "permission", "prohibition", NULL};
	json_t *v, *perm, *prohib;
	pdp_policy *p = c->pol;

	if (!json_is_object(root))
		return pdp_fail(c, "policy must be a JSON object");
	if (!pdp_members_known(c, root, known))
		return false;
	v = json_object_get(root, "@context");
	if (v && !json_is_string(v) && !json_is_array(v) && !json_is_object(v)) {
		pdp_ptr_push(c, "@context");
		return pdp_fail(c, "@context must be a string, an array or an object");
	}
	v = json_object_get(root, "@type");
	if (v) {
		const char *t = json_string_value(v);
		pdp_ptr_push(c, "@type");
		if (!t || (strcmp(t, "Set") && strcmp(t, "Offer") && strcmp(t, "Agreement") &&
		           strcmp(t, "Policy")))
			return pdp_fail(c, "@type must be Set, Offer, Agreement or Policy");
		pdp_ptr_pop(c, 0);
	}
	if (!pdp_string_member(c, root, "uid", pdp_id_ok,
	                       "1 to 128 printable characters without spaces", p->uid,
	                       sizeof p->uid))
		return false;
	if (!pdp_member(c, root, "profile", true, &v))
		return false;
	if (!json_is_string(v) || strcmp(json_string_value(v), PDP_PROFILE) != 0) {
		pdp_ptr_push(c, "profile");
		return pdp_fail(c, "profile must be \"%s\"", PDP_PROFILE);
	}
	if (!pdp_string_member(c, root, "assigner", pdp_slug_ok,
	                       "an organisation id (a lowercase slug)", p->assigner,
	                       sizeof p->assigner))
		return false;
	if (!pdp_string_member(c, root, "target", pdp_target_ok,
	                       "a dataset id (1 to 128 printable characters) or \"*\"", p->target,
	                       sizeof p->target))
		return false;
	if (scope == PDP_SCOPE_BASELINE && strcmp(p->target, "*") != 0) {
		pdp_ptr_push(c, "target");
		return pdp_fail(c,
		                "the baseline applies to every dataset: its target must be \"*\"");
	}
	if (scope == PDP_SCOPE_DATASET && strcmp(p->target, "*") == 0) {
		pdp_ptr_push(c, "target");
		return pdp_fail(c, "target \"*\" is reserved to the operator baseline");
	}
	perm = json_object_get(root, "permission");
	prohib = json_object_get(root, "prohibition");
	if (perm && !pdp_rules(c, perm, PDP_RULE_PERMISSION))
		return false;
	if (prohib && !pdp_rules(c, prohib, PDP_RULE_PROHIBITION))
		return false;
	if (p->n_rules[PDP_RULE_PERMISSION] + p->n_rules[PDP_RULE_PROHIBITION] == 0)
		return pdp_fail(c, "a policy needs at least one permission or prohibition");
	return true;
}

pdp_policy *pdp_compile(const pdp_vocab *vocab, pdp_scope scope, const char *json, size_t len,
                        pdp_error *err)
{
	pdp_cctx c = {.vocab = vocab, .err = err};
	json_error_t jerr;
	json_t *root = NULL;

	c.ptr[0] = '\0';
	if (err)
		err->pointer[0] = err->message[0] = '\0';
	if (!vocab || !json || (scope != PDP_SCOPE_BASELINE && scope != PDP_SCOPE_DATASET)) {
		pdp_fail(&c, "no vocabulary, document or scope");
		goto fail;
	}
	if (len > PDP_MAX_POLICY_SIZE) {
		pdp_fail(&c, "policy document larger than %d bytes", PDP_MAX_POLICY_SIZE);
		goto fail;
	}
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		pdp_fail(&c, "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column,
		         SHORT(jerr.text));
		goto fail;
	}
	c.pol = calloc(1, sizeof *c.pol);
	if (!c.pol) {
		pdp_fail(&c, "out of memory");
		goto fail;
	}
	c.pol->vocab = vocab;
	c.pol->scope = scope;
	if (!pdp_policy_compile(&c, root, scope))
		goto fail;
	json_decref(root);
	return c.pol;
fail:
	pdp_policy_free(c.pol);
	json_decref(root);
	return NULL;
}

void pdp_policy_free(pdp_policy *p)
{
	if (!p)
		return;
	pdp_arena_free(p);
	free(p);
}

pdp_scope pdp_policy_scope(const pdp_policy *p)
{
	return p->scope;
}

const char *pdp_policy_uid(const pdp_policy *p)
{
	return p->uid;
}

const char *pdp_policy_assigner(const pdp_policy *p)
{
	return p->assigner;
}

const char *pdp_policy_target(const pdp_policy *p)
{
	return p->target;
}

size_t pdp_policy_rule_count(const pdp_policy *p, pdp_rule_type type)
{
	return (type == PDP_RULE_PERMISSION || type == PDP_RULE_PROHIBITION) ? p->n_rules[type] : 0;
}
