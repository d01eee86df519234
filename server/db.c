/*
 * The asynchronous pool. Each connection is a small state machine driven by
 * one event on its socket, re-armed for read and/or write as libpq asks
 * (PQconnectPoll while connecting, PQflush while sending, PQconsumeInput +
 * PQisBusy while waiting). State changes go through conn_set_state(), which
 * checks the transition. User callbacks are always deferred to a fresh loop
 * iteration through the pool's dispatch event, so db_* never re-enters its
 * caller.
 */
#include "db.h"
#include "log.h"

#include <assert.h>
#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECONNECT_MIN_MS   100
#define MAX_PREPARED       64    /* statements prepared per connection */
#define PIPELINE_DEPTH     16    /* one-shot queries in flight on one connection */
#define DEADLINE_MARGIN_MS 10000 /* beyond statement_timeout, before giving up */
#define RECONNECT_MAX_MS   2000
#define CONNECT_TIMEOUT_S  10

typedef enum db_conn_state {
	DB_CONN_DOWN,       /* waiting for the reconnect timer */
	DB_CONN_CONNECTING, /* PQconnectPoll in progress */
	DB_CONN_SETUP,      /* session settings (or LISTEN) in flight */
	DB_CONN_IDLE,       /* in the pool, watched for EOF */
	DB_CONN_HELD,       /* acquired by a caller, no query in flight */
	DB_CONN_BUSY,       /* acquired, a query in flight */
	DB_CONN_RESETTING,  /* released mid-transaction: ROLLBACK in flight */
	DB_CONN_LISTENING,  /* the listener, waiting for notifications */
	DB_CONN_PIPELINE,   /* shared: one-shot queries pipelined, in order */
} db_conn_state;

static const char *const state_names[] = {"down", "connecting", "setup",     "idle",    "held",
                                          "busy", "resetting",  "listening", "pipeline"};

/* A deferred call: a user callback to run in the next loop iteration. */
struct deferred {
	struct deferred *next;
	enum { DEF_CONN, DEF_RESULT } kind;
	union {
		db_conn_cb conn_cb;
		db_result_cb result_cb;
	} fn;
	void *arg;
	db_conn *conn;
	PGresult *res;
};

/* A one-shot query pipelined on a shared connection. Its result is the
 * first error of its sync segment, else the last result (the Execute's). */
struct pipe_entry {
	struct pipe_entry *next;
	db_result_cb cb;
	void *arg;
	PGresult *res;
	int stmt;      /* statement prepared by this entry's segment, or -1 */
	int nres;      /* results seen so far */
	bool parse_ok; /* the first of them said the Parse succeeded */
};

struct waiter {
	struct waiter *next, *prev;
	db_pool *pool;
	db_conn_cb cb;
	void *arg;
	struct event *timer;
};

struct db_conn {
	db_pool *pool;
	int index;
	PGconn *pg;
	db_conn_state state;
	struct event *ev; /* on PQsocket */
	int ev_fd;
	struct event *timer; /* reconnect backoff / connect timeout */
	int backoff_ms;
	bool broken; /* lost while held: reconnect on release */
	bool listener;
	bool resolving;                            /* waiting for evdns */
	struct evdns_getaddrinfo_request *dns_req; /* ... this request */
	/* the query in flight */
	db_result_cb qcb;
	void *qarg;
	PGresult *last;
	/* Statements are prepared on first use per connection, so PostgreSQL
	 * parses and plans each SQL text once, not once per request. */
	struct prepared {
		uint64_t hash;
		char *sql;
	} stmts[MAX_PREPARED];
	int nstmts;
	/* one-shot queries in flight in pipeline mode, oldest first */
	struct pipe_entry *pipe_head, *pipe_tail;
	int pipe_depth;
	bool need_flush; /* pipelined queries not yet sent */
	bool preparing;  /* the Parse of stmts[nstmts] is in flight */
	char *pend_sql;  /* ... then this runs with these params */
	int pend_n;
	char **pend_params;
	int *pend_lengths, *pend_formats; /* NULL for text parameters */
	bool pend_borrowed;               /* pend_params belong to the caller */
	int resfmt;                       /* the statement in flight: 1 binary results */
};

struct db_pool {
	struct event_base *base;
	char *conninfo;
	int size;
	int acquire_timeout_ms;
	int statement_timeout_ms;
	db_conn *conns;
	struct waiter *wait_head, *wait_tail;
	int n_waiting;
	struct deferred *def_head, *def_tail;
	struct event *dispatch;
	struct event *flush;    /* sends what this loop iteration pipelined */
	struct evdns_base *dns; /* when the conninfo names a host by name */
	char *dns_host;
	/* listener */
	db_conn *lconn;
	char *channel;
	db_notify_cb on_notify;
	db_listen_state_cb on_state;
	void *listen_arg;
	db_stats st;
};

static void conn_start(db_conn *c);
static void conn_arm(db_conn *c, short what);
static void conn_lost(db_conn *c, const char *why);
static void conn_became_idle(db_conn *c);
static void deadline_arm(db_conn *c);
static void deadline_clear(db_conn *c);
static void flush_cb(evutil_socket_t fd, short what, void *arg);

