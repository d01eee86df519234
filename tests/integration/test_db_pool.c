/*
 * Integration tests of migrations and of the asynchronous pool against a
 * real PostgreSQL (started by tests/harness/pg.sh; FIDUCIA_TEST_DATABASE_URL
 * says where). Covers: migrations applied once (also by concurrent
 * processes), queueing beyond the pool size, the acquire timeout, rollback on
 * release, recovery from killed backends and from a server restart.
 */
#include "testutil.h"
#include "db.h"
#include "log.h"
#include "migrate.h"

#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *url;
static struct event_base *base;

/* Run the loop until *flag is set or `secs` pass. */
static bool loop_until(bool *flag, int secs)
{
	for (int i = 0; i < secs * 100 && !*flag; i++) {
		struct timeval tv = {0, 10000};
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	return *flag;
}

static void loop_for_ms(int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static PGconn *sync_conn(void)
{
	PGconn *c = PQconnectdb(url);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "connect: %s", PQerrorMessage(c));
		exit(1);
	}
	return c;
}

static int count_rows(const char *sql)
{
	PGconn *c = sync_conn();
	PGresult *r = PQexec(c, sql);
	int n = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;
	PQclear(r);
	PQfinish(c);
	return n;
}

static void test_migrations_apply_once_concurrently(void)
{
	/* Four processes migrate the same fresh database at once. */
	pid_t kids[4];
	for (int i = 0; i < 4; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			PGconn *c = sync_conn();
			char err[512];
			db_log_notices(c);
			bool ok = migrate_apply(c, err, sizeof err);
			if (!ok)
				fprintf(stderr, "child %d: %s\n", i, err);
			PQfinish(c);
			_exit(ok ? 0 : 1);
		}
	}
	for (int i = 0; i < 4; i++) {
		int st;
		waitpid(kids[i], &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	int n = 0;
	for (const struct migration *m = migrations; m->sql; m++)
		n++;
	CHECK(count_rows("SELECT count(*) FROM schema_migrations") == n);
	CHECK(count_rows("SELECT count(*) FROM orgs WHERE name = 'operator'") == 1);
	/* And again: nothing new. */
	PGconn *c = sync_conn();
	char err[512];
	CHECK(migrate_apply(c, err, sizeof err));
	PQfinish(c);
	CHECK(count_rows("SELECT count(*) FROM schema_migrations") == n);
	CHECK(migrate_latest_version() >= 1);
}

struct qstate {
	int done, ok, failed;
};

static void count_cb(PGresult *res, void *arg)
{
	struct qstate *q = arg;
	q->done++;
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK)
		q->ok++;
	else
		q->failed++;
}

static db_pool *new_pool(int size, int acquire_ms)
{
	db_pool *p = db_pool_new(base, url, size, acquire_ms, 10000);
	CHECK(p != NULL);
	for (int i = 0; i < 500; i++) {
		db_stats st;
		db_pool_stats(p, &st);
		if (st.idle == size)
			break;
		loop_for_ms(10);
	}
	return p;
}

static void test_queueing_beyond_pool_size(void)
{
	db_pool *p = new_pool(2, 5000);
	struct qstate q = {0};
	for (int i = 0; i < 50; i++)
		db_query(p, "SELECT pg_sleep(0.001), $1::int", 1, (const char *[]){"7"}, count_cb,
		         &q);
	bool all = false;
	for (int i = 0; i < 1000 && q.done < 50; i++)
		loop_for_ms(10);
	all = q.done == 50;
	CHECK(all);
	CHECK(q.ok == 50);
	db_stats st;
	db_pool_stats(p, &st);
	CHECK(st.size == 2);
	CHECK(st.acquired >= 50);
	db_pool_free(p);
}

struct held {
	db_conn *conn;
	bool got, called;
};

static void hold_cb(db_conn *c, void *arg)
{
	struct held *h = arg;
	h->conn = c;
	h->got = c != NULL;
	h->called = true;
}

static void test_acquire_timeout(void)
{
	db_pool *p = new_pool(1, 200);
	struct held a = {0}, b = {0};
	db_acquire(p, hold_cb, &a);
	CHECK(loop_until(&a.called, 5) && a.got);
	db_acquire(p, hold_cb, &b);
	loop_for_ms(50);
	CHECK(!b.called); /* still waiting */
	CHECK(loop_until(&b.called, 5));
	CHECK(!b.got); /* timed out: NULL */
	db_stats st;
	db_pool_stats(p, &st);
	CHECK(st.timeouts == 1);
	db_release(a.conn);
	/* The connection is usable again. */
	struct held c = {0};
	db_acquire(p, hold_cb, &c);
	CHECK(loop_until(&c.called, 5) && c.got);
	db_release(c.conn);
	db_pool_free(p);
}

