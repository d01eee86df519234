/*
 * Policies in the server. A PUT compiles the document first (errors name the
 * JSON pointer and the rule broken, as `fiducia policy check` does offline),
 * checks that a dataset policy's assigner is the dataset's holder and its
 * target the dataset (by id or by name), then, under a per-scope advisory
 * lock, stores it as the next version with its POLICY_SET ledger entry in
 * one transaction. The same document as the version in force is not a new
 * version (200 with that version). A DELETE stores a withdrawal version:
 * from then on every query is denied.
 */
#include "policies.h"
#include "app.h"
#include "auth.h"
#include "db.h"
#include "ledger.h"
#include "log.h"
#include "datasets.h"
#include "pgutil.h"
#include "fiducia/v1/policies.pb-c.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const char fiducia_purposes_json[];
extern const size_t fiducia_purposes_json_len;

#define BASELINE "baseline"

pdp_vocab *policies_vocab_load(char *err, size_t errlen)
{
	pdp_error e;
	pdp_vocab *v = pdp_vocab_load(fiducia_purposes_json, fiducia_purposes_json_len, &e);
	if (!v)
		snprintf(err, errlen, "purpose vocabulary: %s: %s", e.pointer, e.message);
	return v;
}

static bool hex32(const char *s, uint8_t out[32])
{
	size_t n = 0;
	return pg_bytea(s, out, 32, &n) && n == 32;
}

/* ---- a stored version as a message --------------------------------------- */

#define PV_COLUMNS                                                                                 \
	"scope, version, sha256, document, withdrawn, author, CASE WHEN ledger_idx >= 0 THEN "     \
	"ledger_idx ELSE coalesce((SELECT e.idx FROM ledger_entries e WHERE e.pending_id = "       \
	"ledger_pending), -1) END, extract(epoch from created_at)::float8"

struct pv {
	Fiducia__V1__PolicyVersion m;
	Google__Protobuf__Timestamp ts;
	uint8_t sha[32];
};

static void pv_from_row(PGresult *res, int row, struct pv *p, bool with_document)
{
	fiducia__v1__policy_version__init(&p->m);
	google__protobuf__timestamp__init(&p->ts);
	p->m.scope = PQgetvalue(res, row, 0);
	p->m.version = strtoll(PQgetvalue(res, row, 1), NULL, 10);
	if (hex32(PQgetvalue(res, row, 2), p->sha)) {
		p->m.sha256.data = p->sha;
		p->m.sha256.len = 32;
	}
	if (with_document)
		p->m.document = PQgetvalue(res, row, 3);
	p->m.withdrawn = PQgetvalue(res, row, 4)[0] == 't';
	p->m.author = PQgetvalue(res, row, 5);
	long long li = strtoll(PQgetvalue(res, row, 6), NULL, 10);
	p->m.ledger_index = li > 0 ? (uint64_t)li : 0;
	pg_timestamp(&p->ts, PQgetvalue(res, row, 7));
	p->m.created_at = &p->ts;
}

/* ---- writing a version ------------------------------------------------------ */

struct put {
	http_req *r;
	db_conn *conn;
	int stage;
	char scope[32];
	char *doc; /* NUL-terminated; "" for a withdrawal */
	size_t doc_len;
	bool withdraw;
	uint8_t sha[32];
	char sha_hex[67];
	char version_s[16], ledger_s[24];
	int version;
	PGresult *row;
	int status;
	int64_t pending, index; /* the ledger entry's pending id, then its index */
	Fiducia__V1__LedgerEntry__PolicyRef ref;
	Fiducia__V1__LedgerEntry__PolicyRef *refs[1];
};

static void put_free(void *p)
{
	struct put *w = p;
	PQclear(w->row);
	free(w->doc);
	free(w);
}

static void put_step(PGresult *res, void *arg);

static void put_sql(struct put *w, const char *sql, int n, const char *const *p)
{
	db_conn_query(w->conn, sql, n, p, put_step, w);
}

static void put_fail(struct put *w, int status, const char *code, const char *msg)
{
	db_release(w->conn);
	http_reply_error(w->r, status, code, "%s", msg);
}

static void put_reply(struct put *w)
{
	struct pv p;
	pv_from_row(w->row, 0, &p, true);
	if (w->index > 0)
		p.m.ledger_index = (uint64_t)w->index;
	http_reply(w->r, w->status, &p.m.base);
}

