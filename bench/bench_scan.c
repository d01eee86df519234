/*
 * bench_scan: the cost of consent filtering in a scan of a personal dataset.
 * Reads the dataset's sealed SUBJECT and one MEASURE column into memory once
 * (from PostgreSQL, binary), then scans every chunk on one thread:
 *   cold:    once, first: load the consent view for a purpose through an
 *            empty consent_cache (every consenting subject read from
 *            PostgreSQL, every chunk's subject numbers built), open and
 *            decode both columns, sum the measure over the rows kept;
 *   then rounds of
 *   plain:   open and decode both columns, sum the measure over all rows;
 *   warm:    the same with consent: the view loaded as every query loads
 *            it (the consent version checked in PostgreSQL, unchanged), and
 *            the sum over the rows consent_view_filter keeps;
 *   change:  one consenting subject withdraws first (the SQL consent.c
 *            runs, on another connection), then as warm: the load now
 *            re-decides the changed subject (a delta).
 * Prints one line per round; bench/consent.sh takes the medians.
 * Prints one line per round; bench/consent.sh takes the medians.
 * usage: bench_scan CONNINFO KEK_FILE DATASET SUBJECT_COL MEASURE_COL PURPOSE ROUNDS
 */
#include "app.h"
#include "batch.h"
#include "chunk.h"
#include "consent.h"
#include "consent_cache.h"
#include "db.h"
#include "log.h"
#include "policies.h"
#include "vault.h"

#include <event2/event.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

struct chunk {
	uint8_t id[CHUNK_ID_BYTES];
	uint32_t rows;
	int kv;
	uint8_t *sealed[2];
	size_t len[2];
};

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct event_base *base;

struct got {
	bool done;
	consent_view *v;
};

static void loaded(consent_view *v, void *arg)
{
	struct got *g = arg;
	g->v = v;
	g->done = true;
}

#define MAX_ROUNDS 64
static uint8_t withdrawn[MAX_ROUNDS][BATCH_PSEUDONYM_BYTES];
static int nwithdrawn;

