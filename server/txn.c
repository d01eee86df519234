#include "txn.h"
#include "pgutil.h"
#include "app.h"
#include "ledger.h"

#include <stdlib.h>

static void txn_free(void *p)
{
	txn *t = p;
	PQclear(t->row);
	free(t);
}

void txn_result(PGresult *res, void *arg)
{
	txn *t = arg;
	if (!res || db_result_is_unavailable(res)) {
		db_release(t->conn);
		http_reply_unavailable(t->r);
		return;
	}
	t->step(t, res);
}

void txn_sql(txn *t, const char *sql, int n, const char *const *p)
{
	db_conn_query(t->conn, sql, n, p, txn_result, t);
}

void txn_fail(txn *t, int status, const char *code, const char *msg)
{
	db_release(t->conn);
	http_reply_error(t->r, status, code, "%s", msg);
}

static void txn_placed(int64_t index, void *arg)
{
	txn *t = arg;
	t->ledger_index = index;
	t->reply(t);
}

static void txn_committed(PGresult *res, void *arg)
{
	txn *t = arg;
	db_release(t->conn);
	if (!pg_ok(res, PGRES_COMMAND_OK)) {
		http_reply_unavailable(t->r);
		return;
	}
	/* Answer once the entry has its place in the log: what a client saw
	 * answered is in the log. */
	if (t->ledger_pending > 0)
		ledger_placed(t->r->app, t->ledger_pending, txn_placed, t);
	else
		t->reply(t);
}

void txn_commit(txn *t)
{
	db_conn_query(t->conn, "COMMIT", 0, NULL, txn_committed, t);
}

static void txn_ledgered(bool ok, int64_t pending, void *arg)
{
	txn *t = arg;
	if (!ok) {
		txn_fail(t, 503, "unavailable",
		         "the ledger could not record this change, so nothing was changed");
		return;
	}
	t->ledger_pending = pending;
	t->step(t, NULL);
}

static void txn_begun(PGresult *res, void *arg)
{
	txn *t = arg;
	if (!pg_ok(res, PGRES_COMMAND_OK)) {
		db_release(t->conn);
		http_reply_unavailable(t->r);
		return;
	}
	t->step(t, res);
}

static void txn_conn(db_conn *c, void *arg)
{
	txn *t = arg;
	if (!c) {
		http_reply_unavailable(t->r);
		return;
	}
	t->conn = c;
	db_conn_query(c, "BEGIN", 0, NULL, txn_begun, t);
}

/* Start a transaction; step(t, BEGIN's result) runs first with stage 0. */
txn *txn_start(http_req *r, txn_step step, void *ctx)
{
	txn *t = calloc(1, sizeof *t);
	if (!t)
		abort();
	http_on_complete(r, txn_free, t);
	t->r = r;
	t->step = step;
	t->ctx = ctx;
	t->ledger_index = -1;
	db_acquire(r->app->db, txn_conn, t);
	return t;
}

void txn_keep_row(txn *t, PGresult *res)
{
	PQclear(t->row);
	t->row = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
	if (!t->row)
		abort();
}

void txn_ledger(txn *t, Fiducia__V1__LedgerEntry__Action action, const char *dataset,
                const uint8_t *receipt_hash, char **reasons, size_t nreasons)
{
	Fiducia__V1__LedgerEntry e = FIDUCIA__V1__LEDGER_ENTRY__INIT;
	ledger_entry_from_request(&e, t->r);
	e.action = action;
	e.dataset = (char *)dataset;
	e.decision = FIDUCIA__V1__LEDGER_ENTRY__DECISION__GRANTED;
	if (receipt_hash) {
		e.batch_receipt_hash.data = (uint8_t *)receipt_hash;
		e.batch_receipt_hash.len = 32;
	}
	e.reasons = reasons;
	e.n_reasons = nreasons;
	ledger_append(t->r->app, t->conn, &e, txn_ledgered, t);
}

void txn_ledger_entry(txn *t, Fiducia__V1__LedgerEntry *e)
{
	ledger_append(t->r->app, t->conn, e, txn_ledgered, t);
}
