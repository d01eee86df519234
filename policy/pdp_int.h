/*
 * Internal form of the policy decision point: the vocabulary with its precomputed isA
 * closure, and the compiled rules that pdp_decide walks. Shared by pdp.c, pdp_compile.c and
 * pdp_decide.c only; nothing outside policy/ includes it (tests may, to reach internals).
 */
#ifndef FIDUCIA_PDP_INT_H
#define FIDUCIA_PDP_INT_H

#include "pdp.h"

#define PDP_PSET_WORDS  (PDP_MAX_PURPOSES / 64)
#define PDP_VOCAB_SLOTS 512 /* open-addressing table, at least twice PDP_MAX_PURPOSES */

/* A set of purpose indices. */
typedef struct pdp_pset {
	uint64_t w[PDP_PSET_WORDS];
} pdp_pset;

static inline bool pdp_pset_has(const pdp_pset *s, int i)
{
	return i >= 0 && i < PDP_MAX_PURPOSES && (s->w[i >> 6] >> (i & 63)) & 1u;
}

static inline void pdp_pset_add(pdp_pset *s, int i)
{
	s->w[i >> 6] |= (uint64_t)1 << (i & 63);
}

typedef struct pdp_purpose {
	char id[PDP_MAX_NAME + 1];
	char label[128];
	int parent; /* -1: root */
} pdp_purpose;

struct pdp_vocab {
	size_t n;
	pdp_purpose p[PDP_MAX_PURPOSES];
	pdp_pset desc[PDP_MAX_PURPOSES]; /* desc[i]: i and every purpose below it */
	uint16_t slot[PDP_VOCAB_SLOTS];  /* index + 1 of the purpose hashed there; 0: empty */
};

/* FNV-1a, for the vocabulary's lookup table. */
static inline uint32_t pdp_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* Conditions a rule may carry; also the failure bits of pdp_decide. */
enum {
	PDP_C_ASSIGNEE = 1u << 0,
	PDP_C_PURPOSE = 1u << 1,
	PDP_C_RECIPIENT = 1u << 2,
	PDP_C_KIND = 1u << 3,
	PDP_C_NOT_BEFORE = 1u << 4,
	PDP_C_NOT_AFTER = 1u << 5,
	PDP_C_PERSONAL = 1u << 6,
	PDP_C_GRAN = 1u << 7,
	PDP_C_DIMS = 1u << 8,
	PDP_C_MEASURES = 1u << 9,
	PDP_F_FILTER = 1u << 10, /* failure only: a filter column outside the dimensions */
};

/* Obligations a permission may carry. */
enum {
	PDP_O_MIN_K = 1u << 0,
	PDP_O_EPS_QUERY = 1u << 1,
	PDP_O_EPS_BUDGET = 1u << 2,
	PDP_O_PERIOD = 1u << 3,
	PDP_O_MAX_CONTRIB = 1u << 4,
	PDP_O_DOMINANCE = 1u << 5,
};

/* ODRL actions a rule may name; only AGGREGATE and USE concern a data user's request. */
enum {
	PDP_A_AGGREGATE = 1u << 0,
	PDP_A_USE = 1u << 1,
	PDP_A_OTHER = 1u << 2,
};

/* dateTime operators, kept for reasons. */
enum { PDP_DT_LT = 1, PDP_DT_LTEQ, PDP_DT_GT, PDP_DT_GTEQ };

typedef struct pdp_strset {
	const char **v;
	uint16_t n;
} pdp_strset;

typedef struct pdp_rule {
	uint32_t conds;   /* PDP_C_* present */
	uint32_t obls;    /* PDP_O_* present */
	uint32_t actions; /* PDP_A_* named */
	pdp_strset assignees, recipients, dims, measures;
	pdp_pset purposes;             /* purposes that satisfy the purpose constraint */
	uint32_t kinds;                /* bit per pdp_kind */
	int64_t not_before, not_after; /* inclusive bounds on now, in seconds */
	uint8_t nb_op, na_op;          /* PDP_DT_* of the binding bound */
	char nb_text[40], na_text[40]; /* the binding bound as written */
	bool personal;
	pdp_granularity gran; /* finest bucket allowed */
	uint32_t min_k, max_contrib;
	double eps_query, eps_budget;
	double dominance; /* share in (0, 1] */
	pdp_period period;
} pdp_rule;

typedef struct pdp_arena_block {
	struct pdp_arena_block *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
} pdp_arena_block;

struct pdp_policy {
	const pdp_vocab *vocab;
	pdp_scope scope;
	char uid[PDP_MAX_ID + 1];
	char assigner[PDP_MAX_NAME + 1];
	char target[PDP_MAX_ID + 1];
	size_t n_rules[2]; /* by pdp_rule_type */
	pdp_rule rules[2][PDP_MAX_RULES];
	pdp_arena_block *arena;
};

#endif
