/*
 * db: an asynchronous PostgreSQL connection pool on the event loop. Only
 * libpq's non-blocking calls are used after start-up; connections that die
 * (a PostgreSQL restart) are re-established in the background with backoff,
 * and callers meanwhile get a NULL connection/result, which the HTTP layer
 * turns into 503. Every callback runs from the event loop, never from inside
 * the db_* call that requested it.
 */
#ifndef FIDUCIA_DB_H
#define FIDUCIA_DB_H

#include <stdbool.h>
#include <stdint.h>
#include <libpq-fe.h>

struct event_base;
typedef struct db_pool db_pool;
typedef struct db_conn db_conn;

/* conn is NULL when no connection could be had (database down, or the
 * acquire timeout passed): the caller answers 503. */
typedef void (*db_conn_cb)(db_conn *conn, void *arg);

/* res is NULL when the connection was lost; otherwise check
 * PQresultStatus(res). res is borrowed: cleared after the callback returns. */
typedef void (*db_result_cb)(PGresult *res, void *arg);

/* A NOTIFY on a channel given to db_pool_listen. payload is borrowed. */
typedef void (*db_notify_cb)(const char *channel, const char *payload, void *arg);
/* The listener connection came up (LISTEN issued) or went down. While it is
 * down notifications may be missed, so caches must not be trusted. */
typedef void (*db_listen_state_cb)(bool up, void *arg);

/* Starts connecting `size` connections in the background. NULL on OOM. */
db_pool *db_pool_new(struct event_base *base, const char *conninfo, int size,
                     int acquire_timeout_ms, int statement_timeout_ms)
        __attribute__((warn_unused_result));
/* Closes every connection; pending callbacks are not called. */
void db_pool_free(db_pool *p);

/* Hold a connection for a sequence of queries (a transaction). Give it back
 * with db_release, exactly once. */
void db_acquire(db_pool *p, db_conn_cb cb, void *arg);

/* One statement with text parameters (NULL entries are SQL NULL), text
 * results. The connection must be held and have no query in flight. */
void db_conn_query(db_conn *c, const char *sql, int nparams, const char *const *params,
                   db_result_cb cb, void *arg);

/* As db_conn_query, with binary parameters where formats[i] is 1 (lengths[i]
 * bytes at values[i]; text where 0). The values are borrowed: they must
 * stay valid until cb runs. Results are text. */
void db_conn_query_bin(db_conn *c, const char *sql, int nparams, const char *const *values,
                       const int *lengths, const int *formats, db_result_cb cb, void *arg);

/* As db_conn_query (text parameters), with every result column in binary
 * (bytea: the raw bytes, PQgetlength long). */
void db_conn_query_binres(db_conn *c, const char *sql, int nparams, const char *const *params,
                          db_result_cb cb, void *arg);
/* Several statements separated by semicolons, without parameters, in one
 * round trip (the simple query protocol; each statement has its own
 * snapshot). A failing statement ends the string; cb gets the last result,
 * which is then that error. For SQL built from trusted values only. */
void db_conn_exec(db_conn *c, const char *sql, db_result_cb cb, void *arg);

/* Give a connection back. An open transaction is rolled back first. */
void db_release(db_conn *c);

/* Acquire, run one statement, release: for single-statement work. */
void db_query(db_pool *p, const char *sql, int nparams, const char *const *params, db_result_cb cb,
              void *arg);

/* A dedicated connection that LISTENs on `channel` (an identifier) and is
 * kept up like the pool's. One listener per pool. */
bool db_pool_listen(db_pool *p, const char *channel, db_notify_cb on_notify,
                    db_listen_state_cb on_state, void *arg) __attribute__((warn_unused_result));

typedef struct db_stats {
	int size, connected, idle, in_use, waiting;
	uint64_t acquired, timeouts, unavailable, connects, connect_failures, lost;
	uint64_t dns_lookups; /* host names resolved on the loop (evdns) */
} db_stats;
void db_pool_stats(const db_pool *p, db_stats *out);

/* True when at least one pooled connection is up. */
bool db_pool_up(const db_pool *p);

/* True when res says the server or the connection failed (SQLSTATE class 08,
 * 57P0x shutdown), as opposed to an error in the statement. */
bool db_result_is_unavailable(const PGresult *res);

/* Route libpq notices (NOTICE, WARNING) to the JSON log instead of stderr. */
void db_log_notices(PGconn *c);

#endif