static bool transition_ok(db_conn_state from, db_conn_state to)
{
	if (to == DB_CONN_DOWN)
		return true; /* any state can fail */
	switch (from) {
	case DB_CONN_DOWN:
		return to == DB_CONN_CONNECTING;
	case DB_CONN_CONNECTING:
		return to == DB_CONN_SETUP;
	case DB_CONN_SETUP:
		return to == DB_CONN_IDLE || to == DB_CONN_LISTENING;
	case DB_CONN_IDLE:
		return to == DB_CONN_HELD || to == DB_CONN_PIPELINE;
	case DB_CONN_PIPELINE:
		return to == DB_CONN_IDLE;
	case DB_CONN_HELD:
		return to == DB_CONN_BUSY || to == DB_CONN_IDLE || to == DB_CONN_RESETTING;
	case DB_CONN_BUSY:
		return to == DB_CONN_HELD;
	case DB_CONN_RESETTING:
		return to == DB_CONN_IDLE;
	case DB_CONN_LISTENING:
		return false;
	}
	return false;
}

static void conn_set_state(db_conn *c, db_conn_state s)
{
	if (!transition_ok(c->state, s))
		log_error("db conn %d: invalid transition %s -> %s (a bug)", c->index,
		          state_names[c->state], state_names[s]);
	log_debug("db conn %d%s: %s -> %s", c->index, c->listener ? " (listener)" : "",
	          state_names[c->state], state_names[s]);
	c->state = s;
}

/* ---- deferred callbacks ------------------------------------------------ */

static void defer(db_pool *p, struct deferred *d)
{
	d->next = NULL;
	if (p->def_tail)
		p->def_tail->next = d;
	else
		p->def_head = d;
	p->def_tail = d;
	event_active(p->dispatch, EV_TIMEOUT, 0);
}

static void defer_conn(db_pool *p, db_conn_cb cb, void *arg, db_conn *c)
{
	struct deferred *d = calloc(1, sizeof *d);
	if (!d)
		abort(); /* out of memory in the loop: nothing sane to do */
	d->kind = DEF_CONN;
	d->fn.conn_cb = cb;
	d->arg = arg;
	d->conn = c;
	defer(p, d);
}

static void defer_result(db_pool *p, db_result_cb cb, void *arg, PGresult *res)
{
	struct deferred *d = calloc(1, sizeof *d);
	if (!d)
		abort();
	d->kind = DEF_RESULT;
	d->fn.result_cb = cb;
	d->arg = arg;
	d->res = res;
	defer(p, d);
}

static void dispatch_cb(evutil_socket_t fd, short what, void *arg)
{
	db_pool *p = arg;
	/* Take the current list: callbacks may defer more, for the next round. */
	struct deferred *d = p->def_head;
	p->def_head = p->def_tail = NULL;
	while (d) {
		struct deferred *next = d->next;
		if (d->kind == DEF_CONN) {
			d->fn.conn_cb(d->conn, d->arg);
		} else {
			d->fn.result_cb(d->res, d->arg);
			PQclear(d->res);
		}
		free(d);
		d = next;
	}
}

/* ---- waiters ----------------------------------------------------------- */

static void waiter_unlink(db_pool *p, struct waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		p->wait_head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		p->wait_tail = w->prev;
	p->n_waiting--;
	event_free(w->timer);
}

static void waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;
	db_pool *p = w->pool;
	waiter_unlink(p, w);
	p->st.timeouts++;
	log_warn("db: no connection within %d ms", p->acquire_timeout_ms);
	w->cb(NULL, w->arg); /* we are in a loop callback already */
	free(w);
}

static bool pool_has_live(const db_pool *p)
{
	for (int i = 0; i < p->size; i++) {
		db_conn_state s = p->conns[i].state;
		if (s != DB_CONN_DOWN && s != DB_CONN_CONNECTING && !p->conns[i].broken)
			return true;
	}
	return false;
}

/* No live connection left: nobody waiting can be served soon. */
static void fail_waiters(db_pool *p)
{
	while (p->wait_head) {
		struct waiter *w = p->wait_head;
		waiter_unlink(p, w);
		p->st.unavailable++;
		defer_conn(p, w->cb, w->arg, NULL);
		free(w);
	}
}

/* ---- connection life --------------------------------------------------- */

static void clear_pending(db_conn *c)
{
	if (!c->pend_borrowed)
		for (int i = 0; i < c->pend_n; i++)
			free(c->pend_params[i]);
	free(c->pend_params);
	free(c->pend_lengths);
	free(c->pend_formats);
	c->pend_lengths = c->pend_formats = NULL;
	c->pend_borrowed = false;
	free(c->pend_sql);
	c->pend_params = NULL;
	c->pend_sql = NULL;
	c->pend_n = 0;
	c->preparing = false;
}

/* The connection is gone: every pipelined query learns it (NULL result). */
static void fail_pipeline(db_conn *c)
{
	while (c->pipe_head) {
		struct pipe_entry *e = c->pipe_head;
		c->pipe_head = e->next;
		PQclear(e->res);
		defer_result(c->pool, e->cb, e->arg, NULL);
		free(e);
	}
	c->pipe_tail = NULL;
	c->pipe_depth = 0;
}

static uint64_t sql_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* Index of sql among c's prepared statements (its name is "s<index>"), or -1. */
static int find_stmt(const db_conn *c, const char *sql)
{
	uint64_t h = sql_hash(sql);
	for (int i = 0; i < c->nstmts; i++)
		if (c->stmts[i].hash == h && strcmp(c->stmts[i].sql, sql) == 0)
			return i;
	return -1;
}

static void conn_close(db_conn *c)
{
	if (c->dns_req) {
		struct evdns_getaddrinfo_request *req = c->dns_req;
		c->dns_req = NULL;
		c->resolving = false;
		evdns_getaddrinfo_cancel(req);
	}
	if (c->ev) {
		event_free(c->ev);
		c->ev = NULL;
	}
	if (c->pg) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	PQclear(c->last);
	c->last = NULL;
	for (int i = 0; i < c->nstmts; i++)
		free(c->stmts[i].sql);
	c->nstmts = 0;
	clear_pending(c);
	fail_pipeline(c);
}

