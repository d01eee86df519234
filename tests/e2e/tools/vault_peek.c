/*
 * vault_peek: for the e2e tests only (never installed). Opens every chunk
 * of a dataset with the KEK, as fiduciad would, and prints one line per
 * subject pseudonym: its hex, its row count, and the sum of an INT64
 * column over its rows, sorted. Two runs compared show what an erasure
 * removed and that every other subject's values are intact.
 * usage: vault_peek CONNINFO KEK_FILE DATASET SUBJECT_COL INT64_COL
 */
#include "batch.h"
#include "chunk.h"
#include "vault.h"

#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct subj {
	char hex[2 * BATCH_PSEUDONYM_BYTES + 1];
	long long rows, sum;
};

static int by_hex(const void *a, const void *b)
{
	return strcmp(((const struct subj *)a)->hex, ((const struct subj *)b)->hex);
}

static int fail(const char *what, PGconn *c)
{
	fprintf(stderr, "vault_peek: %s%s%s\n", what, c ? ": " : "", c ? PQerrorMessage(c) : "");
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: %s CONNINFO KEK_FILE DATASET SUBJECT_COL INT64_COL\n",
		        argv[0]);
		return 2;
	}
	const char *ds = argv[3];
	int scol = atoi(argv[4]), vcol = atoi(argv[5]);
	if (sodium_init() < 0)
		return 1;
	uint8_t kek[32];
	FILE *f = fopen(argv[2], "rb");
	if (!f || fread(kek, 1, sizeof kek, f) != sizeof kek)
		return fail("cannot read the KEK", NULL);
	fclose(f);
	PGconn *c = PQconnectdb(argv[1]);
	if (PQstatus(c) != CONNECTION_OK)
		return fail("connect", c);
	const char *p1[1] = {ds};
	PGresult *keys = PQexecParams(c,
	                              "SELECT version, encode(wrapped, 'hex') FROM dataset_keys "
	                              "WHERE dataset = $1 AND kind = 'dek' ORDER BY version",
	                              1, NULL, p1, NULL, NULL, 0);
	if (PQresultStatus(keys) != PGRES_TUPLES_OK)
		return fail("keys", c);
	char cols[32];
	snprintf(cols, sizeof cols, "{%d,%d}", scol, vcol);
	const char *p2[2] = {ds, cols};
	PGresult *r = PQexecParams(c,
	                           "SELECT encode(c.id, 'hex'), c.rows, c.key_version, k.col, "
	                           "encode(k.sealed, 'hex') FROM chunks c JOIN chunk_columns k ON "
	                           "k.chunk = c.id WHERE c.dataset = $1 AND k.col = ANY($2::int[]) "
	                           "ORDER BY c.id, k.col",
	                           2, NULL, p2, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) % 2)
		return fail("chunks", c);
	size_t cap = 1024, n = 0;
	struct subj *s = calloc(cap, sizeof *s);
	for (int i = 0; i < PQntuples(r); i += 2) {
		uint8_t id[CHUNK_ID_BYTES], dek[32];
		size_t got;
		uint32_t rows = (uint32_t)atol(PQgetvalue(r, i, 1));
		int kv = atoi(PQgetvalue(r, i, 2));
		if (sodium_hex2bin(id, sizeof id, PQgetvalue(r, i, 0), 2 * CHUNK_ID_BYTES, NULL,
		                   &got, NULL) != 0)
			return fail("chunk id", NULL);
		const char *wrapped = NULL;
		for (int k = 0; k < PQntuples(keys); k++)
			if (atoi(PQgetvalue(keys, k, 0)) == kv)
				wrapped = PQgetvalue(keys, k, 1);
		uint8_t w[256];
		size_t wl;
		if (!wrapped ||
		    sodium_hex2bin(w, sizeof w, wrapped, strlen(wrapped), NULL, &wl, NULL) != 0 ||
		    !vault_unwrap(kek, ds, "dek", kv, w, wl, dek))
			return fail("cannot unwrap a data key", NULL);
		chunk_column col[2];
		uint8_t *pt[2];
		for (int k = 0; k < 2; k++) {
			const char *hex = PQgetvalue(r, i + k, 4);
			size_t sl = strlen(hex) / 2, pl;
			uint8_t *sealed = malloc(sl);
			char err[128];
			if (sodium_hex2bin(sealed, sl, hex, 2 * sl, NULL, &pl, NULL) != 0 ||
			    sl < CHUNK_SEAL_OVERHEAD)
				return fail("sealed column", NULL);
			pt[k] = malloc(sl - CHUNK_SEAL_OVERHEAD + 1);
			int colno = atoi(PQgetvalue(r, i + k, 3));
			if (!chunk_open(dek, ds, id, colno, (uint32_t)kv, rows, sealed, sl,
			                pt[k]) ||
			    !chunk_decode(pt[k], sl - CHUNK_SEAL_OVERHEAD,
			                  colno == scol ? SCHEMA_STRING : SCHEMA_INT64,
			                  colno == scol, rows, &col[colno == scol ? 0 : 1], err,
			                  sizeof err))
				return fail("a chunk does not open", NULL);
			free(sealed);
		}
		for (uint32_t row = 0; row < rows; row++) {
			char hex[2 * BATCH_PSEUDONYM_BYTES + 1];
			sodium_bin2hex(hex, sizeof hex,
			               col[0].pseudonyms +
			                       (size_t)col[0].idx[row] * BATCH_PSEUDONYM_BYTES,
			               BATCH_PSEUDONYM_BYTES);
			size_t at = 0;
			while (at < n && strcmp(s[at].hex, hex) != 0)
				at++;
			if (at == n) {
				if (n == cap)
					s = realloc(s, (cap *= 2) * sizeof *s);
				memset(&s[n], 0, sizeof s[n]);
				memcpy(s[n].hex, hex, sizeof hex);
				n++;
			}
			s[at].rows++;
			s[at].sum += col[1].i[row];
		}
		chunk_column_free(&col[0]);
		chunk_column_free(&col[1]);
		free(pt[0]);
		free(pt[1]);
		sodium_memzero(dek, sizeof dek);
	}
	qsort(s, n, sizeof *s, by_hex);
	for (size_t i = 0; i < n; i++)
		printf("%s %lld %lld\n", s[i].hex, s[i].rows, s[i].sum);
	free(s);
	PQclear(r);
	PQclear(keys);
	PQfinish(c);
	sodium_memzero(kek, sizeof kek);
	return 0;
}