static void put_placed(int64_t index, void *arg)
{
	struct put *w = arg;
	w->index = index;
	put_reply(w);
}

static void put_ledgered(bool ok, int64_t pending, void *arg)
{
	struct put *w = arg;
	if (!ok) {
		put_fail(w, 503, "unavailable",
		         "the ledger could not record this change, so nothing was changed");
		return;
	}
	w->pending = pending;
	snprintf(w->ledger_s, sizeof w->ledger_s, "%lld", (long long)pending);
	w->stage = 4;
	const char *p[3] = {w->scope, w->version_s, w->ledger_s};
	put_sql(w,
	        "UPDATE policies SET ledger_pending = $3 WHERE scope = $1 AND version = $2 "
	        "RETURNING " PV_COLUMNS,
	        3, p);
}

static void put_step(PGresult *res, void *arg)
{
	struct put *w = arg;
	if (!res || db_result_is_unavailable(res)) {
		db_release(w->conn);
		http_reply_unavailable(w->r);
		return;
	}
	switch (w->stage) {
	case 0: { /* BEGIN */
		w->stage = 1;
		const char *p[1] = {w->scope};
		put_sql(w, "SELECT pg_advisory_xact_lock(hashtext('fiducia.policy:' || $1))", 1, p);
		return;
	}
	case 1: {
		w->stage = 2;
		const char *p[1] = {w->scope};
		put_sql(w,
		        "SELECT " PV_COLUMNS
		        " FROM policies WHERE scope = $1 ORDER BY version DESC "
		        "LIMIT 1",
		        1, p);
		return;
	}
	case 2: {
		if (!pg_ok(res, PGRES_TUPLES_OK)) {
			put_fail(w, 500, "internal", "cannot read the policy");
			return;
		}
		bool in_force = PQntuples(res) == 1 && PQgetvalue(res, 0, 4)[0] != 't';
		if (w->withdraw && !in_force) {
			put_fail(w, 404, "not_found", "no policy is in force here to withdraw");
			return;
		}
		uint8_t cur[32];
		if (!w->withdraw && in_force && hex32(PQgetvalue(res, 0, 2), cur) &&
		    sodium_memcmp(cur, w->sha, 32) == 0) {
			/* The version in force already: nothing new. */
			w->row = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
			if (!w->row)
				abort();
			w->status = 200;
			db_release(w->conn);
			put_reply(w);
			return;
		}
		w->version = PQntuples(res) ? atoi(PQgetvalue(res, 0, 1)) + 1 : 1;
		snprintf(w->version_s, sizeof w->version_s, "%d", w->version);
		w->stage = 3;
		const char *p[6] = {w->scope,
		                    w->version_s,
		                    w->doc,
		                    w->sha_hex,
		                    w->withdraw ? "true" : "false",
		                    w->r->claims.org};
		put_sql(w,
		        "INSERT INTO policies (scope, version, document, sha256, withdrawn, "
		        "author) "
		        "VALUES ($1, $2, $3, $4::bytea, $5, $6)",
		        6, p);
		return;
	}
	case 3: {
		if (!pg_ok(res, PGRES_COMMAND_OK)) {
			put_fail(w, 500, "internal", "cannot store the policy");
			return;
		}
		Fiducia__V1__LedgerEntry e = FIDUCIA__V1__LEDGER_ENTRY__INIT;
		ledger_entry_from_request(&e, w->r);
		e.action = w->withdraw ? FIDUCIA__V1__LEDGER_ENTRY__ACTION__POLICY_WITHDRAWN
		                       : FIDUCIA__V1__LEDGER_ENTRY__ACTION__POLICY_SET;
		e.decision = FIDUCIA__V1__LEDGER_ENTRY__DECISION__GRANTED;
		if (strcmp(w->scope, BASELINE) != 0)
			e.dataset = w->scope;
		fiducia__v1__ledger_entry__policy_ref__init(&w->ref);
		w->ref.scope = w->scope;
		w->ref.version = w->version;
		w->ref.sha256.data = w->sha;
		w->ref.sha256.len = 32;
		w->refs[0] = &w->ref;
		e.policies = w->refs;
		e.n_policies = 1;
		ledger_append(w->r->app, w->conn, &e, put_ledgered, w);
		return;
	}
	case 4:
		if (!pg_ok(res, PGRES_TUPLES_OK) || PQntuples(res) != 1) {
			put_fail(w, 500, "internal", "cannot complete the policy version");
			return;
		}
		w->row = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
		if (!w->row)
			abort();
		w->stage = 5;
		put_sql(w, "COMMIT", 0, NULL);
		return;
	case 5:
		db_release(w->conn);
		if (!pg_ok(res, PGRES_COMMAND_OK)) {
			http_reply_unavailable(w->r);
			return;
		}
		log_info("policy %s version %d %s by %s", w->scope, w->version,
		         w->withdraw ? "withdrawn" : "set", w->r->claims.org);
		w->status = w->withdraw ? 200 : 201;
		/* Answer once the entry has its place in the log. */
		ledger_placed(w->r->app, w->pending, put_placed, w);
		return;
	}
}

