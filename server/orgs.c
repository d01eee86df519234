/*
 * Organisations: the /v1/orgs resource and the per-process org cache used by
 * authentication. The cache maps name -> (enabled?) and is trusted only while
 * the LISTEN connection is up: a trigger NOTIFYs every change, from any
 * fiduciad process, and the entry is dropped here. While the listener is
 * down every check goes to the database.
 */
#include "orgs.h"
#include "app.h"
#include "db.h"
#include "ledger.h"
#include "fiducia_names.h"
#include "log.h"
#include "pgutil.h"
#include "fiducia/v1/orgs.pb-c.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_SLOTS 4096 /* power of two */

/* Belt and braces: even while the listener is up, an entry is trusted for
 * at most this long (a half-open listener connection loses notices until
 * TCP keepalives find it dead). */
#define CACHE_MAX_AGE_S 30

struct cache_entry {
	char name[64];
	bool used;
	bool disabled;
	time_t at;
};

struct orgs_cache {
	struct app *app;
	bool trusted;        /* the listener is up */
	uint64_t generation; /* bumped by every change notice */
	struct cache_entry slots[CACHE_SLOTS];
	uint64_t hits, misses, evictions;
};

bool orgs_name_valid(const char *s)
{
	return fiducia_slug_valid(s, strlen(s));
}

static size_t slot_of(const char *name)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return (size_t)(h & (CACHE_SLOTS - 1));
}

static void cache_clear(orgs_cache *c)
{
	memset(c->slots, 0, sizeof c->slots);
}

static void cache_evict(orgs_cache *c, const char *name)
{
	struct cache_entry *e = &c->slots[slot_of(name)];
	if (e->used && strcmp(e->name, name) == 0) {
		e->used = false;
		c->evictions++;
	}
}

static void cache_put(orgs_cache *c, const char *name, bool disabled)
{
	if (!c->trusted || strlen(name) >= sizeof c->slots[0].name)
		return;
	struct cache_entry *e = &c->slots[slot_of(name)];
	snprintf(e->name, sizeof e->name, "%s", name);
	e->disabled = disabled;
	e->at = time(NULL);
	e->used = true;
}

static void on_notify(const char *channel, const char *payload, void *arg)
{
	orgs_cache *c = arg;
	c->generation++;
	cache_evict(c, payload);
}

static void on_listen_state(bool up, void *arg)
{
	orgs_cache *c = arg;
	c->generation++;
	/* Whatever changed while we were not listening is unknown: start empty. */
	cache_clear(c);
	c->trusted = up;
	log_info("org cache %s", up ? "enabled (listening for changes)" : "disabled");
}

orgs_cache *orgs_cache_new(struct app *app)
{
	orgs_cache *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->app = app;
	if (!db_pool_listen(app->db, "fiducia_orgs", on_notify, on_listen_state, c)) {
		free(c);
		return NULL;
	}
	return c;
}

void orgs_cache_free(orgs_cache *c)
{
	free(c);
}

struct check {
	struct app *app;
	orgs_check_cb cb;
	void *arg;
	uint64_t generation; /* of the cache when the query was sent */
	char name[64];
};

static void check_result(PGresult *res, void *arg)
{
	struct check *k = arg;
	orgs_status st;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		st = ORGS_UNAVAILABLE;
	} else if (PQntuples(res) == 0) {
		st = ORGS_UNKNOWN;
	} else {
		bool disabled = PQgetvalue(res, 0, 0)[0] == 't';
		/* A change notice since we asked may postdate our snapshot. */
		if (k->generation == k->app->orgs->generation)
			cache_put(k->app->orgs, k->name, disabled);
		st = disabled ? ORGS_DISABLED : ORGS_OK;
	}
	k->cb(st, k->arg);
	free(k);
}

