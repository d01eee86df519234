/*
 * The consent set a query filters on (consent.c), against a real PostgreSQL:
 * which subjects count for a purpose at an instant — the purpose hierarchy
 * (a child purpose is covered by consent for its parent, never the
 * reverse), the validity boundaries (from inclusive, until exclusive),
 * withdrawal of a record or of one purpose, a record given again after
 * withdrawal, subjects who never consented — and that a withdrawal counts
 * from the very next load. Then a set of 300,000 subjects: a million exact
 * member/non-member checks and ten million misses (run, not timed).
 *
 * The cached views queries filter on (consent_cache.c) are then checked
 * against that uncached set, subject by subject and chunk by chunk, through
 * a random sequence of gifts, withdrawals, erasures and instants, with two
 * caches standing for two fiduciad processes on one database; and their
 * loads are seen to go fresh, delta or full when they should.
 */
#include "testutil.h"
#include "app.h"
#include "batch.h"
#include "chunk.h"
#include "consent.h"
#include "consent_cache.h"
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

/* ---- the cached view against the uncached set ------------------------------ */

static PGconn *tx; /* changes go through one connection, in transactions */

static void tx_exec(const char *sql)
{
	PGresult *r = PQexec(tx, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
	CHECK(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
	PQclear(r);
}

/* BEGIN and bump the version as consent.c does (the same SQL). */
static void tx_begin(bool full)
{
	tx_exec("BEGIN");
	const char *p[1] = {ds};
	PGresult *r = PQexecParams(tx, full ? CONSENT_SQL_BUMP_FULL : CONSENT_SQL_BUMP, 1, NULL, p,
	                           NULL, NULL, 0);
	CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1);
	PQclear(r);
}

static void new_dataset(void)
{
	uint8_t r[8];
	randombytes_buf(r, sizeof r);
	sodium_bin2hex(ds + 3, sizeof ds - 3, r, sizeof r);
	char sql[512];
	snprintf(sql, sizeof sql,
	         "INSERT INTO datasets (id, holder, name, personal_data, columns, chunk_rows) "
	         "VALUES ('%s', 'operator', 'consent-test-%s', true, '{}', 1)",
	         ds, ds + 3);
	exec(sql);
}

static int nrec;

static void v_give(int n, const char *purposes, long long from, long long until)
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
	tx_begin(false);
	snprintf(sql, sizeof sql,
	         "INSERT INTO consents (id, dataset, subject, purposes, valid_from, valid_until, "
	         "record, record_hash, version) VALUES ('cr-%.8s%08d', '%s', '\\x%s', '%s', "
	         "'epoch'::timestamptz + %lld * interval '1 microsecond', %s, '\\x00', "
	         "'\\x%064d', (SELECT version FROM consent_versions WHERE dataset = '%s'))",
	         ds + 3, ++nrec, ds, hex, purposes, from, until_s, 0, ds);
	tx_exec(sql);
	tx_exec("COMMIT");
}

/* The SQL of consent.c's withdrawals and erasure, on subject n. */
static void v_change(const char *what, int n, const char *purpose)
{
	uint8_t p[16];
	char hex[33], sql[1024];
	subj(n, p);
	sodium_bin2hex(hex, sizeof hex, p, sizeof p);
	bool erase = strcmp(what, "erase") == 0;
	tx_begin(erase);
	if (erase)
		snprintf(sql, sizeof sql,
		         "DELETE FROM consents WHERE dataset = '%s' AND subject = '\\x%s'", ds,
		         hex);
	else if (purpose)
		snprintf(sql, sizeof sql,
		         "INSERT INTO consent_withdrawals (consent, purpose, version) SELECT c.id, "
		         "'%s', (SELECT version FROM consent_versions WHERE dataset = '%s') FROM "
		         "consents c WHERE c.dataset = '%s' AND c.subject = '\\x%s' AND "
		         "c.withdrawn_at IS NULL AND '%s' = ANY(c.purposes) ON CONFLICT DO NOTHING",
		         purpose, ds, ds, hex, purpose);
	else
		snprintf(
		        sql, sizeof sql,
		        "UPDATE consents SET withdrawn_at = now(), version = (SELECT version FROM "
		        "consent_versions WHERE dataset = '%s') WHERE dataset = '%s' AND subject = "
		        "'\\x%s' AND withdrawn_at IS NULL",
		        ds, ds, hex);
	tx_exec(sql);
	tx_exec("COMMIT");
}

struct vgot {
	bool done;
	consent_view *v;
};

static void vloaded(consent_view *v, void *arg)
{
	struct vgot *g = arg;
	g->v = v;
	g->done = true;
}

static consent_view *vload(consent_cache *c, const char *purpose, long long at)
{
	app.consents = c;
	struct vgot g = {0};
	consent_view_load(&app, ds, purpose, at, vloaded, &g);
	for (int i = 0; i < 3000 && !g.done; i++) {
		struct timeval tv = {0, 10000};
		event_base_loopexit(app.base, &tv);
		event_base_dispatch(app.base);
	}
	CHECK(g.done && g.v);
	return g.v;
}

