/*
 * pgembed: the embedded default. Without a database_url, fiduciad runs its
 * own PostgreSQL cluster in DATA_DIR/pg: initdb on first start, pg_ctl start
 * on a unix socket inside the folder (no TCP port), pg_ctl stop at exit. When
 * fiduciad runs as root the cluster runs as an unprivileged OS user, since
 * PostgreSQL refuses root. Blocking: start-up and shutdown only.
 */
#ifndef FIDUCIA_PGEMBED_H
#define FIDUCIA_PGEMBED_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct pgembed {
	char *root;    /* DATA_DIR/pg */
	char *datadir; /* DATA_DIR/pg/data */
	char *sockdir; /* DATA_DIR/pg/run */
	char *logfile; /* DATA_DIR/pg/postgresql.log */
	char *bindir;
	bool drop_privs;
	uid_t uid;
	gid_t gid;
	char *user;
	bool running;
} pgembed;

/*
 * Create (initdb) if needed and start the cluster, then create the fiducia
 * database if absent. *conninfo_out (caller frees) is the libpq conninfo of
 * that database. bindir NULL or "" asks pg_config; os_user is used only when
 * running as root. On failure returns false with a reason in err (including
 * the tail of the server log when PostgreSQL said why).
 */
bool pgembed_start(pgembed *pg, const char *data_dir, const char *bindir, const char *os_user,
                   char **conninfo_out, char *err, size_t errlen)
        __attribute__((warn_unused_result));

/* pg_ctl stop -m fast, waiting for it; frees everything. Safe to call twice. */
void pgembed_stop(pgembed *pg);

#endif
