/*
 * queries: aggregate queries and privacy budgets; see queries.h.
 */
#include "queries.h"

#include <event2/event.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aggregate.h"
#include "api.h"
#include "app.h"
#include "auth.h"
#include "colcache.h"
#include "projection.h"
#include "config.h"
#include "consent_cache.h"
#include "datasets.h"
#include "db.h"
#include "disclose.h"
#include "dp.h"
#include "ledger.h"
#include "log.h"
#include "pdp.h"
#include "pgutil.h"
#include "query.h"
#include "txn.h"
#include "workers.h"
#include "fiducia/v1/common.pb-c.h"
#include "fiducia/v1/datasets.pb-c.h"
#include "fiducia/v1/queries.pb-c.h"

#define QWIN       32   /* chunks per scan window */
#define SLICE      8192 /* rows per agg_scan_subjects call, about */
#define BASELINE   "baseline"
#define MAX_PARTS  8
#define NREASONS   (PDP_MAX_REASONS + 4)
#define REASON_LEN 256

struct qchunk {
	uint8_t id[CHUNK_ID_BYTES];
	uint32_t rows;
	int key_version;
};

typedef struct qctx qctx;

struct qjob {
	qctx *q;
	int part;
};

struct qctx {
	http_req *r;
	Fiducia__V1__Query *body;
	char dataset[DS_ID_LEN + 1];
	char dataset_name[128];
	bool personal;
	schema sch;
	query_plan plan;
	bool have_plan;
	/* policies in force */
	Fiducia__V1__LedgerEntry__PolicyRef refs[2];
	Fiducia__V1__LedgerEntry__PolicyRef *refp[2];
	uint8_t sha[2][32];
	char sha_hex[2][65];
	size_t nrefs;
	/* decision */
	char reasons[NREASONS][REASON_LEN];
	char *reasonp[NREASONS];
	size_t nreasons;
	bool dp;
	uint64_t eps_micro;
	uint32_t min_k, max_rows, max_groups;
	double dominance;
	bool has_budget;
	uint64_t total_micro, spent_before;
	int64_t period_start, period_end; /* unix seconds */
	char data_version[160];
	uint8_t question[32];
	dp_rng rng;      /* the noise: libsodium's randombytes (or zero, in tests) */
	dp_rng sampling; /* contribution caps: a ChaCha20 keystream keyed by randombytes */
	/* the scan */
	ds *d;
	consent_view *view;
	agg *a;
	bool need[SCHEMA_MAX_COLUMNS];
	int cols[SCHEMA_MAX_COLUMNS], ncols;
	struct qchunk *chunks;
	size_t nchunks, w0, w1;
	int pass, parts, jobs_left;
	db_conn *conn;
	PGresult *fetched;
	colcache_entry *ent[QWIN][SCHEMA_MAX_COLUMNS];
	uint8_t *keep[QWIN];
	uint32_t *nos[QWIN];
	agg_input in[QWIN];
	struct qjob jobs[MAX_PARTS];
	/* the scan by subject (projection.h): the projection read, or the one
	 * this query builds after its scan by chunk */
	projcache *pc;
	proj *proj;
	uint32_t *proj_nos; /* per projection subject: its number, 0 when not counted */
	uint32_t *slices;   /* nslices + 1 row numbers at subject boundaries, about SLICE apart */
	size_t nslices, next_slice; /* next_slice: the next one a worker takes (atomic) */
	uint8_t digest[PROJ_DIGEST_BYTES];
	bool building;
	uint64_t proj_epoch; /* the dataset's projection forgets before its chunks were listed */
	bool proj_cols[SCHEMA_MAX_COLUMNS];
	bool failed_integrity, failed_groups;
	bool again, finish_failed, disc_failed; /* finish_work's outcome */
	char fail_msg[256];
	/* the answer */
	disc_result res;
	uint8_t *answer;
	size_t answer_len;
	uint8_t result_hash[32];
	uint64_t spent_micro, remaining_micro;
	int64_t repeat_of;
	bool repeat;
	txn *t;
	/* 0 granted, 403 denied, 429 over budget */
	int refusal;
};

static void qctx_release_window(qctx *q)
{
	colcache *cc = q->r ? q->r->app->columns : NULL;
	for (size_t i = 0; i < QWIN; i++) {
		for (int c = 0; c < SCHEMA_MAX_COLUMNS; c++)
			if (q->ent[i][c]) {
				colcache_release(cc, q->ent[i][c]);
				q->ent[i][c] = NULL;
			}
	}
	PQclear(q->fetched);
	q->fetched = NULL;
}

static void qctx_free(void *p)
{
	qctx *q = p;
	qctx_release_window(q);
	for (size_t i = 0; i < QWIN; i++) {
		free(q->keep[i]);
		free(q->nos[i]);
	}
	if (q->conn)
		db_release(q->conn);
	if (q->view)
		consent_view_release(q->view);
	if (q->proj)
		projcache_release(q->pc, q->proj);
	if (q->building)
		projcache_abandon(q->pc, q->dataset);
	free(q->proj_nos);
	free(q->slices);
	sodium_memzero(&q->rng, sizeof q->rng); /* the noise's buffered randomness */
	sodium_memzero(&q->sampling, sizeof q->sampling);
	agg_free(q->a);
	disc_result_free(&q->res);
	if (q->have_plan)
		query_plan_free(&q->plan);
	free(q->chunks);
	free(q->answer);
	ds_free(q->d);
	free(q);
}