orgs_status orgs_check(struct app *app, const char *org, orgs_check_cb cb, void *arg)
{
	orgs_cache *c = app->orgs;
	if (!orgs_name_valid(org))
		return ORGS_UNKNOWN;
	if (c->trusted) {
		struct cache_entry *e = &c->slots[slot_of(org)];
		if (e->used && strcmp(e->name, org) == 0 && time(NULL) - e->at < CACHE_MAX_AGE_S) {
			c->hits++;
			return e->disabled ? ORGS_DISABLED : ORGS_OK;
		}
	}
	c->misses++;
	struct check *k = calloc(1, sizeof *k);
	if (!k)
		return ORGS_UNAVAILABLE;
	k->app = app;
	k->cb = cb;
	k->arg = arg;
	k->generation = c->generation;
	snprintf(k->name, sizeof k->name, "%s", org);
	const char *p[1] = {org};
	db_query(app->db, "SELECT disabled FROM orgs WHERE name = $1", 1, p, check_result, k);
	return ORGS_PENDING;
}

/* ---- the resource ------------------------------------------------------ */

#define ORG_COLUMNS                                                                                \
	"name, kind, country, contact, disabled, "                                                 \
	"extract(epoch from created_at)::float8, "                                                 \
	"coalesce(extract(epoch from disabled_at)::float8, 0)"

static const char *kind_name(Fiducia__V1__Org__Kind k)
{
	const ProtobufCEnumValue *v =
	        protobuf_c_enum_descriptor_get_value(&fiducia__v1__org__kind__descriptor, (int)k);
	return v ? v->name : NULL;
}

static Fiducia__V1__Org__Kind kind_parse(const char *s)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(
	        &fiducia__v1__org__kind__descriptor, s);
	return v ? (Fiducia__V1__Org__Kind)v->value : FIDUCIA__V1__ORG__KIND__KIND_UNSPECIFIED;
}

static void set_ts(Google__Protobuf__Timestamp *ts, const char *epoch)
{
	double d = strtod(epoch, NULL);
	ts->seconds = (int64_t)d;
	ts->nanos = (int32_t)((d - (double)ts->seconds) * 1e9);
	if (ts->nanos < 0)
		ts->nanos = 0;
	ts->nanos = (ts->nanos / 1000) * 1000; /* PostgreSQL keeps microseconds */
}

/* One row of ORG_COLUMNS into *o (strings borrowed from res). */
static void org_from_row(PGresult *res, int row, Fiducia__V1__Org *o,
                         Google__Protobuf__Timestamp *created,
                         Google__Protobuf__Timestamp *disabled)
{
	fiducia__v1__org__init(o);
	google__protobuf__timestamp__init(created);
	google__protobuf__timestamp__init(disabled);
	o->name = PQgetvalue(res, row, 0);
	o->kind = kind_parse(PQgetvalue(res, row, 1));
	o->country = PQgetvalue(res, row, 2);
	o->contact = PQgetvalue(res, row, 3);
	o->disabled = PQgetvalue(res, row, 4)[0] == 't';
	set_ts(created, PQgetvalue(res, row, 5));
	o->created_at = created;
	if (o->disabled) {
		set_ts(disabled, PQgetvalue(res, row, 6));
		o->disabled_at = disabled;
	}
}

static void reply_org_row(http_req *r, int status, PGresult *res)
{
	Fiducia__V1__Org o;
	Google__Protobuf__Timestamp c, d;
	org_from_row(res, 0, &o, &c, &d);
	http_reply(r, status, &o.base);
}

static bool printable(const char *s, size_t max)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f)
			return false;
	return n <= max;
}

/* ---- writes: the change and its ledger entry commit together ---------- */

struct org_txn {
	http_req *r;
	db_conn *conn;
	const char *sql;
	const char *params[4];
	int nparams;
	Fiducia__V1__LedgerEntry__Action action;
	int ok_status;
	PGresult *row;   /* copy of the written row, until the reply */
	bool changed;    /* false: nothing to record (an idempotent repeat) */
	int64_t pending; /* the ledger entry's pending id, until placed */
};

static void txn_reply(struct org_txn *t);

static void txn_free(void *p)
{
	struct org_txn *t = p;
	PQclear(t->row);
	free(t);
}

static void txn_fail(struct org_txn *t, int status, const char *code, const char *msg)
{
	db_release(t->conn); /* rolls the transaction back */
	http_reply_error(t->r, status, code, "%s", msg);
}

