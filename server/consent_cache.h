/*
 * consent_cache: the consent a query filters on, kept in memory and checked
 * against the database on every query, so that filtering adds little to a
 * scan and a withdrawal still counts from the very next query.
 *
 * Per dataset, the process numbers densely (1, 2, ...) every subject it has
 * seen consenting: the universe. For each purpose it keeps a bitmap over
 * those numbers: the subjects with consent GIVEN, valid at the instant of
 * the load, for the purpose or one it isA. A load reads the dataset's
 * consent version (one row, sql/007_consent_versions.sql) and then:
 *   - reuses the bitmap when the version is unchanged and the instant is
 *     still before the next validity boundary of any record (fresh);
 *   - re-decides only the subjects whose records changed since (delta);
 *   - or reads every consenting subject (full): the first time, after an
 *     erasure (which deletes records), or past a validity boundary.
 * Bitmaps are immutable once built (a change copies), so a view a query
 * holds never changes under it.
 *
 * Per chunk, the numbers of the SUBJECT column's dictionary entries are
 * cached, keyed by the column's seal nonce (random and fresh at every seal,
 * so a re-sealed chunk is a new key), in an LRU bounded by a byte cap.
 * Filtering a chunk is then a bitmap test per dictionary entry and a byte
 * per row. Only pseudonyms and numbers are held, never a raw identifier.
 *
 * Threads: loads run on the event loop; views are read and chunks filtered
 * on any thread.
 */
#ifndef FIDUCIA_CONSENT_CACHE_H
#define FIDUCIA_CONSENT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk.h"

struct app;
typedef struct consent_cache consent_cache;
typedef struct consent_view consent_view;

/* max_bytes caps the chunk maps (0 = none kept: each filter builds its own). */
consent_cache *consent_cache_new(size_t max_bytes) __attribute__((warn_unused_result));
void consent_cache_free(consent_cache *c);

/* v is NULL when the database failed (then the query must not run). */
typedef void (*consent_view_cb)(consent_view *v, void *arg);

/* The view of dataset's consent for purpose (a vocabulary id) at
 * at_unix_micros, through app->consents; cb runs on the event loop. */
void consent_view_load(struct app *app, const char *dataset, const char *purpose,
                       int64_t at_unix_micros, consent_view_cb cb, void *arg);

/* Keep the rows of a decoded SUBJECT column whose subject the view counts:
 * keep[r] = 1 or 0 for each of subj->rows rows; returns how many are kept.
 * nonce: the first CHUNK_NONCE_BYTES of that column's sealed bytes. */
size_t consent_view_filter(consent_view *v, const uint8_t nonce[CHUNK_NONCE_BYTES],
                           const chunk_column *subj, uint8_t *keep);
/* The same, and for each dictionary entry of the column its subject's
 * number in the dataset's universe (dense from 1), or 0 when the view does
 * not count it: nos has subj->ndict entries (NULL: not wanted). */
size_t consent_view_numbers(consent_view *v, const uint8_t nonce[CHUNK_NONCE_BYTES],
                            const chunk_column *subj, uint8_t *keep, uint32_t *nos);
bool consent_view_has(const consent_view *v, const uint8_t *pseudonym);
size_t consent_view_size(const consent_view *v); /* subjects counted */
/* The first validity boundary (unix microseconds) of any record after the
 * instant the view was loaded for (INT64_MAX: none): until then, and at the
 * same consent version, a view counts the same subjects. */
int64_t consent_view_until(const consent_view *v);
void consent_view_release(consent_view *v);

/* How loads and chunk maps went, for tests and benchmarks. */
typedef struct consent_cache_stats {
	uint64_t fresh, delta, full;   /* loads */
	uint64_t map_hits, map_builds; /* chunk maps */
	uint64_t map_refreshes;        /* rebuilt after the universe grew */
	uint64_t map_evictions;
	size_t map_bytes;
} consent_cache_stats;
void consent_cache_stats_get(consent_cache *c, consent_cache_stats *out);

/* The SQL array literal of purpose and its ancestors in the vocabulary
 * (out: n >= 3 bytes): the purposes whose consent covers a query for
 * purpose, which isA each of them; never a descendant. "{}" for an unknown
 * purpose. */
struct pdp_vocab;
void consent_purpose_list(const struct pdp_vocab *vocab, const char *purpose, char *out, size_t n);

/* SQL that every consent change runs, in its transaction, before writing:
 * bump the dataset's ($1) version and return it. CONSENT_SQL_BUMP_FULL also
 * makes every older cache reload in full (records deleted). CONSENT_SQL_VERSION
 * is the version bumped, to stamp the rows written after. */
#define CONSENT_SQL_BUMP                                                                           \
	"INSERT INTO consent_versions AS v (dataset, version) VALUES ($1, 1) ON CONFLICT "         \
	"(dataset) DO UPDATE SET version = v.version + 1 RETURNING version"
#define CONSENT_SQL_BUMP_FULL                                                                      \
	"INSERT INTO consent_versions AS v (dataset, version, full_since) VALUES ($1, 1, 1) ON "   \
	"CONFLICT (dataset) DO UPDATE SET version = v.version + 1, full_since = v.version + 1 "    \
	"RETURNING version"
#define CONSENT_SQL_VERSION "(SELECT version FROM consent_versions WHERE dataset = $1)"

#endif
