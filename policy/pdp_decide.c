/*
 * Policy decision point, evaluator: decides one request against the operator baseline and a
 * dataset policy (default deny, prohibition over permission, both policies must permit,
 * strictest obligations win) and explains the outcome in fixed-size reason strings. Nothing
 * here allocates: a decision costs a few bit tests and string compares.
 */
#include <string.h>

#include "pdp_int.h"

/* --- reasons: a tiny bounded string builder (snprintf is too slow per decision) -- */

typedef struct pdp_rb {
	char *s;
	size_t n;
} pdp_rb;

static bool pdp_rb_open(pdp_decision *d, pdp_rb *b)
{
	if (d->n_reasons >= PDP_MAX_REASONS) {
		d->reasons_truncated = true;
		return false;
	}
	b->s = d->reasons[d->n_reasons++];
	b->n = 0;
	b->s[0] = '\0';
	return true;
}

static void pdp_rb_put(pdp_rb *b, const char *s, size_t max)
{
	size_t i = 0;
	for (; s[i] && i < max && b->n + 1 < PDP_REASON_LEN; i++)
		b->s[b->n++] = s[i];
	b->s[b->n] = '\0';
}

static void pdp_rb_s(pdp_rb *b, const char *s)
{
	pdp_rb_put(b, s, PDP_REASON_LEN);
}