static void txn_committed(PGresult *res, void *arg)
{
	struct org_txn *t = arg;
	http_req *r = t->r;
	db_release(t->conn);
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
		http_reply_unavailable(r);
		return;
	}
	if (t->pending > 0) /* placed within milliseconds; the answer does not wait */
		ledger_kick(r->app);
	txn_reply(t);
}

static void txn_reply(struct org_txn *t)
{
	http_req *r = t->r;
	const char *name = PQgetvalue(t->row, 0, 0);
	if (t->action == FIDUCIA__V1__LEDGER_ENTRY__ACTION__ORG_DISABLED) {
		/* Our own cache at once; other processes through NOTIFY. */
		r->app->orgs->generation++;
		cache_evict(r->app->orgs, name);
		log_info("organisation %s disabled by %s", name, r->claims.org);
	} else {
		log_info("organisation %s created by %s", name, r->claims.org);
	}
	reply_org_row(r, t->ok_status, t->row);
}

static void txn_ledgered(bool ok, int64_t pending, void *arg)
{
	struct org_txn *t = arg;
	t->pending = pending;
	if (!ok) {
		txn_fail(t, 503, "unavailable",
		         "the ledger could not record this change, so nothing was changed");
		return;
	}
	db_conn_query(t->conn, "COMMIT", 0, NULL, txn_committed, t);
}

static void txn_written(PGresult *res, void *arg)
{
	struct org_txn *t = arg;
	http_req *r = t->r;
	if (!res || db_result_is_unavailable(res)) {
		db_release(t->conn);
		http_reply_unavailable(r);
		return;
	}
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (state && strcmp(state, "23505") == 0) {
		char msg[128];
		snprintf(msg, sizeof msg, "organisation %s already exists", t->params[0]);
		txn_fail(t, 409, "already_exists", msg);
		return;
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		txn_fail(t, 500, "internal", "cannot write the organisation");
		return;
	}
	if (PQntuples(res) == 0) {
		char msg[128];
		snprintf(msg, sizeof msg, "no organisation %s", t->params[0]);
		txn_fail(t, 404, "not_found", msg);
		return;
	}
	t->row = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
	if (!t->row)
		abort();
	/* Column 7, when present, says whether the org was already disabled. */
	t->changed = PQnfields(res) < 8 || PQgetvalue(res, 0, 7)[0] != 't';
	if (!t->changed) {
		db_conn_query(t->conn, "COMMIT", 0, NULL, txn_committed, t);
		return;
	}
	Fiducia__V1__LedgerEntry e = FIDUCIA__V1__LEDGER_ENTRY__INIT;
	ledger_entry_from_request(&e, r);
	e.action = t->action;
	e.target_org = PQgetvalue(t->row, 0, 0);
	e.decision = FIDUCIA__V1__LEDGER_ENTRY__DECISION__GRANTED;
	ledger_append(r->app, t->conn, &e, txn_ledgered, t);
}

static void txn_begun(PGresult *res, void *arg)
{
	struct org_txn *t = arg;
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
		db_release(t->conn);
		http_reply_unavailable(t->r);
		return;
	}
	db_conn_query(t->conn, t->sql, t->nparams, t->params, txn_written, t);
}

static void txn_conn(db_conn *c, void *arg)
{
	struct org_txn *t = arg;
	if (!c) {
		http_reply_unavailable(t->r);
		return;
	}
	t->conn = c;
	db_conn_query(c, "BEGIN", 0, NULL, txn_begun, t);
}

/* Run sql (which RETURNs ORG_COLUMNS) and append an `action` entry in one
 * transaction; reply ok_status with the row. The params must live as long
 * as the request. */
static void org_write(http_req *r, const char *sql, int n, const char *const *params,
                      Fiducia__V1__LedgerEntry__Action action, int ok_status)
{
	struct org_txn *t = calloc(1, sizeof *t);
	if (!t)
		abort();
	http_on_complete(r, txn_free, t);
	t->r = r;
	t->sql = sql;
	t->nparams = n;
	for (int i = 0; i < n; i++)
		t->params[i] = params[i];
	t->action = action;
	t->ok_status = ok_status;
	db_acquire(r->app->db, txn_conn, t);
}

struct org_create {
	http_req *r;
	char name[64];
	ledger_pending_text lt;
};

