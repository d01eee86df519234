/*
 * The Fiducia policy decision point (PDP): loads the purpose vocabulary, compiles ODRL 2.2
 * policies in the Fiducia profile (policy/SPEC.md) and decides aggregate requests against
 * the operator baseline and a holder's dataset policy. Depends on jansson and libc only;
 * pdp_decide never allocates.
 */
#ifndef FIDUCIA_PDP_H
#define FIDUCIA_PDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PDP_MUSTCHECK __attribute__((warn_unused_result))

/* The profile IRI every policy must name in its "profile" member. */
#define PDP_PROFILE "urn:fiducia:odrl-profile:1"

/* Limits of the compiled form (documented in SPEC.md). */
#define PDP_MAX_PURPOSES    256     /* entries in a vocabulary */
#define PDP_MAX_RULES       32      /* permissions, and separately prohibitions, per policy */
#define PDP_MAX_CONSTRAINTS 32      /* per rule */
#define PDP_MAX_LIST        64      /* elements of an isAnyOf list or an assignee array */
#define PDP_MAX_ID          128     /* bytes of a uid, target or assigner, without the NUL */
#define PDP_MAX_NAME        63      /* bytes of an org id, purpose id or column name */
#define PDP_MAX_POLICY_SIZE 1048576 /* bytes of a policy document */

/* Fixed sizes of a decision (no allocation per decision). */
#define PDP_MAX_REASONS 16
#define PDP_REASON_LEN  200
#define PDP_MAX_MATCHED 16

/* A compile or load error: where (RFC 6901 JSON pointer into the document) and what rule was
 * broken. Never echoes more than a short prefix of an input value. */
typedef struct pdp_error {
	char pointer[256];
	char message[256];
} pdp_error;

typedef struct pdp_vocab pdp_vocab;
typedef struct pdp_policy pdp_policy;

/* Which of the two policies a document is; fixed by the caller at compile time. */
typedef enum pdp_scope {
	PDP_SCOPE_BASELINE = 0, /* the operator's platform-wide policy, target "*" */
	PDP_SCOPE_DATASET = 1,  /* a holder's policy for one dataset */
} pdp_scope;

typedef enum pdp_effect {
	PDP_DENY = 0,
	PDP_PERMIT = 1,
} pdp_effect;

/* What the requester asks to do. Only AGGREGATE can ever be permitted. */
typedef enum pdp_action {
	PDP_ACTION_AGGREGATE = 0,
	PDP_ACTION_READ,
	PDP_ACTION_DISTRIBUTE,
	PDP_ACTION_DERIVE,
	PDP_ACTION_SELL,
	PDP_ACTION_OTHER,
} pdp_action;

/* Organisation kinds: the first five mirror fiducia.v1.Org.Kind. */
typedef enum pdp_kind {
	PDP_KIND_UNSPECIFIED = 0,
	PDP_KIND_OPERATOR = 1,
	PDP_KIND_HOLDER = 2,
	PDP_KIND_PUBLIC_AUTHORITY = 3,
	PDP_KIND_REGULATOR = 4,
	PDP_KIND_RESEARCH_ORGANISATION = 5,
	PDP_KIND_NON_PROFIT = 6,
	PDP_KIND_COMMERCIAL = 7,
	PDP_KIND_COUNT_
} pdp_kind;

/* Token roles. Only USER can be granted aggregate. */
typedef enum pdp_role {
	PDP_ROLE_UNSPECIFIED = 0,
	PDP_ROLE_OPERATOR,
	PDP_ROLE_HOLDER,
	PDP_ROLE_USER,
	PDP_ROLE_REGULATOR,
} pdp_role;

/* Time buckets, finest first. NONE: the group-by column is not a time bucket. */
typedef enum pdp_granularity {
	PDP_GRAN_NONE = 0,
	PDP_GRAN_HOUR,
	PDP_GRAN_DAY,
	PDP_GRAN_WEEK,
	PDP_GRAN_MONTH,
	PDP_GRAN_YEAR,
} pdp_granularity;

