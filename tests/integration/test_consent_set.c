/*
 * The consent set a query filters on (consent.c), against a real PostgreSQL:
 * which subjects count for a purpose at an instant — the purpose hierarchy
 * (a child purpose is covered by consent for its parent, never the
 * reverse), the validity boundaries (from inclusive, until exclusive),
 * withdrawal of a record or of one purpose, a record given again after
 * withdrawal, subjects who never consented — and that a withdrawal counts
 * from the very next load. Then a set of 300,000 subjects: a million exact
 * member/non-member checks and ten million misses (run, not timed).
 */
#include "testutil.h"
#include "app.h"
#include "batch.h"
#include "chunk.h"
#include "consent.h"
#include "db.h"
#include "log.h"
#include "migrate.h"
#include "pdp.h"
#include "policies.h"

#include <event2/event.h>
#include <sodium.h>
#include <stdlib.h>

static const char *url;
static struct app app;
static char ds[32];

static PGconn *sync_conn(void)
{
	PGconn *c = PQconnectdb(url);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "connect: %s", PQerrorMessage(c));
		exit(1);
	}
	return c;
}

static void exec(const char *sql)
{
	PGconn *c = sync_conn();
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
	CHECK(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
	PQclear(r);
	PQfinish(c);
}

/* Subject n's pseudonym: 16 bytes, first byte n (tests build them directly). */
static void subj(int n, uint8_t p[16])
{
	memset(p, 0xa5, 16);
	p[0] = (uint8_t)n;
	p[1] = (uint8_t)(n >> 8);
	p[2] = (uint8_t)(n >> 16);
}

#define T0  1767225600000000LL /* 2026-01-01T00:00:00Z in microseconds */
#define DAY 86400000000LL

/* A consent row for subject n, purposes as a SQL array literal. */
static void give(const char *id, int n, const char *purposes, long long from, long long until,
                 bool withdrawn)
{
	uint8_t p[16];
	char hex[33], sql[1024], until_s[96];
	subj(n, p);
	sodium_bin2hex(hex, sizeof hex, p, sizeof p);
	if (until)
		snprintf(until_s, sizeof until_s,
		         "'epoch'::timestamptz + %lld * interval '1 microsecond'", until);
	else
		snprintf(until_s, sizeof until_s, "NULL");
	snprintf(sql, sizeof sql,
	         "INSERT INTO consents (id, dataset, subject, purposes, valid_from, valid_until, "
	         "withdrawn_at, record, record_hash) VALUES ('%s', '%s', '\\x%s', '%s', "
	         "'epoch'::timestamptz + %lld * interval '1 microsecond', %s, %s, '\\x00', "
	         "'\\x%064d')",
	         id, ds, hex, purposes, from, until_s, withdrawn ? "now()" : "NULL", 0);
	exec(sql);
}

struct got {
	bool done;
	consent_set *set;
};

static void loaded(consent_set *s, void *arg)
{
	struct got *g = arg;
	g->set = s;
	g->done = true;
}

static consent_set *load(const char *purpose, long long at)
{
	struct got g = {0};
	consent_set_load(&app, ds, purpose, at, loaded, &g);
	for (int i = 0; i < 3000 && !g.done; i++) {
		struct timeval tv = {0, 10000};
		event_base_loopexit(app.base, &tv);
		event_base_dispatch(app.base);
	}
	CHECK(g.done && g.set);
	return g.set ? g.set : consent_set_new(0); /* go on with an empty set */
}

static bool has(consent_set *s, int n)
{
	uint8_t p[16];
	subj(n, p);
	return s && consent_set_has(s, p);
}

static void test_setup(void)
{
	PGconn *c = sync_conn();
	char err[512];
	CHECK(migrate_apply(c, err, sizeof err));
	PQfinish(c);
	uint8_t r[8];
	randombytes_buf(r, sizeof r);
	memcpy(ds, "ds-", 3);
	sodium_bin2hex(ds + 3, sizeof ds - 3, r, sizeof r);
	char sql[512];
	snprintf(sql, sizeof sql,
	         "INSERT INTO datasets (id, holder, name, personal_data, columns, chunk_rows) "
	         "VALUES ('%s', 'operator', 'consent-test-%s', true, '{}', 1)",
	         ds, ds + 3);
	exec(sql);
	app.db = db_pool_new(app.base, url, 2, 5000, 10000);
	CHECK(app.db != NULL);
	for (int i = 0; i < 500 && !db_pool_up(app.db); i++) {
		struct timeval tv = {0, 10000};
		event_base_loopexit(app.base, &tv);
		event_base_dispatch(app.base);
	}
	CHECK(db_pool_up(app.db));
}

static void test_purposes_validity_and_withdrawal(void)
{
	char id[32];
#define ID(k) (snprintf(id, sizeof id, "cr-%.14s%02d", ds + 3, k), id)
	give(ID(1), 1, "{fiducia:HousingPolicy}", T0, 0, false);
	give(ID(2), 2, "{dpv:PublicPolicyMaking}", T0, 0, false);
	give(ID(3), 3, "{fiducia:HousingPolicy}", T0, T0 + 10 * DAY, false);
	give(ID(4), 4, "{fiducia:HousingPolicy}", T0, 0, true);
	give(ID(5), 5, "{fiducia:HousingPolicy,dpv:ProvideOfficialStatistics}", T0, 0, false);
	snprintf(id, sizeof id, "cr-%.14s%02d", ds + 3, 5);
	char sql[256];
	snprintf(sql, sizeof sql,
	         "INSERT INTO consent_withdrawals (consent, purpose) VALUES ('%s', "
	         "'fiducia:HousingPolicy')",
	         id);
	exec(sql);
	give(ID(7), 7, "{fiducia:HousingPolicy}", T0, 0, true);
	give(ID(8), 7, "{fiducia:HousingPolicy}", T0 + DAY, 0, false);
	give(ID(9), 9, "{fiducia:HousingRegulationEnforcement}", T0, 0, false);

	consent_set *s = load("fiducia:HousingPolicy", T0 + 5 * DAY);
	CHECK(has(s, 1));  /* consent for the query's purpose */
	CHECK(has(s, 2));  /* for its parent: HousingPolicy isA PublicPolicyMaking */
	CHECK(has(s, 3));  /* valid until later */
	CHECK(!has(s, 4)); /* withdrawn */
	CHECK(!has(s, 5)); /* that purpose withdrawn */
	CHECK(!has(s, 6)); /* never consented */
	CHECK(has(s, 7));  /* given again after a withdrawal */
	CHECK(!has(s, 9)); /* a child purpose does not cover its parent */
	CHECK(consent_set_size(s) == 4);
	consent_set_free(s);

	s = load("dpv:ProvideOfficialStatistics", T0 + 5 * DAY);
	CHECK(has(s, 5) && !has(s, 1) && consent_set_size(s) == 1);
	consent_set_free(s);

	s = load("fiducia:HousingRegulationEnforcement", T0 + 5 * DAY);
	CHECK(has(s, 1) && has(s, 2) && has(s, 9)); /* the child query: all ancestors count */
	consent_set_free(s);

	/* Boundaries: valid_from inclusive, valid_until exclusive. */
	s = load("fiducia:HousingPolicy", T0 - 1);
	CHECK(!has(s, 1) && consent_set_size(s) == 0);
	consent_set_free(s);
	s = load("fiducia:HousingPolicy", T0);
	CHECK(has(s, 1) && has(s, 3) && !has(s, 7)); /* 7's second record starts a day later */
	consent_set_free(s);
	s = load("fiducia:HousingPolicy", T0 + 10 * DAY - 1);
	CHECK(has(s, 3));
	consent_set_free(s);
	s = load("fiducia:HousingPolicy", T0 + 10 * DAY);
	CHECK(!has(s, 3));
	consent_set_free(s);

	/* Filtering a chunk: its rows by their dictionary entries. */
	s = load("fiducia:HousingPolicy", T0 + 5 * DAY);
	uint8_t dict[4 * 16];
	subj(1, dict);
	subj(4, dict + 16);
	subj(6, dict + 32);
	subj(2, dict + 48);
	uint32_t idx[7] = {0, 1, 2, 3, 3, 1, 0};
	chunk_column cc = {.rows = 7, .ndict = 4, .pseudonyms = dict, .idx = idx};
	uint8_t keep[7];
	CHECK(consent_filter_chunk(s, &cc, keep) == 4);
	CHECK(keep[0] && !keep[1] && !keep[2] && keep[3] && keep[4] && !keep[5] && keep[6]);
	consent_set_free(s);

	/* A withdrawal counts from the very next load. */
	snprintf(id, sizeof id, "cr-%.14s%02d", ds + 3, 1);
	snprintf(sql, sizeof sql, "UPDATE consents SET withdrawn_at = now() WHERE id = '%s'", id);
	exec(sql);
	s = load("fiducia:HousingPolicy", T0 + 5 * DAY);
	CHECK(!has(s, 1) && has(s, 2));
	consent_set_free(s);
#undef ID
}

static void test_millions(void)
{
	/* 300,000 subjects given consent in SQL, then 10 million lookups. */
	char sql[1024];
	snprintf(sql, sizeof sql,
	         "INSERT INTO consents (id, dataset, subject, purposes, valid_from, record, "
	         "record_hash) SELECT 'cr-%.6s' || lpad(to_hex(g), 10, '0'), '%s', "
	         "decode(lpad(to_hex(g), 32, '0'), 'hex'), '{dpv:CombatClimateChange}', "
	         "'2026-01-01', '\\x00', decode(repeat('00', 32), 'hex') FROM "
	         "generate_series(1, 300000) g",
	         ds + 3, ds);
	exec(sql);
	consent_set *s = load("fiducia:EmissionsMonitoring", T0 + DAY);
	CHECK(consent_set_size(s) == 300000);
	size_t hits = 0;
	for (uint64_t i = 0; i <= 1000000; i++) {
		uint8_t p[16];
		char hex[33];
		uint64_t g = 1 + (i * 2654435761u) % 600000; /* half in the set, half not */
		/* As lpad(to_hex(g), 32, '0') does. */
		snprintf(hex, sizeof hex, "%032llx", (unsigned long long)g);
		size_t got;
		if (sodium_hex2bin(p, sizeof p, hex, 32, NULL, &got, NULL) != 0)
			abort();
		hits += consent_set_has(s, p);
	}
	/* Exactly the members answer yes. */
	size_t expect = 0;
	for (uint64_t i = 0; i <= 1000000; i++) {
		uint64_t g = 1 + (i * 2654435761u) % 600000;
		expect += g <= 300000;
	}
	CHECK(hits == expect);
	uint8_t q[16];
	memset(q, 0x11, sizeof q);
	size_t misses = 0;
	for (uint64_t i = 0; i < 10000000; i++) {
		q[15] = (uint8_t)i;
		q[14] = (uint8_t)(i >> 8);
		q[13] = (uint8_t)(i >> 16);
		misses += !consent_set_has(s, q);
	}
	CHECK(misses == 10000000);
	consent_set_free(s);
}

int main(void)
{
	url = getenv("FIDUCIA_TEST_DATABASE_URL");
	if (!url) {
		fprintf(stderr, "FIDUCIA_TEST_DATABASE_URL is not set (run through pg.sh run)\n");
		return 1;
	}
	if (sodium_init() < 0)
		return 1;
	log_min_level = LOG_LEVEL_ERROR;
	app.base = event_base_new();
	char err[256];
	app.vocab = policies_vocab_load(err, sizeof err);
	if (!app.vocab) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	static const tu_case cases[] = {
	        TU_CASE(test_setup),
	        TU_CASE(test_purposes_validity_and_withdrawal),
	        TU_CASE(test_millions),
	};
	int rc = tu_run(cases, sizeof cases / sizeof cases[0]);
	db_pool_free(app.db);
	pdp_vocab_free(app.vocab);
	event_base_free(app.base);
	return rc;
}
