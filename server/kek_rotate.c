#include "kek_rotate.h"
#include "app.h"
#include "db.h"
#include "keys.h"
#include "ledger.h"
#include "log.h"
#include "vault.h"

#include <event2/event.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rot {
	struct app *app;
	const uint8_t *new_kek;
	char new_id[VAULT_KEK_ID_LEN + 1];
	void (*done)(bool, long long, void *);
	void *arg;
	db_conn *conn;
	long long total;
	int batch;
	int per_txn;
	int waits;
	char *a_ds, *a_kind, *a_ver, *a_w; /* array literals of the UPDATE */
	char reason[128];
	int64_t pending; /* the last transaction's ledger entry */
};

static void finish(struct rot *k, bool ok)
{
	if (k->conn)
		db_release(k->conn);
	k->conn = NULL;
	free(k->a_ds);
	free(k->a_kind);
	free(k->a_ver);
	free(k->a_w);
	void (*done)(bool, long long, void *) = k->done;
	void *arg = k->arg;
	long long total = k->total;
	free(k);
	done(ok, total, arg);
}

static void next_txn(struct rot *k);

static void placed(int64_t index, void *arg)
{
	struct rot *k = arg;
	if (index < 0) /* committed with its entry, which a later sweep places */
		log_warn("rotate-kek: the rotation's ledger entry is not placed in the log yet");
	k->total += k->batch;
	log_info("rotate-kek: %lld data keys re-wrapped so far", k->total);
	next_txn(k);
}

static void committed(PGresult *res, void *arg)
{
	struct rot *k = arg;
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
		log_error("rotate-kek: COMMIT failed");
		finish(k, false);
		return;
	}
	db_release(k->conn);
	k->conn = NULL;
	/* On, once the entry has its place in the log. */
	ledger_placed(k->app, k->pending, placed, k);
}

static void ledgered(bool ok, int64_t pending, void *arg)
{
	struct rot *k = arg;
	k->pending = pending;
	if (!ok) {
		log_error("rotate-kek: the ledger could not record the rotation; rolled back");
		finish(k, false);
		return;
	}
	db_conn_query(k->conn, "COMMIT", 0, NULL, committed, k);
}

static void updated(PGresult *res, void *arg)
{
	struct rot *k = arg;
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK || atoi(PQcmdTuples(res)) != k->batch) {
		log_error("rotate-kek: cannot update the wrapped keys: %s",
		          res ? PQresultErrorMessage(res) : "connection lost");
		finish(k, false);
		return;
	}
	Fiducia__V1__LedgerEntry e = FIDUCIA__V1__LEDGER_ENTRY__INIT;
	e.actor_org = "operator";
	e.actor_role = "operator";
	e.action = FIDUCIA__V1__LEDGER_ENTRY__ACTION__KEY_ROTATED;
	e.decision = FIDUCIA__V1__LEDGER_ENTRY__DECISION__GRANTED;
	snprintf(k->reason, sizeof k->reason,
	         "key-encryption key rotated: %d data keys re-wrapped under KEK %s", k->batch,
	         k->new_id);
	char *why[1] = {k->reason};
	e.reasons = why;
	e.n_reasons = 1;
	ledger_append(k->app, k->conn, &e, ledgered, k);
}

static bool append(char **s, size_t *len, size_t *cap, const char *piece)
{
	size_t n = strlen(piece);
	if (*len + n + 2 > *cap) {
		size_t ncap = (*cap ? *cap : 256) * 2 + n;
		char *p = realloc(*s, ncap);
		if (!p)
			return false;
		*s = p;
		*cap = ncap;
	}
	memcpy(*s + *len, piece, n + 1);
	*len += n;
	return true;
}

