/*
 * migrate: applies the numbered SQL migrations of sql/ (embedded at build
 * time) at start-up, each in its own transaction, recorded in
 * schema_migrations, under an advisory lock so that concurrent fiduciad
 * processes apply each exactly once. Runs before the event loop: blocking.
 */
#ifndef FIDUCIA_MIGRATE_H
#define FIDUCIA_MIGRATE_H

#include <stdbool.h>
#include <libpq-fe.h>

struct migration {
	int version;
	const char *name;
	const char *sql;
};

/* Generated from the files of sql/; terminated by {0, NULL, NULL}. */
extern const struct migration migrations[];

/* Highest version known to this binary. */
int migrate_latest_version(void);

/* Apply every pending migration over conn (blocking). On failure returns
 * false with a message in err, having applied none of the failing one. */
bool migrate_apply(PGconn *conn, char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
