/*
 * Schema migrations, applied at start-up before the event loop runs. A
 * session-level advisory lock serialises concurrent fiduciad processes; each
 * migration and its schema_migrations row commit together or not at all.
 */
#include "migrate.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "fiducia-migrate" as a 64-bit advisory-lock key. */
#define MIGRATE_LOCK_KEY "7381029456123"

int migrate_latest_version(void)
{
	int v = 0;
	for (const struct migration *m = migrations; m->sql; m++)
		if (m->version > v)
			v = m->version;
	return v;
}

static bool exec_ok(PGconn *c, const char *sql, char *err, size_t errlen)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (!ok)
		snprintf(err, errlen, "%s", PQresultErrorMessage(r));
	PQclear(r);
	return ok;
}

bool migrate_apply(PGconn *c, char *err, size_t errlen)
{
	char sub[512];
	if (!exec_ok(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", sub, sizeof sub)) {
		snprintf(err, errlen, "migrations: cannot take the advisory lock: %s", sub);
		return false;
	}
	bool ok = false;
	if (!exec_ok(c,
	             "CREATE TABLE IF NOT EXISTS schema_migrations ("
	             " version integer PRIMARY KEY, name text NOT NULL,"
	             " applied_at timestamptz NOT NULL DEFAULT now())",
	             sub, sizeof sub)) {
		snprintf(err, errlen, "migrations: cannot create schema_migrations: %s", sub);
		goto out;
	}
	for (const struct migration *m = migrations; m->sql; m++) {
		char vbuf[16];
		snprintf(vbuf, sizeof vbuf, "%d", m->version);
		const char *p[1] = {vbuf};
		PGresult *r = PQexecParams(c, "SELECT 1 FROM schema_migrations WHERE version = $1",
		                           1, NULL, p, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			snprintf(err, errlen, "migrations: %s", PQresultErrorMessage(r));
			PQclear(r);
			goto out;
		}
		bool applied = PQntuples(r) > 0;
		PQclear(r);
		if (applied)
			continue;
		if (!exec_ok(c, "BEGIN", sub, sizeof sub))
			goto txfail;
		if (!exec_ok(c, m->sql, sub, sizeof sub))
			goto txfail;
		const char *p2[2] = {vbuf, m->name};
		r = PQexecParams(c, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
		                 2, NULL, p2, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			snprintf(sub, sizeof sub, "%s", PQresultErrorMessage(r));
			PQclear(r);
			goto txfail;
		}
		PQclear(r);
		if (!exec_ok(c, "COMMIT", sub, sizeof sub))
			goto txfail;
		log_info("migration %s applied", m->name);
		continue;
	txfail:
		snprintf(err, errlen, "migration %s failed: %s", m->name, sub);
		PQclear(PQexec(c, "ROLLBACK"));
		goto out;
	}
	ok = true;
out:
	PQclear(PQexec(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
	return ok;
}