static void selected(PGresult *res, void *arg)
{
	struct rot *k = arg;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_error("rotate-kek: cannot read the wrapped keys");
		finish(k, false);
		return;
	}
	int n = PQntuples(res);
	if (n == 0) {
		finish(k, true);
		return;
	}
	size_t l[4] = {0}, c[4] = {0};
	char **arr[4] = {&k->a_ds, &k->a_kind, &k->a_ver, &k->a_w};
	for (int a = 0; a < 4; a++) {
		free(*arr[a]);
		*arr[a] = NULL;
		if (!append(arr[a], &l[a], &c[a], "{"))
			abort();
	}
	uint8_t *key = sodium_malloc(VAULT_KEY_BYTES);
	if (!key)
		abort();
	for (int i = 0; i < n; i++) {
		const char *ds = PQgetvalue(res, i, 0), *kind = PQgetvalue(res, i, 1);
		int version = atoi(PQgetvalue(res, i, 2));
		const char *kek_id = PQgetvalue(res, i, 3);
		const unsigned char *old = keys_kek_by_id(k->app->keys, kek_id);
		uint8_t wrapped[VAULT_WRAPPED_BYTES + 1];
		size_t wl = 0;
		const char *hex = PQgetvalue(res, i, 4);
		if (!old) {
			log_error("rotate-kek: dataset %s %s key v%d is wrapped under KEK %s, "
			          "which is "
			          "neither kek_file nor kek_previous_file",
			          ds, kind, version, kek_id);
			sodium_free(key);
			finish(k, false);
			return;
		}
		if (strncmp(hex, "\\x", 2) != 0 ||
		    sodium_hex2bin(wrapped, sizeof wrapped, hex + 2, strlen(hex + 2), NULL, &wl,
		                   NULL) != 0 ||
		    !vault_unwrap(old, ds, kind, version, wrapped, wl, key)) {
			log_error("rotate-kek: dataset %s %s key v%d fails to unwrap (altered?)",
			          ds, kind, version);
			sodium_free(key);
			finish(k, false);
			return;
		}
		vault_wrap(k->new_kek, ds, kind, version, key, wrapped);
		char whex[2 * VAULT_WRAPPED_BYTES + 1], ver[16];
		sodium_bin2hex(whex, sizeof whex, wrapped, VAULT_WRAPPED_BYTES);
		snprintf(ver, sizeof ver, "%d", version);
		const char *vals[4] = {ds, kind, ver, whex};
		for (int a = 0; a < 4; a++)
			if ((i && !append(arr[a], &l[a], &c[a], ",")) ||
			    !append(arr[a], &l[a], &c[a], vals[a]))
				abort();
	}
	sodium_free(key);
	for (int a = 0; a < 4; a++)
		if (!append(arr[a], &l[a], &c[a], "}"))
			abort();
	k->batch = n;
	const char *p[5] = {k->new_id, k->a_ds, k->a_kind, k->a_ver, k->a_w};
	db_conn_query(
	        k->conn,
	        "UPDATE dataset_keys k SET kek_id = $1, wrapped = decode(v.w, 'hex') FROM "
	        "unnest($2::text[], $3::text[], $4::int[], $5::text[]) AS v(ds, kind, ver, w) "
	        "WHERE k.dataset = v.ds AND k.kind = v.kind AND k.version = v.ver AND "
	        "k.kek_id <> $1",
	        5, p, updated, k);
}

static void begun(PGresult *res, void *arg)
{
	struct rot *k = arg;
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
		finish(k, false);
		return;
	}
	char lim[16];
	snprintf(lim, sizeof lim, "%d", k->per_txn);
	const char *p[2] = {k->new_id, lim};
	db_conn_query(k->conn,
	              "SELECT dataset, kind, version, kek_id, wrapped FROM dataset_keys WHERE "
	              "kek_id <> $1 ORDER BY dataset, kind, version LIMIT $2 FOR UPDATE",
	              2, p, selected, k);
}

static void got_conn(db_conn *c, void *arg)
{
	struct rot *k = arg;
	if (!c) {
		log_error("rotate-kek: no database connection");
		finish(k, false);
		return;
	}
	k->conn = c;
	db_conn_query(c, "BEGIN", 0, NULL, begun, k);
}

static void retry_tick(evutil_socket_t fd, short what, void *arg)
{
	next_txn(arg);
}

/* The pool connects in the background: wait for it (up to 30 s). */
static void next_txn(struct rot *k)
{
	if (!db_pool_up(k->app->db) && k->waits++ < 300) {
		struct timeval tv = {0, 100000};
		event_base_once(k->app->base, -1, EV_TIMEOUT, retry_tick, k, &tv);
		return;
	}
	db_acquire(k->app->db, got_conn, k);
}

void kek_rotate_start(struct app *app, const uint8_t *new_kek, int per_txn,
                      void (*done)(bool ok, long long rewrapped, void *arg), void *arg)
{
	struct rot *k = calloc(1, sizeof *k);
	if (!k)
		abort();
	k->app = app;
	k->new_kek = new_kek;
	k->per_txn = per_txn > 0 ? per_txn : 100;
	vault_kek_id(new_kek, k->new_id);
	k->done = done;
	k->arg = arg;
	next_txn(k);
}
