/*
 * Unit tests of the subject-order projection (server/projection.c): every
 * row lands in its subject's run, in deposit order, with its values; the
 * STRING dictionaries become the dataset's; columns not needed are not
 * built; and the cache: hits by digest and columns, one build at a time,
 * forgetting (also during a build), the byte cap, and a pinned projection
 * outliving its replacement until released.
 */
#include "testutil.h"

#include "../../server/schema.c"
#include "../../server/batch.c"
#include "../../server/chunk.c"
#include "../../server/projection.c"

#include <sodium.h>
#include <stdlib.h>

#define NCH   5
#define NSUBJ 50
#define ROWS  400

static schema S;
static const char *const DIST[4] = {"Lyon 1er", "Lyon 2e", "", "Lyon 9e"};

/* One chunk: subject (dictionary of the chunk's distinct pseudonyms),
 * time, district (STRING, a chunk dictionary in its own order), speed,
 * road. ref_*: the same rows, plain. */
typedef struct tchunk {
	uint8_t ps[ROWS][BATCH_PSEUDONYM_BYTES];
	uint32_t sidx[ROWS], didx[ROWS];
	batch_str dict[4];
	int64_t t[ROWS], road[ROWS];
	double speed[ROWS];
	chunk_column c[5];
	uint32_t ref_subj[ROWS], ref_dist[ROWS];
} tchunk;

static tchunk ch[NCH];
static const chunk_column *cols[NCH][SCHEMA_MAX_COLUMNS];

static void pseud(uint32_t s, uint8_t out[BATCH_PSEUDONYM_BYTES])
{
	crypto_generichash(out, BATCH_PSEUDONYM_BYTES, (const uint8_t *)&s, sizeof s, NULL, 0);
}

static void make(void)
{
	memset(&S, 0, sizeof S);
	S.ncols = 5;
	S.personal = true;
	S.subject = 0;
	const char *names[5] = {"driver_id", "pub_time", "district", "speed_kmh", "road_type"};
	schema_type types[5] = {SCHEMA_STRING, SCHEMA_TIMESTAMP, SCHEMA_STRING, SCHEMA_FLOAT64,
	                        SCHEMA_INT64};
	for (int c = 0; c < 5; c++) {
		snprintf(S.cols[c].name, sizeof S.cols[c].name, "%s", names[c]);
		S.cols[c].type = types[c];
	}
	uint64_t x = 7;
	int64_t t = 1000;
	for (int i = 0; i < NCH; i++) {
		tchunk *k = &ch[i];
		memset(k, 0, sizeof *k);
		uint32_t nd = 0, seen[NSUBJ];
		for (int d = 0; d < 4; d++) /* this chunk's dictionary order */
			k->dict[d] = (batch_str){.p = DIST[(d + i) % 4],
			                         .len = (uint32_t)strlen(DIST[(d + i) % 4])};
		for (uint32_t r = 0; r < ROWS; r++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			uint32_t s = (uint32_t)(x >> 33) % NSUBJ, d = (uint32_t)(x >> 40) % 4;
			uint32_t e = 0;
			while (e < nd && seen[e] != s)
				e++;
			if (e == nd) {
				seen[nd] = s;
				pseud(s, k->ps[nd++]);
			}
			k->sidx[r] = e;
			k->didx[r] = d;
			k->ref_subj[r] = s;
			k->ref_dist[r] = (d + (uint32_t)i) % 4;
			k->t[r] = t++;
			k->speed[r] = (double)(x >> 50) / 7.0;
			k->road[r] = (int64_t)(x >> 60);
		}
		k->c[0] = (chunk_column){
		        .rows = ROWS, .ndict = nd, .pseudonyms = &k->ps[0][0], .idx = k->sidx};
		k->c[1] = (chunk_column){.rows = ROWS, .i = k->t};
		k->c[2] = (chunk_column){.rows = ROWS, .ndict = 4, .dict = k->dict, .idx = k->didx};
		k->c[3] = (chunk_column){.rows = ROWS, .f = k->speed};
		k->c[4] = (chunk_column){.rows = ROWS, .i = k->road};
		for (int c = 0; c < 5; c++)
			cols[i][c] = &k->c[c];
	}
}