/* One timer per connection: the reconnect backoff while DOWN, the connect
 * timeout while CONNECTING, and while a statement is in flight the deadline
 * past which the server is presumed gone (a crashed host or a partition
 * gives no EOF; statement_timeout is enforced by that same server). */
static void reconnect_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	db_conn *c = arg;
	switch (c->state) {
	case DB_CONN_DOWN:
		conn_start(c);
		return;
	case DB_CONN_CONNECTING:
		conn_lost(c, "connect timed out");
		return;
	case DB_CONN_SETUP:
	case DB_CONN_BUSY:
	case DB_CONN_RESETTING:
	case DB_CONN_PIPELINE:
		conn_lost(c, "no answer from PostgreSQL in time; presuming the connection dead");
		return;
	default:
		return;
	}
}

/* (Re)start the in-flight deadline: statement_timeout plus a margin. */
static void deadline_arm(db_conn *c)
{
	int ms = c->pool->statement_timeout_ms > 0 ? c->pool->statement_timeout_ms : 600000;
	ms += DEADLINE_MARGIN_MS;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(c->timer, &tv);
}

static void deadline_clear(db_conn *c)
{
	evtimer_del(c->timer);
}

static void schedule_reconnect(db_conn *c)
{
	struct timeval tv = {c->backoff_ms / 1000, (c->backoff_ms % 1000) * 1000};
	evtimer_add(c->timer, &tv);
	c->backoff_ms = c->backoff_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : c->backoff_ms * 2;
}

/* The connection failed. A held connection stays with its holder (marked
 * broken) until released; the others reconnect after a backoff. */
static void conn_lost(db_conn *c, const char *why)
{
	db_pool *p = c->pool;
	bool was_up = c->state != DB_CONN_DOWN && c->state != DB_CONN_CONNECTING;
	if (was_up)
		p->st.lost++;
	else
		p->st.connect_failures++;
	if (was_up || c->backoff_ms == RECONNECT_MIN_MS)
		log_warn("db conn %d%s: %s", c->index, c->listener ? " (listener)" : "", why);
	if (c->state == DB_CONN_BUSY) {
		/* Report the failure to the query's owner; it keeps the conn. */
		db_result_cb cb = c->qcb;
		void *qarg = c->qarg;
		c->qcb = NULL;
		conn_set_state(c, DB_CONN_HELD);
		c->broken = true;
		defer_result(p, cb, qarg, NULL);
	} else if (c->state == DB_CONN_HELD) {
		c->broken = true;
	}
	if (c->state == DB_CONN_HELD && c->ev)
		event_del(c->ev);
	if (c->listener && (c->state == DB_CONN_LISTENING) && p->on_state)
		p->on_state(false, p->listen_arg);
	if (c->state == DB_CONN_HELD)
		return; /* db_release will restart it */
	c->broken = false;
	conn_close(c);
	conn_set_state(c, DB_CONN_DOWN);
	evtimer_del(c->timer);
	schedule_reconnect(c);
	if (!pool_has_live(p))
		fail_waiters(p);
}

static void conn_event_cb(evutil_socket_t fd, short what, void *arg);

/* Watch the socket for `what`. The event is persistent and kept while the
 * wanted set does not change, so a query costs no epoll_ctl in the common
 * case (read interest stays registered across idle, held and busy). */
static void conn_arm(db_conn *c, short what)
{
	int fd = PQsocket(c->pg);
	if (fd < 0) {
		conn_lost(c, "no socket");
		return;
	}
	what |= EV_PERSIST;
	if (c->ev && c->ev_fd == fd && event_get_events(c->ev) == what &&
	    event_pending(c->ev, EV_READ | EV_WRITE, NULL))
		return;
	if (c->ev) {
		event_free(c->ev);
		c->ev = NULL;
	}
	c->ev = event_new(c->pool->base, fd, what, conn_event_cb, c);
	c->ev_fd = fd;
	if (!c->ev)
		abort();
	event_add(c->ev, NULL);
}

/* After a PQsend* call: flush what fits and wait for the answer, or lose
 * the connection. */