struct outcome {
	int done;
	ExecStatusType st[64];
	char val[64][16];
};

struct slot {
	struct outcome *o;
	int i;
};

static void slot_cb(PGresult *res, void *arg)
{
	struct slot *sl = arg;
	sl->o->done++;
	sl->o->st[sl->i] = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		snprintf(sl->o->val[sl->i], sizeof sl->o->val[0], "%s", PQgetvalue(res, 0, 0));
}

/* One-shot queries share connections in pipeline mode: a failing statement
 * fails alone, a statement that cannot be prepared fails alone and for
 * good, and an Execute error (a constraint) does not unprepare its
 * statement. */
static void test_pipeline_isolates_errors(void)
{
	PGconn *sc = sync_conn();
	PQclear(PQexec(sc, "DROP TABLE IF EXISTS t_pipe; CREATE TABLE t_pipe (k int PRIMARY KEY)"));
	PQfinish(sc);
	db_pool *p = new_pool(1, 2000);
	struct outcome o = {0};
	struct slot sl[64];
	char nums[64][8];
	for (int i = 0; i < 40; i++) {
		sl[i] = (struct slot){&o, i};
		snprintf(nums[i], sizeof nums[i], "%d", i);
		const char *prm[1] = {nums[i]};
		if (i == 10)
			db_query(p, "SELECT 1 / ($1::int - 10)", 1, prm, slot_cb, &sl[i]);
		else if (i == 20)
			db_query(p, "SELEKT nonsense", 0, NULL, slot_cb, &sl[i]);
		else if (i == 30 || i == 31)
			db_query(p, "INSERT INTO t_pipe VALUES (7) RETURNING k", 0, NULL, slot_cb,
			         &sl[i]);
		else
			db_query(p, "SELECT $1::int * 2", 1, prm, slot_cb, &sl[i]);
	}
	for (int i = 0; i < 500 && o.done < 40; i++)
		loop_for_ms(10);
	CHECK(o.done == 40);
	int good = 0;
	for (int i = 0; i < 40; i++) {
		if (i == 10 || i == 20 || i == 30 || i == 31)
			continue;
		char want[16];
		snprintf(want, sizeof want, "%d", i * 2);
		if (o.st[i] == PGRES_TUPLES_OK && strcmp(o.val[i], want) == 0)
			good++;
	}
	CHECK(good == 36);
	CHECK(o.st[10] == PGRES_FATAL_ERROR); /* division by zero */
	CHECK(o.st[20] == PGRES_FATAL_ERROR); /* syntax */
	CHECK(o.st[30] == PGRES_TUPLES_OK);
	CHECK(o.st[31] == PGRES_FATAL_ERROR); /* unique violation */
	/* The same texts again, on the same connection. */
	struct outcome o2 = {0};
	struct slot s2[3] = {{&o2, 0}, {&o2, 1}, {&o2, 2}};
	db_query(p, "INSERT INTO t_pipe VALUES (7) RETURNING k", 0, NULL, slot_cb, &s2[0]);
	db_query(p, "SELEKT nonsense", 0, NULL, slot_cb, &s2[1]);
	db_query(p, "SELECT $1::int * 2", 1, (const char *[]){"21"}, slot_cb, &s2[2]);
	for (int i = 0; i < 500 && o2.done < 3; i++)
		loop_for_ms(10);
	CHECK(o2.st[0] == PGRES_FATAL_ERROR); /* still a duplicate, still prepared */
	CHECK(o2.st[1] == PGRES_FATAL_ERROR);
	CHECK(o2.st[2] == PGRES_TUPLES_OK && strcmp(o2.val[2], "42") == 0);
	/* An exclusive acquire is served once the pipeline drains. */
	struct held h = {0};
	db_acquire(p, hold_cb, &h);
	CHECK(loop_until(&h.called, 5) && h.got);
	if (h.got)
		db_release(h.conn);
	db_pool_free(p);
}

struct step {
	bool done;
	ExecStatusType status;
};

static void step_cb(PGresult *res, void *arg)
{
	struct step *s = arg;
	s->done = true;
	s->status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
}