typedef enum pdp_agg {
	PDP_AGG_COUNT = 0,
	PDP_AGG_SUM,
	PDP_AGG_AVG,
	PDP_AGG_MIN,
	PDP_AGG_MAX,
} pdp_agg;

/* The unit of an ISO 8601 budget period with one component (P1D, P1M, PT12H, ...). */
typedef enum pdp_period_unit {
	PDP_PERIOD_NONE = 0,
	PDP_PERIOD_HOUR,
	PDP_PERIOD_DAY,
	PDP_PERIOD_WEEK,
	PDP_PERIOD_MONTH,
	PDP_PERIOD_YEAR,
} pdp_period_unit;

typedef struct pdp_period {
	pdp_period_unit unit;
	uint32_t count;  /* >= 1 when unit != NONE */
	int64_t seconds; /* nominal length: month = 2629746 s, year = 31556952 s */
} pdp_period;

/* One aggregate of the request; column NULL for COUNT(*). */
typedef struct pdp_measure {
	pdp_agg fn;
	const char *column;
} pdp_measure;

/* One group-by column, with its time bucket when it is a time column. */
typedef struct pdp_group {
	const char *column;
	pdp_granularity bucket;
} pdp_group;

/* A request to decide. Every pointer is borrowed for the duration of pdp_decide only. */
typedef struct pdp_request {
	const char *requester_org; /* org id (slug) of the data user */
	pdp_kind requester_kind;
	pdp_role role;
	const char *dataset; /* dataset id */
	bool personal;       /* the dataset holds personal data */
	const char *purpose; /* purpose id from the vocabulary */
	pdp_action action;
	const pdp_measure *measures;
	size_t n_measures;
	const pdp_group *group_by;
	size_t n_group_by;
	const char *const *filters; /* column names used in filters */
	size_t n_filters;
} pdp_request;

/* What a PERMIT obliges the query engine to enforce (strictest of every matched permission). */
typedef struct pdp_obligations {
	uint32_t min_k;                         /* minimum group size; 0: none */
	bool has_epsilon_per_query;             /* DP required, at most this epsilon per query */
	double epsilon_per_query;               /* valid when has_epsilon_per_query */
	bool has_epsilon_budget;                /* total epsilon per period */
	double epsilon_budget;                  /* valid when has_epsilon_budget */
	pdp_period budget_period;               /* valid when has_epsilon_budget */
	pdp_granularity finest_granularity;     /* finest time bucket allowed; NONE: any */
	uint32_t max_contributions_per_subject; /* 0: none */
	bool has_dominance;                     /* SUM dominance rule; false: server default */
	double dominance;                       /* top contributor's max share, in (0, 1] */
} pdp_obligations;

typedef enum pdp_rule_type {
	PDP_RULE_PERMISSION = 0,
	PDP_RULE_PROHIBITION = 1,
} pdp_rule_type;

/* A rule that matched: /permission/<index> or /prohibition/<index> of one policy. */
typedef struct pdp_rule_ref {
	uint8_t scope; /* pdp_scope */
	uint8_t type;  /* pdp_rule_type */
	uint16_t index;
} pdp_rule_ref;

/* The outcome of pdp_decide. Caller-provided storage; nothing in it needs freeing. */
typedef struct pdp_decision {
	pdp_effect effect;
	pdp_obligations obligations; /* meaningful on PERMIT only; zero on DENY */
	size_t n_matched;
	bool matched_truncated;
	pdp_rule_ref matched[PDP_MAX_MATCHED];
	size_t n_reasons; /* >= 1 on DENY */
	bool reasons_truncated;
	char reasons[PDP_MAX_REASONS][PDP_REASON_LEN];
} pdp_decision;

/*
 * Parses and validates a purpose vocabulary (policy/purposes.json: {"purposes": [{"id", "label",
 * "parent"}]}, parents listed before their children). Returns a vocabulary the caller frees
 * with pdp_vocab_free, or NULL with *err filled (err may be NULL). json is borrowed.
 */