static void create_free(void *p)
{
	struct org_create *oc = p;
	ledger_pending_text_free(&oc->lt);
	free(oc);
}

static void created(PGresult *res, void *arg)
{
	struct org_create *oc = arg;
	http_req *r = oc->r;
	if (!res || db_result_is_unavailable(res)) {
		http_reply_unavailable(r);
		return;
	}
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (state && strcmp(state, "23505") == 0) {
		http_reply_error(r, 409, "already_exists", "organisation %s already exists",
		                 oc->name);
		return;
	}
	if (!pg_ok(res, PGRES_TUPLES_OK) || PQntuples(res) != 1 || PQnfields(res) != 8 ||
	    PQgetisnull(res, 0, 7)) {
		http_reply_error(r, 503, "unavailable",
		                 "the ledger could not record this change, so nothing was changed");
		return;
	}
	/* Committed with its entry, which the sequencer places within
	 * milliseconds; the answer carries no ledger index, so it does not wait
	 * (a reader of the ledger waits for what is pending: ledger_flush). */
	ledger_kick(r->app);
	log_info("organisation %s created by %s", oc->name, r->claims.org);
	reply_org_row(r, 201, res);
}

static void create_org(http_req *r)
{
	Fiducia__V1__CreateOrgRequest *req;
	if (!http_read_body(r, &fiducia__v1__create_org_request__descriptor,
	                    (ProtobufCMessage **)&req))
		return;
	if (!orgs_name_valid(req->name)) {
		http_reply_error(r, 400, "invalid_argument",
		                 "$.name: must be a lowercase slug of 1-63 characters [a-z0-9-], "
		                 "not starting or ending with '-'");
		return;
	}
	if (req->kind != FIDUCIA__V1__ORG__KIND__HOLDER &&
	    req->kind != FIDUCIA__V1__ORG__KIND__PUBLIC_AUTHORITY &&
	    req->kind != FIDUCIA__V1__ORG__KIND__REGULATOR) {
		http_reply_error(r, 400, "invalid_argument",
		                 "$.kind: must be HOLDER, PUBLIC_AUTHORITY or REGULATOR");
		return;
	}
	if (req->country[0] &&
	    !(strlen(req->country) == 2 && isupper((unsigned char)req->country[0]) &&
	      isupper((unsigned char)req->country[1]))) {
		http_reply_error(r, 400, "invalid_argument",
		                 "$.country: must be an ISO 3166-1 alpha-2 code such as FR");
		return;
	}
	if (!printable(req->contact, 256)) {
		http_reply_error(r, 400, "invalid_argument",
		                 "$.contact: at most 256 characters, no control characters");
		return;
	}
	/* One statement, the org and its ledger entry: they commit together in
	 * one round trip, pipelined with other requests' statements. */
	struct org_create *oc = calloc(1, sizeof *oc);
	if (!oc)
		abort();
	http_on_complete(r, create_free, oc);
	oc->r = r;
	snprintf(oc->name, sizeof oc->name, "%s", req->name);
	Fiducia__V1__LedgerEntry e = FIDUCIA__V1__LEDGER_ENTRY__INIT;
	ledger_entry_from_request(&e, r);
	e.action = FIDUCIA__V1__LEDGER_ENTRY__ACTION__ORG_CREATED;
	e.target_org = oc->name;
	e.decision = FIDUCIA__V1__LEDGER_ENTRY__DECISION__GRANTED;
	ledger_pending_text_init(r->app, &e, &oc->lt);
	const char *p[9] = {req->name,    kind_name(req->kind), req->country,
	                    req->contact, oc->lt.entry_hex,     oc->lt.mac_hex,
	                    oc->lt.actor, oc->lt.action,        oc->lt.dataset};
	db_query(
	        r->app->db,
	        "WITH o AS (INSERT INTO orgs (name, kind, country, contact) VALUES ($1, $2, $3, "
	        "$4) RETURNING " ORG_COLUMNS "), l AS (INSERT INTO ledger_pending (entry, mac, "
	        "actor_org, target_org, action, dataset) SELECT decode($5, 'hex'), decode($6, "
	        "'hex'), $7, $1, $8, $9 FROM o RETURNING id) SELECT o.*, (SELECT id FROM l) FROM o",
	        9, p, created, oc);
}