static void test_release_rolls_back(void)
{
	PGconn *sc = sync_conn();
	PQclear(PQexec(sc, "CREATE TABLE IF NOT EXISTS t_rb (x int)"));
	PQfinish(sc);
	db_pool *p = new_pool(1, 1000);
	struct held h = {0};
	db_acquire(p, hold_cb, &h);
	CHECK(loop_until(&h.called, 5) && h.got);
	struct step s1 = {0}, s2 = {0};
	db_conn_query(h.conn, "BEGIN", 0, NULL, step_cb, &s1);
	CHECK(loop_until(&s1.done, 5) && s1.status == PGRES_COMMAND_OK);
	db_conn_query(h.conn, "INSERT INTO t_rb VALUES (1)", 0, NULL, step_cb, &s2);
	CHECK(loop_until(&s2.done, 5) && s2.status == PGRES_COMMAND_OK);
	db_release(h.conn); /* no COMMIT */
	struct qstate q = {0};
	db_query(p, "SELECT 1", 0, NULL, count_cb, &q);
	for (int i = 0; i < 500 && !q.done; i++)
		loop_for_ms(10);
	CHECK(q.ok == 1);
	CHECK(count_rows("SELECT count(*) FROM t_rb") == 0);
	db_pool_free(p);
}

static void test_recovers_from_killed_backends(void)
{
	db_pool *p = new_pool(3, 2000);
	/* Kill every backend of the pool behind its back. */
	CHECK(count_rows("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
	                 "WHERE application_name = 'fiduciad'") == 3);
	/* Idle connections notice the EOF and reconnect by themselves. */
	struct qstate q = {0};
	for (int i = 0; i < 200; i++) {
		loop_for_ms(20);
		db_stats st;
		db_pool_stats(p, &st);
		if (st.lost >= 3 && st.idle == 3)
			break;
	}
	db_stats st;
	db_pool_stats(p, &st);
	CHECK(st.lost >= 3);
	CHECK(st.connects >= 6);
	db_query(p, "SELECT 1", 0, NULL, count_cb, &q);
	for (int i = 0; i < 500 && !q.done; i++)
		loop_for_ms(10);
	CHECK(q.ok == 1);
	db_pool_free(p);
}

static void pid_cb(PGresult *res, void *arg)
{
	int *pid = arg;
	*pid = res && PQresultStatus(res) == PGRES_TUPLES_OK ? atoi(PQgetvalue(res, 0, 0)) : -1;
}

/* A server that stops answering without closing the socket (a crashed
 * host, a partition) is given up after statement_timeout + 10 s, and the
 * pool recovers; no request hangs for ever. */
static void test_unresponsive_server_is_given_up(void)
{
	db_pool *p = db_pool_new(base, url, 1, 20000, 100);
	for (int i = 0; i < 300; i++) {
		db_stats st;
		db_pool_stats(p, &st);
		if (st.idle == 1)
			break;
		loop_for_ms(10);
	}
	int pid = 0;
	db_query(p, "SELECT pg_backend_pid()", 0, NULL, pid_cb, &pid);
	for (int i = 0; i < 300 && !pid; i++)
		loop_for_ms(10);
	CHECK(pid > 0);
	if (pid <= 0 || kill(pid, SIGSTOP) != 0) {
		CHECK(!"cannot stop the backend");
		db_pool_free(p);
		return;
	}
	struct qstate q = {0};
	db_query(p, "SELECT 1", 0, NULL, count_cb, &q);
	for (int i = 0; i < 1500 && !q.done; i++) /* statement_timeout 100 ms + 10 s */
		loop_for_ms(10);
	kill(pid, SIGCONT);
	CHECK(q.done == 1 && q.failed == 1);
	struct qstate q2 = {0};
	for (int i = 0; i < 50 && !q2.ok; i++) {
		q2.done = 0;
		db_query(p, "SELECT 1", 0, NULL, count_cb, &q2);
		for (int k = 0; k < 100 && !q2.done; k++)
			loop_for_ms(10);
		if (!q2.ok)
			loop_for_ms(100);
	}
	CHECK(q2.ok >= 1);
	db_pool_free(p);
}

/* A host name is resolved on the loop (evdns, /etc/hosts here), never by a
 * blocking lookup inside libpq. */
static void test_host_name_resolved_on_the_loop(void)
{
	const char *tcp = getenv("FIDUCIA_TEST_DATABASE_URL_TCP");
	CHECK(tcp != NULL);
	if (!tcp)
		return;
	db_pool *p = new_pool(2, 2000);
	db_stats st;
	db_pool_stats(p, &st);
	CHECK(st.dns_lookups == 0); /* the unix-socket pool needs none */
	db_pool_free(p);
	p = db_pool_new(base, tcp, 2, 2000, 10000);
	struct qstate q = {0};
	for (int i = 0; i < 300; i++) {
		db_pool_stats(p, &st);
		if (st.idle == 2)
			break;
		loop_for_ms(10);
	}
	db_query(p, "SELECT inet_server_addr()::text", 0, NULL, count_cb, &q);
	for (int i = 0; i < 300 && !q.done; i++)
		loop_for_ms(10);
	CHECK(q.ok == 1);
	db_pool_stats(p, &st);
	CHECK(st.dns_lookups == 2);
	CHECK(st.connects == 2);
	db_pool_free(p);
}