static void put_conn(db_conn *c, void *arg)
{
	struct put *w = arg;
	if (!c) {
		http_reply_unavailable(w->r);
		return;
	}
	w->conn = c;
	db_conn_query(c, "BEGIN", 0, NULL, put_step, w);
}

static void put_start(struct put *w)
{
	crypto_hash_sha256(w->sha, (const unsigned char *)w->doc, w->doc_len);
	w->sha_hex[0] = '\\';
	w->sha_hex[1] = 'x';
	sodium_bin2hex(w->sha_hex + 2, sizeof w->sha_hex - 2, w->sha, 32);
	db_acquire(w->r->app->db, put_conn, w);
}

/* Read and compile the body; false after replying 4xx. */
static bool read_policy(http_req *r, struct put *w, pdp_scope scope, pdp_policy **out)
{
	const char *ct =
	        evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Content-Type");
	if (!ct ||
	    !(http_media_is(ct, "application/json") || http_media_is(ct, "application/ld+json"))) {
		http_reply_error(r, 415, "unsupported_media_type",
		                 "a policy is an ODRL JSON document: Content-Type application/json "
		                 "or application/ld+json");
		return false;
	}
	struct evbuffer *body;
	if (!http_take_body(r, &body))
		return false;
	size_t n = evbuffer_get_length(body);
	if (n > PDP_MAX_POLICY_SIZE) {
		evbuffer_free(body);
		http_reply_error(r, 413, "body_too_large", "a policy is at most %d bytes",
		                 PDP_MAX_POLICY_SIZE);
		return false;
	}
	w->doc = malloc(n + 1);
	if (!w->doc)
		abort();
	evbuffer_remove(body, w->doc, n);
	evbuffer_free(body);
	w->doc[n] = '\0';
	w->doc_len = n;
	if (n == 0 || memchr(w->doc, 0, n)) {
		http_reply_error(r, 400, "invalid_argument",
		                 "the policy document is empty or has "
		                 "a NUL byte");
		return false;
	}
	pdp_error e;
	*out = pdp_compile(r->app->vocab, scope, w->doc, n, &e);
	if (!*out) {
		http_reply_error(r, 400, "invalid_policy", "%s: %s", e.pointer[0] ? e.pointer : "/",
		                 e.message);
		return false;
	}
	return true;
}

static struct put *put_new(http_req *r, const char *scope)
{
	struct put *w = calloc(1, sizeof *w);
	if (!w)
		abort();
	http_on_complete(r, put_free, w);
	w->r = r;
	snprintf(w->scope, sizeof w->scope, "%s", scope);
	return w;
}

static void put_baseline(http_req *r)
{
	struct put *w = put_new(r, BASELINE);
	pdp_policy *p;
	if (!read_policy(r, w, PDP_SCOPE_BASELINE, &p))
		return;
	bool ok = strcmp(pdp_policy_assigner(p), "operator") == 0;
	pdp_policy_free(p);
	if (!ok) {
		http_reply_error(r, 400, "invalid_policy",
		                 "/assigner: the baseline's assigner is the operator organisation, "
		                 "\"operator\"");
		return;
	}
	put_start(w);
}

/* ---- dataset policies: the dataset is checked first ------------------------ */

struct dsp {
	http_req *r;
	struct put *w;
	pdp_policy *p;
	int op; /* 0 put, 1 delete, 2 get */
};

static void dsp_free(void *p)
{
	struct dsp *d = p;
	pdp_policy_free(d->p);
	free(d);
}

