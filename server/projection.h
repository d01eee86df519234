/*
 * projection: a personal dataset's decrypted columns in subject order, so
 * that a query decides each subject's contribution caps as that subject's
 * rows stream by (agg_scan_subjects) instead of through a table of every
 * (subject, group) pair: no random access per row, no second pass.
 *
 * A projection is built from the dataset's decoded chunk columns (those
 * the column cache holds, colcache.h): its rows regrouped by subject, each
 * subject's rows in deposit order. The cache keeps one per dataset, keyed
 * by a digest of the dataset's chunk list (every chunk's id, rows and key
 * version, in order), so that a deposit, an erasure, a withdrawal or a key
 * rotation gives a new digest and a projection names one content. Entries
 * are pinned while a query reads them and wiped (sodium_memzero) when they
 * are replaced, evicted, forgotten or freed; projcache_forget wipes a
 * dataset's at once (erasure, withdrawal). The bytes held are bounded by a
 * cap of their own (query_projection_bytes).
 * Threads: every call may come from any thread.
 */
#ifndef FIDUCIA_PROJECTION_H
#define FIDUCIA_PROJECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "chunk.h"
#include "schema.h"

#define PROJ_DIGEST_BYTES 32

typedef struct proj {
	uint32_t rows, nsubj;
	/* subject k's rows are starts[k] .. starts[k + 1] - 1 (nsubj + 1 entries) */
	uint32_t *starts;
	/* have[c]: column c in subject order. The SUBJECT column's idx is the
	 * subject's number k (nondecreasing), its dictionary the nsubj
	 * pseudonyms; a STRING column's dictionary is the dataset's. */
	chunk_column cols[SCHEMA_MAX_COLUMNS];
	bool have[SCHEMA_MAX_COLUMNS];
	/* random: names the subject dictionary for consent_view_numbers's maps */
	uint8_t nonce[CHUNK_NONCE_BYTES];
	/* internals */
	char *arenas[SCHEMA_MAX_COLUMNS]; /* a STRING dictionary's bytes */
	size_t arena_lens[SCHEMA_MAX_COLUMNS], bytes;
} proj;

/* Build from the decoded columns of nchunks chunks, in the dataset's order:
 * chunks[i][c] for each column c with need[c] (the SUBJECT column among
 * them; s->subject >= 0), the columns scattered by up to threads threads
 * (this one and threads - 1 of its own). NULL with err past 2^32 - 1 rows or
 * on a column that does not match its chunk. */
proj *proj_build(const schema *s, const bool need[SCHEMA_MAX_COLUMNS],
                 const chunk_column *const (*chunks)[SCHEMA_MAX_COLUMNS], size_t nchunks,
                 int threads, char *err, size_t errlen) __attribute__((warn_unused_result));
void proj_free(proj *p); /* wipes */

/* The digest of a chunk list: init, each chunk's id, rows and key version
 * in the dataset's order, final. */
typedef struct proj_digest_state {
	crypto_generichash_state st;
} proj_digest_state;
void proj_digest_init(proj_digest_state *d);
void proj_digest_chunk(proj_digest_state *d, const uint8_t id[CHUNK_ID_BYTES], uint32_t rows,
                       int key_version);
void proj_digest_final(proj_digest_state *d, uint8_t out[PROJ_DIGEST_BYTES]);

typedef struct projcache projcache;

/* max_bytes 0: no projection is ever kept (every projcache_begin refuses). */
projcache *projcache_new(size_t max_bytes) __attribute__((warn_unused_result));
void projcache_free(projcache *c);

/* dataset's projection for digest, pinned, when it holds every column with
 * need[c]; else NULL. One for another digest is dropped: the chunk list
 * moved on (here or in another process), and it may hold erased rows. */
proj *projcache_get(projcache *c, const char *dataset, const uint8_t digest[PROJ_DIGEST_BYTES],
                    const bool need[SCHEMA_MAX_COLUMNS]);
void projcache_release(projcache *c, proj *p);

/* The dataset's count of projcache_forget calls, to take before listing its
 * chunks: a build of chunks listed before a forget must not be kept. */
uint64_t projcache_epoch(projcache *c, const char *dataset);
/* Claim the build of dataset's projection for digest, from chunks listed
 * under epoch: false when another is under way for it, when the dataset was
 * forgotten since epoch, or when nothing may be kept. On true, also[c] is set
 * for the columns the current projection of that digest holds (worth
 * building again with the new ones), and the caller ends with exactly one
 * projcache_put or projcache_abandon. */
bool projcache_begin(projcache *c, const char *dataset, const uint8_t digest[PROJ_DIGEST_BYTES],
                     uint64_t epoch, bool also[SCHEMA_MAX_COLUMNS]);
/* The claimed build's result, owned by the cache from now on: it replaces
 * the dataset's projection. Dropped (wiped) when over the cap, or when the
 * dataset was forgotten since the epoch the build began under. */
void projcache_put(projcache *c, const char *dataset, proj *p);
void projcache_abandon(projcache *c, const char *dataset);

/* Wipe dataset's projection now (or when its last reader releases it), and
 * void every build of chunks listed before: its chunks changed. Call it
 * after the change commits (before too, to wipe early). Wiping happens
 * outside the cache's lock, on the calling thread. */
void projcache_forget(projcache *c, const char *dataset);

typedef struct projcache_stats {
	uint64_t hits, misses, builds, dropped, evictions, purged;
	size_t bytes, entries, max_bytes;
} projcache_stats;
void projcache_stats_get(projcache *c, projcache_stats *out);

#endif