static int pg_sh(const char *verb)
{
	const char *sh = getenv("FIDUCIA_TEST_PG_SH"), *state = getenv("FIDUCIA_TEST_PG_STATE");
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "'%s' %s '%s'", sh, verb, state);
	return system(cmd);
}

static void test_server_restart(void)
{
	db_pool *p = new_pool(2, 500);
	CHECK(pg_sh("restart-stop") == 0);
	/* During the outage: every query fails fast, none hangs. */
	loop_for_ms(300);
	struct qstate q = {0};
	for (int i = 0; i < 5; i++)
		db_query(p, "SELECT 1", 0, NULL, count_cb, &q);
	for (int i = 0; i < 300 && q.done < 5; i++)
		loop_for_ms(10);
	CHECK(q.done == 5);
	CHECK(q.failed == 5);
	CHECK(!db_pool_up(p));
	CHECK(pg_sh("restart-start") == 0);
	/* After it: recovery without intervention. */
	struct qstate q2 = {0};
	for (int i = 0; i < 100 && !q2.ok; i++) {
		q2.done = 0;
		db_query(p, "SELECT 1", 0, NULL, count_cb, &q2);
		for (int k = 0; k < 100 && !q2.done; k++)
			loop_for_ms(10);
		if (!q2.ok)
			loop_for_ms(100);
	}
	CHECK(q2.ok >= 1);
	CHECK(db_pool_up(p));
	db_pool_free(p);
}

struct listen_state {
	int ups, downs, notes;
	bool up;
	char payload[64];
};

static void ls_notify(const char *channel, const char *payload, void *arg)
{
	struct listen_state *l = arg;
	l->notes++;
	snprintf(l->payload, sizeof l->payload, "%s", payload);
}

static void ls_state(bool up, void *arg)
{
	struct listen_state *l = arg;
	l->up = up;
	if (up)
		l->ups++;
	else
		l->downs++;
}

static void exec_sync(const char *sql)
{
	PGconn *c = sync_conn();
	PQclear(PQexec(c, sql));
	PQfinish(c);
}

static void test_listen_notify(void)
{
	db_pool *p = new_pool(1, 1000);
	struct listen_state l = {0};
	CHECK(db_pool_listen(p, "fiducia_test", ls_notify, ls_state, &l));
	CHECK(!db_pool_listen(p, "again", ls_notify, ls_state, &l)); /* one per pool */
	CHECK(loop_until(&l.up, 5));
	exec_sync("NOTIFY fiducia_test, 'hello'");
	for (int i = 0; i < 300 && !l.notes; i++)
		loop_for_ms(10);
	CHECK(l.notes == 1);
	CHECK_STR_EQ(l.payload, "hello");
	/* Lose the listener: down is reported, then it comes back by itself. */
	exec_sync("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	          "WHERE query LIKE 'LISTEN%'");
	for (int i = 0; i < 300 && l.ups < 2; i++)
		loop_for_ms(10);
	CHECK(l.downs == 1);
	CHECK(l.ups == 2);
	exec_sync("NOTIFY fiducia_test, 'again'");
	for (int i = 0; i < 300 && l.notes < 2; i++)
		loop_for_ms(10);
	CHECK_STR_EQ(l.payload, "again");
	db_pool_free(p);
}

int main(void)
{
	url = getenv("FIDUCIA_TEST_DATABASE_URL");
	if (!url) {
		fprintf(stderr, "FIDUCIA_TEST_DATABASE_URL is not set (run through pg.sh run)\n");
		return 1;
	}
	log_min_level = LOG_LEVEL_ERROR;
	base = event_base_new();
	static const tu_case cases[] = {
	        TU_CASE(test_migrations_apply_once_concurrently),
	        TU_CASE(test_queueing_beyond_pool_size),
	        TU_CASE(test_acquire_timeout),
	        TU_CASE(test_release_rolls_back),
	        TU_CASE(test_pipeline_isolates_errors),
	        TU_CASE(test_recovers_from_killed_backends),
	        TU_CASE(test_listen_notify),
	        TU_CASE(test_unresponsive_server_is_given_up),
	        TU_CASE(test_host_name_resolved_on_the_loop),
	        TU_CASE(test_server_restart),
	};
	int rc = tu_run(cases, sizeof cases / sizeof cases[0]);
	event_base_free(base);
	return rc;
}