static void get_version(http_req *r, const char *scope);

static void dsp_checked(PGresult *res, void *arg)
{
	struct dsp *d = arg;
	http_req *r = d->r;
	const char *id = http_param(r, "ds");
	if (!pg_ok(res, PGRES_TUPLES_OK)) {
		pg_reply_error(r, res, "read the dataset");
		return;
	}
	if (PQntuples(res) == 0) {
		http_reply_error(r, 404, "not_found", "no dataset %s", id);
		return;
	}
	const char *holder = PQgetvalue(res, 0, 0), *name = PQgetvalue(res, 0, 1);
	bool owner = r->claims.role == AUTH_ROLE_HOLDER && strcmp(holder, r->claims.org) == 0;
	if (r->claims.role == AUTH_ROLE_HOLDER && !owner) {
		http_reply_error(
		        r, 403, "forbidden",
		        "dataset %s belongs to another holder: only its holder manages its "
		        "policy",
		        id);
		return;
	}
	if (d->op == 2) {
		get_version(r, id);
		return;
	}
	if (d->op == 0) {
		if (strcmp(pdp_policy_assigner(d->p), holder) != 0) {
			http_reply_error(r, 400, "invalid_policy",
			                 "/assigner: must be the dataset's holder, \"%s\"", holder);
			return;
		}
		const char *t = pdp_policy_target(d->p);
		if (strcmp(t, id) != 0 && strcmp(t, name) != 0) {
			http_reply_error(
			        r, 400, "invalid_policy",
			        "/target: must be this dataset, \"%s\" (or its name, \"%s\")", id,
			        name);
			return;
		}
	}
	put_start(d->w);
}

static void dataset_policy(http_req *r, int op)
{
	const char *id = http_param(r, "ds");
	if (!ds_id_valid(id)) {
		http_reply_error(r, 404, "not_found", "no such dataset");
		return;
	}
	struct dsp *d = calloc(1, sizeof *d);
	if (!d)
		abort();
	http_on_complete(r, dsp_free, d);
	d->r = r;
	d->op = op;
	if (op != 2) {
		d->w = put_new(r, id);
		if (op == 0 && !read_policy(r, d->w, PDP_SCOPE_DATASET, &d->p))
			return;
		if (op == 1) {
			d->w->withdraw = true;
			d->w->doc = strdup("");
			if (!d->w->doc)
				abort();
		}
	}
	const char *p[1] = {id};
	db_query(r->app->db, "SELECT holder, name FROM datasets WHERE id = $1 AND state = 'ACTIVE'",
	         1, p, dsp_checked, d);
}

static void put_dataset_policy(http_req *r)
{
	dataset_policy(r, 0);
}

static void delete_dataset_policy(http_req *r)
{
	dataset_policy(r, 1);
}

static void get_dataset_policy(http_req *r)
{
	dataset_policy(r, 2);
}

/* ---- GET: the version in force, or ?version=N -------------------------------- */

static void got_version(PGresult *res, void *arg)
{
	http_req *r = arg;
	if (!pg_ok(res, PGRES_TUPLES_OK)) {
		pg_reply_error(r, res, "read the policy");
		return;
	}
	const char *v = http_query(r, "version");
	if (PQntuples(res) == 0 || (!v && PQgetvalue(res, 0, 4)[0] == 't')) {
		if (v)
			http_reply_error(r, 404, "not_found", "no version %s of this policy", v);
		else
			http_reply_error(r, 404, "not_found",
			                 PQntuples(res)
			                         ? "the policy was withdrawn: none is in force"
			                         : "no policy has been put here");
		return;
	}
	struct pv p;
	pv_from_row(res, 0, &p, true);
	http_reply(r, 200, &p.m.base);
}

static void get_version(http_req *r, const char *scope)
{
	const char *v = http_query(r, "version");
	if (v) {
		char *end;
		long n = strtol(v, &end, 10);
		if (*end || n < 1 || n > 1000000000) {
			http_reply_error(r, 400, "invalid_argument", "version: a positive integer");
			return;
		}
		const char *p[2] = {scope, v};
		db_query(r->app->db,
		         "SELECT " PV_COLUMNS
		         " FROM policies WHERE scope = $1 AND version = $2::int",
		         2, p, got_version, r);
		return;
	}
	const char *p[1] = {scope};
	db_query(r->app->db,
	         "SELECT " PV_COLUMNS
	         " FROM policies WHERE scope = $1 ORDER BY version DESC LIMIT 1",
	         1, p, got_version, r);
}