#define NSUBJ 120

/* A chunk's SUBJECT column over subjects 1..NSUBJ+20, in a shuffled
 * dictionary, and its rows. */
struct fake_chunk {
	uint8_t nonce[CHUNK_NONCE_BYTES];
	uint8_t dict[(NSUBJ + 20) * 16];
	uint32_t idx[1000];
	chunk_column col;
};

static void fake_chunk_init(struct fake_chunk *f)
{
	randombytes_buf(f->nonce, sizeof f->nonce);
	int order[NSUBJ + 20];
	for (int i = 0; i < NSUBJ + 20; i++)
		order[i] = i + 1;
	for (int i = NSUBJ + 19; i > 0; i--) {
		int j = (int)randombytes_uniform((uint32_t)i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (int i = 0; i < NSUBJ + 20; i++)
		subj(order[i], f->dict + 16 * i);
	for (int r = 0; r < 1000; r++)
		f->idx[r] = randombytes_uniform(NSUBJ + 20);
	f->col = (chunk_column){
	        .rows = 1000, .ndict = NSUBJ + 20, .pseudonyms = f->dict, .idx = f->idx};
}

static const char *const vpurposes[] = {"fiducia:HousingPolicy", "dpv:PublicPolicyMaking",
                                        "fiducia:MobilityPlanning"};

/* Every subject and both chunks: the view says what the set says. */
static void compare(consent_cache *c, struct fake_chunk *chunks, long long at)
{
	for (size_t k = 0; k < sizeof vpurposes / sizeof vpurposes[0]; k++) {
		consent_set *s = load(vpurposes[k], at);
		consent_view *v = vload(c, vpurposes[k], at);
		if (!v)
			continue;
		int wrong = 0;
		for (int n = 1; n <= NSUBJ + 20; n++) {
			uint8_t p[16];
			subj(n, p);
			wrong += consent_view_has(v, p) != consent_set_has(s, p);
		}
		CHECK(wrong == 0);
		CHECK(consent_view_size(v) == consent_set_size(s));
		for (int f = 0; f < 2; f++) {
			uint8_t a[1000], b[1000];
			size_t ka = consent_view_filter(v, chunks[f].nonce, &chunks[f].col, a);
			size_t kb = consent_filter_chunk(s, &chunks[f].col, b);
			CHECK(ka == kb && memcmp(a, b, sizeof a) == 0);
		}
		consent_view_release(v);
		consent_set_free(s);
	}
}

static void test_cached_view_loads(void)
{
	new_dataset();
	tx = sync_conn();
	consent_cache *c = consent_cache_new(1 << 20);
	struct fake_chunk chunks[2];
	fake_chunk_init(&chunks[0]);
	fake_chunk_init(&chunks[1]);
	consent_cache_stats st;
	const char *hp = "fiducia:HousingPolicy";

	/* Nobody yet: a full load, then a fresh one. */
	consent_view *v = vload(c, hp, T0 + DAY);
	CHECK(v && consent_view_size(v) == 0);
	consent_view_release(v);
	v = vload(c, hp, T0 + DAY);
	consent_view_release(v);
	consent_cache_stats_get(c, &st);
	CHECK(st.full == 1 && st.fresh == 1 && st.delta == 0);

	/* A gift: the next load re-decides only what changed. */
	v_give(1, "{fiducia:HousingPolicy}", T0, 0);
	v_give(2, "{dpv:PublicPolicyMaking}", T0, T0 + 10 * DAY);
	v = vload(c, hp, T0 + DAY);
	uint8_t p1[16], p2[16];
	subj(1, p1);
	subj(2, p2);
	CHECK(consent_view_size(v) == 2 && consent_view_has(v, p1) && consent_view_has(v, p2));
	uint8_t keep[1000];
	size_t kept = consent_view_filter(v, chunks[0].nonce, &chunks[0].col, keep);
	consent_view_release(v);
	consent_cache_stats_get(c, &st);
	CHECK(st.full == 1 && st.delta == 1 && st.map_builds == 1);

	/* A withdrawal counts from the very next load, a delta again; the
	 * chunk's numbers are reused. */
	v_change("withdraw", 1, NULL);
	v = vload(c, hp, T0 + DAY);
	CHECK(consent_view_size(v) == 1 && !consent_view_has(v, p1));
	size_t kept2 = consent_view_filter(v, chunks[0].nonce, &chunks[0].col, keep);
	size_t rows1 = 0;
	for (int r = 0; r < 1000; r++)
		rows1 += memcmp(chunks[0].dict + 16 * chunks[0].idx[r], p1, 16) == 0;
	CHECK(kept2 == kept - rows1);
	consent_view_release(v);
	consent_cache_stats_get(c, &st);
	CHECK(st.delta == 2 && st.map_hits == 1);

	/* A subject numbered after the chunk's map was built: refreshed. */
	v_give(3, "{fiducia:HousingPolicy}", T0, 0);
	v = vload(c, hp, T0 + DAY);
	size_t kept3 = consent_view_filter(v, chunks[0].nonce, &chunks[0].col, keep);
	CHECK(kept3 > kept2);
	consent_view_release(v);
	consent_cache_stats_get(c, &st);
	CHECK(st.map_refreshes == 1);

	/* Past subject 2's validity boundary: a full reload, without them. */
	v = vload(c, hp, T0 + 10 * DAY);
	CHECK(!consent_view_has(v, p2));
	consent_view_release(v);
	consent_cache_stats_get(c, &st);
	CHECK(st.full == 2);
	/* An instant before the cached one: never served from the cache. */
	v = vload(c, hp, T0 + 5 * DAY);
	CHECK(consent_view_has(v, p2));
	consent_view_release(v);
	consent_cache_stats_get(c, &st);
	CHECK(st.full == 3);

	/* An erasure deletes records: a full reload. */
	v_change("erase", 3, NULL);
	v = vload(c, hp, T0 + 5 * DAY);
	uint8_t p3[16];
	subj(3, p3);
	CHECK(!consent_view_has(v, p3) && consent_view_has(v, p2));
	consent_view_release(v);
	consent_cache_stats_get(c, &st);
	CHECK(st.full == 4);

	/* A view held by a query does not change under it. */
	v = vload(c, hp, T0 + 5 * DAY);
	size_t before = consent_view_size(v);
	v_change("withdraw", 2, NULL);
	consent_view *v2 = vload(c, hp, T0 + 5 * DAY);
	CHECK(consent_view_size(v) == before && consent_view_has(v, p2));
	CHECK(consent_view_size(v2) == before - 1 && !consent_view_has(v2, p2));
	consent_view_release(v);
	consent_view_release(v2);
	consent_cache_free(c);
	PQfinish(tx);
}

static void test_cached_view_random(void)
{
	new_dataset();
	tx = sync_conn();
	/* Two processes on one database; the second keeps at most two maps. */
	consent_cache *c[2] = {consent_cache_new(1 << 20), consent_cache_new(1200)};
	struct fake_chunk chunks[2];
	fake_chunk_init(&chunks[0]);
	fake_chunk_init(&chunks[1]);
	static const char *const gifts[] = {"{fiducia:HousingPolicy}", "{dpv:PublicPolicyMaking}",
	                                    "{fiducia:MobilityPlanning,fiducia:HousingPolicy}",
	                                    "{dpv:ImproveTransportMobility}"};
	long long at = T0 + DAY;
	for (int step = 0; step < 80; step++) {
		int n = 1 + (int)randombytes_uniform(NSUBJ);
		uint32_t op = randombytes_uniform(10);
		if (op < 5) {
			long long from = T0 + (long long)randombytes_uniform(20) * DAY / 2;
			long long until =
			        randombytes_uniform(3)
			                ? 0
			                : from + (long long)(1 + randombytes_uniform(20)) * DAY;
			v_give(n, gifts[randombytes_uniform(4)], from, until);
		} else if (op < 7) {
			v_change("withdraw", n, NULL);
		} else if (op < 9) {
			v_change("withdraw", n,
			         op == 7 ? "fiducia:HousingPolicy" : "fiducia:MobilityPlanning");
		} else {
			v_change("erase", n, NULL);
		}
		if (randombytes_uniform(4) == 0)
			at += (long long)randombytes_uniform(3) * DAY;
		if (step % 17 == 16) /* a chunk re-sealed, as erasure does */
			randombytes_buf(chunks[step % 2].nonce, CHUNK_NONCE_BYTES);
		compare(c[step % 2], chunks, at);
		if (step % 3 == 0)
			compare(c[(step + 1) % 2], chunks, at);
	}
	consent_cache_stats st[2];
	consent_cache_stats_get(c[0], &st[0]);
	consent_cache_stats_get(c[1], &st[1]);
	printf("  cache 1: %llu fresh, %llu delta, %llu full; cache 2: %llu fresh, %llu delta, "
	       "%llu full, %llu evictions\n",
	       (unsigned long long)st[0].fresh, (unsigned long long)st[0].delta,
	       (unsigned long long)st[0].full, (unsigned long long)st[1].fresh,
	       (unsigned long long)st[1].delta, (unsigned long long)st[1].full,
	       (unsigned long long)st[1].map_evictions);
	CHECK(st[0].delta > 0 && st[0].full > 0);
	CHECK(st[1].map_evictions > 0 && st[1].map_bytes <= 1200);
	consent_cache_free(c[0]);
	consent_cache_free(c[1]);
	/* With no memory for maps, filtering still works. */
	consent_cache *none = consent_cache_new(0);
	compare(none, chunks, at);
	consent_cache_stats s0;
	consent_cache_stats_get(none, &s0);
	CHECK(s0.map_bytes == 0 && s0.map_hits == 0);
	consent_cache_free(none);
	PQfinish(tx);
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
	        TU_CASE(test_cached_view_loads),
	        TU_CASE(test_cached_view_random),
	};
	int rc = tu_run(cases, sizeof cases / sizeof cases[0]);
	db_pool_free(app.db);
	pdp_vocab_free(app.vocab);
	event_base_free(app.base);
	return rc;
}