static void conn_sent(db_conn *c, bool sent)
{
	if (!sent) {
		conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	int f = PQflush(c->pg);
	if (f < 0) {
		conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	conn_arm(c, EV_READ | (f ? EV_WRITE : 0));
}

static void send_setup(db_conn *c)
{
	char sql[256];
	if (c->listener)
		snprintf(sql, sizeof sql, "LISTEN \"%s\"", c->pool->channel);
	else
		snprintf(sql, sizeof sql,
		         "SET application_name = 'fiduciad'; SET statement_timeout = %d",
		         c->pool->statement_timeout_ms);
	conn_set_state(c, DB_CONN_SETUP);
	deadline_arm(c);
	conn_sent(c, PQsendQuery(c->pg, sql));
}

/* Start libpq's non-blocking connect; hostaddr (a resolved address, or
 * NULL) spares libpq a blocking DNS lookup. */
static void start_connect(db_conn *c, const char *hostaddr)
{
	/* TCP keepalives first, so that the operator's conninfo (expanded
	 * next) can override them: a dead peer is noticed within a minute. */
	static const char *const keys[] = {"keepalives",
	                                   "keepalives_idle",
	                                   "keepalives_interval",
	                                   "keepalives_count",
	                                   "dbname",
	                                   "hostaddr",
	                                   NULL};
	const char *vals[] = {"1", "30", "10", "3", c->pool->conninfo, hostaddr, NULL};
	c->pg = PQconnectStartParams(keys, vals, 1);
	db_log_notices(c->pg);
	if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
		conn_lost(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
		return;
	}
	/* PQconnectStart behaves as if PQconnectPoll returned WRITING. */
	conn_arm(c, EV_WRITE);
}

static void resolved(int result, struct evutil_addrinfo *res, void *arg)
{
	db_conn *c = arg;
	if (result == EVUTIL_EAI_CANCEL)
		return; /* conn_close cancelled us; c may be going away */
	c->dns_req = NULL;
	c->resolving = false;
	if (result != 0 || !res) {
		char why[256];
		snprintf(why, sizeof why, "cannot resolve %s: %s", c->pool->dns_host,
		         evutil_gai_strerror(result));
		if (res)
			evutil_freeaddrinfo(res);
		conn_lost(c, why);
		return;
	}
	c->pool->st.dns_lookups++;
	char ip[INET6_ADDRSTRLEN] = "";
	const void *a = res->ai_family == AF_INET6
	                        ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
	                        : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
	bool ok = inet_ntop(res->ai_family, a, ip, sizeof ip) != NULL;
	evutil_freeaddrinfo(res);
	if (!ok) {
		conn_lost(c, "resolver returned an unusable address");
		return;
	}
	start_connect(c, ip);
}

static void conn_start(db_conn *c)
{
	conn_close(c);
	conn_set_state(c, DB_CONN_CONNECTING);
	c->broken = false;
	struct timeval tv = {CONNECT_TIMEOUT_S, 0};
	evtimer_add(c->timer, &tv);
	if (!c->pool->dns_host) {
		start_connect(c, NULL);
		return;
	}
	/* A host name: resolve it on the loop (evdns), never in libpq. */
	struct evutil_addrinfo hints;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	c->resolving = true;
	struct evdns_getaddrinfo_request *req =
	        evdns_getaddrinfo(c->pool->dns, c->pool->dns_host, NULL, &hints, resolved, c);
	if (c->resolving) /* not answered at once */
		c->dns_req = req;
}

static void poll_connect(db_conn *c)
{
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		conn_arm(c, EV_READ);
		return;
	case PGRES_POLLING_WRITING:
		conn_arm(c, EV_WRITE);
		return;
	case PGRES_POLLING_OK:
		evtimer_del(c->timer);
		if (PQsetnonblocking(c->pg, 1) != 0) {
			conn_lost(c, "cannot set non-blocking mode");
			return;
		}
		c->pool->st.connects++;
		send_setup(c);
		return;
	default: {
		char why[512];
		snprintf(why, sizeof why, "connect failed: %s", PQerrorMessage(c->pg));
		why[strcspn(why, "\n")] = '\0';
		conn_lost(c, why);
		return;
	}
	}
}

/* Read what the server sent; collect results. Returns true when the
 * statement in flight is complete (c->last holds its final result). */
static bool read_results(db_conn *c, bool *failed)
{
	*failed = false;
	if (!PQconsumeInput(c->pg)) {
		*failed = true;
		return false;
	}
	while (!PQisBusy(c->pg)) {
		PGresult *r = PQgetResult(c->pg);
		if (!r)
			return true;
		PQclear(c->last);
		c->last = r;
	}
	return false;
}

static void drain_notifies(db_conn *c)
{
	PGnotify *n;
	while ((n = PQnotifies(c->pg)) != NULL) {
		if (c->pool->on_notify)
			c->pool->on_notify(n->relname, n->extra, c->pool->listen_arg);
		PQfreemem(n);
	}
}

/* Results of pipelined queries, in order; each ends at its sync point. */
static void pipeline_event(db_conn *c, short what)
{
	if (what & EV_WRITE) {
		int f = PQflush(c->pg);
		if (f < 0) {
			conn_lost(c, PQerrorMessage(c->pg));
			return;
		}
		conn_arm(c, EV_READ | (f ? EV_WRITE : 0));
	}
	if (!PQconsumeInput(c->pg) || PQstatus(c->pg) == CONNECTION_BAD) {
		conn_lost(c, "connection lost");
		return;
	}
	int nulls = 0;
	while (c->pipe_head && !PQisBusy(c->pg)) {
		PGresult *r = PQgetResult(c->pg);
		if (!r) {
			if (++nulls > 1)
				break; /* nothing more yet */
			continue;
		}
		nulls = 0;
		struct pipe_entry *e = c->pipe_head;
		if (PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
			ExecStatusType st = PQresultStatus(r);
			if (e->nres++ == 0 && e->stmt >= 0 && st == PGRES_COMMAND_OK)
				e->parse_ok = true;
			bool err = st == PGRES_FATAL_ERROR || st == PGRES_PIPELINE_ABORTED;
			bool have_err =
			        e->res && (PQresultStatus(e->res) == PGRES_FATAL_ERROR ||
			                   PQresultStatus(e->res) == PGRES_PIPELINE_ABORTED);
			if (have_err && PQresultStatus(e->res) == PGRES_FATAL_ERROR) {
				PQclear(r); /* keep the first real error */
			} else if (err || !have_err) {
				PQclear(e->res);
				e->res = r;
			} else {
				PQclear(r);
			}
			continue;
		}
		PQclear(r);
		/* The segment is complete. */
		c->pipe_head = e->next;
		if (!c->pipe_head)
			c->pipe_tail = NULL;
		c->pipe_depth--;
		if (e->stmt >= 0 && !e->parse_ok) {
			/* PostgreSQL refused to prepare it: never name it again
			 * (a tombstone keeps the other names stable). */
			free(c->stmts[e->stmt].sql);
			c->stmts[e->stmt].sql = strdup("");
			c->stmts[e->stmt].hash = 0;
			if (!c->stmts[e->stmt].sql)
				abort();
		}
		if (e->res && db_result_is_unavailable(e->res))
			c->broken = true;
		defer_result(c->pool, e->cb, e->arg, e->res);
		free(e);
	}
	if (c->broken) {
		conn_lost(c, "server reported the connection unusable");
		return;
	}
	if (!c->pipe_head) {
		deadline_clear(c);
		if (PQexitPipelineMode(c->pg) != 1) {
			conn_lost(c, "cannot leave pipeline mode");
			return;
		}
		conn_set_state(c, DB_CONN_IDLE);
		conn_became_idle(c);
	}
}

static void conn_event_cb(evutil_socket_t fd, short what, void *arg)
{
	db_conn *c = arg;
	bool failed;
	switch (c->state) {
	case DB_CONN_CONNECTING:
		poll_connect(c);
		return;
	case DB_CONN_SETUP:
	case DB_CONN_BUSY:
	case DB_CONN_RESETTING:
		if (what & EV_WRITE) {
			int f = PQflush(c->pg);
			if (f < 0) {
				conn_lost(c, PQerrorMessage(c->pg));
				return;
			}
			if (f == 1) {
				conn_arm(c, EV_READ | EV_WRITE);
				return;
			}
		}
		if (!read_results(c, &failed)) {
			if (failed || PQstatus(c->pg) == CONNECTION_BAD)
				conn_lost(c, "connection lost");
			else
				conn_arm(c, EV_READ);
			return;
		}
		break;
	case DB_CONN_PIPELINE:
		pipeline_event(c, what);
		return;
	case DB_CONN_HELD:
		/* Nothing in flight: only EOF or a notice can arrive. */
		if (!PQconsumeInput(c->pg) || PQstatus(c->pg) == CONNECTION_BAD)
			conn_lost(c, "connection closed by the server");
		return;
	case DB_CONN_IDLE:
	case DB_CONN_LISTENING:
		/* Unsolicited input: a notification, or the server went away. */
		if (!PQconsumeInput(c->pg) || PQstatus(c->pg) == CONNECTION_BAD) {
			conn_lost(c, "connection closed by the server");
			return;
		}
		if (c->listener)
			drain_notifies(c);
		conn_arm(c, EV_READ);
		return;
	default:
		return;
	}

	/* A statement completed. */
	deadline_clear(c);
	PGresult *res = c->last;
	c->last = NULL;
	if (c->state == DB_CONN_SETUP) {
		bool ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
		if (!ok) {
			char why[512];
			snprintf(why, sizeof why, "session setup failed: %s",
			         res ? PQresultErrorMessage(res) : "no result");
			PQclear(res);
			conn_lost(c, why);
			return;
		}
		PQclear(res);
		c->backoff_ms = RECONNECT_MIN_MS;
		if (c->listener) {
			conn_set_state(c, DB_CONN_LISTENING);
			conn_arm(c, EV_READ);
			if (c->pool->on_state)
				c->pool->on_state(true, c->pool->listen_arg);
			drain_notifies(c);
			return;
		}
		conn_became_idle(c);
		return;
	}
	if (c->state == DB_CONN_RESETTING) {
		PQclear(res);
		conn_became_idle(c);
		return;
	}
	if (c->preparing) {
		bool ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
		if (ok) {
			PQclear(res);
			c->stmts[c->nstmts].hash = sql_hash(c->pend_sql);
			c->stmts[c->nstmts].sql = c->pend_sql;
			c->pend_sql = NULL;
			char name[16];
			snprintf(name, sizeof name, "s%d", c->nstmts++);
			c->preparing = false;
			bool sent = PQsendQueryPrepared(
			        c->pg, name, c->pend_n, (const char *const *)c->pend_params,
			        c->pend_lengths, c->pend_formats, c->resfmt);
			clear_pending(c);
			int f = sent ? PQflush(c->pg) : -1;
			if (f < 0) {
				conn_lost(c, PQerrorMessage(c->pg));
				return;
			}
			deadline_arm(c);
			conn_arm(c, EV_READ | (f ? EV_WRITE : 0));
			return;
		}
		/* A statement PostgreSQL cannot prepare: its error is the answer. */
		clear_pending(c);
	}
	/* DB_CONN_BUSY: hand the result over. */
	db_result_cb cb = c->qcb;
	void *qarg = c->qarg;
	c->qcb = NULL;
	conn_set_state(c, DB_CONN_HELD);
	if (res && db_result_is_unavailable(res))
		c->broken = true;
	if (c->ev && (event_get_events(c->ev) & EV_WRITE))
		conn_arm(c, EV_READ);
	defer_result(c->pool, cb, qarg, res);
}

/* Give the connection to the first waiter, or keep it idle (watched). */
static void conn_became_idle(db_conn *c)
{
	db_pool *p = c->pool;
	if (c->state != DB_CONN_IDLE)
		conn_set_state(c, DB_CONN_IDLE);
	if (p->wait_head) {
		struct waiter *w = p->wait_head;
		waiter_unlink(p, w);
		conn_arm(c, EV_READ);
		conn_set_state(c, DB_CONN_HELD);
		p->st.acquired++;
		defer_conn(p, w->cb, w->arg, c);
		free(w);
		return;
	}
	conn_arm(c, EV_READ);
}

/* ---- public API -------------------------------------------------------- */

/* The conninfo's host when it is a DNS name that libpq would resolve with
 * a blocking call (not a socket path, an address, a list, or given with
 * hostaddr); malloc'd, or NULL. */
static char *host_needing_dns(const char *conninfo)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	char *out = NULL;
	const char *host = NULL, *hostaddr = NULL;
	for (PQconninfoOption *o = opts; o && o->keyword; o++) {
		if (!strcmp(o->keyword, "host"))
			host = o->val;
		else if (!strcmp(o->keyword, "hostaddr"))
			hostaddr = o->val;
	}
	unsigned char buf[sizeof(struct in6_addr)];
	if (host && *host && !(hostaddr && *hostaddr) && host[0] != '/' && host[0] != '@' &&
	    !strchr(host, ',') && inet_pton(AF_INET, host, buf) != 1 &&
	    inet_pton(AF_INET6, host, buf) != 1)
		out = strdup(host);
	PQconninfoFree(opts);
	return out;
}