static void add_reason(qctx *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_reason(qctx *q, const char *fmt, ...)
{
	if (q->nreasons == NREASONS)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(q->reasons[q->nreasons], REASON_LEN, fmt, ap);
	va_end(ap);
	q->reasonp[q->nreasons] = q->reasons[q->nreasons];
	q->nreasons++;
}

static void format_rfc3339(int64_t unix_s, char *buf, size_t n)
{
	time_t t = (time_t)unix_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The budget period holding now: calendar-aligned (UTC) in the policy's
 * unit, periods of `count` units counted from 1970. */
static void budget_period(const pdp_period *p, int64_t now, int64_t *start, int64_t *end)
{
	int64_t n = p->count ? p->count : 1;
	int64_t unit;
	switch (p->unit) {
	case PDP_PERIOD_HOUR:
		unit = 3600;
		break;
	case PDP_PERIOD_DAY:
		unit = 86400;
		break;
	case PDP_PERIOD_WEEK: { /* Mondays; 1970-01-05 was one */
		int64_t len = 7 * 86400 * n, base = 4 * 86400;
		int64_t k = (now - base) / len - ((now - base) % len < 0);
		*start = base + k * len;
		*end = *start + len;
		return;
	}
	case PDP_PERIOD_MONTH:
	case PDP_PERIOD_YEAR: {
		time_t t = (time_t)now;
		struct tm tm;
		gmtime_r(&t, &tm);
		int64_t months = (int64_t)(tm.tm_year - 70) * 12 + tm.tm_mon;
		int64_t per = p->unit == PDP_PERIOD_YEAR ? 12 * n : n;
		int64_t k = months / per - (months % per < 0);
		for (int e = 0; e < 2; e++) {
			int64_t m = (k + e) * per;
			struct tm s = {0};
			s.tm_year = (int)(70 + m / 12 - (m % 12 < 0));
			s.tm_mon = (int)(m % 12 + (m % 12 < 0 ? 12 : 0));
			s.tm_mday = 1;
			int64_t v = (int64_t)timegm(&s);
			if (e == 0)
				*start = v;
			else
				*end = v;
		}
		return;
	}
	default:
		unit = 86400;
		break;
	}
	int64_t len = unit * n;
	int64_t k = now / len - (now % len < 0);
	*start = k * len;
	*end = *start + len;
}

/* ---- replies --------------------------------------------------------------- */

static void reply_refusal(qctx *q, int status, uint64_t index)
{
	Fiducia__V1__Error e = FIDUCIA__V1__ERROR__INIT;
	char msg[512];
	if (status == 429) {
		char end[32];
		format_rfc3339(q->period_end, end, sizeof end);
		snprintf(msg, sizeof msg,
		         "the privacy budget of %s for this dataset is exhausted in the period "
		         "ending %s: %.6f of %.6f epsilon left, this query needs %.6f",
		         q->r->claims.org, end, (double)q->remaining_micro / 1e6,
		         (double)q->total_micro / 1e6, (double)q->eps_micro / 1e6);
		e.code = "budget_exhausted";
		e.budget_remaining = (double)q->remaining_micro / 1e6;
		e.epsilon_needed = (double)q->eps_micro / 1e6;
	} else if (status == 400) {
		snprintf(msg, sizeof msg, "%s", q->nreasons ? q->reasons[0] : "too large");
		e.code = "too_many_groups";
	} else {
		snprintf(msg, sizeof msg, "the policies in force do not permit this query: %s",
		         q->nreasons ? q->reasons[0] : "denied");
		e.code = "denied";
	}
	e.message = msg;
	e.request_id = q->r->id;
	e.reasons = q->reasonp;
	e.n_reasons = q->nreasons;
	e.ledger_index = index;
	http_reply(q->r, status, &e.base);
}

static void reply_from_txn(txn *t)
{
	qctx *q = t->ctx;
	if (q->refusal) {
		reply_refusal(q, q->refusal, txn_index_out(t));
		return;
	}
	Fiducia__V1__QueryResponse *resp =
	        fiducia__v1__query_response__unpack(NULL, q->answer_len, q->answer);
	if (!resp) {
		http_reply_error(t->r, 500, "internal", "the answer could not be read back");
		return;
	}
	resp->ledger_index = txn_index_out(t);
	resp->repeat = q->repeat;
	resp->repeat_of = q->repeat ? (uint64_t)q->repeat_of : 0;
	if (q->repeat)
		resp->epsilon_spent = 0;
	char end[32] = "";
	if (q->has_budget) {
		resp->budget_remaining = (double)q->remaining_micro / 1e6;
		format_rfc3339(q->period_end, end, sizeof end);
		resp->budget_period_end = end;
	} else {
		resp->budget_remaining = -1;
		resp->budget_period_end = "";
	}
	http_reply(t->r, 200, &resp->base);
	/* budget_period_end points at the stack: give the unpacked default back */
	resp->budget_period_end = NULL;
	protobuf_c_message_free_unpacked(&resp->base, NULL);
}

/* ---- the ledger entry --------------------------------------------------- */

static void fill_entry(qctx *q, Fiducia__V1__LedgerEntry *e, bool granted, double eps)
{
	ledger_entry_from_request(e, q->r);
	e->action = FIDUCIA__V1__LEDGER_ENTRY__ACTION__QUERY;
	e->dataset = q->dataset;
	e->purpose = q->body->purpose;
	e->policies = q->refp;
	e->n_policies = q->nrefs;
	e->canonical_query = q->have_plan ? q->plan.canonical : "";
	e->decision = granted ? FIDUCIA__V1__LEDGER_ENTRY__DECISION__GRANTED
	                      : FIDUCIA__V1__LEDGER_ENTRY__DECISION__DENIED;
	e->reasons = q->reasonp;
	e->n_reasons = q->nreasons;
	e->epsilon_spent = eps;
	if (granted && q->answer) {
		e->result_hash.data = q->result_hash;
		e->result_hash.len = 32;
	}
}

/* A refusal (403 or 429): its own transaction with only its entry. */
static void refuse_step(txn *t, PGresult *res)
{
	qctx *q = t->ctx;
	switch (t->stage++) {
	case 0: {
		(void)res;
		Fiducia__V1__LedgerEntry e = FIDUCIA__V1__LEDGER_ENTRY__INIT;
		fill_entry(q, &e, false, 0);
		txn_ledger_entry(t, &e);
		return;
	}
	default:
		txn_commit(t);
		return;
	}
}

static void refuse(qctx *q, int status)
{
	q->refusal = status;
	txn *t = txn_start(q->r, refuse_step, q);
	t->reply = reply_from_txn;
}

/* ---- the release transaction ------------------------------------------- */

static void release_step(txn *t, PGresult *res)
{
	qctx *q = t->ctx;
	char p[8][64];
	const char *pp[8];
	for (int i = 0; i < 8; i++)
		pp[i] = p[i];
	switch (t->stage++) {
	case 0: /* BEGIN done: debit */
		if (!q->has_budget) {
			t->stage = 2;
			release_step(t, NULL);
			return;
		}
		snprintf(p[0], sizeof p[0], "%s", q->r->claims.org);
		snprintf(p[1], sizeof p[1], "%s", q->dataset);
		snprintf(p[2], sizeof p[2], "%lld", (long long)q->period_start);
		snprintf(p[3], sizeof p[3], "%lld", (long long)q->period_end);
		snprintf(p[4], sizeof p[4], "%llu", (unsigned long long)q->total_micro);
		snprintf(p[5], sizeof p[5], "%llu", (unsigned long long)q->spent_micro);
		txn_sql(t,
		        "INSERT INTO budgets AS b (org, dataset, period_start, period_end, "
		        "total_micro, "
		        "spent_micro, queries) SELECT $1, $2, to_timestamp($3), to_timestamp($4), "
		        "$5, "
		        "$6, 1 WHERE $6::bigint <= $5::bigint ON CONFLICT (org, dataset, "
		        "period_start) DO UPDATE SET spent_micro = b.spent_micro + "
		        "EXCLUDED.spent_micro, total_micro = EXCLUDED.total_micro, queries = "
		        "b.queries "
		        "+ 1 WHERE b.spent_micro + EXCLUDED.spent_micro <= EXCLUDED.total_micro "
		        "RETURNING spent_micro, total_micro",
		        6, pp);
		return;
	case 1: /* debited, or not */
		if (!pg_ok(res, PGRES_TUPLES_OK)) {
			txn_fail(t, 503, "unavailable", "the budget could not be debited");
			return;
		}
		if (PQntuples(res) == 0) {
			/* Another query took the rest first: refused, and the
			 * refusal ledgered in this same transaction. */
			q->refusal = 429;
			t->stage = 10;
			snprintf(p[0], sizeof p[0], "%s", q->r->claims.org);
			snprintf(p[1], sizeof p[1], "%s", q->dataset);
			snprintf(p[2], sizeof p[2], "%lld", (long long)q->period_start);
			snprintf(p[4], sizeof p[4], "%llu", (unsigned long long)q->total_micro);
			txn_sql(t,
			        "SELECT greatest($4::bigint - spent_micro, 0) FROM budgets WHERE "
			        "org "
			        "= $1 AND dataset = $2 AND period_start = to_timestamp($3)",
			        4, (const char *const[]){p[0], p[1], p[2], p[4]});
			return;
		} else {
			uint64_t spent = strtoull(PQgetvalue(res, 0, 0), NULL, 10),
			         total = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
			q->remaining_micro = total > spent ? total - spent : 0;
		}
		/* fall through */
	case 2: { /* the entry */
		t->stage = 3;
		Fiducia__V1__LedgerEntry e = FIDUCIA__V1__LEDGER_ENTRY__INIT;
		fill_entry(q, &e, true, (double)q->spent_micro / 1e6);
		txn_ledger_entry(t, &e);
		return;
	}
	case 3: { /* the answer kept for repeats */
		if (!q->has_budget) {
			txn_commit(t);
			return;
		}
		char *ans = malloc(2 * q->answer_len + 3);
		if (!ans)
			abort();
		pg_bytea_param(ans, 2 * q->answer_len + 3, q->answer, q->answer_len);
		char qh[2 * 32 + 3];
		pg_bytea_param(qh, sizeof qh, q->question, 32);
		snprintf(p[0], sizeof p[0], "%s", q->r->claims.org);
		snprintf(p[1], sizeof p[1], "%s", q->dataset);
		snprintf(p[2], sizeof p[2], "%lld", (long long)q->period_start);
		snprintf(p[3], sizeof p[3], "%lld", (long long)t->ledger_pending);
		const char *ap[6] = {p[0], p[1], qh, p[2], q->data_version, ans};
		const char *ap2[7] = {ap[0], ap[1], ap[2], ap[3], ap[4], ap[5], p[3]};
		txn_sql(t,
		        "INSERT INTO query_answers (org, dataset, question, period_start, "
		        "data_version, answer, ledger_pending) VALUES ($1, $2, $3, "
		        "to_timestamp($4), "
		        "$5, $6, $7) ON CONFLICT (org, dataset, question, period_start) DO UPDATE "
		        "SET "
		        "data_version = EXCLUDED.data_version, answer = EXCLUDED.answer, "
		        "ledger_pending = EXCLUDED.ledger_pending, created_at = now()",
		        7, ap2);
		free(ans);
		return;
	}
	case 4: /* the answer kept; those of past periods are of no more use */
		if (!pg_ok(res, PGRES_COMMAND_OK)) {
			txn_fail(t, 503, "unavailable", "the answer could not be recorded");
			return;
		}
		snprintf(p[0], sizeof p[0], "%s", q->r->claims.org);
		snprintf(p[1], sizeof p[1], "%s", q->dataset);
		snprintf(p[2], sizeof p[2], "%lld", (long long)q->period_start);
		txn_sql(t,
		        "DELETE FROM query_answers WHERE org = $1 AND dataset = $2 AND "
		        "period_start < "
		        "to_timestamp($3)",
		        3, pp);
		return;
	case 5:
		if (!pg_ok(res, PGRES_COMMAND_OK)) {
			txn_fail(t, 503, "unavailable", "the answer could not be recorded");
			return;
		}
		txn_commit(t);
		return;
	case 10: { /* refused for the budget: what is left, then the entry */
		if (!pg_ok(res, PGRES_TUPLES_OK)) {
			txn_fail(t, 503, "unavailable", "the budget could not be read");
			return;
		}
		q->remaining_micro =
		        PQntuples(res) ? strtoull(PQgetvalue(res, 0, 0), NULL, 10) : q->total_micro;
		add_reason(q,
		           "budget exhausted: %.6f epsilon left in the period, the query needs "
		           "%.6f",
		           (double)q->remaining_micro / 1e6, (double)q->eps_micro / 1e6);
		Fiducia__V1__LedgerEntry e = FIDUCIA__V1__LEDGER_ENTRY__INIT;
		fill_entry(q, &e, false, 0);
		txn_ledger_entry(t, &e);
		return;
	}
	default: /* 11: the refusal's entry appended */
		txn_commit(t);
		return;
	}
}

/* ---- the answer ------------------------------------------------------------ */

/* A query over the group or memory limits is refused, and ledgered: the
 * refusal depends on the data, so it is on the record like an answer. */
static void refuse_too_large(qctx *q)
{
	const config *cfg = q->r->app->cfg;
	q->nreasons = 0;
	if (agg_too_large(q->a))
		add_reason(q,
		           "the query needs more than query_max_bytes (%lld) of working memory: "
		           "ask for coarser groups or fewer of them",
		           (long long)cfg->query_max_bytes);
	else
		add_reason(q,
		           "the query has more than %lld groups (query_max_groups): ask for "
		           "coarser groups or fewer of them",
		           (long long)cfg->query_max_groups);
	refuse(q, 400);
}

static void finish(qctx *q)
{
	http_req *r = q->r;
	if (q->finish_failed) {
		refuse_too_large(q);
		return;
	}
	if (q->disc_failed) {
		http_reply_error(r, 400, "invalid_argument", "%s", q->fail_msg);
		return;
	}
	Fiducia__V1__QueryResponse out = FIDUCIA__V1__QUERY_RESPONSE__INIT;
	char *colnames[QUERY_MAX_GROUPS];
	for (size_t i = 0; i < q->plan.ngroups; i++)
		colnames[i] = q->sch.cols[q->plan.groups[i].col].name;
	out.columns = colnames;
	out.n_columns = q->plan.ngroups;
	size_t nrows = q->res.nrows, nvals = 0;
	for (size_t i = 0; i < nrows; i++)
		nvals += q->res.rows[i].nvalues;
	Fiducia__V1__ResultRow *rows = calloc(nrows + 1, sizeof *rows);
	Fiducia__V1__ResultRow **rowp = calloc(nrows + 1, sizeof *rowp);
	Fiducia__V1__MeasureValue *vals = calloc(nvals + 1, sizeof *vals);
	Fiducia__V1__MeasureValue **valp = calloc(nvals + 1, sizeof *valp);
	if (!rows || !rowp || !vals || !valp)
		abort();
	size_t v = 0;
	for (size_t i = 0; i < nrows; i++) {
		const disc_row *dr = &q->res.rows[i];
		const agg_group *G = agg_get(q->a, dr->group);
		fiducia__v1__result_row__init(&rows[i]);
		rows[i].keys = G->keys;
		rows[i].n_keys = q->plan.ngroups;
		rows[i].values = &valp[v];
		rows[i].n_values = dr->nvalues;
		for (size_t k = 0; k < dr->nvalues; k++, v++) {
			fiducia__v1__measure_value__init(&vals[v]);
			vals[v].measure = dr->values[k].measure;
			vals[v].value = dr->values[k].value;
			vals[v].noise_scale = dr->values[k].scale;
			vals[v].ci95 = dr->values[k].ci95;
			vals[v].suppressed = dr->values[k].suppressed;
			valp[v] = &vals[v];
		}
		rowp[i] = &rows[i];
	}
	out.rows = rowp;
	out.n_rows = nrows;
	Fiducia__V1__Suppressed sup[3], *supp[3];
	size_t ns = 0;
	const struct {
		const char *reason;
		uint64_t n;
	} why[3] = {{"min_group_size", q->res.suppressed_k},
	            {"partition_selection", q->res.suppressed_selection},
	            {"dominance", q->res.suppressed_dominance}};
	for (int i = 0; i < 3; i++)
		if (why[i].n) {
			fiducia__v1__suppressed__init(&sup[ns]);
			sup[ns].reason = (char *)why[i].reason;
			sup[ns].groups = (int64_t)why[i].n;
			supp[ns] = &sup[ns];
			ns++;
		}
	/* Under DP the exact number of groups is not released (it has no noise). */
	out.suppressed = q->dp ? NULL : supp;
	out.n_suppressed = q->dp ? 0 : ns;
	out.suppressed_groups =
	        q->dp ? 0
	              : (int64_t)(q->res.suppressed_k + q->res.suppressed_selection +
	                          q->res.suppressed_dominance);
	q->spent_micro = q->dp ? q->res.eps_spent_micro : 0;
	out.epsilon_spent = (double)q->spent_micro / 1e6;
	Fiducia__V1__PolicyApplied pa[2], *pap[2];
	for (size_t i = 0; i < q->nrefs; i++) {
		fiducia__v1__policy_applied__init(&pa[i]);
		pa[i].scope = q->refs[i].scope;
		pa[i].version = q->refs[i].version;
		pa[i].sha256 = q->sha_hex[i];
		pap[i] = &pa[i];
	}
	out.policies = pap;
	out.n_policies = q->nrefs;
	char privacy[1024];
	int n = 0;
	if (q->dp)
		n = snprintf(privacy, sizeof privacy,
		             "differential privacy: epsilon %.6g split evenly over %u noisy "
		             "statistics (discrete Laplace noise); a group is released only when a "
		             "noisy count of its %s reaches max(%u, the partition-selection "
		             "threshold for delta 1e-8), and how many were withheld is not "
		             "released; ",
		             (double)q->spent_micro / 1e6, q->res.shares,
		             q->personal ? "subjects" : "rows", q->min_k);
	else
		n = snprintf(privacy, sizeof privacy, "no noise (the policy requires none); ");
	if (q->min_k && !q->dp)
		n += snprintf(privacy + n, sizeof privacy - (size_t)n,
		              "groups of fewer than %u %s suppressed, and histogram bins of fewer "
		              "than %u rows; ",
		              q->min_k, q->personal ? "subjects" : "rows", q->min_k);
	if (n < 0 || n > 700) /* the texts above are far shorter */
		abort();
	if (q->personal)
		n += snprintf(privacy + n, sizeof privacy - (size_t)n,
		              "at most %u rows per subject and group and %u groups per subject, "
		              "sampled at random; ",
		              q->max_rows, q->max_groups);
	if (!q->dp)
		snprintf(privacy + n, sizeof privacy - (size_t)n,
		         "a group where one contributor holds more than %.0f%% of a sum is "
		         "suppressed",
		         q->dominance * 100);
	size_t plen = strlen(privacy);
	if (plen >= 2 && privacy[plen - 2] == ';') /* no separator after the last clause */
		privacy[plen - 2] = '\0';
	out.privacy = privacy;
	out.min_group_size = q->min_k;
	out.max_contributions_per_subject = q->personal ? q->max_rows : 0;
	out.max_groups_per_subject = q->personal ? q->max_groups : 0;
	q->answer_len = fiducia__v1__query_response__get_packed_size(&out);
	q->answer = malloc(q->answer_len + 1);
	if (!q->answer)
		abort();
	fiducia__v1__query_response__pack(&out, q->answer);
	crypto_hash_sha256(q->result_hash, q->answer, q->answer_len);
	free(rows);
	free(rowp);
	free(vals);
	free(valp);
	agg_stats st;
	agg_stats_get(q->a, &st);
	/* rows scanned only: how many matched is what the noise protects */
	log_info("query %s on %s: %llu rows scanned%s, %zu groups released, epsilon %.6f", r->id,
	         q->dataset, (unsigned long long)st.rows_scanned,
	         st.second_pass ? " twice (contribution caps)" : "", nrows, out.epsilon_spent);
	txn *t = txn_start(r, release_step, q);
	t->reply = reply_from_txn;
}

/* ---- the scan ---------------------------------------------------------------- */

static void scan_window(qctx *q);

static void prepare_work(void *arg)
{
	struct qjob *j = arg;
	qctx *q = j->q;
	colcache *cc = q->r->app->columns;
	const schema *s = &q->sch;
	for (size_t i = q->w0 + (size_t)j->part; i < q->w1; i += (size_t)q->parts) {
		size_t w = i - q->w0;
		struct qchunk *ch = &q->chunks[i];
		for (int k = 0; k < q->ncols; k++) {
			int c = q->cols[k];
			if (q->ent[w][c])
				continue;
			/* find its sealed bytes in the fetched rows */
			const uint8_t *sealed = NULL;
			size_t n = 0;
			for (int row = 0; q->fetched && row < PQntuples(q->fetched); row++) {
				const uint8_t *id = (const uint8_t *)PQgetvalue(q->fetched, row, 0);
				const uint8_t *cb = (const uint8_t *)PQgetvalue(q->fetched, row, 1);
				int col = (int16_t)((uint16_t)cb[0] << 8 | cb[1]);
				if (col == c && PQgetlength(q->fetched, row, 0) == CHUNK_ID_BYTES &&
				    memcmp(id, ch->id, CHUNK_ID_BYTES) == 0) {
					sealed = (const uint8_t *)PQgetvalue(q->fetched, row, 2);
					n = (size_t)PQgetlength(q->fetched, row, 2);
					break;
				}
			}
			const uint8_t *dek = ds_dek(q->d, ch->key_version);
			uint8_t *pt =
			        n > CHUNK_SEAL_OVERHEAD ? malloc(n - CHUNK_SEAL_OVERHEAD) : NULL;
			chunk_column col;
			char err[128];
			if (!sealed || !dek || !pt ||
			    !chunk_open(dek, q->dataset, ch->id, c, (uint32_t)ch->key_version,
			                ch->rows, sealed, n, pt) ||
			    !chunk_decode(pt, n - CHUNK_SEAL_OVERHEAD, s->cols[c].type,
			                  c == s->subject, ch->rows, &col, err, sizeof err)) {
				if (pt) {
					sodium_memzero(pt, n - CHUNK_SEAL_OVERHEAD);
					free(pt);
				}
				__atomic_store_n(&q->failed_integrity, true, __ATOMIC_RELAXED);
				continue;
			}
			q->ent[w][c] = colcache_put(cc, ch->id, c, ch->rows, ch->key_version,
			                            sealed, pt, n - CHUNK_SEAL_OVERHEAD, &col);
		}
		agg_input *in = &q->in[w];
		memset(in, 0, sizeof *in);
		in->rows = ch->rows;
		bool complete = true;
		for (int k = 0; k < q->ncols; k++) {
			int c = q->cols[k];
			if (!q->ent[w][c]) {
				complete = false;
				continue;
			}
			in->cols[c] = colcache_column(q->ent[w][c]);
		}
		if (!complete)
			continue;
		if (q->personal) {
			const chunk_column *sc = in->cols[s->subject];
			free(q->keep[w]);
			free(q->nos[w]);
			q->keep[w] = malloc(ch->rows ? ch->rows : 1);
			q->nos[w] = malloc((sc->ndict ? sc->ndict : 1) * sizeof *q->nos[w]);
			if (!q->keep[w] || !q->nos[w])
				abort();
			consent_view_numbers(q->view, colcache_nonce(q->ent[w][s->subject]), sc,
			                     q->keep[w], q->nos[w]);
			in->keep = q->keep[w];
			in->subj_nos = q->nos[w];
		}
	}
}

static void scan_work(void *arg)
{
	struct qjob *j = arg;
	qctx *q = j->q;
	for (size_t i = q->w0; i < q->w1; i++) {
		if (!q->personal && (int)(i % (size_t)q->parts) != j->part)
			continue;
		if (!agg_scan(q->a, j->part, &q->in[i - q->w0])) {
			__atomic_store_n(&q->failed_groups, true, __ATOMIC_RELAXED);
			return;
		}
	}
}

/* Worker: the caps' decisions after the first pass, or the merge and
 * disclosure control after the last (sorting and sampling stay off the
 * event loop). */
static void finish_work(void *arg)
{
	qctx *q = arg;
	if (q->pass == 1 && agg_bound(q->a, &q->sampling)) {
		q->again = true;
		return;
	}
	q->again = false;
	if (!agg_finish(q->a)) {
		q->finish_failed = true;
		return;
	}
	disc_params dpp = {.dp = q->dp,
	                   .eps_micro = q->eps_micro,
	                   .min_k = q->min_k,
	                   .dominance = q->dominance,
	                   .personal = q->personal,
	                   .max_rows = q->max_rows,
	                   .max_groups = q->max_groups};
	if (!disc_run(q->a, &q->plan, &q->sch, &dpp, &q->rng, &q->res, q->fail_msg,
	              sizeof q->fail_msg))
		q->disc_failed = true;
}

static void finish_done(void *arg)
{
	qctx *q = arg;
	if (q->again) {
		q->pass = 2;
		q->w0 = 0;
		scan_window(q);
		return;
	}
	finish(q);
}

/* Worker: one partition's caps decisions after the first pass. */
static void bound_work(void *arg)
{
	struct qjob *j = arg;
	agg_bound_part(j->q->a, j->part, &j->q->sampling);
}

static void bound_worked(void *arg)
{
	struct qjob *j = arg;
	qctx *q = j->q;
	if (--q->jobs_left > 0)
		return;
	workers_submit(q->r->app->workers, finish_work, finish_done, q);
}

static void build_done(void *arg);
static void build_work(void *arg);

static void pass_done(qctx *q)
{
	if (q->building && q->pass == 1) { /* the projection, from the columns just read */
		workers_submit(q->r->app->workers, build_work, build_done, q);
		return;
	}
	if (q->pass == 1 && q->personal) { /* the partitions' caps decisions at once */
		q->jobs_left = q->parts;
		for (int p = 0; p < q->parts; p++)
			workers_submit(q->r->app->workers, bound_work, bound_worked, &q->jobs[p]);
		return;
	}
	workers_submit(q->r->app->workers, finish_work, finish_done, q);
}

static void scan_worked(void *arg)
{
	struct qjob *j = arg;
	qctx *q = j->q;
	if (--q->jobs_left > 0)
		return;
	qctx_release_window(q);
	if (q->failed_groups) {
		refuse_too_large(q);
		return;
	}
	if (q->pass == 1 && q->w0 == 0 && q->w1 < q->nchunks && q->personal) {
		/* The first window tells how many pairs to expect: size the
		 * tables once (rows are spread over chunks in deposit order). */
		uint64_t rows_seen = 0, rows_all = 0;
		for (size_t i = 0; i < q->nchunks; i++) {
			rows_all += q->chunks[i].rows;
			if (i < q->w1)
				rows_seen += q->chunks[i].rows;
		}
		if (rows_seen)
			agg_reserve_pairs(q->a, (size_t)((double)agg_pairs(q->a) *
			                                 (double)rows_all / (double)rows_seen));
	}
	q->w0 = q->w1;
	scan_window(q);
}

/* A chunk of the window did not open: either it changed since it was listed (an
 * erasure re-sealed it with fewer rows, a withdrawal deleted it), which is no fault,
 * or the stored data is damaged. */
/* The window's chunk ids as a text[] literal of hex strings: all of them, or
 * only those with a needed column not in the cache. malloc'd. */
static char *window_ids(const qctx *q, bool missing_only)
{
	char *ids = malloc((q->w1 - q->w0) * (2 * CHUNK_ID_BYTES + 1) + 3);
	if (!ids)
		abort();
	char *w = ids;
	*w++ = '{';
	for (size_t i = q->w0; i < q->w1; i++) {
		bool miss = !missing_only;
		for (int k = 0; k < q->ncols && !miss; k++)
			miss = !q->ent[i - q->w0][q->cols[k]];
		if (!miss)
			continue;
		if (w[-1] != '{')
			*w++ = ',';
		sodium_bin2hex(w, 2 * CHUNK_ID_BYTES + 1, q->chunks[i].id, CHUNK_ID_BYTES);
		w += 2 * CHUNK_ID_BYTES;
	}
	*w++ = '}';
	*w = '\0';
	return ids;
}

/* Is every chunk of the window still as the query listed it? (res: the rows
 * of chunks that are left, id, rows and key version) */
static bool window_unchanged(const qctx *q, PGresult *res)
{
	if ((size_t)PQntuples(res) != q->w1 - q->w0)
		return false;
	for (int r = 0; r < PQntuples(res); r++) {
		uint8_t id[CHUNK_ID_BYTES];
		size_t n = 0;
		if (!pg_bytea(PQgetvalue(res, r, 0), id, sizeof id, &n) || n != sizeof id)
			return false;
		size_t i = q->w0;
		while (i < q->w1 && memcmp(q->chunks[i].id, id, sizeof id) != 0)
			i++;
		if (i == q->w1 || q->chunks[i].rows != strtoul(PQgetvalue(res, r, 1), NULL, 10) ||
		    q->chunks[i].key_version != atoi(PQgetvalue(res, r, 2)))
			return false;
	}
	return true;
}

/* A chunk of the window did not open: either it changed since it was listed (an
 * erasure re-sealed it with fewer rows, a withdrawal deleted it), which is no fault,
 * or the stored data is damaged. */
static void integrity_checked(PGresult *res, void *arg)
{
	qctx *q = arg;
	if (pg_ok(res, PGRES_TUPLES_OK) && !window_unchanged(q, res)) {
		log_info("query %s: dataset %s changed while it was read; nothing released",
		         q->r->id, q->dataset);
		http_reply_error(q->r, 409, "aborted",
		                 "dataset %s changed while the query read it (an erasure or a "
		                 "withdrawal); nothing was released or spent: ask again",
		                 q->dataset);
		return;
	}
	log_error("query %s: a chunk of dataset %s fails its integrity check (altered, "
	          "misplaced or missing)",
	          q->r->id, q->dataset);
	http_reply_error(q->r, 500, "integrity",
	                 "stored data of %s fails its integrity check; nothing was "
	                 "released (run POST /v1/datasets/%s/verify)",
	                 q->dataset, q->dataset);
}

static void check_integrity(qctx *q)
{
	char *ids = window_ids(q, false);
	const char *p[1] = {ids};
	db_query(q->r->app->db,
	         "SELECT id, rows, key_version FROM chunks WHERE id IN (SELECT decode(x, 'hex') "
	         "FROM unnest($1::text[]) x)",
	         1, p, integrity_checked, q);
	free(ids);
}

static void prepared(void *arg)
{
	struct qjob *j = arg;
	qctx *q = j->q;
	if (--q->jobs_left > 0)
		return;
	if (q->failed_integrity) {
		check_integrity(q);
		return;
	}
	q->jobs_left = q->parts;
	for (int p = 0; p < q->parts; p++)
		workers_submit(q->r->app->workers, scan_work, scan_worked, &q->jobs[p]);
}

static void prepare(qctx *q)
{
	q->jobs_left = q->parts;
	for (int p = 0; p < q->parts; p++)
		workers_submit(q->r->app->workers, prepare_work, prepared, &q->jobs[p]);
}

static void fetched(PGresult *res, void *arg)
{
	qctx *q = arg;
	db_release(q->conn);
	q->conn = NULL;
	if (!pg_ok(res, PGRES_TUPLES_OK)) {
		pg_reply_error(q->r, res, "read the chunks");
		return;
	}
	q->fetched = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
	if (!q->fetched)
		abort();
	prepare(q);
}

static void fetch_conn(db_conn *c, void *arg)
{
	qctx *q = arg;
	if (!c) {
		http_reply_unavailable(q->r);
		return;
	}
	q->conn = c;
	/* the chunks with a column missing, and the columns needed */
	char *ids = window_ids(q, true);
	char cols[SCHEMA_MAX_COLUMNS * 4 + 3], *cw = cols;
	*cw++ = '{';
	for (int k = 0; k < q->ncols; k++)
		cw += sprintf(cw, "%s%d", k ? "," : "", q->cols[k]);
	*cw++ = '}';
	*cw = '\0';
	const char *p[2] = {ids, cols};
	db_conn_query_binres(c,
	                     "SELECT chunk, col, sealed FROM chunk_columns WHERE chunk IN (SELECT "
	                     "decode(x, 'hex') FROM unnest($1::text[]) x) AND col = "
	                     "ANY($2::smallint[])",
	                     2, p, fetched, q);
	free(ids);
}

#ifdef FIDUCIA_TEST_HOOKS
/* Test builds only: FIDUCIA_TEST_QUERY_FETCH_DELAY_MS holds the first window's
 * fetch back, so that a test can change the dataset between listing and reading. */
static void delayed_fetch(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	qctx *q = arg;
	db_acquire(q->r->app->db, fetch_conn, q);
}

static bool test_delay_fetch(qctx *q)
{
	const char *v = getenv("FIDUCIA_TEST_QUERY_FETCH_DELAY_MS");
	long ms = v ? strtol(v, NULL, 10) : 0;
	if (q->w0 != 0 || ms <= 0 || ms > 60000)
		return false;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	return event_base_once(q->r->app->base, -1, EV_TIMEOUT, delayed_fetch, q, &tv) == 0;
}
#endif

static void scan_window(qctx *q)
{
	if (q->w0 >= q->nchunks) {
		pass_done(q);
		return;
	}
	q->w1 = q->w0 + QWIN < q->nchunks ? q->w0 + QWIN : q->nchunks;
	bool miss = false;
	for (size_t i = q->w0; i < q->w1; i++)
		for (int k = 0; k < q->ncols; k++) {
			int c = q->cols[k];
			q->ent[i - q->w0][c] =
			        colcache_get(q->r->app->columns, q->chunks[i].id, c,
			                     q->chunks[i].rows, q->chunks[i].key_version);
			miss |= !q->ent[i - q->w0][c];
		}
	if (!miss) {
		prepare(q);
		return;
	}
#ifdef FIDUCIA_TEST_HOOKS
	if (test_delay_fetch(q))
		return;
#endif
	db_acquire(q->r->app->db, fetch_conn, q);
}

/* ---- the scan by subject -------------------------------------------------------- */

/* Worker: the projection of the chunks listed, from the column cache (which
 * the scan by chunk just filled), kept for the next queries. Columns only an
 * earlier projection of this digest had are kept when still cached. Given
 * up, at no cost to this query, when a needed column was evicted meanwhile
 * or when the projection would not fit its cap. */
static void build_work(void *arg)
{
	qctx *q = arg;
	colcache *cc = q->r->app->columns;
	projcache_stats ps;
	projcache_stats_get(q->pc, &ps);
	size_t n = q->nchunks, rows = 0, est = 0;
	for (size_t i = 0; i < n; i++)
		rows += q->chunks[i].rows;
	for (int c = 0; c < q->sch.ncols; c++)
		est += q->proj_cols[c] ? rows * (q->sch.cols[c].type == SCHEMA_STRING ? 4 : 8) : 0;
	const chunk_column *(*cols)[SCHEMA_MAX_COLUMNS] = calloc(n + 1, sizeof *cols);
	colcache_entry **pins = calloc(n * SCHEMA_MAX_COLUMNS + 1, sizeof *pins);
	if (!cols || !pins)
		abort();
	bool ok = est <= ps.max_bytes;
	for (int c = 0; c < q->sch.ncols && ok; c++) {
		for (size_t i = 0; i < n && q->proj_cols[c]; i++) {
			colcache_entry *e = colcache_get(cc, q->chunks[i].id, c, q->chunks[i].rows,
			                                 q->chunks[i].key_version);
			pins[i * SCHEMA_MAX_COLUMNS + (size_t)c] = e;
			if (e)
				cols[i][c] = colcache_column(e);
			else if (q->need[c])
				ok = false;
			else
				q->proj_cols[c] = false; /* an earlier column gone: without it */
		}
	}
	proj *p = NULL;
	char err[128] = "";
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (ok)
		p = proj_build(&q->sch, q->proj_cols, cols, n, q->parts, err, sizeof err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (p)
		log_info("dataset %s: projection in subject order built, %u rows of %u subjects, "
		         "%zu MiB, in %lld ms",
		         q->dataset, p->rows, p->nsubj, p->bytes >> 20,
		         (long long)((t1.tv_sec - t0.tv_sec) * 1000 +
		                     (t1.tv_nsec - t0.tv_nsec) / 1000000));
	else if (ok)
		log_warn("dataset %s: no projection in subject order: %s", q->dataset, err);
	for (size_t i = 0; i < n * SCHEMA_MAX_COLUMNS; i++)
		if (pins[i])
			colcache_release(cc, pins[i]);
	free(pins);
	free(cols);
	if (p)
		projcache_put(q->pc, q->dataset, p);
	else
		projcache_abandon(q->pc, q->dataset);
	q->building = false;
}

static void build_done(void *arg)
{
	pass_done(arg);
}

/* The first row of the first subject that starts at or after row r. */
static uint32_t subject_boundary(const proj *p, uint32_t r)
{
	uint32_t lo = 0, hi = p->nsubj; /* starts[hi] = rows >= r */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (p->starts[mid] >= r)
			hi = mid;
		else
			lo = mid + 1;
	}
	return p->starts[lo];
}

/* Worker: slices of the projection, taken one at a time by whichever worker
 * is free (a slice holds whole subjects, so any partition may take any
 * slice; static halves left one worker idle up to 15% of the scan). */
static void subjects_work(void *arg)
{
	struct qjob *j = arg;
	qctx *q = j->q;
	const proj *p = q->proj;
	agg_input all = {.rows = p->rows, .subj_nos = q->proj_nos};
	for (int k = 0; k < q->ncols; k++)
		all.cols[q->cols[k]] = &p->cols[q->cols[k]];
	for (;;) {
		size_t i = __atomic_fetch_add(&q->next_slice, 1, __ATOMIC_RELAXED);
		if (i >= q->nslices)
			return;
		chunk_column cols[SCHEMA_MAX_COLUMNS];
		agg_input sl;
		agg_input_slice(&all, q->slices[i], q->slices[i + 1] - q->slices[i], cols, &sl);
		if (!agg_scan_subjects(q->a, j->part, &sl, &q->sampling)) {
			__atomic_store_n(&q->failed_groups, true, __ATOMIC_RELAXED);
			return;
		}
	}
}

static void subjects_worked(void *arg)
{
	struct qjob *j = arg;
	qctx *q = j->q;
	if (--q->jobs_left > 0)
		return;
	if (q->failed_groups) {
		refuse_too_large(q);
		return;
	}
	pass_done(q);
}

/* Worker: which of the projection's subjects this query counts (consent for
 * its purpose), by the consent cache's map of the projection's subjects. */
static void subjects_numbers(void *arg)
{
	qctx *q = arg;
	const proj *p = q->proj;
	chunk_column sc = p->cols[q->sch.subject];
	sc.rows = 0; /* per subject, no row mask */
	uint8_t none = 0;
	q->proj_nos = malloc((p->nsubj ? p->nsubj : 1) * sizeof *q->proj_nos);
	if (!q->proj_nos)
		abort();
	consent_view_numbers(q->view, p->nonce, &sc, &none, q->proj_nos);
	/* the slices: about SLICE rows each, never cutting a subject */
	q->slices = malloc(((size_t)p->rows / SLICE + 2) * sizeof *q->slices);
	if (!q->slices)
		abort();
	q->nslices = 0;
	q->slices[0] = 0;
	for (uint32_t lo = 0; lo < p->rows;) {
		uint32_t e = subject_boundary(p, p->rows - lo > SLICE ? lo + SLICE : p->rows);
		q->slices[++q->nslices] = e;
		lo = e;
	}
	q->next_slice = 0;
}

static void subjects_numbered(void *arg)
{
	qctx *q = arg;
	q->jobs_left = q->parts;
	for (int p = 0; p < q->parts; p++)
		workers_submit(q->r->app->workers, subjects_work, subjects_worked, &q->jobs[p]);
}

static void chunks_listed(PGresult *res, void *arg)
{
	qctx *q = arg;
	if (!pg_ok(res, PGRES_TUPLES_OK)) {
		pg_reply_error(q->r, res, "list the chunks");
		return;
	}
	q->nchunks = (size_t)PQntuples(res);
	q->chunks = calloc(q->nchunks + 1, sizeof *q->chunks);
	if (!q->chunks)
		abort();
	for (size_t i = 0; i < q->nchunks; i++) {
		size_t n = 0;
		if (!pg_bytea(PQgetvalue(res, (int)i, 0), q->chunks[i].id, CHUNK_ID_BYTES, &n) ||
		    n != CHUNK_ID_BYTES) {
			http_reply_error(q->r, 500, "integrity", "a chunk of %s has a malformed id",
			                 q->dataset);
			return;
		}
		q->chunks[i].rows = (uint32_t)strtoul(PQgetvalue(res, (int)i, 1), NULL, 10);
		q->chunks[i].key_version = atoi(PQgetvalue(res, (int)i, 2));
	}
	const config *cfg = q->r->app->cfg;
	agg_opts o = {.max_rows = q->personal ? q->max_rows : 0,
	              .max_groups = q->personal ? q->max_groups : 0,
	              .group_limit = (size_t)cfg->query_max_groups,
	              .max_bytes = (size_t)cfg->query_max_bytes,
	              .parts = q->parts,
	              .need_fixed_dp = q->dp,
	              .dominance = !q->dp && q->dominance > 0};
	char err[256];
	q->a = agg_new(&q->plan, &q->sch, &o, err, sizeof err);
	if (!q->a) {
		http_reply_error(q->r, 400, "invalid_argument", "%s", err);
		return;
	}
	agg_columns(q->a, q->need);
	for (int c = 0; c < q->sch.ncols; c++)
		if (q->need[c])
			q->cols[q->ncols++] = c;
	q->pass = 1;
	if (q->personal) {
		/* By subject when this content's projection is kept; else by chunk,
		 * and this query builds it for the next ones. */
		q->pc = q->r->app->projections;
		proj_digest_state dg;
		proj_digest_init(&dg);
		for (size_t i = 0; i < q->nchunks; i++)
			proj_digest_chunk(&dg, q->chunks[i].id, q->chunks[i].rows,
			                  q->chunks[i].key_version);
		proj_digest_final(&dg, q->digest);
		q->proj = projcache_get(q->pc, q->dataset, q->digest, q->need);
		if (q->proj) {
			agg_by_subject(q->a);
			workers_submit(q->r->app->workers, subjects_numbers, subjects_numbered, q);
			return;
		}
		q->building =
		        projcache_begin(q->pc, q->dataset, q->digest, q->proj_epoch, q->proj_cols);
		for (int c = 0; c < q->sch.ncols; c++)
			q->proj_cols[c] |= q->need[c];
	}
	q->w0 = 0;
	scan_window(q);
}

static void list_chunks(qctx *q)
{
	if (q->personal) { /* before the list: a withdrawal committed after it voids the build */
		q->pc = q->r->app->projections;
		q->proj_epoch = projcache_epoch(q->pc, q->dataset);
	}
	const char *p[1] = {q->dataset};
	db_query(q->r->app->db,
	         "SELECT c.id, c.rows, c.key_version FROM chunks c JOIN batches b ON b.dataset = "
	         "c.dataset AND b.batch_id = c.batch_id WHERE c.dataset = $1 ORDER BY b.seq, "
	         "c.ordinal",
	         1, p, chunks_listed, q);
}

static void keys_loaded(http_req *r, ds *d)
{
	qctx *q = r->ctx;
	q->d = d;
	list_chunks(q); /* a personal dataset's consent view is loaded already */
}

/* ---- repeats ------------------------------------------------------------------ */

static void repeat_step(txn *t, PGresult *res)
{
	qctx *q = t->ctx;
	(void)res;
	if (t->stage++ == 0) {
		Fiducia__V1__LedgerEntry e = FIDUCIA__V1__LEDGER_ENTRY__INIT;
		fill_entry(q, &e, true, 0);
		txn_ledger_entry(t, &e);
		return;
	}
	txn_commit(t);
}

/* The budget left, and an answer released before to the same question. */
static void prechecked(PGresult *res, void *arg)
{
	qctx *q = arg;
	if (!pg_ok(res, PGRES_TUPLES_OK) || PQntuples(res) != 1) {
		pg_reply_error(q->r, res, "read the budget");
		return;
	}
	q->spent_before = PQgetisnull(res, 0, 0) ? 0 : strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	q->remaining_micro =
	        q->total_micro > q->spent_before ? q->total_micro - q->spent_before : 0;
	if (!PQgetisnull(res, 0, 1) && strcmp(PQgetvalue(res, 0, 1), q->data_version) == 0) {
		const char *hex = PQgetvalue(res, 0, 2);
		size_t cap = strlen(hex) / 2 + 1, n = 0;
		q->answer = malloc(cap);
		if (!q->answer)
			abort();
		if (pg_bytea(hex, q->answer, cap, &n)) {
			q->answer_len = n;
			q->repeat = true;
			q->repeat_of = PQgetisnull(res, 0, 3)
			                       ? 0
			                       : strtoll(PQgetvalue(res, 0, 3), NULL, 10);
			crypto_hash_sha256(q->result_hash, q->answer, q->answer_len);
			add_reason(q,
			           "repeat of the answer released in ledger entry %lld: no budget "
			           "spent",
			           (long long)q->repeat_of);
			txn *t = txn_start(q->r, repeat_step, q);
			t->reply = reply_from_txn;
			return;
		}
		free(q->answer);
		q->answer = NULL;
	}
	if (q->spent_before + q->eps_micro > q->total_micro) {
		add_reason(
		        q,
		        "budget exhausted: %.6f epsilon left in the period, the query needs %.6f",
		        (double)q->remaining_micro / 1e6, (double)q->eps_micro / 1e6);
		refuse(q, 429);
		return;
	}
	ds_load_id(q->r, q->dataset, DS_ANY, keys_loaded);
}

/* With a budget: the budget left and an answer released before; then the
 * scan. */
static void precheck(qctx *q)
{
	http_req *r = q->r;
	if (!q->has_budget) {
		ds_load_id(r, q->dataset, DS_ANY, keys_loaded);
		return;
	}
	char ps[32], qh[2 * 32 + 3];
	snprintf(ps, sizeof ps, "%lld", (long long)q->period_start);
	pg_bytea_param(qh, sizeof qh, q->question, 32);
	const char *p[4] = {r->claims.org, q->dataset, ps, qh};
	db_query(r->app->db,
	         "SELECT (SELECT spent_micro FROM budgets WHERE org = $1 AND dataset = $2 AND "
	         "period_start = to_timestamp($3)), a.data_version, a.answer, e.idx FROM (SELECT "
	         "1) one LEFT JOIN query_answers a ON a.org = $1 AND a.dataset = $2 AND "
	         "a.question = $4 AND a.period_start = to_timestamp($3) LEFT JOIN ledger_entries "
	         "e ON e.pending_id = a.ledger_pending",
	         4, p, prechecked, q);
}

static void view_first(consent_view *v, void *arg)
{
	qctx *q = arg;
	if (!v) {
		http_reply_unavailable(q->r);
		return;
	}
	q->view = v;
	/* until the next validity boundary of a record, the view counts the
	 * same subjects at the same consent version */
	size_t n = strlen(q->data_version);
	snprintf(q->data_version + n, sizeof q->data_version - n, "/u%lld",
	         (long long)consent_view_until(v));
	precheck(q);
}

/* ---- the decision --------------------------------------------------------- */

static pdp_granularity granularity(query_bucket b)
{
	switch (b) {
	case FIDUCIA__V1__QUERY__GROUP__BUCKET__HOUR:
		return PDP_GRAN_HOUR;
	case FIDUCIA__V1__QUERY__GROUP__BUCKET__DAY:
		return PDP_GRAN_DAY;
	case FIDUCIA__V1__QUERY__GROUP__BUCKET__WEEK:
		return PDP_GRAN_WEEK;
	case FIDUCIA__V1__QUERY__GROUP__BUCKET__MONTH:
		return PDP_GRAN_MONTH;
	default:
		return PDP_GRAN_NONE;
	}
}

static bool hex32(const char *s, uint8_t out[32])
{
	size_t n = 0;
	return s && strlen(s) == 64 && sodium_hex2bin(out, 32, s, 64, NULL, &n, NULL) == 0 &&
	       n == 32;
}

static void meta_loaded(PGresult *res, void *arg)
{
	qctx *q = arg;
	http_req *r = q->r;
	const config *cfg = r->app->cfg;
	if (!pg_ok(res, PGRES_TUPLES_OK)) {
		pg_reply_error(r, res, "read the dataset and its policies");
		return;
	}
	if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 1), "ACTIVE") != 0) {
		http_reply_error(r, 404, "not_found", "no dataset %s", q->dataset);
		return;
	}
	q->personal = PQgetvalue(res, 0, 2)[0] == 't';
	snprintf(q->dataset_name, sizeof q->dataset_name, "%s", PQgetvalue(res, 0, 4));
	/* the schema */
	char err[256];
	if (!ds_schema_parse(PQgetvalue(res, 0, 3), q->personal, &q->sch)) {
		http_reply_error(r, 500, "internal", "the stored schema of %s is unreadable",
		                 q->dataset);
		return;
	}
	/* the question: checked against the schema (a 400 is not a decision) */
	if (!query_plan_build(q->body, &q->sch, &q->plan, err, sizeof err)) {
		http_reply_error(r, 400, "invalid_argument", "%s", err);
		return;
	}
	q->have_plan = true;
	/* the policies in force: columns 6-9 the baseline, 10-13 the dataset's */
	pdp_policy *pol[2] = {NULL, NULL};
	for (int k = 0; k < 2; k++) {
		int c = 6 + 4 * k;
		if (PQgetisnull(res, 0, c) || PQgetvalue(res, 0, c + 2)[0] == 't')
			continue;
		const char *doc = PQgetvalue(res, 0, c + 3);
		pol[k] = pdp_compile(r->app->vocab, k ? PDP_SCOPE_DATASET : PDP_SCOPE_BASELINE, doc,
		                     strlen(doc), NULL);
		size_t i = q->nrefs++;
		fiducia__v1__ledger_entry__policy_ref__init(&q->refs[i]);
		q->refs[i].scope = k ? q->dataset : BASELINE;
		q->refs[i].version = strtoll(PQgetvalue(res, 0, c), NULL, 10);
		snprintf(q->sha_hex[i], sizeof q->sha_hex[i], "%s", PQgetvalue(res, 0, c + 1));
		if (hex32(q->sha_hex[i], q->sha[i])) {
			q->refs[i].sha256.data = q->sha[i];
			q->refs[i].sha256.len = 32;
		}
		q->refp[i] = &q->refs[i];
	}
	pdp_kind kind = PDP_KIND_UNSPECIFIED;
	if (!PQgetisnull(res, 0, 5) && !pdp_kind_parse(PQgetvalue(res, 0, 5), &kind))
		kind = PDP_KIND_UNSPECIFIED;
	pdp_measure pm[QUERY_MAX_MEASURES];
	pdp_group pg[QUERY_MAX_GROUPS];
	const char *pf[QUERY_MAX_FILTERS];
	for (size_t i = 0; i < q->plan.nmeasures; i++) {
		query_fn fn = q->plan.measures[i].fn;
		int c = q->plan.measures[i].col;
		pm[i].fn = fn == FIDUCIA__V1__QUERY__MEASURE__FN__SUM    ? PDP_AGG_SUM
		           : fn == FIDUCIA__V1__QUERY__MEASURE__FN__MEAN ? PDP_AGG_AVG
		                                                         : PDP_AGG_COUNT;
		pm[i].column = c >= 0 ? q->sch.cols[c].name : NULL;
	}
	for (size_t i = 0; i < q->plan.ngroups; i++) {
		pg[i].column = q->sch.cols[q->plan.groups[i].col].name;
		pg[i].bucket = granularity(q->plan.groups[i].bucket);
	}
	for (size_t i = 0; i < q->plan.nfilters; i++)
		pf[i] = q->sch.cols[q->plan.filters[i].col].name;
	const char *target = q->dataset;
	if (pol[1] && strcmp(pdp_policy_target(pol[1]), q->dataset_name) == 0)
		target = q->dataset_name;
	pdp_request preq = {.requester_org = r->claims.org,
	                    .requester_kind = kind,
	                    .role = PDP_ROLE_USER,
	                    .dataset = target,
	                    .personal = q->personal,
	                    .purpose = q->body->purpose,
	                    .action = PDP_ACTION_AGGREGATE,
	                    .measures = pm,
	                    .n_measures = q->plan.nmeasures,
	                    .group_by = pg,
	                    .n_group_by = q->plan.ngroups,
	                    .filters = pf,
	                    .n_filters = q->plan.nfilters};
	pdp_decision dec;
	time_t now = time(NULL);
	pdp_decide(pol[0], pol[1], &preq, (int64_t)now, &dec);
	pdp_policy_free(pol[0]);
	pdp_policy_free(pol[1]);
	if (dec.effect != PDP_PERMIT) {
		if (!pol[0])
			add_reason(q, "no operator baseline is in force: nothing is permitted");
		if (!pol[1])
			add_reason(q, "no policy of the holder is in force for this dataset");
		for (size_t i = 0; i < dec.n_reasons; i++)
			add_reason(q, "%s", dec.reasons[i]);
		refuse(q, 403);
		return;
	}
	const pdp_obligations *o = &dec.obligations;
	q->dp = o->has_epsilon_per_query;
	q->eps_micro = q->dp ? (uint64_t)llround(o->epsilon_per_query * 1e6) : 0;
	q->min_k = o->min_k;
	q->max_rows = o->max_contributions_per_subject ? o->max_contributions_per_subject
	                                               : (uint32_t)cfg->query_max_rows_per_subject;
	q->max_groups = (uint32_t)cfg->query_max_groups_per_subject;
	q->dominance = o->has_dominance ? o->dominance : DISC_DOMINANCE_DEFAULT;
	/* A time range is held to the finest granularity too: bounds inside a day
	 * would let two daily questions difference out an hour. */
	_Static_assert((int)QUERY_UNIT_DAY == (int)PDP_GRAN_DAY &&
	                       (int)QUERY_UNIT_YEAR == (int)PDP_GRAN_YEAR,
	               "query_unit follows pdp_granularity");
	for (int k = 0; o->finest_granularity != PDP_GRAN_NONE && k < 2; k++) {
		bool has = k ? q->plan.has_to : q->plan.has_from;
		int64_t us = k ? q->plan.to_us : q->plan.from_us;
		if (has && !query_time_on_boundary(us, (query_unit)o->finest_granularity)) {
			const char *g = pdp_granularity_name(o->finest_granularity);
			add_reason(
			        q,
			        "timeRange.%s is not on a %s boundary: the policies allow nothing "
			        "finer than %s",
			        k ? "to" : "from", g, g);
			refuse(q, 403);
			return;
		}
	}
	if (q->dp && q->eps_micro == 0) {
		add_reason(q, "the policy's epsilon per query is below a millionth");
		refuse(q, 403);
		return;
	}
	if (strcmp(cfg->query_noise, "zero") == 0)
		dp_rng_zero(&q->rng); /* test builds only (config.c) */
	else
		dp_rng_sodium(&q->rng);
	dp_rng_stream(&q->sampling);
	q->parts = workers_count(r->app->workers);
	if (q->parts < 1)
		q->parts = 1;
	if (q->parts > MAX_PARTS)
		q->parts = MAX_PARTS;
	for (int p = 0; p < q->parts; p++)
		q->jobs[p] = (struct qjob){q, p};
	/* The data and the policies an answer was released under: a stored answer is
	 * served again only while all of them are unchanged (a new policy version may
	 * ask for a larger k or less epsilon, and the answer names its versions). */
	snprintf(q->data_version, sizeof q->data_version, "c%s/b%s/n%s/p%lld.%lld",
	         PQgetvalue(res, 0, 14), PQgetvalue(res, 0, 15), PQgetvalue(res, 0, 16),
	         q->nrefs > 0 ? (long long)q->refs[0].version : 0LL,
	         q->nrefs > 1 ? (long long)q->refs[1].version : 0LL);
	/* the question's identity for repeats */
	crypto_hash_sha256_state hs;
	crypto_hash_sha256_init(&hs);
	crypto_hash_sha256_update(&hs, (const uint8_t *)"fiducia-question-v1", 20);
	crypto_hash_sha256_update(&hs, (const uint8_t *)r->claims.org, strlen(r->claims.org) + 1);
	crypto_hash_sha256_update(&hs, (const uint8_t *)q->plan.canonical, q->plan.canonical_len);
	crypto_hash_sha256_final(&hs, q->question);
	q->has_budget = o->has_epsilon_budget;
	if (q->has_budget) {
		q->total_micro = (uint64_t)llround(o->epsilon_budget * 1e6);
		budget_period(&o->budget_period, (int64_t)now, &q->period_start, &q->period_end);
	}
	if (q->personal) {
		/* The consent view first: what it counts is part of the data a
		 * stored answer was computed on. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		consent_view_load(r->app, q->dataset, q->body->purpose,
		                  (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, view_first, q);
		return;
	}
	precheck(q);
}

static void post_query(http_req *r)
{
	Fiducia__V1__Query *body;
	if (!http_read_body(r, &fiducia__v1__query__descriptor, (ProtobufCMessage **)&body))
		return;
	qctx *q = calloc(1, sizeof *q);
	if (!q)
		abort();
	http_on_complete(r, qctx_free, q);
	q->r = r;
	q->body = body;
	r->ctx = q;
	if (!ds_id_valid(body->dataset)) {
		http_reply_error(r, 400, "invalid_argument", "$.dataset: a dataset id (ds-...)");
		return;
	}
	if (pdp_vocab_find(r->app->vocab, body->purpose) < 0) {
		http_reply_error(
		        r, 400, "invalid_argument",
		        "$.purpose: not a purpose of the vocabulary (policy/purposes.json)");
		return;
	}
	snprintf(q->dataset, sizeof q->dataset, "%s", body->dataset);
	const char *p[2] = {q->dataset, r->claims.org};
	db_query(r->app->db,
	         "SELECT d.holder, d.state, d.personal_data, d.columns::text, d.name, o.kind, "
	         "b.version, encode(b.sha256, 'hex'), b.withdrawn, b.document, p.version, "
	         "encode(p.sha256, 'hex'), p.withdrawn, p.document, coalesce((SELECT version FROM "
	         "consent_versions WHERE dataset = d.id), 0), (SELECT coalesce(max(seq), 0) FROM "
	         "batches WHERE dataset = d.id), (SELECT count(*) FROM chunks WHERE dataset = "
	         "d.id) FROM datasets d LEFT JOIN orgs o ON o.name = $2 LEFT JOIN LATERAL (SELECT "
	         "* FROM policies WHERE scope = 'baseline' ORDER BY version DESC LIMIT 1) b ON "
	         "true LEFT JOIN LATERAL (SELECT * FROM policies WHERE scope = d.id ORDER BY "
	         "version DESC LIMIT 1) p ON true WHERE d.id = $1",
	         2, p, meta_loaded, q);
}

/* ---- GET /v1/budgets ------------------------------------------------------- */

static void budgets_read(PGresult *res, void *arg)
{
	http_req *r = arg;
	if (!pg_ok(res, PGRES_TUPLES_OK)) {
		pg_reply_error(r, res, "read the budgets");
		return;
	}
	int n = PQntuples(res);
	Fiducia__V1__BudgetsResponse out = FIDUCIA__V1__BUDGETS_RESPONSE__INIT;
	Fiducia__V1__Budget *b = calloc((size_t)n + 1, sizeof *b);
	Fiducia__V1__Budget **bp = calloc((size_t)n + 1, sizeof *bp);
	char(*times)[2][32] = calloc((size_t)n + 1, sizeof *times);
	if (!b || !bp || !times)
		abort();
	for (int i = 0; i < n; i++) {
		fiducia__v1__budget__init(&b[i]);
		b[i].dataset = PQgetvalue(res, i, 0);
		format_rfc3339(strtoll(PQgetvalue(res, i, 1), NULL, 10), times[i][0], 32);
		format_rfc3339(strtoll(PQgetvalue(res, i, 2), NULL, 10), times[i][1], 32);
		b[i].period_start = times[i][0];
		b[i].period_end = times[i][1];
		double total = (double)strtoll(PQgetvalue(res, i, 3), NULL, 10) / 1e6;
		double spent = (double)strtoll(PQgetvalue(res, i, 4), NULL, 10) / 1e6;
		b[i].epsilon_total = total;
		b[i].epsilon_spent = spent;
		b[i].epsilon_remaining = total > spent ? total - spent : 0;
		b[i].queries = strtoll(PQgetvalue(res, i, 5), NULL, 10);
		bp[i] = &b[i];
	}
	out.org = r->claims.org;
	out.budgets = bp;
	out.n_budgets = (size_t)n;
	http_reply(r, 200, &out.base);
	free(b);
	free(bp);
	free(times);
}

static void get_budgets(http_req *r)
{
	const char *p[1] = {r->claims.org};
	db_query(r->app->db,
	         "SELECT dataset, extract(epoch FROM period_start)::bigint, extract(epoch FROM "
	         "period_end)::bigint, total_micro, spent_micro, queries FROM budgets WHERE org = "
	         "$1 AND period_end > now() ORDER BY dataset, period_start",
	         1, p, budgets_read, r);
}

const http_route queries_routes[] = {
        {"POST", "/v1/queries", post_query, AUTH_ROLE_USER, NULL},
        {"GET", "/v1/budgets", get_budgets, AUTH_ROLE_USER, NULL},
        {NULL, NULL, NULL, 0, NULL},
};