static void get_baseline(http_req *r)
{
	get_version(r, BASELINE);
}

/* ---- evaluation --------------------------------------------------------------- */

static bool parse_kind(const char *s, pdp_kind *k)
{
	return s && pdp_kind_parse(s, k);
}

bool policies_grants(const pdp_vocab *v, const char *baseline_doc, const char *dataset_doc,
                     const char *dataset_id, const char *dataset_name, bool personal,
                     const char *org, const char *kind)
{
	if (!baseline_doc || !*baseline_doc || !dataset_doc || !*dataset_doc)
		return false;
	pdp_kind k;
	if (!parse_kind(kind, &k))
		return false;
	pdp_policy *b =
	        pdp_compile(v, PDP_SCOPE_BASELINE, baseline_doc, strlen(baseline_doc), NULL);
	pdp_policy *d = pdp_compile(v, PDP_SCOPE_DATASET, dataset_doc, strlen(dataset_doc), NULL);
	bool granted = false;
	if (b && d) {
		/* A dataset policy may target the dataset by id or by name (checked
		 * when it was put): decide for the one it names. */
		const char *t = pdp_policy_target(d);
		pdp_request q = {.requester_org = org,
		                 .requester_kind = k,
		                 .role = PDP_ROLE_USER,
		                 .dataset = dataset_name && strcmp(t, dataset_name) == 0
		                                    ? dataset_name
		                                    : dataset_id,
		                 .personal = personal,
		                 .action = PDP_ACTION_AGGREGATE};
		pdp_decision dec;
		int64_t now = (int64_t)time(NULL);
		for (size_t i = 0; i < pdp_vocab_size(v) && !granted; i++) {
			q.purpose = pdp_vocab_id(v, i);
			granted = pdp_decide(b, d, &q, now, &dec) == PDP_PERMIT;
		}
	}
	pdp_policy_free(b);
	pdp_policy_free(d);
	return granted;
}

struct eval {
	http_req *r;
	Fiducia__V1__EvaluateRequest *req;
	pdp_measure measures[64];
	pdp_group groups[64];
	const char *filters[64];
	pdp_action action;
	char requester[64];
};

static void bad(http_req *r, const char *msg)
{
	http_reply_error(r, 400, "invalid_argument", "%s", msg);
}