db_pool *db_pool_new(struct event_base *base, const char *conninfo, int size,
                     int acquire_timeout_ms, int statement_timeout_ms)
{
	db_pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->base = base;
	p->size = size;
	p->acquire_timeout_ms = acquire_timeout_ms;
	p->statement_timeout_ms = statement_timeout_ms;
	p->conninfo = strdup(conninfo);
	p->conns = calloc((size_t)size, sizeof *p->conns);
	p->dispatch = event_new(base, -1, 0, dispatch_cb, p);
	p->flush = event_new(base, -1, 0, flush_cb, p);
	if (!p->conninfo || !p->conns || !p->dispatch || !p->flush) {
		db_pool_free(p);
		return NULL;
	}
	if ((p->dns_host = host_needing_dns(conninfo)) != NULL) {
		/* resolv.conf and /etc/hosts, as getaddrinfo would read them */
		p->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
		                                      EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (!p->dns) {
			db_pool_free(p);
			return NULL;
		}
	}
	for (int i = 0; i < size; i++) {
		db_conn *c = &p->conns[i];
		c->pool = p;
		c->index = i;
		c->state = DB_CONN_DOWN;
		c->backoff_ms = RECONNECT_MIN_MS;
		c->timer = evtimer_new(base, reconnect_timer_cb, c);
		if (!c->timer) {
			db_pool_free(p);
			return NULL;
		}
		conn_start(c);
	}
	return p;
}