int main(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr,
		        "usage: %s CONNINFO KEK_FILE DATASET SUBJECT_COL MEASURE_COL PURPOSE "
		        "ROUNDS\n",
		        argv[0]);
		return 2;
	}
	const char *conninfo = argv[1], *ds = argv[3], *purpose = argv[6];
	int scol = atoi(argv[4]), mcol = atoi(argv[5]), rounds = atoi(argv[7]);
	if (rounds < 1 || rounds > MAX_ROUNDS)
		return fprintf(stderr, "ROUNDS: 1 to %d\n", MAX_ROUNDS), 2;
	if (sodium_init() < 0)
		return 1;
	log_min_level = LOG_LEVEL_ERROR;
	uint8_t kek[32];
	FILE *f = fopen(argv[2], "rb");
	if (!f || fread(kek, 1, 32, f) != 32)
		return fprintf(stderr, "cannot read the KEK\n"), 1;
	fclose(f);
	char kek_id[VAULT_KEK_ID_LEN + 1];
	vault_kek_id(kek, kek_id);
	PGconn *c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK)
		return fprintf(stderr, "%s", PQerrorMessage(c)), 1;
	/* The data keys. */
	const char *p1[1] = {ds};
	PGresult *r =
	        PQexecParams(c,
	                     "SELECT version, wrapped FROM dataset_keys WHERE dataset = $1 AND "
	                     "kind = 'dek' ORDER BY version",
	                     1, NULL, p1, NULL, NULL, 1);
	int nk = PQntuples(r);
	uint8_t(*deks)[32] = calloc((size_t)nk + 1, sizeof *deks);
	for (int i = 0; i < nk; i++)
		if (!vault_unwrap(kek, ds, "dek", i + 1, (const uint8_t *)PQgetvalue(r, i, 1),
		                  (size_t)PQgetlength(r, i, 1), deks[i]))
			return fprintf(stderr, "cannot unwrap DEK %d\n", i + 1), 1;
	PQclear(r);
	/* The two sealed columns of every chunk, in memory (binary results). */
	char cols[32];
	snprintf(cols, sizeof cols, "{%d,%d}", scol, mcol);
	const char *p2[2] = {ds, cols};
	double t0 = now();
	r = PQexecParams(
	        c,
	        "SELECT c.id, c.rows, c.key_version, k.col::int, k.sealed FROM chunks c JOIN "
	        "chunk_columns k ON k.chunk = c.id WHERE c.dataset = $1 AND k.col = "
	        "ANY($2::int[]) ORDER BY c.id, k.col",
	        2, NULL, p2, NULL, NULL, 1);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		return fprintf(stderr, "%s", PQerrorMessage(c)), 1;
	int n = PQntuples(r) / 2;
	struct chunk *ch = calloc((size_t)n + 1, sizeof *ch);
	uint64_t rows = 0;
	for (int i = 0; i < n; i++) {
		for (int k = 0; k < 2; k++) {
			int row = 2 * i + k;
			int col = (int)ntohl(*(uint32_t *)PQgetvalue(r, row, 3));
			int slot = col == scol ? 0 : 1;
			ch[i].len[slot] = (size_t)PQgetlength(r, row, 4);
			ch[i].sealed[slot] = malloc(ch[i].len[slot]);
			memcpy(ch[i].sealed[slot], PQgetvalue(r, row, 4), ch[i].len[slot]);
		}
		memcpy(ch[i].id, PQgetvalue(r, 2 * i, 0), CHUNK_ID_BYTES);
		ch[i].rows = ntohl(*(uint32_t *)PQgetvalue(r, 2 * i, 1));
		ch[i].kv = (int)ntohl(*(uint32_t *)PQgetvalue(r, 2 * i, 2));
		rows += ch[i].rows;
	}
	PQclear(r);
	PQfinish(c);
	fprintf(stderr, "bench_scan: %d chunks, %llu rows read in %.2f s\n", n,
	        (unsigned long long)rows, now() - t0);

	base = event_base_new();
	struct app app = {0};
	app.base = base;
	char err[256];
	app.vocab = policies_vocab_load(err, sizeof err);
	app.db = db_pool_new(base, conninfo, 2, 5000, 600000);
	while (!db_pool_up(app.db)) {
		struct timeval tv = {0, 10000};
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	app.consents = consent_cache_new((size_t)1 << 30);
	PGconn *w = PQconnectdb(conninfo); /* withdrawals, as consent.c makes them */
	if (PQstatus(w) != CONNECTION_OK)
		return fprintf(stderr, "%s", PQerrorMessage(w)), 1;
	uint8_t *pt = malloc(4 << 20), *pt2 = malloc(8 << 20), *keep = malloc(1 << 21);
	/* cold once, then rounds of plain, warm and change */
	static const char *const names[] = {"plain", "cold", "warm", "change"};
	for (int round = 0; round < rounds; round++) {
		for (int mode = round ? 0 : 1; mode < 4; mode++) {
			if ((round == 0) != (mode == 1))
				continue; /* round 0 is the cold load alone, and only it */
			double ts = now(), tload = 0;
			consent_view *view = NULL;
			if (mode == 3 && round >= nwithdrawn)
				return fprintf(stderr,
				               "not enough consenting subjects in chunk 0\n"),
				       1;
			if (mode == 3) { /* one consenting subject withdraws first */
				char hex[2 + 2 * BATCH_PSEUDONYM_BYTES + 1] = "\\x";
				sodium_bin2hex(hex + 2, sizeof hex - 2, withdrawn[round],
				               BATCH_PSEUDONYM_BYTES);
				const char *p[2] = {ds, hex};
				PGresult *wr = PQexecParams(w, CONSENT_SQL_WITHDRAW_ALL, 2, NULL, p,
				                            NULL, NULL, 0);
				if (PQresultStatus(wr) != PGRES_TUPLES_OK || PQntuples(wr) < 1)
					return fprintf(stderr, "withdrawal: %s", PQerrorMessage(w)),
					       1;
				PQclear(wr);
				ts = now();
			}
			if (mode) {
				struct got g = {0};
				consent_view_load(&app, ds, purpose, (int64_t)time(NULL) * 1000000,
				                  loaded, &g);
				while (!g.done)
					event_base_loop(base, EVLOOP_ONCE);
				if (!g.v)
					return fprintf(stderr, "consent view failed\n"), 1;
				view = g.v;
				tload = now() - ts;
			}
			double sum = 0;
			uint64_t counted = 0;
			for (int i = 0; i < n; i++) {
				const uint8_t *dek = deks[ch[i].kv - 1];
				chunk_column sc, mc;
				char why[128];
				size_t l0 = ch[i].len[0] - CHUNK_SEAL_OVERHEAD,
				       l1 = ch[i].len[1] - CHUNK_SEAL_OVERHEAD;
				if (!chunk_open(dek, ds, ch[i].id, scol, (uint32_t)ch[i].kv,
				                ch[i].rows, ch[i].sealed[0], ch[i].len[0], pt) ||
				    !chunk_open(dek, ds, ch[i].id, mcol, (uint32_t)ch[i].kv,
				                ch[i].rows, ch[i].sealed[1], ch[i].len[1], pt2) ||
				    !chunk_decode(pt, l0, SCHEMA_STRING, true, ch[i].rows, &sc, why,
				                  sizeof why) ||
				    !chunk_decode(pt2, l1, SCHEMA_FLOAT64, false, ch[i].rows, &mc,
				                  why, sizeof why))
					return fprintf(stderr, "chunk %d does not open\n", i), 1;
				if (mode) {
					counted += consent_view_filter(view, ch[i].sealed[0], &sc,
					                               keep);
					for (uint32_t k = 0; k < ch[i].rows; k++)
						sum += mc.f[k] *
						       keep[k]; /* masked, without a branch */
					/* the subjects the change rounds withdraw: consenting ones
					 */
					for (uint32_t k = 0; i == 0 && mode == 1 && k < sc.ndict &&
					                     nwithdrawn < MAX_ROUNDS;
					     k++) {
						const uint8_t *ps =
						        sc.pseudonyms +
						        (size_t)k * BATCH_PSEUDONYM_BYTES;
						if (consent_view_has(view, ps))
							memcpy(withdrawn[nwithdrawn++], ps,
							       BATCH_PSEUDONYM_BYTES);
					}
				} else {
					counted += ch[i].rows;
					for (uint32_t k = 0; k < ch[i].rows; k++)
						sum += mc.f[k];
				}
				chunk_column_free(&sc);
				chunk_column_free(&mc);
			}
			double el = now() - ts;
			printf("round %d %s %.4f s (consent load %.4f s, %zu subjects) rows %llu "
			       "sum %.1f\n",
			       round + 1, names[mode], el, tload,
			       view ? consent_view_size(view) : 0, (unsigned long long)counted,
			       sum);
			fflush(stdout);
			consent_view_release(view);
		}
	}
	consent_cache_stats st;
	consent_cache_stats_get(app.consents, &st);
	printf("loads: %llu fresh, %llu delta, %llu full; chunk maps: %llu built, %llu hits, %zu "
	       "bytes\n",
	       (unsigned long long)st.fresh, (unsigned long long)st.delta,
	       (unsigned long long)st.full, (unsigned long long)st.map_builds,
	       (unsigned long long)st.map_hits, st.map_bytes);
	PQfinish(w);
	return 0;
}