static void eval_loaded(PGresult *res, void *arg)
{
	struct eval *ev = arg;
	http_req *r = ev->r;
	Fiducia__V1__EvaluateRequest *q = ev->req;
	if (!pg_ok(res, PGRES_TUPLES_OK)) {
		pg_reply_error(r, res, "read the dataset and its policies");
		return;
	}
	if (PQntuples(res) == 0) {
		http_reply_error(r, 404, "not_found", "no dataset %s", q->dataset);
		return;
	}
	if (r->claims.role == AUTH_ROLE_HOLDER && strcmp(PQgetvalue(res, 0, 0), r->claims.org)) {
		http_reply_error(r, 403, "forbidden",
		                 "a holder evaluates requests on its own datasets only");
		return;
	}
	if (PQgetisnull(res, 0, 2)) {
		http_reply_error(r, 404, "not_found", "no organisation %s", ev->requester);
		return;
	}
	pdp_kind kind = PDP_KIND_UNSPECIFIED;
	(void)parse_kind(PQgetvalue(res, 0, 2), &kind);
	/* Columns 3-6: the baseline in force; 7-10: the dataset policy. */
	pdp_policy *pol[2] = {NULL, NULL};
	Fiducia__V1__PolicyVersion pv[2];
	Fiducia__V1__PolicyVersion *pvp[2];
	uint8_t sha[2][32];
	size_t npv = 0;
	for (int k = 0; k < 2; k++) {
		int c = 3 + 4 * k;
		if (PQgetisnull(res, 0, c) || PQgetvalue(res, 0, c + 2)[0] == 't')
			continue;
		const char *doc = PQgetvalue(res, 0, c + 3);
		pol[k] = pdp_compile(r->app->vocab, k ? PDP_SCOPE_DATASET : PDP_SCOPE_BASELINE, doc,
		                     strlen(doc), NULL);
		fiducia__v1__policy_version__init(&pv[npv]);
		pv[npv].scope = k ? q->dataset : BASELINE;
		pv[npv].version = strtoll(PQgetvalue(res, 0, c), NULL, 10);
		if (hex32(PQgetvalue(res, 0, c + 1), sha[npv])) {
			pv[npv].sha256.data = sha[npv];
			pv[npv].sha256.len = 32;
		}
		pvp[npv] = &pv[npv];
		npv++;
	}
	const char *target = q->dataset, *name = PQgetvalue(res, 0, 11);
	if (pol[1] && strcmp(pdp_policy_target(pol[1]), name) == 0)
		target = name; /* the policy names the dataset by its name */
	pdp_request preq = {.requester_org = ev->requester,
	                    .requester_kind = kind,
	                    .role = PDP_ROLE_USER,
	                    .dataset = target,
	                    .personal = PQgetvalue(res, 0, 1)[0] == 't',
	                    .purpose = q->purpose,
	                    .action = ev->action,
	                    .measures = ev->measures,
	                    .n_measures = q->n_measures,
	                    .group_by = ev->groups,
	                    .n_group_by = q->n_group_by,
	                    .filters = ev->filters,
	                    .n_filters = q->n_filters};
	pdp_decision dec;
	pdp_decide(pol[0], pol[1], &preq, (int64_t)time(NULL), &dec);
	Fiducia__V1__Decision out = FIDUCIA__V1__DECISION__INIT;
	Fiducia__V1__Obligations ob = FIDUCIA__V1__OBLIGATIONS__INIT;
	char *reasons[PDP_MAX_REASONS + 2];
	size_t nr = 0;
	if (!pol[0])
		reasons[nr++] = "no operator baseline is in force: nothing is permitted";
	if (!pol[1])
		reasons[nr++] = "no policy of the holder is in force for this dataset";
	for (size_t i = 0; i < dec.n_reasons && nr < PDP_MAX_REASONS + 2; i++)
		reasons[nr++] = dec.reasons[i];
	out.effect = (char *)pdp_effect_name(dec.effect);
	out.reasons = reasons;
	out.n_reasons = nr;
	char period[32] = "";
	if (dec.effect == PDP_PERMIT) {
		const pdp_obligations *o = &dec.obligations;
		ob.min_group_size = o->min_k;
		ob.epsilon_per_query = o->has_epsilon_per_query ? o->epsilon_per_query : 0;
		ob.epsilon_budget = o->has_epsilon_budget ? o->epsilon_budget : 0;
		if (o->has_epsilon_budget && o->budget_period.unit != PDP_PERIOD_NONE) {
			static const char *const unit[] = {"", "H", "D", "W", "M", "Y"};
			snprintf(period, sizeof period, "P%s%u%s",
			         o->budget_period.unit == PDP_PERIOD_HOUR ? "T" : "",
			         o->budget_period.count, unit[o->budget_period.unit]);
			ob.budget_period = period;
		}
		if (o->finest_granularity != PDP_GRAN_NONE)
			ob.finest_time_bucket = (char *)pdp_granularity_name(o->finest_granularity);
		ob.max_contributions_per_subject = o->max_contributions_per_subject;
		ob.dominance_threshold = o->has_dominance ? o->dominance : 0;
		out.obligations = &ob;
	}
	Fiducia__V1__Decision__RuleRef refs[PDP_MAX_MATCHED];
	Fiducia__V1__Decision__RuleRef *refp[PDP_MAX_MATCHED];
	for (size_t i = 0; i < dec.n_matched; i++) {
		fiducia__v1__decision__rule_ref__init(&refs[i]);
		refs[i].scope = dec.matched[i].scope == PDP_SCOPE_BASELINE ? "baseline" : "dataset";
		refs[i].type =
		        dec.matched[i].type == PDP_RULE_PERMISSION ? "permission" : "prohibition";
		refs[i].index = dec.matched[i].index;
		refp[i] = &refs[i];
	}
	out.matched = refp;
	out.n_matched = dec.n_matched;
	out.policies = pvp;
	out.n_policies = npv;
	http_reply(r, 200, &out.base);
	pdp_policy_free(pol[0]);
	pdp_policy_free(pol[1]);
}