static void conn_destroy(db_conn *c)
{
	conn_close(c);
	if (c->timer)
		event_free(c->timer);
	c->timer = NULL;
}

void db_pool_free(db_pool *p)
{
	if (!p)
		return;
	if (p->conns)
		for (int i = 0; i < p->size; i++)
			conn_destroy(&p->conns[i]);
	if (p->lconn) {
		conn_destroy(p->lconn);
		free(p->lconn);
	}
	while (p->wait_head) {
		struct waiter *w = p->wait_head;
		waiter_unlink(p, w);
		free(w);
	}
	while (p->def_head) {
		struct deferred *d = p->def_head;
		p->def_head = d->next;
		PQclear(d->res);
		free(d);
	}
	if (p->dns)
		evdns_base_free(p->dns, 0);
	free(p->dns_host);
	if (p->dispatch)
		event_free(p->dispatch);
	if (p->flush)
		event_free(p->flush);
	free(p->conns);
	free(p->conninfo);
	free(p->channel);
	free(p);
}

void db_acquire(db_pool *p, db_conn_cb cb, void *arg)
{
	for (int i = 0; i < p->size; i++) {
		db_conn *c = &p->conns[i];
		if (c->state == DB_CONN_IDLE) {
			conn_set_state(c, DB_CONN_HELD);
			p->st.acquired++;
			defer_conn(p, cb, arg, c);
			return;
		}
	}
	if (!pool_has_live(p)) {
		p->st.unavailable++;
		defer_conn(p, cb, arg, NULL);
		return;
	}
	struct waiter *w = calloc(1, sizeof *w);
	if (!w)
		abort();
	w->pool = p;
	w->cb = cb;
	w->arg = arg;
	w->timer = evtimer_new(p->base, waiter_timeout, w);
	if (!w->timer)
		abort();
	struct timeval tv = {p->acquire_timeout_ms / 1000, (p->acquire_timeout_ms % 1000) * 1000};
	evtimer_add(w->timer, &tv);
	w->prev = p->wait_tail;
	if (p->wait_tail)
		p->wait_tail->next = w;
	else
		p->wait_head = w;
	p->wait_tail = w;
	p->n_waiting++;
}

/* A held connection takes a statement whose result goes to cb; false (cb
 * then gets NULL, later) when the connection is broken. */
static bool conn_take(db_conn *c, db_result_cb cb, void *arg)
{
	assert(c->state == DB_CONN_HELD);
	if (c->broken) {
		defer_result(c->pool, cb, arg, NULL);
		return false;
	}
	conn_set_state(c, DB_CONN_BUSY);
	deadline_arm(c);
	c->qcb = cb;
	c->qarg = arg;
	return true;
}