/* Every row of the chunks, found in its subject's run, in deposit order. */
static void test_build(void)
{
	make();
	bool need[SCHEMA_MAX_COLUMNS] = {true, true, true, true, false};
	char err[128];
	proj *p = proj_build(&S, need, cols, NCH, 2, err, sizeof err);
	CHECK(p != NULL);
	if (!p)
		return;
	CHECK(p->rows == NCH * ROWS && p->nsubj == NSUBJ && p->starts[0] == 0 &&
	      p->starts[NSUBJ] == p->rows);
	CHECK(p->have[0] && p->have[1] && p->have[2] && p->have[3] && !p->have[4]);
	CHECK(p->cols[4].i == NULL);
	const chunk_column *sc = &p->cols[0], *dc = &p->cols[2];
	CHECK(sc->ndict == NSUBJ && dc->ndict == 4);
	for (uint32_t r = 1; r < p->rows; r++)
		CHECK(sc->idx[r] >= sc->idx[r - 1]);
	for (uint32_t k = 0; k < p->nsubj; k++)
		for (uint32_t r = p->starts[k]; r < p->starts[k + 1]; r++)
			CHECK(sc->idx[r] == k);
	/* each subject's rows: the chunks' rows of that pseudonym, in order */
	int bad = 0;
	for (uint32_t k = 0; k < p->nsubj; k++) {
		const uint8_t *ps = sc->pseudonyms + (size_t)k * BATCH_PSEUDONYM_BYTES;
		uint32_t at = p->starts[k];
		for (int i = 0; i < NCH; i++)
			for (uint32_t r = 0; r < ROWS; r++) {
				uint8_t want[BATCH_PSEUDONYM_BYTES];
				pseud(ch[i].ref_subj[r], want);
				if (memcmp(want, ps, sizeof want) != 0)
					continue;
				const batch_str *d = &dc->dict[dc->idx[at]];
				const char *wd = DIST[ch[i].ref_dist[r]];
				bad += at >= p->starts[k + 1] || p->cols[1].i[at] != ch[i].t[r] ||
				       p->cols[3].f[at] != ch[i].speed[r] || d->len != strlen(wd) ||
				       (d->len && memcmp(d->p, wd, d->len) != 0);
				at++;
			}
		bad += at != p->starts[k + 1];
	}
	CHECK(bad == 0);
	proj_free(p);
	/* no SUBJECT column; a column whose rows do not match its chunk */
	bool nosubj[SCHEMA_MAX_COLUMNS] = {false, true};
	CHECK(proj_build(&S, nosubj, cols, NCH, 2, err, sizeof err) == NULL);
	ch[2].c[3].rows = ROWS - 1;
	CHECK(proj_build(&S, need, cols, NCH, 2, err, sizeof err) == NULL &&
	      strstr(err, "speed_kmh"));
	ch[2].c[3].rows = ROWS;
	/* no chunk at all: an empty projection */
	p = proj_build(&S, need, cols, 0, 1, err, sizeof err);
	CHECK(p && p->rows == 0 && p->nsubj == 0);
	proj_free(p);
}

static void proj_digest(size_t n, const uint8_t (*ids)[CHUNK_ID_BYTES], const uint32_t *rows,
                        const int *kv, uint8_t out[PROJ_DIGEST_BYTES])
{
	proj_digest_state d;
	proj_digest_init(&d);
	for (size_t i = 0; i < n; i++)
		proj_digest_chunk(&d, ids[i], rows[i], kv[i]);
	proj_digest_final(&d, out);
}

static void test_digest(void)
{
	uint8_t ids[2][CHUNK_ID_BYTES] = {{1}, {2}}, swapped[2][CHUNK_ID_BYTES] = {{2}, {1}};
	uint32_t rows[2] = {10, 20}, fewer[2] = {10, 19};
	int kv[2] = {1, 1}, newer[2] = {1, 2};
	uint8_t a[PROJ_DIGEST_BYTES], b[PROJ_DIGEST_BYTES];
	proj_digest(2, ids, rows, kv, a);
	proj_digest(2, ids, rows, kv, b);
	CHECK(memcmp(a, b, sizeof a) == 0);
	proj_digest(2, swapped, rows, kv, b);
	CHECK(memcmp(a, b, sizeof a) != 0);
	proj_digest(2, ids, fewer, kv, b); /* an erasure */
	CHECK(memcmp(a, b, sizeof a) != 0);
	proj_digest(2, ids, rows, newer, b); /* a key rotation */
	CHECK(memcmp(a, b, sizeof a) != 0);
	proj_digest(1, ids, rows, kv, b); /* a chunk fewer (withdrawal) or more (deposit) */
	CHECK(memcmp(a, b, sizeof a) != 0);
}

static proj *build(const bool need[SCHEMA_MAX_COLUMNS])
{
	char err[128];
	proj *p = proj_build(&S, need, cols, NCH, 2, err, sizeof err);
	CHECK(p != NULL);
	return p;
}