/* A requester-supplied value: at most 48 bytes, printable ASCII, "..." when cut. */
static void pdp_rb_v(pdp_rb *b, const char *s)
{
	size_t i = 0;
	if (!s || !*s) {
		pdp_rb_s(b, "(none)");
		return;
	}
	for (; s[i] && i < 48 && b->n + 1 < PDP_REASON_LEN; i++)
		b->s[b->n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	b->s[b->n] = '\0';
	if (s[i] && i == 48)
		pdp_rb_s(b, "...");
}

static void pdp_rb_u(pdp_rb *b, unsigned v)
{
	char t[12];
	size_t i = sizeof t - 1;
	t[i] = '\0';
	do {
		t[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	pdp_rb_s(b, t + i);
}

static void pdp_rb_rule(pdp_rb *b, pdp_scope scope, pdp_rule_type type, size_t index)
{
	pdp_rb_s(b, scope == PDP_SCOPE_BASELINE ? "baseline " : "dataset ");
	pdp_rb_s(b, type == PDP_RULE_PERMISSION ? "permission " : "prohibition ");
	pdp_rb_u(b, (unsigned)index);
}

/* A reason of the form "<a><value><b>". */
static void pdp_reason3(pdp_decision *d, const char *a, const char *value, const char *b)
{
	pdp_rb r;
	if (!pdp_rb_open(d, &r))
		return;
	pdp_rb_s(&r, a);
	if (value)
		pdp_rb_v(&r, value);
	pdp_rb_s(&r, b);
}

/* --- conditions ------------------------------------------------------------------- */

static bool pdp_strset_has(const pdp_strset *set, const char *s)
{
	if (!s)
		return false;
	for (uint16_t i = 0; i < set->n; i++)
		if (strcmp(set->v[i], s) == 0)
			return true;
	return false;
}

typedef struct pdp_ectx {
	const pdp_request *req;
	int purpose;            /* vocabulary index */
	pdp_granularity finest; /* finest time bucket of the request; NONE: no time bucket */
	int64_t now;
} pdp_ectx;

/* The conditions of r that the request fails (PDP_C_* and PDP_F_* bits); 0: r applies. */
static uint32_t pdp_failures(const pdp_rule *r, const pdp_ectx *e)
{
	const pdp_request *q = e->req;
	uint32_t c = r->conds, f = 0;

	if (!c)
		return 0;
	if ((c & PDP_C_ASSIGNEE) && !pdp_strset_has(&r->assignees, q->requester_org))
		f |= PDP_C_ASSIGNEE;
	if ((c & PDP_C_PURPOSE) && !pdp_pset_has(&r->purposes, e->purpose))
		f |= PDP_C_PURPOSE;
	if ((c & PDP_C_RECIPIENT) && !pdp_strset_has(&r->recipients, q->requester_org))
		f |= PDP_C_RECIPIENT;
	if ((c & PDP_C_KIND) &&
	    ((unsigned)q->requester_kind >= 32 || !(r->kinds & (1u << q->requester_kind))))
		f |= PDP_C_KIND;
	if ((c & PDP_C_NOT_BEFORE) && e->now < r->not_before)
		f |= PDP_C_NOT_BEFORE;
	if ((c & PDP_C_NOT_AFTER) && e->now > r->not_after)
		f |= PDP_C_NOT_AFTER;
	if ((c & PDP_C_PERSONAL) && q->personal != r->personal)
		f |= PDP_C_PERSONAL;
	if ((c & PDP_C_GRAN) && e->finest != PDP_GRAN_NONE && e->finest < r->gran)
		f |= PDP_C_GRAN;
	if (c & PDP_C_DIMS) {
		for (size_t i = 0; i < q->n_group_by && !(f & PDP_C_DIMS); i++)
			if (!pdp_strset_has(&r->dims, q->group_by[i].column))
				f |= PDP_C_DIMS;
		for (size_t i = 0; i < q->n_filters && !(f & PDP_F_FILTER); i++)
			if (!pdp_strset_has(&r->dims, q->filters[i]))
				f |= PDP_F_FILTER;
	}
	if (c & PDP_C_MEASURES) {
		for (size_t i = 0; i < q->n_measures && !(f & PDP_C_MEASURES); i++)
			if (q->measures[i].column &&
			    !pdp_strset_has(&r->measures, q->measures[i].column))
				f |= PDP_C_MEASURES;
	}
	return f;
}

static const char *const pdp_dt_names[] = {"", "lt", "lteq", "gt", "gteq"};

/* One reason per failed condition of a permission that did not apply. */
static void pdp_explain_failures(pdp_decision *d, const pdp_rule *r, pdp_scope scope, size_t idx,
                                 uint32_t f, const pdp_ectx *e)
{
	const pdp_request *q = e->req;
	pdp_rb b;

#define PDP_RULE_TAIL() pdp_rb_rule(&b, scope, PDP_RULE_PERMISSION, idx)
	if ((f & PDP_C_ASSIGNEE) && pdp_rb_open(d, &b)) {
		pdp_rb_s(&b, "requester ");
		pdp_rb_v(&b, q->requester_org);
		pdp_rb_s(&b, " is not an assignee of ");
		PDP_RULE_TAIL();
	}
	if ((f & PDP_C_PURPOSE) && pdp_rb_open(d, &b)) {
		pdp_rb_s(&b, "purpose ");
		pdp_rb_v(&b, q->purpose);
		pdp_rb_s(&b, " is not allowed by ");
		PDP_RULE_TAIL();
	}
	if ((f & PDP_C_RECIPIENT) && pdp_rb_open(d, &b)) {
		pdp_rb_s(&b, "recipient ");
		pdp_rb_v(&b, q->requester_org);
		pdp_rb_s(&b, " is not allowed by ");
		PDP_RULE_TAIL();
	}
	if ((f & PDP_C_KIND) && pdp_rb_open(d, &b)) {
		pdp_rb_s(&b, "recipient kind ");
		pdp_rb_s(&b, pdp_kind_name(q->requester_kind));
		pdp_rb_s(&b, " is not allowed by ");
		PDP_RULE_TAIL();
	}
	if ((f & PDP_C_NOT_BEFORE) && pdp_rb_open(d, &b)) {
		PDP_RULE_TAIL();
		pdp_rb_s(&b, " is not valid yet (dateTime ");
		pdp_rb_s(&b, pdp_dt_names[r->nb_op]);
		pdp_rb_s(&b, " ");
		pdp_rb_s(&b, r->nb_text);
		pdp_rb_s(&b, ")");
	}
	if ((f & PDP_C_NOT_AFTER) && pdp_rb_open(d, &b)) {
		PDP_RULE_TAIL();
		pdp_rb_s(&b, " has expired (dateTime ");
		pdp_rb_s(&b, pdp_dt_names[r->na_op]);
		pdp_rb_s(&b, " ");
		pdp_rb_s(&b, r->na_text);
		pdp_rb_s(&b, ")");
	}
	if ((f & PDP_C_PERSONAL) && pdp_rb_open(d, &b)) {
		PDP_RULE_TAIL();
		pdp_rb_s(&b, r->personal ? " applies to personal data only"
		                         : " applies to non-personal data only");
	}
	if ((f & PDP_C_GRAN) && pdp_rb_open(d, &b)) {
		pdp_rb_s(&b, "time bucket ");
		pdp_rb_s(&b, pdp_granularity_name(e->finest));
		pdp_rb_s(&b, " is finer than ");
		pdp_rb_s(&b, pdp_granularity_name(r->gran));
		pdp_rb_s(&b, " allowed by ");
		PDP_RULE_TAIL();
	}
	for (size_t i = 0; (f & PDP_C_DIMS) && i < q->n_group_by; i++) {
		if (pdp_strset_has(&r->dims, q->group_by[i].column) || !pdp_rb_open(d, &b))
			continue;
		pdp_rb_s(&b, "group-by column ");
		pdp_rb_v(&b, q->group_by[i].column);
		pdp_rb_s(&b, " is not among the dimensions allowed by ");
		PDP_RULE_TAIL();
	}
	for (size_t i = 0; (f & PDP_F_FILTER) && i < q->n_filters; i++) {
		if (pdp_strset_has(&r->dims, q->filters[i]) || !pdp_rb_open(d, &b))
			continue;
		pdp_rb_s(&b, "filter column ");
		pdp_rb_v(&b, q->filters[i]);
		pdp_rb_s(&b, " is not among the dimensions allowed by ");
		PDP_RULE_TAIL();
	}
	for (size_t i = 0; (f & PDP_C_MEASURES) && i < q->n_measures; i++) {
		const char *col = q->measures[i].column;
		if (!col || pdp_strset_has(&r->measures, col) || !pdp_rb_open(d, &b))
			continue;
		pdp_rb_s(&b, "measure ");
		pdp_rb_s(&b, pdp_agg_name(q->measures[i].fn));
		pdp_rb_s(&b, "(");
		pdp_rb_v(&b, col);
		pdp_rb_s(&b, ") is not among the measures allowed by ");
		PDP_RULE_TAIL();
	}
#undef PDP_RULE_TAIL
}

/* Why a prohibition applies, named by its most specific condition. */
static void pdp_explain_prohibition(pdp_decision *d, const pdp_rule *r, pdp_scope scope, size_t idx,
                                    const pdp_ectx *e)
{
	pdp_rb b;
	if (!pdp_rb_open(d, &b))
		return;
	if (r->conds & PDP_C_PURPOSE) {
		pdp_rb_s(&b, "purpose ");
		pdp_rb_v(&b, e->req->purpose);
	} else if (r->conds & (PDP_C_RECIPIENT | PDP_C_ASSIGNEE)) {
		pdp_rb_s(&b, "recipient ");
		pdp_rb_v(&b, e->req->requester_org);
	} else if (r->conds & PDP_C_KIND) {
		pdp_rb_s(&b, "recipient kind ");
		pdp_rb_s(&b, pdp_kind_name(e->req->requester_kind));
	} else {
		pdp_rb_s(&b, "aggregate");
	}
	pdp_rb_s(&b, " is prohibited by ");
	pdp_rb_rule(&b, scope, PDP_RULE_PROHIBITION, idx);
}

static void pdp_match(pdp_decision *d, pdp_scope scope, pdp_rule_type type, size_t idx)
{
	if (d->n_matched >= PDP_MAX_MATCHED) {
		d->matched_truncated = true;
		return;
	}
	d->matched[d->n_matched++] = (pdp_rule_ref){(uint8_t)scope, (uint8_t)type, (uint16_t)idx};
}

/* Folds a permission's obligations into ob, keeping the strictest of each. */
static void pdp_merge(pdp_obligations *ob, const pdp_rule *r)
{
	uint32_t o = r->obls;
	if ((o & PDP_O_MIN_K) && r->min_k > ob->min_k)
		ob->min_k = r->min_k;
	if ((o & PDP_O_EPS_QUERY) &&
	    (!ob->has_epsilon_per_query || r->eps_query < ob->epsilon_per_query)) {
		ob->has_epsilon_per_query = true;
		ob->epsilon_per_query = r->eps_query;
	}
	if (o & PDP_O_EPS_BUDGET) {
		if (!ob->has_epsilon_budget || r->eps_budget < ob->epsilon_budget)
			ob->epsilon_budget = r->eps_budget;
		/* The same or less budget over a longer period is the stricter rate. */
		if (!ob->has_epsilon_budget || r->period.seconds > ob->budget_period.seconds)
			ob->budget_period = r->period;
		ob->has_epsilon_budget = true;
	}
	if ((r->conds & PDP_C_GRAN) && r->gran > ob->finest_granularity)
		ob->finest_granularity = r->gran;
	if ((o & PDP_O_MAX_CONTRIB) && (ob->max_contributions_per_subject == 0 ||
	                                r->max_contrib < ob->max_contributions_per_subject))
		ob->max_contributions_per_subject = r->max_contrib;
	if ((o & PDP_O_DOMINANCE) && (!ob->has_dominance || r->dominance < ob->dominance)) {
		ob->has_dominance = true;
		ob->dominance = r->dominance;
	}
}

/* Whether policy p permits the request; records matches, reasons and obligations. */
static bool pdp_eval(const pdp_policy *p, const pdp_ectx *e, pdp_decision *d, pdp_obligations *ob)
{
	bool prohibited = false, permitted = false;
	pdp_scope scope = p->scope;

	for (size_t i = 0; i < p->n_rules[PDP_RULE_PROHIBITION]; i++) {
		const pdp_rule *r = &p->rules[PDP_RULE_PROHIBITION][i];
		if (!(r->actions & (PDP_A_AGGREGATE | PDP_A_USE)) || pdp_failures(r, e))
			continue;
		prohibited = true;
		pdp_match(d, scope, PDP_RULE_PROHIBITION, i);
		pdp_explain_prohibition(d, r, scope, i, e);
	}
	for (size_t i = 0; i < p->n_rules[PDP_RULE_PERMISSION]; i++) {
		const pdp_rule *r = &p->rules[PDP_RULE_PERMISSION][i];
		if (pdp_failures(r, e))
			continue;
		permitted = true;
		pdp_match(d, scope, PDP_RULE_PERMISSION, i);
		pdp_merge(ob, r);
	}
	if (prohibited)
		return false;
	if (permitted)
		return true;
	/* Default deny: say what each permission lacked. */
	if (p->n_rules[PDP_RULE_PERMISSION] == 0)
		pdp_reason3(d, scope == PDP_SCOPE_BASELINE ? "the baseline" : "the dataset policy",
		            NULL, " grants no permission: default deny");
	for (size_t i = 0; i < p->n_rules[PDP_RULE_PERMISSION]; i++) {
		const pdp_rule *r = &p->rules[PDP_RULE_PERMISSION][i];
		pdp_explain_failures(d, r, scope, i, pdp_failures(r, e), e);
	}
	return false;
}

pdp_effect pdp_decide(const pdp_policy *baseline, const pdp_policy *dataset_policy,
                      const pdp_request *req, int64_t now_unix, pdp_decision *out)
{
	pdp_obligations ob = {0};
	pdp_ectx e = {.req = req, .purpose = -1, .now = now_unix};
	const pdp_vocab *vocab;
	bool ok_b, ok_d;

	out->effect = PDP_DENY;
	memset(&out->obligations, 0, sizeof out->obligations);
	out->n_matched = 0;
	out->matched_truncated = false;
	out->n_reasons = 0;
	out->reasons_truncated = false;

	if (!req) {
		pdp_reason3(out, "no request", NULL, "");
		return PDP_DENY;
	}
	if (req->action != PDP_ACTION_AGGREGATE) {
		pdp_reason3(out, "action ", pdp_action_name(req->action),
		            " is never permitted: only aggregate can be granted");
		return PDP_DENY;
	}
	if (req->role != PDP_ROLE_USER) {
		pdp_reason3(out, "role ", pdp_role_name(req->role),
		            " cannot be granted aggregate: only data users can");
		return PDP_DENY;
	}
	if (!baseline || baseline->scope != PDP_SCOPE_BASELINE)
		pdp_reason3(out, "no baseline policy is in force", NULL, "");
	if (!dataset_policy || dataset_policy->scope != PDP_SCOPE_DATASET)
		pdp_reason3(out,
		            "no dataset policy: the holder has not granted permission or has "
		            "withdrawn it",
		            NULL, "");
	if (out->n_reasons)
		return PDP_DENY;
	vocab = baseline->vocab;
	if (dataset_policy->vocab != vocab) {
		pdp_reason3(out, "the baseline and the dataset policy use different vocabularies",
		            NULL, "");
		return PDP_DENY;
	}
	if (!req->dataset || strcmp(dataset_policy->target, req->dataset) != 0) {
		pdp_reason3(out, "the dataset policy does not target dataset ",
		            req->dataset ? req->dataset : "", "");
		return PDP_DENY;
	}
	e.purpose = pdp_vocab_find(vocab, req->purpose);
	if (e.purpose < 0) {
		pdp_reason3(out, "purpose ", req->purpose ? req->purpose : "",
		            " is not in the purpose vocabulary");
		return PDP_DENY;
	}
	e.finest = PDP_GRAN_NONE;
	for (size_t i = 0; i < req->n_group_by; i++) {
		pdp_granularity g = req->group_by[i].bucket;
		if (g != PDP_GRAN_NONE && (e.finest == PDP_GRAN_NONE || g < e.finest))
			e.finest = g;
	}

	ok_b = pdp_eval(baseline, &e, out, &ob);
	ok_d = pdp_eval(dataset_policy, &e, out, &ob);
	if (ok_b && ok_d) {
		out->effect = PDP_PERMIT;
		out->obligations = ob;
	}
	return out->effect;
}