static void conn_query(db_conn *c, const char *sql, int nparams, const char *const *params,
                       const int *lengths, const int *formats, int resfmt, db_result_cb cb,
                       void *arg)
{
	if (!conn_take(c, cb, arg))
		return;
	c->resfmt = resfmt;
	int found = find_stmt(c, sql);
	bool sent;
	if (found >= 0) {
		char name[16];
		snprintf(name, sizeof name, "s%d", found);
		sent = PQsendQueryPrepared(c->pg, name, nparams, params, lengths, formats, resfmt);
	} else if (c->nstmts < MAX_PREPARED) {
		/* Parse now, execute when PostgreSQL confirms. Text parameters
		 * are copied (the caller's strings may be gone by then); binary
		 * ones are borrowed until the callback, as documented. */
		char name[16];
		snprintf(name, sizeof name, "s%d", c->nstmts);
		size_t np = (size_t)(nparams ? nparams : 1);
		c->pend_sql = strdup(sql);
		c->pend_params = calloc(np, sizeof(char *));
		c->pend_n = nparams;
		if (!c->pend_sql || !c->pend_params)
			abort();
		if (formats) {
			c->pend_borrowed = true;
			c->pend_lengths = malloc(np * sizeof(int));
			c->pend_formats = malloc(np * sizeof(int));
			if (!c->pend_lengths || !c->pend_formats)
				abort();
			for (int i = 0; i < nparams; i++) {
				c->pend_params[i] = (char *)params[i];
				c->pend_lengths[i] = lengths[i];
				c->pend_formats[i] = formats[i];
			}
		} else {
			for (int i = 0; i < nparams; i++)
				if (params[i] && !(c->pend_params[i] = strdup(params[i])))
					abort();
		}
		c->preparing = true;
		sent = PQsendPrepare(c->pg, name, sql, nparams, NULL);
	} else {
		sent = PQsendQueryParams(c->pg, sql, nparams, NULL, params, lengths, formats,
		                         resfmt);
	}
	conn_sent(c, sent);
}

void db_conn_exec(db_conn *c, const char *sql, db_result_cb cb, void *arg)
{
	if (!conn_take(c, cb, arg))
		return;
	conn_sent(c, PQsendQuery(c->pg, sql));
}

void db_conn_query(db_conn *c, const char *sql, int nparams, const char *const *params,
                   db_result_cb cb, void *arg)
{
	conn_query(c, sql, nparams, params, NULL, NULL, 0, cb, arg);
}

void db_conn_query_binres(db_conn *c, const char *sql, int nparams, const char *const *params,
                          db_result_cb cb, void *arg)
{
	conn_query(c, sql, nparams, params, NULL, NULL, 1, cb, arg);
}

void db_conn_query_bin(db_conn *c, const char *sql, int nparams, const char *const *values,
                       const int *lengths, const int *formats, db_result_cb cb, void *arg)
{
	conn_query(c, sql, nparams, values, lengths, formats, 0, cb, arg);
}

void db_release(db_conn *c)
{
	assert(c->state == DB_CONN_HELD);
	if (c->broken) {
		c->broken = false;
		conn_close(c);
		conn_set_state(c, DB_CONN_DOWN);
		evtimer_del(c->timer);
		schedule_reconnect(c);
		if (!pool_has_live(c->pool))
			fail_waiters(c->pool);
		return;
	}
	PGTransactionStatusType ts = PQtransactionStatus(c->pg);
	if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
		conn_set_state(c, DB_CONN_RESETTING);
		int f = PQsendQuery(c->pg, "ROLLBACK") ? PQflush(c->pg) : -1;
		if (f < 0) {
			conn_lost(c, PQerrorMessage(c->pg));
			return;
		}
		deadline_arm(c);
		conn_arm(c, EV_READ | (f ? EV_WRITE : 0));
		return;
	}
	if (ts != PQTRANS_IDLE) {
		/* Lost protocol sync, or a query still running: start afresh. */
		log_warn("db conn %d: released in an unknown transaction state", c->index);
		c->broken = true;
		db_release(c);
		return;
	}
	conn_became_idle(c);
}

/* db_query: a tiny state carrier for acquire -> query -> release. */
struct oneshot {
	char *sql;
	int nparams;
	char **params;
	db_result_cb cb;
	void *arg;
	db_conn *conn;
};

static void oneshot_free(struct oneshot *o)
{
	for (int i = 0; i < o->nparams; i++)
		free(o->params[i]);
	free(o->params);
	free(o->sql);
	free(o);
}

static void oneshot_result(PGresult *res, void *arg)
{
	struct oneshot *o = arg;
	db_release(o->conn);
	o->cb(res, o->arg);
	oneshot_free(o);
}

static void oneshot_conn(db_conn *c, void *arg)
{
	struct oneshot *o = arg;
	if (!c) {
		o->cb(NULL, o->arg);
		oneshot_free(o);
		return;
	}
	o->conn = c;
	db_conn_query(c, o->sql, o->nparams, (const char *const *)o->params, oneshot_result, o);
}

/* Queue one statement on c, which is in pipeline mode, and its sync point.
 * On failure the connection is given up and every queued query, this one
 * included, is answered with a NULL result. */