static void test_cache(void)
{
	make();
	bool two[SCHEMA_MAX_COLUMNS] = {true, true}, three[SCHEMA_MAX_COLUMNS] = {true, true, true},
	     also[SCHEMA_MAX_COLUMNS];
	uint8_t d1[PROJ_DIGEST_BYTES] = {1}, d2[PROJ_DIGEST_BYTES] = {2};
	projcache *c = projcache_new(1 << 20);
	CHECK(projcache_get(c, "ds-a", d1, two) == NULL);
	CHECK(projcache_begin(c, "ds-a", d1, projcache_epoch(c, "ds-a"), also) && !also[0]);
	CHECK(!projcache_begin(c, "ds-a", d1, projcache_epoch(c, "ds-a"),
	                       also)); /* one build at a time */
	projcache_put(c, "ds-a", build(two));
	proj *p = projcache_get(c, "ds-a", d1, two);
	CHECK(p != NULL && p->rows == NCH * ROWS);
	CHECK(projcache_get(c, "ds-a", d1, three) == NULL); /* a column it lacks */
	CHECK(projcache_get(c, "ds-b", d1, two) == NULL);
	/* a build for more columns learns which ones the current holds */
	CHECK(projcache_begin(c, "ds-a", d1, projcache_epoch(c, "ds-a"), also) && also[0] &&
	      also[1] && !also[2]);
	projcache_put(c, "ds-a", build(three));
	/* p, pinned, outlives its replacement (ASan would see a use after free) */
	CHECK(p->cols[1].i[0] > 0);
	projcache_release(c, p);
	p = projcache_get(c, "ds-a", d1, three);
	CHECK(p != NULL);
	/* forgotten: gone for the next query, kept for the reader */
	projcache_forget(c, "ds-a");
	CHECK(projcache_get(c, "ds-a", d1, two) == NULL);
	CHECK(p->cols[2].ndict == 4);
	projcache_release(c, p);
	/* forgotten during a build: the build comes to nothing */
	CHECK(projcache_begin(c, "ds-a", d1, projcache_epoch(c, "ds-a"), also));
	projcache_forget(c, "ds-a");
	projcache_put(c, "ds-a", build(two));
	CHECK(projcache_get(c, "ds-a", d1, two) == NULL);
	/* a build of chunks listed before a forget (the epoch taken before it) is refused */
	uint64_t before = projcache_epoch(c, "ds-a");
	projcache_forget(c, "ds-a");
	CHECK(!projcache_begin(c, "ds-a", d1, before, also));
	/* a projection of another digest is dropped by the next lookup: the chunks moved on */
	CHECK(projcache_begin(c, "ds-a", d2, projcache_epoch(c, "ds-a"), also));
	projcache_put(c, "ds-a", build(two));
	projcache_stats st0;
	projcache_stats_get(c, &st0);
	CHECK(projcache_get(c, "ds-a", d1, two) == NULL);
	projcache_stats st1;
	projcache_stats_get(c, &st1);
	CHECK(st1.purged == st0.purged + 1 && st1.entries == st0.entries - 1);
	CHECK(projcache_get(c, "ds-a", d2, two) == NULL);
	/* abandoned: another may build */
	CHECK(projcache_begin(c, "ds-a", d1, projcache_epoch(c, "ds-a"), also));
	projcache_abandon(c, "ds-a");
	CHECK(projcache_begin(c, "ds-a", d1, projcache_epoch(c, "ds-a"), also));
	projcache_put(c, "ds-a", build(two));
	/* the cap: ds-b evicts ds-a, the least recently used */
	CHECK(projcache_begin(c, "ds-b", d2, projcache_epoch(c, "ds-b"), also));
	proj *big = build(three);
	size_t one = big->bytes;
	projcache_put(c, "ds-b", big);
	projcache_stats st;
	projcache_stats_get(c, &st);
	CHECK(st.entries == 2 && st.bytes <= st.max_bytes);
	projcache_free(c);
	c = projcache_new(one + one / 2); /* room for one */
	CHECK(projcache_begin(c, "ds-a", d1, projcache_epoch(c, "ds-a"), also));
	projcache_put(c, "ds-a", build(three));
	CHECK(projcache_begin(c, "ds-b", d1, projcache_epoch(c, "ds-b"), also));
	projcache_put(c, "ds-b", build(three));
	CHECK(projcache_get(c, "ds-a", d1, two) == NULL);
	p = projcache_get(c, "ds-b", d1, two);
	CHECK(p != NULL);
	projcache_release(c, p);
	projcache_stats_get(c, &st);
	CHECK(st.evictions == 1 && st.entries == 1 && st.builds == 2);
	projcache_free(c);
	/* too large for the cap, or no cap at all */
	c = projcache_new(100);
	CHECK(projcache_begin(c, "ds-a", d1, projcache_epoch(c, "ds-a"), also));
	projcache_put(c, "ds-a", build(two));
	CHECK(projcache_get(c, "ds-a", d1, two) == NULL);
	projcache_stats_get(c, &st);
	CHECK(st.dropped == 1 && st.bytes == 0);
	projcache_free(c);
	c = projcache_new(0);
	CHECK(!projcache_begin(c, "ds-a", d1, projcache_epoch(c, "ds-a"), also));
	projcache_free(c);
}

TEST_MAIN(TU_CASE(test_build), TU_CASE(test_digest), TU_CASE(test_cache))