static void evaluate(http_req *r)
{
	Fiducia__V1__EvaluateRequest *q;
	if (!http_read_body(r, &fiducia__v1__evaluate_request__descriptor, (ProtobufCMessage **)&q))
		return;
	struct eval *ev = calloc(1, sizeof *ev);
	if (!ev)
		abort();
	http_on_complete(r, free, ev);
	ev->r = r;
	ev->req = q;
	if (!ds_id_valid(q->dataset)) {
		bad(r, "$.dataset: a dataset id (ds-...)");
		return;
	}
	if (pdp_vocab_find(r->app->vocab, q->purpose) < 0) {
		bad(r, "$.purpose: not a purpose of the vocabulary (policy/purposes.json)");
		return;
	}
	ev->action = PDP_ACTION_AGGREGATE;
	if (q->action[0] && !pdp_action_parse(q->action, &ev->action)) {
		bad(r, "$.action: unknown action");
		return;
	}
	if (q->n_measures > 64 || q->n_group_by > 64 || q->n_filters > 64) {
		bad(r, "at most 64 measures, group-by columns and filters");
		return;
	}
	for (size_t i = 0; i < q->n_measures; i++) {
		const char *fn = q->measures[i]->fn;
		if (strcmp(fn, "MEAN") == 0)
			fn = "AVG";
		if (!pdp_agg_parse(fn, &ev->measures[i].fn)) {
			bad(r, "$.measures[].fn: COUNT, SUM, AVG (MEAN), MIN or MAX");
			return;
		}
		ev->measures[i].column = q->measures[i]->column[0] ? q->measures[i]->column : NULL;
	}
	for (size_t i = 0; i < q->n_group_by; i++) {
		ev->groups[i].column = q->group_by[i]->column;
		ev->groups[i].bucket = PDP_GRAN_NONE;
		if (q->group_by[i]->bucket[0] &&
		    !pdp_granularity_parse(q->group_by[i]->bucket, &ev->groups[i].bucket)) {
			bad(r, "$.groupBy[].bucket: HOUR, DAY, WEEK, MONTH or YEAR");
			return;
		}
	}
	for (size_t i = 0; i < q->n_filters; i++)
		ev->filters[i] = q->filters[i];
	if (r->claims.role == AUTH_ROLE_USER) {
		if (q->requester[0] && strcmp(q->requester, r->claims.org) != 0) {
			http_reply_error(r, 403, "forbidden",
			                 "a data user evaluates for itself only");
			return;
		}
		snprintf(ev->requester, sizeof ev->requester, "%s", r->claims.org);
	} else {
		if (!q->requester[0]) {
			bad(r, "$.requester: the data user organisation to evaluate for");
			return;
		}
		snprintf(ev->requester, sizeof ev->requester, "%s", q->requester);
	}
	const char *p[2] = {q->dataset, ev->requester};
	db_query(r->app->db,
	         "SELECT d.holder, d.personal_data, o.kind, b.version, b.sha256, b.withdrawn, "
	         "b.document, p.version, p.sha256, p.withdrawn, p.document, d.name FROM datasets d "
	         "LEFT JOIN orgs o ON o.name = $2 "
	         "LEFT JOIN LATERAL (SELECT * FROM policies WHERE scope = 'baseline' ORDER BY "
	         "version DESC LIMIT 1) b ON true "
	         "LEFT JOIN LATERAL (SELECT * FROM policies WHERE scope = d.id ORDER BY version "
	         "DESC LIMIT 1) p ON true WHERE d.id = $1 AND d.state = 'ACTIVE'",
	         2, p, eval_loaded, ev);
}

const http_route policies_routes[] = {
        {"PUT", "/v1/policy/baseline", put_baseline, AUTH_ROLE_OPERATOR, NULL},
        {"GET", "/v1/policy/baseline", get_baseline, AUTH_ROLE_ANY, NULL},
        {"POST", "/v1/policy/evaluate", evaluate, AUTH_ROLE_USER | AUTH_ROLE_HOLDER, NULL},
        {"PUT", "/v1/datasets/{ds}/policy", put_dataset_policy, AUTH_ROLE_HOLDER, NULL},
        {"DELETE", "/v1/datasets/{ds}/policy", delete_dataset_policy, AUTH_ROLE_HOLDER, NULL},
        {"GET", "/v1/datasets/{ds}/policy", get_dataset_policy, AUTH_ROLE_ANY, NULL},
        {NULL, NULL, NULL, 0, NULL},
};