static void list_done(PGresult *res, void *arg)
{
	http_req *r = arg;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		if (!res || db_result_is_unavailable(res))
			http_reply_unavailable(r);
		else
			http_reply_error(r, 500, "internal", "cannot list organisations");
		return;
	}
	int n = PQntuples(res);
	Fiducia__V1__Org *orgs = calloc((size_t)n + 1, sizeof *orgs);
	Fiducia__V1__Org **ptrs = calloc((size_t)n + 1, sizeof *ptrs);
	Google__Protobuf__Timestamp *ts = calloc(2 * (size_t)n + 2, sizeof *ts);
	if (!orgs || !ptrs || !ts) {
		free(orgs);
		free(ptrs);
		free(ts);
		http_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	for (int i = 0; i < n; i++) {
		org_from_row(res, i, &orgs[i], &ts[2 * i], &ts[2 * i + 1]);
		ptrs[i] = &orgs[i];
	}
	Fiducia__V1__ListOrgsResponse out = FIDUCIA__V1__LIST_ORGS_RESPONSE__INIT;
	out.n_orgs = (size_t)n;
	out.orgs = ptrs;
	http_on_complete(r, free, orgs);
	http_on_complete(r, free, ptrs);
	http_on_complete(r, free, ts);
	http_reply(r, 200, &out.base);
}

static void list_orgs(http_req *r)
{
	db_query(r->app->db, "SELECT " ORG_COLUMNS " FROM orgs ORDER BY name", 0, NULL, list_done,
	         r);
}

static void get_done(PGresult *res, void *arg)
{
	http_req *r = arg;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		if (!res || db_result_is_unavailable(res))
			http_reply_unavailable(r);
		else
			http_reply_error(r, 500, "internal", "cannot read the organisation");
		return;
	}
	if (PQntuples(res) == 0) {
		http_reply_error(r, 404, "not_found", "no organisation %s", http_param(r, "org"));
		return;
	}
	reply_org_row(r, 200, res);
}

static void get_org(http_req *r)
{
	const char *org = http_param(r, "org");
	if (!orgs_name_valid(org)) {
		http_reply_error(r, 404, "not_found", "no such organisation");
		return;
	}
	/* The operator reads any organisation; others only their own. */
	if (r->claims.role != AUTH_ROLE_OPERATOR && strcmp(org, r->claims.org) != 0) {
		http_reply_error(r, 403, "forbidden",
		                 "only the operator reads other organisations");
		return;
	}
	const char *p[1] = {org};
	db_query(r->app->db, "SELECT " ORG_COLUMNS " FROM orgs WHERE name = $1", 1, p, get_done, r);
}

static void disable_org(http_req *r)
{
	const char *org = http_param(r, "org");
	if (!orgs_name_valid(org)) {
		http_reply_error(r, 404, "not_found", "no such organisation");
		return;
	}
	if (strcmp(org, "operator") == 0) {
		http_reply_error(r, 409, "failed_precondition",
		                 "the operator organisation cannot be disabled");
		return;
	}
	const char *p[1] = {org};
	/* Idempotent: disabling a disabled org keeps its first disabled_at and
	 * records nothing new. */
	org_write(r,
	          "UPDATE orgs SET disabled = true, disabled_at = coalesce(disabled_at, now()) "
	          "FROM (SELECT name AS pname, disabled AS was FROM orgs WHERE name = $1 "
	          "FOR UPDATE) prev WHERE name = prev.pname RETURNING " ORG_COLUMNS ", prev.was",
	          1, p, FIDUCIA__V1__LEDGER_ENTRY__ACTION__ORG_DISABLED, 200);
}

const http_route orgs_routes[] = {
        {"POST", "/v1/orgs", create_org, AUTH_ROLE_OPERATOR, NULL},
        {"GET", "/v1/orgs", list_orgs, AUTH_ROLE_OPERATOR, NULL},
        {"GET", "/v1/orgs/{org}", get_org, AUTH_ROLE_ANY, NULL},
        {"POST", "/v1/orgs/{org}/disable", disable_org, AUTH_ROLE_OPERATOR, NULL},
        {NULL, NULL, NULL, 0, NULL},
};