static void pipeline_send(db_conn *c, const char *sql, int nparams, const char *const *params,
                          db_result_cb cb, void *arg)
{
	int found = find_stmt(c, sql), stmt = -1;
	char name[16];
	bool sent = true;
	if (found < 0 && c->nstmts < MAX_PREPARED) {
		/* Parse rides in the same segment as the first Execute. */
		char *copy = strdup(sql);
		if (!copy)
			abort();
		found = stmt = c->nstmts;
		c->stmts[c->nstmts].hash = sql_hash(sql);
		c->stmts[c->nstmts].sql = copy;
		c->nstmts++;
		snprintf(name, sizeof name, "s%d", found);
		sent = PQsendPrepare(c->pg, name, sql, nparams, NULL);
	}
	if (sent && found >= 0) {
		snprintf(name, sizeof name, "s%d", found);
		sent = PQsendQueryPrepared(c->pg, name, nparams, params, NULL, NULL, 0);
	} else if (sent) {
		sent = PQsendQueryParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
	}
	if (!sent || !PQpipelineSync(c->pg)) {
		defer_result(c->pool, cb, arg, NULL);
		conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	struct pipe_entry *e = calloc(1, sizeof *e);
	if (!e)
		abort();
	e->cb = cb;
	e->arg = arg;
	e->stmt = stmt;
	if (c->pipe_tail)
		c->pipe_tail->next = e;
	else
		c->pipe_head = e;
	c->pipe_tail = e;
	c->pipe_depth++;
	/* Send at the end of this loop iteration, together with whatever else
	 * the iteration pipelines: one write and one wake-up for the batch. */
	c->need_flush = true;
	event_active(c->pool->flush, EV_TIMEOUT, 0);
	deadline_arm(c);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	db_pool *p = arg;
	for (int i = 0; i < p->size; i++) {
		db_conn *c = &p->conns[i];
		if (!c->need_flush)
			continue;
		c->need_flush = false;
		if (c->state != DB_CONN_PIPELINE)
			continue;
		int f = PQflush(c->pg);
		if (f < 0) {
			conn_lost(c, PQerrorMessage(c->pg));
			continue;
		}
		conn_arm(c, EV_READ | (f ? EV_WRITE : 0));
	}
}

/* A connection for a one-shot query: an idle one (put into pipeline mode),
 * else the least loaded pipelining one with room. None while callers wait
 * for an exclusive connection, so that pipelines drain and serve them. */
static db_conn *pipeline_pick(db_pool *p)
{
	if (p->wait_head)
		return NULL;
	db_conn *best = NULL;
	for (int i = 0; i < p->size; i++) {
		db_conn *c = &p->conns[i];
		if (c->state == DB_CONN_IDLE) {
			if (PQenterPipelineMode(c->pg) != 1)
				continue;
			conn_set_state(c, DB_CONN_PIPELINE);
			return c;
		}
		if (c->state == DB_CONN_PIPELINE && !c->broken && c->pipe_depth < PIPELINE_DEPTH &&
		    (!best || c->pipe_depth < best->pipe_depth))
			best = c;
	}
	return best;
}

void db_query(db_pool *p, const char *sql, int nparams, const char *const *params, db_result_cb cb,
              void *arg)
{
	db_conn *c = pipeline_pick(p);
	if (c) {
		p->st.acquired++;
		pipeline_send(c, sql, nparams, params, cb, arg);
		return;
	}
	/* No pipeline slot: wait for an exclusive connection. The caller's
	 * strings may not outlive this call: copy them. */
	struct oneshot *o = calloc(1, sizeof *o);
	if (!o)
		abort();
	o->sql = strdup(sql);
	o->nparams = nparams;
	o->params = calloc((size_t)(nparams ? nparams : 1), sizeof *o->params);
	if (!o->sql || !o->params)
		abort();
	for (int i = 0; i < nparams; i++)
		if (params[i] && !(o->params[i] = strdup(params[i])))
			abort();
	o->cb = cb;
	o->arg = arg;
	db_acquire(p, oneshot_conn, o);
}

bool db_pool_listen(db_pool *p, const char *channel, db_notify_cb on_notify,
                    db_listen_state_cb on_state, void *arg)
{
	if (p->lconn)
		return false;
	for (const char *s = channel; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || *s == '_' || (*s >= '0' && *s <= '9')))
			return false;
	p->channel = strdup(channel);
	p->lconn = calloc(1, sizeof *p->lconn);
	if (!p->channel || !p->lconn)
		return false;
	p->on_notify = on_notify;
	p->on_state = on_state;
	p->listen_arg = arg;
	db_conn *c = p->lconn;
	c->pool = p;
	c->index = -1;
	c->listener = true;
	c->state = DB_CONN_DOWN;
	c->backoff_ms = RECONNECT_MIN_MS;
	c->timer = evtimer_new(p->base, reconnect_timer_cb, c);
	if (!c->timer)
		return false;
	conn_start(c);
	return true;
}

void db_pool_stats(const db_pool *p, db_stats *out)
{
	*out = p->st;
	out->size = p->size;
	out->connected = out->idle = out->in_use = 0;
	for (int i = 0; i < p->size; i++) {
		db_conn_state s = p->conns[i].state;
		if (s == DB_CONN_IDLE)
			out->idle++;
		if (s == DB_CONN_HELD || s == DB_CONN_BUSY || s == DB_CONN_PIPELINE)
			out->in_use++;
		if (s != DB_CONN_DOWN && s != DB_CONN_CONNECTING)
			out->connected++;
	}
	out->waiting = p->n_waiting;
}

bool db_pool_up(const db_pool *p)
{
	return pool_has_live(p);
}

static void notice_processor(void *arg, const char *message)
{
	char m[512];
	snprintf(m, sizeof m, "%s", message);
	m[strcspn(m, "\n")] = '\0';
	log_debug("postgres: %s", m);
}

void db_log_notices(PGconn *c)
{
	if (c)
		PQsetNoticeProcessor(c, notice_processor, NULL);
}

bool db_result_is_unavailable(const PGresult *res)
{
	if (!res)
		return true;
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (!state)
		return PQresultStatus(res) == PGRES_FATAL_ERROR && !PQresultErrorMessage(res)[0];
	return strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0;
}
