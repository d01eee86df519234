/*
 * Unit tests of the column cache (server/colcache.c): hits and misses, the
 * byte cap, pinning, and stale contents wiped at once, when a chunk's newer
 * content (fewer rows after an erasure, a newer key version) is added or
 * when colcache_forget names the chunk.
 */
#include "testutil.h"

#include "../../server/schema.c"
#include "../../server/batch.c"
#include "../../server/chunk.c"
#include "../../server/colcache.c"

#include <sodium.h>
#include <stdlib.h>

/* A decoded INT64 column of rows values, and a plaintext of ptlen bytes. */
static colcache_entry *put(colcache *c, const uint8_t *id, int col, uint32_t rows, int kv,
                           size_t ptlen)
{
	chunk_column d = {.rows = rows, .i = calloc(rows, sizeof(int64_t))};
	uint8_t nonce[CHUNK_NONCE_BYTES] = {0};
	uint8_t *pt = calloc(1, ptlen);
	return colcache_put(c, id, col, rows, kv, nonce, pt, ptlen, &d);
}

static void test_hits_and_cap(void)
{
	colcache *c = colcache_new(1 << 20);
	uint8_t a[CHUNK_ID_BYTES] = {1}, b[CHUNK_ID_BYTES] = {2};
	CHECK(colcache_get(c, a, 0, 10, 1) == NULL);
	colcache_release(c, put(c, a, 0, 10, 1, 100));
	colcache_entry *e = colcache_get(c, a, 0, 10, 1);
	CHECK(e != NULL && colcache_column(e)->rows == 10);
	colcache_release(c, e);
	CHECK(colcache_get(c, a, 1, 10, 1) == NULL); /* another column */
	CHECK(colcache_get(c, b, 0, 10, 1) == NULL); /* another chunk */
	/* Over the cap, the least recently used unpinned entry goes. */
	colcache_release(c, put(c, b, 0, 10, 1, 700000));
	colcache_release(c, put(c, b, 1, 10, 1, 700000));
	colcache_stats st;
	colcache_stats_get(c, &st);
	CHECK(st.bytes <= st.max_bytes && st.evictions >= 1);
	CHECK(colcache_get(c, b, 0, 10, 1) == NULL);
	colcache_free(c);
}

static void test_stale_contents_wiped(void)
{
	colcache *c = colcache_new(1 << 20);
	uint8_t a[CHUNK_ID_BYTES] = {7}, b[CHUNK_ID_BYTES] = {8};
	for (int col = 0; col < 3; col++)
		colcache_release(c, put(c, a, col, 10, 1, 64));
	colcache_release(c, put(c, b, 0, 10, 1, 64));
	colcache_stats st;
	colcache_stats_get(c, &st);
	CHECK(st.entries == 4 && st.purged == 0);

	/* An erasure re-sealed chunk a with 9 rows: adding column 0's new content
	 * drops its old one at once. */
	colcache_release(c, put(c, a, 0, 9, 1, 64));
	colcache_stats_get(c, &st);
	CHECK(st.entries == 4 && st.purged == 1);
	CHECK(colcache_get(c, a, 0, 10, 1) == NULL);
	/* A key rotation re-sealed it under version 2: the same. */
	colcache_release(c, put(c, a, 1, 10, 2, 64));
	colcache_stats_get(c, &st);
	CHECK(st.entries == 4 && st.purged == 2);

	/* A pinned entry is unlinked by colcache_forget and freed on its release. */
	colcache_entry *pinned = colcache_get(c, a, 2, 10, 1);
	CHECK(pinned != NULL);
	colcache_forget(c, a);
	colcache_stats_get(c, &st);
	CHECK(st.entries == 1 && st.purged == 5);
	CHECK(colcache_get(c, a, 2, 10, 1) == NULL);
	CHECK(colcache_column(pinned)->rows == 10); /* still readable by its query */
	colcache_release(c, pinned);
	colcache_entry *other = colcache_get(c, b, 0, 10, 1);
	CHECK(other != NULL); /* another chunk is untouched */
	colcache_release(c, other);
	colcache_free(c);
}

TEST_MAIN(TU_CASE(test_hits_and_cap), TU_CASE(test_stale_contents_wiped))
