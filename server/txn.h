/*
 * txn: the shape every ledgered write shares: BEGIN, a few statements, one
 * ledger entry, COMMIT, then the reply. A step function receives each
 * result (and NULL after the ledger append) and sends the next statement or
 * finishes; a lost connection answers 503 on its own. The transaction is
 * rolled back on any failure, so the change and its entry commit together
 * or not at all.
 */
#ifndef FIDUCIA_TXN_H
#define FIDUCIA_TXN_H

#include <stdbool.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "db.h"
#include "http.h"
#include "fiducia/v1/ledger.pb-c.h"
typedef struct txn txn;
typedef void (*txn_step)(txn *t, PGresult *res);

struct txn {
	http_req *r;
	db_conn *conn;
	txn_step step;
	int stage;
	void *ctx;
	/* filled by the step that appends to the ledger: the entry's pending
	 * id, and after COMMIT its index in the log (-1: not placed in time) */
	int64_t ledger_pending;
	int64_t ledger_index;
	PGresult *row; /* a copy kept for the reply */
	int ok_status;
	void (*reply)(txn *t);
};

/* Start a transaction for r; step(t, BEGIN's result) runs first, stage 0.
 * t is freed with the request. */
txn *txn_start(http_req *r, txn_step step, void *ctx);
/* One statement (text parameters); its result goes to t->step. */
void txn_sql(txn *t, const char *sql, int n, const char *const *p);
/* Roll back and reply an error. */
void txn_fail(txn *t, int status, const char *code, const char *msg);
/* COMMIT, then, once the entry appended is placed in the log, t->reply(t)
 * (or 503 if the commit failed). */
void txn_commit(txn *t);
/* Keep a copy of res in t->row for the reply. */
void txn_keep_row(txn *t, PGresult *res);
/* Append a ledger entry about this request; t->step(t, NULL) runs after,
 * with t->ledger_pending set (a failure rolls back and answers 503). */
void txn_ledger(txn *t, Fiducia__V1__LedgerEntry__Action action, const char *dataset,
                const uint8_t *receipt_hash, char **reasons, size_t nreasons);
/* The same with an entry the caller filled (actor fields included). */
void txn_ledger_entry(txn *t, Fiducia__V1__LedgerEntry *e);
/* The reply's ledger index (0 when the entry was not placed in time). */
static inline uint64_t txn_index_out(const txn *t)
{
	return t->ledger_index > 0 ? (uint64_t)t->ledger_index : 0;
}

/* The db_result_cb of a txn, for statements sent with db_conn_query_bin. */
void txn_result(PGresult *res, void *arg);

#endif