PDP_MUSTCHECK pdp_vocab *pdp_vocab_load(const char *json, size_t len, pdp_error *err);

/* Frees a vocabulary. Every policy compiled against it must be freed first. NULL is a no-op. */
void pdp_vocab_free(pdp_vocab *vocab);

/* Number of purposes; index of a purpose id or -1; id and label of an index (borrowed from the
 * vocabulary). */
size_t pdp_vocab_size(const pdp_vocab *vocab);
int pdp_vocab_find(const pdp_vocab *vocab, const char *id);
const char *pdp_vocab_id(const pdp_vocab *vocab, size_t index);
const char *pdp_vocab_label(const pdp_vocab *vocab, size_t index);
/* Parent index of a purpose, or -1 for a root. */
int pdp_vocab_parent(const pdp_vocab *vocab, size_t index);
/* True when purpose `child` equals `ancestor` or descends from it (the isA relation). */
bool pdp_vocab_is_a(const pdp_vocab *vocab, int child, int ancestor);

/*
 * Parses, validates and compiles one policy document for the given scope. The vocabulary is
 * borrowed and must outlive the policy; json is borrowed for the call only. Returns a policy
 * the caller frees with pdp_policy_free, or NULL with *err filled (err may be NULL).
 */
PDP_MUSTCHECK pdp_policy *pdp_compile(const pdp_vocab *vocab, pdp_scope scope, const char *json,
                                      size_t len, pdp_error *err);

/* Frees a compiled policy. NULL is a no-op. */
void pdp_policy_free(pdp_policy *policy);

/* Accessors; strings are borrowed from the policy. */
pdp_scope pdp_policy_scope(const pdp_policy *policy);
const char *pdp_policy_uid(const pdp_policy *policy);
const char *pdp_policy_assigner(const pdp_policy *policy);
const char *pdp_policy_target(const pdp_policy *policy);
size_t pdp_policy_rule_count(const pdp_policy *policy, pdp_rule_type type);

/*
 * Decides `req` at instant now_unix (seconds since the epoch, UTC) under the operator baseline
 * and the dataset policy. Either policy may be NULL (none in force, or withdrawn): the decision
 * is then DENY. Both policies must come from the same vocabulary. Fills *out (caller storage;
 * no allocation) and returns out->effect. Pointers in req are borrowed for the call only.
 */
pdp_effect pdp_decide(const pdp_policy *baseline, const pdp_policy *dataset_policy,
                      const pdp_request *req, int64_t now_unix, pdp_decision *out);

/* Names of enum values as they appear in policies and reasons (static strings), and the
 * inverse parsers, which return false on an unknown name. */
const char *pdp_effect_name(pdp_effect e);
const char *pdp_action_name(pdp_action a);
const char *pdp_kind_name(pdp_kind k);
const char *pdp_role_name(pdp_role r);
const char *pdp_granularity_name(pdp_granularity g);
const char *pdp_agg_name(pdp_agg a);
const char *pdp_scope_name(pdp_scope s);
PDP_MUSTCHECK bool pdp_action_parse(const char *s, pdp_action *out);
PDP_MUSTCHECK bool pdp_kind_parse(const char *s, pdp_kind *out);
PDP_MUSTCHECK bool pdp_role_parse(const char *s, pdp_role *out);
PDP_MUSTCHECK bool pdp_granularity_parse(const char *s, pdp_granularity *out);
PDP_MUSTCHECK bool pdp_agg_parse(const char *s, pdp_agg *out);

/*
 * Parses an ISO 8601 duration with exactly one component (PnY, PnM, PnW, PnD, PTnH) into *out.
 * Returns false when s is not one.
 */
PDP_MUSTCHECK bool pdp_period_parse(const char *s, pdp_period *out);

/*
 * Parses an RFC 3339 date-time with whole seconds and a time zone (Z or +hh:mm) into seconds
 * since the epoch. Returns false when s is not one.
 */
PDP_MUSTCHECK bool pdp_datetime_parse(const char *s, int64_t *out);

#endif
