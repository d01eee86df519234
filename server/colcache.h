/*
 * colcache: decrypted, decoded chunk columns kept between queries, so that a
 * warm query does not open and decode them again. An entry is keyed by its
 * chunk id, column, row count and key version: a chunk is re-sealed in
 * place only by an erasure (fewer rows) or a key rotation (a newer
 * version), so the key names one content. Entries live in an LRU bounded
 * by a byte cap (plaintext plus decoded arrays), are pinned while a query
 * reads them, and are wiped (sodium_memzero) when evicted or freed.
 * Threads: every call may come from any thread.
 */
#ifndef FIDUCIA_COLCACHE_H
#define FIDUCIA_COLCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk.h"

typedef struct colcache colcache;
typedef struct colcache_entry colcache_entry;

/* max_bytes 0: nothing is kept after its last release. */
colcache *colcache_new(size_t max_bytes) __attribute__((warn_unused_result));
void colcache_free(colcache *c);

/* The entry pinned, or NULL when it is not cached. */
colcache_entry *colcache_get(colcache *c, const uint8_t id[CHUNK_ID_BYTES], int col, uint32_t rows,
                             int key_version);
/* Add a decoded column (pt: its plaintext, which col points into; both
 * owned by the cache from now on) and return it pinned. When another
 * thread added the same key meanwhile, that entry is returned and these
 * are wiped and freed. */
colcache_entry *colcache_put(colcache *c, const uint8_t id[CHUNK_ID_BYTES], int col, uint32_t rows,
                             int key_version, const uint8_t nonce[CHUNK_NONCE_BYTES], uint8_t *pt,
                             size_t ptlen, chunk_column *decoded);
void colcache_release(colcache *c, colcache_entry *e);

/* Wipe every cached column of this chunk (an erasure re-sealed or deleted it).
 * colcache_put also drops a chunk column's older contents (other row count or
 * key version) as soon as the new one is added, in every process. */
void colcache_forget(colcache *c, const uint8_t id[CHUNK_ID_BYTES]);

const chunk_column *colcache_column(const colcache_entry *e);
const uint8_t *colcache_nonce(const colcache_entry *e); /* CHUNK_NONCE_BYTES */

typedef struct colcache_stats {
	uint64_t hits, misses, evictions, purged; /* purged: stale contents wiped */
	size_t bytes, entries, max_bytes;
} colcache_stats;
void colcache_stats_get(colcache *c, colcache_stats *out);

#endif
